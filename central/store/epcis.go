package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/serialine/serialine/shared/epcis"
	"github.com/serialine/serialine/shared/gs1"
	"github.com/serialine/serialine/shared/wire"
)

// EPCIS sources: where an event in the repository came from.
const (
	EPCISSourceCapture = "capture" // POST /epcis/capture
	EPCISSourceLine    = "line"    // projected from a line event
)

// Defaults and bounds of QueryEPCIS.
const (
	DefaultEPCISLimit = 1000
	MaxEPCISLimit     = 100_000
)

// SerialineNS is the namespace of Serialine's EPCIS extensions
// (serialine:reason on decommissioning events).
const SerialineNS = "https://serialine.dev/epcis/"

// EPCISCaptureError is a capture refused because events broke EPCIS 2.0 /
// CBV 2.0 rules; each problem names eventList[i].field. It matches
// ErrInvalid. Nothing of the capture was stored.
type EPCISCaptureError struct {
	Problems []*epcis.FieldError
}

func (e *EPCISCaptureError) Error() string {
	msgs := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		msgs[i] = p.Error()
	}
	return "EPCIS capture refused: " + strings.Join(msgs, "; ")
}

// Is makes errors.Is(err, ErrInvalid) true.
func (e *EPCISCaptureError) Is(target error) bool { return target == ErrInvalid }

// ValidateEPCISEvent checks one event as CaptureEPCIS does and returns
// its problems with Index set to index (nil when it is valid).
func ValidateEPCISEvent(index int, e epcis.Event) []*epcis.FieldError {
	var out []*epcis.FieldError
	if err := e.Validate(); err != nil {
		for _, x := range flatten(err) {
			var fe *epcis.FieldError
			if errors.As(x, &fe) {
				c := *fe
				c.Index = index
				out = append(out, &c)
			} else {
				out = append(out, &epcis.FieldError{Index: index, Field: "event", Rule: x.Error()})
			}
		}
		return out
	}
	if _, err := epcis.HashID(e); err != nil {
		out = append(out, &epcis.FieldError{Index: index, Field: "event", Rule: "has no event hash ID: " + err.Error()})
	}
	return out
}

func flatten(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, flatten(e)...)
		}
		return out
	}
	return []error{err}
}

// CaptureResult says what a capture did.
type CaptureResult struct {
	// CaptureID names the capture; every event it stored carries it.
	CaptureID string `json:"captureID"`
	// Stored is the number of events new to the repository.
	Stored int `json:"stored"`
	// Duplicates is the number of events already stored (same event hash
	// ID, also when sent earlier by another partner or in another binding).
	Duplicates int `json:"duplicates"`
	// HashIDs is the event hash ID of each event, in input order.
	HashIDs []string `json:"eventHashIDs"`
}

// CaptureEPCIS stores events in one transaction: every event is validated
// (EPCIS 2.0 structure, CBV 2.0 values, EPC syntax) and, if any is
// invalid, nothing is stored and the error is an *EPCISCaptureError
// listing every problem. Events whose hash ID is already stored are
// counted as duplicates and skipped. The record time is the store's clock.
func (s *Store) CaptureEPCIS(ctx context.Context, events []epcis.Event) (CaptureResult, error) {
	res := CaptureResult{CaptureID: newCaptureID(), HashIDs: make([]string, len(events))}
	var problems []*epcis.FieldError
	for i, e := range events {
		problems = append(problems, ValidateEPCISEvent(i, e)...)
	}
	if len(problems) > 0 {
		return CaptureResult{}, &EPCISCaptureError{Problems: problems}
	}
	rows := make([]epcisRow, len(events))
	rec := now()
	for i, e := range events {
		r, err := newEPCISRow(e, rec, EPCISSourceCapture, res.CaptureID)
		if err != nil {
			return CaptureResult{}, &EPCISCaptureError{Problems: []*epcis.FieldError{{Index: i, Field: "event", Rule: err.Error()}}}
		}
		rows[i] = r
		res.HashIDs[i] = r.hash
	}
	err := s.write(ctx, func(tx dbtx) error {
		stored, err := insertEPCIS(ctx, tx, rows)
		res.Stored, res.Duplicates = stored, len(rows)-stored
		return err
	})
	if err != nil {
		return CaptureResult{}, fmt.Errorf("EPCIS capture %s: %w", res.CaptureID, err)
	}
	s.log.Info("EPCIS captured", "capture", res.CaptureID, "stored", res.Stored, "duplicates", res.Duplicates)
	return res, nil
}

func newCaptureID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// epcisRow is one event ready to insert.
type epcisRow struct {
	hash, typ, action, bizStep, disp, bizLoc, readPoint string
	eventTime, recordTime                               time.Time
	source, ref                                         string
	doc                                                 string
	epcs                                                []epcRef
}

type epcRef struct{ epc, role string }

func newEPCISRow(e epcis.Event, rec time.Time, source, ref string) (epcisRow, error) {
	h, err := epcis.HashID(e)
	if err != nil {
		return epcisRow{}, err
	}
	if e.RecordTime == nil {
		e.RecordTime = &rec
	}
	b, err := epcis.MarshalJSONLD(epcis.Document{CreationDate: rec, Events: []epcis.Event{e}})
	if err != nil {
		return epcisRow{}, err
	}
	r := epcisRow{hash: h, typ: string(e.Type), action: e.Action, bizStep: normBizStep(e.BizStep), disp: normDisposition(e.Disposition),
		bizLoc: canonicalEPC(e.BizLocation), readPoint: canonicalEPC(e.ReadPoint), eventTime: ts(e.EventTime), recordTime: ts(rec),
		source: source, ref: ref, doc: string(b)}
	seen := map[epcRef]bool{}
	add := func(role string, l ...string) {
		for _, x := range l {
			if x == "" {
				continue
			}
			k := epcRef{canonicalEPC(x), role}
			if !seen[k] {
				seen[k] = true
				r.epcs = append(r.epcs, k)
			}
		}
	}
	add("epc", e.EPCList...)
	add("child", e.ChildEPCs...)
	add("parent", e.ParentID)
	add("input", e.InputEPCList...)
	add("output", e.OutputEPCList...)
	return r, nil
}

// insertEPCIS inserts rows whose hash ID is new and returns how many.
func insertEPCIS(ctx context.Context, tx dbtx, rows []epcisRow) (int, error) {
	stored := 0
	var epcRows [][]any
	for _, r := range rows {
		var id int64
		err := tx.queryRow(ctx, `INSERT INTO epcis_events (hash_id, event_type, event_time, record_time, action, biz_step,
			disposition, biz_location, read_point, source, source_ref, event)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
			ON CONFLICT (hash_id) DO NOTHING RETURNING id`,
			r.hash, r.typ, r.eventTime, r.recordTime, r.action, r.bizStep, r.disp, r.bizLoc, r.readPoint, r.source, r.ref, r.doc).Scan(&id)
		if isNoRows(err) {
			continue // stored before: a duplicate
		}
		if err != nil {
			return stored, fmt.Errorf("event %s: %w", r.hash, err)
		}
		stored++
		for _, x := range r.epcs {
			epcRows = append(epcRows, []any{id, x.epc, x.role})
		}
	}
	if err := tx.copyRows(ctx, "epcis_event_epcs", []string{"event_id", "epc", "role"}, epcRows); err != nil {
		return stored, fmt.Errorf("EPC index: %w", err)
	}
	return stored, nil
}

// CBV prefixes stripped to the bare form the repository keeps.
var (
	bizStepPrefixes = []string{"urn:epcglobal:cbv:bizstep:", "https://ref.gs1.org/cbv/BizStep-", "https://ref.gs1.org/cbv/Bizstep-", "https://ns.gs1.org/cbv/BizStep-", "https://gs1.org/voc/BizStep-", "cbv:BizStep-"}
	dispPrefixes    = []string{"urn:epcglobal:cbv:disp:", "https://ref.gs1.org/cbv/Disp-", "https://ns.gs1.org/cbv/Disp-", "https://gs1.org/voc/Disp-", "cbv:Disp-"}
)

func stripPrefixes(s string, prefixes []string) string {
	s = strings.TrimSpace(s)
	for _, p := range prefixes {
		if strings.HasPrefix(s, p) {
			return s[len(p):]
		}
	}
	return s
}

func normBizStep(s string) string     { return stripPrefixes(s, bizStepPrefixes) }
func normDisposition(s string) string { return stripPrefixes(s, dispPrefixes) }

// canonicalEPC writes a GS1 identifier, given as an EPC URI (sgtin, sscc,
// sgln) or a GS1 Digital Link URI, as a Digital Link URI on id.gs1.org with
// its key and serial/extension only, so that either spelling matches the
// other. Anything else is kept as written.
func canonicalEPC(s string) string {
	s = strings.TrimSpace(s)
	const base = "https://id.gs1.org/"
	switch {
	case s == "":
		return ""
	case strings.HasPrefix(s, gs1.SGTINURIPrefix):
		if g, sn, err := gs1.ParseSGTINURI(s); err == nil {
			return base + "01/" + string(g) + "/21/" + url.PathEscape(sn)
		}
	case strings.HasPrefix(s, "urn:epc:id:sscc:"):
		if c, err := gs1.ParseSSCCURI(s); err == nil {
			return base + "00/" + string(c)
		}
	case strings.HasPrefix(s, "urn:epc:id:sgln:"):
		if g, ext, err := gs1.ParseSGLNURI(s); err == nil {
			if ext == "" || ext == "0" {
				return base + "414/" + string(g)
			}
			return base + "414/" + string(g) + "/254/" + url.PathEscape(ext)
		}
	case strings.HasPrefix(s, "http://"), strings.HasPrefix(s, "https://"):
		es, err := gs1.ParseDigitalLink(s)
		if err != nil {
			return s
		}
		m := es.Map()
		switch {
		case m["01"] != "" && m["21"] != "":
			return base + "01/" + m["01"] + "/21/" + url.PathEscape(m["21"])
		case m["00"] != "":
			return base + "00/" + m["00"]
		case m["414"] != "":
			if ext := m["254"]; ext != "" && ext != "0" {
				return base + "414/" + m["414"] + "/254/" + url.PathEscape(ext)
			}
			return base + "414/" + m["414"]
		}
	}
	return s
}

// CanonicalEPC is the form in which the repository indexes an EPC (see
// QueryEPCIS): exported for callers that compare EPCs the same way.
func CanonicalEPC(s string) string { return canonicalEPC(s) }

// EPCISQuery selects events; within a field the values are alternatives
// (OR), fields combine with AND. Zero fields select everything.
type EPCISQuery struct {
	EventTypes   []string // EQ_eventType: ObjectEvent, AggregationEvent, …
	BizSteps     []string // EQ_bizStep: bare, URN or web-URI CBV forms
	Dispositions []string // EQ_disposition: bare, URN or web-URI CBV forms
	BizLocations []string // EQ_bizLocation: SGLN URI or Digital Link
	MatchEPC     []string // MATCH_epc: in epcList or childEPCs
	MatchAnyEPC  []string // MATCH_anyEPC: in epcList, childEPCs, parentID, inputEPCList or outputEPCList
	GEEventTime  time.Time
	LTEventTime  time.Time
	// Limit caps the events returned (0: DefaultEPCISLimit; at most MaxEPCISLimit).
	Limit int
	// SkipLineSync leaves out bringing the projection of line events up to
	// date first: for callers that only look for captured events.
	SkipLineSync bool
}

// QueryEPCIS returns the events that match q, oldest event time first:
// captured ones and the EPCIS form of central's own line events (which
// it first brings up to date, see SyncLineEPCIS).
func (s *Store) QueryEPCIS(ctx context.Context, q EPCISQuery) ([]epcis.Event, error) {
	limit := q.Limit
	if limit <= 0 {
		limit = DefaultEPCISLimit
	}
	if limit > MaxEPCISLimit {
		return nil, invalid("EPCIS query", "limit", "at most %d, got %d", MaxEPCISLimit, limit)
	}
	if !q.SkipLineSync {
		if err := s.SyncLineEPCIS(ctx); err != nil {
			return nil, err
		}
	}
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
		args = append(args, s.d.listArg(v))
		where = append(where, col+" "+s.d.inList(len(args), "text"))
	}
	same := func(x string) string { return strings.TrimSpace(x) }
	list("e.event_type", q.EventTypes, same)
	list("e.biz_step", q.BizSteps, normBizStep)
	list("e.disposition", q.Dispositions, normDisposition)
	list("e.biz_location", q.BizLocations, canonicalEPC)
	epcMatch := func(vals []string, roles string) {
		if len(vals) == 0 {
			return
		}
		v := make([]string, len(vals))
		for i, x := range vals {
			v[i] = canonicalEPC(x)
		}
		args = append(args, s.d.listArg(v))
		cond := "x.epc " + s.d.inList(len(args), "text")
		if roles != "" {
			cond += " AND x.role IN (" + roles + ")"
		}
		where = append(where, "e.id IN (SELECT x.event_id FROM epcis_event_epcs x WHERE "+cond+")")
	}
	epcMatch(q.MatchEPC, "'epc', 'child'")
	epcMatch(q.MatchAnyEPC, "")
	if !q.GEEventTime.IsZero() {
		args = append(args, ts(q.GEEventTime))
		where = append(where, "e.event_time >= $"+strconv.Itoa(len(args)))
	}
	if !q.LTEventTime.IsZero() {
		args = append(args, ts(q.LTEventTime))
		where = append(where, "e.event_time < $"+strconv.Itoa(len(args)))
	}
	sqlq := "SELECT e.event FROM epcis_events e"
	if len(where) > 0 {
		sqlq += " WHERE " + strings.Join(where, " AND ")
	}
	sqlq += " ORDER BY e.event_time, e.id LIMIT " + strconv.Itoa(limit)
	var docs []string
	err := s.read(ctx, func(db dbtx) error {
		r, err := db.queryFresh(ctx, sqlq, args...)
		if err != nil {
			return err
		}
		defer r.Close()
		for r.Next() {
			var d string
			if err := r.Scan(&d); err != nil {
				return err
			}
			docs = append(docs, d)
		}
		return r.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("EPCIS query: %w", err)
	}
	out := make([]epcis.Event, 0, len(docs))
	for _, d := range docs {
		doc, err := epcis.ParseJSONLD([]byte(d))
		if err != nil || len(doc.Events) != 1 {
			return nil, fmt.Errorf("EPCIS query: a stored event does not parse: %v", err)
		}
		out = append(out, doc.Events[0])
	}
	return out, nil
}

// UnitEPCIS returns every EPCIS event naming the unit (gtin, serial) in
// any role, oldest first: its commissioning, aggregations,
// decommissioning, and partners' captured events.
func (s *Store) UnitEPCIS(ctx context.Context, gtin, serial string) ([]epcis.Event, error) {
	return s.QueryEPCIS(ctx, EPCISQuery{MatchAnyEPC: []string{"https://id.gs1.org/01/" + gtin + "/21/" + url.PathEscape(serial)}, Limit: MaxEPCISLimit})
}

// EPCISRecalled reports whether an event with disposition recalled names
// the unit's SGTIN (in epcList or childEPCs), e.g. one captured from the
// marketing-authorisation holder. It does not project line events (which
// never recall).
func (s *Store) EPCISRecalled(ctx context.Context, gtin, serial string) (bool, error) {
	var n int
	err := s.read(ctx, func(q dbtx) error {
		return q.queryRow(ctx, `SELECT COUNT(*) FROM epcis_event_epcs x JOIN epcis_events e ON e.id = x.event_id
			WHERE x.epc = $1 AND x.role IN ('epc', 'child') AND e.disposition = 'recalled'`,
			"https://id.gs1.org/01/"+gtin+"/21/"+url.PathEscape(serial)).Scan(&n)
	})
	if err != nil {
		return false, fmt.Errorf("recall of unit (01)%s(21)%s: %w", gtin, serial, err)
	}
	return n > 0, nil
}

// lineSyncBatch is how many seqs of a line one pass projects.
const lineSyncBatch = 5000

// SyncLineEPCIS projects the line events applied since the last call
// into EPCIS events (see the store README for the mapping): commissioned
// → ObjectEvent ADD commissioning/active with ILMD lot and expiry,
// decommissioned and voided → ObjectEvent DELETE, aggregated and
// disaggregated → AggregationEvent. Each line's cursor moves in the same
// transaction as the events it produced, so replicas and retries never
// project twice; QueryEPCIS calls it first.
func (s *Store) SyncLineEPCIS(ctx context.Context) error {
	type pending struct {
		line, inc string
		from, to  int64
	}
	var todo []pending
	err := s.read(ctx, func(q dbtx) error {
		// Each incarnation of a line's event store has its own seqs.
		r, err := q.query(ctx, `SELECT l.line_id, l.incarnation, COALESCE(c.seq, 0), l.applied_seq FROM line_incarnations l
			LEFT JOIN epcis_line_cursor c ON c.line_id = l.line_id AND c.incarnation = l.incarnation WHERE l.applied_seq > COALESCE(c.seq, 0)`)
		if err != nil {
			return err
		}
		defer r.Close()
		for r.Next() {
			var p pending
			if err := r.Scan(&p.line, &p.inc, &p.from, &p.to); err != nil {
				return err
			}
			todo = append(todo, p)
		}
		return r.Err()
	})
	if err != nil {
		return fmt.Errorf("EPCIS projection of line events: %w", err)
	}
	for _, p := range todo {
		for done := false; !done; {
			err := s.write(ctx, func(tx dbtx) error {
				var err error
				done, err = s.syncLine(ctx, tx, p.line, p.inc)
				return err
			})
			if err != nil {
				return fmt.Errorf("EPCIS projection of %s: %w", where(p.line, p.inc), err)
			}
		}
	}
	return nil
}

// syncLine projects up to lineSyncBatch seqs of one incarnation of a
// line; done says it is caught up.
func (s *Store) syncLine(ctx context.Context, tx dbtx, line, inc string) (done bool, err error) {
	if _, err := tx.exec(ctx, "INSERT INTO epcis_line_cursor (line_id, incarnation, seq) VALUES ($1, $2, 0) ON CONFLICT (line_id, incarnation) DO NOTHING", line, inc); err != nil {
		return false, err
	}
	var from, applied int64
	if err := tx.queryRow(ctx, "SELECT seq FROM epcis_line_cursor WHERE line_id = $1 AND incarnation = $2"+s.d.forUpdate(), line, inc).Scan(&from); err != nil {
		return false, err
	}
	if err := tx.queryRow(ctx, "SELECT applied_seq FROM line_incarnations WHERE line_id = $1 AND incarnation = $2", line, inc).Scan(&applied); err != nil {
		return false, err
	}
	to := min(applied, from+lineSyncBatch)
	if to <= from {
		return true, nil
	}
	r, err := tx.query(ctx, `SELECT gtin, serial, event_id, type, at, details FROM unit_history
		WHERE line_id = $1 AND incarnation = $2 AND seq > $3 AND seq <= $4 ORDER BY seq`, line, inc, from, to)
	if err != nil {
		return false, err
	}
	var hist []histRow
	for r.Next() {
		var h histRow
		var details string
		if err := r.Scan(&h.gtin, &h.serial, &h.eventID, &h.typ, &h.at, &details); err != nil {
			r.Close()
			return false, err
		}
		if err := json.Unmarshal([]byte(details), &h.d); err != nil {
			r.Close()
			return false, fmt.Errorf("history of %s event %s: %w", line, h.eventID, err)
		}
		h.at = h.at.UTC()
		hist = append(hist, h)
	}
	r.Close()
	if err := r.Err(); err != nil {
		return false, err
	}
	if len(hist) > 0 {
		p, err := s.newProjector(ctx, tx, line, hist)
		if err != nil {
			return false, err
		}
		rec := now()
		var rows []epcisRow
		for _, h := range hist {
			e, ok, err := p.event(h)
			if err != nil {
				return false, fmt.Errorf("line event %s: %w", h.eventID, err)
			}
			if !ok {
				continue
			}
			row, err := newEPCISRow(e, rec, EPCISSourceLine, h.eventID)
			if err != nil {
				return false, fmt.Errorf("line event %s: %w", h.eventID, err)
			}
			rows = append(rows, row)
		}
		if _, err := insertEPCIS(ctx, tx, rows); err != nil {
			return false, err
		}
	}
	if _, err := tx.exec(ctx, "UPDATE epcis_line_cursor SET seq = $1 WHERE line_id = $2 AND incarnation = $3", to, line, inc); err != nil {
		return false, err
	}
	return to >= applied, nil
}

type histRow struct {
	gtin, serial, eventID, typ string
	at                         time.Time
	d                          historyDetails
}

// projector turns history rows into EPCIS events with the master data
// they need: company prefix lengths and the line's site.
type projector struct {
	gcp     map[string]int // GTIN → company prefix length
	ssccGCP map[string]int // SSCC → company prefix length (its order's product)
	site    string         // the line's site GLN, "" when none
}

func (s *Store) newProjector(ctx context.Context, tx dbtx, line string, hist []histRow) (*projector, error) {
	p := &projector{gcp: map[string]int{}, ssccGCP: map[string]int{}}
	r, err := tx.query(ctx, "SELECT gtin, company_prefix_len FROM products")
	if err != nil {
		return nil, err
	}
	for r.Next() {
		var g string
		var n int
		if err := r.Scan(&g, &n); err != nil {
			r.Close()
			return nil, err
		}
		p.gcp[g] = n
	}
	r.Close()
	if err := r.Err(); err != nil {
		return nil, err
	}
	var site *string
	if err := tx.queryRow(ctx, "SELECT site_gln FROM lines WHERE id = $1", line).Scan(&site); err != nil && !isNoRows(err) {
		return nil, err
	}
	if site != nil {
		p.site = *site
	}
	var ssccs []string
	for _, h := range hist {
		if h.gtin == "" && !slices.Contains(ssccs, h.serial) {
			ssccs = append(ssccs, h.serial)
		}
	}
	if len(ssccs) > 0 {
		r, err := tx.queryFresh(ctx, `SELECT c.sscc, p.company_prefix_len FROM containers c
			JOIN work_orders w ON w.id = c.order_id JOIN products p ON p.gtin = w.gtin
			WHERE c.sscc `+s.d.inList(1, "text"), s.d.listArg(ssccs))
		if err != nil {
			return nil, err
		}
		for r.Next() {
			var c string
			var n int
			if err := r.Scan(&c, &n); err != nil {
				r.Close()
				return nil, err
			}
			p.ssccGCP[c] = n
		}
		r.Close()
		if err := r.Err(); err != nil {
			return nil, err
		}
	}
	return p, nil
}

func (p *projector) sgtin(gtin, serial string) (string, error) {
	n, ok := p.gcp[gtin]
	if !ok {
		return "", fmt.Errorf("GTIN %s: no product, so no company prefix length for its SGTIN", gtin)
	}
	return gs1.SGTINURI(gs1.GTIN(gtin), serial, n)
}

// sscc writes an SSCC URI; the company prefix length is that of the
// container's order's product, else of its first unit's, else 7.
func (p *projector) sscc(sscc string, children []string) (string, error) {
	n, ok := p.ssccGCP[sscc]
	if !ok {
		n = 7
		for _, c := range children {
			if ch, err := wire.ParseChild(c); err == nil && ch.GTIN != "" {
				if m, ok := p.gcp[ch.GTIN]; ok {
					n = m
					break
				}
			}
		}
	}
	return gs1.SSCCURI(gs1.SSCC(sscc), n)
}

// location is the line's site as an SGLN (extension 0), using the company
// prefix length of gtin's product.
func (p *projector) location(gtin string) string {
	if p.site == "" {
		return ""
	}
	n, ok := p.gcp[gtin]
	if !ok {
		return ""
	}
	u, err := gs1.SGLNURI(gs1.GLN(p.site), "0", n)
	if err != nil {
		return ""
	}
	return u
}

// event maps one history row; ok is false for rows that are not an EPCIS
// event of their own (the per-child rows of an aggregation).
func (p *projector) event(h histRow) (epcis.Event, bool, error) {
	e := epcis.Event{EventTime: h.at, EventTimeZoneOffset: "+00:00"}
	switch h.typ {
	case "commissioned", "decommissioned", "voided":
		if h.gtin == "" {
			return e, false, nil
		}
		epc, err := p.sgtin(h.gtin, h.serial)
		if err != nil {
			return e, false, err
		}
		e.Type, e.EPCList, e.BizLocation = epcis.ObjectEvent, []string{epc}, p.location(h.gtin)
		e.ReadPoint = e.BizLocation
		switch h.typ {
		case "commissioned":
			e.Action, e.BizStep, e.Disposition = epcis.ActionAdd, "commissioning", "active"
			e.ILMD = map[string]any{}
			if h.d.Lot != "" {
				e.ILMD["cbvmda:lotNumber"] = h.d.Lot
			}
			if h.d.Expiry != "" {
				t, err := gs1.ExpiryTime(h.d.Expiry)
				if err != nil {
					return e, false, fmt.Errorf("expiry: %w", err)
				}
				e.ILMD["cbvmda:itemExpirationDate"] = t.Format(time.DateOnly)
			}
		case "voided":
			e.Action, e.BizStep, e.Disposition = epcis.ActionDelete, "decommissioning", "inactive"
			e.Extensions = map[string]any{"serialine:reason": "voided"}
		default:
			e.Action, e.BizStep, e.Disposition = epcis.ActionDelete, "decommissioning", "inactive"
			switch h.d.Reason {
			case "sample":
				e.BizStep = "sampling"
			case "destroyed":
				e.BizStep, e.Disposition = "destroying", "destroyed"
			}
			if h.d.Reason != "" {
				e.Extensions = map[string]any{"serialine:reason": string(h.d.Reason)}
			}
		}
		if e.Extensions != nil {
			e.Namespaces = map[string]string{"serialine": SerialineNS}
		}
		return e, true, nil
	case "aggregated", "disaggregated":
		// One row per child and one for the parent; the parent's carries the event.
		if h.gtin != "" || h.d.Parent != "" {
			return e, false, nil
		}
		parent, err := p.sscc(h.serial, h.d.Children)
		if err != nil {
			return e, false, err
		}
		e.Type, e.ParentID = epcis.AggregationEvent, parent
		for _, c := range h.d.Children {
			ch, err := wire.ParseChild(c)
			if err != nil {
				return e, false, fmt.Errorf("child %q: %w", c, err)
			}
			var u string
			if ch.SSCC != "" {
				u, err = p.sscc(ch.SSCC, nil)
			} else {
				u, err = p.sgtin(ch.GTIN, ch.Serial)
				if e.BizLocation == "" {
					e.BizLocation = p.location(ch.GTIN)
					e.ReadPoint = e.BizLocation
				}
			}
			if err != nil {
				return e, false, err
			}
			e.ChildEPCs = append(e.ChildEPCs, u)
		}
		if h.typ == "aggregated" {
			e.Action, e.BizStep, e.Disposition = epcis.ActionAdd, "packing", "container_closed"
		} else {
			e.Action, e.BizStep, e.Disposition = epcis.ActionDelete, "unpacking", "container_open"
		}
		return e, true, nil
	}
	return e, false, nil
}
