package main

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestServiceAndVersionCommands runs the built program: `service install`
// checks the configuration with run's own flags before anything else, and
// off Windows points to the systemd unit.
func TestServiceAndVersionCommands(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("off-Windows answers; edge/service tests the Windows side's logic")
	}
	bin := buildEdge(t)
	example := filepath.Join("..", "..", "..", "configs", "edge.yaml")
	bad := filepath.Join(t.TempDir(), "edge.yaml")
	b, err := os.ReadFile(example)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(bad, []byte(strings.Replace(string(b), "line: L1", "line: L/1", 1)), 0o600))
	logFile := filepath.Join(t.TempDir(), "edge.log")

	for _, tc := range []struct {
		name       string
		args       []string
		code       int
		wantStdout string
		wantStderr string
	}{
		{"version", []string{"version"}, 0, "serialine-edge devel", ""},
		{"service help", []string{"service", "help"}, 0, "install [--name NAME]", ""},
		{"install checks the config", []string{"service", "install", "--log", logFile, "--config", bad}, 2, "",
			"serialine-edge service install: the service would not start: config " + bad + `: line: line id "L/1"`},
		{"install checks run's flags", []string{"service", "install", "--log", logFile, "--config", example, "--http", "nope"}, 2, "",
			"the service would not start: http: "},
		{"install off Windows", []string{"service", "install", "--log", logFile, "--config", example}, 1, "",
			"service commands are for Windows; on Linux use the systemd unit in deploy/systemd"},
		{"stop off Windows", []string{"service", "stop"}, 1, "", "serialine-edge service stop: service commands are for Windows"},
		{"unknown service command", []string{"service", "restart"}, 2, "", `serialine-edge service restart: unknown command`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, stderr := execEdge(t, bin, tc.args...)
			require.Equal(t, tc.code, code, "stdout:\n%s\nstderr:\n%s", out, stderr)
			require.Contains(t, out, tc.wantStdout)
			require.Contains(t, stderr, tc.wantStderr)
		})
	}
	_, err = os.Stat(logFile)
	require.ErrorIs(t, err, os.ErrNotExist, "nothing was written off Windows")
}
