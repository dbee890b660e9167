-- One row per session, addressed by the SHA-256 store key of its id (the raw id is never stored).
-- `{{table}}` is replaced by the configured, validated and backquoted table name.
--
-- Times are Unix milliseconds in BIGINT, as in the SQLite schema: exact to the millisecond, free
-- of the session time zone (DATETIME has none, TIMESTAMP converts and ends in 2038), and the same
-- numbers the core computes with. `expires_at` is the earlier of the two deadlines, kept by every
-- write, so that liveness checks and cleanup use one indexed column.
--
-- `JSON` is MySQL's binary JSON type; on MariaDB it is an alias for LONGTEXT with a JSON_VALID
-- check. The indexes are declared inline because MySQL has no CREATE INDEX IF NOT EXISTS, and
-- MySQL DDL is not transactional: a single CREATE TABLE is what makes this step all-or-nothing.
-- `utf8mb4_bin` makes user ids compare exactly (no case or accent folding in the per-user index).
CREATE TABLE IF NOT EXISTS {{table}} (
    `key`             BINARY(32)   NOT NULL,
    data              JSON         NOT NULL,
    user_id           VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NULL,
    created_at        BIGINT       NOT NULL,
    last_seen         BIGINT       NOT NULL,
    idle_deadline     BIGINT       NOT NULL,
    absolute_deadline BIGINT       NOT NULL,
    expires_at        BIGINT       NOT NULL,
    persistent        BOOLEAN      NOT NULL DEFAULT FALSE,
    device            JSON         NOT NULL,
    PRIMARY KEY (`key`),
    INDEX sessile_expires_at (expires_at),
    INDEX sessile_user_id (user_id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
