-- The audit trail is append-only (21 CFR Part 11 §11.10(e)).
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only (21 CFR Part 11 §11.10(e)): UPDATE refused');
END;

CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only (21 CFR Part 11 §11.10(e)): DELETE refused');
END;
