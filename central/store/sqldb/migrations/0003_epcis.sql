-- EPCIS 2.0 repository: events captured from partners (POST /epcis/capture)
-- and the EPCIS form of central's own line events (projected from
-- unit_history; see epcis.go). One row per distinct event: the CBV 2.0
-- event hash ID is unique, so a partner resending an event is recognised.
CREATE TABLE epcis_events (
    id           {{id}},
    hash_id      TEXT NOT NULL UNIQUE,             -- ni:///sha-256;…?ver=CBV2.0
    event_type   TEXT NOT NULL,                    -- ObjectEvent, AggregationEvent, …
    event_time   {{ts}} NOT NULL,
    record_time  {{ts}} NOT NULL,
    action       TEXT NOT NULL DEFAULT '',
    biz_step     TEXT NOT NULL DEFAULT '',         -- bare CBV value or a private URI
    disposition  TEXT NOT NULL DEFAULT '',         -- bare CBV value or a private URI
    biz_location TEXT NOT NULL DEFAULT '',         -- canonical: GS1 Digital Link when a GS1 key
    read_point   TEXT NOT NULL DEFAULT '',         -- canonical, as biz_location
    source       TEXT NOT NULL,                    -- capture | line
    source_ref   TEXT NOT NULL DEFAULT '',         -- capture id, or the line event id
    event        {{json}} NOT NULL                 -- a one-event EPCISDocument in JSON-LD
);
CREATE INDEX epcis_events_time ON epcis_events (event_time, id);
CREATE INDEX epcis_events_biz_step ON epcis_events (biz_step, event_time);
CREATE INDEX epcis_events_disposition ON epcis_events (disposition, event_time);
CREATE INDEX epcis_events_biz_location ON epcis_events (biz_location, event_time);

-- The EPCs each event names, canonical (GS1 Digital Link on id.gs1.org for
-- GS1 keys, else as written), for MATCH_epc (roles epc, child) and
-- MATCH_anyEPC (every role).
CREATE TABLE epcis_event_epcs (
    event_id BIGINT NOT NULL REFERENCES epcis_events (id),
    epc      TEXT NOT NULL,
    role     TEXT NOT NULL,                        -- epc | child | parent | input | output
    PRIMARY KEY (epc, role, event_id)
);
CREATE INDEX epcis_event_epcs_event ON epcis_event_epcs (event_id);

-- Per line: every seq up to seq has been projected into epcis_events.
CREATE TABLE epcis_line_cursor (
    line_id TEXT PRIMARY KEY,
    seq     BIGINT NOT NULL DEFAULT 0
);

-- The projection reads a line's history by seq.
CREATE INDEX unit_history_line_seq ON unit_history (line_id, seq);
