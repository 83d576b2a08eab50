//go:build windows

package service

import (
	"errors"
	"fmt"
	"os"
	"time"

	"golang.org/x/sys/windows/svc"
	"golang.org/x/sys/windows/svc/mgr"
)

// install registers the service: automatic start (delayed, so that the
// network is up), restarted 5 s after a failure, also when the agent exits
// with an error rather than crashing.
func install(o Options) error {
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("the program's own path: %w", err)
	}
	m, err := mgr.Connect()
	if err != nil {
		return fmt.Errorf("service manager: %w (run from an administrator's prompt)", err)
	}
	defer m.Disconnect()
	if s, err := m.OpenService(o.Name); err == nil {
		s.Close()
		return fmt.Errorf("service %q already exists (serialine-edge service uninstall --name %s first)", o.Name, o.Name)
	}
	s, err := m.CreateService(o.Name, exe, mgr.Config{
		DisplayName:      "Serialine edge agent (" + o.Name + ")",
		Description:      "Serialine packaging-line agent: printer, scanner, PLC, serial pool and outbox; log in " + o.LogFile,
		StartType:        mgr.StartAutomatic,
		DelayedAutoStart: true,
		ServiceStartName: o.Account,
	}, o.CommandLine()...)
	if err != nil {
		return fmt.Errorf("service %q: create: %w", o.Name, err)
	}
	defer s.Close()
	restart := mgr.RecoveryAction{Type: mgr.ServiceRestart, Delay: 5 * time.Second}
	if err := s.SetRecoveryActions([]mgr.RecoveryAction{restart, restart, restart}, 24*60*60); err != nil {
		_ = s.Delete()
		return fmt.Errorf("service %q: recovery actions: %w", o.Name, err)
	}
	if err := s.SetRecoveryActionsOnNonCrashFailures(true); err != nil {
		_ = s.Delete()
		return fmt.Errorf("service %q: recovery on failure exit: %w", o.Name, err)
	}
	return nil
}

// uninstall stops the service if it runs, then removes it.
func uninstall(name string) error {
	m, s, err := open(name)
	if err != nil {
		return err
	}
	defer m.Disconnect()
	defer s.Close()
	if st, err := s.Query(); err == nil && st.State != svc.Stopped {
		if err := stopAndWait(name, s); err != nil {
			return err
		}
	}
	if err := s.Delete(); err != nil {
		return fmt.Errorf("service %q: delete: %w", name, err)
	}
	return nil
}

// start starts the service and waits until it runs or stops again.
func start(name string) error {
	m, s, err := open(name)
	if err != nil {
		return err
	}
	defer m.Disconnect()
	defer s.Close()
	if err := s.Start(); err != nil {
		return fmt.Errorf("service %q: start: %w", name, err)
	}
	st, err := waitFor(s, svc.Running, 60*time.Second)
	if err != nil {
		return fmt.Errorf("service %q: %w", name, err)
	}
	if st.State != svc.Running {
		return fmt.Errorf("service %q stopped while starting (exit code %d; see its log file)", name, st.ServiceSpecificExitCode)
	}
	return nil
}

// stop stops the service and waits until it has.
func stop(name string) error {
	m, s, err := open(name)
	if err != nil {
		return err
	}
	defer m.Disconnect()
	defer s.Close()
	return stopAndWait(name, s)
}

func stopAndWait(name string, s *mgr.Service) error {
	if _, err := s.Control(svc.Stop); err != nil {
		return fmt.Errorf("service %q: stop: %w", name, err)
	}
	if _, err := waitFor(s, svc.Stopped, 60*time.Second); err != nil {
		return fmt.Errorf("service %q: %w", name, err)
	}
	return nil
}

func open(name string) (*mgr.Mgr, *mgr.Service, error) {
	m, err := mgr.Connect()
	if err != nil {
		return nil, nil, fmt.Errorf("service manager: %w (run from an administrator's prompt)", err)
	}
	s, err := m.OpenService(name)
	if err != nil {
		m.Disconnect()
		return nil, nil, fmt.Errorf("service %q: %w", name, err)
	}
	return m, s, nil
}

// waitFor polls the service's state (the SCM offers no wait for another
// process's service) until it is want or Stopped, or the time is up.
func waitFor(s *mgr.Service, want svc.State, limit time.Duration) (svc.Status, error) {
	deadline := time.Now().Add(limit)
	for {
		st, err := s.Query()
		if err != nil {
			return st, fmt.Errorf("query: %w", err)
		}
		if st.State == want || st.State == svc.Stopped {
			return st, nil
		}
		if time.Now().After(deadline) {
			return st, fmt.Errorf("still in state %d after %v", st.State, limit)
		}
		time.Sleep(300 * time.Millisecond)
	}
}

// runService is `service run`: what the SCM starts. It logs to o.LogFile
// (the service has no console) and runs the agent under the SCM.
func runService(o Options, prog Program) error {
	isService, err := svc.IsWindowsService()
	if err != nil {
		return fmt.Errorf("is this a service: %w", err)
	}
	if !isService {
		return errors.New("service run is started by the Windows service manager; in a console use serialine-edge run")
	}
	w, err := openLog(o.LogFile)
	if err != nil {
		return err
	}
	defer w.Close()
	return svc.Run(o.Name, scmHandler{h: newHandler(o, prog, w)})
}

// scmHandler adapts handler to the SCM's requests and statuses.
type scmHandler struct{ h handler }

func (a scmHandler) Execute(_ []string, r <-chan svc.ChangeRequest, s chan<- svc.Status) (bool, uint32) {
	requests := make(chan Request)
	done := make(chan struct{})
	defer close(done)
	go func() {
		for {
			select {
			case c := <-r:
				req, ok := toRequest(c.Cmd)
				if !ok {
					continue
				}
				select {
				case requests <- req:
				case <-done:
					return
				}
			case <-done:
				return
			}
		}
	}()
	code := a.h.serve(requests, func(st Status) { s <- toStatus(st) })
	return code != 0, code
}

// toRequest maps the SCM's commands to the handler's; the handler accepts
// only stop and shutdown, so the SCM sends no others but interrogations.
func toRequest(c svc.Cmd) (Request, bool) {
	switch c {
	case svc.Interrogate:
		return Interrogate, true
	case svc.Stop:
		return Stop, true
	case svc.Shutdown, svc.PreShutdown:
		return Shutdown, true
	}
	return 0, false
}

func toStatus(st Status) svc.Status {
	out := svc.Status{WaitHint: uint32(st.WaitHint / time.Millisecond)}
	switch st.State {
	case StartPending:
		out.State = svc.StartPending
	case Running:
		out.State = svc.Running
	case StopPending:
		out.State = svc.StopPending
	}
	if st.AcceptStop {
		out.Accepts = svc.AcceptStop | svc.AcceptShutdown
	}
	return out
}
