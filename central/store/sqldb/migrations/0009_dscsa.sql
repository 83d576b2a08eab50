-- DSCSA exchange with trading partners (issue 12): partner tokens, the
-- outbound queue, structured addresses, inbound receipts with their
-- exceptions, and QA investigations (quarantine).

-- A partner token is bound to the trading partner's GLN ('' for our own
-- people and systems).
ALTER TABLE api_tokens ADD COLUMN partner_gln TEXT NOT NULL DEFAULT '';

-- How documents reach a partner (partner_endpoints, 0005): HTTPS POST
-- with bearer, basic or client-certificate authentication. The secret
-- (bearer token or basic password) and the client key are write-only in
-- the API; ca_cert is the PEM bundle trusted for the partner's server
-- ('' = the system's roots).
ALTER TABLE partner_endpoints ADD COLUMN auth TEXT NOT NULL DEFAULT 'none';
ALTER TABLE partner_endpoints ADD COLUMN username TEXT NOT NULL DEFAULT '';
ALTER TABLE partner_endpoints ADD COLUMN secret TEXT NOT NULL DEFAULT '';
ALTER TABLE partner_endpoints ADD COLUMN client_cert TEXT NOT NULL DEFAULT '';
ALTER TABLE partner_endpoints ADD COLUMN client_key TEXT NOT NULL DEFAULT '';
ALTER TABLE partner_endpoints ADD COLUMN ca_cert TEXT NOT NULL DEFAULT '';

-- The outbound queue (outbound.go): one row per document to a partner,
-- by kind ('dscsa' now, 'fmd' later) and reference (the shipment). The
-- document is built at the first attempt and kept, so every retry and
-- resend sends the same bytes (the same instance identifier). A sender
-- claims a due row by a conditional UPDATE (state, lease): one sender per
-- row across replicas; a lease that ran out (the sender died) makes the
-- row due again.
CREATE TABLE outbound_messages (
    id              {{id}},
    kind            TEXT NOT NULL,
    ref             TEXT NOT NULL,
    partner_gln     TEXT NOT NULL REFERENCES trading_partners (gln),
    state           TEXT NOT NULL,                 -- pending | sending | delivered | failed
    attempts        INTEGER NOT NULL DEFAULT 0,
    armed_at        {{ts}} NOT NULL,               -- enqueued or resent: retries run for the give-up window from here
    next_attempt_at {{ts}},
    lease_owner     TEXT NOT NULL DEFAULT '',
    lease_until     {{ts}},
    document        {{bytes}},
    document_id     TEXT NOT NULL DEFAULT '',
    content_type    TEXT NOT NULL DEFAULT '',
    endpoint        TEXT NOT NULL DEFAULT '',
    last_status     INTEGER NOT NULL DEFAULT 0,
    last_summary    TEXT NOT NULL DEFAULT '',
    created_at      {{ts}} NOT NULL,
    updated_at      {{ts}} NOT NULL,
    delivered_at    {{ts}}
);
CREATE INDEX outbound_messages_due ON outbound_messages (state, next_attempt_at);
CREATE INDEX outbound_messages_ref ON outbound_messages (kind, ref);

-- Every attempt of a message: when, where, the partner's status and a
-- short summary of its answer (never the body).
CREATE TABLE outbound_attempts (
    message_id  BIGINT NOT NULL REFERENCES outbound_messages (id),
    n           INTEGER NOT NULL,
    at          {{ts}} NOT NULL,
    endpoint    TEXT NOT NULL,
    status      INTEGER NOT NULL,
    summary     TEXT NOT NULL,
    outcome     TEXT NOT NULL,                     -- delivered | retry | failed
    duration_ms BIGINT NOT NULL,
    sender      TEXT NOT NULL,
    PRIMARY KEY (message_id, n)
);

-- Structured addresses (street, city, state, postal code, country) for
-- sites, locations and partners, as DSCSA master data wants them. The
-- single line of before is kept in street: complete the other fields.
-- company_prefix_len (0: unknown) writes a GLN as an SGLN EPC URI.
ALTER TABLE sites ADD COLUMN street TEXT NOT NULL DEFAULT '';
ALTER TABLE sites ADD COLUMN city TEXT NOT NULL DEFAULT '';
ALTER TABLE sites ADD COLUMN state TEXT NOT NULL DEFAULT '';
ALTER TABLE sites ADD COLUMN postal_code TEXT NOT NULL DEFAULT '';
ALTER TABLE sites ADD COLUMN country TEXT NOT NULL DEFAULT '';
ALTER TABLE sites ADD COLUMN company_prefix_len INTEGER NOT NULL DEFAULT 0;
UPDATE sites SET street = address;
ALTER TABLE sites DROP COLUMN address;

ALTER TABLE trading_partners ADD COLUMN street TEXT NOT NULL DEFAULT '';
ALTER TABLE trading_partners ADD COLUMN city TEXT NOT NULL DEFAULT '';
ALTER TABLE trading_partners ADD COLUMN state TEXT NOT NULL DEFAULT '';
ALTER TABLE trading_partners ADD COLUMN postal_code TEXT NOT NULL DEFAULT '';
ALTER TABLE trading_partners ADD COLUMN country TEXT NOT NULL DEFAULT '';
ALTER TABLE trading_partners ADD COLUMN company_prefix_len INTEGER NOT NULL DEFAULT 0;
-- The EPCIS version the partner takes: 1.2 (GS1 US's DSCSA guideline) or 2.0.
ALTER TABLE trading_partners ADD COLUMN epcis_version TEXT NOT NULL DEFAULT '1.2';
UPDATE trading_partners SET street = address;
ALTER TABLE trading_partners DROP COLUMN address;

ALTER TABLE locations ADD COLUMN street TEXT NOT NULL DEFAULT '';
ALTER TABLE locations ADD COLUMN city TEXT NOT NULL DEFAULT '';
ALTER TABLE locations ADD COLUMN state TEXT NOT NULL DEFAULT '';
ALTER TABLE locations ADD COLUMN postal_code TEXT NOT NULL DEFAULT '';
ALTER TABLE locations ADD COLUMN country TEXT NOT NULL DEFAULT '';

-- A product's net content unit ("20 TABLET"): netContentDescription.
ALTER TABLE products ADD COLUMN pack_unit TEXT NOT NULL DEFAULT '';

-- Inbound DSCSA documents (receipts.go): one receipt per partner's
-- document (its instance identifier once per partner), the document kept
-- as received with the partner's TI and TS for 6 years (retain_until),
-- and what the receipt did to each unit.
CREATE TABLE receipts (
    id            {{id}},
    partner_gln   TEXT NOT NULL REFERENCES trading_partners (gln),
    receiver_gln  TEXT NOT NULL,
    document_id   TEXT NOT NULL,                   -- SBDH InstanceIdentifier
    epcis_version TEXT NOT NULL,
    affirmed      BOOLEAN NOT NULL,                -- the partner's transaction statement
    statement     TEXT NOT NULL DEFAULT '',
    summary       {{json}} NOT NULL,               -- the partner's TI: products, lots, shipping
    document      {{bytes}} NOT NULL,
    units         INTEGER NOT NULL DEFAULT 0,      -- received (new to us)
    returned      INTEGER NOT NULL DEFAULT 0,      -- ours, back from the partner
    containers    INTEGER NOT NULL DEFAULT 0,
    received_at   {{ts}} NOT NULL,
    retain_until  {{ts}} NOT NULL,
    received_by   TEXT NOT NULL
);
CREATE UNIQUE INDEX receipts_document ON receipts (partner_gln, document_id);

CREATE TABLE receipt_units (
    receipt_id BIGINT NOT NULL REFERENCES receipts (id),
    gtin       TEXT NOT NULL,
    serial     TEXT NOT NULL,
    outcome    TEXT NOT NULL,                      -- received | returned
    PRIMARY KEY (gtin, serial, receipt_id)
);
CREATE INDEX receipt_units_receipt ON receipt_units (receipt_id);

-- What a receipt found that does not add up (overage, shortage, unknown
-- serial, no transaction statement): kept and shown until QA resolves it.
CREATE TABLE dscsa_exceptions (
    id          {{id}},
    receipt_id  BIGINT REFERENCES receipts (id),
    kind        TEXT NOT NULL,
    gtin        TEXT NOT NULL DEFAULT '',
    serial      TEXT NOT NULL DEFAULT '',
    sscc        TEXT NOT NULL DEFAULT '',
    detail      TEXT NOT NULL,
    state       TEXT NOT NULL,                     -- open | resolved
    created_at  {{ts}} NOT NULL,
    resolved_at {{ts}},
    resolved_by TEXT NOT NULL DEFAULT '',
    resolution  TEXT NOT NULL DEFAULT ''
);
CREATE INDEX dscsa_exceptions_receipt ON dscsa_exceptions (receipt_id);
CREATE INDEX dscsa_exceptions_open ON dscsa_exceptions (state, created_at);

-- QA investigations of suspect product (investigations.go): on listed
-- units, a lot, or a container's units (resolved at opening). While open,
-- and for good when the product is found illegitimate, the units are
-- quarantined: heldSQL holds them (no picking, no shipping).
CREATE TABLE investigations (
    id         {{id}},
    scope      TEXT NOT NULL,                      -- units | lot | container
    gtin       TEXT NOT NULL DEFAULT '',
    lot        TEXT NOT NULL DEFAULT '',
    sscc       TEXT NOT NULL DEFAULT '',
    reason     TEXT NOT NULL,
    state      TEXT NOT NULL,                      -- open | cleared | illegitimate
    opened_at  {{ts}} NOT NULL,
    opened_by  TEXT NOT NULL,
    closed_at  {{ts}},
    closed_by  TEXT NOT NULL DEFAULT '',
    note       TEXT NOT NULL DEFAULT '',
    form_3911  {{json}}                            -- FDA Form 3911 notification data (illegitimate)
);
CREATE INDEX investigations_lot ON investigations (gtin, lot, state);

CREATE TABLE investigation_units (
    investigation_id BIGINT NOT NULL REFERENCES investigations (id),
    gtin             TEXT NOT NULL,
    serial           TEXT NOT NULL,
    PRIMARY KEY (gtin, serial, investigation_id)
);
CREATE INDEX investigation_units_investigation ON investigation_units (investigation_id);
