package pki_test

import (
	"crypto/x509"
	"encoding/pem"
	"net"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/serialine/serialine/central/pki"
)

func readCert(t testing.TB, path string) *x509.Certificate {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	block, _ := pem.Decode(b)
	require.NotNil(t, block, path)
	require.Equal(t, "CERTIFICATE", block.Type)
	c, err := x509.ParseCertificate(block.Bytes)
	require.NoError(t, err)
	return c
}

func TestMakeVerifies(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "pki")
	res, err := pki.Make(pki.Options{Dir: dir, Hosts: []string{"central.plant.example", "127.0.0.1", "::1"}, Clients: []string{"line-1", "line-2", "central"}})
	require.NoError(t, err)
	require.False(t, res.CAReused)
	require.Len(t, res.Written, 2*(2+3))

	ca := readCert(t, filepath.Join(dir, pki.CACert))
	require.True(t, ca.IsCA)
	pool := x509.NewCertPool()
	pool.AddCert(ca)

	srv := readCert(t, filepath.Join(dir, pki.ServerCert))
	for _, host := range []string{"central.plant.example", "127.0.0.1", "::1"} {
		_, err := srv.Verify(x509.VerifyOptions{DNSName: host, Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
		require.NoError(t, err, host)
	}
	require.Len(t, srv.IPAddresses, 2, "IP hosts are IP SANs")
	require.True(t, srv.IPAddresses[0].Equal(net.ParseIP("127.0.0.1")))
	_, err = srv.Verify(x509.VerifyOptions{DNSName: "other.example", Roots: pool})
	require.Error(t, err, "a name not asked for is not in the certificate")
	_, err = srv.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
	require.Error(t, err, "the server certificate is no client certificate")

	for _, name := range []string{"line-1", "line-2", "central"} {
		c := readCert(t, pki.ClientCert(dir, name))
		require.Equal(t, name, c.Subject.CommonName)
		_, err := c.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
		require.NoError(t, err, name)
		_, err = c.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
		require.Error(t, err, "%s: a client certificate is no server certificate", name)
	}

	// Modes: keys are the owner's only.
	for _, f := range res.Written {
		st, err := os.Stat(f)
		require.NoError(t, err)
		want := os.FileMode(0o644)
		if filepath.Ext(f) == ".key" {
			want = 0o600
		}
		require.Equal(t, want, st.Mode().Perm(), f)
	}
	left, err := filepath.Glob(filepath.Join(dir, ".*tmp*"))
	require.NoError(t, err)
	require.Empty(t, left, "no temporary files are left")
}

func TestMakeRefusesToOverwrite(t *testing.T) {
	dir := t.TempDir()
	opts := pki.Options{Dir: dir, Hosts: []string{"localhost"}, Clients: []string{"line-1"}}
	_, err := pki.Make(opts)
	require.NoError(t, err)
	before, err := os.ReadFile(filepath.Join(dir, pki.ServerKey))
	require.NoError(t, err)

	_, err = pki.Make(opts)
	require.ErrorIs(t, err, pki.ErrExists)
	require.ErrorContains(t, err, "--force")
	after, err := os.ReadFile(filepath.Join(dir, pki.ServerKey))
	require.NoError(t, err)
	require.Equal(t, before, after, "a refused run writes nothing")

	// A new line later: the CA is reused, the new certificate verifies
	// under the old CA, nothing else is touched.
	res, err := pki.Make(pki.Options{Dir: dir, Clients: []string{"line-2"}})
	require.NoError(t, err)
	require.True(t, res.CAReused)
	require.Equal(t, []string{pki.ClientKey(dir, "line-2"), pki.ClientCert(dir, "line-2")}, res.Written)
	// --force replaces.
	_, err = pki.Make(pki.Options{Dir: dir, Hosts: []string{"localhost"}, Force: true})
	require.NoError(t, err)
	after, err = os.ReadFile(filepath.Join(dir, pki.ServerKey))
	require.NoError(t, err)
	require.NotEqual(t, before, after)
	pool := x509.NewCertPool()
	pool.AddCert(readCert(t, filepath.Join(dir, pki.CACert)))
	_, err = readCert(t, pki.ClientCert(dir, "line-2")).Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
	require.NoError(t, err)
	_, err = readCert(t, pki.ClientCert(dir, "line-1")).Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
	require.NoError(t, err, "what the CA issued before stays valid")
}

func TestMakeRejects(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts pki.Options
		want string
	}{
		{"nothing", pki.Options{}, "nothing to make"},
		{"bad host", pki.Options{Hosts: []string{"bad host"}}, `hosts: "bad host"`},
		{"client with slash", pki.Options{Hosts: []string{"h"}, Clients: []string{"../x"}}, `client "../x"`},
		{"client twice", pki.Options{Hosts: []string{"h"}, Clients: []string{"a", "a"}}, `client "a": given twice`},
		{"days", pki.Options{Hosts: []string{"h"}, Days: -1}, "days: -1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.opts.Dir = t.TempDir()
			_, err := pki.Make(tc.opts)
			require.ErrorContains(t, err, tc.want)
		})
	}
}
