// Package gs1 is Serialine's GS1 core: Application Identifiers (AIs), element
// strings in their three written forms, GS1 keys with check digits, dates,
// and EPC pure identity URIs. Everything else (labels, scanners, central's
// records, EPCIS) builds on it, so it follows the standards to the letter:
// the GS1 General Specifications ("GenSpec"), GS1's Barcode Syntax
// Dictionary, GS1 Digital Link 1.x and the EPC Tag Data Standard 2.x.
//
// # Element strings
//
// An ElementString is a list of (AI, value) pairs in the order given. It is
// read from, and written to, three forms:
//
//	bracketed     (01)09506000134352(17)201225(10)ABC123(21)XYZ
//	transmitted   01095060001343521720122510ABC123<GS>21XYZ
//	Digital Link  https://id.gs1.org/01/09506000134352/10/ABC123/21/XYZ?17=201225
//
// (<GS> is ASCII 29.) ParseBracketed, ParseTransmitted and ParseDigitalLink
// read them, Bracketed, Transmitted (AppendTransmitted, allocation-free, for
// the print path) and DigitalLink write them, and Parse detects the
// form. Transmitted data is what a scanner sends for a GS1 DataMatrix whose
// first codeword is FNC1: fields of predefined length (00, 01, 11, 17, ...;
// AIDef.Fixed) run on, every other field is ended by FNC1, sent as GS,
// unless it is last. Sorted puts predefined-length fields first so that a
// label needs the fewest separators.
//
// Every parser validates what it read, and Validate does the same for an
// ElementString built by hand: AI known, value length and character set
// (numeric or CSET 82), check digits, dates (YYMMDD, DD=00 allowed for 11,
// 12, 13, 15, 16, 17; century per GenSpec 7.12), duplicates, and the
// mandatory associations and invalid pairings of the syntax dictionary (10,
// 17 and 21 need 01 or another trade item key such as 8006; 21 and 235
// exclude each other; 710-717 need 01; 02 needs 37; 37 needs 00 and 02 or
// 8026; ...). The same AI twice with the same value is tolerated, with
// different values it is rejected.
//
// # Errors
//
// Every rejection is a *Error naming the AI, the value, the Rule broken and
// a plain detail, e.g.
//
//	AI (17) "250231": date: day 31 does not exist in February 2025
//
// Use errors.As to get at the fields. Validate reports the first problem.
//
// # Keys and EPC URIs
//
// GTIN (always 14 digits), SSCC and GLN are string types made by ParseGTIN,
// ParseSSCC, NewSSCC and ParseGLN, which check the mod-10 check digit
// (CheckDigit, ValidCheckDigit). SGTINURI, SSCCURI and SGLNURI write EPC
// pure identity URIs (urn:epc:id:sgtin:0614141.812345.6789) given the length
// of the GS1 Company Prefix, and the Parse functions read them back.
// SGTIN96Eligible tells whether a serial fits an SGTIN-96 RFID tag.
//
// # AI table
//
// LookupAI describes an AI: format, predefined length, associations,
// Digital Link role. The table covers the AIs a pharmaceutical supply chain
// uses (keys, dates, lot, serial, national healthcare reimbursement numbers
// 710-717, logistics measures 31nn-36nn, counts, locations) and leaves out
// AIs whose content rules (country codes, currencies, IBAN, coupons) are not
// implemented, so that those are reported as unknown rather than half
// checked.
//
// Everything here is safe for concurrent use: the AI table is built once and
// only read.
package gs1
