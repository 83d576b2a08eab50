package scanner

import (
	"strings"
	"testing"
	"time"

	"github.com/serialine/serialine/internal/testkit"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"
)

var at = time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)

// TestFormatWire pins the exact bytes for every format option, both ways.
func TestFormatWire(t *testing.T) {
	tests := []struct {
		name   string
		format Format
		result Result
		wire   string
	}{
		{"defaults", Format{}, Result{Data: pharmaData}, pharmaData + "\r\n"},
		{"no-read default token", Format{}, Result{NoRead: true}, "NOREAD\r\n"},
		{"no-read own token", Format{NoRead: "NR"}, Result{NoRead: true}, "NR\r\n"},
		{"STX prefix ETX terminator", Format{Prefix: "\x02", Terminator: "\x03"}, Result{Data: "ABC"}, "\x02ABC\x03"},
		{"CR terminator", Format{Terminator: "\r"}, Result{Data: "ABC"}, "ABC\r"},
		{"text prefix", Format{Prefix: "RES:"}, Result{Data: "ABC"}, "RES:ABC\r\n"},
		{"grade letter suffix", Format{Grade: GradeLetter}, Result{Data: "ABC", Grade: GradeB}, "ABC;B\r\n"},
		{"grade number suffix", Format{Grade: GradeNumber}, Result{Data: "ABC", Grade: GradeB}, "ABC;3\r\n"},
		{"grade number F is 0", Format{Grade: GradeNumber}, Result{Data: "ABC", Grade: GradeF}, "ABC;0\r\n"},
		{"grade prefix own separator", Format{Grade: GradeLetter, GradePosition: GradePrefix, GradeSeparator: ","}, Result{Data: "ABC", Grade: GradeD}, "D,ABC\r\n"},
		{"grade multi-byte separator", Format{Grade: GradeLetter, GradeSeparator: " | "}, Result{Data: "ABC", Grade: GradeC}, "ABC | C\r\n"},
		{"grade missing gives empty field", Format{Grade: GradeLetter}, Result{Data: "ABC"}, "ABC;\r\n"},
		{"no-read with grade", Format{Grade: GradeLetter}, Result{NoRead: true, Grade: GradeF}, "NOREAD;F\r\n"},
		{"no-read without grade", Format{Grade: GradeLetter}, Result{NoRead: true}, "NOREAD\r\n"},
		{"no-read grade prefix", Format{Grade: GradeNumber, GradePosition: GradePrefix}, Result{NoRead: true, Grade: GradeF}, "0;NOREAD\r\n"},
		{"GS as <GS>", Format{GS: "<GS>"}, Result{Data: "10A\x1d21B"}, "10A<GS>21B\r\n"},
		{"GS as {GS}", Format{GS: "{GS}"}, Result{Data: "10A\x1d21B"}, "10A{GS}21B\r\n"},
		{"GS raw", Format{GS: "\x1d"}, Result{Data: "10A\x1d21B"}, "10A\x1d21B\r\n"},
		{"symbology id GS1", Format{SymbologyID: true}, Result{Data: pharmaData, GS1: true}, "]d2" + pharmaData + "\r\n"},
		{"symbology id plain", Format{SymbologyID: true}, Result{Data: "HELLO"}, "]d1HELLO\r\n"},
		{"assume GS1", Format{AssumeGS1: true}, Result{Data: pharmaData, GS1: true}, pharmaData + "\r\n"},
		{"everything", Format{Prefix: "\x02", Terminator: "\x03\r\n", NoRead: "?", GS: "<GS>", SymbologyID: true, Grade: GradeLetter, GradeSeparator: ","},
			Result{Data: "01095011015300031726123110L1\x1d21S1", GS1: true, Grade: GradeA},
			"\x02]d201095011015300031726123110L1<GS>21S1,A\x03\r\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.NoError(t, tt.format.Validate())
			require.Equal(t, tt.wire, string(tt.format.Encode(nil, tt.result)))
			got, err := tt.format.Decode([]byte(tt.wire), at)
			require.NoError(t, err)
			want := tt.result
			want.At = at
			require.Equal(t, want, got)
		})
	}
}

// TestFormatRoundTrip encodes and decodes a set of results in every
// combination of the options that change the syntax.
func TestFormatRoundTrip(t *testing.T) {
	results := []Result{
		{Data: pharmaData, GS1: true, Grade: GradeA},
		{Data: "HELLO;WORLD", Grade: GradeB}, // the separator inside the data
		{Data: "X;", Grade: GradeC},
		{Data: "A;B"},
		{Data: "NOREAD-NOT", Grade: GradeF},
		{NoRead: true, Grade: GradeF},
		{NoRead: true},
	}
	var formats []Format
	for _, prefix := range []string{"", "\x02"} {
		for _, term := range []string{"\r\n", "\x03"} {
			for _, gs := range []string{"", "<GS>"} {
				for _, style := range []GradeStyle{"", GradeLetter, GradeNumber} {
					for _, pos := range []GradePosition{GradeSuffix, GradePrefix} {
						for _, sym := range []bool{false, true} {
							formats = append(formats, Format{Prefix: prefix, Terminator: term, GS: gs, Grade: style, GradePosition: pos, SymbologyID: sym})
						}
					}
				}
			}
		}
	}
	for _, f := range formats {
		for _, r := range results {
			line := f.Encode(nil, r)
			got, err := f.Decode(line, at)
			require.NoError(t, err, "format %+v line %q", f, line)
			want := r
			want.At = at
			if !f.gradeOn() {
				want.Grade = GradeNone
			}
			if !f.SymbologyID {
				want.GS1 = false
			}
			require.Equal(t, want, got, "format %+v line %q", f, line)
		}
	}
}

// TestFormatDecodeLenient covers what readers send beyond what Encode writes.
func TestFormatDecodeLenient(t *testing.T) {
	tests := []struct {
		name   string
		format Format
		line   string
		want   Result
	}{
		{"without terminator", Format{}, "ABC", Result{Data: "ABC"}},
		{"leading GS marks GS1", Format{}, "\x1d" + pharmaData, Result{Data: pharmaData, GS1: true}},
		{"leading <GS> marks GS1", Format{GS: "<GS>"}, "<GS>10A<GS>21B", Result{Data: "10A\x1d21B", GS1: true}},
		{"symbology id stripped when not configured", Format{}, "]d2" + pharmaData, Result{Data: pharmaData, GS1: true}},
		{"]d5 is GS1 with ECI", Format{SymbologyID: true}, "]d5ABC", Result{Data: "ABC", GS1: true}},
		{"]d1 is not GS1 even when assumed", Format{AssumeGS1: true}, "]d1ABC", Result{Data: "ABC"}},
		{"raw GS accepted beside a substitute", Format{GS: "{GS}"}, "10A\x1d21B{GS}240X", Result{Data: "10A\x1d21B\x1d240X"}},
		{"number grade in letter style", Format{Grade: GradeLetter}, "ABC;2", Result{Data: "ABC", Grade: GradeC}},
		{"letter grade in number style", Format{Grade: GradeNumber}, "ABC;D", Result{Data: "ABC", Grade: GradeD}},
		{"no-read with empty grade", Format{Grade: GradeLetter}, "NOREAD;", Result{NoRead: true}},
		{"separator ending the data", Format{Grade: GradeLetter}, "AB;;A", Result{Data: "AB;", Grade: GradeA}},
		{"exactly max_line", Format{MaxLine: 5}, "ABCDE\r\n", Result{Data: "ABCDE"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.format.Decode([]byte(tt.line), at)
			require.NoError(t, err)
			tt.want.At = at
			require.Equal(t, tt.want, got)
		})
	}
}

func TestFormatDecodeMalformed(t *testing.T) {
	tests := []struct {
		name   string
		format Format
		line   string
		want   string
	}{
		{"missing prefix", Format{Prefix: "\x02"}, "ABC\r\n", `does not start with the prefix "\x02"`},
		{"empty line", Format{}, "\r\n", "empty data"},
		{"symbology id only", Format{SymbologyID: true}, "]d2", "empty data"},
		{"lone GS", Format{}, "\x1d", "empty data"},
		{"two symbology identifiers", Format{}, "]d2]d1ABC", `two symbology identifiers ("]d2", then "]d1")`},
		{"two leading GS", Format{}, "\x1d\x1dABC", "data starts with two GS"},
		{"control byte", Format{}, "AB\x07C", "data character 3 is byte 0x07"},
		{"stray CR", Format{Terminator: "\n"}, "ABC\r\n", "data character 4 is byte 0x0D"},
		{"high byte", Format{}, "AB\xffC", "byte 0xFF"},
		{"over max_line", Format{MaxLine: 10}, "0123456789A\r\n", "11 bytes, longer than max_line 10"},
		{"no grade", Format{Grade: GradeLetter}, "ABC", `no grade: want ";" and a grade`},
		{"grade E", Format{Grade: GradeLetter}, "ABC;E", `grade "E" after ";" is not A, B, C, D, F or 4..0`},
		{"grade 5", Format{Grade: GradeNumber}, "ABC;5", `grade "5"`},
		{"no grade before data", Format{Grade: GradeLetter, GradePosition: GradePrefix}, "ABC", "no grade: want a grade"},
		{"bad grade before data", Format{Grade: GradeLetter, GradePosition: GradePrefix}, "X;ABC", `grade "X" before ";"`},
		{"symbology id missing", Format{SymbologyID: true}, pharmaData, "no symbology identifier"},
		{"not a DataMatrix symbology", Format{SymbologyID: true}, "]Q3ABC", `symbology identifier "]Q3" is not a DataMatrix one`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.format.Decode([]byte(tt.line), at)
			require.ErrorIs(t, err, ErrMalformed)
			require.ErrorContains(t, err, tt.want)
		})
	}
}

func TestFormatValidate(t *testing.T) {
	tests := []struct {
		name   string
		format Format
		want   string // "" for valid
	}{
		{"zero value", Format{}, ""},
		{"full", Format{Prefix: "\x02", Terminator: "\x03", NoRead: "NR", GS: "<GS>", Grade: GradeNumber, GradePosition: GradePrefix, GradeSeparator: ",", MaxLine: 200}, ""},
		{"printable terminator", Format{Terminator: "#"}, "terminator \"#\" must contain a control character"},
		{"GS terminator", Format{Terminator: "\x1d\r"}, "terminator \"\\x1d\\r\" must not contain GS"},
		{"terminator in prefix", Format{Prefix: "A\r\nB"}, "prefix \"A\\r\\nB\" must not contain the terminator"},
		{"terminator in no_read", Format{NoRead: "NO\r\nREAD"}, "no_read"},
		{"terminator in gs", Format{Terminator: "\n", GS: "\n"}, "gs \"\\n\" must not contain the terminator"},
		{"bad grade style", Format{Grade: "colour"}, `grade "colour": want none, letter or number`},
		{"bad grade position", Format{GradePosition: "left"}, `grade_position "left": want suffix or prefix`},
		{"grade char in separator", Format{GradeSeparator: "-A-"}, `grade_separator "-A-" must not contain 'A'`},
		{"negative max_line", Format{MaxLine: -1}, "max_line -1"},
		{"huge max_line", Format{MaxLine: 1 << 20}, "max_line 1048576"},
		{"no_read like a symbology id", Format{NoRead: "]NR"}, "no_read \"]NR\" must not start with ]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.format.Validate()
			if tt.want == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, tt.want)
		})
	}
}

func TestFormatYAML(t *testing.T) {
	t.Run("escapes resolved", func(t *testing.T) {
		src := `
prefix: '\x02'
terminator: '\x03\r\n'
no_read: "NR"
gs: "<GS>"
symbology_id: true
assume_gs1: true
grade: number
grade_position: prefix
grade_separator: ","
max_line: 300
`
		var f Format
		require.NoError(t, yaml.Unmarshal([]byte(src), &f))
		require.Equal(t, Format{Prefix: "\x02", Terminator: "\x03\r\n", NoRead: "NR", GS: "<GS>", SymbologyID: true, AssumeGS1: true,
			Grade: GradeNumber, GradePosition: GradePrefix, GradeSeparator: ",", MaxLine: 300}, f)
		require.NoError(t, f.Validate())

		out, err := yaml.Marshal(f)
		require.NoError(t, err)
		require.Contains(t, string(out), `\x02`)
		var back Format
		require.NoError(t, yaml.Unmarshal(out, &back))
		require.Equal(t, f, back)
	})
	t.Run("YAML double quotes work too", func(t *testing.T) {
		var f Format
		require.NoError(t, yaml.Unmarshal([]byte(`gs: "\x1d"`), &f))
		require.Equal(t, "\x1d", f.GS)
	})
	t.Run("bad escape names the key", func(t *testing.T) {
		var f Format
		err := yaml.Unmarshal([]byte(`terminator: '\q'`), &f)
		require.ErrorContains(t, err, `format: terminator: "\\q": unknown escape \q`)
	})
	t.Run("inside a driver config", func(t *testing.T) {
		var c Config
		require.NoError(t, yaml.Unmarshal([]byte("name: v1\ntransport: tcp:127.0.0.1:2001\nreconnect_min: 50ms\nformat:\n  prefix: '\\x02'\n"), &c))
		require.Equal(t, "\x02", c.Format.Prefix)
		require.Equal(t, 50*time.Millisecond, c.ReconnectMin)
	})
}

func TestParseEscapes(t *testing.T) {
	tests := []struct {
		in, want, err string
	}{
		{in: "", want: ""},
		{in: "<STX>", want: "<STX>"},
		{in: `\x02`, want: "\x02"},
		{in: `\x1D`, want: "\x1d"},
		{in: `a\r\n\tb\\`, want: "a\r\n\tb\\"},
		{in: `\`, err: "lone backslash"},
		{in: `\x0`, err: "needs two hex digits"},
		{in: `\xzz`, err: `needs two hex digits, got "zz"`},
		{in: `\e`, err: `unknown escape \e at offset 0`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseEscapes(tt.in)
			if tt.err != "" {
				require.ErrorContains(t, err, tt.err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
			back, err := ParseEscapes(FormatEscapes(got))
			require.NoError(t, err)
			require.Equal(t, got, back)
		})
	}
}

// TestDecodedDataIsValidGS1 hands what Decode made of reader lines in several
// formats to the independent GS1 checker: GS handling, symbology identifier
// and grade stripping must leave a valid element string.
func TestDecodedDataIsValidGS1(t *testing.T) {
	testkit.ValidatorsBin(t)
	tests := []struct {
		name   string
		format Format
		line   string
	}{
		{"raw GS", Format{}, pharmaData + "\r\n"},
		{"<GS> substitute with ]d2 and grade", Format{GS: "<GS>", SymbologyID: true, Grade: GradeLetter}, "]d2" + strings.ReplaceAll(pharmaData, "\x1d", "<GS>") + ";B\r\n"},
		{"{GS} substitute, STX prefix, grade prefix", Format{Prefix: "\x02", GS: "{GS}", Grade: GradeNumber, GradePosition: GradePrefix}, "\x023;" + strings.ReplaceAll(pharmaData, "\x1d", "{GS}") + "\r\n"},
		{"leading GS", Format{Terminator: "\r"}, "\x1d" + pharmaData + "\r"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := tt.format.Decode([]byte(tt.line), at)
			require.NoError(t, err)
			require.Equal(t, pharmaData, r.Data)
			out, code := testkit.RunValidator(t, "validate-gs1", "]d2"+r.Data)
			require.Equal(t, 0, code, out)
			require.Contains(t, out, "(21)SER0000001")
		})
	}
	t.Run("a substitute the format does not know is caught", func(t *testing.T) {
		r, err := Format{}.Decode([]byte(strings.ReplaceAll(pharmaData, "\x1d", "{GS}")), at)
		require.NoError(t, err) // printable, so syntactically a line
		out, code := testkit.RunValidator(t, "validate-gs1", "]d2"+r.Data)
		require.NotEqual(t, 0, code, out)
	})
}
