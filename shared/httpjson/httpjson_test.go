package httpjson_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/serialine/serialine/shared/httpjson"
)

func TestWrite(t *testing.T) {
	rec := httptest.NewRecorder()
	httpjson.Write(rec, http.StatusCreated, map[string]string{"name": "<b>Aspirin & co</b>"})
	require.Equal(t, http.StatusCreated, rec.Code)
	require.Equal(t, "application/json; charset=utf-8", rec.Header().Get("Content-Type"))
	require.Equal(t, "nosniff", rec.Header().Get("X-Content-Type-Options"))
	require.Equal(t, "no-store", rec.Header().Get("Cache-Control"))
	// Data, not markup: HTML characters go as they are.
	require.Equal(t, `{"name":"<b>Aspirin & co</b>"}`+"\n", rec.Body.String())
}

func TestWriteError(t *testing.T) {
	rec := httptest.NewRecorder()
	httpjson.WriteError(rec, http.StatusUnprocessableEntity, httpjson.Error{Code: "invalid", Message: "gtin: check digit", Field: "gtin"})
	require.Equal(t, http.StatusUnprocessableEntity, rec.Code)
	var got map[string]map[string]any
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &got))
	require.Equal(t, map[string]any{"code": "invalid", "message": "gtin: check digit", "field": "gtin"}, got["error"])
}
