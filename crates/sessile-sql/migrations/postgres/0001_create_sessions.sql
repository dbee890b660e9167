-- One row per session, addressed by the SHA-256 store key of its id (the raw id is never stored).
-- `expires_at` is the earlier of the two deadlines, kept by every write, so that liveness checks
-- and cleanup use one indexed column.
--
-- A template: the runner replaces {{table}} with the quoted, schema-qualified table name and
-- {{expires_at_index}} / {{user_id_index}} with quoted index names before running it.
CREATE TABLE IF NOT EXISTS {{table}} (
    "key"             bytea       NOT NULL PRIMARY KEY CHECK (octet_length("key") = 32),
    data              jsonb       NOT NULL CHECK (jsonb_typeof(data) = 'object'),
    user_id           text        NULL,
    created_at        timestamptz NOT NULL,
    last_seen         timestamptz NOT NULL,
    idle_deadline     timestamptz NOT NULL,
    absolute_deadline timestamptz NOT NULL,
    expires_at        timestamptz NOT NULL,
    persistent        boolean     NOT NULL DEFAULT false,
    device            jsonb       NOT NULL DEFAULT '{}'
);

CREATE INDEX IF NOT EXISTS {{expires_at_index}}
    ON {{table}} (expires_at);

CREATE INDEX IF NOT EXISTS {{user_id_index}}
    ON {{table}} (user_id)
    WHERE user_id IS NOT NULL;
