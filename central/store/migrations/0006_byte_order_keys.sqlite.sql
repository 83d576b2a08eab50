-- SQLite compares TEXT bytewise (BINARY) already: see the PostgreSQL
-- migration of this number.
SELECT 1;
