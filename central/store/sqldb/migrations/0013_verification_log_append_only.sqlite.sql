-- The verification log is the DSCSA record of every verification request
-- and answer: the database refuses to change or remove an entry.
CREATE TRIGGER verification_log_no_update BEFORE UPDATE ON verification_log
BEGIN
    SELECT RAISE(ABORT, 'verification_log is append-only (the DSCSA verification record): UPDATE refused');
END;

CREATE TRIGGER verification_log_no_delete BEFORE DELETE ON verification_log
BEGIN
    SELECT RAISE(ABORT, 'verification_log is append-only (the DSCSA verification record): DELETE refused');
END;
