-- A session's own idle timeout in milliseconds ("remember me", or the shorter one of an
-- anonymous session); NULL for the manager's. Every write that moves idle_deadline uses it,
-- including the ones that never read the row (a touch, an increment). A nullable column at the
-- end: MySQL 8 and MariaDB add it in place (ALGORITHM=INSTANT), without copying the table.
ALTER TABLE {{table}} ADD COLUMN idle_timeout_ms BIGINT NULL;
