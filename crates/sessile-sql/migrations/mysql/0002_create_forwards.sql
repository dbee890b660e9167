-- Forward pointers that rotations leave under old keys (rotation grace): for a few seconds after
-- a rotation, a request still carrying the old id is served by the session under `target`.
-- `sealed_id` is the new id sealed under a key derived from the old id (the store cannot open
-- it); `until` is when the pointer lapses (Unix milliseconds). Cleanup sweeps lapsed rows.
CREATE TABLE IF NOT EXISTS {{forwards}} (
    `key`     BINARY(32)    NOT NULL,
    target    BINARY(32)    NOT NULL,
    sealed_id VARBINARY(512) NOT NULL,
    until     BIGINT        NOT NULL,
    PRIMARY KEY (`key`),
    INDEX sessile_until (until)
) ENGINE = InnoDB;
