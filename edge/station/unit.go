package station

import (
	"fmt"
	"strings"

	"github.com/serialine/serialine/shared/gs1"
)

// The unit label's model: what one pack's label carries, its element
// string and the human-readable lines beside the symbol. The station
// builds each order's template from it; serialine-edge label renders it.

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
