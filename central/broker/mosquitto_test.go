package broker

import (
	"bufio"
	"io"
	"net"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/serialine/serialine/central/broker/mosquittotest"
	"github.com/serialine/serialine/shared/wire"
)

// The shipped Mosquitto configuration, relative to this package.
const (
	shippedACL = "../../configs/mosquitto/acl"
)

// TestMosquittoEnforcesContractACL runs the embedded broker's scenarios
// against a real Mosquitto running the shipped configs/mosquitto: the
// production broker must enforce the same rules.
func TestMosquittoEnforcesContractACL(t *testing.T) {
	runScenarios(t, startMosquitto(t))
}

// TestMosquittoACLMatchesContract reads configs/mosquitto/acl and checks
// that it grants each line exactly the contract's directions, and the
// service user the service root. It needs no Mosquitto.
func TestMosquittoACLMatchesContract(t *testing.T) {
	f, err := os.Open(shippedACL)
	require.NoError(t, err)
	t.Cleanup(func() { _ = f.Close() })

	var patterns, serviceTopics []string
	user := ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 || strings.HasPrefix(fields[0], "#") {
			continue
		}
		switch fields[0] {
		case "user":
			require.Len(t, fields, 2, "acl: %q", sc.Text())
			user = fields[1]
		case "pattern":
			require.Len(t, fields, 3, "acl: %q", sc.Text())
			patterns = append(patterns, fields[1]+" "+fields[2])
		case "topic":
			require.Equal(t, serviceUser, user, "acl: topic rule %q outside the service user's section", sc.Text())
			serviceTopics = append(serviceTopics, strings.Join(fields[1:], " "))
		default:
			t.Fatalf("acl: unexpected rule %q", sc.Text())
		}
	}
	require.NoError(t, sc.Err())

	var want []string
	for _, info := range wire.Topics() {
		access := "read"
		if info.FromEdge {
			access = "write"
		}
		want = append(want, access+" "+wire.TopicRoot+"%u/"+info.Kind)
	}
	require.ElementsMatch(t, want, patterns, "line patterns follow the contract's directions")
	require.Equal(t, []string{"readwrite " + ServiceRoot + "#"}, serviceTopics)
}

// TestMosquittoLimits: the shipped mosquitto.conf's max_packet_size holds
// for clients that never log in: four connections announcing 200 MiB
// CONNECT packets are closed from the header, and Mosquitto's peak memory
// stays far below what buffering them would take. A logged-in line's
// packet over the limit closes its connection too.
func TestMosquittoLimits(t *testing.T) {
	users := testLines()
	users[serviceUser] = "svc-mosquitto-s3cret"
	m := mosquittotest.Start(t, users)
	before := m.PeakRSS(t)
	connect := append([]byte{0x10}, varint(200<<20)...)
	require.NoError(t, attackAll(m.Addr, [][]byte{connect, connect, connect, connect}, 8<<20))
	peak := m.PeakRSS(t)
	require.Less(t, peak, before+32<<20, "Mosquitto's peak memory rose from %d to %d MiB", before>>20, peak>>20)

	c, err := net.DialTimeout("tcp", m.Addr, waitFor)
	require.NoError(t, err)
	defer c.Close()
	_, err = c.Write(connectPacket("edge-L1", "L1", users["L1"]))
	require.NoError(t, err)
	connack := make([]byte, 4)
	_, err = io.ReadFull(c, connack)
	require.NoError(t, err)
	require.Equal(t, []byte{0x20, 2, 0, 0}, connack, "CONNACK accepted")
	head := append(mqttString(topic("L1", "events")), 0, 1)
	require.NoError(t, announce(c, append(append([]byte{0x32}, varint(len(head)+9<<20)...), head...), 16<<20))
}

// startMosquitto starts Mosquitto with the shipped mosquitto.conf and
// acl (central/broker/mosquittotest) and a password file made by
// mosquitto_passwd for the test lines and the service user.
func startMosquitto(t *testing.T) target {
	t.Helper()
	const servicePassword = "svc-mosquitto-s3cret"
	users := testLines()
	users[serviceUser] = servicePassword
	m := mosquittotest.Start(t, users)
	addr := m.Addr
	return target{
		addr:            addr,
		servicePassword: servicePassword,
		subackDenied:    false,
		settle: func(t *testing.T, c *client, user, password string) {
			// Taking the session over with the same client id: Mosquitto
			// finishes the old connection, will included, before it
			// answers the new CONNECT.
			again := mustDial(t, addr, c.id, user, password)
			again.Disconnect(250)
		},
	}
}
