package zpl

import (
	"bytes"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

// logBuffer collects a parser's log lines for assertions.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// newTestParser returns a parser whose log (Debug and up, text form) the test
// can read.
func newTestParser(tb testing.TB) (*Parser, *logBuffer) {
	tb.Helper()
	logs := &logBuffer{}
	h := slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})
	tb.Cleanup(func() {
		if tb.Failed() {
			tb.Logf("parser log:\n%s", logs.String())
		}
	})
	p, err := NewParser(slog.New(h))
	require.NoError(tb, err)
	return p, logs
}

// quietParser is a parser whose log the test does not look at.
func quietParser(tb testing.TB) *Parser {
	tb.Helper()
	p, err := NewParser(slog.New(slog.DiscardHandler))
	require.NoError(tb, err)
	return p
}

// feedAll feeds chunks in order and collects what comes out.
func feedAll(tb testing.TB, p *Parser, chunks ...[]byte) ([]Label, []Command) {
	tb.Helper()
	var labels []Label
	var cmds []Command
	for _, c := range chunks {
		l, cm, err := p.Feed(c)
		require.NoError(tb, err)
		labels = append(labels, l...)
		cmds = append(cmds, cm...)
	}
	return labels, cmds
}

// gs1 joins element strings with the GS separator.
func gs1(parts ...string) string { return strings.Join(parts, "\x1d") }

// sampleFields is a DSCSA-style unit: GTIN, expiry, lot, serial.
func sampleFields() Fields {
	return Fields{
		Data: gs1("0100300123456785172812311012345A", "21SN0000000001"),
		Text: []string{"GTIN 00300123456785", "NDC 0123-4567-85", "LOT 12345A", "EXP 2028-12-31", "SN SN0000000001"},
	}
}

// expectedElements is what a parser should report for l and f, as printed
// from a stored format (recalled true: ^FN numbers kept) or standalone.
func expectedElements(l Layout, f Fields, recalled bool) []Element {
	field := func(n int) int {
		if recalled {
			return n
		}
		return -1
	}
	els := []Element{{
		Kind: DataMatrix, X: l.SymbolX, Y: l.SymbolY, Data: f.Data, GS1: true,
		ModuleDots: l.ModuleDots, Quality: 200, Field: field(1),
	}}
	for i, t := range f.Text {
		if i >= l.TextLines || t == "" {
			continue
		}
		els = append(els, Element{
			Kind: Text, X: l.TextX, Y: l.TextY + i*l.linePitch(), Data: t,
			FontHeight: l.TextHeight, FontWidth: l.TextHeight, Field: field(i + 2),
		})
	}
	return els
}
