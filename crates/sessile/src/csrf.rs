//! CSRF protection: a synchronizer token bound to the session.
//!
//! Each session gets a random secret, created the first time a token is asked for and stored in
//! the session like any other value, so a session that never renders a form costs nothing. A page
//! embeds [`token`]; an unsafe request sends it back (a form field or a header) and the server
//! checks it with [`verify`]. A token from another session never verifies.
//!
//! Two schemes, chosen with [`Csrf`]:
//!
//! - [`Scheme::Masked`] (the default): a 32-byte secret under the data key [`SECRET_KEY`]
//!   (`"_csrf"`). Each token is `base64url(mask || mask XOR secret)` with a fresh random 32-byte
//!   mask, so every response carries different bytes and compression side channels (BREACH) learn
//!   nothing they can reuse. Verification unmasks and compares in constant time.
//! - [`Scheme::NodeCsrf`]: the npm `csrf` package's tokens (`salt-base64url(SHA1(salt-secret))`),
//!   which koa-atomic-session and koa-csrf issue, with the secret under the data key
//!   [`NODE_SECRET_KEY`] (`"secret"`), where both of them keep it. A Rust app sharing sessions with
//!   such a Node app verifies the Node app's tokens and issues tokens the Node app accepts. See
//!   [`node`].
//!
//! The secret lives until the session's id rotates or its user changes: that commit drops it
//! (the key in [`Config::csrf_secret_key`](crate::Config::csrf_secret_key), `_csrf` by default;
//! set it to [`NODE_SECRET_KEY`] with the Node scheme), so a token planted before sign-in stops
//! working. [`Csrf::renew`] replaces it at any other time.
//!
//! Two concurrent requests of one session that both create the secret (the session's very first
//! pages, opened at once) each store their own; the last one written wins and the other page's
//! token stops verifying. Ask for a token once on the session's first page to avoid it.
//!
//! ```
//! use sessile::{csrf, Config, Keys, MemoryStore, SessionManager, SignedIds};
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let ids = SignedIds::new(Keys::generate());
//! let manager = SessionManager::new(MemoryStore::new(), ids, Config::default());
//! let session = manager.start(&http::HeaderMap::new(), None);
//!
//! let first = csrf::token(&session).await?;
//! let second = csrf::token(&session).await?;
//! assert_ne!(first, second); // masked afresh on every call
//! assert!(csrf::verify(&session, &first).await?);
//! assert!(csrf::verify(&session, &second).await?);
//! assert!(!csrf::verify(&session, "forged").await?);
//! # Ok::<(), sessile::SessionError>(())
//! # }).unwrap();
//! ```

use std::sync::Arc;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::rngs::OsRng;
use rand::RngCore;
use serde_json::Value;
use subtle::ConstantTimeEq;

use crate::request::{Session, SessionError};

/// The session data key that holds the [`Scheme::Masked`] secret.
pub const SECRET_KEY: &str = crate::config::CSRF_SECRET_KEY;

/// The session data key that holds the [`Scheme::NodeCsrf`] secret: koa-atomic-session stores
/// `secret` in its session document and koa-csrf sets `ctx.session.secret`. (Express's csurf uses
/// `csrfSecret`; pass it to [`Csrf::with_session_key`].)
pub const NODE_SECRET_KEY: &str = "secret";

const MASKED_SECRET_LEN: usize = 32;

/// How tokens are made and checked.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Scheme {
    /// A 32-byte secret, masked with a fresh random pad per token. The default.
    #[default]
    Masked,
    /// The npm `csrf` package's salted SHA-1 tokens, for sessions shared with a Node app.
    NodeCsrf,
}

/// CSRF configuration: the scheme and the session data key of the secret.
///
/// [`Csrf::default`] is [`Scheme::Masked`] under [`SECRET_KEY`]; the free functions [`token`] and
/// [`verify`] use it.
///
/// ```
/// use sessile::csrf::{Csrf, Scheme};
/// use sessile::{Config, Keys, MemoryStore, SessionManager, SignedIds};
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let ids = SignedIds::new(Keys::generate());
/// let manager = SessionManager::new(MemoryStore::new(), ids, Config::default());
/// let session = manager.start(&http::HeaderMap::new(), None);
///
/// // Shares the secret a koa-csrf or koa-atomic-session app keeps in `secret`.
/// let csrf = Csrf::node_compatible();
/// assert_eq!(csrf.scheme(), Scheme::NodeCsrf);
/// let token = csrf.token(&session).await?;
/// let secret: String = session.get("secret").await?.unwrap();
/// assert!(sessile::csrf::node::verify(&secret, &token));
/// assert!(csrf.verify(&session, &token).await?);
/// # Ok::<(), sessile::SessionError>(())
/// # }).unwrap();
/// ```
#[derive(Clone, Debug)]
pub struct Csrf {
    scheme: Scheme,
    session_key: Arc<str>,
}

impl Default for Csrf {
    fn default() -> Self {
        Self::masked()
    }
}

impl Csrf {
    /// [`Scheme::Masked`] with the secret under [`SECRET_KEY`].
    pub fn masked() -> Self {
        Self {
            scheme: Scheme::Masked,
            session_key: Arc::from(SECRET_KEY),
        }
    }

    /// [`Scheme::NodeCsrf`] with the secret under [`NODE_SECRET_KEY`].
    pub fn node_compatible() -> Self {
        Self {
            scheme: Scheme::NodeCsrf,
            session_key: Arc::from(NODE_SECRET_KEY),
        }
    }

    /// Keeps the secret under another session data key.
    pub fn with_session_key(mut self, key: impl Into<String>) -> Self {
        self.session_key = Arc::from(key.into());
        self
    }

    /// The scheme.
    pub fn scheme(&self) -> Scheme {
        self.scheme
    }

    /// The session data key of the secret.
    pub fn session_key(&self) -> &str {
        &self.session_key
    }

    /// A token for the session, different on every call. Creates and stores the session's secret
    /// if it has none yet (or holds something that is not a secret of this scheme), which makes
    /// a new session persistent like any other write.
    pub async fn token(&self, session: &Session) -> Result<String, SessionError> {
        let stored = session.get::<Value>(&self.session_key).await?;
        Ok(match self.scheme {
            Scheme::Masked => {
                let secret = match stored.as_ref().and_then(masked_secret) {
                    Some(secret) => secret,
                    None => self.store_masked_secret(session)?,
                };
                mask(&secret)
            }
            Scheme::NodeCsrf => {
                let secret = match stored.as_ref().and_then(node_secret) {
                    Some(secret) => secret.to_owned(),
                    None => self.store_node_secret(session)?,
                };
                node::create_token(&secret)
            }
        })
    }

    /// Whether `presented` is a valid token for the session. `false` for anything malformed and
    /// for a session without a secret (which this never creates). Constant time in the secret.
    pub async fn verify(&self, session: &Session, presented: &str) -> Result<bool, SessionError> {
        let stored = session.get::<Value>(&self.session_key).await?;
        Ok(match (self.scheme, stored) {
            (Scheme::Masked, Some(stored)) => {
                masked_secret(&stored).is_some_and(|secret| unmasks_to(&secret, presented))
            }
            (Scheme::NodeCsrf, Some(stored)) => {
                node_secret(&stored).is_some_and(|secret| node::verify(secret, presented))
            }
            (_, None) => false,
        })
    }

    /// Replaces the session's secret, so every token issued before stops verifying. Sign-in
    /// and rotation renew it already (see the module docs).
    pub fn renew(&self, session: &Session) -> Result<(), SessionError> {
        match self.scheme {
            Scheme::Masked => self.store_masked_secret(session).map(drop),
            Scheme::NodeCsrf => self.store_node_secret(session).map(drop),
        }
    }

    fn store_masked_secret(
        &self,
        session: &Session,
    ) -> Result<[u8; MASKED_SECRET_LEN], SessionError> {
        let mut secret = [0u8; MASKED_SECRET_LEN];
        OsRng.fill_bytes(&mut secret);
        session.insert(&self.session_key, URL_SAFE_NO_PAD.encode(secret))?;
        Ok(secret)
    }

    fn store_node_secret(&self, session: &Session) -> Result<String, SessionError> {
        let secret = node::generate_secret();
        session.insert(&self.session_key, &secret)?;
        Ok(secret)
    }
}

/// A masked token for the session, with the default configuration ([`Csrf::default`]).
pub async fn token(session: &Session) -> Result<String, SessionError> {
    Csrf::default().token(session).await
}

/// Whether `presented` is a valid token for the session, with the default configuration
/// ([`Csrf::default`]).
pub async fn verify(session: &Session, presented: &str) -> Result<bool, SessionError> {
    Csrf::default().verify(session, presented).await
}

fn masked_secret(stored: &Value) -> Option<[u8; MASKED_SECRET_LEN]> {
    let encoded = stored.as_str()?;
    // 32 bytes are 43 base64url characters; anything else is not a secret this module wrote.
    if encoded.len() != 43 {
        return None;
    }
    let mut secret = [0u8; MASKED_SECRET_LEN];
    match URL_SAFE_NO_PAD.decode_slice(encoded, &mut secret) {
        Ok(MASKED_SECRET_LEN) => Some(secret),
        _ => None,
    }
}

fn node_secret(stored: &Value) -> Option<&str> {
    stored.as_str().filter(|secret| !secret.is_empty())
}

fn mask(secret: &[u8; MASKED_SECRET_LEN]) -> String {
    let mut token = [0u8; 2 * MASKED_SECRET_LEN];
    let (pad, masked) = token.split_at_mut(MASKED_SECRET_LEN);
    OsRng.fill_bytes(pad);
    for ((out, pad), secret) in masked.iter_mut().zip(pad.iter()).zip(secret) {
        *out = pad ^ secret;
    }
    URL_SAFE_NO_PAD.encode(token)
}

fn unmasks_to(secret: &[u8; MASKED_SECRET_LEN], presented: &str) -> bool {
    // 64 bytes are 86 base64url characters; longer input is rejected before decoding.
    if presented.len() != 86 {
        return false;
    }
    let mut token = [0u8; 2 * MASKED_SECRET_LEN];
    match URL_SAFE_NO_PAD.decode_slice(presented, &mut token) {
        Ok(written) if written == token.len() => {}
        _ => return false,
    }
    let (pad, masked) = token.split_at(MASKED_SECRET_LEN);
    let mut unmasked = [0u8; MASKED_SECRET_LEN];
    for ((out, pad), masked) in unmasked.iter_mut().zip(pad).zip(masked) {
        *out = pad ^ masked;
    }
    bool::from(unmasked.ct_eq(secret))
}

/// The default request header that carries the token.
pub const DEFAULT_HEADER: &str = "x-csrf-token";
/// The default form field that carries the token (the name koa-csrf and csurf read too).
pub const DEFAULT_FORM_FIELD: &str = "_csrf";
/// The default limit, in bytes, on a form body a middleware buffers to find the token.
pub const DEFAULT_BODY_LIMIT: usize = 64 * 1024;

/// The rules every framework's CSRF middleware applies, written once: which requests need a
/// token (every method but GET, HEAD, OPTIONS and TRACE, outside the exempt paths), where it is
/// (the header; else, for an `application/x-www-form-urlencoded` body, the form field) and how
/// much of a form body may be read to find it. The adapters only move bytes.
///
/// ```
/// use sessile::csrf::{Csrf, Guard};
///
/// let guard = Guard::new().with_csrf(Csrf::node_compatible()).exempt_prefix("/webhooks/");
/// assert!(!guard.needs_token("GET", "/account"));
/// assert!(guard.needs_token("POST", "/account"));
/// assert!(!guard.needs_token("POST", "/webhooks/payments"));
/// assert!(Guard::is_form(Some(b"application/x-www-form-urlencoded; charset=utf-8")));
/// assert_eq!(guard.form_token(b"name=ada&_csrf=abc%2B"), "abc+");
/// ```
#[derive(Clone, Debug)]
pub struct Guard {
    csrf: Csrf,
    header: http::HeaderName,
    form_field: String,
    body_limit: usize,
    exempt_paths: Vec<String>,
    exempt_prefixes: Vec<String>,
}

impl Default for Guard {
    fn default() -> Self {
        Self::new()
    }
}

impl Guard {
    /// The masked scheme ([`Csrf::default`]), header [`DEFAULT_HEADER`], form field
    /// [`DEFAULT_FORM_FIELD`], body limit [`DEFAULT_BODY_LIMIT`], no exempt paths.
    pub fn new() -> Self {
        Self {
            csrf: Csrf::default(),
            header: http::HeaderName::from_static(DEFAULT_HEADER),
            form_field: DEFAULT_FORM_FIELD.to_owned(),
            body_limit: DEFAULT_BODY_LIMIT,
            exempt_paths: Vec::new(),
            exempt_prefixes: Vec::new(),
        }
    }

    /// Uses another scheme or session key, e.g. [`Csrf::node_compatible`].
    pub fn with_csrf(mut self, csrf: Csrf) -> Self {
        self.csrf = csrf;
        self
    }

    /// Reads the token from another header.
    pub fn with_header(mut self, header: http::HeaderName) -> Self {
        self.header = header;
        self
    }

    /// Reads the token from another form field.
    pub fn with_form_field(mut self, field: impl Into<String>) -> Self {
        self.form_field = field.into();
        self
    }

    /// Buffers form bodies up to `bytes` (larger ones are refused).
    pub fn with_body_limit(mut self, bytes: usize) -> Self {
        self.body_limit = bytes;
        self
    }

    /// Lets unsafe requests to exactly `path` through without a token (e.g. a webhook that
    /// authenticates itself).
    pub fn exempt_path(mut self, path: impl Into<String>) -> Self {
        self.exempt_paths.push(path.into());
        self
    }

    /// Lets unsafe requests to every path that starts with `prefix` through without a token.
    pub fn exempt_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.exempt_prefixes.push(prefix.into());
        self
    }

    /// The token scheme and session key.
    pub fn csrf(&self) -> &Csrf {
        &self.csrf
    }

    /// The header that carries the token.
    pub fn header(&self) -> &http::HeaderName {
        &self.header
    }

    /// How many bytes of a form body may be read to find the token.
    pub fn body_limit(&self) -> usize {
        self.body_limit
    }

    /// Whether a request with `method` to `path` must carry a valid token: methods that must not
    /// change state (RFC 9110 §9.2.1) and exempt paths need none.
    pub fn needs_token(&self, method: &str, path: &str) -> bool {
        let safe = matches!(method, "GET" | "HEAD" | "OPTIONS" | "TRACE");
        let exempt = self.exempt_paths.iter().any(|exempt| exempt == path)
            || self
                .exempt_prefixes
                .iter()
                .any(|prefix| path.starts_with(prefix.as_str()));
        !safe && !exempt
    }

    /// Whether a `Content-Type` value names a urlencoded form, the one body the token is read
    /// from (JSON and multipart clients send the header).
    pub fn is_form(content_type: Option<&[u8]>) -> bool {
        content_type
            .and_then(|value| std::str::from_utf8(value).ok())
            .and_then(|value| value.split(';').next())
            .is_some_and(|essence| {
                essence
                    .trim()
                    .eq_ignore_ascii_case("application/x-www-form-urlencoded")
            })
    }

    /// The token in a urlencoded form body; empty (which never verifies) when it has none.
    pub fn form_token(&self, body: &[u8]) -> String {
        form_urlencoded::parse(body)
            .find(|(name, _)| name == self.form_field.as_str())
            .map(|(_, value)| value.into_owned())
            .unwrap_or_default()
    }
}

/// The npm `csrf` package's scheme (versions 2.x and 3.x produce identical tokens), used by
/// koa-atomic-session and koa-csrf.
///
/// - secret: 18 random bytes, base64url without padding (24 characters; `uid-safe`);
/// - token: `salt + "-" + base64url_nopad(SHA1(salt + "-" + secret))`, where the salt is 8
///   characters from `[A-Za-z0-9]` (the package draws them with `Math.random`; this module uses
///   the OS generator). The hash input is the string in Node's `"ascii"` encoding: the low byte
///   of each UTF-16 code unit, which is plain ASCII for every token either side issues;
/// - verify: split at the first `-`, recompute with that salt, compare the whole token in
///   constant time. An empty secret never verifies.
///
/// ```
/// use sessile::csrf::node;
///
/// // A vector produced by the npm package (tests/node-csrf/vectors.json).
/// let token = node::tokenize("kT3Lz0J0X4u1a4a9mSdwZt1Q", "abcdEFGH");
/// assert_eq!(token, "abcdEFGH-QB0jrgmMTTRXCqe6_e5LgJ2xy3w");
/// assert!(node::verify("kT3Lz0J0X4u1a4a9mSdwZt1Q", &token));
/// assert!(!node::verify("another secret", &token));
/// ```
pub mod node {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;
    use rand::distributions::Alphanumeric;
    use rand::rngs::OsRng;
    use rand::{Rng, RngCore};
    use sha1::{Digest, Sha1};
    use subtle::ConstantTimeEq;

    /// The package's default salt length, in characters.
    pub(crate) const SALT_LEN: usize = 8;
    /// The package's default secret length, in random bytes (24 characters encoded).
    pub(crate) const SECRET_BYTES: usize = 18;

    /// A fresh secret as `csrf`'s `secretSync()` makes it.
    pub fn generate_secret() -> String {
        let mut bytes = [0u8; SECRET_BYTES];
        OsRng.fill_bytes(&mut bytes);
        URL_SAFE_NO_PAD.encode(bytes)
    }

    /// A fresh token for `secret` with a random salt, as `csrf`'s `create(secret)` makes it.
    pub fn create_token(secret: &str) -> String {
        let salt: String = OsRng
            .sample_iter(&Alphanumeric)
            .take(SALT_LEN)
            .map(char::from)
            .collect();
        tokenize(secret, &salt)
    }

    /// The token for `secret` with a given salt: `salt-base64url(SHA1(salt-secret))`.
    pub fn tokenize(secret: &str, salt: &str) -> String {
        let mut hasher = Sha1::new();
        for part in [salt, "-", secret] {
            hasher.update(node_ascii(part));
        }
        let hash = URL_SAFE_NO_PAD.encode(hasher.finalize());
        format!("{salt}-{hash}")
    }

    /// Whether `token` is valid for `secret`, exactly as `csrf`'s `verify(secret, token)` decides.
    pub fn verify(secret: &str, token: &str) -> bool {
        if secret.is_empty() {
            return false;
        }
        let Some((salt, _)) = token.split_once('-') else {
            return false;
        };
        let expected = tokenize(secret, salt);
        bool::from(token.as_bytes().ct_eq(expected.as_bytes()))
    }

    /// Node's `"ascii"` string encoding, which keeps the low byte of every UTF-16 code unit.
    fn node_ascii(text: &str) -> Vec<u8> {
        text.encode_utf16()
            .map(|unit| unit.to_le_bytes()[0])
            .collect()
    }
}
