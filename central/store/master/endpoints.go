package master

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/serialine/serialine/central/store/audit"
	"github.com/serialine/serialine/central/store/check"
	"github.com/serialine/serialine/central/store/sqldb"
)

// Partner endpoint kinds.
const (
	// EndpointDSCSA receives DSCSA EPCIS documents (HTTPS POST, XML).
	EndpointDSCSA = "dscsa"
	// EndpointFMD is the EU hub's on-boarding partner gateway: it takes
	// the EU FMD data set (HTTPS POST, JSON).
	EndpointFMD = "fmd"
	// EndpointVerification is an LMVS verification service (a VRS router
	// or a manufacturer's responder): the base URL the GS1 Digital Link
	// request path is appended to (HTTPS GET).
	EndpointVerification = "verification"
)

// EndpointKinds lists the endpoint kinds.
func EndpointKinds() []string { return []string{EndpointDSCSA, EndpointFMD, EndpointVerification} }

// How a partner's endpoint authenticates central.
const (
	EndpointAuthNone   = "none"   // no credentials (the partner checks the source otherwise)
	EndpointAuthBearer = "bearer" // Authorization: Bearer <secret>
	EndpointAuthBasic  = "basic"  // Authorization: Basic <username:secret>
	EndpointAuthMTLS   = "mtls"   // a client certificate in the TLS handshake
)

// PartnerEndpoint is where and how documents of a kind reach a trading
// partner: an HTTPS URL and the authentication the partner wants. The
// secret and the client key are never shown (SecretSet, ClientKeySet).
type PartnerEndpoint struct {
	GLN      string `json:"gln"`
	Kind     string `json:"kind"`
	URL      string `json:"url"`
	Auth     string `json:"auth"`
	Username string `json:"username,omitempty"`
	// Secret is the bearer token or the basic password.
	Secret string `json:"-"`
	// ClientCert and ClientKey are PEM: central's certificate (chain) and
	// key for a partner that wants mTLS.
	ClientCert string `json:"client_cert,omitempty"`
	ClientKey  string `json:"-"`
	// CACert is the PEM bundle central trusts for the partner's server
	// certificate; "" trusts the system's roots.
	CACert       string    `json:"ca_cert,omitempty"`
	SecretSet    bool      `json:"secret_set"`
	ClientKeySet bool      `json:"client_key_set"`
	UpdatedAt    time.Time `json:"updated_at,omitzero"`
}

// redacted is the endpoint as the audit trail keeps it: whether the
// secret and key are set (and a fingerprint that shows a change), never
// them.
func (e PartnerEndpoint) redacted() map[string]any {
	fp := func(s string) string {
		if s == "" {
			return ""
		}
		sum := sha256.Sum256([]byte(s))
		return "sha256:" + hex.EncodeToString(sum[:6])
	}
	return map[string]any{"url": e.URL, "auth": e.Auth, "username": e.Username, "secret": fp(e.Secret),
		"client_cert": fp(e.ClientCert), "client_key": fp(e.ClientKey), "ca_cert": fp(e.CACert)}
}

// Validate checks the endpoint: an absolute https URL without
// credentials in it, an authentication kind with what it needs, and PEM
// that parses. Errors are *sqldb.ValidationError naming the field.
func (e PartnerEndpoint) Validate() error {
	rec := "partner " + e.GLN + " endpoint " + e.Kind
	if !slices.Contains(EndpointKinds(), e.Kind) {
		return sqldb.Invalid(rec, "kind", "%q is not an endpoint kind; use %s", e.Kind, strings.Join(EndpointKinds(), ", "))
	}
	u, err := url.Parse(e.URL)
	switch {
	case err != nil || len(e.URL) > 2048:
		return sqldb.Invalid(rec, "url", "must be an absolute https URL of at most 2048 bytes, got %q", e.URL)
	case u.Scheme != "https":
		return sqldb.Invalid(rec, "url", "must be an https URL (documents carry transaction data and credentials), got scheme %q", u.Scheme)
	case u.Host == "" || u.Hostname() == "":
		return sqldb.Invalid(rec, "url", "has no host: %q", e.URL)
	case u.User != nil:
		return sqldb.Invalid(rec, "url", "must not carry credentials; use auth with username and secret")
	case u.Fragment != "":
		return sqldb.Invalid(rec, "url", "must not have a fragment")
	}
	if err := check.Text(rec, "username", e.Username, false); err != nil {
		return err
	}
	if len(e.Secret) > 4096 {
		return sqldb.Invalid(rec, "secret", "has %d bytes, at most 4096", len(e.Secret))
	}
	if err := check.Printable(rec, "secret", e.Secret); err != nil {
		return err
	}
	switch e.Auth {
	case EndpointAuthNone:
		if e.Secret != "" || e.Username != "" {
			return sqldb.Invalid(rec, "auth", "none takes no username or secret")
		}
	case EndpointAuthBearer:
		if e.Secret == "" {
			return sqldb.Invalid(rec, "secret", "missing; bearer authentication sends it as the token")
		}
	case EndpointAuthBasic:
		if e.Username == "" {
			return sqldb.Invalid(rec, "username", "missing; basic authentication needs a username")
		}
		if e.Secret == "" {
			return sqldb.Invalid(rec, "secret", "missing; basic authentication needs a password")
		}
	case EndpointAuthMTLS:
		if e.ClientCert == "" {
			return sqldb.Invalid(rec, "client_cert", "missing; mtls needs central's client certificate (PEM)")
		}
		if e.ClientKey == "" {
			return sqldb.Invalid(rec, "client_key", "missing; mtls needs the client certificate's key (PEM)")
		}
	default:
		return sqldb.Invalid(rec, "auth", "%q is not an authentication; use %s, %s, %s or %s", e.Auth,
			EndpointAuthNone, EndpointAuthBearer, EndpointAuthBasic, EndpointAuthMTLS)
	}
	if e.Auth != EndpointAuthMTLS && (e.ClientCert != "" || e.ClientKey != "") {
		return sqldb.Invalid(rec, "auth", "a client certificate is only used with mtls")
	}
	if e.ClientCert != "" {
		if len(e.ClientCert) > 64<<10 || len(e.ClientKey) > 64<<10 {
			return sqldb.Invalid(rec, "client_cert", "certificate and key are at most 64 KiB each")
		}
		if _, err := tls.X509KeyPair([]byte(e.ClientCert), []byte(e.ClientKey)); err != nil {
			return sqldb.Invalid(rec, "client_key", "the certificate and key do not make a pair: %v", err)
		}
	}
	if e.CACert != "" {
		if len(e.CACert) > 256<<10 {
			return sqldb.Invalid(rec, "ca_cert", "at most 256 KiB")
		}
		if _, err := ParseCertPool(e.CACert); err != nil {
			return sqldb.Invalid(rec, "ca_cert", "%v", err)
		}
	}
	return nil
}

// ParseCertPool reads a PEM bundle of CA certificates.
func ParseCertPool(bundle string) (*x509.CertPool, error) {
	pool := x509.NewCertPool()
	rest := []byte(bundle)
	n := 0
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("PEM block %d is a %s, not a CERTIFICATE", n+1, b.Type)
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("certificate %d: %w", n+1, err)
		}
		pool.AddCert(c)
		n++
	}
	if n == 0 {
		return nil, fmt.Errorf("no PEM certificate found")
	}
	return pool, nil
}

const endpointCols = "gln, kind, url, auth, username, secret, client_cert, client_key, ca_cert, updated_at"

func scanEndpoint(r interface{ Scan(...any) error }) (PartnerEndpoint, error) {
	var e PartnerEndpoint
	err := r.Scan(&e.GLN, &e.Kind, &e.URL, &e.Auth, &e.Username, &e.Secret, &e.ClientCert, &e.ClientKey, &e.CACert, &e.UpdatedAt)
	e.UpdatedAt = e.UpdatedAt.UTC()
	e.SecretSet, e.ClientKeySet = e.Secret != "", e.ClientKey != ""
	return e, err
}

func GetEndpoint(ctx context.Context, q sqldb.Tx, gln, kind string) (PartnerEndpoint, error) {
	e, err := scanEndpoint(q.QueryRow(ctx, "SELECT "+endpointCols+" FROM partner_endpoints WHERE gln = $1 AND kind = $2", gln, kind))
	if sqldb.IsNoRows(err) {
		return e, fmt.Errorf("partner %s: %s endpoint: %w", gln, kind, sqldb.ErrNotFound)
	}
	if err != nil {
		return e, fmt.Errorf("partner %s: %s endpoint: %w", gln, kind, err)
	}
	return e, nil
}

// PutPartnerEndpoint sets where and how documents of e.Kind reach the
// partner e.GLN (which must exist). A Secret or ClientKey left empty
// keeps the stored one when the authentication stays the same (they are
// never shown, so a form cannot send them back). Audited without secrets.
func (s *Data) PutPartnerEndpoint(ctx context.Context, e PartnerEndpoint) (PartnerEndpoint, error) {
	if e.Auth == "" {
		e.Auth = EndpointAuthNone
	}
	err := s.db.Write(ctx, func(tx sqldb.Tx) error {
		if _, err := GetPartner(ctx, tx, e.GLN); err != nil {
			return err
		}
		before, err := GetEndpoint(ctx, tx, e.GLN, e.Kind)
		exists := err == nil
		if err != nil && !errors.Is(err, sqldb.ErrNotFound) {
			return err
		}
		if exists && before.Auth == e.Auth {
			if e.Secret == "" && e.Auth != EndpointAuthNone {
				e.Secret = before.Secret
			}
			if e.ClientKey == "" && e.ClientCert != "" {
				e.ClientKey = before.ClientKey
			}
		}
		if err := e.Validate(); err != nil {
			return err
		}
		e.UpdatedAt = sqldb.Now()
		_, err = tx.Exec(ctx, `INSERT INTO partner_endpoints (`+endpointCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
			ON CONFLICT (gln, kind) DO UPDATE SET url = excluded.url, auth = excluded.auth, username = excluded.username,
			secret = excluded.secret, client_cert = excluded.client_cert, client_key = excluded.client_key,
			ca_cert = excluded.ca_cert, updated_at = excluded.updated_at`,
			e.GLN, e.Kind, e.URL, e.Auth, e.Username, e.Secret, e.ClientCert, e.ClientKey, e.CACert, e.UpdatedAt)
		if err != nil {
			return fmt.Errorf("partner %s: %s endpoint: %w", e.GLN, e.Kind, err)
		}
		if !exists {
			return audit.Record(ctx, tx, "create", "partner_endpoint", e.GLN+"/"+e.Kind, nil, e.redacted())
		}
		return audit.Record(ctx, tx, "update", "partner_endpoint", e.GLN+"/"+e.Kind, before.redacted(), e.redacted())
	})
	e.SecretSet, e.ClientKeySet = e.Secret != "", e.ClientKey != ""
	return e, err
}

// DeletePartnerEndpoint removes the partner's endpoint of kind; audited.
func (s *Data) DeletePartnerEndpoint(ctx context.Context, gln, kind string) error {
	return s.db.Write(ctx, func(tx sqldb.Tx) error {
		before, err := GetEndpoint(ctx, tx, gln, kind)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, "DELETE FROM partner_endpoints WHERE gln = $1 AND kind = $2", gln, kind); err != nil {
			return fmt.Errorf("partner %s: %s endpoint: %w", gln, kind, err)
		}
		return audit.Record(ctx, tx, "delete", "partner_endpoint", gln+"/"+kind, before.redacted(), nil)
	})
}

// PartnerEndpoint returns where and how documents of kind reach the
// partner gln, with its secrets (for the sender), or sqldb.ErrNotFound.
func (s *Data) PartnerEndpoint(ctx context.Context, gln, kind string) (PartnerEndpoint, error) {
	var e PartnerEndpoint
	err := s.db.Read(ctx, func(q sqldb.Tx) error {
		var err error
		e, err = GetEndpoint(ctx, q, gln, kind)
		return err
	})
	return e, err
}

// EndpointsOfKind lists every partner's endpoint of kind, by GLN.
func (s *Data) EndpointsOfKind(ctx context.Context, kind string) ([]PartnerEndpoint, error) {
	var out []PartnerEndpoint
	err := s.db.Read(ctx, func(q sqldb.Tx) error {
		r, err := q.Query(ctx, "SELECT "+endpointCols+" FROM partner_endpoints WHERE kind = $1 ORDER BY gln", kind)
		if err != nil {
			return err
		}
		defer r.Close()
		for r.Next() {
			e, err := scanEndpoint(r)
			if err != nil {
				return err
			}
			out = append(out, e)
		}
		return r.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("%s endpoints: %w", kind, err)
	}
	return out, nil
}
