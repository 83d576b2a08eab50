// Package zpl is Serialine's ZPL II codec, shared by the printer driver and the
// printer simulator so that the wire format lives in one place.
//
// The driver side builds what a Zebra-compatible printer receives: the unit
// label's format, stored once in the printer (^DF), and per unit a short recall
// job (^XF with ^FN fields) that carries only the variable data, because a
// serial link is slow (see WireTime). The simulator side parses a byte stream
// of ZPL into labels (Parser), keeps stored formats like a printer's memory,
// and answers host status requests (HostStatus).
//
// GS1 DataMatrix is written as ^BXN,<module>,200,,,,_ : ECC 200 with "_" as
// the escape character, so the data starts with _1 (FNC1 first, which makes
// the symbol GS1) and every GS separator becomes _1 too. A literal "_" is
// doubled. Characters that ZPL would take as commands (^, ~) and the hex
// indicator itself (\) are sent as ^FH hex escapes (\5E, \7E, \5C), in the
// symbol's data and in human-readable text alike.
package zpl
