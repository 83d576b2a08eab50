package lmvs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/serialine/serialine/central/auth"
	"github.com/serialine/serialine/central/store/master"
	"github.com/serialine/serialine/central/store/orders"
	"github.com/serialine/serialine/central/store/supply"
	"github.com/serialine/serialine/shared/gs1"
)

// Store is what the responder needs of central's store (*store.Store has
// it).
type Store interface {
	auth.TokenStore
	VerifyFactsFor(ctx context.Context, tokenHash, gtin, serial string) (supply.TokenLookup, supply.VerifyFacts, error)
	RecordVerification(ctx context.Context, r supply.VerificationRecord) (int64, error)
	Sites(ctx context.Context) ([]master.Site, error)
}

// Config is the responder's settings.
type Config struct {
	// ResponderGLN is our GLN in the answers (responderGLN); "" takes our
	// first site's GLN (by GLN) when the first request comes.
	ResponderGLN string
	// Now is the clock (verificationTimestamp, expiry); default time.Now.
	Now func() time.Time
}

// Responder answers LMVS requests. Mount it at the Digital Link paths
// (/01/, /gtin/ and /checkConnectivity) of central's HTTP server, outside
// the web UI's sign-in: a call without credentials gets 401, never a
// redirect.
type Responder struct {
	st  Store
	cfg Config
	log *slog.Logger

	mu  sync.Mutex
	gln string
}

// NewResponder returns a responder (it does not touch the store).
func NewResponder(st Store, cfg Config, log *slog.Logger) (*Responder, error) {
	if st == nil || log == nil {
		return nil, errors.New("lmvs: a store and a logger are required")
	}
	if cfg.ResponderGLN != "" {
		if _, err := gs1.ParseGLN(cfg.ResponderGLN); err != nil {
			return nil, fmt.Errorf("lmvs: responder GLN: %w", err)
		}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Responder{st: st, cfg: cfg, log: log.With("component", "lmvs"), gln: cfg.ResponderGLN}, nil
}

// responderGLN is the configured GLN or our first site's.
func (rs *Responder) responderGLN(ctx context.Context) (string, error) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if rs.gln != "" {
		return rs.gln, nil
	}
	sites, err := rs.st.Sites(ctx)
	if err != nil {
		return "", err
	}
	if len(sites) == 0 {
		return "", errors.New("no responder GLN: set verification.responder_gln or create a site")
	}
	rs.gln = sites[0].GLN
	return rs.gln, nil
}

// maxLoggedRequest bounds the request line kept in the log.
const maxLoggedRequest = 2048

// answer is what the responder says: a status and either the JSON
// response (200) or a one-line reason (the standard's error answers carry
// no JSON payload).
type answer struct {
	status int
	resp   *Response
	why    string
	header map[string]string
}

func fail(status int, format string, args ...any) answer {
	return answer{status: status, why: fmt.Sprintf(format, args...)}
}

// ServeHTTP answers one LMVS request and keeps it, with the answer, in
// the verification log.
func (rs *Responder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	rec := supply.VerificationRecord{Direction: supply.VerificationIn, At: rs.cfg.Now().UTC(), Actor: "anonymous",
		Request: clipTo(r.Method+" "+r.URL.RequestURI(), maxLoggedRequest), Remote: r.RemoteAddr}
	a := rs.respond(r, &rec)
	var body []byte
	if a.resp != nil {
		body, _ = json.Marshal(a.resp) // strings and bools always marshal
		rec.Answer = string(body)
	} else {
		rec.Answer = a.why
	}
	rec.Status, rec.Duration = a.status, time.Since(start)
	if _, err := rs.st.RecordVerification(context.WithoutCancel(r.Context()), rec); err != nil {
		rs.log.Error("verification not recorded", "request", rec.Request, "err", err)
		if a.status == http.StatusOK {
			// An answer we cannot keep is not given.
			a = fail(http.StatusServiceUnavailable, "the verification cannot be recorded right now; retry later")
			body = nil
		}
	}
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	for k, v := range a.header {
		h.Set(k, v)
	}
	if body != nil {
		h.Set("Content-Type", "application/json")
		w.WriteHeader(a.status)
		_, _ = w.Write(body)
		return
	}
	h.Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(a.status)
	_, _ = fmt.Fprintf(w, "%d %s: %s\n", a.status, http.StatusText(a.status), a.why)
}

// respond decides the answer and fills the log record as it learns.
func (rs *Responder) respond(r *http.Request, rec *supply.VerificationRecord) answer {
	ctx := r.Context()
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		a := fail(http.StatusMethodNotAllowed, "%s is not allowed; a verification request is a GET", r.Method)
		a.header = map[string]string{"Allow": "GET, HEAD"}
		return a
	}
	bearer, present, berr := bearerToken(r)
	if !present {
		a := fail(http.StatusUnauthorized, "authentication required: send \"Authorization: Bearer <token>\" with the partner token central issued to you")
		a.header = map[string]string{"WWW-Authenticate": challenge}
		return a
	}
	req, perr := ParseRequest(r.URL.EscapedPath(), r.URL.RawQuery)
	rec.GTIN, rec.Serial, rec.Lot, rec.Expiry = req.GTIN, req.Serial, req.Lot, req.Expiry
	rec.ReqGLN, rec.Context, rec.CorrUUID, rec.CheckConnectivity = req.ReqGLN, req.Context, req.CorrUUID, req.CheckConnectivity
	// The token and the unit are read together (one round trip on
	// PostgreSQL); a malformed request only needs the token.
	var tokens auth.TokenStore = rs.st
	var f supply.VerifyFacts
	if perr == nil && berr == nil {
		tl, facts, err := rs.st.VerifyFactsFor(ctx, auth.HashToken(bearer), req.GTIN, req.Serial)
		if err != nil {
			rs.log.Error("lmvs: token and unit", "gtin", req.GTIN, "serial", req.Serial, "err", err)
			return fail(http.StatusServiceUnavailable, "the verification cannot be made right now; retry later")
		}
		tokens, f = tl, facts
	}
	p, a, ok := rs.authenticate(ctx, tokens, bearer, berr)
	if !ok {
		return a
	}
	rec.Actor, rec.PartnerGLN = p.Actor(), p.Partner
	if !p.Can(auth.PermVerification) {
		return fail(http.StatusForbidden, "role %s may not ask for verifications; a trading partner's token (role partner) may", p.Role)
	}
	if perr != nil {
		return fail(http.StatusBadRequest, "%s", perr.Error())
	}
	if req.ReqGLN != p.Partner {
		return fail(http.StatusForbidden, "reqGLN %s is not the GLN of the credential (%s): a partner asks for itself only", req.ReqGLN, p.Partner)
	}
	gln, err := rs.responderGLN(ctx)
	if err != nil {
		rs.log.Error("lmvs: responder GLN", "err", err)
		return fail(http.StatusServiceUnavailable, "the responder is not set up: %v", err)
	}
	rec.ResponderGLN = gln
	if !f.Product {
		return fail(http.StatusNotFound, "GTIN %s is not a product of this responder (%s)", req.GTIN, gln)
	}
	resp := &Response{VerificationTimestamp: Timestamp(rs.cfg.Now()), ResponderGLN: gln, CorrUUID: req.CorrUUID}
	if req.CheckConnectivity {
		return answer{status: http.StatusOK, resp: resp}
	}
	facts, err := rs.facts(ctx, req, f)
	if err != nil {
		rs.log.Error("lmvs: facts", "gtin", req.GTIN, "serial", req.Serial, "err", err)
		return fail(http.StatusServiceUnavailable, "the verification cannot be made right now; retry later")
	}
	d := Decide(facts, req.Lot, req.Expiry, req.HasLot, req.HasExpiry)
	resp.Data = &d
	rec.Verified, rec.FailureReason, rec.AdditionalInfo = &d.Verified, d.VerificationFailureReason, d.AdditionalInfo
	return answer{status: http.StatusOK, resp: resp}
}

// facts turns the store's view of a unit into the decision's facts.
func (rs *Responder) facts(ctx context.Context, req Request, f supply.VerifyFacts) (Facts, error) {
	if !f.Unit || f.State == orders.StateVoided {
		return Facts{}, nil
	}
	out := Facts{Known: true, Lot: f.Lot, Expiry: f.Expiry, Decommissioned: f.State == orders.StateDecommissioned || f.Destroyed,
		Recalled: f.Recalled || f.Withdrawn, Stolen: f.Stolen, Suspect: f.Suspect, Illegitimate: f.Illegitimate}
	exp, err := gs1.ExpiryTime(f.Expiry)
	if err != nil {
		return out, fmt.Errorf("stored expiry %q: %w", f.Expiry, err)
	}
	out.Expired = exp.Before(rs.cfg.Now().UTC().Truncate(24 * time.Hour))
	return out, nil
}

// challenge is the WWW-Authenticate of a 401 (RFC 6750).
const challenge = `Bearer realm="serialine"`

// bearerToken reads "Authorization: Bearer <token>": whether the header
// is there, and an error when it is not a bearer token.
func bearerToken(r *http.Request) (string, bool, error) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return "", false, nil
	}
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", true, auth.ErrInvalidToken
	}
	return strings.TrimSpace(tok), true, nil
}

// authenticate checks the bearer token against tokens: a wrong one is
// 401 (with the RFC 6750 challenge), never a redirect.
func (rs *Responder) authenticate(ctx context.Context, tokens auth.TokenStore, tok string, berr error) (auth.Principal, answer, bool) {
	var p auth.Principal
	err := berr
	if err == nil {
		p, err = auth.Authenticate(ctx, tokens, tok)
	}
	switch {
	case err == nil:
		return p, answer{}, true
	case errors.Is(err, auth.ErrInvalidToken):
		a := fail(http.StatusUnauthorized, "invalid token: unknown, revoked or malformed")
		a.header = map[string]string{"WWW-Authenticate": challenge + `, error="invalid_token"`}
		return p, a, false
	default:
		rs.log.Error("lmvs: token check", "err", err)
		return p, fail(http.StatusServiceUnavailable, "credentials cannot be checked right now; retry later"), false
	}
}

func clipTo(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// IsLMVSPath reports whether a request path is one the responder answers:
// the GS1 Digital Link paths of a GTIN (/01/…, /gtin/…) and
// /checkConnectivity.
func IsLMVSPath(p string) bool {
	return strings.HasPrefix(p, "/01/") || strings.HasPrefix(p, "/gtin/") || p == "/checkConnectivity"
}

// Route sends the LMVS paths to rs and everything else to next. It sits
// in front of central's ServeMux rather than in it, because the mux
// redirects paths it would clean (a serial may be "..") and the web UI's
// "/" would take what the mux does not match.
func Route(rs http.Handler, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if IsLMVSPath(r.URL.Path) {
			rs.ServeHTTP(w, r)
			return
		}
		next.ServeHTTP(w, r)
	})
}
