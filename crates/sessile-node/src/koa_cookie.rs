//! koa-session's cookie mode as a sessile [`CookieCodec`]: the whole session in the client's
//! `koa.sess` cookie, signed by `koa.sess.sig`, readable and writable by a Koa app on the same
//! domain.
//!
//! Plug [`KoaCookieSessions`] into [`SessionManager::client_side`] (sessile with its default
//! `runtime` feature, which this crate does not need itself). The cookie is
//! exactly what koa-session 7 writes (see [`crate::koa_session`] and [`crate::keygrip`]):
//!
//! - `koa.sess=<base64 JSON>` with the handler's data, the signed-in user under `user` (see
//!   [`NodeJson`]), `_expire` (the session's idle deadline, ms since the epoch) and `_maxAge`;
//! - `koa.sess.sig=<HMAC-SHA1 over "koa.sess=<value>">` under the first of the app's keys; a
//!   cookie that verifies under an older key is read and written again under the first one;
//! - both with `path=/; expires=<the idle deadline>; httponly` (options: [`NodeCookie`]).
//!
//! Reading is as lenient as koa-session's (Node's base64 decoder, lossy UTF-8), and never panics:
//!
//! | the request carries                                   | [`OpenedCookie`] | sessile event        |
//! |-------------------------------------------------------|------------------|----------------------|
//! | no `koa.sess` (or an empty one)                        | `Absent`         | none                 |
//! | `koa.sess` without a `.sig`, or a `.sig` no key makes | `Refused`        | `Rejected`           |
//! | a signed value that is not base64 JSON of an object   | `Corrupt`        | `Corrupt`            |
//! | a numeric `_expire` before now                         | `Expired`        | `Expired`            |
//! | a signed session                                       | `Live`           | `Loaded`             |
//!
//! What the format cannot keep, so a session crossing it loses it:
//!
//! - the absolute lifetime: koa-session has none, so a session read from the cookie lives as long
//!   as it is used (each write moves `_expire` to now + maxAge); no device metadata either;
//! - data keys starting with `_` (and `isNew`): koa-session owns them and drops them when it
//!   saves, so they are dropped here too. sessile's default CSRF secret lives under `_csrf`: use
//!   [`sessile::csrf::Scheme::NodeCsrf`][NodeCsrf] (key `secret`, as koa-csrf) with this codec;
//! - anything over the browser's 4096-byte cookie limit: [`CookieCodec::seal`] refuses with
//!   [`SealError::TooLarge`] rather than letting the browser drop the cookie.
//!
//! Where this reads differently from koa-session, on purpose: a signed `_expire` that is present
//! but not a number, or JSON that is not an object, is `Corrupt` (Node keeps such a session;
//! only a holder of the keys could have written it). A cookie without `_expire` (koa-session's
//! `maxAge: 'session'` writes `_session: true` instead) is live, with an idle deadline of now +
//! maxAge, as Node never expires it either.
//!
//! The Node app's `maxAge` must equal the Rust side's idle timeout
//! ([`sessile::ConfigBuilder::idle_timeout`]) and its `app.keys` the key list given here. Its
//! cookie carries `expires` when `maxAge` is set ([`NodeCookie::expiring`], the default); an app
//! without `maxAge` writes browser-session cookies (set `expiring: false`) whose `_expire` is one
//! day away (pass [`koa_session::DEFAULT_MAX_AGE_MS`] as the max age).
//!
//! ```
//! use std::time::Duration;
//! use sessile::codec::{CookieCodec, OpenedCookie};
//! use sessile::Timestamp;
//! use sessile_node::keygrip::Keygrip;
//! use sessile_node::koa_cookie::KoaCookieSessions;
//!
//! // A Koa app with `app.keys = ['secret key']` and `session({ maxAge: 86400000 }, app)`.
//! let codec = KoaCookieSessions::new(Keygrip::new(["secret key"])?, Duration::from_secs(86_400));
//!
//! // A cookie pair that app wrote for `ctx.session.user = 'alice'` at 1700000000000.
//! let header = http::HeaderValue::from_static(
//!     "koa.sess=eyJ1c2VyIjoiYWxpY2UiLCJfZXhwaXJlIjoxNzAwMDg2NDAwMDAwLCJfbWF4QWdlIjo4NjQwMDAwMH0=; \
//!      koa.sess.sig=Ls3nBEVk2ZZZRZ3maTuZQYiRoq4",
//! );
//! let now = Timestamp::from_millis(1_700_000_000_000);
//! let OpenedCookie::Live { record, stale: false, .. } = codec.open(&[header.clone()], now) else {
//!     panic!("a live session");
//! };
//! assert_eq!(record.user.as_deref(), Some("alice"));
//! assert_eq!(record.idle_deadline, Timestamp::from_millis(1_700_086_400_000));
//!
//! // A day later it has expired, on both sides.
//! let later = Timestamp::from_millis(1_700_086_400_001);
//! assert!(matches!(codec.open(&[header], later), OpenedCookie::Expired { .. }));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Serving it from Rust (in the app, which depends on `sessile` with its default features):
//!
//! ```text
//! let config = Config::builder().idle_timeout(Duration::from_secs(86_400)).build()?;
//! let manager = SessionManager::client_side(codec, config);
//! ```
//!
//! [`SessionManager::client_side`]: https://docs.rs/sessile/latest/sessile/struct.SessionManager.html#method.client_side
//! [NodeCsrf]: https://docs.rs/sessile/latest/sessile/csrf/enum.Scheme.html#variant.NodeCsrf

use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use http::{header, HeaderName, HeaderValue};
use sessile::codec::{CookieCodec, OpenedCookie, SealError, BROWSER_COOKIE_LIMIT};
use sessile::{Deadline, Record, SessionId, Timestamp};

use crate::ids::NodeCookie;
use crate::keygrip::{self, CookieOptions, Keygrip, KoaCookies};
use crate::koa_session::{self, DecodeError};
use crate::record_json::{NodeJson, NodeShape};
use crate::Error;
use crate::{joined_cookie_header, HeaderList};

/// Sessions kept in koa-session's signed `koa.sess` cookie. See the [module docs](self).
#[derive(Debug, Clone)]
pub struct KoaCookieSessions {
    name: String,
    cookies: KoaCookies,
    json: NodeJson,
    cookie: NodeCookie,
    signed: bool,
    default_max_age: bool,
}

impl KoaCookieSessions {
    /// koa-session's defaults (cookie `koa.sess`, signed, `path=/; httponly`, an `expires`
    /// attribute) for an app with `keys` as `app.keys` and `max_age` as `maxAge` (a zero
    /// `max_age` means koa-session's default of one day, as `maxAge: 0` does in Node).
    pub fn new(keys: Keygrip, max_age: Duration) -> Self {
        let max_age = if max_age.is_zero() {
            Duration::from_millis(koa_session::DEFAULT_MAX_AGE_MS)
        } else {
            max_age
        };
        let cookie = NodeCookie::default();
        Self {
            name: koa_session::DEFAULT_COOKIE_NAME.to_owned(),
            cookies: KoaCookies::new(keys, cookie.secure),
            json: NodeJson::new(NodeShape::KoaSession, max_age).with_cookie(cookie.clone()),
            cookie,
            signed: true,
            default_max_age: false,
        }
    }

    /// Sets the cookie name (koa-session's `key` option; `koa:sess` before koa-session 6).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidName`] for a name Koa's `cookies` refuses.
    pub fn with_name(mut self, name: impl Into<String>) -> Result<Self, Error> {
        self.name = name.into();
        self.check()?;
        Ok(self)
    }

    /// Sets the cookie's attributes (koa-session's `path`, `domain`, `httpOnly`, `secure`,
    /// `sameSite`; `expiring: false` for an app without `maxAge`, whose cookies end with the
    /// browser session).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidPath`] or [`Error::InvalidDomain`] for attributes Koa's `cookies` refuses.
    pub fn with_cookie(mut self, mut cookie: NodeCookie) -> Result<Self, Error> {
        // `maxAge: 'session'` cookies never carry `expires`, whichever order the options come in.
        cookie.expiring &= !self.json.session_max_age();
        self.cookies = KoaCookies::new(self.cookies.keys().clone(), cookie.secure);
        self.json = self.json.with_cookie(cookie.clone());
        self.cookie = cookie;
        self.check()?;
        Ok(self)
    }

    /// koa-session's `maxAge: 'session'`: browser-session cookies (no `expires`) whose JSON
    /// carries `"_session": true` instead of `_expire` and `_maxAge`, as the Node app writes
    /// them. Such a cookie holds no deadline, so neither side ends the session before the
    /// browser drops the cookie; sessile reads it as live for `max_age` from each request.
    ///
    /// ```
    /// # use std::time::Duration;
    /// use sessile_node::{keygrip::Keygrip, koa_cookie::KoaCookieSessions};
    ///
    /// let codec = KoaCookieSessions::new(Keygrip::new(["k1"])?, Duration::from_secs(86_400))
    ///     .with_session_max_age();
    /// # let _ = codec;
    /// # Ok::<(), sessile_node::Error>(())
    /// ```
    pub fn with_session_max_age(mut self) -> Self {
        self.cookie.expiring = false;
        self.json = self
            .json
            .with_cookie(self.cookie.clone())
            .with_session_max_age();
        self
    }

    /// koa-session without `maxAge` (its default, one day): a session's first save writes a
    /// browser-session cookie (no `expires`), and every later save a cookie expiring with the
    /// session, since koa-session takes the `maxAge` a loaded session carries (`_maxAge`) as
    /// its cookie's. Pass one day (or zero) as the max age.
    ///
    /// ```
    /// # use std::time::Duration;
    /// use sessile_node::{keygrip::Keygrip, koa_cookie::KoaCookieSessions};
    ///
    /// let codec = KoaCookieSessions::new(Keygrip::new(["k1"])?, Duration::ZERO)
    ///     .with_default_max_age();
    /// assert_eq!(codec.max_age(), Duration::from_secs(86_400));
    /// # Ok::<(), sessile_node::Error>(())
    /// ```
    pub fn with_default_max_age(mut self) -> Self {
        self.default_max_age = true;
        self
    }

    /// koa-session's `signed: false`: the `koa.sess` cookie goes without `koa.sess.sig` and is
    /// read as it comes, as the Node app reads it. Anyone can then write any session, user
    /// included: only for an app that trusts nothing in its session.
    ///
    /// ```
    /// # use std::time::Duration;
    /// use sessile_node::{keygrip::Keygrip, koa_cookie::KoaCookieSessions};
    ///
    /// let codec = KoaCookieSessions::new(Keygrip::new(["k1"])?, Duration::from_secs(3600))
    ///     .with_signed(false);
    /// # let _ = codec;
    /// # Ok::<(), sessile_node::Error>(())
    /// ```
    pub fn with_signed(mut self, signed: bool) -> Self {
        self.signed = signed;
        self
    }

    /// Keeps [`Record::user`] under `field` of the session (a string), or nowhere with `None`.
    /// `user` by default.
    pub fn with_user_field(mut self, field: Option<&str>) -> Self {
        self.json = self.json.with_user_field(field);
        self
    }

    /// The cookie name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The app's `maxAge`.
    pub fn max_age(&self) -> Duration {
        self.json.max_age()
    }

    /// Writes a throw-away cookie, so a name or attribute Koa would refuse fails at
    /// construction rather than on a request.
    fn check(&self) -> Result<(), Error> {
        self.cookies
            .set(
                &self.name,
                "x",
                &self.options(Some(Timestamp::from_millis(0))),
                0,
            )
            .map(drop)
    }

    fn options(&self, expires: Option<Timestamp>) -> CookieOptions {
        CookieOptions {
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

    fn set_cookie(&self, value: &str, expires: Option<Timestamp>) -> Vec<String> {
        // The name and attributes were checked at construction, values are base64 (or empty) and
        // `secure` matches the request kind the cookies were built for: `set` cannot refuse.
        self.cookies
            .set(&self.name, value, &self.options(expires), 0)
            .unwrap_or_else(|error| panic!("Koa cookie options for {:?}: {error}", self.name))
    }

    /// The cookie values the request presents that the codec accepts (verified under a key,
    /// or as they come when unsigned), with the index of the key that verified each.
    fn presented<'h>(&'h self, header: &'h str) -> Box<dyn Iterator<Item = (&'h str, usize)> + 'h> {
        if self.signed {
            Box::new(self.cookies.verified(header, &self.name))
        } else {
            Box::new(keygrip::get_cookies(header, &self.name).map(|value| (value, 0)))
        }
    }

    /// `document` (the session's JSON) as the `koa.sess` cookie and its signature.
    fn seal_document(
        &self,
        document: String,
        record: &Record,
        now: Timestamp,
    ) -> Result<HeaderList, SealError> {
        let value = STANDARD.encode(document);
        let expires = self.expires(record, now);
        let lines = self.set_cookie(&value, expires);
        let size = lines.first().map_or(0, String::len);
        if size > BROWSER_COOKIE_LIMIT {
            return Err(SealError::TooLarge {
                size,
                limit: BROWSER_COOKIE_LIMIT,
            });
        }
        Ok(lines
            .into_iter()
            .map(|line| (header::SET_COOKIE, header_value(&line)))
            .collect())
    }

    /// The cookie's `expires`: the session's deadline, none for a browser-session cookie, and
    /// none on a session's first save without `maxAge` ([`KoaCookieSessions::with_default_max_age`]).
    fn expires(&self, record: &Record, now: Timestamp) -> Option<Timestamp> {
        let first_save = record.created_at == now;
        (self.cookie.expiring && !(self.default_max_age && first_save)).then(|| record.expires_at())
    }

    /// The record a verified cookie value holds at `now`.
    fn decode(&self, value: &str, now: Timestamp) -> OpenedCookie {
        match koa_session::decode_detailed(value, now.as_millis()) {
            // koa-session's `_expire` is its maxAge, which is sessile's idle timeout.
            Err(DecodeError::Expired { .. }) => OpenedCookie::Expired {
                deadline: Deadline::Idle,
            },
            Err(DecodeError::Malformed | DecodeError::Missed) => OpenedCookie::Corrupt,
            Ok(session) => {
                // Node ignores an `_expire` that is not a number; koa-session never writes one.
                let text =
                    String::from_utf8_lossy(&koa_session::node_base64_decode(value)).into_owned();
                let odd_expire = session.expire_ms.is_none()
                    && serde_json::from_str::<serde_json::Value>(&text)
                        .ok()
                        .is_some_and(|json| json.get("_expire").is_some());
                if odd_expire {
                    return OpenedCookie::Corrupt;
                }
                match self.json.decode(&text, Some(now + self.max_age())) {
                    Ok(mut record) => {
                        record.data.remove("isNew");
                        OpenedCookie::Live {
                            id: None,
                            record: Box::new(record),
                            stale: false,
                        }
                    }
                    Err(_) => OpenedCookie::Corrupt,
                }
            }
        }
    }
}

impl CookieCodec for KoaCookieSessions {
    fn header(&self) -> &HeaderName {
        &header::COOKIE
    }

    /// The first signed cookie that decodes into a live session; a planted pair never hides it
    /// (koa-session reads only the first `koa.sess` and `koa.sess.sig`). Otherwise the failure
    /// of the first signed one, `Refused` if none is signed.
    fn open(&self, values: &[HeaderValue], now: Timestamp) -> OpenedCookie {
        let header = joined_cookie_header(values);
        // `if (!cookie)`: an empty value is no session in Node.
        if keygrip::get_cookies(&header, &self.name).all(str::is_empty) {
            return OpenedCookie::Absent;
        }
        // No signature at all is no cookie to koa's `cookies.get`: nothing is removed.
        if self.signed && !keygrip::signature_presented(&header, &self.name) {
            return OpenedCookie::Absent;
        }
        let mut opened = OpenedCookie::Refused;
        for (value, key_index) in self.presented(&header) {
            match self.decode(value, now) {
                OpenedCookie::Live { id, record, .. } => {
                    let stale = key_index > 0;
                    return OpenedCookie::Live { id, record, stale };
                }
                failure if matches!(opened, OpenedCookie::Refused) => opened = failure,
                _ => {}
            }
        }
        opened
    }

    fn seal(
        &self,
        _id: &SessionId,
        record: &Record,
        now: Timestamp,
    ) -> Result<HeaderList, SealError> {
        self.seal_document(self.json.encode(record), record, now)
    }

    /// The document written over the one the request presented, so its keys keep their order
    /// (the signed-in user's place among them included), as koa-session rewrites its object.
    fn reseal(
        &self,
        presented: &[HeaderValue],
        _id: &SessionId,
        record: &Record,
        now: Timestamp,
    ) -> Result<HeaderList, SealError> {
        let header = joined_cookie_header(presented);
        let previous = self.presented(&header).next().map(|(value, _)| {
            String::from_utf8_lossy(&koa_session::node_base64_decode(value)).into_owned()
        });
        self.seal_document(
            self.json.encode_over(previous.as_deref(), record),
            record,
            now,
        )
    }

    /// Only `koa.sess.sig`, signed with the first key, as koa's `cookies.get` re-signs it.
    fn resign(&self, presented: &[HeaderValue]) -> Option<HeaderList> {
        if !self.signed {
            return None;
        }
        let header = joined_cookie_header(presented);
        let value = self.presented(&header).next()?.0;
        let line = self.cookies.resigned(&self.name, value);
        Some(vec![(header::SET_COOKIE, header_value(&line))])
    }

    /// Koa's removal: `koa.sess=` and its `.sig`, both expired at the epoch.
    fn removal(&self) -> HeaderList {
        self.set_cookie("", None)
            .into_iter()
            .map(|line| (header::SET_COOKIE, header_value(&line)))
            .collect()
    }

    /// koa's `cookies` answers a bad signature with a `koa.sess.sig` removal.
    fn clears_refused(&self) -> bool {
        self.signed
    }

    /// Only `koa.sess.sig`, as koa's `cookies` removes it.
    fn refusal(&self) -> HeaderList {
        vec![(
            header::SET_COOKIE,
            header_value(&self.cookies.rejected(&self.name)),
        )]
    }

    /// koa-session sends nothing for an expired cookie (the browser drops it by its `expires`).
    fn clears_dead(&self) -> bool {
        false
    }
}

fn header_value(line: &str) -> HeaderValue {
    HeaderValue::from_str(line).expect("Koa cookie headers are visible ASCII")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const HOUR: Duration = Duration::from_secs(3600);
    const NOW: i64 = 1_700_000_000_000;

    fn codec(keys: &[&str]) -> KoaCookieSessions {
        KoaCookieSessions::new(Keygrip::new(keys.iter().copied()).unwrap(), HOUR)
    }

    /// The `Cookie` header a browser sends back for `Set-Cookie` lines.
    fn presented(lines: &HeaderList) -> HeaderValue {
        let pairs: Vec<&str> = lines
            .iter()
            .map(|(_, v)| v.to_str().unwrap().split(';').next().unwrap())
            .collect();
        HeaderValue::from_str(&pairs.join("; ")).unwrap()
    }

    fn record(user: Option<&str>, deadline: i64) -> Record {
        let mut record = Record::new(
            Timestamp::from_millis(NOW),
            Timestamp::from_millis(deadline),
            Timestamp::from_millis(NOW + 43_200_000),
        );
        record.data = json!({"n": 1}).as_object().unwrap().clone();
        record.user = user.map(str::to_owned);
        record
    }

    #[test]
    fn seals_what_koa_session_writes_and_opens_it_again() {
        let codec = codec(&["k1"]);
        let now = Timestamp::from_millis(NOW);
        let lines = codec
            .seal(
                &SessionId::generate(),
                &record(Some("alice"), NOW + 3_600_000),
                now,
            )
            .unwrap();
        assert_eq!(lines.len(), 2);
        let main = lines[0].1.to_str().unwrap();
        let value = main
            .strip_prefix("koa.sess=")
            .unwrap()
            .split(';')
            .next()
            .unwrap();
        assert_eq!(
            String::from_utf8(STANDARD.decode(value).unwrap()).unwrap(),
            r#"{"n":1,"user":"alice","_expire":1700003600000,"_maxAge":3600000}"#
        );
        assert!(main.ends_with("; path=/; expires=Tue, 14 Nov 2023 23:13:20 GMT; httponly"));
        assert!(lines[1].1.to_str().unwrap().starts_with("koa.sess.sig="));
        let OpenedCookie::Live { record, stale, id } = codec.open(&[presented(&lines)], now) else {
            panic!("live");
        };
        assert!(!stale && id.is_none());
        assert_eq!(record.user.as_deref(), Some("alice"));
        assert_eq!(record.data["n"], 1);
        assert_eq!(record.idle_deadline.as_millis(), NOW + 3_600_000);
    }

    #[test]
    fn older_keys_open_stale_and_unknown_keys_are_refused() {
        let now = Timestamp::from_millis(NOW);
        let lines = codec(&["old"])
            .seal(&SessionId::generate(), &record(None, NOW + 1000), now)
            .unwrap();
        let cookie = presented(&lines);
        assert!(matches!(
            codec(&["new", "old"]).open(std::slice::from_ref(&cookie), now),
            OpenedCookie::Live { stale: true, .. }
        ));
        assert!(matches!(
            codec(&["new"]).open(std::slice::from_ref(&cookie), now),
            OpenedCookie::Refused
        ));
        // Without its `.sig`, koa's `cookies.get` sees no cookie at all.
        let unsigned =
            HeaderValue::from_str(cookie.to_str().unwrap().split(';').next().unwrap()).unwrap();
        assert!(matches!(
            codec(&["old"]).open(&[unsigned], now),
            OpenedCookie::Absent
        ));
        assert!(matches!(
            codec(&["old"]).open(&[HeaderValue::from_static("koa.sess=")], now),
            OpenedCookie::Absent
        ));
    }

    #[test]
    fn removal_expires_both_cookies() {
        let lines: Vec<String> = codec(&["k"])
            .removal()
            .into_iter()
            .map(|(_, v)| v.to_str().unwrap().to_owned())
            .collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(
            lines[0],
            "koa.sess=; path=/; expires=Thu, 01 Jan 1970 00:00:00 GMT; httponly"
        );
        assert!(lines[1].starts_with("koa.sess.sig="));
        assert!(lines[1].ends_with("; path=/; expires=Thu, 01 Jan 1970 00:00:00 GMT; httponly"));
    }

    #[test]
    fn oversized_sessions_are_refused() {
        let mut big = record(None, NOW + 1000);
        big.data.insert("blob".into(), "x".repeat(4000).into());
        assert!(matches!(
            codec(&["k"]).seal(&SessionId::generate(), &big, Timestamp::from_millis(NOW)),
            Err(SealError::TooLarge { limit: 4096, .. })
        ));
    }

    #[test]
    fn bad_names_and_attributes_fail_at_construction() {
        assert_eq!(
            codec(&["k"]).with_name("a;b").unwrap_err(),
            Error::InvalidName
        );
        let cookie = NodeCookie {
            domain: Some("bad domain".into()),
            ..NodeCookie::default()
        };
        assert_eq!(
            codec(&["k"]).with_cookie(cookie).unwrap_err(),
            Error::InvalidDomain
        );
        assert_eq!(
            codec(&["k"]).with_name("koa:sess").unwrap().name(),
            "koa:sess"
        );
    }
}
