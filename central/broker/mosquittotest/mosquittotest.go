// Package mosquittotest runs a real Mosquitto for tests, configured by the
// shipped configs/mosquitto (listener, password file, ACL), each instance
// on its own loopback port and temp folder, so that a test may restart it
// or change its logins without touching the machine's shared broker.
package mosquittotest

import (
	"bytes"
	"fmt"
	"maps"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/stretchr/testify/require"
)

// Wait bounds every wait of this package (start, stop, reload).
const Wait = 30 * time.Second

// ShippedDir is configs/mosquitto of this source tree.
func ShippedDir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "..", "configs", "mosquitto")
}

// Mosquitto is one running (or stopped) Mosquitto process.
type Mosquitto struct {
	// Addr is HOST:PORT of its listener; it keeps it across Restart.
	Addr string

	bin, passwdBin  string
	dir, conf, pass string
	port            int

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{}
	out    lockedBuffer
}

// Start starts Mosquitto with the shipped mosquitto.conf and acl (adapted
// to a free port and a temp folder) and a password file holding users
// (name → password), and stops it when the test ends. It skips the test if
// Mosquitto is not installed.
func Start(tb testing.TB, users map[string]string) *Mosquitto {
	tb.Helper()
	m := &Mosquitto{bin: findTool(tb, "mosquitto", "/usr/sbin/mosquitto"), passwdBin: findTool(tb, "mosquitto_passwd", "/usr/bin/mosquitto_passwd")}
	m.dir = tb.TempDir()
	m.pass = filepath.Join(m.dir, "passwd")
	require.NoError(tb, os.WriteFile(m.pass, nil, 0o600))
	for _, u := range slices.Sorted(maps.Keys(users)) {
		m.setPassword(tb, u, users[u])
	}
	acl, err := os.ReadFile(filepath.Join(ShippedDir(), "acl"))
	require.NoError(tb, err)
	aclPath := filepath.Join(m.dir, "acl")
	require.NoError(tb, os.WriteFile(aclPath, acl, 0o600))

	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(tb, err)
	m.port = l.Addr().(*net.TCPAddr).Port
	require.NoError(tb, l.Close())
	m.Addr = net.JoinHostPort("127.0.0.1", fmt.Sprint(m.port))
	conf := Adapt(tb, m.dir, m.port, m.pass, aclPath)
	m.conf = filepath.Join(m.dir, "mosquitto.conf")
	require.NoError(tb, os.WriteFile(m.conf, []byte(conf), 0o600))
	m.start(tb)
	tb.Cleanup(func() {
		m.kill()
		if tb.Failed() {
			tb.Logf("mosquitto output:\n%s", m.Output())
		}
	})
	return m
}

// PeakRSS returns the running Mosquitto's peak resident memory in bytes
// (VmHWM of /proc/PID/status), for tests of its memory bounds.
func (m *Mosquitto) PeakRSS(tb testing.TB) uint64 {
	tb.Helper()
	m.mu.Lock()
	cmd := m.cmd
	m.mu.Unlock()
	require.NotNil(tb, cmd, "mosquitto is stopped")
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", cmd.Process.Pid))
	require.NoError(tb, err)
	for line := range strings.SplitSeq(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			var kb uint64
			_, err := fmt.Sscanf(strings.TrimSpace(rest), "%d kB", &kb)
			require.NoError(tb, err, "VmHWM %q", rest)
			return kb << 10
		}
	}
	tb.Fatalf("no VmHWM in /proc/%d/status", cmd.Process.Pid)
	return 0
}

// URL is the broker URL for paho and serialine's configs: tcp://HOST:PORT.
func (m *Mosquitto) URL() string { return "tcp://" + m.Addr }

// Output is what Mosquitto logged so far.
func (m *Mosquitto) Output() string { return m.out.String() }

// AddUser sets user's password in the password file and has the running
// Mosquitto reread it (SIGHUP), returning once the new login is accepted.
func (m *Mosquitto) AddUser(tb testing.TB, user, password string) {
	tb.Helper()
	m.setPassword(tb, user, password)
	m.mu.Lock()
	cmd := m.cmd
	m.mu.Unlock()
	require.NotNil(tb, cmd, "mosquitto is stopped")
	require.NoError(tb, cmd.Process.Signal(syscall.SIGHUP))
	deadline := time.Now().Add(Wait)
	for {
		err := Connect(m.Addr, "mosquittotest-probe-"+user, user, password)
		if err == nil {
			return
		}
		require.True(tb, time.Now().Before(deadline), "mosquitto did not accept %s after reload: %v", user, err)
		time.Sleep(20 * time.Millisecond) // polling a reload: Mosquitto signals nothing when done
	}
}

// Stop kills Mosquitto (SIGKILL: a crash, not a clean stop) and waits for it.
func (m *Mosquitto) Stop(tb testing.TB) {
	tb.Helper()
	m.kill()
}

// Restart stops Mosquitto if it runs and starts it again on the same port
// with the same files (its persistence included).
func (m *Mosquitto) Restart(tb testing.TB) {
	tb.Helper()
	m.kill()
	m.start(tb)
}

func (m *Mosquitto) start(tb testing.TB) {
	tb.Helper()
	var cmd *exec.Cmd
	var exited chan struct{}
	// The port was just released by the previous process: binding may
	// need a few attempts while the kernel lets go of it.
	deadline := time.Now().Add(Wait)
	for {
		cmd = exec.Command(m.bin, "-c", m.conf)
		cmd.Stdout, cmd.Stderr = &m.out, &m.out
		require.NoError(tb, cmd.Start())
		exited = make(chan struct{})
		go func(c *exec.Cmd, done chan struct{}) { _ = c.Wait(); close(done) }(cmd, exited)
		if awaitListening(m.Addr, exited) == nil {
			break
		}
		_ = cmd.Process.Kill()
		<-exited
		require.True(tb, time.Now().Before(deadline), "mosquitto does not listen on %s:\n%s", m.Addr, m.Output())
		time.Sleep(50 * time.Millisecond) // waiting for the kernel to free the port; nothing to await
	}
	m.mu.Lock()
	m.cmd, m.exited = cmd, exited
	m.mu.Unlock()
}

func (m *Mosquitto) kill() {
	m.mu.Lock()
	cmd, exited := m.cmd, m.exited
	m.cmd = nil
	m.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Kill()
	<-exited
}

func (m *Mosquitto) setPassword(tb testing.TB, user, password string) {
	tb.Helper()
	out, err := exec.Command(m.passwdBin, "-b", m.pass, user, password).CombinedOutput()
	require.NoError(tb, err, "mosquitto_passwd %s: %s", user, out)
}

// awaitListening returns nil once addr accepts connections, or an error if
// the process exits first or Wait passes.
func awaitListening(addr string, exited <-chan struct{}) error {
	deadline := time.Now().Add(Wait)
	retry := time.NewTicker(10 * time.Millisecond)
	defer retry.Stop()
	for {
		conn, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			return conn.Close()
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not listening on %s within %v: %w", addr, Wait, err)
		}
		select {
		case <-exited:
			return fmt.Errorf("exited before listening on %s", addr)
		case <-retry.C:
		}
	}
}

// Adapt returns the shipped mosquitto.conf with the listener on port and
// its paths in dir. It fails the test if the shipped file lacks one of the
// settings the rules depend on.
func Adapt(tb testing.TB, dir string, port int, passwd, acl string) string {
	tb.Helper()
	shipped, err := os.ReadFile(filepath.Join(ShippedDir(), "mosquitto.conf"))
	require.NoError(tb, err)
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
			require.Equal(tb, "1883 127.0.0.1", seen["listener"], "the shipped listener")
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
	require.Equal(tb, "false", seen["allow_anonymous"], "shipped allow_anonymous")
	for _, key := range []string{"listener", "password_file", "acl_file"} {
		require.Contains(tb, seen, key, "shipped mosquitto.conf sets %s", key)
	}
	if os.Geteuid() == 0 {
		// As root, Mosquitto would switch to user mosquitto, who cannot
		// read the test's temp dir.
		out = append(out, "user root")
	}
	return strings.Join(out, "\n") + "\n"
}

// findTool returns the path of a program, or skips the test if it is not
// installed.
func findTool(tb testing.TB, name, fallback string) string {
	tb.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	if _, err := os.Stat(fallback); err == nil {
		return fallback
	}
	tb.Skipf("SKIPPED: %s is not installed (Debian package mosquitto), so this test cannot run a real Mosquitto", name)
	return ""
}

// Connect logs in to the broker at addr as user and disconnects: nil if
// the login was accepted.
func Connect(addr, clientID, user, password string) error {
	o := mqtt.NewClientOptions().AddBroker("tcp://" + addr).SetClientID(clientID).
		SetUsername(user).SetPassword(password).SetAutoReconnect(false).SetConnectTimeout(5 * time.Second)
	c := mqtt.NewClient(o)
	tok := c.Connect()
	if !tok.WaitTimeout(10 * time.Second) {
		return fmt.Errorf("connect to %s as %s: no CONNACK", addr, user)
	}
	if err := tok.Error(); err != nil {
		return err
	}
	c.Disconnect(0)
	return nil
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
