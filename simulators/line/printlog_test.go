package line

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestPrintLog(t *testing.T) {
	path := filepath.Join(t.TempDir(), "print.log")
	require.NoError(t, os.WriteFile(path, []byte(`{"at":"2026-01-01T00:00:00Z","data":"(01)09506000134352"}`+"\n"), 0o644))
	p, err := OpenPrintLog(path)
	require.NoError(t, err)
	at := time.Date(2026, 11, 25, 14, 30, 0, 123456789, time.UTC)
	cases := []struct {
		data      string
		wantData  string
		wantRaw   string
		wantError string
	}{
		{"01095060001343521727133110ABC", "", "01095060001343521727133110ABC", "(17)"},
		{"010950600013435217271231" + "10ABC\x1d21X1", "(01)09506000134352(17)271231(10)ABC(21)X1", "", ""},
		{"]d2010950600013435221Y2", "(01)09506000134352(21)Y2", "", ""},
		{"HELLO", "", "HELLO", "AI"},
		{"", "", "", "no element strings"},
	}
	for _, tc := range cases {
		require.NoError(t, p.Append(at, tc.data))
	}
	require.Equal(t, len(cases), p.Lines())
	require.NoError(t, p.Close())
	require.NoError(t, p.Close())
	require.Error(t, p.Append(at, "x"), "append after close")

	entries := readPrintLog(t, path)
	require.Len(t, entries, len(cases)+1, "appends to what the file held")
	for i, tc := range cases {
		e := entries[i+1]
		require.Equal(t, "2026-11-25T14:30:00.123456789Z", e.At)
		require.Equal(t, tc.wantData, e.Data, "case %d", i)
		if tc.wantError == "" {
			require.Nil(t, e.Raw, "case %d", i)
			require.Empty(t, e.Error)
		} else {
			require.NotNil(t, e.Raw, "case %d", i)
			require.Equal(t, tc.wantRaw, *e.Raw, "case %d", i)
			require.Contains(t, e.Error, tc.wantError, "case %d", i)
		}
	}
}

func TestPrintLogFlushesWhileRunning(t *testing.T) {
	t.Parallel() // it waits for the one-second flush
	path := filepath.Join(t.TempDir(), "print.log")
	p, err := OpenPrintLog(path)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, p.Close()) })
	require.NoError(t, p.Append(time.Now(), "0109506000134352"))
	// The background flush writes it out without a Close.
	require.Eventually(t, func() bool {
		b, err := os.ReadFile(path)
		return err == nil && len(b) > 0
	}, waitLong, 10*time.Millisecond)
	require.Len(t, readPrintLog(t, path), 1)
}

func TestPrintLogBadPath(t *testing.T) {
	_, err := OpenPrintLog(filepath.Join(t.TempDir(), "missing", "print.log"))
	require.ErrorContains(t, err, "print log")
}
