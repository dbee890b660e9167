//! One request's session, start to end: resolve the id without I/O, load on first use, commit
//! once as a single store operation chosen by one exhaustive match.

use std::future::Future;
use std::net::IpAddr;
use std::sync::Arc;

use http::{header, HeaderMap, HeaderName, HeaderValue};

use crate::change::{ChangeSet, Touch};
use crate::codec::{
    CookieCodec, HeaderList, IdCodec, OpenedCookie, PresentedId, SealedCookies, SignedIds,
};
use crate::config::Config;
use crate::events::{Event, RejectReason};
use crate::id::SessionId;
use crate::record::{Device, Record};
use crate::session::{Session, SessionError};
use crate::store::{CreateOutcome, RotateOutcome, Store, StoreError, UpdateOutcome};
use crate::stores::cookie::CookieStore;
use crate::time::Timestamp;

/// How many fresh ids a commit tries when the store reports a collision. With 256-bit ids a
/// second try never happens outside tests that force it.
const ID_ATTEMPTS: usize = 3;

/// Where sessions live: a server-side [`Store`] (the client holds an id) or the client's cookies.
#[derive(Clone)]
pub(crate) enum Backend {
    Store {
        store: Arc<dyn Store>,
        ids: Arc<dyn IdCodec>,
    },
    Cookie(Arc<dyn CookieCodec>),
}

pub(crate) struct Shared {
    pub(crate) config: Config,
    pub(crate) backend: Backend,
}

/// Creates each request's [`Session`] and turns it into response headers afterwards. Framework
/// adapters (`sessile-axum`) hold one; it is cheap to clone.
///
/// ```
/// use sessile::{Config, Keys, MemoryStore, SessionManager};
/// let manager = SessionManager::new(MemoryStore::new(), Config::new(Keys::generate()));
/// let session = manager.start(&http::HeaderMap::new(), None);
/// assert!(session.current_key().is_none());
/// ```
#[derive(Clone)]
pub struct SessionManager {
    shared: Arc<Shared>,
}

impl SessionManager {
    /// Sessions kept in `store`.
    pub fn new(store: impl Store, config: Config) -> Self {
        Self::from_shared_store(Arc::new(store), config)
    }

    /// Sessions kept in a store shared with other parts of the app (an admin page, a cleanup task).
    pub fn from_shared_store(store: Arc<dyn Store>, config: Config) -> Self {
        let ids = Arc::new(SignedIds::from_config(&config));
        Self::with_id_codec(store, ids, config)
    }

    /// Sessions kept in `store`, with ids in another format than sessile's own: a Node app's
    /// cookie, say (`sessile-node`). The codec replaces `config`'s cookie, transport and keys
    /// for the id.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use sessile::codec::SignedIds;
    /// use sessile::{Config, Keys, MemoryStore, SessionManager};
    /// let config = Config::new(Keys::generate());
    /// let ids = Arc::new(SignedIds::from_config(&config));
    /// let manager = SessionManager::with_id_codec(Arc::new(MemoryStore::new()), ids, config);
    /// # let _ = manager;
    /// ```
    pub fn with_id_codec(store: Arc<dyn Store>, ids: Arc<dyn IdCodec>, config: Config) -> Self {
        Self::build(Backend::Store { store, ids }, config)
    }

    /// Sessions kept in an encrypted cookie.
    pub fn with_cookie_store(cookie_store: CookieStore, config: Config) -> Self {
        let codec = SealedCookies::from_config(cookie_store, &config);
        Self::with_cookie_codec(Arc::new(codec), config)
    }

    /// Sessions kept in the client's cookies in another format than sessile's sealed one (a
    /// koa-session cookie, say: `sessile-node`).
    ///
    /// ```
    /// use std::sync::Arc;
    /// use sessile::codec::SealedCookies;
    /// use sessile::{Config, CookieStore, Keys, SessionManager};
    /// let config = Config::new(Keys::generate());
    /// let codec = Arc::new(SealedCookies::from_config(CookieStore::new(), &config));
    /// let manager = SessionManager::with_cookie_codec(codec, config);
    /// # let _ = manager;
    /// ```
    pub fn with_cookie_codec(codec: Arc<dyn CookieCodec>, config: Config) -> Self {
        Self::build(Backend::Cookie(codec), config)
    }

    fn build(backend: Backend, config: Config) -> Self {
        for warning in config.validate() {
            tracing::warn!("sessile configuration: {warning}");
        }
        Self {
            shared: Arc::new(Shared { config, backend }),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.shared.config
    }

    /// The server-side store, if sessions are not kept in cookies.
    pub fn store(&self) -> Option<&Arc<dyn Store>> {
        match &self.shared.backend {
            Backend::Store { store, .. } => Some(store),
            Backend::Cookie(_) => None,
        }
    }

    /// Starts the request's session. It only keeps the headers it needs: the id is checked
    /// (shape, then signature) on first use, so a handler that never touches its session pays
    /// neither a store call nor the signature check. A malformed or badly signed id becomes a
    /// fresh session then, before any store is asked.
    pub fn start(&self, headers: &HeaderMap, client_ip: Option<IpAddr>) -> Session {
        let carrier = match &self.shared.backend {
            Backend::Store { ids, .. } => ids.header(),
            Backend::Cookie(codec) => codec.header(),
        };
        // One pass over the headers instead of two hashed lookups; a request rarely carries
        // more than a dozen.
        let mut id_headers = IdHeaders::None;
        let mut user_agent = None;
        for (name, value) in headers {
            if name == carrier {
                id_headers.push(value.clone());
            } else if name == header::USER_AGENT && user_agent.is_none() {
                user_agent = Some(value.clone());
            }
        }
        let phase = if matches!(id_headers, IdHeaders::None) {
            Phase::fresh()
        } else {
            Phase::Unresolved
        };
        Session::new(
            self.shared.clone(),
            RequestState {
                phase,
                changes: ChangeSet::default(),
                rotate: false,
                reissue: false,
                touched_in_store: false,
                request: RequestFacts {
                    id_headers,
                    user_agent,
                    client_ip,
                },
            },
        )
    }
}

/// The session's state machine. Each request's session is in exactly one phase; the commit is
/// one `match` over it.
#[derive(Debug)]
pub(crate) enum Phase {
    /// The request carries an id (or sealed state) that nobody has looked at yet.
    Unresolved,
    /// A valid signed id arrived; the store has not been asked yet.
    Unloaded { id: SessionId },
    /// The request carries a client-side session; not opened yet.
    Sealed,
    /// The record is loaded (or opened) and live.
    Existing { id: SessionId, record: Box<Record> },
    /// No session in the store for this request (yet). `ended` is a session this request
    /// destroyed; `clear_cookie` asks to remove a client cookie that no longer names a session.
    Fresh {
        ended: Option<SessionId>,
        clear_cookie: bool,
    },
    /// The session vanished while the request used it: changes are dropped, never recreated.
    Interrupted,
}

impl Phase {
    pub(crate) fn fresh() -> Self {
        Phase::Fresh {
            ended: None,
            clear_cookie: false,
        }
    }

    pub(crate) fn dead_cookie() -> Self {
        Phase::Fresh {
            ended: None,
            clear_cookie: true,
        }
    }
}

#[derive(Debug)]
pub(crate) struct RequestState {
    pub(crate) phase: Phase,
    pub(crate) changes: ChangeSet,
    pub(crate) rotate: bool,
    /// The id verified under an older key: re-sign it once the session is known to be live.
    pub(crate) reissue: bool,
    /// An `increment` already moved the idle deadline in the store during this request.
    pub(crate) touched_in_store: bool,
    pub(crate) request: RequestFacts,
}

/// What the session may need from the request, kept cheaply (header values are shared bytes)
/// and interpreted only when the session is used.
#[derive(Debug)]
pub(crate) struct RequestFacts {
    id_headers: IdHeaders,
    user_agent: Option<HeaderValue>,
    client_ip: Option<IpAddr>,
}

/// The request's values of the id header. Nearly every request carries one `Cookie` header (or
/// none), which is kept without a heap allocation.
#[derive(Debug)]
enum IdHeaders {
    None,
    One(HeaderValue),
    Many(Vec<HeaderValue>),
}

impl IdHeaders {
    fn push(&mut self, value: HeaderValue) {
        *self = match std::mem::replace(self, IdHeaders::None) {
            IdHeaders::None => IdHeaders::One(value),
            IdHeaders::One(first) => IdHeaders::Many(vec![first, value]),
            IdHeaders::Many(mut values) => {
                values.push(value);
                IdHeaders::Many(values)
            }
        };
    }

    fn as_slice(&self) -> &[HeaderValue] {
        match self {
            IdHeaders::None => &[],
            IdHeaders::One(value) => std::slice::from_ref(value),
            IdHeaders::Many(values) => values,
        }
    }
}

/// What the response must carry after the commit: `Set-Cookie` or the id header. When it is not
/// empty, adapters also add `Cache-Control: no-store` and `Vary: Cookie`.
#[derive(Debug, Default)]
pub struct ResponseHeaders {
    /// Headers to append to the response.
    pub headers: Vec<(HeaderName, HeaderValue)>,
}

impl ResponseHeaders {
    /// Whether the response needs no session header.
    pub fn is_empty(&self) -> bool {
        self.headers.is_empty()
    }

    /// Appends the session headers, with `Cache-Control: no-store` and `Vary: Cookie` when there
    /// are any, so no shared cache keeps a response that hands out a session.
    pub fn apply_to(self, response_headers: &mut HeaderMap) {
        if self.headers.is_empty() {
            return;
        }
        for (name, value) in self.headers {
            response_headers.append(name, value);
        }
        response_headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        response_headers.append(header::VARY, HeaderValue::from_static("Cookie"));
    }
}

impl Shared {
    pub(crate) fn now(&self) -> Timestamp {
        self.config.clock.now()
    }

    pub(crate) fn touch(&self, now: Timestamp) -> Touch {
        Touch {
            last_seen: now,
            idle_deadline: now + self.config.idle_timeout,
        }
    }

    /// Interprets the presented id on first use: shape, then signature, never the store.
    pub(crate) fn resolve(&self, state: &mut RequestState) {
        if !matches!(state.phase, Phase::Unresolved) {
            return;
        }
        let (phase, reissue) = match &self.backend {
            Backend::Store { ids, .. } => match ids.read(state.request.id_headers.as_slice()) {
                PresentedId::Absent => (Phase::fresh(), false),
                PresentedId::Valid { id, stale } => (Phase::Unloaded { id }, stale),
                PresentedId::Refused(reason) => {
                    self.config.events.emit(&Event::Rejected { reason });
                    (Phase::dead_cookie(), false)
                }
            },
            Backend::Cookie(_) => (Phase::Sealed, false),
        };
        state.phase = phase;
        state.reissue = reissue;
    }

    /// The device metadata of this request's client.
    fn device(&self, request: &RequestFacts) -> Device {
        Device {
            user_agent: request
                .user_agent
                .as_ref()
                .and_then(|v| v.to_str().ok())
                .map(summarize_user_agent),
            ip: request
                .client_ip
                .filter(|_| self.config.record_ip)
                .map(|ip| ip.to_string()),
        }
    }

    /// Runs one store call, bounded by the configured timeout. A call that completes on its
    /// first poll (an in-memory store) never sets up the timer.
    pub(crate) async fn call<T>(
        &self,
        operation: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        let mut operation = std::pin::pin!(operation);
        let first = std::future::poll_fn(|cx| {
            std::task::Poll::Ready(match operation.as_mut().poll(cx) {
                std::task::Poll::Ready(result) => Some(result),
                std::task::Poll::Pending => None,
            })
        })
        .await;
        if let Some(result) = first {
            return result;
        }
        match tokio::time::timeout(self.config.store_timeout, operation).await {
            Ok(result) => result,
            Err(_) => Err(StoreError::unavailable(format!(
                "no answer within {:?}",
                self.config.store_timeout
            ))),
        }
    }

    fn touch_due(&self, record: &Record, now: Timestamp) -> bool {
        let window = self.config.idle_timeout.mul_f64(self.config.touch_throttle);
        now.since(record.last_seen) >= window
    }

    fn new_record(&self, now: Timestamp, device: Device) -> Record {
        Record {
            data: Default::default(),
            user: None,
            created_at: now,
            last_seen: now,
            idle_deadline: now + self.config.idle_timeout,
            absolute_deadline: now + self.config.absolute_lifetime,
            persistent: false,
            device,
        }
    }

    /// Whether a write must re-send the id (see [`IdCodec::renews_on_write`]).
    pub(crate) fn renews_on_write(&self) -> bool {
        match &self.backend {
            Backend::Store { ids, .. } => ids.renews_on_write(),
            Backend::Cookie(_) => false,
        }
    }

    fn removal(&self) -> HeaderList {
        match &self.backend {
            Backend::Store { ids, .. } => ids.removal(),
            Backend::Cookie(codec) => codec.removal(),
        }
    }

    /// Whether [`Shared::commit`] of `state`, and the load `Session::finish` may run before it,
    /// would do nothing at all: no store call, no event, no response header. Mirrors the early
    /// returns of `commit`, so adapters can end such requests synchronously.
    pub(crate) fn commit_is_noop(&self, state: &RequestState) -> bool {
        let unchanged = state.changes.is_empty() && !state.rotate;
        match (&self.backend, &state.phase) {
            (_, Phase::Unresolved) => true,
            (
                _,
                Phase::Fresh {
                    ended: None,
                    clear_cookie: false,
                },
            ) => unchanged,
            (Backend::Store { ids, .. }, Phase::Unloaded { .. }) => {
                // With `renews_on_write`, an increment makes `finish` load the record and
                // re-issue the cookie.
                unchanged && !(state.touched_in_store && ids.renews_on_write())
            }
            (Backend::Store { ids, .. }, Phase::Existing { record, .. }) => {
                unchanged
                    && !state.reissue
                    && if state.touched_in_store {
                        !ids.renews_on_write()
                    } else {
                        !self.touch_due(record, self.now())
                    }
            }
            (Backend::Cookie(_), Phase::Existing { record, .. }) => {
                unchanged && !state.reissue && !self.touch_due(record, self.now())
            }
            // A client-side session nobody opened: `finish` opens it only to write.
            (Backend::Cookie(_), Phase::Sealed) => unchanged,
            _ => false,
        }
    }

    /// The end-of-request work: at most one store operation for the session, chosen by the phase.
    pub(crate) async fn commit(
        &self,
        mut state: RequestState,
    ) -> Result<ResponseHeaders, SessionError> {
        let now = self.now();
        let events = &self.config.events;
        let mut out = ResponseHeaders::default();
        if state.changes.user.is_some() {
            // Signing in records the device that signed in.
            state.changes.device = Some(self.device(&state.request));
        }
        let mut changes = state.changes;
        match (&self.backend, state.phase) {
            // Nobody looked at the session: nothing to commit.
            (_, Phase::Unresolved) => {}
            (_, Phase::Interrupted) => out.headers.extend(self.removal()),
            (Backend::Cookie(_), Phase::Sealed) => {}
            (Backend::Store { .. }, Phase::Sealed) => {
                unreachable!("sealed values exist only with the cookie backend")
            }
            (
                backend,
                Phase::Fresh {
                    ended,
                    clear_cookie,
                },
            ) => {
                if let (Backend::Store { store, .. }, Some(id)) = (backend, &ended) {
                    self.call(store.delete(&id.store_key())).await?;
                }
                if let Some(id) = &ended {
                    events.emit(&Event::Destroyed { tag: id.log_tag() });
                }
                let mut record = self.new_record(now, self.device(&state.request));
                changes.apply_to(&mut record);
                // A new session that would hold nothing (say, a sign-out on a visitor without a
                // session) is never stored: no row, no cookie.
                let holds_something = !record.data.is_empty() || record.user.is_some();
                if holds_something {
                    let (id, headers) = self.create(backend, &record, now).await?;
                    events.emit(&Event::Created { tag: id.log_tag() });
                    out.headers.extend(headers);
                } else if ended.is_some() || clear_cookie {
                    out.headers.extend(self.removal());
                }
            }
            (Backend::Store { store, .. }, Phase::Unloaded { id }) => {
                if changes.is_empty() && !state.rotate {
                    return Ok(out);
                }
                changes.touch = Some(self.touch(now));
                let key = id.store_key();
                match self.call(store.update(&key, &changes, now)).await? {
                    UpdateOutcome::Applied => {}
                    UpdateOutcome::Gone => {
                        events.emit(&Event::Interrupted { tag: id.log_tag() });
                        out.headers.extend(self.removal());
                    }
                }
            }
            (Backend::Store { store, ids }, Phase::Existing { id, mut record }) => {
                let due = !state.touched_in_store && self.touch_due(&record, now);
                if changes.is_empty() && !state.rotate && !due {
                    if state.touched_in_store && ids.renews_on_write() {
                        // An increment moved the idle deadline the cookie's expiry follows.
                        record.idle_deadline = self.touch(now).idle_deadline;
                        out.headers.extend(ids.issue(&id, &record, now));
                    } else if state.reissue {
                        out.headers.extend(ids.reissue(&id, &record, now));
                    }
                    return Ok(out);
                }
                changes.touch = Some(self.touch(now));
                if state.rotate {
                    changes.apply_to(&mut record);
                    let from = id.store_key();
                    let mut rotated = None;
                    for _ in 0..ID_ATTEMPTS {
                        let to = ids.generate();
                        match self
                            .call(store.rotate(&from, &to.store_key(), &changes, now))
                            .await?
                        {
                            RotateOutcome::Rotated => {
                                rotated = Some(Some(to));
                                break;
                            }
                            RotateOutcome::Gone => {
                                rotated = Some(None);
                                break;
                            }
                            RotateOutcome::Collision => continue,
                        }
                    }
                    match rotated {
                        Some(Some(to)) => {
                            events.emit(&Event::Rotated {
                                from: id.log_tag(),
                                to: to.log_tag(),
                            });
                            out.headers.extend(ids.issue(&to, &record, now));
                        }
                        Some(None) => {
                            events.emit(&Event::Interrupted { tag: id.log_tag() });
                            out.headers.extend(self.removal());
                        }
                        None => return Err(SessionError::IdCollisions),
                    }
                    return Ok(out);
                }
                match self
                    .call(store.update(&id.store_key(), &changes, now))
                    .await?
                {
                    UpdateOutcome::Applied => {
                        let persistence_changed = changes
                            .persistent
                            .is_some_and(|persistent| persistent != record.persistent);
                        changes.apply_to(&mut record);
                        if state.reissue || persistence_changed || ids.renews_on_write() {
                            out.headers.extend(ids.issue(&id, &record, now));
                        }
                    }
                    UpdateOutcome::Gone => {
                        events.emit(&Event::Interrupted { tag: id.log_tag() });
                        out.headers.extend(self.removal());
                    }
                }
            }
            (Backend::Cookie(codec), Phase::Existing { id, mut record }) => {
                let due = self.touch_due(&record, now);
                if changes.is_empty() && !state.rotate && !due && !state.reissue {
                    return Ok(out);
                }
                changes.touch = Some(self.touch(now));
                changes.apply_to(&mut record);
                let id = if state.rotate {
                    let to = SessionId::generate();
                    events.emit(&Event::Rotated {
                        from: id.log_tag(),
                        to: to.log_tag(),
                    });
                    to
                } else {
                    id
                };
                out.headers.extend(codec.seal(&id, &record, now)?);
            }
            (Backend::Cookie(_), Phase::Unloaded { .. }) => {
                unreachable!("the cookie backend never has an unloaded id")
            }
        }
        Ok(out)
    }

    /// Stores a new record under a fresh id and returns the headers that hand it out.
    async fn create(
        &self,
        backend: &Backend,
        record: &Record,
        now: Timestamp,
    ) -> Result<(SessionId, HeaderList), SessionError> {
        match backend {
            Backend::Cookie(codec) => {
                let id = SessionId::generate();
                let headers = codec.seal(&id, record, now)?;
                Ok((id, headers))
            }
            Backend::Store { store, ids } => {
                for _ in 0..ID_ATTEMPTS {
                    let id = ids.generate();
                    match self.call(store.create(&id.store_key(), record)).await? {
                        CreateOutcome::Created => {
                            let headers = ids.issue(&id, record, now);
                            return Ok((id, headers));
                        }
                        CreateOutcome::Collision => continue,
                    }
                }
                Err(SessionError::IdCollisions)
            }
        }
    }

    /// Opens the request's client-side session into a phase, emitting the event that explains
    /// a refusal.
    pub(crate) fn open_cookie(
        &self,
        codec: &dyn CookieCodec,
        request: &RequestFacts,
        now: Timestamp,
    ) -> (Phase, bool) {
        let events = &self.config.events;
        let tag = || "cookie".to_owned();
        match codec.open(request.id_headers.as_slice(), now) {
            OpenedCookie::Absent => (Phase::fresh(), false),
            OpenedCookie::Live { id, record, stale } => {
                let id = id.unwrap_or_else(SessionId::generate);
                if !self.is_valid(&record) {
                    events.emit(&Event::Invalidated { tag: id.log_tag() });
                    return (Phase::dead_cookie(), false);
                }
                events.emit(&Event::Loaded { tag: id.log_tag() });
                (Phase::Existing { id, record }, stale)
            }
            OpenedCookie::Refused => {
                events.emit(&Event::Rejected {
                    reason: RejectReason::Unsealable,
                });
                (Phase::dead_cookie(), false)
            }
            OpenedCookie::Corrupt => {
                events.emit(&Event::Corrupt { tag: tag() });
                (Phase::dead_cookie(), false)
            }
            OpenedCookie::Expired => {
                events.emit(&Event::Expired { tag: tag() });
                (Phase::dead_cookie(), false)
            }
        }
    }

    pub(crate) fn is_valid(&self, record: &Record) -> bool {
        self.config
            .validity_check
            .as_ref()
            .is_none_or(|check| check(record))
    }
}

/// "Firefox on Linux" from a User-Agent header: enough for a "your devices" page, and short, so
/// stores never keep a long fingerprint.
pub fn summarize_user_agent(user_agent: &str) -> String {
    const BROWSERS: [(&str, &str); 8] = [
        ("Edg/", "Edge"),
        ("OPR/", "Opera"),
        ("Firefox/", "Firefox"),
        ("Chrome/", "Chrome"),
        ("Safari/", "Safari"),
        ("curl/", "curl"),
        ("reqwest", "reqwest"),
        ("Wget/", "Wget"),
    ];
    const SYSTEMS: [(&str, &str); 6] = [
        ("Android", "Android"),
        ("iPhone", "iOS"),
        ("iPad", "iPadOS"),
        ("Windows", "Windows"),
        ("Mac OS X", "macOS"),
        ("Linux", "Linux"),
    ];
    let browser = BROWSERS
        .iter()
        .find(|(marker, _)| user_agent.contains(marker))
        .map(|(_, name)| *name);
    let system = SYSTEMS
        .iter()
        .find(|(marker, _)| user_agent.contains(marker))
        .map(|(_, name)| *name);
    match (browser, system) {
        (Some(browser), Some(system)) => format!("{browser} on {system}"),
        (Some(browser), None) => browser.to_owned(),
        (None, Some(system)) => format!("a browser on {system}"),
        (None, None) => user_agent.chars().take(40).collect(),
    }
}
