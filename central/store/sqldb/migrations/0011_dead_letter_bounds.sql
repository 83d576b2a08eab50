-- Dead letters keep at most a prefix of a payload (maxDeadLetterPayload,
-- 64 KiB) with the payload's full size and SHA-256, so that a line cannot
-- fill central's disk with refused payloads. Rows from before 0008 are
-- measured, hashed and cut by Go code right after this file
-- (boundDeadLetters, in the same transaction).
ALTER TABLE dead_letters ADD COLUMN payload_size BIGINT NOT NULL DEFAULT 0;
ALTER TABLE dead_letters ADD COLUMN payload_sha256 TEXT NOT NULL DEFAULT '';
