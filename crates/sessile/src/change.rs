//! What one request changed: a delta that stores apply atomically, never a snapshot.

use indexmap::IndexMap;

use serde_json::Value;

pub use crate::document::incremented;
use crate::document::{Operation, OperationError, Path};
use crate::record::{Device, Record, SessionData};
use crate::time::Timestamp;

/// The fate of one data key in a [`ChangeSet`].
#[derive(Clone, Debug, PartialEq)]
pub enum KeyChange {
    /// The key now holds this value.
    Set(Value),
    /// The key is gone.
    Remove,
}

/// New activity times written with every commit.
///
/// `idle_deadline` is the new inactivity deadline of a session that has no idle timeout of its
/// own. A store applying a touch to a record that has one ([`Record::idle_timeout`], after the
/// change set's own metadata) moves it to `last_seen` plus that timeout instead
/// ([`Touch::idle_deadline_for`]): the engine writes without loading the record, so only the
/// store knows which applies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Touch {
    /// The time of this write.
    pub last_seen: Timestamp,
    /// The new inactivity deadline (never past the absolute deadline).
    pub idle_deadline: Timestamp,
}

impl Touch {
    /// A write at `last_seen` that moves the inactivity deadline to `idle_deadline`.
    ///
    /// ```
    /// use sessile::{Timestamp, Touch};
    /// let touch = Touch::new(Timestamp::from_millis(1_000), Timestamp::from_millis(61_000));
    /// assert_eq!(touch.idle_deadline, Timestamp::from_millis(61_000));
    /// ```
    pub fn new(last_seen: Timestamp, idle_deadline: Timestamp) -> Self {
        Self {
            last_seen,
            idle_deadline,
        }
    }

    /// The idle deadline this touch gives a session whose own idle timeout is `own`
    /// ([`Record::idle_timeout`]), before clamping to its absolute deadline.
    ///
    /// ```
    /// use std::time::Duration;
    /// use sessile::{Timestamp, Touch};
    /// let touch = Touch::new(Timestamp::from_millis(1_000), Timestamp::from_millis(61_000));
    /// assert_eq!(touch.idle_deadline_for(None), Timestamp::from_millis(61_000));
    /// let own = Some(Duration::from_secs(600));
    /// assert_eq!(touch.idle_deadline_for(own), Timestamp::from_millis(601_000));
    /// ```
    pub fn idle_deadline_for(&self, own: Option<std::time::Duration>) -> Timestamp {
        own.map_or(self.idle_deadline, |timeout| self.last_seen + timeout)
    }
}

/// A request's changes to one session. Applying it to a record is what every store does, each
/// in its own dialect, in one atomic operation: first `cleared`, then `keys`, then `operations`
/// in order, then the metadata. Document operations that cannot apply (an increment of a
/// string, a push to an object) refuse the whole change set: nothing of it is written.
///
/// ```
/// use sessile::{ChangeSet, KeyChange};
/// let mut changes = ChangeSet::default();
/// changes.set("theme", serde_json::json!("dark"));
/// changes.remove("cart");
/// assert_eq!(changes.keys["cart"], KeyChange::Remove);
/// assert!(!changes.is_empty());
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
#[non_exhaustive]
pub struct ChangeSet {
    /// Every key present before this request is dropped first.
    pub cleared: bool,
    /// Per-key changes, applied after `cleared`, in the order the handler first made them:
    /// a key new to the session lands after the keys before it, so a store writing whole
    /// documents keeps the key order a Node app writes (a JavaScript object's insertion order).
    pub keys: IndexMap<String, KeyChange>,
    /// Document operations, applied after `keys`, in the order recorded. Once there is one,
    /// [`ChangeSet::set`] and [`ChangeSet::remove`] are recorded here too, so every change
    /// applies in the order the handler made it.
    pub operations: Vec<Operation>,
    /// `Some(user)` changes the signed-in user (`Some(None)` signs out).
    pub user: Option<Option<String>>,
    /// `Some` changes the cookie's persistence.
    pub persistent: Option<bool>,
    /// `Some` replaces the device metadata.
    pub device: Option<Device>,
    /// `Some(Some(t))` gives the session its own idle timeout, `Some(None)` returns it to the
    /// manager's ([`Record::idle_timeout`]). Applied before `touch`, which then uses it.
    pub idle_timeout: Option<Option<std::time::Duration>>,
    /// `Some` moves the absolute deadline (a session's own lifetime, counted from its
    /// creation; the engine resolves [`crate::Session::set_lifetime`] into it).
    pub absolute_deadline: Option<Timestamp>,
    /// New activity times; the engine sets it on every commit.
    pub touch: Option<Touch>,
    /// The lifetime [`crate::Session::set_lifetime`] asked for, counted from the session's
    /// creation: the engine turns it into `absolute_deadline` once it knows the record, and
    /// never hands a store a change set that still holds it.
    pub(crate) lifetime: Option<std::time::Duration>,
    /// Only read by [`crate::Store::rotate`]: leave a forward pointer under the old key, so
    /// requests still carrying the old id during the rotation grace window are served by the
    /// rotated session. The engine sets it when [`crate::Config::rotation_grace`] is not zero.
    pub forward: Option<Forward>,
    /// Set by the engine beside a sign-in (`user: Some(Some(u))`) when the manager has a
    /// per-user limit ([`crate::ConfigBuilder::max_sessions_per_user`]). `update` and `rotate`
    /// then count `u`'s other sessions live at `now` (neither this key nor the rotation's old
    /// one) in the same atomic operation as the write, and apply
    /// [`crate::limit::UserLimit::decide`]: delete the sessions it evicts, or write nothing
    /// and answer `Refused`. A store without a per-user index answers
    /// [`crate::StoreError::Unsupported`] ([`crate::store::PER_USER_LIMIT`]).
    pub user_limit: Option<crate::limit::UserLimit>,
}

/// The forward pointer a rotation leaves under the old key: until `until`, the old key leads
/// to the new one. The store keeps `sealed_id` (the new id, sealed under a key only the holder of
/// the old id can derive) and answers [`crate::store::Lookup::Forwarded`] for the old key,
/// with the new key and these bytes; it never holds a usable id in clear.
///
/// ```
/// use sessile::{ChangeSet, Forward, Timestamp};
/// let mut changes = ChangeSet::default();
/// changes.forward = Some(Forward::new(vec![1, 2, 3], Timestamp::from_millis(5_000)));
/// // A forward is not a change of the session: nothing to write without a rotation.
/// assert!(changes.is_empty());
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Forward {
    /// The new id, sealed for the holder of the old one (opaque to the store).
    pub sealed_id: Vec<u8>,
    /// When the old key stops leading anywhere.
    pub until: Timestamp,
}

impl Forward {
    /// A forward pointer holding `sealed_id` until `until`.
    pub fn new(sealed_id: Vec<u8>, until: Timestamp) -> Self {
        Self { sealed_id, until }
    }
}

impl ChangeSet {
    /// Records `key = value`.
    pub fn set(&mut self, key: impl Into<String>, value: Value) {
        let key = key.into();
        if self.operations.is_empty() {
            self.keys.insert(key, KeyChange::Set(value));
        } else {
            let path = Path::key(&key);
            self.operations.push(Operation::Set { path, value });
        }
    }

    /// Records the removal of `key`.
    pub fn remove(&mut self, key: impl Into<String>) {
        let key = key.into();
        if self.operations.is_empty() {
            self.keys.insert(key, KeyChange::Remove);
        } else {
            let path = Path::key(&key);
            self.operations.push(Operation::Remove { path });
        }
    }

    /// Records a document operation, applied after every change recorded before it.
    ///
    /// ```
    /// use serde_json::json;
    /// use sessile::document::{Operation, Path};
    /// use sessile::ChangeSet;
    /// let mut changes = ChangeSet::default();
    /// changes.operate(Operation::Push { path: Path::parse("cart.items")?, values: vec![json!(7)] });
    /// assert!(changes.touches("cart"));
    /// # Ok::<(), sessile::document::OperationError>(())
    /// ```
    pub fn operate(&mut self, operation: Operation) {
        self.operations.push(operation);
    }

    /// Records the removal of every key.
    pub fn clear(&mut self) {
        self.cleared = true;
        self.keys.clear();
        self.operations.clear();
    }

    /// Whether a document operation reads or writes the top-level `key`.
    pub fn touches(&self, key: &str) -> bool {
        self.operations
            .iter()
            .any(|operation| operation.paths().any(|path| path.top() == key))
    }

    /// Whether anything besides the activity times changed.
    pub fn is_empty(&self) -> bool {
        !self.cleared
            && self.keys.is_empty()
            && self.operations.is_empty()
            && self.user.is_none()
            && self.persistent.is_none()
            && self.device.is_none()
            && self.idle_timeout.is_none()
            && self.absolute_deadline.is_none()
            && self.lifetime.is_none()
    }

    /// Whether the change set gives the session its own idle timeout or lifetime, or takes it
    /// back: what a store that keeps neither answers [`crate::StoreError::Unsupported`] to
    /// (taking back a timeout the record does not have is nothing to refuse).
    pub fn sets_own_lifetime(&self) -> bool {
        matches!(self.idle_timeout, Some(Some(_))) || self.absolute_deadline.is_some()
    }

    /// Applies the changes to a record in memory: the reference semantics every store matches.
    /// When a document operation cannot apply, the record is left as it was.
    pub fn apply_to(&self, record: &mut Record) -> Result<(), OperationError> {
        if self.operations.is_empty() {
            self.apply_keys_to(&mut record.data);
        } else {
            let mut data = record.data.clone();
            self.apply_data_to(&mut data)?;
            record.data = data;
        }
        self.apply_metadata_to(record);
        Ok(())
    }

    /// Applies the data part (`cleared`, `keys`, `operations`) to `data`. On an error `data`
    /// may be partly changed: apply to a copy, or write nothing back.
    pub fn apply_data_to(&self, data: &mut SessionData) -> Result<(), OperationError> {
        self.apply_keys_to(data);
        for operation in &self.operations {
            operation.apply(data)?;
        }
        Ok(())
    }

    /// Turns the document operations into plain key changes with the values they give `data`
    /// (the record a rotation loaded): what a store without the operations can apply.
    pub fn resolve_operations(&mut self, data: &SessionData) -> Result<(), OperationError> {
        if self.operations.is_empty() {
            return Ok(());
        }
        let mut after = data.clone();
        self.apply_data_to(&mut after)?;
        let operations = std::mem::take(&mut self.operations);
        for path in operations.iter().flat_map(Operation::paths) {
            let key = path.top();
            let change = match after.get(key) {
                Some(value) => KeyChange::Set(value.clone()),
                None => KeyChange::Remove,
            };
            self.keys.insert(key.to_owned(), change);
        }
        Ok(())
    }

    fn apply_keys_to(&self, data: &mut SessionData) {
        if self.cleared {
            data.clear();
        }
        for (key, change) in &self.keys {
            match change {
                KeyChange::Set(value) => {
                    data.insert(key.clone(), value.clone());
                }
                KeyChange::Remove => {
                    // The other keys keep their order, as JavaScript's `delete` leaves it.
                    data.shift_remove(key);
                }
            }
        }
    }

    /// Turns a requested lifetime into the absolute deadline of `record` (created at
    /// `created_at`), before the change set reaches a store.
    pub(crate) fn resolve_lifetime(&mut self, created_at: Timestamp) {
        if let Some(lifetime) = self.lifetime.take() {
            self.absolute_deadline = Some(created_at + lifetime);
        }
    }

    pub(crate) fn apply_metadata_to(&self, record: &mut Record) {
        if let Some(user) = &self.user {
            record.user = user.clone();
        }
        if let Some(persistent) = self.persistent {
            record.persistent = persistent;
        }
        if let Some(device) = &self.device {
            record.device = device.clone();
        }
        if let Some(idle_timeout) = self.idle_timeout {
            record.idle_timeout = idle_timeout;
        }
        if let Some(absolute_deadline) = self.absolute_deadline {
            record.absolute_deadline = absolute_deadline;
        }
        if let Some(touch) = self.touch {
            record.last_seen = touch.last_seen;
            record.idle_deadline = touch
                .idle_deadline_for(record.idle_timeout)
                .min(record.absolute_deadline);
        }
    }

    /// The value `key` has after these changes, when they decide it without the stored data:
    /// `Some(None)` for removed; `None` when a document operation touches it.
    pub fn decided_value(&self, key: &str) -> Option<Option<&Value>> {
        if self.touches(key) {
            return None;
        }
        match self.keys.get(key) {
            Some(KeyChange::Set(value)) => Some(Some(value)),
            Some(KeyChange::Remove) => Some(None),
            None if self.cleared => Some(None),
            None => None,
        }
    }
}
