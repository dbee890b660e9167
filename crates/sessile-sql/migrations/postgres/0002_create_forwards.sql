-- Forward pointers that rotations leave under old keys (rotation grace): for a few seconds after
-- a rotation, a request still carrying the old id is served by the session under `target`.
-- `sealed_id` is the new id sealed under a key derived from the old id (the store cannot open
-- it); `until` is when the pointer lapses. Cleanup sweeps lapsed rows.
--
-- A template: the runner replaces {{forwards}} and {{forwards_until_index}} with quoted names.
CREATE TABLE IF NOT EXISTS {{forwards}} (
    "key"     bytea       NOT NULL PRIMARY KEY CHECK (octet_length("key") = 32),
    target    bytea       NOT NULL CHECK (octet_length(target) = 32),
    sealed_id bytea       NOT NULL,
    until     timestamptz NOT NULL
);

CREATE INDEX IF NOT EXISTS {{forwards_until_index}}
    ON {{forwards}} (until);
