package main

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"
)

// buildEdge builds serialine-edge into a temporary folder.
func buildEdge(tb testing.TB) string {
	tb.Helper()
	bin := filepath.Join(tb.TempDir(), "serialine-edge")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	require.NoError(tb, err, "go build: %s", out)
	return bin
}

// makeStore writes a bbolt store with a few thousand events in dir and
// returns its path and page size.
func makeStore(tb testing.TB, dir string) (string, int) {
	tb.Helper()
	path := filepath.Join(dir, "edge.db")
	db, err := bolt.Open(path, 0o600, nil)
	require.NoError(tb, err)
	for n := range 4 {
		require.NoError(tb, db.Update(func(tx *bolt.Tx) error {
			b, err := tx.CreateBucketIfNotExists([]byte("outbox"))
			if err != nil {
				return err
			}
			for i := range 1000 {
				seq := uint64(n*1000 + i + 1)
				if err := b.Put(binary.BigEndian.AppendUint64(nil, seq), fmt.Appendf(nil, `{"seq":%d,"type":"commissioned"}`, seq)); err != nil {
					return err
				}
			}
			return nil
		}))
	}
	ps := db.Info().PageSize
	require.NoError(tb, db.Close())
	return path, ps
}

// execEdge runs the program and returns its exit status, stdout and stderr.
func execEdge(tb testing.TB, bin string, args ...string) (int, string, string) {
	tb.Helper()
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return exit.ExitCode(), stdout.String(), stderr.String()
	}
	require.NoError(tb, err)
	return 0, stdout.String(), stderr.String()
}

func TestCheckCommand(t *testing.T) {
	bin := buildEdge(t)
	tests := []struct {
		name       string
		damage     func(tb testing.TB, path string, ps int)
		args       func(dir string) []string
		code       int
		wantOut    []string
		wantStderr string
	}{
		{"clean", func(testing.TB, string, int) {}, func(dir string) []string { return []string{"check", "--data", dir} }, 0,
			[]string{"meta page 0  transaction", "valid, in use", "bbolt        consistency check passed", "result       clean"}, ""},
		{"damaged", func(tb testing.TB, path string, ps int) { require.NoError(tb, os.Truncate(path, int64(3*ps))) },
			func(dir string) []string { return []string{"check", "--data", dir} }, 1,
			[]string{"result       DAMAGED", "the file ends after page 2", "it was cut short", "Move the whole data folder aside"}, ""},
		{"usage", func(testing.TB, string, int) {}, func(string) []string { return []string{"check"} }, 2,
			nil, "--data: missing"},
		{"no store", func(tb testing.TB, path string, _ int) { require.NoError(tb, os.Remove(path)) },
			func(dir string) []string { return []string{"check", "--data", dir} }, 2, nil, "no edge.db in"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path, ps := makeStore(t, dir)
			tt.damage(t, path, ps)
			code, out, stderr := execEdge(t, bin, tt.args(dir)...)
			require.Equal(t, tt.code, code, "stdout:\n%s\nstderr:\n%s", out, stderr)
			for _, w := range tt.wantOut {
				require.Contains(t, out, w)
			}
			require.Contains(t, stderr, tt.wantStderr)
		})
	}
}

// TestRunRefusesDamagedStore: a store cut short (which made bbolt die
// with SIGBUS) is refused by `serialine-edge run` with the damage and the
// recovery steps, and exit status 1.
func TestRunRefusesDamagedStore(t *testing.T) {
	bin := buildEdge(t)
	dir := t.TempDir()
	path, ps := makeStore(t, dir)
	require.NoError(t, os.Truncate(path, int64(4*ps)))
	code, out, stderr := execEdge(t, bin, "run", "--config", filepath.Join("..", "..", "..", "configs", "edge.yaml"),
		"--data", dir, "--http", "127.0.0.1:0", "--mqtt", "tcp://127.0.0.1:1")
	require.Equal(t, 1, code, "stdout:\n%s\nstderr:\n%s", out, stderr)
	require.Contains(t, stderr, "serialine-edge run: data_dir: "+path+" is damaged; the agent will not start on it")
	require.Contains(t, stderr, "the file ends after page 3")
	require.Contains(t, stderr, "mv "+dir+" "+dir+".damaged-")
	for _, crash := range []string{"panic", "SIGBUS", "goroutine "} {
		require.NotContains(t, stderr, crash)
	}
}
