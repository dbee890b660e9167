//! What the Node-layout stores share (`sessile_redis::node`, `sessile_sql::sequelize`): how a
//! stored deadline becomes a record's times, how `update`, `rotate` and `increment` change a
//! whole Node document ([`apply`], [`increment_change`]) and what each answers
//! ([`Modified`]), and the answer to the per-user index they do not keep
//! ([`no_user_index`]). Pure functions over [`Record`]s and [`NodeJson`] documents: each store
//! only reads the live record, runs the change and writes the document back atomically (a
//! compare-and-set on Redis, a locked transaction on SQL).

use serde_json::Value as Json;
use sessile::document::OperationError;
use sessile::{
    ChangeSet, IncrementOutcome, Record, RotateOutcome, StoreError, Timestamp, Touch, UpdateOutcome,
};

use crate::record_json::{NodeJson, NodeShape};

/// Sets `record`'s idle deadline to the store's `deadline`, and its creation and last-seen times
/// to the last write that deadline stands for (`deadline - maxAge`, the session's own when its
/// document carries one): Node documents keep no times of their own.
pub fn stamp_deadline(json: &NodeJson, record: &mut Record, deadline: Timestamp) {
    let last_write = deadline - record.idle_timeout.unwrap_or(json.max_age());
    record.idle_deadline = deadline;
    record.last_seen = last_write;
    record.created_at = last_write;
}

/// Whether `field` is a data key the layout cannot keep as a number of its own: the package's
/// bookkeeping keys, or the user field while a user is signed in.
fn reserved(json: &NodeJson, field: &str, record: &Record) -> bool {
    let bookkeeping = match json.shape() {
        NodeShape::KoaSession => field.starts_with('_'),
        NodeShape::GenericSession | NodeShape::Express => field == "cookie",
        NodeShape::SessionMinimal => false,
    };
    bookkeeping || (record.user.is_some() && json.user_field() == Some(field))
}

/// Adds `by` to the integer under `field` (absent counts as 0) and applies `touch`:
/// [`IncrementOutcome::Value`] with the new value, or [`IncrementOutcome::NotAnInteger`] with
/// `record` unchanged when the field holds no integer, the sum overflows, or the field is
/// one the layout reserves.
pub fn increment(
    json: &NodeJson,
    record: &mut Record,
    field: &str,
    by: i64,
    touch: Touch,
) -> IncrementOutcome {
    if reserved(json, field, record) {
        return IncrementOutcome::NotAnInteger;
    }
    let Some(value) = sessile::change::incremented(record.data.get(field), by) else {
        return IncrementOutcome::NotAnInteger;
    };
    record.data.insert(field.to_owned(), Json::from(value));
    record.last_seen = touch.last_seen;
    record.idle_deadline = touch.idle_deadline.min(record.absolute_deadline);
    keep_own_lifetime(record, Some(touch));
    IncrementOutcome::Value(value)
}

/// A write at `touch` moves the deadline of a session with its own `maxAge` by that `maxAge`,
/// as the Node package does, whatever window the engine computed (a write that never loaded
/// the record knows only the configuration's).
fn keep_own_lifetime(record: &mut Record, touch: Option<Touch>) {
    if let (Some(own), Some(touch)) = (record.idle_timeout, touch) {
        record.idle_deadline = (touch.last_seen + own).min(record.absolute_deadline);
    }
}

/// [`StoreError::Unsupported`] for a change set that asks for what a Node document cannot
/// keep: its own idle timeout or absolute deadline ([`ChangeSet::sets_own_lifetime`]; a Node
/// document keeps one `maxAge`, the package's, and a timeout written nowhere would silently
/// end a "remember me" session at the package's deadline), or a sign-in under a per-user limit
/// ([`ChangeSet::user_limit`]; a Node layout keeps no index to count a user's sessions by).
/// Taking a timeout back (every sign-in's change set does) passes.
///
/// ```
/// use std::time::Duration;
/// use sessile::limit::{LimitPolicy, UserLimit};
/// use sessile::{ChangeSet, StoreError};
/// use sessile_node::layout;
///
/// let mut changes = ChangeSet::default();
/// changes.idle_timeout = Some(None);
/// assert!(layout::refuse_what_node_documents_lack(&changes).is_ok());
/// changes.idle_timeout = Some(Some(Duration::from_secs(7 * 24 * 3600)));
/// assert!(matches!(layout::refuse_what_node_documents_lack(&changes), Err(StoreError::Unsupported(_))));
/// let mut limited = ChangeSet::default();
/// limited.user_limit = Some(UserLimit::new(3, LimitPolicy::Refuse));
/// assert!(matches!(layout::refuse_what_node_documents_lack(&limited), Err(StoreError::Unsupported(_))));
/// ```
pub fn refuse_what_node_documents_lack(changes: &ChangeSet) -> Result<(), StoreError> {
    if changes.sets_own_lifetime() {
        return Err(StoreError::Unsupported(
            "a session's own idle timeout or lifetime (a Node layout keeps the package's maxAge)",
        ));
    }
    if changes.user_limit.is_some() {
        return Err(StoreError::Unsupported(sessile::store::PER_USER_LIMIT));
    }
    Ok(())
}

/// How a read-modify-write of a whole Node document ended.
///
/// ```
/// use sessile::{RotateOutcome, UpdateOutcome};
/// use sessile_node::layout::Modified;
///
/// assert_eq!(Modified::Done(Ok(())).update_outcome().unwrap(), UpdateOutcome::Applied);
/// assert_eq!(Modified::Gone.update_outcome().unwrap(), UpdateOutcome::Gone);
/// assert_eq!(Modified::Collision.rotate_outcome().unwrap(), RotateOutcome::Collision);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Modified<T> {
    /// No live record under the (old) id.
    Gone,
    /// A rotation's new id holds a live record.
    Collision,
    /// The change ran (and was written, if it asked to be); its answer.
    Done(T),
}

impl Modified<Result<(), OperationError>> {
    /// What `update` answers: a refused change set ([`apply`]) is the store error that says why.
    pub fn update_outcome(self) -> Result<UpdateOutcome, StoreError> {
        Ok(match self {
            Modified::Done(Ok(())) => UpdateOutcome::Applied,
            Modified::Done(Err(refused)) => return Err(refused.into()),
            Modified::Gone | Modified::Collision => UpdateOutcome::Gone,
        })
    }

    /// What `rotate` answers.
    pub fn rotate_outcome(self) -> Result<RotateOutcome, StoreError> {
        Ok(match self {
            Modified::Done(Ok(())) => RotateOutcome::Rotated,
            Modified::Done(Err(refused)) => return Err(refused.into()),
            Modified::Gone => RotateOutcome::Gone,
            Modified::Collision => RotateOutcome::Collision,
        })
    }
}

impl Modified<IncrementOutcome> {
    /// What `increment` answers.
    pub fn increment_outcome(self) -> IncrementOutcome {
        match self {
            Modified::Done(outcome) => outcome,
            Modified::Gone | Modified::Collision => IncrementOutcome::Gone,
        }
    }
}

/// The change of `update` and `rotate`: `changes` applied to the live record, which is
/// then written back (`Ok(Ok(()))`); document operations that do not fit the record refuse it
/// (`Err(Err(refusal))`: nothing written), as [`ChangeSet::apply_to`] defines.
///
/// ```
/// use std::time::Duration;
/// use serde_json::json;
/// use sessile::{ChangeSet, Timestamp};
/// use sessile_node::layout;
/// use sessile_node::record_json::{NodeJson, NodeShape};
///
/// let json = NodeJson::new(NodeShape::SessionMinimal, Duration::from_secs(3600));
/// let mut record = json.decode(r#"{"n":1}"#, Some(Timestamp::from_millis(3_600_000)))?;
/// let mut changes = ChangeSet::default();
/// changes.set("theme", json!("dark"));
/// assert_eq!(layout::apply(&changes)(&mut record), Ok(Ok(())));
/// assert_eq!(json.encode(&record), r#"{"n":1,"theme":"dark"}"#);
///
/// let increment = layout::increment_change(&json, "n", 2, sessile::Touch::new(Timestamp::from_millis(1_000), Timestamp::from_millis(3_601_000)));
/// assert_eq!(increment(&mut record), Ok(sessile::IncrementOutcome::Value(3)));
/// # Ok::<(), sessile::StoreError>(())
/// ```
#[allow(clippy::type_complexity)] // the `Result<T, T>` every layout change returns
pub fn apply(
    changes: &ChangeSet,
) -> impl Fn(&mut Record) -> Result<Result<(), OperationError>, Result<(), OperationError>>
       + Send
       + Sync
       + '_ {
    move |record| match changes.apply_to(record) {
        Ok(()) => {
            keep_own_lifetime(record, changes.touch);
            Ok(Ok(()))
        }
        Err(refused) => Err(Err(refused)),
    }
}

/// The change of `increment` ([`increment`] on the live record): `Ok` with the new value,
/// written back; `Err` with the refusal, nothing written.
pub fn increment_change<'a>(
    json: &'a NodeJson,
    field: &'a str,
    by: i64,
    touch: Touch,
) -> impl Fn(&mut Record) -> Result<IncrementOutcome, IncrementOutcome> + Send + Sync + 'a {
    move |record| match increment(json, record, field, by, touch) {
        outcome @ IncrementOutcome::Value(_) => Ok(outcome),
        refused => Err(refused),
    }
}

/// The answer of `list_user_sessions` and `delete_user_sessions` on every Node layout: the
/// Node packages keep no per-user index, so a user's sessions cannot be listed or revoked
/// (an error that says so, never an empty answer).
///
/// ```
/// use sessile::StoreError;
///
/// assert!(matches!(sessile_node::layout::no_user_index(), StoreError::Unsupported(_)));
/// ```
pub fn no_user_index() -> StoreError {
    StoreError::Unsupported(
        "the Node session packages keep no per-user index: a user's sessions cannot be listed \
         or revoked on their layouts",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn record(user: Option<&str>) -> Record {
        let mut record = Record::new(
            Timestamp::from_millis(0),
            Timestamp::from_millis(10_000),
            Timestamp::from_millis(i64::MAX),
        );
        record.user = user.map(str::to_owned);
        record.persistent = true;
        record
    }

    fn touch() -> Touch {
        Touch::new(
            Timestamp::from_millis(5_000),
            Timestamp::from_millis(20_000),
        )
    }

    #[test]
    fn increments_count_and_touch() {
        let json = NodeJson::new(NodeShape::Express, Duration::from_secs(3600));
        let mut record = record(None);
        let outcome = increment(&json, &mut record, "n", 2, touch());
        assert!(matches!(outcome, IncrementOutcome::Value(2)));
        assert_eq!(record.data["n"], 2);
        assert_eq!(record.last_seen, Timestamp::from_millis(5_000));
        assert_eq!(record.idle_deadline, Timestamp::from_millis(20_000));
    }

    #[test]
    fn bookkeeping_and_user_fields_are_refused() {
        let cases = [
            (NodeShape::KoaSession, "_expire"),
            (NodeShape::GenericSession, "cookie"),
            (NodeShape::Express, "cookie"),
            (NodeShape::SessionMinimal, "user"),
        ];
        for (shape, field) in cases {
            let json = NodeJson::new(shape, Duration::from_secs(3600));
            let mut record = record(Some("alice"));
            let outcome = increment(&json, &mut record, field, 1, touch());
            assert!(
                matches!(outcome, IncrementOutcome::NotAnInteger),
                "{shape:?} {field}"
            );
            assert!(record.data.is_empty());
            assert_eq!(record.last_seen, Timestamp::from_millis(0));
        }
        let json = NodeJson::new(NodeShape::SessionMinimal, Duration::from_secs(3600));
        let mut signed_out = record(None);
        let outcome = increment(&json, &mut signed_out, "user", 1, touch());
        assert!(matches!(outcome, IncrementOutcome::Value(1)));
    }

    #[test]
    fn deadlines_stand_for_the_last_write() {
        let json = NodeJson::new(NodeShape::Express, Duration::from_secs(60));
        let mut record = record(None);
        stamp_deadline(&json, &mut record, Timestamp::from_millis(100_000));
        assert_eq!(record.idle_deadline, Timestamp::from_millis(100_000));
        assert_eq!(record.last_seen, Timestamp::from_millis(40_000));
        assert_eq!(record.created_at, Timestamp::from_millis(40_000));
    }
}
