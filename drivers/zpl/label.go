package zpl

// Label is one label a printer would print: a ^XA..^XZ format, with a
// recalled stored format's fields merged in.
type Label struct {
	// WidthDots and HeightDots are ^PW and ^LL; 0 when the format did not set
	// them (the printer keeps its configured size).
	WidthDots, HeightDots int
	// Quantity is ^PQ's label count (1 by default).
	Quantity int
	// Format is the stored format recalled with ^XF, normalised (e.g.
	// "R:SERIALINE.ZPL"); empty for a self-contained label.
	Format string
	// Elements are the printed fields in format order. Fields left without
	// data and fields of unsupported kinds (other bar codes, graphics) are
	// left out.
	Elements []Element
}

// ElementKind says what a field prints.
type ElementKind int

// Element kinds.
const (
	// Text is a human-readable text field.
	Text ElementKind = iota + 1
	// DataMatrix is a ^BX Data Matrix symbol.
	DataMatrix
	// Code128 is a ^BC Code 128 bar code (GS1-128 when FNC1 comes first).
	Code128
)

func (k ElementKind) String() string {
	switch k {
	case Text:
		return "text"
	case DataMatrix:
		return "datamatrix"
	case Code128:
		return "code128"
	default:
		return "unknown"
	}
}

// Element is one printed field.
type Element struct {
	Kind ElementKind
	// X, Y is the field origin in dots (^FO or ^FT plus ^LH).
	X, Y int
	// Data is what the field holds, with ^FH hex escapes resolved. For a
	// quality 200 DataMatrix the ^BX escape sequences are resolved too: a
	// leading FNC1 sets GS1, later FNC1s become GS (0x1D), so Data is the
	// element string in transmitted form. Text is UTF-8 when the format
	// selected ^CI28 (as ours do); otherwise it is the raw bytes.
	Data string
	// GS1 is true for a DataMatrix whose first codeword is FNC1, and for a
	// Code 128 whose first symbol after the start is FNC1 (GS1-128). For a
	// Code 128 the invocation codes (>; >8 ...) are resolved the same way:
	// Data is the element string in transmitted form.
	GS1 bool
	// ModuleDots is the DataMatrix module size (^BX h), or the Code 128
	// narrow bar width (^BY w); Quality the DataMatrix ECC level (200 = ECC
	// 200, the only one GS1 allows).
	ModuleDots, Quality int
	// HeightDots is a Code 128's bar height (^BC h, else ^BY h).
	HeightDots int
	// FontHeight, FontWidth are a text field's font size in dots (^A, ^CF).
	FontHeight, FontWidth int
	// Field is the ^FN field number, or -1 when the field had none.
	Field int
}

// Command is an immediate (tilde) command, acted on as soon as a printer
// receives it, e.g. ~HS host status or ~JA cancel all.
type Command struct {
	// Code is the command with a "~" prefix and upper case, e.g. "~HS", even
	// after ~CT changed the tilde character.
	Code string
	// Params is what followed the code, if anything.
	Params string
}
