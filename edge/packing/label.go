package packing

import (
	"fmt"
	"strconv"

	"github.com/serialine/serialine/drivers/zpl"
	"github.com/serialine/serialine/shared/gs1"
	"github.com/serialine/serialine/shared/wire"
)

// Level is what a container is: a case of units or a pallet of cases.
type Level string

// The packaging levels.
const (
	LevelCase   Level = "case"
	LevelPallet Level = "pallet"
)

// LabelLayout is the case and pallet label: 100 x 50 mm at dpmm dots per
// mm, the GS1 DataMatrix with AI (00) in the top-left corner with a module
// of about 0.5 mm, and five lines of human-readable text beside it. It is
// stored in the case printer once (^DF "R:SSCC.ZPL") and recalled per label
// like the unit label.
func LabelLayout(dpmm int) zpl.Layout {
	mm := func(tenths int) int { return (tenths*dpmm + 5) / 10 }
	module := max(3, (dpmm*50+50)/100)
	x := mm(40)
	return zpl.Layout{
		Name:       "R:SSCC.ZPL",
		DPMM:       dpmm,
		ModuleDots: module,
		WidthDots:  mm(1000),
		HeightDots: mm(500),
		SymbolX:    x,
		SymbolY:    mm(40),
		// An SSCC alone makes an 18 x 18 module symbol at most: room for it
		// and a quiet zone.
		TextX:      x + 22*module,
		TextY:      mm(40),
		TextHeight: mm(40),
		TextLines:  5,
	}
}

// LabelLayoutGS1128 is the case and pallet label with the SSCC as a
// GS1-128 bar code instead of the DataMatrix: the five text lines at the
// top, the bars below across the label with a module of 0.5 mm (0.375 mm at
// 6 dpmm), 18 mm high. GS1's logistic label asks for 31.75 mm bars, which
// needs a taller label than 100 x 50 mm; warehouse scanners read these.
func LabelLayoutGS1128(dpmm int) zpl.Layout {
	mm := func(tenths int) int { return (tenths*dpmm + 5) / 10 }
	module := min(10, max(2, dpmm/2)) // ^BY takes 1 to 10 dots
	return zpl.Layout{
		Name:          "R:SSCC128.ZPL",
		DPMM:          dpmm,
		ModuleDots:    module,
		WidthDots:     mm(1000),
		HeightDots:    mm(500),
		Symbology:     zpl.SymbolGS1128,
		SymbolX:       mm(60),
		SymbolY:       mm(290),
		BarHeightDots: mm(180),
		TextX:         mm(40),
		TextY:         mm(30),
		TextHeight:    mm(40),
		TextLines:     5,
	}
}

// LabelData is what a case or pallet label says.
type LabelData struct {
	Level Level
	SSCC  gs1.SSCC
	Order wire.Order
	// Units is the number of units inside (for a pallet, in all its cases);
	// Cases the number of cases on a pallet.
	Units, Cases int
	Line         string
}

// Fields are the label's variable fields: the symbol carries the SSCC as
// the element string (00) alone — the key a scanner at a warehouse reads —
// and the text says what is inside. (02)/(37) are not encoded: the content
// of a case changes with rework while its SSCC stays.
func (d LabelData) Fields() zpl.Fields {
	es := gs1.ElementString{{AI: "00", Value: string(d.SSCC)}}
	what := "CASE"
	count := strconv.Itoa(d.Units) + " UNITS"
	if d.Level == LevelPallet {
		what = "PALLET"
		count = fmt.Sprintf("%d CASES  %d UNITS", d.Cases, d.Units)
	}
	product := d.Order.Product
	if product == "" {
		product = "GTIN " + d.Order.GTIN
	}
	return zpl.Fields{
		Data: es.Transmitted(),
		Text: []string{
			es.Bracketed(),
			what + "  " + product,
			"GTIN " + d.Order.GTIN + "  " + count,
			"LOT " + d.Order.Lot + "  EXP " + d.Order.Expiry,
			"ORDER " + d.Order.ID + "  LINE " + d.Line,
		},
	}
}
