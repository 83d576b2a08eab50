package line

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"time"

	scandrv "github.com/serialine/serialine/drivers/scanner"
	"github.com/serialine/serialine/shared/label"
	plcsim "github.com/serialine/serialine/simulators/plc"
	printersim "github.com/serialine/serialine/simulators/printer"
	scannersim "github.com/serialine/serialine/simulators/scanner"
)

// onPLCEvent follows a unit down the conveyor. It runs on the PLC
// simulator's dispatching goroutine, so it never blocks.
func (l *Line) onPLCEvent(ev plcsim.Event) {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch ev.Kind {
	case plcsim.UnitEntered:
		u := &unit{n: ev.Unit, entry: ev.Position}
		l.units[ev.Unit] = u
		l.c.Triggers++
		if len(l.held) > 0 {
			pl := l.held[0]
			l.held = l.held[1:]
			l.applyLocked(u, pl)
		} else {
			l.atPrint = append(l.atPrint, u)
		}
	case plcsim.UnitAtStation:
		u := l.units[ev.Unit]
		if u == nil {
			return
		}
		switch ev.Station {
		case stationPrintExit:
			u.stage = 1
			if u.label == nil {
				l.c.Blank++
				for i, v := range l.atPrint {
					if v == u {
						l.atPrint = append(l.atPrint[:i], l.atPrint[i+1:]...)
						break
					}
				}
			}
		case stationCamera:
			u.stage = 2
			l.camera = append(l.camera, u)
			wake(l.cameraWake)
		}
	case plcsim.UnitKept:
		l.c.Good++
		delete(l.units, ev.Unit)
	case plcsim.UnitRejected:
		l.c.Rejected++
		delete(l.units, ev.Unit)
	}
	l.notifyLocked()
}

func (l *Line) applyLocked(u *unit, pl *printedLabel) {
	u.label = pl
	pl.unit = u.n
	l.c.Applied++
}

// onPrinted takes a label from the printer simulator's engine: it goes into
// the print log, onto the oldest unlabelled unit at the print station (or
// onto the applicator to wait for the next unit), and to a decode worker.
func (l *Line) onPrinted(p printersim.Printed) {
	pl := &printedLabel{seq: p.Seq, at: p.At, data: p.Data, gs1: p.GS1, img: p.Image, done: make(chan struct{})}
	if l.plog != nil {
		if err := l.plog.Append(p.At, p.Data); err != nil {
			l.log.Error("print log", "seq", p.Seq, "err", err)
		}
	}
	l.mu.Lock()
	l.c.Printed++
	l.recent = append(l.recent, pl)
	if n := len(l.recent) - l.cfg.LabelsKept; n > 0 {
		l.recent = append(l.recent[:0], l.recent[n:]...)
	}
	if len(l.atPrint) > 0 {
		u := l.atPrint[0]
		l.atPrint = l.atPrint[1:]
		l.applyLocked(u, pl)
	} else {
		l.held = append(l.held, pl)
	}
	l.notifyLocked()
	ctx := l.ctx
	l.mu.Unlock()
	if pl.img == nil {
		close(pl.done)
		return
	}
	// A full queue holds the printer back, as a busy camera would.
	select {
	case l.jobs <- pl:
	case <-ctx.Done():
	}
}

// decodeWorker makes the camera's first read of each label ahead of time.
func (l *Line) decodeWorker(ctx context.Context) {
	defer l.wg.Done()
	for {
		select {
		case <-ctx.Done():
			return
		case pl := <-l.jobs:
			d, err := label.Decode(pl.img)
			pl.view = &cameraView{Gray: pl.img, data: d.Data, gs1: d.GS1, err: err}
			close(pl.done)
		}
	}
}

// cameraLoop inspects the units in the order they reach the camera.
func (l *Line) cameraLoop(ctx context.Context) {
	defer l.wg.Done()
	for {
		l.mu.Lock()
		for len(l.camera) == 0 {
			l.mu.Unlock()
			select {
			case <-ctx.Done():
				return
			case <-l.cameraWake:
			}
			l.mu.Lock()
		}
		u := l.camera[0]
		l.camera[0] = nil
		l.camera = l.camera[1:]
		pl := u.label
		l.mu.Unlock()

		var r scandrv.Result
		var err error
		switch {
		case pl == nil, pl.img == nil && !l.cfg.Fast: // no label, or one the printer could not render
			r, err = l.scanner.Inspect(ctx, l.blank)
		case l.cfg.Fast:
			r, err = l.scanner.InspectData(pl.data, pl.gs1)
		default:
			select {
			case <-pl.done:
			case <-ctx.Done():
				return
			}
			r, err = l.scanner.Inspect(ctx, pl.view)
		}
		if err != nil && ctx.Err() != nil {
			return
		}
		l.mu.Lock()
		switch {
		case errors.Is(err, scannersim.ErrOffline):
			l.c.Unsent++
		case err != nil:
			l.c.Unsent++
			l.log.Error("camera", "unit", u.n, "err", err)
		default:
			l.c.Scanned++
			switch {
			case r.NoRead:
				l.c.NoReads++
			case pl == nil || r.Data != pl.data || r.GS1 != pl.gs1:
				l.c.Misreads++
			}
		}
		l.notifyLocked()
		l.mu.Unlock()
	}
}

// clock moves the conveyor with time at the current speed and raises a
// product trigger every pitch (± jitter). The PLC simulator reports the
// station events on the way.
func (l *Line) clock(ctx context.Context) {
	defer l.wg.Done()
	rng := rand.New(rand.NewPCG(l.cfg.Seed, l.cfg.Seed^0x5851f42d4c957f2d))
	gap := func() float64 { return 1 + l.cfg.Jitter/100*(2*rng.Float64()-1) }
	pos, next := 0.0, gap()
	fed := 0
	last := time.Now()
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-l.clockWake:
		}
		l.mu.Lock()
		speed := float64(l.faults.Line.Speed)
		feeding := !l.faults.Line.Starved && (l.cfg.Units == 0 || fed < l.cfg.Units)
		l.mu.Unlock()
		now := time.Now()
		target := pos + now.Sub(last).Minutes()*speed
		last = now
		moving := true // false while the PLC keeps the line stopped
		for feeding && next <= target {
			if !l.plc.Advance(max(0, next-pos)) {
				moving = false
				break
			}
			pos = next
			if _, ok := l.plc.Trigger(); ok {
				fed++
			}
			next += gap()
			feeding = l.cfg.Units == 0 || fed < l.cfg.Units
		}
		if moving && !l.plc.Advance(target-pos) {
			moving = false
		}
		if !moving {
			t.Reset(maxTick) // stopped: look again soon; a fault change wakes us at once
			continue
		}
		pos = target
		if !feeding {
			next = pos + 1 // the next product comes a pitch after the infeed resumes
		}
		// Sleep until the next product or station event.
		nextPos := math.Inf(1)
		if feeding {
			nextPos = next
		}
		nextPos = min(nextPos, l.nextStationPos())
		wait := maxTick
		if !math.IsInf(nextPos, 1) {
			wait = time.Duration((nextPos - pos) / speed * float64(time.Minute))
		}
		t.Reset(min(max(wait, minTick), maxTick))
	}
}

// nextStationPos is the conveyor position of the next station event.
func (l *Line) nextStationPos() float64 {
	at := [...]float64{l.cfg.Travel.PrintWindow, l.cfg.Travel.PrinterToCamera, l.cfg.Travel.PrinterToCamera + l.cfg.Travel.CameraToReject}
	l.mu.Lock()
	defer l.mu.Unlock()
	p := math.Inf(1)
	for _, u := range l.units {
		p = min(p, u.entry+at[u.stage])
	}
	return p
}
