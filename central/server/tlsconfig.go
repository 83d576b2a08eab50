package server

import (
	"crypto/tls"
	"strings"

	"github.com/serialine/serialine/shared/netaddr"
	"github.com/serialine/serialine/shared/tlsfiles"
)

// isTLSBroker reports whether an external broker URL asks for TLS (the
// schemes paho dials with TLS).
func isTLSBroker(b string) bool {
	for _, p := range []string{"ssl://", "tls://", "mqtts://"} {
		if strings.HasPrefix(b, p) {
			return true
		}
	}
	return false
}

// validateTLS checks the TLS keys, reading their files, so that a wrong
// path or a key that does not match its certificate stops central before
// it starts, naming the key.
func (c Config) validateTLS() error {
	h, m := c.HTTP, c.MQTT
	if (h.TLSCert == "") != (h.TLSKey == "") {
		return configErr("http.tls_cert", "http.tls_cert and http.tls_key go together: give both or neither")
	}
	if h.TLSCert != "" {
		if _, err := tlsfiles.KeyPair(h.TLSCert, h.TLSKey); err != nil {
			return configErr("http.tls_cert", "%v", err)
		}
	}
	embeddedAddr, _, _ := m.parseBroker()
	if m.TLSListen != "" {
		if err := netaddr.CheckListen(m.TLSListen); err != nil {
			return configErr("mqtt.tls_listen", "%v", err)
		}
		if embeddedAddr == "" {
			return configErr("mqtt.tls_listen", "only the embedded broker has a TLS listener (mqtt.broker is %q)", m.Broker)
		}
		if h.TLSCert == "" {
			return configErr("mqtt.tls_listen", "needs http.tls_cert and http.tls_key: the listener presents central's certificate")
		}
	}
	if m.TLSClientCA != "" {
		if m.TLSListen == "" {
			return configErr("mqtt.tls_client_ca", "is for the embedded broker's TLS listener; set mqtt.tls_listen too")
		}
		if _, err := tlsfiles.Pool(m.TLSClientCA); err != nil {
			return configErr("mqtt.tls_client_ca", "%v", err)
		}
	}
	if !isTLSBroker(m.Broker) {
		for _, k := range []struct{ key, v string }{{"mqtt.ca_file", m.CAFile}, {"mqtt.cert_file", m.CertFile}, {"mqtt.key_file", m.KeyFile}} {
			if k.v != "" {
				return configErr(k.key, "is for an external broker over TLS (mqtt.broker ssl://HOST:PORT), not %q", m.Broker)
			}
		}
		return nil
	}
	if m.CAFile != "" {
		if _, err := tlsfiles.Pool(m.CAFile); err != nil {
			return configErr("mqtt.ca_file", "%v", err)
		}
	}
	if (m.CertFile == "") != (m.KeyFile == "") {
		return configErr("mqtt.cert_file", "mqtt.cert_file and mqtt.key_file go together: give both or neither")
	}
	if m.CertFile != "" {
		if _, err := tlsfiles.KeyPair(m.CertFile, m.KeyFile); err != nil {
			return configErr("mqtt.cert_file", "%v", err)
		}
	}
	return nil
}

// httpTLS is the HTTPS configuration, nil for plain HTTP.
func (c Config) httpTLS() (*tls.Config, error) {
	if c.HTTP.TLSCert == "" {
		return nil, nil
	}
	cfg, err := tlsfiles.Server(c.HTTP.TLSCert, c.HTTP.TLSKey, "")
	if err != nil {
		return nil, configErr("http.tls_cert", "%v", err)
	}
	return cfg, nil
}

// brokerTLS is the embedded broker's TLS listener configuration, nil
// without mqtt.tls_listen.
func (c Config) brokerTLS() (*tls.Config, error) {
	if c.MQTT.TLSListen == "" {
		return nil, nil
	}
	cfg, err := tlsfiles.Server(c.HTTP.TLSCert, c.HTTP.TLSKey, c.MQTT.TLSClientCA)
	if err != nil {
		return nil, configErr("mqtt.tls_listen", "%v", err)
	}
	return cfg, nil
}

// mqttClientTLS is central's TLS configuration toward an external ssl://
// broker, nil otherwise.
func (c Config) mqttClientTLS() (*tls.Config, error) {
	if !isTLSBroker(c.MQTT.Broker) {
		return nil, nil
	}
	cfg, err := tlsfiles.Client(c.MQTT.CAFile, c.MQTT.CertFile, c.MQTT.KeyFile)
	if err != nil {
		return nil, configErr("mqtt.ca_file", "%v", err)
	}
	return cfg, nil
}

// MQTTTLSAddr is the embedded broker's TLS listener address ("" when there
// is none).
func (s *Server) MQTTTLSAddr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.br == nil {
		return ""
	}
	return s.br.TLSAddr()
}
