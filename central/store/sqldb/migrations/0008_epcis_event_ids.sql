-- EPCIS 2.0 event IDs, error declarations and paging (issue 13).
-- event_id: the capturer's eventID, or the CBV 2.0 event hash ID when the
-- event came without one (rows stored before: their hash ID). An event
-- captured again with an errorDeclaration marks the stored one:
-- error_reason (bare CBV value or URI, '' when none) and error_declared_at.
ALTER TABLE epcis_events ADD COLUMN event_id TEXT NOT NULL DEFAULT '';
ALTER TABLE epcis_events ADD COLUMN error_reason TEXT NOT NULL DEFAULT '';
ALTER TABLE epcis_events ADD COLUMN error_declared_at {{ts}};
UPDATE epcis_events SET event_id = hash_id;
CREATE UNIQUE INDEX epcis_events_event_id ON epcis_events (event_id);
CREATE INDEX epcis_events_error ON epcis_events (error_reason, id);
CREATE INDEX epcis_events_type ON epcis_events (event_type, id);
CREATE INDEX epcis_events_biz_step_id ON epcis_events (biz_step, id);
CREATE INDEX epcis_events_read_point ON epcis_events (read_point, id);

-- The line's own SGLN (EPC URI or GS1 Digital Link), the readPoint of the
-- EPCIS events its units make; '' when not configured (the site's SGLN is
-- used, as bizLocation).
ALTER TABLE lines ADD COLUMN read_point TEXT NOT NULL DEFAULT '';

-- Capture jobs of the REST binding (POST /epcis/capture answers 202 and a
-- job to poll). A job still running when central stops is closed at the
-- next start as failed: its events are stored with the job in one
-- transaction, so none of them was.
CREATE TABLE epcis_capture_jobs (
    id          {{id}},
    capture_id  TEXT NOT NULL UNIQUE,
    created_at  {{ts}} NOT NULL,
    finished_at {{ts}},
    running     BOOLEAN NOT NULL,
    success     BOOLEAN NOT NULL,
    behaviour   TEXT NOT NULL,                     -- rollback | proceed
    principal   TEXT NOT NULL DEFAULT '',          -- who captured
    events      INTEGER NOT NULL DEFAULT 0,        -- in the document
    stored      INTEGER NOT NULL DEFAULT 0,
    duplicates  INTEGER NOT NULL DEFAULT 0,
    declared    INTEGER NOT NULL DEFAULT 0,
    rejected    INTEGER NOT NULL DEFAULT 0,
    errors      {{json}} NOT NULL                  -- ["eventList[i].field: rule", …]
);

-- Named queries (POST /epcis/queries): a name and the query definition as
-- given (GS1's query language, validated against its schema).
CREATE TABLE epcis_queries (
    id          {{id}},
    name        TEXT NOT NULL UNIQUE,
    definition  {{json}} NOT NULL,
    created_at  {{ts}} NOT NULL,
    created_by  TEXT NOT NULL DEFAULT ''
);

-- Webhook subscriptions to named queries. Delivery state lives here so that
-- it survives a restart: last_id is the storage position of the last event
-- delivered (every event after it that matches goes out next, once), the
-- schedule's next run, and the retry state of a failing destination.
CREATE TABLE epcis_subscriptions (
    id              {{id}},
    subscription_id TEXT NOT NULL UNIQUE,
    query_name      TEXT NOT NULL REFERENCES epcis_queries (name),
    dest            TEXT NOT NULL,                 -- https URL
    secret          TEXT NOT NULL,                 -- the subscriber's, signs each delivery
    stream          BOOLEAN NOT NULL,
    schedule        {{json}} NOT NULL,             -- {"hour": "1", "minute": "5"}; {} for a stream
    report_if_empty BOOLEAN NOT NULL,
    initial_record_time {{ts}} NOT NULL,           -- events recorded before it are not sent
    created_at      {{ts}} NOT NULL,
    created_by      TEXT NOT NULL DEFAULT '',
    last_id         BIGINT NOT NULL DEFAULT 0,
    next_run        {{ts}},                        -- schedule: when it runs next
    attempts        INTEGER NOT NULL DEFAULT 0,    -- failed deliveries in a row
    next_attempt    {{ts}},                        -- after a failure: not before
    last_error      TEXT NOT NULL DEFAULT '',
    delivered       BIGINT NOT NULL DEFAULT 0      -- events delivered so far
);
CREATE INDEX epcis_subscriptions_query ON epcis_subscriptions (query_name);

-- Which central process delivers webhook subscriptions: one at a time, even
-- with replicas (a lease renewed while delivering, taken over when it lapses).
CREATE TABLE epcis_delivery_lease (
    name   TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    until  {{ts}} NOT NULL
);
