-- Web UI sessions: the browser holds a random session id, the database
-- only its hash, bound to the API token that signed in. Revoking the token
-- deletes its sessions; the server enforces the idle and absolute limits.
CREATE TABLE web_sessions (
    id_hash      TEXT PRIMARY KEY,
    token_id     TEXT NOT NULL REFERENCES api_tokens (id),
    created_at   {{ts}} NOT NULL,
    last_seen_at {{ts}} NOT NULL,
    expires_at   {{ts}} NOT NULL
);

CREATE INDEX web_sessions_token ON web_sessions (token_id);
CREATE INDEX web_sessions_expires ON web_sessions (expires_at);
