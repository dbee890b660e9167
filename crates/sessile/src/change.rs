//! What one request changed: a delta that stores apply atomically, never a snapshot.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::record::{Device, Record};
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
}

/// A request's changes to one session. Applying it to a record is what every store does, each
/// in its own dialect, in one atomic operation: first `cleared`, then `keys`, then the metadata.
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
    /// Per-key changes, applied after `cleared`.
    pub keys: BTreeMap<String, KeyChange>,
    /// `Some(user)` changes the signed-in user (`Some(None)` signs out).
    pub user: Option<Option<String>>,
    /// `Some` changes the cookie's persistence.
    pub persistent: Option<bool>,
    /// `Some` replaces the device metadata.
    pub device: Option<Device>,
    /// New activity times; the engine sets it on every commit.
    pub touch: Option<Touch>,
}

impl ChangeSet {
    /// Records `key = value`.
    pub fn set(&mut self, key: impl Into<String>, value: Value) {
        self.keys.insert(key.into(), KeyChange::Set(value));
    }

    /// Records the removal of `key`.
    pub fn remove(&mut self, key: impl Into<String>) {
        self.keys.insert(key.into(), KeyChange::Remove);
    }

    /// Records the removal of every key.
    pub fn clear(&mut self) {
        self.cleared = true;
        self.keys.clear();
    }

    /// Whether anything besides the activity times changed.
    pub fn is_empty(&self) -> bool {
        !self.cleared
            && self.keys.is_empty()
            && self.user.is_none()
            && self.persistent.is_none()
            && self.device.is_none()
    }

    /// Applies the changes to a record in memory: the reference semantics every store matches.
    pub fn apply_to(&self, record: &mut Record) {
        if self.cleared {
            record.data.clear();
        }
        for (key, change) in &self.keys {
            match change {
                KeyChange::Set(value) => {
                    record.data.insert(key.clone(), value.clone());
                }
                KeyChange::Remove => {
                    record.data.remove(key);
                }
            }
        }
        if let Some(user) = &self.user {
            record.user = user.clone();
        }
        if let Some(persistent) = self.persistent {
            record.persistent = persistent;
        }
        if let Some(device) = &self.device {
            record.device = device.clone();
        }
        if let Some(touch) = self.touch {
            record.last_seen = touch.last_seen;
            record.idle_deadline = touch.idle_deadline.min(record.absolute_deadline);
        }
    }

    /// The value `key` has after these changes, when they decide it: `Some(None)` for removed.
    pub fn decided_value(&self, key: &str) -> Option<Option<&Value>> {
        match self.keys.get(key) {
            Some(KeyChange::Set(value)) => Some(Some(value)),
            Some(KeyChange::Remove) => Some(None),
            None if self.cleared => Some(None),
            None => None,
        }
    }
}

/// Adds `by` to an integer JSON value (absent counts as 0): the increment rule every store follows.
/// `None` when the value is not an integer or the sum leaves `i64`.
///
/// ```
/// use serde_json::json;
/// assert_eq!(sessile::change::incremented(Some(&json!(41)), 1), Some(42));
/// assert_eq!(sessile::change::incremented(None, 5), Some(5));
/// assert_eq!(sessile::change::incremented(Some(&json!("x")), 1), None);
/// ```
pub fn incremented(current: Option<&Value>, by: i64) -> Option<i64> {
    match current {
        None | Some(Value::Null) => Some(by),
        Some(value) => value.as_i64()?.checked_add(by),
    }
}
