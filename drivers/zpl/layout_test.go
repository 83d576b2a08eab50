package zpl

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestDefaultLayoutValidForEveryResolution(t *testing.T) {
	for _, dpmm := range []int{6, 8, 12, 24} {
		t.Run(strconv.Itoa(dpmm)+"dpmm", func(t *testing.T) {
			l := DefaultLayout(dpmm)
			require.NoError(t, l.Validate())
			require.GreaterOrEqual(t, l.ModuleDots, 3, "module under 3 dots")
			// The module stays within GS1's healthcare X-dimension range.
			mm := float64(l.ModuleDots) / float64(dpmm)
			require.GreaterOrEqual(t, mm, 0.255)
			require.LessOrEqual(t, mm, 0.615)
			require.Equal(t, 60*dpmm, l.WidthDots)
			require.Equal(t, 25*dpmm, l.HeightDots)
		})
	}
}

func TestLayoutValidateNamesTheField(t *testing.T) {
	tests := []struct {
		name   string
		change func(*Layout)
		want   string
	}{
		{"no device", func(l *Layout) { l.Name = "SERIALINE.ZPL" }, "Name"},
		{"bad device", func(l *Layout) { l.Name = "Z:SERIALINE.ZPL" }, `device "Z:"`},
		{"no extension", func(l *Layout) { l.Name = "R:SERIALINE" }, ".ZPL"},
		{"empty base", func(l *Layout) { l.Name = "R:.ZPL" }, "1 to 16"},
		{"long base", func(l *Layout) { l.Name = "R:ABCDEFGHIJKLMNOPQ.ZPL" }, "1 to 16"},
		{"bad character", func(l *Layout) { l.Name = "R:SERI^LINE.ZPL" }, "'^'"},
		{"dpmm", func(l *Layout) { l.DPMM = 7 }, "DPMM 7"},
		{"width", func(l *Layout) { l.WidthDots = 0 }, "WidthDots 0"},
		{"height", func(l *Layout) { l.HeightDots = 40000 }, "HeightDots 40000"},
		{"module", func(l *Layout) { l.ModuleDots = 0 }, "ModuleDots 0"},
		{"symbol x", func(l *Layout) { l.SymbolX = l.WidthDots }, "SymbolX"},
		{"symbol y", func(l *Layout) { l.SymbolY = -1 }, "SymbolY -1"},
		{"text lines", func(l *Layout) { l.TextLines = 100 }, "TextLines 100"},
		{"text height", func(l *Layout) { l.TextHeight = 5 }, "TextHeight 5"},
		{"text x", func(l *Layout) { l.TextX = -3 }, "TextX -3"},
		{"text y", func(l *Layout) { l.TextY = l.HeightDots }, "TextY"},
		{"text block too tall", func(l *Layout) { l.TextLines = 9 }, "below the label's height"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l := DefaultLayout(8)
			tc.change(&l)
			err := l.Validate()
			require.ErrorIs(t, err, ErrInvalidLayout)
			require.ErrorContains(t, err, tc.want)
		})
	}
}

func TestValidateFieldsNamesTheField(t *testing.T) {
	l := DefaultLayout(8)
	tests := []struct {
		name string
		f    Fields
		want string
	}{
		{"empty data", Fields{}, "Fields.Data is empty"},
		{"leading GS", Fields{Data: "\x1d0109506000134352"}, "starts with GS"},
		{"trailing GS", Fields{Data: "0109506000134352\x1d"}, "ends with GS"},
		{"too long", Fields{Data: strings.Repeat("1", maxFieldData)}, "over the 3072"},
		{"too many lines", Fields{Data: "01", Text: make([]string, 6)}, "6 lines, the layout has 5"},
		{"long text", Fields{Data: "01", Text: []string{"", strings.Repeat("^", 1100)}}, "Fields.Text[1]"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := l.ValidateFields(tc.f)
			require.ErrorIs(t, err, ErrInvalidLayout)
			require.ErrorContains(t, err, tc.want)
		})
	}
	require.NoError(t, l.ValidateFields(sampleFields()))
}

func TestFormatStoresTemplate(t *testing.T) {
	l := DefaultLayout(8)
	got := string(l.Format())
	require.True(t, strings.HasPrefix(got, "^XA\n^DFR:SERIALINE.ZPL^FS\n"), got)
	require.Contains(t, got, "^CI28\n^PW480\n^LL200\n^LH0,0\n")
	require.Contains(t, got, "^FO16,16^BXN,3,200,,,,_^FN1^FS\n")
	require.Contains(t, got, "^FO118,16^A0N,20,20^FN2^FS\n")
	require.Contains(t, got, "^FO118,41^A0N,20,20^FN3^FS\n")
	require.Contains(t, got, "^FN6^FS\n")
	require.NotContains(t, got, "^FN7")
	require.True(t, strings.HasSuffix(got, "^XZ\n"))
}

func TestAppendRecallEscaping(t *testing.T) {
	l := DefaultLayout(8)
	l.TextLines = 2
	tests := []struct {
		name string
		f    Fields
		want string
	}{
		{
			name: "plain GS1 needs no ^FH",
			f:    Fields{Data: gs1("0109506000134352172812311010", "21ABC"), Text: []string{"LOT 10"}},
			want: "^XA^XFR:SERIALINE.ZPL^FS^FN1^FD_10109506000134352172812311010_121ABC^FS^FN2^FDLOT 10^FS^XZ",
		},
		{
			name: "underscore is doubled in the symbol, not in text",
			f:    Fields{Data: gs1("10A_1B", "21_"), Text: []string{"A_1"}},
			want: "^XA^XFR:SERIALINE.ZPL^FS^FN1^FD_110A__1B_121__^FS^FN2^FDA_1^FS^XZ",
		},
		{
			name: "CSET 82 punctuation travels raw",
			f:    Fields{Data: `10"%&'()*+,-./:;<=>?!`},
			want: `^XA^XFR:SERIALINE.ZPL^FS^FN1^FD_110"%&'()*+,-./:;<=>?!^FS^XZ`,
		},
		{
			name: "caret tilde and backslash are hex-escaped everywhere",
			f:    Fields{Data: `10^~\`, Text: []string{`a^b~c\d`}},
			want: `^XA^XFR:SERIALINE.ZPL^FS^FN1^FH\^FD_110\5E\7E\5C^FS^FN2^FH\^FDa\5Eb\7Ec\5Cd^FS^XZ`,
		},
		{
			name: "control and non-ASCII bytes are hex-escaped",
			f:    Fields{Data: "10\x01\r\n", Text: []string{"Paracétamol"}},
			want: `^XA^XFR:SERIALINE.ZPL^FS^FN1^FH\^FD_110\01\0D\0A^FS^FN2^FH\^FDParac\C3\A9tamol^FS^XZ`,
		},
		{
			name: "empty lines are skipped and extra lines dropped",
			f:    Fields{Data: "01", Text: []string{"", "two", "three"}},
			want: "^XA^XFR:SERIALINE.ZPL^FS^FN1^FD_101^FS^FN3^FDtwo^FS^XZ",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := l.AppendRecall(nil, tc.f)
			require.Equal(t, tc.want, string(got))
			require.Equal(t, len(got), l.RecallSize(tc.f), "RecallSize disagrees with AppendRecall")
		})
	}
}

func TestAppendRecallAppendsAndDoesNotAllocate(t *testing.T) {
	l := DefaultLayout(8)
	f := sampleFields()
	f.Text[0] = "a^b" // force the ^FH path too
	buf := []byte("prefix")
	buf = l.AppendRecall(buf, f)
	require.True(t, strings.HasPrefix(string(buf), "prefix^XA^XF"))
	require.Equal(t, len("prefix")+l.RecallSize(f), len(buf))

	dst := make([]byte, 0, 1024)
	allocs := testing.AllocsPerRun(100, func() { dst = l.AppendRecall(dst[:0], f) })
	require.Zero(t, allocs)
}

func TestWireTime(t *testing.T) {
	tests := []struct {
		n, baud int
		want    time.Duration
	}{
		{300, 115200, 26041666 * time.Nanosecond}, // DESIGN.md: ~26 ms
		{300, 9600, 312500 * time.Microsecond},    // over 300 ms
		{1, 9600, 1041666 * time.Nanosecond},
		{96, 9600, 100 * time.Millisecond},
		{0, 9600, 0},
		{10, 0, 0},
		{1 << 40, 115200, 95443717688888888 * time.Nanosecond}, // no overflow
	}
	for _, tc := range tests {
		t.Run(strconv.Itoa(tc.n)+"@"+strconv.Itoa(tc.baud), func(t *testing.T) {
			require.Equal(t, tc.want, WireTime(tc.n, tc.baud))
		})
	}
}

func TestUnitWireTimeFitsTheLineBudget(t *testing.T) {
	l := DefaultLayout(8)
	f := sampleFields()
	n := l.RecallSize(f)
	require.Equal(t, WireTime(n, 115200), l.UnitWireTime(f, 115200))
	// Recall instead of a whole label keeps a unit within 1,200 units/min
	// (50 ms per unit) at 115,200 baud.
	require.Less(t, l.UnitWireTime(f, 115200), 50*time.Millisecond)
	require.Less(t, n, len(l.Standalone(f)))
}
