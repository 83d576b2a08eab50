package zpl

import (
	"errors"
	"fmt"
	"strconv"
)

// ErrInvalidLayout is wrapped by Layout.Validate and Layout.ValidateFields when
// a layout or a unit's fields break a rule; the message names the field.
var ErrInvalidLayout = errors.New("invalid label layout")

const (
	// bxEscape is the ^BX escape character we declare (7th parameter). FNC1 is
	// bxEscape+'1'; a literal bxEscape in the data is doubled.
	bxEscape = '_'
	// fhIndicator is the ^FH hex indicator we declare. It must differ from
	// bxEscape: ^FH runs before the ^BX escape processing.
	fhIndicator = '\\'
	// gs is the GS1 field separator in transmitted data (FNC1 in the symbol).
	gs = 0x1D
	// maxFieldData is the most field data ^BX quality 200 takes; a printer
	// truncates longer data.
	maxFieldData = 3072
	// maxDots bounds positions and sizes (^FO, ^LL, ^PW accept up to 32000).
	maxDots = 32000
	// maxNameLen is the longest object name a Zebra accepts (without device
	// and extension).
	maxNameLen = 16
)

// Symbology is what a layout prints the element string in.
type Symbology int

// The symbologies.
const (
	// SymbolDataMatrix is a GS1 DataMatrix (^BX, ECC 200, FNC1 first): the
	// default.
	SymbolDataMatrix Symbology = iota
	// SymbolGS1128 is a GS1-128 bar code (^BC, Code 128 with FNC1 first),
	// e.g. the SSCC of a case or pallet for warehouse scanners. ModuleDots is
	// its narrow bar width (^BY), BarHeightDots its height.
	SymbolGS1128
)

// maxGS1128Chars is the most data characters a GS1-128 symbol may carry
// (GS1 General Specifications 5.4.1).
const maxGS1128Chars = 48

func (s Symbology) String() string {
	switch s {
	case SymbolDataMatrix:
		return "datamatrix"
	case SymbolGS1128:
		return "gs1-128"
	}
	return "unknown"
}

// Layout is where things go on the unit label, in printer dots.
type Layout struct {
	// Name is the stored format's name: device, 1-16 letters, digits, '_' or
	// '-', and the .ZPL extension, e.g. "R:SERIALINE.ZPL" (R: = DRAM; E: flash,
	// B: and A: memory cards).
	Name string
	// DPMM is the print resolution in dots per mm: 6 (152 dpi), 8 (203 dpi),
	// 12 (300 dpi) or 24 (600 dpi).
	DPMM int
	// ModuleDots is the DataMatrix module (cell) size in dots; 3 or more is
	// recommended so a vision system reads every unit.
	ModuleDots int
	// WidthDots and HeightDots are the label size (^PW and ^LL).
	WidthDots, HeightDots int
	// SymbolX, SymbolY is the DataMatrix's top-left corner (^FO).
	SymbolX, SymbolY int
	// TextX, TextY is the first human-readable line's top-left corner; the
	// following lines are TextHeight*5/4 dots apart. TextHeight is the font
	// height in dots (scalable font 0).
	TextX, TextY, TextHeight int
	// TextLines is how many human-readable lines the label has (e.g. GTIN,
	// NDC, LOT, EXP, SN); Fields.Text fills them in order.
	TextLines int
	// Symbology is the symbol's kind (zero: GS1 DataMatrix). For GS1-128
	// ModuleDots is the narrow bar width (1-10 dots, ^BY) and BarHeightDots
	// the bars' height; SymbolX, SymbolY is the first bar's top (the
	// 10-module quiet zone lies left of it).
	Symbology     Symbology
	BarHeightDots int
}

// Fields are one unit's variable data.
type Fields struct {
	// Data is the GS1 element string in transmitted form: GS (0x1D) between
	// fields, no leading FNC1 or symbology identifier.
	Data string
	// Text are the human-readable lines, at most Layout.TextLines; an empty
	// line is left blank.
	Text []string
}

// DefaultLayout is a 60 x 25 mm unit label at dpmm dots per mm: the symbol at
// 2 mm from the top-left corner with a module of about 0.35 mm (never under 3
// dots), and five 2.5 mm text lines to its right, with room for a 32 x 32
// module symbol and its quiet zone. An unsupported dpmm is kept so that
// Validate reports it.
func DefaultLayout(dpmm int) Layout {
	mm := func(tenths int) int { return (tenths*dpmm + 5) / 10 } // tenths of a mm to dots, rounded
	module := max(3, (dpmm*35+50)/100)
	symbolX := mm(20)
	return Layout{
		Name:       "R:SERIALINE.ZPL",
		DPMM:       dpmm,
		ModuleDots: module,
		WidthDots:  mm(600),
		HeightDots: mm(250),
		SymbolX:    symbolX,
		SymbolY:    mm(20),
		TextX:      symbolX + 34*module, // 32 modules + a 2-module gap
		TextY:      mm(20),
		TextHeight: mm(25),
		TextLines:  5,
	}
}

// linePitch is the distance between two text lines' tops.
func (l Layout) linePitch() int { return l.TextHeight + l.TextHeight/4 }

// Validate checks the layout and names the first field that breaks a rule.
func (l Layout) Validate() error {
	bad := func(field string, value any, rule string) error {
		return fmt.Errorf("%w: %s %v: %s", ErrInvalidLayout, field, value, rule)
	}
	if err := validateName(l.Name); err != nil {
		return fmt.Errorf("%w: Name %q: %s", ErrInvalidLayout, l.Name, err.Error())
	}
	switch l.DPMM {
	case 6, 8, 12, 24:
	default:
		return bad("DPMM", l.DPMM, "must be 6, 8, 12 or 24 dots per mm")
	}
	if l.WidthDots < 2 || l.WidthDots > maxDots {
		return bad("WidthDots", l.WidthDots, "must be 2 to 32000 (^PW)")
	}
	if l.HeightDots < 1 || l.HeightDots > maxDots {
		return bad("HeightDots", l.HeightDots, "must be 1 to 32000 (^LL)")
	}
	if l.ModuleDots < 1 || l.ModuleDots > min(l.WidthDots, l.HeightDots) {
		return bad("ModuleDots", l.ModuleDots, "must be 1 to the label's smaller side (3 or more recommended)")
	}
	if l.SymbolX < 0 || l.SymbolX >= l.WidthDots {
		return bad("SymbolX", l.SymbolX, "must lie on the label (0 to WidthDots-1)")
	}
	if l.SymbolY < 0 || l.SymbolY >= l.HeightDots {
		return bad("SymbolY", l.SymbolY, "must lie on the label (0 to HeightDots-1)")
	}
	switch l.Symbology {
	case SymbolDataMatrix:
	case SymbolGS1128:
		if l.ModuleDots > 10 {
			return bad("ModuleDots", l.ModuleDots, "must be 1 to 10 dots for GS1-128 (^BY narrow bar width)")
		}
		if l.BarHeightDots < 1 || l.SymbolY+l.BarHeightDots > l.HeightDots {
			return bad("BarHeightDots", l.BarHeightDots, fmt.Sprintf("must be 1 to %d: the bars end on the label", l.HeightDots-l.SymbolY))
		}
		if l.SymbolX < 10*l.ModuleDots {
			return bad("SymbolX", l.SymbolX, fmt.Sprintf("must leave the 10-module quiet zone (%d dots) left of the bars", 10*l.ModuleDots))
		}
	default:
		return bad("Symbology", int(l.Symbology), "must be datamatrix or gs1-128")
	}
	if l.TextLines < 0 || l.TextLines > 99 {
		return bad("TextLines", l.TextLines, "must be 0 to 99")
	}
	if l.TextLines == 0 {
		return nil
	}
	if l.TextHeight < 10 || l.TextHeight > maxDots {
		return bad("TextHeight", l.TextHeight, "must be 10 to 32000 dots (^A0)")
	}
	if l.TextX < 0 || l.TextX >= l.WidthDots {
		return bad("TextX", l.TextX, "must lie on the label (0 to WidthDots-1)")
	}
	if l.TextY < 0 || l.TextY >= l.HeightDots {
		return bad("TextY", l.TextY, "must lie on the label (0 to HeightDots-1)")
	}
	if bottom := l.TextY + (l.TextLines-1)*l.linePitch() + l.TextHeight; bottom > l.HeightDots {
		return bad("TextLines", l.TextLines, fmt.Sprintf("text block ends at dot %d, below the label's height %d", bottom, l.HeightDots))
	}
	return nil
}

// validateName checks a stored format name such as R:SERIALINE.ZPL.
func validateName(name string) error {
	if len(name) < 2 || name[1] != ':' {
		return errors.New("must start with a device letter and a colon (R:, E:, B: or A:)")
	}
	switch name[0] {
	case 'R', 'E', 'B', 'A':
	default:
		return fmt.Errorf("device %q is not R (DRAM), E (flash), B or A (memory cards)", name[:2])
	}
	const ext = ".ZPL"
	rest := name[2:]
	if len(rest) < len(ext) || rest[len(rest)-len(ext):] != ext {
		return errors.New("must end with the extension .ZPL")
	}
	base := rest[:len(rest)-len(ext)]
	if len(base) < 1 || len(base) > maxNameLen {
		return fmt.Errorf("name %q must have 1 to %d characters", base, maxNameLen)
	}
	for i := 0; i < len(base); i++ {
		c := base[i]
		if !isAlnum(c) && c != '_' && c != '-' {
			return fmt.Errorf("name character %q is not a letter, digit, '_' or '-'", c)
		}
	}
	return nil
}

func isAlnum(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z'
}

// ValidateFields checks one unit's fields against the layout and names the
// first one that breaks a rule. AppendRecall does not check, to stay fast.
func (l Layout) ValidateFields(f Fields) error {
	switch {
	case f.Data == "":
		return fmt.Errorf("%w: Fields.Data is empty", ErrInvalidLayout)
	case f.Data[0] == gs:
		return fmt.Errorf("%w: Fields.Data starts with GS: the leading FNC1 is implied, send the element string without it", ErrInvalidLayout)
	case f.Data[len(f.Data)-1] == gs:
		return fmt.Errorf("%w: Fields.Data ends with GS: the last field needs no separator", ErrInvalidLayout)
	}
	if l.Symbology == SymbolGS1128 {
		if len(f.Data) > maxGS1128Chars {
			return fmt.Errorf("%w: Fields.Data has %d characters; GS1-128 carries at most %d", ErrInvalidLayout, len(f.Data), maxGS1128Chars)
		}
		vals, err := EncodeCode128(f.Data, true)
		if err != nil {
			return fmt.Errorf("%w: Fields.Data: %w", ErrInvalidLayout, err)
		}
		if right := l.SymbolX + (len(vals)*11+2+10)*l.ModuleDots; right > l.WidthDots {
			return fmt.Errorf("%w: Fields.Data: the GS1-128 symbol and its quiet zone end at dot %d, beyond the label's width %d",
				ErrInvalidLayout, right, l.WidthDots)
		}
	} else if n := fieldDataLen(f.Data, true); n > maxFieldData {
		return fmt.Errorf("%w: Fields.Data is %d bytes as ZPL field data, over the %d a printer takes", ErrInvalidLayout, n, maxFieldData)
	}
	if len(f.Text) > l.TextLines {
		return fmt.Errorf("%w: Fields.Text has %d lines, the layout has %d", ErrInvalidLayout, len(f.Text), l.TextLines)
	}
	for i, t := range f.Text {
		if n := fieldDataLen(t, false); n > maxFieldData {
			return fmt.Errorf("%w: Fields.Text[%d] is %d bytes as ZPL field data, over %d", ErrInvalidLayout, i, n, maxFieldData)
		}
	}
	return nil
}

// Format is the label format to store in the printer once (^DF). Each unit is
// then printed by AppendRecall. Call Validate first.
func (l Layout) Format() []byte {
	b := make([]byte, 0, 256+64*l.TextLines)
	b = append(b, "^XA\n^DF"...)
	b = append(b, l.Name...)
	b = append(b, "^FS\n"...)
	b = l.appendSetup(b)
	b = l.appendSymbolOrigin(b)
	b = append(b, "^FN1^FS\n"...)
	for i := range l.TextLines {
		b = l.appendTextOrigin(b, i)
		b = append(b, "^FN"...)
		b = strconv.AppendInt(b, int64(i+2), 10)
		b = append(b, "^FS\n"...)
	}
	return append(b, "^XZ\n"...)
}

// AppendRecall appends one unit's print job to dst: recall of the stored
// format with the symbol's data in field 1 and the text lines in fields 2...
// Text beyond TextLines is dropped and empty lines are not sent. With a dst of
// enough capacity it does not allocate.
func (l Layout) AppendRecall(dst []byte, f Fields) []byte {
	dst = append(dst, "^XA^XF"...)
	dst = append(dst, l.Name...)
	dst = append(dst, "^FS^FN1"...)
	dst = l.appendSymbolData(dst, f.Data)
	for i, t := range f.Text {
		if i >= l.TextLines {
			break
		}
		if t == "" {
			continue
		}
		dst = append(dst, "^FN"...)
		dst = strconv.AppendInt(dst, int64(i+2), 10)
		dst = appendFieldData(dst, t, false)
	}
	return append(dst, "^XZ"...)
}

// RecallSize is the number of bytes AppendRecall sends for f: the bytes per
// unit on the wire. See WireTime.
func (l Layout) RecallSize(f Fields) int {
	n := len("^XA^XF") + len(l.Name) + len("^FS^FN1") + fieldDataLen(f.Data, true)
	if l.Symbology == SymbolGS1128 {
		n += len(l.appendSymbolData(nil, f.Data)) - fieldDataLen(f.Data, true)
	}
	for i, t := range f.Text {
		if i >= l.TextLines {
			break
		}
		if t == "" {
			continue
		}
		n += len("^FN") + decimalLen(i+2) + fieldDataLen(t, false)
	}
	return n + len("^XZ")
}

// Standalone is one self-contained label (no stored format), e.g. for
// `serialine-edge label render --format zpl`.
func (l Layout) Standalone(f Fields) []byte {
	b := make([]byte, 0, 256+len(f.Data)+64*l.TextLines)
	b = append(b, "^XA\n"...)
	b = l.appendSetup(b)
	b = l.appendSymbolOrigin(b)
	b = l.appendSymbolData(b, f.Data)
	b = append(b, '\n')
	for i, t := range f.Text {
		if i >= l.TextLines {
			break
		}
		if t == "" {
			continue
		}
		b = l.appendTextOrigin(b, i)
		b = appendFieldData(b, t, false)
		b = append(b, '\n')
	}
	return append(b, "^PQ1\n^XZ\n"...)
}

// appendSetup writes the label-wide settings: UTF-8 text (^CI28), size and
// home position.
func (l Layout) appendSetup(b []byte) []byte {
	b = append(b, "^CI28\n^PW"...)
	b = strconv.AppendInt(b, int64(l.WidthDots), 10)
	b = append(b, "\n^LL"...)
	b = strconv.AppendInt(b, int64(l.HeightDots), 10)
	return append(b, "\n^LH0,0\n"...)
}

func (l Layout) appendSymbolOrigin(b []byte) []byte {
	b = appendFO(b, l.SymbolX, l.SymbolY)
	if l.Symbology == SymbolGS1128 {
		// Mode N: the data carries its own code sets and FNC1 (>; >8 ...);
		// no interpretation line, the text lines carry the HRI.
		b = append(b, "^BY"...)
		b = strconv.AppendInt(b, int64(l.ModuleDots), 10)
		b = append(b, "^BCN,"...)
		b = strconv.AppendInt(b, int64(l.BarHeightDots), 10)
		return append(b, ",N,N,N,N"...)
	}
	b = append(b, "^BXN,"...)
	b = strconv.AppendInt(b, int64(l.ModuleDots), 10)
	return append(b, ",200,,,,"+string(rune(bxEscape))...)
}

func (l Layout) appendTextOrigin(b []byte, line int) []byte {
	b = appendFO(b, l.TextX, l.TextY+line*l.linePitch())
	b = append(b, "^A0N,"...)
	b = strconv.AppendInt(b, int64(l.TextHeight), 10)
	b = append(b, ',')
	return strconv.AppendInt(b, int64(l.TextHeight), 10)
}

func appendFO(b []byte, x, y int) []byte {
	b = append(b, "^FO"...)
	b = strconv.AppendInt(b, int64(x), 10)
	b = append(b, ',')
	return strconv.AppendInt(b, int64(y), 10)
}

// appendSymbolData appends the symbol's field data: ^BX data with FNC1
// escapes, or ^BC data with Code 128 invocation codes. Data that Code 128
// cannot carry (ValidateFields says why) gives an empty field: no symbol
// rather than a wrong one.
func (l Layout) appendSymbolData(b []byte, data string) []byte {
	if l.Symbology != SymbolGS1128 {
		return appendFieldData(b, data, true)
	}
	if fieldNeedsHex(data, true) {
		b = append(b, "^FH"+string(rune(fhIndicator))+"^FD"...)
	} else {
		b = append(b, "^FD"...)
	}
	start := len(b)
	b, err := appendCode128Data(b, data, true)
	if err != nil {
		b = b[:start]
	}
	return append(b, "^FS"...)
}

// needsHex reports whether c cannot travel raw in ^FD data: ZPL's prefixes,
// the hex indicator, control characters (a printer drops CR and LF) and
// bytes outside 7-bit ASCII.
func needsHex(c byte) bool {
	return c < 0x20 || c >= 0x7F || c == '^' || c == '~' || c == fhIndicator
}

// fieldNeedsHex reports whether s needs ^FH. In symbol data GS is written as
// an escape sequence, not a hex escape.
func fieldNeedsHex(s string, symbol bool) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; needsHex(c) && !(symbol && c == gs) {
			return true
		}
	}
	return false
}

const hexDigits = "0123456789ABCDEF"

// appendFieldData appends [^FH\]^FD<data>^FS. For the symbol (symbol true)
// the data starts with FNC1, GS becomes FNC1 and a literal escape character
// is doubled; ^FH comes first on the printer, so the doubling stays raw.
func appendFieldData(b []byte, s string, symbol bool) []byte {
	if fieldNeedsHex(s, symbol) {
		b = append(b, "^FH"+string(rune(fhIndicator))+"^FD"...)
	} else {
		b = append(b, "^FD"...)
	}
	if symbol {
		b = append(b, bxEscape, '1')
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case symbol && c == gs:
			b = append(b, bxEscape, '1')
		case symbol && c == bxEscape:
			b = append(b, bxEscape, bxEscape)
		case needsHex(c):
			b = append(b, fhIndicator, hexDigits[c>>4], hexDigits[c&0x0F])
		default:
			b = append(b, c)
		}
	}
	return append(b, "^FS"...)
}

// fieldDataLen is len(appendFieldData(nil, s, symbol)) without building it.
func fieldDataLen(s string, symbol bool) int {
	n := len("^FD^FS")
	if fieldNeedsHex(s, symbol) {
		n += len("^FH") + 1
	}
	if symbol {
		n += 2
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case symbol && (c == gs || c == bxEscape):
			n += 2
		case needsHex(c):
			n += 3
		default:
			n++
		}
	}
	return n
}

func decimalLen(v int) int {
	n := 1
	for v >= 10 {
		v /= 10
		n++
	}
	return n
}
