// Package demo runs a whole Serialine installation on one machine for a new
// user: central and the edge agent as child processes (the built binaries),
// the simulated line in-process, seeded with a product, a line and a
// released work order, and production started at the touchscreen.
package demo

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/serialine/serialine/drivers/scanner"
	"github.com/serialine/serialine/edge/ui/pin"
	"github.com/serialine/serialine/simulators/line"
)

// PIN is the demo operator's touchscreen PIN; QAPIN is the demo QA
// person's, who may also extend a reject allowance and acknowledge the
// alarms that need a supervisor or QA.
const (
	PIN   = "1234"
	QAPIN = "9999"
)

// Demo records: one line, one product, one order.
const (
	lineID  = "L1"
	gtin    = "09506000134369"
	orderID = "WO-DEMO-1"
)

// ErrMissingBinary is returned when serialine-central or serialine-edge is
// not in the binary folder.
var ErrMissingBinary = errors.New("needs serialine-central and serialine-edge beside serialine-sim (run `make build`)")

// ErrChildExited is returned when central or the edge agent stops on its own.
var ErrChildExited = errors.New("child process exited")

// Config is the demo's setup; the zero value is the default.
type Config struct {
	// DataDir keeps central's database, the edge's data, the configs, the
	// child logs and demo.json (default ./data/demo). Re-running with the
	// same folder continues with the same data.
	DataDir string
	// BinDir holds serialine-central and serialine-edge (default: the
	// folder of the running executable).
	BinDir string
	// Speed is the line speed in units/min (default the simulator's).
	Speed int
	// Fast runs the simulator without imaging (load tests).
	Fast bool
	// Started, if set, is called once production was started.
	Started func(Info)
	// StartTimeout bounds each wait for a child to be ready (default 60 s).
	StartTimeout time.Duration
}

// Info is what the demo started.
type Info struct {
	CentralURL, EdgeURL, SimURL string
	AdminToken, Order           string
	// PIDs are the child processes (central, edge).
	PIDs []int
}

// state is demo.json: what the first run created, for the later ones.
type state struct {
	AdminToken   string `json:"admin_token"`
	MQTTPassword string `json:"mqtt_password,omitempty"`
	Seeded       bool   `json:"seeded"`
	Order        string `json:"order,omitempty"`
}

// Run starts everything, prints the addresses to stdout and runs until ctx
// ends; then the children get SIGTERM and Run waits for them.
//
// It is long because central, the simulated line and the edge start in order, each
// needing the one before, and the one deferred stop sees whatever started and stops it
// in reverse.
func Run(ctx context.Context, cfg Config, stdout io.Writer, log *slog.Logger) (err error) {
	if cfg.DataDir == "" {
		cfg.DataDir = filepath.Join("data", "demo")
	}
	if cfg.StartTimeout <= 0 {
		cfg.StartTimeout = 60 * time.Second
	}
	if cfg.BinDir == "" {
		exe, err := os.Executable()
		if err != nil {
			return fmt.Errorf("demo: locating the binaries: %w", err)
		}
		cfg.BinDir = filepath.Dir(exe)
	}
	centralBin := filepath.Join(cfg.BinDir, "serialine-central")
	edgeBin := filepath.Join(cfg.BinDir, "serialine-edge")
	for _, b := range []string{centralBin, edgeBin} {
		if _, err := os.Stat(b); err != nil {
			return fmt.Errorf("demo: %w: %v", ErrMissingBinary, err)
		}
	}
	data, err := filepath.Abs(cfg.DataDir)
	if err != nil {
		return fmt.Errorf("demo: data dir: %w", err)
	}
	if err := os.MkdirAll(data, 0o700); err != nil {
		return fmt.Errorf("demo: data dir: %w", err)
	}
	st, err := loadState(filepath.Join(data, "demo.json"))
	if err != nil {
		return err
	}
	ports, err := freePorts(3)
	if err != nil {
		return err
	}
	mqttAddr, centralAddr, edgeAddr := ports[0], ports[1], ports[2]

	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	// Stop in reverse order of start: the edge first, while its devices
	// and broker are still there, so that it stops cleanly; then the
	// simulator; central last.
	var kids []*child
	var sim *line.Line
	defer func() {
		errs := []error{err}
		if len(kids) > 1 {
			errs = append(errs, stopAll(kids[1:], log))
		}
		if sim != nil {
			if cerr := sim.Close(); cerr != nil {
				errs = append(errs, fmt.Errorf("demo: line simulator: %w", cerr))
			}
		}
		if len(kids) > 0 {
			errs = append(errs, stopAll(kids[:1], log))
		}
		err = errors.Join(errs...)
	}()

	// (1) central
	c, err := startChild(ctx, cancel, "central", centralBin, filepath.Join(data, "central.log"),
		[]string{"SERIALINE_ADMIN_TOKEN=" + st.AdminToken},
		"serve", "--db", "sqlite:"+filepath.Join(data, "central.db"), "--mqtt", "embedded:"+mqttAddr, "--http", centralAddr)
	if err != nil {
		return err
	}
	kids = append(kids, c)
	api := &client{base: "http://" + centralAddr, token: st.AdminToken, hc: &http.Client{Timeout: 10 * time.Second}}
	if err := waitUntil(ctx, cfg.StartTimeout, "central's API", func() error { return api.do(ctx, "GET", "/api/v1/me", nil, nil) }); err != nil {
		return err
	}
	log.Info("central up", "http", centralAddr, "mqtt", mqttAddr)

	// Seed once; demo.json remembers it.
	if !st.Seeded {
		if err := seed(ctx, api, &st); err != nil {
			return err
		}
		if err := saveState(filepath.Join(data, "demo.json"), st); err != nil {
			return err
		}
	}

	// (2) the simulated line
	lcfg := line.DefaultConfig()
	lcfg.Line = lineID
	lcfg.Printer.Listen = "tcp:127.0.0.1:0"
	lcfg.Scanner.Listen = "tcp:127.0.0.1:0"
	lcfg.Scanner.Format = scanner.Format{Grade: scanner.GradeLetter, AssumeGS1: true}
	lcfg.PLC.Listen = "127.0.0.1:0"
	lcfg.PLC.StartStopped = true // the edge's run request starts the conveyor
	lcfg.HTTP = "127.0.0.1:0"
	lcfg.Travel = line.Travel{PrintWindow: 0.8, PrinterToCamera: 4, CameraToReject: 3}
	lcfg.Fast = cfg.Fast
	if cfg.Speed > 0 {
		lcfg.Speed = cfg.Speed
	}
	l, err := line.New(lcfg, log.With("part", "sim"))
	if err != nil {
		return fmt.Errorf("demo: line simulator: %w", err)
	}
	sim = l
	// Not ctx: the simulator must outlive the edge's stop (Close ends it).
	if err := sim.Start(context.WithoutCancel(ctx)); err != nil {
		return fmt.Errorf("demo: line simulator: %w", err)
	}
	dev := sim.Devices()

	// (3) the edge agent
	edgeCfg := filepath.Join(data, "edge.yaml")
	if err := writeEdgeConfig(edgeCfg, filepath.Join(data, "edge"), edgeAddr, "tcp://"+mqttAddr, st.MQTTPassword, dev, lcfg); err != nil {
		return err
	}
	e, err := startChild(ctx, cancel, "edge", edgeBin, filepath.Join(data, "edge.log"), nil, "run", "--config", edgeCfg)
	if err != nil {
		return err
	}
	kids = append(kids, e)
	screen, err := newScreen("http://" + edgeAddr)
	if err != nil {
		return err
	}
	if err := waitUntil(ctx, cfg.StartTimeout, "the edge touchscreen", func() error { return screen.post(ctx, "/ui/signin", map[string]string{"pin": PIN}) }); err != nil {
		return err
	}
	// The order reaches the edge over MQTT; start once it has it.
	if err := waitUntil(ctx, cfg.StartTimeout, "starting order "+st.Order, func() error {
		err := screen.post(ctx, "/ui/start", map[string]string{"order": st.Order})
		if err != nil && strings.Contains(err.Error(), "already") { // a re-run finds it running
			return nil
		}
		return err
	}); err != nil {
		log.Warn("production not started; start it at the touchscreen", "order", st.Order, "err", err)
		if ctx.Err() != nil {
			return context.Cause(ctx)
		}
	}

	info := Info{CentralURL: api.base + "/", EdgeURL: screen.base + "/", SimURL: dev.HTTP, AdminToken: st.AdminToken, Order: st.Order,
		PIDs: []int{c.cmd.Process.Pid, e.cmd.Process.Pid}}
	fmt.Fprintf(stdout, `
Serialine demo: line %s running order %s (data in %s)

  operator touchscreen  %s   sign in with PIN %s (operator "demo"); QA: PIN %s
  technician simulator  %s   faults, counters, last labels
  central               %s   sign in with the admin token:
      %s

Logs: %s, %s. Ctrl-C stops everything.
`, lineID, st.Order, data, info.EdgeURL, PIN, QAPIN, info.SimURL, info.CentralURL, st.AdminToken,
		filepath.Join(data, "central.log"), filepath.Join(data, "edge.log"))
	if cfg.Started != nil {
		cfg.Started(info)
	}
	<-ctx.Done()
	if cause := context.Cause(ctx); errors.Is(cause, ErrChildExited) {
		return cause
	}
	log.Info("demo stopping")
	return nil
}

func loadState(path string) (state, error) {
	var st state
	b, err := os.ReadFile(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		tok := make([]byte, 32)
		if _, err := rand.Read(tok); err != nil {
			return st, fmt.Errorf("demo: admin token: %w", err)
		}
		st.AdminToken = "slt_" + base64.RawURLEncoding.EncodeToString(tok)
		return st, saveState(path, st)
	case err != nil:
		return st, fmt.Errorf("demo: %w", err)
	}
	if err := json.Unmarshal(b, &st); err != nil {
		return st, fmt.Errorf("demo: %s: %w", path, err)
	}
	if st.AdminToken == "" {
		return st, fmt.Errorf("demo: %s: admin_token: missing (delete the file to start afresh)", path)
	}
	return st, nil
}

func saveState(path string, st state) error {
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	return nil
}

// seed creates the product, the line (its MQTT password comes back once)
// and the order, and releases it.
func seed(ctx context.Context, api *client, st *state) error {
	product := map[string]any{"name": "Paracetamol 500 mg tablets (demo)", "company_prefix_len": 7,
		"markets": []string{"eu-fmd"}, "planned_volume": 1000000,
		"scheme": map[string]any{"kind": "randomized", "length": 12, "alphabet": "numeric"}}
	if err := api.do(ctx, "PUT", "/api/v1/products/"+gtin, product, nil); err != nil {
		return err
	}
	var ln struct {
		MQTTPassword string `json:"mqtt_password"`
	}
	if err := api.do(ctx, "PUT", "/api/v1/lines/"+lineID, map[string]any{"name": "Demo line"}, &ln); err != nil {
		return err
	}
	if ln.MQTTPassword == "" {
		return fmt.Errorf("demo: central returned no mqtt_password for line %s (it existed already; delete the data folder)", lineID)
	}
	st.MQTTPassword = ln.MQTTPassword
	exp := time.Now().AddDate(2, 0, 0).Format("060102")
	order := map[string]any{"id": orderID, "gtin": gtin, "lot": "DEMO1", "expiry": exp, "quantity": 1000000}
	if err := api.do(ctx, "POST", "/api/v1/orders", order, nil); err != nil {
		return err
	}
	if err := api.do(ctx, "POST", "/api/v1/orders/"+orderID+"/release", map[string]string{"line": lineID}, nil); err != nil {
		return err
	}
	st.Order, st.Seeded = orderID, true
	return nil
}

// writeEdgeConfig writes the agent's YAML: the sim's devices, central's
// broker with the line's credentials, an operator and a QA person.
func writeEdgeConfig(path, dataDir, httpAddr, broker, password string, d line.Devices, lcfg line.Config) error {
	hash, err := pin.Hash(PIN, 0)
	if err != nil {
		return fmt.Errorf("demo: pin hash: %w", err)
	}
	qaHash, err := pin.Hash(QAPIN, 0)
	if err != nil {
		return fmt.Errorf("demo: pin hash: %w", err)
	}
	q := func(s string) string { b, _ := json.Marshal(s); return string(b) } // a JSON string is a YAML string
	y := fmt.Sprintf(`# Written by serialine-sim demo at every start.
line: %s
data_dir: %s
http: %s
operators:
  - name: demo
    pin_hash: %s
  - name: qa
    pin_hash: %s
    role: qa
status_interval: 2s
mqtt:
  broker: %s
  username: %s
  password: %s
  reconnect_max: 2s
printer:
  transport: %s
  dpi: %d
scanner:
  transport: %s
plc:
  transport: %s
  unit_id: %d
station:
  printer_to_camera: %v
  camera_to_reject: %v
  print_window: %v
  jitter: %v
pool:
  min_request: 1000
  nominal_rate: %d
`, q(lineID), q(dataDir), q(httpAddr), q(hash), q(qaHash), q(broker), q(lineID), q(password), q(d.Printer), lcfg.Printer.DPI,
		q(d.Scanner), q(d.PLC), d.PLCUnitID, lcfg.Travel.PrinterToCamera, lcfg.Travel.CameraToReject, lcfg.Travel.PrintWindow,
		lcfg.Jitter, lcfg.Speed)
	if err := os.WriteFile(path, []byte(y), 0o600); err != nil {
		return fmt.Errorf("demo: edge config: %w", err)
	}
	return nil
}

// freePorts picks n free loopback ports (listen on :0, then close).
func freePorts(n int) ([]string, error) {
	var out []string
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("demo: free port: %w", err)
		}
		out = append(out, l.Addr().String())
		defer l.Close()
	}
	return out, nil
}

// waitUntil retries f until it succeeds, ctx ends or the timeout passes.
func waitUntil(ctx context.Context, timeout time.Duration, what string, f func() error) error {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		err := f()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("demo: waiting for %s: %w", what, context.Cause(ctx))
		case <-deadline.C:
			return fmt.Errorf("demo: waiting for %s: gave up after %v: %w", what, timeout, err)
		case <-tick.C:
		}
	}
}

// child is one started process.
type child struct {
	name string
	cmd  *exec.Cmd
	done chan struct{}
	err  error
	out  *os.File
}

func startChild(ctx context.Context, cancel context.CancelCauseFunc, name, bin, logPath string, env []string, args ...string) (*child, error) {
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("demo: %s log: %w", name, err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = ownGroup()
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("demo: starting %s: %w", name, err)
	}
	c := &child{name: name, cmd: cmd, done: make(chan struct{}), out: f}
	go func() {
		c.err = cmd.Wait()
		close(c.done)
		if ctx.Err() == nil {
			cancel(fmt.Errorf("%w: %s (%v); see %s", ErrChildExited, name, c.err, logPath))
		}
	}()
	return c, nil
}

// stopAll sends SIGTERM to the children, newest first, and waits for each
// (SIGKILL after 15 s).
func stopAll(kids []*child, log *slog.Logger) error {
	var errs []error
	for i := len(kids) - 1; i >= 0; i-- {
		c := kids[i]
		_ = c.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-c.done:
		case <-time.After(15 * time.Second):
			log.Warn("child did not stop on SIGTERM; killing it", "child", c.name)
			_ = c.cmd.Process.Kill()
			<-c.done
			errs = append(errs, fmt.Errorf("demo: %s did not stop on SIGTERM", c.name))
		}
		c.out.Close()
		log.Info("child stopped", "child", c.name, "exit", c.err)
	}
	return errors.Join(errs...)
}

// client calls central's API with the admin token.
type client struct {
	base, token string
	hc          *http.Client
}

func (c *client) do(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	return send(c.hc, req, out)
}

func send(hc *http.Client, req *http.Request, out any) error {
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("demo: %s %s: %w", req.Method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("demo: %s %s: %s: %s", req.Method, req.URL.Path, resp.Status, strings.TrimSpace(string(b)))
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return fmt.Errorf("demo: %s %s: %w", req.Method, req.URL.Path, err)
		}
	}
	return nil
}

// screen is a browser at the touchscreen, keeping the session cookie.
type screen struct {
	base string
	hc   *http.Client
}

func newScreen(base string) (*screen, error) {
	jar, err := cookiejar.New(nil)
	if err != nil {
		return nil, err
	}
	return &screen{base: base, hc: &http.Client{Jar: jar, Timeout: 40 * time.Second}}, nil
}

func (s *screen) post(ctx context.Context, path string, body any) error {
	b, err := json.Marshal(body)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, "POST", s.base+path, bytes.NewReader(b))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	return send(s.hc, req, nil)
}
