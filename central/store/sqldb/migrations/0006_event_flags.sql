-- Events applied but flagged for QA: recorded like any other (nothing a
-- line made is dropped), and listed with the reason until QA records a
-- disposition (flags.go). flag is e.g. 'after-close' (made after central
-- closed its order) or 'future-time' (stamped ahead of central's clock).
CREATE TABLE event_flags (
    id          {{id}},
    event_id    TEXT NOT NULL,
    line_id     TEXT NOT NULL,
    order_id    TEXT NOT NULL DEFAULT '',
    flag        TEXT NOT NULL,
    detail      TEXT NOT NULL DEFAULT '',
    event_at    {{ts}} NOT NULL,
    flagged_at  {{ts}} NOT NULL,
    disposition TEXT NOT NULL DEFAULT '',
    disposed_by TEXT NOT NULL DEFAULT '',
    disposed_at {{ts}},
    note        TEXT NOT NULL DEFAULT '',
    UNIQUE (event_id, flag)
);
CREATE INDEX event_flags_order ON event_flags (order_id, flag);
CREATE INDEX event_flags_open ON event_flags (disposition, flagged_at);
