//! Increments that wait for the write turn together, applied by one `UPDATE ... FROM` in one
//! commit (group commit).
//!
//! An increment of a field a JSON path can address joins the queue, then waits for either its
//! answer or the write turn. Whoever gets the turn takes the oldest queued increment and every
//! other queued one on the same field of a different session (up to [`MAX_BATCH`]), and runs
//! them as one statement in a task of its own, so that the batch completes, and every waiting
//! increment gets its answer, even if the request that started it is cancelled. Under load this
//! turns N commits, N thread hand-offs to the connection's worker and N wake-ups of the next
//! writer into one of each; alone, an increment is a batch of one.
//!
//! Sessions are distinct within a batch because `UPDATE ... FROM` applies only one of several
//! source rows that match the same target row; increments of one session wait for the next
//! batch. As with any statement already sent, an increment whose caller is cancelled after
//! queueing may still be applied. Increments the statement does not apply (gone, not an integer, overflow) are answered
//! as such and decided one by one by the caller's read-add-write transaction.

use sessile::{StoreError, StoreKey, Timestamp, Touch};
use sqlx::SqliteConnection;
use tokio::sync::oneshot;

/// Most increments in one statement: 7 bound values each plus the path, far below SQLite's
/// limit on bound parameters, and few enough distinct statement texts for sqlx's cache of
/// prepared statements.
pub(super) const MAX_BATCH: usize = 48;

/// One increment waiting in the queue.
#[derive(Debug)]
pub(super) struct QueuedIncrement {
    /// Tells this increment from the others, to take it back out of the queue.
    pub(super) id: u64,
    pub(super) key: StoreKey,
    /// The JSON path of the field (see [`super::delta`]).
    pub(super) path: String,
    pub(super) by: i64,
    pub(super) touch: Touch,
    pub(super) now: Timestamp,
    pub(super) reply: oneshot::Sender<BatchReply>,
}

/// What became of a queued increment.
#[derive(Debug)]
pub(super) enum BatchReply {
    /// Applied; the field's new value.
    Applied(i64),
    /// Not applied, for a reason the statement cannot tell: gone, not an integer, the sum
    /// would overflow, or data that is not an object.
    NotApplied,
    /// The statement failed; nothing in the batch was written.
    Failed(StoreError),
}

/// Takes the next batch out of `queue`: the oldest increment, and after it every queued
/// increment of the same field on a session not yet in the batch, oldest first. The others keep
/// their order.
pub(super) fn take_batch(queue: &mut Vec<QueuedIncrement>) -> Vec<QueuedIncrement> {
    let Some(path) = queue.first().map(|first| first.path.clone()) else {
        return Vec::new();
    };
    let mut batch: Vec<QueuedIncrement> = Vec::new();
    let mut kept = Vec::with_capacity(queue.len());
    for queued in queue.drain(..) {
        let joins = batch.len() < MAX_BATCH
            && queued.path == path
            && !batch.iter().any(|taken| taken.key == queued.key);
        if joins {
            batch.push(queued);
        } else {
            kept.push(queued);
        }
    }
    *queue = kept;
    batch
}

/// The statement for `count` increments: `?1` is the path, then seven values per increment
/// (key, amount, `last_seen`, idle deadline, now, and the range the current value must lie in
/// for the sum to stay within `i64`, computed in Rust from the amount).
///
/// A row is updated only if it is live, holds a JSON object, and its field is absent, `null`,
/// or an integer written canonically (so `-0`, which the reference reads as a float, and
/// integers beyond `i64`, which SQLite reads as floats, are refused like `true` or `"1"`). The
/// range is checked before adding because SQLite turns an overflowing integer `+` into a float.
/// The `WHERE` sees the old row and `RETURNING` the new one.
pub(super) fn statement(count: usize) -> String {
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
         UPDATE sessile_sessions SET \
             data = json_set(data, ?1, IFNULL(json_extract(data, ?1), 0) + batch.amount), \
             last_seen = batch.last_seen, \
             idle_deadline = MIN(batch.idle_deadline, absolute_deadline), \
             expires_at = MIN(batch.idle_deadline, absolute_deadline) \
         FROM batch \
         WHERE sessile_sessions.\"key\" = batch.\"key\" \
             AND sessile_sessions.expires_at > batch.now \
             AND json_type(data) = 'object' \
             AND (IFNULL(json_type(data, ?1), 'null') = 'null' \
                 OR (json_type(data, ?1) = 'integer' \
                     AND data -> ?1 = CAST(json_extract(data, ?1) AS TEXT) \
                     AND json_extract(data, ?1) BETWEEN batch.lowest AND batch.highest)) \
         RETURNING sessile_sessions.\"key\", json_extract(data, ?1)",
        rows.join(", ")
    )
}

/// The current values `c` for which `c + by` stays within `i64`.
pub(super) fn addable_range(by: i64) -> (i64, i64) {
    if by >= 0 {
        (i64::MIN, i64::MAX - by)
    } else {
        (i64::MIN - by, i64::MAX)
    }
}

/// The increments a batch statement applied: each session's key and its field's new value.
pub(super) type Applied = Vec<(Vec<u8>, Option<i64>)>;

/// Runs `batch` (all on one path, distinct sessions) on `connection` as one statement; the
/// applied increments' new values, by session, in no particular order.
pub(super) async fn run(
    connection: &mut SqliteConnection,
    batch: &[QueuedIncrement],
) -> Result<Applied, sqlx::Error> {
    let Some(first) = batch.first() else {
        return Ok(Vec::new());
    };
    let sql = statement(batch.len());
    let mut query = sqlx::query_as(&sql).bind(first.path.as_str());
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

/// Answers every increment of `batch` from the statement's result.
pub(super) fn answer(batch: Vec<QueuedIncrement>, result: Result<Applied, StoreError>) {
    match result {
        Ok(applied) => {
            for increment in batch {
                let value = applied
                    .iter()
                    .find(|(key, _)| key.as_slice() == increment.key.as_bytes().as_slice())
                    .map(|(_, value)| *value);
                let reply = match value {
                    Some(Some(value)) => BatchReply::Applied(value),
                    // The guard admits only integer sums, so a stored NULL means a row no
                    // longer shaped as the statement assumed: let the caller decide it.
                    Some(None) | None => BatchReply::NotApplied,
                };
                // A caller that went away (cancelled) needs no answer.
                let _ = increment.reply.send(reply);
            }
        }
        Err(error) => {
            for increment in batch {
                let _ = increment.reply.send(BatchReply::Failed(copy_error(&error)));
            }
        }
    }
}

/// The same error for another caller: same variant, same message.
fn copy_error(error: &StoreError) -> StoreError {
    match error {
        StoreError::Unavailable(source) => StoreError::Unavailable(source.to_string().into()),
        StoreError::Corrupt(message) => StoreError::Corrupt(message.clone()),
        StoreError::Unsupported(what) => StoreError::Unsupported(what),
        StoreError::Backend(source) => StoreError::Backend(source.to_string().into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn queued(id: u64, key: u8, path: &str) -> (QueuedIncrement, oneshot::Receiver<BatchReply>) {
        let (reply, receiver) = oneshot::channel();
        let increment = QueuedIncrement {
            id,
            key: StoreKey::from_bytes([key; 32]),
            path: path.to_owned(),
            by: 1,
            touch: Touch {
                last_seen: Timestamp::from_millis(0),
                idle_deadline: Timestamp::from_millis(1),
            },
            now: Timestamp::from_millis(0),
            reply,
        };
        (increment, receiver)
    }

    #[test]
    fn a_batch_holds_one_path_and_distinct_sessions_in_arrival_order() {
        let mut queue: Vec<QueuedIncrement> = [
            (1, 1, "$.\"n\""),
            (2, 2, "$.\"m\""),
            (3, 1, "$.\"n\""),
            (4, 3, "$.\"n\""),
            (5, 2, "$.\"n\""),
        ]
        .into_iter()
        .map(|(id, key, path)| queued(id, key, path).0)
        .collect();
        let batch = take_batch(&mut queue);
        let ids = |list: &[QueuedIncrement]| list.iter().map(|i| i.id).collect::<Vec<_>>();
        assert_eq!(ids(&batch), [1, 4, 5]);
        assert_eq!(ids(&queue), [2, 3]);
        assert_eq!(ids(&take_batch(&mut queue)), [2]);
        assert_eq!(ids(&take_batch(&mut queue)), [3]);
        assert!(take_batch(&mut queue).is_empty());
    }

    #[test]
    fn a_batch_is_capped() {
        let mut queue: Vec<QueuedIncrement> = (0..MAX_BATCH as u64 + 5)
            .map(|id| {
                let mut increment = queued(id, 0, "$.\"n\"").0;
                increment.key = StoreKey::from_bytes([(id % 251) as u8; 32]);
                increment
            })
            .collect();
        assert_eq!(take_batch(&mut queue).len(), MAX_BATCH);
        assert_eq!(queue.len(), 5);
    }

    #[test]
    fn placeholders_follow_the_binds() {
        let sql = statement(3);
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
