package station

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/serialine/serialine/drivers/plc"
	"github.com/serialine/serialine/shared/wire"
)

// outputState is what the PLC should be told.
type outputState struct {
	run   bool
	light plc.StackLight
	reset bool
}

// actuator keeps the PLC's run request and stack light as the station
// wants them, re-applying them every MonitorEvery (a restarted PLC forgets
// them), and resets the PLC's latched alarms when asked.
func (s *Station) actuator(ctx context.Context) {
	var cur outputState
	have := false
	t := time.NewTicker(s.actuatorEvery())
	defer t.Stop()
	apply := func(ctx context.Context) {
		s.beat(ctx) // first: a reset of the PLC's edge-watchdog alarm needs it
		if !have {
			return
		}
		if cur.reset {
			if err := s.plc.ResetAlarms(ctx); err == nil {
				cur.reset = false
			}
		}
		if err := s.plc.SetRun(ctx, cur.run); err != nil {
			s.log.Debug("plc run request not written", "run", cur.run, "err", err)
		}
		if err := s.plc.SetStackLight(ctx, cur.light); err != nil {
			s.log.Debug("plc stack light not written", "err", err)
		}
	}
	for {
		select {
		case <-ctx.Done():
			// Leave the line stopped behind us.
			sctx, cancel := context.WithTimeout(context.Background(), time.Second)
			cur, have = outputState{run: false, light: plc.StackOff}, true
			apply(sctx)
			s.standDown(sctx)
			cancel()
			return
		case o := <-s.outputs:
			o.reset = o.reset || cur.reset
			cur, have = o, true
		case <-t.C:
		}
		apply(ctx)
	}
}

// healthReport is one round of device checks, or a latched note.
type healthReport struct {
	devices map[string]error // nil error: healthy
	latch   *alarmNote
	ext     *external // a fault reported from outside (external.go)
	moving  bool      // the PLC said the conveyor runs
	at      int64     // when (unix ns)
}

type alarmNote struct {
	device string
	code   AlarmCode
	fault  string
}

// monitor checks the devices every MonitorEvery and reports to the run
// loop, which raises and clears the alarms.
func (s *Station) monitor(ctx context.Context) {
	t := time.NewTicker(s.cfg.MonitorEvery)
	defer t.Stop()
	var lastPrinter time.Time
	printerBad := true // ask at once
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		h := healthReport{devices: map[string]error{}}
		cctx, cancel := context.WithTimeout(ctx, max(s.cfg.MonitorEvery, time.Second))
		h.at = time.Now().UnixNano()
		h.moving, _ = s.plc.Running(cctx)
		a, err := s.plc.Alarms(cctx)
		switch {
		case err != nil:
			h.devices["plc"] = err
		case a&(plc.AlarmStopsLine|plc.AlarmRejectMissed) != 0:
			h.devices["plc"] = plcAlarmError{word: a}
		default:
			h.devices["plc"] = s.plcAlive(cctx)
		}
		if st := s.scn.Stats(); !st.Connected {
			msg := "scanner not connected"
			if st.LastLinkError != "" {
				msg += ": " + st.LastLinkError
			}
			h.devices["scanner"] = errors.New(msg)
		} else {
			h.devices["scanner"] = nil
		}
		if printerBad || time.Since(lastPrinter) >= s.cfg.PrinterPoll {
			_, err := s.prn.Status(cctx)
			lastPrinter = time.Now()
			printerBad = err != nil
			h.devices["printer"] = err
		}
		cancel()
		if ctx.Err() != nil {
			return
		}
		s.report(h)
	}
}

// onHealth turns a health report into alarms (run loop).
func (s *Station) onHealth(h healthReport) {
	if h.latch != nil {
		s.raise(h.latch.device, h.latch.code, h.latch.fault, false)
		return
	}
	if h.ext != nil {
		s.onExternal(*h.ext)
		return
	}
	if h.moving {
		s.tMoving = h.at
	}
	s.expire(time.Now().UnixNano())
	now := time.Now()
	for dev, err := range h.devices {
		hl := wire.DeviceHealth{State: wire.DeviceOK}
		if err != nil {
			hl = wire.DeviceHealth{State: wire.DeviceFault, Detail: trim(err.Error())}
			if strings.Contains(err.Error(), "not connected") {
				hl.State = wire.DeviceDisconnected
			}
		}
		s.mu.Lock()
		if old, ok := s.devices[dev]; ok && old.State == hl.State && old.Detail == hl.Detail {
			hl.Since = old.Since
		} else {
			hl.Since = now
			s.notifyLocked()
		}
		s.devices[dev] = hl
		s.mu.Unlock()
		if err != nil {
			s.raise(dev, deviceCode(dev, err), err.Error(), true)
		} else {
			s.clear(dev)
		}
	}
	if h.devices != nil && s.tpl != nil {
		s.checkOrder(now)
	}
}

// trim keeps device details within the status payload's limits.
func trim(s string) string {
	if len(s) > 200 {
		return strings.ToValidUTF8(s[:200], "") + "…"
	}
	return s
}
