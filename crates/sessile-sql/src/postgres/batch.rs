//! PostgreSQL's group-committed increments: how many run at once, and running one batch of
//! [`crate::increment_batch`] (the statement is `increment_batch` in `sql.rs`).

use sessile::StoreError;
use sqlx::Postgres;

use super::error::{is_deadlock, postgres_unavailable, to_store_error};
use crate::held::{on_held, HeldConnections};
use crate::increment_batch::{Applied, QueuedIncrement};

/// Most increments in one batch. The statement binds arrays, so the size does not change its
/// text; the bound keeps one statement's row locks, and the wait of the increments queued
/// behind it, short.
pub(super) const MAX_BATCH: usize = 128;

/// How many increment batches (or single increments) run at once; while one runs, further
/// increments queue and go out together in the next batch. One: measured as fast as two and
/// faster than four (more, smaller batches: more commits), and with one batch at a time the
/// batch statement needs no lock ordering to be deadlock-free (the other increments lock one
/// row each). The price: an increment stalled on a row lock (an application transaction holding
/// a session's row) holds up the store's other increments, at most for the statement timeout.
/// See `ARCHITECTURE.md`.
pub(super) const BATCH_TURNS: usize = 1;

/// Runs `batch` (one field, distinct sessions) as one statement on a held connection; the
/// applied increments' new values, by session. A deadlock with another statement that locks
/// several sessions (`delete_user_sessions`) applies nothing and leaves every increment to the
/// single statement, which locks one row and cannot deadlock.
pub(super) async fn run_batch(
    held: &HeldConnections<Postgres>,
    sql: &str,
    batch: &[QueuedIncrement],
) -> Result<Applied, StoreError> {
    let Some(first) = batch.first() else {
        return Ok(Vec::new());
    };
    let keys: Vec<&[u8]> = batch
        .iter()
        .map(|queued| queued.key.as_bytes().as_slice())
        .collect();
    let amounts: Vec<i64> = batch.iter().map(|queued| queued.by).collect();
    let seen: Vec<i64> = batch
        .iter()
        .map(|queued| queued.touch.last_seen.as_millis())
        .collect();
    let idle: Vec<i64> = batch
        .iter()
        .map(|queued| queued.touch.idle_deadline.as_millis())
        .collect();
    let now: Vec<i64> = batch.iter().map(|queued| queued.now.as_millis()).collect();
    let query = sqlx::query_as(sql)
        .bind(first.field.as_str())
        .bind(keys)
        .bind(amounts)
        .bind(seen)
        .bind(idle)
        .bind(now);
    match on_held!(held, postgres_unavailable, |connection| query
        .fetch_all(connection))
    {
        Ok(applied) => Ok(applied),
        Err(error) if is_deadlock(&error) => Ok(Vec::new()),
        Err(error) => Err(to_store_error(error)),
    }
}
