//! The stored session record.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::time::Timestamp;

/// The handler's data: string keys, JSON values.
pub type SessionData = Map<String, Value>;

/// What the "my devices" page shows about the client that created (or signed in to) a session.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Device {
    /// A short summary of the User-Agent, such as "Firefox on Linux".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
    /// The client's IP address, only when the app opted in ([`crate::Config::record_ip`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip: Option<String>,
}

impl Device {
    /// A device summary: the User-Agent summary and the client's address, if kept.
    ///
    /// ```
    /// let device = sessile::Device::new(Some("Firefox on Linux".into()), None);
    /// assert_eq!(device.user_agent.as_deref(), Some("Firefox on Linux"));
    /// ```
    pub fn new(user_agent: Option<String>, ip: Option<String>) -> Self {
        Self { user_agent, ip }
    }
}

/// One session as a store keeps it.
///
/// A record is live while `now` is before both its idle and its absolute deadline; stores never
/// return a record that is not ([`Record::expires_at`]). Stores and codecs build one with
/// [`Record::new`] and set the fields they read.
///
/// ```
/// use sessile::{Record, Timestamp};
/// let (created, idle, absolute) = (0, 60_000, 3_600_000);
/// let [created, idle, absolute] = [created, idle, absolute].map(Timestamp::from_millis);
/// let mut record = Record::new(created, idle, absolute);
/// record.user = Some("ada".into());
/// record.data.insert("theme".into(), "dark".into());
/// assert!(record.is_live(Timestamp::from_millis(59_999)));
/// assert!(!record.is_live(Timestamp::from_millis(60_000)));
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Record {
    /// The handler's data.
    pub data: SessionData,
    /// The signed-in user, kept in the store's per-user index.
    pub user: Option<String>,
    /// When the session was created. Rotation keeps it.
    pub created_at: Timestamp,
    /// When the session was last written (created, changed or touched).
    pub last_seen: Timestamp,
    /// Inactivity deadline, moved forward by activity.
    pub idle_deadline: Timestamp,
    /// Hard deadline from creation, never moved.
    pub absolute_deadline: Timestamp,
    /// Whether the cookie outlives the browser session ("remember me").
    pub persistent: bool,
    /// The client that created or signed in to the session.
    pub device: Device,
    /// This session's own idle timeout, when it has one: touches move its idle deadline by
    /// this window instead of the configuration's (a Node app's per-session `maxAge`, kept
    /// as the Node package keeps it; "remember me" through
    /// [`crate::Session::set_idle_timeout`]; the anonymous one). `None`: the configuration's
    /// idle timeout. Every store keeps it, and every write that moves the idle deadline uses
    /// it, the blind ones included ([`crate::Touch::idle_deadline_for`]).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "crate::time::optional_millis"
    )]
    pub idle_timeout: Option<std::time::Duration>,
}

impl Record {
    /// A session created at `created_at` (also its last write) with the given deadlines: no
    /// data, no user, a browser-session cookie, no device metadata.
    pub fn new(
        created_at: Timestamp,
        idle_deadline: Timestamp,
        absolute_deadline: Timestamp,
    ) -> Self {
        Self {
            data: SessionData::new(),
            user: None,
            created_at,
            last_seen: created_at,
            idle_deadline,
            absolute_deadline,
            persistent: false,
            device: Device::default(),
            idle_timeout: None,
        }
    }

    /// The moment the record stops being live: the earlier of its two deadlines.
    pub fn expires_at(&self) -> Timestamp {
        self.idle_deadline.min(self.absolute_deadline)
    }

    /// Whether the record is still live at `now`.
    pub fn is_live(&self, now: Timestamp) -> bool {
        now < self.expires_at()
    }

    /// Which deadline ended the record by `now`, or `None` while it is live. The absolute
    /// deadline wins when both have passed, and when a touch clamped the idle deadline to it:
    /// the session could not have lived longer however active it was.
    ///
    /// ```
    /// use std::time::Duration;
    /// use sessile::{Deadline, Device, Record, Timestamp};
    /// let start = Timestamp::from_millis(0);
    /// let (idle, absolute) = (Duration::from_secs(60), Duration::from_secs(3600));
    /// let record = Record::new(start, start + idle, start + absolute);
    /// assert_eq!(record.expired_by(start), None);
    /// assert_eq!(record.expired_by(start + Duration::from_secs(60)), Some(Deadline::Idle));
    /// assert_eq!(record.expired_by(start + Duration::from_secs(3600)), Some(Deadline::Absolute));
    /// ```
    pub fn expired_by(&self, now: Timestamp) -> Option<Deadline> {
        Deadline::passed(self.idle_deadline, self.absolute_deadline, now)
    }
}

/// Which of a session's two deadlines ended it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Deadline {
    /// The idle timeout: no activity for too long.
    Idle,
    /// The absolute lifetime, counted from creation: activity cannot extend it.
    Absolute,
}

impl Deadline {
    /// Which of a session's deadlines has passed at `now` ([`Record::expired_by`] for a record
    /// not decoded yet): a store reading the two deadline columns decides with it before
    /// decoding the rest, so an expired row is reported expired, whatever its data.
    ///
    /// ```
    /// use sessile::{Deadline, Timestamp};
    /// let (idle, absolute) = (Timestamp::from_millis(10), Timestamp::from_millis(20));
    /// assert_eq!(Deadline::passed(idle, absolute, Timestamp::from_millis(9)), None);
    /// assert_eq!(Deadline::passed(idle, absolute, Timestamp::from_millis(10)), Some(Deadline::Idle));
    /// assert_eq!(Deadline::passed(idle, absolute, Timestamp::from_millis(20)), Some(Deadline::Absolute));
    /// ```
    pub fn passed(idle: Timestamp, absolute: Timestamp, now: Timestamp) -> Option<Deadline> {
        if now >= absolute {
            Some(Deadline::Absolute)
        } else if now >= idle {
            Some(Deadline::Idle)
        } else {
            None
        }
    }
}

/// A session as the per-user listing shows it, without its data.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct SessionSummary {
    /// The session's store key, which names it without revealing its id.
    pub key: crate::id::StoreKey,
    /// When it was created.
    pub created_at: Timestamp,
    /// When it was last written.
    pub last_seen: Timestamp,
    /// When it expires unless used.
    pub expires_at: Timestamp,
    /// The client that created or signed in to it.
    pub device: Device,
    /// Whether this is the session of the request that listed it: set by
    /// [`Session::user_sessions`](crate::Session::user_sessions), so a page can mark "this
    /// device" (and warn before revoking it). Stores always return `false`; they do not know
    /// which request asks.
    #[serde(default)]
    pub current: bool,
}

impl SessionSummary {
    /// The summary of the session under `key`, for stores that read it without its data.
    ///
    /// ```
    /// use sessile::{Device, SessionId, SessionSummary, Timestamp};
    /// let key = SessionId::generate().store_key();
    /// let at = Timestamp::from_millis(0);
    /// let expires = Timestamp::from_millis(60_000);
    /// let summary = SessionSummary::new(key, at, at, expires, Device::default());
    /// assert_eq!(summary.expires_at, Timestamp::from_millis(60_000));
    /// ```
    pub fn new(
        key: crate::id::StoreKey,
        created_at: Timestamp,
        last_seen: Timestamp,
        expires_at: Timestamp,
        device: Device,
    ) -> Self {
        Self {
            key,
            created_at,
            last_seen,
            expires_at,
            device,
            current: false,
        }
    }

    /// The summary of a record stored under `key`.
    pub fn of(key: crate::id::StoreKey, record: &Record) -> Self {
        Self {
            key,
            created_at: record.created_at,
            last_seen: record.last_seen,
            expires_at: record.expires_at(),
            device: record.device.clone(),
            current: false,
        }
    }
}

impl Serialize for crate::id::StoreKey {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_hex())
    }
}

impl<'de> Deserialize<'de> for crate::id::StoreKey {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        crate::id::StoreKey::from_hex(&text)
            .ok_or_else(|| serde::de::Error::custom("a store key is 64 hex characters"))
    }
}
