package zpl

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// ErrHostStatus is wrapped by ParseHostStatus when an ~HS answer is malformed;
// the message names the string and field.
var ErrHostStatus = errors.New("malformed ~HS host status")

const (
	stx = 0x02
	etx = 0x03
)

// HostStatus is a printer's answer to ~HS: three <STX>...<ETX><CR><LF> strings
// (ZPL II Programming Guide, ~HS). Counts are non-negative; Marshal writes a
// negative count as 0.
type HostStatus struct {
	// String 1: aaa,b,c,dddd,eee,f,g,h,iii,j,k,l
	CommSettings     int  // aaa: serial port settings, a bit field in decimal
	PaperOut         bool // b
	Paused           bool // c
	LabelLengthDots  int  // dddd
	FormatsInBuffer  int  // eee: formats in the receive buffer
	BufferFull       bool // f: receive buffer full
	CommDiagnostic   bool // g: communications diagnostic mode
	PartialFormat    bool // h: a format is partly received
	CorruptRAM       bool // j: configuration data lost
	UnderTemperature bool // k
	OverTemperature  bool // l

	// String 2: mmm,n,o,p,q,r,s,t,uuuuuuuu,v,www
	FunctionSettings int  // mmm: a bit field in decimal
	HeadOpen         bool // o: print head up
	RibbonOut        bool // p
	ThermalTransfer  bool // q: thermal transfer (not direct thermal) selected
	PrintMode        int  // r: 0 rewind, 1 peel-off, 2 tear-off, 3 cutter, 4 applicator...
	PrintWidthMode   int  // s
	LabelWaiting     bool // t: a label waits to be taken (peel-off)
	LabelsRemaining  int  // uuuuuuuu: labels left in the batch
	GraphicsStored   int  // www: graphic images in memory

	// String 3: xxxx,y
	Password  int  // xxxx
	StaticRAM bool // y: static RAM installed
}

// Marshal is the answer a Zebra sends to ~HS.
func (s HostStatus) Marshal() []byte {
	b := make([]byte, 0, 96)
	b = append(b, stx)
	b = appendNum(b, s.CommSettings, 3)
	b = appendFlag(b, s.PaperOut)
	b = appendFlag(b, s.Paused)
	b = append(b, ',')
	b = appendNum(b, s.LabelLengthDots, 4)
	b = append(b, ',')
	b = appendNum(b, s.FormatsInBuffer, 3)
	b = appendFlag(b, s.BufferFull)
	b = appendFlag(b, s.CommDiagnostic)
	b = appendFlag(b, s.PartialFormat)
	b = append(b, ",000"...) // iii: unused
	b = appendFlag(b, s.CorruptRAM)
	b = appendFlag(b, s.UnderTemperature)
	b = appendFlag(b, s.OverTemperature)
	b = append(b, etx, '\r', '\n', stx)
	b = appendNum(b, s.FunctionSettings, 3)
	b = append(b, ",0"...) // n: unused
	b = appendFlag(b, s.HeadOpen)
	b = appendFlag(b, s.RibbonOut)
	b = appendFlag(b, s.ThermalTransfer)
	b = append(b, ',')
	b = appendNum(b, s.PrintMode, 1)
	b = append(b, ',')
	b = appendNum(b, s.PrintWidthMode, 1)
	b = appendFlag(b, s.LabelWaiting)
	b = append(b, ',')
	b = appendNum(b, s.LabelsRemaining, 8)
	b = append(b, ",1,"...) // v: format while printing, always 1
	b = appendNum(b, s.GraphicsStored, 3)
	b = append(b, etx, '\r', '\n', stx)
	b = appendNum(b, s.Password, 4)
	b = appendFlag(b, s.StaticRAM)
	return append(b, etx, '\r', '\n')
}

func appendFlag(b []byte, v bool) []byte {
	if v {
		return append(b, ",1"...)
	}
	return append(b, ",0"...)
}

// appendNum writes v zero-padded to width digits (more digits if it needs).
func appendNum(b []byte, v, width int) []byte {
	v = max(v, 0)
	for n := decimalLen(v); n < width; n++ {
		b = append(b, '0')
	}
	return strconv.AppendInt(b, int64(v), 10)
}

// hsField describes one comma-separated field of an ~HS string.
type hsField struct {
	name, meaning string
	flag          func(*HostStatus) *bool // nil for a number
	num           func(*HostStatus) *int  // nil for a flag or an unused field
}

func flagField(name, meaning string, f func(*HostStatus) *bool) hsField {
	return hsField{name: name, meaning: meaning, flag: f}
}

func numField(name, meaning string, f func(*HostStatus) *int) hsField {
	return hsField{name: name, meaning: meaning, num: f}
}

// hostStatusFields lists the fields of the three strings in the manual's
// order. A function, not a package variable, so nothing global can change it.
func hostStatusFields() [3][]hsField {
	return [3][]hsField{
		{
			numField("aaa", "communication settings", func(s *HostStatus) *int { return &s.CommSettings }),
			flagField("b", "paper out", func(s *HostStatus) *bool { return &s.PaperOut }),
			flagField("c", "pause", func(s *HostStatus) *bool { return &s.Paused }),
			numField("dddd", "label length", func(s *HostStatus) *int { return &s.LabelLengthDots }),
			numField("eee", "formats in buffer", func(s *HostStatus) *int { return &s.FormatsInBuffer }),
			flagField("f", "buffer full", func(s *HostStatus) *bool { return &s.BufferFull }),
			flagField("g", "communications diagnostic mode", func(s *HostStatus) *bool { return &s.CommDiagnostic }),
			flagField("h", "partial format", func(s *HostStatus) *bool { return &s.PartialFormat }),
			numField("iii", "unused", nil),
			flagField("j", "corrupt RAM", func(s *HostStatus) *bool { return &s.CorruptRAM }),
			flagField("k", "under temperature", func(s *HostStatus) *bool { return &s.UnderTemperature }),
			flagField("l", "over temperature", func(s *HostStatus) *bool { return &s.OverTemperature }),
		},
		{
			numField("mmm", "function settings", func(s *HostStatus) *int { return &s.FunctionSettings }),
			numField("n", "unused", nil),
			flagField("o", "head up", func(s *HostStatus) *bool { return &s.HeadOpen }),
			flagField("p", "ribbon out", func(s *HostStatus) *bool { return &s.RibbonOut }),
			flagField("q", "thermal transfer mode", func(s *HostStatus) *bool { return &s.ThermalTransfer }),
			numField("r", "print mode", func(s *HostStatus) *int { return &s.PrintMode }),
			numField("s", "print width mode", func(s *HostStatus) *int { return &s.PrintWidthMode }),
			flagField("t", "label waiting", func(s *HostStatus) *bool { return &s.LabelWaiting }),
			numField("uuuuuuuu", "labels remaining", func(s *HostStatus) *int { return &s.LabelsRemaining }),
			numField("v", "format while printing", nil),
			numField("www", "graphic images stored", func(s *HostStatus) *int { return &s.GraphicsStored }),
		},
		{
			numField("xxxx", "password", func(s *HostStatus) *int { return &s.Password }),
			flagField("y", "static RAM installed", func(s *HostStatus) *bool { return &s.StaticRAM }),
		},
	}
}

// ParseHostStatus parses a printer's ~HS answer. It accepts the three strings
// framed by STX/ETX or on separate lines (the SGD device.host_status form),
// with any whitespace around them and their fields.
func ParseHostStatus(b []byte) (HostStatus, error) {
	var s HostStatus
	hsStrings := hostStatusFields()
	frames := strings.FieldsFunc(string(b), func(r rune) bool {
		return r == stx || r == etx || r == '\r' || r == '\n'
	})
	strs := frames[:0]
	for _, f := range frames {
		if f = strings.TrimSpace(f); f != "" {
			strs = append(strs, f)
		}
	}
	if len(strs) != len(hsStrings) {
		return s, fmt.Errorf("%w: %d strings, want 3", ErrHostStatus, len(strs))
	}
	for i, str := range strs {
		fields := strings.Split(str, ",")
		spec := hsStrings[i]
		if len(fields) != len(spec) {
			return s, fmt.Errorf("%w: string %d has %d fields, want %d", ErrHostStatus, i+1, len(fields), len(spec))
		}
		for j, raw := range fields {
			v := strings.TrimSpace(raw)
			f := spec[j]
			if f.flag != nil {
				if v != "0" && v != "1" {
					return s, fmt.Errorf("%w: string %d field %s (%s): %q is not 0 or 1", ErrHostStatus, i+1, f.name, f.meaning, v)
				}
				*f.flag(&s) = v == "1"
				continue
			}
			n, ok := parseDigits(v)
			if !ok {
				return s, fmt.Errorf("%w: string %d field %s (%s): %q is not a number of 1 to 9 digits", ErrHostStatus, i+1, f.name, f.meaning, v)
			}
			if f.num != nil {
				*f.num(&s) = n
			}
		}
	}
	return s, nil
}

// parseDigits accepts 1-9 decimal digits only (no sign, no spaces).
func parseDigits(s string) (int, bool) {
	if len(s) == 0 || len(s) > 9 {
		return 0, false
	}
	n := 0
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
		n = n*10 + int(s[i]-'0')
	}
	return n, true
}
