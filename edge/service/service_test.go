package service

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestParse(t *testing.T) {
	wd, err := os.Getwd()
	require.NoError(t, err)
	env := func(k string) string {
		if k == "ProgramData" {
			return "/programdata"
		}
		return ""
	}
	for _, tc := range []struct {
		name string
		cmd  string
		args []string
		want Options
		err  string
	}{
		{name: "install defaults", cmd: "install", args: []string{"--config", "edge.yaml"},
			want: Options{Name: DefaultName, LogFile: filepath.Join("/programdata", "Serialine", "serialine-edge.log"),
				RunArgs: []string{"--config", filepath.Join(wd, "edge.yaml")}}},
		{name: "install every flag, paths made absolute", cmd: "install",
			args: []string{"--name", "line-2", "--log", "logs/l2.log", "--account", `NT SERVICE\line-2`, "--config", "c/edge.yaml",
				"--data", "d", "--mqtt", "ssl://central:8883", "--http", "127.0.0.1:8082"},
			want: Options{Name: "line-2", LogFile: filepath.Join(wd, "logs/l2.log"), Account: `NT SERVICE\line-2`,
				RunArgs: []string{"--config", filepath.Join(wd, "c/edge.yaml"), "--data", filepath.Join(wd, "d"),
					"--mqtt", "ssl://central:8883", "--http", "127.0.0.1:8082"}}},
		{name: "run keeps what install stored", cmd: "run",
			args: []string{"--name", "serialine-edge", "--log", "/l/e.log", "--config", "/c/edge.yaml", "--data", "/d"},
			want: Options{Name: DefaultName, LogFile: "/l/e.log", RunArgs: []string{"--config", "/c/edge.yaml", "--data", "/d"}}},
		{name: "stop by name", cmd: "stop", args: []string{"--name", "line-2"}, want: Options{Name: "line-2"}},
		{name: "uninstall default name", cmd: "uninstall", want: Options{Name: DefaultName}},
		{name: "install without config", cmd: "install", args: []string{"--name", "x"}, err: "--config: missing"},
		{name: "run without log", cmd: "run", args: []string{"--config", "/c/edge.yaml"}, err: "--log: missing"},
		{name: "name with a space", cmd: "start", args: []string{"--name", "line 2"}, err: `--name: "line 2": character ' '`},
		{name: "empty name", cmd: "start", args: []string{"--name", ""}, err: `--name: "": 1-64 characters`},
		{name: "start takes no config", cmd: "start", args: []string{"--config", "x"}, err: "flag provided but not defined: -config"},
		{name: "account only at install", cmd: "run", args: []string{"--account", "x"}, err: "flag provided but not defined: -account"},
		{name: "stray argument", cmd: "install", args: []string{"--config", "e.yaml", "now"}, err: `unexpected argument "now"`},
		{name: "unknown command", cmd: "restart", err: "unknown command"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parse(tc.cmd, tc.args, io.Discard, env)
			if tc.err != "" {
				require.ErrorContains(t, err, tc.err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
		})
	}
}

func TestParseLogDefaultNeedsProgramData(t *testing.T) {
	_, err := parse("install", []string{"--config", "e.yaml"}, io.Discard, func(string) string { return "" })
	require.ErrorContains(t, err, "%ProgramData% is not set")
}

func TestCommandLineIsWhatRunParses(t *testing.T) {
	o := Options{Name: "line-2", LogFile: "/l/e.log", RunArgs: []string{"--config", "/c/edge.yaml", "--http", "127.0.0.1:9"}}
	cl := o.CommandLine()
	require.Equal(t, []string{"service", "run"}, cl[:2])
	back, err := parse("run", cl[2:], io.Discard, os.Getenv)
	require.NoError(t, err)
	require.Equal(t, o, back)
}

func TestCommand(t *testing.T) {
	checked := [][]string{}
	prog := Program{
		Run: func(context.Context, []string, io.Writer) int { t.Fatal("the agent must not run"); return 0 },
		Check: func(args []string) error {
			checked = append(checked, args)
			if strings.HasSuffix(args[1], "bad.yaml") {
				return io.ErrUnexpectedEOF
			}
			return nil
		},
	}
	run := func(args ...string) (int, string, string) {
		var stdout, stderr bytes.Buffer
		code := Command(args, prog, &stdout, &stderr)
		return code, stdout.String(), stderr.String()
	}
	code, out, _ := run("help")
	require.Equal(t, 0, code)
	require.Contains(t, out, "install [--name NAME]")

	code, _, errOut := run("install", "--log", "/l.log")
	require.Equal(t, 2, code)
	require.Contains(t, errOut, "serialine-edge service install: --config: missing")

	code, _, errOut = run("install", "--log", "/l.log", "--config", "bad.yaml")
	require.Equal(t, 2, code)
	require.Contains(t, errOut, "the service would not start: unexpected EOF")

	if runtime.GOOS == "windows" {
		return // the rest is what the commands say off Windows
	}
	code, _, errOut = run("install", "--log", "/l.log", "--config", "good.yaml")
	require.Equal(t, 1, code)
	require.Contains(t, errOut, "service commands are for Windows; on Linux use the systemd unit in deploy/systemd")
	require.Len(t, checked, 2, "install checks the configuration before anything else")
	for _, c := range []string{"start", "stop", "uninstall"} {
		code, _, errOut = run(c)
		require.Equal(t, 1, code, c)
		require.Contains(t, errOut, "serialine-edge service "+c+": service commands are for Windows", c)
	}
}

// fakeSCM drives a handler as the SCM would: requests in, statuses out.
type fakeSCM struct {
	requests chan Request
	statuses chan Status
	exit     chan uint32
}

func startHandler(tb testing.TB, run func(ctx context.Context) int, stopTimeout time.Duration) (*fakeSCM, *bytes.Buffer) {
	tb.Helper()
	var logBuf bytes.Buffer
	f := &fakeSCM{requests: make(chan Request), statuses: make(chan Status, 16), exit: make(chan uint32, 1)}
	h := handler{run: run, log: slog.New(slog.NewTextHandler(&logBuf, nil)), stopTimeout: stopTimeout}
	go func() { f.exit <- h.serve(f.requests, func(s Status) { f.statuses <- s }) }()
	return f, &logBuf
}

func (f *fakeSCM) next(tb testing.TB) Status {
	tb.Helper()
	select {
	case s := <-f.statuses:
		return s
	case <-time.After(10 * time.Second):
		tb.Fatal("no status reported")
		return Status{}
	}
}

func (f *fakeSCM) exitCode(tb testing.TB) uint32 {
	tb.Helper()
	select {
	case c := <-f.exit:
		return c
	case <-time.After(10 * time.Second):
		tb.Fatal("the handler did not return")
		return 0
	}
}

// agentUntilCancel is an agent that runs until its context ends and then
// exits with code; started is closed once it runs.
func agentUntilCancel(started chan<- struct{}, code int) func(ctx context.Context) int {
	return func(ctx context.Context) int {
		close(started)
		<-ctx.Done()
		return code
	}
}

func TestHandlerStopsTheAgentOnStopAndShutdown(t *testing.T) {
	for _, req := range []Request{Stop, Shutdown} {
		t.Run(requestName(req), func(t *testing.T) {
			started := make(chan struct{})
			f, logBuf := startHandler(t, agentUntilCancel(started, 0), 30*time.Second)
			require.Equal(t, Status{State: StartPending, WaitHint: 10 * time.Second}, f.next(t))
			require.Equal(t, Status{State: Running, AcceptStop: true}, f.next(t))
			<-started
			f.requests <- Interrogate
			require.Equal(t, Status{State: Running, AcceptStop: true}, f.next(t), "interrogate answers the current status")
			f.requests <- req
			require.Equal(t, Status{State: StopPending, WaitHint: 30 * time.Second}, f.next(t))
			require.Equal(t, uint32(0), f.exitCode(t), "stopped as asked: exit 0")
			require.Contains(t, logBuf.String(), "request="+requestName(req))
			require.Contains(t, logBuf.String(), "service stopped")
		})
	}
}

func TestHandlerAnswersWhileStopping(t *testing.T) {
	started, release := make(chan struct{}), make(chan struct{})
	f, _ := startHandler(t, func(ctx context.Context) int {
		close(started)
		<-ctx.Done()
		<-release // the agent takes its time to stop the line
		return 0
	}, 30*time.Second)
	f.next(t)
	f.next(t)
	<-started
	f.requests <- Stop
	require.Equal(t, StopPending, f.next(t).State)
	f.requests <- Interrogate
	require.Equal(t, Status{State: StopPending, WaitHint: 30 * time.Second}, f.next(t))
	f.requests <- Stop // a second stop changes nothing
	f.requests <- Interrogate
	require.Equal(t, StopPending, f.next(t).State)
	close(release)
	require.Equal(t, uint32(0), f.exitCode(t))
	require.Empty(t, f.statuses, "no status after the handler returned")
}

func TestHandlerAgentFailureIsAFailure(t *testing.T) {
	for _, tc := range []struct {
		name string
		code int
		want uint32
	}{
		{"agent error", 2, 2},
		// Ending by itself is a failure even with 0, so that the SCM restarts it.
		{"agent ended with 0", 0, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, logBuf := startHandler(t, func(context.Context) int { return tc.code }, 30*time.Second)
			require.Equal(t, tc.want, f.exitCode(t))
			require.Contains(t, logBuf.String(), "agent ended without being asked to stop")
		})
	}
}

func TestHandlerGivesUpOnAnAgentThatDoesNotStop(t *testing.T) {
	stuck := make(chan struct{})
	defer close(stuck)
	f, logBuf := startHandler(t, func(context.Context) int { <-stuck; return 0 }, 50*time.Millisecond)
	f.next(t)
	f.next(t)
	f.requests <- Stop
	require.Equal(t, StopPending, f.next(t).State)
	require.Equal(t, uint32(1), f.exitCode(t))
	require.Contains(t, logBuf.String(), "agent did not stop in time")
}

func TestOpenLogAppendsAndRotates(t *testing.T) {
	path := filepath.Join(t.TempDir(), "logs", "edge.log")
	w, err := openLog(path)
	require.NoError(t, err, "creates the folder")
	_, err = io.WriteString(w, "first\n")
	require.NoError(t, err)
	require.NoError(t, w.Close())
	w, err = openLog(path)
	require.NoError(t, err)
	_, err = io.WriteString(w, "second\n")
	require.NoError(t, err)
	require.NoError(t, w.Close())
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Equal(t, "first\nsecond\n", string(b), "appends across starts")

	require.NoError(t, os.WriteFile(path, bytes.Repeat([]byte("x"), maxLogSize+1), 0o600))
	w, err = openLog(path)
	require.NoError(t, err)
	require.NoError(t, w.Close())
	fi, err := os.Stat(path)
	require.NoError(t, err)
	require.Zero(t, fi.Size(), "a full log starts over")
	fi, err = os.Stat(path + ".1")
	require.NoError(t, err)
	require.EqualValues(t, maxLogSize+1, fi.Size(), "the old one is kept once")
}

func TestNewHandlerRunsTheAgentWithTheServiceFlags(t *testing.T) {
	var logBuf bytes.Buffer
	var gotArgs []string
	prog := Program{Run: func(_ context.Context, args []string, stderr io.Writer) int {
		gotArgs = args
		_, _ = io.WriteString(stderr, "agent log line\n")
		return 7
	}}
	o := Options{Name: "line-2", LogFile: "/l/e.log", RunArgs: []string{"--config", "/c/edge.yaml", "--data", "/d"}}
	h := newHandler(o, prog, &logBuf)
	require.Equal(t, 30*time.Second, h.stopTimeout)
	require.Equal(t, 7, h.run(context.Background()))
	require.Equal(t, o.RunArgs, gotArgs, "the agent gets run's flags, as `serialine-edge run` would")
	h.log.Info("service running")
	require.Contains(t, logBuf.String(), "agent log line\n", "the agent logs to the service's log")
	require.Contains(t, logBuf.String(), `msg="service running" service=line-2`)
}
