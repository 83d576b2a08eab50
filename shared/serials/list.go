package serials

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/serialine/serialine/shared/gs1"
)

// DefaultMaxListErrors is how many problems a rejected list reports when
// ListSpec.MaxErrors is 0; the rest are only counted.
const DefaultMaxListErrors = 100

// ListSpec says what an imported serial list must hold.
type ListSpec struct {
	// GTIN is the product's GTIN (8, 12, 13 or 14 digits). When the file
	// has a gtin column, every row must name this GTIN; when GTIN is
	// empty, every row must name the same valid GTIN.
	GTIN string
	// Length is the product's fixed serial length, or 0 for any length
	// from 1 to 20.
	Length int
	// Alphabet restricts the characters: "numeric", "alphanumeric" or a
	// custom set (see Spec.Alphabet); empty means any CSET 82 character.
	Alphabet string
	// SGTIN96 asks for SGTIN-96-safe serials (numeric, no leading zero,
	// at most 274877906943).
	SGTIN96 bool
	// MaxErrors caps the problems listed in a *ListError (0: 100).
	MaxErrors int
}

// ListSpec returns the rules an imported list for a list-kind Spec follows.
func (s Spec) ListSpec(gtin string) ListSpec {
	return ListSpec{GTIN: gtin, Length: s.Length, Alphabet: s.Alphabet, SGTIN96: s.SGTIN96}
}

// listRules are the checks each serial of a list passes.
type listRules struct {
	length  int
	alpha   *alphabet // nil: any CSET 82
	sgtin96 bool
	gtin    gs1.GTIN // "" when not given
	max     int
}

func (ls ListSpec) rules() (*listRules, error) {
	// The serial rules are those of a list-kind Spec; reuse its checks.
	c, err := Spec{Kind: KindList, Length: ls.Length, Alphabet: ls.Alphabet, SGTIN96: ls.SGTIN96}.compile()
	if err != nil {
		return nil, err
	}
	r := &listRules{length: ls.Length, alpha: c.alpha, sgtin96: ls.SGTIN96, max: ls.MaxErrors}
	if ls.MaxErrors < 0 {
		return nil, specErr("maxErrors", "must be 0 (default %d) or more, got %d", DefaultMaxListErrors, ls.MaxErrors)
	}
	if r.max == 0 {
		r.max = DefaultMaxListErrors
	}
	if ls.GTIN != "" {
		g, err := gs1.ParseGTIN(ls.GTIN)
		if err != nil {
			return nil, &SpecError{Field: "gtin", Rule: err.Error()}
		}
		r.gtin = g
	}
	return r, nil
}

// check returns why s is not a valid serial of the list, or "".
func (r *listRules) check(s string) string {
	if s == "" {
		return "is empty"
	}
	if err := gs1.ValidateCSET82("21", s); err != nil {
		return gs1Detail(err)
	}
	if len(s) > MaxLength {
		return fmt.Sprintf("has %d characters, AI 21 allows at most %d", len(s), MaxLength)
	}
	if r.length > 0 && len(s) != r.length {
		return fmt.Sprintf("has %d characters, this product's serials have exactly %d", len(s), r.length)
	}
	if r.alpha != nil {
		if i := r.alpha.firstOutside(s); i >= 0 {
			return fmt.Sprintf("character %s at position %d is not in the alphabet %q", quoteByte(s[i]), i+1, r.alpha.name)
		}
	}
	if r.sgtin96 {
		if err := gs1.SGTIN96Eligible(s); err != nil {
			return gs1Detail(err)
		}
	}
	return ""
}

func gs1Detail(err error) string {
	var ge *gs1.Error
	if errors.As(err, &ge) && ge.Detail != "" {
		return ge.Detail
	}
	return err.Error()
}

// ListProblem is one thing wrong in an imported list.
type ListProblem struct {
	// Line is the 1-based line in the file (ParseList) or position in the
	// list (NewList); 0 when the problem concerns the whole file.
	Line int
	// Field is what is wrong: "serial", "gtin", "header", "csv" or "file".
	Field string
	// Value is the offending value (truncated if very long), or "".
	Value string
	// Reason names the rule broken.
	Reason string
	// DuplicateOf is the line of the first occurrence, for a duplicate.
	DuplicateOf int
}

func (p ListProblem) String() string {
	var b strings.Builder
	if p.Line > 0 {
		fmt.Fprintf(&b, "line %d: ", p.Line)
	}
	b.WriteString(p.Field)
	if p.Value != "" {
		b.WriteByte(' ')
		b.WriteString(strconv.Quote(p.Value))
	}
	b.WriteString(": ")
	b.WriteString(p.Reason)
	return b.String()
}

// ListError rejects a whole list: nothing of it is accepted. It lists every
// problem found (up to ListSpec.MaxErrors), so the file can be fixed in one
// go.
type ListError struct {
	Problems []ListProblem
	// Omitted counts further problems found but not listed.
	Omitted int
}

func (e *ListError) Error() string {
	var b strings.Builder
	n := len(e.Problems) + e.Omitted
	fmt.Fprintf(&b, "serial list rejected, nothing imported: %d problem", n)
	if n != 1 {
		b.WriteByte('s')
	}
	for _, p := range e.Problems {
		b.WriteString("\n")
		b.WriteString(p.String())
	}
	if e.Omitted > 0 {
		fmt.Fprintf(&b, "\n... and %d more", e.Omitted)
	}
	return b.String()
}

// problems collects a ListError up to a cap.
type problems struct {
	err ListError
	max int
}

func (p *problems) add(pr ListProblem) {
	if len(p.err.Problems) >= p.max {
		p.err.Omitted++
		return
	}
	pr.Value = truncate(pr.Value)
	p.err.Problems = append(p.err.Problems, pr)
}

func (p *problems) any() bool { return len(p.err.Problems) > 0 }

// truncate keeps problem values readable when a "serial" is a whole
// runaway line.
func truncate(s string) string {
	const shown = 40
	if len(s) <= shown {
		return s
	}
	return s[:shown] + "..."
}

var utf8BOM = []byte{0xEF, 0xBB, 0xBF}

// ParseList reads a serial list uploaded by the marketing-authorisation
// holder: CSV (RFC 4180; quote a serial holding , or ", doubling the "),
// one serial per line. An optional first line names the columns: the
// serials are in the column "serial" and, if there is one, the column
// "gtin" must hold the product's GTIN on every row; other columns are
// ignored. Without that header the serial is the first column. A leading
// UTF-8 byte-order mark is skipped.
//
// Every serial must be 1 to 20 CSET 82 characters (the fixed length when
// spec.Length is set, in spec.Alphabet, SGTIN-96-safe when asked) and
// appear once. If anything is wrong the whole list is refused with a
// *ListError naming every problem, duplicates with both lines; an invalid
// spec is a *SpecError. The serials are returned in file order.
//
// It is long because it is one pass over the rows whose checks share state across
// rows: the columns the header set, the GTIN the first row named, the serials seen.
func ParseList(r io.Reader, spec ListSpec) ([]string, error) {
	rules, err := spec.rules()
	if err != nil {
		return nil, err
	}
	br := bufio.NewReaderSize(r, 64<<10)
	if b, _ := br.Peek(len(utf8BOM)); bytes.Equal(b, utf8BOM) {
		_, _ = br.Discard(len(utf8BOM))
	}
	cr := csv.NewReader(br)
	cr.FieldsPerRecord = -1 // rows may differ in width; only our columns count
	cr.ReuseRecord = true

	p := &problems{max: rules.max}
	var (
		serials   []string
		seen      = make(map[string]int)
		serialCol = 0
		gtinCol   = -1
		wantGTIN  = rules.gtin
		gtinLine  int // line that set wantGTIN when spec.GTIN is empty
		first     = true
	)
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			var pe *csv.ParseError
			if !errors.As(err, &pe) {
				return nil, fmt.Errorf("serial list: read: %w", err)
			}
			p.add(ListProblem{Line: pe.Line, Field: "csv", Reason: csvReason(pe.Err)})
			first = false
			continue
		}
		line, _ := cr.FieldPos(0)

		if first {
			first = false
			h, isHeader := parseHeader(rec)
			if h.problem != "" {
				p.add(ListProblem{Line: line, Field: "header", Value: strings.Join(rec, ","), Reason: h.problem})
				return nil, &p.err // the columns are unknown: reading on would only add noise
			}
			if isHeader {
				serialCol, gtinCol = h.serial, h.gtin
				continue
			}
		}

		if serialCol >= len(rec) {
			p.add(ListProblem{Line: line, Field: "serial", Reason: fmt.Sprintf("missing: the row has %d column(s), the serial is column %d", len(rec), serialCol+1)})
			continue
		}
		s := rec[serialCol]
		if gtinCol >= 0 {
			g := ""
			if gtinCol < len(rec) {
				g = rec[gtinCol]
			}
			switch got, err := gs1.ParseGTIN(g); {
			case g == "":
				p.add(ListProblem{Line: line, Field: "gtin", Reason: "is empty; every row must name the product's GTIN"})
			case err != nil:
				p.add(ListProblem{Line: line, Field: "gtin", Value: g, Reason: gs1Detail(err)})
			case wantGTIN == "":
				wantGTIN, gtinLine = got, line
			case got != wantGTIN && gtinLine > 0:
				p.add(ListProblem{Line: line, Field: "gtin", Value: g, Reason: fmt.Sprintf("differs from GTIN %s of line %d; a list is for one product", wantGTIN, gtinLine)})
			case got != wantGTIN:
				p.add(ListProblem{Line: line, Field: "gtin", Value: g, Reason: fmt.Sprintf("is not the product's GTIN %s", wantGTIN)})
			}
		}
		if reason := rules.check(s); reason != "" {
			p.add(ListProblem{Line: line, Field: "serial", Value: s, Reason: reason})
			continue
		}
		if prev, dup := seen[s]; dup {
			p.add(ListProblem{Line: line, Field: "serial", Value: s, Reason: fmt.Sprintf("duplicate of line %d", prev), DuplicateOf: prev})
			continue
		}
		s = strings.Clone(s) // do not pin the whole record's memory
		seen[s] = line
		serials = append(serials, s)
	}
	if len(serials) == 0 && !p.any() {
		p.add(ListProblem{Field: "file", Reason: "holds no serials"})
	}
	if p.any() {
		return nil, &p.err
	}
	return serials, nil
}

type header struct {
	serial, gtin int
	problem      string
}

// parseHeader tells whether the first record names the columns.
func parseHeader(rec []string) (header, bool) {
	h := header{serial: -1, gtin: -1}
	for i, f := range rec {
		switch strings.ToLower(strings.TrimSpace(f)) {
		case "serial":
			if h.serial < 0 {
				h.serial = i
			}
		case "gtin":
			if h.gtin < 0 {
				h.gtin = i
			}
		}
	}
	switch {
	case h.serial >= 0:
		return h, true
	case h.gtin >= 0:
		h.problem = `names a "gtin" column but no "serial" column`
		return h, true
	case strings.Contains(strings.ToLower(rec[0]), "serial"):
		// "Serial Number", "serial_no": surely a header, not a serial.
		h.problem = `looks like a header; name the serial column "serial"`
		return h, true
	}
	return h, false
}

func csvReason(err error) string {
	switch {
	case errors.Is(err, csv.ErrBareQuote):
		return `a " inside an unquoted field; quote the whole field and double the " ("A""B")`
	case errors.Is(err, csv.ErrQuote):
		return `a quoted field is not closed properly (a " must be doubled inside quotes)`
	}
	return err.Error()
}

// NewList builds the scheme of a list-kind spec over serials, in import
// order: counter i gives serials[i]. The serials are checked again (as
// ParseList does, positions standing for lines) since they may come from
// storage rather than straight from ParseList.
func NewList(s Spec, serials []string) (Scheme, error) {
	if s.Kind != KindList {
		return nil, specErr("kind", "NewList builds %q schemes, got %q", KindList, s.Kind)
	}
	rules, err := s.ListSpec("").rules()
	if err != nil {
		return nil, err
	}
	p := &problems{max: rules.max}
	seen := make(map[string]int, len(serials))
	for i, v := range serials {
		if reason := rules.check(v); reason != "" {
			p.add(ListProblem{Line: i + 1, Field: "serial", Value: v, Reason: reason})
			continue
		}
		if prev, dup := seen[v]; dup {
			p.add(ListProblem{Line: i + 1, Field: "serial", Value: v, Reason: fmt.Sprintf("duplicate of position %d", prev), DuplicateOf: prev})
			continue
		}
		seen[v] = i + 1
	}
	if len(serials) == 0 {
		p.add(ListProblem{Field: "file", Reason: "holds no serials"})
	}
	if p.any() {
		return nil, &p.err
	}
	return &list{serials: append([]string(nil), serials...)}, nil
}

// list hands out imported serials by position.
type list struct{ serials []string }

func (l *list) Kind() Kind    { return KindList }
func (l *list) Space() uint64 { return uint64(len(l.serials)) }

func (l *list) Serial(dst []byte, counter uint64) ([]byte, error) {
	if counter >= uint64(len(l.serials)) {
		return dst, outOfRange(KindList, counter, uint64(len(l.serials)))
	}
	return append(dst, l.serials[counter]...), nil
}
