package epcisapi

import (
	"bytes"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"golang.org/x/text/language"
	"golang.org/x/text/message"

	"github.com/serialine/serialine/central/auth"
	"github.com/serialine/serialine/central/store/epcisdb"
	"github.com/serialine/serialine/central/store/sqldb"
	"github.com/serialine/serialine/shared/httpjson"
	"github.com/serialine/serialine/shared/utf8json"
)

// Named queries: POST /epcis/queries keeps a query under a name (its
// definition checked against GS1's query JSON Schema, then against what
// this repository implements); GET /epcis/queries/{name}/events answers it.

//go:embed schema/EPCIS-Query-JSON-Schema-root.json schema/schemas/*.json
var querySchemaFS embed.FS

// querySchemaURL is the root schema's $id; the others sit under schemas/.
const querySchemaURL = "https://gs1.github.io/EPCIS/JSON-Schema/EPCIS-Query-JSON-Schema-root.json"

// querySchema is GS1's query JSON Schema, compiled once (it never changes).
var querySchema = sync.OnceValues(func() (*jsonschema.Schema, error) {
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	c.UseRegexpEngine(lookaheadRegexp)
	err := fs.WalkDir(querySchemaFS, "schema", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := querySchemaFS.ReadFile(p)
		if err != nil {
			return err
		}
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
		if err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
		return c.AddResource("https://gs1.github.io/EPCIS/JSON-Schema/"+strings.TrimPrefix(p, "schema/"), doc)
	})
	if err != nil {
		return nil, err
	}
	return c.Compile(querySchemaURL)
})

// notRegexp matches what its inner expression does not.
type notRegexp struct {
	src   string
	inner *regexp.Regexp
}

func (n notRegexp) MatchString(s string) bool { return !n.inner.MatchString(s) }
func (n notRegexp) String() string            { return n.src }

// lookaheadRegexp compiles the schema's patterns with Go's regexp, and the
// one ECMAScript form it lacks that GS1's schema uses: a whole pattern
// "^(?!(X))", a string not starting with X.
func lookaheadRegexp(src string) (jsonschema.Regexp, error) {
	if inner, ok := strings.CutPrefix(src, "^(?!("); ok && strings.HasSuffix(inner, "))") {
		re, err := regexp.Compile("^(?:" + strings.TrimSuffix(inner, "))") + ")")
		if err != nil {
			return nil, err
		}
		return notRegexp{src: src, inner: re}, nil
	}
	return regexp.Compile(src)
}

// maxQueryBody caps a query definition or subscription request.
const maxQueryBody = 64 << 10

// QueryDefinition is a named query as the binding writes it.
type QueryDefinition struct {
	Name  string          `json:"name"`
	Query json.RawMessage `json:"query"`
}

// definitionParams checks a query definition against GS1's schema and
// turns it into parameters: every value a list of strings.
func definitionParams(raw json.RawMessage) (map[string][]string, error) {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("query: not JSON: %w", err)
	}
	sch, err := querySchema()
	if err != nil {
		return nil, fmt.Errorf("GS1's query schema does not compile: %w", err)
	}
	if err := sch.Validate(doc); err != nil {
		var ve *jsonschema.ValidationError
		if errors.As(err, &ve) {
			return nil, fmt.Errorf("query: GS1's query schema refuses it: %s", schemaErrors(ve))
		}
		return nil, fmt.Errorf("query: %w", err)
	}
	m, ok := doc.(map[string]any)
	if !ok {
		return nil, errors.New("query: want an object of query parameters")
	}
	out := map[string][]string{}
	for k, v := range m {
		switch x := v.(type) {
		case []any:
			for _, e := range x {
				out[k] = append(out[k], fmt.Sprint(e))
			}
		case nil:
			out[k] = []string{""}
		case json.Number:
			out[k] = []string{x.String()}
		default:
			out[k] = []string{fmt.Sprint(x)}
		}
	}
	return out, nil
}

// schemaErrors flattens a schema error into one line naming each place.
func schemaErrors(ve *jsonschema.ValidationError) string {
	var parts []string
	pr := message.NewPrinter(language.English)
	var walk func(e *jsonschema.ValidationError)
	walk = func(e *jsonschema.ValidationError) {
		if len(e.Causes) == 0 {
			loc := "/" + strings.Join(e.InstanceLocation, "/")
			parts = append(parts, loc+": "+e.ErrorKind.LocalizedString(pr))
			return
		}
		for _, c := range e.Causes {
			walk(c)
		}
	}
	walk(ve)
	if len(parts) > 5 {
		parts = append(parts[:5], fmt.Sprintf("and %d more", len(parts)-5))
	}
	return strings.Join(parts, "; ")
}

// createQuery answers POST /epcis/queries: 201 with Location.
func (h *Handler) createQuery(w http.ResponseWriter, r *http.Request) {
	var in QueryDefinition
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxQueryBody))
	if err == nil {
		err = utf8json.Check(body) // json would turn invalid bytes into U+FFFD
	}
	if err == nil {
		d := json.NewDecoder(bytes.NewReader(body))
		d.DisallowUnknownFields()
		err = d.Decode(&in)
	}
	if err != nil {
		writeProblem(w, Problem{Type: "epcisException:ValidationException", Status: http.StatusBadRequest,
			Title: "the body is not a query definition {\"name\": …, \"query\": {…}}: " + err.Error()})
		return
	}
	if in.Name == "" || len(in.Name) > 200 || strings.ContainsAny(in.Name, "/?#") {
		writeProblem(w, Problem{Type: "epcisException:ValidationException", Status: http.StatusBadRequest, Detail: "name",
			Title: fmt.Sprintf("name: %q must be 1 to 200 characters without / ? #", in.Name)})
		return
	}
	if len(in.Query) == 0 {
		writeProblem(w, Problem{Type: "epcisException:ValidationException", Status: http.StatusBadRequest, Detail: "query", Title: "query: missing"})
		return
	}
	params, err := definitionParams(in.Query)
	if err != nil {
		writeProblem(w, Problem{Type: "epcisException:QueryValidationException", Status: http.StatusBadRequest, Detail: "query", Title: err.Error()})
		return
	}
	if _, err := ParseQuery(params); err != nil {
		queryProblem(w, err)
		return
	}
	p, _ := auth.PrincipalFrom(r.Context())
	err = h.Events.CreateEPCISQuery(r.Context(), epcisdb.NamedQuery{Name: in.Name, Definition: in.Query, CreatedBy: p.Name})
	if errors.Is(err, sqldb.ErrConflict) {
		writeProblem(w, Problem{Type: "epcisException:DuplicateNameException", Status: http.StatusConflict, Detail: "name",
			Title: fmt.Sprintf("name: a query %q exists; delete it first or choose another name", in.Name)})
		return
	}
	if err != nil {
		h.internal(w, "creating a query", err)
		return
	}
	w.Header().Set("Location", Prefix+"queries/"+url.PathEscape(in.Name))
	httpjson.Write(w, http.StatusCreated, in)
}

// namedQuery loads {queryName}; ok is false when it was answered (404).
func (h *Handler) namedQuery(w http.ResponseWriter, r *http.Request) (epcisdb.NamedQuery, bool) {
	name := r.PathValue("queryName")
	q, err := h.Events.EPCISQueryByName(r.Context(), name)
	if errors.Is(err, sqldb.ErrNotFound) {
		problem(w, http.StatusNotFound, "epcisException:NoSuchNameException", fmt.Sprintf("no query named %q", name))
		return q, false
	}
	if err != nil {
		h.internal(w, "loading a query", err)
		return q, false
	}
	return q, true
}

func (h *Handler) getQuery(w http.ResponseWriter, r *http.Request) {
	if q, ok := h.namedQuery(w, r); ok {
		httpjson.Write(w, http.StatusOK, QueryDefinition{Name: q.Name, Query: q.Definition})
	}
}

// listQueries answers GET /epcis/queries, paged.
func (h *Handler) listQueries(w http.ResponseWriter, r *http.Request) {
	pg, ok := h.paging(w, r, nil)
	if !ok {
		return
	}
	qs, last, more, err := h.Events.EPCISQueries(r.Context(), pg.afterID(), pg.perPage)
	if err != nil {
		h.internal(w, "listing queries", err)
		return
	}
	out := make([]QueryDefinition, len(qs))
	for i, q := range qs {
		out[i] = QueryDefinition{Name: q.Name, Query: q.Definition}
	}
	if more {
		pg.link(w, r, pageToken{ID: last})
	}
	httpjson.Write(w, http.StatusOK, out)
}

// deleteQuery answers DELETE /epcis/queries/{queryName}: the query and its
// subscriptions go; open WebSocket subscriptions are closed.
func (h *Handler) deleteQuery(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("queryName")
	err := h.Events.DeleteEPCISQuery(r.Context(), name)
	if errors.Is(err, sqldb.ErrNotFound) {
		problem(w, http.StatusNotFound, "epcisException:NoSuchNameException", fmt.Sprintf("no query named %q", name))
		return
	}
	if err != nil {
		h.internal(w, "deleting a query", err)
		return
	}
	h.subs.dropQuery(name)
	w.WriteHeader(http.StatusNoContent)
}

// parsedQuery is a named query's definition parsed.
func parsedQuery(q epcisdb.NamedQuery) (Query, error) {
	params, err := definitionParams(q.Definition)
	if err != nil {
		return Query{}, err
	}
	return ParseQuery(params)
}

// queryEvents answers GET /epcis/queries/{queryName}/events: the query's
// events, paged; with Upgrade: websocket and stream=true or a schedule, a
// WebSocket subscription (ws.go).
func (h *Handler) queryEvents(w http.ResponseWriter, r *http.Request) {
	nq, ok := h.namedQuery(w, r)
	if !ok {
		return
	}
	q, err := parsedQuery(nq)
	if err != nil {
		h.internal(w, "a stored query", err)
		return
	}
	params := r.URL.Query()
	if isUpgrade(r) {
		h.webSocket(w, r, nq.Name, q)
		return
	}
	for k := range params {
		if k != "perPage" && k != "nextPageToken" {
			writeProblem(w, Problem{Type: "epcisException:QueryParameterException", Status: http.StatusBadRequest, Detail: k,
				Title: k + ": a named query's events take perPage and nextPageToken only (and, over a WebSocket, the subscription parameters)"})
			return
		}
	}
	h.pageOfEvents(w, r, q, nq.Name, nq.Name, strconv.FormatInt(nq.CreatedAt.UnixNano(), 10))
}

// timeOr parses an RFC 3339 time, or gives def when s is empty.
func timeOr(s string, def time.Time) (time.Time, error) {
	if s == "" {
		return def, nil
	}
	return time.Parse(time.RFC3339Nano, s)
}
