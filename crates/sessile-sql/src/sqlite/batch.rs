//! SQLite's group-committed increments: the `UPDATE ... FROM` statement a batch of
//! [`crate::increment_batch`] runs on the write connection.
//!
//! On SQLite the write turn is the store's write connection: under load a batch turns N
//! commits, N thread hand-offs to the connection's worker and N wake-ups of the next writer
//! into one of each.

use sqlx::SqliteConnection;

use crate::increment_batch::{Applied, QueuedIncrement};

/// Most increments in one statement: 7 bound values each plus the path, far below SQLite's
/// limit on bound parameters, and few enough distinct statement texts for sqlx's cache of
/// prepared statements.
pub(super) const MAX_BATCH: usize = 48;

/// The statement for `count` increments on `table` (quoted): `?1` is the path, then seven values per increment
/// (key, amount, `last_seen`, idle deadline, now, and the range the current value must lie in
/// for the sum to stay within `i64`, computed in Rust from the amount).
///
/// A row is updated only if it is live, holds a JSON object, and its field is absent, `null`,
/// or an integer written canonically (so `-0`, which the reference reads as a float, and
/// integers beyond `i64`, which SQLite reads as floats, are refused like `true` or `"1"`). The
/// range is checked before adding because SQLite turns an overflowing integer `+` into a float.
/// The `WHERE` sees the old row and `RETURNING` the new one.
pub(super) fn statement(table: &str, count: usize) -> String {
    let rows: Vec<String> = (0..count)
        .map(|index| {
            let first = 2 + 7 * index;
            let placeholders: Vec<String> = (first..first + 7)
                .map(|number| format!("?{number}"))
                .collect();
            format!("({})", placeholders.join(", "))
        })
        .collect();
    format!(
        "WITH batch (\"key\", amount, last_seen, idle_deadline, now, lowest, highest) AS \
             (VALUES {}) \
         UPDATE {table} SET \
             data = json_set(data, ?1, IFNULL(json_extract(data, ?1), 0) + batch.amount), \
             last_seen = batch.last_seen, \
             idle_deadline = MIN({own}, absolute_deadline), \
             expires_at = MIN({own}, absolute_deadline) \
         FROM batch \
         WHERE {table}.\"key\" = batch.\"key\" \
             AND {table}.expires_at > batch.now \
             AND json_type(data) = 'object' \
             AND (IFNULL(json_type(data, ?1), 'null') = 'null' \
                 OR (json_type(data, ?1) = 'integer' \
                     AND data -> ?1 = CAST(json_extract(data, ?1) AS TEXT) \
                     AND json_extract(data, ?1) BETWEEN batch.lowest AND batch.highest)) \
         RETURNING {table}.\"key\", json_extract(data, ?1)",
        rows.join(", "),
        own = OWN_IDLE_DEADLINE_OF_BATCH,
    )
}

/// The idle deadline an increment gives a row: by the row's own idle timeout when it has one
/// (`OWN_IDLE_DEADLINE` of `delta`, with the batch row's values).
const OWN_IDLE_DEADLINE_OF_BATCH: &str =
    "CASE WHEN idle_timeout_ms IS NULL THEN batch.idle_deadline \
     ELSE batch.last_seen + idle_timeout_ms END";

/// The current values `c` for which `c + by` stays within `i64`.
pub(super) fn addable_range(by: i64) -> (i64, i64) {
    if by >= 0 {
        (i64::MIN, i64::MAX - by)
    } else {
        (i64::MIN - by, i64::MAX)
    }
}

/// Runs `batch` (all on one JSON path, distinct sessions) on `table` (quoted) over `connection` as one statement; the
/// applied increments' new values, by session, in no particular order.
pub(super) async fn run(
    connection: &mut SqliteConnection,
    table: &str,
    batch: &[QueuedIncrement],
) -> Result<Applied, sqlx::Error> {
    let Some(first) = batch.first() else {
        return Ok(Vec::new());
    };
    let sql = statement(table, batch.len());
    let mut query = sqlx::query_as(&sql).bind(first.field.as_str());
    for increment in batch {
        let (lowest, highest) = addable_range(increment.by);
        query = query
            .bind(increment.key.as_bytes().as_slice())
            .bind(increment.by)
            .bind(increment.touch.last_seen.as_millis())
            .bind(increment.touch.idle_deadline.as_millis())
            .bind(increment.now.as_millis())
            .bind(lowest)
            .bind(highest);
    }
    // `fetch_all`, not `fetch_optional`: SQLite runs its WAL hook, and with it the automatic
    // checkpoint, only when a statement steps to its end. A statement reset after its first
    // row still commits but never checkpoints, and the WAL then grows without bound (hundreds
    // of MB per minute under load, and every page lookup slower).
    query.fetch_all(&mut *connection).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_follow_the_binds() {
        let sql = statement("\"t\"", 3);
        assert!(sql.contains("(?2, ?3, ?4, ?5, ?6, ?7, ?8), (?9,"));
        assert!(sql.contains("?22)"));
        assert!(!sql.contains("?23"));
    }

    #[test]
    fn the_addable_range_never_overflows() {
        for by in [0, 1, -1, 42, i64::MAX, i64::MIN, i64::MIN + 1] {
            let (lowest, highest) = addable_range(by);
            assert!(lowest.checked_add(by).is_some(), "{by}");
            assert!(highest.checked_add(by).is_some(), "{by}");
            if lowest > i64::MIN {
                assert!((lowest - 1).checked_add(by).is_none(), "{by}");
            }
            if highest < i64::MAX {
                assert!((highest + 1).checked_add(by).is_none(), "{by}");
            }
        }
    }
}
