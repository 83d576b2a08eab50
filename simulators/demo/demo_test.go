package demo_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/serialine/serialine/simulators/demo"
)

// buildBinaries builds central and the edge agent into a temporary folder.
func buildBinaries(tb testing.TB) string {
	tb.Helper()
	dir := tb.TempDir()
	cmd := exec.Command("go", "build", "-o", dir+"/", "github.com/serialine/serialine/central/cmd/serialine-central",
		"github.com/serialine/serialine/edge/cmd/serialine-edge")
	out, err := cmd.CombinedOutput()
	require.NoError(tb, err, "go build: %s", out)
	return dir
}

func TestDemoCommissions(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs central and the edge agent")
	}
	bin := buildBinaries(t)
	data := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	started := make(chan demo.Info, 1)
	done := make(chan error, 1)
	go func() {
		done <- demo.Run(ctx, demo.Config{DataDir: data, BinDir: bin, Fast: true, Speed: 600,
			Started: func(i demo.Info) { started <- i }}, io.Discard, slog.New(slog.NewTextHandler(io.Discard, nil)))
	}()
	var info demo.Info
	select {
	case info = <-started:
	case err := <-done:
		t.Fatalf("demo ended before starting: %v\ncentral log:\n%s\nedge log:\n%s", err, readLog(data, "central.log"), readLog(data, "edge.log"))
	}
	require.Len(t, info.PIDs, 2)

	// Poll central until the order shows commissioned units.
	deadline := time.Now().Add(90 * time.Second)
	var commissioned uint64
	for commissioned == 0 {
		require.True(t, time.Now().Before(deadline), "no commissioned units in time\nedge log:\n%s", readLog(data, "edge.log"))
		req, err := http.NewRequestWithContext(ctx, "GET", info.CentralURL+"api/v1/orders/"+info.Order, nil)
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+info.AdminToken)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		var o struct {
			Reconciliation struct {
				Commissioned uint64 `json:"commissioned"`
			} `json:"reconciliation"`
		}
		require.Equal(t, http.StatusOK, resp.StatusCode)
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&o))
		resp.Body.Close()
		commissioned = o.Reconciliation.Commissioned
		if commissioned == 0 {
			select {
			case err := <-done:
				t.Fatalf("demo ended: %v", err)
			case <-time.After(200 * time.Millisecond): // poll interval, not synchronisation
			}
		}
	}
	require.Positive(t, commissioned)

	cancel()
	require.NoError(t, <-done)
	for _, pid := range info.PIDs {
		err := syscall.Kill(pid, 0)
		require.True(t, errors.Is(err, syscall.ESRCH), "child %d still exists: %v", pid, err)
	}
	b, err := os.ReadFile(filepath.Join(data, "demo.json"))
	require.NoError(t, err)
	require.Contains(t, string(b), info.AdminToken)
}

func readLog(dir, name string) string {
	b, _ := os.ReadFile(filepath.Join(dir, name))
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}
