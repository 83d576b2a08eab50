package epcisdb

import (
	"context"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/serialine/serialine/central/store/sqldb"
	"github.com/serialine/serialine/shared/epcis"
)

// EPCISQuery selects events; within a field the values are alternatives
// (OR), fields combine with AND. Zero fields select everything.
type EPCISQuery struct {
	EventTypes   []string // EQ_eventType: ObjectEvent, AggregationEvent, …
	EventIDs     []string // EQ_eventID
	BizSteps     []string // EQ_bizStep: bare, URN or web-URI CBV forms
	Dispositions []string // EQ_disposition: bare, URN or web-URI CBV forms
	BizLocations []string // EQ_bizLocation: SGLN URI or Digital Link
	ReadPoints   []string // EQ_readPoint: SGLN URI or Digital Link
	Actions      []string // EQ_action: ADD, OBSERVE, DELETE
	ErrorReasons []string // EQ_errorReason: bare, URN or web-URI CBV forms
	// ErrorDeclared (EXISTS_errorDeclaration) keeps only events marked by
	// an error declaration.
	ErrorDeclared bool
	MatchEPC      []string // MATCH_epc: in epcList or childEPCs
	MatchAnyEPC   []string // MATCH_anyEPC: in epcList, childEPCs, parentID, inputEPCList or outputEPCList
	MatchParentID []string // MATCH_parentID
	MatchInput    []string // MATCH_inputEPC
	MatchOutput   []string // MATCH_outputEPC
	MatchEPCClass []string // MATCH_epcClass: the epcClass of any quantity list
	GEEventTime   time.Time
	LTEventTime   time.Time
	GERecordTime  time.Time
	LTRecordTime  time.Time
	// Limit caps the events returned (0: DefaultEPCISLimit; at most MaxEPCISLimit).
	Limit int
	// SkipLineSync leaves out bringing the projection of line events up to
	// date first: for callers that only look for captured events.
	SkipLineSync bool
}

// EPCISOrder is the order of a paged query.
type EPCISOrder int

// Orders: by record time (the order the repository stored them in, so new
// events come last) or by event time; both break ties by storage order.
const (
	ByRecordTime EPCISOrder = iota
	ByEventTime
)

// EPCISCursor is where a page ends: the next page starts after it.
type EPCISCursor struct {
	EventTime time.Time // the last event's time (ByEventTime)
	ID        int64     // the last event's storage position
}

// EPCISPageRequest asks for one page of a query.
type EPCISPageRequest struct {
	Order EPCISOrder
	Desc  bool
	// After is where the previous page ended (nil: the first page).
	After *EPCISCursor
	// Size is the page size, 1 to MaxEPCISLimit.
	Size int
}

// EPCISPage is one page of events. Last is where it ends (nil when it is
// empty): the next page starts after it; More says whether one has events
// already.
type EPCISPage struct {
	Events []epcis.Event
	Last   *EPCISCursor
	More   bool
}

// where builds the conditions of q; args continues from $1.
func (s *Repository) where(q EPCISQuery) ([]string, []any) {
	var where []string
	var args []any
	list := func(col string, vals []string, norm func(string) string) {
		if len(vals) == 0 {
			return
		}
		v := make([]string, len(vals))
		for i, x := range vals {
			v[i] = norm(x)
		}
		args = append(args, s.db.Dialect().ListArg(v))
		where = append(where, col+" "+s.db.Dialect().InList(len(args), "text"))
	}
	same := strings.TrimSpace
	list("e.event_type", q.EventTypes, same)
	list("e.event_id", q.EventIDs, same)
	list("e.biz_step", q.BizSteps, normBizStep)
	list("e.disposition", q.Dispositions, normDisposition)
	list("e.biz_location", q.BizLocations, canonicalEPC)
	list("e.read_point", q.ReadPoints, canonicalEPC)
	list("e.action", q.Actions, same)
	list("e.error_reason", q.ErrorReasons, normErrorReason)
	if q.ErrorDeclared {
		where = append(where, "e.error_declared_at IS NOT NULL")
	}
	epcMatch := func(vals []string, roles string) {
		if len(vals) == 0 {
			return
		}
		v := make([]string, len(vals))
		for i, x := range vals {
			v[i] = canonicalEPC(x)
		}
		args = append(args, s.db.Dialect().ListArg(v))
		cond := "x.epc " + s.db.Dialect().InList(len(args), "text")
		if roles != "" {
			cond += " AND x.role IN (" + roles + ")"
		}
		where = append(where, "e.id IN (SELECT x.event_id FROM epcis_event_epcs x WHERE "+cond+")")
	}
	epcMatch(q.MatchEPC, "'epc', 'child'")
	epcMatch(q.MatchAnyEPC, "'epc', 'child', 'parent', 'input', 'output'")
	epcMatch(q.MatchParentID, "'parent'")
	epcMatch(q.MatchInput, "'input'")
	epcMatch(q.MatchOutput, "'output'")
	epcMatch(q.MatchEPCClass, "'class'")
	for _, t := range []struct {
		col, op string
		at      time.Time
	}{{"e.event_time", ">=", q.GEEventTime}, {"e.event_time", "<", q.LTEventTime},
		{"e.record_time", ">=", q.GERecordTime}, {"e.record_time", "<", q.LTRecordTime}} {
		if !t.at.IsZero() {
			args = append(args, sqldb.TS(t.at))
			where = append(where, t.col+" "+t.op+" $"+strconv.Itoa(len(args)))
		}
	}
	return where, args
}

// QueryEPCIS returns the events that match q, oldest event time first:
// captured ones and the EPCIS form of central's own line events (which
// it first brings up to date, see SyncLineEPCIS).
func (s *Repository) QueryEPCIS(ctx context.Context, q EPCISQuery) ([]epcis.Event, error) {
	limit := q.Limit
	if limit <= 0 {
		limit = DefaultEPCISLimit
	}
	if limit > MaxEPCISLimit {
		return nil, sqldb.Invalid("EPCIS query", "limit", "at most %d, got %d", MaxEPCISLimit, limit)
	}
	p, err := s.QueryEPCISPage(ctx, q, EPCISPageRequest{Order: ByEventTime, Size: limit})
	if err != nil {
		return nil, err
	}
	return p.Events, nil
}

// QueryEPCISPage returns one page of the events that match q (q.Limit is
// ignored) in the order asked, after the cursor of the previous page.
// Pages are stable while events are added: every event stored before the
// first page is returned exactly once over the pages, and ByRecordTime
// ascending also returns every event added meanwhile, at the end. Memory
// is bounded by the page size.
func (s *Repository) QueryEPCISPage(ctx context.Context, q EPCISQuery, pr EPCISPageRequest) (EPCISPage, error) {
	if pr.Size < 1 || pr.Size > MaxEPCISLimit {
		return EPCISPage{}, sqldb.Invalid("EPCIS query", "page size", "from 1 to %d, got %d", MaxEPCISLimit, pr.Size)
	}
	if !q.SkipLineSync {
		if err := s.sync(ctx); err != nil {
			return EPCISPage{}, err
		}
	}
	where, args := s.where(q)
	dir, cmp := "", ">"
	if pr.Desc {
		dir, cmp = " DESC", "<"
	}
	order := "e.id" + dir
	if pr.Order == ByEventTime {
		order = "e.event_time" + dir + ", e.id" + dir
	}
	if c := pr.After; c != nil {
		args = append(args, c.ID)
		n := strconv.Itoa(len(args))
		if pr.Order == ByEventTime {
			args = append(args, sqldb.TS(c.EventTime))
			m := strconv.Itoa(len(args))
			where = append(where, "(e.event_time "+cmp+" $"+m+" OR (e.event_time = $"+m+" AND e.id "+cmp+" $"+n+"))")
		} else {
			where = append(where, "e.id "+cmp+" $"+n)
		}
	}
	sqlq := "SELECT e.id, e.event_time, e.event_id, e.event FROM epcis_events e"
	if len(where) > 0 {
		sqlq += " WHERE " + strings.Join(where, " AND ")
	}
	sqlq += " ORDER BY " + order + " LIMIT " + strconv.Itoa(pr.Size+1)
	type row struct {
		id   int64
		at   time.Time
		evID string
		doc  string
	}
	var got []row
	err := s.db.Read(ctx, func(db sqldb.Tx) error {
		r, err := db.QueryFresh(ctx, sqlq, args...)
		if err != nil {
			return err
		}
		defer r.Close()
		for r.Next() {
			var x row
			if err := r.Scan(&x.id, &x.at, &x.evID, &x.doc); err != nil {
				return err
			}
			got = append(got, x)
		}
		return r.Err()
	})
	if err != nil {
		return EPCISPage{}, fmt.Errorf("EPCIS query: %w", err)
	}
	var page EPCISPage
	if len(got) > pr.Size {
		got, page.More = got[:pr.Size], true
	}
	if len(got) > 0 {
		last := got[len(got)-1]
		page.Last = &EPCISCursor{EventTime: last.at.UTC(), ID: last.id}
	}
	page.Events = make([]epcis.Event, len(got))
	for i, x := range got {
		e, err := ParseStoredEvent(x.doc)
		if err != nil {
			return EPCISPage{}, fmt.Errorf("EPCIS query: event %s: %w", x.evID, err)
		}
		if e.EventID == "" {
			e.EventID = x.evID
		}
		page.Events[i] = e
	}
	return page, nil
}

// EPCISEvent returns the event with eventID (sqldb.ErrNotFound when none).
func (s *Repository) EPCISEvent(ctx context.Context, eventID string) (epcis.Event, error) {
	p, err := s.QueryEPCISPage(ctx, EPCISQuery{EventIDs: []string{eventID}}, EPCISPageRequest{Size: 1})
	if err != nil {
		return epcis.Event{}, err
	}
	if len(p.Events) == 0 {
		return epcis.Event{}, fmt.Errorf("EPCIS event %s: %w", eventID, sqldb.ErrNotFound)
	}
	return p.Events[0], nil
}

// UnitEPCIS returns every EPCIS event naming the unit (gtin, serial) in
// any role, oldest first: its commissioning, aggregations,
// decommissioning, and partners' captured events.
func (s *Repository) UnitEPCIS(ctx context.Context, gtin, serial string) ([]epcis.Event, error) {
	return s.QueryEPCIS(ctx, EPCISQuery{MatchAnyEPC: []string{"https://id.gs1.org/01/" + gtin + "/21/" + url.PathEscape(serial)}, Limit: MaxEPCISLimit})
}

// EPCISRecalled reports whether an event with disposition recalled names
// the unit's SGTIN (in epcList or childEPCs), e.g. one captured from the
// marketing-authorisation holder. It does not project line events (which
// never recall).
func (s *Repository) EPCISRecalled(ctx context.Context, gtin, serial string) (bool, error) {
	var n int
	err := s.db.Read(ctx, func(q sqldb.Tx) error {
		return q.QueryRow(ctx, `SELECT COUNT(*) FROM epcis_event_epcs x JOIN epcis_events e ON e.id = x.event_id
			WHERE x.epc = $1 AND x.role IN ('epc', 'child') AND e.disposition = 'recalled'`,
			"https://id.gs1.org/01/"+gtin+"/21/"+url.PathEscape(serial)).Scan(&n)
	})
	if err != nil {
		return false, fmt.Errorf("recall of unit (01)%s(21)%s: %w", gtin, serial, err)
	}
	return n > 0, nil
}

// vocabCols are the columns EPCISVocabulary lists.
var vocabCols = map[string]string{"eventType": "event_type", "bizStep": "biz_step", "disposition": "disposition",
	"bizLocation": "biz_location", "readPoint": "read_point"}

// EPCISVocabulary lists the distinct values of kind (eventType, bizStep,
// disposition, bizLocation, readPoint or epc) in the repository, in
// order, up to n after the value after ("" from the first), and whether
// more follow. Values are in the repository's canonical form (bare CBV
// values, GS1 keys as Digital Link).
func (s *Repository) EPCISVocabulary(ctx context.Context, kind, after string, n int) ([]string, bool, error) {
	var q string
	if kind == "epc" {
		q = "SELECT DISTINCT epc FROM epcis_event_epcs WHERE role <> 'class' AND epc > $1 ORDER BY epc LIMIT " + strconv.Itoa(n+1)
	} else {
		col, ok := vocabCols[kind]
		if !ok {
			return nil, false, sqldb.Invalid("EPCIS vocabulary", "kind", "%q is not one of eventType, bizStep, disposition, bizLocation, readPoint, epc", kind)
		}
		q = "SELECT DISTINCT " + col + " FROM epcis_events WHERE " + col + " <> '' AND " + col + " > $1 ORDER BY " + col + " LIMIT " + strconv.Itoa(n+1)
	}
	if err := s.sync(ctx); err != nil {
		return nil, false, err
	}
	var out []string
	err := s.db.Read(ctx, func(db sqldb.Tx) error {
		r, err := db.Query(ctx, q, after)
		if err != nil {
			return err
		}
		defer r.Close()
		for r.Next() {
			var v string
			if err := r.Scan(&v); err != nil {
				return err
			}
			out = append(out, v)
		}
		return r.Err()
	})
	if err != nil {
		return nil, false, fmt.Errorf("EPCIS %s values: %w", kind, err)
	}
	more := len(out) > n
	if more {
		out = out[:n]
	}
	return out, more, nil
}
