package wholeline_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/serialine/serialine/drivers/printer"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"

	"github.com/serialine/serialine/central/broker/mosquittotest"
	"github.com/serialine/serialine/central/store/storetest"
	"github.com/serialine/serialine/drivers/plc"
	"github.com/serialine/serialine/drivers/scanner"
	"github.com/serialine/serialine/edge/agent"
	"github.com/serialine/serialine/edge/station"
	"github.com/serialine/serialine/edge/ui"
	"github.com/serialine/serialine/internal/testkit"
	"github.com/serialine/serialine/shared/gs1"
	"github.com/serialine/serialine/shared/wire"
	"github.com/serialine/serialine/simulators/line"
)

// wait bounds every wait of a system test: long, because central,
// agents, simulators, the broker and PostgreSQL share two cores with the
// other packages' tests.
const wait = 3 * time.Minute

// The product every system test makes.
const (
	gtin   = "00312345678913" // a US GTIN: 003 + NDC 12345-678-91 + check digit
	ndc    = "12345-678-91"
	expiry = "291231"
	pinAna = "1234"
	// pinQuinn is QA's: some alarms need QA to acknowledge them.
	pinQuinn = "982451"
)

// binDir holds serialine-central and serialine-edge, built once by TestMain.
var binDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "serialine-wholeline-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	_, file, _, _ := runtime.Caller(0)
	cmd := exec.Command("go", "build", "-o", dir+string(filepath.Separator), "./central/cmd/serialine-central", "./edge/cmd/serialine-edge")
	cmd.Dir = filepath.Join(filepath.Dir(file), "..", "..")
	if out, err := cmd.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building the programs: %v\n%s", err, out)
		os.Exit(1)
	}
	binDir = dir
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

func randomHex(tb testing.TB, n int) string {
	tb.Helper()
	b := make([]byte, n)
	_, err := rand.Read(b)
	require.NoError(tb, err)
	return hex.EncodeToString(b)
}

// adminToken is a bootstrap admin token as central wants it: slt_ and 256
// random bits in base64url.
func adminToken(tb testing.TB) string {
	tb.Helper()
	b := make([]byte, 32)
	_, err := rand.Read(b)
	require.NoError(tb, err)
	return "slt_" + base64.RawURLEncoding.EncodeToString(b)
}

// --- processes -------------------------------------------------------

// proc is one of the programs, run and re-run with the same arguments.
// Its output goes to a log file in the test's temp dir (shown when the
// test fails); the HTTP address is read from the log line that announces it.
type proc struct {
	name    string
	bin     string
	args    []string
	env     []string
	logPath string
	marker  string // msg of the log line that carries http=ADDR

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
	err  error
	addr string
}

var httpAttr = regexp.MustCompile(`\bhttp="?(?:https?://)?([0-9.]+:[0-9]+)`)

func newProc(tb testing.TB, name, bin, marker string, env []string, args ...string) *proc {
	p := &proc{name: name, bin: filepath.Join(binDir, bin), args: args, env: env, marker: marker,
		logPath: filepath.Join(tb.TempDir(), name+".log")}
	tb.Cleanup(func() {
		p.kill(tb)
		if tb.Failed() {
			b, _ := os.ReadFile(p.logPath)
			tb.Logf("%s log (last 8 KB):\n%s", name, tail(b, 8<<10))
		}
	})
	return p
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

// start runs the program and returns once it announced its HTTP address.
func (p *proc) start(tb testing.TB) {
	tb.Helper()
	f, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	require.NoError(tb, err)
	r, w, err := os.Pipe()
	require.NoError(tb, err)
	cmd := exec.Command(p.bin, p.args...)
	cmd.Env = append(os.Environ(), p.env...)
	cmd.Stdout, cmd.Stderr = w, w
	require.NoError(tb, cmd.Start(), p.name)
	_ = w.Close()
	addr := make(chan string, 1)
	go func() {
		defer f.Close()
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			_, _ = fmt.Fprintln(f, line)
			if strings.Contains(line, `msg="`+p.marker+`"`) {
				if m := httpAttr.FindStringSubmatch(line); m != nil {
					select {
					case addr <- m[1]:
					default:
					}
				}
			}
		}
	}()
	done := make(chan struct{})
	go func() {
		err := cmd.Wait()
		p.mu.Lock()
		p.err = err
		p.mu.Unlock()
		close(done)
	}()
	p.mu.Lock()
	p.cmd, p.done = cmd, done
	p.mu.Unlock()
	select {
	case a := <-addr:
		p.mu.Lock()
		p.addr = a
		p.mu.Unlock()
	case <-done:
		b, _ := os.ReadFile(p.logPath)
		tb.Fatalf("%s exited before it was up (%v):\n%s", p.name, p.err, tail(b, 4<<10))
	case <-time.After(wait):
		tb.Fatalf("%s did not announce %q within %v", p.name, p.marker, wait)
	}
}

// Addr is HOST:PORT of the program's HTTP server (of its latest start).
func (p *proc) Addr() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.addr
}

// kill sends SIGKILL (a crash or power cut) and waits for the process.
func (p *proc) kill(tb testing.TB) {
	p.mu.Lock()
	cmd, done := p.cmd, p.done
	p.cmd = nil
	p.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGKILL)
	<-done
}

// stop sends SIGTERM and requires a clean exit.
func (p *proc) stop(tb testing.TB) {
	tb.Helper()
	p.mu.Lock()
	cmd, done := p.cmd, p.done
	p.cmd = nil
	p.mu.Unlock()
	require.NotNil(tb, cmd, "%s is not running", p.name)
	require.NoError(tb, cmd.Process.Signal(syscall.SIGTERM))
	select {
	case <-done:
	case <-time.After(wait):
		_ = cmd.Process.Kill()
		<-done
		tb.Fatalf("%s did not stop on SIGTERM within %v", p.name, wait)
	}
	p.mu.Lock()
	err := p.err
	p.mu.Unlock()
	require.NoError(tb, err, "%s exits cleanly on SIGTERM", p.name)
}

// --- the system ------------------------------------------------------

// system is a Mosquitto, a PostgreSQL database and central.
type system struct {
	svc     string // central's broker password
	mq      *mosquittotest.Mosquitto
	dsn     string
	token   string
	central *proc
	api     *client
}

// newSystem starts a Mosquitto of its own (so that it may be restarted),
// central on a fresh PostgreSQL database, and creates the product.
func newSystem(t *testing.T) *system {
	t.Helper()
	svc := randomHex(t, 16)
	s := &system{svc: svc, mq: mosquittotest.Start(t, map[string]string{"central": svc}), dsn: storetest.PostgresDSN(t), token: adminToken(t)}
	// The partners' endpoints of the tests are HTTPS servers on loopback:
	// central may reach them (in production only public addresses), and
	// retries come quickly.
	cfgPath := filepath.Join(t.TempDir(), "central.yaml")
	require.NoError(t, os.WriteFile(cfgPath, []byte("outbound:\n  allow_networks: [127.0.0.0/8]\n"+
		"  retry_initial: 200ms\n  retry_max: 1s\n  give_up_after: 2m\n  poll: 100ms\n"), 0o600))
	s.central = newProc(t, "central", "serialine-central", "central serving",
		[]string{"SERIALINE_ADMIN_TOKEN=" + s.token, "SERIALINE_MQTT_PASSWORD=" + svc},
		"serve", "--config", cfgPath, "--db", s.dsn, "--mqtt", s.mq.URL(), "--http", "127.0.0.1:0")
	s.startCentral(t)
	s.putProduct(t)
	return s
}

// putProduct creates the product every test makes.
func (s *system) putProduct(t testing.TB) {
	t.Helper()
	product := map[string]any{"name": "Paracetamol 500 mg tablets", "form": "tablet", "strength": "500 mg", "pack_size": 20,
		"company_prefix_len": 7, "ndc": ndc,
		"markets": []string{"us-dscsa", "eu-fmd"}, "planned_volume": 10_000_000,
		"scheme": map[string]any{"kind": "randomized", "length": 12, "alphabet": "numeric"}}
	s.api.must(t, "PUT", "/api/v1/products/"+gtin, product, nil)
}

// startCentral (re)starts central and waits for its API.
func (s *system) startCentral(t testing.TB) {
	t.Helper()
	s.central.start(t)
	s.api = &client{base: "http://" + s.central.Addr(), token: s.token, hc: &http.Client{Timeout: 30 * time.Second}}
	require.Eventually(t, func() bool {
		code, _ := s.api.do(t, "GET", "/api/v1/me", nil, nil)
		return code == http.StatusOK
	}, wait, 20*time.Millisecond, "central's API answers")
}

// db opens central's database for the checks the API does not offer
// (whole-order sets of serials).
func (s *system) db(tb testing.TB) *pgx.Conn {
	tb.Helper()
	conn, err := pgx.Connect(testkit.ContextFor(tb, wait), s.dsn)
	require.NoError(tb, err)
	tb.Cleanup(func() { _ = conn.Close(context.Background()) })
	return conn
}

// as returns a client of central's API with a new token of role (issued
// by the admin).
func (s *system) as(t testing.TB, role string) *client {
	t.Helper()
	var tok struct {
		Token string `json:"token"`
	}
	s.api.must(t, "POST", "/api/v1/tokens", map[string]string{"name": role + "-" + randomHex(t, 4), "role": role}, &tok)
	require.NotEmpty(t, tok.Token)
	return &client{base: s.api.base, token: tok.Token, hc: s.api.hc}
}

// client calls central's API.
type client struct {
	base, token string
	hc          *http.Client
}

func (c *client) do(tb testing.TB, method, path string, body, out any) (int, []byte) {
	tb.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		require.NoError(tb, err)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(testkit.ContextFor(tb, wait), method, c.base+path, rd)
	require.NoError(tb, err)
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return 0, []byte(err.Error())
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(tb, err)
	if out != nil && resp.StatusCode/100 == 2 {
		require.NoError(tb, json.Unmarshal(b, out), "%s %s: %s", method, path, b)
	}
	return resp.StatusCode, b
}

func (c *client) must(tb testing.TB, method, path string, body, out any) {
	tb.Helper()
	code, b := c.do(tb, method, path, body, out)
	require.True(tb, code/100 == 2, "%s %s: %d %s", method, path, code, b)
}

// --- a line ----------------------------------------------------------

// lineOpts shapes one line's run.
type lineOpts struct {
	units         int     // products the simulator feeds
	speed         int     // units/min
	noRead, wrong float64 // scanner faults, 0..1
	pool          agent.PoolConfig
	packing       *packingRig // packing mode on, with these devices
	// quantity is the order's (default: twice the units, so that the run
	// never completes it).
	quantity int
	// allowance is the order's reject allowance: 0 gives it as many
	// rejects as units (tests not about the allowance must not stop for
	// it on a busy machine), -1 the product's rule.
	allowance int
	// quality keeps the agent's quality limits at their defaults. Off,
	// they never stop the line: on two shared cores the simulated lines
	// reject a few percent of their units for timing alone, and the tests
	// that are not about the limits must not stop for that.
	quality bool
	// broker, if set, is the address the agent dials instead of
	// Mosquitto's (a proxy the test can cut).
	broker string
	// keepAcked is the agent's outbox.keep_acked (default 0: none kept).
	keepAcked uint64
	// dataDir is the agent's data folder (default: in the test's temp dir).
	dataDir string
	// storage is the agent's free-space watermark (default: the agent's).
	storage *agent.StorageConfig
	// tlsDir, if set, is a `serialine-central certs` directory: the agent
	// trusts its CA and presents the line's client certificate (broker
	// must then be an ssl:// URL).
	tlsDir string
}

// rig is one packaging line: its record and order at central, its
// simulator (in this process) and its edge agent (a process).
type rig struct {
	id, order, password string
	sim                 *line.Line
	simCfg              line.Config
	edge                *proc
	cfgPath             string
	scr                 *screen
}

// addLine creates the line (its MQTT login goes into Mosquitto's password
// file), an order released to it, the simulated line, and the agent's
// configuration; the agent is not started yet.
func (s *system) addLine(t *testing.T, id string, o lineOpts) *rig {
	t.Helper()
	r := &rig{id: id, order: "WO-" + id}
	var ln struct {
		MQTTPassword string `json:"mqtt_password"`
	}
	s.api.must(t, "PUT", "/api/v1/lines/"+id, map[string]any{"name": "Line " + id}, &ln)
	require.NotEmpty(t, ln.MQTTPassword)
	r.password = ln.MQTTPassword
	if s.mq != nil { // nil: the embedded broker (it reads the line's password from central's database) or the machine's shared Mosquitto (any login)
		s.mq.AddUser(t, id, r.password)
	}
	quantity := o.quantity
	if quantity == 0 {
		quantity = o.units * 2
	}
	order := map[string]any{"id": r.order, "gtin": gtin, "lot": "LOT-" + id, "expiry": expiry, "quantity": quantity}
	switch {
	case o.allowance == 0:
		order["reject_allowance"] = max(o.units, 1)
	case o.allowance > 0:
		order["reject_allowance"] = o.allowance
	}
	s.api.must(t, "POST", "/api/v1/orders", order, nil)
	s.api.must(t, "POST", "/api/v1/orders/"+r.order+"/release", map[string]string{"line": id}, nil)

	cfg := line.DefaultConfig()
	cfg.Line = id
	cfg.Printer.Listen = "tcp:127.0.0.1:0"
	cfg.Scanner.Listen = "tcp:127.0.0.1:0"
	cfg.Scanner.Format = scanner.Format{Grade: scanner.GradeLetter, AssumeGS1: true}
	cfg.Scanner.Faults.NoReadRate, cfg.Scanner.Faults.WrongCodeRate = o.noRead, o.wrong
	cfg.PLC.Listen = "127.0.0.1:0"
	cfg.PLC.StartStopped = true
	cfg.HTTP = "127.0.0.1:0"
	cfg.PrintLog = filepath.Join(t.TempDir(), "print.log")
	cfg.Fast = true
	cfg.Speed = o.speed
	cfg.Units = o.units
	cfg.Jitter = 2
	// Generous distances (at 3,000 units/min, 400 ms from the camera to
	// the reject gate): the agents, central, the broker and PostgreSQL
	// share two cores, and a reject decided after its unit passed the
	// gate would make the simulator count a good unit (and stop the line
	// with reject-missed).
	cfg.Travel = line.Travel{PrintWindow: 0.8, PrinterToCamera: 10, CameraToReject: 20}
	sim, err := line.New(cfg, slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	require.NoError(t, sim.Start(context.Background()))
	t.Cleanup(func() { _ = sim.Close() })
	r.sim, r.simCfg = sim, cfg

	d := sim.Devices()
	a := agent.DefaultConfig()
	a.Line = id
	a.DataDir = filepath.Join(t.TempDir(), "edge")
	if o.dataDir != "" {
		a.DataDir = o.dataDir
	}
	if o.storage != nil {
		a.Storage = *o.storage
	}
	a.HTTP = "127.0.0.1:0"
	a.StatusInterval = time.Second
	if s.mq != nil {
		a.MQTT.Broker = s.mq.URL()
	}
	a.MQTT.Username, a.MQTT.Password = id, r.password
	a.MQTT.ReconnectMax = 500 * time.Millisecond
	a.Printer = agent.PrinterConfig{Config: printer.Config{Name: "printer", Transport: d.Printer, StatusInterval: 100 * time.Millisecond}, DPI: cfg.Printer.DPI, TextLines: 5}
	a.Scanner.Transport = d.Scanner
	a.Scanner.Format = cfg.Scanner.Format
	a.Scanner.ReconnectMin, a.Scanner.ReconnectMax = 10*time.Millisecond, 200*time.Millisecond
	a.PLC = plc.Config{Name: "plc", Transport: d.PLC, UnitID: d.PLCUnitID, PollInterval: time.Millisecond}
	a.Station = agent.StationConfig{PrinterToCamera: cfg.Travel.PrinterToCamera, CameraToReject: cfg.Travel.CameraToReject, PrintWindow: cfg.Travel.PrintWindow,
		Jitter: cfg.Jitter, MinGrade: scanner.GradeC, MonitorEvery: 20 * time.Millisecond, PrinterPoll: 200 * time.Millisecond}
	if !o.quality {
		a.Station.MaxConsecutiveRejects, a.Station.MaxRejectRate = 1000, 100
	}
	if o.broker != "" {
		a.MQTT.Broker = o.broker
	}
	if o.tlsDir != "" {
		a.MQTT.CAFile = filepath.Join(o.tlsDir, "ca.crt")
		a.MQTT.CertFile = filepath.Join(o.tlsDir, "clients", id+".crt")
		a.MQTT.KeyFile = filepath.Join(o.tlsDir, "clients", id+".key")
	}
	a.Pool = o.pool
	if a.Pool == (agent.PoolConfig{}) {
		a.Pool = agent.PoolConfig{ReserveBlock: 64, LowWaterMinutes: 0.2, RefillMinutes: 0.5, MinRequest: 500, MaxRequest: 5000, NominalRate: float64(o.speed), RequestRetry: time.Second}
	}
	a.Outbox = agent.OutboxConfig{ResendAfter: 3 * time.Second, KeepAcked: o.keepAcked}
	if pk := o.packing; pk != nil {
		a.Packing.Enabled = true
		a.Packing.CompanyPrefix = gtin[1:8] // the product's 7-digit company prefix
		a.Packing.CaseExtension, a.Packing.PalletExtension = 1, 2
		a.Packing.CaseSize, a.Packing.PalletSize = pk.caseSize, pk.palletSize
		a.Packing.RequestRetry = time.Second
		a.Packing.Printer.Transport = "tcp:" + pk.printerAddr
		a.Packing.Printer.DPI = 203
		a.Packing.Scanner.Transport = "tcp:" + pk.scannerAddr
		a.Packing.Scanner.ReconnectMin, a.Packing.Scanner.ReconnectMax = 10*time.Millisecond, 200*time.Millisecond
	}
	h, err := ui.HashPIN(pinAna, 1000)
	require.NoError(t, err)
	hq, err := ui.HashPIN(pinQuinn, 1000)
	require.NoError(t, err)
	a.Operators = []agent.OperatorConfig{{Name: "Ana", PINHash: h}, {Name: "Quinn", PINHash: hq, Role: station.RoleQA}}
	require.NoError(t, a.Validate())
	b, err := yaml.Marshal(a)
	require.NoError(t, err)
	r.cfgPath = filepath.Join(t.TempDir(), "edge.yaml")
	require.NoError(t, os.WriteFile(r.cfgPath, b, 0o600))
	r.edge = newProc(t, "edge-"+id, "serialine-edge", "edge agent running", nil, "run", "--config", r.cfgPath)
	return r
}

// startEdge starts (or restarts) the agent and returns once it has its
// order from central's retained orders topic and its devices are healthy.
// The order's presence is enough: the agent keeps the last orders it
// received, so it also works while central is down. After a crash the
// agent raises the unclean-restart alarm (it voided the serials the crash
// left unaccounted): the operator acknowledges it, as at the line.
func (r *rig) startEdge(t testing.TB) {
	t.Helper()
	started := time.Now()
	r.edge.start(t)
	r.scr = newScreen(t, r.edge.Addr())
	r.ackEdgeWatchdog(t, started)
	acked := false
	require.Eventually(t, func() bool {
		st := r.state(t)
		if len(st.Orders) != 1 {
			return false
		}
		if len(st.Alarms) == 1 && st.Alarms[0].Code == station.AlarmUncleanRestart && !acked {
			r.scr.signIn(t, pinAna)
			code, body := r.scr.post(t, "/ui/ack", nil)
			require.Equal(t, http.StatusOK, code, string(body))
			acked = true
		}
		return len(st.Alarms) == 0
	}, wait, 10*time.Millisecond, "line %s: agent up with its order and devices", r.id)
}

// run signs Ana in at the touchscreen and starts (or resumes) the order.
func (r *rig) run(t testing.TB) {
	t.Helper()
	r.scr.signIn(t, pinAna)
	code, body := r.scr.post(t, "/ui/start", map[string]string{"order": r.order})
	if code != http.StatusOK {
		for _, a := range r.state(t).Alarms {
			t.Logf("line %s alarm: %s %s active=%v: %s", r.id, a.Code, a.Device, a.Active, a.Fault)
		}
	}
	require.Equal(t, http.StatusOK, code, "line %s start: %s", r.id, body)
}

// state is the agent's GET /api/v1/state.
func (r *rig) state(tb testing.TB) agent.State {
	tb.Helper()
	var st agent.State
	code, b := (&client{base: "http://" + r.edge.Addr(), hc: http.DefaultClient}).do(tb, "GET", "/api/v1/state", nil, &st)
	require.Equal(tb, http.StatusOK, code, string(b))
	return st
}

// finish waits for the simulator's last unit past the reject station and
// the agent's last result, stops the line and closes the order at the
// touchscreen: the agent's reconciliation.
func (r *rig) finish(t testing.TB, units int) ui.ReconciliationView {
	t.Helper()
	r.awaitUnits(t, units)
	require.Eventually(t, func() bool { return r.state(t).InFlight == 0 }, wait, 10*time.Millisecond)
	r.scr.signIn(t, pinAna)
	code, body := r.scr.post(t, "/ui/stop", nil)
	require.Equal(t, http.StatusOK, code, string(body))
	code, body = r.scr.post(t, "/ui/close", map[string]bool{"confirm": true})
	require.Equal(t, http.StatusOK, code, string(body))
	var v ui.ReconciliationView
	require.NoError(t, json.Unmarshal(body, &v))
	require.True(t, v.Balanced, "line %s: the agent's reconciliation balances: %+v", r.id, v)
	return v
}

// awaitUnits waits until n units passed the simulator's reject station.
// It fails at once if an alarm stops the line, naming it: no operator is
// there to acknowledge it.
func (r *rig) awaitUnits(t testing.TB, n int) line.Counters {
	t.Helper()
	// The run itself takes n units at the line's speed; beyond that, the
	// usual bound.
	run := time.Duration(float64(n) / float64(r.simCfg.Speed) * float64(time.Minute))
	deadline := time.Now().Add(run*3/2 + wait)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		c, err := r.sim.Wait(ctx, func(c line.Counters) bool { return c.Good+c.Rejected >= uint64(n) })
		cancel()
		if err == nil {
			return c
		}
		for _, a := range r.state(t).Alarms {
			require.False(t, a.StoppedLine && a.Device != "serials", "line %s stopped by an alarm at unit %d of %d: %s: %s", r.id, c.Good+c.Rejected, n, a.Device, a.Fault)
		}
		require.True(t, time.Now().Before(deadline), "line %s: %d of %d units through after %v", r.id, c.Good+c.Rejected, n, run*3/2+wait)
	}
}

// fault switches one of the simulator's faults, as a technician does at
// its web page.
func (r *rig) fault(t testing.TB, device, fault string, value any) {
	t.Helper()
	b, err := json.Marshal(value)
	require.NoError(t, err)
	require.NoError(t, r.sim.SetFault(line.FaultChange{Device: device, Fault: fault, Value: b}))
}

// ack acknowledges the line's alarms at the touchscreen once no alarm
// is active any more, and resumes production.
func (r *rig) ackAndResume(t testing.TB) {
	t.Helper()
	require.Eventually(t, func() bool {
		for _, a := range r.state(t).Alarms {
			if a.Active {
				return false
			}
		}
		return true
	}, wait, 10*time.Millisecond, "line %s: the fault cleared at the agent", r.id)
	r.scr.signIn(t, pinAna)
	code, body := r.scr.post(t, "/ui/ack", nil)
	require.Equal(t, http.StatusOK, code, string(body))
	r.run(t)
}

// printed reads the simulator's print log (complete once the simulator
// is closed): the element strings, in print order.
func (r *rig) printed(t testing.TB) []string {
	t.Helper()
	require.NoError(t, r.sim.Close())
	return r.printedLog(t)
}

// printedLog reads the print log as it is (complete after printed).
func (r *rig) printedLog(t testing.TB) []string {
	t.Helper()
	f, err := os.Open(r.simCfg.PrintLog)
	require.NoError(t, err)
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var e struct {
			Data string  `json:"data"`
			Raw  *string `json:"raw"`
		}
		require.NoError(t, json.Unmarshal(sc.Bytes(), &e))
		require.Nil(t, e.Raw, "line %s printed data that is not GS1: %s", r.id, sc.Text())
		out = append(out, e.Data)
	}
	require.NoError(t, sc.Err())
	return out
}

// screen is a browser at an agent's touchscreen, with its own cookies.
type screen struct {
	base string
	hc   *http.Client
}

func newScreen(tb testing.TB, addr string) *screen {
	jar, err := cookiejar.New(nil)
	require.NoError(tb, err)
	return &screen{base: "http://" + addr, hc: &http.Client{Jar: jar, Timeout: 30 * time.Second}}
}

func (s *screen) post(tb testing.TB, path string, body any) (int, []byte) {
	tb.Helper()
	return (&client{base: s.base, hc: s.hc}).do(tb, "POST", path, body, nil)
}

func (s *screen) signIn(tb testing.TB, pin string) {
	tb.Helper()
	code, body := s.post(tb, "/ui/signin", map[string]string{"pin": pin})
	require.Equal(tb, http.StatusOK, code, string(body))
}

// --- checks ----------------------------------------------------------

// orderView is central's GET /api/v1/orders/{id}.
type orderView struct {
	ID             string               `json:"id"`
	State          wire.OrderState      `json:"state"`
	ReportedCounts *wire.Reconciliation `json:"reported_counts"`
	Reconciliation struct {
		Granted        uint64            `json:"granted"`
		Commissioned   uint64            `json:"commissioned"`
		Decommissioned map[string]uint64 `json:"decommissioned"`
		Voided         uint64            `json:"voided"`
		ReturnedUnused uint64            `json:"returned_unused"`
		Difference     int64             `json:"difference"`
		Balanced       bool              `json:"balanced"`
	} `json:"reconciliation"`
	Flags []string `json:"flags"`
}

// awaitClosed waits until central has the order closed and balanced,
// with every event of the line applied.
func (s *system) awaitClosed(t testing.TB, r *rig) orderView {
	t.Helper()
	var o orderView
	require.Eventually(t, func() bool {
		code, _ := s.api.do(t, "GET", "/api/v1/orders/"+r.order, nil, &o)
		return code == http.StatusOK && o.State == wire.OrderStateClosed && o.ReportedCounts != nil && o.Reconciliation.Balanced && len(o.Flags) == 0
	}, wait, 50*time.Millisecond, "line %s: central has the order closed and balanced", r.id)
	require.Eventually(t, func() bool { st := r.state(t); return st.Outbox.Pending == 0 && st.Outbox.Queued == 0 }, wait, 20*time.Millisecond,
		"line %s: the agent's outbox drained", r.id)
	return o
}

// unitFates is central's record of one order: serial → state (and reason).
func (s *system) unitFates(t testing.TB, order string) map[string]string {
	t.Helper()
	rows, err := s.db(t).Query(testkit.ContextFor(t, wait), "SELECT serial, state, reason FROM units WHERE order_id = $1", order)
	require.NoError(t, err)
	out := map[string]string{}
	for rows.Next() {
		var serial, state, reason string
		require.NoError(t, rows.Scan(&serial, &state, &reason))
		if reason != "" {
			state += ":" + reason
		}
		out[serial] = state
	}
	require.NoError(t, rows.Err())
	return out
}

// agree checks one finished order across the three records: the
// simulator's print log, the agent's reconciliation and central's.
// counts are the agent's live counters at the end of the run, or nil if
// the agent was killed during the run (a restart starts them afresh, and
// the units in flight at a kill are voided by the agent while the
// simulator counted them: then only the print log is compared with
// central unit by unit).
func (s *system) agree(t *testing.T, r *rig, agentView ui.ReconciliationView, counts *station.Counts) {
	t.Helper()
	o := s.awaitClosed(t, r)
	rec := o.Reconciliation
	// The agent's reconciliation is central's.
	require.Equal(t, agentView.Granted, rec.Granted, "granted")
	require.Equal(t, agentView.Commissioned, rec.Commissioned, "commissioned")
	require.Equal(t, agentView.Voided, rec.Voided, "voided")
	require.Equal(t, agentView.ReturnedUnused, rec.ReturnedUnused, "returned unused")
	agentDecom := map[string]uint64{}
	for _, d := range agentView.Decommissioned {
		agentDecom[d.Reason] = d.Count
	}
	require.Equal(t, agentDecom, nonZero(rec.Decommissioned), "decommissioned by reason")
	require.Zero(t, rec.Difference)

	// The print log: no element string twice, every label the order's,
	// and every label printed is a unit central knows.
	printed := r.printed(t)
	fates := s.unitFates(t, r.order)
	seen := map[string]bool{}
	var commissioned, decommissioned, voided uint64
	for _, f := range fates {
		switch {
		case f == "commissioned":
			commissioned++
		case strings.HasPrefix(f, "decommissioned"):
			decommissioned++
		case f == "voided":
			voided++
		}
	}
	printedSerials := map[string]bool{}
	for _, data := range printed {
		require.False(t, seen[data], "line %s: %s printed twice", r.id, data)
		seen[data] = true
		es, err := gs1.Parse(data)
		require.NoError(t, err)
		g, _ := es.Get("01")
		lot, _ := es.Get("10")
		sn, _ := es.Get("21")
		require.Equal(t, []string{gtin, "LOT-" + r.id}, []string{g, lot})
		f, ok := fates[sn]
		require.True(t, ok, "line %s: printed serial %s is unknown to central", r.id, sn)
		if counts != nil {
			require.NotEqual(t, "voided", f, "line %s: printed serial %s voided", r.id, sn)
		}
		printedSerials[sn] = true
	}
	// Every serial central has as commissioned or decommissioned was printed.
	for sn, f := range fates {
		if f != "voided" {
			require.True(t, printedSerials[sn], "line %s: serial %s is %s at central but was never printed", r.id, sn, f)
		}
	}
	require.Equal(t, rec.Commissioned, commissioned)
	require.Equal(t, rec.Voided, voided)
	// A sanity bound, far from what 2% faults and late labels on a busy
	// machine give (under 15%): a station that lost track of its units
	// rejects nearly everything, and every record would still agree.
	require.Less(t, decommissioned*3, uint64(len(printed)), "line %s: %d of %d labelled units rejected", r.id, decommissioned, len(printed))
	if counts != nil {
		require.Equal(t, uint64(len(printed)), commissioned+decommissioned, "line %s: one label per commissioned or decommissioned unit", r.id)
		c := r.sim.Status().Counters
		require.Equal(t, c.Good, commissioned, "line %s: the simulator's good units are central's commissioned", r.id)
		// The simulator also rejects the units the agent left blank (to
		// catch up after a late label) and those it saw before the start:
		// they carry no serial.
		require.Equal(t, c.Rejected, decommissioned+counts.Blank+counts.Ghosts,
			"line %s: the simulator's rejects are central's decommissioned plus the agent's blank (%d) and ghost (%d) units", r.id, counts.Blank, counts.Ghosts)
		require.Equal(t, commissioned, counts.Good, "line %s: the agent's good count", r.id)
		agentRejects := map[string]uint64{}
		for reason, n := range counts.Rejected {
			agentRejects[string(reason)] = n
		}
		require.Equal(t, nonZero(rec.Decommissioned), nonZero(agentRejects), "line %s: the agent's rejects by reason", r.id)
	}
	t.Logf("line %s: %d labels; granted %d = commissioned %d + decommissioned %v + voided %d + returned %d",
		r.id, len(printed), rec.Granted, rec.Commissioned, nonZero(rec.Decommissioned), rec.Voided, rec.ReturnedUnused)
}

func nonZero(m map[string]uint64) map[string]uint64 {
	out := map[string]uint64{}
	for k, v := range m {
		if v != 0 {
			out[k] = v
		}
	}
	return out
}
