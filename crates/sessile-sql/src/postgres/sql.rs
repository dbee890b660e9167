//! The statements of a [`super::PostgresStore`], rendered once for its table.
//!
//! Times are bound as Unix milliseconds (`int8`) and stored as `timestamptz`: `to_timestamp`
//! on the way in and `extract(epoch ...)` (exact `numeric` since PostgreSQL 14) on the way out.
//! Milliseconds round-trip exactly, since `timestamptz` keeps microseconds.

use crate::names::TableNames;

/// The SQL of every store operation on one table.
#[derive(Debug)]
pub(super) struct Statements {
    pub(super) load: String,
    pub(super) create: String,
    pub(super) update: String,
    pub(super) lock_live_data: String,
    pub(super) lock_user: String,
    pub(super) take_key: String,
    pub(super) user_sessions: String,
    pub(super) evict: String,
    pub(super) rotate: String,
    pub(super) drop_expired_key: String,
    pub(super) increment: String,
    pub(super) increment_batch: String,
    pub(super) delete: String,
    pub(super) list_user_sessions: String,
    pub(super) scan: String,
    pub(super) delete_user_sessions: String,
    pub(super) delete_expired: String,
    pub(super) count_live: String,
    pub(super) rotate_forwarding: String,
    pub(super) forwards_delete_lapsed: String,
}

/// A bound Unix-milliseconds parameter as a `timestamptz`.
fn at(parameter: u8) -> String {
    format!("to_timestamp(${parameter}::float8 / 1000)")
}

/// A `timestamptz` column as Unix milliseconds.
fn millis(column: &str) -> String {
    format!("(extract(epoch FROM {column}) * 1000)::int8")
}

/// The new value of the incremented field (`field`, a `text` expression) after adding `amount`
/// (an `int8` expression), or NULL when the current value is not an integer: absent and JSON
/// `null` count as 0; only JSON numbers written without a fraction or exponent (jsonb prints
/// numbers in plain notation) are integers. The `CASE` only casts text that the checks
/// accepted, so a refused increment is a `NULL`, never an SQL error. The sum is `numeric`, so
/// an overflow shows as a value beyond `int8`, which the statements refuse.
fn incremented(field: &str, amount: &str) -> String {
    format!(
        "CASE \
             WHEN data -> {field} IS NULL OR jsonb_typeof(data -> {field}) = 'null' \
                 THEN {amount}::numeric \
             WHEN jsonb_typeof(data -> {field}) = 'number' AND data ->> {field} ~ '^-?[0-9]+$' \
                 THEN (data ->> {field})::numeric + {amount} \
         END"
    )
}

/// The range of `int8`, which an incremented value must stay within.
const INT8_RANGE: &str = "BETWEEN -9223372036854775808 AND 9223372036854775807";

impl Statements {
    pub(super) fn new(names: &TableNames) -> Self {
        let table = names.sessions();
        let forwards = names.forwards();
        Self {
            // The move and the forward pointer in one statement: the pointer is written only
            // when the move matched the live row (its count is the statement's).
            rotate_forwarding: format!(
                "WITH moved AS ({rotate} RETURNING 1) \
                 INSERT INTO {forwards} (\"key\", target, sealed_id, until) \
                 SELECT $1, $15, $16, {until} FROM moved \
                 ON CONFLICT (\"key\") DO UPDATE SET target = EXCLUDED.target, \
                     sealed_id = EXCLUDED.sealed_id, until = EXCLUDED.until",
                rotate = apply_changes(&table, true),
                until = at(17),
            ),
            forwards_delete_lapsed: format!(
                "WITH batch AS MATERIALIZED ( \
                     SELECT \"key\" FROM {forwards} WHERE until <= {} \
                     ORDER BY until LIMIT $2 FOR UPDATE SKIP LOCKED \
                 ) \
                 DELETE FROM {forwards} AS lapsed USING batch WHERE lapsed.\"key\" = batch.\"key\"",
                at(1)
            ),
            // Expired rows too: `lookup` tells expired from missing in Rust, from this one read.
            // The row, expired or not, and the forward pointer under the key when there is no
            // row (`codec::LookupRow`): one statement for a miss too.
            load: format!(
                "SELECT s.data::text AS data, s.user_id, {created_at} AS created_at, \
                     {last_seen} AS last_seen, {idle_deadline} AS idle_deadline, \
                     {absolute_deadline} AS absolute_deadline, s.persistent, \
                     s.device::text AS device, s.idle_timeout_ms, \
                     p.target AS forward_target, p.sealed_id AS forward_sealed_id, \
                     {until} AS forward_until \
                 FROM (SELECT $1::bytea AS \"key\") AS probe \
                 LEFT JOIN {table} AS s ON s.\"key\" = probe.\"key\" \
                 LEFT JOIN {forwards} AS p ON p.\"key\" = probe.\"key\" AND s.\"key\" IS NULL",
                created_at = millis("s.created_at"),
                last_seen = millis("s.last_seen"),
                idle_deadline = millis("s.idle_deadline"),
                absolute_deadline = millis("s.absolute_deadline"),
                until = millis("p.until"),
            ),
            // A conflicting row is replaced only if it has expired by the new record's
            // `last_seen` (its creation time), so a live session is never overwritten.
            create: format!(
                "INSERT INTO {table} AS existing (\"key\", data, user_id, created_at, last_seen, \
                     idle_deadline, absolute_deadline, expires_at, persistent, device, \
                     idle_timeout_ms) \
                 VALUES ($1, $2::jsonb, $3, {}, {}, {}, {}, {}, $9, $10::jsonb, $11) \
                 ON CONFLICT (\"key\") DO UPDATE SET data = EXCLUDED.data, \
                     user_id = EXCLUDED.user_id, created_at = EXCLUDED.created_at, \
                     last_seen = EXCLUDED.last_seen, idle_deadline = EXCLUDED.idle_deadline, \
                     absolute_deadline = EXCLUDED.absolute_deadline, \
                     expires_at = EXCLUDED.expires_at, persistent = EXCLUDED.persistent, \
                     device = EXCLUDED.device, idle_timeout_ms = EXCLUDED.idle_timeout_ms \
                 WHERE existing.expires_at <= EXCLUDED.last_seen",
                at(4),
                at(5),
                at(6),
                at(7),
                at(8),
            ),
            update: apply_changes(&table, false),
            // The data of the live row, locked until the transaction ends: document
            // operations are applied from Rust between this and `update`.
            lock_live_data: format!(
                "SELECT data::text FROM {table} WHERE \"key\" = $1 AND expires_at > {now} \
                 FOR UPDATE",
                now = at(2),
            ),
            // The per-user limit (ARCHITECTURE.md, "The per-user limit in SQL"): sign-ins of
            // one user under a limit take turns on a transaction-scoped advisory lock keyed on
            // a 64-bit hash of the table and the user. A hash shared by two users only makes
            // them take turns too. The table name is a validated identifier: no quote to escape.
            lock_user: format!(
                "SELECT pg_advisory_xact_lock(hashtextextended('sessile user {table} ' || $1, 0))"
            ),
            // Whether a live row holds the key, dropping an expired one (which a new session
            // may replace) in the same statement; the check reads the statement's snapshot.
            take_key: format!(
                "WITH dropped AS (DELETE FROM {table} WHERE \"key\" = $1 AND expires_at <= {now}) \
                 SELECT EXISTS (SELECT 1 FROM {table} WHERE \"key\" = $1 AND expires_at > {now})",
                now = at(2),
            ),
            // A user's live sessions (`crate::limit::UserRow`), read under the user's lock.
            user_sessions: format!(
                "SELECT \"key\", {} AS last_seen, {} AS expires_at FROM {table} \
                 WHERE user_id = $1 AND expires_at > {}",
                millis("last_seen"),
                millis("expires_at"),
                at(2),
            ),
            // The sessions a sign-in evicts, still the user's (the lock keeps other limited
            // sign-ins out, not a sign-out meanwhile).
            evict: format!("DELETE FROM {table} WHERE \"key\" = ANY($1::bytea[]) AND user_id = $2"),
            rotate: apply_changes(&table, true),
            drop_expired_key: format!(
                "DELETE FROM {table} WHERE \"key\" = $1 AND expires_at <= {}",
                at(2)
            ),
            // The live check runs on the statement's snapshot, so when the row is live but the
            // update matched nothing, the value was refused (or the row was deleted in the
            // instant between: reported as refused, and nothing was written either way).
            increment: format!(
                "WITH updated AS ( \
                     UPDATE {table} SET \
                         data = jsonb_set(data, ARRAY[$2::text], to_jsonb({incremented})), \
                         last_seen = {last_seen}, \
                         idle_deadline = LEAST({idle}, absolute_deadline), \
                         expires_at = LEAST({idle}, absolute_deadline) \
                     WHERE \"key\" = $1 AND expires_at > {now} \
                         AND ({incremented}) {INT8_RANGE} \
                     RETURNING (data ->> $2::text)::int8 AS value \
                 ) \
                 SELECT (SELECT value FROM updated) AS value, \
                     EXISTS (SELECT 1 FROM {table} WHERE \"key\" = $1 AND expires_at > {now}) \
                         AS live",
                incremented = incremented("$2::text", "$3::int8"),
                last_seen = at(4),
                idle = own_idle_deadline(&at(5), &at(4)),
                now = at(6),
            ),
            increment_batch: increment_batch(&table),
            // The row and any forward pointer under the key, in one statement.
            delete: format!(
                "WITH pointer AS (DELETE FROM {forwards} WHERE \"key\" = $1 RETURNING 1), \
                     session AS (DELETE FROM {table} WHERE \"key\" = $1 RETURNING 1) \
                 SELECT (SELECT count(*) FROM pointer) + (SELECT count(*) FROM session)"
            ),
            list_user_sessions: format!(
                "SELECT \"key\", {} AS created_at, {} AS last_seen, {} AS expires_at, \
                     device::text AS device \
                 FROM {table} WHERE user_id = $1 AND expires_at > {} \
                     AND ({created} > $3 OR ({created} = $3 AND \"key\" > $4)) \
                 ORDER BY 2, \"key\" LIMIT $5",
                millis("created_at"),
                millis("last_seen"),
                millis("expires_at"),
                at(2),
                created = millis("created_at"),
            ),
            scan: format!(
                "SELECT \"key\", user_id, {} AS created_at, {} AS last_seen, \
                     {} AS expires_at, device::text AS device \
                 FROM {table} WHERE \"key\" > $1 ORDER BY \"key\" LIMIT $2",
                millis("created_at"),
                millis("last_seen"),
                millis("expires_at"),
            ),
            delete_user_sessions: format!(
                "DELETE FROM {table} WHERE user_id = $1 AND ($2::bytea IS NULL OR \"key\" <> $2)"
            ),
            // PostgreSQL has no `DELETE ... LIMIT`: pick a batch through the `expires_at`
            // index, locking it. `SKIP LOCKED` lets concurrent cleaners (and live requests
            // holding a row) pass each other instead of waiting, so they never deadlock; a row
            // touched back to life meanwhile fails the re-check of the locked row and stays.
            delete_expired: format!(
                "WITH batch AS MATERIALIZED ( \
                     SELECT \"key\" FROM {table} WHERE expires_at <= {} \
                     ORDER BY expires_at LIMIT $2 FOR UPDATE SKIP LOCKED \
                 ) \
                 DELETE FROM {table} AS expired USING batch WHERE expired.\"key\" = batch.\"key\"",
                at(1)
            ),
            count_live: format!("SELECT COUNT(*) FROM {table} WHERE expires_at > {}", at(1)),
        }
    }
}

/// The statement of a batch of group-committed increments (see `crate::increment_batch`): the
/// single increment's `UPDATE` over arrays, one element per session. `$1` is the field, shared
/// by the batch; `$2` the keys (distinct: `UPDATE ... FROM` applies one source row per target),
/// `$3` the amounts, `$4` and `$5` the touch, `$6` each increment's now, all Unix milliseconds.
/// It returns the key and new value of each row it updated; an increment it did not apply (gone,
/// not an integer, overflow) is decided by the single statement.
///
/// It locks its rows in whatever order the plan visits them: the store runs one batch at a time
/// (`BATCH_TURNS`), and every other increment locks a single row, so no two of them can wait
/// for each other in a cycle.
fn increment_batch(table: &str) -> String {
    let incremented = incremented("$1::text", "b.amount");
    let idle = format!(
        "LEAST({}, s.absolute_deadline)",
        own_idle_deadline(
            "to_timestamp(b.idle_deadline::float8 / 1000)",
            "to_timestamp(b.last_seen::float8 / 1000)"
        )
        .replace("idle_timeout_ms", "s.idle_timeout_ms")
    );
    format!(
        "UPDATE {table} AS s SET \
             data = jsonb_set(s.data, ARRAY[$1::text], to_jsonb({incremented})), \
             last_seen = to_timestamp(b.last_seen::float8 / 1000), \
             idle_deadline = {idle}, \
             expires_at = {idle} \
         FROM unnest($2::bytea[], $3::int8[], $4::int8[], $5::int8[], $6::int8[]) \
             AS b(\"key\", amount, last_seen, idle_deadline, now) \
         WHERE s.\"key\" = b.\"key\" AND s.expires_at > to_timestamp(b.now::float8 / 1000) \
             AND ({incremented}) {INT8_RANGE} \
         RETURNING s.\"key\", (s.data ->> $1::text)::int8"
    )
}

/// The `UPDATE` that applies a change set to the live row under `$1`, and for a rotation also
/// moves it to `$12`. One fixed statement for every change set (so it is prepared once):
///
/// - `$2` cleared, `$3` the removed keys (`text[]`), `$4` an object of the set keys: the data
///   becomes `(data - removed) || set`, or `'{}' || set` when cleared. `||` replaces top-level
///   keys only, which is exactly "set"; nested objects are not merged.
/// - `$5` whether the user changed and `$6` the new one; `$7` persistence and `$8` the device,
///   `NULL` when unchanged.
/// - `$9` and `$10` the touch (`NULL` for none), clamped to the absolute deadline as
///   `ChangeSet::apply_to` does; the right-hand sides see the row as it was.
/// - `$11` now: the row must be live.
/// - `$12` whether the session's own idle timeout changes and `$13` the new one (milliseconds,
///   `NULL`: the manager's); `$14` the new absolute deadline, `NULL` when unchanged. The touch
///   then moves the idle deadline by the own timeout the row has after the change.
fn apply_changes(table: &str, moves: bool) -> String {
    let key_assignment = if moves { "\"key\" = $15, " } else { "" };
    let own = "(CASE WHEN $12 THEN $13::int8 ELSE idle_timeout_ms END)";
    let idle = format!(
        "CASE WHEN {own} IS NULL THEN {default} \
             ELSE {last_seen} + {own} * interval '1 millisecond' END",
        default = at(10),
        last_seen = at(9),
    );
    let absolute = format!("COALESCE({}, absolute_deadline)", at(14));
    format!(
        "UPDATE {table} SET {key_assignment}\
             data = (CASE WHEN $2 THEN '{{}}'::jsonb ELSE data - $3::text[] END) || $4::jsonb, \
             user_id = CASE WHEN $5 THEN $6 ELSE user_id END, \
             persistent = COALESCE($7, persistent), \
             device = COALESCE($8::jsonb, device), \
             idle_timeout_ms = {own}, \
             absolute_deadline = {absolute}, \
             last_seen = COALESCE({last_seen}, last_seen), \
             idle_deadline = CASE WHEN $10::int8 IS NULL THEN idle_deadline \
                 ELSE LEAST({idle}, {absolute}) END, \
             expires_at = CASE WHEN $10::int8 IS NULL THEN LEAST(idle_deadline, {absolute}) \
                 ELSE LEAST({idle}, {absolute}) END \
         WHERE \"key\" = $1 AND expires_at > {now}",
        last_seen = at(9),
        now = at(11),
    )
}

/// The idle deadline a touch gives a row (unclamped): by the row's own idle timeout when it
/// has one, else the touch's `default` deadline; both arguments are `timestamptz` expressions.
fn own_idle_deadline(default: &str, last_seen: &str) -> String {
    format!(
        "CASE WHEN idle_timeout_ms IS NULL THEN {default} \
             ELSE {last_seen} + idle_timeout_ms * interval '1 millisecond' END"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn placeholders(sql: &str) -> Vec<u8> {
        let mut found: Vec<u8> = sql
            .split('$')
            .skip(1)
            .filter_map(|rest| {
                let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
                digits.parse().ok()
            })
            .collect();
        found.sort_unstable();
        found.dedup();
        found
    }

    #[test]
    fn statements_use_every_parameter_they_bind() {
        let statements = Statements::new(&TableNames::new(None, "sessions").unwrap());
        assert_eq!(
            placeholders(&statements.update),
            (1..=14).collect::<Vec<_>>()
        );
        assert_eq!(
            placeholders(&statements.rotate),
            (1..=15).collect::<Vec<_>>()
        );
        assert_eq!(
            placeholders(&statements.rotate_forwarding),
            (1..=17).collect::<Vec<_>>()
        );
        assert_eq!(
            placeholders(&statements.create),
            (1..=11).collect::<Vec<_>>()
        );
        assert_eq!(
            placeholders(&statements.increment),
            (1..=6).collect::<Vec<_>>()
        );
        assert_eq!(
            placeholders(&statements.increment_batch),
            (1..=6).collect::<Vec<_>>()
        );
        assert_eq!(placeholders(&statements.delete_expired), vec![1, 2]);
    }
}
