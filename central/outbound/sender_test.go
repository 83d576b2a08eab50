package outbound_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/serialine/serialine/central/outbound"
	"github.com/serialine/serialine/central/outbound/outboundtest"
	"github.com/serialine/serialine/central/store"
	"github.com/serialine/serialine/central/store/audit"
	"github.com/serialine/serialine/central/store/master"
	"github.com/serialine/serialine/central/store/messages"
	"github.com/serialine/serialine/central/store/sqldb"
	"github.com/serialine/serialine/central/store/storetest"
	"github.com/serialine/serialine/internal/testkit"
)

const partner = "9506000000022"

// clock is a settable clock for the sender's schedule.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }
func (c *clock) set(t time.Time)     { c.mu.Lock(); c.t = t; c.mu.Unlock() }

// builder builds a numbered document per reference and counts its calls.
type builder struct{ calls atomic.Int64 }

func (b *builder) Build(_ context.Context, ref, gln string) (outbound.Document, error) {
	n := b.calls.Add(1)
	return outbound.Document{Body: []byte(fmt.Sprintf("<doc ref=%q to=%q build=%d/>", ref, gln, n)), ContentType: "application/xml", ID: fmt.Sprintf("%s-%d", ref, n)}, nil
}

// partnerServer is an HTTPS endpoint on loopback answering with the
// statuses of script in turn (then the last one), recording what came.
type partnerServer struct {
	mu     sync.Mutex
	script []int
	bodies []string
	auth   []string
}

func (p *partnerServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	p.mu.Lock()
	p.bodies = append(p.bodies, string(b))
	p.auth = append(p.auth, r.Header.Get("Authorization"))
	status := p.script[min(len(p.bodies)-1, len(p.script)-1)]
	p.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = fmt.Fprintf(w, `{"message": "status %d for you", "internal": "SECRET-STACK-TRACE %s"}`, status, strings.Repeat("x", 5000))
}

func (p *partnerServer) got() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.bodies...)
}

// rig is a store with a partner whose dscsa endpoint is a loopback HTTPS
// server, and a sender allowed to reach loopback, on a settable clock.
type rig struct {
	st    *store.Store
	srv   *partnerServer
	ca    *outboundtest.CA
	url   string
	clk   *clock
	b     *builder
	owner string
}

func newRig(t *testing.T, dsn string, script ...int) *rig {
	t.Helper()
	r := &rig{st: storetest.Open(t, dsn, testkit.Discard()), srv: &partnerServer{script: script}, ca: outboundtest.NewCA(t, "partner CA"),
		// The clock stands a second ahead of the store's, so that what is
		// queued now is due on it.
		clk: &clock{t: time.Now().UTC().Add(time.Second)}, b: &builder{}, owner: "replica-a"}
	require.NoError(t, r.st.PutPartner(storetest.Context(t), master.Partner{GLN: partner, Name: "Acme Wholesale"}))
	r.url = outboundtest.Server(t, r.srv, r.ca, nil).URL + "/dscsa"
	_, err := r.st.PutPartnerEndpoint(storetest.Context(t), master.PartnerEndpoint{GLN: partner, Kind: master.EndpointDSCSA, URL: r.url,
		Auth: master.EndpointAuthBearer, Secret: "partner-issued-token", CACert: r.ca.PEM})
	require.NoError(t, err)
	return r
}

func (r *rig) sender(t *testing.T, owner string, allow ...string) *outbound.Sender {
	t.Helper()
	p, err := outbound.NewPolicy(allow)
	require.NoError(t, err)
	s, err := outbound.New(r.st, map[string]outbound.Builder{master.EndpointDSCSA: r.b}, p,
		outbound.Config{Owner: owner, Now: r.clk.now, Timeout: 10 * time.Second}, testkit.Discard())
	require.NoError(t, err)
	return s
}

// TestDeliveryWithRetries: a partner that fails twice gets the same
// document a third time, after the backoff; every attempt is kept with
// the partner's status and a short summary (never the body), and audited.
func TestDeliveryWithRetries(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, dsn string) {
		r := newRig(t, dsn, 503, 502, 202)
		s := r.sender(t, "replica-a", "127.0.0.0/8")
		m, err := r.st.EnqueueOutbound(storetest.Context(t), master.EndpointDSCSA, "SHP-1", partner)
		require.NoError(t, err)
		again, err := r.st.EnqueueOutbound(storetest.Context(t), master.EndpointDSCSA, "SHP-1", partner)
		require.NoError(t, err)
		require.Equal(t, m.ID, again.ID, "a pending message is not queued twice")

		n, err := s.SendDue(storetest.Context(t))
		require.NoError(t, err)
		require.Equal(t, 1, n)
		got, err := r.st.OutboundMessage(storetest.Context(t), m.ID)
		require.NoError(t, err)
		require.Equal(t, messages.OutboundPending, got.State)
		require.Equal(t, 503, got.LastStatus)
		require.Equal(t, "HTTP 503 Service Unavailable: status 503 for you", got.LastSummary)
		require.Equal(t, r.clk.now().Add(outbound.DefaultRetryInitial).Truncate(time.Microsecond), got.NextAttemptAt.Truncate(time.Microsecond))

		n, err = s.SendDue(storetest.Context(t))
		require.NoError(t, err)
		require.Zero(t, n, "nothing due before the backoff ends")
		r.clk.add(outbound.DefaultRetryInitial)
		_, err = s.SendDue(storetest.Context(t))
		require.NoError(t, err)
		got, err = r.st.OutboundMessage(storetest.Context(t), m.ID)
		require.NoError(t, err)
		require.Equal(t, r.clk.now().Add(2*outbound.DefaultRetryInitial).Truncate(time.Microsecond), got.NextAttemptAt.Truncate(time.Microsecond), "the backoff doubles")
		r.clk.add(2 * outbound.DefaultRetryInitial)
		_, err = s.SendDue(storetest.Context(t))
		require.NoError(t, err)

		got, err = r.st.OutboundMessage(storetest.Context(t), m.ID)
		require.NoError(t, err)
		require.Equal(t, messages.OutboundDelivered, got.State)
		require.NotNil(t, got.DeliveredAt)
		require.Equal(t, 3, got.Attempts)
		require.Len(t, got.History, 3)
		for i, want := range []struct {
			status  int
			outcome string
		}{{503, messages.AttemptRetry}, {502, messages.AttemptRetry}, {202, messages.AttemptDelivered}} {
			a := got.History[i]
			require.Equal(t, i+1, a.N)
			require.Equal(t, want.status, a.Status)
			require.Equal(t, want.outcome, a.Outcome)
			require.Equal(t, r.url, a.Endpoint)
			require.Equal(t, "replica-a", a.Sender)
			require.NotContains(t, a.Summary, "SECRET", "the partner's body is never kept whole")
			require.LessOrEqual(t, len(a.Summary), 240)
		}
		bodies := r.srv.got()
		require.Len(t, bodies, 3)
		require.Equal(t, bodies[0], bodies[1], "every attempt sends the same document")
		require.Equal(t, bodies[0], bodies[2])
		require.EqualValues(t, 1, r.b.calls.Load(), "the document is built once")
		require.Equal(t, "SHP-1-1", got.DocumentID)
		doc, ctype, err := r.st.OutboundDocument(storetest.Context(t), m.ID)
		require.NoError(t, err)
		require.Equal(t, bodies[0], string(doc))
		require.Equal(t, "application/xml", ctype)
		for _, a := range r.srv.auth {
			require.Equal(t, "Bearer partner-issued-token", a)
		}
		entries, err := r.st.Audit(storetest.Context(t), audit.Filter{Entity: "outbound"})
		require.NoError(t, err)
		var actions []string
		for _, e := range entries {
			actions = append(actions, e.Action)
		}
		require.ElementsMatch(t, []string{"enqueue", "send", "send", "send"}, actions)

		// Resend on demand: the same document, delivered again.
		re, err := r.st.ResendOutbound(storetest.Context(t), m.ID)
		require.NoError(t, err)
		require.Equal(t, messages.OutboundPending, re.State)
		_, err = s.SendDue(storetest.Context(t))
		require.NoError(t, err)
		got, err = r.st.OutboundMessage(storetest.Context(t), m.ID)
		require.NoError(t, err)
		require.Equal(t, messages.OutboundDelivered, got.State)
		require.Len(t, got.History, 4)
		require.Equal(t, bodies[0], r.srv.got()[3])
		require.EqualValues(t, 1, r.b.calls.Load())
	})
}

// TestGiveUp: a partner that never answers 2xx is tried at least every
// 15 minutes for 2 hours, then the message is failed.
func TestGiveUp(t *testing.T) {
	r := newRig(t, storetest.SQLiteDSN(t), 503)
	s := r.sender(t, "replica-a", "127.0.0.0/8")
	m, err := r.st.EnqueueOutbound(storetest.Context(t), master.EndpointDSCSA, "SHP-2", partner)
	require.NoError(t, err)
	r.clk.set(m.ArmedAt)
	for range 100 {
		got, err := r.st.OutboundMessage(storetest.Context(t), m.ID)
		require.NoError(t, err)
		if got.State != messages.OutboundPending {
			break
		}
		r.clk.set(*got.NextAttemptAt)
		_, err = s.SendDue(storetest.Context(t))
		require.NoError(t, err)
	}
	got, err := r.st.OutboundMessage(storetest.Context(t), m.ID)
	require.NoError(t, err)
	require.Equal(t, messages.OutboundFailed, got.State)
	h := got.History
	require.GreaterOrEqual(t, len(h), 9, "an attempt at least every 15 minutes over 2 hours")
	for i := 1; i < len(h); i++ {
		require.LessOrEqual(t, h[i].At.Sub(h[i-1].At), 15*time.Minute, "attempt %d", h[i].N)
	}
	require.GreaterOrEqual(t, h[len(h)-1].At.Sub(m.ArmedAt), 2*time.Hour, "failed only after 2 hours")
	require.Equal(t, messages.AttemptFailed, h[len(h)-1].Outcome)
	require.Contains(t, got.LastSummary, "no success within 2h0m0s")
}

// TestRefusedDocument: a partner that refuses the document itself (422)
// fails the message at once; its reason is quoted, not its body.
func TestRefusedDocument(t *testing.T) {
	r := newRig(t, storetest.SQLiteDSN(t), 422)
	s := r.sender(t, "replica-a", "127.0.0.0/8")
	m, err := r.st.EnqueueOutbound(storetest.Context(t), master.EndpointDSCSA, "SHP-3", partner)
	require.NoError(t, err)
	_, err = s.SendDue(storetest.Context(t))
	require.NoError(t, err)
	got, err := r.st.OutboundMessage(storetest.Context(t), m.ID)
	require.NoError(t, err)
	require.Equal(t, messages.OutboundFailed, got.State)
	require.Equal(t, 1, got.Attempts)
	require.True(t, strings.HasPrefix(got.LastSummary, "HTTP 422 Unprocessable Entity: status 422 for you"), got.LastSummary)
	require.NotContains(t, got.LastSummary, "SECRET")
}

// TestLoopbackRefusedAtConnect: without an allowed network, a partner
// URL naming a host that resolves to loopback is refused when it is
// dialled: no connection reaches the server.
func TestLoopbackRefusedAtConnect(t *testing.T) {
	r := newRig(t, storetest.SQLiteDSN(t), 202)
	var accepted atomic.Int64
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			_ = c.Close()
		}
	}()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	_, err = r.st.PutPartnerEndpoint(storetest.Context(t), master.PartnerEndpoint{GLN: partner, Kind: master.EndpointDSCSA, URL: "https://localhost:" + port + "/dscsa"})
	require.NoError(t, err)
	s := r.sender(t, "replica-a") // public addresses only
	m, err := r.st.EnqueueOutbound(storetest.Context(t), master.EndpointDSCSA, "SHP-4", partner)
	require.NoError(t, err)
	_, err = s.SendDue(storetest.Context(t))
	require.NoError(t, err)
	got, err := r.st.OutboundMessage(storetest.Context(t), m.ID)
	require.NoError(t, err)
	require.Equal(t, messages.OutboundPending, got.State, "retried: the configuration may change")
	require.Zero(t, got.LastStatus)
	require.Contains(t, got.LastSummary, "refused by central's outbound policy")
	require.Contains(t, got.LastSummary, "is loopback")
	require.Zero(t, accepted.Load(), "no connection was made")
	require.Empty(t, r.srv.got())
}

func TestPolicy(t *testing.T) {
	p, err := outbound.NewPolicy([]string{"10.20.0.0/16"})
	require.NoError(t, err)
	cases := []struct {
		addr string
		ok   bool
	}{
		{"8.8.8.8", true}, {"2001:4860:4860::8888", true}, {"10.20.3.4", true},
		{"127.0.0.1", false}, {"127.9.9.9", false}, {"::1", false}, {"10.1.2.3", false}, {"172.16.0.1", false},
		{"192.168.1.1", false}, {"169.254.169.254", false}, {"fd00:ec2::254", false}, {"fe80::1", false},
		{"0.0.0.0", false}, {"::", false}, {"100.64.0.1", false}, {"224.0.0.1", false}, {"::ffff:127.0.0.1", false},
		{"64:ff9b::a00:1", false},
	}
	for _, tc := range cases {
		err := p.Allowed(netip.MustParseAddr(tc.addr))
		if tc.ok {
			require.NoError(t, err, tc.addr)
		} else {
			require.ErrorIs(t, err, outbound.ErrDestination, tc.addr)
		}
	}
	require.ErrorIs(t, p.CheckURL("https://127.0.0.1:8080/api/v1/tokens"), outbound.ErrDestination)
	require.ErrorIs(t, p.CheckURL("https://[::1]/x"), outbound.ErrDestination)
	require.NoError(t, p.CheckURL("https://partner.example/x"), "names are checked when dialled")
	_, err = outbound.NewPolicy([]string{"0.0.0.0/0"})
	require.ErrorContains(t, err, "defeats the check")
	_, err = outbound.NewPolicy([]string{"10.0.0.0/33"})
	require.ErrorContains(t, err, "allowed network 1")
}

// TestTwoReplicas: two senders on two Stores over one PostgreSQL database
// (two central replicas) deliver each message exactly once.
func TestTwoReplicas(t *testing.T) {
	dsn := storetest.PostgresDSN(t)
	r := newRig(t, dsn, 202)
	other := storetest.Open(t, dsn, testkit.Discard())
	a := r.sender(t, "replica-a", "127.0.0.0/8")
	pb, err := outbound.NewPolicy([]string{"127.0.0.0/8"})
	require.NoError(t, err)
	b, err := outbound.New(other, map[string]outbound.Builder{master.EndpointDSCSA: r.b}, pb, outbound.Config{Owner: "replica-b", Now: r.clk.now}, testkit.Discard())
	require.NoError(t, err)
	const n = 20
	for i := range n {
		_, err := r.st.EnqueueOutbound(storetest.Context(t), master.EndpointDSCSA, fmt.Sprintf("SHP-R%d", i), partner)
		require.NoError(t, err)
	}
	var wg sync.WaitGroup
	for _, s := range []*outbound.Sender{a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := s.SendDue(storetest.Context(t))
			require.NoError(t, err)
		}()
	}
	wg.Wait()
	bodies := r.srv.got()
	require.Len(t, bodies, n, "each message sent once")
	seen := map[string]bool{}
	for _, b := range bodies {
		require.False(t, seen[b], "sent twice: %s", b)
		seen[b] = true
	}
	ms, err := r.st.OutboundMessages(storetest.Context(t), messages.OutboundFilter{State: messages.OutboundDelivered})
	require.NoError(t, err)
	require.Len(t, ms, n)
}

// TestLeaseTakeover: a sender that claimed a message and died leaves it
// to another after its lease; the dead one's late result is refused.
func TestLeaseTakeover(t *testing.T) {
	r := newRig(t, storetest.SQLiteDSN(t), 202)
	m, err := r.st.EnqueueOutbound(storetest.Context(t), master.EndpointDSCSA, "SHP-5", partner)
	require.NoError(t, err)
	now := r.clk.now()
	_, err = r.st.ClaimOutbound(storetest.Context(t), m.ID, "dead-replica", now, now.Add(time.Minute))
	require.NoError(t, err)
	_, err = r.st.ClaimOutbound(storetest.Context(t), m.ID, "replica-a", now, now.Add(time.Minute))
	require.ErrorIs(t, err, messages.ErrNotClaimed, "one sender at a time")
	s := r.sender(t, "replica-a", "127.0.0.0/8")
	n, err := s.SendDue(storetest.Context(t))
	require.NoError(t, err)
	require.Zero(t, n, "the lease holds")
	r.clk.add(time.Minute + time.Second)
	n, err = s.SendDue(storetest.Context(t))
	require.NoError(t, err)
	require.Equal(t, 1, n)
	got, err := r.st.OutboundMessage(storetest.Context(t), m.ID)
	require.NoError(t, err)
	require.Equal(t, messages.OutboundDelivered, got.State)
	require.Equal(t, 2, got.Attempts, "the dead sender's claim counts as an attempt")
	_, err = r.st.RecordOutbound(storetest.Context(t), m.ID, "dead-replica", messages.OutboundResult{At: now, Outcome: messages.AttemptDelivered})
	require.ErrorIs(t, err, messages.ErrNotClaimed)
}

// TestClientCertificateAndBasic: a partner demanding a client certificate
// refuses central until the endpoint carries one its CA issued; basic
// authentication sends the username and password.
func TestClientCertificateAndBasic(t *testing.T) {
	r := newRig(t, storetest.SQLiteDSN(t), 202)
	clients := outboundtest.NewCA(t, "partner's client CA")
	mtls := outboundtest.Server(t, r.srv, r.ca, clients)
	stranger := outboundtest.NewCA(t, "someone else").Issue(t, "central", false)
	ep := master.PartnerEndpoint{GLN: partner, Kind: master.EndpointDSCSA, URL: mtls.URL + "/dscsa", Auth: master.EndpointAuthMTLS,
		ClientCert: stranger.CertPEM, ClientKey: stranger.KeyPEM, CACert: r.ca.PEM}
	_, err := r.st.PutPartnerEndpoint(storetest.Context(t), ep)
	require.NoError(t, err)
	s := r.sender(t, "replica-a", "127.0.0.0/8")
	m, err := r.st.EnqueueOutbound(storetest.Context(t), master.EndpointDSCSA, "SHP-6", partner)
	require.NoError(t, err)
	_, err = s.SendDue(storetest.Context(t))
	require.NoError(t, err)
	got, err := r.st.OutboundMessage(storetest.Context(t), m.ID)
	require.NoError(t, err)
	require.Equal(t, messages.OutboundPending, got.State, "a certificate the partner does not trust: retried")
	require.Zero(t, got.LastStatus)
	require.Empty(t, r.srv.got())

	good := clients.Issue(t, "central", false)
	ep.ClientCert, ep.ClientKey = good.CertPEM, good.KeyPEM
	_, err = r.st.PutPartnerEndpoint(storetest.Context(t), ep)
	require.NoError(t, err)
	r.clk.add(outbound.DefaultRetryInitial)
	_, err = s.SendDue(storetest.Context(t))
	require.NoError(t, err)
	got, err = r.st.OutboundMessage(storetest.Context(t), m.ID)
	require.NoError(t, err)
	require.Equal(t, messages.OutboundDelivered, got.State)
	require.Len(t, r.srv.got(), 1)

	// The stored endpoint shows neither the key nor a secret; the audit
	// trail only fingerprints them.
	shown, err := r.st.PartnerEndpoint(storetest.Context(t), partner, master.EndpointDSCSA)
	require.NoError(t, err)
	require.True(t, shown.ClientKeySet)
	entries, err := r.st.Audit(storetest.Context(t), audit.Filter{Entity: "partner_endpoint"})
	require.NoError(t, err)
	for _, e := range entries {
		require.NotContains(t, string(e.After), "PRIVATE KEY")
		require.NotContains(t, string(e.After), "partner-issued-token")
	}

	_, err = r.st.PutPartnerEndpoint(storetest.Context(t), master.PartnerEndpoint{GLN: partner, Kind: master.EndpointDSCSA, URL: r.url,
		Auth: master.EndpointAuthBasic, Username: "serialine", Secret: "s3cret", CACert: r.ca.PEM})
	require.NoError(t, err)
	m2, err := r.st.EnqueueOutbound(storetest.Context(t), master.EndpointDSCSA, "SHP-7", partner)
	require.NoError(t, err)
	_, err = s.SendDue(storetest.Context(t))
	require.NoError(t, err)
	got, err = r.st.OutboundMessage(storetest.Context(t), m2.ID)
	require.NoError(t, err)
	require.Equal(t, messages.OutboundDelivered, got.State)
	req, _ := http.NewRequest("GET", "/", nil)
	req.SetBasicAuth("serialine", "s3cret")
	require.Equal(t, req.Header.Get("Authorization"), r.srv.auth[len(r.srv.auth)-1])
}

// TestEndpointRules: an endpoint is https without credentials in the
// URL, with what its authentication needs; each refusal names the field.
func TestEndpointRules(t *testing.T) {
	r := newRig(t, storetest.SQLiteDSN(t), 202)
	const fresh = "9506000000039" // no endpoint yet: nothing stored to keep
	require.NoError(t, r.st.PutPartner(storetest.Context(t), master.Partner{GLN: fresh, Name: "Beta Pharmacy"}))
	base := master.PartnerEndpoint{GLN: fresh, Kind: master.EndpointDSCSA, URL: "https://partner.example/dscsa"}
	cert := r.ca.Issue(t, "central", false)
	cases := []struct {
		name  string
		edit  func(*master.PartnerEndpoint)
		field string
	}{
		{"http", func(e *master.PartnerEndpoint) { e.URL = "http://partner.example/dscsa" }, "url"},
		{"credentials in the url", func(e *master.PartnerEndpoint) { e.URL = "https://u:p@partner.example/dscsa" }, "url"},
		{"no host", func(e *master.PartnerEndpoint) { e.URL = "https:///dscsa" }, "url"},
		{"unknown auth", func(e *master.PartnerEndpoint) { e.Auth = "ntlm" }, "auth"},
		{"bearer without token", func(e *master.PartnerEndpoint) { e.Auth = master.EndpointAuthBearer }, "secret"},
		{"basic without user", func(e *master.PartnerEndpoint) { e.Auth, e.Secret = master.EndpointAuthBasic, "x" }, "username"},
		{"mtls without cert", func(e *master.PartnerEndpoint) { e.Auth = master.EndpointAuthMTLS }, "client_cert"},
		{"mtls with a foreign key", func(e *master.PartnerEndpoint) {
			e.Auth, e.ClientCert, e.ClientKey = master.EndpointAuthMTLS, cert.CertPEM, r.ca.Issue(t, "x", false).KeyPEM
		}, "client_key"},
		{"bad CA bundle", func(e *master.PartnerEndpoint) { e.CACert = "not pem" }, "ca_cert"},
		{"unknown kind", func(e *master.PartnerEndpoint) { e.Kind = "fax" }, "kind"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := base
			tc.edit(&e)
			_, err := r.st.PutPartnerEndpoint(storetest.Context(t), e)
			var ve *sqldb.ValidationError
			require.ErrorAs(t, err, &ve)
			require.Equal(t, tc.field, ve.Field, "%v", err)
		})
	}
}

// TestQueueSurvivesRestart: a message queued before central stops is sent
// by the sender of the next start (another Store on the same database).
func TestQueueSurvivesRestart(t *testing.T) {
	dsn := storetest.SQLiteDSN(t)
	r := newRig(t, dsn, 202)
	m, err := r.st.EnqueueOutbound(storetest.Context(t), master.EndpointDSCSA, "SHP-8", partner)
	require.NoError(t, err)
	r.st.Close()

	r.st = storetest.Open(t, dsn, testkit.Discard())
	s := r.sender(t, "after-restart", "127.0.0.0/8")
	n, err := s.SendDue(storetest.Context(t))
	require.NoError(t, err)
	require.Equal(t, 1, n)
	got, err := r.st.OutboundMessage(storetest.Context(t), m.ID)
	require.NoError(t, err)
	require.Equal(t, messages.OutboundDelivered, got.State)
	require.Equal(t, "after-restart", got.History[0].Sender)
}
