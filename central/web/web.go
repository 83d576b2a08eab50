// Package web is central's server-rendered UI for planners, QA and
// auditors: live line status, work orders with their reconciliation,
// products and serial pools, unit lookup by any GS1 form, dead letters and
// the audit trail.
//
// Pages are html/template with embedded templates and one CSS file; the
// only script refreshes the line status. Every page needs a session (an
// API token pasted once at sign-in, see central/auth); every form carries a
// CSRF token; actions a role may not take are neither shown nor accepted.
package web

import (
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/serialine/serialine/central/auth"
	"github.com/serialine/serialine/central/ingest"
	"github.com/serialine/serialine/central/store"
)

// LineGaps lists the lines whose events wait behind missing seqs;
// *ingest.Ingest implements it.
type LineGaps interface {
	Gaps() []ingest.LineGap
}

// Deps is what the UI is built on. Store and Sessions are required.
type Deps struct {
	Store    *store.Store
	Sessions Sessions
	// Lines gives live line status; without it every line shows as never
	// seen.
	Lines ingest.LineStatuses
	// Gaps shows held events on the lines page (optional).
	Gaps LineGaps
	// Orders publishes a line's orders after release and close; without
	// it the change is stored and the page says it was not published.
	Orders ingest.OrderPublisher
	// StaleAfter marks a status older than this as stale (default 2 min).
	StaleAfter time.Duration
	// Refresh is how often the lines page fetches fresh status (default 5 s).
	Refresh time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Defaults for Deps.
const (
	DefaultStaleAfter = 2 * time.Minute
	DefaultRefresh    = 5 * time.Second
)

// maxFormBytes caps a form post; maxUploadBytes a serial list upload
// (a million 20-character serials are about 22 MB).
const (
	maxFormBytes   = 1 << 20
	maxUploadBytes = 64 << 20
)

type handler struct {
	deps  Deps
	log   *slog.Logger
	pages *pages
	mux   *http.ServeMux
	// chain is mux behind the session middleware.
	chain http.Handler
}

// New builds the UI's handler, to be mounted at "/".
func New(deps Deps, log *slog.Logger) (http.Handler, error) {
	if deps.Store == nil {
		return nil, errors.New("web: Deps.Store is required")
	}
	if deps.Sessions == nil {
		return nil, errors.New("web: Deps.Sessions is required")
	}
	if log == nil {
		return nil, errors.New("web: a logger is required")
	}
	if deps.StaleAfter < 0 || deps.Refresh < 0 {
		return nil, errors.New("web: StaleAfter and Refresh must not be negative")
	}
	if deps.StaleAfter == 0 {
		deps.StaleAfter = DefaultStaleAfter
	}
	if deps.Refresh == 0 {
		deps.Refresh = DefaultRefresh
	}
	if deps.Now == nil {
		deps.Now = time.Now
	}
	p, err := parsePages()
	if err != nil {
		return nil, err
	}
	h := &handler{deps: deps, log: log.With("component", "web"), pages: p, mux: http.NewServeMux()}
	h.routes()
	h.chain = deps.Sessions.Middleware(h.mux)
	return h, nil
}

func (h *handler) routes() {
	m := h.mux
	m.Handle("GET /static/", staticHandler())
	m.HandleFunc("GET /signin", h.signInPage)
	m.HandleFunc("POST /signin", h.signIn)
	m.Handle("POST /signout", h.form(auth.PermSelf, h.signOut))

	m.Handle("GET /{$}", h.page(auth.PermSelf, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/lines", http.StatusSeeOther)
	}))
	m.Handle("GET /lines", h.page(auth.PermMasterRead, h.linesPage))
	m.Handle("GET /lines/live", h.page(auth.PermMasterRead, h.linesLive))

	m.Handle("GET /orders", h.page(auth.PermOrdersRead, h.ordersPage))
	m.Handle("GET /orders/new", h.page(auth.PermOrdersCreate, h.newOrderPage))
	m.Handle("POST /orders", h.form(auth.PermOrdersCreate, h.createOrder))
	m.Handle("GET /orders/{id}", h.page(auth.PermOrdersRead, h.orderPage))
	m.Handle("POST /orders/{id}/release", h.form(auth.PermOrdersRelease, h.releaseOrder))
	m.Handle("POST /orders/{id}/close", h.form(auth.PermOrdersClose, h.closeOrder))
	m.Handle("POST /orders/{id}/flags/disposition", h.form(auth.PermFlagsDisposition, h.disposeFlags))

	m.Handle("GET /products", h.page(auth.PermSerialsRead, h.productsPage))
	m.Handle("GET /products/new", h.page(auth.PermMasterWrite, h.newProductPage))
	m.Handle("POST /products", h.form(auth.PermMasterWrite, h.createProduct))
	m.Handle("GET /products/{gtin}", h.page(auth.PermSerialsRead, h.productPage))
	m.Handle("POST /products/{gtin}/serials", h.upload(auth.PermSerialsImport, h.importSerials))
	m.Handle("POST /products/{gtin}/rules", h.form(auth.PermMasterWrite, h.updateRules))

	m.Handle("GET /lookup", h.page(auth.PermUnitsRead, h.lookupPage))

	m.Handle("GET /sales", h.page(auth.PermOrdersRead, h.salesPage))
	m.Handle("GET /sales/{id}", h.page(auth.PermOrdersRead, h.salesOrderPage))
	m.Handle("GET /partners", h.page(auth.PermMasterRead, h.partiesPage))
	m.Handle("GET /partners/{gln}", h.page(auth.PermMasterRead, h.partyPage("partner")))
	m.Handle("GET /sites/{gln}", h.page(auth.PermMasterRead, h.partyPage("site")))
	m.Handle("POST /partners", h.form(auth.PermMasterWrite, h.saveParty("partner")))
	m.Handle("POST /sites", h.form(auth.PermMasterWrite, h.saveParty("site")))
	m.Handle("GET /shipments/{id}", h.page(auth.PermOrdersRead, h.shipmentPage))
	m.Handle("POST /outbound/{id}/resend", h.form(auth.PermSalesWrite, h.resendOutbound))
	m.Handle("GET /recalls", h.page(auth.PermOrdersRead, h.recallsPage))
	m.Handle("GET /recalls/{id}", h.page(auth.PermOrdersRead, h.recallPage))
	m.Handle("GET /recalls/{id}/units.csv", h.page(auth.PermOrdersRead, h.recallCSV))

	m.Handle("GET /dead-letters", h.page(auth.PermDeadLettersRead, h.deadLettersPage))
	m.Handle("GET /audit", h.page(auth.PermAuditRead, h.auditPage))

	m.Handle("/", h.page(auth.PermSelf, func(w http.ResponseWriter, r *http.Request) {
		h.fail(w, r, http.StatusNotFound, "Not found", "There is no page at "+r.URL.Path+".")
	}))
}

// isUpload tells the one route that takes files.
func isUpload(r *http.Request) bool {
	return strings.HasPrefix(r.URL.Path, "/products/") && strings.HasSuffix(r.URL.Path, "/serials")
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	// Pages, the stylesheet and one script come from here; nothing may
	// frame the UI (clickjacking) or sniff types.
	hd.Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("X-Frame-Options", "DENY")
	hd.Set("Referrer-Policy", "same-origin")
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		// Cap bodies before the session middleware reads the form for its
		// CSRF check; an announced oversize body gets a page, not a
		// bare refusal.
		limit := int64(maxFormBytes)
		if isUpload(r) {
			limit = maxUploadBytes
		}
		if r.ContentLength > limit {
			h.fail(w, r, http.StatusRequestEntityTooLarge, "Too large", "The form is larger than the "+byteSize(limit)+" allowed.")
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, limit)
	}
	h.chain.ServeHTTP(w, r)
}
