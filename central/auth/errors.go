package auth

import (
	"encoding/json"
	"errors"
	"net/http"
)

// ErrInvalidToken is returned (wrapped) for a token that is malformed,
// unknown or revoked. Callers must not tell these apart to the client.
var ErrInvalidToken = errors.New("invalid token")

// Error codes of the JSON error body written by this package.
const (
	CodeUnauthorized = "unauthorized" // no valid credentials: 401
	CodeForbidden    = "forbidden"    // authenticated, but the role may not: 403
	CodeCSRF         = "csrf"         // a form post without a valid CSRF token, or from another site: 403
	CodeUnavailable  = "unavailable"  // credentials could not be checked (database down): 503
)

// Error is the body of every error response of the API: what went wrong
// (Code, stable, for programs), in words (Message, for people), and which
// input field broke a rule (Field, by its JSON name, when one did).
// Details carries structured extras, e.g. every problem of a rejected
// serial list.
type Error struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
	Details any    `json:"details,omitempty"`
}

// ErrorBody is the JSON document of an error response.
type ErrorBody struct {
	Error Error `json:"error"`
}

// WriteError writes e as {"error": {...}} with the status code.
func WriteError(w http.ResponseWriter, status int, e Error) {
	WriteJSON(w, status, ErrorBody{Error: e})
}

// WriteJSON writes v as JSON with the status code. API responses are
// never cached: they carry current, often confidential, records.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v) // the status is out; a broken connection is the client's
}
