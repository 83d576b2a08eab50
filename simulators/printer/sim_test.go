package printer_test

import (
	"bytes"
	"context"
	"image"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/serialine/serialine/drivers/transport"
	"github.com/serialine/serialine/drivers/zpl"
	"github.com/serialine/serialine/internal/testkit"
	"github.com/serialine/serialine/shared/label"
	printer "github.com/serialine/serialine/simulators/printer"
)

// unitData is a GS1 element string in transmitted form: GTIN, expiry, lot
// (variable, so GS-terminated) and serial.
const unitData = "0109506000134352" + "17271231" + "10LOT_A1%" + "\x1d" + "21SN&0001\"X"

// await is how long a test waits for an event before failing.
const await = 10 * time.Second

// syncBuffer is a log sink that tests can read while the simulator writes.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// rig is a simulator serving on loopback TCP, with its output on a channel.
type rig struct {
	sim  *printer.Simulator
	addr string
	out  chan printer.Printed
	logs *syncBuffer
}

func newRig(tb testing.TB, cfg printer.Config) *rig {
	tb.Helper()
	r := &rig{out: make(chan printer.Printed, 64), logs: &syncBuffer{}}
	cfg.OnPrint = func(p printer.Printed) { r.out <- p }
	log := slog.New(slog.NewTextHandler(r.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	sim, err := printer.New(cfg, log)
	require.NoError(tb, err)
	r.sim = sim
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(tb, err)
	r.addr = ln.Addr().String()
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- sim.Serve(ctx, ln) }()
	tb.Cleanup(func() {
		cancel()
		require.NoError(tb, <-served)
		require.NoError(tb, sim.Close())
	})
	return r
}

// dial opens a raw host connection to the rig.
func (r *rig) dial(tb testing.TB) net.Conn {
	tb.Helper()
	c, err := net.Dial("tcp", r.addr)
	require.NoError(tb, err)
	tb.Cleanup(func() { _ = c.Close() })
	return c
}

// next awaits the next printed label.
func (r *rig) next(tb testing.TB) printer.Printed {
	tb.Helper()
	select {
	case p := <-r.out:
		return p
	case <-time.After(await):
		tb.Fatalf("no label printed within %v; stats %+v", await, r.sim.Stats())
		return printer.Printed{}
	}
}

// none asserts that nothing has been printed.
func (r *rig) none(tb testing.TB) {
	tb.Helper()
	select {
	case p := <-r.out:
		tb.Fatalf("unexpected label printed: seq %d data %q", p.Seq, p.Data)
	default:
	}
}

// hostStatus sends ~HS on c and reads the three-string answer.
func hostStatus(tb testing.TB, c io.ReadWriter) zpl.HostStatus {
	tb.Helper()
	_, err := c.Write([]byte("~HS"))
	require.NoError(tb, err)
	raw := readAnswer(tb, c)
	st, err := zpl.ParseHostStatus(raw)
	require.NoError(tb, err)
	return st
}

// readAnswer reads up to the third ETX and its CR LF.
func readAnswer(tb testing.TB, r io.Reader) []byte {
	tb.Helper()
	var got []byte
	one := make([]byte, 1)
	for etx := 0; etx < 3 || !bytes.HasSuffix(got, []byte("\r\n")); {
		n, err := r.Read(one)
		require.NoError(tb, err, "reading ~HS answer, got %q so far", got)
		if n == 1 {
			got = append(got, one[0])
			if one[0] == 0x03 {
				etx++
			}
		}
	}
	return got
}

func layout() zpl.Layout { return zpl.DefaultLayout(12) }

func fields() zpl.Fields {
	return zpl.Fields{Data: unitData, Text: []string{"GTIN 09506000134352", "EXP 2027-12-31", "LOT LOT_A1% ^~", "SN SN&0001\"X"}}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  printer.Config
		want string // "" = valid
	}{
		{"defaults", printer.Config{}, ""},
		{"203 dpi", printer.Config{DPI: 203}, ""},
		{"odd dpi", printer.Config{DPI: 250}, "dpi 250"},
		{"negative size", printer.Config{WidthMM: -1}, "width_mm"},
		{"huge label", printer.Config{DPI: 600, WidthMM: 1000, HeightMM: 1000}, "raster limit"},
		{"negative buffer", printer.Config{BufferLabels: -1}, "buffer_labels"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if tt.want == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, tt.want)
			_, err = printer.New(tt.cfg, slog.New(slog.DiscardHandler))
			require.ErrorContains(t, err, tt.want)
		})
	}
}

// TestRasteriseDecodes: a self-contained label comes out as pixels that our
// decoder and the independent one both read, text beside the symbol.
func TestRasteriseDecodes(t *testing.T) {
	tests := []struct {
		name        string
		dpi         int
		dpmm        int
		independent bool // the validator takes seconds on a 600 dpi image
	}{
		{"203 dpi", 203, 8, true},
		{"300 dpi", 300, 12, true},
		{"600 dpi", 600, 24, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sim, err := printer.New(printer.Config{DPI: tt.dpi}, slog.New(slog.DiscardHandler))
			require.NoError(t, err)
			t.Cleanup(func() { require.NoError(t, sim.Close()) })
			l := zpl.DefaultLayout(tt.dpmm)
			labels, _, err := zplParser(t).Feed(l.Standalone(fields()))
			require.NoError(t, err)
			require.Len(t, labels, 1)
			img, err := sim.Rasterise(labels[0])
			require.NoError(t, err)
			require.Equal(t, image.Rect(0, 0, l.WidthDots, l.HeightDots), img.Bounds())

			dec, err := label.Decode(img)
			require.NoError(t, err)
			require.True(t, dec.GS1)
			require.Equal(t, unitData, dec.Data)
			requireTextBesideSymbol(t, img, l)
			if tt.independent {
				testkit.RequireDecodeDM(t, img, unitData)
			}
		})
	}
}

// requireTextBesideSymbol checks that ink lies right of the symbol's quiet
// zone (the text) and none inside the quiet-zone ring.
func requireTextBesideSymbol(tb testing.TB, img *image.Gray, l zpl.Layout) {
	tb.Helper()
	m, err := label.EncodeDataMatrix(unitData, true)
	require.NoError(tb, err)
	sym := image.Rect(l.SymbolX, l.SymbolY, l.SymbolX+m.Cols*l.ModuleDots, l.SymbolY+m.Rows*l.ModuleDots)
	quiet := sym.Inset(-2 * l.ModuleDots)
	dark := func(r image.Rectangle, skip image.Rectangle) int {
		n := 0
		r = r.Intersect(img.Bounds())
		for y := r.Min.Y; y < r.Max.Y; y++ {
			for x := r.Min.X; x < r.Max.X; x++ {
				if !image.Pt(x, y).In(skip) && img.GrayAt(x, y).Y < 128 {
					n++
				}
			}
		}
		return n
	}
	require.Zero(tb, dark(quiet, sym), "ink in the symbol's quiet zone")
	text := image.Rect(quiet.Max.X, 0, img.Bounds().Max.X, img.Bounds().Max.Y)
	require.Positive(tb, dark(text, image.Rectangle{}), "no text printed beside the symbol")
}

// TestServeTCPFormatAndRecall: a host stores the format and recalls it; the
// label comes out with the recalled data and the ~HS answer counts nothing
// left in the buffer.
func TestServeTCPFormatAndRecall(t *testing.T) {
	r := newRig(t, printer.Config{})
	c := r.dial(t)
	l := layout()
	_, err := c.Write(l.Format())
	require.NoError(t, err)
	job := l.AppendRecall(nil, fields())
	// Split the job mid-command: the printer must reassemble it.
	_, err = c.Write(job[:7])
	require.NoError(t, err)
	_, err = c.Write(job[7:])
	require.NoError(t, err)

	p := r.next(t)
	require.Equal(t, 1, p.Seq)
	require.Equal(t, unitData, p.Data)
	require.True(t, p.GS1)
	require.Equal(t, "R:SERIALINE.ZPL", p.Format)
	require.NotNil(t, p.Image)
	dec, err := label.Decode(p.Image)
	require.NoError(t, err)
	require.Equal(t, unitData, dec.Data)

	st := hostStatus(t, c)
	require.False(t, st.Paused || st.PaperOut || st.HeadOpen || st.RibbonOut || st.BufferFull)
	stats := r.sim.Stats()
	require.Equal(t, 1, stats.FormatDownloads)
	require.Equal(t, 1, stats.Received)
	require.Equal(t, 1, stats.Printed)
}

// TestUnknownCommandsIgnored: commands the printer does not know are logged
// and skipped; the label still prints.
func TestUnknownCommandsIgnored(t *testing.T) {
	r := newRig(t, printer.Config{})
	c := r.dial(t)
	zplText := "^XA^ZZ1,2,3^FO50,50^BXN,4,200,,,,_^FD_10109506000134352^FS^QQfoo^FO300,50^A0N,30,30^FDHELLO^FS^XZ"
	_, err := c.Write([]byte(zplText))
	require.NoError(t, err)
	p := r.next(t)
	require.Equal(t, "0109506000134352", p.Data)
	require.True(t, p.GS1)
	require.Contains(t, r.logs.String(), "^ZZ")
	require.Contains(t, r.logs.String(), "^QQ")
	dec, err := label.Decode(p.Image)
	require.NoError(t, err)
	require.Equal(t, "0109506000134352", dec.Data)
}

// TestQuantityCopies: ^PQ prints copies, each with its own sequence number.
func TestQuantityCopies(t *testing.T) {
	r := newRig(t, printer.Config{Fast: true})
	c := r.dial(t)
	_, err := c.Write([]byte("^XA^FO20,20^BXN,4,200,,,,_^FD_10109506000134352^FS^PQ3^XZ"))
	require.NoError(t, err)
	for seq := 1; seq <= 3; seq++ {
		p := r.next(t)
		require.Equal(t, seq, p.Seq)
		require.Equal(t, "0109506000134352", p.Data)
	}
	require.Equal(t, 1, r.sim.Stats().Received)
	require.Equal(t, 3, r.sim.Stats().Printed)
}

// TestFaultsStopPrinting: paper out, ribbon out, head open and pause stop
// the print engine and show in ~HS; received jobs wait in the buffer and
// print once the fault clears.
func TestFaultsStopPrinting(t *testing.T) {
	tests := []struct {
		name  string
		set   func(*printer.Simulator, bool)
		check func(zpl.HostStatus) bool
	}{
		{"paper out", (*printer.Simulator).SetPaperOut, func(s zpl.HostStatus) bool { return s.PaperOut }},
		{"ribbon out", (*printer.Simulator).SetRibbonOut, func(s zpl.HostStatus) bool { return s.RibbonOut }},
		{"head open", (*printer.Simulator).SetHeadOpen, func(s zpl.HostStatus) bool { return s.HeadOpen }},
		{"paused", (*printer.Simulator).SetPaused, func(s zpl.HostStatus) bool { return s.Paused }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t, printer.Config{Fast: true})
			c := r.dial(t)
			l := layout()
			_, err := c.Write(l.Format())
			require.NoError(t, err)
			tt.set(r.sim, true)
			_, err = c.Write(l.AppendRecall(nil, fields()))
			require.NoError(t, err)
			st := hostStatus(t, c) // answered after the job was buffered
			require.True(t, tt.check(st), "~HS does not report %s: %+v", tt.name, st)
			require.Equal(t, 1, st.FormatsInBuffer)
			r.none(t)

			tt.set(r.sim, false)
			p := r.next(t)
			require.Equal(t, unitData, p.Data)
			require.Nil(t, p.Image, "fast mode renders no image")
			require.False(t, tt.check(hostStatus(t, c)))
		})
	}
}

// TestPauseBufferFull: a paused printer buffers up to BufferLabels jobs,
// then refuses more and reports its buffer full; ~PS resumes it and ~JA
// would cancel what waits.
func TestPauseBufferFull(t *testing.T) {
	r := newRig(t, printer.Config{Fast: true, BufferLabels: 2})
	c := r.dial(t)
	l := layout()
	r.sim.SetPaused(true)
	var stream []byte
	stream = append(stream, l.Format()...)
	for range 3 {
		stream = l.AppendRecall(stream, fields())
	}
	_, err := c.Write(stream)
	require.NoError(t, err)
	st := hostStatus(t, c)
	require.True(t, st.Paused)
	require.True(t, st.BufferFull)
	require.Equal(t, 2, st.FormatsInBuffer)
	require.Equal(t, 1, r.sim.Stats().Refused)

	_, err = c.Write([]byte("~PS"))
	require.NoError(t, err)
	require.Equal(t, 1, r.next(t).Seq)
	require.Equal(t, 2, r.next(t).Seq)
	st = hostStatus(t, c)
	require.False(t, st.Paused)
	require.False(t, st.BufferFull)

	r.sim.SetPaused(true)
	_, err = c.Write(l.AppendRecall(nil, fields()))
	require.NoError(t, err)
	_, err = c.Write([]byte("~JA"))
	require.NoError(t, err)
	st = hostStatus(t, c)
	require.Zero(t, st.FormatsInBuffer)
	require.Equal(t, 1, r.sim.Stats().Canceled)
}

// TestDropSlowSmudge covers the faults that let jobs through but spoil the
// output.
func TestDropSlowSmudge(t *testing.T) {
	t.Run("drop", func(t *testing.T) {
		r := newRig(t, printer.Config{})
		c := r.dial(t)
		l := layout()
		r.sim.SetDrop(true)
		_, err := c.Write(append(l.Format(), l.AppendRecall(nil, fields())...))
		require.NoError(t, err)
		require.Eventually(t, func() bool { return r.sim.Stats().Dropped == 1 }, await, time.Millisecond)
		r.none(t)
		r.sim.SetDrop(false)
		_, err = c.Write(l.AppendRecall(nil, fields()))
		require.NoError(t, err)
		p := r.next(t)
		require.Equal(t, 1, p.Seq, "the dropped job left no label and no sequence number")
	})
	t.Run("slow", func(t *testing.T) {
		r := newRig(t, printer.Config{})
		c := r.dial(t)
		l := layout()
		r.sim.SetSlow(20 * time.Millisecond)
		_, err := c.Write(append(append(l.Format(), l.AppendRecall(nil, fields())...), l.AppendRecall(nil, fields())...))
		require.NoError(t, err)
		for seq := 1; seq <= 2; seq++ {
			p := r.next(t)
			require.Equal(t, seq, p.Seq)
			dec, err := label.Decode(p.Image)
			require.NoError(t, err)
			require.Equal(t, unitData, dec.Data)
		}
	})
	t.Run("smudge", func(t *testing.T) {
		r := newRig(t, printer.Config{Seed: 7})
		c := r.dial(t)
		l := layout()
		r.sim.SetSmudge(0.5)
		_, err := c.Write(append(l.Format(), l.AppendRecall(nil, fields())...))
		require.NoError(t, err)
		p := r.next(t)
		require.Equal(t, unitData, p.Data, "Data is what was sent, not what can be read")
		dec, err := label.Decode(p.Image)
		if err == nil {
			require.NotEqual(t, unitData, dec.Data, "a half-erased symbol decoded intact")
		}
		path := testkit.TempPNG(t, "smudged.png", p.Image)
		out, code := testkit.RunValidator(t, "decode-dm", "--require-gs1", "--json", path)
		if code == 0 {
			require.NotContains(t, out, strings.ReplaceAll(unitData, "\x1d", "<GS>"))
		}
	})
}

// TestDisconnect: the simulator drops its TCP hosts; with forgetFormats a
// recall of the lost format prints nothing until the format is stored again.
func TestDisconnect(t *testing.T) {
	r := newRig(t, printer.Config{Fast: true})
	c := r.dial(t)
	l := layout()
	_, err := c.Write(l.Format())
	require.NoError(t, err)
	hostStatus(t, c) // the format is in
	r.sim.Disconnect(true)
	require.NoError(t, c.SetReadDeadline(time.Now().Add(await)))
	_, err = c.Read(make([]byte, 1))
	require.ErrorIs(t, err, io.EOF)

	c2 := r.dial(t)
	_, err = c2.Write(l.AppendRecall(nil, fields()))
	require.NoError(t, err)
	// What comes out carries the fields but no symbol: a unit nobody can read.
	p := r.next(t)
	require.Empty(t, p.Data)
	require.Contains(t, r.logs.String(), "recall of a format not stored")

	_, err = c2.Write(append(l.Format(), l.AppendRecall(nil, fields())...))
	require.NoError(t, err)
	require.Equal(t, unitData, r.next(t).Data)
	require.Equal(t, 2, r.sim.Stats().FormatDownloads)
}

// TestServePTY: a host on the pty slave (opened as a serial port) prints,
// and the ~HS answer arrives byte for byte (raw mode: no CR/LF rewriting).
func TestServePTY(t *testing.T) {
	var out = make(chan printer.Printed, 4)
	sim, err := printer.New(printer.Config{OnPrint: func(p printer.Printed) { out <- p }}, slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, sim.Close()) })
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	path, err := sim.ServePTY(ctx)
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(path, "/dev/"), path)

	port, err := transport.Dial(ctx, transport.Config{Kind: transport.KindSerial, Address: path, Baud: 115200})
	require.NoError(t, err)
	t.Cleanup(func() { _ = port.Close() })
	l := layout()
	_, err = port.Write(append(l.Format(), l.AppendRecall(nil, fields())...))
	require.NoError(t, err)
	select {
	case p := <-out:
		require.Equal(t, unitData, p.Data)
		testkit.RequireDecodeDM(t, p.Image, unitData)
	case <-time.After(await):
		t.Fatalf("no label printed over the pty; stats %+v", sim.Stats())
	}

	_, err = port.Write([]byte("~HS"))
	require.NoError(t, err)
	require.Equal(t, sim.HostStatus().Marshal(), readAnswer(t, port))
}

// TestCloseEndsServe: Close ends Serve and a pty server; Serve after Close
// fails.
func TestCloseEndsServe(t *testing.T) {
	sim, err := printer.New(printer.Config{}, slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	served := make(chan error, 1)
	go func() { served <- sim.Serve(context.Background(), ln) }()
	_, err = sim.ServePTY(context.Background())
	require.NoError(t, err)
	c, err := net.Dial("tcp", ln.Addr().String())
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	hostStatus(t, c) // connected and served
	require.NoError(t, sim.Close())
	select {
	case err := <-served:
		require.NoError(t, err)
	case <-time.After(await):
		t.Fatal("Serve did not return after Close")
	}
	ln2, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	require.Error(t, sim.Serve(context.Background(), ln2))
}

// BenchmarkRasterise measures one unit label (300 dpi, 60 x 25 mm) to pixels.
func BenchmarkRasterise(b *testing.B) {
	sim, err := printer.New(printer.Config{}, slog.New(slog.DiscardHandler))
	require.NoError(b, err)
	b.Cleanup(func() { _ = sim.Close() })
	labels, _, err := zplParser(b).Feed(layout().Standalone(fields()))
	require.NoError(b, err)
	require.Len(b, labels, 1)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := sim.Rasterise(labels[0]); err != nil {
			b.Fatal(err)
		}
	}
}

// zplParser is a ZPL parser whose log the test does not look at.
func zplParser(tb testing.TB) *zpl.Parser {
	tb.Helper()
	p, err := zpl.NewParser(slog.New(slog.DiscardHandler))
	require.NoError(tb, err)
	return p
}

func TestNewNeedsALogger(t *testing.T) {
	_, err := printer.New(printer.Config{}, nil)
	require.ErrorContains(t, err, "printer simulator: logger: missing")
}
