//! The handler's handle on its request's session.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

use crate::change::incremented;
use crate::document::{self, End, Path};
use crate::events::Event;
use crate::id::StoreKey;
use crate::record::{SessionData, SessionSummary};
use crate::store::{IncrementOutcome, StoreError, UserSessionsPage};
use crate::telemetry::Operation;

use super::manager::Stored;

/// How many sessions [`Session::user_sessions`] asks the store for at a time.
const USER_SESSIONS_PAGE: u32 = 100;
use super::plan::{plan, Step};
use super::state::{Forced, IncrementAt, RequestState};
use super::{Backend, CommitOutcome, ResponseHeaders, SessionError, Shared};

/// How many times one increment follows its session to where a concurrent rotation moved it.
const MAX_FOLLOWS: usize = 4;

/// The request's session: a cheap handle that touches the store only when used.
///
/// Reads load the record once, on first use. Writes are recorded as changes and committed after
/// the handler in one atomic store operation. `increment` runs in the store at once.
///
/// In a web framework, handlers take the adapter's extractor of the same name, which
/// dereferences to this type: `sessile_axum::Session` in axum, `sessile_actix::Session` in
/// actix-web. This one is what an adapter creates with [`SessionManager::start`](crate::SessionManager::start), and what
/// the extractors hand on (`into_inner`).
///
/// ```
/// use sessile::{Config, Keys, MemoryStore, SessionManager, SignedIds};
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let ids = SignedIds::new(Keys::generate());
/// let manager = SessionManager::new(MemoryStore::new(), ids, Config::default());
/// let session = manager.start(&http::HeaderMap::new(), None);
/// session.insert("theme", "dark")?;
/// assert_eq!(session.get::<String>("theme").await?.as_deref(), Some("dark"));
/// assert_eq!(session.increment("visits", 1).await?, 1);
/// let headers = session.finish().await?; // creates the session: one store call
/// assert!(!headers.is_empty());
/// # Ok::<(), sessile::SessionError>(())
/// # }).unwrap();
/// ```
#[derive(Clone)]
pub struct Session {
    inner: Arc<Inner>,
}

struct Inner {
    shared: Arc<Shared>,
    state: Mutex<Slot>,
    // Serializes loads so concurrent first uses within one request cost one store call.
    load_gate: tokio::sync::Mutex<()>,
}

/// Where a request's session is in its life.
// The state lives inline in the `Arc` every handle allocates anyway; boxing it would cost each
// request a second allocation for a variant that is dropped at the end of it.
#[allow(clippy::large_enum_variant)]
enum Slot {
    /// In use by the handler.
    Open(RequestState),
    /// Committed by the handler ([`Session::commit`]); the headers wait for the adapter.
    Committed(ResponseHeaders),
    /// Done: finished, discarded, or its committed headers taken.
    Finished,
}

impl Slot {
    fn open(&mut self) -> Option<&mut RequestState> {
        match self {
            Slot::Open(state) => Some(state),
            _ => None,
        }
    }

    fn take_open(&mut self) -> Option<RequestState> {
        match std::mem::replace(self, Slot::Finished) {
            Slot::Open(state) => Some(state),
            other => {
                *self = other;
                None
            }
        }
    }
}

impl Session {
    pub(super) fn new(shared: Arc<Shared>, state: RequestState) -> Self {
        Self {
            inner: Arc::new(Inner {
                shared,
                state: Mutex::new(Slot::Open(state)),
                load_gate: tokio::sync::Mutex::new(()),
            }),
        }
    }

    fn state(&self) -> MutexGuard<'_, Slot> {
        self.inner
            .state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Runs `f` on the request's state, its id looked at; [`SessionError::Finished`] once the
    /// request finished.
    fn with_state<T>(&self, f: impl FnOnce(&mut RequestState) -> T) -> Result<T, SessionError> {
        let mut guard = self.state();
        let state = guard.open().ok_or(SessionError::Finished)?;
        state.resolve(&self.inner.shared);
        Ok(f(state))
    }

    /// A write that cannot fail otherwise: after the request finished it can no longer reach the
    /// store or the response, so it is dropped, and logged, since it points at a handler bug.
    fn write(&self, operation: &'static str, f: impl FnOnce(&mut RequestState)) {
        if self.with_state(f).is_err() {
            tracing::warn!(
                "session {operation} ignored: the session was committed or its request has finished"
            );
        }
    }

    /// The value under `key`, converted from JSON; `None` if absent.
    pub async fn get<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, SessionError> {
        self.ensure_loaded().await?;
        let value = self.with_state(|state| {
            if state.changes.touches(key) {
                return view(state).map(|mut data| data.remove(key));
            }
            Ok(match state.changes.decided_value(key) {
                Some(decided) => decided.cloned(),
                None => state
                    .record()
                    .and_then(|record| record.data.get(key).cloned()),
            })
        })??;
        value
            .map(|value| serde_json::from_value(value))
            .transpose()
            .map_err(|source| SessionError::Value {
                key: key.to_owned(),
                source,
            })
    }

    /// Every key and value as this request sees them: the stored data with the request's own
    /// changes applied. Loads the record on first use, like [`Session::get`].
    ///
    /// ```
    /// use sessile::{Config, Keys, MemoryStore, SessionManager, SignedIds};
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let ids = SignedIds::new(Keys::generate());
    /// let manager = SessionManager::new(MemoryStore::new(), ids, Config::default());
    /// let session = manager.start(&http::HeaderMap::new(), None);
    /// session.insert("theme", "dark")?;
    /// session.insert("lang", "fr")?;
    /// session.remove("lang");
    /// let data = session.data().await?;
    /// assert_eq!(data.len(), 1);
    /// assert_eq!(data["theme"], "dark");
    /// # Ok::<(), sessile::SessionError>(())
    /// # }).unwrap();
    /// ```
    pub async fn data(&self) -> Result<SessionData, SessionError> {
        self.ensure_loaded().await?;
        self.with_state(view)?
    }

    /// Records a document operation on the value at `path` (MongoDB's dotted form,
    /// `"cart.items"`), applied by the store in the commit, atomically with the request's other
    /// changes: concurrent requests' operations on the same array or counter all count.
    fn operate(
        &self,
        path: &str,
        operation: impl FnOnce(Path) -> document::Operation,
    ) -> Result<(), SessionError> {
        let operation = operation(Path::parse(path)?);
        self.with_state(|state| state.changes.operate(operation))
    }

    /// Records `path = value` for a dotted path, creating missing objects on the way. A path
    /// through a value that is not an object refuses the commit
    /// ([`SessionError::Operation`]). [`Session::insert`] takes its key literally, dots and all.
    ///
    /// ```
    /// use sessile::{Config, Keys, MemoryStore, SessionManager, SignedIds};
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let ids = SignedIds::new(Keys::generate());
    /// let manager = SessionManager::new(MemoryStore::new(), ids, Config::default());
    /// let session = manager.start(&http::HeaderMap::new(), None);
    /// session.set_path("prefs.theme", "dark")?;
    /// assert_eq!(session.get::<serde_json::Value>("prefs").await?.unwrap()["theme"], "dark");
    /// # Ok::<(), sessile::SessionError>(())
    /// # }).unwrap();
    /// ```
    pub fn set_path<T: Serialize>(&self, path: &str, value: T) -> Result<(), SessionError> {
        let value = serde_json::to_value(value).map_err(|source| SessionError::Value {
            key: path.to_owned(),
            source,
        })?;
        self.operate(path, |path| document::Operation::Set { path, value })
    }

    /// Records the removal of the value at a dotted path (nothing if it is absent).
    pub fn remove_path(&self, path: &str) -> Result<(), SessionError> {
        self.operate(path, |path| document::Operation::Remove { path })
    }

    /// Records an increment of the integer at `path` (absent or `null` counts as 0) applied in
    /// the commit, with the request's other changes: 200 concurrent requests add 200. Unlike
    /// [`Session::increment`] it does not answer the new value (read it back with
    /// [`Session::stored_data`] after [`Session::commit`]); a non-integer refuses the commit.
    pub fn increment_in_commit(&self, path: &str, by: i64) -> Result<(), SessionError> {
        self.operate(path, |path| document::Operation::Increment { path, by })
    }

    /// Records appending `value` to the array at `path` (absent or `null`: a new array).
    ///
    /// ```
    /// use sessile::{Config, Keys, MemoryStore, SessionManager, SignedIds};
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let ids = SignedIds::new(Keys::generate());
    /// let manager = SessionManager::new(MemoryStore::new(), ids, Config::default());
    /// let session = manager.start(&http::HeaderMap::new(), None);
    /// session.push("cart.items", "apple")?;
    /// session.push_all("cart.items", ["pear", "fig"])?;
    /// session.pull("cart.items", "pear")?;
    /// let cart: serde_json::Value = session.get("cart").await?.unwrap();
    /// assert_eq!(cart["items"], serde_json::json!(["apple", "fig"]));
    /// # Ok::<(), sessile::SessionError>(())
    /// # }).unwrap();
    /// ```
    pub fn push<T: Serialize>(&self, path: &str, value: T) -> Result<(), SessionError> {
        let values = vec![to_json(path, value)?];
        self.operate(path, |path| document::Operation::Push { path, values })
    }

    /// Records appending every one of `values`, in order, to the array at `path`.
    pub fn push_all<T: Serialize>(
        &self,
        path: &str,
        values: impl IntoIterator<Item = T>,
    ) -> Result<(), SessionError> {
        let values = to_json_values(path, values)?;
        self.operate(path, |path| document::Operation::Push { path, values })
    }

    /// Records removing the first or last element of the array at `path`, if it has one.
    pub fn pop(&self, path: &str, end: End) -> Result<(), SessionError> {
        self.operate(path, |path| document::Operation::Pop { path, end })
    }

    /// Records removing every element equal to `value` from the array at `path`.
    pub fn pull<T: Serialize>(&self, path: &str, value: T) -> Result<(), SessionError> {
        let values = vec![to_json(path, value)?];
        self.operate(path, |path| document::Operation::Pull { path, values })
    }

    /// Records removing every element equal to one of `values` from the array at `path`.
    pub fn pull_all<T: Serialize>(
        &self,
        path: &str,
        values: impl IntoIterator<Item = T>,
    ) -> Result<(), SessionError> {
        let values = to_json_values(path, values)?;
        self.operate(path, |path| document::Operation::Pull { path, values })
    }

    /// Records appending `value` to the array at `path` unless an equal element is there.
    pub fn add_to_set<T: Serialize>(&self, path: &str, value: T) -> Result<(), SessionError> {
        let values = vec![to_json(path, value)?];
        self.operate(path, |path| document::Operation::AddToSet { path, values })
    }

    /// Records moving the value at `from` to `to` in the store, without reading it first; a
    /// no-op when `from` is absent.
    pub fn rename(&self, from: &str, to: &str) -> Result<(), SessionError> {
        let to = Path::parse(to)?;
        self.operate(from, |from| document::Operation::Rename { from, to })
    }

    /// After [`Session::commit`], the session's data as the store left it: the request's
    /// changes merged with every concurrent request's (koa-atomic-session's `update()`). One
    /// store read, only when asked; a client-side session's is the sealed data itself. `None`
    /// when the commit left no session, or before a commit.
    ///
    /// ```
    /// use sessile::{Config, Keys, MemoryStore, SessionManager, SignedIds};
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let ids = SignedIds::new(Keys::generate());
    /// let manager = SessionManager::new(MemoryStore::new(), ids, Config::default());
    /// let session = manager.start(&http::HeaderMap::new(), None);
    /// session.increment_in_commit("visits", 1)?;
    /// session.commit().await?;
    /// let stored = session.stored_data().await?.unwrap();
    /// assert_eq!(stored["visits"], 1);
    /// # Ok::<(), sessile::SessionError>(())
    /// # }).unwrap();
    /// ```
    pub async fn stored_data(&self) -> Result<Option<SessionData>, SessionError> {
        let key = match &*self.state() {
            Slot::Committed(headers) => match &headers.stored {
                Some(Stored::Key(key)) => key.clone(),
                Some(Stored::Sealed(data)) => return Ok(Some((**data).clone())),
                None => return Ok(None),
            },
            _ => return Ok(None),
        };
        let shared = &self.inner.shared;
        let Backend::Store(backend) = &shared.backend else {
            return Ok(None);
        };
        let found = shared
            .call(Operation::Lookup, backend.store.lookup(&key, shared.now()))
            .await?;
        Ok(found.into_live().map(|record| record.data))
    }

    /// Records `key = value`, committed after the handler.
    pub fn insert<T: Serialize>(&self, key: &str, value: T) -> Result<(), SessionError> {
        let value = serde_json::to_value(value).map_err(|source| SessionError::Value {
            key: key.to_owned(),
            source,
        })?;
        self.with_state(|state| state.changes.set(key, value))
    }

    /// Records the removal of `key`.
    pub fn remove(&self, key: &str) {
        self.write("remove", |state| state.changes.remove(key));
    }

    /// Records the removal of every key (the user and the session itself stay).
    pub fn clear(&self) {
        self.write("clear", |state| state.changes.clear());
    }

    /// Adds `by` to the integer under `key` (absent counts as 0) and returns the new value.
    ///
    /// On an existing session this runs in the store at once, atomically: the result counts every
    /// concurrent increment. On a new session, or after this request wrote `key` itself, it is
    /// applied locally and committed with the rest.
    pub async fn increment(&self, key: &str, by: i64) -> Result<i64, SessionError> {
        let shared = &self.inner.shared;
        if self.with_state(|state| state.changes.touches(key))? {
            // After document operations on `key` the increment joins them, in order.
            self.ensure_loaded().await?;
            return self.with_state(|state| {
                let path = Path::key(key);
                state
                    .changes
                    .operate(document::Operation::Increment { path, by });
                let value = view(state).ok().and_then(|mut data| data.remove(key));
                match value.as_ref().and_then(Value::as_i64) {
                    Some(value) => Ok(value),
                    None => {
                        state.changes.operations.pop();
                        Err(SessionError::NotAnInteger {
                            key: key.to_owned(),
                        })
                    }
                }
            })?;
        }
        // A validity hook must see the session before anything acts on it.
        let checks_validity = shared.hooks.validity_check.is_some();
        if self.with_state(|state| state.is_sealed() || (checks_validity && state.is_unloaded()))? {
            self.ensure_loaded().await?;
        }
        let in_changes = |state: &mut RequestState, base: Option<&Value>| {
            let value = incremented(base, by).ok_or_else(|| SessionError::NotAnInteger {
                key: key.to_owned(),
            })?;
            state.changes.set(key, value.into());
            Ok(value)
        };
        let mut follows = 0;
        let (id, outcome, now) = loop {
            let (backend, id) =
                match self.with_state(|state| match state.increment_at(shared, key) {
                    IncrementAt::Store { backend, id } => Ok((backend, id)),
                    IncrementAt::Changes(base) => Err(in_changes(state, base.as_ref())),
                    IncrementAt::Gone => Err(Err(SessionError::Gone)),
                })? {
                    Ok(remote) => remote,
                    Err(result) => return result,
                };
            let now = shared.now();
            let outcome = shared
                .call(
                    Operation::Increment,
                    backend
                        .store
                        .increment(&id.store_key(), key, by, shared.touch(None, now), now),
                )
                .await;
            let outcome = match outcome {
                Ok(outcome) => {
                    shared.telemetry.incremented(outcome);
                    outcome
                }
                // An undecodable record is no session, on this path as on a load.
                Err(StoreError::Corrupt(_)) => {
                    return self.with_state(|state| {
                        state.found_corrupt(shared, &id);
                        in_changes(state, None)
                    })?;
                }
                Err(error) => return Err(error.into()),
            };
            if outcome != IncrementOutcome::Gone || follows == MAX_FOLLOWS {
                break (id, outcome, now);
            }
            follows += 1;
            // The store's answer does not say why the session is gone; one read, on this path
            // only, names it with its event (expired and by which deadline, missing) when the
            // request never loaded it, and finds where a concurrent rotation moved it less than
            // the rotation grace ago: the increment then lands there.
            let found = if self.with_state(|state| state.is_unloaded())? {
                shared.load(&backend, &id, now).await?
            } else {
                shared.follow(&backend, &id, now).await?
            };
            match found {
                Some(found) if found.forwarded_to.is_some() => {
                    self.with_state(|state| state.found(&id, found))?;
                }
                _ => break (id, outcome, now),
            }
        };
        let applied = self.with_state(|state| match outcome {
            IncrementOutcome::Value(value) => {
                state.incremented_in_store(key, value, now);
                Ok(value)
            }
            IncrementOutcome::NotAnInteger => Err(SessionError::NotAnInteger {
                key: key.to_owned(),
            }),
            IncrementOutcome::Gone => {
                if state.increment_found_nothing(shared, &id) {
                    Err(SessionError::Gone)
                } else {
                    in_changes(state, None)
                }
            }
        });
        match (applied, outcome) {
            (Ok(result), _) => result,
            // The request finished while the store incremented: the store has the new value.
            (Err(_), IncrementOutcome::Value(value)) => Ok(value),
            (Err(finished), _) => Err(finished),
        }
    }

    /// Gives the session a new id at commit, keeping its data and deadlines; the old id stops
    /// working. Call it when privileges change (sign-in) against session fixation.
    pub fn rotate_id(&self) {
        self.write("rotate_id", |state| state.rotate = true);
    }

    /// Deletes the session at commit and removes the cookie. Writes after it start a new session.
    pub fn destroy(&self) {
        let shared = &self.inner.shared;
        self.write("destroy", |state| state.destroy(shared));
    }

    /// Whether this request has no session it arrived with: a new visitor, an expired or
    /// refused cookie, or a session this request destroyed (koa-session's `isNew`). Loads the
    /// session on first use, like [`Session::get`].
    ///
    /// ```
    /// use sessile::{Config, Keys, MemoryStore, SessionManager, SignedIds};
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let ids = SignedIds::new(Keys::generate());
    /// let manager = SessionManager::new(MemoryStore::new(), ids, Config::default());
    /// let visitor = manager.start(&http::HeaderMap::new(), None);
    /// assert!(visitor.is_new().await?);
    /// visitor.insert("theme", "dark")?;
    /// let mut request = http::HeaderMap::new();
    /// for (_, value) in visitor.finish().await?.headers {
    ///     let cookie = value.to_str().unwrap().split(';').next().unwrap().to_owned();
    ///     request.insert(http::header::COOKIE, cookie.parse().unwrap());
    /// }
    /// let returning = manager.start(&request, None);
    /// assert!(!returning.is_new().await?);
    /// # Ok::<(), sessile::SessionError>(())
    /// # }).unwrap();
    /// ```
    pub async fn is_new(&self) -> Result<bool, SessionError> {
        self.ensure_loaded().await?;
        self.with_state(|state| state.is_new())
    }

    /// Writes the session's activity time at commit even when the touch throttle would skip it,
    /// so the idle deadline moves now (a long-polling page that must not time out, say). No load
    /// is needed; a request without a session has nothing to touch.
    ///
    /// ```
    /// use sessile::{Config, Keys, MemoryStore, SessionManager, SignedIds};
    /// let ids = SignedIds::new(Keys::generate());
    /// let manager = SessionManager::new(MemoryStore::new(), ids, Config::default());
    /// let session = manager.start(&http::HeaderMap::new(), None);
    /// session.touch();
    /// assert!(session.finish_unused()); // a visitor without a session: nothing to touch
    /// ```
    pub fn touch(&self) {
        self.write("touch", |state| {
            state.forced = state.forced.max(Forced::Touch)
        });
    }

    /// Writes the session at commit even if nothing changed, and hands its cookie out again
    /// (koa-session's `session.save()`); a new session is stored even when empty.
    ///
    /// ```
    /// use sessile::{Config, Keys, MemoryStore, SessionManager, SignedIds};
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let ids = SignedIds::new(Keys::generate());
    /// let manager = SessionManager::new(MemoryStore::new(), ids, Config::default());
    /// let session = manager.start(&http::HeaderMap::new(), None);
    /// session.save();
    /// assert!(!session.finish().await?.is_empty()); // an empty session, stored, with its cookie
    /// # Ok::<(), sessile::SessionError>(())
    /// # }).unwrap();
    /// ```
    pub fn save(&self) {
        self.write("save", |state| state.forced = Forced::Save);
    }

    /// Sets (or with `None` clears) the signed-in user, kept in the store's per-user index.
    pub fn set_user(&self, user: Option<&str>) {
        self.write("set_user", |state| {
            state.changes.user = Some(user.map(str::to_owned))
        });
    }

    /// The signed-in user.
    pub async fn user(&self) -> Result<Option<String>, SessionError> {
        self.ensure_loaded().await?;
        self.with_state(|state| match &state.changes.user {
            Some(user) => user.clone(),
            None => state.record().and_then(|record| record.user.clone()),
        })
    }

    /// Makes the cookie persistent until the absolute deadline ("remember me"), or a
    /// browser-session cookie again.
    pub fn set_persistent(&self, persistent: bool) {
        self.write("set_persistent", |state| {
            state.changes.persistent = Some(persistent)
        });
    }

    /// Gives this session its own idle timeout ("remember me": a week without a visit instead
    /// of the manager's 30 minutes), or with `None` returns it to the manager's. The store
    /// keeps it with the session, and every later write that moves the idle deadline uses it,
    /// including the blind ones of requests that never load the session (an
    /// [`Session::increment`], a touch). Timeouts over 100 years count as 100 years. Signing
    /// in takes it back unless the request that signs in sets one too, so a "remember me"
    /// sign-in calls both (in either order) and a plain sign-in starts from the manager's.
    ///
    /// ```
    /// use std::time::Duration;
    /// use sessile::{Config, Keys, MemoryStore, SessionManager, SignedIds, Store};
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let store = std::sync::Arc::new(MemoryStore::new());
    /// let ids = SignedIds::new(Keys::generate());
    /// let manager = SessionManager::new(store.clone(), ids, Config::default());
    /// let session = manager.start(&http::HeaderMap::new(), None);
    /// session.set_user(Some("ada"));
    /// session.set_persistent(true);
    /// session.set_idle_timeout(Some(Duration::from_secs(7 * 24 * 3600)));
    /// session.finish().await?;
    /// let key = store.scan(None, 1).await.unwrap().sessions[0].summary.key.clone();
    /// let record = store.load(&key, std::time::SystemTime::now().into()).await.unwrap().unwrap();
    /// assert_eq!(record.idle_timeout, Some(Duration::from_secs(7 * 24 * 3600)));
    /// # Ok::<(), sessile::SessionError>(())
    /// # }).unwrap();
    /// ```
    pub fn set_idle_timeout(&self, timeout: Option<Duration>) {
        // Kept within what every store holds exactly, as the configuration's own timeouts.
        let timeout = timeout.map(|timeout| timeout.min(crate::config::MAX_DURATION));
        self.write("set_idle_timeout", |state| {
            state.changes.idle_timeout = Some(timeout)
        });
    }

    /// Gives this session its own absolute lifetime, counted from its creation (a rotation
    /// keeps that time): a "remember me" session that lives 30 days instead of the manager's
    /// 12 hours, or a shorter one for an elevated step. A lifetime that has already run out
    /// ends the session at once. Like [`Session::set_idle_timeout`], the cookie is handed out
    /// again at commit.
    ///
    /// ```
    /// use std::time::Duration;
    /// use sessile::{Config, Keys, MemoryStore, SessionManager, SignedIds, Store};
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let store = std::sync::Arc::new(MemoryStore::new());
    /// let ids = SignedIds::new(Keys::generate());
    /// let manager = SessionManager::new(store.clone(), ids, Config::default());
    /// let session = manager.start(&http::HeaderMap::new(), None);
    /// session.set_user(Some("ada"));
    /// session.set_lifetime(Duration::from_secs(30 * 24 * 3600));
    /// session.finish().await?;
    /// let key = store.scan(None, 1).await.unwrap().sessions[0].summary.key.clone();
    /// let record = store.load(&key, std::time::SystemTime::now().into()).await.unwrap().unwrap();
    /// assert_eq!(record.absolute_deadline, record.created_at + Duration::from_secs(30 * 24 * 3600));
    /// # Ok::<(), sessile::SessionError>(())
    /// # }).unwrap();
    /// ```
    pub fn set_lifetime(&self, lifetime: Duration) {
        let lifetime = lifetime.min(crate::config::MAX_DURATION);
        self.write("set_lifetime", |state| {
            state.changes.lifetime = Some(lifetime)
        });
    }

    /// The store key of the session the request arrived with, if it presented a valid one. Compare
    /// it with [`SessionSummary::key`] to mark "this device". `None` once the request finished.
    pub fn current_key(&self) -> Option<StoreKey> {
        self.with_state(|state| state.id().map(|id| id.store_key()))
            .ok()
            .flatten()
    }

    /// The live sessions of the signed-in user, oldest first (empty when signed out or with the
    /// cookie store, which keeps no index), every page of [`Session::user_sessions_page`]
    /// joined: fine for a user with a few sessions; a page that shows them uses the pages. The
    /// one this request arrived with has [`SessionSummary::current`] set.
    pub async fn user_sessions(&self) -> Result<Vec<SessionSummary>, SessionError> {
        let mut sessions = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let page = self
                .user_sessions_page(cursor.as_deref(), USER_SESSIONS_PAGE)
                .await?;
            sessions.extend(page.sessions);
            match page.next {
                Some(next) => cursor = Some(next),
                None => return Ok(sessions),
            }
        }
    }

    /// One page of the signed-in user's live sessions, oldest first: at most `limit`, starting
    /// after `cursor` (`None` for the first page, then the page's
    /// [`UserSessionsPage::next`], which is `None` after the last). Empty when signed out or
    /// with the cookie store. The one this request arrived with has
    /// [`SessionSummary::current`] set. A cursor the store never gave is an error
    /// ([`SessionError::Store`]).
    ///
    /// ```
    /// use sessile::{Config, Keys, MemoryStore, SessionManager, SignedIds};
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let manager = SessionManager::new(MemoryStore::new(), SignedIds::new(Keys::generate()), Config::default());
    /// for _ in 0..3 {
    ///     let session = manager.start(&http::HeaderMap::new(), None);
    ///     session.set_user(Some("ada"));
    ///     session.finish().await?;
    /// }
    /// let session = manager.start(&http::HeaderMap::new(), None);
    /// session.set_user(Some("ada"));
    /// let first = session.user_sessions_page(None, 2).await?;
    /// assert_eq!(first.sessions.len(), 2);
    /// let rest = session.user_sessions_page(first.next.as_deref(), 2).await?;
    /// assert_eq!(rest.sessions.len(), 1);
    /// assert!(rest.next.is_none());
    /// # Ok::<(), sessile::SessionError>(())
    /// # }).unwrap();
    /// ```
    pub async fn user_sessions_page(
        &self,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<UserSessionsPage, SessionError> {
        let (Some(user), Backend::Store(backend)) =
            (self.user().await?, &self.inner.shared.backend)
        else {
            return Ok(UserSessionsPage::default());
        };
        let shared = &self.inner.shared;
        let mut page = shared
            .call(
                Operation::ListUserSessions,
                backend
                    .store
                    .list_user_sessions(&user, shared.now(), cursor, limit),
            )
            .await?;
        if let Some(current) = self.current_key() {
            for session in &mut page.sessions {
                session.current = session.key == current;
            }
        }
        Ok(page)
    }

    /// Deletes one of the signed-in user's sessions; `false` if `key` is not one of theirs.
    /// A deletion emits [`Event::Revoked`].
    pub async fn revoke(&self, key: &StoreKey) -> Result<bool, SessionError> {
        let (Some(user), Backend::Store(backend)) =
            (self.user().await?, &self.inner.shared.backend)
        else {
            return Ok(false);
        };
        let shared = &self.inner.shared;
        // One read of that session decides whether it is theirs, however many they have.
        let record = shared
            .call(Operation::Lookup, backend.store.load(key, shared.now()))
            .await?;
        if record.is_none_or(|record| record.user.as_deref() != Some(user.as_str())) {
            return Ok(false);
        }
        let deleted = shared
            .call(Operation::Delete, backend.store.delete(key))
            .await?;
        if deleted {
            shared.config.events.emit(&Event::Revoked {
                tag: key.log_tag(),
                user,
            });
        }
        Ok(deleted)
    }

    /// Deletes every other session of the signed-in user ("sign out everywhere else"); how many.
    /// Emits [`Event::RevokedOthers`].
    ///
    /// ```
    /// use sessile::testkit::RecordingEvents;
    /// use sessile::{Config, Event, Keys, MemoryStore, SessionManager, SignedIds};
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let events = RecordingEvents::new();
    /// let config = Config::builder().events(events.clone()).build()?;
    /// let ids = SignedIds::new(Keys::generate());
    /// let manager = SessionManager::new(MemoryStore::new(), ids, config);
    /// let session = manager.start(&http::HeaderMap::new(), None);
    /// session.set_user(Some("ada"));
    /// session.finish().await?;
    /// // Another request of this user, on a device without a session yet:
    /// let elsewhere = manager.start(&http::HeaderMap::new(), None);
    /// elsewhere.set_user(Some("ada"));
    /// assert_eq!(elsewhere.revoke_others().await?, 1);
    /// assert!(events.events().contains(&Event::RevokedOthers {
    ///     user: "ada".into(),
    ///     count: 1,
    ///     kept: None,
    /// }));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub async fn revoke_others(&self) -> Result<u64, SessionError> {
        let (Some(user), Backend::Store(backend)) =
            (self.user().await?, &self.inner.shared.backend)
        else {
            return Ok(0);
        };
        let keep = self.current_key();
        let shared = &self.inner.shared;
        let count = shared
            .call(
                Operation::DeleteUserSessions,
                backend.store.delete_user_sessions(&user, keep.as_ref()),
            )
            .await?;
        shared.config.events.emit(&Event::RevokedOthers {
            user,
            count,
            kept: keep.map(|key| key.log_tag()),
        });
        Ok(count)
    }

    /// Loads the record on first use: exactly one store call, or none for a new session.
    async fn ensure_loaded(&self) -> Result<(), SessionError> {
        let _gate = self.inner.load_gate.lock().await;
        let shared = &self.inner.shared;
        let now = shared.now();
        let (pending, check) = self.with_state(|state| {
            let pending = state.open_or_pending_load(shared, now);
            (pending, state.revocation_check.take())
        })?;
        if shared.check_revocation(check, now).await? {
            self.with_state(|state| state.revoked(shared))?;
        }
        let Some((backend, id)) = pending else {
            return Ok(());
        };
        let found = shared.load(&backend, &id, now).await?;
        self.with_state(|state| state.loaded(&id, found))
    }

    /// Ends the session at once (`true`) when its commit would do nothing: no store call, no
    /// response header. That is the case when the handler never used the session, and also when
    /// it only read it or only incremented values (the store has those already) and no activity
    /// write is due. The session is then finished: later uses give [`SessionError::Finished`].
    /// Otherwise (`false`) nothing happens and [`Session::finish`] commits it. Adapters may call
    /// it first to skip the asynchronous commit; `finish` does the same check itself. A session
    /// the handler committed ([`Session::commit`]) is not unused: its headers wait for
    /// [`Session::take_committed`] (or `finish`).
    ///
    /// ```
    /// use sessile::{Config, Keys, MemoryStore, SessionManager, SignedIds};
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let ids = SignedIds::new(Keys::generate());
    /// let manager = SessionManager::new(MemoryStore::new(), ids, Config::default());
    /// let untouched = manager.start(&http::HeaderMap::new(), None);
    /// assert!(untouched.finish_unused());
    ///
    /// let written = manager.start(&http::HeaderMap::new(), None);
    /// written.insert("theme", "dark")?;
    /// assert!(!written.finish_unused());
    /// assert!(!written.finish().await?.is_empty()); // the new session's cookie
    /// # Ok::<(), sessile::SessionError>(())
    /// # }).unwrap();
    /// ```
    pub fn finish_unused(&self) -> bool {
        let shared = &self.inner.shared;
        let mut guard = self.state();
        let unused = guard.open().is_some_and(|state| {
            // The before-save hook runs on every request with changes, and may add some.
            let hook_runs = shared.hooks.before_save.is_some() && state.has_changes();
            !hook_runs && plan(shared, state, || shared.now()).is_nothing()
        });
        if unused {
            // Dropped in place: moving the state out first would copy it.
            *guard = Slot::Finished;
        }
        unused
    }

    /// Commits the request's changes (at most one store operation) and returns the headers the
    /// response must carry. Adapters call it once, after the handler. If the handler committed
    /// already ([`Session::commit`]), it returns the headers of that commit.
    pub async fn finish(&self) -> Result<ResponseHeaders, SessionError> {
        if let Some(committed) = self.take_committed() {
            return Ok(committed);
        }
        if self.finish_unused() {
            return Ok(ResponseHeaders::default());
        }
        let shared = &self.inner.shared;
        if let Some(hook) = shared.hooks.before_save.clone() {
            // The hook sees the session as the commit will: loaded if the commit needs it.
            let needs_record = self.with_state(|state| {
                state.has_changes() && matches!(plan(shared, state, || shared.now()), Step::Load)
            })?;
            if needs_record {
                self.ensure_loaded().await?;
            }
            if self.with_state(|state| state.has_changes())? {
                hook(self);
            }
        }
        // `None` if a clone of this handle finished the session meanwhile (in the hook, say).
        let state = self.state().take_open().ok_or(SessionError::Finished)?;
        shared.commit(state).await
    }

    /// Commits the session now, from the handler, instead of after it (koa-session's
    /// `manuallyCommit()`): to handle a commit error or a [`CommitOutcome::Dropped`] write
    /// yourself, or to be sure the session is stored before a long streaming body starts. The
    /// headers wait in the handle; the adapter adds them to the response when the handler
    /// returns (`sessile-axum` does, in both of its commit modes).
    ///
    /// The commit ends the session's use in this request: later reads and writes give
    /// [`SessionError::Finished`] (writes that return nothing are dropped with a warning), and
    /// so does a second `commit`, since what it would commit can no longer reach the store.
    ///
    /// ```
    /// use sessile::{CommitOutcome, Config, Keys, MemoryStore, SessionError, SessionManager, SignedIds};
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let ids = SignedIds::new(Keys::generate());
    /// let manager = SessionManager::new(MemoryStore::new(), ids, Config::default());
    /// let session = manager.start(&http::HeaderMap::new(), None);
    /// session.insert("cart", 3)?;
    /// assert_eq!(session.commit().await?, CommitOutcome::Saved);
    /// assert!(matches!(session.commit().await, Err(SessionError::Finished)));
    ///
    /// // After the handler, the adapter collects the headers of that commit.
    /// let headers = session.take_committed().expect("the handler committed");
    /// assert!(!headers.is_empty()); // the new session's cookie
    /// # Ok::<(), SessionError>(())
    /// # }).unwrap();
    /// ```
    pub async fn commit(&self) -> Result<CommitOutcome, SessionError> {
        if !matches!(*self.state(), Slot::Open(_)) {
            return Err(SessionError::Finished);
        }
        let headers = self.finish().await?;
        let outcome = headers.outcome();
        *self.state() = Slot::Committed(headers);
        Ok(outcome)
    }

    /// The headers of the handler's [`Session::commit`], once: adapters call it after the
    /// handler and add them to the response. `None` if the handler did not commit.
    pub fn take_committed(&self) -> Option<ResponseHeaders> {
        let mut guard = self.state();
        match std::mem::replace(&mut *guard, Slot::Finished) {
            Slot::Committed(headers) => Some(headers),
            other => {
                *guard = other;
                None
            }
        }
    }

    /// What an adapter does with the session once the handler has returned, the same for every
    /// framework: nothing for a session the request never needed (checked first, the one check
    /// an untouched request pays for), the headers of a handler's own [`Session::commit`], nothing
    /// in manual-commit mode without one (the session is discarded, so a clone kept in a spawned
    /// task cannot commit later), or else [`Session::finish`].
    ///
    /// ```
    /// use sessile::{AfterHandler, Config, Keys, MemoryStore, SessionManager, SignedIds};
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let ids = SignedIds::new(Keys::generate());
    /// let manager = SessionManager::new(MemoryStore::new(), ids, Config::default());
    /// let untouched = manager.start(&http::HeaderMap::new(), None);
    /// assert!(matches!(untouched.after_handler(false), AfterHandler::Nothing));
    ///
    /// let written = manager.start(&http::HeaderMap::new(), None);
    /// written.insert("theme", "dark")?;
    /// assert!(matches!(written.after_handler(false), AfterHandler::Commit));
    /// assert!(!written.finish().await?.is_empty()); // the new session's cookie
    /// # Ok::<(), sessile::SessionError>(())
    /// # }).unwrap();
    /// ```
    pub fn after_handler(&self, manual_commit: bool) -> AfterHandler {
        if self.finish_unused() {
            return AfterHandler::Nothing;
        }
        if let Some(committed) = self.take_committed() {
            return AfterHandler::Committed(committed);
        }
        if manual_commit {
            self.discard();
            return AfterHandler::Nothing;
        }
        AfterHandler::Commit
    }

    /// Ends the session without committing it: its changes are dropped, nothing is stored and
    /// no header is sent (increments, which ran in the store at once, stay). Later uses give
    /// [`SessionError::Finished`]. Adapters in manual-commit mode call it when the handler did
    /// not commit, so a clone kept in a spawned task cannot commit after the response.
    ///
    /// ```
    /// use sessile::{Config, Keys, MemoryStore, SessionError, SessionManager, SignedIds};
    /// let ids = SignedIds::new(Keys::generate());
    /// let manager = SessionManager::new(MemoryStore::new(), ids, Config::default());
    /// let session = manager.start(&http::HeaderMap::new(), None);
    /// session.insert("cart", 3)?;
    /// session.discard();
    /// assert!(matches!(session.insert("cart", 4), Err(SessionError::Finished)));
    /// # Ok::<(), SessionError>(())
    /// ```
    pub fn discard(&self) {
        *self.state() = Slot::Finished;
    }
}

/// What [`Session::after_handler`] tells an adapter to do with the handler's response.
#[derive(Debug)]
pub enum AfterHandler {
    /// Send it as it is: there is nothing to store and no session header.
    Nothing,
    /// The handler committed and saw the outcome: add these headers, leave the rest alone.
    Committed(ResponseHeaders),
    /// Commit with [`Session::finish`], then add its headers (or answer its error).
    Commit,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session").finish_non_exhaustive()
    }
}

/// The data as the request sees it: the stored data with the request's changes applied.
fn view(state: &mut RequestState) -> Result<SessionData, SessionError> {
    let mut data = match state.record() {
        Some(record) if !state.changes.cleared => record.data.clone(),
        _ => SessionData::new(),
    };
    state.changes.apply_data_to(&mut data)?;
    Ok(data)
}

fn to_json<T: Serialize>(path: &str, value: T) -> Result<Value, SessionError> {
    serde_json::to_value(value).map_err(|source| SessionError::Value {
        key: path.to_owned(),
        source,
    })
}

fn to_json_values<T: Serialize>(
    path: &str,
    values: impl IntoIterator<Item = T>,
) -> Result<Vec<Value>, SessionError> {
    values
        .into_iter()
        .map(|value| to_json(path, value))
        .collect()
}
