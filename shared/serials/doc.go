// Package serials holds the serial-number schemes of Serialine: the math
// that turns a counter into a serial (AI 21). Central grants serials to a
// line as compact counter ranges; the edge turns each counter into its
// serial, offline and at line speed, with the same code.
//
// A Spec configures a product's scheme (New builds it, Validate names the
// field and the rule of any mistake). Every Scheme maps counters
// 0..Space()-1 to serials bijectively, so a serial is never issued twice as
// long as central never grants a counter twice: uniqueness is a property of
// the mapping, not a lookup.
//
//   - sequential: Start + counter, zero-padded to Length; SGTIN-96-safe
//     serials are not padded (no leading zero), so Start must have Length
//     digits.
//   - randomized: a keyed pseudo-random permutation of the whole serial
//     space — alphabet^Length, or the SGTIN-96-safe numbers of that length.
//   - list: serials imported from the marketing-authorisation holder
//     (ParseList reads the CSV upload, NewList indexes it in import order).
//
// # The permutation
//
// The randomized scheme is format-preserving encryption of the counter, in
// the manner of NIST SP 800-38G's FF1 (written here, not a certified FF1):
// a 10-round Feistel network over a domain split in two halves [0,P) and
// [0,Q), each round adding AES-256 of the other half (reduced modulo the
// half's size) to one half. Each round can be undone, so the network is a
// bijection whatever P and Q are. Spaces up to 2^62 are split as ⌈√n⌉ ×
// ⌈n/⌈√n⌉⌉ and the few outputs that land at or above n are encrypted again
// until they land inside (cycle walking), which keeps the bijection;
// larger spaces split the serial's digits in two halves and need no
// walking. The AES key is derived by HMAC-SHA256 from the secret and the
// alphabet, length and SGTIN-96 flag, so one secret gives unrelated
// permutations for different formats. The result is deterministic — same
// key and counter, same serial, on every machine and run — and version 1
// of it is frozen: issued serials depend on every detail.
//
// # Why it is safe
//
// Without the key, the serials of a grant are indistinguishable from
// serials drawn at random without repetition from the whole space (AES is
// a pseudo-random function; the Feistel construction with enough rounds a
// pseudo-random permutation). A counterfeiter who knows some serials learns
// nothing about the others, so the best guess hits an issued serial with
// probability used ÷ space (GuessProbability). That holds only while the
// key is secret: Spec never prints it (String, GoString and LogValue
// redact it), errors never quote it, and it must be stored like a password.
// Known serials do not reveal the key. Like FF1, a Feistel cipher over a
// tiny domain is weak against someone holding most of it; NIST asks for
// domains of at least a million, and an FMD-compliant space is anyway
// more than 10,000 times the serials issued from it.
//
// # EU FMD
//
// EU Delegated Regulation 2016/161 art. 4 asks for serials from a
// randomisation algorithm with a probability of guessing below 1/10,000.
// CheckFMD refuses sequential schemes (guessable: each serial follows from
// the last) and randomized or fixed-length list schemes whose planned
// volume ÷ serial space is not below 1/10,000, computed exactly (128-bit),
// and suggests the length that would pass. Numeric serials of length 12
// cover up to 99,999,999 packs; alphanumeric serials of 10 characters, over
// 3.6·10^11.
package serials
