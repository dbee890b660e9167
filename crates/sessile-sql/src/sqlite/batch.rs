//! SQLite's group-committed increments: the `UPDATE ... FROM` statement a batch of
//! [`crate::increment_batch`] runs on the write connection.
//!
//! On SQLite the write turn is the store's write connection: under load a batch turns N
//! commits, N thread hand-offs to the connection's worker and N wake-ups of the next writer
//! into one of each.

use std::borrow::Cow;
use std::sync::OnceLock;

use sqlx::SqliteConnection;

use crate::increment_batch::{Applied, QueuedIncrement};

/// Most increments in one statement: 7 bound values each plus the path, far below SQLite's
/// limit on bound parameters, and few enough distinct statement texts for sqlx's cache of
/// prepared statements.
pub(super) const MAX_BATCH: usize = 48;

/// How many times the statement names the JSON path; it is bound once per use, after the
/// batch's rows (see [`statement`]).
const PATH_USES: usize = 8;

/// The batch statements of one table, rendered on first use per batch size and kept: a batch
/// of 48 formats 336 placeholders, which cost about as much as the rest of the batch's work in
/// the application (callgrind, BENCHMARKS.md "Profiles of the missed rows").
#[derive(Debug)]
pub(super) struct BatchStatements {
    table: String,
    by_size: Box<[OnceLock<String>]>,
}

impl BatchStatements {
    /// The statements for `table` (quoted), none rendered yet.
    pub(super) fn new(table: &str) -> Self {
        Self {
            table: table.to_owned(),
            by_size: (0..MAX_BATCH).map(|_| OnceLock::new()).collect(),
        }
    }

    /// The statement for `count` increments: kept for 1 to [`MAX_BATCH`], rendered for the
    /// call otherwise (never the case: the queue caps a batch at `MAX_BATCH`).
    fn get(&self, count: usize) -> Cow<'_, str> {
        match self.by_size.get(count.wrapping_sub(1)) {
            Some(cell) => Cow::Borrowed(cell.get_or_init(|| statement(&self.table, count))),
            None => Cow::Owned(statement(&self.table, count)),
        }
    }
}

/// The statement for `count` increments on `table` (quoted). Every placeholder is an anonymous
/// `?`, bound in the order of the text: seven values per increment (key, amount, `last_seen`,
/// idle deadline, now, and the range the current value must lie in for the sum to stay within
/// `i64`, computed in Rust from the amount), then the JSON path once for each of its
/// [`PATH_USES`] uses. Numbered placeholders (`?NNN`) would let the path be bound once, but
/// sqlx asks SQLite for every parameter's name on every execution, and SQLite finds a name by
/// walking the list of named parameters: quadratic in the batch size, 5.6k instructions per
/// increment at 48 per batch, the top symbol of the write connection's thread (BENCHMARKS.md).
///
/// A row is updated only if it is live, holds a JSON object, and its field is absent, `null`,
/// or an integer written canonically (so `-0`, which the reference reads as a float, and
/// integers beyond `i64`, which SQLite reads as floats, are refused like `true` or `"1"`). The
/// range is checked before adding because SQLite turns an overflowing integer `+` into a float.
/// The `WHERE` sees the old row and `RETURNING` the new one.
fn statement(table: &str, count: usize) -> String {
    const ROW: &str = "(?, ?, ?, ?, ?, ?, ?)";
    let mut rows = String::with_capacity(count * (ROW.len() + 2));
    for index in 0..count {
        if index > 0 {
            rows.push_str(", ");
        }
        rows.push_str(ROW);
    }
    format!(
        "WITH batch (\"key\", amount, last_seen, idle_deadline, now, lowest, highest) AS \
             (VALUES {rows}) \
         UPDATE {table} SET \
             data = json_set(data, ?, IFNULL(json_extract(data, ?), 0) + batch.amount), \
             last_seen = batch.last_seen, \
             idle_deadline = MIN({own}, absolute_deadline), \
             expires_at = MIN({own}, absolute_deadline) \
         FROM batch \
         WHERE {table}.\"key\" = batch.\"key\" \
             AND {table}.expires_at > batch.now \
             AND json_type(data) = 'object' \
             AND (IFNULL(json_type(data, ?), 'null') = 'null' \
                 OR (json_type(data, ?) = 'integer' \
                     AND data -> ? = CAST(json_extract(data, ?) AS TEXT) \
                     AND json_extract(data, ?) BETWEEN batch.lowest AND batch.highest)) \
         RETURNING {table}.\"key\", json_extract(data, ?)",
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
    statements: &BatchStatements,
    batch: &[QueuedIncrement],
) -> Result<Applied, sqlx::Error> {
    let Some(first) = batch.first() else {
        return Ok(Vec::new());
    };
    let sql = statements.get(batch.len());
    let mut query = sqlx::query_as(&sql);
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
    for _ in 0..PATH_USES {
        query = query.bind(first.field.as_str());
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
        for count in [1, 3, MAX_BATCH] {
            let sql = statement("\"t\"", count);
            // Anonymous placeholders only: the rows' values, then the path's uses.
            assert_eq!(sql.matches('?').count(), 7 * count + PATH_USES, "{sql}");
            assert!(!sql.contains("?1") && !sql.contains("?2"), "{sql}");
            let values = &sql[sql.find("(VALUES").unwrap()..sql.find("UPDATE").unwrap()];
            assert_eq!(values.matches('?').count(), 7 * count, "{values}");
        }
    }

    #[test]
    fn statements_are_rendered_once_per_size() {
        let statements = BatchStatements::new("\"t\"");
        assert_eq!(statements.get(2), statement("\"t\"", 2));
        let (Cow::Borrowed(first), Cow::Borrowed(again)) = (statements.get(2), statements.get(2))
        else {
            panic!("a batch size up to MAX_BATCH is kept");
        };
        assert!(std::ptr::eq(first, again));
        assert_eq!(statements.get(MAX_BATCH), statement("\"t\"", MAX_BATCH));
        assert!(matches!(statements.get(MAX_BATCH + 1), Cow::Owned(_)));
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
