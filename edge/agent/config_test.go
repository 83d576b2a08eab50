package agent

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/serialine/serialine/drivers/scanner"
	"github.com/serialine/serialine/edge/station"
	"github.com/serialine/serialine/internal/testkit"
)

func TestShippedConfig(t *testing.T) {
	cfg, err := LoadConfig(testkit.RepoFile(t, "configs/edge.yaml"))
	require.NoError(t, err)
	require.Equal(t, "L1", cfg.Line)
	require.Equal(t, "tcp://127.0.0.1:1883", cfg.MQTT.Broker)
	require.Equal(t, 300, cfg.Printer.DPI)
	require.Equal(t, "\r\n", cfg.Scanner.Format.Terminator)
	require.Equal(t, scanner.GradeLetter, cfg.Scanner.Format.Grade)
	require.Equal(t, uint16(3), cfg.PLC.Map.Alarms)
	require.Equal(t, 10*time.Millisecond, cfg.PLC.PollInterval)
	require.Equal(t, [2]time.Duration{500 * time.Millisecond, 2 * time.Second}, [2]time.Duration{cfg.PLC.HeartbeatInterval, cfg.PLC.PLCHeartbeatTimeout})
	require.Equal(t, [2]uint16{4, 6}, [2]uint16{cfg.PLC.Map.EdgeHeartbeat, cfg.PLC.Map.PLCHeartbeat})
	require.False(t, cfg.PLC.NoHeartbeat)
	require.Equal(t, scanner.GradeC, cfg.Station.MinGrade)
	require.Equal(t, uint64(128), cfg.Pool.ReserveBlock)
	require.Equal(t, 500, cfg.Outbox.BatchMax)
	// The shipped file spells out the defaults.
	def := DefaultConfig()
	require.Equal(t, def.Station.PrinterToCamera, cfg.Station.PrinterToCamera)
	require.Equal(t, def.HTTP, cfg.HTTP)
	require.Equal(t, def.HTTPServer, cfg.HTTPServer)
	require.Empty(t, cfg.Operators)
	require.Equal(t, 10*time.Minute, cfg.UI.SessionIdle)
}

// goodHash is a well-formed pin_hash (PIN 1234, 1000 iterations).
const goodHash = "pbkdf2-sha256$1000$i4s9+7hazlX+AvUI0IESeg$qe2nGm/g2reB9KE0mld8Pwu3BXMGrpnn1dEhymJlZj0"

func TestBadConfigNamesTheKey(t *testing.T) {
	tests := []struct {
		name, yaml, want string
	}{
		{"empty", "", "empty"},
		{"unknown top key", "lines: L1\n", `unknown key "lines"`},
		{"unknown nested key", "scanner:\n  format:\n    prefx: x\n", `unknown key "scanner.format.prefx"`},
		{"unknown plc map key", "plc:\n  map:\n    alarm: 3\n", `unknown key "plc.map.alarm"`},
		{"unknown pool key", "pool:\n  reserve: 3\n", `unknown key "pool.reserve"`},
		{"the printer's layout comes from dpi, module_mm and text_lines", "printer:\n  layout:\n    dpmm: 12\n", `unknown key "printer.layout"`},
		{"unknown printer key beside the driver's", "printer:\n  timeout: 2s\n  time_out: 2s\n", `unknown key "printer.time_out"`},
		{"unknown case printer key", "packing:\n  printer:\n    transprt: tcp:127.0.0.1:9100\n", `unknown key "packing.printer.transprt"`},
		{"slow heartbeat", "plc:\n  heartbeat_interval: 1m\n", "heartbeat_interval 1m0s: must be more than 0 and at most 10s"},
		{"wrong type", "station:\n  fifo: lots\n", "station.fifo (line "},
		{"wrong duration", "status_interval: soon\n", "status_interval (line "},
		{"bad line id", "line: a/b\n", "line: line id"},
		{"no data dir", "data_dir: \"\"\n", "data_dir: missing"},
		{"bad http", "http: localhost\n", `http: "localhost" is not HOST:PORT`},
		{"log level", "log:\n  level: loud\n", `log.level: "loud": use debug, info, warn or error`},
		{"bad broker", "mqtt:\n  broker: 127.0.0.1:1883\n", "mqtt.broker: want tcp://"},
		{"two passwords", "mqtt:\n  password: a\n  password_file: /x\n", "mqtt.password_file"},
		{"bad dpi", "printer:\n  transport: tcp:127.0.0.1:9100\n  dpi: 250\n", "printer: dpi: must be 152, 203, 300 or 600, got 250"},
		{"printer transport", "printer:\n  transport: usb:1\n", `printer: printer "printer": transport`},
		{"scanner format", "scanner:\n  transport: tcp:127.0.0.1:9004\n  format:\n    grade: stars\n", "scanner:"},
		{"plc transport", "plc:\n  transport: udp:1\n", `plc: plc "plc"`},
		{"reject too close", "station:\n  printer_to_camera: 40\n  camera_to_reject: 1\n  jitter: 10\n", "station: camera_to_reject"},
		{"min grade", "station:\n  min_grade: F\n", "station: min_grade"},
		{"pool block", "pool:\n  reserve_block: 1\n", "pool: reserve_block"},
		{"pool refill", "pool:\n  low_water_minutes: 60\n  refill_minutes: 10\n", "pool: refill_minutes"},
		{"outbox window", "outbox:\n  batch_max: 100\n  window: 10\n", "outbox: window"},
		{"operator no name", "operators:\n  - name: \" \"\n    pin_hash: " + goodHash + "\n", "operators[0].name: missing"},
		{"operator twice", "operators:\n  - name: Ana\n    pin_hash: " + goodHash + "\n  - name: Ana\n    pin_hash: " + goodHash + "\n", `operators[1].name: "Ana" appears twice`},
		{"operator bad hash", "operators:\n  - name: Ana\n    pin_hash: \"1234\"\n", "operators[0].pin_hash (Ana): want pbkdf2-sha256$"},
		{"operator few iterations", "operators:\n  - name: Ana\n    pin_hash: " + strings.Replace(goodHash, "$1000$", "$10$", 1) + "\n", "operators[0].pin_hash (Ana): iterations"},
		{"operator bad role", "operators:\n  - name: Ana\n    pin_hash: " + goodHash + "\n    role: boss\n", `operators[0].role (Ana): must be operator, supervisor or qa, got "boss"`},
		{"operator role case", "operators:\n  - name: Ana\n    pin_hash: " + goodHash + "\n    role: QA\n", `operators[0].role (Ana): must be operator, supervisor or qa, got "QA"`},
		{"operator unknown key", "operators:\n  - name: Ana\n    pin: \"1234\"\n", `unknown key "operators[0].pin"`},
		{"ui negative", "ui:\n  session_idle: -1m\n", "ui.session_idle: must not be negative"},
	}
	base := "printer:\n  transport: tcp:127.0.0.1:9100\nscanner:\n  transport: tcp:127.0.0.1:9004\nplc:\n  transport: tcp:127.0.0.1:5020\n"
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			doc := tc.yaml
			if tc.name != "empty" {
				doc = mergeYAML(base, tc.yaml)
			}
			_, err := ParseConfig(strings.NewReader(doc))
			require.Error(t, err)
			require.ErrorContains(t, err, tc.want)
		})
	}
	_, err := ParseConfig(strings.NewReader(base))
	require.NoError(t, err, "the base document is valid")
	cfg, err := ParseConfig(strings.NewReader(base + "operators:\n  - name: Ana\n    pin_hash: " + goodHash +
		"\n  - name: Ben\n    pin_hash: " + goodHash + "\n    role: supervisor\n  - name: Cy\n    pin_hash: " + goodHash + "\n    role: qa\nui:\n  session_idle: 2m\n"))
	require.NoError(t, err, "operators and ui keys")
	require.Equal(t, []OperatorConfig{{Name: "Ana", PINHash: goodHash}, {Name: "Ben", PINHash: goodHash, Role: station.RoleSupervisor},
		{Name: "Cy", PINHash: goodHash, Role: station.RoleQA}}, cfg.Operators)
	require.Equal(t, station.RoleOperator, cfg.Operators[0].RoleOrDefault(), "no role: an operator")
	require.Equal(t, 2*time.Minute, cfg.UI.SessionIdle)
}

// mergeYAML puts the override's top-level sections in place of the base's.
func mergeYAML(base, over string) string {
	sections := func(doc string) (order []string, m map[string]string) {
		m = map[string]string{}
		var cur string
		for _, line := range strings.SplitAfter(doc, "\n") {
			if line == "" {
				continue
			}
			if !strings.HasPrefix(line, " ") {
				cur, _, _ = strings.Cut(line, ":")
				if _, ok := m[cur]; !ok {
					order = append(order, cur)
				}
				m[cur] = ""
			}
			m[cur] += line
		}
		return order, m
	}
	bo, bm := sections(base)
	oo, om := sections(over)
	for _, k := range oo {
		if _, ok := bm[k]; !ok {
			bo = append(bo, k)
		}
		if k == "printer" || k == "scanner" || k == "plc" {
			if !strings.Contains(om[k], "transport:") {
				om[k] += "  transport: " + map[string]string{"printer": "tcp:127.0.0.1:9100", "scanner": "tcp:127.0.0.1:9004", "plc": "tcp:127.0.0.1:5020"}[k] + "\n"
			}
		}
		bm[k] = om[k]
	}
	var b strings.Builder
	for _, k := range bo {
		b.WriteString(bm[k])
	}
	return b.String()
}
