//! Increments that wait for a write turn together and are applied by one statement in one
//! commit (group commit), for the stores whose commits are the bottleneck: SQLite (one writer,
//! see `sqlite::batch`), PostgreSQL (one WAL flush per commit; the statement is in
//! `postgres::sql`) and MySQL/MariaDB (one redo log flush per commit; one short transaction
//! per batch, see `mysql::batch`).
//!
//! An increment joins the [`IncrementQueue`], then waits for either its answer or a write turn
//! (what a turn is belongs to the backend: SQLite's write connection, a PostgreSQL batch slot).
//! Whoever gets a turn takes the oldest queued increment and every other queued one on the same
//! field of a different session (up to the queue's batch size), and runs them as one statement
//! in a task of its own, so that the batch completes, and every waiting increment gets its
//! answer, even if the request that started it is cancelled. Under load this turns N commits
//! into one; alone, an increment is a batch of one. A caller cancelled while its increment is
//! still queued takes it back out.
//!
//! Sessions are distinct within a batch because `UPDATE ... FROM` applies only one of several
//! source rows that match the same target row; increments of one session wait for the next
//! batch. As with any statement already sent, an increment whose caller is cancelled once it is
//! in a batch may still be applied. Increments the statement does not apply (gone, not an
//! integer, overflow) are answered [`BatchReply::NotApplied`] and decided one by one by the
//! backend's single-increment path, which applies the reference rule exactly.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

use sessile::{StoreError, StoreKey, Timestamp, Touch};
use tokio::sync::oneshot;

/// One increment waiting in the queue.
#[derive(Debug)]
pub(crate) struct QueuedIncrement {
    /// Tells this increment from the others, to take it back out of the queue.
    pub(crate) id: u64,
    pub(crate) key: StoreKey,
    /// The field as the backend's statement addresses it: a JSON path on SQLite, the top-level
    /// key on PostgreSQL. Increments of one batch share it.
    pub(crate) field: String,
    pub(crate) by: i64,
    pub(crate) touch: Touch,
    pub(crate) now: Timestamp,
    reply: oneshot::Sender<BatchReply>,
}

/// What became of a queued increment.
#[derive(Debug)]
pub(crate) enum BatchReply {
    /// Applied; the field's new value.
    Applied(i64),
    /// Not applied, for a reason the statement cannot tell: gone, not an integer, the sum
    /// would overflow, or data that is not an object.
    NotApplied,
    /// The statement failed; nothing in the batch was written.
    Failed(StoreError),
}

/// The increments a batch statement applied: each session's key and its field's new value.
pub(crate) type Applied = Vec<(Vec<u8>, Option<i64>)>;

/// A queued increment's handle: its id and where its answer arrives.
pub(crate) struct Ticket {
    id: u64,
    answer: oneshot::Receiver<BatchReply>,
}

/// The increments of one store (shared by its clones) waiting to be applied together.
#[derive(Debug)]
pub(crate) struct IncrementQueue {
    queued: Mutex<Vec<QueuedIncrement>>,
    next_id: AtomicU64,
    max_batch: usize,
}

impl IncrementQueue {
    /// A queue whose batches hold at most `max_batch` increments.
    pub(crate) fn new(max_batch: usize) -> Self {
        Self {
            queued: Mutex::new(Vec::new()),
            next_id: AtomicU64::new(0),
            max_batch: max_batch.max(1),
        }
    }

    /// Whether no increment is waiting (the uncontended path of PostgreSQL and MySQL asks).
    #[cfg_attr(not(any(feature = "postgres", feature = "mysql")), allow(dead_code))]
    pub(crate) fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }

    /// Queues an increment of `field` (as the backend addresses it).
    pub(crate) fn push(
        &self,
        key: &StoreKey,
        field: String,
        by: i64,
        touch: Touch,
        now: Timestamp,
    ) -> Ticket {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (reply, answer) = oneshot::channel();
        self.lock().push(QueuedIncrement {
            id,
            key: key.clone(),
            field,
            by,
            touch,
            now,
            reply,
        });
        Ticket { id, answer }
    }

    /// The queued increment's answer: the new value, or `None` when it was not applied (and is
    /// no longer queued). Until the answer comes, competes for a turn with `take_turn`; with a
    /// turn, takes a batch and hands it with the turn to `run`, which is spawned, so that the
    /// batch completes whatever becomes of this caller. `run` answers the batch ([`answer`]).
    ///
    /// A caller cancelled while its increment is still queued takes it back out, so that a
    /// request that gave up (the engine's store timeout) is not applied later by someone else's
    /// batch; once in a batch, it may still be applied, like any statement already sent.
    pub(crate) async fn answer_of<Turn, TurnFuture, Run, RunFuture>(
        &self,
        ticket: Ticket,
        take_turn: impl FnMut() -> TurnFuture,
        run: Run,
    ) -> Result<Option<i64>, StoreError>
    where
        TurnFuture: Future<Output = Result<Turn, StoreError>>,
        Run: Fn(Turn, Vec<QueuedIncrement>) -> RunFuture,
        RunFuture: Future<Output = ()> + Send + 'static,
    {
        let mut withdraw = Withdraw {
            queue: self,
            id: ticket.id,
            armed: true,
        };
        let result = self.wait_for_answer(ticket, take_turn, run).await;
        withdraw.armed = false;
        result
    }

    async fn wait_for_answer<Turn, TurnFuture, Run, RunFuture>(
        &self,
        ticket: Ticket,
        mut take_turn: impl FnMut() -> TurnFuture,
        run: Run,
    ) -> Result<Option<i64>, StoreError>
    where
        TurnFuture: Future<Output = Result<Turn, StoreError>>,
        Run: Fn(Turn, Vec<QueuedIncrement>) -> RunFuture,
        RunFuture: Future<Output = ()> + Send + 'static,
    {
        let Ticket { id, mut answer } = ticket;
        loop {
            let turn = tokio::select! {
                biased;
                reply = &mut answer => return decode(reply),
                turn = take_turn() => turn,
            };
            let turn = match turn {
                Ok(turn) => turn,
                Err(error) if self.dequeue(id) => return Err(error),
                // Already taken into a batch: its answer is coming.
                Err(_) => return decode(answer.await),
            };
            let (batch, still_queued) = {
                let mut queue = self.lock();
                let still_queued = queue.iter().any(|queued| queued.id == id);
                (take_batch(&mut queue, self.max_batch), still_queued)
            };
            if batch.is_empty() {
                drop(turn);
            } else {
                tokio::spawn(run(turn, batch));
            }
            if !still_queued {
                // Taken into a batch that is running: taking more turns would only spin.
                return decode(answer.await);
            }
        }
    }

    /// Takes the increment `id` back out of the queue; whether it was still there.
    fn dequeue(&self, id: u64) -> bool {
        let mut queue = self.lock();
        let before = queue.len();
        queue.retain(|queued| queued.id != id);
        queue.len() < before
    }

    fn lock(&self) -> MutexGuard<'_, Vec<QueuedIncrement>> {
        // The queue is only pushed to and drained, never left half-changed by a panic.
        self.queued.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A batch turn from `turns`, the semaphore of the stores whose turn is a permit (PostgreSQL,
/// MySQL); a closed semaphore reads as a closed pool, in the store's own error mapping.
#[cfg(any(feature = "postgres", feature = "mysql"))]
pub(crate) async fn turn_of(
    turns: std::sync::Arc<tokio::sync::Semaphore>,
    to_store_error: fn(sqlx::Error) -> StoreError,
) -> Result<tokio::sync::OwnedSemaphorePermit, StoreError> {
    turns
        .acquire_owned()
        .await
        .map_err(|_| to_store_error(sqlx::Error::PoolClosed))
}

/// An increment through the group commit of the stores whose batch turn is a permit: by
/// `single` (the one-statement increment) at once when nothing is queued and the turn is free,
/// else queued (`queued` takes a batch turn or waits for the batch that answers it), and by
/// `single` again when its batch did not apply it.
#[cfg(any(feature = "postgres", feature = "mysql"))]
pub(crate) async fn grouped_increment<Single, SingleFuture, Queued, QueuedFuture>(
    queue: &IncrementQueue,
    turns: &std::sync::Arc<tokio::sync::Semaphore>,
    (key, field, by, touch, now): (&StoreKey, &str, i64, Touch, Timestamp),
    single: Single,
    queued: Queued,
) -> Result<sessile::store::IncrementOutcome, StoreError>
where
    Single: Fn() -> SingleFuture,
    SingleFuture: Future<Output = Result<sessile::store::IncrementOutcome, StoreError>>,
    Queued: FnOnce(Ticket) -> QueuedFuture,
    QueuedFuture: Future<Output = Result<Option<i64>, StoreError>>,
{
    if queue.is_empty() {
        if let Ok(turn) = turns.clone().try_acquire_owned() {
            // Nothing to commit with: the single statement, at once.
            let outcome = single().await;
            drop(turn);
            return outcome;
        }
    }
    let ticket = queue.push(key, field.to_owned(), by, touch, now);
    if let Some(value) = queued(ticket).await? {
        return Ok(sessile::store::IncrementOutcome::Value(value));
    }
    single().await
}

/// Takes a cancelled caller's increment back out of the queue (see
/// [`IncrementQueue::answer_of`]).
struct Withdraw<'a> {
    queue: &'a IncrementQueue,
    id: u64,
    armed: bool,
}

impl Drop for Withdraw<'_> {
    fn drop(&mut self) {
        if self.armed {
            self.queue.dequeue(self.id);
        }
    }
}

fn decode(reply: Result<BatchReply, oneshot::error::RecvError>) -> Result<Option<i64>, StoreError> {
    match reply {
        Ok(BatchReply::Applied(value)) => Ok(Some(value)),
        Ok(BatchReply::NotApplied) => Ok(None),
        Ok(BatchReply::Failed(error)) => Err(error),
        // The batch task ended without answering: it panicked.
        Err(_) => Err(StoreError::Backend("the increment batch stopped".into())),
    }
}

/// Takes the next batch out of `queue`: the oldest increment, and after it every queued
/// increment of the same field on a session not yet in the batch, oldest first, at most `max`.
/// The others keep their order.
fn take_batch(queue: &mut Vec<QueuedIncrement>, max: usize) -> Vec<QueuedIncrement> {
    let Some(field) = queue.first().map(|first| first.field.clone()) else {
        return Vec::new();
    };
    let mut batch: Vec<QueuedIncrement> = Vec::new();
    let mut kept = Vec::with_capacity(queue.len());
    for queued in queue.drain(..) {
        let joins = batch.len() < max
            && queued.field == field
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

/// Answers every increment of `batch` from the statement's result: applied where the result
/// holds the session's new value, not applied elsewhere.
pub(crate) fn answer(batch: Vec<QueuedIncrement>, result: Result<Applied, StoreError>) {
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
        other => StoreError::Backend(other.to_string().into()),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    const MAX: usize = 48;

    fn queue_of(items: &[(u8, &str)]) -> (IncrementQueue, Vec<u64>) {
        let queue = IncrementQueue::new(MAX);
        let ids = items
            .iter()
            .map(|(key, field)| {
                let key = StoreKey::from_bytes([*key; 32]);
                let ticket = queue.push(&key, (*field).to_owned(), 1, touch(), touch().last_seen);
                ticket.id
            })
            .collect();
        (queue, ids)
    }

    fn ids(list: &[QueuedIncrement]) -> Vec<u64> {
        list.iter().map(|increment| increment.id).collect()
    }

    #[test]
    fn a_batch_holds_one_field_and_distinct_sessions_in_arrival_order() {
        let (queue, _) = queue_of(&[(1, "n"), (2, "m"), (1, "n"), (3, "n"), (2, "n")]);
        let mut queued = queue.lock();
        assert_eq!(ids(&take_batch(&mut queued, MAX)), [0, 3, 4]);
        assert_eq!(ids(&queued), [1, 2]);
        assert_eq!(ids(&take_batch(&mut queued, MAX)), [1]);
        assert_eq!(ids(&take_batch(&mut queued, MAX)), [2]);
        assert!(take_batch(&mut queued, MAX).is_empty());
    }

    #[test]
    fn a_batch_is_capped() {
        let items: Vec<(u8, &str)> = (0..MAX as u8 + 5).map(|key| (key, "n")).collect();
        let (queue, _) = queue_of(&items);
        let mut queued = queue.lock();
        assert_eq!(take_batch(&mut queued, MAX).len(), MAX);
        assert_eq!(queued.len(), 5);
    }

    #[test]
    fn a_dequeued_increment_leaves_the_others() {
        let (queue, ids) = queue_of(&[(1, "n"), (2, "n")]);
        assert!(queue.dequeue(ids[0]));
        assert!(!queue.dequeue(ids[0]));
        assert!(!queue.is_empty());
        assert!(queue.dequeue(ids[1]));
        assert!(queue.is_empty());
    }

    fn touch() -> Touch {
        Touch::new(Timestamp::from_millis(0), Timestamp::from_millis(1))
    }

    #[tokio::test]
    async fn every_increment_of_a_batch_gets_its_answer() {
        let queue = IncrementQueue::new(MAX);
        let tickets: Vec<Ticket> = (1..=3u8)
            .map(|key| {
                queue.push(
                    &StoreKey::from_bytes([key; 32]),
                    "n".into(),
                    1,
                    touch(),
                    touch().last_seen,
                )
            })
            .collect();
        let batch = take_batch(&mut queue.lock(), MAX);
        answer(
            batch,
            Ok(vec![([1; 32].to_vec(), Some(7)), ([2; 32].to_vec(), None)]),
        );
        let mut replies = Vec::new();
        for ticket in tickets {
            replies.push(decode(ticket.answer.await));
        }
        assert!(matches!(replies[0], Ok(Some(7))));
        assert!(matches!(replies[1], Ok(None)));
        assert!(matches!(replies[2], Ok(None)));
    }

    #[tokio::test]
    async fn a_cancelled_caller_takes_its_increment_back_out() {
        let queue = IncrementQueue::new(MAX);
        let ticket = queue.push(
            &StoreKey::from_bytes([1; 32]),
            "n".into(),
            1,
            touch(),
            touch().last_seen,
        );
        let never = || std::future::pending::<Result<(), StoreError>>();
        let waiting = queue.answer_of(ticket, never, |(), _| async {});
        // Polled once (queued, waiting for a turn that never comes), then dropped: cancelled.
        assert!(poll_once(waiting).await.is_none());
        assert!(queue.is_empty());
    }

    /// Polls `future` once; its output if it was ready.
    async fn poll_once<F: Future>(future: F) -> Option<F::Output> {
        let mut future = std::pin::pin!(future);
        std::future::poll_fn(|context| {
            std::task::Poll::Ready(match future.as_mut().poll(context) {
                std::task::Poll::Ready(output) => Some(output),
                std::task::Poll::Pending => None,
            })
        })
        .await
    }

    /// Concurrent callers sharing two turns all get their answers, from batches of distinct
    /// sessions, however the turns fall.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_callers_are_all_answered() {
        let queue = std::sync::Arc::new(IncrementQueue::new(4));
        let turns = std::sync::Arc::new(tokio::sync::Semaphore::new(2));
        let mut callers = tokio::task::JoinSet::new();
        for caller in 0..40u8 {
            let queue = queue.clone();
            let turns = turns.clone();
            callers.spawn(async move {
                let ticket = queue.push(
                    &StoreKey::from_bytes([caller % 10; 32]),
                    "n".into(),
                    i64::from(caller),
                    touch(),
                    touch().last_seen,
                );
                let take_turn = || {
                    let turns = turns.clone();
                    async move { Ok(turns.acquire_owned().await.expect("never closed")) }
                };
                let run = |permit, batch: Vec<QueuedIncrement>| async move {
                    let keys: BTreeSet<_> = batch.iter().map(|queued| queued.key.clone()).collect();
                    assert_eq!(keys.len(), batch.len(), "sessions are distinct in a batch");
                    tokio::task::yield_now().await;
                    let applied = batch
                        .iter()
                        .map(|queued| (queued.key.as_bytes().to_vec(), Some(queued.by)))
                        .collect();
                    answer(batch, Ok(applied));
                    drop(permit);
                };
                (caller, queue.answer_of(ticket, take_turn, run).await)
            });
        }
        while let Some(joined) = callers.join_next().await {
            let (caller, reply) = joined.expect("no caller panics");
            assert_eq!(reply.expect("no batch fails"), Some(i64::from(caller)));
        }
        assert!(queue.is_empty());
    }
}
