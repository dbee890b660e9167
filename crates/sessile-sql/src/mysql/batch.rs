//! MySQL's and MariaDB's group-committed increments: one transaction for a batch of
//! [`crate::increment_batch`], so N increments cost one commit (one redo log flush) instead of N.
//!
//! Neither server has `UPDATE ... RETURNING`, and the single statement's way of reading the sum
//! back (`LAST_INSERT_ID`) carries one value, so a batch reads before it writes, in one short
//! transaction of four round trips whatever its size: `BEGIN`; one `SELECT ... ORDER BY key
//! FOR UPDATE` of the batch's rows (the field's current value, the deadlines, the own idle
//! timeout), which locks them in key order; the sums and the touch computed in Rust with the
//! reference rules ([`sessile::change::incremented`], [`Touch::idle_deadline_for`]); one
//! `UPDATE ... WHERE key IN (...)` of the rows that qualify; `COMMIT`. A row that is gone, not
//! an object, or whose field is not an integer the sum can be added to is left out and its
//! increment answered "not applied", which the single statement then decides.
//!
//! Locking in key order is InnoDB's deadlock policy for statements that lock several rows (as
//! cleanup does): two batches cannot wait on each other, and with one batch at a time
//! ([`BATCH_TURNS`]) the other increments lock one row each. A deadlock with another
//! multi-row statement (`delete_user_sessions`) rolls the batch back and leaves every increment
//! to the single statement, which retries as every operation does.

use sessile::change::incremented;
use sessile::{StoreError, Timestamp};
use sqlx::{Connection, MySql, MySqlConnection, QueryBuilder};

use super::delta::json_path;
use super::error::{is_deadlock, to_store_error};
use crate::increment_batch::{Applied, QueuedIncrement};

/// Most increments in one batch: the statements bind 9 values per increment, far below the
/// server's limit on placeholders, and one batch's locks stay short.
pub(super) const MAX_BATCH: usize = 64;

/// How many increment batches (or single increments) run at once, as on PostgreSQL: while one
/// runs, further increments queue and commit together in the next (see `ARCHITECTURE.md`).
pub(super) const BATCH_TURNS: usize = 1;

/// A batch's statements bind this many increments: the batch's size rounded up to a power of
/// two, the last increment repeated, so the texts (and sqlx's cache of prepared statements per
/// connection) stay few: 7 sizes up to [`MAX_BATCH`]. A repeated key selects and updates the
/// same row, to the same values.
fn padded(count: usize) -> usize {
    count.next_power_of_two()
}

/// What the batch's `SELECT ... FOR UPDATE` reads of one row.
#[derive(sqlx::FromRow)]
struct LockedRow {
    key: Vec<u8>,
    /// The field as JSON text, `NULL` when absent (bytes: see `utf8` in the store).
    current: Option<Vec<u8>>,
    /// 1 when the data is a JSON object.
    is_object: i64,
    absolute_deadline: i64,
    expires_at: i64,
    idle_timeout_ms: Option<i64>,
}

/// What the batch writes to one row.
struct Write<'a> {
    key: &'a [u8],
    value: i64,
    last_seen: i64,
    idle_deadline: i64,
}

/// Runs `batch` (one field, distinct sessions) in one transaction on `connection`; the
/// applied increments' new values, by session. `table` is quoted.
pub(super) async fn run(
    connection: &mut MySqlConnection,
    table: &str,
    batch: &[QueuedIncrement],
) -> Result<Applied, StoreError> {
    let Some(first) = batch.first() else {
        return Ok(Vec::new());
    };
    let path = json_path(&first.field);
    match run_in_transaction(connection, table, &path, batch).await {
        Ok(applied) => Ok(applied),
        // Rolled back: nothing applied, each increment goes to the single statement.
        Err(error) if is_deadlock(&error) => Ok(Vec::new()),
        Err(error) => Err(to_store_error(error)),
    }
}

async fn run_in_transaction(
    connection: &mut MySqlConnection,
    table: &str,
    path: &str,
    batch: &[QueuedIncrement],
) -> Result<Applied, sqlx::Error> {
    let padding = batch
        .last()
        .into_iter()
        .cycle()
        .take(padded(batch.len()) - batch.len());
    let keys: Vec<&[u8]> = batch
        .iter()
        .chain(padding)
        .map(|queued| queued.key.as_bytes().as_slice())
        .collect();
    let mut transaction = connection.begin().await?;
    let mut select = QueryBuilder::<MySql>::new("SELECT `key`, CAST(JSON_EXTRACT(data, ");
    select
        .push_bind(path)
        .push(
            ") AS CHAR) AS current, \
             CAST(JSON_TYPE(data) = 'OBJECT' AS SIGNED) AS is_object, \
             absolute_deadline, expires_at, idle_timeout_ms FROM ",
        )
        .push(table)
        .push(" WHERE `key` IN (");
    let mut list = select.separated(", ");
    for key in &keys {
        list.push_bind(*key);
    }
    select.push(") ORDER BY `key` FOR UPDATE");
    let rows: Vec<LockedRow> = select.build_query_as().fetch_all(&mut *transaction).await?;
    let writes: Vec<Write> = batch
        .iter()
        .filter_map(|queued| {
            let row = rows
                .iter()
                .find(|row| row.key.as_slice() == queued.key.as_bytes().as_slice())?;
            write_for(queued, row)
        })
        .collect();
    if writes.is_empty() {
        transaction.rollback().await?;
        return Ok(Vec::new());
    }
    update(&mut transaction, table, path, &writes).await?;
    transaction.commit().await?;
    Ok(writes
        .iter()
        .map(|write| (write.key.to_vec(), Some(write.value)))
        .collect())
}

/// What `queued` writes to its locked `row`, or `None` when the reference rules refuse it (or
/// leave the decision to the single statement): a row not live at the increment's `now`, data
/// that is not an object, a field that is not an integer or whose sum overflows.
fn write_for<'a>(queued: &'a QueuedIncrement, row: &LockedRow) -> Option<Write<'a>> {
    if row.is_object != 1 || Timestamp::from_millis(row.expires_at) <= queued.now {
        return None;
    }
    let current: Option<serde_json::Value> = match &row.current {
        None => None,
        Some(text) => Some(serde_json::from_slice(text).ok()?),
    };
    let value = incremented(current.as_ref(), queued.by)?;
    let own_idle_timeout = match row.idle_timeout_ms {
        None => None,
        Some(millis) => Some(std::time::Duration::from_millis(
            u64::try_from(millis).ok()?,
        )),
    };
    let idle_deadline = queued
        .touch
        .idle_deadline_for(own_idle_timeout)
        .as_millis()
        .min(row.absolute_deadline);
    Some(Write {
        key: queued.key.as_bytes().as_slice(),
        value,
        last_seen: queued.touch.last_seen.as_millis(),
        idle_deadline,
    })
}

/// One `UPDATE` of the locked rows: each column a `CASE` on the key. `expires_at` is the new
/// idle deadline, which never passes the absolute one.
async fn update(
    transaction: &mut MySqlConnection,
    table: &str,
    path: &str,
    writes: &[Write<'_>],
) -> Result<(), sqlx::Error> {
    let padding = writes
        .last()
        .into_iter()
        .cycle()
        .take(padded(writes.len()) - writes.len());
    let writes: Vec<&Write> = writes.iter().chain(padding).collect();
    let mut statement = QueryBuilder::<MySql>::new("UPDATE ");
    statement.push(table).push(" SET data = JSON_SET(data, ");
    statement.push_bind(path).push(", ");
    push_case(&mut statement, &writes, |write| write.value);
    statement.push("), last_seen = ");
    push_case(&mut statement, &writes, |write| write.last_seen);
    statement.push(", idle_deadline = ");
    push_case(&mut statement, &writes, |write| write.idle_deadline);
    statement.push(", expires_at = ");
    push_case(&mut statement, &writes, |write| write.idle_deadline);
    statement.push(" WHERE `key` IN (");
    let mut list = statement.separated(", ");
    for write in &writes {
        list.push_bind(write.key);
    }
    statement.push(")");
    statement.build().execute(&mut *transaction).await?;
    Ok(())
}

/// `CASE key WHEN ? THEN ? ... END` over `writes`, the value from `column`.
fn push_case<'a>(
    statement: &mut QueryBuilder<'a, MySql>,
    writes: &[&Write<'a>],
    column: impl Fn(&Write<'a>) -> i64,
) {
    statement.push("CASE `key`");
    for write in writes {
        statement.push(" WHEN ").push_bind(write.key);
        statement.push(" THEN ").push_bind(column(write));
    }
    statement.push(" END");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_bind_a_few_sizes() {
        let sizes: std::collections::BTreeSet<usize> = (1..=MAX_BATCH).map(padded).collect();
        assert_eq!(sizes.len(), 7);
        assert!(sizes.iter().all(|size| *size <= MAX_BATCH));
    }
}
