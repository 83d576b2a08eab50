package supply

import (
	"encoding/csv"
	"io"
	"strings"
)

// csvFormulaLead are the first characters that make a spreadsheet read a
// cell as a formula (or, for tab and carriage return, hide what follows);
// OWASP's CSV injection advice.
const csvFormulaLead = "=+-@\t\r"

// CSVCell escapes a cell a spreadsheet would read as a formula by putting
// a single quote before it: a partner's name "=HYPERLINK(...)" or a lot
// "=1+2" then shows as written instead of running.
func CSVCell(s string) string {
	if s != "" && strings.IndexByte(csvFormulaLead, s[0]) >= 0 {
		return "'" + s
	}
	return s
}

// safeCSV is a csv.Writer whose every cell goes through csvCell. Every CSV
// central exports writes through one.
type safeCSV struct {
	*csv.Writer
	row []string
}

func NewSafeCSV(w io.Writer) *safeCSV { return &safeCSV{Writer: csv.NewWriter(w)} }

// Write writes one record, its cells escaped.
func (c *safeCSV) Write(record []string) error {
	c.row = c.row[:0]
	for _, s := range record {
		c.row = append(c.row, CSVCell(s))
	}
	return c.Writer.Write(c.row)
}
