//! Configuration, with defaults a careful deployment can keep, checked once when it is built.
//!
//! [`Config`] (the request path's lifetimes, throttle and timeouts) and [`CookieConfig`] (the
//! cookie of sessile's own codecs) have private fields and one builder each; `build` refuses a
//! value the request path could not work with ([`ConfigError`]), so a mistake shows at startup,
//! never as a panic or an error page at request time. Keys are not here: they belong to the
//! codec that signs or seals with them ([`SignedIds`](crate::codec::SignedIds),
//! [`SealedCookies`](crate::codec::SealedCookies)).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::events::{EventSink, TracingEvents};
use crate::limit::{LimitPolicy, UserLimit};
use crate::time::{Clock, SystemClock};
use cookie::SameSite;

/// Default idle timeout: 30 minutes, the upper end OWASP suggests for low-risk applications.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(30 * 60);
/// Default idle timeout of an anonymous session (nobody signed in): 15 minutes, half the
/// signed-in default. An anonymous visitor has nothing to lose by signing in again, and every
/// anonymous write (a crawler's, a flood's) leaves a session behind that lives this long; it
/// never exceeds [`Config::idle_timeout`].
pub const DEFAULT_ANONYMOUS_IDLE_TIMEOUT: Duration = Duration::from_secs(15 * 60);
/// Default bound on one session's data: 64 KiB of JSON. Far above what a session should hold
/// (an id, a cart, a few flags), and small enough that a client which makes a handler store
/// what it sends cannot grow one session without bound; a commit over it fails with
/// [`crate::SessionError::SessionTooLarge`] (answered 413) and writes nothing.
pub const DEFAULT_MAX_SESSION_BYTES: usize = 64 * 1024;
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
/// Default rotation grace: 5 seconds. Long enough for the requests a browser had in flight when
/// one of them rotated the id (parallel logins, a background poll beside a sign-in) to arrive
/// with the old id over a slow mobile link and still be served by the rotated session; short,
/// because for that long the old id, if someone else holds it (a planted, fixated id), also
/// reaches the rotated session (ARCHITECTURE.md, "Rotation grace").
pub const DEFAULT_ROTATION_GRACE: Duration = Duration::from_secs(5);
/// Default bound on one store call before the request fails with 503.
pub const DEFAULT_STORE_TIMEOUT: Duration = Duration::from_secs(5);
/// The longest rotation grace a [`Config`] accepts: one hour.
const MAX_ROTATION_GRACE: Duration = Duration::from_secs(60 * 60);
/// The longest timeout or lifetime a [`Config`] accepts: 100 years. Every store keeps deadlines
/// this far away exactly; much further ones overflow some databases' time types (an error on
/// every write) or the touch throttle's arithmetic.
pub(crate) const MAX_DURATION: Duration = Duration::from_secs(100 * 365 * 24 * 60 * 60);

/// Why a [`Config`] or [`CookieConfig`] could not be built. Its message names the setting, the
/// value and why it cannot work.
///
/// ```
/// use sessile::{Config, ConfigError};
/// let error = Config::builder().touch_throttle(f64::NAN).build().unwrap_err();
/// assert!(matches!(error, ConfigError::TouchThrottle(_)));
/// assert_eq!(
///     error.to_string(),
///     "touch_throttle is NaN: it is the fraction of the idle timeout after which an unchanged \
///      session is written again, so it must be between 0.0 (every request) and 1.0",
/// );
/// ```
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A timeout or lifetime under one millisecond: sessions would expire (or store calls time
    /// out) at once. Deadlines are kept in milliseconds.
    #[error(
        "{setting} is {value:?}: it must be at least one millisecond, or every {what} at once"
    )]
    TooShort {
        /// The setting (`idle_timeout`, `absolute_lifetime`, `store_timeout`).
        setting: &'static str,
        /// The value given.
        value: Duration,
        /// What would happen.
        what: &'static str,
    },
    /// A timeout or lifetime over 100 years, which some stores cannot keep as a deadline.
    #[error(
        "{setting} is {value:?}: the longest accepted is 100 years, since deadlines further \
         away overflow the stores' time columns"
    )]
    TooLong {
        /// The setting.
        setting: &'static str,
        /// The value given.
        value: Duration,
    },
    /// A rotation grace over one hour.
    #[error(
        "rotation_grace is {0:?}: the longest accepted is one hour, since for that long an old \
         id (a fixated one too) still reaches the rotated session; a few seconds cover the \
         requests in flight during a sign-in"
    )]
    RotationGrace(Duration),
    /// A touch throttle outside `0.0..=1.0` (or NaN).
    #[error(
        "touch_throttle is {0}: it is the fraction of the idle timeout after which an unchanged \
         session is written again, so it must be between 0.0 (every request) and 1.0"
    )]
    TouchThrottle(f64),
    /// An empty cookie name.
    #[error("the session cookie name is empty: browsers ignore a cookie without a name")]
    EmptyCookieName,
    /// A cookie name with a character RFC 6265 does not allow in one (a separator, a space, a
    /// control character or a non-ASCII byte).
    #[error(
        "the session cookie name {0:?} has a character a cookie name cannot hold (separators \
         such as `=;,\"()`, spaces, control or non-ASCII characters)"
    )]
    InvalidCookieName(String),
    /// A Path or Domain attribute with a character that would end the attribute or the header
    /// (`;`, a control or non-ASCII character).
    #[error(
        "the session cookie's {attribute} {value:?} has a `;`, control or non-ASCII character, \
         which cannot appear in a Set-Cookie attribute"
    )]
    InvalidCookieAttribute {
        /// `Path` or `Domain`.
        attribute: &'static str,
        /// The value given.
        value: String,
    },
    /// A `__Host-` or `__Secure-` cookie name whose attributes browsers refuse for that prefix.
    #[error("the session cookie {name:?} {reason}, so browsers would drop it")]
    CookiePrefix {
        /// The cookie name.
        name: String,
        /// What the prefix requires and the attributes lack.
        reason: &'static str,
    },
    /// `SameSite=None` without `Secure`, which browsers refuse.
    #[error(
        "the session cookie has SameSite=None without Secure, which browsers refuse: set \
         Secure, or another SameSite"
    )]
    SameSiteNoneWithoutSecure,
}

/// The default session cookie name. `__Host-` makes browsers refuse the cookie unless it is
/// Secure, host-only and on `/`, so a sibling subdomain or a plain-http page can neither set nor
/// shadow it.
const DEFAULT_COOKIE_NAME: &str = "__Host-id";
/// The default name without Secure (plain-http development): browsers drop a `__Host-` cookie
/// that is not Secure.
const DEFAULT_INSECURE_COOKIE_NAME: &str = "id";

/// The session cookie's name and attributes, checked when built. Defaults: `__Host-id` (the
/// prefix makes browsers refuse a cookie of that name unless it is Secure, host-only and on `/`,
/// so a sibling subdomain or a plain-http page cannot plant one), Secure, HttpOnly,
/// SameSite=Lax, Path=/, no Domain.
///
/// ```
/// use sessile::{ConfigError, CookieConfig, SameSite};
/// let cookie = CookieConfig::default();
/// assert_eq!((cookie.name(), cookie.secure(), cookie.path()), ("__Host-id", true, "/"));
/// assert_eq!(cookie.same_site(), SameSite::Lax);
///
/// // Plain-http development: no Secure, so no `__Host-` prefix either.
/// let plain = CookieConfig::builder().secure(false).build()?;
/// assert_eq!(plain.name(), "id");
///
/// // A `__Host-` cookie cannot have a Domain: browsers would drop it.
/// let refused = CookieConfig::builder().domain("example.com").build();
/// assert!(matches!(refused, Err(ConfigError::CookiePrefix { .. })));
/// # Ok::<(), ConfigError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CookieConfig {
    pub(crate) name: String,
    pub(crate) secure: bool,
    pub(crate) http_only: bool,
    pub(crate) same_site: SameSite,
    pub(crate) path: String,
    pub(crate) domain: Option<String>,
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

impl CookieConfig {
    /// A builder starting from the defaults.
    pub fn builder() -> CookieConfigBuilder {
        CookieConfigBuilder {
            name: None,
            cookie: Self::default(),
        }
    }

    /// The cookie name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether the cookie is sent only over HTTPS.
    pub fn secure(&self) -> bool {
        self.secure
    }

    /// Whether the cookie is hidden from JavaScript.
    pub fn http_only(&self) -> bool {
        self.http_only
    }

    /// The cross-site policy.
    pub fn same_site(&self) -> SameSite {
        self.same_site
    }

    /// The cookie path.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The cookie domain; `None` keeps it host-only.
    pub fn domain(&self) -> Option<&str> {
        self.domain.as_deref()
    }

    /// Settings that work but are weaker than the defaults; sessile's codecs log each when
    /// given this cookie.
    ///
    /// ```
    /// use sessile::CookieConfig;
    /// let plain = CookieConfig::builder().secure(false).build()?;
    /// assert_eq!(plain.warnings(), ["session cookie without Secure: it travels over plain http"]);
    /// assert!(CookieConfig::default().warnings().is_empty());
    /// # Ok::<(), sessile::ConfigError>(())
    /// ```
    pub fn warnings(&self) -> Vec<&'static str> {
        let mut warnings = Vec::new();
        if !self.secure {
            warnings.push("session cookie without Secure: it travels over plain http");
        }
        if !self.http_only {
            warnings.push("session cookie without HttpOnly: scripts can read it");
        }
        if self.same_site == SameSite::None {
            warnings.push("session cookie with SameSite=None: sent on cross-site requests");
        }
        if self.domain.is_some() {
            warnings.push("session cookie with a Domain: sent to every subdomain");
        }
        warnings
    }

    /// Refuses what browsers would drop or a `Set-Cookie` line cannot carry.
    fn check(&self) -> Result<(), ConfigError> {
        if self.name.is_empty() {
            return Err(ConfigError::EmptyCookieName);
        }
        if !self.name.bytes().all(is_token_byte) {
            return Err(ConfigError::InvalidCookieName(self.name.clone()));
        }
        let attributes = [("Path", Some(&self.path)), ("Domain", self.domain.as_ref())];
        for (attribute, value) in attributes {
            if let Some(value) = value.filter(|value| !value.bytes().all(is_attribute_byte)) {
                return Err(ConfigError::InvalidCookieAttribute {
                    attribute,
                    value: value.clone(),
                });
            }
        }
        let prefix_error = |reason| ConfigError::CookiePrefix {
            name: self.name.clone(),
            reason,
        };
        // Browsers match the prefixes case-insensitively.
        let lowercase = self.name.to_ascii_lowercase();
        if lowercase.starts_with("__host-") {
            if !self.secure {
                return Err(prefix_error("has the __Host- prefix but is not Secure"));
            }
            if self.domain.is_some() {
                return Err(prefix_error("has the __Host- prefix but a Domain"));
            }
            if self.path != "/" {
                return Err(prefix_error(
                    "has the __Host- prefix but a Path other than /",
                ));
            }
        }
        if lowercase.starts_with("__secure-") && !self.secure {
            return Err(prefix_error("has the __Secure- prefix but is not Secure"));
        }
        if self.same_site == SameSite::None && !self.secure {
            return Err(ConfigError::SameSiteNoneWithoutSecure);
        }
        Ok(())
    }
}

/// RFC 6265's cookie-name characters: an RFC 7230 token.
fn is_token_byte(byte: u8) -> bool {
    byte.is_ascii_graphic() && !b"()<>@,;:\\\"/[]?={}".contains(&byte)
}

/// Characters a Path or Domain attribute can carry: visible ASCII and space, but no `;`.
fn is_attribute_byte(byte: u8) -> bool {
    (byte.is_ascii_graphic() || byte == b' ') && byte != b';'
}

/// Builds a [`CookieConfig`]; [`CookieConfigBuilder::build`] checks it.
///
/// ```
/// use sessile::{CookieConfig, SameSite};
/// let cookie = CookieConfig::builder()
///     .name("__Secure-sid")
///     .same_site(SameSite::Strict)
///     .path("/app")
///     .build()?;
/// assert_eq!(cookie.path(), "/app");
/// # Ok::<(), sessile::ConfigError>(())
/// ```
#[derive(Clone, Debug)]
#[must_use = "a builder does nothing until it is built"]
pub struct CookieConfigBuilder {
    /// The name the app chose; `None` picks the default for the Secure setting.
    name: Option<String>,
    cookie: CookieConfig,
}

impl CookieConfigBuilder {
    /// The cookie name (default `__Host-id`, or `id` without Secure). A `__Host-` name needs
    /// Secure, Path=/ and no Domain; a `__Secure-` name needs Secure.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Whether the cookie is sent only over HTTPS (default on). Turning it off is for plain-http
    /// development only; it also makes the default name `id`, since browsers drop a `__Host-`
    /// cookie without Secure.
    pub fn secure(mut self, secure: bool) -> Self {
        self.cookie.secure = secure;
        self
    }

    /// Whether the cookie is hidden from JavaScript (default on).
    pub fn http_only(mut self, http_only: bool) -> Self {
        self.cookie.http_only = http_only;
        self
    }

    /// The cross-site policy (default `Lax`). `None` needs Secure.
    pub fn same_site(mut self, same_site: SameSite) -> Self {
        self.cookie.same_site = same_site;
        self
    }

    /// The cookie path (default `/`).
    pub fn path(mut self, path: impl Into<String>) -> Self {
        self.cookie.path = path.into();
        self
    }

    /// The cookie domain (default none: host-only). A Domain sends the cookie to every
    /// subdomain; a `__Host-` name refuses it.
    pub fn domain(mut self, domain: impl Into<String>) -> Self {
        self.cookie.domain = Some(domain.into());
        self
    }

    /// The checked settings.
    ///
    /// # Errors
    ///
    /// [`ConfigError`] for an empty or malformed name, a `;` or non-ASCII character in the path
    /// or domain, attributes the name's `__Host-`/`__Secure-` prefix forbids, and
    /// `SameSite=None` without Secure.
    pub fn build(self) -> Result<CookieConfig, ConfigError> {
        let mut cookie = self.cookie;
        cookie.name = match self.name {
            Some(name) => name,
            None if cookie.secure => DEFAULT_COOKIE_NAME.to_owned(),
            None => DEFAULT_INSECURE_COOKIE_NAME.to_owned(),
        };
        cookie.check()?;
        Ok(cookie)
    }
}

/// Session configuration: lifetimes, the touch throttle, the store timeout, what a commit
/// renews, the clock and the events. [`Config::default`] gives the defaults; [`Config::builder`]
/// changes them, and its [`build`](ConfigBuilder::build) refuses values the request path cannot
/// work with. The same settings apply whatever codec carries the session (sessile's own or a
/// Node app's), so nothing here belongs to one of them: keys and the cookie are the codec's.
///
/// ```
/// use sessile::Config;
/// use std::time::Duration;
/// let config = Config::builder()
///     .idle_timeout(Duration::from_secs(600))
///     .touch_throttle(0.0) // rolling: touch on every request
///     .build()?;
/// assert_eq!(config.idle_timeout(), Duration::from_secs(600));
/// assert!(config.warnings().is_empty());
///
/// // A zero idle timeout would expire every session at once.
/// assert!(Config::builder().idle_timeout(Duration::ZERO).build().is_err());
/// # Ok::<(), sessile::ConfigError>(())
/// ```
#[derive(Clone)]
pub struct Config {
    pub(crate) idle_timeout: Duration,
    pub(crate) anonymous_idle_timeout: Duration,
    pub(crate) absolute_lifetime: Duration,
    pub(crate) touch_throttle: f64,
    pub(crate) store_timeout: Duration,
    pub(crate) record_ip: bool,
    pub(crate) max_session_bytes: Option<usize>,
    pub(crate) max_sessions_per_user: Option<UserLimit>,
    pub(crate) clear_site_data_on_destroy: bool,
    pub(crate) rotate_on_sign_in: bool,
    pub(crate) rotation_grace: Duration,
    pub(crate) csrf_secret_key: String,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) events: Arc<dyn EventSink>,
}

impl Default for Config {
    /// The defaults: idle 30 minutes, absolute 12 hours, throttle 0.25, store timeout 5 s.
    ///
    /// ```
    /// let config = sessile::Config::default();
    /// assert_eq!(config.idle_timeout(), sessile::config::DEFAULT_IDLE_TIMEOUT);
    /// ```
    fn default() -> Self {
        Self {
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            anonymous_idle_timeout: DEFAULT_ANONYMOUS_IDLE_TIMEOUT,
            absolute_lifetime: DEFAULT_ABSOLUTE_LIFETIME,
            touch_throttle: DEFAULT_TOUCH_THROTTLE,
            store_timeout: DEFAULT_STORE_TIMEOUT,
            record_ip: false,
            max_session_bytes: Some(DEFAULT_MAX_SESSION_BYTES),
            max_sessions_per_user: None,
            clear_site_data_on_destroy: false,
            rotate_on_sign_in: true,
            rotation_grace: DEFAULT_ROTATION_GRACE,
            csrf_secret_key: CSRF_SECRET_KEY.to_owned(),
            clock: Arc::new(SystemClock),
            events: Arc::new(TracingEvents::new()),
        }
    }
}

impl Config {
    /// A builder starting from the defaults.
    pub fn builder() -> ConfigBuilder {
        ConfigBuilder {
            config: Self::default(),
        }
    }

    /// Inactivity timeout, refreshed by activity.
    pub fn idle_timeout(&self) -> Duration {
        self.idle_timeout
    }

    /// The inactivity timeout of a session nobody is signed in on: the configured one, or the
    /// signed-in [`Config::idle_timeout`] when that is shorter.
    ///
    /// ```
    /// use std::time::Duration;
    /// let config = sessile::Config::default();
    /// assert_eq!(config.anonymous_idle_timeout(), Duration::from_secs(15 * 60));
    /// let short = sessile::Config::builder().idle_timeout(Duration::from_secs(60)).build()?;
    /// assert_eq!(short.anonymous_idle_timeout(), Duration::from_secs(60));
    /// # Ok::<(), sessile::ConfigError>(())
    /// ```
    pub fn anonymous_idle_timeout(&self) -> Duration {
        self.anonymous_idle_timeout.min(self.idle_timeout)
    }

    /// Lifetime from creation; rotation keeps it.
    pub fn absolute_lifetime(&self) -> Duration {
        self.absolute_lifetime
    }

    /// Fraction of the idle timeout that must pass before an unchanged session is written again.
    pub fn touch_throttle(&self) -> f64 {
        self.touch_throttle
    }

    /// Bound on each store call; past it the request fails with 503.
    pub fn store_timeout(&self) -> Duration {
        self.store_timeout
    }

    /// Whether the client's IP address is stored in the device metadata and carried by
    /// [`crate::Event::Rejected`].
    pub fn record_ip(&self) -> bool {
        self.record_ip
    }

    /// The bound on one session's data as JSON, `None` for none.
    pub fn max_session_bytes(&self) -> Option<usize> {
        self.max_session_bytes
    }

    /// The per-user session limit, if any ([`ConfigBuilder::max_sessions_per_user`]).
    ///
    /// ```
    /// assert_eq!(sessile::Config::default().max_sessions_per_user(), None);
    /// ```
    pub fn max_sessions_per_user(&self) -> Option<UserLimit> {
        self.max_sessions_per_user
    }

    /// Whether a response that destroys the session also sends `Clear-Site-Data: "cookies"`.
    pub fn clear_site_data_on_destroy(&self) -> bool {
        self.clear_site_data_on_destroy
    }

    /// Whether a change of the signed-in user rotates the id.
    pub fn rotate_on_sign_in(&self) -> bool {
        self.rotate_on_sign_in
    }

    /// How long a rotated id still leads to the rotated session
    /// ([`ConfigBuilder::rotation_grace`]); zero when the old id dies at once.
    pub fn rotation_grace(&self) -> Duration {
        self.rotation_grace
    }

    /// The data key of the CSRF secret that rotation and user changes drop.
    pub fn csrf_secret_key(&self) -> &str {
        &self.csrf_secret_key
    }

    /// Settings that work but may surprise; the manager logs each at startup.
    ///
    /// ```
    /// use sessile::Config;
    /// use std::time::Duration;
    /// let config = Config::builder().absolute_lifetime(Duration::from_secs(60)).build()?;
    /// assert_eq!(config.warnings().len(), 1);
    /// # Ok::<(), sessile::ConfigError>(())
    /// ```
    pub fn warnings(&self) -> Vec<&'static str> {
        let mut warnings = Vec::new();
        if self.absolute_lifetime < self.idle_timeout {
            warnings.push(
                "absolute lifetime shorter than the idle timeout: sessions end at the absolute \
                 lifetime however active",
            );
        }
        warnings
    }
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("idle_timeout", &self.idle_timeout)
            .field("anonymous_idle_timeout", &self.anonymous_idle_timeout)
            .field("absolute_lifetime", &self.absolute_lifetime)
            .field("touch_throttle", &self.touch_throttle)
            .field("store_timeout", &self.store_timeout)
            .field("record_ip", &self.record_ip)
            .field("max_session_bytes", &self.max_session_bytes)
            .field("max_sessions_per_user", &self.max_sessions_per_user)
            .field(
                "clear_site_data_on_destroy",
                &self.clear_site_data_on_destroy,
            )
            .field("rotate_on_sign_in", &self.rotate_on_sign_in)
            .field("rotation_grace", &self.rotation_grace)
            .field("csrf_secret_key", &self.csrf_secret_key)
            .finish_non_exhaustive()
    }
}

/// Builds a [`Config`]; [`ConfigBuilder::build`] checks it.
///
/// ```
/// use sessile::{Config, ManualClock};
/// use std::time::Duration;
/// let config = Config::builder()
///     .absolute_lifetime(Duration::from_secs(8 * 60 * 60))
///     .store_timeout(Duration::from_secs(2))
///     .record_ip(true)
///     .clock(ManualClock::starting_now())
///     .build()?;
/// assert!(config.record_ip());
/// # Ok::<(), sessile::ConfigError>(())
/// ```
#[derive(Clone, Debug)]
#[must_use = "a builder does nothing until it is built"]
pub struct ConfigBuilder {
    config: Config,
}

impl ConfigBuilder {
    /// The inactivity timeout (default 30 minutes), between 1 ms and 100 years.
    pub fn idle_timeout(mut self, timeout: Duration) -> Self {
        self.config.idle_timeout = timeout;
        self
    }

    /// The inactivity timeout of anonymous sessions (default 15 minutes, never longer than
    /// the idle timeout), between 1 ms and 100 years. A session created without a user gets
    /// it as its own ([`crate::Record::idle_timeout`]), so stores apply it on every touch;
    /// signing in returns the session to the idle timeout (or the one the handler sets).
    pub fn anonymous_idle_timeout(mut self, timeout: Duration) -> Self {
        self.config.anonymous_idle_timeout = timeout;
        self
    }

    /// The lifetime from creation (default 12 hours), between 1 ms and 100 years.
    pub fn absolute_lifetime(mut self, lifetime: Duration) -> Self {
        self.config.absolute_lifetime = lifetime;
        self
    }

    /// The fraction of the idle timeout after which an unchanged session is written again
    /// (default 0.25), from 0.0 (every request: rolling) to 1.0.
    pub fn touch_throttle(mut self, fraction: f64) -> Self {
        self.config.touch_throttle = fraction;
        self
    }

    /// The bound on each store call (default 5 s), between 1 ms and 100 years.
    pub fn store_timeout(mut self, timeout: Duration) -> Self {
        self.config.store_timeout = timeout;
        self
    }

    /// Keeps client IP addresses (default off): in the device metadata of each session, and in
    /// [`crate::Event::Rejected`] for the request that presented a rejected id. One switch,
    /// since both are the same decision: whether this app processes its clients' addresses.
    pub fn record_ip(mut self, record_ip: bool) -> Self {
        self.config.record_ip = record_ip;
        self
    }

    /// Bounds one session's data, measured as its JSON (default
    /// [`DEFAULT_MAX_SESSION_BYTES`], 64 KiB; `None` lifts the bound). A commit that would
    /// leave a session over it fails with [`crate::SessionError::SessionTooLarge`], which the
    /// adapters answer 413, and writes nothing. The engine measures the data after the
    /// request's changes whenever it knows the session's data (a new session, a rotation or
    /// sign-in, any request that read the session); a write that never read the session (a
    /// blind `insert`) is measured by what it writes.
    ///
    /// ```
    /// let config = sessile::Config::builder().max_session_bytes(Some(4 * 1024)).build()?;
    /// assert_eq!(config.max_session_bytes(), Some(4096));
    /// # Ok::<(), sessile::ConfigError>(())
    /// ```
    pub fn max_session_bytes(mut self, bound: Option<usize>) -> Self {
        self.config.max_session_bytes = bound;
        self
    }

    /// Limits how many live sessions one user holds (default: no limit). A sign-in past `max`
    /// (0 counts as 1) either signs the user's least recently used sessions out
    /// ([`LimitPolicy::EvictLeastRecentlyUsed`]: a sign-in on a new device ends the one idle
    /// longest) or fails with [`crate::SessionError::TooManySessions`], which the adapters
    /// answer 403, writing nothing ([`LimitPolicy::Refuse`]). The store counts, evicts or
    /// refuses in the same atomic operation as the sign-in, so concurrent sign-ins never leave
    /// more than `max`. Stores without a per-user index (the Node layouts) and the cookie
    /// store cannot count a user's sessions: a sign-in there fails with
    /// [`crate::StoreError::Unsupported`] (500) rather than pass the limit unseen.
    ///
    /// ```
    /// use sessile::limit::LimitPolicy;
    /// let config = sessile::Config::builder()
    ///     .max_sessions_per_user(3, LimitPolicy::EvictLeastRecentlyUsed)
    ///     .build()?;
    /// assert_eq!(config.max_sessions_per_user().map(|limit| limit.max), Some(3));
    /// # Ok::<(), sessile::ConfigError>(())
    /// ```
    pub fn max_sessions_per_user(mut self, max: u32, policy: LimitPolicy) -> Self {
        self.config.max_sessions_per_user = Some(UserLimit::new(max, policy));
        self
    }

    /// Sends `Clear-Site-Data: "cookies"` with the response that destroys a session (sign-out,
    /// default off). Browsers then drop every cookie of the site (the registrable domain, not
    /// only this session's), so a copy of a client-side session cookie left in the browser is
    /// gone too; it cannot reach a copy taken elsewhere (see the cookie store's guarantees in
    /// [`crate::SealedCookies`]).
    ///
    /// ```
    /// let config = sessile::Config::builder().clear_site_data_on_destroy(true).build()?;
    /// assert!(config.clear_site_data_on_destroy());
    /// # Ok::<(), sessile::ConfigError>(())
    /// ```
    pub fn clear_site_data_on_destroy(mut self, clear: bool) -> Self {
        self.config.clear_site_data_on_destroy = clear;
        self
    }

    /// Whether a change of the signed-in user rotates the id (on by default). Turn it off only
    /// for a client that cannot follow a new cookie during sign-in; `rotate_id` still works.
    ///
    /// ```
    /// use sessile::Config;
    /// assert!(Config::default().rotate_on_sign_in());
    /// let config = Config::builder().rotate_on_sign_in(false).build()?;
    /// assert!(!config.rotate_on_sign_in());
    /// # Ok::<(), sessile::ConfigError>(())
    /// ```
    pub fn rotate_on_sign_in(mut self, rotate: bool) -> Self {
        self.config.rotate_on_sign_in = rotate;
        self
    }

    /// How long, after a rotation (sign-in, `rotate_id`), requests that still carry the old id
    /// are served by the rotated session (default [`DEFAULT_ROTATION_GRACE`], 5 s; at most
    /// one hour): their writes land in it and their responses hand out the new id, never a
    /// removal or a new anonymous id. A browser's requests that were in flight when one of
    /// them rotated (five parallel logins, a background poll beside a sign-in) then keep the
    /// user signed in and lose no write. After the window the old id is dead. `Duration::ZERO`
    /// kills the old id at once (no forward pointer is stored). Logging out, revoking the
    /// user's sessions or the rotated session ending ends the grace too: a forward pointer
    /// only leads to a live session. The price: for the window, anyone else who holds the old
    /// id (one planted before sign-in) reaches the signed-in session and is handed its id;
    /// an application that cannot accept that window sets `Duration::ZERO`.
    ///
    /// ```
    /// use std::time::Duration;
    /// use sessile::Config;
    /// assert_eq!(Config::default().rotation_grace(), Duration::from_secs(5));
    /// let strict = Config::builder().rotation_grace(Duration::ZERO).build()?;
    /// assert_eq!(strict.rotation_grace(), Duration::ZERO);
    /// assert!(Config::builder().rotation_grace(Duration::from_secs(7200)).build().is_err());
    /// # Ok::<(), sessile::ConfigError>(())
    /// ```
    pub fn rotation_grace(mut self, grace: Duration) -> Self {
        self.config.rotation_grace = grace;
        self
    }

    /// The data key of the CSRF secret that rotation and user changes renew (`_csrf` by
    /// default; the key given to `Csrf::with_session_key`, or `secret` for the Node scheme).
    ///
    /// ```
    /// use sessile::{csrf, Config};
    /// let config = Config::builder()
    ///     .csrf_secret_key(csrf::NODE_SECRET_KEY)
    ///     .build()?;
    /// assert_eq!(config.csrf_secret_key(), "secret");
    /// # Ok::<(), sessile::ConfigError>(())
    /// ```
    pub fn csrf_secret_key(mut self, key: impl Into<String>) -> Self {
        self.config.csrf_secret_key = key.into();
        self
    }

    /// The source of the current time (default the system clock).
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.config.clock = Arc::new(clock);
        self
    }

    /// The receiver of session events (default [`TracingEvents`]).
    pub fn events(mut self, events: impl EventSink) -> Self {
        self.config.events = Arc::new(events);
        self
    }

    /// The checked configuration.
    ///
    /// # Errors
    ///
    /// [`ConfigError::TooShort`] or [`ConfigError::TooLong`] for a timeout or lifetime under
    /// 1 ms or over 100 years, [`ConfigError::RotationGrace`] for a rotation grace over one
    /// hour, [`ConfigError::TouchThrottle`] for a throttle outside `0.0..=1.0` or NaN.
    pub fn build(self) -> Result<Config, ConfigError> {
        let config = self.config;
        let durations = [
            ("idle_timeout", config.idle_timeout, "session expires"),
            (
                "anonymous_idle_timeout",
                config.anonymous_idle_timeout,
                "session expires",
            ),
            (
                "absolute_lifetime",
                config.absolute_lifetime,
                "session expires",
            ),
            (
                "store_timeout",
                config.store_timeout,
                "store call times out",
            ),
        ];
        for (setting, value, what) in durations {
            if value < Duration::from_millis(1) {
                return Err(ConfigError::TooShort {
                    setting,
                    value,
                    what,
                });
            }
            if value > MAX_DURATION {
                return Err(ConfigError::TooLong { setting, value });
            }
        }
        // A grace longer than a sign-in's network round trips only widens the window in which a
        // fixated old id still reaches the signed-in session.
        if config.rotation_grace > MAX_ROTATION_GRACE {
            return Err(ConfigError::RotationGrace(config.rotation_grace));
        }
        if !(0.0..=1.0).contains(&config.touch_throttle) {
            return Err(ConfigError::TouchThrottle(config.touch_throttle));
        }
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn build(tweak: impl FnOnce(ConfigBuilder) -> ConfigBuilder) -> Result<Config, ConfigError> {
        tweak(Config::builder()).build()
    }

    fn cookie(
        tweak: impl FnOnce(CookieConfigBuilder) -> CookieConfigBuilder,
    ) -> Result<CookieConfig, ConfigError> {
        tweak(CookieConfig::builder()).build()
    }

    #[test]
    fn the_defaults_build() {
        assert!(build(|b| b).is_ok());
        assert_eq!(cookie(|b| b), Ok(CookieConfig::default()));
    }

    #[test]
    fn a_throttle_outside_zero_to_one_is_refused() {
        for bad in [f64::NAN, -0.1, 1.5, f64::INFINITY, f64::NEG_INFINITY] {
            let error = build(|b| b.touch_throttle(bad)).unwrap_err();
            assert!(
                matches!(error, ConfigError::TouchThrottle(t) if t.to_bits() == bad.to_bits()),
                "{bad}: {error}"
            );
        }
        for good in [0.0, 0.5, 1.0] {
            assert_eq!(
                build(|b| b.touch_throttle(good)).unwrap().touch_throttle(),
                good
            );
        }
    }

    #[test]
    fn durations_under_a_millisecond_or_over_a_century_are_refused() {
        let too_short = [Duration::ZERO, Duration::from_micros(999)];
        for value in too_short {
            for (setting, error) in [
                ("idle_timeout", build(|b| b.idle_timeout(value))),
                ("absolute_lifetime", build(|b| b.absolute_lifetime(value))),
                ("store_timeout", build(|b| b.store_timeout(value))),
            ] {
                let error = error.unwrap_err();
                assert!(
                    matches!(error, ConfigError::TooShort { setting: s, .. } if s == setting),
                    "{error}"
                );
                assert!(error.to_string().starts_with(setting), "{error}");
            }
        }
        let error = build(|b| b.idle_timeout(Duration::MAX)).unwrap_err();
        assert_eq!(
            error,
            ConfigError::TooLong {
                setting: "idle_timeout",
                value: Duration::MAX
            }
        );
        assert!(build(|b| b.absolute_lifetime(MAX_DURATION)).is_ok());
        assert!(build(|b| b.store_timeout(MAX_DURATION + Duration::from_secs(1))).is_err());
    }

    #[test]
    fn cookie_names_must_be_tokens() {
        assert_eq!(cookie(|b| b.name("")), Err(ConfigError::EmptyCookieName));
        for bad in ["a b", "a;b", "a=b", "sé", "a\nb", "\"q\""] {
            assert_eq!(
                cookie(|b| b.name(bad)),
                Err(ConfigError::InvalidCookieName(bad.to_owned()))
            );
        }
        assert!(cookie(|b| b.name("koa.sid-1_x")).is_ok());
    }

    #[test]
    fn cookie_attributes_cannot_break_the_header() {
        let error = cookie(|b| b.name("sid").path("/; Domain=evil")).unwrap_err();
        assert!(matches!(
            error,
            ConfigError::InvalidCookieAttribute {
                attribute: "Path",
                ..
            }
        ));
        let error = cookie(|b| b.name("sid").domain("exämple.com")).unwrap_err();
        assert!(matches!(
            error,
            ConfigError::InvalidCookieAttribute {
                attribute: "Domain",
                ..
            }
        ));
    }

    #[test]
    fn prefixes_get_the_attributes_browsers_require() {
        let reason = |result: Result<CookieConfig, ConfigError>| match result {
            Err(ConfigError::CookiePrefix { reason, .. }) => reason,
            other => panic!("expected a prefix error, got {other:?}"),
        };
        assert!(reason(cookie(|b| b.domain("example.com"))).contains("a Domain"));
        assert!(reason(cookie(|b| b.path("/app"))).contains("Path"));
        assert!(reason(cookie(|b| b.name("__HOST-x").secure(false))).contains("not Secure"));
        assert!(reason(cookie(|b| b.name("__Secure-x").secure(false))).contains("not Secure"));
        assert!(cookie(|b| b.name("__Secure-x").domain("example.com").path("/a")).is_ok());
        assert_eq!(
            cookie(|b| b.secure(false).same_site(SameSite::None)),
            Err(ConfigError::SameSiteNoneWithoutSecure)
        );
    }

    #[test]
    fn without_secure_the_default_name_drops_its_prefix() {
        assert_eq!(cookie(|b| b.secure(false)).unwrap().name(), "id");
        assert_eq!(
            cookie(|b| b.secure(false).name("sid")).unwrap().name(),
            "sid"
        );
    }

    #[test]
    fn warnings_name_weakened_settings() {
        assert!(Config::default().warnings().is_empty());
        let weak = cookie(|b| {
            b.name("sid")
                .secure(false)
                .http_only(false)
                .domain("a.example")
        })
        .unwrap();
        assert_eq!(weak.warnings().len(), 3, "{:?}", weak.warnings());
        let config = build(|b| {
            b.idle_timeout(Duration::from_secs(60 * 60))
                .absolute_lifetime(Duration::from_secs(60))
        })
        .unwrap();
        assert_eq!(config.warnings().len(), 1, "{:?}", config.warnings());
    }
}
