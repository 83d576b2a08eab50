package zpl

// labelState is a format between ^XA and ^XZ.
type labelState struct {
	label         Label
	homeX, homeY  int
	fontH, fontW  int
	byW, byH      int // ^BY module width and bar height
	charset       int
	field         fieldState
	elems         []pendingElement
	elemsOverflow bool
	recalled      bool
	storing       string    // ^DF name while storing a format
	stored        []command // the stored format's commands
	storeOverflow bool
}

// Default font: ^CF's default, font A at 9 x 5 dots.
const defaultFontH, defaultFontW = 9, 5

func newLabelState() *labelState {
	return &labelState{
		label: Label{Quantity: 1},
		fontH: defaultFontH,
		fontW: defaultFontW,
		byW:   2, // ^BY's defaults
		byH:   10,
		field: fieldState{fn: -1},
	}
}

// unsupportedKind marks a field (another barcode) that is parsed but not
// reported.
const unsupportedKind ElementKind = -1

// fieldState is the field being described, up to its ^FS.
type fieldState struct {
	x, y         int
	kind         ElementKind // 0 = text
	module       int
	height       int // Code 128 bar height
	quality      int
	esc          byte
	fontH, fontW int
	hasFont      bool
	fn           int // -1 = none
	fh           byte
	data         string
	hasData      bool
}

// pendingElement is a field waiting for ^XZ (and, in a recalled format, for
// its ^FN data).
type pendingElement struct {
	el      Element
	raw     string
	fh      byte
	esc     byte
	hasData bool
}

// endField closes the current field at ^FS.
func (p *Parser) endField(replay bool) {
	lbl := p.lbl
	f := lbl.field
	lbl.field = fieldState{fn: -1}
	if f.kind == unsupportedKind {
		return
	}
	// In a recall, ^FNn^FD...^FS fills the stored format's field n.
	if !replay && lbl.recalled && f.fn >= 0 {
		filled := false
		for i := range lbl.elems {
			e := &lbl.elems[i]
			if e.el.Field != f.fn {
				continue
			}
			filled = true
			if f.hasData {
				e.raw, e.hasData = f.data, true
				if f.fh != 0 {
					e.fh = f.fh
				}
			}
		}
		if filled {
			return
		}
	}
	if !f.hasData && f.fn < 0 {
		return // nothing to print: ^FS after a graphic, ^DF name...
	}
	if len(lbl.elems) >= maxElements {
		if !lbl.elemsOverflow {
			p.log.Warn("zpl: too many fields in one label, rest ignored", "limit", maxElements)
			lbl.elemsOverflow = true
		}
		return
	}
	el := Element{Kind: Text, X: f.x, Y: f.y, Field: f.fn}
	switch f.kind {
	case DataMatrix:
		el.Kind, el.ModuleDots, el.Quality = DataMatrix, f.module, f.quality
	case Code128:
		el.Kind, el.ModuleDots, el.HeightDots = Code128, f.module, f.height
	default:
		el.FontHeight, el.FontWidth = lbl.fontH, lbl.fontW
		if f.hasFont {
			el.FontHeight, el.FontWidth = f.fontH, f.fontW
		}
	}
	lbl.elems = append(lbl.elems, pendingElement{el: el, raw: f.data, fh: f.fh, esc: f.esc, hasData: f.hasData})
}

// recall replays a stored format into the current label.
func (p *Parser) recall(name string) {
	lbl := p.lbl
	cmds, ok := p.formats[name]
	if !ok {
		p.log.Warn("zpl: recall of a format not stored", "format", name)
		return
	}
	lbl.recalled = true
	lbl.label.Format = name
	for _, c := range cmds {
		p.exec(c.code, c.params, true)
	}
	// A field left open by the stored format does not leak into the recall.
	lbl.field = fieldState{fn: -1}
}

// endFormat handles ^XZ: stores a ^DF format, or finishes a label.
func (p *Parser) endFormat() {
	lbl := p.lbl
	p.lbl = nil
	if lbl.storing != "" {
		if lbl.storeOverflow {
			p.log.Warn("zpl: stored format truncated", "format", lbl.storing, "limit", maxStoredCommands)
		}
		if _, exists := p.formats[lbl.storing]; !exists && len(p.formats) >= MaxStoredFormats {
			p.log.Warn("zpl: format memory full, format not stored", "format", lbl.storing, "limit", MaxStoredFormats)
			return
		}
		p.formats[lbl.storing] = lbl.stored
		p.log.Debug("zpl: format stored", "format", lbl.storing, "commands", len(lbl.stored))
		return
	}
	label := lbl.label
	for _, e := range lbl.elems {
		if !e.hasData || e.raw == "" {
			continue
		}
		data := e.raw
		if e.fh != 0 {
			data = p.unhex(data, e.fh)
		}
		el := e.el
		if el.Kind == DataMatrix && el.Quality == 200 {
			data, el.GS1 = p.unescapeDataMatrix(data, e.esc)
		}
		if el.Kind == Code128 {
			data, el.GS1 = p.unescape128(data)
		}
		if data == "" {
			continue
		}
		el.Data = data
		label.Elements = append(label.Elements, el)
	}
	if len(label.Elements) == 0 {
		p.log.Debug("zpl: format without printable fields, no label")
		return
	}
	p.labels = append(p.labels, label)
}
