//! How a session travels between client and server: the id codec of server-side stores and the
//! cookie codec of client-side sessions.
//!
//! The engine asks a codec three things: what the request presents, which headers hand out a
//! session, which headers take it away. sessile's own codecs ([`SignedIds`], [`SealedCookies`])
//! hold the [`Keys`] they sign or seal with and the [`CookieConfig`] of their cookie;
//! `sessile-node` has codecs for the cookies of Koa and Express apps (with the Node app's keys
//! and cookie options), so a Rust app can share sessions with a Node app on the same domain.

use std::borrow::Cow;
use std::ops::ControlFlow;
use std::sync::Arc;

use cookie::Cookie;
use http::{header, HeaderName, HeaderValue};

use crate::config::CookieConfig;
use crate::events::RejectReason;
use crate::id::{SessionId, ENCODED_ID_LEN};
use crate::keys::{Keys, SealFormat, ENCODED_SIGNATURE_LEN};
use crate::record::{Deadline, Record};
use crate::sealed;
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

    /// Headers removing an id this codec refused, sent when [`IdCodec::clears_refused`] asks
    /// for it: [`IdCodec::removal`] by default. Koa's codecs remove only the `NAME.sig`
    /// cookie, as koa's `cookies` does.
    fn refusal(&self) -> HeaderList {
        self.removal()
    }

    /// Whether a response removes a verified id whose session is gone (expired, deleted,
    /// never stored) when the request used it. `true` by default, so the client stops
    /// presenting a dead id; a codec speaking a Node package that leaves such a cookie in
    /// place returns `false` to answer as the package does.
    fn clears_dead(&self) -> bool {
        true
    }

    /// Whether the response to a request that destroyed its session removes the id. `true`
    /// by default; express-session leaves its cookie after `destroy()`.
    fn clears_destroyed(&self) -> bool {
        true
    }

    /// Whether a session whose document a request leaves empty (no data, no user) ends, as
    /// koa-session-minimal deletes an emptied session and its cookie instead of storing `{}`.
    /// `false` by default: sessile keeps an emptied session (its id, its lifetime) until it
    /// is destroyed or expires. A codec answering `true` makes every write of a stored
    /// session load it first, to know whether it is left empty.
    fn ends_emptied(&self) -> bool {
        false
    }

    /// The id a presented session must move to at the end of the request that uses it, or
    /// `None` (the default) to keep it. Takeover mode
    /// ([`TakeoverIds`](crate::takeover::TakeoverIds)) moves each legacy session to its
    /// successor: the engine rotates it there, and the store performs the move.
    fn takeover(&self, id: &SessionId) -> Option<SessionId> {
        let _ = id;
        None
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

    fn clears_refused(&self) -> bool {
        (**self).clears_refused()
    }

    fn refusal(&self) -> HeaderList {
        (**self).refusal()
    }

    fn clears_dead(&self) -> bool {
        (**self).clears_dead()
    }

    fn clears_destroyed(&self) -> bool {
        (**self).clears_destroyed()
    }

    fn ends_emptied(&self) -> bool {
        (**self).ends_emptied()
    }

    fn takeover(&self, id: &SessionId) -> Option<SessionId> {
        (**self).takeover(id)
    }
}

/// What a request's cookies hold for a client-side session.
#[derive(Debug)]
#[non_exhaustive]
pub enum OpenedCookie {
    /// No session cookie.
    Absent,
    /// A live session. `id` names it in events (and across rotations) if the format carries one;
    /// `stale` means it opened under an older key (or, for [`SealedCookies`], in an older
    /// format), so the engine writes it again.
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

    /// Headers handing the client `record` again, for a session that came in the request's
    /// values `presented` of [`CookieCodec::header`]. [`CookieCodec::seal`] by default;
    /// koa-session's codec keeps the key order of the document it opened, as the package
    /// rewrites its object in place.
    fn reseal(
        &self,
        presented: &[HeaderValue],
        id: &SessionId,
        record: &Record,
        now: Timestamp,
    ) -> Result<HeaderList, SealError> {
        let _ = presented;
        self.seal(id, record, now)
    }

    /// Headers signing an unchanged cookie from `presented` again, which opened under an older
    /// key, without sealing it again; `None` (the default) seals it again. Koa re-sends only
    /// the `NAME.sig` cookie.
    fn resign(&self, presented: &[HeaderValue]) -> Option<HeaderList> {
        let _ = presented;
        None
    }

    /// Whether a response removes a cookie this codec refused ([`OpenedCookie::Refused`]) when
    /// the request used its session; `false` by default, as [`IdCodec::clears_refused`].
    fn clears_refused(&self) -> bool {
        false
    }

    /// Headers removing a cookie this codec refused, as [`IdCodec::refusal`].
    fn refusal(&self) -> HeaderList {
        self.removal()
    }

    /// Whether a response removes a cookie whose session ended (expired) when the request
    /// used it, as [`IdCodec::clears_dead`]; `true` by default.
    fn clears_dead(&self) -> bool {
        true
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

    fn reseal(
        &self,
        presented: &[HeaderValue],
        id: &SessionId,
        record: &Record,
        now: Timestamp,
    ) -> Result<HeaderList, SealError> {
        (**self).reseal(presented, id, record, now)
    }

    fn resign(&self, presented: &[HeaderValue]) -> Option<HeaderList> {
        (**self).resign(presented)
    }

    fn clears_refused(&self) -> bool {
        (**self).clears_refused()
    }

    fn refusal(&self) -> HeaderList {
        (**self).refusal()
    }

    fn clears_dead(&self) -> bool {
        (**self).clears_dead()
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
            // The common case, valid UTF-8, is checked by the fast path and borrowed.
            let line = match std::str::from_utf8(value.as_bytes()) {
                Ok(line) => Cow::Borrowed(line),
                Err(_) => String::from_utf8_lossy(value.as_bytes()),
            };
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
            IdTransport::Header(name) => (name.clone(), header_value(value)),
            IdTransport::Cookie => {
                let mut cookie = self.cookie(value);
                if record.persistent {
                    let remaining = record.absolute_deadline.since(now);
                    cookie.set_max_age(cookie::time::Duration::try_from(remaining).ok());
                }
                (header::SET_COOKIE, header_value(cookie.to_string()))
            }
        }
    }

    fn removal(&self) -> (HeaderName, HeaderValue) {
        match &self.transport {
            IdTransport::Header(name) => (name.clone(), HeaderValue::from_static("")),
            IdTransport::Cookie => {
                let mut cookie = self.cookie(String::new());
                cookie.make_removal();
                (header::SET_COOKIE, header_value(cookie.to_string()))
            }
        }
    }

    /// The cookie, borrowing its name and attributes from the configuration.
    fn cookie(&self, value: String) -> Cookie<'_> {
        let settings = &self.cookie;
        let mut cookie = Cookie::new(settings.name.as_str(), value);
        cookie.set_secure(settings.secure);
        cookie.set_http_only(settings.http_only);
        cookie.set_same_site(settings.same_site);
        cookie.set_path(settings.path.as_str());
        if let Some(domain) = &settings.domain {
            cookie.set_domain(domain.as_str());
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
/// (AES-256-GCM-SIV under its keys, the cookie name bound as associated data, the deadlines
/// sealed inside so an old cookie cannot be replayed past them). Cookies sealed before format 2
/// (XChaCha20-Poly1305, a longer JSON layout) still open, and are sealed again in format 2 on
/// the request that opens them, as cookies under an older key are. A commit whose `Set-Cookie`
/// line would exceed [`BROWSER_COOKIE_LIMIT`] fails with `SessionError::CookieTooLarge` rather
/// than letting the browser drop the cookie.
///
/// What it guarantees after a sign-out, and what it cannot:
///
/// - **A copied cookie stays valid until its deadlines** unless the revocation check is on.
///   Signing out (`destroy`) removes the browser's cookie, but the server keeps no state a copy
///   could be checked against: whoever copied it earlier can replay it. Each replay within the
///   idle window is re-sealed with a fresh idle deadline, exactly as for the real user, but
///   never past the absolute deadline sealed inside (the session's creation plus its
///   lifetime), so a copy dies at that deadline at the latest, however often it is replayed.
/// - **With [`SessionManager::with_revocations`](crate::SessionManager::with_revocations)**,
///   a signed-in cookie session is checked against its user's "not before" time on each
///   request that opens it (one lookup), and
///   [`SessionManager::revoke_user`](crate::SessionManager::revoke_user) refuses every cookie
///   of the user created before it, copies included. It signs the user out on every device:
///   one device's session cannot be revoked alone, since nothing names it on the server.
/// - **[`ConfigBuilder::clear_site_data_on_destroy`](crate::ConfigBuilder::clear_site_data_on_destroy)**
///   also sends `Clear-Site-Data: "cookies"` on sign-out, so the browser drops copies it holds
///   (other tabs' cookies); a copy taken off the machine is untouched.
///
/// It cannot list a user's sessions or merge concurrent writes either (the last response's
/// cookie wins in the browser).
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
        // The JSON is written straight into the buffer it is sealed in.
        self.keys
            .seal_with(self.carrier.name(), sealed::TYPICAL_LEN, |buffer| {
                sealed::write(buffer, id, record)
            })
    }

    /// The session in `value`, and whether it must be sealed again: opened under an older key,
    /// or sealed in format 1.
    fn open_value(
        &self,
        value: &str,
        now: Timestamp,
    ) -> Result<(SessionId, Record, bool), Unsealed> {
        // Nothing this codec sealed is longer: skip the decryption of a planted giant.
        if value.len() > BROWSER_COOKIE_LIMIT * 2 {
            return Err(Unsealed::Unopenable);
        }
        let ((opened, format), index) = self
            .keys
            .open_with(self.carrier.name(), value, |format, plaintext| {
                Some((sealed::read(format, plaintext), format))
            })
            .ok_or(Unsealed::Unopenable)?;
        let (id, record) = opened.map_err(|_| Unsealed::Corrupt)?;
        if let Some(deadline) = record.expired_by(now) {
            return Err(Unsealed::Expired(deadline));
        }
        Ok((id, record, index > 0 || format != SealFormat::V2))
    }
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
                Ok((id, record, stale)) => {
                    opened = OpenedCookie::Live {
                        id: Some(id),
                        record: Box::new(record),
                        stale,
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

/// The header value holding `text`'s bytes, without copying them.
fn header_value(text: String) -> HeaderValue {
    HeaderValue::try_from(text).expect("cookies and ids are built from visible ASCII")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::Key;
    use crate::record::Device;

    /// The cookie value sessile sealed before format 2 (XChaCha20-Poly1305, the verbose JSON) for
    /// [`vector_session`], under the key of the secret `[7; 32]`, in the cookie `id`.
    const COOKIE_IN_FORMAT_1: &str = "x3-UnX7MdPPO-bpJmkt-A-O5GaiL7zCfjlPCxokF2YeqlMe95TaCkJhNMib1GKHmNkh3Zyoba2JKNRd_yb2_lDHTHnG9kzh1lkHCZtacySX-fY-WyNz-8Q9xkcKcHFaHJI9BkVSYha5vEP01CGOo0HpB2tmAe2YO90Hj2rE7W5updiAanGGTkSH6CMjfiE1qiwb_y6Ao4z7-k-t7_BFmw5yEPIgWnIyo8cH-IvutAl9QeJejcEy6DKg6HVxzSDBvXJHFcQnBdHyVX3zD7RDcwiGjo6mb9O9NEpJphT_iTf7HZJO0xVKujZN4aa-sLRHH6OBM3KV_15Y9Pud-pzD69Ilq9lHCTagK5ghGRicVNiTFMOCY8fGAo8Q6Mu78QdP8EvvEHSnix3ZBzIcDISH-LodNS2FV6CB1E9L3I1IHdwQsFwYIM1Hy2-blBKws4Y2clNjevSQW";
    const NOW: Timestamp = Timestamp::from_millis(1_700_000_000_000);

    fn vector_session() -> (SessionId, Record) {
        let id = SessionId::decode("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8").unwrap();
        let mut record = Record::new(
            NOW,
            Timestamp::from_millis(4_000_000_000_000),
            Timestamp::from_millis(4_100_000_000_000),
        );
        record.user = Some("ada".into());
        record.persistent = true;
        record.data.insert("n".into(), 41.into());
        record.data.insert("theme".into(), "dark".into());
        record.device = Device::new(Some("Firefox on Linux".into()), Some("192.0.2.7".into()));
        (id, record)
    }

    fn codec() -> SealedCookies {
        let keys = Keys::new(vec![Key::from_secret(&[7u8; 32]).unwrap()]).unwrap();
        SealedCookies::new(keys).with_cookie(CookieConfig::builder().secure(false).build().unwrap())
    }

    fn presented(value: &str) -> HeaderValue {
        HeaderValue::try_from(format!("id={value}")).unwrap()
    }

    fn sealed_value(headers: &HeaderList) -> String {
        let line = headers[0].1.to_str().unwrap();
        line.split(';')
            .next()
            .unwrap()
            .strip_prefix("id=")
            .unwrap()
            .to_owned()
    }

    #[test]
    fn cookies_sealed_in_format_1_open_and_are_sealed_again_in_format_2() {
        let codec = codec();
        let (expected_id, expected_record) = vector_session();
        let OpenedCookie::Live { id, record, stale } =
            codec.open(&[presented(COOKIE_IN_FORMAT_1)], NOW)
        else {
            panic!("a format 1 cookie must still open");
        };
        assert_eq!(id.as_ref(), Some(&expected_id));
        assert_eq!(*record, expected_record);
        assert!(stale, "format 1 is written again in format 2");

        let resealed = sealed_value(&codec.seal(&expected_id, &record, NOW).unwrap());
        assert!(resealed.starts_with("2."));
        assert!(resealed.len() < COOKIE_IN_FORMAT_1.len());
        let OpenedCookie::Live { id, record, stale } = codec.open(&[presented(&resealed)], NOW)
        else {
            panic!("a format 2 cookie must open");
        };
        assert_eq!(
            (id, *record, stale),
            (Some(expected_id), expected_record, false)
        );
    }

    #[test]
    fn format_1_cookies_keep_their_deadlines_and_their_name() {
        let codec = codec();
        let past_idle = Timestamp::from_millis(4_000_000_000_000);
        assert!(matches!(
            codec.open(&[presented(COOKIE_IN_FORMAT_1)], past_idle),
            OpenedCookie::Expired { .. }
        ));
        let renamed = HeaderValue::try_from(format!("sid={COOKIE_IN_FORMAT_1}")).unwrap();
        let other_name =
            SealedCookies::new(Keys::new(vec![Key::from_secret(&[7u8; 32]).unwrap()]).unwrap())
                .with_cookie(
                    CookieConfig::builder()
                        .name("sid")
                        .secure(false)
                        .build()
                        .unwrap(),
                );
        assert!(matches!(
            other_name.open(&[renamed], NOW),
            OpenedCookie::Refused
        ));
    }
}
