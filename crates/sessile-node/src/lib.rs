//! Node.js session interop for sessile: the cookie formats of Koa and Express apps, byte for byte.
//!
//! A team moving a Koa or Express app to Rust runs both side by side behind one domain. This crate
//! reads and writes the very cookies the Node packages do, so a user signed in on one side stays
//! signed in on the other:
//!
//! - [`keygrip`]: Koa signed cookies (`cookies` + `keygrip`): the `NAME.sig` cookie holding an
//!   HMAC-SHA1 (or SHA-256) over `NAME=VALUE`, key rotation, and the exact `Set-Cookie` headers the
//!   Node side emits when it re-signs or rejects a signature.
//! - [`koa_session`]: koa-session's cookie mode (base64 JSON with `_expire` / `_maxAge` /
//!   `_session`), decoded as leniently as the package does and never panicking.
//! - [`express_session`]: express-session's `s:<id>.<sig>` cookie (cookie-signature, HMAC-SHA256),
//!   URL-encoded, with a secret list.
//! - [`koa_cookie`]: koa-session's cookie mode as a sessile cookie codec, for
//!   `SessionManager::client_side`: the whole session in the signed `koa.sess` cookie.
//! - [`ids`]: id codecs for the Node packages' store modes (`koa.sess`, `koa.sid`, `koa:sess`,
//!   `connect.sid`), for `SessionManager::new` next to a Node-layout store.
//! - [`record_json`]: a sessile record as the JSON document each package stores, and back.
//! - [`layout`]: what every Node-layout store shares (deadlines, increments on a Node
//!   document); the stores themselves live with their driver: the koa-redis and connect-redis
//!   keys in `sessile_redis::node` (feature `node`), the Sequelize tables in
//!   `sessile_sql::sequelize` (feature `sequelize`).
//!
//! The format functions are pure: time comes in as milliseconds since the Unix epoch (`now_ms`),
//! the same clock `Date.now()` reads in Node. The crate's tests check each function against vectors
//! produced by running the real npm packages (`tests/node/gen-vectors.js`) and against live Koa and
//! Express servers.
//!
//! ```
//! use sessile_node::keygrip::{KoaCookies, Keygrip};
//! use sessile_node::koa_session;
//!
//! // A Cookie header a Koa app (app.keys = ['secret key'], koa-session defaults) wrote.
//! let header = "koa.sess=eyJ1c2VyIjoiYWxpY2UiLCJfZXhwaXJlIjoxNzAwMDg2NDAwMDAwLCJfbWF4QWdlIjo4NjQwMDAwMH0=; \
//!               koa.sess.sig=Ls3nBEVk2ZZZRZ3maTuZQYiRoq4";
//! let cookies = KoaCookies::new(Keygrip::new(["secret key"])?, false);
//! let value = cookies.get_signed(header, "koa.sess").value.expect("signature verifies");
//! let session = koa_session::decode(&value, 1_700_000_000_000).expect("not expired");
//! assert_eq!(session.data["user"], "alice");
//! # Ok::<(), sessile_node::Error>(())
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod express_session;
mod http_date;
pub mod ids;
pub mod keygrip;
pub mod koa_cookie;
pub mod koa_session;
pub mod layout;
pub mod record_json;

pub use http_date::{parse_date, to_iso_string, to_sequelize_sqlite_date, to_utc_string};

/// The longest absolute lifetime a [`sessile::Config`] accepts (100 years): what "no absolute
/// lifetime" is for a session shared with Node.
const NO_ABSOLUTE_LIFETIME: std::time::Duration =
    std::time::Duration::from_secs(100 * 365 * 24 * 60 * 60);

/// The configuration of a Rust app serving a Node app's sessions whose `maxAge` is `max_age`:
/// the idle timeout is `max_age`, and there is **no absolute lifetime**, because the Node
/// packages have none (a Node session lives as long as it is used) and their documents keep no
/// creation time to count one from; sessile's 12-hour default would end every shared session
/// at 12 hours. Each session's own `maxAge` (koa-session's `_maxAge`, express-session's
/// `cookie.originalMaxAge`, koa-generic-session's `cookie.maxAge`) still wins over `max_age`
/// on every write and touch: this is the lifetime of sessions that carry none, and of the
/// ones Rust creates.
///
/// A read-only request writes nothing and sends no cookie, as in Node (the touch throttle is
/// `1.0`: a session is never touched before it expires). The packages' options that move the
/// expiry on reads are throttles: koa-session's `renew: true` is `.touch_throttle(0.5)` (a
/// save once less than half the lifetime is left), `rolling: true` is `.touch_throttle(0.0)`
/// (every request); sessile's own sliding expiry is its default, `0.25`.
///
/// The builder is returned so the app can add what it needs (clock, events, throttle); an
/// `absolute_lifetime` set on it bounds only what one request writes, since the Node documents
/// cannot carry it to the next.
///
/// ```
/// use std::time::Duration;
///
/// let day = Duration::from_secs(86_400);
/// let config = sessile_node::config(day).build()?;
/// assert_eq!(config.idle_timeout(), day);
/// assert_eq!(config.touch_throttle(), 1.0);
/// assert!(config.absolute_lifetime() > Duration::from_secs(99 * 365 * 86_400));
/// # Ok::<(), sessile::ConfigError>(())
/// ```
pub fn config(max_age: std::time::Duration) -> sessile::ConfigBuilder {
    sessile::Config::builder()
        .idle_timeout(max_age)
        // The Node packages give anonymous sessions the same maxAge as any other.
        .anonymous_idle_timeout(max_age)
        .absolute_lifetime(NO_ABSOLUTE_LIFETIME)
        // No touch: a read-only request leaves a Node session, its expiry and its cookie as
        // they are, as the packages do without `rolling` or `renew` (express-session's own
        // touch moves only its store's TTL, past the cookie's expiry, which it does not send).
        .touch_throttle(1.0)
}

/// Why a Node-compatible cookie could not be produced. Each message is the one the Node package
/// throws for the same mistake, so logs read the same on both sides.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// keygrip: an empty key list.
    #[error("Keys must be provided.")]
    NoKeys,
    /// express-session: an empty secret list.
    #[error("secret option required for sessions")]
    NoSecrets,
    /// The cookie name has characters the package rejects (`;`, `=`, controls, ...).
    #[error("argument name is invalid")]
    InvalidName,
    /// The cookie value has characters the package rejects (`;`, controls, ...).
    #[error("argument value is invalid")]
    InvalidValue,
    /// The `path` attribute has characters the package rejects.
    #[error("option path is invalid")]
    InvalidPath,
    /// The `domain` attribute is not a valid domain.
    #[error("option domain is invalid")]
    InvalidDomain,
    /// `secure: true` asked for on a plain-HTTP request (the `cookies` package refuses).
    #[error("Cannot send secure cookie over unencrypted connection")]
    SecureOverHttp,
}

/// Response headers a codec produces (`Set-Cookie` lines), as sessile's codec traits return them.
pub(crate) type HeaderList = Vec<(http::HeaderName, http::HeaderValue)>;

/// The `SameSite` cookie attribute, sessile's (the `cookie` crate's). Koa writes it lower-case
/// (`samesite=lax`), Express capitalised (`SameSite=Lax`); `sameSite: true` means `Strict` in both.
pub use sessile::SameSite;

/// The `Priority` cookie attribute (Chromium).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Priority {
    /// `low`.
    Low,
    /// `medium`.
    Medium,
    /// `high`.
    High,
}

/// RFC 6265 domain-value as both `cookies` and `cookie` check it (a leading dot is allowed).
/// A request's `Cookie` header lines as one string, as Node sees them joined. Bytes outside ASCII
/// (another app's UTF-8 cookie) become replacement characters instead of hiding the whole line.
pub(crate) fn joined_cookie_header(values: &[http::HeaderValue]) -> String {
    values
        .iter()
        .map(|value| String::from_utf8_lossy(value.as_bytes()))
        .collect::<Vec<_>>()
        .join("; ")
}

pub(crate) fn is_valid_domain(domain: &str) -> bool {
    let labels = domain.strip_prefix('.').unwrap_or(domain);
    !labels.is_empty()
        && labels.split('.').all(|label| {
            let bytes = label.as_bytes();
            (1..=63).contains(&bytes.len())
                && bytes
                    .iter()
                    .all(|b| b.is_ascii_alphanumeric() || *b == b'-')
                && bytes[0] != b'-'
                && bytes[bytes.len() - 1] != b'-'
        })
}

/// RFC 6265 path-value as both packages check it: 0x20..=0x7E except `;` and `<`.
pub(crate) fn is_valid_path(path: &str) -> bool {
    path.bytes()
        .all(|b| (0x20..=0x7e).contains(&b) && b != b';' && b != b'<')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domain_rule_matches_the_packages_regexp() {
        for ok in ["example.com", ".example.com", "a", "a-b.c", "x1.y2.z3"] {
            assert!(is_valid_domain(ok), "{ok}");
        }
        for bad in [
            "",
            ".",
            "-a.com",
            "a-.com",
            "a..b",
            "a b",
            "ex_ample.com",
            "a.com.",
        ] {
            assert!(!is_valid_domain(bad), "{bad}");
        }
        assert!(!is_valid_domain(&"a".repeat(64)));
    }

    #[test]
    fn path_rule_excludes_semicolon_and_less_than() {
        assert!(is_valid_path("/a b/c=d?e"));
        assert!(!is_valid_path("/a;b"));
        assert!(!is_valid_path("/a<b"));
        assert!(!is_valid_path("/ä"));
    }
}
