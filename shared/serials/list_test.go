package serials_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/stretchr/testify/require"

	"github.com/serialine/serialine/shared/serials"
)

const gtin = "09506000134352"

func TestParseListAccepts(t *testing.T) {
	tests := []struct {
		name string
		csv  string
		spec serials.ListSpec
		want []string
	}{
		{"one per line", "A1\nB2\nC3\n", serials.ListSpec{}, []string{"A1", "B2", "C3"}},
		{"no final newline, CRLF", "A1\r\nB2\r\nC3", serials.ListSpec{}, []string{"A1", "B2", "C3"}},
		{"blank lines skipped", "A1\n\nB2\n\n", serials.ListSpec{}, []string{"A1", "B2"}},
		{"header", "serial\nA1\nB2\n", serials.ListSpec{}, []string{"A1", "B2"}},
		{"header any case, spaces", " Serial \nA1\n", serials.ListSpec{}, []string{"A1"}},
		{"BOM and header", "\xEF\xBB\xBFserial\r\nA1\r\n", serials.ListSpec{}, []string{"A1"}},
		{"BOM without header", "\xEF\xBB\xBFA1\n", serials.ListSpec{}, []string{"A1"}},
		{"extra columns without header", "A1,foo,bar\nB2,baz\n", serials.ListSpec{}, []string{"A1", "B2"}},
		{"serial column not first", "lot,serial,note\nL1,A1,x\nL1,B2,\n", serials.ListSpec{}, []string{"A1", "B2"}},
		{"gtin column matches", "gtin,serial\n09506000134352,A1\n9506000134352,B2\n", serials.ListSpec{GTIN: gtin}, []string{"A1", "B2"}},
		{"gtin column consistent, no product GTIN given", "serial,gtin\nA1,09506000134352\nB2,09506000134352\n", serials.ListSpec{}, []string{"A1", "B2"}},
		{"quoted CSET 82 punctuation", "\"A,B\"\"C\"\n'x'!%&()*+-./:;<=>?_\n", serials.ListSpec{}, []string{`A,B"C`, `'x'!%&()*+-./:;<=>?_`}},
		{"fixed length numeric", "12345678\n00000001\n", serials.ListSpec{Length: 8, Alphabet: "numeric"}, []string{"12345678", "00000001"}},
		{"sgtin96", "274877906943\n100000000000\n0\n", serials.ListSpec{SGTIN96: true}, []string{"274877906943", "100000000000", "0"}},
		{"twenty characters", "ABCDEFGHIJKLMNOPQRST\n", serials.ListSpec{}, []string{"ABCDEFGHIJKLMNOPQRST"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := serials.ParseList(strings.NewReader(tc.csv), tc.spec)
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
		})
	}
}

func TestParseListRejects(t *testing.T) {
	tests := []struct {
		name string
		csv  string
		spec serials.ListSpec
		want []string // every problem, in order
	}{
		{"space", "A1\nA 2\n", serials.ListSpec{},
			[]string{`line 2: serial "A 2": space at position 2 is not in CSET 82`}},
		{"non-ASCII", "Aé\n", serials.ListSpec{},
			[]string{`line 1: serial "Aé": byte 0xC3 at position 2 is not in CSET 82`}},
		{"too long", "ABCDEFGHIJKLMNOPQRSTU\n", serials.ListSpec{},
			[]string{`line 1: serial "ABCDEFGHIJKLMNOPQRSTU": has 21 characters, AI 21 allows at most 20`}},
		{"fixed length", "1234567\n12345678\n", serials.ListSpec{Length: 8},
			[]string{`line 1: serial "1234567": has 7 characters, this product's serials have exactly 8`}},
		{"alphabet", "1234567a\n", serials.ListSpec{Alphabet: "alphanumeric"},
			[]string{`line 1: serial "1234567a": character 'a' at position 8 is not in the alphabet "alphanumeric"`}},
		{"sgtin96 leading zero", "0123\n274877906944\n", serials.ListSpec{SGTIN96: true},
			[]string{
				`line 1: serial "0123": a leading zero cannot be encoded in SGTIN-96`,
				`line 2: serial "274877906944": exceeds 274877906943, the largest SGTIN-96 serial`,
			}},
		{"empty field", "A1\n,x\n", serials.ListSpec{},
			[]string{`line 2: serial: is empty`}},
		{"duplicates with both lines", "A1\nB2\nA1\nC3\nB2\nA1\n", serials.ListSpec{},
			[]string{
				`line 3: serial "A1": duplicate of line 1`,
				`line 5: serial "B2": duplicate of line 2`,
				`line 6: serial "A1": duplicate of line 1`,
			}},
		{"gtin mismatch", "serial,gtin\nA1,09506000134352\nB2,09506000134369\nC3,\nD4,0950600013435\n", serials.ListSpec{GTIN: gtin},
			[]string{
				`line 3: gtin "09506000134369": is not the product's GTIN 09506000134352`,
				`line 4: gtin: is empty; every row must name the product's GTIN`,
				`line 5: gtin "0950600013435": check digit 5 is wrong, expected 9`,
			}},
		{"gtin inconsistent", "serial,gtin\nA1,09506000134352\nB2,09506000134369\n", serials.ListSpec{},
			[]string{`line 3: gtin "09506000134369": differs from GTIN 09506000134352 of line 2; a list is for one product`}},
		{"missing serial column in row", "note,serial\nonly-one\n", serials.ListSpec{},
			[]string{`line 2: serial: missing: the row has 1 column(s), the serial is column 2`}},
		{"header without serial", "gtin,sn\n09506000134352,A1\n", serials.ListSpec{},
			[]string{`line 1: header "gtin,sn": names a "gtin" column but no "serial" column`}},
		{"header misnamed", "Serial Number\nA1\n", serials.ListSpec{},
			[]string{`line 1: header "Serial Number": looks like a header; name the serial column "serial"`}},
		{"bare quote, then more", "A1\nA\"B\nC3\nA1\n", serials.ListSpec{},
			[]string{
				`line 2: csv: a " inside an unquoted field; quote the whole field and double the " ("A""B")`,
				`line 4: serial "A1": duplicate of line 1`,
			}},
		{"empty file", "", serials.ListSpec{}, []string{`file: holds no serials`}},
		{"header only", "serial\r\n", serials.ListSpec{}, []string{`file: holds no serials`}},
		{"everything at once", "serial,gtin\nA 1,09506000134352\nB2,09506000134369\nB2,09506000134352\n", serials.ListSpec{GTIN: gtin, Length: 2},
			[]string{
				`line 2: serial "A 1": space at position 2 is not in CSET 82`,
				`line 3: gtin "09506000134369": is not the product's GTIN 09506000134352`,
				`line 4: serial "B2": duplicate of line 3`,
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := serials.ParseList(strings.NewReader(tc.csv), tc.spec)
			require.Nil(t, got, "nothing is accepted when anything is wrong")
			var le *serials.ListError
			require.ErrorAs(t, err, &le)
			var lines []string
			for _, p := range le.Problems {
				lines = append(lines, p.String())
			}
			require.Equal(t, tc.want, lines)
			require.Zero(t, le.Omitted)
			require.Contains(t, err.Error(), fmt.Sprintf("nothing imported: %d problem", len(tc.want)))
			require.Contains(t, err.Error(), "\n"+strings.Join(tc.want, "\n"))
		})
	}
}

func TestParseListDuplicateNamesBothLines(t *testing.T) {
	_, err := serials.ParseList(strings.NewReader("serial\nX\nY\nX\n"), serials.ListSpec{})
	var le *serials.ListError
	require.ErrorAs(t, err, &le)
	require.Len(t, le.Problems, 1)
	p := le.Problems[0]
	require.Equal(t, 4, p.Line)
	require.Equal(t, 2, p.DuplicateOf)
	require.Equal(t, "X", p.Value)
}

func TestParseListCapsProblems(t *testing.T) {
	var b strings.Builder
	for i := range 250 {
		fmt.Fprintf(&b, "bad %d\n", i)
	}
	for _, tc := range []struct {
		max, listed, omitted int
	}{{0, 100, 150}, {10, 10, 240}, {300, 250, 0}} {
		t.Run(fmt.Sprint(tc.max), func(t *testing.T) {
			_, err := serials.ParseList(strings.NewReader(b.String()), serials.ListSpec{MaxErrors: tc.max})
			var le *serials.ListError
			require.ErrorAs(t, err, &le)
			require.Len(t, le.Problems, tc.listed)
			require.Equal(t, tc.omitted, le.Omitted)
			require.Contains(t, err.Error(), "250 problems")
			require.Equal(t, 250, le.Problems[len(le.Problems)-1].Line+tc.omitted)
			if tc.omitted > 0 {
				require.True(t, strings.HasSuffix(err.Error(), fmt.Sprintf("... and %d more", tc.omitted)), err.Error())
			}
		})
	}
}

func TestParseListLongValueTruncated(t *testing.T) {
	long := strings.Repeat("Z", 5000)
	_, err := serials.ParseList(strings.NewReader(long+"\n"), serials.ListSpec{})
	var le *serials.ListError
	require.ErrorAs(t, err, &le)
	require.Less(t, len(err.Error()), 300)
	require.Contains(t, le.Problems[0].Reason, "has 5000 characters")
}

func TestParseListBadSpec(t *testing.T) {
	tests := []struct {
		name  string
		spec  serials.ListSpec
		field string
	}{
		{"gtin", serials.ListSpec{GTIN: "09506000134353"}, "gtin"},
		{"length", serials.ListSpec{Length: 21}, "length"},
		{"alphabet", serials.ListSpec{Alphabet: "AA"}, "alphabet"},
		{"sgtin96 length", serials.ListSpec{Length: 13, SGTIN96: true}, "length"},
		{"max errors", serials.ListSpec{MaxErrors: -1}, "maxErrors"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := serials.ParseList(strings.NewReader("A1\n"), tc.spec)
			var se *serials.SpecError
			require.ErrorAs(t, err, &se)
			require.Equal(t, tc.field, se.Field)
		})
	}
}

func TestParseListReadError(t *testing.T) {
	boom := errors.New("disk on fire")
	_, err := serials.ParseList(iotest.ErrReader(boom), serials.ListSpec{})
	require.ErrorIs(t, err, boom)
	require.Contains(t, err.Error(), "serial list: read")
}

func TestNewList(t *testing.T) {
	spec := serials.Spec{Kind: serials.KindList, Length: 4, Alphabet: "alphanumeric"}
	in := []string{"AB12", "ZZ99", "0000"}
	s, err := serials.NewList(spec, in)
	require.NoError(t, err)
	in[0] = "XXXX" // the scheme keeps its own copy
	require.Equal(t, serials.KindList, s.Kind())
	require.Equal(t, uint64(3), s.Space())
	require.Equal(t, "AB12", serialOf(t, s, 0))
	require.Equal(t, "0000", serialOf(t, s, 2))

	_, err = serials.NewList(spec, []string{"AB12", "ab12", "AB12", "AB1"})
	var le *serials.ListError
	require.ErrorAs(t, err, &le)
	var got []string
	for _, p := range le.Problems {
		got = append(got, p.String())
	}
	require.Equal(t, []string{
		`line 2: serial "ab12": character 'a' at position 1 is not in the alphabet "alphanumeric"`,
		`line 3: serial "AB12": duplicate of position 1`,
		`line 4: serial "AB1": has 3 characters, this product's serials have exactly 4`,
	}, got)

	_, err = serials.NewList(spec, nil)
	require.ErrorAs(t, err, &le)

	var se *serials.SpecError
	_, err = serials.NewList(serials.Spec{Kind: serials.KindSequential, Length: 4}, in)
	require.ErrorAs(t, err, &se)
	require.Equal(t, "kind", se.Field)
}

// A list parsed from a file feeds NewList unchanged.
func TestParseListThenNewList(t *testing.T) {
	spec := serials.Spec{Kind: serials.KindList, Length: 12, SGTIN96: true}
	got, err := serials.ParseList(strings.NewReader("serial,gtin\n274877906943,"+gtin+"\n100000000001,"+gtin+"\n"), spec.ListSpec(gtin))
	require.NoError(t, err)
	s, err := serials.NewList(spec, got)
	require.NoError(t, err)
	require.Equal(t, "100000000001", serialOf(t, s, 1))
}
