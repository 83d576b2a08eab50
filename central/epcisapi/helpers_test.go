package epcisapi_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/serialine/serialine/central/auth"
	"github.com/serialine/serialine/central/epcisapi"
	"github.com/serialine/serialine/central/store"
	"github.com/serialine/serialine/shared/conformance"
)

// The PostgreSQL server tests create their own database on, as in central/store.
const (
	envPostgres     = "SERIALINE_TEST_POSTGRES"
	envSkipPostgres = "SERIALINE_SKIP_POSTGRES"
	defaultPostgres = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
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

func sqliteDSN(tb testing.TB) string { return "sqlite:" + filepath.Join(tb.TempDir(), "central.db") }

// postgresDSN creates a database of its own and drops it afterwards.
func postgresDSN(tb testing.TB) string {
	tb.Helper()
	admin := os.Getenv(envPostgres)
	if admin == "" {
		admin = defaultPostgres
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		if os.Getenv(envSkipPostgres) == "1" {
			tb.Skipf("SKIPPED PostgreSQL half: %s=1 and %s is unreachable: %v", envSkipPostgres, admin, err)
		}
		tb.Fatalf("PostgreSQL is not reachable at %s (set %s, or %s=1 to skip): %v", admin, envPostgres, envSkipPostgres, err)
	}
	defer conn.Close(ctx)
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "serialine_test_" + hex.EncodeToString(b[:])
	_, err = conn.Exec(ctx, "CREATE DATABASE "+name)
	require.NoError(tb, err)
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, admin)
		if err != nil {
			tb.Errorf("drop test database %s: %v", name, err)
			return
		}
		defer c.Close(ctx)
		if _, err := c.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			tb.Errorf("drop test database %s: %v", name, err)
		}
	})
	cfg, err := pgx.ParseConfig(admin)
	require.NoError(tb, err)
	return strings.Replace(admin, "/"+cfg.Database+"?", "/"+name+"?", 1)
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
	s, err := store.Open(ctx, dsn, testLogger(tb))
	require.NoError(tb, err)
	tb.Cleanup(s.Close)
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
