package epcisapi

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/gorilla/websocket"

	"github.com/serialine/serialine/central/store/epcisdb"
	"github.com/serialine/serialine/shared/epcis"
)

// WebSocket subscriptions (GET /epcis/queries/{name}/events with Upgrade:
// websocket): with stream=true every new matching event, with schedule
// parameters (second, minute, …) the new matching events at each run
// (reportIfEmpty: an empty document too), as text messages holding an
// EPCISQueryDocument (JSON-LD). initialRecordTime starts earlier than now.
// The subscription lasts as long as the connection, and ends when the
// query is deleted.

func isUpgrade(r *http.Request) bool {
	return strings.EqualFold(r.Header.Get("Upgrade"), "websocket")
}

var upgrader = websocket.Upgrader{
	// A bearer token authenticates the request; no browser cookies do, so
	// any origin may connect.
	CheckOrigin: func(*http.Request) bool { return true },
}

// webSocket serves a WebSocket subscription to query name (q, parsed), as the
// comment above describes.
//
// It is long because the parameter checks, the upgrade and the delivery loop share the
// schedule, the cursor (last) and the connection for the connection's lifetime.
func (h *Handler) webSocket(w http.ResponseWriter, r *http.Request, name string, q Query) {
	v := r.URL.Query()
	for k := range v {
		if !contains(subscriptionParams, k) {
			subProblem(w, k, "a WebSocket subscription takes stream or a schedule (second, minute, hour, dayOfMonth, month, dayOfWeek), reportIfEmpty and initialRecordTime")
			return
		}
	}
	stream := v.Get("stream") == "true"
	sched := map[string]string{}
	for _, f := range scheduleFields {
		if v.Has(f.name) {
			sched[f.name] = v.Get(f.name)
		}
	}
	if stream == (len(sched) > 0) {
		subProblem(w, "stream", "give stream=true or a schedule, not both and not neither")
		return
	}
	var sch schedule
	if !stream {
		var err error
		if sch, err = parseSchedule(sched); err != nil {
			subProblem(w, "schedule", "%v", err)
			return
		}
	}
	start, err := timeOr(v.Get("initialRecordTime"), time.Time{})
	if err != nil {
		subProblem(w, "initialRecordTime", "%q is not an RFC 3339 time", v.Get("initialRecordTime"))
		return
	}
	var last int64
	if start.IsZero() {
		if last, err = h.Events.EPCISLastID(r.Context()); err != nil {
			h.internal(w, "subscribing", err)
			return
		}
	}
	conn, err := upgrader.Upgrade(w, r, nil)
	if err != nil {
		return // the upgrader answered
	}
	defer conn.Close()
	id := "ws-" + newID()
	h.log.Info("EPCIS WebSocket subscription", "query", name, "subscription", id)
	ctx, cancel := context.WithCancel(h.bg)
	defer cancel()
	go func() { // the client closes; reads also answer pings
		defer cancel()
		for {
			if _, _, err := conn.ReadMessage(); err != nil {
				return
			}
		}
	}()
	q.GERecordTime = start
	report := v.Get("reportIfEmpty") == "true"
	dropped := h.subs.droppedChan(name)
	var due time.Time
	if !stream {
		due, _ = sch.next(time.Now())
	}
	for {
		wake := h.subs.waitChan()
		if stream || !time.Now().Before(due) {
			sent := false
			for {
				p, err := h.Events.QueryEPCISPage(ctx, q.EPCISQuery, epcisdb.EPCISPageRequest{Order: epcisdb.ByRecordTime,
					After: &epcisdb.EPCISCursor{ID: last}, Size: deliveryBatch})
				if err != nil {
					return
				}
				if len(p.Events) == 0 && (stream || sent || !report) {
					break
				}
				b, err := epcis.MarshalQueryDocumentJSONLD(p.Events, name, id)
				if err != nil {
					return
				}
				_ = conn.SetWriteDeadline(time.Now().Add(webhookWait))
				if err := conn.WriteMessage(websocket.TextMessage, b); err != nil {
					return
				}
				sent = true
				if p.Last != nil {
					last = p.Last.ID
				}
				if !p.More {
					break
				}
			}
			if !stream {
				due, _ = sch.next(time.Now())
			}
		}
		wait := pollEvery
		if !stream {
			wait = min(wait, time.Until(due))
		}
		timer := time.NewTimer(max(wait, 10*time.Millisecond))
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case <-dropped:
			timer.Stop()
			_ = conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, "query deleted"), time.Now().Add(time.Second))
			return
		case <-wake:
		case <-timer.C:
		}
		timer.Stop()
	}
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}
