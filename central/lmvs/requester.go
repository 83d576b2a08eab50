package lmvs

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/serialine/serialine/central/outbound"
	"github.com/serialine/serialine/central/store/master"
	"github.com/serialine/serialine/central/store/sqldb"
	"github.com/serialine/serialine/central/store/supply"
	"github.com/serialine/serialine/shared/gs1"
)

// RequesterStore is what the requester needs of central's store.
type RequesterStore interface {
	EndpointsOfKind(ctx context.Context, kind string) ([]master.PartnerEndpoint, error)
	PartnerEndpoint(ctx context.Context, gln, kind string) (master.PartnerEndpoint, error)
	Partners(ctx context.Context) ([]master.Partner, error)
	RecordVerification(ctx context.Context, r supply.VerificationRecord) (int64, error)
}

// RequesterConfig is the requester's settings.
type RequesterConfig struct {
	// RequesterGLN is the reqGLN we send (our GLN as the VRS knows us);
	// required.
	RequesterGLN string
	// RouterGLN is the trading partner whose verification endpoint is our
	// VRS router (our provider's requester service): every GTIN not
	// routed by company prefix goes there. "" has none.
	RouterGLN string
	// Timeout bounds one request (default 20 s).
	Timeout time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Requester verifies other manufacturers' packs (our returns desk): by
// the GTIN's GS1 company prefix to a trading partner that has its own
// verification endpoint (a partner whose company_prefix_len is known and
// whose GLN carries the same prefix), else through the router. Requests
// go over HTTPS with the endpoint's authentication, through the outbound
// policy (no private or metadata addresses unless allowed).
type Requester struct {
	st     RequesterStore
	policy outbound.Policy
	cfg    RequesterConfig
	log    *slog.Logger
}

// NewRequester returns a requester (it does not dial).
func NewRequester(st RequesterStore, policy outbound.Policy, cfg RequesterConfig, log *slog.Logger) (*Requester, error) {
	if st == nil || log == nil {
		return nil, errors.New("lmvs: a store and a logger are required")
	}
	if _, err := gs1.ParseGLN(cfg.RequesterGLN); err != nil {
		return nil, fmt.Errorf("lmvs: requester GLN: %w", err)
	}
	if cfg.RouterGLN != "" {
		if _, err := gs1.ParseGLN(cfg.RouterGLN); err != nil {
			return nil, fmt.Errorf("lmvs: router GLN: %w", err)
		}
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 20 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Requester{st: st, policy: policy, cfg: cfg, log: log.With("component", "lmvs-requester")}, nil
}

// Pack is a product identifier to verify.
type Pack struct {
	GTIN   string `json:"gtin"`
	Serial string `json:"serial"`
	Lot    string `json:"lot"`
	Expiry string `json:"expiry"` // YYMMDD
}

// Check validates the identifier; the error names the field.
func (p Pack) Check() (Pack, *RequestError) {
	g, err := gs1.ParseGTIN(p.GTIN)
	if err != nil {
		return p, bad("gtin", "%v", err)
	}
	p.GTIN = string(g)
	for _, f := range []struct{ name, v string }{{"serial", p.Serial}, {"lot", p.Lot}} {
		if f.v == "" || len(f.v) > 20 || !gs1.IsCSET82(f.v) {
			return p, bad(f.name, "1 to 20 characters of GS1 character set 82, got %q", f.v)
		}
	}
	if err := gs1.ValidateDate("17", p.Expiry, true); err != nil {
		return p, bad("expiry", "%v", err)
	}
	return p, nil
}

// Result is what a verification request got.
type Result struct {
	// Route says how the responder was found: "company-prefix" or
	// "router"; Partner is the trading partner whose endpoint was used.
	Route    string `json:"route"`
	Partner  string `json:"partner"`
	Endpoint string `json:"endpoint"`
	Request  string `json:"request"`
	Status   int    `json:"status"`
	// Response is the LMVS answer (a 200 that parsed); Error says why
	// there is none.
	Response *Response `json:"response,omitempty"`
	Error    string    `json:"error,omitempty"`
	RecordID int64     `json:"record_id"`
}

// ErrNoRoute: neither a partner by company prefix nor a router has a
// verification endpoint.
var ErrNoRoute = errors.New("no verification route: no trading partner with this GTIN's company prefix has a verification endpoint, and no router is configured (verification.router_gln)")

// route finds the endpoint for a GTIN.
func (q *Requester) route(ctx context.Context, gtin string) (master.PartnerEndpoint, string, error) {
	eps, err := q.st.EndpointsOfKind(ctx, master.EndpointVerification)
	if err != nil {
		return master.PartnerEndpoint{}, "", err
	}
	if len(eps) > 0 {
		partners, err := q.st.Partners(ctx)
		if err != nil {
			return master.PartnerEndpoint{}, "", err
		}
		prefix := map[string]int{}
		for _, p := range partners {
			prefix[p.GLN] = p.CompanyPrefixLen
		}
		for _, ep := range eps {
			if n := prefix[ep.GLN]; n > 0 && ep.GLN != q.cfg.RouterGLN && len(gtin) == 14 && gtin[1:1+n] == ep.GLN[:n] {
				return ep, "company-prefix", nil
			}
		}
	}
	if q.cfg.RouterGLN == "" {
		return master.PartnerEndpoint{}, "", ErrNoRoute
	}
	ep, err := q.st.PartnerEndpoint(ctx, q.cfg.RouterGLN, master.EndpointVerification)
	if errors.Is(err, sqldb.ErrNotFound) {
		return ep, "", fmt.Errorf("%w (the router %s has no verification endpoint)", ErrNoRoute, q.cfg.RouterGLN)
	}
	return ep, "router", err
}

// maxAnswer bounds the answer read (an LMVS answer is a few hundred bytes).
const maxAnswer = 64 << 10

// Verify asks the pack's responder and keeps request and answer in the
// verification log (under the context's actor). An error is returned
// only when nothing could be asked (bad input, no route, the log
// unavailable); a responder that failed to answer is a Result with
// Error set.
func (q *Requester) Verify(ctx context.Context, pack Pack) (Result, error) {
	pack, perr := pack.Check()
	if perr != nil {
		return Result{}, perr
	}
	ep, how, err := q.route(ctx, pack.GTIN)
	if err != nil {
		return Result{}, err
	}
	req := Request{GTIN: pack.GTIN, Serial: pack.Serial, Lot: pack.Lot, HasLot: true, Expiry: pack.Expiry, HasExpiry: true,
		Context: ContextSaleableReturn, ReqGLN: q.cfg.RequesterGLN, CorrUUID: newUUID()}
	target := strings.TrimSuffix(ep.URL, "/") + req.Path()
	res := Result{Route: how, Partner: ep.GLN, Endpoint: ep.URL, Request: target}
	rec := supply.VerificationRecord{Direction: supply.VerificationOut, At: q.cfg.Now().UTC(), Actor: sqldb.ActorFrom(ctx), PartnerGLN: ep.GLN,
		ReqGLN: req.ReqGLN, Context: req.Context, CorrUUID: req.CorrUUID, GTIN: pack.GTIN, Serial: pack.Serial, Lot: pack.Lot,
		Expiry: pack.Expiry, Request: target, Endpoint: ep.URL}
	start := time.Now()
	body, status, ctype, err := q.get(ctx, ep, target)
	res.Status, rec.Status, rec.Duration = status, status, time.Since(start)
	switch {
	case err != nil:
		res.Error = err.Error()
	case status != http.StatusOK:
		// The partner's short reason at most, never its body: the endpoint
		// could be anything a planner typed.
		res.Error = "the responder answered " + outbound.Summary(status, ctype, body)
	default:
		res.Response, err = ParseResponse(body, req.CorrUUID)
		if err != nil {
			res.Error = err.Error()
		}
	}
	// The log keeps an LMVS answer as received (the DSCSA record); of
	// anything else, what we made of it.
	rec.Answer = res.Error
	if status == http.StatusOK && res.Response != nil {
		rec.Answer = string(body)
	}
	if r := res.Response; r != nil {
		rec.ResponderGLN = r.ResponderGLN
		if r.Data != nil {
			rec.Verified, rec.FailureReason, rec.AdditionalInfo = &r.Data.Verified, r.Data.VerificationFailureReason, r.Data.AdditionalInfo
		}
	}
	if res.RecordID, err = q.st.RecordVerification(context.WithoutCancel(ctx), rec); err != nil {
		return res, err
	}
	q.log.Info("verification requested", "gtin", pack.GTIN, "serial", pack.Serial, "route", how, "partner", ep.GLN, "status", status, "error", res.Error)
	return res, nil
}

// get sends the request with the endpoint's authentication.
func (q *Requester) get(ctx context.Context, ep master.PartnerEndpoint, target string) (body []byte, status int, ctype string, err error) {
	if err := q.policy.CheckURL(ep.URL); err != nil {
		return nil, 0, "", fmt.Errorf("refused by central's outbound policy: %w", err)
	}
	hc, err := q.policy.Client(ep, q.cfg.Timeout)
	if err != nil {
		return nil, 0, "", fmt.Errorf("endpoint configuration: %w", err)
	}
	defer hc.CloseIdleConnections()
	hr, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return nil, 0, "", err
	}
	hr.Header.Set("Accept", "application/json")
	hr.Header.Set("User-Agent", "serialine-central")
	outbound.Authorize(hr, ep)
	resp, err := hc.Do(hr)
	if errors.Is(err, outbound.ErrDestination) {
		return nil, 0, "", fmt.Errorf("refused by central's outbound policy: %w", err)
	}
	if err != nil {
		return nil, 0, "", fmt.Errorf("no answer: %w", err)
	}
	defer resp.Body.Close()
	ctype = resp.Header.Get("Content-Type")
	body, err = io.ReadAll(io.LimitReader(resp.Body, maxAnswer+1))
	if err != nil {
		return body, resp.StatusCode, ctype, fmt.Errorf("reading the answer: %w", err)
	}
	if len(body) > maxAnswer {
		return body[:maxAnswer], resp.StatusCode, ctype, fmt.Errorf("the answer is larger than %d bytes", maxAnswer)
	}
	return body, resp.StatusCode, ctype, nil
}

// ParseResponse reads an LMVS verification answer and checks what the
// requester relies on: a timestamp, the responder's GLN, data.verified,
// a failure reason exactly when not verified, and the corrUUID echoed.
func ParseResponse(body []byte, corrUUID string) (*Response, error) {
	var r Response
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&r); err != nil {
		return nil, fmt.Errorf("the answer is not LMVS JSON: %v", err)
	}
	switch {
	case r.VerificationTimestamp == "":
		return &r, errors.New("the answer has no verificationTimestamp")
	case r.ResponderGLN == "":
		return &r, errors.New("the answer has no responderGLN")
	case r.Data == nil:
		return &r, errors.New("the answer has no data")
	case !r.Data.Verified && r.Data.VerificationFailureReason == "":
		return &r, errors.New("the answer is not verified but gives no verificationFailureReason")
	case r.CorrUUID != "" && !strings.EqualFold(r.CorrUUID, corrUUID):
		return &r, fmt.Errorf("the answer's corrUUID %s is not the request's %s", r.CorrUUID, corrUUID)
	}
	if _, err := gs1.ParseGLN(r.ResponderGLN); err != nil {
		return &r, fmt.Errorf("the answer's responderGLN: %v", err)
	}
	return &r, nil
}

// newUUID is a random (version 4) UUID.
func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
