//! One request's session, start to end: resolve the id without I/O, load on first use, commit
//! once as a single store operation chosen by one exhaustive match.

use std::future::Future;
use std::net::IpAddr;
use std::sync::Arc;

use cookie::Cookie;
use http::{header, HeaderMap, HeaderName, HeaderValue};

use crate::change::{ChangeSet, Touch};
use crate::config::{Config, IdTransport};
use crate::events::{Event, RejectReason};
use crate::id::{SessionId, ENCODED_ID_LEN};
use crate::keys::ENCODED_SIGNATURE_LEN;
use crate::record::{Device, Record};
use crate::session::{Session, SessionError};
use crate::store::{CreateOutcome, RotateOutcome, Store, StoreError, UpdateOutcome};
use crate::stores::cookie::{CookieStore, Unsealed};
use crate::time::Timestamp;

/// How many fresh ids a commit tries when the store reports a collision. With 256-bit ids a
/// second try never happens outside tests that force it.
const ID_ATTEMPTS: usize = 3;

/// Where sessions live: a server-side [`Store`] or the cookie itself.
#[derive(Clone)]
pub(crate) enum Backend {
    Store(Arc<dyn Store>),
    Cookie(CookieStore),
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
        Self::build(Backend::Store(store), config)
    }

    /// Sessions kept in an encrypted cookie.
    pub fn with_cookie_store(cookie_store: CookieStore, config: Config) -> Self {
        Self::build(Backend::Cookie(cookie_store), config)
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
            Backend::Store(store) => Some(store),
            Backend::Cookie(_) => None,
        }
    }

    /// Starts the request's session. It only keeps the headers it needs: the id is checked
    /// (shape, then signature) on first use, so a handler that never touches its session pays
    /// neither a store call nor the signature check. A malformed or badly signed id becomes a
    /// fresh session then, before any store is asked.
    pub fn start(&self, headers: &HeaderMap, client_ip: Option<IpAddr>) -> Session {
        let id_headers: Vec<HeaderValue> = match &self.shared.config.transport {
            IdTransport::Cookie => headers.get_all(header::COOKIE).iter().cloned().collect(),
            IdTransport::Header(name) => headers.get(name).cloned().into_iter().collect(),
        };
        let phase = if id_headers.is_empty() {
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
                    user_agent: headers.get(header::USER_AGENT).cloned(),
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
    /// A cookie-store value arrived; not opened yet.
    Sealed { value: String },
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
    id_headers: Vec<HeaderValue>,
    user_agent: Option<HeaderValue>,
    client_ip: Option<IpAddr>,
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
        let config = &self.config;
        let presented = presented_value(config, &state.request.id_headers);
        let (phase, reissue) = match (presented, &self.backend) {
            (None, _) => (Phase::fresh(), false),
            (Some(value), Backend::Store(_)) => match verify_id(config, &value) {
                Ok((id, key_index)) => (Phase::Unloaded { id }, key_index > 0),
                Err(reason) => {
                    config.events.emit(&Event::Rejected { reason });
                    (Phase::dead_cookie(), false)
                }
            },
            (Some(value), Backend::Cookie(_)) => (Phase::Sealed { value }, false),
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

    /// Runs one store call, bounded by the configured timeout.
    pub(crate) async fn call<T>(
        &self,
        operation: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
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

    fn id_name(&self) -> &str {
        match &self.config.transport {
            IdTransport::Cookie => &self.config.cookie.name,
            IdTransport::Header(name) => name.as_str(),
        }
    }

    /// The header that hands the client `value` (signed id or sealed state) for `record`.
    fn issue(&self, value: String, record: &Record, now: Timestamp) -> (HeaderName, HeaderValue) {
        match &self.config.transport {
            IdTransport::Header(name) => (name.clone(), header_value(&value)),
            IdTransport::Cookie => {
                let mut cookie = self.cookie(value);
                if record.persistent {
                    let remaining = record.absolute_deadline.since(now);
                    cookie.set_max_age(cookie::time::Duration::try_from(remaining).ok());
                }
                (header::SET_COOKIE, header_value(&cookie.to_string()))
            }
        }
    }

    fn issue_id(
        &self,
        id: &SessionId,
        record: &Record,
        now: Timestamp,
    ) -> (HeaderName, HeaderValue) {
        let encoded = id.encode();
        let signature = self.config.keys.sign(self.id_name(), &encoded);
        self.issue(format!("{encoded}.{signature}"), record, now)
    }

    fn removal(&self) -> (HeaderName, HeaderValue) {
        match &self.config.transport {
            IdTransport::Header(name) => (name.clone(), HeaderValue::from_static("")),
            IdTransport::Cookie => {
                let mut cookie = self.cookie(String::new());
                cookie.make_removal();
                (header::SET_COOKIE, header_value(&cookie.to_string()))
            }
        }
    }

    fn cookie(&self, value: String) -> Cookie<'static> {
        let settings = &self.config.cookie;
        let mut cookie = Cookie::new(settings.name.clone(), value);
        cookie.set_secure(settings.secure);
        cookie.set_http_only(settings.http_only);
        cookie.set_same_site(settings.same_site);
        cookie.set_path(settings.path.clone());
        if let Some(domain) = &settings.domain {
            cookie.set_domain(domain.clone());
        }
        cookie
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
            (_, Phase::Interrupted) => out.headers.push(self.removal()),
            (Backend::Cookie(_), Phase::Sealed { .. }) => {}
            (Backend::Store(_), Phase::Sealed { .. }) => {
                unreachable!("sealed values exist only with the cookie backend")
            }
            (
                backend,
                Phase::Fresh {
                    ended,
                    clear_cookie,
                },
            ) => {
                if let (Backend::Store(store), Some(id)) = (backend, &ended) {
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
                    let (id, header) = self.create(backend, &record, now).await?;
                    events.emit(&Event::Created { tag: id.log_tag() });
                    out.headers.push(header);
                } else if ended.is_some() || clear_cookie {
                    out.headers.push(self.removal());
                }
            }
            (Backend::Store(store), Phase::Unloaded { id }) => {
                if changes.is_empty() && !state.rotate {
                    return Ok(out);
                }
                changes.touch = Some(self.touch(now));
                let key = id.store_key();
                match self.call(store.update(&key, &changes, now)).await? {
                    UpdateOutcome::Applied => {}
                    UpdateOutcome::Gone => {
                        events.emit(&Event::Interrupted { tag: id.log_tag() });
                        out.headers.push(self.removal());
                    }
                }
            }
            (Backend::Store(store), Phase::Existing { id, mut record }) => {
                let due = !state.touched_in_store && self.touch_due(&record, now);
                if changes.is_empty() && !state.rotate && !due {
                    if state.reissue {
                        out.headers.push(self.issue_id(&id, &record, now));
                    }
                    return Ok(out);
                }
                changes.touch = Some(self.touch(now));
                if state.rotate {
                    changes.apply_to(&mut record);
                    let from = id.store_key();
                    let mut rotated = None;
                    for _ in 0..ID_ATTEMPTS {
                        let to = SessionId::generate();
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
                            out.headers.push(self.issue_id(&to, &record, now));
                        }
                        Some(None) => {
                            events.emit(&Event::Interrupted { tag: id.log_tag() });
                            out.headers.push(self.removal());
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
                        if state.reissue || persistence_changed {
                            out.headers.push(self.issue_id(&id, &record, now));
                        }
                    }
                    UpdateOutcome::Gone => {
                        events.emit(&Event::Interrupted { tag: id.log_tag() });
                        out.headers.push(self.removal());
                    }
                }
            }
            (Backend::Cookie(cookie_store), Phase::Existing { id, mut record }) => {
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
                out.headers
                    .push(self.sealed_cookie(cookie_store, &id, &record, now)?);
            }
            (Backend::Cookie(_), Phase::Unloaded { .. }) => {
                unreachable!("the cookie backend never has an unloaded id")
            }
        }
        Ok(out)
    }

    /// Stores a new record under a fresh id and returns the header that hands it out.
    async fn create(
        &self,
        backend: &Backend,
        record: &Record,
        now: Timestamp,
    ) -> Result<(SessionId, (HeaderName, HeaderValue)), SessionError> {
        match backend {
            Backend::Cookie(cookie_store) => {
                let id = SessionId::generate();
                let header = self.sealed_cookie(cookie_store, &id, record, now)?;
                Ok((id, header))
            }
            Backend::Store(store) => {
                for _ in 0..ID_ATTEMPTS {
                    let id = SessionId::generate();
                    match self.call(store.create(&id.store_key(), record)).await? {
                        CreateOutcome::Created => {
                            let header = self.issue_id(&id, record, now);
                            return Ok((id, header));
                        }
                        CreateOutcome::Collision => continue,
                    }
                }
                Err(SessionError::IdCollisions)
            }
        }
    }

    fn sealed_cookie(
        &self,
        cookie_store: &CookieStore,
        id: &SessionId,
        record: &Record,
        now: Timestamp,
    ) -> Result<(HeaderName, HeaderValue), SessionError> {
        let sealed = cookie_store.seal(&self.config.keys, self.id_name(), id, record);
        let header = self.issue(sealed, record, now);
        let size = header.1.len();
        if size > cookie_store.limit() {
            return Err(SessionError::CookieTooLarge {
                size,
                limit: cookie_store.limit(),
            });
        }
        Ok(header)
    }

    /// Opens a cookie-store value into a phase, emitting the event that explains a refusal.
    pub(crate) fn open_sealed(
        &self,
        cookie_store: &CookieStore,
        value: &str,
        now: Timestamp,
    ) -> (Phase, bool) {
        let events = &self.config.events;
        match cookie_store.open(&self.config.keys, self.id_name(), value, now) {
            Ok((id, record, key_index)) => {
                if !self.is_valid(&record) {
                    events.emit(&Event::Invalidated { tag: id.log_tag() });
                    return (Phase::dead_cookie(), false);
                }
                events.emit(&Event::Loaded { tag: id.log_tag() });
                let record = Box::new(record);
                (Phase::Existing { id, record }, key_index > 0)
            }
            Err(Unsealed::Unopenable) => {
                events.emit(&Event::Rejected {
                    reason: RejectReason::Unsealable,
                });
                (Phase::dead_cookie(), false)
            }
            Err(Unsealed::Corrupt) => {
                events.emit(&Event::Corrupt {
                    tag: "cookie".to_owned(),
                });
                (Phase::dead_cookie(), false)
            }
            Err(Unsealed::Expired) => {
                events.emit(&Event::Expired {
                    tag: "cookie".to_owned(),
                });
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

fn header_value(text: &str) -> HeaderValue {
    HeaderValue::from_str(text).expect("cookies and ids are built from visible ASCII")
}

/// The raw id (or sealed state) the client presented, if any. First occurrence wins, as in
/// browsers' and Koa's cookie parsing; values that are not visible ASCII are ignored.
fn presented_value(config: &Config, id_headers: &[HeaderValue]) -> Option<String> {
    let mut values = id_headers.iter().filter_map(|v| v.to_str().ok());
    match &config.transport {
        IdTransport::Header(_) => values
            .next()
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty()),
        IdTransport::Cookie => values
            .flat_map(|line| line.split(';'))
            .filter_map(|pair| pair.trim().split_once('='))
            .find(|(name, _)| *name == config.cookie.name)
            .map(|(_, value)| value.trim_matches('"').to_owned()),
    }
}

/// Checks shape, then signature: `<43-char id>.<43-char signature>`.
fn verify_id(config: &Config, value: &str) -> Result<(SessionId, usize), RejectReason> {
    let name = match &config.transport {
        IdTransport::Cookie => config.cookie.name.as_str(),
        IdTransport::Header(name) => name.as_str(),
    };
    if value.len() != ENCODED_ID_LEN + 1 + ENCODED_SIGNATURE_LEN {
        return Err(RejectReason::Malformed);
    }
    let (encoded, signature) = value
        .split_once('.')
        .filter(|(encoded, _)| encoded.len() == ENCODED_ID_LEN)
        .ok_or(RejectReason::Malformed)?;
    let id = SessionId::decode(encoded).ok_or(RejectReason::Malformed)?;
    let key_index = config
        .keys
        .verify(name, encoded, signature)
        .ok_or(RejectReason::BadSignature)?;
    Ok((id, key_index))
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
