package testkit

import (
	"bufio"
	"encoding/json"
	"os"
	"testing"

	"github.com/serialine/serialine/shared/gs1"
	"github.com/stretchr/testify/require"
)

// PrintLog reads a simulated printer's print log (one JSON object a line,
// {"data": …} or {"raw": …} for what is not GS1) and returns the serials
// (AI 21) printed, in order. Every line must be GS1 data; when want is given,
// every label must also carry each of its AIs with that value.
func PrintLog(tb testing.TB, path string, want map[string]string) []string {
	tb.Helper()
	f, err := os.Open(path)
	require.NoError(tb, err)
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var e struct {
			Data string  `json:"data"`
			Raw  *string `json:"raw"`
		}
		require.NoError(tb, json.Unmarshal(sc.Bytes(), &e))
		require.Nil(tb, e.Raw, "printed data that is not GS1: %s", sc.Text())
		es, err := gs1.Parse(e.Data)
		require.NoError(tb, err)
		s, ok := es.Get("21")
		require.True(tb, ok, "no serial (21) in %q", e.Data)
		for ai, v := range want {
			got, ok := es.Get(ai)
			require.True(tb, ok, "(%s) is not printed in %q", ai, e.Data)
			require.Equal(tb, v, got, "(%s) in %q", ai, e.Data)
		}
		out = append(out, s)
	}
	require.NoError(tb, sc.Err())
	return out
}
