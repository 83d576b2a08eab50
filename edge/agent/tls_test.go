package agent

import (
	"crypto/tls"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/serialine/serialine/central/pki"
)

func TestMQTTTLSConfig(t *testing.T) {
	dir := t.TempDir()
	_, err := pki.Make(pki.Options{Dir: dir, Hosts: []string{"127.0.0.1"}, Clients: []string{"L1", "L2"}})
	require.NoError(t, err)
	ca, cert, key := filepath.Join(dir, pki.CACert), pki.ClientCert(dir, "L1"), pki.ClientKey(dir, "L1")
	junk := filepath.Join(dir, "junk")
	require.NoError(t, os.WriteFile(junk, []byte("junk"), 0o600))

	base := MQTTConfig{Broker: "ssl://127.0.0.1:8883"}
	for _, tc := range []struct {
		name string
		edit func(*MQTTConfig)
		want string // "" = fine
	}{
		{"plain broker", func(m *MQTTConfig) { m.Broker = "tcp://127.0.0.1:1883" }, ""},
		{"system CAs", func(*MQTTConfig) {}, ""},
		{"CA and certificate", func(m *MQTTConfig) { m.CAFile, m.CertFile, m.KeyFile = ca, cert, key }, ""},
		{"mqtts", func(m *MQTTConfig) { m.Broker, m.CAFile = "mqtts://127.0.0.1:8883", ca }, ""},
		{"CA with a plain broker", func(m *MQTTConfig) { m.Broker, m.CAFile = "tcp://127.0.0.1:1883", ca }, "mqtt.ca_file: is for a broker over TLS"},
		{"cert without key", func(m *MQTTConfig) { m.CertFile = cert }, "mqtt.cert_file and mqtt.key_file go together"},
		{"CA not PEM", func(m *MQTTConfig) { m.CAFile = junk }, "mqtt.ca_file: certificate file " + junk + ": not PEM"},
		{"CA missing", func(m *MQTTConfig) { m.CAFile = junk + "-missing" }, "mqtt.ca_file: certificate file " + junk + "-missing: unreadable"},
		{"key of another line", func(m *MQTTConfig) { m.CertFile, m.KeyFile = cert, pki.ClientKey(dir, "L2") }, "does not go with certificate " + cert},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := base
			tc.edit(&m)
			err := m.validateTLS()
			var cfg *tls.Config
			if err == nil {
				cfg, err = m.tlsConfig()
			}
			if tc.want != "" {
				require.ErrorContains(t, err, tc.want)
				return
			}
			require.NoError(t, err)
			if !strings.HasPrefix(m.Broker, "tcp://") {
				require.NotNil(t, cfg)
				require.Equal(t, m.CertFile != "", len(cfg.Certificates) == 1)
				require.Equal(t, m.CAFile != "", cfg.RootCAs != nil)
			} else {
				require.Nil(t, cfg)
			}
		})
	}
}
