package plcsim

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/serialine/serialine/drivers/plc"
	"github.com/stretchr/testify/require"
)

// generous bounds every wait for something that should happen promptly; it
// guards against hangs and measures nothing.
const generous = 10 * time.Second

func newSim(tb testing.TB, cfg Config) *Sim {
	tb.Helper()
	s, err := New(cfg, slog.New(slog.DiscardHandler))
	require.NoError(tb, err)
	tb.Cleanup(func() { _ = s.Close() })
	return s
}

func started(tb testing.TB, cfg Config) *Sim {
	tb.Helper()
	s := newSim(tb, cfg)
	require.NoError(tb, s.Start("127.0.0.1:0"))
	return s
}

// recorder collects events on a channel.
func recorder(s *Sim) <-chan Event {
	ch := make(chan Event, 10_000)
	s.OnEvent(func(ev Event) { ch <- ev })
	return ch
}

func drain(ch <-chan Event) []string {
	var got []string
	for {
		select {
		case ev := <-ch:
			got = append(got, describe(ev))
		default:
			return got
		}
	}
}

func describe(ev Event) string {
	if ev.Kind == UnitAtStation {
		return fmt.Sprintf("%d@%s", ev.Unit, ev.Station)
	}
	return fmt.Sprintf("%d %s", ev.Unit, ev.Kind)
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		wantErr string
	}{
		{"manual defaults", Config{}, ""},
		{"auto with travel time", Config{Speed: 600, TravelTime: 2 * time.Second}, ""},
		{"negative speed", Config{Speed: -1}, "speed -1"},
		{"jitter too big", Config{Speed: 100, Jitter: 95}, "jitter 95"},
		{"travel and travel_time", Config{Speed: 100, Travel: 3, TravelTime: time.Second}, "set one, not both"},
		{"travel_time in manual mode", Config{TravelTime: time.Second}, "travel_time: needs speed"},
		{"negative travel", Config{Travel: -2}, "travel -2"},
		{"station beyond reject", Config{Travel: 4, Stations: []Station{{"camera", 5}}}, "stations[0].at 5"},
		{"station without name", Config{Stations: []Station{{"", 1}}}, "stations[0].name: missing"},
		{"station twice", Config{Stations: []Station{{"cam", 1}, {"cam", 2}}}, `stations[1].name "cam": used twice`},
		{"bad map", Config{Map: plc.RegisterMap{WordOrder: "sideways"}}, "word_order"},
		{"watchdog too short", Config{Watchdog: 10 * time.Millisecond}, "watchdog 10ms: must be 100ms to 1h"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.cfg, slog.New(slog.DiscardHandler))
			if tt.wantErr == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, tt.wantErr)
		})
	}
	s := newSim(t, Config{Speed: 600, TravelTime: 2 * time.Second})
	require.InDelta(t, 20, s.Config().Travel, 1e-9, "2 s at 10 units/s is 20 pitches")
	require.Equal(t, DefaultWatchdog, s.Config().Watchdog)
}

func TestConveyorManual(t *testing.T) {
	s := newSim(t, Config{Travel: 3, Stations: []Station{{"weigher", 3}, {"camera", 1}, {"printer", 0}}})
	events := recorder(s)

	u, ok := s.Trigger()
	require.True(t, ok)
	require.Equal(t, uint32(1), u)
	require.True(t, s.Advance(1))
	s.Trigger()
	require.True(t, s.Advance(2))
	require.Equal(t, []string{
		"1 entered", "1@printer",
		"1@camera",
		"2 entered", "2@printer",
		"2@camera", "1@weigher", "1 kept", // stations before the reject station at the same point
	}, drain(events))

	st := s.State()
	require.Equal(t, []uint32{2}, st.OnConveyor)
	require.Equal(t, uint32(2), st.Triggers)
	require.Equal(t, uint32(1), st.Good)
	require.InDelta(t, 3, st.Position, 1e-9)
}

func TestJamStopsConveyor(t *testing.T) {
	s := newSim(t, Config{Travel: 1})
	events := recorder(s)
	s.Trigger()
	require.NoError(t, s.SetFault(FaultJam, true))
	_, ok := s.Trigger()
	require.False(t, ok)
	require.False(t, s.Advance(5))
	st := s.State()
	require.False(t, st.Running)
	require.Equal(t, plc.AlarmJam, st.Alarms)
	require.Equal(t, []Fault{FaultJam}, st.Faults)
	require.Equal(t, []uint32{1}, st.OnConveyor, "a jammed conveyor carries nothing")

	require.NoError(t, s.SetFault(FaultJam, false))
	require.True(t, s.Advance(1))
	require.Equal(t, []string{"1 entered", "1 kept"}, drain(events))
	require.ErrorContains(t, s.SetFault("flood", true), `fault "flood": unknown`)
}

func TestHooksMayCallTheSimulator(t *testing.T) {
	// A line simulator jams the line when a unit reaches the weigher; the
	// call from inside the hook must not deadlock, and events stay in order.
	s := newSim(t, Config{Travel: 2, Stations: []Station{{"weigher", 1}}})
	var order []string
	s.OnEvent(func(ev Event) {
		order = append(order, describe(ev))
		if ev.Kind == UnitAtStation && ev.Unit == 2 {
			require.NoError(t, s.SetFault(FaultJam, true))
			_, ok := s.Trigger()
			require.False(t, ok)
			require.False(t, s.State().Running)
		}
	})
	for range 3 {
		s.Trigger()
		s.Advance(1)
	}
	// Unit 1 reaches the reject station in the same move that brings unit 2
	// to the weigher: hooks see a move after it happened, so it is kept.
	require.Equal(t, []string{"1 entered", "1@weigher", "2 entered", "2@weigher", "1 kept"}, order)
	require.Equal(t, []uint32{2}, s.State().OnConveyor)
}

func TestAutomaticMode(t *testing.T) {
	// 6000 units/min: a product every 10 ms; how fast is not asserted, only
	// that products come, in order, and reach the reject station.
	s := started(t, Config{Speed: 6000, Jitter: 30, Travel: 2})
	events := recorder(s)
	var entered []uint32
	kept := 0
	deadline := time.After(generous)
	for len(entered) < 20 || kept < 5 {
		select {
		case ev := <-events:
			switch ev.Kind {
			case UnitEntered:
				entered = append(entered, ev.Unit)
			case UnitKept:
				kept++
			}
		case <-deadline:
			t.Fatalf("only %d entered, %d kept", len(entered), kept)
		}
	}
	for i, u := range entered {
		require.Equal(t, uint32(i+1), u)
	}

	require.NoError(t, s.SetFault(FaultEStop, true))
	stopped := s.State()
	require.False(t, stopped.Running)
	require.NoError(t, s.SetFault(FaultEStop, false))
	// Once the e-stop is released, products come again.
	for {
		select {
		case ev := <-events:
			if ev.Kind == UnitEntered && ev.Unit > stopped.Triggers {
				return
			}
		case <-time.After(generous):
			t.Fatal("the line did not restart")
		}
	}
}

// mbap sends one raw Modbus TCP request and returns the response PDU
// (without the MBAP header), or the read error.
func mbap(tb testing.TB, c net.Conn, unit byte, pdu ...byte) ([]byte, error) {
	tb.Helper()
	req := []byte{0x12, 0x34, 0, 0}
	req = binary.BigEndian.AppendUint16(req, uint16(len(pdu)+1))
	req = append(req, unit)
	req = append(req, pdu...)
	if _, err := c.Write(req); err != nil {
		return nil, err
	}
	require.NoError(tb, c.SetReadDeadline(time.Now().Add(generous)))
	hdr := make([]byte, 7)
	if _, err := io.ReadFull(c, hdr); err != nil {
		return nil, err
	}
	require.Equal(tb, []byte{0x12, 0x34, 0, 0}, hdr[:4], "transaction and protocol ids echoed")
	require.Equal(tb, unit, hdr[6])
	resp := make([]byte, binary.BigEndian.Uint16(hdr[4:6])-1)
	_, err := io.ReadFull(c, resp)
	return resp, err
}

func dialSim(tb testing.TB, s *Sim) net.Conn {
	tb.Helper()
	c, err := net.Dial("tcp", s.Addr())
	require.NoError(tb, err)
	tb.Cleanup(func() { _ = c.Close() })
	return c
}

func TestModbusTCPFrames(t *testing.T) {
	s := started(t, Config{UnitID: 5, InitialCount: 0x00010002})
	c := dialSim(t, s)

	tests := []struct {
		name string
		unit byte
		pdu  []byte
		want []byte
	}{
		{"read trigger counter (FC04)", 5, []byte{0x04, 0, 0, 0, 2}, []byte{0x04, 4, 0, 1, 0, 2}},
		{"unit 255 is answered over TCP", 0xFF, []byte{0x04, 0, 0, 0, 2}, []byte{0x04, 4, 0, 1, 0, 2}},
		{"read coils (FC01): run request on, reject request off", 5, []byte{0x01, 0, 0, 0, 2}, []byte{0x01, 1, 0b10}},
		{"read running (FC02)", 5, []byte{0x02, 0, 0, 0, 1}, []byte{0x02, 1, 1}},
		{"write stack light (FC06)", 5, []byte{0x06, 0, 2, 0x01, 0x03}, []byte{0x06, 0, 2, 0x01, 0x03}},
		{"read holding 2-3 (FC03)", 5, []byte{0x03, 0, 2, 0, 2}, []byte{0x03, 4, 0x01, 0x03, 0, 0}},
		{"write reject target (FC16)", 5, []byte{0x10, 0, 0, 0, 2, 4, 0, 1, 0, 3}, []byte{0x10, 0, 0, 0, 2}},
		{"write run request off (FC15)", 5, []byte{0x0F, 0, 1, 0, 1, 1, 0}, []byte{0x0F, 0, 1, 0, 1}},
		{"unmapped address", 5, []byte{0x03, 0, 50, 0, 1}, []byte{0x83, 0x02}},
		{"read running past the map", 5, []byte{0x02, 0, 0, 0, 2}, []byte{0x82, 0x02}},
		{"invalid stack light", 5, []byte{0x06, 0, 2, 0, 4}, []byte{0x86, 0x03}},
		{"coil value other than FF00/0000", 5, []byte{0x05, 0, 1, 0x12, 0x34}, []byte{0x85, 0x03}},
		{"too many registers", 5, []byte{0x03, 0, 0, 0, 126}, []byte{0x83, 0x03}},
		{"short request", 5, []byte{0x03, 0, 0}, []byte{0x83, 0x03}},
		{"unknown function", 5, []byte{0x2B, 0x0E, 1, 0}, []byte{0xAB, 0x01}},
		{"other unit behind the gateway", 9, []byte{0x04, 0, 0, 0, 2}, []byte{0x84, 0x0B}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := mbap(t, c, tt.unit, tt.pdu...)
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}
	require.Equal(t, plc.StackRed|plc.StackBlink, s.StackLight())
	require.False(t, s.State().RunRequest)
}

func TestWriteAlarmWordResetsOnlyGoneCauses(t *testing.T) {
	s := started(t, Config{Travel: 1})
	c := dialSim(t, s)
	s.Trigger()
	s.Advance(1)
	// A reject for unit 1, which has gone: reject-missed is latched.
	for _, pdu := range [][]byte{{0x10, 0, 0, 0, 2, 4, 0, 0, 0, 1}, {0x05, 0, 0, 0xFF, 0}} {
		_, err := mbap(t, c, 1, pdu...)
		require.NoError(t, err)
	}
	require.NoError(t, s.SetFault(FaultLowAir, true))
	require.Equal(t, plc.AlarmRejectMissed|plc.AlarmLowAir, s.State().Alarms)

	_, err := mbap(t, c, 1, 0x06, 0, 3, 0, 0)
	require.NoError(t, err)
	require.Equal(t, plc.AlarmLowAir, s.State().Alarms, "low air persists, the missed reject is acknowledged")
}

func TestDisconnectFault(t *testing.T) {
	s := started(t, Config{})
	c := dialSim(t, s)
	_, err := mbap(t, c, 1, 0x04, 0, 0, 0, 2)
	require.NoError(t, err)
	require.Equal(t, 1, s.State().Clients)

	require.NoError(t, s.SetFault(FaultDisconnect, true))
	_, err = mbap(t, c, 1, 0x04, 0, 0, 0, 2)
	require.Error(t, err, "an open connection is dropped")

	refused := dialSim(t, s) // TCP accepts, the PLC hangs up at once
	_, err = mbap(t, refused, 1, 0x04, 0, 0, 0, 2)
	require.Error(t, err)

	require.NoError(t, s.SetFault(FaultDisconnect, false))
	again := dialSim(t, s)
	got, err := mbap(t, again, 1, 0x04, 0, 0, 0, 2)
	require.NoError(t, err)
	require.Equal(t, []byte{0x04, 4, 0, 0, 0, 0}, got)
}

func TestBadMBAPDropsClient(t *testing.T) {
	s := started(t, Config{})
	c := dialSim(t, s)
	_, err := c.Write([]byte{0, 1, 0, 0, 0xFF, 0xFF, 1}) // length 65535
	require.NoError(t, err)
	require.NoError(t, c.SetReadDeadline(time.Now().Add(generous)))
	_, err = c.Read(make([]byte, 1))
	require.ErrorIs(t, err, io.EOF)
}

func TestServeStopsWithContext(t *testing.T) {
	s := newSim(t, Config{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()

	// Serving: a request is answered.
	c, err := net.Dial("tcp", ln.Addr().String())
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	_, err = mbap(t, c, 1, 0x04, 0, 0, 0, 2)
	require.NoError(t, err)
	require.Equal(t, ln.Addr().String(), s.Addr())

	cancel()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(generous):
		t.Fatal("Serve did not return")
	}
	_, err = net.Dial("tcp", ln.Addr().String())
	require.Error(t, err, "the listener is closed")
}

func TestCloseIsFinal(t *testing.T) {
	s := started(t, Config{})
	c := dialSim(t, s)
	_, err := mbap(t, c, 1, 0x04, 0, 0, 0, 2) // accepted and served
	require.NoError(t, err)
	require.NoError(t, s.Close())
	require.NoError(t, c.SetReadDeadline(time.Now().Add(generous)))
	_, err = c.Read(make([]byte, 1))
	require.ErrorIs(t, err, io.EOF)
	require.Error(t, s.Start("127.0.0.1:0"))
	require.NoError(t, s.Close())
}

func TestCRC(t *testing.T) {
	// Modbus over serial line v1.02 §6.2.2 example: read 2 holding registers
	// at 0x006B from slave 0x11 ... the classic frame 11 03 00 6B 00 03 -> CRC 76 87.
	require.Equal(t, []byte{0x11, 0x03, 0x00, 0x6B, 0x00, 0x03, 0x76, 0x87}, appendCRC([]byte{0x11, 0x03, 0x00, 0x6B, 0x00, 0x03}))
	require.Equal(t, []byte{0x01, 0x04, 0x00, 0x00, 0x00, 0x02, 0x71, 0xCB}, appendCRC([]byte{0x01, 0x04, 0x00, 0x00, 0x00, 0x02}))
}

func TestPLCOwnedRegistersAreReadOnly(t *testing.T) {
	m := plc.DefaultRegisterMap()
	m.CounterTable = plc.HoldingRegisters
	m.TriggerCounter, m.GoodCounter, m.RejectedCounter = 10, 12, 14
	m.RunningTable, m.Running = plc.Coils, 8
	s := started(t, Config{Map: m})
	c := dialSim(t, s)
	for _, tt := range []struct {
		name string
		pdu  []byte
		want []byte
	}{
		{"read counter from holding", []byte{0x03, 0, 10, 0, 2}, []byte{0x03, 4, 0, 0, 0, 0}},
		{"write counter", []byte{0x10, 0, 10, 0, 2, 4, 0, 0, 0, 9}, []byte{0x90, 0x02}},
		{"write running coil", []byte{0x05, 0, 8, 0, 0}, []byte{0x85, 0x02}},
		{"read running coil", []byte{0x01, 0, 8, 0, 1}, []byte{0x01, 1, 1}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := mbap(t, c, 1, tt.pdu...)
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}
	require.Zero(t, s.State().Triggers)
}

func TestNewNeedsALogger(t *testing.T) {
	_, err := New(Config{}, nil)
	require.ErrorContains(t, err, "plc simulator: logger: missing")
}
