package labeltool

import (
	"fmt"
	"strings"

	"github.com/serialine/serialine/edge/station"
	"github.com/serialine/serialine/shared/label"
)

// unitLabel is a unit as a GS1 DataMatrix label.
func unitLabel(u station.Unit) label.Label {
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
