package scanner

import (
	"context"
	"errors"
	"image"
	"image/color"
	"net"
	"testing"
	"time"

	scandrv "github.com/serialine/serialine/drivers/scanner"
	"github.com/serialine/serialine/internal/testkit"
	"github.com/stretchr/testify/require"
)

const waitFor = 5 * time.Second

// pharmaData is a typical GS1 pack code: GTIN, expiry, lot, serial.
const pharmaData = "0109501101530003" + "17261231" + "10LOT42A\x1d" + "21SER0000001"

// fakeDecoder stands in for shared/label's Decode, which is tested where it
// is written (the line simulator tests the two together). It reads a toy
// one-row "symbol" made by fakeSymbol: a marker byte 0xAA, a flags byte (1 =
// GS1), then the data, 8 pixels per byte, black = 1. Like a real reader it
// only reads a crisp image: every pixel must be pure black or white, so a
// low-contrast print needs the simulator's binarized retry.
type fakeDecoder struct{}

var errNoSymbol = errors.New("fake decoder: no symbol")

func (fakeDecoder) Decode(img image.Image) (string, bool, error) {
	b := img.Bounds()
	var bytes []byte
	var cur byte
	for x := b.Min.X; x < b.Max.X; x++ {
		v := color.GrayModel.Convert(img.At(x, b.Min.Y)).(color.Gray).Y
		if v != 0 && v != 255 {
			return "", false, errNoSymbol
		}
		cur <<= 1
		if v == 0 {
			cur |= 1
		}
		if (x-b.Min.X)%8 == 7 {
			bytes = append(bytes, cur)
			cur = 0
		}
	}
	if len(bytes) < 2 || bytes[0] != 0xAA {
		return "", false, errNoSymbol
	}
	return string(bytes[2:]), bytes[1]&1 == 1, nil
}

// fakeSymbol draws data for fakeDecoder with dark and light as the ink and
// paper grey levels (0 and 255 for a crisp print).
func fakeSymbol(data string, gs1 bool, dark, light uint8) *image.Gray {
	flags := byte(0)
	if gs1 {
		flags = 1
	}
	payload := append([]byte{0xAA, flags}, data...)
	img := image.NewGray(image.Rect(0, 0, 8*len(payload), 1))
	for i, c := range payload {
		for bit := 0; bit < 8; bit++ {
			v := light
			if c&(0x80>>bit) != 0 {
				v = dark
			}
			img.SetGray(8*i+bit, 0, color.Gray{Y: v})
		}
	}
	return img
}

// startSim serves sim on a loopback listener until the test ends and
// returns the driver's transport spec for it.
func startSim(tb testing.TB, sim *Simulator) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(tb, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- sim.Serve(ctx, ln) }()
	tb.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			require.NoError(tb, err)
		case <-time.After(waitFor):
			tb.Error("Serve did not return after cancel")
		}
	})
	return "tcp:" + ln.Addr().String()
}

// newSim builds a simulator or fails the test.
func newSim(tb testing.TB, cfg Config) *Simulator {
	tb.Helper()
	if cfg.Name == "" {
		cfg.Name = "sim-1"
	}
	sim, err := New(cfg, testkit.Discard())
	require.NoError(tb, err)
	return sim
}

// startDriver runs the real driver against spec until the test ends.
func startDriver(tb testing.TB, spec string, format scandrv.Format) (*scandrv.Scanner, <-chan scandrv.Result) {
	tb.Helper()
	d, err := scandrv.New(scandrv.Config{Name: "drv", Transport: spec, Format: format,
		ReconnectMin: time.Millisecond, ReconnectMax: 20 * time.Millisecond}, testkit.Discard())
	require.NoError(tb, err)
	out := make(chan scandrv.Result, 64)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx, out) }()
	tb.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			require.NoError(tb, err)
		case <-time.After(waitFor):
			tb.Error("driver Run did not return after cancel")
		}
	})
	return d, out
}

// next awaits one result from the driver.
func next(tb testing.TB, out <-chan scandrv.Result) scandrv.Result {
	tb.Helper()
	select {
	case r := <-out:
		return r
	case <-time.After(waitFor):
		tb.Fatal("no result reached the driver")
		return scandrv.Result{}
	}
}

// asSeen is the result a driver with format f decodes from what the
// simulator reported: GS1 travels only with an identifier (or is assumed).
func asSeen(f scandrv.Format, r scandrv.Result) scandrv.Result {
	r.At = time.Time{}
	if !f.SymbologyID && !r.NoRead {
		r.GS1 = f.AssumeGS1
	}
	if r.NoRead {
		r.GS1 = false
	}
	return r
}

func withoutAt(r scandrv.Result) scandrv.Result {
	r.At = time.Time{}
	return r
}
