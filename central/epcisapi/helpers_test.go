package epcisapi_test

import (
	"context"
	"encoding/json"
	"io"
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
	"github.com/serialine/serialine/central/store/sqldb"
	"github.com/serialine/serialine/central/store/storetest"
	"github.com/serialine/serialine/internal/testkit"
)

// env is the binding on a real store behind a real HTTP server on
// loopback, with a token per role.
type env struct {
	s      *store.Store
	h      *epcisapi.Handler
	srv    *httptest.Server
	tokens map[auth.Role]string
	ctx    context.Context
}

func newEnv(tb testing.TB, dsn string, tweak ...func(*epcisapi.Deps)) *env {
	tb.Helper()
	ctx, cancel := context.WithTimeout(sqldb.WithActor(context.Background(), "test"), 120*time.Second)
	tb.Cleanup(cancel)
	s := storetest.Open(tb, dsn, testkit.Logger(tb))
	return serve(tb, ctx, s, tweak...)
}

// serve runs the binding on s (again, for a restart).
func serve(tb testing.TB, ctx context.Context, s *store.Store, tweak ...func(*epcisapi.Deps)) *env {
	tb.Helper()
	e := &env{s: s, tokens: map[auth.Role]string{}, ctx: ctx}
	deps := epcisapi.Deps{Events: s.Repository, Tokens: s}
	for _, f := range tweak {
		f(&deps)
	}
	h, err := epcisapi.New(deps, testkit.Logger(tb))
	require.NoError(tb, err)
	e.h = h
	require.NoError(tb, e.h.Start(ctx))
	mux := http.NewServeMux()
	mux.Handle(epcisapi.Prefix, e.h)
	e.srv = httptest.NewServer(mux)
	tb.Cleanup(func() { e.stop(tb) })
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

// stop stops the server and the binding (idempotent).
func (e *env) stop(tb testing.TB) {
	tb.Helper()
	if e.srv == nil {
		return
	}
	e.srv.Close()
	require.NoError(tb, e.h.Close(context.Background()))
	e.srv = nil
}

// capture posts a document, checks the 202 and its Location, and follows
// the capture job until it has finished.
func (e *env) capture(tb testing.TB, role auth.Role, body []byte, header ...string) epcisapi.CaptureJob {
	tb.Helper()
	r := e.do(tb, role, "POST", "/epcis/capture", body, header...)
	require.Equal(tb, http.StatusAccepted, r.status, "%s", r.body)
	loc := r.header.Get("Location")
	require.True(tb, strings.HasPrefix(loc, "/epcis/capture/"), "Location %q", loc)
	return e.job(tb, loc)
}

// job polls a capture job (its state is the server's) until it finished.
func (e *env) job(tb testing.TB, loc string) epcisapi.CaptureJob {
	tb.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		r := e.do(tb, auth.RoleAuditor, "GET", loc, nil)
		require.Equal(tb, http.StatusOK, r.status, "%s", r.body)
		var j epcisapi.CaptureJob
		require.NoError(tb, json.Unmarshal(r.body, &j))
		if !j.Running {
			return j
		}
		require.True(tb, time.Now().Before(deadline), "capture job %s still running after a minute", loc)
		time.Sleep(10 * time.Millisecond)
	}
}

// examplesDir is GS1's EPCIS 2.0 example set beside the project.
func examples(tb testing.TB, sub, pattern string) []string {
	tb.Helper()
	dirs := []string{"../../../shared/validators/epcis/examples"}
	if os.Getenv(testkit.EnvValidatorsBin) != "" {
		dirs = append(dirs, filepath.Join(os.Getenv(testkit.EnvValidatorsBin), "..", "epcis", "examples"))
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
