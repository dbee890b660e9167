//! The memory store's record, laid out for size: what a session costs when a process holds a
//! million of them (BENCHMARKS.md, "Scale").
//!
//! A [`Record`] is the exchange form, built for handlers: its data is a `serde_json::Map` (a
//! B-tree whose first leaf is a 632-byte allocation even for one key) and its user, device and
//! own idle timeout take 88 bytes inline whether set or not. An [`Entry`] keeps the data as one
//! boxed slice of pairs (one small allocation, none when empty) and everything most sessions
//! never set — user, persistence, device, own idle timeout — in one optional box, so an
//! anonymous session is 56 bytes inline plus its pairs.

use std::time::Duration;

use serde_json::Value;

use crate::change::{incremented, Touch};
use crate::id::StoreKey;
use crate::record::{Deadline, Device, Record, SessionData, SessionSummary};
use crate::store::IncrementOutcome;
use crate::time::Timestamp;

/// A store key's SHA-256 digest: what the maps and indexes hold instead of a [`StoreKey`],
/// which also carries room for a foreign id in clear that this store never needs (48 bytes
/// against 32).
pub(super) type Digest = [u8; 32];

/// One session as the memory store holds it.
#[derive(Debug)]
pub(super) struct Entry {
    /// The handler's data in the map's iteration order, so a record rebuilt from it iterates
    /// the same (whichever order `serde_json::Map` keeps).
    data: Box<[(Box<str>, Value)]>,
    created_at: Timestamp,
    last_seen: Timestamp,
    idle_deadline: Timestamp,
    absolute_deadline: Timestamp,
    /// `None` while every field in it has its default: the common anonymous session.
    rare: Option<Box<Rare>>,
}

/// The fields most sessions leave at their default.
#[derive(Debug, Default, PartialEq)]
struct Rare {
    user: Option<Box<str>>,
    persistent: bool,
    device: Device,
    idle_timeout: Option<Duration>,
}

impl Entry {
    /// Takes `record` apart without copying its data's keys or values.
    pub(super) fn from_record(record: Record) -> Self {
        let rare = Rare {
            user: record.user.map(String::into_boxed_str),
            persistent: record.persistent,
            device: record.device,
            idle_timeout: record.idle_timeout,
        };
        Self {
            data: record
                .data
                .into_iter()
                .map(|(key, value)| (key.into_boxed_str(), value))
                .collect(),
            created_at: record.created_at,
            last_seen: record.last_seen,
            idle_deadline: record.idle_deadline,
            absolute_deadline: record.absolute_deadline,
            rare: (rare != Rare::default()).then(|| Box::new(rare)),
        }
    }

    /// The record this entry holds, copied out.
    pub(super) fn to_record(&self) -> Record {
        let mut data = SessionData::new();
        for (key, value) in self.data.iter() {
            data.insert(key.to_string(), value.clone());
        }
        let rare = self.rare.as_deref();
        Record {
            data,
            user: self.user().map(str::to_owned),
            created_at: self.created_at,
            last_seen: self.last_seen,
            idle_deadline: self.idle_deadline,
            absolute_deadline: self.absolute_deadline,
            persistent: rare.is_some_and(|rare| rare.persistent),
            device: rare.map(|rare| rare.device.clone()).unwrap_or_default(),
            idle_timeout: rare.and_then(|rare| rare.idle_timeout),
        }
    }

    /// The record this entry holds, moved out.
    pub(super) fn into_record(self) -> Record {
        let rare = self.rare.map(|rare| *rare).unwrap_or_default();
        Record {
            data: self
                .data
                .into_vec()
                .into_iter()
                .map(|(key, value)| (key.into_string(), value))
                .collect(),
            user: rare.user.map(str::into_string),
            created_at: self.created_at,
            last_seen: self.last_seen,
            idle_deadline: self.idle_deadline,
            absolute_deadline: self.absolute_deadline,
            persistent: rare.persistent,
            device: rare.device,
            idle_timeout: rare.idle_timeout,
        }
    }

    pub(super) fn last_seen(&self) -> Timestamp {
        self.last_seen
    }

    pub(super) fn user(&self) -> Option<&str> {
        self.rare.as_deref().and_then(|rare| rare.user.as_deref())
    }

    pub(super) fn expires_at(&self) -> Timestamp {
        self.idle_deadline.min(self.absolute_deadline)
    }

    pub(super) fn is_live(&self, now: Timestamp) -> bool {
        now < self.expires_at()
    }

    pub(super) fn expired_by(&self, now: Timestamp) -> Option<Deadline> {
        Deadline::passed(self.idle_deadline, self.absolute_deadline, now)
    }

    pub(super) fn summary(&self, digest: &Digest) -> SessionSummary {
        let device = self.rare.as_deref().map(|rare| rare.device.clone());
        SessionSummary::new(
            StoreKey::from_bytes(*digest),
            self.created_at,
            self.last_seen,
            self.expires_at(),
            device.unwrap_or_default(),
        )
    }

    /// `Store::increment` on this entry, which is live: the field changes where it lies, and
    /// only a field the session did not have yet reallocates the pairs.
    pub(super) fn increment(&mut self, field: &str, by: i64, touch: Touch) -> IncrementOutcome {
        let slot = self.data.iter().position(|(key, _)| &**key == field);
        let Some(value) = incremented(slot.map(|at| &self.data[at].1), by) else {
            return IncrementOutcome::NotAnInteger;
        };
        match slot {
            Some(at) => self.data[at].1 = value.into(),
            None => {
                // Appended: a map rebuilt from the pairs sorts them if it is a B-tree, and keeps
                // this order (insertion order) if it preserves order.
                let mut pairs = std::mem::take(&mut self.data).into_vec();
                pairs.push((field.into(), value.into()));
                self.data = pairs.into_boxed_slice();
            }
        }
        // `ChangeSet::apply_to`'s rule for a touch, without building a change set per call.
        self.last_seen = touch.last_seen;
        let own_idle_timeout = self.rare.as_deref().and_then(|rare| rare.idle_timeout);
        self.idle_deadline = touch
            .idle_deadline_for(own_idle_timeout)
            .min(self.absolute_deadline);
        IncrementOutcome::Value(value)
    }

    /// Runs `change` on the record this entry holds and keeps what it leaves, whatever
    /// `change` returns.
    pub(super) fn change<T>(&mut self, change: impl FnOnce(&mut Record) -> T) -> T {
        let placeholder = Self {
            data: Box::default(),
            rare: None,
            ..*self
        };
        let mut record = std::mem::replace(self, placeholder).into_record();
        let outcome = change(&mut record);
        *self = Self::from_record(record);
        outcome
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> Record {
        let at = Timestamp::from_millis(1_000);
        Record::new(
            at,
            Timestamp::from_millis(61_000),
            Timestamp::from_millis(3_601_000),
        )
    }

    #[test]
    fn a_record_comes_back_whole_through_an_entry() {
        let plain = record();
        let mut full = record();
        full.data
            .insert("b".into(), serde_json::json!({"nested": [1, 2]}));
        full.data.insert("a".into(), "x".into());
        full.user = Some("ada".into());
        full.persistent = true;
        full.device = Device::new(Some("Firefox on Linux".into()), Some("10.0.0.1".into()));
        full.idle_timeout = Some(Duration::from_secs(600));
        for original in [plain, full] {
            let entry = Entry::from_record(original.clone());
            assert_eq!(entry.to_record(), original);
            assert_eq!(entry.into_record(), original);
        }
    }

    #[test]
    fn an_anonymous_session_boxes_nothing_rare() {
        let mut anonymous = record();
        anonymous.data.insert("n".into(), 1.into());
        assert!(Entry::from_record(anonymous).rare.is_none());
        assert!(std::mem::size_of::<Entry>() <= 56);
    }

    #[test]
    fn an_increment_adds_a_missing_field_in_the_maps_order() {
        let mut original = record();
        original.data.insert("z".into(), 1.into());
        let mut entry = Entry::from_record(original.clone());
        let touch = Touch::new(
            Timestamp::from_millis(2_000),
            Timestamp::from_millis(62_000),
        );
        assert_eq!(entry.increment("a", 5, touch), IncrementOutcome::Value(5));
        assert_eq!(entry.increment("z", 2, touch), IncrementOutcome::Value(3));
        original.data.insert("a".into(), 5.into());
        original.data.insert("z".into(), 3.into());
        original.last_seen = touch.last_seen;
        original.idle_deadline = touch.idle_deadline;
        assert_eq!(entry.to_record(), original);
        let keys: Vec<String> = entry.to_record().data.keys().cloned().collect();
        let expected: Vec<String> = original.data.keys().cloned().collect();
        assert_eq!(keys, expected);
    }
}
