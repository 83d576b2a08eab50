-- Issue 14: LMVS verification (responder and requester) and the EU FMD
-- data set with its art. 40 status updates.

-- Every LMVS verification request central answered (direction 'in') or
-- sent for our returns desk (direction 'out'), with the answer: who asked
-- what, when, and what was answered. Kept as the DSCSA record (at least
-- 6 years); append-only (0013).
CREATE TABLE verification_log (
    id                 {{id}},
    at                 {{ts}} NOT NULL,
    direction          TEXT NOT NULL,             -- in | out
    actor              TEXT NOT NULL,             -- the credential (token and its partner) or our user
    partner_gln        TEXT NOT NULL DEFAULT '',  -- the requester's GLN by its credential (in), the responder's (out)
    req_gln            TEXT NOT NULL DEFAULT '',
    responder_gln      TEXT NOT NULL DEFAULT '',
    context            TEXT NOT NULL DEFAULT '',
    corr_uuid          TEXT NOT NULL DEFAULT '',
    check_connectivity BOOLEAN NOT NULL DEFAULT FALSE,
    gtin               TEXT NOT NULL DEFAULT '',
    serial             TEXT NOT NULL DEFAULT '',
    lot                TEXT NOT NULL DEFAULT '',
    expiry             TEXT NOT NULL DEFAULT '',
    request            TEXT NOT NULL,             -- the request as received or sent (path and query)
    status             INTEGER NOT NULL,          -- the HTTP status answered (in) or received (out); 0: no answer
    verified           INTEGER,                   -- 1, 0, or NULL when there was no verification answer
    failure_reason     TEXT NOT NULL DEFAULT '',
    additional_info    TEXT NOT NULL DEFAULT '',
    answer             TEXT NOT NULL DEFAULT '',  -- the answer's body (JSON) or the error said
    endpoint           TEXT NOT NULL DEFAULT '',  -- out: where it was sent
    remote             TEXT NOT NULL DEFAULT '',  -- in: the caller's address
    duration_us        BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX verification_log_at ON verification_log (at);
CREATE INDEX verification_log_unit ON verification_log (gtin, serial);

-- EU FMD product master data (Delegated Regulation 2016/161 art. 33(2)),
-- by product code version. The current version is the highest; a version
-- uploaded to the hub keeps its target markets (the hub refuses changes:
-- a new market list is a new version, and a batch belongs to one version).
CREATE TABLE fmd_products (
    gtin        TEXT NOT NULL REFERENCES products (gtin),
    version     INTEGER NOT NULL,
    data        {{json}} NOT NULL,
    created_at  {{ts}} NOT NULL,
    updated_at  {{ts}} NOT NULL,
    uploaded_at {{ts}},                        -- first queued for the hub; the data is frozen from then
    PRIMARY KEY (gtin, version)
);

-- Which product code version each batch (work order) was uploaded under.
CREATE TABLE fmd_batches (
    order_id    TEXT PRIMARY KEY REFERENCES work_orders (id),
    gtin        TEXT NOT NULL,
    lot         TEXT NOT NULL,
    version     INTEGER NOT NULL,
    uploaded_at {{ts}} NOT NULL
);

-- Art. 40 status updates: a recall, withdrawal, theft or destruction
-- decommissions the packs it covers in the repositories system; a
-- reversal (reverses = the update it undoes) reactivates them within the
-- window. The packs are fixed when the update is made.
CREATE TABLE fmd_status_updates (
    id               {{id}},
    kind             TEXT NOT NULL,            -- recall | withdrawal | theft | destruction | reversal
    gtin             TEXT NOT NULL,
    lot              TEXT NOT NULL DEFAULT '',
    recall_id        TEXT NOT NULL DEFAULT '',
    reason           TEXT NOT NULL,
    markets          TEXT NOT NULL DEFAULT '', -- JSON array of the Member States concerned
    packs            INTEGER NOT NULL,
    reverses         BIGINT,
    reversible_until {{ts}},
    reversed_by      BIGINT,
    created_at       {{ts}} NOT NULL,
    actor            TEXT NOT NULL
);
CREATE INDEX fmd_status_updates_gtin ON fmd_status_updates (gtin, lot);

CREATE TABLE fmd_status_packs (
    update_id BIGINT NOT NULL REFERENCES fmd_status_updates (id),
    gtin      TEXT NOT NULL,
    serial    TEXT NOT NULL,
    lot       TEXT NOT NULL,
    expiry    TEXT NOT NULL,
    PRIMARY KEY (update_id, gtin, serial)
);
CREATE INDEX fmd_status_packs_unit ON fmd_status_packs (gtin, serial);
