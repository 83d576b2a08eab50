package zpl

import "fmt"

// LayoutFor maps a printer's resolution in dpi onto its dots per mm and
// sizes the unit label: the symbol's module in mm (0: the default) and the
// number of text lines beside it.
func LayoutFor(dpi int, moduleMM float64, textLines int) (Layout, error) {
	dpmm := map[int]int{152: 6, 203: 8, 300: 12, 600: 24}[dpi]
	if dpmm == 0 {
		return Layout{}, fmt.Errorf("dpi %d: a ZPL printer prints at 152, 203, 300 or 600 dpi", dpi)
	}
	l := DefaultLayout(dpmm)
	if moduleMM > 0 {
		l.ModuleDots = max(3, int(moduleMM*float64(dpmm)+0.5))
	}
	l.TextLines = textLines
	if err := l.Validate(); err != nil {
		return Layout{}, err
	}
	return l, nil
}
