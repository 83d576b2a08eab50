-- SSCC (AI 00) serial references for the lines' cases and pallets. An SSCC
-- is extension digit + GS1 Company Prefix + serial reference + check digit;
-- per company prefix and extension digit, next_ref is the high-water mark:
-- every serial reference below it has been granted and is never granted
-- again. Grants bump it with UPDATE ... RETURNING, atomic across replicas,
-- exactly like serial_counters.
CREATE TABLE sscc_counters (
    company_prefix TEXT NOT NULL,
    extension      INTEGER NOT NULL,
    next_ref       BIGINT NOT NULL DEFAULT 0,
    created_at     {{ts}} NOT NULL,
    PRIMARY KEY (company_prefix, extension)
);

-- One row per SSCC request, keyed by its request id: a retried request gets
-- the same range back and never allocates twice. [start_ref, start_ref +
-- count) is the serial reference range granted to the line.
CREATE TABLE sscc_grants (
    request_id     TEXT PRIMARY KEY,
    line_id        TEXT NOT NULL REFERENCES lines (id),
    company_prefix TEXT NOT NULL,
    extension      INTEGER NOT NULL,
    start_ref      BIGINT NOT NULL,
    count          BIGINT NOT NULL,
    created_at     {{ts}} NOT NULL
);
CREATE INDEX sscc_grants_range ON sscc_grants (company_prefix, extension, start_ref);
CREATE INDEX sscc_grants_line ON sscc_grants (line_id, created_at);
