package plc

import (
	"math"
	"testing"
	"time"

	"github.com/simonvetter/modbus"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"
)

func TestWordOrder(t *testing.T) {
	tests := []struct {
		order WordOrder
		v     uint32
		regs  [2]uint16
	}{
		{HighWordFirst, 0x12345678, [2]uint16{0x1234, 0x5678}},
		{LowWordFirst, 0x12345678, [2]uint16{0x5678, 0x1234}},
		{HighWordFirst, math.MaxUint32, [2]uint16{0xFFFF, 0xFFFF}},
		{LowWordFirst, 65536, [2]uint16{0, 1}},
		{"", 70000, [2]uint16{1, 4464}}, // unset means high word first
	}
	for _, tt := range tests {
		t.Run(string(tt.order), func(t *testing.T) {
			require.Equal(t, tt.regs, tt.order.Registers(tt.v))
			require.Equal(t, tt.v, tt.order.Uint32(tt.regs[:]))
		})
	}
}

func TestRegisterMapValidate(t *testing.T) {
	tests := []struct {
		name    string
		edit    func(*RegisterMap)
		wantErr string
	}{
		{"default", func(*RegisterMap) {}, ""},
		{"counters in holding, moved", func(m *RegisterMap) {
			m.CounterTable = HoldingRegisters
			m.TriggerCounter, m.GoodCounter, m.RejectedCounter = 10, 12, 14
		}, ""},
		{"counters in holding over reject target", func(m *RegisterMap) { m.CounterTable = HoldingRegisters },
			"reject_target (holding register 0-1) overlaps trigger_counter (holding register 0-1)"},
		{"32-bit counters overlapping by one word", func(m *RegisterMap) { m.GoodCounter = 1 },
			"good_counter (input register 1-2) overlaps trigger_counter (input register 0-1)"},
		{"running as coil on reject request", func(m *RegisterMap) { m.RunningTable = Coils },
			"overlaps"},
		{"running as coil elsewhere", func(m *RegisterMap) { m.RunningTable, m.Running = Coils, 5 }, ""},
		{"two coils on one address", func(m *RegisterMap) { m.RunRequest = 0 },
			"run_request (coil 0) overlaps reject_request (coil 0)"},
		{"stack light on alarms", func(m *RegisterMap) { m.StackLight = 3 }, "stack_light (holding register 3)"},
		{"edge heartbeat on alarms", func(m *RegisterMap) { m.EdgeHeartbeat = 3 }, "edge_heartbeat (holding register 3) overlaps alarms (holding register 3)"},
		{"plc heartbeat on a counter", func(m *RegisterMap) { m.PLCHeartbeat = 5 }, "plc_heartbeat (input register 5) overlaps rejected_counter (input register 4-5)"},
		{"plc heartbeat follows the counters to holding", func(m *RegisterMap) {
			m.CounterTable = HoldingRegisters
			m.TriggerCounter, m.GoodCounter, m.RejectedCounter, m.PLCHeartbeat = 10, 12, 14, 4
		}, "plc_heartbeat (holding register 4) overlaps edge_heartbeat (holding register 4)"},
		{"32-bit at the last address", func(m *RegisterMap) { m.RejectTarget = 65535 }, "reject_target: a 32-bit value needs two registers"},
		{"bad counter table", func(m *RegisterMap) { m.CounterTable = "coil" }, `counter_table "coil"`},
		{"bad running table", func(m *RegisterMap) { m.RunningTable = "input" }, `running_table "input"`},
		{"bad word order", func(m *RegisterMap) { m.WordOrder = "middle" }, `word_order "middle"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := DefaultRegisterMap()
			tt.edit(&m)
			err := m.Validate()
			if tt.wantErr == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, tt.wantErr)
		})
	}
	require.Equal(t, DefaultRegisterMap(), RegisterMap{}.WithDefaults(), "the zero map is the default map")
}

func TestRegisterMapYAMLKeepsDefaults(t *testing.T) {
	var cfg Config
	require.NoError(t, yaml.Unmarshal([]byte(`
name: line3-plc
transport: tcp:10.3.0.10:502
poll_interval: 5ms
map:
  trigger_counter: 100
  good_counter: 102
  rejected_counter: 104
  word_order: low_first
`), &cfg))
	want := DefaultRegisterMap()
	want.TriggerCounter, want.GoodCounter, want.RejectedCounter = 100, 102, 104
	want.WordOrder = LowWordFirst
	require.Equal(t, want, cfg.Map)
	require.Equal(t, 5*time.Millisecond, cfg.PollInterval)
	require.NoError(t, cfg.Validate())
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		wantErr string
		wantURL string
	}{
		{"tcp", Config{Name: "p", Transport: "tcp:10.0.0.9:502"}, "", "tcp://10.0.0.9:502"},
		{"rtu defaults", Config{Name: "p", Transport: "rtu:/dev/ttyUSB1"}, "", "rtu:///dev/ttyUSB1"},
		{"no name", Config{Transport: "tcp:10.0.0.9:502"}, "name: missing", ""},
		{"no transport", Config{Name: "p"}, "transport: missing", ""},
		{"udp", Config{Name: "p", Transport: "udp:10.0.0.9:502"}, `transport "udp:10.0.0.9:502"`, ""},
		{"tcp without port", Config{Name: "p", Transport: "tcp:10.0.0.9"}, "address", ""},
		{"rtu bad baud", Config{Name: "p", Transport: "rtu:/dev/ttyS0?baud=12345"}, "baud 12345", ""},
		{"rtu unit 248", Config{Name: "p", Transport: "rtu:/dev/ttyS0", UnitID: 248}, "unit_id 248", ""},
		{"tcp unit 255 ok", Config{Name: "p", Transport: "tcp:h:502", UnitID: 255}, "", "tcp://h:502"},
		{"negative poll", Config{Name: "p", Transport: "tcp:h:502", PollInterval: -1}, "poll_interval", ""},
		{"negative heartbeat", Config{Name: "p", Transport: "tcp:h:502", HeartbeatInterval: -time.Second}, "heartbeat_interval -1s: must be more than 0", ""},
		{"slow heartbeat", Config{Name: "p", Transport: "tcp:h:502", HeartbeatInterval: time.Minute}, "heartbeat_interval 1m0s", ""},
		{"plc heartbeat timeout", Config{Name: "p", Transport: "tcp:h:502", PLCHeartbeatTimeout: -1}, "plc_heartbeat_timeout", ""},
		{"bad map", Config{Name: "p", Transport: "tcp:h:502", Map: func() RegisterMap {
			m := DefaultRegisterMap()
			m.StackLight = 3
			return m
		}()}, `plc "p": map: alarms (holding register 3) overlaps stack_light (holding register 3)`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			cc, err := tt.cfg.WithDefaults().clientConfig()
			require.NoError(t, err)
			require.Equal(t, tt.wantURL, cc.URL)
		})
	}
}

func TestRTUDefaultsFollowModbusSerialLine(t *testing.T) {
	cc, err := Config{Name: "p", Transport: "rtu:/dev/ttyUSB1"}.WithDefaults().clientConfig()
	require.NoError(t, err)
	require.Equal(t, uint(19200), cc.Speed)
	require.Equal(t, modbus.PARITY_EVEN, cc.Parity)
	require.Equal(t, uint(8), cc.DataBits)
	require.Equal(t, uint(1), cc.StopBits)

	cc, err = Config{Name: "p", Transport: "rtu:/dev/ttyUSB1?baud=9600&parity=N&stopbits=2"}.WithDefaults().clientConfig()
	require.NoError(t, err)
	require.Equal(t, uint(9600), cc.Speed)
	require.Equal(t, modbus.PARITY_NONE, cc.Parity)
	require.Equal(t, uint(2), cc.StopBits)
}

func TestAlarmWord(t *testing.T) {
	tests := []struct {
		a    AlarmWord
		want string
	}{
		{0, "none"},
		{AlarmJam, "jam"},
		{AlarmEStop | AlarmLowAir, "e-stop|low-air"},
		{AlarmRejectMissed | 1<<15, "reject-missed|bit 15"},
		{AlarmEdgeWatchdog | AlarmJam, "jam|edge-watchdog"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			require.Equal(t, tt.want, tt.a.String())
		})
	}
	require.True(t, (AlarmJam | AlarmEStop).Has(AlarmJam))
	require.False(t, AlarmJam.Has(AlarmJam|AlarmEStop))
	require.Zero(t, AlarmStopsLine&AlarmRejectMissed, "a missed reject alone does not stop the line")
}

func TestStackLight(t *testing.T) {
	tests := []struct {
		s       StackLight
		want    string
		wantErr bool
	}{
		{StackOff, "off", false},
		{StackGreen, "green", false},
		{StackAmber | StackBlink, "amber blinking", false},
		{StackRed, "red", false},
		{4, "off (invalid 0x0004)", true},
		{StackRed | 1<<15, "red (invalid 0x8003)", true},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			require.Equal(t, tt.want, tt.s.String())
			if tt.wantErr {
				require.ErrorContains(t, tt.s.Validate(), "stack light")
			} else {
				require.NoError(t, tt.s.Validate())
			}
		})
	}
}
