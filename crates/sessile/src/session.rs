//! The handler's handle on its request's session.

use std::sync::{Arc, Mutex, MutexGuard};

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

use crate::change::{incremented, KeyChange};
use crate::engine::{Backend, Phase, RequestState, ResponseHeaders, Shared};
use crate::events::Event;
use crate::id::StoreKey;
use crate::record::{SessionData, SessionSummary};
use crate::store::{IncrementOutcome, StoreError};

/// Why a session operation failed.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// The store failed or did not answer in time; adapters answer 503 for `Unavailable`.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A value could not be converted to or from JSON.
    #[error("session value for {key:?} does not convert: {source}")]
    Value {
        /// The data key.
        key: String,
        /// What serde said.
        source: serde_json::Error,
    },
    /// `increment` on a key that holds something other than an integer, or past `i64`.
    #[error("session value for {key:?} is not an integer that can be incremented")]
    NotAnInteger {
        /// The data key.
        key: String,
    },
    /// The session was deleted elsewhere (logout, revocation) while this request used it.
    #[error("the session ended while this request was using it")]
    Gone,
    /// The cookie store's cookie would exceed the browser limit.
    #[error("the session cookie would be {size} bytes, over the {limit}-byte limit; store less in the session or use a server-side store")]
    CookieTooLarge {
        /// The `Set-Cookie` value's size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// The store reported a collision for several freshly generated ids in a row.
    #[error("the store reported an id collision for {0} fresh ids in a row", 3)]
    IdCollisions,
    /// The session's request has finished (its response is sent or on its way), so the session
    /// can no longer be read or changed: a handle kept past the handler, say in a spawned task.
    /// Writes through methods that return nothing are ignored then, with a warning in the log.
    #[error("the session's request has finished; the session can no longer be used")]
    Finished,
}

impl SessionError {
    /// Whether the store was unreachable or too slow: the response should be 503.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, SessionError::Store(StoreError::Unavailable(_)))
    }
}

/// The request's session: a cheap handle that touches the store only when used.
///
/// Reads load the record once, on first use. Writes are recorded as changes and committed after
/// the handler in one atomic store operation. `increment` runs in the store at once.
///
/// ```
/// use sessile::{Config, Keys, MemoryStore, SessionManager};
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let manager = SessionManager::new(MemoryStore::new(), Config::new(Keys::generate()));
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
    state: Mutex<Option<RequestState>>,
    // Serializes loads so concurrent first uses within one request cost one store call.
    load_gate: tokio::sync::Mutex<()>,
}

impl Session {
    pub(crate) fn new(shared: Arc<Shared>, state: RequestState) -> Self {
        Self {
            inner: Arc::new(Inner {
                shared,
                state: Mutex::new(Some(state)),
                load_gate: tokio::sync::Mutex::new(()),
            }),
        }
    }

    fn state(&self) -> MutexGuard<'_, Option<RequestState>> {
        self.inner
            .state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Runs `f` on the request's state; [`SessionError::Finished`] once the request finished.
    fn with_state<T>(&self, f: impl FnOnce(&mut RequestState) -> T) -> Result<T, SessionError> {
        let mut guard = self.state();
        let state = guard.as_mut().ok_or(SessionError::Finished)?;
        self.inner.shared.resolve(state);
        Ok(f(state))
    }

    /// A write that cannot fail otherwise: after the request finished it can no longer reach the
    /// store or the response, so it is dropped, and logged, since it points at a handler bug.
    fn write(&self, operation: &'static str, f: impl FnOnce(&mut RequestState)) {
        if self.with_state(f).is_err() {
            tracing::warn!("session {operation} ignored: the session's request has finished");
        }
    }

    /// The value under `key`, converted from JSON; `None` if absent.
    pub async fn get<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, SessionError> {
        self.ensure_loaded().await?;
        let value = self.with_state(|state| {
            if let Some(decided) = state.changes.decided_value(key) {
                return decided.cloned();
            }
            match &state.phase {
                Phase::Existing { record, .. } => record.data.get(key).cloned(),
                _ => None,
            }
        })?;
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
    /// use sessile::{Config, Keys, MemoryStore, SessionManager};
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let manager = SessionManager::new(MemoryStore::new(), Config::new(Keys::generate()));
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
        self.with_state(|state| {
            let mut data = match &state.phase {
                Phase::Existing { record, .. } if !state.changes.cleared => record.data.clone(),
                _ => SessionData::new(),
            };
            for (key, change) in &state.changes.keys {
                match change {
                    KeyChange::Set(value) => {
                        data.insert(key.clone(), value.clone());
                    }
                    KeyChange::Remove => {
                        data.remove(key);
                    }
                }
            }
            data
        })
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
        if self.with_state(|state| matches!(state.phase, Phase::Sealed))? {
            self.ensure_loaded().await?;
        }
        let shared = self.inner.shared.clone();
        let local = |state: &mut RequestState, base: Option<&Value>| {
            let value = incremented(base, by).ok_or_else(|| SessionError::NotAnInteger {
                key: key.to_owned(),
            })?;
            state.changes.set(key, value.into());
            Ok(value)
        };
        let remote = self.with_state(|state| {
            if let Some(decided) = state.changes.decided_value(key) {
                let decided = decided.cloned();
                return Err(local(state, decided.as_ref()));
            }
            match (&shared.backend, &mut state.phase) {
                (Backend::Store { store, .. }, Phase::Unloaded { id })
                | (Backend::Store { store, .. }, Phase::Existing { id, .. }) => {
                    Ok((store.clone(), id.clone()))
                }
                (_, Phase::Existing { record, .. }) => {
                    let current = record.data.get(key).cloned();
                    Err(local(state, current.as_ref()))
                }
                (_, Phase::Interrupted) => Err(Err(SessionError::Gone)),
                _ => Err(local(state, None)),
            }
        })?;
        let (store, id) = match remote {
            Ok(remote) => remote,
            Err(result) => return result,
        };
        let now = shared.now();
        let outcome = shared
            .call(store.increment(&id.store_key(), key, by, shared.touch(now), now))
            .await?;
        let applied = self.with_state(|state| match outcome {
            IncrementOutcome::Value(value) => {
                state.touched_in_store = true;
                if let Phase::Existing { record, .. } = &mut state.phase {
                    record.data.insert(key.to_owned(), value.into());
                    record.last_seen = now;
                }
                Ok(value)
            }
            IncrementOutcome::NotAnInteger => Err(SessionError::NotAnInteger {
                key: key.to_owned(),
            }),
            IncrementOutcome::Gone => match state.phase {
                // Loaded earlier in this request and deleted since: the session ended under us.
                Phase::Existing { .. } => {
                    shared
                        .config
                        .events
                        .emit(&Event::Interrupted { tag: id.log_tag() });
                    state.phase = Phase::Interrupted;
                    Err(SessionError::Gone)
                }
                // Never loaded: it had ended before this request, like an expired session.
                _ => {
                    shared
                        .config
                        .events
                        .emit(&Event::Expired { tag: id.log_tag() });
                    state.phase = Phase::dead_cookie();
                    local(state, None)
                }
            },
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
        self.write("destroy", |state| {
            let ended = match std::mem::replace(&mut state.phase, Phase::fresh()) {
                Phase::Unloaded { id } | Phase::Existing { id, .. } => Some(id),
                Phase::Fresh { ended, .. } => ended,
                // `with_state` resolved the id already.
                Phase::Unresolved | Phase::Sealed | Phase::Interrupted => None,
            };
            state.phase = Phase::Fresh {
                ended,
                clear_cookie: true,
            };
            state.changes = Default::default();
            state.rotate = false;
        });
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
        self.with_state(|state| match (&state.changes.user, &state.phase) {
            (Some(user), _) => user.clone(),
            (None, Phase::Existing { record, .. }) => record.user.clone(),
            (None, _) => None,
        })
    }

    /// Makes the cookie persistent until the absolute deadline ("remember me"), or a
    /// browser-session cookie again.
    pub fn set_persistent(&self, persistent: bool) {
        self.write("set_persistent", |state| {
            state.changes.persistent = Some(persistent)
        });
    }

    /// The store key of the session the request arrived with, if it presented a valid one. Compare
    /// it with [`SessionSummary::key`] to mark "this device". `None` once the request finished.
    pub fn current_key(&self) -> Option<StoreKey> {
        self.with_state(|state| match &state.phase {
            Phase::Unloaded { id } | Phase::Existing { id, .. } => Some(id.store_key()),
            _ => None,
        })
        .ok()
        .flatten()
    }

    /// The live sessions of the signed-in user, oldest first (empty when signed out or with the
    /// cookie store, which keeps no index).
    pub async fn user_sessions(&self) -> Result<Vec<SessionSummary>, SessionError> {
        let (Some(user), Backend::Store { store, .. }) =
            (self.user().await?, &self.inner.shared.backend)
        else {
            return Ok(Vec::new());
        };
        let shared = &self.inner.shared;
        Ok(shared
            .call(store.list_user_sessions(&user, shared.now()))
            .await?)
    }

    /// Deletes one of the signed-in user's sessions; `false` if `key` is not one of theirs.
    pub async fn revoke(&self, key: &StoreKey) -> Result<bool, SessionError> {
        let owned = self.user_sessions().await?.iter().any(|s| &s.key == key);
        let Backend::Store { store, .. } = &self.inner.shared.backend else {
            return Ok(false);
        };
        if !owned {
            return Ok(false);
        }
        Ok(self.inner.shared.call(store.delete(key)).await?)
    }

    /// Deletes every other session of the signed-in user ("sign out everywhere else"); how many.
    pub async fn revoke_others(&self) -> Result<u64, SessionError> {
        let (Some(user), Backend::Store { store, .. }) =
            (self.user().await?, &self.inner.shared.backend)
        else {
            return Ok(0);
        };
        let keep = self.current_key();
        Ok(self
            .inner
            .shared
            .call(store.delete_user_sessions(&user, keep.as_ref()))
            .await?)
    }

    /// Loads the record on first use: exactly one store call, or none for a new session.
    async fn ensure_loaded(&self) -> Result<(), SessionError> {
        let _gate = self.inner.load_gate.lock().await;
        let shared = &self.inner.shared;
        enum Pending {
            Id(crate::SessionId),
            Sealed,
        }
        let pending = self.with_state(|state| match &state.phase {
            Phase::Unloaded { id } => Some(Pending::Id(id.clone())),
            Phase::Sealed => Some(Pending::Sealed),
            _ => None,
        })?;
        let now = shared.now();
        let (phase, reissue) = match (pending, &shared.backend) {
            (None, _) => return Ok(()),
            (Some(Pending::Sealed), Backend::Cookie(codec)) => {
                self.with_state(|state| shared.open_cookie(codec.as_ref(), &state.request, now))?
            }
            (Some(Pending::Sealed), Backend::Store { .. }) => {
                unreachable!("sealed values exist only with the cookie backend")
            }
            (Some(Pending::Id(_)), Backend::Cookie(_)) => {
                unreachable!("the cookie backend never has an unloaded id")
            }
            (Some(Pending::Id(id)), Backend::Store { store, .. }) => {
                let events = &shared.config.events;
                match shared.call(store.load(&id.store_key(), now)).await {
                    Ok(Some(record)) if shared.is_valid(&record) => {
                        events.emit(&Event::Loaded { tag: id.log_tag() });
                        let record = Box::new(record);
                        (Phase::Existing { id, record }, false)
                    }
                    Ok(Some(_)) => {
                        events.emit(&Event::Invalidated { tag: id.log_tag() });
                        (Phase::dead_cookie(), false)
                    }
                    Ok(None) => {
                        events.emit(&Event::Expired { tag: id.log_tag() });
                        (Phase::dead_cookie(), false)
                    }
                    Err(StoreError::Corrupt(_)) => {
                        events.emit(&Event::Corrupt { tag: id.log_tag() });
                        (Phase::dead_cookie(), false)
                    }
                    Err(error) => return Err(error.into()),
                }
            }
        };
        self.with_state(|state| {
            state.phase = phase;
            state.reissue |= reissue;
            if !matches!(state.phase, Phase::Existing { .. }) {
                state.reissue = false;
            }
        })
    }

    /// Ends the session at once (`true`) when its commit would do nothing: no store call, no
    /// response header. That is the case when the handler never used the session, and also when
    /// it only read it or only incremented values (the store has those already) and no activity
    /// write is due. The session is then finished: later uses give [`SessionError::Finished`].
    /// Otherwise (`false`) nothing happens and [`Session::finish`] commits it. Adapters may call
    /// it first to skip the asynchronous commit; `finish` does the same check itself.
    ///
    /// ```
    /// use sessile::{Config, Keys, MemoryStore, SessionManager};
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let manager = SessionManager::new(MemoryStore::new(), Config::new(Keys::generate()));
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
        let mut guard = self.state();
        let unused = guard
            .as_ref()
            .is_some_and(|state| self.inner.shared.commit_is_noop(state));
        if unused {
            // Dropped in place: moving the state out first would copy it.
            *guard = None;
        }
        unused
    }

    /// Commits the request's changes (at most one store operation) and returns the headers the
    /// response must carry. Adapters call it once, after the handler.
    pub async fn finish(&self) -> Result<ResponseHeaders, SessionError> {
        if self.finish_unused() {
            return Ok(ResponseHeaders::default());
        }
        let renews_on_write = self.inner.shared.renews_on_write();
        let needs_record = self.with_state(|state| match state.phase {
            // Rotation and persistence changes re-issue the cookie, whose lifetime the record
            // holds; so does every write when the cookie's expiry follows the idle deadline.
            Phase::Unloaded { .. } => {
                state.rotate
                    || state.changes.persistent.is_some()
                    || (renews_on_write && (state.touched_in_store || !state.changes.is_empty()))
            }
            // The cookie store re-seals the whole record, so changes need it opened first.
            Phase::Sealed => state.rotate || !state.changes.is_empty(),
            _ => false,
        })?;
        if needs_record {
            self.ensure_loaded().await?;
        }
        let has_changes = self.with_state(|state| !state.changes.is_empty() || state.rotate)?;
        if has_changes {
            if let Some(hook) = self.inner.shared.config.before_save.clone() {
                hook(self);
            }
        }
        // `None` if a clone of this handle finished the session meanwhile (in the hook, say).
        let state = self.state().take().ok_or(SessionError::Finished)?;
        self.inner.shared.commit(state).await
    }
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session").finish_non_exhaustive()
    }
}
