package line

import (
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/serialine/serialine/drivers/plc"
	"github.com/serialine/serialine/drivers/scanner"
	"github.com/serialine/serialine/internal/testkit"
)

func TestShippedConfigLoads(t *testing.T) {
	cfg, err := LoadConfig(testkit.RepoFile(t, "configs/sim-line.yaml"))
	require.NoError(t, err)
	require.Equal(t, "L1", cfg.Line)
	require.Equal(t, 300, cfg.Speed)
	require.Equal(t, "tcp:127.0.0.1:9100", cfg.Printer.Listen)
	require.Equal(t, 300, cfg.Printer.DPI)
	require.Equal(t, "\r\n", cfg.Scanner.Format.Terminator)
	require.Equal(t, "\x1d", cfg.Scanner.Format.GS)
	require.Equal(t, scanner.GradeLetter, cfg.Scanner.Format.Grade)
	require.Equal(t, plc.DefaultRegisterMap(), cfg.PLC.Map)
	require.Equal(t, uint8(1), cfg.PLC.UnitID)
	require.Equal(t, "127.0.0.1:0", cfg.HTTP)
	require.Equal(t, Travel{PrintWindow: 2, PrinterToCamera: 4, CameraToReject: 3}, cfg.Travel)
	require.Equal(t, PrinterFaults{}, cfg.Printer.Faults)
}

// TestShippedConfigCommentsEveryKey checks that each key line of the shipped
// file carries a comment, on the line or just above it.
func TestShippedConfigCommentsEveryKey(t *testing.T) {
	b, err := os.ReadFile(testkit.RepoFile(t, "configs/sim-line.yaml"))
	require.NoError(t, err)
	lines := strings.Split(string(b), "\n")
	for i, ln := range lines {
		trim := strings.TrimSpace(ln)
		if trim == "" || strings.HasPrefix(trim, "#") || !strings.Contains(trim, ":") {
			continue
		}
		key := strings.SplitN(trim, ":", 2)[0]
		commented := strings.Contains(ln, " # ") || (i > 0 && strings.HasPrefix(strings.TrimSpace(lines[i-1]), "#"))
		section := strings.HasSuffix(trim, ":") // printer:, faults:, ... are explained by their keys
		require.True(t, commented || section, "line %d: key %q has no comment", i+1, key)
	}
}

func TestConfigDefaultsWhenKeysLeftOut(t *testing.T) {
	cfg, err := ParseConfig(strings.NewReader("line: L7\nspeed: 1200\n"))
	require.NoError(t, err)
	want := DefaultConfig()
	want.Line, want.Speed = "L7", 1200
	require.Equal(t, want, cfg)
}

func TestBadConfigNamesTheKey(t *testing.T) {
	base := func(extra string) string { return "line: L1\n" + extra }
	cases := []struct {
		name, yaml, want string
	}{
		{"unknown top-level key", base("sped: 100\n"), `unknown key "sped"`},
		{"unknown nested key", base("printer:\n  dpii: 300\n"), `unknown key "printer.dpii"`},
		{"unknown format key", base("scanner:\n  format:\n    prefx: x\n"), `unknown key "scanner.format.prefx"`},
		{"unknown map key", base("plc:\n  map:\n    trigger: 3\n"), `unknown key "plc.map.trigger"`},
		{"speed zero", base("speed: 0\n"), "speed: must be between 1 and 100000 units/min, got 0"},
		{"speed too high", base("speed: 100001\n"), "speed: must be between 1 and 100000 units/min, got 100001"},
		{"speed not a number", base("speed: fast\n"), "speed (line 2): cannot unmarshal"},
		{"empty line id", "line: ''\n", "line: must name the line"},
		{"jitter", base("jitter: 60\n"), "jitter: must be between 0 and 50"},
		{"print window zero", base("travel:\n  print_window: 0\n"), "travel.print_window: must be more than 0"},
		{"camera before window ends", base("travel:\n  print_window: 5\n  printer_to_camera: 4\n"), "travel.print_window: must not exceed travel.printer_to_camera"},
		{"negative camera_to_reject", base("travel:\n  camera_to_reject: -1\n"), "travel.camera_to_reject"},
		{"printer listen", base("printer:\n  listen: 127.0.0.1:9100\n"), "printer.listen: must be tcp:HOST:PORT or pty"},
		{"printer port", base("printer:\n  listen: tcp:127.0.0.1:99999\n"), `printer.listen: "127.0.0.1:99999": port "99999" is not a number from 0 to 65535`},
		{"printer dpi", base("printer:\n  dpi: 200\n"), "printer.dpi: must be 152, 203, 300 or 600, got 200"},
		{"printer smudge", base("printer:\n  faults:\n    smudge: 1.5\n"), "printer.faults.smudge"},
		{"printer slow", base("printer:\n  faults:\n    slow_ms: -1\n"), "printer.faults.slow_ms"},
		{"scanner listen", base("scanner:\n  listen: serial:/dev/ttyS0\n"), "scanner.listen"},
		{"scanner terminator", base("scanner:\n  format:\n    terminator: END\n"), "scanner.format: terminator"},
		{"scanner grade", base("scanner:\n  format:\n    grade: stars\n"), "scanner.format: grade"},
		{"scanner no-read rate", base("scanner:\n  faults:\n    no_read_rate: 2\n"), "scanner.faults.no_read_rate"},
		{"plc listen", base("plc:\n  listen: nowhere\n"), `plc.listen: "nowhere" is not HOST:PORT`},
		{"plc unit id", base("plc:\n  unit_id: 0\n"), "plc.unit_id: must be between 1 and 247"},
		{"plc map overlap", base("plc:\n  map:\n    good_counter: 1\n"), "plc.map: good_counter"},
		{"plc word order", base("plc:\n  map:\n    word_order: middle\n"), "plc.map: word_order"},
		{"http", base("http: localhost\n"), `http: "localhost" is not HOST:PORT`},
		{"log format", base("log:\n  format: xml\n"), `log.format: "xml": use text or json`},
		{"labels kept", base("labels_kept: 0\n"), "labels_kept: must be between 1 and 200"},
		{"empty file", "", "empty"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseConfig(strings.NewReader(tc.yaml))
			require.Error(t, err)
			require.Contains(t, err.Error(), tc.want)
		})
	}
}

func TestParseListen(t *testing.T) {
	cases := []struct {
		spec string
		want Listen
		err  string
	}{
		{"pty", Listen{PTY: true}, ""},
		{"tcp:127.0.0.1:9100", Listen{Addr: "127.0.0.1:9100"}, ""},
		{"tcp:127.0.0.1:0", Listen{Addr: "127.0.0.1:0"}, ""},
		{"tcp::9100", Listen{}, "has no host"},
		{"udp:127.0.0.1:1", Listen{}, "must be tcp:HOST:PORT or pty"},
		{"", Listen{}, "must be tcp:HOST:PORT or pty"},
	}
	for _, tc := range cases {
		t.Run(tc.spec, func(t *testing.T) {
			got, err := ParseListen(tc.spec)
			if tc.err != "" {
				require.ErrorContains(t, err, tc.err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
			require.Equal(t, tc.spec, got.String())
		})
	}
}
