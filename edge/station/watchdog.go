package station

import (
	"context"
	"time"
)

// watchdog is the PLC's side of the two-way watchdog (drivers/plc.PLC;
// drivers/plc/README.md, "Watchdog"): the actuator writes the edge's
// heartbeat with the outputs it keeps, and the monitor checks the PLC's.
// A PLC without it (a test's fake) is driven without.
type watchdog interface {
	Heartbeat(ctx context.Context) error
	StandDown(ctx context.Context) error
	PLCHeartbeat(ctx context.Context) error
	HeartbeatInterval() time.Duration
}

// actuatorEvery is the actuator's tick: MonitorEvery, or the heartbeat
// interval if that is shorter.
func (s *Station) actuatorEvery() time.Duration {
	if w, ok := s.plc.(watchdog); ok && w.HeartbeatInterval() > 0 {
		return min(s.cfg.MonitorEvery, w.HeartbeatInterval())
	}
	return s.cfg.MonitorEvery
}

// beat writes the edge's heartbeat (actuator only). A failure is the PLC
// link's, which the monitor reports.
func (s *Station) beat(ctx context.Context) {
	if w, ok := s.plc.(watchdog); ok {
		if err := w.Heartbeat(ctx); err != nil {
			s.log.Debug("plc heartbeat not written", "err", err)
		}
	}
}

// standDown tells the PLC the edge leaves on purpose, the line stopped
// (actuator only, at the end): no watchdog alarm for a clean stop.
func (s *Station) standDown(ctx context.Context) {
	if w, ok := s.plc.(watchdog); ok {
		if err := w.StandDown(ctx); err != nil {
			s.log.Warn("plc not told the edge stops; its watchdog will stop the line", "err", err)
		}
	}
}

// plcAlive is nil while the PLC's heartbeat changes, else why not (the
// monitor's "plc" health).
func (s *Station) plcAlive(ctx context.Context) error {
	if w, ok := s.plc.(watchdog); ok {
		return w.PLCHeartbeat(ctx)
	}
	return nil
}
