package plcsim

import (
	"net"
	"os/exec"
	"strings"
	"testing"

	"github.com/serialine/serialine/drivers/plc"
	"github.com/stretchr/testify/require"
)

// mbpoll runs Debian's mbpoll, an independent Modbus master (libmodbus), with
// 0-based references and a single poll, and returns its output.
func mbpoll(tb testing.TB, args ...string) (string, error) {
	tb.Helper()
	bin, err := exec.LookPath("mbpoll")
	if err != nil {
		tb.Skip("SKIPPED mbpoll check: mbpoll is not installed (apt-get install -y mbpoll)")
	}
	out, err := exec.Command(bin, append([]string{"-0", "-1", "-o", "5"}, args...)...).CombinedOutput()
	return string(out), err
}

// values returns the "[ref]: value" lines of mbpoll's output.
func values(out string) []string {
	var vals []string
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, "[") {
			vals = append(vals, strings.Join(strings.Fields(line), " "))
		}
	}
	return vals
}

func TestMbpollTCP(t *testing.T) {
	s := started(t, Config{UnitID: 3, InitialCount: 70_000, Travel: 1})
	_, port, err := net.SplitHostPort(s.Addr())
	require.NoError(t, err)
	// tcp polls (or, given values after the host, writes) over Modbus TCP.
	tcp := func(args ...string) (string, error) {
		return mbpoll(t, append([]string{"-m", "tcp", "-p", port, "-a", "3"}, args...)...)
	}
	const host = "127.0.0.1"
	s.Trigger()
	s.Advance(1) // unit 70001 passes the reject station: good
	s.Trigger()

	out, err := tcp("-r", "0", "-c", "3", "-t", "3:int", "-B", host)
	require.NoError(t, err, out)
	require.Equal(t, []string{"[0]: 70002", "[2]: 1", "[4]: 0"}, values(out), "trigger, good and rejected counters as 32-bit big-endian-word integers:\n%s", out)

	out, err = tcp("-r", "2", "-t", "4", host, "259")
	require.NoError(t, err, out)
	require.Equal(t, plc.StackRed|plc.StackBlink, s.StackLight())

	out, err = tcp("-r", "0", "-c", "4", "-t", "4", host)
	require.NoError(t, err, out)
	require.Equal(t, []string{"[0]: 0", "[1]: 0", "[2]: 259", "[3]: 0"}, values(out))

	out, err = tcp("-r", "0", "-c", "2", "-t", "0", host)
	require.NoError(t, err, out)
	require.Equal(t, []string{"[0]: 0", "[1]: 1"}, values(out), "reject request off, run request on")

	out, err = tcp("-r", "0", "-t", "1", host)
	require.NoError(t, err, out)
	require.Equal(t, []string{"[0]: 1"}, values(out), "line running")

	out, err = tcp("-r", "1", "-t", "0", host, "0")
	require.NoError(t, err, out)
	require.False(t, s.State().Running, "mbpoll stopped the line")

	// The edge's heartbeat (holding register 4) arms the watchdog; 0 is
	// the edge standing down. The PLC's (input register 6) counts.
	out, err = tcp("-r", "4", "-t", "4", host, "7")
	require.NoError(t, err, out)
	require.True(t, s.State().Watchdog.Armed)
	require.Equal(t, uint16(7), s.State().Watchdog.EdgeBeat)
	out, err = tcp("-r", "4", "-t", "4", host, "0")
	require.NoError(t, err, out)
	require.False(t, s.State().Watchdog.Armed)
	out, err = tcp("-r", "6", "-t", "3", host)
	require.NoError(t, err, out)
	require.Len(t, values(out), 1, out)

	out, err = tcp("-r", "50", "-t", "4", host)
	require.Error(t, err)
	require.Contains(t, out, "Illegal data address")
}

func TestMbpollRTU(t *testing.T) {
	s := newSim(t, Config{UnitID: 9, InitialCount: 65_535})
	path := rtuBus(t, s)
	s.Trigger()

	out, err := mbpoll(t, "-m", "rtu", "-b", "19200", "-P", "even", "-a", "9", "-r", "0", "-c", "1", "-t", "3:int", "-B", path)
	require.NoError(t, err, out)
	require.Equal(t, []string{"[0]: 65536"}, values(out), out)

	out, err = mbpoll(t, "-m", "rtu", "-b", "19200", "-P", "even", "-a", "9", "-r", "2", "-t", "4", path, "1")
	require.NoError(t, err, out)
	require.Equal(t, plc.StackGreen, s.StackLight())
}
