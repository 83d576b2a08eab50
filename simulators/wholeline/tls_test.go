package wholeline_test

import (
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/serialine/serialine/central/store/storetest"
	"github.com/serialine/serialine/internal/testkit"
	"github.com/serialine/serialine/shared/wire"
)

var mqttTLSAttr = regexp.MustCompile(`\bmqtt_tls="?ssl://([0-9.]+:[0-9]+)`)

// TestTLS is issue 17's TLS end to end, with the real programs and the
// real clients: certificates made by `serialine-central certs`; central
// serving HTTPS and its embedded broker's TLS listener requiring client
// certificates; a line running a whole order over MQTT TLS with its own
// certificate; curl --cacert on the API and mosquitto_sub --cafile --cert
// --key on the broker; plain HTTP and plain MQTT to the TLS ports, and a
// client with no or another user's certificate, refused.
func TestTLS(t *testing.T) {
	for _, tool := range []string{"curl", "mosquitto_sub"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not installed", tool)
		}
	}
	certs := filepath.Join(t.TempDir(), "pki")
	central := filepath.Join(binDir, "serialine-central")
	out, err := exec.Command(central, "certs", "--dir", certs, "--hosts", "localhost,127.0.0.1", "--lines", "T1").CombinedOutput()
	require.NoError(t, err, "%s", out)
	ca := filepath.Join(certs, "ca.crt")
	clientFiles := func(name string) []string {
		return []string{"--cert", filepath.Join(certs, "clients", name+".crt"), "--key", filepath.Join(certs, "clients", name+".key")}
	}

	// The randomized scheme's key sealed at rest, with a secrets key.
	keyFile := filepath.Join(t.TempDir(), "secrets.key")
	require.NoError(t, os.WriteFile(keyFile, []byte("k1:"+randomHex(t, 32)+"\n"), 0o600))

	s := &system{svc: randomHex(t, 16), dsn: storetest.PostgresDSN(t), token: adminToken(t)}
	cfgPath := filepath.Join(t.TempDir(), "central.yaml")
	require.NoError(t, os.WriteFile(cfgPath, []byte("mqtt:\n  tls_client_ca: "+ca+"\n"), 0o600))
	s.central = newProc(t, "central", "serialine-central", "central serving",
		[]string{"SERIALINE_ADMIN_TOKEN=" + s.token, "SERIALINE_MQTT_PASSWORD=" + s.svc, "SERIALINE_KEY_FILE=" + keyFile},
		"serve", "--config", cfgPath, "--db", s.dsn, "--http", "127.0.0.1:0",
		"--mqtt", "embedded:127.0.0.1:0", "--mqtt-tls", "127.0.0.1:0",
		"--tls-cert", filepath.Join(certs, "server.crt"), "--tls-key", filepath.Join(certs, "server.key"))
	s.central.start(t)
	log, err := os.ReadFile(s.central.logPath)
	require.NoError(t, err)
	m := mqttTLSAttr.FindSubmatch(log)
	require.NotNil(t, m, "central announces its MQTT TLS listener")
	mqttTLS := string(m[1])
	httpsAddr := s.central.Addr()

	pem, err := os.ReadFile(ca)
	require.NoError(t, err)
	pool := x509.NewCertPool()
	require.True(t, pool.AppendCertsFromPEM(pem))
	s.api = &client{base: "https://" + httpsAddr, token: s.token,
		hc: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}}
	require.Eventually(t, func() bool {
		code, _ := s.api.do(t, "GET", "/api/v1/me", nil, nil)
		return code == http.StatusOK
	}, wait, 20*time.Millisecond, "central's API answers over HTTPS")
	s.putProduct(t)

	// curl, with the plant's CA: the API over HTTPS.
	out, err = exec.Command("curl", "-sS", "--fail", "--max-time", "30", "--cacert", ca, "-H", "Authorization: Bearer "+s.token,
		"https://"+httpsAddr+"/api/v1/me").CombinedOutput()
	require.NoError(t, err, "curl --cacert: %s", out)
	require.Contains(t, string(out), `"role":"admin"`)
	// Without the CA curl refuses central's certificate (exit 60).
	err = exec.Command("curl", "-sS", "--max-time", "30", "-o", "/dev/null", "https://"+httpsAddr+"/healthz").Run()
	var exit *exec.ExitError
	require.ErrorAs(t, err, &exit, "curl without the CA")
	require.Equal(t, 60, exit.ExitCode(), "curl: the peer's certificate is not trusted")
	// Plain HTTP to the HTTPS port: 400, and no API.
	out, err = exec.Command("curl", "-sS", "--max-time", "30", "-w", "\n%{http_code}", "-H", "Authorization: Bearer "+s.token,
		"http://"+httpsAddr+"/api/v1/me").CombinedOutput()
	require.NoError(t, err, "%s", out)
	require.True(t, strings.HasSuffix(string(out), "\n400"), "plain HTTP to the HTTPS port: %s", out)
	require.NotContains(t, string(out), "admin")

	// A line over MQTT TLS with its client certificate runs a whole order.
	r := s.addLine(t, "T1", lineOpts{units: 200, speed: 1_200, quantity: 50, allowance: -1, broker: "ssl://" + mqttTLS, tlsDir: certs})
	r.startEdge(t)
	r.run(t)
	require.Eventually(t, func() bool {
		st := r.state(t)
		return st.Production != nil && st.Production.State == wire.ProgressComplete && st.State == wire.LineStopped
	}, wait, 10*time.Millisecond, "the line completes the order over TLS")
	r.scr.signIn(t, pinAna)
	code, body := r.scr.post(t, "/ui/close", map[string]bool{"confirm": true})
	require.Equal(t, http.StatusOK, code, string(body))
	o := s.awaitClosed(t, r)
	require.EqualValues(t, 50, o.Reconciliation.Commissioned, "the whole order at central")
	var scheme string
	require.NoError(t, s.db(t).QueryRow(testkit.ContextFor(t, wait), "SELECT serial_scheme->>'key' FROM products WHERE gtin = $1", gtin).Scan(&scheme))
	require.True(t, strings.HasPrefix(scheme, "enc:v1:k1:"), "the scheme key is sealed in the database: %q", scheme)

	// mosquitto_sub over TLS with the line's certificate: its retained
	// orders topic (no order left open now).
	topic, err := wire.Topic("T1", wire.KindOrders)
	require.NoError(t, err)
	sub := func(extra ...string) ([]byte, error) {
		args := append([]string{"-h", "127.0.0.1", "-p", strings.Split(mqttTLS, ":")[1], "-u", "T1", "-P", r.password,
			"-i", "sub-T1-" + randomHex(t, 3), "-t", topic, "-C", "1", "-W", "30"}, extra...)
		started := time.Now()
		out, err := exec.Command("mosquitto_sub", args...).CombinedOutput()
		t.Logf("mosquitto_sub %s: %v after %v: %s", strings.Join(extra, " "), err, time.Since(started).Round(time.Millisecond), strings.TrimSpace(string(out)))
		return out, err
	}
	out, err = sub(append([]string{"--cafile", ca}, clientFiles("T1")...)...)
	require.NoError(t, err, "mosquitto_sub --cafile --cert --key: %s", out)
	require.Contains(t, string(out), `"line":"T1"`)

	// Refused: another user's certificate (central's, valid, same CA), no
	// certificate, plain MQTT.
	out, err = sub(append([]string{"--cafile", ca}, clientFiles("central")...)...)
	require.Error(t, err, "T1 with central's certificate: %s", out)
	require.NotContains(t, string(out), `"line":"T1"`)
	out, err = sub("--cafile", ca)
	require.Error(t, err, "T1 without a certificate: %s", out)
	require.NotContains(t, string(out), `"line":"T1"`)
	// Plain MQTT to the TLS port: the broker closes each attempt without
	// a CONNACK (mosquitto_sub retries every second until -W ends it).
	out, err = sub("-d", "-W", "3")
	require.Error(t, err, "plain MQTT to the TLS port: %s", out)
	require.Contains(t, string(out), "sending CONNECT")
	require.NotContains(t, string(out), "CONNACK")
	require.NotContains(t, string(out), `"line":"T1"`)
	log, err = os.ReadFile(s.central.logPath)
	require.NoError(t, err)
	require.Contains(t, string(log), `client certificate is for \"central\", not for username \"T1\"`)
}
