package broker

import (
	"crypto/tls"
	"errors"
	"fmt"

	"github.com/serialine/serialine/shared/netaddr"
)

func (c Config) validateTLS() error {
	if c.TLSListen == "" {
		if c.TLS != nil {
			return configErr("tls_listen", "missing: a TLS configuration was given without a TLS listener address")
		}
		return nil
	}
	if err := netaddr.CheckListen(c.TLSListen); err != nil {
		return configErr("tls_listen", "%v", err)
	}
	if c.TLS == nil || len(c.TLS.Certificates) == 0 && c.TLS.GetCertificate == nil {
		return configErr("tls_listen", "needs a server certificate (TLS)")
	}
	return nil
}

// TLSAddr is the address of the TLS listener (host:port with the real
// port), or "" when there is none or before Start.
func (b *Broker) TLSAddr() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.started || b.ln.tlsLn == nil {
		return ""
	}
	return b.ln.tlsLn.Addr().String()
}

// checkCertUser is the client-certificate rule of the TLS listener: when
// the listener verifies client certificates, the one presented (verified
// by the handshake against the client CA) must name user as its common
// name, so that a line's certificate is no use to log in as another
// line. It is called once the CONNECT has been read, after the handshake.
func (c *conn) checkCertUser(user string) error {
	tc, ok := c.Conn.(*tls.Conn)
	if !ok || c.l.cfg.TLS.ClientAuth != tls.RequireAndVerifyClientCert {
		return nil
	}
	st := tc.ConnectionState()
	if !st.HandshakeComplete || len(st.VerifiedChains) == 0 || len(st.PeerCertificates) == 0 {
		return errors.New("no verified client certificate")
	}
	if cn := st.PeerCertificates[0].Subject.CommonName; cn != user {
		return fmt.Errorf("client certificate is for %q, not for username %q", cn, user)
	}
	return nil
}
