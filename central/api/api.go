// Package api is central's HTTP API under /api/v1/: JSON in and out,
// bearer-token authentication and per-route roles (central/auth).
//
// Every route is declared once, in the table returned by Routes, with the
// permission it needs; New mounts the table and nothing else, so a route
// cannot exist without its roles. Input is decoded strictly (unknown
// fields, trailing data and oversized bodies are refused) and every
// rejection names the field and the rule it broke, in the error body
// {"error": {"code", "message", "field"}}. Each change is one store
// transaction, audited under the caller (auth.WithPrincipal).
package api

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/serialine/serialine/central/auth"
	"github.com/serialine/serialine/central/ingest"
	"github.com/serialine/serialine/central/outbound"
	"github.com/serialine/serialine/central/store"
	"github.com/serialine/serialine/shared/httpjson"
)

// Prefix is where the API lives; mount the handler there
// (mux.Handle(api.Prefix, h)) without stripping it.
const Prefix = "/api/v1/"

// Body size limits (Deps overrides them).
const (
	DefaultMaxBodyBytes   = 1 << 20  // JSON bodies: 1 MiB
	DefaultMaxImportBytes = 64 << 20 // CSV serial lists: 64 MiB, about 3 million serials
)

// Deps is what the API needs.
type Deps struct {
	// Store is required.
	Store *store.Store
	// Orders is told about releases and closes; nil publishes nothing
	// (the response says "published": false).
	Orders ingest.OrderPublisher
	// Statuses adds the live status to lines; nil leaves it out.
	Statuses ingest.LineStatuses
	// MaxBodyBytes caps JSON bodies (0: DefaultMaxBodyBytes).
	MaxBodyBytes int64
	// MaxImportBytes caps CSV serial-list uploads (0: DefaultMaxImportBytes).
	MaxImportBytes int64
	// PublishTimeout bounds one PublishOrders call (0: 10 s).
	PublishTimeout time.Duration
	// MaxInboundBytes caps a partner's DSCSA document (0:
	// DefaultMaxInboundBytes).
	MaxInboundBytes int64
	// Outbound is woken when a document is queued or resent (nil: the
	// sender finds it at its next poll).
	Outbound OutboundWaker
	// OutboundPolicy refuses partner endpoints at addresses central may
	// not connect to (the zero policy: public addresses only).
	OutboundPolicy outbound.Policy
	// Verifier sends LMVS verification requests for our returns desk;
	// nil answers 409 (not configured).
	Verifier Verifier
}

type api struct {
	Deps
	log *slog.Logger
}

// handlerFunc is a route's handler; a returned error becomes the error
// response (see fail).
type handlerFunc func(a *api, w http.ResponseWriter, r *http.Request) error

func (rt route) params() []string {
	if rt.query == "" {
		return nil
	}
	return strings.Split(rt.query, ",")
}

// route is one entry of the route table.
type route struct {
	method  string
	pattern string
	perm    auth.Permission
	summary string
	h       handlerFunc
	// body is what the route reads: "" nothing, "json", "csv" or "xml".
	body string
	// query lists the query parameters it takes, comma-separated; any
	// other is refused (400 naming it).
	query string
}

// Route describes one route of the API, for documentation and tests.
type Route struct {
	Method     string
	Pattern    string // a net/http ServeMux pattern path, e.g. /api/v1/orders/{id}
	Permission auth.Permission
	Roles      []auth.Role // the roles holding Permission
	Summary    string
	Body       string   // "", "json", "csv" or "xml"
	Query      []string // the query parameters it takes
}

// Routes lists every route with the permission it needs.
func Routes() []Route {
	rs := routes()
	out := make([]Route, len(rs))
	for i, r := range rs {
		out[i] = Route{Method: r.method, Pattern: r.pattern, Permission: r.perm, Roles: r.perm.Roles(), Summary: r.summary, Body: r.body, Query: r.params()}
	}
	return out
}

// routes is the route table: the single source of what the API serves
// and who may call it.
//
// It is long because it is a flat table, one route a line, grouped by resource: method,
// path, permission and handler are reviewed together in one place.
func routes() []route {
	const v = "/api/v1"
	return []route{
		{"GET", v + "/me", auth.PermSelf, "the caller's identity and permissions", (*api).me, "", ""},

		{"GET", v + "/products", auth.PermMasterRead, "list products", (*api).listProducts, "", ""},
		{"GET", v + "/products/{gtin}", auth.PermMasterRead, "a product with its EU FMD assessment and serial usage", (*api).getProduct, "", ""},
		{"PUT", v + "/products/{gtin}", auth.PermMasterWrite, "create or update a product (serial scheme checked, EU FMD guess probability)", (*api).putProduct, "json", ""},
		{"GET", v + "/products/{gtin}/serials", auth.PermSerialsRead, "serial pool usage of a product with its guess probability", (*api).getPool, "", ""},
		{"POST", v + "/products/{gtin}/serials/import", auth.PermSerialsImport, "import a serial list (CSV); all or nothing", (*api).importSerials, "csv", ""},
		{"GET", v + "/serial-pools", auth.PermSerialsRead, "serial pool usage of every product", (*api).listPools, "", ""},

		{"GET", v + "/sites/{gln}", auth.PermMasterRead, "a site with its locations", (*api).getSite, "", ""},
		{"PUT", v + "/sites/{gln}", auth.PermMasterWrite, "create or update a site", (*api).putSite, "json", ""},
		{"GET", v + "/sites/{gln}/locations", auth.PermMasterRead, "the locations of a site", (*api).listLocations, "", ""},
		{"PUT", v + "/locations/{gln}/{extension}", auth.PermMasterWrite, "create or update a location (SGLN = GLN + extension)", (*api).putLocation, "json", ""},

		{"GET", v + "/lines", auth.PermMasterRead, "list lines with their live status", (*api).listLines, "", ""},
		{"GET", v + "/lines/{id}", auth.PermMasterRead, "a line with its live status", (*api).getLine, "", ""},
		{"GET", v + "/lines/{id}/seq", auth.PermDeadLettersRead, "the line's event sequence at central, per incarnation of its event store: acked, held events, the gaps before them, and which incarnation replaced which", (*api).getLineSeq, "", ""},
		{"POST", v + "/lines/{id}/skip-gap", auth.PermQualityWrite, "declare a line's missing events up to a seq lost (each a dead letter with the reason) so the held ones apply; the current incarnation's unless one is named; audited", (*api).skipGap, "json", ""},
		{"POST", v + "/lines/{id}/incarnations/{incarnation}/resolve", auth.PermQualityWrite, "record QA's disposition of a new incarnation's takeover (the earlier one's held events and unused serials); its acks stop carrying the alarm; audited", (*api).resolveIncarnation, "json", ""},
		{"PUT", v + "/lines/{id}", auth.PermLinesWrite, "create or update a line and its MQTT password (stored hashed)", (*api).putLine, "json", ""},

		{"GET", v + "/partners/{gln}", auth.PermMasterRead, "a trading partner", (*api).getPartner, "", ""},
		{"PUT", v + "/partners/{gln}", auth.PermMasterWrite, "create or update a trading partner", (*api).putPartner, "json", ""},

		{"GET", v + "/orders", auth.PermOrdersRead, "list work orders (filters: line, gtin, lot, state)", (*api).listOrders, "", "line,gtin,lot,state"},
		{"POST", v + "/orders", auth.PermOrdersCreate, "create a work order", (*api).createOrder, "json", ""},
		{"GET", v + "/orders/{id}", auth.PermOrdersRead, "a work order with counts, grants and reconciliation", (*api).getOrder, "", ""},
		{"POST", v + "/orders/{id}/release", auth.PermOrdersRelease, "release a work order to a line and publish the line's orders", (*api).releaseOrder, "json", ""},
		{"POST", v + "/orders/{id}/close", auth.PermOrdersClose, "close a released work order and publish the line's orders", (*api).closeOrder, "json", ""},
		{"GET", v + "/orders/{id}/flags", auth.PermOrdersRead, "the order's events flagged for QA (after-close, future-time) with their dispositions (filters: flag, open)", (*api).listOrderFlags, "", "flag,open,limit"},
		{"POST", v + "/orders/{id}/flags/{flag}/disposition", auth.PermFlagsDisposition, "QA's disposition of a flagged event (accepted or rejected) with a note; audited", (*api).disposeFlag, "json", ""},
		{"POST", v + "/orders/{id}/flags/disposition", auth.PermFlagsDisposition, "QA's disposition of several flagged events of the order at once, all or nothing; audited", (*api).disposeFlags, "json", ""},
		{"POST", v + "/orders/{id}/void-unaccounted", auth.PermFlagsDisposition, "QA's disposition of a closed order's serials whose fate central never learnt (a line's lost event store): recorded voided with the reason; audited", (*api).voidUnaccounted, "json", ""},

		{"GET", v + "/units/{gtin}/{serial...}", auth.PermUnitsRead, "a unit's state and history", (*api).getUnit, "", ""},
		{"GET", v + "/verify", auth.PermUnitsRead, "verify a product identifier (VRS): gtin, serial, lot, expiry → verified or the reason", (*api).verify, "", "gtin,serial,lot,expiry"},
		{"GET", v + "/lookup", auth.PermUnitsRead, "look a unit or container up by any GS1 form of its code (?code=)", (*api).lookup, "", "code"},

		{"GET", v + "/dead-letters", auth.PermDeadLettersRead, "payloads central could not apply, with the reason", (*api).listDeadLetters, "", "line,since,limit"},
		{"GET", v + "/audit", auth.PermAuditRead, "the audit trail: who changed what, when, before and after", (*api).listAudit, "", "entity,entity_id,since,limit"},

		{"POST", v + "/sales-orders", auth.PermSalesWrite, "create a sales order: customer, lines of GTIN, quantity and unit price", (*api).createSalesOrder, "json", ""},
		{"GET", v + "/sales-orders", auth.PermOrdersRead, "list sales orders, newest first (filter: customer)", (*api).listSalesOrders, "", "customer"},
		{"GET", v + "/sales-orders/{id}", auth.PermOrdersRead, "a sales order with its shipments and invoice figures", (*api).getSalesOrder, "", ""},
		{"GET", v + "/sales-orders/{id}/fmd", auth.PermOrdersRead, "EU FMD data set (shipped): the uploaded packs a sales order shipped, by batch", (*api).salesOrderFMD, "", ""},
		{"GET", v + "/orders/{id}/fmd", auth.PermOrdersRead, "EU FMD data set (batch) of a work order: its packs under the product code version, checked as the hub checks", (*api).workOrderFMD, "", ""},
		{"POST", v + "/orders/{id}/fmd/send", auth.PermMasterWrite, "queue a released work order's EU FMD batch data set for the hub (after the product's master data if not uploaded yet; 202)", (*api).sendFMDBatch, "", ""},
		{"GET", v + "/products/{gtin}/eu-fmd", auth.PermMasterRead, "a product's EU FMD master data (art. 33(2)) with what would stop its upload (version: an older product code version)", (*api).getFMDProduct, "", "version"},
		{"PUT", v + "/products/{gtin}/eu-fmd", auth.PermMasterWrite, "set a product's EU FMD master data, every rule checked; uploaded target markets change only as a new product code version (new_version)", (*api).putFMDProduct, "json", ""},
		{"GET", v + "/products/{gtin}/eu-fmd/dataset", auth.PermMasterRead, "EU FMD data set (product) of a product code version (version; default the current)", (*api).fmdProductDataset, "", "version"},
		{"POST", v + "/products/{gtin}/eu-fmd/send", auth.PermMasterWrite, "queue the product's current master data version for the hub (202); its target markets are fixed from then", (*api).sendFMDProduct, "", ""},
		{"POST", v + "/fmd/status-updates", auth.PermQualityWrite, "an art. 40 status update (withdrawal, theft, destruction) of a lot's packs or listed packs: decommissioned at the hub; queued", (*api).createFMDStatus, "json", ""},
		{"GET", v + "/fmd/status-updates", auth.PermOrdersRead, "EU FMD status updates (filters: gtin, lot, recall)", (*api).listFMDStatus, "", "gtin,lot,recall"},
		{"GET", v + "/fmd/status-updates/{id}", auth.PermOrdersRead, "EU FMD data set (status) of a status update with every pack", (*api).fmdStatusDataset, "", ""},
		{"POST", v + "/fmd/status-updates/{id}/reverse", auth.PermQualityWrite, "reverse a status update within its window: its packs reactivated at the hub; queued; audited", (*api).reverseFMDStatus, "json", ""},
		{"GET", v + "/recalls/{id}/fmd", auth.PermOrdersRead, "EU FMD data sets (status) of a recall: the packs it decommissions at the hub, and any reversal", (*api).recallFMD, "", ""},
		{"POST", v + "/verification-requests", auth.PermQualityWrite, "verify another manufacturer's pack over LMVS (returns desk): routed by company prefix or the VRS router; the answer kept", (*api).requestVerification, "json", ""},
		{"GET", v + "/verifications", auth.PermAuditRead, "the LMVS verification log, both ways: who asked what, when, the answer (filters: direction, gtin, serial, partner, since, limit)", (*api).listVerifications, "", "direction,gtin,serial,partner,since,limit"},
		{"GET", v + "/stock", auth.PermOrdersRead, "stock report: units per product, lot, state and location (filters: gtin, lot)", (*api).stockReport, "", "gtin,lot"},
		{"GET", v + "/inventory-value", auth.PermOrdersRead, "units in stock valued at standard cost", (*api).inventoryValue, "", ""},
		{"PUT", v + "/partners/{gln}/endpoints/{kind}", auth.PermMasterWrite, "set where and how a partner receives documents (kind dscsa: an https URL, authentication)", (*api).putPartnerEndpoint, "json", ""},
		{"GET", v + "/partners/{gln}/endpoints/{kind}", auth.PermMasterRead, "where and how a partner receives documents (never the secrets)", (*api).getPartnerEndpoint, "", ""},

		{"POST", v + "/shipments", auth.PermSalesWrite, "open a shipment of a sales order from one of our locations", (*api).createShipment, "json", ""},
		{"GET", v + "/shipments/{id}", auth.PermOrdersRead, "a shipment with its picks and units", (*api).getShipment, "", ""},
		{"POST", v + "/shipments/{id}/picks", auth.PermSalesWrite, "pick scanned SSCCs or units, checked against the sales order; all or nothing", (*api).pick, "json", ""},
		{"POST", v + "/shipments/{id}/confirm", auth.PermSalesWrite, "confirm a shipment: every unit shipped, EPCIS shipping event stored", (*api).confirmShipment, "json", ""},
		{"GET", v + "/shipments/{id}/epcis", auth.PermOrdersRead, "the shipment's EPCIS 2.0 document, JSON-LD", (*api).shipmentEPCIS, "", ""},
		{"GET", v + "/shipments/{id}/epcis.xml", auth.PermOrdersRead, "the shipment's EPCIS 2.0 document as XML", (*api).shipmentEPCISXML, "", ""},
		{"GET", v + "/shipments/{id}/dscsa.xml", auth.PermOrdersRead, "the shipment's DSCSA document as the customer takes it: EPCIS 1.2 (default) or 2.0 XML with SBDH, transaction statement and master data", (*api).shipmentDSCSAXML, "", "version"},
		{"GET", v + "/shipments/{id}/dscsa", auth.PermOrdersRead, "DSCSA transaction information, history and statement", (*api).shipmentDSCSA, "", ""},
		{"POST", v + "/shipments/{id}/dscsa/send", auth.PermSalesWrite, "queue the shipment's DSCSA document for the customer's endpoint (202; the outbound queue delivers it)", (*api).sendDSCSA, "", ""},
		{"GET", v + "/shipments/{id}/outbound", auth.PermOrdersRead, "the documents sent for a shipment: state, attempts, the partner's answers", (*api).shipmentOutbound, "", ""},

		{"GET", v + "/outbound", auth.PermOrdersRead, "the outbound queue (filters: kind, ref, partner, state)", (*api).listOutbound, "", "kind,ref,partner,state,limit"},
		{"GET", v + "/outbound/{id}", auth.PermOrdersRead, "an outbound message with every attempt", (*api).getOutbound, "", ""},
		{"GET", v + "/outbound/{id}/document", auth.PermOrdersRead, "the document a message sends, as sent", (*api).outboundDocument, "", ""},
		{"POST", v + "/outbound/{id}/resend", auth.PermSalesWrite, "send a delivered or failed message again (same document, new retry window); audited", (*api).resendOutbound, "", ""},

		{"POST", v + "/returns", auth.PermSalesWrite, "receive a shipped unit back (state returned)", (*api).receiveReturn, "json", ""},
		{"POST", v + "/returns/verify", auth.PermQualityWrite, "verify a returned unit before resale: lot, expiry, recall, expired", (*api).verifyReturn, "json", ""},
		{"POST", v + "/returns/restock", auth.PermQualityWrite, "restock a returned unit whose verification passed", (*api).restockReturn, "json", ""},

		{"POST", v + "/recalls", auth.PermQualityWrite, "recall a lot or a list of serials: hold what is in stock, name where the rest went", (*api).createRecall, "json", ""},
		{"GET", v + "/recalls", auth.PermOrdersRead, "list recalls, newest first", (*api).listRecalls, "", ""},
		{"GET", v + "/recalls/{id}", auth.PermOrdersRead, "a recall with its summary: states, on hold, shipments, customers, pallets", (*api).getRecall, "", ""},
		{"GET", v + "/recalls/{id}/units.csv", auth.PermOrdersRead, "every unit of a recall with state, case, pallet, shipment, customer (CSV)", (*api).recallCSV, "", ""},
		{"GET", v + "/recalls/{id}/report", auth.PermOrdersRead, "the recall as a report a person reads (plain text)", (*api).recallReport, "", ""},

		{"GET", v + "/containers/{sscc}", auth.PermUnitsRead, "what is inside an SSCC, at any depth", (*api).containerContents, "", ""},
		{"GET", v + "/whereis/{gtin}/{serial...}", auth.PermUnitsRead, "where a unit is: its case, pallet, hold, shipment and customer", (*api).whereIs, "", ""},

		{"POST", v + "/dscsa/inbound", auth.PermDSCSAInbound, "a partner's DSCSA EPCIS document (1.2 or 2.0 XML) for its own GLN: 202 with the receipt", (*api).inboundDSCSA, "xml", ""},
		{"GET", v + "/receipts/{id}", auth.PermReceiptsRead, "a receipt: what a partner's document brought, and its exceptions (a partner: its own)", (*api).getReceipt, "", ""},
		{"GET", v + "/receipts/{id}/document", auth.PermReceiptsRead, "the document a receipt was made from, as the partner sent it", (*api).receiptDocument, "", ""},
		{"GET", v + "/exceptions", auth.PermUnitsRead, "receipt exceptions: overage, shortage, unknown serial, missing statement (filters: state, kind)", (*api).listExceptions, "", "state,kind,limit"},
		{"POST", v + "/exceptions/{id}/resolve", auth.PermQualityWrite, "record how an exception was resolved; audited", (*api).resolveException, "json", ""},

		{"POST", v + "/investigations", auth.PermQualityWrite, "open a QA investigation of suspect product (units, a lot or a container): quarantined, no picking or shipping; audited", (*api).openInvestigation, "json", ""},
		{"GET", v + "/investigations", auth.PermUnitsRead, "QA investigations, newest first (filter: state)", (*api).listInvestigations, "", "state"},
		{"GET", v + "/investigations/{id}", auth.PermUnitsRead, "an investigation with the product data an FDA Form 3911 needs", (*api).getInvestigation, "", ""},
		{"POST", v + "/investigations/{id}/outcome", auth.PermQualityWrite, "record the outcome: cleared (quarantine ends) or illegitimate (with the FDA Form 3911 data); audited", (*api).closeInvestigation, "json", ""},
		{"GET", v + "/trace", auth.PermTraceRead, "answer a tracing request: TI, TH and TS of every transaction of a unit or a container's units (JSON), or its EPCIS events", (*api).trace, "", "gtin,serial,sscc,format"},

		{"GET", v + "/tokens", auth.PermTokensManage, "list API tokens (never their secrets)", (*api).listTokens, "", ""},
		{"POST", v + "/tokens", auth.PermTokensManage, "issue a token; its secret is shown once", (*api).createToken, "json", ""},
		{"DELETE", v + "/tokens/{id}", auth.PermTokensManage, "revoke a token", (*api).revokeToken, "", ""},
	}
}

// New returns the API handler: authentication, then the route table.
// Mount it at Prefix.
func New(deps Deps, log *slog.Logger) (http.Handler, error) {
	if deps.Store == nil {
		return nil, errors.New("api: store: missing")
	}
	if log == nil {
		return nil, errors.New("api: logger: missing")
	}
	if deps.MaxBodyBytes <= 0 {
		deps.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if deps.MaxImportBytes <= 0 {
		deps.MaxImportBytes = DefaultMaxImportBytes
	}
	if deps.MaxInboundBytes <= 0 {
		deps.MaxInboundBytes = DefaultMaxInboundBytes
	}
	if deps.PublishTimeout <= 0 {
		deps.PublishTimeout = 10 * time.Second
	}
	a := &api{Deps: deps, log: log.With("component", "api")}
	mux := http.NewServeMux()
	// probe matches paths regardless of method, to tell 405 from 404.
	probe := http.NewServeMux()
	allow := map[string][]string{}
	for _, rt := range routes() {
		if len(rt.perm.Roles()) == 0 {
			panic(fmt.Sprintf("api: route %s %s: permission %q is held by no role", rt.method, rt.pattern, rt.perm))
		}
		mux.Handle(rt.method+" "+rt.pattern, auth.Allow(rt.perm)(a.serve(rt)))
		if _, seen := allow[rt.pattern]; !seen {
			probe.Handle(rt.pattern, http.NotFoundHandler())
		}
		allow[rt.pattern] = append(allow[rt.pattern], rt.method)
	}
	mux.HandleFunc(Prefix, func(w http.ResponseWriter, r *http.Request) {
		if _, pat := probe.Handler(r); pat != "" && allow[pat] != nil {
			methods := slices.Clone(allow[pat])
			if slices.Contains(methods, http.MethodGet) {
				methods = append(methods, http.MethodHead)
			}
			w.Header().Set("Allow", strings.Join(methods, ", "))
			httpjson.WriteError(w, http.StatusMethodNotAllowed, httpjson.Error{Code: "method_not_allowed",
				Message: fmt.Sprintf("%s is not allowed on %s; use %s", r.Method, r.URL.Path, strings.Join(methods, ", "))})
			return
		}
		httpjson.WriteError(w, http.StatusNotFound, httpjson.Error{Code: "not_found", Message: "no such API route: " + r.URL.Path})
	})
	return auth.Middleware(deps.Store, a.log)(mux), nil
}

// statusWriter remembers the status for the request log.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// serve adapts a route's handler: body limit, error response, request log.
func (a *api) serve(rt route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		limit := a.MaxBodyBytes
		switch rt.body {
		case "csv":
			limit = a.MaxImportBytes
		case "xml":
			limit = a.MaxInboundBytes
		}
		r.Body = http.MaxBytesReader(w, r.Body, limit)
		sw := &statusWriter{ResponseWriter: w}
		err := checkQuery(r, rt.params())
		if err == nil {
			err = rt.h(a, sw, r)
		}
		if err != nil {
			a.fail(sw, r, err)
		}
		p, _ := auth.PrincipalFrom(r.Context())
		a.log.Debug("api request", "method", r.Method, "path", r.URL.Path, "status", sw.status,
			"who", p.Name, "role", p.Role, "took", time.Since(start))
	})
}
