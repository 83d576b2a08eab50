package tlsfiles_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/serialine/serialine/shared/tlsfiles"
)

// selfSigned writes a self-signed certificate and its key to dir as
// name.crt and name.key.
func selfSigned(t testing.TB, dir, name string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name}, NotBefore: time.Now().Add(-time.Hour),
		NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	require.NoError(t, err)
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	require.NoError(t, err)
	certFile, keyFile = filepath.Join(dir, name+".crt"), filepath.Join(dir, name+".key")
	require.NoError(t, os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644))
	require.NoError(t, os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600))
	return certFile, keyFile
}

func TestFilesErrorsNameFileAndProblem(t *testing.T) {
	dir := t.TempDir()
	certA, keyA := selfSigned(t, dir, "a")
	_, keyB := selfSigned(t, dir, "b")
	junk := filepath.Join(dir, "junk.pem")
	require.NoError(t, os.WriteFile(junk, []byte("hello, not PEM"), 0o600))
	missing := filepath.Join(dir, "missing.pem")

	for _, tc := range []struct {
		name      string
		run       func() error
		wantParts []string
	}{
		{"ok server", func() error { _, err := tlsfiles.Server(certA, keyA, ""); return err }, nil},
		{"ok client", func() error { _, err := tlsfiles.Client(certA, certA, keyA); return err }, nil},
		{"ca unreadable", func() error { _, err := tlsfiles.Client(missing, "", ""); return err }, []string{missing, "unreadable"}},
		{"ca not PEM", func() error { _, err := tlsfiles.Client(junk, "", ""); return err }, []string{junk, "not PEM"}},
		{"ca is a key", func() error { _, err := tlsfiles.Pool(keyA); return err }, []string{keyA, "no CERTIFICATE block"}},
		{"cert unreadable", func() error { _, err := tlsfiles.Server(missing, keyA, ""); return err }, []string{missing, "unreadable"}},
		{"key unreadable", func() error { _, err := tlsfiles.Server(certA, missing, ""); return err }, []string{missing, "unreadable"}},
		{"key not PEM", func() error { _, err := tlsfiles.Server(certA, junk, ""); return err }, []string{junk, "not PEM"}},
		{"key is a cert", func() error { _, err := tlsfiles.Server(certA, certA, ""); return err }, []string{certA, "holds a certificate"}},
		{"key of another cert", func() error { _, err := tlsfiles.Server(certA, keyB, ""); return err }, []string{keyB, "does not go with certificate " + certA}},
		{"client cert without key", func() error { _, err := tlsfiles.Client("", certA, ""); return err }, []string{"both a certificate file and a key file"}},
		{"client CA unreadable", func() error { _, err := tlsfiles.Server(certA, keyA, missing); return err }, []string{missing}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.run()
			if tc.wantParts == nil {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			for _, p := range tc.wantParts {
				require.Contains(t, err.Error(), p)
			}
		})
	}
}

func TestServerWithClientCARequiresClientCert(t *testing.T) {
	dir := t.TempDir()
	cert, key := selfSigned(t, dir, "a")
	cfg, err := tlsfiles.Server(cert, key, cert)
	require.NoError(t, err)
	require.Equal(t, tls.RequireAndVerifyClientCert, cfg.ClientAuth)
	require.NotNil(t, cfg.ClientCAs)
	cfg, err = tlsfiles.Server(cert, key, "")
	require.NoError(t, err)
	require.Equal(t, tls.NoClientCert, cfg.ClientAuth)
}
