package printer_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/serialine/serialine/drivers/printer"
	"github.com/serialine/serialine/drivers/transport"
	"github.com/serialine/serialine/drivers/zpl"
	"github.com/serialine/serialine/internal/testkit"
	"github.com/serialine/serialine/shared/label"
	printersim "github.com/serialine/serialine/simulators/printer"
)

// await bounds every wait for an event; generous so a loaded machine passes.
const await = 10 * time.Second

// unit returns a GS1 element string (GTIN, expiry, lot, serial) and its text.
func unit(serial string) zpl.Fields {
	return zpl.Fields{
		Data: "0109506000134352" + "17271231" + "10LOT_7%" + "\x1d" + "21" + serial,
		Text: []string{"GTIN 09506000134352", "EXP 2027-12-31", "LOT LOT_7%", "SN " + serial},
	}
}

// sim is a printer simulator on loopback TCP with its output on a channel.
type sim struct {
	*printersim.Simulator
	addr string
	out  chan printersim.Printed
	stop func() // stops serving TCP (the listener and its connections)
}

func startSim(tb testing.TB, cfg printersim.Config) *sim {
	tb.Helper()
	s := &sim{out: make(chan printersim.Printed, 256)}
	if cfg.OnPrint == nil {
		cfg.OnPrint = func(p printersim.Printed) { s.out <- p }
	}
	var err error
	s.Simulator, err = printersim.New(cfg, slog.New(slog.DiscardHandler))
	require.NoError(tb, err)
	tb.Cleanup(func() { require.NoError(tb, s.Close()) })
	s.addr = s.serve(tb, "127.0.0.1:0")
	return s
}

// serve starts serving TCP on addr and returns the address bound.
func (s *sim) serve(tb testing.TB, addr string) string {
	tb.Helper()
	ln, err := net.Listen("tcp", addr)
	require.NoError(tb, err)
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- s.Serve(ctx, ln) }()
	s.stop = func() {
		cancel()
		require.NoError(tb, <-served)
	}
	tb.Cleanup(func() { cancel() })
	return ln.Addr().String()
}

func (s *sim) next(tb testing.TB) printersim.Printed {
	tb.Helper()
	select {
	case p := <-s.out:
		return p
	case <-time.After(await):
		tb.Fatalf("no label printed within %v; simulator stats %+v", await, s.Stats())
		return printersim.Printed{}
	}
}

func (s *sim) none(tb testing.TB) {
	tb.Helper()
	select {
	case p := <-s.out:
		tb.Fatalf("unexpected label printed: seq %d data %q", p.Seq, p.Data)
	default:
	}
}

// config is a driver config for spec; background polling is off unless a
// test turns it on, so that only the test's own calls touch the link.
func config(spec string) printer.Config {
	return printer.Config{
		Name:           "line1-printer",
		Transport:      spec,
		Layout:         zpl.DefaultLayout(12),
		StatusInterval: -1,
		Timeout:        await,
		ReconnectMin:   5 * time.Millisecond,
		ReconnectMax:   50 * time.Millisecond,
	}
}

func open(tb testing.TB, cfg printer.Config) *printer.Printer {
	tb.Helper()
	p, err := printer.New(cfg, slog.New(slog.DiscardHandler))
	require.NoError(tb, err)
	tb.Cleanup(func() { require.NoError(tb, p.Close()) })
	return p
}

func TestConfigValidate(t *testing.T) {
	good := config("tcp:127.0.0.1:9100")
	tests := []struct {
		name   string
		change func(*printer.Config)
		want   string // "" = valid
	}{
		{"valid", func(*printer.Config) {}, ""},
		{"serial", func(c *printer.Config) { c.Transport = "serial:/dev/ttyS0?baud=9600" }, ""},
		{"defaults", func(c *printer.Config) { c.StatusInterval, c.Timeout, c.ReconnectMin, c.ReconnectMax = 0, 0, 0, 0 }, ""},
		{"no name", func(c *printer.Config) { c.Name = "" }, "name: missing"},
		{"no transport", func(c *printer.Config) { c.Transport = "" }, "transport: missing"},
		{"bad transport", func(c *printer.Config) { c.Transport = "usb:0" }, "transport"},
		{"bad baud", func(c *printer.Config) { c.Transport = "serial:/dev/ttyS0?baud=12345" }, "baud 12345"},
		{"bad layout", func(c *printer.Config) { c.Layout.DPMM = 7 }, "layout: "},
		{"bad format name", func(c *printer.Config) { c.Layout.Name = "SERIALINE" }, "Name"},
		{"negative timeout", func(c *printer.Config) { c.Timeout = -time.Second }, "timeout"},
		{"negative reconnect", func(c *printer.Config) { c.ReconnectMin = -time.Second }, "reconnect_min"},
		{"max below min", func(c *printer.Config) { c.ReconnectMin, c.ReconnectMax = time.Second, time.Millisecond }, "reconnect_max"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := good
			tt.change(&cfg)
			err := cfg.Validate()
			_, newErr := printer.New(cfg, slog.New(slog.DiscardHandler))
			if tt.want == "" {
				require.NoError(t, err)
				require.NoError(t, newErr)
				return
			}
			require.ErrorContains(t, err, tt.want)
			require.ErrorContains(t, newErr, tt.want)
		})
	}
}

// TestNotConnected: New never dials, and a printer that is not connected
// refuses work with transport.ErrNotConnected.
func TestNotConnected(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	accepted := make(chan struct{}, 1)
	go func() {
		if c, err := ln.Accept(); err == nil {
			accepted <- struct{}{}
			_ = c.Close()
		}
	}()
	p := open(t, config("tcp:"+ln.Addr().String()))
	ctx := context.Background()
	require.ErrorIs(t, p.Print(ctx, unit("1")), transport.ErrNotConnected)
	_, err = p.Status(ctx)
	require.ErrorIs(t, err, transport.ErrNotConnected)
	require.NoError(t, ln.Close())
	select {
	case <-accepted:
		t.Fatal("New or a refused call dialled the printer")
	default:
	}
	require.NoError(t, p.Close())
	require.NoError(t, p.Close())
	require.ErrorIs(t, p.Print(ctx, unit("1")), transport.ErrNotConnected)
	require.Error(t, p.Connect(ctx))
}

// TestPrintEndToEnd: over real TCP and a real pty, Connect downloads the
// format once, each Print sends only the recall job, and the simulator's
// label is read by label.Decode and by the independent validator with
// exactly the AIs sent.
func TestPrintEndToEnd(t *testing.T) {
	tests := []struct {
		name string
		link func(t *testing.T, s *sim) string
		baud int // 0 for TCP
	}{
		{"tcp", func(t *testing.T, s *sim) string { return "tcp:" + s.addr }, 0},
		{"pty 115200", func(t *testing.T, s *sim) string {
			ctx, cancel := context.WithCancel(context.Background())
			t.Cleanup(cancel)
			path, err := s.ServePTY(ctx)
			require.NoError(t, err)
			return "serial:" + path + "?baud=115200"
		}, 115200},
		{"pty 9600", func(t *testing.T, s *sim) string {
			ctx, cancel := context.WithCancel(context.Background())
			t.Cleanup(cancel)
			path, err := s.ServePTY(ctx)
			require.NoError(t, err)
			return "serial:" + path + "?baud=9600"
		}, 9600},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := startSim(t, printersim.Config{})
			cfg := config(tt.link(t, s))
			p := open(t, cfg)
			ctx := context.Background()
			require.NoError(t, p.Connect(ctx))
			require.Equal(t, 1, p.Downloads())

			serials := []string{"A0001", "A0002", "A0003"}
			for _, sn := range serials {
				require.NoError(t, p.Print(ctx, unit(sn)))
			}
			for i, sn := range serials {
				out := s.next(t)
				want := unit(sn).Data
				require.Equal(t, i+1, out.Seq)
				require.Equal(t, want, out.Data)
				require.True(t, out.GS1)
				dec, err := label.Decode(out.Image)
				require.NoError(t, err)
				require.True(t, dec.GS1)
				require.Equal(t, want, dec.Data)
				if i == 0 {
					testkit.RequireDecodeDM(t, out.Image, want)
				}
			}
			st := s.Stats()
			require.Equal(t, 1, st.FormatDownloads, "the format goes down once per connection")
			require.Equal(t, 3, st.Printed)
			require.Equal(t, 1, p.Downloads())

			job := cfg.Layout.RecallSize(unit("A0003"))
			require.Equal(t, job, p.BytesPerUnit())
			require.Less(t, job, len(cfg.Layout.Format()), "a recall job is smaller than the format")
			require.Equal(t, zpl.WireTime(job, tt.baud), p.WireTime())

			status, err := p.Status(ctx)
			require.NoError(t, err)
			require.False(t, status.Paused)
		})
	}
}

// TestFaults: each printer fault reaches the caller as its typed error,
// from Status and then from Print, which refuses without sending; once the
// fault clears, Status says so and printing resumes.
func TestFaults(t *testing.T) {
	tests := []struct {
		name string
		set  func(*printersim.Simulator, bool)
		want error
	}{
		{"paper out", (*printersim.Simulator).SetPaperOut, printer.ErrPaperOut},
		{"ribbon out", (*printersim.Simulator).SetRibbonOut, printer.ErrRibbonOut},
		{"head open", (*printersim.Simulator).SetHeadOpen, printer.ErrHeadOpen},
		{"paused", (*printersim.Simulator).SetPaused, printer.ErrPaused},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := startSim(t, printersim.Config{Fast: true})
			p := open(t, config("tcp:"+s.addr))
			ctx := context.Background()
			require.NoError(t, p.Connect(ctx))

			tt.set(s.Simulator, true)
			_, err := p.Status(ctx)
			require.ErrorIs(t, err, tt.want)
			require.ErrorContains(t, err, "line1-printer")
			received := s.Stats().Received
			err = p.Print(ctx, unit("F1"))
			require.ErrorIs(t, err, tt.want)
			require.Equal(t, received, s.Stats().Received, "a refused job must not be sent")

			tt.set(s.Simulator, false)
			_, err = p.Status(ctx)
			require.NoError(t, err)
			require.NoError(t, p.Print(ctx, unit("F2")))
			require.Equal(t, unit("F2").Data, s.next(t).Data)
		})
	}
}

// TestBufferFull: a paused printer whose buffer has filled reports both.
func TestBufferFull(t *testing.T) {
	s := startSim(t, printersim.Config{Fast: true, BufferLabels: 1})
	p := open(t, config("tcp:"+s.addr))
	ctx := context.Background()
	require.NoError(t, p.Connect(ctx))
	s.SetPaused(true)
	require.NoError(t, p.Print(ctx, unit("B1")), "the driver does not know yet; the printer buffers the job")
	_, err := p.Status(ctx)
	require.ErrorIs(t, err, printer.ErrBufferFull)
	require.ErrorIs(t, err, printer.ErrPaused)
	err = p.Print(ctx, unit("B2"))
	require.ErrorIs(t, err, printer.ErrBufferFull)
	s.SetPaused(false)
	require.Equal(t, unit("B1").Data, s.next(t).Data, "the buffered job prints after the pause")
	require.Zero(t, s.Stats().Refused)
}

// TestConnectReportsFault: a printer paused at start-up connects (the link
// is up) and Connect says why it cannot print yet.
func TestConnectReportsFault(t *testing.T) {
	s := startSim(t, printersim.Config{Fast: true})
	s.SetPaused(true)
	p := open(t, config("tcp:"+s.addr))
	ctx := context.Background()
	require.ErrorIs(t, p.Connect(ctx), printer.ErrPaused)
	s.SetPaused(false)
	_, err := p.Status(ctx)
	require.NoError(t, err)
	require.NoError(t, p.Print(ctx, unit("C1")))
	require.Equal(t, unit("C1").Data, s.next(t).Data)
}

// TestBackgroundPoll: with StatusInterval set, Print learns of a fault
// without anyone calling Status, and of its end.
func TestBackgroundPoll(t *testing.T) {
	s := startSim(t, printersim.Config{Fast: true})
	cfg := config("tcp:" + s.addr)
	cfg.StatusInterval = 5 * time.Millisecond
	p := open(t, cfg)
	ctx := context.Background()
	require.NoError(t, p.Connect(ctx))
	s.SetHeadOpen(true)
	require.Eventually(t, func() bool { return errors.Is(p.Print(ctx, unit("P0")), printer.ErrHeadOpen) }, await, time.Millisecond)
	s.SetHeadOpen(false)
	require.Eventually(t, func() bool { return p.Print(ctx, unit("P1")) == nil }, await, time.Millisecond)
	// Jobs printed before the poll saw the fault were buffered by the
	// printer and come out now, in order, before P1.
	for {
		out := s.next(t)
		if out.Data == unit("P1").Data {
			break
		}
		require.Equal(t, unit("P0").Data, out.Data)
	}
}

// TestDropSlowSmudge: faults that take the job but spoil the output. Drop
// loses the unit silently at the printer: the driver cannot see it, the
// line's scanner sees a unit without a code and the station rejects it.
func TestDropSlowSmudge(t *testing.T) {
	t.Run("drop", func(t *testing.T) {
		s := startSim(t, printersim.Config{Fast: true})
		p := open(t, config("tcp:"+s.addr))
		ctx := context.Background()
		require.NoError(t, p.Connect(ctx))
		s.SetDrop(true)
		require.NoError(t, p.Print(ctx, unit("D1")), "a dropping printer accepts the job")
		require.Eventually(t, func() bool { return s.Stats().Dropped == 1 }, await, time.Millisecond)
		s.none(t)
	})
	t.Run("slow", func(t *testing.T) {
		s := startSim(t, printersim.Config{})
		p := open(t, config("tcp:"+s.addr))
		ctx := context.Background()
		require.NoError(t, p.Connect(ctx))
		s.SetSlow(20 * time.Millisecond)
		require.NoError(t, p.Print(ctx, unit("S1")))
		require.NoError(t, p.Print(ctx, unit("S2")))
		for _, sn := range []string{"S1", "S2"} {
			out := s.next(t)
			dec, err := label.Decode(out.Image)
			require.NoError(t, err)
			require.Equal(t, unit(sn).Data, dec.Data)
		}
	})
	t.Run("smudge", func(t *testing.T) {
		s := startSim(t, printersim.Config{Seed: 42})
		p := open(t, config("tcp:"+s.addr))
		ctx := context.Background()
		require.NoError(t, p.Connect(ctx))
		s.SetSmudge(0.6)
		require.NoError(t, p.Print(ctx, unit("M1")))
		out := s.next(t)
		dec, err := label.Decode(out.Image)
		if err == nil {
			require.NotEqual(t, unit("M1").Data, dec.Data, "a heavily smudged symbol decoded intact")
		}
	})
}

// TestLinkLost: the printer is switched off and on again, losing its
// memory. Over TCP the driver sees the connection close; over a serial line
// only the unanswered ~HS poll tells. Print fails with ErrNotConnected while
// the printer is away; the driver reconnects with backoff, downloads the
// format again, and the next label is right.
func TestLinkLost(t *testing.T) {
	tests := []struct {
		name string
		link func(t *testing.T, s *sim) string
	}{
		{"tcp", func(t *testing.T, s *sim) string { return "tcp:" + s.addr }},
		{"pty", func(t *testing.T, s *sim) string {
			ctx, cancel := context.WithCancel(context.Background())
			t.Cleanup(cancel)
			path, err := s.ServePTY(ctx)
			require.NoError(t, err)
			return "serial:" + path + "?baud=115200"
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := startSim(t, printersim.Config{})
			cfg := config(tt.link(t, s))
			cfg.StatusInterval = 10 * time.Millisecond
			cfg.Timeout = 250 * time.Millisecond
			p := open(t, cfg)
			ctx := context.Background()
			require.NoError(t, p.Connect(ctx))
			require.NoError(t, p.Print(ctx, unit("L1")))
			require.Equal(t, unit("L1").Data, s.next(t).Data)

			s.SetOffline(true)
			require.Eventually(t, func() bool {
				return errors.Is(p.Print(ctx, unit("L2")), transport.ErrNotConnected)
			}, await, time.Millisecond)
			_, err := p.Status(ctx)
			require.ErrorIs(t, err, transport.ErrNotConnected)
			s.none(t)

			s.SetOffline(false)
			require.Eventually(t, func() bool { return p.Print(ctx, unit("L3")) == nil }, await, time.Millisecond)
			out := s.next(t)
			require.Equal(t, unit("L3").Data, out.Data, "the recall found the re-downloaded format")
			dec, err := label.Decode(out.Image)
			require.NoError(t, err)
			require.Equal(t, unit("L3").Data, dec.Data)
			require.Equal(t, 2, p.Downloads(), "one download per established connection")
			require.Equal(t, 2, s.Stats().FormatDownloads)
		})
	}
}

// TestUnansweredStatus: a device that takes bytes but never answers ~HS is
// not a working printer: Connect fails with ErrNotConnected.
func TestUnansweredStatus(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		_, _ = io.Copy(io.Discard, c)
	}()
	cfg := config("tcp:" + ln.Addr().String())
	cfg.Timeout = 50 * time.Millisecond
	p := open(t, cfg)
	err = p.Connect(context.Background())
	require.ErrorIs(t, err, transport.ErrNotConnected)
	require.ErrorContains(t, err, "no ~HS answer")
}

// TestPrintRejectsBadFields: bad fields are refused before anything is sent.
func TestPrintRejectsBadFields(t *testing.T) {
	s := startSim(t, printersim.Config{Fast: true})
	p := open(t, config("tcp:"+s.addr))
	ctx := context.Background()
	require.NoError(t, p.Connect(ctx))
	tests := []struct {
		name string
		f    zpl.Fields
		want string
	}{
		{"empty data", zpl.Fields{}, "Fields.Data"},
		{"leading GS", zpl.Fields{Data: "\x1d0109506000134352"}, "starts with GS"},
		{"too many lines", zpl.Fields{Data: "0109506000134352", Text: make([]string, 9)}, "Fields.Text"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := p.Print(ctx, tt.f)
			require.ErrorContains(t, err, tt.want)
			require.ErrorContains(t, err, "line1-printer")
		})
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	require.ErrorIs(t, p.Print(cancelled, unit("X")), context.Canceled)
	require.Zero(t, s.Stats().Received)
}

// sink is a loopback TCP peer that swallows jobs and answers ~HS with a
// ready status: the cheapest printer there is, so that BenchmarkPrintJob
// measures the driver alone (the simulator would add its own parsing and
// allocations to the figures; BenchmarkPrintJobToSimulator has them).
func sink(tb testing.TB) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(tb, err)
	tb.Cleanup(func() { _ = ln.Close() })
	answer := zpl.HostStatus{}.Marshal()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		buf := make([]byte, 64<<10)
		var tail []byte
		for {
			n, err := c.Read(buf)
			if err != nil {
				return
			}
			// Answer each ~HS, also one split across reads.
			chunk := append(tail, buf[:n]...)
			for i := 0; i+3 <= len(chunk); i++ {
				if string(chunk[i:i+3]) == "~HS" {
					if _, err := c.Write(answer); err != nil {
						return
					}
				}
			}
			tail = append([]byte(nil), chunk[max(0, len(chunk)-2):]...)
		}
	}()
	return ln.Addr().String()
}

func benchmarkPrintJob(b *testing.B, addr string) {
	p := open(b, config("tcp:"+addr))
	ctx := context.Background()
	require.NoError(b, p.Connect(ctx))
	f := unit("12345678901234567890")
	b.ReportAllocs()
	for b.Loop() {
		if err := p.Print(ctx, f); err != nil {
			b.Fatal(err)
		}
	}
	n := p.BytesPerUnit()
	b.ReportMetric(float64(n), "bytes/unit")
	b.ReportMetric(float64(zpl.WireTime(n, 9600).Microseconds())/1000, "wire-ms@9600")
	b.ReportMetric(float64(zpl.WireTime(n, 115200).Microseconds())/1000, "wire-ms@115200")
}

// BenchmarkPrintJob measures building and handing over one unit's recall
// job over loopback TCP, and reports its size and its time on a serial line.
func BenchmarkPrintJob(b *testing.B) {
	benchmarkPrintJob(b, sink(b))
}

// BenchmarkPrintJobToSimulator is BenchmarkPrintJob with the printer
// simulator (fast mode) parsing every job in the same process.
func BenchmarkPrintJobToSimulator(b *testing.B) {
	s := startSim(b, printersim.Config{Fast: true, BufferLabels: 1 << 20, OnPrint: func(printersim.Printed) {}})
	benchmarkPrintJob(b, s.addr)
}

func TestNewNeedsALogger(t *testing.T) {
	_, err := printer.New(printer.Config{Name: "p", Transport: "tcp:127.0.0.1:9100", Layout: zpl.DefaultLayout(12)}, nil)
	require.ErrorContains(t, err, `printer "p": logger: missing`)
}
