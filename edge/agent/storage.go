package agent

import (
	"context"
	"fmt"
	"time"

	"github.com/serialine/serialine/edge/outbox"
	"github.com/serialine/serialine/edge/station"
	"github.com/serialine/serialine/shared/wire"
)

// What the agent tells the station about the line's record store: a commit
// that fails stops the line at once; the disk's free space is watched so
// that the line stops before a commit can fail; a restart after a crash
// and a change of the store's incarnation are alarms for the operator and
// QA.

// onCommitError is the outbox's OnCommitError.
func (a *Agent) onCommitError(err error, evs []wire.Event) {
	_, _, st, perr := a.parts()
	if perr != nil {
		if err != nil {
			a.log.Error("records not saved before the line runs", "events", len(evs), "err", err)
		}
		return
	}
	st.StorageFault(err, evs)
}

// onIncarnation is the outbox's OnIncarnation.
func (a *Agent) onIncarnation(inc outbox.Incarnation) {
	_, _, st, err := a.parts()
	if err != nil {
		return
	}
	switch inc.Kind {
	case outbox.IncarnationReplaced:
		st.Notice("record-store", station.AlarmStoreReplaced, fmt.Sprintf(
			"central applied the previous store's records (incarnation %s) up to number %d; this store is incarnation %s",
			inc.Previous, inc.PreviousSeq, inc.Current))
	case outbox.IncarnationRolledBack:
		st.Notice("record-store", station.AlarmStoreRolledBack, fmt.Sprintf(
			"central holds records up to number %d of incarnation %s, the store only to %d; its %d unacknowledged records go on as incarnation %s",
			inc.PreviousSeq, inc.Previous, inc.LocalSeq, inc.Renumbered, inc.Current))
	}
}

// watchDisk checks the free space of the data folder's disk every
// storage.check_every until ctx ends.
func (a *Agent) watchDisk(ctx context.Context, st *station.Station) {
	t := time.NewTicker(a.cfg.Storage.CheckEvery)
	defer t.Stop()
	state := "" // "", "warn" or "stop": report changes only
	for {
		free, err := freeMB(a.cfg.DataDir)
		next := ""
		switch {
		case err != nil:
			a.log.Warn("free disk space unknown", "data", a.cfg.DataDir, "err", err)
			next = state
		case free < a.cfg.Storage.StopFreeMB:
			next = "stop"
		case free < a.cfg.Storage.WarnFreeMB:
			next = "warn"
		}
		if next != state {
			detail := fmt.Sprintf("%.1f MB free on the data disk (%s); the line stops below %v MB", free, a.cfg.DataDir, a.cfg.Storage.StopFreeMB)
			switch next {
			case "stop":
				st.Fault("disk", station.AlarmStorageLow, fmt.Errorf("%s", detail))
			case "warn":
				if state == "stop" {
					st.Fault("disk", "", nil)
				}
				st.Warn("disk", detail)
			default:
				if state == "stop" {
					st.Fault("disk", "", nil)
				}
				st.Warn("disk", "")
			}
			a.log.Info("data disk", "free_mb", free, "state", next)
			state = next
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
