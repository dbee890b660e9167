//! Id codecs for the Node packages' session cookies, so a sessile store can serve sessions whose
//! ids a Koa or Express app issued (and the reverse).
//!
//! - [`KoaIds`]: koa-session's external-store mode (a UUID, optionally prefixed, in `koa.sess`),
//!   koa-generic-session (a 32-character uid-safe id in `koa.sid`) and koa-session-minimal (the
//!   same id in an unsigned `koa:sess` cookie), all signed the Koa way (`NAME.sig`, keygrip);
//! - [`ExpressIds`]: express-session's `s:<id>.<HMAC-SHA256>` in `connect.sid`.
//!
//! Plug one into [`SessionManager::new`] (sessile with its default `runtime` feature) next to a
//! store that keeps the Node layout (`sessile_redis::node`, `sessile_sql::sequelize`). Ids from
//! these codecs are [foreign](sessile::SessionId::foreign): their store keys keep the plain id,
//! because the Node app looks sessions up by it.
//!
//! [`SessionManager::new`]: https://docs.rs/sessile/latest/sessile/struct.SessionManager.html#method.new

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use http::{header, HeaderName, HeaderValue};
use rand::rngs::OsRng;
use rand::RngCore;
use sessile::codec::{IdCodec, PresentedId};
use sessile::{Record, RejectReason, SessionId, Timestamp};

use crate::express_session::{self, Secrets};
use crate::keygrip::{self, KoaCookies};
use crate::{joined_cookie_header, HeaderList, SameSite};

/// How a Koa package makes new ids.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KoaIdStyle {
    /// koa-session's external-store mode: `prefix + crypto.randomUUID()`. The prefix is part of
    /// the id (and of the cookie value).
    Uuid {
        /// koa-session's `prefix` option (none by default).
        prefix: String,
    },
    /// koa-generic-session and koa-session-minimal: `uid-safe(24)`, 32 characters of base64url.
    UidSafe,
}

/// The session cookie's attributes, as the Node app sets them. Defaults: `path=/`, `httponly`, no
/// domain, no `samesite`, not `secure`, and a cookie that expires with the session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeCookie {
    /// `path`.
    pub path: String,
    /// `domain`.
    pub domain: Option<String>,
    /// `httpOnly`.
    pub http_only: bool,
    /// `secure`. Koa refuses `secure` cookies on plain-http requests; set it only behind HTTPS.
    pub secure: bool,
    /// `sameSite`.
    pub same_site: Option<SameSite>,
    /// Whether the cookie carries an expiry (the session's idle deadline, renewed on every write,
    /// as the Node packages renew it on every save). `false` writes browser-session cookies, as
    /// koa-session-minimal does with `maxAge: 0` and express-session without `cookie.maxAge`.
    pub expiring: bool,
}

impl Default for NodeCookie {
    fn default() -> Self {
        Self {
            path: "/".to_owned(),
            domain: None,
            http_only: true,
            secure: false,
            same_site: None,
            expiring: true,
        }
    }
}

/// Koa's session id cookie: `NAME=<id>` plus `NAME.sig` (HMAC over `NAME=<id>` under the app's
/// keys, first key signs, any verifies), or no signature for koa-session-minimal.
///
/// ```
/// use sessile::codec::{IdCodec, PresentedId};
/// use sessile_node::ids::KoaIds;
/// use sessile_node::keygrip::Keygrip;
///
/// let ids = KoaIds::generic_session(Keygrip::new(["new key", "old key"])?);
/// let id = ids.generate();
/// assert_eq!(id.encode().len(), 32);
/// // A cookie pair a koa-generic-session app wrote, read back here.
/// let old = KoaIds::generic_session(Keygrip::new(["old key"])?);
/// let day = sessile::Timestamp::from_millis(86_400_000);
/// let record = sessile::Record::new(sessile::Timestamp::from_millis(0), day, day);
/// let cookies: Vec<String> = old
///     .issue(&id, &record, sessile::Timestamp::from_millis(0))
///     .iter()
///     .map(|(_, v)| v.to_str().unwrap().split(';').next().unwrap().to_owned())
///     .collect();
/// let header = http::HeaderValue::from_str(&cookies.join("; ")).unwrap();
/// assert_eq!(ids.read(&[header]), PresentedId::Valid { id, stale: true });
/// # Ok::<(), sessile_node::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct KoaIds {
    name: String,
    cookies: KoaCookies,
    signed: bool,
    style: KoaIdStyle,
    cookie: NodeCookie,
    /// koa-generic-session removes a cookie whose session is gone; koa-session and
    /// koa-session-minimal leave it.
    clears_dead: bool,
    /// koa-session without `maxAge`: no `expires` on a session's first save.
    default_max_age: bool,
    /// koa-session-minimal deletes a session a request leaves empty, cookie and record.
    ends_emptied: bool,
}

impl KoaIds {
    /// koa-session in external-store mode with its defaults: cookie `koa.sess`, signed, UUID ids
    /// without a prefix.
    pub fn koa_session(keys: keygrip::Keygrip) -> Self {
        Self::new(
            "koa.sess",
            keys,
            KoaIdStyle::Uuid {
                prefix: String::new(),
            },
        )
    }

    /// koa-generic-session with its defaults: cookie `koa.sid`, signed, uid-safe ids.
    pub fn generic_session(keys: keygrip::Keygrip) -> Self {
        Self::new("koa.sid", keys, KoaIdStyle::UidSafe)
    }

    /// koa-session-minimal with its defaults: cookie `koa:sess`, **unsigned** (the package forces
    /// `signed: false`), uid-safe ids, a browser-session cookie (`maxAge: 0`).
    ///
    /// The package accepts any id a client sends; sessile looks such an id up like any other,
    /// but never creates a session under an id the client chose: a new session always gets a
    /// fresh id.
    pub fn session_minimal() -> Self {
        let keys = keygrip::Keygrip::new(["unused: koa-session-minimal cookies are unsigned"])
            .expect("one key");
        let mut ids = Self::new("koa:sess", keys, KoaIdStyle::UidSafe);
        ids.signed = false;
        ids.clears_dead = false;
        ids.cookie.expiring = false;
        ids.ends_emptied = true;
        ids
    }

    /// A Koa id cookie named `name`, signed with `keys`, with ids made in `style`.
    pub fn new(name: impl Into<String>, keys: keygrip::Keygrip, style: KoaIdStyle) -> Self {
        let cookie = NodeCookie::default();
        Self {
            name: name.into(),
            cookies: KoaCookies::new(keys, cookie.secure),
            signed: true,
            // koa-generic-session (uid-safe ids) resets the cookie of a session it cannot find.
            clears_dead: style == KoaIdStyle::UidSafe,
            default_max_age: false,
            ends_emptied: false,
            style,
            cookie,
        }
    }

    /// koa-session's and koa-generic-session's `signed` option: with `false`, the id cookie
    /// goes without its `NAME.sig` and is read as it comes, as the Node app does (anyone can
    /// then present any id: the ids' randomness is all that protects a session).
    ///
    /// ```
    /// use sessile::codec::{IdCodec, PresentedId};
    /// use sessile_node::ids::KoaIds;
    /// use sessile_node::keygrip::Keygrip;
    ///
    /// let ids = KoaIds::generic_session(Keygrip::new(["k1"])?).with_signed(false);
    /// let header = http::HeaderValue::from_static("koa.sid=abc");
    /// assert!(matches!(ids.read(&[header]), PresentedId::Valid { stale: false, .. }));
    /// # Ok::<(), sessile_node::Error>(())
    /// ```
    pub fn with_signed(mut self, signed: bool) -> Self {
        self.signed = signed;
        self
    }

    /// koa-session without `maxAge` (its default, one day): a session's first save sets a
    /// browser-session cookie (no `expires`), every later save one expiring with the session,
    /// since koa-session takes the `maxAge` a loaded session carries (`_maxAge`) as its
    /// cookie's.
    ///
    /// ```
    /// use sessile::codec::IdCodec;
    /// use sessile::{Record, SessionId, Timestamp};
    /// use sessile_node::ids::KoaIds;
    /// use sessile_node::keygrip::Keygrip;
    ///
    /// let ids = KoaIds::koa_session(Keygrip::new(["k1"])?).with_default_max_age();
    /// let id = SessionId::foreign("an-id").unwrap();
    /// let (now, day) = (Timestamp::from_millis(0), Timestamp::from_millis(86_400_000));
    /// let first = ids.issue(&id, &Record::new(now, day, day), now);
    /// assert!(!first[0].1.to_str().unwrap().contains("expires"));
    /// let later = ids.issue(&id, &Record::new(now, day, day), Timestamp::from_millis(60_000));
    /// assert!(later[0].1.to_str().unwrap().contains("expires"));
    /// # Ok::<(), sessile_node::Error>(())
    /// ```
    pub fn with_default_max_age(mut self) -> Self {
        self.default_max_age = true;
        self
    }

    /// Sets the cookie's attributes.
    pub fn with_cookie(mut self, cookie: NodeCookie) -> Self {
        self.cookies = KoaCookies::new(self.cookies.keys().clone(), cookie.secure);
        self.cookie = cookie;
        self
    }

    /// The cookie name.
    pub fn name(&self) -> &str {
        &self.name
    }

    fn options(&self, expires: Option<Timestamp>) -> keygrip::CookieOptions {
        keygrip::CookieOptions {
            max_age_ms: None,
            expires_ms: expires.map(|at| at.as_millis()),
            path: Some(self.cookie.path.clone()),
            domain: self.cookie.domain.clone(),
            priority: None,
            same_site: self.cookie.same_site,
            secure: Some(self.cookie.secure),
            http_only: self.cookie.http_only,
            partitioned: false,
            signed: self.signed,
        }
    }

    fn set_cookie(&self, value: &str, expires: Option<Timestamp>) -> HeaderList {
        // Ids are visible ASCII without `;` and names are checked at construction by the first
        // use; a refusal here would be a configuration mistake (say, a `;` in the path), which
        // fails loudly in the first test rather than silently dropping the cookie.
        self.cookies
            .set(&self.name, value, &self.options(expires), 0)
            .unwrap_or_else(|error| panic!("Koa cookie options for {:?}: {error}", self.name))
            .into_iter()
            .map(|line| (header::SET_COOKIE, header_value(&line)))
            .collect()
    }
}

impl IdCodec for KoaIds {
    fn header(&self) -> &HeaderName {
        &header::COOKIE
    }

    fn generate(&self) -> SessionId {
        let text = match &self.style {
            KoaIdStyle::Uuid { prefix } => format!("{prefix}{}", random_uuid()),
            KoaIdStyle::UidSafe => uid_safe_24(),
        };
        SessionId::foreign(&text).expect("generated ids are short visible ASCII")
    }

    /// The first value of the cookie a key verifies (any `.sig` of the header may sign it), so
    /// a planted pair never hides the real one. Unsigned cookies (koa-session-minimal) cannot be
    /// told apart: the first well-formed one is the id, as in Node.
    fn read(&self, values: &[HeaderValue]) -> PresentedId {
        let header = joined_cookie_header(values);
        if keygrip::get_cookie(&header, &self.name).is_none() {
            return PresentedId::Absent;
        }
        if !self.signed {
            let first = keygrip::get_cookie(&header, &self.name).unwrap_or_default();
            return match SessionId::foreign(first) {
                Some(id) => PresentedId::Valid { id, stale: false },
                None => PresentedId::Refused(RejectReason::Malformed),
            };
        }
        // No signature at all is no cookie to koa's `cookies.get`: nothing is removed.
        if !keygrip::signature_presented(&header, &self.name) {
            return PresentedId::Absent;
        }
        let mut verified = self.cookies.verified(&header, &self.name).peekable();
        if verified.peek().is_none() {
            return PresentedId::Refused(RejectReason::BadSignature);
        }
        verified
            .find_map(|(value, index)| SessionId::foreign(value).map(|id| (id, index)))
            .map_or(
                PresentedId::Refused(RejectReason::Malformed),
                |(id, index)| PresentedId::Valid {
                    id,
                    stale: index > 0,
                },
            )
    }

    fn issue(&self, id: &SessionId, record: &Record, now: Timestamp) -> HeaderList {
        // A record created at `now` is this request's new session.
        let first_save = record.created_at == now;
        let expires = (self.cookie.expiring && !(self.default_max_age && first_save))
            .then(|| record.expires_at());
        self.set_cookie(&id.encode(), expires)
    }

    /// A cookie that verified under an older key gets only its `.sig` cookie again, signed
    /// with the first key and with the `Cookie` prototype's attributes (no `expires`), as Koa's
    /// `cookies.get` re-signs it; the id cookie keeps the expiry it was last given.
    fn reissue(&self, id: &SessionId, record: &Record, now: Timestamp) -> HeaderList {
        if !self.signed {
            return self.issue(id, record, now);
        }
        let line = self.cookies.resigned(&self.name, &id.encode());
        vec![(header::SET_COOKIE, header_value(&line))]
    }

    fn removal(&self) -> HeaderList {
        self.set_cookie("", None)
    }

    /// The Koa packages set their cookie on every save, browser-session cookies included.
    fn renews_on_write(&self) -> bool {
        true
    }

    /// koa's `cookies` answers a bad signature with a `NAME.sig` removal.
    fn clears_refused(&self) -> bool {
        self.signed
    }

    /// Only the `NAME.sig` cookie, as koa's `cookies` removes it (the id cookie stays, and
    /// without a signature it names no session).
    fn refusal(&self) -> HeaderList {
        vec![(
            header::SET_COOKIE,
            header_value(&self.cookies.rejected(&self.name)),
        )]
    }

    /// koa-generic-session removes the cookies of a session its store no longer has;
    /// koa-session and koa-session-minimal send nothing.
    fn clears_dead(&self) -> bool {
        self.clears_dead
    }

    /// koa-session-minimal deletes a session left without keys (`ctx.session = {}`), record
    /// and cookie, rather than storing an empty document.
    fn ends_emptied(&self) -> bool {
        self.ends_emptied
    }
}

/// express-session's id cookie: `connect.sid=s%3A<id>.<HMAC-SHA256 in base64>`, signed with the
/// first secret, verified against all of them.
///
/// ```
/// use sessile::codec::{IdCodec, PresentedId};
/// use sessile_node::express_session::Secrets;
/// use sessile_node::ids::ExpressIds;
///
/// let ids = ExpressIds::new(Secrets::new(["keyboard cat"])?);
/// let cookie = format!("connect.sid={}", Secrets::new(["keyboard cat"])?.cookie_value("abc"));
/// let header = http::HeaderValue::from_str(&cookie).unwrap();
/// let PresentedId::Valid { id, stale: false } = ids.read(&[header]) else { panic!() };
/// assert_eq!(id.encode(), "abc");
/// # Ok::<(), sessile_node::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct ExpressIds {
    name: String,
    secrets: Secrets,
    cookie: NodeCookie,
    /// sessile's own habits instead of express-session's (see [`ExpressIds::clearing`]).
    clearing: bool,
}

impl ExpressIds {
    /// express-session's defaults: cookie `connect.sid`, `Path=/; HttpOnly`, an expiring cookie
    /// (set `cookie.maxAge` on the Node side to the same idle timeout).
    pub fn new(secrets: Secrets) -> Self {
        Self {
            name: "connect.sid".to_owned(),
            secrets,
            cookie: NodeCookie::default(),
            clearing: false,
        }
    }

    /// sessile's safer habits instead of express-session's: a destroyed or expired session's
    /// cookie is removed (express-session leaves it, so the browser keeps presenting a dead
    /// id), and a cookie signed with a retired secret is re-signed as soon as the session is
    /// read (express-session re-signs it only when it writes the session, so the old secret
    /// must stay until every such session was written). Off by default: the responses are
    /// express-session's, header for header.
    ///
    /// ```
    /// use sessile::codec::IdCodec;
    /// use sessile_node::express_session::Secrets;
    /// use sessile_node::ids::ExpressIds;
    ///
    /// let node_exact = ExpressIds::new(Secrets::new(["s"])?);
    /// assert!(!node_exact.clears_dead());
    /// assert!(ExpressIds::new(Secrets::new(["s"])?).clearing(true).clears_dead());
    /// # Ok::<(), sessile_node::Error>(())
    /// ```
    pub fn clearing(mut self, clearing: bool) -> Self {
        self.clearing = clearing;
        self
    }

    /// Sets the cookie name (express-session's `name`).
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// Sets the cookie's attributes.
    pub fn with_cookie(mut self, cookie: NodeCookie) -> Self {
        self.cookie = cookie;
        self
    }

    fn options(&self, expires: Option<Timestamp>) -> express_session::CookieOptions {
        express_session::CookieOptions {
            domain: self.cookie.domain.clone(),
            path: Some(self.cookie.path.clone()),
            expires_ms: expires.map(|at| at.as_millis()),
            http_only: self.cookie.http_only,
            secure: self.cookie.secure,
            partitioned: false,
            priority: None,
            same_site: self.cookie.same_site,
        }
    }
}

impl IdCodec for ExpressIds {
    fn header(&self) -> &HeaderName {
        &header::COOKIE
    }

    fn generate(&self) -> SessionId {
        SessionId::foreign(&uid_safe_24()).expect("uid-safe ids are base64url")
    }

    /// The first value of the cookie that verifies under a secret, so a planted `connect.sid`
    /// never hides the real one (express-session reads only the first).
    fn read(&self, values: &[HeaderValue]) -> PresentedId {
        let header = joined_cookie_header(values);
        let mut candidates = express_session::get_cookies(&header, &self.name)
            .take(keygrip::MAX_CANDIDATES)
            .peekable();
        if candidates.peek().is_none() {
            return PresentedId::Absent;
        }
        let mut presented = PresentedId::Refused(RejectReason::BadSignature);
        for raw in candidates {
            let Some((id, index)) = express_session::unsign_session_cookie(&raw, &self.secrets)
            else {
                continue;
            };
            match SessionId::foreign(&id) {
                // express-session re-signs only when it writes (every write issues the cookie
                // again); with `clearing`, sessile re-signs a cookie from a retired secret as
                // soon as the session is read, so the secret can go sooner.
                Some(id) => {
                    return PresentedId::Valid {
                        id,
                        stale: self.clearing && index > 0,
                    }
                }
                None => presented = PresentedId::Refused(RejectReason::Malformed),
            }
        }
        presented
    }

    fn issue(&self, id: &SessionId, record: &Record, _now: Timestamp) -> HeaderList {
        let expires = self.cookie.expiring.then(|| record.expires_at());
        let line = self
            .secrets
            .set_cookie_header(&self.name, &id.encode(), &self.options(expires))
            .unwrap_or_else(|error| panic!("Express cookie options for {:?}: {error}", self.name));
        vec![(header::SET_COOKIE, header_value(&line))]
    }

    /// The cookie expired at the epoch. express-session itself never sends it (its `destroy()`
    /// leaves the cookie); the engine does for a destroyed session only with
    /// [`ExpressIds::clearing`], and takeover mode when it moves the session.
    fn removal(&self) -> HeaderList {
        let mut line = format!("{}=", self.name);
        let options = self.options(Some(Timestamp::from_millis(0)));
        if let Some(domain) = &options.domain {
            line.push_str("; Domain=");
            line.push_str(domain);
        }
        line.push_str("; Path=");
        line.push_str(&self.cookie.path);
        line.push_str("; Expires=Thu, 01 Jan 1970 00:00:00 GMT");
        if options.http_only {
            line.push_str("; HttpOnly");
        }
        if options.secure {
            line.push_str("; Secure");
        }
        vec![(header::SET_COOKIE, header_value(&line))]
    }

    fn renews_on_write(&self) -> bool {
        self.cookie.expiring
    }

    /// express-session never clears its cookie; with [`ExpressIds::clearing`], sessile does.
    fn clears_dead(&self) -> bool {
        self.clearing
    }

    fn clears_destroyed(&self) -> bool {
        self.clearing
    }
}

fn header_value(line: &str) -> HeaderValue {
    HeaderValue::from_str(line).expect("Node cookie headers are visible ASCII")
}

/// `uid-safe(24)`: 24 bytes from the OS CSPRNG in unpadded base64url, 32 characters.
fn uid_safe_24() -> String {
    let mut bytes = [0u8; 24];
    OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// `crypto.randomUUID()`: a version-4 UUID in lower-case hex.
fn random_uuid() -> String {
    uuid::Uuid::new_v4().hyphenated().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_have_the_node_shapes() {
        let keys = keygrip::Keygrip::new(["k"]).unwrap();
        let uuid = KoaIds::koa_session(keys.clone()).generate().encode();
        assert_eq!(uuid.len(), 36);
        assert_eq!(uuid.as_bytes()[14], b'4');
        let prefixed = KoaIds::new(
            "koa.sess",
            keys,
            KoaIdStyle::Uuid {
                prefix: "sess:".into(),
            },
        )
        .generate()
        .encode();
        assert!(prefixed.starts_with("sess:") && prefixed.len() == 41);
        let sid = ExpressIds::new(Secrets::new(["s"]).unwrap())
            .generate()
            .encode();
        assert_eq!(sid.len(), 32);
        assert!(sid
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
    }

    #[test]
    fn unsigned_minimal_cookie_is_read_as_is_and_bad_signatures_are_refused() {
        let minimal = KoaIds::session_minimal();
        let header = HeaderValue::from_static("koa:sess=abc");
        assert!(matches!(
            minimal.read(std::slice::from_ref(&header)),
            PresentedId::Valid { stale: false, .. }
        ));
        let signed = KoaIds::generic_session(keygrip::Keygrip::new(["k"]).unwrap());
        let forged = HeaderValue::from_static("koa.sid=abc; koa.sid.sig=AAAA");
        assert_eq!(
            signed.read(&[forged]),
            PresentedId::Refused(RejectReason::BadSignature)
        );
        // No signature at all: koa's `cookies.get` answers `undefined`, no cookie.
        let unsigned = HeaderValue::from_static("koa.sid=abc");
        assert_eq!(signed.read(&[unsigned]), PresentedId::Absent);
        assert_eq!(signed.read(&[]), PresentedId::Absent);
    }

    #[test]
    fn a_stale_koa_key_re_sends_only_the_signature_cookie_as_koa_does() {
        let old = KoaIds::generic_session(keygrip::Keygrip::new(["old"]).unwrap());
        let ids = KoaIds::generic_session(keygrip::Keygrip::new(["new", "old"]).unwrap());
        let id = SessionId::foreign("FIXEDsid0123456789abcdefghijklmn").unwrap();
        let record = Record::new(
            Timestamp::from_millis(0),
            Timestamp::from_millis(1_700_086_400_000),
            Timestamp::from_millis(i64::MAX),
        );
        let presented: Vec<String> = old
            .issue(&id, &record, Timestamp::from_millis(0))
            .iter()
            .map(|(_, value)| {
                value
                    .to_str()
                    .unwrap()
                    .split(';')
                    .next()
                    .unwrap()
                    .to_owned()
            })
            .collect();
        let cookie = HeaderValue::from_str(&presented.join("; ")).unwrap();
        assert!(matches!(
            ids.read(&[cookie]),
            PresentedId::Valid { stale: true, .. }
        ));
        let reissued = ids.reissue(&id, &record, Timestamp::from_millis(0));
        let signature = keygrip::Keygrip::new(["new"])
            .unwrap()
            .sign("koa.sid=FIXEDsid0123456789abcdefghijklmn");
        assert_eq!(reissued.len(), 1, "{reissued:?}");
        assert_eq!(
            reissued[0].1.to_str().unwrap(),
            format!("koa.sid.sig={signature}; path=/; httponly")
        );
        // koa-session-minimal's cookie is unsigned: nothing to re-sign, the cookie itself goes.
        let minimal = KoaIds::session_minimal();
        assert_eq!(
            minimal.reissue(&id, &record, Timestamp::from_millis(0)),
            minimal.issue(&id, &record, Timestamp::from_millis(0))
        );
    }

    #[test]
    fn express_cookie_from_a_retired_secret_is_valid_and_stale_only_when_clearing() {
        // express-session re-signs only when it writes: by default the read is not stale.
        let exact = ExpressIds::new(Secrets::new(["new", "old"]).unwrap());
        let old = Secrets::new(["old"]).unwrap().cookie_value("sid-1");
        let old = HeaderValue::from_str(&format!("connect.sid={old}")).unwrap();
        assert!(matches!(
            exact.read(&[old]),
            PresentedId::Valid { stale: false, .. }
        ));
        let ids = ExpressIds::new(Secrets::new(["new", "old"]).unwrap()).clearing(true);
        let signed_with = |secret: &str| {
            let value = Secrets::new([secret]).unwrap().cookie_value("sid-1");
            HeaderValue::from_str(&format!("connect.sid={value}")).unwrap()
        };
        let PresentedId::Valid { id, stale } = ids.read(&[signed_with("old")]) else {
            panic!("the old secret still verifies");
        };
        assert_eq!((id.encode().as_str(), stale), ("sid-1", true));
        assert!(matches!(
            ids.read(&[signed_with("new")]),
            PresentedId::Valid { stale: false, .. }
        ));
        assert_eq!(
            ids.read(&[signed_with("other")]),
            PresentedId::Refused(RejectReason::BadSignature)
        );
    }
}
