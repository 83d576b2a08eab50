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
