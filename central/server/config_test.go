package server

import (
	"context"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

const shippedConfig = "../../configs/central.yaml"

func TestShippedConfigIsValidAndDocumentsEveryKey(t *testing.T) {
	cfg, err := LoadConfig(shippedConfig)
	require.NoError(t, err)
	cfg = cfg.WithDefaults()
	require.NoError(t, cfg.Validate())
	require.Equal(t, DefaultHTTPListen, cfg.HTTP.Listen)
	require.Equal(t, DefaultDatabase, cfg.Database.URL)
	require.Equal(t, DefaultMQTT, cfg.MQTT.Broker)
	require.Equal(t, 5*time.Minute, cfg.Ingest.GapAlert)

	text, err := os.ReadFile(shippedConfig)
	require.NoError(t, err)
	// Every key of Config appears in the file, with a comment above it.
	var walk func(prefix string, typ reflect.Type)
	walk = func(prefix string, typ reflect.Type) {
		for i := range typ.NumField() {
			f := typ.Field(i)
			key := f.Tag.Get("yaml")
			require.NotEmpty(t, key, "%s%s has no yaml tag", prefix, f.Name)
			if f.Type.Kind() == reflect.Struct && f.Type != reflect.TypeOf(time.Duration(0)) {
				require.Contains(t, string(text), "\n"+key+":\n", "section %s", key)
				walk(prefix+key+".", f.Type)
				continue
			}
			lines := strings.Split(string(text), "\n")
			found := false
			for j, l := range lines {
				if strings.HasPrefix(l, "  "+key+":") {
					found = true
					// A comment above it, or above the group of keys it is in.
					k := j - 1
					for k > 0 && strings.HasPrefix(lines[k], "  ") && !strings.HasPrefix(strings.TrimSpace(lines[k]), "#") {
						k--
					}
					require.True(t, strings.HasPrefix(strings.TrimSpace(lines[k]), "#"), "%s%s has no comment above it", prefix, key)
				}
			}
			require.True(t, found, "key %s%s is not in %s", prefix, key, shippedConfig)
		}
	}
	walk("", reflect.TypeOf(Config{}))
}

func TestConfigErrorsNameTheKey(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want string
	}{
		{"unknown key", "http:\n  listen: 127.0.0.1:8080\n  lisen: x\n", `line 3: unknown key "http.lisen"`},
		{"unknown section", "htp:\n  listen: x\n", `unknown key "htp"`},
		{"wrong type", "database:\n  postgres_conns: many\n", "database.postgres_conns (line 2): cannot unmarshal !!str `many` into int"},
		{"bad duration", "http:\n  shutdown_timeout: soon\n", "line 2"},
		{"http.listen", "http:\n  listen: 8080\n", "http.listen:"},
		{"negative timeout", "http:\n  shutdown_timeout: -1s\n", "http.shutdown_timeout: -1s is negative"},
		{"database.url", "database:\n  url: mysql://x\n", "database.url: \"mysql://x\": want sqlite:PATH"},
		{"database.url redacted", "database:\n  url: pg://u:secret@h/db\n", "pg://u:xxxxx@h/db"},
		{"empty sqlite path", "database:\n  url: 'sqlite:'\n", "database.url: sqlite: needs a file path"},
		{"postgres_conns", "database:\n  postgres_conns: -1\n", "database.postgres_conns:"},
		{"mqtt.broker", "mqtt:\n  broker: mqtt://x:1883\n", "mqtt.broker: \"mqtt://x:1883\": use embedded"},
		{"mqtt.broker port", "mqtt:\n  broker: embedded:127.0.0.1:70000\n", "mqtt.broker:"},
		{"mqtt.broker credentials in url", "mqtt:\n  broker: tcp://u:p@h:1883\n", "credentials go in mqtt.service_user"},
		{"mqtt.service_user", "mqtt:\n  service_user: a/b\n", "mqtt.service_user:"},
		{"mqtt.share_group", "mqtt:\n  share_group: '#'\n", "mqtt.share_group:"},
		{"mqtt.max_inflight", "mqtt:\n  max_inflight: 70000\n", "mqtt.max_inflight:"},
		{"mqtt.max_packet_size", "mqtt:\n  max_packet_size: 10\n", "mqtt.max_packet_size: 10 bytes is outside"},
		{"mqtt.max_connections", "mqtt:\n  max_connections: -1\n", "mqtt.max_connections:"},
		{"mqtt.max_connections_per_user", "mqtt:\n  max_connections_per_user: -1\n", "mqtt.max_connections_per_user:"},
		{"mqtt.max_unauthenticated", "mqtt:\n  max_unauthenticated: -1\n", "mqtt.max_unauthenticated:"},
		{"mqtt.login_timeout", "mqtt:\n  login_timeout: -1s\n", "mqtt.login_timeout:"},
		{"mqtt.max_inflight_per_line", "mqtt:\n  max_inflight: 10\n  max_inflight_per_line: 20\n", "mqtt.max_inflight_per_line:"},
		{"mqtt.auth_timeout", "mqtt:\n  auth_timeout: -1s\n", "mqtt.auth_timeout:"},
		{"ingest.future_skew", "ingest:\n  future_skew: -1m\n", "ingest.future_skew:"},
		{"ingest.max_merge_events", "ingest:\n  max_merge_events: -3\n", "ingest.max_merge_events:"},
		{"ingest.gap_alert", "ingest:\n  gap_alert: -1m\n", "ingest.gap_alert:"},
		{"ingest.retries", "ingest:\n  retries: 1000\n", "ingest.retries:"},
		{"web.secure_cookie", "web:\n  secure_cookie: maybe\n", "web.secure_cookie: \"maybe\": use auto, true or false"},
		{"web.session_max_age", "web:\n  session_max_age: 10s\n", "web.session_max_age:"},
		{"web.session_idle short", "web:\n  session_idle: 10s\n", "web.session_idle: 10s is shorter than a minute"},
		{"web.session_idle over max age", "web:\n  session_max_age: 1h\n  session_idle: 2h\n", "web.session_idle: 2h0m0s is longer than web.session_max_age"},
		{"http.read_timeout", "http:\n  read_timeout: -1s\n", "http.read_timeout: -1s is negative"},
		{"http.write_timeout", "http:\n  write_timeout: -1s\n", "http.write_timeout: -1s is negative"},
		{"http.idle_timeout", "http:\n  idle_timeout: -1s\n", "http.idle_timeout: -1s is negative"},
		{"http.read_header_timeout over read_timeout", "http:\n  read_timeout: 5s\n  read_header_timeout: 10s\n", "http.read_header_timeout: 10s is longer than http.read_timeout"},
		{"http.max_connections", "http:\n  max_connections: -1\n", "http.max_connections: -1 is outside"},
		{"http.hosts scheme", "http:\n  hosts: [central.example, 'https://central.example']\n", "http.hosts[1]: \"https://central.example\": want a host name"},
		{"http.hosts port", "http:\n  hosts: ['central.example:0']\n", "http.hosts[0]: \"central.example:0\": port must be"},
		{"http.hosts wildcard", "http:\n  hosts: ['*']\n", "http.hosts[0]:"},
		{"log.level", "log:\n  level: loud\n", "log.level:"},
		{"outbound.allow_networks", "outbound:\n  allow_networks: [10.0.0.0/33]\n", "outbound.allow_networks: allowed network 1 (\"10.0.0.0/33\")"},
		{"outbound.allow_networks everything", "outbound:\n  allow_networks: [0.0.0.0/0]\n", "defeats the check"},
		{"outbound.retry_max", "outbound:\n  retry_max: 1h\n", "outbound.retry_max: 1h0m0s: partners expect an attempt at least every 15 minutes"},
		{"outbound.retry_initial", "outbound:\n  retry_initial: 10m\n  retry_max: 5m\n", "outbound.retry_initial:"},
		{"outbound.give_up_after", "outbound:\n  give_up_after: 1m\n", "outbound.give_up_after:"},
		{"outbound.timeout", "outbound:\n  timeout: -1s\n", "outbound.timeout: -1s is negative"},
		{"log.format", "log:\n  format: xml\n", "log.format:"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := ParseConfig([]byte(tc.yaml))
			if err == nil {
				err = cfg.WithDefaults().Validate()
			}
			require.ErrorIs(t, err, ErrInvalidConfig)
			require.Contains(t, err.Error(), tc.want)
		})
	}
}

func TestFlagsOverrideTheFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "central.yaml")
	require.NoError(t, os.WriteFile(path, []byte("http:\n  listen: 127.0.0.1:9000\ndatabase:\n  url: sqlite:/var/x.db\nmqtt:\n  broker: tcp://broker:1883\n  share_group: g1\n"), 0o600))

	cfg, err := serveConfig([]string{"--config", path}, io.Discard)
	require.NoError(t, err)
	require.Equal(t, "127.0.0.1:9000", cfg.HTTP.Listen)
	require.Equal(t, "tcp://broker:1883", cfg.MQTT.Broker)

	cfg, err = serveConfig([]string{"--config", path, "--http", "0.0.0.0:8081", "--db", "postgres://c@db/central", "--mqtt", "embedded:127.0.0.1:0"}, io.Discard)
	require.NoError(t, err)
	require.Equal(t, "0.0.0.0:8081", cfg.HTTP.Listen)
	require.Equal(t, "postgres://c@db/central", cfg.Database.URL)
	require.Equal(t, "embedded:127.0.0.1:0", cfg.MQTT.Broker)
	require.Equal(t, "g1", cfg.MQTT.ShareGroup, "keys without a flag keep the file's value")

	cfg, err = serveConfig(nil, io.Discard)
	require.NoError(t, err)
	require.Equal(t, Config{}.WithDefaults(), cfg, "no file, no flags: the defaults")

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--http", "nope"}, "--http: invalid configuration: http.listen:"},
		{[]string{"--db", ""}, "--db: empty"},
		{[]string{"--mqtt", "udp://x:1"}, "--mqtt: invalid configuration: mqtt.broker:"},
		{[]string{"--config", filepath.Join(t.TempDir(), "missing.yaml")}, "no such file"},
		{[]string{"--bogus"}, "flag provided but not defined: -bogus"},
		{[]string{"extra"}, `unexpected argument "extra"`},
	} {
		_, err := serveConfig(tc.args, io.Discard)
		require.ErrorContains(t, err, tc.want, "%v", tc.args)
	}
}

// TestEmbeddedBrokerTakesTheNextFreePort: with mqtt.broker "embedded" the
// broker moves up from a taken port (a Mosquitto on 1883) and says so.
func TestEmbeddedBrokerTakesTheNextFreePort(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = taken.Close() })

	var logs strings.Builder
	s, err := New(Config{Database: DatabaseConfig{URL: "sqlite:" + filepath.Join(t.TempDir(), "c.db")}},
		slog.New(slog.NewTextHandler(&logs, nil)))
	require.NoError(t, err)
	require.NoError(t, s.openStore(context.Background()))
	t.Cleanup(func() { s.st.Close() })

	require.NoError(t, s.startBroker(context.Background(), taken.Addr().String(), true, "pw"))
	t.Cleanup(func() { _ = s.br.Close() })
	require.NotEqual(t, taken.Addr().String(), s.br.Addr())
	require.Contains(t, logs.String(), "mqtt port taken")

	// Without the fallback (an explicit embedded:HOST:PORT) a taken port is an error.
	err = s.startBroker(context.Background(), taken.Addr().String(), false, "pw")
	require.ErrorContains(t, err, "mqtt.broker: embedded broker on "+taken.Addr().String())
}
