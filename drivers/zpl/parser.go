package zpl

import (
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"strings"
)

// ErrCommandTooLong is wrapped by Parser.Feed when one command grew past
// MaxCommandBytes without the next command starting; the parser drops it and
// resynchronises on the next command prefix.
var ErrCommandTooLong = errors.New("zpl command too long")

// Limits that keep a parser's memory bounded whatever it is fed.
const (
	// MaxCommandBytes is the longest single command kept (parameters and
	// field data included).
	MaxCommandBytes = 256 << 10
	// MaxStoredFormats is how many formats a parser stores (^DF); a new
	// name beyond it is refused, as by a printer with full memory.
	MaxStoredFormats = 64
	// maxStoredCommands bounds one stored format.
	maxStoredCommands = 4096
	// maxElements bounds the fields of one label.
	maxElements = 4096
	// maxQuantity is ^PQ's largest label count.
	maxQuantity = 99_999_999
)

// command is one parsed caret command, kept for stored formats.
type command struct {
	code   string // two upper-case characters, e.g. "FO", "A0"
	params string
}

// Parser turns a ZPL byte stream into labels, as a printer would. It keeps
// stored formats (^DF) for later recall (^XF), like a printer's memory, and
// tolerates anything: unknown commands are logged and skipped, a malformed
// parameter is logged and its default used. A Parser is not safe for
// concurrent use.
type Parser struct {
	log                 *slog.Logger
	caret, tilde, delim byte

	buf      []byte // received bytes not yet parsed (CR and LF dropped)
	scanned  int    // bytes of the pending command already searched for the next prefix
	skipping bool   // dropping an over-long command up to the next prefix

	formats map[string][]command
	lbl     *labelState // between ^XA and ^XZ

	labels []Label
	cmds   []Command
}

// NewParser returns a parser with an empty format memory. A nil logger
// discards the log.
func NewParser(logger *slog.Logger) *Parser {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Parser{
		log:     logger,
		caret:   '^',
		tilde:   '~',
		delim:   ',',
		formats: make(map[string][]command),
	}
}

// StoredFormats lists the names of the formats stored so far, sorted.
func (p *Parser) StoredFormats() []string {
	return slices.Sorted(maps.Keys(p.formats))
}

// InFormat reports whether a format has started (^XA) and not yet ended
// (^XZ): the "partial format" of a printer's host status.
func (p *Parser) InFormat() bool { return p.lbl != nil }

// Feed parses the next bytes of the stream, split anywhere, and returns the
// labels completed and the tilde commands received in them, each in stream
// order. A command cut by the end of b waits for the next Feed; commands
// without parameters (^XZ, ~HS...) complete at once. The only error is a
// wrapped ErrCommandTooLong, returned beside whatever was parsed.
func (p *Parser) Feed(b []byte) ([]Label, []Command, error) {
	var err error
	for _, c := range b {
		// A printer ignores CR and LF in a ZPL stream; a field that needs them
		// sends them hex-escaped.
		if c != '\r' && c != '\n' {
			p.buf = append(p.buf, c)
		}
	}
	start := 0
	for start < len(p.buf) {
		i := start
		for i < len(p.buf) && !p.isPrefix(p.buf[i]) {
			i++
		}
		if i > start && !p.skipping {
			p.log.Debug("zpl: bytes outside a command ignored", "bytes", i-start)
		}
		start = i
		if start == len(p.buf) {
			break
		}
		p.skipping = false
		if len(p.buf)-start < 3 {
			break // the code is still on its way
		}
		prefix, c1, c2 := p.buf[start], p.buf[start+1], p.buf[start+2]
		if p.isPrefix(c1) || p.isPrefix(c2) {
			p.log.Debug("zpl: lone command prefix ignored", "prefix", string(prefix))
			start++
			continue
		}
		code := string([]byte{upper(c1), upper(c2)})
		isCaret := prefix == p.caret
		end := 0
		if n, ok := fixedParams(isCaret, code); ok {
			if len(p.buf)-start < 3+n {
				break
			}
			end = start + 3 + n
		} else {
			from := start + max(3, p.scanned)
			j := p.indexPrefix(from)
			if j < 0 {
				p.scanned = len(p.buf) - start
				if p.scanned > MaxCommandBytes {
					err = fmt.Errorf("%w: %c%s is over %d bytes; dropped", ErrCommandTooLong, prefix, code, MaxCommandBytes)
					p.log.Warn("zpl: command too long, dropped", "command", string(prefix)+code, "limit", MaxCommandBytes)
					p.skipping = true
					p.scanned = 0
					start = len(p.buf)
				}
				break
			}
			end = j
			if end-start > MaxCommandBytes {
				// Same outcome as when the command outgrew the limit across Feeds.
				err = fmt.Errorf("%w: %c%s is over %d bytes; dropped", ErrCommandTooLong, prefix, code, MaxCommandBytes)
				p.log.Warn("zpl: command too long, dropped", "command", string(prefix)+code, "limit", MaxCommandBytes)
				p.scanned = 0
				start = end
				continue
			}
		}
		p.scanned = 0
		params := string(p.buf[start+3 : end])
		start = end
		if isCaret {
			p.caretCommand(code, params)
		} else {
			p.tildeCommand(code, params)
		}
	}
	n := copy(p.buf, p.buf[start:])
	p.buf = p.buf[:n]
	labels, cmds := p.labels, p.cmds
	p.labels, p.cmds = nil, nil
	return labels, cmds, err
}

func (p *Parser) isPrefix(c byte) bool { return c == p.caret || c == p.tilde }

func (p *Parser) indexPrefix(from int) int {
	for j := from; j < len(p.buf); j++ {
		if p.isPrefix(p.buf[j]) {
			return j
		}
	}
	return -1
}

func upper(c byte) byte {
	if c >= 'a' && c <= 'z' {
		return c - 'a' + 'A'
	}
	return c
}

// fixedParams tells the parameter length of commands that have a fixed one,
// so that they complete without waiting for the next command: a label ends at
// ^XZ and an ~HS is answered without more bytes arriving.
func fixedParams(isCaret bool, code string) (int, bool) {
	switch code {
	case "CC", "CT", "CD":
		return 1, true
	}
	if isCaret {
		switch code {
		case "XA", "XZ", "FS":
			return 0, true
		}
		return 0, false
	}
	switch code {
	case "HS", "HI", "HM", "HD", "HB", "HU", "JA", "JB", "JC", "JD", "JE",
		"JL", "JN", "JO", "JP", "JR", "PP", "PS", "WC":
		return 0, true
	}
	return 0, false
}

// tildeCommand handles an immediate command: prefix changes here, the rest
// go to the caller.
func (p *Parser) tildeCommand(code, params string) {
	switch code {
	case "CC", "CT", "CD":
		p.setPrefix(code, params)
		return
	}
	p.cmds = append(p.cmds, Command{Code: "~" + code, Params: params})
}

// setPrefix applies ^CC/~CC (caret), ^CT/~CT (tilde) and ^CD/~CD (delimiter).
func (p *Parser) setPrefix(code, params string) {
	if len(params) != 1 {
		p.log.Warn("zpl: malformed parameter", "command", code, "param", "character", "value", params, "rule", "one character")
		return
	}
	c := params[0]
	if c < 0x21 || c > 0x7E || c == p.caret || c == p.tilde || c == p.delim {
		p.log.Warn("zpl: malformed parameter", "command", code, "param", "character", "value", params,
			"rule", "a printable character other than the current caret, tilde and delimiter")
		return
	}
	switch code {
	case "CC":
		p.caret = c
	case "CT":
		p.tilde = c
	case "CD":
		p.delim = c
	}
}

// caretCommand routes a format command: stored while a ^DF format is being
// received, executed otherwise.
func (p *Parser) caretCommand(code, params string) {
	if code == "CC" || code == "CT" || code == "CD" {
		p.setPrefix(code, params)
		return
	}
	if p.lbl != nil && p.lbl.storing != "" && code != "XZ" {
		if len(p.lbl.stored) >= maxStoredCommands {
			p.lbl.storeOverflow = true
			return
		}
		p.lbl.stored = append(p.lbl.stored, command{code: code, params: params})
		return
	}
	p.exec(code, params, false)
}

// exec executes one format command; replay is true for the commands of a
// recalled stored format.
func (p *Parser) exec(code, params string, replay bool) {
	if code == "XA" {
		if replay {
			return
		}
		if p.lbl != nil {
			p.log.Warn("zpl: ^XA inside a format ignored")
			return
		}
		p.lbl = newLabelState()
		return
	}
	lbl := p.lbl
	if lbl == nil {
		p.log.Warn("zpl: command outside ^XA..^XZ ignored", "command", "^"+code)
		return
	}
	switch code {
	case "XZ":
		if !replay {
			if lbl.field.hasData || lbl.field.fn >= 0 {
				p.endField(false) // ^XZ closes a field whose ^FS is missing
			}
			p.endFormat()
		}
	case "DF":
		if replay {
			return
		}
		lbl.storing = normaliseFormatName(params)
	case "XF":
		if replay {
			p.log.Warn("zpl: ^XF inside a stored format ignored", "format", params)
			return
		}
		p.recall(normaliseFormatName(params))
	case "FO", "FT":
		x, y := p.intParam(code, params, 0, "x", 0, 0, maxDots), p.intParam(code, params, 1, "y", 0, 0, maxDots)
		lbl.field.x, lbl.field.y = lbl.homeX+x, lbl.homeY+y
	case "FD", "FV":
		lbl.field.data = params
		lbl.field.hasData = true
	case "FH":
		lbl.field.fh = '_'
		if params != "" {
			lbl.field.fh = params[0]
		}
	case "FN":
		lbl.field.fn = p.fieldNumber(params)
	case "FS":
		p.endField(replay)
	case "BX":
		p.barcodeDataMatrix(params)
	case "BC":
		p.barcode128(params)
	case "BY":
		lbl.byW = p.intParam(code, params, 0, "module width", lbl.byW, 1, 10)
		lbl.byH = p.intParam(code, params, 2, "height", lbl.byH, 1, maxDots)
	case "CF":
		lbl.fontH, lbl.fontW = p.fontSize(code, params, lbl.fontH, lbl.fontW)
	case "PW":
		lbl.label.WidthDots = p.intParam(code, params, 0, "width", lbl.label.WidthDots, 2, maxDots)
	case "LL":
		lbl.label.HeightDots = p.intParam(code, params, 0, "length", lbl.label.HeightDots, 1, maxDots)
	case "PQ":
		lbl.label.Quantity = p.intParam(code, params, 0, "quantity", 1, 1, maxQuantity)
	case "CI":
		lbl.charset = p.intParam(code, params, 0, "character set", lbl.charset, 0, 36)
	case "LH":
		lbl.homeX = p.intParam(code, params, 0, "x", 0, 0, maxDots)
		lbl.homeY = p.intParam(code, params, 1, "y", 0, 0, maxDots)
	case "MM":
		if m := strings.TrimSpace(p.param(params, 0)); m != "" && !strings.Contains("TPRACDFLUK", m) {
			p.log.Warn("zpl: malformed parameter", "command", "^MM", "param", "mode", "value", m, "rule", "one of T P R A C D F L U K")
		}
	case "FX":
		// A comment.
	default:
		switch {
		case code[0] == 'A':
			lbl.field.fontH, lbl.field.fontW = p.fontSize(code, code[1:]+params, lbl.fontH, lbl.fontW)
			lbl.field.hasFont = true
		case code[0] == 'B':
			lbl.field.kind = unsupportedKind
			p.log.Warn("zpl: barcode type not supported, field ignored", "command", "^"+code)
		case ignoredCommand(code):
			p.log.Debug("zpl: command without effect here ignored", "command", "^"+code)
		default:
			p.log.Warn("zpl: unknown command ignored", "command", "^"+code, "params", truncate(params, 32))
		}
	}
}

// ignoredCommand lists common ZPL that a printer honours but that does not
// change what this parser reports (print speed, darkness, media, graphics).
func ignoredCommand(code string) bool {
	switch code {
	case "FW", "FB", "FR", "FP", "FC", "GB", "GC", "GD", "GE", "GF", "GS", "XG", "IM", "IL", "IS",
		"PR", "MD", "MN", "MT", "MF", "PO", "PM", "PF", "PA", "LS", "LT", "LR", "JU", "JM", "JZ", "JJ",
		"SZ", "CW", "SN", "SF", "PP", "PH", "XB", "KL", "KN", "TO", "HH", "HW", "HT", "HG", "HF", "HY",
		"WD", "ML", "MP", "MW", "SE", "SL", "SS", "ST", "FM", "FL", "ID", "DG", "DY", "DU", "DN", "FE":
		return true
	}
	return false
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// normaliseFormatName gives a stored format's name its default device (R:)
// and extension (.ZPL), upper case, as a printer files it.
func normaliseFormatName(s string) string {
	s = strings.ToUpper(strings.TrimSpace(s))
	if s == "" {
		s = "UNKNOWN"
	}
	if !strings.Contains(s, ":") {
		s = "R:" + s
	}
	if !strings.Contains(s[strings.Index(s, ":"):], ".") {
		s += ".ZPL"
	}
	return s
}

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

// unescape128 resolves ^BC mode N invocation codes (ZPL II Programming
// Guide, ^BC, Code 128 invocation characters): >8 is FNC1 (first:
// GS1-128, later: GS), >0 is ">", >< "^" and >= "~" (symbol values 30, 62
// and 94 in subset B); start codes (>9 >: >;) and code set switches (>5 >6
// >7) carry no data; FNC2-4 and shift (>1-4) are dropped with a warning.
func (p *Parser) unescape128(s string) (string, bool) {
	if strings.IndexByte(s, '>') < 0 {
		return s, false
	}
	out := make([]byte, 0, len(s))
	gs1 := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '>' || i+1 == len(s) {
			out = append(out, c)
			continue
		}
		i++
		switch n := s[i]; n {
		case '8':
			if len(out) == 0 && !gs1 {
				gs1 = true
			} else {
				out = append(out, gs)
			}
		case '0':
			out = append(out, '>')
		case '<':
			out = append(out, '^')
		case '=':
			out = append(out, '~')
		case '5', '6', '7', '9', ':', ';':
		default:
			p.log.Warn("zpl: ^BC invocation code dropped", "sequence", s[i-1:i+1])
		}
	}
	return string(out), gs1
}

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

// unhex resolves ^FH escapes: the indicator and two hex digits give a byte.
// A malformed escape is kept as it is and logged.
func (p *Parser) unhex(s string, ind byte) string {
	if strings.IndexByte(s, ind) < 0 {
		return s
	}
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == ind {
			if i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]) {
				out = append(out, unhexDigit(s[i+1])<<4|unhexDigit(s[i+2]))
				i += 2
				continue
			}
			p.log.Warn("zpl: malformed ^FH escape kept as text", "at", i, "rule", "indicator then two hex digits")
		}
		out = append(out, c)
	}
	return string(out)
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'A' && c <= 'F' || c >= 'a' && c <= 'f'
}

func unhexDigit(c byte) byte {
	switch {
	case c >= 'a':
		return c - 'a' + 10
	case c >= 'A':
		return c - 'A' + 10
	}
	return c - '0'
}

// unescapeDataMatrix resolves the ^BX quality 200 escape sequences (ZPL II
// Programming Guide, ^BX field data): esc+'1' is FNC1 (first: GS1 mode,
// later: GS), esc+esc a literal esc, esc+'dNNN' the byte NNN, esc+'@'..'^' a
// control character; FNC2 (+9 digits), FNC3 and code pages (+3 digits) carry
// no data and are dropped.
func (p *Parser) unescapeDataMatrix(s string, esc byte) (string, bool) {
	if strings.IndexByte(s, esc) < 0 {
		return s, false
	}
	out := make([]byte, 0, len(s))
	gs1 := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != esc {
			out = append(out, c)
			continue
		}
		if i+1 == len(s) {
			p.log.Warn("zpl: ^BX escape character at the end of the data kept", "escape", string(esc))
			out = append(out, c)
			break
		}
		n := s[i+1]
		switch {
		case n == esc:
			out = append(out, esc)
			i++
		case n == '1':
			if len(out) == 0 && !gs1 {
				gs1 = true
			} else {
				out = append(out, gs)
			}
			i++
		case n == '2':
			i += 1 + countDigits(s[i+2:], 9)
		case n == '3':
			i++
		case n == '5':
			i += 1 + countDigits(s[i+2:], 3)
		case n == 'd':
			if d := countDigits(s[i+2:], 3); d == 3 {
				if v, _ := strconv.Atoi(s[i+2 : i+5]); v <= 255 {
					out = append(out, byte(v))
					i += 4
					continue
				}
			}
			p.log.Warn("zpl: malformed ^BX escape kept", "sequence", truncate(s[i:], 5), "rule", "d then three digits 000-255")
			out = append(out, c)
		case n >= '@' && n <= '^':
			out = append(out, n-'@')
			i++
		default:
			p.log.Warn("zpl: unknown ^BX escape kept", "sequence", s[i:i+2])
			out = append(out, c)
		}
	}
	return string(out), gs1
}

// countDigits counts leading decimal digits of s, up to limit.
func countDigits(s string, limit int) int {
	n := 0
	for n < len(s) && n < limit && s[n] >= '0' && s[n] <= '9' {
		n++
	}
	return n
}
