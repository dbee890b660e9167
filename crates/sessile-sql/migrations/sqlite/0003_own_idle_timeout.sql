-- A session's own idle timeout in milliseconds ("remember me", or the shorter one of an
-- anonymous session); NULL for the manager's. Every write that moves idle_deadline uses it,
-- including the ones that never read the row (a touch, an increment). Added in place: existing
-- rows keep NULL and so the timeout they had.
ALTER TABLE {{table}} ADD COLUMN idle_timeout_ms INTEGER NULL;
