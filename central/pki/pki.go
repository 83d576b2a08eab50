// Package pki makes the certificates of a plant without a PKI of its own:
// a private CA (ECDSA P-256), a server certificate for central (HTTPS and
// the broker's TLS listener) and one client certificate per MQTT user (a
// line, or central's service user), whose common name is the user's name.
// `serialine-central certs` is its command line; docs/operations.md ("TLS") the steps.
package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// File names inside Options.Dir.
const (
	CACert     = "ca.crt"
	CAKey      = "ca.key"
	ServerCert = "server.crt"
	ServerKey  = "server.key"
	ClientsDir = "clients" // clients/<name>.crt and clients/<name>.key
)

// Validity of what Make issues unless Options say otherwise.
const (
	DefaultDays = 825 // the longest leaf lifetime browsers accept
	caDays      = 3650
)

// ErrExists is wrapped when a file would be overwritten without Force.
var ErrExists = errors.New("file exists")

// Options say what to make.
type Options struct {
	// Dir receives the files (created 0700 if missing).
	Dir string
	// Hosts are the server certificate's names: DNS names, or IP
	// addresses (which become IP SANs). None: no server certificate (a
	// line added later gets its client certificate only).
	Hosts []string
	// Clients are the common names of the client certificates: line ids
	// and central's service user.
	Clients []string
	// Days is the validity of the server and client certificates (0 =
	// DefaultDays); the CA gets ten years.
	Days int
	// Force overwrites existing server and client files. An existing CA
	// (ca.crt and ca.key) is always reused, never overwritten, so that
	// certificates it issued stay valid.
	Force bool
	// Now is the clock (nil = time.Now).
	Now func() time.Time
}

// Result says what Make did.
type Result struct {
	CAReused bool
	Written  []string // paths, in the order written
}

// ClientCert and ClientKey are the paths of name's client files in dir.
func ClientCert(dir, name string) string { return filepath.Join(dir, ClientsDir, name+".crt") }
func ClientKey(dir, name string) string  { return filepath.Join(dir, ClientsDir, name+".key") }

// Make writes the CA (unless one is there), the server certificate and the
// client certificates. Private keys are written 0600, certificates 0644,
// each atomically (a temporary file renamed into place). Nothing is
// written when a target exists and Force is not set.
//
// It is long because every check, and every target's absence, is settled before the
// first file is written; then the CA, the server and the clients are issued in that
// order from the one CA key.
func Make(o Options) (Result, error) {
	if o.Dir == "" {
		return Result{}, errors.New("dir: missing")
	}
	if len(o.Hosts) == 0 && len(o.Clients) == 0 {
		return Result{}, errors.New("hosts: no host names and no clients: nothing to make")
	}
	for _, h := range o.Hosts {
		if err := checkHost(h); err != nil {
			return Result{}, fmt.Errorf("hosts: %q: %w", h, err)
		}
	}
	seen := map[string]bool{}
	for _, c := range o.Clients {
		if c == "" || strings.ContainsAny(c, `/\`) || c == "." || c == ".." {
			return Result{}, fmt.Errorf("client %q: not a usable name", c)
		}
		if seen[c] {
			return Result{}, fmt.Errorf("client %q: given twice", c)
		}
		seen[c] = true
	}
	if o.Days < 0 || o.Days > caDays {
		return Result{}, fmt.Errorf("days: %d is outside 0..%d (0 means %d)", o.Days, caDays, DefaultDays)
	}
	if o.Days == 0 {
		o.Days = DefaultDays
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	now := o.Now()

	caCertPath, caKeyPath := filepath.Join(o.Dir, CACert), filepath.Join(o.Dir, CAKey)
	haveCert, haveKey := exists(caCertPath), exists(caKeyPath)
	if haveCert != haveKey {
		return Result{}, fmt.Errorf("%s and %s: only one of them exists; restore the other or use a new directory", caCertPath, caKeyPath)
	}
	var targets []string
	if len(o.Hosts) > 0 {
		targets = append(targets, filepath.Join(o.Dir, ServerCert), filepath.Join(o.Dir, ServerKey))
	}
	clientTargets := len(targets)
	for _, c := range o.Clients {
		targets = append(targets, ClientCert(o.Dir, c), ClientKey(o.Dir, c))
	}
	if !o.Force {
		for _, t := range targets {
			if exists(t) {
				return Result{}, fmt.Errorf("%s: %w (give --force to replace it)", t, ErrExists)
			}
		}
	}
	if err := os.MkdirAll(filepath.Join(o.Dir, ClientsDir), 0o700); err != nil {
		return Result{}, fmt.Errorf("dir: %w", err)
	}

	var res Result
	var ca *x509.Certificate
	var caKey crypto.Signer
	if haveCert {
		var err error
		if ca, caKey, err = loadCA(caCertPath, caKeyPath); err != nil {
			return Result{}, err
		}
		res.CAReused = true
	} else {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return Result{}, err
		}
		tmpl := &x509.Certificate{
			Subject:               pkix.Name{CommonName: "Serialine plant CA", Organization: []string{"Serialine"}},
			NotBefore:             now.Add(-time.Hour),
			NotAfter:              now.AddDate(0, 0, caDays),
			KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
			BasicConstraintsValid: true,
			IsCA:                  true,
			MaxPathLenZero:        true,
		}
		if ca, err = issue(tmpl, nil, key, key); err != nil {
			return Result{}, fmt.Errorf("CA: %w", err)
		}
		caKey = key
		if err := writePair(&res, caCertPath, caKeyPath, ca, key); err != nil {
			return res, err
		}
	}

	leaf := func(cn string, usage x509.ExtKeyUsage) *x509.Certificate {
		return &x509.Certificate{
			Subject:     pkix.Name{CommonName: cn, Organization: []string{"Serialine"}},
			NotBefore:   now.Add(-time.Hour),
			NotAfter:    now.AddDate(0, 0, o.Days),
			KeyUsage:    x509.KeyUsageDigitalSignature,
			ExtKeyUsage: []x509.ExtKeyUsage{usage},
		}
	}
	if len(o.Hosts) > 0 {
		srv := leaf(o.Hosts[0], x509.ExtKeyUsageServerAuth)
		for _, h := range o.Hosts {
			if ip := net.ParseIP(h); ip != nil {
				srv.IPAddresses = append(srv.IPAddresses, ip)
			} else {
				srv.DNSNames = append(srv.DNSNames, h)
			}
		}
		if err := issueAndWrite(&res, srv, ca, caKey, targets[0], targets[1]); err != nil {
			return res, fmt.Errorf("server certificate: %w", err)
		}
	}
	for i, c := range o.Clients {
		at := clientTargets + 2*i
		if err := issueAndWrite(&res, leaf(c, x509.ExtKeyUsageClientAuth), ca, caKey, targets[at], targets[at+1]); err != nil {
			return res, fmt.Errorf("client certificate %q: %w", c, err)
		}
	}
	return res, nil
}

func issueAndWrite(res *Result, tmpl, ca *x509.Certificate, caKey crypto.Signer, certPath, keyPath string) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	cert, err := issue(tmpl, ca, key, caKey)
	if err != nil {
		return err
	}
	return writePair(res, certPath, keyPath, cert, key)
}

// issue signs tmpl (self-signed when parent is nil) with a fresh serial.
func issue(tmpl, parent *x509.Certificate, key *ecdsa.PrivateKey, signer crypto.Signer) (*x509.Certificate, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, err
	}
	tmpl.SerialNumber = serial
	if parent == nil {
		parent = tmpl
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, key.Public(), signer)
	if err != nil {
		return nil, err
	}
	return x509.ParseCertificate(der)
}

// writePair writes the key first (0600), then the certificate (0644).
func writePair(res *Result, certPath, keyPath string, cert *x509.Certificate, key *ecdsa.PrivateKey) error {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	if err := WriteFileAtomic(keyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		return err
	}
	res.Written = append(res.Written, keyPath)
	if err := WriteFileAtomic(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw}), 0o644); err != nil {
		return err
	}
	res.Written = append(res.Written, certPath)
	return nil
}

func loadCA(certPath, keyPath string) (*x509.Certificate, crypto.Signer, error) {
	b, err := os.ReadFile(certPath)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", certPath, err)
	}
	block, _ := pem.Decode(b)
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, nil, fmt.Errorf("%s: not a PEM certificate", certPath)
	}
	ca, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", certPath, err)
	}
	if !ca.IsCA {
		return nil, nil, fmt.Errorf("%s: not a CA certificate", certPath)
	}
	kb, err := os.ReadFile(keyPath)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", keyPath, err)
	}
	kblock, _ := pem.Decode(kb)
	if kblock == nil {
		return nil, nil, fmt.Errorf("%s: not PEM", keyPath)
	}
	k, err := x509.ParsePKCS8PrivateKey(kblock.Bytes)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", keyPath, err)
	}
	signer, ok := k.(*ecdsa.PrivateKey)
	if !ok || !signer.PublicKey.Equal(ca.PublicKey) {
		return nil, nil, fmt.Errorf("%s: not the private key of %s", keyPath, certPath)
	}
	return ca, signer, nil
}

// checkHost accepts an IP address or a DNS name (a leading "*." allowed).
func checkHost(h string) error {
	if net.ParseIP(h) != nil {
		return nil
	}
	name := strings.TrimPrefix(h, "*.")
	if name == "" || len(name) > 253 {
		return errors.New("not a host name or IP address")
	}
	for _, label := range strings.Split(name, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return errors.New("not a host name or IP address")
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-') {
				return fmt.Errorf("character %q is not allowed in a host name", r)
			}
		}
	}
	return nil
}

func exists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}

// WriteFileAtomic writes data to path through a temporary file in the same
// directory, created with perm, synced and renamed into place: a reader
// sees the old file or the whole new one, and a key is never readable by
// others, not even for a moment.
func WriteFileAtomic(path string, data []byte, perm os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // after a successful rename there is nothing to remove
	if err := tmp.Chmod(perm); err != nil {
		_ = tmp.Close()
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		_ = tmp.Close()
		return fmt.Errorf("%s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		_ = tmp.Close()
		return fmt.Errorf("%s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	return nil
}
