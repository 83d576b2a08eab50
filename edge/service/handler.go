package service

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"
)

// State is the service's state as the SCM sees it (service_windows.go maps
// it to svc.State).
type State int

// The states the handler reports; Stopped is reported by the SCM package
// itself once the handler returns.
const (
	StartPending State = iota + 1
	Running
	StopPending
)

func (s State) String() string {
	switch s {
	case StartPending:
		return "start-pending"
	case Running:
		return "running"
	case StopPending:
		return "stop-pending"
	}
	return fmt.Sprintf("State(%d)", int(s))
}

// Request is a control request from the SCM.
type Request int

// The requests the handler acts on; the Windows side maps the others away.
const (
	Interrogate Request = iota + 1
	Stop
	Shutdown // the machine shuts down: handled as Stop
)

// Status is one status report to the SCM.
type Status struct {
	State State
	// AcceptStop: stop and shutdown requests are accepted (only while
	// running: before, the agent has nothing to stop cleanly; after, it is
	// already stopping).
	AcceptStop bool
	// WaitHint is how long the SCM should wait for the next report.
	WaitHint time.Duration
}

// handler is the service's state machine, free of the SCM so that it is
// tested on every platform: it runs the agent, turns a stop or shutdown
// into the cancellation of the agent's context, and answers interrogations
// with the current status.
type handler struct {
	run         func(ctx context.Context) int // the agent
	log         *slog.Logger
	stopTimeout time.Duration // after the cancel, the agent's time to stop
}

// serve runs the agent until it ends or the SCM asks it to stop, reporting
// each state on report, and returns the service's exit code (0: stopped as
// asked). An agent that ends without being asked is a failure (exit code
// at least 1), so that the SCM's recovery actions restart it, as systemd's
// Restart=on-failure does.
func (h handler) serve(requests <-chan Request, report func(Status)) uint32 {
	cur := Status{State: StartPending, WaitHint: 10 * time.Second}
	report(cur)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan int, 1)
	go func() { done <- h.run(ctx) }()
	cur = Status{State: Running, AcceptStop: true}
	report(cur)
	h.log.Info("service running")

	var timeout <-chan time.Time // set once stopping
	for {
		select {
		case code := <-done:
			if cur.State == StopPending {
				h.log.Info("service stopped", "exit", code)
				return uint32(code)
			}
			if code == 0 {
				code = 1
			}
			h.log.Error("agent ended without being asked to stop", "exit", code)
			return uint32(code)
		case r := <-requests:
			switch r {
			case Interrogate:
				report(cur)
			case Stop, Shutdown:
				if cur.State == StopPending {
					continue
				}
				h.log.Info("service stopping", "request", requestName(r))
				cur = Status{State: StopPending, WaitHint: h.stopTimeout}
				report(cur)
				cancel()
				timeout = time.After(h.stopTimeout)
			}
		case <-timeout:
			h.log.Error("agent did not stop in time; leaving", "stop_timeout", h.stopTimeout)
			return 1
		}
	}
}

func requestName(r Request) string {
	if r == Shutdown {
		return "shutdown"
	}
	return "stop"
}

// maxLogSize is the size past which the log file is moved to FILE.1 when
// the service starts (one old generation is kept: a line PC's disk is small
// and nobody rotates logs there).
const maxLogSize = 10 << 20

// openLog opens the service's log file for appending, creating its folder;
// a file past maxLogSize is moved to FILE.1 first.
func openLog(path string) (io.WriteCloser, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, fmt.Errorf("log file %s: %w", path, err)
	}
	if fi, err := os.Stat(path); err == nil && fi.Size() > maxLogSize {
		if err := os.Rename(path, path+".1"); err != nil {
			return nil, fmt.Errorf("log file %s: rotating: %w", path, err)
		}
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		return nil, fmt.Errorf("log file %s: %w", path, err)
	}
	return f, nil
}

// newHandler is the handler of the agent with o's flags, logging to w.
func newHandler(o Options, prog Program, w io.Writer) handler {
	return handler{
		run:         func(ctx context.Context) int { return prog.Run(ctx, o.RunArgs, w) },
		log:         slog.New(slog.NewTextHandler(w, nil)).With("service", o.Name),
		stopTimeout: 30 * time.Second,
	}
}
