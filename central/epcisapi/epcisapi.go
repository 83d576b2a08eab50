// Package epcisapi is central's EPCIS 2.0 repository over GS1's REST
// binding (REST Bindings/openapi.yaml of gs1/EPCIS) under /epcis/:
// asynchronous capture with capture jobs, events and the top-level
// resources with keyset paging (perPage, nextPageToken, Link), named
// queries validated by GS1's query schema, and query subscriptions by
// webhook and WebSocket. docs/epcis.md lists what is implemented and what
// is not. Callers authenticate with a bearer token (central/auth): capture
// and the named queries and subscriptions need the admin, planner or qa
// role, reading any role.
package epcisapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/serialine/serialine/central/auth"
	"github.com/serialine/serialine/central/outbound"
	"github.com/serialine/serialine/central/store/epcisdb"
	"github.com/serialine/serialine/shared/httpjson"
)

// Prefix is where the binding lives; mount the handler there without
// stripping it.
const Prefix = "/epcis/"

// Limits of the binding (Deps overrides the capture ones).
const (
	DefaultMaxBodyBytes = 16 << 20 // GS1-EPCIS-Capture-File-Size-Limit
	DefaultCaptureLimit = 25_000   // GS1-EPCIS-Capture-Limit: events per document
	DefaultPerPage      = 30       // the binding's default perPage
	MaxPerPage          = 10_000
)

// Capture error behaviours (header GS1-Capture-Error-Behaviour).
const (
	BehaviourRollback = "rollback"
	BehaviourProceed  = "proceed"
)

// Deps is what the binding needs.
type Deps struct {
	// Events are the EPCIS events, queries, subscriptions and capture
	// jobs the binding serves; Tokens authenticate its callers. Both are
	// required (*store.Store's parts).
	Events *epcisdb.Repository
	Tokens auth.TokenStore
	// MaxBodyBytes caps a captured document (0: DefaultMaxBodyBytes).
	MaxBodyBytes int64
	// CaptureLimit caps the events of a captured document (0: DefaultCaptureLimit).
	CaptureLimit int
	// Outbound decides where subscription deliveries may connect, as for
	// every partner endpoint: HTTPS only, never loopback, private,
	// link-local or metadata addresses unless central's
	// outbound.allow_networks allows them (checked at connect time). The
	// zero Policy allows public addresses only.
	Outbound outbound.Policy
	// WebhookCACert is a PEM CA bundle deliveries trust instead of the
	// system's ("": the system's): a plant's private CA, a test's server.
	WebhookCACert string
}

// writeRoles may capture and manage named queries and subscriptions (a
// subscription sends events out of central); every role may read.
var writeRoles = []auth.Role{auth.RoleAdmin, auth.RolePlanner, auth.RoleQA}

// Handler serves the binding. Start it before serving (it closes capture
// jobs a stop interrupted and starts the subscription deliveries); Close
// waits for running capture jobs and stops the deliveries.
type Handler struct {
	Deps
	log  *slog.Logger
	mux  http.Handler
	subs *subscriptions

	mu      sync.Mutex
	closing bool
	jobs    sync.WaitGroup
	bg      context.Context // capture jobs run under it
	stopBG  context.CancelFunc
}

// New returns the handler for Prefix; Start starts its capture jobs.
func New(deps Deps, log *slog.Logger) (*Handler, error) {
	switch {
	case deps.Events == nil:
		return nil, errors.New("epcisapi: events: missing")
	case deps.Tokens == nil:
		return nil, errors.New("epcisapi: tokens: missing")
	case log == nil:
		return nil, errors.New("epcisapi: logger: missing")
	}
	if deps.MaxBodyBytes <= 0 {
		deps.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if deps.CaptureLimit <= 0 {
		deps.CaptureLimit = DefaultCaptureLimit
	}
	h := &Handler{Deps: deps, log: log.With("component", "epcisapi")}
	h.bg, h.stopBG = context.WithCancel(context.Background())
	h.subs = newSubscriptions(h)
	h.mux = auth.Middleware(deps.Tokens, h.log)(versionHeaders(h.routes()))
	return h, nil
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }

// Start closes the capture jobs a previous stop left running and starts
// the subscription deliveries.
func (h *Handler) Start(ctx context.Context) error {
	n, err := h.Events.AbandonCaptureJobs(ctx)
	if err != nil {
		return err
	}
	if n > 0 {
		h.log.Warn("capture jobs interrupted by a stop closed as failed", "jobs", n)
	}
	return h.subs.start(ctx)
}

// Close refuses new capture jobs, waits for the running ones (or ctx) and
// stops the subscription deliveries.
func (h *Handler) Close(ctx context.Context) error {
	h.mu.Lock()
	h.closing = true
	h.mu.Unlock()
	done := make(chan struct{})
	go func() { h.jobs.Wait(); close(done) }()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		h.stopBG()
		<-done
		err = fmt.Errorf("epcisapi: capture jobs cut short: %w", ctx.Err())
	}
	h.stopBG()
	h.subs.stop()
	return err
}

// route is one resource of the binding: its methods and their handlers.
type route struct {
	path    string // under /epcis
	methods map[string]http.Handler
}

func (h *Handler) routes() http.Handler {
	read := func(f http.HandlerFunc) http.Handler { return auth.Require(auth.Roles()...)(f) }
	write := func(f http.HandlerFunc) http.Handler { return auth.Require(writeRoles...)(f) }
	rs := []route{
		{"/{$}", map[string]http.Handler{"GET": read(h.topLevel)}},
		{"/capture", map[string]http.Handler{"POST": write(h.capture), "GET": read(h.captureJobs)}},
		{"/capture/{captureID}", map[string]http.Handler{"GET": read(h.captureJob)}},
		{"/events", map[string]http.Handler{"GET": read(h.events)}},
		{"/events/{eventID...}", map[string]http.Handler{"GET": read(h.event)}},
		{"/queries", map[string]http.Handler{"GET": read(h.listQueries), "POST": write(h.createQuery)}},
		{"/queries/{queryName}", map[string]http.Handler{"GET": read(h.getQuery), "DELETE": write(h.deleteQuery)}},
		{"/queries/{queryName}/events", map[string]http.Handler{"GET": read(h.queryEvents)}},
		{"/queries/{queryName}/subscriptions", map[string]http.Handler{"GET": read(h.listSubscriptions), "POST": write(h.subscribe)}},
		{"/queries/{queryName}/subscriptions/{subscriptionID}", map[string]http.Handler{"GET": read(h.getSubscription), "DELETE": write(h.unsubscribe)}},
	}
	for _, k := range topKinds {
		k := k
		rs = append(rs,
			route{"/" + k.path, map[string]http.Handler{"GET": read(func(w http.ResponseWriter, r *http.Request) { h.listKind(w, r, k) })}},
			route{"/" + k.path + "/{value}", map[string]http.Handler{"GET": read(func(w http.ResponseWriter, r *http.Request) { h.kindResource(w, r, k) })}},
			route{"/" + k.path + "/{value}/events", map[string]http.Handler{"GET": read(func(w http.ResponseWriter, r *http.Request) { h.kindEvents(w, r, k) })}},
		)
	}
	mux := http.NewServeMux()
	for _, rt := range rs {
		allow := []string{"OPTIONS"}
		for _, m := range []string{"GET", "POST", "DELETE"} {
			if hd, ok := rt.methods[m]; ok {
				mux.Handle(m+" /epcis"+rt.path, hd)
				allow = append(allow, m)
			}
		}
		list := strings.Join(allow, ", ")
		mux.Handle("OPTIONS /epcis"+rt.path, read(discovery(list, rt.path == "/capture", h)))
		// Any other method on a known resource.
		mux.HandleFunc("/epcis"+rt.path, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Allow", list)
			problem(w, http.StatusMethodNotAllowed, "epcisException:ImplementationException",
				fmt.Sprintf("%s is not allowed on %s; allowed: %s", r.Method, r.URL.Path, list))
		})
	}
	mux.HandleFunc(Prefix, func(w http.ResponseWriter, r *http.Request) {
		problem(w, http.StatusNotFound, "epcisException:NoSuchNameException", "no such EPCIS resource: "+r.URL.Path)
	})
	return mux
}

// Versions this repository speaks.
const (
	epcisVersion = "2.0"
	cbvVersion   = "2.0"
)

// extensionsHeader names the extension namespaces central writes.
var extensionsHeader = func() string {
	b, _ := json.Marshal(map[string]string{"serialine": epcisdb.SerialineNS})
	return string(b)
}()

// versionHeaders sets the headers every answer of the binding carries and
// refuses requests for EPCIS or CBV versions other than 2.0 (406).
func versionHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("GS1-EPCIS-Version", epcisVersion)
		hd.Set("GS1-CBV-Version", cbvVersion)
		hd.Set("GS1-EPC-Format", "Never_Translates")
		hd.Set("GS1-Extensions", extensionsHeader)
		hd.Set("Cache-Control", "no-store")
		for _, c := range []struct{ header, want string }{{"GS1-EPCIS-Version", epcisVersion}, {"GS1-CBV-Version", cbvVersion}} {
			if v := strings.TrimSpace(r.Header.Get(c.header)); v != "" && !versionIs(v, c.want) {
				problem(w, http.StatusNotAcceptable, "epcisException:ImplementationException",
					fmt.Sprintf("%s: %q is not supported; this repository speaks %s", c.header, v, c.want))
				return
			}
		}
		for _, c := range []struct{ min, max, want string }{{"GS1-EPCIS-Min", "GS1-EPCIS-Max", epcisVersion}, {"GS1-CBV-Min", "GS1-CBV-Max", cbvVersion}} {
			lo, hi := r.Header.Get(c.min), r.Header.Get(c.max)
			if (lo != "" && versionLess(c.want, lo)) || (hi != "" && versionLess(hi, c.want)) {
				problem(w, http.StatusNotAcceptable, "epcisException:ImplementationException",
					fmt.Sprintf("%s/%s: %q–%q excludes %s, the version this repository speaks", c.min, c.max, lo, hi, c.want))
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// versionIs accepts "2", "2.0" and "2.0.x" for 2.0.
func versionIs(v, want string) bool {
	return v == want || v == strings.TrimSuffix(want, ".0") || strings.HasPrefix(v, want+".")
}

// versionLess compares dotted versions numerically ("1.2" < "2.0").
func versionLess(a, b string) bool {
	as, bs := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < max(len(as), len(bs)); i++ {
		var x, y int
		if i < len(as) {
			x, _ = strconv.Atoi(as[i])
		}
		if i < len(bs) {
			y, _ = strconv.Atoi(bs[i])
		}
		if x != y {
			return x < y
		}
	}
	return false
}

// discovery answers OPTIONS: 204 with Allow and the binding's discovery
// headers (and the capture limits on /capture).
func discovery(allow string, capture bool, h *Handler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Allow", allow)
		hd.Set("GS1-EPCIS-Min", epcisVersion)
		hd.Set("GS1-EPCIS-Max", epcisVersion)
		hd.Set("GS1-CBV-Min", cbvVersion)
		hd.Set("GS1-CBV-Max", cbvVersion)
		hd.Set("GS1-CBV-XML-Format", "No_Preference")
		hd.Set("GS1-Vendor-Version", "serialine")
		if capture {
			hd.Set("GS1-EPCIS-Capture-Limit", strconv.Itoa(h.CaptureLimit))
			hd.Set("GS1-EPCIS-Capture-File-Size-Limit", strconv.FormatInt(h.MaxBodyBytes, 10))
			hd.Set("GS1-Capture-Error-Behaviour", BehaviourRollback+", "+BehaviourProceed)
		}
		w.WriteHeader(http.StatusNoContent)
	}
}

// Problem is the RFC 7807 error body of the binding.
type Problem struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	// Detail names the query parameter or field at fault, when one is.
	Detail string `json:"detail,omitempty"`
	// Errors lists each problem as "eventList[i].field: reason".
	Errors []string `json:"errors,omitempty"`
}

func problem(w http.ResponseWriter, status int, typ, title string) {
	writeProblem(w, Problem{Type: typ, Title: title, Status: status})
}

func writeProblem(w http.ResponseWriter, p Problem) {
	b, _ := json.Marshal(p) // strings only
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(p.Status)
	_, _ = w.Write(append(b, '\n'))
}

// topLevel answers GET /epcis/: the top-level resources.
func (h *Handler) topLevel(w http.ResponseWriter, r *http.Request) {
	out := []string{"events"}
	for _, k := range topKinds {
		out = append(out, k.path)
	}
	httpjson.Write(w, http.StatusOK, append(out, "capture", "queries"))
}
