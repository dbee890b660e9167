-- One row per session, addressed by the SHA-256 store key of its id (the raw id is never stored).
-- Times are Unix milliseconds. `expires_at` is the earlier of the two deadlines, kept by every
-- write, so that liveness checks and cleanup use one indexed column.
--
-- A template: the runner replaces {{table}} with the quoted table name and
-- {{expires_at_index}} / {{user_id_index}} with quoted index names before running it.
CREATE TABLE IF NOT EXISTS {{table}} (
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

CREATE INDEX IF NOT EXISTS {{expires_at_index}}
    ON {{table}} (expires_at);

CREATE INDEX IF NOT EXISTS {{user_id_index}}
    ON {{table}} (user_id)
    WHERE user_id IS NOT NULL;
