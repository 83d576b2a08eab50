package testkit

import (
	"bytes"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/stretchr/testify/require"
)

// RepoFile returns the path of rel (slash-separated, from the module root),
// wherever the test runs from.
func RepoFile(tb testing.TB, rel string) string {
	tb.Helper()
	_, here, _, ok := runtime.Caller(0)
	require.True(tb, ok, "no caller information")
	return filepath.Join(filepath.Dir(here), "..", "..", filepath.FromSlash(rel))
}

// WriteTemp writes b to a file called name in the test's temporary folder
// and returns its path.
func WriteTemp(tb testing.TB, name string, b []byte) string {
	tb.Helper()
	p := filepath.Join(tb.TempDir(), name)
	require.NoError(tb, os.WriteFile(p, b, 0o600))
	return p
}

// WritePNG encodes img as PNG at path.
func WritePNG(tb testing.TB, path string, img image.Image) {
	tb.Helper()
	var buf bytes.Buffer
	require.NoError(tb, png.Encode(&buf, img))
	require.NoError(tb, os.WriteFile(path, buf.Bytes(), 0o644))
}

// TempPNG writes img as PNG called name in the test's temporary folder and
// returns its path.
func TempPNG(tb testing.TB, name string, img image.Image) string {
	tb.Helper()
	p := filepath.Join(tb.TempDir(), name)
	WritePNG(tb, p, img)
	return p
}
