package plcsim

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/creack/pty"
	"github.com/serialine/serialine/drivers/plc"
	"github.com/serialine/serialine/drivers/transport"
	"github.com/stretchr/testify/require"
)

// rtuBus serves s over a fresh pty pair and returns the slave's path (the
// client side, as a driver would open /dev/ttyUSB0).
func rtuBus(tb testing.TB, s *Sim) string {
	tb.Helper()
	master, slave, err := pty.Open()
	require.NoError(tb, err)
	path := slave.Name()
	require.NoError(tb, slave.Close())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.ServeRTU(ctx, master) }()
	tb.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			require.NoError(tb, err)
		case <-time.After(generous):
			tb.Error("ServeRTU did not stop")
		}
		_ = master.Close()
	})
	return path
}

// rtuClient opens the bus raw, through our own transport package.
func rtuClient(tb testing.TB, path string) *transport.Conn {
	tb.Helper()
	rwc, err := transport.Dial(context.Background(), transport.Config{Kind: "serial", Address: path, Baud: 19200, Parity: "E"})
	require.NoError(tb, err)
	tb.Cleanup(func() { _ = rwc.Close() })
	c := rwc.(*transport.Conn)
	require.NoError(tb, c.SetReadTimeout(generous))
	return c
}

func readFrame(tb testing.TB, c io.Reader, n int) []byte {
	tb.Helper()
	b := make([]byte, n)
	_, err := io.ReadFull(c, b)
	require.NoError(tb, err)
	return b
}

func TestRTUFraming(t *testing.T) {
	s := newSim(t, Config{UnitID: 1, InitialCount: 0x00030004})
	c := rtuClient(t, rtuBus(t, s))
	send := func(frame ...byte) {
		_, err := c.Write(frame)
		require.NoError(t, err)
	}

	// A frame with a bad CRC and one for unit 2 go unanswered; the good
	// request right behind them is the one answered.
	bad := appendCRC([]byte{1, 0x04, 0, 0, 0, 2})
	bad[len(bad)-1] ^= 0xFF
	send(bad...)
	send(appendCRC([]byte{2, 0x04, 0, 0, 0, 2})...)
	send(appendCRC([]byte{1, 0x04, 0, 0, 0, 2})...)
	require.Equal(t, appendCRC([]byte{1, 0x04, 4, 0, 3, 0, 4}), readFrame(t, c, 9))

	// A broadcast write is carried out without an answer.
	send(appendCRC([]byte{0, 0x06, 0, 2, 0, 2})...)
	send(appendCRC([]byte{1, 0x03, 0, 2, 0, 1})...)
	require.Equal(t, appendCRC([]byte{1, 0x03, 2, 0, 2}), readFrame(t, c, 7))
	require.Equal(t, plc.StackAmber, s.StackLight())

	// FC16 with its byte count.
	send(appendCRC([]byte{1, 0x10, 0, 0, 0, 2, 4, 0, 3, 0, 4})...)
	require.Equal(t, appendCRC([]byte{1, 0x10, 0, 0, 0, 2}), readFrame(t, c, 8))

	// An unknown function: its end is found by silence, then it is refused.
	send(appendCRC([]byte{1, 0x2B, 0x0E, 1, 0})...)
	require.Equal(t, appendCRC([]byte{1, 0xAB, 0x01}), readFrame(t, c, 5))

	// Exceptions travel too.
	send(appendCRC([]byte{1, 0x03, 0, 99, 0, 1})...)
	require.Equal(t, appendCRC([]byte{1, 0x83, 0x02}), readFrame(t, c, 5))
}

func TestRTUStopsOnClose(t *testing.T) {
	s, err := New(Config{}, slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	master, slave, err := pty.Open()
	require.NoError(t, err)
	t.Cleanup(func() { _ = master.Close(); _ = slave.Close() })
	done := make(chan error, 1)
	go func() { done <- s.ServeRTU(context.Background(), master) }()

	// Once a request is answered, ServeRTU is surely running.
	c := rtuClient(t, slave.Name())
	_, err = c.Write(appendCRC([]byte{1, 0x04, 0, 0, 0, 2}))
	require.NoError(t, err)
	readFrame(t, c, 9)
	require.NoError(t, s.Close())
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(generous):
		t.Fatal("ServeRTU did not return after Close")
	}
	require.Error(t, s.ServeRTU(context.Background(), master), "a closed simulator serves nothing")
}

func TestRTUClientComesAndGoes(t *testing.T) {
	// With nobody holding the slave open a pty master reads EIO; the
	// simulator must wait for the next client rather than stop.
	s := newSim(t, Config{})
	path := rtuBus(t, s)
	for i := range 3 {
		c := rtuClient(t, path)
		_, err := c.Write(appendCRC([]byte{1, 0x04, 0, 0, 0, 2}))
		require.NoError(t, err)
		require.Equal(t, appendCRC([]byte{1, 0x04, 4, 0, 0, 0, byte(i)}), readFrame(t, c, 9), "client %d", i)
		require.NoError(t, c.Close())
		s.Trigger()
	}
}
