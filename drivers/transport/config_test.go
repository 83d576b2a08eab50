package transport

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestParseSpec(t *testing.T) {
	tests := []struct {
		spec string
		want Config
	}{
		{"tcp:127.0.0.1:9100", Config{Kind: "tcp", Address: "127.0.0.1:9100", DialTimeout: 5 * time.Second}},
		{"TCP:printer-1.line3:9100", Config{Kind: "tcp", Address: "printer-1.line3:9100", DialTimeout: 5 * time.Second}},
		{"tcp:[::1]:502?timeout=2s", Config{Kind: "tcp", Address: "[::1]:502", DialTimeout: 2 * time.Second}},
		{"serial:/dev/ttyUSB0", Config{Kind: "serial", Address: "/dev/ttyUSB0", Baud: 115200, DataBits: 8, Parity: "N", StopBits: 1, DialTimeout: 5 * time.Second}},
		{"serial:/dev/pts/5?baud=9600&parity=e&databits=7&stopbits=2", Config{Kind: "serial", Address: "/dev/pts/5", Baud: 9600, DataBits: 7, Parity: "E", StopBits: 2, DialTimeout: 5 * time.Second}},
		{"serial:/dev/ttyS0?baud=19200&timeout=250ms", Config{Kind: "serial", Address: "/dev/ttyS0", Baud: 19200, DataBits: 8, Parity: "N", StopBits: 1, DialTimeout: 250 * time.Millisecond}},
	}
	for _, tt := range tests {
		t.Run(tt.spec, func(t *testing.T) {
			got, err := ParseSpec(tt.spec)
			require.NoError(t, err)
			require.Equal(t, tt.want, got)

			again, err := ParseSpec(got.String())
			require.NoError(t, err, "String() must read back: %s", got.String())
			require.Equal(t, got, again)
		})
	}
}

func TestParseSpecRejects(t *testing.T) {
	tests := []struct {
		spec    string
		wantErr string // the field/option the message must name
	}{
		{"", "want \"tcp:HOST:PORT\""},
		{"/dev/ttyUSB0", "want \"tcp:HOST:PORT\""},
		{"udp:127.0.0.1:9", `kind "udp"`},
		{"tcp:127.0.0.1", "address"},
		{"tcp::9100", "has no host"},
		{"tcp:127.0.0.1:0", "port \"0\""},
		{"tcp:127.0.0.1:70000", "port \"70000\""},
		{"tcp:127.0.0.1:9100?baud=9600", `option "baud"`},
		{"serial:", "address"},
		{"serial:ttyUSB0", "must be absolute"},
		{"serial:/dev/ttyUSB0?baud=12345", "baud 12345"},
		{"serial:/dev/ttyUSB0?baud=fast", "baud=\"fast\""},
		{"serial:/dev/ttyUSB0?parity=X", `parity "X"`},
		{"serial:/dev/ttyUSB0?databits=9", "data_bits 9"},
		{"serial:/dev/ttyUSB0?stopbits=3", "stop_bits 3"},
		{"serial:/dev/ttyUSB0?flow=rtscts", `option "flow"`},
		{"serial:/dev/ttyUSB0?timeout=-1s", "dial_timeout"},
	}
	for _, tt := range tests {
		t.Run(tt.spec, func(t *testing.T) {
			_, err := ParseSpec(tt.spec)
			require.Error(t, err)
			require.Contains(t, err.Error(), tt.wantErr)
		})
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		wantErr string
	}{
		{"tcp ok", Config{Kind: "tcp", Address: "10.0.0.5:502"}, ""},
		{"serial defaults ok", Config{Kind: "serial", Address: "/dev/ttyUSB0"}, ""},
		{"no kind", Config{Address: "10.0.0.5:502"}, "kind: missing"},
		{"bad kind", Config{Kind: "usb", Address: "x"}, `kind "usb"`},
		{"tcp without port", Config{Kind: "tcp", Address: "10.0.0.5"}, "address"},
		{"serial lower-case parity accepted", Config{Kind: "serial", Address: "/dev/ttyS1", Parity: "o"}, ""},
		{"serial bad stop bits", Config{Kind: "serial", Address: "/dev/ttyS1", StopBits: 3}, "stop_bits"},
		{"negative timeout", Config{Kind: "tcp", Address: "h:1", DialTimeout: -time.Second}, "dial_timeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if tt.wantErr == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, tt.wantErr)
		})
	}
}

func TestBackoffDelay(t *testing.T) {
	tests := []struct {
		name     string
		b        Backoff
		attempt  int
		min, max time.Duration
	}{
		{"defaults first retry is Min", Backoff{}, 0, 100 * time.Millisecond, 100 * time.Millisecond},
		{"defaults second retry", Backoff{}, 1, 100 * time.Millisecond, 200 * time.Millisecond},
		{"defaults fourth retry", Backoff{}, 3, 400 * time.Millisecond, 800 * time.Millisecond},
		{"defaults capped at Max", Backoff{}, 50, 5 * time.Second, 10 * time.Second},
		{"huge attempt does not overflow", Backoff{Min: time.Millisecond, Max: time.Hour}, 1 << 20, 30 * time.Minute, time.Hour},
		{"negative attempt acts as first", Backoff{Min: 10 * time.Millisecond, Max: time.Second}, -3, 10 * time.Millisecond, 10 * time.Millisecond},
		{"Max below Min is raised to Min", Backoff{Min: time.Second, Max: time.Millisecond}, 5, time.Second, time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for range 200 {
				d := tt.b.Delay(tt.attempt)
				require.GreaterOrEqual(t, d, tt.min)
				require.LessOrEqual(t, d, tt.max)
			}
		})
	}
}

func TestBackoffJitters(t *testing.T) {
	b := Backoff{Min: time.Millisecond, Max: time.Second}
	seen := map[time.Duration]bool{}
	for range 100 {
		seen[b.Delay(8)] = true
	}
	// 100 draws from a range of ~128 ms in nanoseconds: identical values would
	// mean no jitter, and devices would redial in lockstep.
	require.Greater(t, len(seen), 50)
}
