package zpl

import (
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
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

// NewParser returns a parser with an empty format memory; what it ignores
// or cannot use goes to logger.
func NewParser(logger *slog.Logger) (*Parser, error) {
	if logger == nil {
		return nil, errors.New("zpl parser: logger: missing")
	}
	return &Parser{
		log:     logger,
		caret:   '^',
		tilde:   '~',
		delim:   ',',
		formats: make(map[string][]command),
	}, nil
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
//
// It is long because it is one switch with a case per ZPL command, most a line or two
// on the shared label state.
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
