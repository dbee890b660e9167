//! How a session travels between client and server: the id codec of server-side stores and the
//! cookie codec of client-side sessions.
//!
//! The engine asks a codec three things: what the request presents, which headers hand out a
//! session, which headers take it away. sessile's own codecs ([`SignedIds`], [`SealedCookies`])
//! hold the [`Keys`] they sign or seal with and the [`CookieConfig`] of their cookie;
//! `sessile-node` has codecs for the cookies of Koa and Express apps (with the Node app's keys
//! and cookie options), so a Rust app can share sessions with a Node app on the same domain.

use std::ops::ControlFlow;
use std::sync::Arc;

use cookie::Cookie;
use http::{header, HeaderName, HeaderValue};
use serde::{Deserialize, Serialize};

use crate::config::CookieConfig;
use crate::events::RejectReason;
use crate::id::{SessionId, ENCODED_ID_LEN};
use crate::keys::{KeyIndex, Keys, ENCODED_SIGNATURE_LEN};
use crate::record::{Deadline, Record};
use crate::time::Timestamp;

/// Browsers keep cookies up to 4096 bytes, name and attributes included: the limit
/// [`SealedCookies`] (and `sessile-node`'s cookie codec) holds every `Set-Cookie` line to.
pub const BROWSER_COOKIE_LIMIT: usize = 4096;

/// How many values of the session's name sessile's codecs try on one request. Browsers send one
/// cookie per matching domain and path: a handful at most.
const MAX_CANDIDATES: usize = 8;

/// Response headers a codec produces: `Set-Cookie` lines, or an id header.
pub(crate) type HeaderList = Vec<(HeaderName, HeaderValue)>;

/// Why a [`CookieCodec`] could not seal a session.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SealError {
    /// The `Set-Cookie` value would exceed the limit browsers keep.
    #[error("the session cookie would be {size} bytes, over the {limit}-byte limit")]
    TooLarge {
        /// The `Set-Cookie` value's size.
        size: usize,
        /// The limit.
        limit: usize,
    },
}

/// What a request presents as its session id.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PresentedId {
    /// No id at all.
    Absent,
    /// A well-formed, authentic id. `stale` means it verified under an older key, so the engine
    /// re-issues it (under the current key) once the session is known to be live.
    Valid {
        /// The id.
        id: SessionId,
        /// Signed with a key other than the current one.
        stale: bool,
    },
    /// Something was presented, but it is not a usable id. The engine starts a fresh session
    /// without asking the store and clears the client's cookie.
    Refused(RejectReason),
}

/// Reads, issues and removes session ids for a server-side store.
///
/// The engine collects the request's values of [`IdCodec::header`] when the request starts and
/// hands them to [`IdCodec::read`] the first time the handler uses its session, so a handler that
/// never does pays nothing.
///
/// ```
/// use sessile::codec::{IdCodec, PresentedId, SignedIds};
/// use sessile::Keys;
/// let codec = SignedIds::new(Keys::generate());
/// let cookie = http::HeaderValue::from_static("__Host-id=not-a-session");
/// assert!(matches!(codec.read(&[cookie]), PresentedId::Refused(_)));
/// ```
pub trait IdCodec: Send + Sync + 'static {
    /// The request header the id travels in (`Cookie` for cookie transports).
    fn header(&self) -> &HeaderName;

    /// A new id for a new session.
    fn generate(&self) -> SessionId;

    /// The id among the request's values of [`IdCodec::header`]. Every value of the session's
    /// name is a candidate: the first that verifies wins, and a refused one never hides it.
    /// Never panics, whatever the client sent.
    fn read(&self, values: &[HeaderValue]) -> PresentedId;

    /// Headers handing the client `id` for `record` (expiry attributes follow the record).
    fn issue(&self, id: &SessionId, record: &Record, now: Timestamp) -> HeaderList;

    /// Headers re-signing `id` after it arrived under an older key. Defaults to
    /// [`IdCodec::issue`]; Koa's codec re-sends only the signature cookie, as Koa does.
    fn reissue(&self, id: &SessionId, record: &Record, now: Timestamp) -> HeaderList {
        self.issue(id, record, now)
    }

    /// Headers removing the client's id.
    fn removal(&self) -> HeaderList;

    /// Whether every write must send the id again because the cookie's expiry follows the
    /// session's idle deadline, as Koa's and Express's cookies do. sessile's own cookie expires
    /// at the absolute deadline, so it is sent only when it changes.
    fn renews_on_write(&self) -> bool {
        false
    }

    /// Whether a response removes an id this codec refused (malformed, badly signed) when the
    /// request used its session. `false` by default: no response clears a cookie the request did
    /// not present and verify, since it may be planted or another app's. A codec speaking a
    /// Node package that clears such cookies returns `true` to end in the same state (koa's
    /// `cookies` removes a badly signed `NAME.sig`).
    fn clears_refused(&self) -> bool {
        false
    }
}

/// A shared codec is a codec (one `Arc<dyn IdCodec>` can serve several managers).
impl<C: IdCodec + ?Sized> IdCodec for Arc<C> {
    fn header(&self) -> &HeaderName {
        (**self).header()
    }

    fn generate(&self) -> SessionId {
        (**self).generate()
    }

    fn read(&self, values: &[HeaderValue]) -> PresentedId {
        (**self).read(values)
    }

    fn issue(&self, id: &SessionId, record: &Record, now: Timestamp) -> HeaderList {
        (**self).issue(id, record, now)
    }

    fn reissue(&self, id: &SessionId, record: &Record, now: Timestamp) -> HeaderList {
        (**self).reissue(id, record, now)
    }

    fn removal(&self) -> HeaderList {
        (**self).removal()
    }

    fn renews_on_write(&self) -> bool {
        (**self).renews_on_write()
    }
}

/// What a request's cookies hold for a client-side session.
#[derive(Debug)]
#[non_exhaustive]
pub enum OpenedCookie {
    /// No session cookie.
    Absent,
    /// A live session. `id` names it in events (and across rotations) if the format carries one;
    /// `stale` means it opened under an older key, so the engine writes it again.
    Live {
        /// The session's id, if the format keeps one.
        id: Option<SessionId>,
        /// The session.
        record: Box<Record>,
        /// Opened under a key other than the current one.
        stale: bool,
    },
    /// A cookie that does not open under any key, or fails its signature.
    Refused,
    /// A cookie that opened but does not decode into a session.
    Corrupt,
    /// A session whose deadline has passed.
    Expired {
        /// Which of its deadlines passed.
        deadline: Deadline,
    },
}

/// Writes and reads sessions kept entirely in the client's cookies.
///
/// ```
/// use sessile::codec::{CookieCodec, OpenedCookie, SealedCookies};
/// use sessile::{Keys, Timestamp};
/// let codec = SealedCookies::new(Keys::generate());
/// let now = Timestamp::from_millis(0);
/// assert!(matches!(codec.open(&[], now), OpenedCookie::Absent));
/// ```
pub trait CookieCodec: Send + Sync + 'static {
    /// The request header the session travels in (`Cookie` for cookie transports).
    fn header(&self) -> &HeaderName;

    /// The session among the request's values of [`CookieCodec::header`]. Every cookie of the
    /// session's name is a candidate: the first that opens wins. Never panics.
    fn open(&self, values: &[HeaderValue], now: Timestamp) -> OpenedCookie;

    /// Headers handing the client `record` (named `id`, for formats that keep an id).
    fn seal(
        &self,
        id: &SessionId,
        record: &Record,
        now: Timestamp,
    ) -> Result<HeaderList, SealError>;

    /// Headers removing the session from the client.
    fn removal(&self) -> HeaderList;

    /// Whether a response removes a cookie this codec refused ([`OpenedCookie::Refused`]) when
    /// the request used its session; `false` by default, as [`IdCodec::clears_refused`].
    fn clears_refused(&self) -> bool {
        false
    }
}

/// A shared codec is a codec.
impl<C: CookieCodec + ?Sized> CookieCodec for Arc<C> {
    fn header(&self) -> &HeaderName {
        (**self).header()
    }

    fn open(&self, values: &[HeaderValue], now: Timestamp) -> OpenedCookie {
        (**self).open(values, now)
    }

    fn seal(
        &self,
        id: &SessionId,
        record: &Record,
        now: Timestamp,
    ) -> Result<HeaderList, SealError> {
        (**self).seal(id, record, now)
    }

    fn removal(&self) -> HeaderList {
        (**self).removal()
    }
}

/// Where sessile's own codecs carry their value.
#[derive(Clone, Debug, PartialEq, Eq)]
enum IdTransport {
    /// A cookie (the default).
    Cookie,
    /// A request header, answered with a response header of the same name when the id changes
    /// (an empty value when the session ends). For API clients without cookies.
    Header(HeaderName),
}

/// Where sessile's own codecs put their value: a cookie with the configured attributes, or a
/// header.
#[derive(Clone, Debug)]
struct Carrier {
    transport: IdTransport,
    cookie: CookieConfig,
    header: HeaderName,
}

impl Default for Carrier {
    fn default() -> Self {
        Self {
            transport: IdTransport::Cookie,
            cookie: CookieConfig::default(),
            header: header::COOKIE,
        }
    }
}

impl Carrier {
    fn with_cookie(self, cookie: CookieConfig) -> Self {
        for warning in cookie.warnings() {
            tracing::warn!("sessile configuration: {warning}");
        }
        Self {
            transport: IdTransport::Cookie,
            cookie,
            header: header::COOKIE,
        }
    }

    fn with_header(self, name: HeaderName) -> Self {
        Self {
            transport: IdTransport::Header(name.clone()),
            cookie: self.cookie,
            header: name,
        }
    }

    fn name(&self) -> &str {
        match &self.transport {
            IdTransport::Cookie => &self.cookie.name,
            IdTransport::Header(name) => name.as_str(),
        }
    }

    /// Offers `consider` every value of the session's name the request presents, in the order
    /// the client sent them, until it answers `Break`. Browsers send every cookie whose domain
    /// and path match, most specific path first, so a sibling subdomain or a plain-http page can
    /// plant `id=junk; Domain=parent; Path=/x` ahead of the real one: every value is a
    /// candidate, none hides another. Header bytes outside ASCII (another app's UTF-8 cookie)
    /// are read as replacement characters, so they spoil at most their own cookie. Past
    /// [`MAX_CANDIDATES`] values the rest are ignored: a request planting more is not a browser
    /// with a few stale cookies, and each candidate costs a signature check.
    fn candidates(
        &self,
        values: &[HeaderValue],
        mut consider: impl FnMut(&str) -> ControlFlow<()>,
    ) {
        let mut offered = 0;
        let mut offer = |value: &str| {
            offered += 1;
            if offered > MAX_CANDIDATES {
                return ControlFlow::Break(());
            }
            consider(value)
        };
        for value in values {
            let line = String::from_utf8_lossy(value.as_bytes());
            let flow = match &self.transport {
                IdTransport::Header(_) => match line.trim() {
                    "" => ControlFlow::Continue(()),
                    value => offer(value),
                },
                IdTransport::Cookie => Cookie::split_parse(line.as_ref())
                    .flatten()
                    .filter(|cookie| cookie.name() == self.cookie.name)
                    .try_for_each(|cookie| offer(cookie.value_trimmed())),
            };
            if flow.is_break() {
                return;
            }
        }
    }

    fn issue(&self, value: String, record: &Record, now: Timestamp) -> (HeaderName, HeaderValue) {
        match &self.transport {
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

    fn removal(&self) -> (HeaderName, HeaderValue) {
        match &self.transport {
            IdTransport::Header(name) => (name.clone(), HeaderValue::from_static("")),
            IdTransport::Cookie => {
                let mut cookie = self.cookie(String::new());
                cookie.make_removal();
                (header::SET_COOKIE, header_value(&cookie.to_string()))
            }
        }
    }

    fn cookie(&self, value: String) -> Cookie<'static> {
        let settings = &self.cookie;
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
}

/// sessile's id codec: `<43-char id>.<43-char HMAC-SHA256>` under its keys (the first signs,
/// any verifies), in the default cookie ([`CookieConfig::default`]), another cookie or a header.
///
/// ```
/// use sessile::{Config, CookieConfig, Keys, MemoryStore, SessionManager, SignedIds};
/// // Plain-http development: a cookie without Secure (named `id`).
/// let cookie = CookieConfig::builder().secure(false).build()?;
/// let ids = SignedIds::new(Keys::generate()).with_cookie(cookie);
/// let manager = SessionManager::new(MemoryStore::new(), ids, Config::default());
///
/// // API clients: the id in an `x-session` header both ways.
/// let ids = SignedIds::new(Keys::generate())
///     .with_header(http::HeaderName::from_static("x-session"));
/// # let _ = (manager, ids);
/// # Ok::<(), sessile::ConfigError>(())
/// ```
#[derive(Clone, Debug)]
pub struct SignedIds {
    carrier: Carrier,
    keys: Keys,
}

impl SignedIds {
    /// Ids signed with `keys`, in the default cookie (`__Host-id`, Secure, HttpOnly, Lax).
    pub fn new(keys: Keys) -> Self {
        Self {
            carrier: Carrier::default(),
            keys,
        }
    }

    /// The id in `cookie` (its name and attributes). Weaker settings than the defaults are
    /// logged as warnings ([`CookieConfig::warnings`]).
    pub fn with_cookie(mut self, cookie: CookieConfig) -> Self {
        self.carrier = self.carrier.with_cookie(cookie);
        self
    }

    /// The id in the request header `name`, answered in a response header of that name.
    pub fn with_header(mut self, name: HeaderName) -> Self {
        self.carrier = self.carrier.with_header(name);
        self
    }

    /// Checks shape, then signature.
    fn verify(&self, value: &str) -> Result<(SessionId, usize), RejectReason> {
        if value.len() != ENCODED_ID_LEN + 1 + ENCODED_SIGNATURE_LEN {
            return Err(RejectReason::Malformed);
        }
        // The length is exact, so the separator's place is known: no search for it.
        if value.as_bytes()[ENCODED_ID_LEN] != b'.' {
            return Err(RejectReason::Malformed);
        }
        let (encoded, signature) = (&value[..ENCODED_ID_LEN], &value[ENCODED_ID_LEN + 1..]);
        let id = SessionId::decode(encoded).ok_or(RejectReason::Malformed)?;
        let key_index = self
            .keys
            .verify(self.carrier.name(), encoded, signature)
            .ok_or(RejectReason::BadSignature)?;
        Ok((id, key_index))
    }
}

impl IdCodec for SignedIds {
    fn header(&self) -> &HeaderName {
        &self.carrier.header
    }

    fn generate(&self) -> SessionId {
        SessionId::generate()
    }

    /// The first candidate that verifies; the first refusal if none does.
    fn read(&self, values: &[HeaderValue]) -> PresentedId {
        let mut presented = PresentedId::Absent;
        self.carrier
            .candidates(values, |value| match self.verify(value) {
                Ok((id, key_index)) => {
                    presented = PresentedId::Valid {
                        id,
                        stale: key_index > 0,
                    };
                    ControlFlow::Break(())
                }
                Err(reason) => {
                    if presented == PresentedId::Absent {
                        presented = PresentedId::Refused(reason);
                    }
                    ControlFlow::Continue(())
                }
            });
        presented
    }

    fn issue(&self, id: &SessionId, record: &Record, now: Timestamp) -> HeaderList {
        let encoded = id.encode();
        let signature = self.keys.sign(self.carrier.name(), &encoded);
        vec![self
            .carrier
            .issue(format!("{encoded}.{signature}"), record, now)]
    }

    fn removal(&self) -> HeaderList {
        vec![self.carrier.removal()]
    }
}

/// sessile's cookie codec: no server state, the whole session in an encrypted cookie
/// (XChaCha20-Poly1305 under its keys, the cookie name bound as associated data, the deadlines
/// sealed inside so an old cookie cannot be replayed past them). A commit whose `Set-Cookie`
/// line would exceed [`BROWSER_COOKIE_LIMIT`] fails with `SessionError::CookieTooLarge` rather
/// than letting the browser drop the cookie.
///
/// What it cannot do, by its nature: revoke a session before its deadline (a copied cookie stays
/// valid until it expires), list a user's sessions, or merge concurrent writes (the last
/// response's cookie wins in the browser).
///
/// ```
/// use sessile::{Config, Keys, SealedCookies, SessionManager};
/// let cookies = SealedCookies::new(Keys::generate());
/// let manager = SessionManager::client_side(cookies, Config::default());
/// # let _ = manager;
/// ```
#[derive(Clone, Debug)]
pub struct SealedCookies {
    carrier: Carrier,
    keys: Keys,
}

impl SealedCookies {
    /// Sessions sealed with `keys` (the first seals, any opens), in the default cookie.
    pub fn new(keys: Keys) -> Self {
        Self {
            carrier: Carrier::default(),
            keys,
        }
    }

    /// The session in `cookie` (its name and attributes). Weaker settings than the defaults are
    /// logged as warnings ([`CookieConfig::warnings`]).
    pub fn with_cookie(mut self, cookie: CookieConfig) -> Self {
        self.carrier = self.carrier.with_cookie(cookie);
        self
    }

    /// The sealed session in the request header `name`, answered in a response header of that
    /// name.
    pub fn with_header(mut self, name: HeaderName) -> Self {
        self.carrier = self.carrier.with_header(name);
        self
    }

    fn seal_value(&self, id: &SessionId, record: &Record) -> String {
        let payload = serde_json::to_vec(&SealedRef { id, record })
            .expect("a record of JSON values always serializes");
        self.keys.seal(self.carrier.name(), &payload)
    }

    fn open_value(
        &self,
        value: &str,
        now: Timestamp,
    ) -> Result<(SessionId, Record, KeyIndex), Unsealed> {
        // Nothing this codec sealed is longer: skip the decryption of a planted giant.
        if value.len() > BROWSER_COOKIE_LIMIT * 2 {
            return Err(Unsealed::Unopenable);
        }
        let (plaintext, index) = self
            .keys
            .open(self.carrier.name(), value)
            .ok_or(Unsealed::Unopenable)?;
        let sealed: Sealed = serde_json::from_slice(&plaintext).map_err(|_| Unsealed::Corrupt)?;
        if let Some(deadline) = sealed.record.expired_by(now) {
            return Err(Unsealed::Expired(deadline));
        }
        Ok((sealed.id, sealed.record, index))
    }
}

/// What a sealed cookie holds: the id gives cookie sessions an identity for events and rotation.
#[derive(Deserialize)]
struct Sealed {
    id: SessionId,
    record: Record,
}

#[derive(Serialize)]
struct SealedRef<'a> {
    id: &'a SessionId,
    record: &'a Record,
}

/// Why a sealed cookie value was not used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Unsealed {
    /// No key opens it (tampered, foreign, or from a retired key).
    Unopenable,
    /// It opened but does not decode.
    Corrupt,
    /// Its sealed deadline has passed.
    Expired(Deadline),
}

impl CookieCodec for SealedCookies {
    fn header(&self) -> &HeaderName {
        &self.carrier.header
    }

    /// The first candidate that opens into a live session. Otherwise the most telling failure:
    /// a cookie that opened (expired or undecodable: one this server sealed) over one that did
    /// not open at all.
    fn open(&self, values: &[HeaderValue], now: Timestamp) -> OpenedCookie {
        let mut opened = OpenedCookie::Absent;
        self.carrier.candidates(values, |value| {
            let candidate = match self.open_value(value, now) {
                Ok((id, record, key_index)) => {
                    opened = OpenedCookie::Live {
                        id: Some(id),
                        record: Box::new(record),
                        stale: key_index > 0,
                    };
                    return ControlFlow::Break(());
                }
                Err(Unsealed::Unopenable) => OpenedCookie::Refused,
                Err(Unsealed::Corrupt) => OpenedCookie::Corrupt,
                Err(Unsealed::Expired(deadline)) => OpenedCookie::Expired { deadline },
            };
            let authentic = |o: &OpenedCookie| {
                matches!(o, OpenedCookie::Corrupt | OpenedCookie::Expired { .. })
            };
            if matches!(opened, OpenedCookie::Absent)
                || (authentic(&candidate) && !authentic(&opened))
            {
                opened = candidate;
            }
            ControlFlow::Continue(())
        });
        opened
    }

    fn seal(
        &self,
        id: &SessionId,
        record: &Record,
        now: Timestamp,
    ) -> Result<HeaderList, SealError> {
        let header = self.carrier.issue(self.seal_value(id, record), record, now);
        let size = header.1.len();
        if size > BROWSER_COOKIE_LIMIT {
            return Err(SealError::TooLarge {
                size,
                limit: BROWSER_COOKIE_LIMIT,
            });
        }
        Ok(vec![header])
    }

    fn removal(&self) -> HeaderList {
        vec![self.carrier.removal()]
    }
}

fn header_value(text: &str) -> HeaderValue {
    HeaderValue::from_str(text).expect("cookies and ids are built from visible ASCII")
}
