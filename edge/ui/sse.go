package ui

import (
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/serialine/serialine/shared/httpjson"
)

// streamWriteTimeout is how long one event may take to be written: a
// screen that reads nothing for that long is gone.
const streamWriteTimeout = 30 * time.Second

// serveEvents streams the state as server-sent events: an "state" event
// at once and after every change of the line (at most one per MinPush),
// and a "heartbeat" event every Heartbeat carrying the signed-in
// operator, so an idle sign-out shows and dead connections are noticed.
// EventSource reconnects by itself.
func (u *UI) serveEvents(w http.ResponseWriter, r *http.Request) {
	fl, ok := w.(http.Flusher)
	if !ok {
		httpjson.Write(w, http.StatusInternalServerError, errBody{Error: "events: the server cannot stream"})
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	// The server's read and write timeouts (agent http_server) are for
	// requests and answers, not for a stream: the read deadline would end
	// it (the server cancels a request whose connection read fails), so
	// it goes, and each event gets a write deadline of its own.
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Time{})
	extend := func() { _ = rc.SetWriteDeadline(time.Now().Add(streamWriteTimeout)) }
	extend()

	send := func(event string, v any) bool {
		b, err := json.Marshal(v)
		if err != nil {
			u.log.Error("event not encoded", "event", event, "err", err)
			return true
		}
		extend()
		if _, err := fmt.Fprintf(w, "event: %s\ndata: %s\n\n", event, b); err != nil {
			return false
		}
		fl.Flush()
		return true
	}
	// The retry hint: reconnect quickly after an agent restart.
	if _, err := fmt.Fprint(w, "retry: 2000\n\n"); err != nil {
		return
	}
	hb := time.NewTicker(u.cfg.Heartbeat)
	defer hb.Stop()
	var hold *time.Timer // MinPush between pushes
	defer func() {
		if hold != nil {
			hold.Stop()
		}
	}()
	for {
		// Take the change channel before the state, so a change between
		// the two is not lost.
		changed := u.line.Changes()
		who, _ := u.signedIn(r, false)
		if !send("state", u.view(who)) {
			return
		}
		hold = time.NewTimer(u.cfg.MinPush)
	wait:
		for {
			select {
			case <-r.Context().Done():
				return
			case <-u.done:
				return
			case <-hb.C:
				who, _ := u.signedIn(r, false)
				if !send("heartbeat", map[string]any{"operator": who.Name, "role": who.Role, "at": u.cfg.Now()}) {
					return
				}
			case <-changed:
				select {
				case <-r.Context().Done():
					return
				case <-u.done:
					return
				case <-hold.C:
				}
				break wait
			}
		}
	}
}
