package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/serialine/serialine/central/store/sqldb"
	"github.com/serialine/serialine/shared/gs1"
	"github.com/serialine/serialine/shared/httpjson"
	"github.com/serialine/serialine/shared/serials"
)

// Error codes of the API (besides auth's unauthorized and forbidden).
const (
	codeBadRequest   = "bad_request"  // 400: malformed JSON, unknown field, wrong type, bad query or path parameter
	codeInvalid      = "invalid"      // 422: well-formed input that breaks a rule
	codeInvalidList  = "invalid_list" // 422: a serial list with problems; details lists every one
	codeNotFound     = "not_found"    // 404
	codeConflict     = "conflict"     // 409: clashes with what is stored (duplicate id, scheme in use)
	codeState        = "state"        // 409: the record's state forbids it (release a closed order)
	codeExhausted    = "exhausted"    // 409: not enough serials left
	codeTooLarge     = "too_large"    // 413
	codeUnsupported  = "unsupported_media_type"
	codeInternal     = "internal"
	codeUnavailable  = "unavailable"
	jsonContentType  = "application/json"
	csvContentType   = "text/csv"
	maxListedProblem = 1000
)

// apiError is an error response decided by a handler.
type apiError struct {
	status int
	body   httpjson.Error
}

func (e *apiError) Error() string { return e.body.Message }

func errorf(status int, code, field, format string, args ...any) *apiError {
	return &apiError{status: status, body: httpjson.Error{Code: code, Field: field, Message: fmt.Sprintf(format, args...)}}
}

// badParam is a 400 for a path or query parameter.
func badParam(field, format string, args ...any) *apiError {
	return errorf(http.StatusBadRequest, codeBadRequest, field, format, args...)
}

// invalid is a 422 for a field of the body.
func invalid(field, format string, args ...any) *apiError {
	return errorf(http.StatusUnprocessableEntity, codeInvalid, field, format, args...)
}

// fail writes the error response for err. Only errors the client can act
// on are shown; anything else is logged and answered with a bare 500.
func (a *api) fail(w http.ResponseWriter, r *http.Request, err error) {
	var (
		ae  *apiError
		mbe *http.MaxBytesError
		ve  *sqldb.ValidationError
		le  *serials.ListError
		se  *serials.SpecError
		ge  *gs1.Error
	)
	switch {
	case errors.As(err, &ae):
		httpjson.WriteError(w, ae.status, ae.body)
	case errors.As(err, &mbe):
		httpjson.WriteError(w, http.StatusRequestEntityTooLarge, httpjson.Error{Code: codeTooLarge,
			Message: fmt.Sprintf("the request body exceeds %d bytes", mbe.Limit)})
	case errors.As(err, &le):
		httpjson.WriteError(w, http.StatusUnprocessableEntity, listProblems(le))
	case errors.As(err, &ve):
		httpjson.WriteError(w, http.StatusUnprocessableEntity, httpjson.Error{Code: codeInvalid, Field: ve.Field, Message: ve.Error()})
	case errors.As(err, &se):
		httpjson.WriteError(w, http.StatusUnprocessableEntity, httpjson.Error{Code: codeInvalid, Field: "scheme." + se.Field, Message: se.Error()})
	case errors.As(err, &ge):
		httpjson.WriteError(w, http.StatusUnprocessableEntity, httpjson.Error{Code: codeInvalid, Message: ge.Error()})
	case errors.Is(err, sqldb.ErrNotFound):
		httpjson.WriteError(w, http.StatusNotFound, httpjson.Error{Code: codeNotFound, Message: err.Error()})
	case errors.Is(err, sqldb.ErrConflict):
		httpjson.WriteError(w, http.StatusConflict, httpjson.Error{Code: codeConflict, Message: err.Error()})
	case errors.Is(err, sqldb.ErrState):
		httpjson.WriteError(w, http.StatusConflict, httpjson.Error{Code: codeState, Message: err.Error()})
	case errors.Is(err, sqldb.ErrExhausted):
		httpjson.WriteError(w, http.StatusConflict, httpjson.Error{Code: codeExhausted, Message: err.Error()})
	case errors.Is(err, sqldb.ErrInvalid):
		httpjson.WriteError(w, http.StatusUnprocessableEntity, httpjson.Error{Code: codeInvalid, Message: err.Error()})
	case errors.Is(err, context.Canceled) && r.Context().Err() != nil:
		a.log.Debug("request cancelled by the client", "method", r.Method, "path", r.URL.Path)
	case errors.Is(err, context.DeadlineExceeded):
		a.log.Error("api request timed out", "method", r.Method, "path", r.URL.Path, "err", err)
		httpjson.WriteError(w, http.StatusServiceUnavailable, httpjson.Error{Code: codeUnavailable, Message: "the database did not answer in time; retry later"})
	default:
		a.log.Error("api request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		httpjson.WriteError(w, http.StatusInternalServerError, httpjson.Error{Code: codeInternal, Message: "internal error; the server log has the details"})
	}
}

// listProblem is one problem of a rejected serial list.
type listProblem struct {
	Line        int    `json:"line,omitempty"`
	Field       string `json:"field"`
	Value       string `json:"value,omitempty"`
	Reason      string `json:"reason"`
	DuplicateOf int    `json:"duplicate_of,omitempty"`
}

type listDetails struct {
	Problems []listProblem `json:"problems"`
	Omitted  int           `json:"omitted,omitempty"`
}

func listProblems(le *serials.ListError) httpjson.Error {
	d := listDetails{Problems: make([]listProblem, 0, len(le.Problems)), Omitted: le.Omitted}
	for _, p := range le.Problems {
		d.Problems = append(d.Problems, listProblem{Line: p.Line, Field: p.Field, Value: p.Value, Reason: p.Reason, DuplicateOf: p.DuplicateOf})
	}
	n := len(le.Problems) + le.Omitted
	msg := fmt.Sprintf("serial list rejected, nothing imported: %d problem(s)", n)
	if len(le.Problems) > 0 {
		msg += "; first: " + le.Problems[0].String()
	}
	return httpjson.Error{Code: codeInvalidList, Field: "serials", Message: msg, Details: d}
}

// requireContentType refuses a body that is not of type want (415).
func requireContentType(r *http.Request, want string) error {
	ct := r.Header.Get("Content-Type")
	mt, _, err := mime.ParseMediaType(ct)
	if ct == "" || err != nil || mt != want {
		return errorf(http.StatusUnsupportedMediaType, codeUnsupported, "Content-Type",
			"the body must be %s, got Content-Type %q", want, ct)
	}
	return nil
}

// decodeJSON reads exactly one JSON object into dst, refusing unknown
// fields, wrong types and trailing data; errors name the field.
func decodeJSON(r *http.Request, dst any) error {
	if err := requireContentType(r, jsonContentType); err != nil {
		return err
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return jsonError(err)
	}
	if err := checkUTF8(body); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return jsonError(err)
	}
	if err := dec.Decode(&struct{}{}); err != io.EOF {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return err
		}
		return badParam("", "the body holds more than one JSON value")
	}
	return nil
}

// decodeOptionalJSON is decodeJSON for routes whose body may be empty
// (whatever its Content-Type says).
func decodeOptionalJSON(r *http.Request, dst any) error {
	b, err := io.ReadAll(r.Body)
	if err != nil {
		return err
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return nil
	}
	r.Body = io.NopCloser(bytes.NewReader(b))
	return decodeJSON(r, dst)
}

func jsonError(err error) error {
	var (
		se  *json.SyntaxError
		te  *json.UnmarshalTypeError
		mbe *http.MaxBytesError
	)
	switch {
	case errors.As(err, &mbe):
		return err
	case errors.Is(err, io.EOF):
		return badParam("", "the body is empty; send a JSON object")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return badParam("", "the JSON body ends too early")
	case errors.As(err, &se):
		return badParam("", "the body is not valid JSON at byte %d: %v", se.Offset, se)
	case errors.As(err, &te):
		field := te.Field
		if field == "" {
			return badParam("", "the body must be a JSON object, got %s", te.Value)
		}
		return badParam(field, "%s must be %s, got %s", field, jsonType(te.Type), te.Value)
	}
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		if f, uerr := strconv.Unquote(name); uerr == nil {
			name = f
		}
		return badParam(name, "unknown field %q", name)
	}
	return badParam("", "the body is not valid JSON: %v", err)
}

func jsonType(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return "an integer"
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer of 0 or more"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Map, reflect.Struct:
		return "an object"
	}
	return "of type " + t.String()
}

// checkQuery refuses query parameters not in allowed and any given
// twice, so that a misspelt filter is not silently ignored.
func checkQuery(r *http.Request, allowed []string) error {
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return badParam("", "the query string is malformed: %v", err)
	}
	for k, v := range q {
		if !slices.Contains(allowed, k) {
			if len(allowed) == 0 {
				return badParam(k, "unknown query parameter %q; this route takes none", k)
			}
			return badParam(k, "unknown query parameter %q; use %s", k, strings.Join(allowed, ", "))
		}
		if len(v) > 1 {
			return badParam(k, "query parameter %q is given %d times", k, len(v))
		}
	}
	return nil
}

// sinceParam parses an RFC 3339 time parameter ("" → zero).
func sinceParam(q url.Values, name string) (time.Time, error) {
	s := q.Get(name)
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, badParam(name, "%q is not an RFC 3339 time such as 2026-05-01T08:00:00Z", s)
	}
	return t, nil
}

// limitParam parses a row limit of 1 to max ("" → def).
func limitParam(q url.Values, def, max int) (int, error) {
	s := q.Get("limit")
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > max {
		return 0, badParam("limit", "must be a whole number from 1 to %d, got %q", max, s)
	}
	return n, nil
}

// gtinParam checks a GTIN path parameter: 14 digits with a valid check digit.
func gtinParam(r *http.Request) (string, error) {
	v := r.PathValue("gtin")
	g, err := gs1.ParseGTIN(v)
	if err != nil {
		return "", badParam("gtin", "%v", err)
	}
	if string(g) != v {
		return "", badParam("gtin", "write the GTIN with 14 digits (%s)", g)
	}
	return v, nil
}

// glnParam checks a GLN path parameter.
func glnParam(r *http.Request) (string, error) {
	v := r.PathValue("gln")
	if _, err := gs1.ParseGLN(v); err != nil {
		return "", badParam("gln", "%v", err)
	}
	return v, nil
}

// bodyKey checks that a key repeated in the body matches the path.
func bodyKey(field, inBody, inPath string) error {
	if inBody != "" && inBody != inPath {
		return invalid(field, "%s %q differs from %q in the path", field, inBody, inPath)
	}
	return nil
}
