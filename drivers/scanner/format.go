// Package scanner is the driver for vision verifiers (Cognex DataMan-,
// Keyence-class readers) that read each printed GS1 DataMatrix and send one
// result line per unit over serial or TCP. Format is the line codec, shared
// with the scanner simulator; Scanner reads a link and turns lines into
// Results.
package scanner

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Defaults used where a Format leaves a field empty.
const (
	DefaultTerminator     = "\r\n"
	DefaultNoRead         = "NOREAD"
	DefaultGradeSeparator = ";"
	DefaultMaxLine        = 4096
	// MaxMaxLine bounds max_line: a DataMatrix holds at most 3,116 characters.
	MaxMaxLine = 1 << 16
)

// gsByte is the ASCII group separator a reader sends for FNC1.
const gsByte = 0x1d

// ErrMalformed is wrapped by every Decode error: the line is not a result line
// in the configured format.
var ErrMalformed = errors.New("malformed scanner line")

// Result is one unit's inspection result.
type Result struct {
	// Data is the decoded content with FNC1 separators as GS (0x1D) and
	// without any symbology identifier. Empty for a no-read.
	Data string
	// GS1 is true for a GS1 DataMatrix (FNC1 first, symbology identifier ]d2).
	GS1 bool
	// Grade is the ISO/IEC 15415 overall grade, or GradeNone if not sent.
	Grade Grade
	// NoRead is true when the reader found no readable symbol.
	NoRead bool
	// At is when the line arrived.
	At time.Time
}

// GradeStyle says whether and how the reader appends the overall grade.
type GradeStyle string

// Grade styles. The empty style is GradeOff.
const (
	GradeOff    GradeStyle = "none"
	GradeLetter GradeStyle = "letter" // A, B, C, D, F
	GradeNumber GradeStyle = "number" // 4, 3, 2, 1, 0
)

// GradePosition says on which side of the data the grade is.
type GradePosition string

// Grade positions. The empty position is GradeSuffix.
const (
	GradeSuffix GradePosition = "suffix" // DATA;B
	GradePrefix GradePosition = "prefix" // B;DATA
)

// Format is the result-line syntax a reader is configured to send:
//
//	prefix [grade sep] [symbology id] data [sep grade] terminator
//
// In YAML, string fields accept the escapes of ParseEscapes (\x02, \r, \n, \t,
// \\), so that control characters can be written in a configuration file. In
// Go, the fields hold the bytes themselves. Empty fields take the defaults.
type Format struct {
	// Prefix starts every line, e.g. "" or "\x02" (STX).
	Prefix string `yaml:"prefix"`
	// Terminator ends every line; default "\r\n". It must contain a control
	// character, so that it can never occur inside GS1 data.
	Terminator string `yaml:"terminator"`
	// NoRead is the whole data field of a no-read; default "NOREAD".
	NoRead string `yaml:"no_read"`
	// GS is how the reader shows FNC1 separators: the raw byte 0x1D (default)
	// or a substitute such as "<GS>" or "{GS}". Decode also accepts the raw
	// byte when a substitute is set.
	GS string `yaml:"gs"`
	// SymbologyID makes the reader prepend the AIM symbology identifier (]d2
	// for GS1 DataMatrix, ]d1 for a plain one); Decode then requires it and
	// takes GS1 from it. Without it, Decode still strips one if present.
	SymbologyID bool `yaml:"symbology_id"`
	// AssumeGS1 marks every read as GS1 when the line carries no symbology
	// identifier (the reader cannot say; set it on lines that print only GS1
	// DataMatrix). A leading GS also marks a read as GS1.
	AssumeGS1 bool `yaml:"assume_gs1"`
	// Grade is "none" (default), "letter" or "number". Decode accepts either
	// form whenever grades are on.
	Grade GradeStyle `yaml:"grade"`
	// GradePosition is "suffix" (default) or "prefix".
	GradePosition GradePosition `yaml:"grade_position"`
	// GradeSeparator stands between grade and data; default ";". It must not
	// contain a grade character (A-D, F, 0-4).
	GradeSeparator string `yaml:"grade_separator"`
	// MaxLine caps a line's length in bytes without the terminator; default
	// 4096. Longer lines are malformed.
	MaxLine int `yaml:"max_line"`
}

func (f Format) terminator() string {
	if f.Terminator == "" {
		return DefaultTerminator
	}
	return f.Terminator
}

func (f Format) noRead() string {
	if f.NoRead == "" {
		return DefaultNoRead
	}
	return f.NoRead
}

func (f Format) gs() string {
	if f.GS == "" {
		return "\x1d"
	}
	return f.GS
}

func (f Format) separator() string {
	if f.GradeSeparator == "" {
		return DefaultGradeSeparator
	}
	return f.GradeSeparator
}

func (f Format) maxLine() int {
	if f.MaxLine == 0 {
		return DefaultMaxLine
	}
	return f.MaxLine
}

func (f Format) gradeOn() bool {
	return f.Grade == GradeLetter || f.Grade == GradeNumber
}

// TerminatorBytes returns the terminator in effect (the default if unset).
func (f Format) TerminatorBytes() []byte { return []byte(f.terminator()) }

// MaxLineBytes returns the line-length cap in effect (the default if unset).
func (f Format) MaxLineBytes() int { return f.maxLine() }

// Validate checks the format and names the key and the rule it breaks.
func (f Format) Validate() error {
	term := f.terminator()
	if !strings.ContainsFunc(term, func(r rune) bool { return (r < 0x20 && r != gsByte) || r == 0x7f }) {
		return fmt.Errorf("format: terminator %q must contain a control character (such as \\r, \\n or \\x03) so that it cannot occur inside the data", term)
	}
	if strings.IndexByte(term, gsByte) >= 0 {
		return fmt.Errorf("format: terminator %q must not contain GS (0x1D), the FNC1 separator inside the data", term)
	}
	for _, kv := range []struct{ key, val string }{
		{"prefix", f.Prefix},
		{"no_read", f.noRead()},
		{"gs", f.gs()},
		{"grade_separator", f.separator()},
	} {
		if strings.Contains(kv.val, term) {
			return fmt.Errorf("format: %s %q must not contain the terminator %q", kv.key, kv.val, term)
		}
	}
	switch f.Grade {
	case "", GradeOff, GradeLetter, GradeNumber:
	default:
		return fmt.Errorf("format: grade %q: want none, letter or number", f.Grade)
	}
	switch f.GradePosition {
	case "", GradeSuffix, GradePrefix:
	default:
		return fmt.Errorf("format: grade_position %q: want suffix or prefix", f.GradePosition)
	}
	sep := f.separator()
	for i := 0; i < len(sep); i++ {
		if isGradeChar(sep[i]) {
			return fmt.Errorf("format: grade_separator %q must not contain %q, a grade character (A-D, F, 0-4)", sep, sep[i])
		}
	}
	if f.MaxLine < 0 || f.MaxLine > MaxMaxLine {
		return fmt.Errorf("format: max_line %d: want 1..%d bytes (0 for the default %d)", f.MaxLine, MaxMaxLine, DefaultMaxLine)
	}
	if strings.HasPrefix(f.noRead(), "]") {
		return fmt.Errorf("format: no_read %q must not start with ], which begins a symbology identifier", f.noRead())
	}
	return nil
}

// Encode appends r as one line, terminator included, to dst. With grades on,
// a read without a grade gets an empty grade field ("DATA;"), a no-read
// without a grade gets none ("NOREAD").
func (f Format) Encode(dst []byte, r Result) []byte {
	dst = append(dst, f.Prefix...)
	withGrade := f.gradeOn() && (!r.NoRead || r.Grade != GradeNone)
	prefixPos := f.GradePosition == GradePrefix
	if withGrade && prefixPos {
		dst = f.appendGrade(dst, r.Grade)
		dst = append(dst, f.separator()...)
	}
	if r.NoRead {
		dst = append(dst, f.noRead()...)
	} else {
		if f.SymbologyID {
			if r.GS1 {
				dst = append(dst, "]d2"...)
			} else {
				dst = append(dst, "]d1"...)
			}
		}
		if gs := f.gs(); gs == "\x1d" {
			dst = append(dst, r.Data...)
		} else {
			data := r.Data
			for {
				i := strings.IndexByte(data, gsByte)
				if i < 0 {
					break
				}
				dst = append(dst, data[:i]...)
				dst = append(dst, gs...)
				data = data[i+1:]
			}
			dst = append(dst, data...)
		}
	}
	if withGrade && !prefixPos {
		dst = append(dst, f.separator()...)
		dst = f.appendGrade(dst, r.Grade)
	}
	return append(dst, f.terminator()...)
}

func (f Format) appendGrade(dst []byte, g Grade) []byte {
	if !g.Valid() {
		return dst
	}
	if f.Grade == GradeNumber {
		return append(dst, byte('0'+g.Number()))
	}
	return append(dst, byte(g))
}

// Decode parses one line, with or without its terminator, received at at.
// Errors wrap ErrMalformed and say what is wrong with the line.
func (f Format) Decode(line []byte, at time.Time) (Result, error) {
	term := f.terminator()
	if n := len(line) - len(term); n >= 0 && string(line[n:]) == term {
		line = line[:n]
	}
	if max := f.maxLine(); len(line) > max {
		return Result{}, fmt.Errorf("%w: %d bytes, longer than max_line %d", ErrMalformed, len(line), max)
	}
	if len(line) < len(f.Prefix) || string(line[:len(f.Prefix)]) != f.Prefix {
		return Result{}, fmt.Errorf("%w: does not start with the prefix %q", ErrMalformed, f.Prefix)
	}
	body := line[len(f.Prefix):]
	noRead := f.noRead()
	if string(body) == noRead {
		return Result{NoRead: true, At: at}, nil
	}
	var grade Grade
	if f.gradeOn() {
		var err error
		if body, grade, err = f.splitGrade(body); err != nil {
			return Result{}, err
		}
		if string(body) == noRead {
			return Result{NoRead: true, Grade: grade, At: at}, nil
		}
	}
	r := Result{Grade: grade, At: at}
	symID := false
	if len(body) >= 3 && body[0] == ']' {
		if body[1] == 'd' && '0' <= body[2] && body[2] <= '6' {
			// ]d2 and ]d5 (with ECI) say FNC1 came first: GS1 DataMatrix.
			r.GS1 = body[2] == '2' || body[2] == '5'
			symID = true
			body = body[3:]
			if len(body) >= 3 && body[0] == ']' && body[1] == 'd' && '0' <= body[2] && body[2] <= '6' {
				return Result{}, fmt.Errorf("%w: two symbology identifiers (%q, then %q)", ErrMalformed, line[len(line)-len(body)-3:len(line)-len(body)], body[:3])
			}
		} else if f.SymbologyID {
			return Result{}, fmt.Errorf("%w: symbology identifier %q is not a DataMatrix one (]d0..]d6)", ErrMalformed, body[:3])
		}
	}
	if f.SymbologyID && !symID {
		return Result{}, fmt.Errorf("%w: no symbology identifier (]d1 or ]d2), which symbology_id requires", ErrMalformed)
	}
	data := string(body)
	if gs := f.gs(); gs != "\x1d" && strings.Contains(data, gs) {
		data = strings.ReplaceAll(data, gs, "\x1d")
	}
	if len(data) > 0 && data[0] == gsByte {
		// Some readers send FNC1 in first position as a leading GS.
		data = data[1:]
		r.GS1 = true
		if len(data) > 0 && data[0] == gsByte {
			return Result{}, fmt.Errorf("%w: data starts with two GS (FNC1) separators", ErrMalformed)
		}
	}
	if !symID && f.AssumeGS1 {
		r.GS1 = true
	}
	if len(data) == 0 {
		return Result{}, fmt.Errorf("%w: empty data (a no-read must be sent as %q)", ErrMalformed, noRead)
	}
	for i := 0; i < len(data); i++ {
		if c := data[i]; (c < 0x20 && c != gsByte) || c > 0x7e {
			return Result{}, fmt.Errorf("%w: data character %d is byte 0x%02X, neither printable ASCII nor GS", ErrMalformed, i+1, c)
		}
	}
	r.Data = data
	return r, nil
}

// splitGrade takes the grade field off body. An empty grade field gives
// GradeNone; a missing separator is an error, since grades are on.
func (f Format) splitGrade(body []byte) ([]byte, Grade, error) {
	sep := f.separator()
	n := len(body)
	if f.GradePosition == GradePrefix {
		if n >= len(sep) && string(body[:len(sep)]) == sep {
			return body[len(sep):], GradeNone, nil
		}
		if n >= 1+len(sep) && string(body[1:1+len(sep)]) == sep {
			g, ok := gradeOf(body[0])
			if !ok {
				return nil, GradeNone, fmt.Errorf("%w: grade %q before %q is not A, B, C, D, F or 4..0", ErrMalformed, body[:1], sep)
			}
			return body[1+len(sep):], g, nil
		}
		return nil, GradeNone, fmt.Errorf("%w: no grade: want a grade (A-D, F or 4-0) and %q before the data", ErrMalformed, sep)
	}
	if n >= 1+len(sep) && string(body[n-1-len(sep):n-1]) == sep {
		if g, ok := gradeOf(body[n-1]); ok {
			return body[:n-1-len(sep)], g, nil
		}
	}
	if n >= len(sep) && string(body[n-len(sep):]) == sep {
		return body[:n-len(sep)], GradeNone, nil
	}
	if n >= 1+len(sep) && string(body[n-1-len(sep):n-1]) == sep {
		return nil, GradeNone, fmt.Errorf("%w: grade %q after %q is not A, B, C, D, F or 4..0", ErrMalformed, body[n-1:], sep)
	}
	return nil, GradeNone, fmt.Errorf("%w: no grade: want %q and a grade (A-D, F or 4-0) after the data", ErrMalformed, sep)
}

// UnmarshalYAML reads a Format and resolves the escapes in its string fields.
func (f *Format) UnmarshalYAML(value *yaml.Node) error {
	type plain Format // without methods, so Decode does not recurse
	var p plain
	if err := value.Decode(&p); err != nil {
		return err
	}
	for _, kv := range []struct {
		key string
		val *string
	}{
		{"prefix", &p.Prefix},
		{"terminator", &p.Terminator},
		{"no_read", &p.NoRead},
		{"gs", &p.GS},
		{"grade_separator", &p.GradeSeparator},
	} {
		s, err := ParseEscapes(*kv.val)
		if err != nil {
			return fmt.Errorf("format: %s: %w", kv.key, err)
		}
		*kv.val = s
	}
	*f = Format(p)
	return nil
}

// MarshalYAML writes a Format with control characters as escapes, the form
// UnmarshalYAML reads.
func (f Format) MarshalYAML() (any, error) {
	type plain Format
	p := plain(f)
	for _, s := range []*string{&p.Prefix, &p.Terminator, &p.NoRead, &p.GS, &p.GradeSeparator} {
		*s = FormatEscapes(*s)
	}
	return p, nil
}
