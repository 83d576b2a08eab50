package epcisapi_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/serialine/serialine/central/auth"
	"github.com/serialine/serialine/central/epcisapi"
	"github.com/serialine/serialine/central/store"
	"github.com/serialine/serialine/central/store/storetest"
	"github.com/serialine/serialine/shared/conformance"
)

func testLogger(tb testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{tb}, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

type testWriter struct{ tb testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.tb.Helper()
	w.tb.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// env is the binding on a real store behind a real HTTP server on
// loopback, with a token per role.
type env struct {
	s      *store.Store
	srv    *httptest.Server
	tokens map[auth.Role]string
	ctx    context.Context
}

func newEnv(tb testing.TB, dsn string) *env {
	tb.Helper()
	ctx, cancel := context.WithTimeout(store.WithActor(context.Background(), "test"), 120*time.Second)
	tb.Cleanup(cancel)
	s := storetest.Open(tb, dsn, testLogger(tb))
	e := &env{s: s, tokens: map[auth.Role]string{}, ctx: ctx}
	mux := http.NewServeMux()
	mux.Handle(epcisapi.Prefix, epcisapi.New(epcisapi.Deps{Store: s}, testLogger(tb)))
	e.srv = httptest.NewServer(mux)
	tb.Cleanup(e.srv.Close)
	for _, r := range auth.Roles() {
		tok, _, err := auth.IssueToken(ctx, s, "user-"+string(r), r)
		require.NoError(tb, err)
		e.tokens[r] = tok
	}
	return e
}

type response struct {
	status int
	header http.Header
	body   []byte
}

// do sends a request as role ("" sends no token).
func (e *env) do(tb testing.TB, role auth.Role, method, path string, body []byte, header ...string) response {
	tb.Helper()
	var rd io.Reader
	if body != nil {
		rd = strings.NewReader(string(body))
	}
	r, err := http.NewRequestWithContext(e.ctx, method, e.srv.URL+path, rd)
	require.NoError(tb, err)
	if role != "" {
		r.Header.Set("Authorization", "Bearer "+e.tokens[role])
	}
	for i := 0; i+1 < len(header); i += 2 {
		r.Header.Set(header[i], header[i+1])
	}
	resp, err := e.srv.Client().Do(r)
	require.NoError(tb, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(tb, err)
	return response{status: resp.StatusCode, header: resp.Header, body: b}
}

// examplesDir is GS1's EPCIS 2.0 example set beside the project.
func examples(tb testing.TB, sub, pattern string) []string {
	tb.Helper()
	dirs := []string{"../../../shared/validators/epcis/examples"}
	if os.Getenv(conformance.EnvBin) != "" {
		dirs = append(dirs, filepath.Join(os.Getenv(conformance.EnvBin), "..", "epcis", "examples"))
	}
	for _, d := range dirs {
		files, _ := filepath.Glob(filepath.Join(d, sub, pattern))
		if len(files) > 0 {
			return files
		}
	}
	tb.Skipf("SKIPPED: GS1's EPCIS examples not found under %v", dirs)
	return nil
}

func writeTemp(tb testing.TB, name string, b []byte) string {
	tb.Helper()
	p := filepath.Join(tb.TempDir(), name)
	require.NoError(tb, os.WriteFile(p, b, 0o600))
	return p
}
