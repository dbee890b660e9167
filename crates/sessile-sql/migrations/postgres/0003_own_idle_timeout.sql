-- A session's own idle timeout in milliseconds ("remember me", or the shorter one of an
-- anonymous session); NULL for the manager's. Every write that moves idle_deadline uses it,
-- including the ones that never read the row (a touch, an increment). A nullable column
-- without a default is added in place, without rewriting the table.
ALTER TABLE {{table}} ADD COLUMN IF NOT EXISTS idle_timeout_ms int8 NULL;
