// Package tlsfiles reads the PEM files of a TLS setup (a CA bundle, a
// certificate and its key) into crypto/tls configurations, with errors
// that name the file and what is wrong with it: unreadable, not PEM, no
// certificate in it, or a key that does not belong to the certificate.
// Central (HTTPS, its broker's TLS listener, its MQTT client) and the
// edge (its MQTT client) use it, so that a plant sees the same messages
// everywhere.
package tlsfiles

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
)

// Pool reads a PEM file of one or more CA certificates.
func Pool(caFile string) (*x509.CertPool, error) {
	certs, err := readCerts(caFile)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	for _, c := range certs {
		pool.AddCert(c)
	}
	return pool, nil
}

// KeyPair reads a certificate (PEM, the leaf first, then any intermediates)
// and its private key (PEM, PKCS#8, PKCS#1 or SEC 1).
func KeyPair(certFile, keyFile string) (tls.Certificate, error) {
	if _, err := readCerts(certFile); err != nil {
		return tls.Certificate{}, err
	}
	certPEM, _ := os.ReadFile(certFile) // readCerts has read it
	keyPEM, err := os.ReadFile(keyFile)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("key file %s: unreadable: %w", keyFile, err)
	}
	block, _ := pem.Decode(keyPEM)
	if block == nil {
		return tls.Certificate{}, fmt.Errorf("key file %s: not PEM (want a -----BEGIN PRIVATE KEY----- block)", keyFile)
	}
	if block.Type == "CERTIFICATE" {
		return tls.Certificate{}, fmt.Errorf("key file %s: holds a certificate, not a private key", keyFile)
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("key file %s does not go with certificate %s: %w", keyFile, certFile, err)
	}
	return pair, nil
}

// Client is the configuration of a client that trusts the CAs of caFile
// ("" = the system's) and, when certFile is set, presents that
// certificate. certFile and keyFile go together.
func Client(caFile, certFile, keyFile string) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if caFile != "" {
		pool, err := Pool(caFile)
		if err != nil {
			return nil, err
		}
		cfg.RootCAs = pool
	}
	if (certFile == "") != (keyFile == "") {
		return nil, errors.New("a client certificate needs both a certificate file and a key file")
	}
	if certFile != "" {
		pair, err := KeyPair(certFile, keyFile)
		if err != nil {
			return nil, err
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	return cfg, nil
}

// Server is the configuration of a server presenting certFile; with
// clientCAFile set, every client must present a certificate issued by one
// of its CAs.
func Server(certFile, keyFile, clientCAFile string) (*tls.Config, error) {
	pair, err := KeyPair(certFile, keyFile)
	if err != nil {
		return nil, err
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{pair}}
	if clientCAFile != "" {
		pool, err := Pool(clientCAFile)
		if err != nil {
			return nil, err
		}
		cfg.ClientCAs = pool
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return cfg, nil
}

// readCerts reads every CERTIFICATE block of a PEM file; there must be one.
func readCerts(file string) ([]*x509.Certificate, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("certificate file %s: unreadable: %w", file, err)
	}
	var certs []*x509.Certificate
	for rest := b; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("certificate file %s: certificate %d: %w", file, len(certs)+1, err)
		}
		certs = append(certs, c)
	}
	if len(certs) == 0 {
		if p, _ := pem.Decode(b); p == nil {
			return nil, fmt.Errorf("certificate file %s: not PEM (want -----BEGIN CERTIFICATE----- blocks)", file)
		}
		return nil, fmt.Errorf("certificate file %s: no CERTIFICATE block in it", file)
	}
	return certs, nil
}
