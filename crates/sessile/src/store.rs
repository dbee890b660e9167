//! The store contract: what every session store guarantees, its typed errors and outcomes.

use std::sync::Arc;

use async_trait::async_trait;

use crate::change::{ChangeSet, Touch};
use crate::id::StoreKey;
use crate::limit::UserLimit;
use crate::record::{Deadline, Record, SessionSummary};
use crate::time::Timestamp;

/// A boxed error from a store's driver.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// What can go wrong talking to a store. Conflicts are outcomes, not errors.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The store could not be reached in time: connection refused or lost, pool exhausted,
    /// timeout. The request fails with 503 and the app recovers when the store is back.
    #[error("session store unavailable: {0}")]
    Unavailable(BoxError),
    /// A record exists but cannot be decoded. The engine treats it as no session.
    #[error("corrupt session record: {0}")]
    Corrupt(String),
    /// Anything else the store reported.
    #[error("session store error: {0}")]
    Backend(BoxError),
    /// The store's layout cannot do this at all: a Node-compatible layout, say, keeps no
    /// per-user index to list or revoke a user's sessions by.
    #[error("not supported by this session store: {0}")]
    Unsupported(&'static str),
    /// The change set's document operations cannot apply to the stored data (a push to a
    /// string, a path through a number): nothing of the change set was written.
    #[error(transparent)]
    Operation(#[from] crate::document::OperationError),
}

impl StoreError {
    /// An `Unavailable` error from a message.
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::Unavailable(message.into().into())
    }
}

/// What a store without a per-user index answers to a per-user limit
/// ([`StoreError::Unsupported`]), from [`Store::create_within_limit`]'s default and from an
/// `update` or `rotate` whose change set carries [`ChangeSet::user_limit`].
pub const PER_USER_LIMIT: &str = "a per-user session limit";

/// Result of [`Store::create`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CreateOutcome {
    /// The record was inserted.
    Created,
    /// A record already exists under that key; nothing was written. The engine picks a new id.
    Collision,
    /// Only from [`Store::create_within_limit`]: the user already holds the limit's `max`
    /// live sessions and its policy refuses another; nothing was written.
    Refused,
}

/// Result of [`Store::update`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum UpdateOutcome {
    /// The changes were applied.
    Applied,
    /// The record is gone (deleted, revoked or expired); nothing was written, nothing recreated.
    Gone,
    /// Only for a sign-in under [`ChangeSet::user_limit`]: the user already holds the limit's
    /// `max` live sessions and its policy refuses another; nothing was written.
    Refused,
}

/// Result of [`Store::rotate`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RotateOutcome {
    /// The record now lives under the new key only, with the changes applied.
    Rotated,
    /// The old record is gone; nothing was written.
    Gone,
    /// The new key is taken; nothing was written. The engine picks another id.
    Collision,
    /// Only for a sign-in under [`ChangeSet::user_limit`]: the user already holds the limit's
    /// `max` live sessions and its policy refuses another; nothing was written, the session
    /// stays under `from`.
    Refused,
}

/// Result of [`Store::increment`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum IncrementOutcome {
    /// The value after this and every earlier increment.
    Value(i64),
    /// The record is gone; nothing was written.
    Gone,
    /// The key holds something other than an integer, or the sum would overflow; nothing was written.
    NotAnInteger,
}

/// Result of [`Store::lookup`]: what the store holds under a key at `now`.
///
/// ```
/// use std::time::Duration;
/// use sessile::store::Lookup;
/// use sessile::{Deadline, MemoryStore, Record, SessionId, Store, Timestamp};
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let store = MemoryStore::new();
/// let key = SessionId::generate().store_key();
/// let start = Timestamp::from_millis(0);
/// let (idle, absolute) = (Duration::from_secs(60), Duration::from_secs(3600));
/// let record = Record::new(start, start + idle, start + absolute);
/// store.create(&key, &record).await.unwrap();
/// let later = start + Duration::from_secs(61);
/// assert_eq!(store.lookup(&key, later).await.unwrap(), Lookup::Expired(Deadline::Idle));
/// assert_eq!(store.lookup(&key, later).await.unwrap().into_live(), None);
/// # });
/// ```
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Lookup {
    /// A live record.
    Live(Record),
    /// A record the store still holds whose `deadline` has passed: it is no session, and the
    /// engine reports it as [`crate::Event::Expired`].
    Expired(Deadline),
    /// Nothing under the key: never created, deleted (signed out, revoked, cleaned up), or
    /// expired and already dropped by the store (Redis deletes a key at its deadline). The
    /// engine reports it as [`crate::Event::Missed`].
    Missing,
    /// No session, but a forward pointer a rotation left under this key less than the
    /// rotation grace window ago ([`crate::Forward`]): the session now lives under `to`, and
    /// `sealed_id` is the new id sealed for the holder of the old one. The engine opens it,
    /// checks that it hashes to `to` and serves the request from there.
    Forwarded {
        /// The key the session moved to.
        to: StoreKey,
        /// [`crate::Forward::sealed_id`], as the rotation stored it.
        sealed_id: Vec<u8>,
    },
}

impl Lookup {
    /// The live record, if any: what [`Store::load`] answers.
    pub fn into_live(self) -> Option<Record> {
        match self {
            Lookup::Live(record) => Some(record),
            Lookup::Expired(_) | Lookup::Missing | Lookup::Forwarded { .. } => None,
        }
    }
}

/// One session as [`Store::scan`] reports it: its summary (never its data) and its user.
///
/// ```
/// use sessile::store::ScannedSession;
/// use sessile::{Device, SessionId, SessionSummary, Timestamp};
/// let at = Timestamp::from_millis(0);
/// let summary = SessionSummary::new(SessionId::generate().store_key(), at, at, at, Device::default());
/// let session = ScannedSession::new(summary, Some("alice".to_owned()));
/// assert_eq!(session.user.as_deref(), Some("alice"));
/// ```
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct ScannedSession {
    /// Key, times and device, as a user listing shows them; `expires_at` may have passed.
    pub summary: SessionSummary,
    /// The signed-in user, if any.
    pub user: Option<String>,
}

impl ScannedSession {
    /// A scanned session from its summary and user.
    pub fn new(summary: SessionSummary, user: Option<String>) -> Self {
        Self { summary, user }
    }
}

/// One page of [`Store::scan`]: some sessions and where the next page starts.
///
/// ```
/// use sessile::store::ScanPage;
/// let last = ScanPage::new(Vec::new(), None);
/// assert!(last.next.is_none());
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
#[non_exhaustive]
pub struct ScanPage {
    /// The sessions of this page, at most the `limit` asked for.
    pub sessions: Vec<ScannedSession>,
    /// The cursor of the next page (the store's own text), `None` after the last page.
    pub next: Option<String>,
}

impl ScanPage {
    /// A page from its sessions and the next page's cursor.
    pub fn new(sessions: Vec<ScannedSession>, next: Option<String>) -> Self {
        Self { sessions, next }
    }
}

/// One page of [`Store::list_user_sessions`]: some of a user's live sessions, oldest first,
/// and where the next page starts.
///
/// ```
/// use sessile::store::UserSessionsPage;
/// let last = UserSessionsPage::new(Vec::new(), None);
/// assert!(last.sessions.is_empty() && last.next.is_none());
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
#[non_exhaustive]
pub struct UserSessionsPage {
    /// The sessions of this page, at most the `limit` asked for.
    pub sessions: Vec<SessionSummary>,
    /// The cursor of the next page (the store's own text), `None` after the last page.
    pub next: Option<String>,
}

impl UserSessionsPage {
    /// A page from its sessions and the next page's cursor.
    pub fn new(sessions: Vec<SessionSummary>, next: Option<String>) -> Self {
        Self { sessions, next }
    }

    /// The page of a store that read up to `limit + 1` sessions in creation order (by
    /// `created_at`, then key) after the cursor: the first `limit`, and a [`UserCursor`] after
    /// the last of them when there was one more.
    ///
    /// ```
    /// use sessile::store::UserSessionsPage;
    /// use sessile::{Device, SessionId, SessionSummary, Timestamp};
    /// let at = Timestamp::from_millis(0);
    /// let read: Vec<SessionSummary> = (0..3)
    ///     .map(|_| SessionSummary::new(SessionId::generate().store_key(), at, at, at, Device::default()))
    ///     .collect();
    /// let page = UserSessionsPage::from_read(read, 2);
    /// assert_eq!(page.sessions.len(), 2);
    /// assert!(page.next.is_some());
    /// ```
    pub fn from_read(mut sessions: Vec<SessionSummary>, limit: u32) -> Self {
        let limit = limit.max(1) as usize;
        let next = (sessions.len() > limit).then(|| {
            let last = &sessions[limit - 1];
            UserCursor::new(last.created_at, last.key.clone()).to_string()
        });
        sessions.truncate(limit);
        Self { sessions, next }
    }
}

/// Where a page of a user's sessions ended, for stores that order a user's sessions by a time
/// and then by key (creation time in the memory and SQL stores, the absolute deadline in
/// Redis's user index): the last session's time and key, as the text `<millis>.<key hex>`.
/// The next page starts strictly after it, so a session deleted between pages cannot make the
/// next page start over.
///
/// ```
/// use sessile::store::UserCursor;
/// use sessile::{SessionId, Timestamp};
/// let cursor = UserCursor::new(Timestamp::from_millis(1_700), SessionId::generate().store_key());
/// let text = cursor.to_string();
/// assert_eq!(UserCursor::parse(&text).unwrap(), cursor);
/// assert!(UserCursor::parse("not a cursor").is_err());
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct UserCursor {
    /// The last listed session's position in time, in the store's ordering.
    pub at: Timestamp,
    /// The last listed session's key: the tie-break between sessions at the same time.
    pub key: StoreKey,
}

impl UserCursor {
    /// The cursor after the session at `at` under `key`.
    pub fn new(at: Timestamp, key: StoreKey) -> Self {
        Self { at, key }
    }

    /// Reads a cursor a page gave; any other text is a [`StoreError::Backend`] naming it, never
    /// a page from elsewhere.
    pub fn parse(text: &str) -> Result<Self, StoreError> {
        let refused = || StoreError::Backend(format!("not a user listing cursor: {text:?}").into());
        let (at, key) = text.split_once('.').ok_or_else(refused)?;
        let at: i64 = at.parse().map_err(|_| refused())?;
        let key = StoreKey::from_hex(key).ok_or_else(refused)?;
        Ok(Self::new(Timestamp::from_millis(at), key))
    }

    /// Whether a session at `at` under `key` comes after this cursor in the listing's order.
    ///
    /// ```
    /// use sessile::store::UserCursor;
    /// use sessile::{SessionId, Timestamp};
    /// let key = SessionId::generate().store_key();
    /// let cursor = UserCursor::new(Timestamp::from_millis(5), key.clone());
    /// assert!(!cursor.precedes(Timestamp::from_millis(5), &key));
    /// assert!(cursor.precedes(Timestamp::from_millis(6), &key));
    /// ```
    pub fn precedes(&self, at: Timestamp, key: &StoreKey) -> bool {
        (self.at, &self.key) < (at, key)
    }
}

impl std::fmt::Display for UserCursor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.at.as_millis(), self.key.to_hex())
    }
}

/// A session store.
///
/// The contract, which `sessile::testkit` (feature `testkit`) checks against a real server:
/// - records are addressed by [`StoreKey`] (SHA-256 of the id), never by the raw id;
/// - a record whose deadline has passed at `now` is never returned or changed;
/// - every method is one atomic operation (one statement, transaction or script);
/// - `update`, `rotate` and `increment` never create a record: a deleted session stays deleted;
/// - concurrent updates of different keys all persist; `increment` is atomic;
/// - the per-user index is kept in the same atomic operation as the record;
/// - a sign-in under a per-user limit ([`Store::create_within_limit`],
///   [`ChangeSet::user_limit`]) counts, evicts or refuses in the same atomic operation as the
///   write, so concurrent sign-ins of one user never leave more than the limit;
/// - an update's document operations ([`ChangeSet::operations`]) apply in the same atomic
///   operation, exactly as [`ChangeSet::apply_to`] defines, or not at all
///   ([`StoreError::Operation`]); a rotation's change set carries none (the engine resolves
///   them against the record it loaded, [`ChangeSet::resolve_operations`]).
///
/// Implement it with `#[async_trait]`:
///
/// ```
/// use sessile::{MemoryStore, Store, SessionId, Timestamp};
/// # tokio_test_block(async {
/// let store = MemoryStore::new();
/// let key = SessionId::generate().store_key();
/// assert!(store.load(&key, Timestamp::from_millis(0)).await.unwrap().is_none());
/// # });
/// # fn tokio_test_block<F: std::future::Future>(f: F) -> F::Output {
/// #     tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(f)
/// # }
/// ```
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// The live record under `key`, or `None`.
    async fn load(&self, key: &StoreKey, now: Timestamp) -> Result<Option<Record>, StoreError>;

    /// What is under `key` at `now`: the live record, an expired one the store still holds
    /// (and which of its deadlines passed), or nothing. The engine loads sessions with it, so
    /// its events tell an expired session from one that does not exist.
    ///
    /// The default answers from [`Store::load`] (`Live` or `Missing`), so a store that cannot
    /// tell stays correct. A store that keeps expired records until cleanup should answer
    /// `Expired` from the same single read its `load` makes (no second round trip), and
    /// declare `keeps_expired` in its [`crate::store_conformance!`] run. It must never answer
    /// `Live` for a record whose deadline has passed, and its `Live` record is what `load`
    /// returns.
    ///
    /// ```
    /// use sessile::store::Lookup;
    /// use sessile::{MemoryStore, SessionId, Store, Timestamp};
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let store = MemoryStore::new();
    /// let key = SessionId::generate().store_key();
    /// let now = Timestamp::from_millis(0);
    /// assert_eq!(store.lookup(&key, now).await.unwrap(), Lookup::Missing);
    /// # });
    /// ```
    async fn lookup(&self, key: &StoreKey, now: Timestamp) -> Result<Lookup, StoreError> {
        Ok(match self.load(key, now).await? {
            Some(record) => Lookup::Live(record),
            None => Lookup::Missing,
        })
    }

    /// Inserts a new record; never overwrites (an existing live key is a [`CreateOutcome::Collision`];
    /// an expired one may be replaced).
    async fn create(&self, key: &StoreKey, record: &Record) -> Result<CreateOutcome, StoreError>;

    /// [`Store::create`] of a signed-in session under a per-user limit, in one atomic
    /// operation: the user's other sessions live at `record.last_seen` (the moment of the
    /// sign-in) are counted, and [`UserLimit::decide`] says which of them to delete first, or
    /// to write nothing and answer [`CreateOutcome::Refused`]. A collision writes and deletes
    /// nothing. A record without a user is a plain create.
    ///
    /// The default is [`StoreError::Unsupported`]: a layout without a per-user index (the
    /// Node layouts) cannot count a user's sessions, and says so rather than let the limit
    /// pass unseen. A store that answers it also honours [`ChangeSet::user_limit`] in
    /// `update` and `rotate`, and one that does not refuses a change set that carries one.
    ///
    /// ```
    /// use std::time::Duration;
    /// use sessile::limit::{LimitPolicy, UserLimit};
    /// use sessile::{CreateOutcome, MemoryStore, Record, SessionId, Store, Timestamp};
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let store = MemoryStore::new();
    /// let limit = UserLimit::new(1, LimitPolicy::Refuse);
    /// let at = Timestamp::from_millis(0);
    /// let mut record = Record::new(at, at + Duration::from_secs(60), at + Duration::from_secs(60));
    /// record.user = Some("ada".into());
    /// let first = SessionId::generate().store_key();
    /// let second = SessionId::generate().store_key();
    /// assert_eq!(store.create_within_limit(&first, &record, &limit).await.unwrap(), CreateOutcome::Created);
    /// assert_eq!(store.create_within_limit(&second, &record, &limit).await.unwrap(), CreateOutcome::Refused);
    /// # });
    /// ```
    async fn create_within_limit(
        &self,
        key: &StoreKey,
        record: &Record,
        limit: &UserLimit,
    ) -> Result<CreateOutcome, StoreError> {
        let _ = (key, record, limit);
        Err(StoreError::Unsupported(PER_USER_LIMIT))
    }

    /// Applies `changes` to the live record under `key`.
    async fn update(
        &self,
        key: &StoreKey,
        changes: &ChangeSet,
        now: Timestamp,
    ) -> Result<UpdateOutcome, StoreError>;

    /// Moves the live record from `from` to `to` with `changes` applied; `from` holds no
    /// session afterwards. When `changes.forward` is set, the same atomic operation leaves a
    /// forward pointer under `from` until [`crate::Forward::until`]: [`Store::lookup`] of `from`
    /// answers [`Lookup::Forwarded`] until then (and `Missing` after), while `load`, `update`,
    /// `increment` and `rotate` of `from` find no session, the user listing and `scan` never
    /// show it, `delete(from)` removes it and `delete_expired` sweeps it. A layout that cannot
    /// keep one (the Node layouts, whose Node app could not read it) ignores it.
    ///
    /// ```
    /// use std::time::Duration;
    /// use sessile::store::Lookup;
    /// use sessile::{ChangeSet, Forward, MemoryStore, Record, SessionId, Store, Timestamp};
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let store = MemoryStore::new();
    /// let (old, new) = (SessionId::generate().store_key(), SessionId::generate().store_key());
    /// let now = Timestamp::from_millis(0);
    /// let hour = now + Duration::from_secs(3600);
    /// store.create(&old, &Record::new(now, hour, hour)).await.unwrap();
    /// let mut changes = ChangeSet::default();
    /// changes.forward = Some(Forward::new(b"sealed".to_vec(), now + Duration::from_secs(5)));
    /// store.rotate(&old, &new, &changes, now).await.unwrap();
    /// assert!(store.load(&old, now).await.unwrap().is_none());
    /// assert_eq!(
    ///     store.lookup(&old, now).await.unwrap(),
    ///     Lookup::Forwarded { to: new.clone(), sealed_id: b"sealed".to_vec() },
    /// );
    /// let later = now + Duration::from_secs(5);
    /// assert_eq!(store.lookup(&old, later).await.unwrap(), Lookup::Missing);
    /// # });
    /// ```
    async fn rotate(
        &self,
        from: &StoreKey,
        to: &StoreKey,
        changes: &ChangeSet,
        now: Timestamp,
    ) -> Result<RotateOutcome, StoreError>;

    /// Adds `by` to the integer under `field` (absent counts as 0) and applies `touch`, atomically;
    /// returns the new value.
    async fn increment(
        &self,
        key: &StoreKey,
        field: &str,
        by: i64,
        touch: Touch,
        now: Timestamp,
    ) -> Result<IncrementOutcome, StoreError>;

    /// Deletes the record under `key`; whether there was one.
    async fn delete(&self, key: &StoreKey) -> Result<bool, StoreError>;

    /// The live sessions of `user`, oldest first, one page at a time through the store's
    /// per-user index (never a read of every session of the user at once). Pass `None` for the
    /// first page, then each page's [`UserSessionsPage::next`] until it is `None`. A page holds
    /// at most `limit` sessions (0 counts as 1), and may hold fewer before the last one (a
    /// store that learns a session has expired only after reading its index entry drops it
    /// from the page). A session that stays live for the whole listing is listed exactly once;
    /// one created, deleted or expiring meanwhile may or may not be. The cursor is the store's
    /// own text; another one is an error.
    ///
    /// "Oldest" is by creation time in every store but Redis, whose user index is ordered by
    /// the absolute deadline: the same order while sessions share one lifetime.
    ///
    /// ```
    /// use sessile::{MemoryStore, Record, SessionId, Store, Timestamp};
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let store = MemoryStore::new();
    /// let hour = Timestamp::from_millis(3_600_000);
    /// for created in 0..3 {
    ///     let mut record = Record::new(Timestamp::from_millis(created), hour, hour);
    ///     record.user = Some("ada".into());
    ///     store.create(&SessionId::generate().store_key(), &record).await.unwrap();
    /// }
    /// let now = Timestamp::from_millis(10);
    /// let first = store.list_user_sessions("ada", now, None, 2).await.unwrap();
    /// assert_eq!(first.sessions.len(), 2);
    /// let rest = store.list_user_sessions("ada", now, first.next.as_deref(), 2).await.unwrap();
    /// assert_eq!(rest.sessions.len(), 1);
    /// assert_eq!(rest.sessions[0].created_at, Timestamp::from_millis(2));
    /// assert!(rest.next.is_none());
    /// # });
    /// ```
    async fn list_user_sessions(
        &self,
        user: &str,
        now: Timestamp,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<UserSessionsPage, StoreError>;

    /// Deletes every session of `user` except `keep`; how many were deleted.
    async fn delete_user_sessions(
        &self,
        user: &str,
        keep: Option<&StoreKey>,
    ) -> Result<u64, StoreError>;

    /// Deletes at most `limit` records that expired before `now`; how many were deleted.
    /// Callers loop until it returns less than `limit`.
    async fn delete_expired(&self, now: Timestamp, limit: u32) -> Result<u64, StoreError>;

    /// Every session the store holds, live or expired, one page at a time, for operators'
    /// tools (the `sessile` CLI's `stats` and `revoke`, a count before a cleanup); never on a
    /// request's path. Pass `None` for the first page, then each page's
    /// [`ScanPage::next`] until it is `None`. A page holds at most `limit` sessions (it may
    /// hold fewer before the last one). A session that exists for the whole scan is reported
    /// exactly once, whatever other sessions are written, deleted or expire meanwhile; one
    /// created or deleted during the scan may or may not be. The cursor is the store's own
    /// text (a key, a score), so a scan cannot start elsewhere than at a page boundary it gave.
    ///
    /// A store whose sessions expire by themselves (Redis) reports only those it still holds.
    /// The default is [`StoreError::Unsupported`]: a layout that cannot page through its
    /// sessions (a Node layout's table, say) says so instead of answering with nothing.
    ///
    /// ```
    /// use sessile::{MemoryStore, Record, SessionId, Store, Timestamp};
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let store = MemoryStore::new();
    /// let at = Timestamp::from_millis(0);
    /// let record = Record::new(at, Timestamp::from_millis(60_000), Timestamp::from_millis(60_000));
    /// store.create(&SessionId::generate().store_key(), &record).await.unwrap();
    /// let page = store.scan(None, 100).await.unwrap();
    /// assert_eq!(page.sessions.len(), 1);
    /// assert!(page.next.is_none());
    /// # });
    /// ```
    async fn scan(&self, cursor: Option<&str>, limit: u32) -> Result<ScanPage, StoreError> {
        let _ = (cursor, limit);
        Err(StoreError::Unsupported("paging through every session"))
    }

    /// How many sessions are live at `now`, for the `sessile_sessions_live` gauge that
    /// [`crate::cleanup::Cleanup`] sets after each pass; never on a request's path. Only a
    /// store that can count without reading its sessions answers: the memory store (its
    /// expiry index), Redis (`ZCOUNT` of its expiry index) and the SQL tables (an index-only
    /// `COUNT(*)` through the `expires_at` index). Redis indexes a session by its absolute
    /// deadline, so it also counts one that ended by idleness until that deadline passes; the
    /// others count exactly.
    ///
    /// The default is [`StoreError::Unsupported`] (a Node layout, which has no expiry index to
    /// count), and then no gauge is set.
    ///
    /// ```
    /// use sessile::{MemoryStore, Record, SessionId, Store, Timestamp};
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let store = MemoryStore::new();
    /// let at = Timestamp::from_millis(0);
    /// let record = Record::new(at, Timestamp::from_millis(60_000), Timestamp::from_millis(60_000));
    /// store.create(&SessionId::generate().store_key(), &record).await.unwrap();
    /// assert_eq!(store.count_live(Timestamp::from_millis(1_000)).await.unwrap(), 1);
    /// assert_eq!(store.count_live(Timestamp::from_millis(60_000)).await.unwrap(), 0);
    /// # });
    /// ```
    async fn count_live(&self, now: Timestamp) -> Result<u64, StoreError> {
        let _ = now;
        Err(StoreError::Unsupported("counting live sessions"))
    }

    /// The store's name in metrics and tracing spans (the `store` label and field). The
    /// default is the implementing type's name without its path (`SqliteStore`), which a
    /// shared `Arc<dyn Store>` keeps, since the call reaches the store itself.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use sessile::{MemoryStore, Store};
    /// let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    /// assert_eq!(store.name(), "MemoryStore");
    /// ```
    fn name(&self) -> &'static str {
        short_type_name(std::any::type_name::<Self>())
    }
}

/// A shared or boxed store is a store: `SessionManager::new(Arc::clone(&store), ..)` keeps a
/// handle for an admin page or a cleanup task, and wrappers can hold `Arc<dyn Store>`.
macro_rules! store_through_pointer {
    ($pointer:ident) => {
        #[async_trait]
        impl<S: Store + ?Sized> Store for $pointer<S> {
            async fn load(
                &self,
                key: &StoreKey,
                now: Timestamp,
            ) -> Result<Option<Record>, StoreError> {
                (**self).load(key, now).await
            }

            async fn lookup(&self, key: &StoreKey, now: Timestamp) -> Result<Lookup, StoreError> {
                (**self).lookup(key, now).await
            }

            async fn create(
                &self,
                key: &StoreKey,
                record: &Record,
            ) -> Result<CreateOutcome, StoreError> {
                (**self).create(key, record).await
            }

            async fn create_within_limit(
                &self,
                key: &StoreKey,
                record: &Record,
                limit: &UserLimit,
            ) -> Result<CreateOutcome, StoreError> {
                (**self).create_within_limit(key, record, limit).await
            }

            async fn update(
                &self,
                key: &StoreKey,
                changes: &ChangeSet,
                now: Timestamp,
            ) -> Result<UpdateOutcome, StoreError> {
                (**self).update(key, changes, now).await
            }

            async fn rotate(
                &self,
                from: &StoreKey,
                to: &StoreKey,
                changes: &ChangeSet,
                now: Timestamp,
            ) -> Result<RotateOutcome, StoreError> {
                (**self).rotate(from, to, changes, now).await
            }

            async fn increment(
                &self,
                key: &StoreKey,
                field: &str,
                by: i64,
                touch: Touch,
                now: Timestamp,
            ) -> Result<IncrementOutcome, StoreError> {
                (**self).increment(key, field, by, touch, now).await
            }

            async fn delete(&self, key: &StoreKey) -> Result<bool, StoreError> {
                (**self).delete(key).await
            }

            async fn list_user_sessions(
                &self,
                user: &str,
                now: Timestamp,
                cursor: Option<&str>,
                limit: u32,
            ) -> Result<UserSessionsPage, StoreError> {
                (**self).list_user_sessions(user, now, cursor, limit).await
            }

            async fn delete_user_sessions(
                &self,
                user: &str,
                keep: Option<&StoreKey>,
            ) -> Result<u64, StoreError> {
                (**self).delete_user_sessions(user, keep).await
            }

            async fn delete_expired(&self, now: Timestamp, limit: u32) -> Result<u64, StoreError> {
                (**self).delete_expired(now, limit).await
            }

            async fn scan(&self, cursor: Option<&str>, limit: u32) -> Result<ScanPage, StoreError> {
                (**self).scan(cursor, limit).await
            }

            async fn count_live(&self, now: Timestamp) -> Result<u64, StoreError> {
                (**self).count_live(now).await
            }

            fn name(&self) -> &'static str {
                (**self).name()
            }
        }
    };
}

store_through_pointer!(Arc);
store_through_pointer!(Box);

/// The last path segment of a type's name, without the generic wrappers a shared store comes
/// in: `Arc<sessile_sql::sqlite::SqliteStore>` is `SqliteStore`.
fn short_type_name(name: &'static str) -> &'static str {
    let innermost = name.rsplit('<').next().unwrap_or(name);
    let innermost = innermost.split(['>', ',']).next().unwrap_or(innermost);
    innermost.rsplit("::").next().unwrap_or(innermost).trim()
}

/// Runs one store call, failing as [`StoreError::Unavailable`] once `timeout` has passed: the
/// bound every store call of the engine and of cleanup gets. A call that completes on its first
/// poll (an in-memory store) never sets up the timer.
#[cfg(feature = "runtime")]
pub(crate) async fn bounded<T>(
    timeout: std::time::Duration,
    operation: impl std::future::Future<Output = Result<T, StoreError>>,
) -> Result<T, StoreError> {
    let mut operation = std::pin::pin!(operation);
    let first = std::future::poll_fn(|cx| {
        use std::task::Poll;
        Poll::Ready(match operation.as_mut().poll(cx) {
            Poll::Ready(result) => Some(result),
            Poll::Pending => None,
        })
    })
    .await;
    if let Some(result) = first {
        return result;
    }
    tokio::time::timeout(timeout, operation)
        .await
        .unwrap_or_else(|_| {
            Err(StoreError::unavailable(format!(
                "no answer within {timeout:?}"
            )))
        })
}

#[cfg(test)]
mod tests {
    use super::short_type_name;

    #[test]
    fn store_names_are_the_innermost_type() {
        assert_eq!(
            short_type_name("alloc::sync::Arc<sessile_sql::sqlite::SqliteStore>"),
            "SqliteStore"
        );
        assert_eq!(
            short_type_name("sessile::stores::memory::MemoryStore"),
            "MemoryStore"
        );
        assert_eq!(
            short_type_name("alloc::sync::Arc<dyn sessile::store::Store>"),
            "Store"
        );
    }
}
