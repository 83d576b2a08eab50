package outbound

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/serialine/serialine/central/store/master"
)

// client is the HTTP client for one partner endpoint: TLS 1.2 or newer
// (the partner's CA bundle if it has one, central's client certificate
// for mTLS), every connection through the policy's dialer, no proxy from
// the environment (the check would see the proxy, not the partner), and
// no redirects (a redirect is an answer, not a new destination).
func (p Policy) client(ep master.PartnerEndpoint, timeout time.Duration) (*http.Client, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if ep.CACert != "" {
		pool, err := master.ParseCertPool(ep.CACert)
		if err != nil {
			return nil, fmt.Errorf("ca_cert: %w", err)
		}
		tc.RootCAs = pool
	}
	if ep.Auth == master.EndpointAuthMTLS {
		cert, err := tls.X509KeyPair([]byte(ep.ClientCert), []byte(ep.ClientKey))
		if err != nil {
			return nil, fmt.Errorf("client certificate: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	d := &net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second, Control: p.control}
	tr := &http.Transport{
		Proxy:                 nil,
		DialContext:           d.DialContext,
		TLSClientConfig:       tc,
		TLSHandshakeTimeout:   timeout,
		ResponseHeaderTimeout: timeout,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          1,
		IdleConnTimeout:       30 * time.Second,
	}
	return &http.Client{
		Transport:     tr,
		Timeout:       timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}, nil
}

// Client is the HTTP client for the endpoint ep, as the sender uses it
// (the policy's dialer, ep's TLS settings, no proxy, no redirects), for
// other callers of partner endpoints: the LMVS requester's GET.
func (p Policy) Client(ep master.PartnerEndpoint, timeout time.Duration) (*http.Client, error) {
	return p.client(ep, timeout)
}

// Authorize puts ep's bearer or basic credentials on req (mTLS is the
// client's).
func Authorize(req *http.Request, ep master.PartnerEndpoint) {
	switch ep.Auth {
	case master.EndpointAuthBearer:
		req.Header.Set("Authorization", "Bearer "+ep.Secret)
	case master.EndpointAuthBasic:
		req.SetBasicAuth(ep.Username, ep.Secret)
	}
}

// Answer is what a partner's endpoint answered, summarised for our
// users: the status and at most a short reason, never the body.
type Answer struct {
	Status  int
	Summary string
}

// maxReason bounds the partner's reason quoted in a summary.
const maxReason = 120

// post sends doc to the endpoint with its authentication and returns the
// summarised answer; err is set when no answer came (then Summary says
// why, in our words).
func (p Policy) post(ctx context.Context, ep master.PartnerEndpoint, timeout time.Duration, doc Document) (Answer, error) {
	u, err := url.Parse(ep.URL)
	if err != nil || u.Scheme != "https" {
		return Answer{Summary: "endpoint is not an https URL"}, fmt.Errorf("endpoint %q: not an https URL", ep.URL)
	}
	if err := p.CheckURL(ep.URL); err != nil {
		return Answer{Summary: "refused by central's outbound policy: " + err.Error()}, err
	}
	hc, err := p.client(ep, timeout)
	if err != nil {
		return Answer{Summary: "endpoint configuration: " + err.Error()}, err
	}
	defer hc.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, ep.URL, bytes.NewReader(doc.Body))
	if err != nil {
		return Answer{Summary: "request: " + err.Error()}, err
	}
	req.Header.Set("Content-Type", doc.ContentType)
	req.Header.Set("User-Agent", "serialine-central")
	Authorize(req, ep)
	resp, err := hc.Do(req)
	if err != nil {
		return Answer{Summary: connectionSummary(err)}, err
	}
	defer resp.Body.Close()
	return Answer{Status: resp.StatusCode, Summary: summarise(resp)}, nil
}

// connectionSummary says why no answer came, without the request URL
// (which the attempt records anyway) and never with anything the far end
// sent.
func connectionSummary(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	switch {
	case errors.Is(err, ErrDestination):
		for e := err; e != nil; e = errors.Unwrap(e) {
			if errors.Unwrap(e) == ErrDestination {
				return "refused by central's outbound policy: " + e.Error()
			}
		}
		return "refused by central's outbound policy"
	case errors.Is(err, context.DeadlineExceeded):
		return "no answer within the timeout"
	}
	var ce *tls.CertificateVerificationError
	if errors.As(err, &ce) {
		return "the partner's TLS certificate is not trusted: " + short(ce.Err.Error())
	}
	return "no answer: " + short(err.Error())
}

// summarise is the status line and, when the partner gave one, a short
// reason: a JSON body's message/error/detail/title string, or a text
// body's first line. At most 4 KiB of the body is read.
func summarise(resp *http.Response) string {
	s := fmt.Sprintf("HTTP %d %s", resp.StatusCode, http.StatusText(resp.StatusCode))
	if resp.StatusCode >= 300 && resp.StatusCode < 400 {
		return s + " (redirect not followed)"
	}
	body := io.LimitReader(resp.Body, 64<<10)
	defer func() { _, _ = io.Copy(io.Discard, body) }()
	mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	var reason string
	switch {
	case mt == "application/json" || strings.HasSuffix(mt, "+json"):
		reason = jsonReason(body)
	case mt == "text/plain":
		b, _ := io.ReadAll(io.LimitReader(body, 4<<10))
		reason, _, _ = strings.Cut(string(b), "\n")
	}
	if reason = short(reason); reason != "" {
		s += ": " + reason
	}
	return s
}

// jsonReason finds a short human reason in a JSON answer: the first
// top-level message, error, detail, title or reason that is a string (or
// an object with a string message), read as a stream.
func jsonReason(r io.Reader) string {
	dec := json.NewDecoder(r)
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return ""
	}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return ""
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return ""
		}
		switch k, _ := t.(string); k {
		case "message", "error", "detail", "title", "reason":
			var s string
			if json.Unmarshal(v, &s) == nil {
				return s
			}
			var o struct {
				Message string `json:"message"`
			}
			if json.Unmarshal(v, &o) == nil && o.Message != "" {
				return o.Message
			}
		}
	}
	return ""
}

// short keeps printable characters, at most maxReason runes and
// maxReasonBytes bytes (and the ellipsis).
func short(s string) string {
	if !utf8.ValidString(s) {
		return ""
	}
	var b strings.Builder
	n := 0
	for _, r := range strings.TrimSpace(s) {
		if !unicode.IsPrint(r) {
			r = ' '
		}
		if n == maxReason || b.Len()+utf8.RuneLen(r) > maxReasonBytes {
			b.WriteString("…")
			break
		}
		b.WriteRune(r)
		n++
	}
	return b.String()
}
