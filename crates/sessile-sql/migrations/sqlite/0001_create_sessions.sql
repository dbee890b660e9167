-- One row per session, addressed by the SHA-256 store key of its id (the raw id is never stored).
-- Times are Unix milliseconds. `expires_at` is the earlier of the two deadlines, kept by every
-- write, so that liveness checks and cleanup use one indexed column.
CREATE TABLE IF NOT EXISTS sessile_sessions (
    "key"             BLOB    NOT NULL PRIMARY KEY CHECK (length("key") = 32),
    data              TEXT    NOT NULL CHECK (json_valid(data)),
    user_id           TEXT    NULL,
    created_at        INTEGER NOT NULL,
    last_seen         INTEGER NOT NULL,
    idle_deadline     INTEGER NOT NULL,
    absolute_deadline INTEGER NOT NULL,
    expires_at        INTEGER NOT NULL,
    persistent        INTEGER NOT NULL DEFAULT 0,
    device            TEXT    NOT NULL DEFAULT '{}'
);

CREATE INDEX IF NOT EXISTS sessile_sessions_expires_at
    ON sessile_sessions (expires_at);

CREATE INDEX IF NOT EXISTS sessile_sessions_user_id
    ON sessile_sessions (user_id)
    WHERE user_id IS NOT NULL;
