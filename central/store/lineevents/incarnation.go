package lineevents

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/serialine/serialine/central/store/audit"
	"github.com/serialine/serialine/central/store/check"
	"github.com/serialine/serialine/central/store/sqldb"
	"github.com/serialine/serialine/shared/wire"
)

// A line's events are numbered per incarnation of its event store
// (wire.EventBatch.Incarnation): an edge that lost its data folder starts
// a new incarnation at seq 1 and central keeps one sequence per (line,
// incarnation). Batches without an incarnation belong to the legacy
// incarnation "".

// Replacement is an incarnation of a line's event store taking over from
// another: what central had of the one replaced when the new one first
// appeared. The old one's held events stay, and are applied if its missing
// events ever arrive.
type Replacement struct {
	Incarnation string    `json:"incarnation"` // the one replaced
	Seq         uint64    `json:"seq"`         // its highest contiguous seq applied then
	Held        int       `json:"held"`        // its events held behind gaps then
	Gaps        []SeqGap  `json:"gaps"`        // its gaps then
	At          time.Time `json:"at"`          // when central first saw the new incarnation
}

// Resolution is QA's disposition of an incarnation's takeover.
type Resolution struct {
	At   time.Time `json:"at"`
	By   string    `json:"by"`
	Note string    `json:"note"`
}

// IncarnationSeq is the sequence state of one incarnation of a line.
type IncarnationSeq struct {
	Incarnation string
	Current     bool     // the line's latest incarnation
	Acked       uint64   // highest contiguous seq committed
	Pending     []uint64 // seqs held behind a gap
	Gaps        []SeqGap
	// FirstSeen is when central first saw it; nil for the legacy
	// incarnation of a line from before incarnations were recorded.
	FirstSeen *time.Time
	Replaced  *Replacement // the incarnation it took over from, if any
	Resolved  *Resolution  // QA's disposition of that takeover
}

// LineSeq is the sequence state of a line: its current incarnation's at the
// top, every incarnation's in Incarnations (oldest first).
type LineSeq struct {
	Line         string
	Incarnation  string   // the current incarnation ("" for a line that names none)
	Acked        uint64   // highest contiguous seq committed, of the current incarnation
	Pending      []uint64 // its seqs held behind a gap
	Gaps         []SeqGap
	Incarnations []IncarnationSeq
}

// Current returns the state of the line's current incarnation.
func (ls LineSeq) Current() IncarnationSeq {
	for _, i := range ls.Incarnations {
		if i.Current {
			return i
		}
	}
	return IncarnationSeq{Incarnation: ls.Incarnation, Current: true}
}

// openIncarnation locks the line's seq row and returns the applied seq of
// the applier's incarnation. A new incarnation gets its row (create); when
// it takes over from a current one that has events, the takeover is
// recorded and audited. The result carries the incarnation and, until QA
// resolves it, what it replaced.
func (a *applier) openIncarnation(ctx context.Context, create bool) (uint64, error) {
	var current string
	var applied sql.NullInt64
	var firstSeen, resolvedAt sql.NullTime
	var rep struct {
		inc       sql.NullString
		gaps      string
		seq, held int64
	}
	// The line's row is the lock that serialises its batches, also across
	// replicas. On PostgreSQL the incarnation is read by a statement of its
	// own after the lock is held, so that it sees what the batch before
	// committed (read committed: a new snapshot per statement).
	err := a.tx.QueryRow(ctx, "SELECT incarnation FROM line_seq WHERE line_id = $1"+a.d.ForUpdate(), a.line).Scan(&current)
	if sqldb.IsNoRows(err) {
		return 0, fmt.Errorf("line %s: %w", a.line, sqldb.ErrNotFound)
	}
	if err != nil {
		return 0, fmt.Errorf("line %s: seq: %w", a.line, err)
	}
	if !a.incKnown {
		a.inc, a.incKnown = current, true // SkipGap of the current incarnation
	}
	a.current = current
	a.res.Incarnation = a.inc
	err = a.tx.QueryRow(ctx, `SELECT applied_seq, first_seen_at, replaced, replaced_seq, replaced_held, replaced_gaps, resolved_at
		FROM line_incarnations WHERE line_id = $1 AND incarnation = $2`, a.line, a.inc).
		Scan(&applied, &firstSeen, &rep.inc, &rep.seq, &rep.held, &rep.gaps, &resolvedAt)
	if err != nil && !sqldb.IsNoRows(err) {
		return 0, fmt.Errorf("%s: seq: %w", where(a.line, a.inc), err)
	}
	if err == nil {
		if rep.inc.Valid && !resolvedAt.Valid {
			r := &Replacement{Incarnation: rep.inc.String, Seq: uint64(rep.seq), Held: int(rep.held), Gaps: parseGaps(rep.gaps)}
			if firstSeen.Valid {
				r.At = firstSeen.Time.UTC()
			}
			a.res.Replaced = r
		}
		return uint64(applied.Int64), nil
	}
	if !create {
		return 0, fmt.Errorf("line %s: %w: incarnation %q", a.line, sqldb.ErrNotFound, a.inc)
	}
	return 0, a.newIncarnation(ctx, current)
}

// newIncarnation records the applier's incarnation, first seen now. When
// the line's current incarnation is another one with events, the new one
// replaces it.
func (a *applier) newIncarnation(ctx context.Context, current string) error {
	var r *Replacement
	if current != a.inc {
		var applied sql.NullInt64
		err := a.tx.QueryRow(ctx, "SELECT applied_seq FROM line_incarnations WHERE line_id = $1 AND incarnation = $2", a.line, current).Scan(&applied)
		if err != nil && !sqldb.IsNoRows(err) {
			return fmt.Errorf("line %s: incarnation %q: %w", a.line, current, err)
		}
		held, err := a.heldSeqs(ctx, current)
		if err != nil {
			return err
		}
		if applied.Int64 > 0 || len(held) > 0 {
			r = &Replacement{Incarnation: current, Seq: uint64(applied.Int64), Held: len(held), Gaps: gaps(uint64(applied.Int64), held), At: a.now}
		}
	}
	var rep Replacement
	var replaced *string // NULL: it replaced none
	if r != nil {
		rep, replaced = *r, &r.Incarnation
	}
	if _, err := a.tx.Exec(ctx, `INSERT INTO line_incarnations (line_id, incarnation, applied_seq, first_seen_at, replaced, replaced_seq, replaced_held, replaced_gaps)
		VALUES ($1, $2, 0, $3, $4, $5, $6, $7)`, a.line, a.inc, a.now, replaced, rep.Seq, rep.Held, formatGaps(rep.Gaps)); err != nil {
		return fmt.Errorf("line %s: incarnation %q: %w", a.line, a.inc, err)
	}
	if current != a.inc && (r != nil || a.inc != "") {
		// The line's latest incarnation. (A legacy "" appearing on a line
		// whose current incarnation never sent an event changes nothing.)
		if _, err := a.tx.Exec(ctx, "UPDATE line_seq SET incarnation = $2, applied_seq = 0 WHERE line_id = $1", a.line, a.inc); err != nil {
			return fmt.Errorf("line %s: seq: %w", a.line, err)
		}
		a.current = a.inc
	}
	if r == nil {
		return nil
	}
	a.res.Replaced = r
	a.replacedNow = true
	type state struct {
		Incarnation string `json:"incarnation"`
		AppliedSeq  uint64 `json:"applied_seq,omitempty"`
		Held        int    `json:"held,omitempty"`
		Gaps        string `json:"gaps,omitempty"`
	}
	return audit.Record(ctx, a.tx, "incarnation-replaced", "line_seq", a.line,
		state{Incarnation: r.Incarnation, AppliedSeq: r.Seq, Held: r.Held, Gaps: formatGaps(r.Gaps)},
		state{Incarnation: a.inc})
}

// heldSeqs returns the seqs held for an incarnation of the line, ascending.
func (a *applier) heldSeqs(ctx context.Context, inc string) ([]uint64, error) {
	out, err := sqldb.QueryAll(ctx, a.tx, "SELECT seq FROM pending_events WHERE line_id = $1 AND incarnation = $2 ORDER BY seq", []any{a.line, inc},
		func(r sqldb.Rows) (uint64, error) {
			var s uint64
			return s, r.Scan(&s)
		})
	if err != nil {
		return nil, fmt.Errorf("line %s: pending events: %w", a.line, err)
	}
	return out, nil
}

// saveSeq moves the incarnation's applied seq (and the line's mirror of
// its current incarnation's).
func (a *applier) saveSeq(ctx context.Context, applied uint64) error {
	if _, err := a.tx.Exec(ctx, "UPDATE line_incarnations SET applied_seq = $3 WHERE line_id = $1 AND incarnation = $2", a.line, a.inc, applied); err != nil {
		return fmt.Errorf("line %s: seq: %w", a.line, err)
	}
	if a.inc == a.current {
		if _, err := a.tx.Exec(ctx, "UPDATE line_seq SET applied_seq = $2 WHERE line_id = $1", a.line, applied); err != nil {
			return fmt.Errorf("line %s: seq: %w", a.line, err)
		}
	}
	return nil
}

// where names the line and, when it has one, the incarnation, for reasons.
func where(line, inc string) string {
	if inc == "" {
		return "line " + line
	}
	return "line " + line + " incarnation " + inc
}

// LineSeq returns the line's sequence state: what central has acked and
// which events wait behind which gaps, for every incarnation.
//
// It is long because it assembles one snapshot of every incarnation's seq, gaps and held
// events in one read transaction.
func (s *Records) LineSeq(ctx context.Context, line string) (LineSeq, error) {
	ls := LineSeq{Line: line}
	err := s.db.ReadTx(ctx, func(q sqldb.Tx) error {
		err := q.QueryRow(ctx, "SELECT incarnation, applied_seq FROM line_seq WHERE line_id = $1", line).Scan(&ls.Incarnation, &ls.Acked)
		if sqldb.IsNoRows(err) {
			return fmt.Errorf("line %s: %w", line, sqldb.ErrNotFound)
		}
		if err != nil {
			return err
		}
		ls.Incarnations, err = sqldb.QueryAll(ctx, q, `SELECT incarnation, applied_seq, first_seen_at, replaced, replaced_seq, replaced_held, replaced_gaps,
				resolved_at, resolved_by, resolution
			FROM line_incarnations WHERE line_id = $1`, []any{line},
			func(r sqldb.Rows) (IncarnationSeq, error) {
				var i IncarnationSeq
				var first, resolved sql.NullTime
				var rep Replacement
				var replaced sql.NullString
				var gapText string
				var res Resolution
				if err := r.Scan(&i.Incarnation, &i.Acked, &first, &replaced, &rep.Seq, &rep.Held, &gapText, &resolved, &res.By, &res.Note); err != nil {
					return i, err
				}
				i.FirstSeen = sqldb.NullTime(first)
				if replaced.Valid {
					rep.Incarnation = replaced.String
					rep.Gaps = parseGaps(gapText)
					if i.FirstSeen != nil {
						rep.At = *i.FirstSeen
					}
					i.Replaced = &rep
				}
				if resolved.Valid {
					res.At = resolved.Time.UTC()
					i.Resolved = &res
				}
				return i, nil
			})
		if err != nil {
			return err
		}
		type held struct {
			inc string
			seq uint64
		}
		pending, err := sqldb.QueryAll(ctx, q, "SELECT incarnation, seq FROM pending_events WHERE line_id = $1 ORDER BY incarnation, seq", []any{line},
			func(r sqldb.Rows) (held, error) {
				var h held
				return h, r.Scan(&h.inc, &h.seq)
			})
		if err != nil {
			return err
		}
		for _, p := range pending {
			for k := range ls.Incarnations {
				if ls.Incarnations[k].Incarnation == p.inc {
					ls.Incarnations[k].Pending = append(ls.Incarnations[k].Pending, p.seq)
				}
			}
		}
		return nil
	})
	if err != nil {
		if errors.Is(err, sqldb.ErrNotFound) {
			return ls, err
		}
		return ls, fmt.Errorf("line %s: seq: %w", line, err)
	}
	slices.SortStableFunc(ls.Incarnations, func(x, y IncarnationSeq) int {
		switch {
		case x.FirstSeen == nil && y.FirstSeen != nil:
			return -1
		case x.FirstSeen != nil && y.FirstSeen == nil:
			return 1
		case x.FirstSeen != nil && !x.FirstSeen.Equal(*y.FirstSeen):
			return x.FirstSeen.Compare(*y.FirstSeen)
		}
		return strings.Compare(x.Incarnation, y.Incarnation)
	})
	for k := range ls.Incarnations {
		i := &ls.Incarnations[k]
		i.Gaps = gaps(i.Acked, i.Pending)
		if i.Incarnation == ls.Incarnation {
			i.Current = true
			ls.Acked, ls.Pending, ls.Gaps = i.Acked, i.Pending, i.Gaps
		}
	}
	return ls, nil
}

// ResolveIncarnation records QA's disposition of an incarnation's takeover
// (the old incarnation's held events and unused serials have been seen
// to): the acks of the incarnation stop carrying what it replaced, so the
// line can clear its alarm. Audited.
func (s *Records) ResolveIncarnation(ctx context.Context, line, incarnation, note string) error {
	rec := "line " + line + " incarnation " + incarnation
	if err := check.Text(rec, "note", note, true); err != nil {
		return err
	}
	return s.db.Write(ctx, func(tx sqldb.Tx) error {
		var replaced sql.NullString
		var resolved sql.NullTime
		err := tx.QueryRow(ctx, "SELECT replaced, resolved_at FROM line_incarnations WHERE line_id = $1 AND incarnation = $2"+s.db.Dialect().ForUpdate(),
			line, incarnation).Scan(&replaced, &resolved)
		switch {
		case sqldb.IsNoRows(err):
			return fmt.Errorf("%s: %w", rec, sqldb.ErrNotFound)
		case err != nil:
			return fmt.Errorf("%s: %w", rec, err)
		case !replaced.Valid:
			return fmt.Errorf("%s: %w: it replaced no other incarnation", rec, sqldb.ErrState)
		case resolved.Valid:
			return fmt.Errorf("%s: %w: resolved already", rec, sqldb.ErrState)
		}
		at := sqldb.Now()
		if _, err := tx.Exec(ctx, "UPDATE line_incarnations SET resolved_at = $3, resolved_by = $4, resolution = $5 WHERE line_id = $1 AND incarnation = $2",
			line, incarnation, at, sqldb.ActorFrom(ctx), note); err != nil {
			return fmt.Errorf("%s: %w", rec, err)
		}
		type state struct {
			Incarnation string `json:"incarnation"`
			Replaced    string `json:"replaced"`
			Resolution  string `json:"resolution,omitempty"`
		}
		return audit.Record(ctx, tx, "incarnation-resolved", "line_seq", line,
			state{Incarnation: incarnation, Replaced: replaced.String}, state{Incarnation: incarnation, Replaced: replaced.String, Resolution: note})
	})
}

// formatGaps writes gaps as "3-5,9"; parseGaps reads it back.
func formatGaps(gs []SeqGap) string {
	parts := make([]string, len(gs))
	for i, g := range gs {
		parts[i] = g.String()
	}
	return strings.Join(parts, ",")
}

func parseGaps(s string) []SeqGap {
	var out []SeqGap
	for part := range strings.SplitSeq(s, ",") {
		from, to, found := strings.Cut(part, "-")
		f, err := strconv.ParseUint(from, 10, 64)
		if err != nil {
			continue
		}
		t := f
		if found {
			if t, err = strconv.ParseUint(to, 10, 64); err != nil {
				continue
			}
		}
		out = append(out, SeqGap{From: f, To: t})
	}
	return out
}

// eventDigest is the SHA-256 of an event's content, hex: a replayed event
// id whose digest differs is a conflict, not a duplicate. Fields are
// written tagged and only when set, so a field added to the contract
// later (zero in older events) leaves the digests of older events as they
// are; the time is the instant, whatever its zone.
func eventDigest(e *wire.Event) string {
	b := make([]byte, 0, 256)
	str := func(tag byte, s string) {
		if s != "" {
			b = append(b, tag)
			b = binary.AppendUvarint(b, uint64(len(s)))
			b = append(b, s...)
		}
	}
	num := func(tag byte, v uint64) {
		b = append(b, tag)
		b = binary.AppendUvarint(b, v)
	}
	str('i', e.ID)
	num('s', e.Seq)
	str('t', string(e.Type))
	if !e.At.IsZero() {
		b = append(b, 'a')
		b = binary.AppendVarint(b, e.At.Unix())
		b = binary.AppendUvarint(b, uint64(e.At.Nanosecond()))
	}
	str('o', e.Order)
	str('g', e.GTIN)
	str('n', e.Serial)
	str('l', e.Lot)
	str('x', e.Expiry)
	if e.Counter != nil {
		num('c', *e.Counter)
	}
	str('r', string(e.Reason))
	str('p', e.Parent)
	for _, c := range e.Children {
		str('h', c)
	}
	for _, r := range e.Ranges {
		num('R', r.Start)
		num('N', r.Count)
	}
	if c := e.Counts; c != nil {
		num('C', c.Granted)
		num('m', c.Commissioned)
		num('v', c.Voided)
		num('u', c.ReturnedUnused)
		keys := make([]string, 0, len(c.Decommissioned))
		for k := range c.Decommissioned {
			keys = append(keys, string(k))
		}
		slices.Sort(keys)
		for _, k := range keys {
			str('d', k)
			num('D', c.Decommissioned[wire.Reason(k)])
		}
	}
	str('O', e.Operator)
	if e.Allowance != 0 {
		num('A', e.Allowance)
	}
	str('T', e.Note)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}
