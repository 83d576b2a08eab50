package server_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/stretchr/testify/require"

	"github.com/serialine/serialine/central/auth"
	"github.com/serialine/serialine/central/pki"
	"github.com/serialine/serialine/central/store/master"
	"github.com/serialine/serialine/central/store/sqldb"
	"github.com/serialine/serialine/internal/testkit"
	"github.com/serialine/serialine/shared/tlsfiles"
)

// TestServeTLS: `serve --tls-cert --tls-key --mqtt-tls` serves HTTPS and a
// broker TLS listener that requires the line's own client certificate;
// plain HTTP to the HTTPS port gets Go's 400 and nothing else.
func TestServeTLS(t *testing.T) {
	dir := t.TempDir()
	certs := filepath.Join(dir, "pki")
	_, err := pki.Make(pki.Options{Dir: certs, Hosts: []string{"localhost", "127.0.0.1"}, Clients: []string{"L1", "L2"}})
	require.NoError(t, err)
	ca := filepath.Join(certs, pki.CACert)
	cfgPath := filepath.Join(dir, "central.yaml")
	require.NoError(t, os.WriteFile(cfgPath, []byte("mqtt:\n  tls_client_ca: "+ca+"\n"), 0o600))
	r := startMain(t, nil, "serve", "--config", cfgPath, "--http", "127.0.0.1:0", "--db", "sqlite:"+filepath.Join(dir, "central.db"),
		"--mqtt", "embedded:127.0.0.1:0", "--mqtt-tls", "127.0.0.1:0",
		"--tls-cert", filepath.Join(certs, pki.ServerCert), "--tls-key", filepath.Join(certs, pki.ServerKey))
	require.Contains(t, r.log.String(), "https://"+r.srv.HTTPAddr())

	clientTLS, err := tlsfiles.Client(ca, "", "")
	require.NoError(t, err)
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: clientTLS}}
	resp, err := hc.Get("https://" + r.srv.HTTPAddr() + "/healthz")
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode, string(body))

	// Plain HTTP to the HTTPS port: a 400, never the API.
	resp, err = http.Get("http://" + r.srv.HTTPAddr() + "/healthz")
	require.NoError(t, err)
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusBadRequest, resp.StatusCode)
	require.Contains(t, string(body), "HTTP request to an HTTPS server")
	require.NotContains(t, string(body), "ok")

	// A line on the TLS listener: its certificate and password.
	st := r.srv.Store()
	pw := auth.GeneratePassword()
	hash, err := auth.HashPassword(pw)
	require.NoError(t, err)
	require.NoError(t, st.PutLine(sqldb.WithActor(context.Background(), "user:test"), master.Line{ID: "L1", Name: "Line 1", PasswordHash: hash}))
	tlsAddr := r.srv.MQTTTLSAddr()
	require.NotEmpty(t, tlsAddr)
	connect := func(cert string) error {
		cfg := clientTLS
		if cert != "" {
			cfg, err = tlsfiles.Client(ca, pki.ClientCert(certs, cert), pki.ClientKey(certs, cert))
			require.NoError(t, err)
		}
		o := paho.NewClientOptions().AddBroker("ssl://" + tlsAddr).SetClientID("edge-L1-" + testkit.RandHex(3)).SetUsername("L1").SetPassword(pw).
			SetProtocolVersion(4).SetAutoReconnect(false).SetConnectTimeout(waitFor).SetTLSConfig(cfg)
		c := paho.NewClient(o)
		tok := c.Connect()
		require.True(t, tok.WaitTimeout(waitFor))
		if tok.Error() == nil {
			c.Disconnect(100)
		}
		return tok.Error()
	}
	require.NoError(t, connect("L1"))
	require.Error(t, connect("L2"), "another line's certificate")
	require.Error(t, connect(""), "no certificate")
	require.Contains(t, r.log.String(), `client certificate is for \"L2\", not for username \"L1\"`)

	// Plain MQTT to the TLS port: no CONNACK.
	c := paho.NewClient(paho.NewClientOptions().AddBroker("tcp://" + tlsAddr).SetUsername("L1").SetPassword(pw).
		SetAutoReconnect(false).SetConnectTimeout(waitFor).
		SetCustomOpenConnectionFn(func(u *url.URL, _ paho.ClientOptions) (net.Conn, error) { return net.Dial("tcp", u.Host) }))
	tok := c.Connect()
	require.True(t, tok.WaitTimeout(waitFor))
	require.Error(t, tok.Error())
}

func TestTLSConfigErrorsNameTheKey(t *testing.T) {
	dir := t.TempDir()
	_, err := pki.Make(pki.Options{Dir: dir, Hosts: []string{"localhost"}, Clients: []string{"L1"}})
	require.NoError(t, err)
	cert, key := filepath.Join(dir, pki.ServerCert), filepath.Join(dir, pki.ServerKey)
	otherKey := pki.ClientKey(dir, "L1")
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"cert without key", []string{"--tls-cert", cert}, "http.tls_cert and http.tls_key go together"},
		{"wrong key", []string{"--tls-cert", cert, "--tls-key", otherKey}, "--tls-cert: invalid configuration: http.tls_cert: key file " + otherKey + " does not go with certificate " + cert},
		{"missing cert", []string{"--tls-cert", filepath.Join(dir, "nope.crt"), "--tls-key", key}, "nope.crt: unreadable"},
		{"mqtt-tls without cert", []string{"--mqtt-tls", "127.0.0.1:0"}, "mqtt.tls_listen: needs http.tls_cert"},
		{"mqtt-tls with external broker", []string{"--mqtt", "tcp://127.0.0.1:1883", "--mqtt-tls", "127.0.0.1:0", "--tls-cert", cert, "--tls-key", key}, "only the embedded broker has a TLS listener"},
		{"ssl broker with bad CA", []string{"--config", writeConfig(t, "mqtt:\n  broker: ssl://127.0.0.1:8883\n  ca_file: "+key+"\n")}, "mqtt.ca_file: certificate file " + key + ": no CERTIFICATE block"},
		{"ca_file with tcp broker", []string{"--config", writeConfig(t, "mqtt:\n  broker: tcp://127.0.0.1:1883\n  ca_file: "+cert+"\n")}, "mqtt.ca_file: is for an external broker over TLS"},
		{"client CA without listener", []string{"--config", writeConfig(t, "mqtt:\n  tls_client_ca: "+cert+"\n")}, "mqtt.tls_client_ca: is for the embedded broker's TLS listener"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, stderr, code := runCLI(t, "", append([]string{"serve", "--db", "sqlite:" + filepath.Join(t.TempDir(), "c.db")}, tc.args...)...)
			require.Equal(t, 2, code, stderr)
			require.Contains(t, stderr, tc.want)
		})
	}
}

func writeConfig(tb testing.TB, text string) string {
	tb.Helper()
	p := filepath.Join(tb.TempDir(), "central.yaml")
	require.NoError(tb, os.WriteFile(p, []byte(text), 0o600))
	return p
}

func TestCertsCommand(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "pki")
	stdout, stderr, code := runCLI(t, "", "certs", "--dir", dir, "--hosts", "central.plant.example,10.0.0.5", "--lines", "L1,L2")
	require.Equal(t, 0, code, stderr)
	for _, f := range []string{pki.CACert, pki.CAKey, pki.ServerCert, pki.ServerKey, "clients/L1.crt", "clients/L1.key", "clients/L2.key", "clients/central.key"} {
		require.Contains(t, stdout, filepath.Join(dir, f))
	}
	st, err := os.Stat(filepath.Join(dir, pki.ServerKey))
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), st.Mode().Perm())

	_, stderr, code = runCLI(t, "", "certs", "--dir", dir, "--hosts", "central.plant.example", "--lines", "L1")
	require.Equal(t, 2, code)
	require.Contains(t, stderr, "file exists (give --force")

	stdout, stderr, code = runCLI(t, "", "certs", "--dir", dir, "--lines", "L3", "--service-user", "")
	require.Equal(t, 0, code, stderr)
	require.Contains(t, stdout, "using the existing CA")

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--hosts", "h"}, "--dir: missing"},
		{[]string{"--dir", dir, "--service-user", ""}, "--hosts: missing"},
		{[]string{"--dir", dir, "--hosts", "h", "--lines", "bad line"}, `--lines: "bad line"`},
	} {
		_, stderr, code := runCLI(t, "", append([]string{"certs"}, tc.args...)...)
		require.Equal(t, 2, code, strings.Join(tc.args, " "))
		require.Contains(t, stderr, tc.want)
	}
}

// TestServeConnectsToSSLBroker: central accepts an ssl:// broker (it
// refused one before) and connects with its CA and client certificate:
// here to another central's embedded broker's TLS listener, which
// requires the certificate of central's service user.
func TestServeConnectsToSSLBroker(t *testing.T) {
	dir := t.TempDir()
	certs := filepath.Join(dir, "pki")
	_, err := pki.Make(pki.Options{Dir: certs, Hosts: []string{"127.0.0.1"}, Clients: []string{"central"}})
	require.NoError(t, err)
	ca := filepath.Join(certs, pki.CACert)
	env := map[string]string{"SERIALINE_MQTT_PASSWORD": "svc-" + testkit.RandHex(8)}
	a := startMain(t, env, "serve", "--config", writeConfig(t, "mqtt:\n  tls_client_ca: "+ca+"\n"), "--http", "127.0.0.1:0",
		"--db", "sqlite:"+filepath.Join(dir, "a.db"), "--mqtt", "embedded:127.0.0.1:0", "--mqtt-tls", "127.0.0.1:0",
		"--tls-cert", filepath.Join(certs, pki.ServerCert), "--tls-key", filepath.Join(certs, pki.ServerKey))

	cfg := writeConfig(t, "mqtt:\n  ca_file: "+ca+"\n  cert_file: "+pki.ClientCert(certs, "central")+"\n  key_file: "+pki.ClientKey(certs, "central")+"\n")
	b := startMain(t, env, "serve", "--config", cfg, "--http", "127.0.0.1:0", "--db", "sqlite:"+filepath.Join(dir, "b.db"),
		"--mqtt", "ssl://"+a.srv.MQTTTLSAddr())
	wait, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	require.NoError(t, b.srv.Ingest().WaitReady(wait), "central did not connect to ssl://%s:\n%s", a.srv.MQTTTLSAddr(), b.log)
	code, body := b.get(t, "/healthz", "")
	require.Equal(t, http.StatusOK, code, body)
}
