// Package httpjson writes the JSON answers of our HTTP servers: central's
// API, auth and EPCIS binding, the edge agent's status and the operator's
// touchscreen, the line simulator's page. One writer, so that every answer
// carries the same headers: JSON in UTF-8, never sniffed as something else,
// never cached (the answers are current and often confidential records).
// Answers whose standard fixes another shape write their own bodies: the
// LMVS responder's, EPCIS query documents and problem+json errors, the EU
// FMD data set.
package httpjson

import (
	"encoding/json"
	"net/http"
)

// Write writes v as JSON with the status code. HTML characters are not
// escaped: the answers are data, not markup.
func Write(w http.ResponseWriter, status int, v any) {
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v) // the status is out; a broken connection is the client's
}

// Error is the body of every error answer of central's API: what went
// wrong (Code, stable, for programs), in words (Message, for people), and
// which input field broke a rule (Field, by its JSON name, when one did).
// Details carries structured extras, e.g. every problem of a rejected
// serial list. (The touchscreen and the simulator answer errors in their
// own shapes, through Write.)
type Error struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
	Details any    `json:"details,omitempty"`
}

// ErrorBody is the JSON document of an error answer: {"error": {...}}.
type ErrorBody struct {
	Error Error `json:"error"`
}

// WriteError writes e as {"error": {...}} with the status code.
func WriteError(w http.ResponseWriter, status int, e Error) {
	Write(w, status, ErrorBody{Error: e})
}
