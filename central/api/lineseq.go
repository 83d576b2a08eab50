package api

import (
	"net/http"
	"time"

	"github.com/serialine/serialine/central/store/lineevents"
	"github.com/serialine/serialine/shared/httpjson"
	"github.com/serialine/serialine/shared/wire"
)

func (a *api) getLineSeq(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	if err := wire.ValidateLine(id); err != nil {
		return badParam("id", "%v", err)
	}
	ls, err := a.Store.LineSeq(r.Context(), id)
	if err != nil {
		return err
	}
	httpjson.Write(w, http.StatusOK, newSeqOut(ls))
	return nil
}

// seqOut is a line's sequence state: every seq up to Acked is applied or
// dead-lettered; Held wait behind Gaps. The top-level fields are the
// current incarnation's of the line's event store; Incarnations has every
// incarnation's, oldest first, with what a new one replaced.
type seqOut struct {
	Line         string           `json:"line"`
	Incarnation  string           `json:"incarnation"`
	Acked        uint64           `json:"acked"`
	Held         []uint64         `json:"held"`
	Gaps         []gapOut         `json:"gaps"`
	Incarnations []incarnationOut `json:"incarnations"`
	// Applied and Lost are set by a skip-gap: events applied from the
	// held ones, and seqs declared lost (dead letters).
	Applied int `json:"applied,omitempty"`
	Lost    int `json:"lost,omitempty"`
}

type gapOut struct {
	From uint64 `json:"from"`
	To   uint64 `json:"to"`
}

// incarnationOut is one incarnation of a line's event store.
type incarnationOut struct {
	Incarnation string     `json:"incarnation"`
	Current     bool       `json:"current"`
	Acked       uint64     `json:"acked"`
	Held        []uint64   `json:"held"`
	Gaps        []gapOut   `json:"gaps"`
	FirstSeen   *time.Time `json:"first_seen,omitempty"`
	// Replaced is the incarnation this one took over from, with what
	// central had of it then (its acked seq, held events and gaps).
	Replaced *replacedOut           `json:"replaced,omitempty"`
	Resolved *lineevents.Resolution `json:"resolved,omitempty"`
}

type replacedOut struct {
	Incarnation string    `json:"incarnation"`
	Acked       uint64    `json:"acked"`
	Held        int       `json:"held"`
	Gaps        []gapOut  `json:"gaps"`
	At          time.Time `json:"at"`
}

func gapsOut(gs []lineevents.SeqGap) []gapOut {
	out := make([]gapOut, 0, len(gs))
	for _, g := range gs {
		out = append(out, gapOut{From: g.From, To: g.To})
	}
	return out
}

func newSeqOut(ls lineevents.LineSeq) seqOut {
	o := seqOut{Line: ls.Line, Incarnation: ls.Incarnation, Acked: ls.Acked, Held: append([]uint64{}, ls.Pending...), Gaps: gapsOut(ls.Gaps),
		Incarnations: make([]incarnationOut, 0, len(ls.Incarnations))}
	for _, i := range ls.Incarnations {
		io := incarnationOut{Incarnation: i.Incarnation, Current: i.Current, Acked: i.Acked, Held: append([]uint64{}, i.Pending...),
			Gaps: gapsOut(i.Gaps), FirstSeen: i.FirstSeen, Resolved: i.Resolved}
		if r := i.Replaced; r != nil {
			io.Replaced = &replacedOut{Incarnation: r.Incarnation, Acked: r.Seq, Held: r.Held, Gaps: gapsOut(r.Gaps), At: r.At}
		}
		o.Incarnations = append(o.Incarnations, io)
	}
	return o
}

// skipGapIn is an operator's decision that a line's missing events are
// lost for good (e.g. a replaced line PC): Through is the last seq to
// declare lost, Reason why. Incarnation names the incarnation of the
// line's event store whose gap it is; absent, the current one's.
type skipGapIn struct {
	Through     uint64  `json:"through"`
	Reason      string  `json:"reason"`
	Incarnation *string `json:"incarnation"`
}

func (a *api) skipGap(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	if err := wire.ValidateLine(id); err != nil {
		return badParam("id", "%v", err)
	}
	var in skipGapIn
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	if in.Through == 0 {
		return invalid("through", "the last seq to declare lost is required")
	}
	var res lineevents.ApplyResult
	var err error
	if in.Incarnation == nil {
		res, err = a.Store.SkipGap(r.Context(), id, in.Through, in.Reason)
	} else {
		res, err = a.Store.SkipGapIn(r.Context(), id, *in.Incarnation, in.Through, in.Reason)
	}
	if err != nil {
		return err
	}
	a.log.Warn("line events declared lost", "line", id, "incarnation", res.Incarnation, "through", in.Through, "acked", res.Acked, "reason", in.Reason)
	ls, err := a.Store.LineSeq(r.Context(), id)
	if err != nil {
		return err
	}
	out := newSeqOut(ls)
	out.Applied, out.Lost = res.Applied, res.DeadLettered
	httpjson.Write(w, http.StatusOK, out)
	return nil
}

// incarnationResolveIn is QA's disposition of an incarnation's takeover: what was
// done about the replaced incarnation's held events and unused serials.
type incarnationResolveIn struct {
	Note string `json:"note"`
}

func (a *api) resolveIncarnation(w http.ResponseWriter, r *http.Request) error {
	id, inc := r.PathValue("id"), r.PathValue("incarnation")
	if err := wire.ValidateLine(id); err != nil {
		return badParam("id", "%v", err)
	}
	var in incarnationResolveIn
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	if err := a.Store.ResolveIncarnation(r.Context(), id, inc, in.Note); err != nil {
		return err
	}
	a.log.Info("incarnation takeover resolved", "line", id, "incarnation", inc, "note", in.Note)
	ls, err := a.Store.LineSeq(r.Context(), id)
	if err != nil {
		return err
	}
	httpjson.Write(w, http.StatusOK, newSeqOut(ls))
	return nil
}
