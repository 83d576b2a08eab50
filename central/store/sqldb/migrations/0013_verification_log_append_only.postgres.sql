-- The verification log is the DSCSA record of every verification request
-- and answer: the database refuses to change or remove an entry.
CREATE FUNCTION verification_log_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'verification_log is append-only (the DSCSA verification record): % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$;

CREATE TRIGGER verification_log_no_update_delete
    BEFORE UPDATE OR DELETE ON verification_log
    FOR EACH ROW EXECUTE FUNCTION verification_log_append_only();

CREATE TRIGGER verification_log_no_truncate
    BEFORE TRUNCATE ON verification_log
    FOR EACH STATEMENT EXECUTE FUNCTION verification_log_append_only();
