-- Serialine central: initial schema. One file for PostgreSQL and SQLite: the
-- migration runner replaces the type tokens ({{id}} identity primary key,
-- {{ts}} timestamp with time zone, {{json}} JSON document, {{bytes}} binary)
-- with each dialect's type. Times are written by the application in UTC.

CREATE TABLE products (
    gtin               TEXT PRIMARY KEY,
    name               TEXT NOT NULL,
    form               TEXT NOT NULL DEFAULT '',
    strength           TEXT NOT NULL DEFAULT '',
    pack_size          INTEGER NOT NULL DEFAULT 0,
    company_prefix_len INTEGER NOT NULL,
    ndc                TEXT NOT NULL DEFAULT '',
    national_numbers   {{json}} NOT NULL,          -- {"714": "...", ...}
    markets            {{json}} NOT NULL,          -- ["us-dscsa", "eu-fmd"]
    serial_scheme      {{json}} NOT NULL,          -- serials.Spec
    planned_volume     BIGINT NOT NULL DEFAULT 0,
    standard_cost      BIGINT NOT NULL DEFAULT 0,  -- minor units of currency
    currency           TEXT NOT NULL DEFAULT '',
    min_grade          TEXT NOT NULL DEFAULT '',
    created_at         {{ts}} NOT NULL,
    updated_at         {{ts}} NOT NULL
);

CREATE TABLE sites (
    gln        TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    address    TEXT NOT NULL DEFAULT '',
    created_at {{ts}} NOT NULL,
    updated_at {{ts}} NOT NULL
);

-- A location inside a site, identified by an SGLN: GLN + extension.
CREATE TABLE locations (
    gln        TEXT NOT NULL,
    extension  TEXT NOT NULL,
    site_gln   TEXT NOT NULL REFERENCES sites (gln),
    name       TEXT NOT NULL,
    created_at {{ts}} NOT NULL,
    updated_at {{ts}} NOT NULL,
    PRIMARY KEY (gln, extension)
);

CREATE TABLE lines (
    id                 TEXT PRIMARY KEY,
    site_gln           TEXT REFERENCES sites (gln),
    name               TEXT NOT NULL,
    mqtt_password_hash TEXT NOT NULL DEFAULT '',
    created_at         {{ts}} NOT NULL,
    updated_at         {{ts}} NOT NULL
);

CREATE TABLE trading_partners (
    gln        TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    address    TEXT NOT NULL DEFAULT '',
    licences   {{json}} NOT NULL,                  -- {"us-nj-wholesale": "1234", ...}
    created_at {{ts}} NOT NULL,
    updated_at {{ts}} NOT NULL
);

CREATE TABLE work_orders (
    id              TEXT PRIMARY KEY,
    gtin            TEXT NOT NULL REFERENCES products (gtin),
    lot             TEXT NOT NULL,
    expiry          TEXT NOT NULL,                 -- YYMMDD
    quantity        BIGINT NOT NULL,
    line_id         TEXT REFERENCES lines (id),
    state           TEXT NOT NULL,                 -- created | released | closed
    reported_counts {{json}},                      -- the line's reconciliation at order-closed
    created_at      {{ts}} NOT NULL,
    released_at     {{ts}},
    started_at      {{ts}},
    closed_at       {{ts}},
    updated_at      {{ts}} NOT NULL
);
CREATE INDEX work_orders_line ON work_orders (line_id, state);
CREATE INDEX work_orders_lot ON work_orders (gtin, lot);

-- The allocation high-water mark per GTIN: counters below next_counter have
-- been granted. Grants bump it with UPDATE ... RETURNING, atomic across replicas.
CREATE TABLE serial_counters (
    gtin         TEXT PRIMARY KEY REFERENCES products (gtin),
    next_counter BIGINT NOT NULL DEFAULT 0,
    list_size    BIGINT NOT NULL DEFAULT 0         -- list schemes: serials imported
);

-- Imported serial lists: position is the counter that grants the serial.
CREATE TABLE serial_lists (
    gtin     TEXT NOT NULL REFERENCES products (gtin),
    position BIGINT NOT NULL,
    serial   TEXT NOT NULL,
    PRIMARY KEY (gtin, position),
    UNIQUE (gtin, serial)
);

CREATE TABLE grants (
    request_id TEXT PRIMARY KEY,
    line_id    TEXT NOT NULL REFERENCES lines (id),
    order_id   TEXT NOT NULL REFERENCES work_orders (id),
    gtin       TEXT NOT NULL REFERENCES products (gtin),
    count      BIGINT NOT NULL,
    ranges     {{json}} NOT NULL,                  -- [{"start":..,"count":..}]
    created_at {{ts}} NOT NULL
);
CREATE INDEX grants_order ON grants (order_id);

-- One row per granted counter range [start_counter, end_counter), for the
-- "was this serial granted to this order and line" check.
CREATE TABLE grant_ranges (
    gtin          TEXT NOT NULL,
    start_counter BIGINT NOT NULL,
    end_counter   BIGINT NOT NULL,
    order_id      TEXT NOT NULL,
    line_id       TEXT NOT NULL,
    request_id    TEXT NOT NULL REFERENCES grants (request_id),
    PRIMARY KEY (gtin, start_counter)
);
CREATE INDEX grant_ranges_order ON grant_ranges (order_id, line_id);

-- Counter ranges handed back unused (serials-returned): never issued again.
CREATE TABLE returned_ranges (
    gtin          TEXT NOT NULL,
    start_counter BIGINT NOT NULL,
    end_counter   BIGINT NOT NULL,
    order_id      TEXT NOT NULL,
    line_id       TEXT NOT NULL,
    event_id      TEXT NOT NULL,
    PRIMARY KEY (gtin, start_counter)
);
CREATE INDEX returned_ranges_order ON returned_ranges (order_id);

-- Every serial that was used: commissioned, decommissioned or voided. Lot
-- and expiry are the order's (copied for reading); units of a lot are found
-- through work_orders_lot and units_order.
CREATE TABLE units (
    gtin       TEXT NOT NULL,
    serial     TEXT NOT NULL,
    counter    BIGINT,
    order_id   TEXT NOT NULL,
    lot        TEXT NOT NULL,
    expiry     TEXT NOT NULL,
    state      TEXT NOT NULL,                      -- commissioned | decommissioned | voided
    reason     TEXT NOT NULL DEFAULT '',
    line_id    TEXT NOT NULL,
    parent     TEXT NOT NULL DEFAULT '',           -- SSCC of the container, '' when none
    last_event TEXT NOT NULL,
    updated_at {{ts}} NOT NULL,
    PRIMARY KEY (gtin, serial)
);
CREATE INDEX units_order ON units (order_id, state, reason);
CREATE INDEX units_counter ON units (gtin, counter);
CREATE INDEX units_parent ON units (parent) WHERE parent <> '';

CREATE TABLE unit_history (
    gtin     TEXT NOT NULL,
    serial   TEXT NOT NULL,
    event_id TEXT NOT NULL,
    seq      BIGINT NOT NULL,
    type     TEXT NOT NULL,
    at       {{ts}} NOT NULL,
    line_id  TEXT NOT NULL,
    details  {{json}} NOT NULL,
    PRIMARY KEY (gtin, serial, event_id)
);

-- Containers (cases, pallets) by SSCC.
CREATE TABLE containers (
    sscc       TEXT PRIMARY KEY,
    parent     TEXT NOT NULL DEFAULT '',
    line_id    TEXT NOT NULL,
    order_id   TEXT NOT NULL DEFAULT '',
    created_at {{ts}} NOT NULL,
    updated_at {{ts}} NOT NULL
);
CREATE INDEX containers_parent ON containers (parent) WHERE parent <> '';

-- Every event id central has taken (applied or dead-lettered): apply once.
CREATE TABLE applied_events (
    event_id   TEXT PRIMARY KEY,
    line_id    TEXT NOT NULL,
    seq        BIGINT NOT NULL,
    outcome    TEXT NOT NULL,                      -- applied | dead-letter
    applied_at {{ts}} NOT NULL
);

-- Per line: every seq up to applied_seq has been applied or dead-lettered.
CREATE TABLE line_seq (
    line_id     TEXT PRIMARY KEY REFERENCES lines (id),
    applied_seq BIGINT NOT NULL DEFAULT 0
);

-- Events that arrived ahead of a gap in their line's seq, held until it fills.
CREATE TABLE pending_events (
    line_id     TEXT NOT NULL,
    seq         BIGINT NOT NULL,
    event_id    TEXT NOT NULL,
    payload     {{json}} NOT NULL,
    received_at {{ts}} NOT NULL,
    PRIMARY KEY (line_id, seq)
);

CREATE TABLE dead_letters (
    id          {{id}},
    received_at {{ts}} NOT NULL,
    topic       TEXT NOT NULL,
    line_id     TEXT NOT NULL DEFAULT '',
    event_id    TEXT NOT NULL DEFAULT '',
    seq         BIGINT NOT NULL DEFAULT 0,
    payload     {{bytes}} NOT NULL,
    reason      TEXT NOT NULL
);
CREATE INDEX dead_letters_line ON dead_letters (line_id, received_at);

-- Audit trail (21 CFR Part 11 §11.10(e)): append-only; see 0002.
CREATE TABLE audit_log (
    id        {{id}},
    at        {{ts}} NOT NULL,
    actor     TEXT NOT NULL,
    action    TEXT NOT NULL,
    entity    TEXT NOT NULL,
    entity_id TEXT NOT NULL,
    before    {{json}},
    after     {{json}}
);
CREATE INDEX audit_log_entity ON audit_log (entity, entity_id, at);
CREATE INDEX audit_log_at ON audit_log (at);

CREATE TABLE api_tokens (
    id         TEXT PRIMARY KEY,
    hash       TEXT NOT NULL UNIQUE,
    role       TEXT NOT NULL,
    name       TEXT NOT NULL,
    created_at {{ts}} NOT NULL,
    revoked_at {{ts}}
);
