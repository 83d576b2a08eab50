-- Event-store incarnations (issue 15). A line's events are numbered per
-- incarnation of its event store: an edge restarted on an empty data
-- folder (a lost disk) starts a new incarnation whose seq starts at 1
-- again. Everything keyed by (line, seq) becomes (line, incarnation, seq).
-- The incarnation '' is a line that names none (an edge from before
-- incarnations): every line's existing state is migrated to it.

-- Per line and incarnation: every seq up to applied_seq has been applied
-- or dead-lettered. replaced* say which incarnation this one took over
-- from when it first appeared (NULL: none; '' is the legacy one), and what
-- that one had then; resolved_* are QA's disposition of that takeover.
CREATE TABLE line_incarnations (
    line_id        TEXT NOT NULL REFERENCES lines (id),
    incarnation    TEXT NOT NULL,
    applied_seq    BIGINT NOT NULL DEFAULT 0,
    first_seen_at  {{ts}},                          -- NULL: from before 0007
    replaced       TEXT,
    replaced_seq   BIGINT NOT NULL DEFAULT 0,
    replaced_held  BIGINT NOT NULL DEFAULT 0,
    replaced_gaps  TEXT NOT NULL DEFAULT '',
    resolved_at    {{ts}},
    resolved_by    TEXT NOT NULL DEFAULT '',
    resolution     TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (line_id, incarnation)
);
INSERT INTO line_incarnations (line_id, incarnation, applied_seq)
    SELECT line_id, '', applied_seq FROM line_seq;

-- line_seq stays the line's lock row. incarnation is the line's current
-- (latest) incarnation; applied_seq mirrors that one's.
ALTER TABLE line_seq ADD COLUMN incarnation TEXT NOT NULL DEFAULT '';

-- Apply once, by event id across all lines and incarnations. digest is the
-- SHA-256 of the event's content: a replay with other content is a
-- conflict ('' for events taken before 0007: not compared).
ALTER TABLE applied_events ADD COLUMN incarnation TEXT NOT NULL DEFAULT '';
ALTER TABLE applied_events ADD COLUMN digest TEXT NOT NULL DEFAULT '';

-- Held events, per incarnation. reason: why the event is invalid (its
-- payload is then wrapped; it is dead-lettered as it came in its turn).
CREATE TABLE pending_events_0007 (
    line_id     TEXT NOT NULL,
    incarnation TEXT NOT NULL DEFAULT '',
    seq         BIGINT NOT NULL,
    event_id    TEXT NOT NULL,
    digest      TEXT NOT NULL DEFAULT '',
    reason      TEXT NOT NULL DEFAULT '',
    payload     {{json}} NOT NULL,
    received_at {{ts}} NOT NULL,
    PRIMARY KEY (line_id, incarnation, seq)
);
INSERT INTO pending_events_0007 (line_id, incarnation, seq, event_id, payload, received_at)
    SELECT line_id, '', seq, event_id, payload, received_at FROM pending_events;
DROP TABLE pending_events;
ALTER TABLE pending_events_0007 RENAME TO pending_events;

ALTER TABLE unit_history ADD COLUMN incarnation TEXT NOT NULL DEFAULT '';
DROP INDEX unit_history_line_seq;
CREATE INDEX unit_history_line_seq ON unit_history (line_id, incarnation, seq);

-- The EPCIS projection's cursor, per incarnation.
CREATE TABLE epcis_line_cursor_0007 (
    line_id     TEXT NOT NULL,
    incarnation TEXT NOT NULL DEFAULT '',
    seq         BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (line_id, incarnation)
);
INSERT INTO epcis_line_cursor_0007 (line_id, incarnation, seq) SELECT line_id, '', seq FROM epcis_line_cursor;
DROP TABLE epcis_line_cursor;
ALTER TABLE epcis_line_cursor_0007 RENAME TO epcis_line_cursor;

ALTER TABLE dead_letters ADD COLUMN incarnation TEXT NOT NULL DEFAULT '';
