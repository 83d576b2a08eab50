package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/serialine/serialine/drivers/printer"
	"github.com/serialine/serialine/drivers/zpl"
	"github.com/serialine/serialine/simulators/line"
)

const (
	shippedConfig = "../../../configs/sim-line.yaml"
	waitLong      = 30 * time.Second
)

// syncBuffer is a bytes.Buffer safe for the logger and the test at once.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestRunUsageErrors(t *testing.T) {
	cases := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"no command", nil, exitUsage, "usage: serialine-sim"},
		{"unknown command", []string{"fly"}, exitUsage, `unknown command "fly"`},
		{"demo needs central and edge", []string{"demo"}, exitUsage, "needs serialine-central and serialine-edge"},
		{"bad flag", []string{"line", "--colour", "red"}, exitUsage, "flag provided but not defined: -colour"},
		{"stray argument", []string{"line", "--config", shippedConfig, "extra"}, exitUsage, `unexpected argument "extra"`},
		{"missing config", []string{"line", "--config", "nope.yaml"}, exitUsage, "nope.yaml"},
		{"speed flag out of range", []string{"line", "--config", shippedConfig, "--speed", "0"}, exitUsage, "speed: must be between 1 and 100000 units/min, got 0"},
		{"bad printer flag", []string{"line", "--config", shippedConfig, "--printer", "lpt1"}, exitUsage, "printer.listen: must be tcp:HOST:PORT or pty"},
		{"bad log level", []string{"line", "--config", shippedConfig, "--log-level", "loud"}, exitUsage, "--log-level"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr syncBuffer
			code := run(context.Background(), tc.args, &stdout, &stderr)
			require.Equal(t, tc.code, code)
			require.Contains(t, stderr.String(), tc.want)
		})
	}
	var stdout, stderr syncBuffer
	require.Equal(t, exitOK, run(context.Background(), []string{"help"}, &stdout, &stderr))
	require.Contains(t, stdout.String(), "line")
}

// TestRunLine runs `serialine-sim line` in-process with flags overriding the
// shipped configuration, prints one label through the printer it serves,
// and stops it as SIGINT would.
func TestRunLine(t *testing.T) {
	logPath := filepath.Join(t.TempDir(), "print.log")
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	outR, outW := io.Pipe()
	var stderr syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"line", "--config", shippedConfig,
			"--printer", "tcp:127.0.0.1:0", "--scanner", "pty", "--plc", "127.0.0.1:0",
			"--http", "127.0.0.1:0", "--speed", "6000", "--fast", "--print-log", logPath}, outW, &stderr)
		_ = outW.Close()
	}()
	lines := make(chan string, 16)
	go func() {
		sc := bufio.NewScanner(outR)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	next := func() string {
		select {
		case l, ok := <-lines:
			require.True(t, ok, "stdout closed; stderr:\n%s", stderr.String())
			return l
		case <-time.After(waitLong):
			t.Fatalf("no output within %v; stderr:\n%s", waitLong, stderr.String())
			return ""
		}
	}

	summary := next()
	require.Contains(t, summary, "line L1 (fast mode) at 6000 units/min: printer tcp:127.0.0.1:")
	require.Contains(t, summary, "| scanner serial:/dev/")
	_, web, ok := strings.Cut(summary, "| web ")
	require.True(t, ok, summary)
	require.Contains(t, stderr.String(), "line simulator started")

	status := func() line.Status {
		resp, err := http.Get(web + "api/status")
		require.NoError(t, err)
		defer resp.Body.Close()
		var st line.Status
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&st))
		return st
	}
	st := status()
	require.Equal(t, 6000, st.Speed)
	require.True(t, st.Fast)
	require.True(t, strings.HasPrefix(st.Devices.PLC, "tcp:127.0.0.1:"), st.Devices.PLC)

	p, err := printer.New(printer.Config{Name: "edge-printer", Transport: st.Devices.Printer, Layout: zpl.DefaultLayout(12)}, slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	t.Cleanup(func() { _ = p.Close() })
	pctx, pcancel := context.WithTimeout(context.Background(), waitLong)
	defer pcancel()
	require.NoError(t, p.Connect(pctx))
	require.NoError(t, p.Print(pctx, zpl.Fields{Data: "010950600013435217271231" + "10LOT1\x1d21SN1"}))
	require.Eventually(t, func() bool { return status().Counters.Printed == 1 }, waitLong, 5*time.Millisecond)

	cancel() // what SIGINT does in main
	select {
	case code := <-done:
		require.Equal(t, exitOK, code, stderr.String())
	case <-time.After(waitLong):
		t.Fatal("run did not return after the stop")
	}
	require.Contains(t, next(), "line L1 stopped: triggers ")
	b, err := os.ReadFile(logPath)
	require.NoError(t, err)
	require.Equal(t, 1, strings.Count(string(b), "\n"))
	require.Contains(t, string(b), `"data":"(01)09506000134352(17)271231(10)LOT1(21)SN1"`)
}
