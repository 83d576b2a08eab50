package labeltool

import (
	"fmt"
	"strings"

	"github.com/serialine/serialine/drivers/zpl"
	"github.com/serialine/serialine/shared/gs1"
	"github.com/serialine/serialine/shared/label"
)

// Unit is what one pack's label carries: the GS1 element string and the
// human-readable text beside the symbol.
type Unit struct {
	Elements gs1.ElementString // sorted so that fixed-length AIs come first
	NDC      string            // US National Drug Code, printed only
	Name     string            // product name, printed only
}

// NewUnit builds and validates the element string (01)(17)(10)(21) of a pack.
func NewUnit(gtin, expiry, lot, serial string) (Unit, error) {
	g, err := gs1.ParseGTIN(gtin)
	if err != nil {
		return Unit{}, err
	}
	es := gs1.ElementString{
		{AI: "01", Value: string(g)},
		{AI: "17", Value: expiry},
		{AI: "10", Value: lot},
		{AI: "21", Value: serial},
	}
	if err := es.Validate(); err != nil {
		return Unit{}, err
	}
	return Unit{Elements: es.Sorted()}, nil
}

// Text gives the human-readable lines: GTIN, NDC or national number where the
// product has one, LOT, EXP, SN.
func (u Unit) Text() []string {
	var lines []string
	if u.Name != "" {
		lines = append(lines, u.Name)
	}
	if v, ok := u.Elements.Get("01"); ok {
		lines = append(lines, "GTIN "+v)
	}
	if u.NDC != "" {
		lines = append(lines, "NDC "+u.NDC)
	}
	for ai := 710; ai <= 715; ai++ {
		if v, ok := u.Elements.Get(fmt.Sprint(ai)); ok {
			lines = append(lines, nationalName(ai)+" "+v)
		}
	}
	if v, ok := u.Elements.Get("10"); ok {
		lines = append(lines, "LOT "+v)
	}
	if v, ok := u.Elements.Get("17"); ok {
		lines = append(lines, "EXP "+humanDate(v))
	}
	if v, ok := u.Elements.Get("21"); ok {
		lines = append(lines, "SN "+v)
	}
	return lines
}

// nationalName names the national numbers (AI 710-715) as pharmacists know them.
func nationalName(ai int) string {
	switch ai {
	case 710:
		return "PZN"
	case 711:
		return "CIP"
	case 712:
		return "CN"
	case 713:
		return "DRN"
	case 714:
		return "AIM"
	default:
		return "NDC"
	}
}

// humanDate prints YYMMDD as YYYY-MM-DD, or YYYY-MM where the day is 00.
func humanDate(yymmdd string) string {
	t, err := gs1.ExpiryTime(yymmdd)
	if err != nil {
		return yymmdd
	}
	if strings.HasSuffix(yymmdd, "00") {
		return t.Format("2006-01")
	}
	return t.Format("2006-01-02")
}

// Label is the unit as a GS1 DataMatrix label.
func (u Unit) Label() label.Label {
	return label.Label{Data: u.Elements.Transmitted(), GS1: true, Text: u.Text()}
}

// ValidateNDC accepts a 10-digit NDC in the FDA's 4-4-2, 5-3-2 or 5-4-1 form,
// or the 11-digit 5-4-2 billing form.
func ValidateNDC(ndc string) error {
	parts := strings.Split(ndc, "-")
	lens := make([]int, len(parts))
	for i, p := range parts {
		for _, c := range p {
			if c < '0' || c > '9' {
				return fmt.Errorf("NDC %q: %q is not a digit", ndc, c)
			}
		}
		lens[i] = len(p)
	}
	shape := fmt.Sprint(lens)
	switch shape {
	case "[4 4 2]", "[5 3 2]", "[5 4 1]", "[5 4 2]", "[10]", "[11]":
		return nil
	}
	return fmt.Errorf("NDC %q: want 10 digits as 4-4-2, 5-3-2 or 5-4-1 (or 11 digits as 5-4-2)", ndc)
}

// ZPLLayout maps a resolution in dpi onto a printer's dots per mm and sizes the
// label for the given number of text lines.
func ZPLLayout(dpi int, moduleMM float64, textLines int) (zpl.Layout, error) {
	dpmm := map[int]int{152: 6, 203: 8, 300: 12, 600: 24}[dpi]
	if dpmm == 0 {
		return zpl.Layout{}, usageError{fmt.Sprintf("--dpi %d: a ZPL printer prints at 152, 203, 300 or 600 dpi", dpi)}
	}
	l := zpl.DefaultLayout(dpmm)
	if moduleMM > 0 {
		l.ModuleDots = max(3, int(moduleMM*float64(dpmm)+0.5))
	}
	l.TextLines = textLines
	if err := l.Validate(); err != nil {
		return zpl.Layout{}, err
	}
	return l, nil
}
