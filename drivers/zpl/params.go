package zpl

import (
	"fmt"
	"strconv"
	"strings"
)

// param returns the i-th delimiter-separated parameter, or "".
func (p *Parser) param(params string, i int) string {
	for ; i > 0; i-- {
		k := strings.IndexByte(params, p.delim)
		if k < 0 {
			return ""
		}
		params = params[k+1:]
	}
	if k := strings.IndexByte(params, p.delim); k >= 0 {
		return params[:k]
	}
	return params
}

// intParam parses the i-th parameter as an integer in [lo, hi]; empty gives
// def, and a malformed value is logged and gives def.
func (p *Parser) intParam(code, params string, i int, name string, def, lo, hi int) int {
	s := strings.TrimSpace(p.param(params, i))
	if s == "" {
		return def
	}
	v, err := strconv.Atoi(s)
	if err != nil || v < lo || v > hi {
		p.log.Warn("zpl: malformed parameter", "command", "^"+code, "param", name, "value", truncate(s, 16),
			"rule", fmt.Sprintf("integer %d to %d", lo, hi))
		return def
	}
	return v
}

// fontSize parses "f o,h,w" style parameters (^A, after the font name, and
// ^CF). A missing width scales with the height, and the other way round.
func (p *Parser) fontSize(code, params string, defH, defW int) (h, w int) {
	// params[0] is the font name (^A0, ^CF0); ^A also carries an orientation.
	rest := ""
	if k := strings.IndexByte(params, p.delim); k >= 0 {
		rest = params[k+1:]
	}
	h = p.intParam(code, rest, 0, "height", 0, 1, maxDots)
	w = p.intParam(code, rest, 1, "width", 0, 1, maxDots)
	switch {
	case h == 0 && w == 0:
		return defH, defW
	case h == 0:
		return w, w
	case w == 0:
		return h, h
	}
	return h, w
}

func (p *Parser) fieldNumber(params string) int {
	n := 0
	for n < len(params) && n < 5 && params[n] >= '0' && params[n] <= '9' {
		n++
	}
	v, err := strconv.Atoi(params[:n])
	if err != nil || v > 9999 {
		p.log.Warn("zpl: malformed parameter", "command", "^FN", "param", "number", "value", truncate(params, 16), "rule", "integer 0 to 9999")
		return -1
	}
	return v
}

// barcodeDataMatrix reads ^BXo,h,s,c,r,f,g,a.
func (p *Parser) barcodeDataMatrix(params string) {
	f := &p.lbl.field
	f.kind = DataMatrix
	if o := strings.TrimSpace(p.param(params, 0)); o != "" && !strings.Contains("NRIB", o) {
		p.log.Warn("zpl: malformed parameter", "command", "^BX", "param", "orientation", "value", o, "rule", "one of N R I B")
	}
	f.module = p.intParam("BX", params, 1, "module height", 0, 1, maxDots)
	f.quality = p.intParam("BX", params, 2, "quality", 0, 0, 200)
	switch f.quality {
	case 0, 50, 80, 100, 140, 200:
	default:
		p.log.Warn("zpl: malformed parameter", "command", "^BX", "param", "quality", "value", f.quality, "rule", "one of 0 50 80 100 140 200")
		f.quality = 0
	}
	if f.quality != 200 {
		p.log.Warn("zpl: ^BX quality is not 200: not ECC 200, no GS1", "quality", f.quality)
	}
	// The manual's default escape is '~' on current firmware.
	f.esc = '~'
	if g := p.param(params, 6); g != "" {
		f.esc = g[0]
	}
}

// barcode128 reads ^BCo,h,f,g,e,m. Only mode N (and the default) is
// resolved: U, A and D make the printer choose code sets and check digits
// itself, which this parser does not emulate; they are read as mode N.
func (p *Parser) barcode128(params string) {
	f := &p.lbl.field
	f.kind = Code128
	if o := strings.TrimSpace(p.param(params, 0)); o != "" && !strings.Contains("NRIB", o) {
		p.log.Warn("zpl: malformed parameter", "command", "^BC", "param", "orientation", "value", o, "rule", "one of N R I B")
	}
	f.module = p.lbl.byW
	f.height = p.intParam("BC", params, 1, "height", p.lbl.byH, 1, maxDots)
	if m := strings.TrimSpace(p.param(params, 5)); m != "" && m != "N" {
		p.log.Warn("zpl: ^BC mode not emulated, data read as mode N", "mode", m)
	}
}
