//! Configuration, with defaults a careful deployment can keep.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use cookie::SameSite;
use http::HeaderName;

use crate::events::{EventSink, TracingEvents};
use crate::keys::Keys;
use crate::time::{Clock, SystemClock};

/// Default idle timeout: 30 minutes, the upper end OWASP suggests for low-risk applications.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(30 * 60);
/// Default absolute lifetime: 12 hours, a working day with margin, after which even an active
/// session signs in again (a stolen cookie stops working within a day).
pub const DEFAULT_ABSOLUTE_LIFETIME: Duration = Duration::from_secs(12 * 60 * 60);
/// Default touch throttle: an unchanged session is written again once a quarter of the idle
/// window has passed, so a read-mostly user costs one write per 7.5 minutes, while the
/// effective idle timeout shrinks by at most a quarter.
pub const DEFAULT_TOUCH_THROTTLE: f64 = 0.25;
/// The data key of sessile's CSRF secret (`csrf::SECRET_KEY`), defined here so the request
/// path can renew it without depending on the CSRF module.
pub(crate) const CSRF_SECRET_KEY: &str = "_csrf";
/// Default bound on one store call before the request fails with 503.
pub const DEFAULT_STORE_TIMEOUT: Duration = Duration::from_secs(5);

/// Where the session id travels.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum IdTransport {
    /// A cookie (the default), named by [`CookieConfig::name`].
    Cookie,
    /// A request header, answered with a response header of the same name when the id changes
    /// (an empty value when the session ends). For API clients without cookies.
    Header(HeaderName),
}

/// The default session cookie name. `__Host-` makes browsers refuse the cookie unless it is
/// Secure, host-only and on `/`, so a sibling subdomain or a plain-http page can neither set nor
/// shadow it.
const DEFAULT_COOKIE_NAME: &str = "__Host-id";
/// The default name without Secure (plain-http development): browsers drop a `__Host-` cookie
/// that is not Secure.
const DEFAULT_INSECURE_COOKIE_NAME: &str = "id";

/// The session cookie's name and attributes. Defaults: `__Host-id` (the prefix makes browsers
/// refuse a cookie of that name unless it is Secure, host-only and on `/`, so a sibling
/// subdomain or a plain-http page cannot plant one), Secure, HttpOnly, SameSite=Lax, Path=/, no
/// Domain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CookieConfig {
    /// Cookie name. A `__Host-` prefix requires Secure, Path=/ and no Domain, which
    /// [`Config::validate`] checks.
    pub name: String,
    /// Send only over HTTPS.
    pub secure: bool,
    /// Hide from JavaScript.
    pub http_only: bool,
    /// Cross-site policy.
    pub same_site: SameSite,
    /// Cookie path.
    pub path: String,
    /// Cookie domain; `None` keeps it host-only.
    pub domain: Option<String>,
}

impl Default for CookieConfig {
    fn default() -> Self {
        Self {
            name: DEFAULT_COOKIE_NAME.to_owned(),
            secure: true,
            http_only: true,
            same_site: SameSite::Lax,
            path: "/".to_owned(),
            domain: None,
        }
    }
}

/// Session configuration.
///
/// ```
/// use sessile::{Config, Keys};
/// use std::time::Duration;
/// let config = Config::new(Keys::generate())
///     .with_idle_timeout(Duration::from_secs(600))
///     .with_touch_throttle(0.0); // rolling: touch on every request
/// assert_eq!(config.cookie.name, "__Host-id");
/// assert!(config.validate().is_empty());
/// // Plain-http development: no Secure, so no `__Host-` prefix either.
/// assert_eq!(Config::new(Keys::generate()).with_secure(false).cookie.name, "id");
/// ```
#[derive(Clone)]
pub struct Config {
    /// Cookie name and attributes.
    pub cookie: CookieConfig,
    /// Cookie (default) or header.
    pub transport: IdTransport,
    /// Inactivity timeout, refreshed by activity.
    pub idle_timeout: Duration,
    /// Lifetime from creation; rotation keeps it.
    pub absolute_lifetime: Duration,
    /// Fraction of `idle_timeout` that must pass before an unchanged session is written again;
    /// 0 writes on every request (rolling).
    pub touch_throttle: f64,
    /// Signing keys: the first signs, any verifies.
    pub keys: Keys,
    /// Bound on each store call; past it the request fails with 503.
    pub store_timeout: Duration,
    /// Store the client's IP address in the device metadata.
    pub record_ip: bool,
    /// Give the session a new id whenever its signed-in user changes (sign-in, sign-out, a
    /// switch of user), against session fixation. On by default.
    pub rotate_on_sign_in: bool,
    /// The data key of the CSRF secret, dropped when the id rotates or the user changes so the
    /// next token comes from a new secret: `_csrf` (sessile's scheme) by default; `secret` for
    /// the Node-compatible scheme (`csrf::NODE_SECRET_KEY`).
    pub csrf_secret_key: String,
    /// Source of the current time.
    pub clock: Arc<dyn Clock>,
    /// Receiver of session events.
    pub events: Arc<dyn EventSink>,
}

impl Config {
    /// Defaults with the given keys.
    pub fn new(keys: Keys) -> Self {
        Self {
            cookie: CookieConfig::default(),
            transport: IdTransport::Cookie,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            absolute_lifetime: DEFAULT_ABSOLUTE_LIFETIME,
            touch_throttle: DEFAULT_TOUCH_THROTTLE,
            keys,
            store_timeout: DEFAULT_STORE_TIMEOUT,
            record_ip: false,
            rotate_on_sign_in: true,
            csrf_secret_key: CSRF_SECRET_KEY.to_owned(),
            clock: Arc::new(SystemClock),
            events: Arc::new(TracingEvents),
        }
    }

    /// Sets the cookie name.
    pub fn with_cookie_name(mut self, name: impl Into<String>) -> Self {
        self.cookie.name = name.into();
        self
    }

    /// Sets the Secure attribute. Turning it off is for plain-http development only; it also
    /// renames the default cookie `__Host-id` to `id`, since browsers drop a `__Host-` cookie
    /// without Secure. A name set with [`Config::with_cookie_name`] is kept.
    pub fn with_secure(mut self, secure: bool) -> Self {
        self.cookie.secure = secure;
        if !secure && self.cookie.name == DEFAULT_COOKIE_NAME {
            self.cookie.name = DEFAULT_INSECURE_COOKIE_NAME.to_owned();
        }
        self
    }

    /// Carries the id in a header instead of a cookie.
    pub fn with_header_transport(mut self, name: HeaderName) -> Self {
        self.transport = IdTransport::Header(name);
        self
    }

    /// Sets the idle timeout.
    pub fn with_idle_timeout(mut self, timeout: Duration) -> Self {
        self.idle_timeout = timeout;
        self
    }

    /// Sets the absolute lifetime.
    pub fn with_absolute_lifetime(mut self, lifetime: Duration) -> Self {
        self.absolute_lifetime = lifetime;
        self
    }

    /// Sets the touch throttle, clamped to `0.0..=1.0`.
    pub fn with_touch_throttle(mut self, fraction: f64) -> Self {
        self.touch_throttle = fraction.clamp(0.0, 1.0);
        self
    }

    /// Sets the bound on each store call.
    pub fn with_store_timeout(mut self, timeout: Duration) -> Self {
        self.store_timeout = timeout;
        self
    }

    /// Records client IP addresses in the device metadata.
    pub fn with_record_ip(mut self, record_ip: bool) -> Self {
        self.record_ip = record_ip;
        self
    }

    /// Whether a change of the signed-in user rotates the id (on by default). Turn it off only
    /// for a client that cannot follow a new cookie during sign-in; `rotate_id` still works.
    ///
    /// ```
    /// use sessile::{Config, Keys};
    /// assert!(Config::new(Keys::generate()).rotate_on_sign_in);
    /// assert!(!Config::new(Keys::generate()).with_rotate_on_sign_in(false).rotate_on_sign_in);
    /// ```
    pub fn with_rotate_on_sign_in(mut self, rotate: bool) -> Self {
        self.rotate_on_sign_in = rotate;
        self
    }

    /// Sets the data key of the CSRF secret that rotation and user changes renew (`_csrf` by
    /// default; the key given to `Csrf::with_session_key`, or `secret` for the Node scheme).
    ///
    /// ```
    /// use sessile::{csrf, Config, Keys};
    /// let config = Config::new(Keys::generate()).with_csrf_secret_key(csrf::NODE_SECRET_KEY);
    /// assert_eq!(config.csrf_secret_key, "secret");
    /// ```
    pub fn with_csrf_secret_key(mut self, key: impl Into<String>) -> Self {
        self.csrf_secret_key = key.into();
        self
    }

    /// Sets the clock.
    pub fn with_clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// Sets the event sink.
    pub fn with_events(mut self, events: impl EventSink) -> Self {
        self.events = Arc::new(events);
        self
    }

    /// Warnings about settings weaker than the defaults; the engine logs each at startup.
    pub fn validate(&self) -> Vec<String> {
        let mut warnings = Vec::new();
        let cookie = &self.cookie;
        if self.transport == IdTransport::Cookie {
            if !cookie.secure {
                warnings.push("session cookie without Secure: it travels over plain http".into());
            }
            if !cookie.http_only {
                warnings.push("session cookie without HttpOnly: scripts can read it".into());
            }
            if cookie.same_site == SameSite::None {
                warnings
                    .push("session cookie with SameSite=None: sent on cross-site requests".into());
            }
            if cookie.domain.is_some() {
                warnings.push("session cookie with a Domain: sent to every subdomain".into());
            }
            if cookie.name.starts_with("__Host-")
                && (!cookie.secure || cookie.path != "/" || cookie.domain.is_some())
            {
                warnings.push(
                    "a __Host- cookie needs Secure, Path=/ and no Domain; browsers will drop it"
                        .into(),
                );
            }
        }
        if self.absolute_lifetime < self.idle_timeout {
            warnings.push("absolute lifetime shorter than the idle timeout".into());
        }
        warnings
    }
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("cookie", &self.cookie)
            .field("transport", &self.transport)
            .field("idle_timeout", &self.idle_timeout)
            .field("absolute_lifetime", &self.absolute_lifetime)
            .field("touch_throttle", &self.touch_throttle)
            .field("store_timeout", &self.store_timeout)
            .field("record_ip", &self.record_ip)
            .field("rotate_on_sign_in", &self.rotate_on_sign_in)
            .field("csrf_secret_key", &self.csrf_secret_key)
            .finish_non_exhaustive()
    }
}
