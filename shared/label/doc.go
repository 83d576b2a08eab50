// Package label turns a GS1 DataMatrix into pixels and back: it encodes data
// as an ECC 200 DataMatrix, renders it with its human-readable text to a
// grey image or PNG, and decodes a DataMatrix from a PNG or JPEG photo or
// scan. It knows symbols and pixels, not GS1 semantics: callers pass the
// element string already built (shared/gs1 builds and checks it).
//
// Encoding. The encoder is our own, in ASCII encodation only (digit pairs
// in one codeword, FNC1 as codeword 232, bytes above 127 behind an upper
// shift): GS1 data is mostly digits, for which ASCII is as compact as any
// mode, and one mode keeps the encoder small enough to check. In GS1 mode
// the first codeword is FNC1 and every GS (0x1D) becomes an FNC1 separator.
// All 24 square and 6 rectangular ECC 200 sizes are supported; the default is
// the smallest square. Our symbols are module-for-module identical to
// zint's (tested for every size), including 144×144, whose check-codeword
// interleaving readers disagree on: we follow zint, BWIPP and ZXing, which
// libdmtx cannot read (see appendECC). The boombuler/barcode encoder was
// not used: it has squares only, and it decides GS1 mode from a leading byte
// 0xE8, so a plain symbol whose data starts with Latin-1 "è" silently
// becomes GS1.
//
// Rendering. The module size is ModuleMM (default 0.4 mm, a common
// X-dimension for GS1 DataMatrix on pharmaceutical packs) at the chosen DPI,
// rounded to whole pixels so that every module is a sharp square (a printer
// has whole dots too), and never below 3 pixels: below that, dot gain and scanner blur make
// the grid unreliable. The quiet zone is at least 2 modules (ISO/IEC 16022
// asks for 1; GS1 recommends more), on white, and the text starts beyond it.
// The text is Go Mono, sized by cap height (default 2 mm), so 0/O and 1/l
// stay distinct on the pack.
//
// Decoding uses gozxing's DataMatrix reader. Its detector grows a white
// rectangle from the image centre, so text beside the symbol or a missing
// quiet zone defeat it; Decode therefore also tries each dark region that
// could be a symbol, cropped and padded with white. Each crop is binarised
// first with the hybrid (local threshold) binarizer, which suits uneven
// lighting, then with the global-histogram one, which copes better with
// speckle and blotchy print where local thresholds make noise into modules.
// If all that fails, a median-filtered copy (speckle noise) is tried, and
// both are turned by quarter turns, because the detector misjudges some noisy
// symbols in one orientation and reads them in another. The reader reports
// FNC1 in first position as the symbology identifier "]d2" and transmits it
// as a leading GS, which Decode strips: Decoded.Data is the transmitted form
// without any prefix.
//
// Nothing is shared between calls: every function is safe for concurrent use.
package label
