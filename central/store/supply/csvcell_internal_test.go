package supply

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestCSVCell: a cell a spreadsheet would read as a formula (OWASP's
// leading =, +, -, @, tab, carriage return) gets a leading single quote;
// anything else is written as it is.
func TestCSVCell(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"=1+2", "'=1+2"},
		{"+1", "'+1"},
		{"-2+3", "'-2+3"},
		{"@SUM(A1)", "'@SUM(A1)"},
		{"\t=1", "'\t=1"},
		{"\r=1", "'\r=1"},
		{"LOT42", "LOT42"},
		{"a=b", "a=b"},
		{"", ""},
	} {
		require.Equal(t, c.want, CSVCell(c.in), "%q", c.in)
	}
	var b bytes.Buffer
	w := NewSafeCSV(&b)
	require.NoError(t, w.Write([]string{"=1+2", "ok"}))
	w.Flush()
	require.NoError(t, w.Error())
	require.Equal(t, "'=1+2,ok\n", b.String())
}
