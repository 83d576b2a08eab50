package auth_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/serialine/serialine/central/auth"
	"github.com/serialine/serialine/central/store"
	"github.com/serialine/serialine/central/store/access"
	"github.com/serialine/serialine/central/store/storetest"
	"github.com/serialine/serialine/internal/testkit"
	"github.com/serialine/serialine/shared/httpjson"
)

func openStore(tb testing.TB) *store.Store {
	tb.Helper()
	return storetest.OpenSQLite(tb, testkit.Logger(tb))
}

// issue creates a token of role in s and returns its secret.
func issue(tb testing.TB, s *store.Store, name string, role auth.Role) (string, access.APIToken) {
	tb.Helper()
	tok, rec, err := auth.IssueToken(storetest.Context(tb), s, name, role)
	require.NoError(tb, err)
	return tok, rec
}

// decodeError reads an error response body and checks its shape.
func decodeError(tb testing.TB, resp *http.Response) httpjson.Error {
	tb.Helper()
	require.Equal(tb, "application/json; charset=utf-8", resp.Header.Get("Content-Type"))
	b, err := io.ReadAll(resp.Body)
	require.NoError(tb, err)
	var body httpjson.ErrorBody
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	require.NoError(tb, dec.Decode(&body), "body %s", b)
	require.NotEmpty(tb, body.Error.Code, "body %s", b)
	require.NotEmpty(tb, body.Error.Message, "body %s", b)
	return body.Error
}

func do(tb testing.TB, req *http.Request) *http.Response {
	tb.Helper()
	resp, err := http.DefaultClient.Do(req)
	require.NoError(tb, err)
	tb.Cleanup(func() { _ = resp.Body.Close() })
	return resp
}

func newRequest(tb testing.TB, method, url string, body io.Reader) *http.Request {
	tb.Helper()
	req, err := http.NewRequestWithContext(storetest.Context(tb), method, url, body)
	require.NoError(tb, err)
	return req
}
