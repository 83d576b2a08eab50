package broker

import (
	"errors"
	"net"
	"testing"
	"time"

	"github.com/serialine/serialine/internal/testkit"
	"github.com/stretchr/testify/require"
)

// TestCloseDoesNotWaitForClients: Close ends every connection the broker
// admitted, also those mochi has not registered as clients (not logged in
// yet, or logging in while the broker closes). Before, mochi waited for
// them: a client that never sent its CONNECT held Close for the login
// timeout, and a client whose login raced the close (an MQTT client
// reconnecting, pinging ever after) held it forever.
func TestCloseDoesNotWaitForClients(t *testing.T) {
	b, _, reg, _ := startLimited(t, func(c *Config) { c.LoginTimeout = time.Hour })
	silent, err := net.DialTimeout("tcp", b.Addr(), waitFor)
	require.NoError(t, err)
	t.Cleanup(func() { silent.Close() })
	testkit.Eventually(t, "the silent connection admitted", func() bool {
		return metricValue(t, reg, `serialine_mqtt_connections{state="unauthenticated"}`) == 1
	})
	mustDial(t, b.Addr(), "edge-L1", "L1", testLines()["L1"]) // and one logged in

	closed := make(chan error, 1)
	go func() { closed <- b.Close() }()
	select {
	case err := <-closed:
		require.NoError(t, err)
	case <-time.After(waitFor): // guards the hang only; Close takes milliseconds
		t.Fatalf("Close still waits for a connection that never logged in (login timeout %v)", time.Hour)
	}
	require.NoError(t, silent.SetReadDeadline(time.Now().Add(waitFor)))
	_, err = silent.Read(make([]byte, 1))
	var ne net.Error
	require.False(t, errors.As(err, &ne) && ne.Timeout(), "the silent connection was left open: %v", err)
}
