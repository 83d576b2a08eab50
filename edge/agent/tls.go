package agent

import (
	"crypto/tls"
	"fmt"
	"strings"

	"github.com/serialine/serialine/shared/tlsfiles"
)

// overTLS reports whether the broker URL's scheme is one paho dials with TLS.
func (m MQTTConfig) overTLS() bool {
	scheme, _, _ := strings.Cut(m.Broker, "://")
	switch scheme {
	case "ssl", "tls", "mqtts", "wss":
		return true
	}
	return false
}

// validateTLS checks the TLS keys without reading the files (tlsConfig
// reads them at start, naming the file and the problem).
func (m MQTTConfig) validateTLS() error {
	if !m.overTLS() {
		for _, k := range []struct{ key, v string }{{"mqtt.ca_file", m.CAFile}, {"mqtt.cert_file", m.CertFile}, {"mqtt.key_file", m.KeyFile}} {
			if k.v != "" {
				return fmt.Errorf("%s: is for a broker over TLS (mqtt.broker ssl://HOST:PORT), not %q", k.key, m.Broker)
			}
		}
		return nil
	}
	if (m.CertFile == "") != (m.KeyFile == "") {
		return fmt.Errorf("mqtt.cert_file: mqtt.cert_file and mqtt.key_file go together: give both or neither")
	}
	return nil
}

// tlsConfig is the session's TLS configuration: nil for a plain broker.
func (m MQTTConfig) tlsConfig() (*tls.Config, error) {
	if !m.overTLS() {
		return nil, nil
	}
	if m.CAFile != "" {
		if _, err := tlsfiles.Pool(m.CAFile); err != nil {
			return nil, fmt.Errorf("mqtt.ca_file: %w", err)
		}
	}
	cfg, err := tlsfiles.Client(m.CAFile, m.CertFile, m.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("mqtt.cert_file: %w", err)
	}
	return cfg, nil
}
