package broker

import (
	"bufio"
	"bytes"
	"fmt"
	"maps"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/serialine/serialine/shared/wire"
)

// The shipped Mosquitto configuration, relative to this package.
const (
	shippedConf = "../../configs/mosquitto/mosquitto.conf"
	shippedACL  = "../../configs/mosquitto/acl"
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

// startMosquitto starts Mosquitto with the shipped mosquitto.conf, its
// listener, files and logs moved into a temp dir, the shipped acl unchanged
// and a password file made by mosquitto_passwd, and stops it when the test
// ends.
func startMosquitto(t *testing.T) target {
	t.Helper()
	mosquitto := findTool(t, "mosquitto", "/usr/sbin/mosquitto")
	mosquittoPasswd := findTool(t, "mosquitto_passwd", "/usr/bin/mosquitto_passwd")
	dir := t.TempDir()

	const servicePassword = "svc-mosquitto-s3cret"
	passwd := filepath.Join(dir, "passwd")
	users := testLines()
	users[serviceUser] = servicePassword
	for i, u := range slices.Sorted(maps.Keys(users)) {
		args := []string{"-b", passwd, u, users[u]}
		if i == 0 {
			args = append([]string{"-c"}, args...) // create the file
		}
		out, err := exec.Command(mosquittoPasswd, args...).CombinedOutput()
		require.NoError(t, err, "mosquitto_passwd %s: %s", u, out)
	}

	acl, err := os.ReadFile(shippedACL)
	require.NoError(t, err)
	aclPath := filepath.Join(dir, "acl")
	require.NoError(t, os.WriteFile(aclPath, acl, 0o600))

	port := freePort(t)
	conf := adaptConf(t, dir, port, passwd, aclPath)
	confPath := filepath.Join(dir, "mosquitto.conf")
	require.NoError(t, os.WriteFile(confPath, []byte(conf), 0o600))

	var output lockedBuffer
	cmd := exec.Command(mosquitto, "-c", confPath)
	cmd.Stdout, cmd.Stderr = &output, &output
	require.NoError(t, cmd.Start())
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
		if t.Failed() {
			t.Logf("mosquitto output:\n%s", output.String())
		}
	})

	addr := net.JoinHostPort("127.0.0.1", fmt.Sprint(port))
	awaitListening(t, addr, exited, &output)
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

// adaptConf returns the shipped mosquitto.conf with the listener on port and
// its paths in dir. It fails the test if the shipped file lacks one of the
// settings the rules depend on.
func adaptConf(t *testing.T, dir string, port int, passwd, acl string) string {
	t.Helper()
	shipped, err := os.ReadFile(shippedConf)
	require.NoError(t, err)
	var out []string
	seen := map[string]string{}
	for line := range strings.SplitSeq(string(shipped), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || strings.HasPrefix(f[0], "#") {
			out = append(out, line)
			continue
		}
		seen[f[0]] = strings.Join(f[1:], " ")
		switch f[0] {
		case "listener":
			require.Equal(t, "1883 127.0.0.1", seen["listener"], "the shipped listener")
			line = fmt.Sprintf("listener %d 127.0.0.1", port)
		case "password_file":
			line = "password_file " + passwd
		case "acl_file":
			line = "acl_file " + acl
		case "persistence_location":
			line = "persistence_location " + dir + string(filepath.Separator)
		case "log_dest":
			line = "log_dest stdout"
		case "pid_file", "user":
			continue
		}
		out = append(out, line)
	}
	require.Equal(t, "false", seen["allow_anonymous"], "shipped allow_anonymous")
	for _, key := range []string{"listener", "password_file", "acl_file"} {
		require.Contains(t, seen, key, "shipped mosquitto.conf sets %s", key)
	}
	if os.Geteuid() == 0 {
		// As root, Mosquitto would switch to user mosquitto, who cannot
		// read the test's temp dir.
		out = append(out, "user root")
	}
	return strings.Join(out, "\n") + "\n"
}

// awaitListening returns once addr accepts connections, and fails the test
// if Mosquitto exits first or does not listen within waitFor.
func awaitListening(t *testing.T, addr string, exited <-chan struct{}, output *lockedBuffer) {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	retry := time.NewTicker(10 * time.Millisecond)
	defer retry.Stop()
	for {
		conn, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			require.NoError(t, conn.Close())
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("mosquitto does not listen on %s within %v: %v\n%s", addr, waitFor, err, output.String())
		}
		select {
		case <-exited:
			t.Fatalf("mosquitto exited before listening on %s:\n%s", addr, output.String())
		case <-retry.C:
		}
	}
}

// findTool returns the path of a program, or skips the test if it is not
// installed.
func findTool(t *testing.T, name, fallback string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	if _, err := os.Stat(fallback); err == nil {
		return fallback
	}
	t.Skipf("SKIPPED: %s is not installed (Debian package mosquitto), so the shipped configs/mosquitto is not tested against a real Mosquitto", name)
	return ""
}

// freePort returns a loopback TCP port that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := l.Addr().(*net.TCPAddr).Port
	require.NoError(t, l.Close())
	return port
}

// lockedBuffer collects a child process's output for failure messages.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
