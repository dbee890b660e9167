//! Koa signed cookies, as the `keygrip` 1.1 and `cookies` 0.9 packages make them.
//!
//! Koa signs a cookie `NAME=VALUE` by sending a second cookie `NAME.sig` whose value is an HMAC
//! (SHA-1 unless the app built its own `Keygrip` with another algorithm) over the exact string
//! `NAME=VALUE`, base64url without padding. The app holds a key list: it signs with the first key
//! and accepts a signature made with any key. When reading, `cookies.get` also *writes*:
//!
//! - a signature made with a key other than the first → the `.sig` cookie is re-issued, signed with
//!   the first key, with only the default attributes (`path=/; httponly`, plus `secure` on HTTPS):
//!   no `expires`, no `domain`, no `samesite`, whatever the original cookie had;
//! - a signature no key matches → a `.sig` removal cookie
//!   (`NAME.sig=; path=/; expires=Thu, 01 Jan 1970 00:00:00 GMT; httponly`); the main cookie stays.
//!
//! [`KoaCookies::get_signed`] returns the verified value together with those headers, so a Rust
//! app can behave exactly like the Node app it runs beside.
//!
//! ```
//! use sessile_node::keygrip::{CookieOptions, KoaCookies, Keygrip};
//!
//! let node_side = KoaCookies::new(Keygrip::new(["old key"])?, false);
//! let headers = node_side.set("koa.sess", "abc", &CookieOptions::default(), 0)?;
//! assert_eq!(headers[0], "koa.sess=abc; path=/; httponly");
//!
//! // The Rust side has rotated: it signs with "new key" and still accepts "old key".
//! let rust_side = KoaCookies::new(Keygrip::new(["new key", "old key"])?, false);
//! let sig = headers[1].split(';').next().unwrap();
//! let read = rust_side.get_signed(&format!("koa.sess=abc; {sig}"), "koa.sess");
//! assert_eq!(read.value.as_deref(), Some("abc"));
//! assert_eq!(read.key_index, Some(1));
//! assert_eq!(read.set_cookies.len(), 1); // the re-signed koa.sess.sig
//! # Ok::<(), sessile_node::Error>(())
//! ```

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use subtle::ConstantTimeEq;

use crate::{is_valid_domain, is_valid_path, to_utc_string, Error, Priority, SameSite};

/// How many cookies of one name (and how many `.sig` cookies) [`KoaCookies::verified`] tries.
/// Browsers send one per matching domain and path: a handful at most.
pub const MAX_CANDIDATES: usize = 8;

/// The `expires` text of every removal cookie Node writes.
pub const EPOCH_UTC_STRING: &str = "Thu, 01 Jan 1970 00:00:00 GMT";

/// The HMAC hash a [`Keygrip`] signs with. An array of keys given to Koa (`app.keys = [...]`)
/// always means SHA-1; SHA-256 only when the app passes `new Keygrip(keys, 'sha256')`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum Algorithm {
    /// `sha1`, keygrip's default: 27-character signatures.
    #[default]
    Sha1,
    /// `sha256`: 43-character signatures.
    Sha256,
}

/// A rotating key list, as `new Keygrip(keys, algorithm)`: signs with the first key, verifies
/// against all of them.
///
/// ```
/// use sessile_node::keygrip::Keygrip;
/// let keys = Keygrip::new(["k2", "k1"])?;
/// let old = Keygrip::new(["k1"])?;
/// let signature = old.sign("koa.sess=abc");
/// assert_eq!(signature.len(), 27);
/// assert_eq!(keys.index("koa.sess=abc", &signature), Some(1));
/// assert!(!keys.verify("koa.sess=abd", &signature));
/// # Ok::<(), sessile_node::Error>(())
/// ```
#[derive(Clone)]
pub struct Keygrip {
    keys: Vec<Vec<u8>>,
    algorithm: Algorithm,
}

impl std::fmt::Debug for Keygrip {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keygrip")
            .field("keys", &format_args!("[{} redacted]", self.keys.len()))
            .field("algorithm", &self.algorithm)
            .finish()
    }
}

impl Keygrip {
    /// A SHA-1 key list, newest key first. Keys are used as their UTF-8 (or raw) bytes, as Node's
    /// `crypto.createHmac` uses a string key. Fails with [`Error::NoKeys`] on an empty list, as
    /// keygrip throws `Keys must be provided.`.
    pub fn new<I, K>(keys: I) -> Result<Self, Error>
    where
        I: IntoIterator<Item = K>,
        K: AsRef<[u8]>,
    {
        Self::with_algorithm(keys, Algorithm::Sha1)
    }

    /// A key list signing with `algorithm`.
    pub fn with_algorithm<I, K>(keys: I, algorithm: Algorithm) -> Result<Self, Error>
    where
        I: IntoIterator<Item = K>,
        K: AsRef<[u8]>,
    {
        let keys: Vec<Vec<u8>> = keys.into_iter().map(|k| k.as_ref().to_vec()).collect();
        if keys.is_empty() {
            return Err(Error::NoKeys);
        }
        Ok(Self { keys, algorithm })
    }

    /// The hash this key list signs with.
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// How many keys the list holds.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Always false: a key list is never empty.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// `keygrip.sign(data)`: the signature of `data` with the first key.
    pub fn sign(&self, data: &str) -> String {
        sign_with(&self.keys[0], self.algorithm, data.as_bytes())
    }

    /// `keygrip.verify(data, digest)`: whether any key signed `data` as `digest`.
    pub fn verify(&self, data: &str, digest: &str) -> bool {
        self.index(data, digest).is_some()
    }

    /// `keygrip.index(data, digest)`: the position of the first key whose signature of `data` is
    /// `digest`, compared in constant time. `None` where keygrip returns -1.
    pub fn index(&self, data: &str, digest: &str) -> Option<usize> {
        self.keys.iter().position(|key| {
            let expected = sign_with(key, self.algorithm, data.as_bytes());
            bool::from(expected.as_bytes().ct_eq(digest.as_bytes()))
        })
    }
}

fn sign_with(key: &[u8], algorithm: Algorithm, data: &[u8]) -> String {
    match algorithm {
        Algorithm::Sha1 => URL_SAFE_NO_PAD.encode(hmac_digest::<Hmac<sha1::Sha1>>(key, data)),
        Algorithm::Sha256 => URL_SAFE_NO_PAD.encode(hmac_digest::<Hmac<sha2::Sha256>>(key, data)),
    }
}

fn hmac_digest<M: Mac + hmac::digest::KeyInit>(key: &[u8], data: &[u8]) -> Vec<u8> {
    // HMAC accepts keys of every length, so this cannot fail.
    let mut mac = <M as hmac::digest::KeyInit>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

/// `cookies.get(name)` without signature: the value of the first `NAME=` in a `Cookie` header,
/// found as the package's regexp `(?:^|;) *NAME=([^;]*)` finds it. A value starting with `"` loses
/// its first and last character; nothing is URL-decoded.
///
/// ```
/// use sessile_node::keygrip::get_cookie;
/// assert_eq!(get_cookie("a=1; koa.sess=\"x%20y\"; koa.sess=2", "koa.sess"), Some("x%20y"));
/// assert_eq!(get_cookie("xkoa.sess=1", "koa.sess"), None);
/// ```
pub fn get_cookie<'h>(cookie_header: &'h str, name: &str) -> Option<&'h str> {
    get_cookies(cookie_header, name).next()
}

/// Whether a `Cookie` header carries a non-empty `NAME.sig`. Without one, koa's
/// `cookies.get(name, { signed: true })` answers `undefined` and sets nothing: the cookie counts
/// as absent, where a wrong signature is refused (and its `NAME.sig` removed).
///
/// ```
/// use sessile_node::keygrip::signature_presented;
/// assert!(signature_presented("koa.sid=abc; koa.sid.sig=xyz", "koa.sid"));
/// assert!(!signature_presented("koa.sid=abc; koa.sid.sig=", "koa.sid"));
/// assert!(!signature_presented("koa.sid=abc", "koa.sid"));
/// ```
pub fn signature_presented(cookie_header: &str, name: &str) -> bool {
    get_cookies(cookie_header, &format!("{name}.sig")).any(|signature| !signature.is_empty())
}

/// Every value of `name` in a `Cookie` header, in order, each found as [`get_cookie`] finds the
/// first. Node reads only the first; a sibling subdomain can plant one ahead of the real cookie,
/// so sessile's codecs try them all ([`KoaCookies::verified`]).
///
/// ```
/// use sessile_node::keygrip::get_cookies;
/// let values: Vec<&str> = get_cookies("koa.sess=junk; a=1; koa.sess=real", "koa.sess").collect();
/// assert_eq!(values, ["junk", "real"]);
/// ```
pub fn get_cookies<'h>(cookie_header: &'h str, name: &str) -> impl Iterator<Item = &'h str> {
    let bytes = cookie_header.as_bytes();
    let starts = std::iter::once(0).chain(
        bytes
            .iter()
            .enumerate()
            .filter(|(_, b)| **b == b';')
            .map(|(i, _)| i + 1),
    );
    let name = name.to_owned();
    starts.filter_map(move |start| {
        let rest = cookie_header[start..].trim_start_matches(' ');
        let value_and_more = rest.strip_prefix(name.as_str())?.strip_prefix('=')?;
        let value = value_and_more
            .split_once(';')
            .map_or(value_and_more, |(value, _)| value);
        Some(strip_quotes(value))
    })
}

/// `value.slice(1, -1)` when the value starts with a double quote, whatever it ends with.
fn strip_quotes(value: &str) -> &str {
    match value.strip_prefix('"') {
        Some(inner) => {
            let mut chars = inner.chars();
            chars.next_back();
            chars.as_str()
        }
        None => value,
    }
}

/// What `ctx.cookies.get(name, { signed: true })` gives and writes for one `Cookie` header.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SignedRead {
    /// The cookie's value when a key verified it (quotes stripped, not URL-decoded); `None` when
    /// the cookie, its `.sig` cookie, or a matching key is missing.
    pub value: Option<String>,
    /// Which key verified it (0 = the current key).
    pub key_index: Option<usize>,
    /// `Set-Cookie` header values Node emits while reading: a re-signed `.sig` cookie when an
    /// older key matched, a `.sig` removal cookie when none did, nothing otherwise.
    pub set_cookies: Vec<String>,
}

/// Attributes for [`KoaCookies::set`], the options object of `cookies.set(name, value, opts)`.
/// The default is the `Cookie` prototype's: `path=/`, `httponly`, no expiry (a browser-session
/// cookie), `secure` following the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CookieOptions {
    /// `maxAge` in milliseconds: written as `expires = now + max_age` (never as `Max-Age`). Zero
    /// means none, as in Node.
    pub max_age_ms: Option<i64>,
    /// An absolute `expires` (ms since the epoch); `max_age_ms` overrides it.
    pub expires_ms: Option<i64>,
    /// `path`; `None` or empty writes no path attribute.
    pub path: Option<String>,
    /// `domain`.
    pub domain: Option<String>,
    /// `priority`.
    pub priority: Option<Priority>,
    /// `sameSite`.
    pub same_site: Option<SameSite>,
    /// `secure`: `None` follows the request (HTTPS → `secure`).
    pub secure: Option<bool>,
    /// `httpOnly`.
    pub http_only: bool,
    /// `partitioned`.
    pub partitioned: bool,
    /// `signed`: also write the `.sig` cookie (true by default, as when Koa has keys).
    pub signed: bool,
}

impl Default for CookieOptions {
    fn default() -> Self {
        Self {
            max_age_ms: None,
            expires_ms: None,
            path: Some("/".to_owned()),
            domain: None,
            priority: None,
            same_site: None,
            secure: None,
            http_only: true,
            partitioned: false,
            signed: true,
        }
    }
}

/// One request's `ctx.cookies`, as Koa builds it: `new Cookies(req, res, { keys: app.keys,
/// secure: ctx.request.secure })`.
#[derive(Debug, Clone)]
pub struct KoaCookies {
    keys: Keygrip,
    secure_request: bool,
}

impl KoaCookies {
    /// Cookies for a request; `secure_request` is whether it came over HTTPS (Koa's
    /// `ctx.request.secure`), which decides the default `secure` attribute.
    pub fn new(keys: Keygrip, secure_request: bool) -> Self {
        Self {
            keys,
            secure_request,
        }
    }

    /// The key list.
    pub fn keys(&self) -> &Keygrip {
        &self.keys
    }

    /// `ctx.cookies.get(name, { signed: true })`: the verified value of `name` in a `Cookie`
    /// header and the `Set-Cookie` headers Node would emit while reading it.
    pub fn get_signed(&self, cookie_header: &str, name: &str) -> SignedRead {
        let Some(value) = get_cookie(cookie_header, name) else {
            return SignedRead::default();
        };
        let sig_name = format!("{name}.sig");
        let remote = match get_cookie(cookie_header, &sig_name) {
            Some(remote) if !remote.is_empty() => remote,
            _ => return SignedRead::default(),
        };
        let data = format!("{name}={value}");
        let secure = self.secure_attribute();
        match self.keys.index(&data, remote) {
            None => SignedRead {
                value: None,
                key_index: None,
                set_cookies: vec![default_attributes_header(&sig_name, "", secure)],
            },
            Some(0) => SignedRead {
                value: Some(value.to_owned()),
                key_index: Some(0),
                set_cookies: Vec::new(),
            },
            Some(index) => SignedRead {
                value: Some(value.to_owned()),
                key_index: Some(index),
                set_cookies: vec![default_attributes_header(
                    &sig_name,
                    &self.keys.sign(&data),
                    secure,
                )],
            },
        }
    }

    /// Every value of `name` that one of the header's `NAME.sig` values verifies, in the order
    /// the client sent them, with the index of the key that verified it. Node reads only the
    /// first `NAME` and the first `NAME.sig`; a planted pair ahead of the real one would hide
    /// it, so sessile's codecs try every pair (at most [`MAX_CANDIDATES`] of each name).
    ///
    /// ```
    /// use sessile_node::keygrip::{CookieOptions, KoaCookies, Keygrip};
    /// let cookies = KoaCookies::new(Keygrip::new(["key"])?, false);
    /// let sig = cookies.set("koa.sid", "real", &CookieOptions::default(), 0)?[1].clone();
    /// let sig = sig.split(';').next().unwrap();
    /// let header = format!("koa.sid=junk; koa.sid.sig=junk; koa.sid=real; {sig}");
    /// let verified: Vec<(&str, usize)> = cookies.verified(&header, "koa.sid").collect();
    /// assert_eq!(verified, [("real", 0)]);
    /// # Ok::<(), sessile_node::Error>(())
    /// ```
    pub fn verified<'h>(
        &'h self,
        cookie_header: &'h str,
        name: &'h str,
    ) -> impl Iterator<Item = (&'h str, usize)> + 'h {
        let signatures: Vec<&str> = get_cookies(cookie_header, &format!("{name}.sig"))
            .filter(|signature| !signature.is_empty())
            .take(MAX_CANDIDATES)
            .collect();
        get_cookies(cookie_header, name)
            .take(MAX_CANDIDATES)
            .filter_map(move |value| {
                let data = format!("{name}={value}");
                signatures
                    .iter()
                    .find_map(|signature| self.keys.index(&data, signature))
                    .map(|index| (value, index))
            })
    }

    /// `ctx.cookies.set(name, value, opts)`: the `Set-Cookie` header values, the main cookie
    /// first and (when `opts.signed`) its `.sig` cookie second, with the same attributes. An empty
    /// value is a removal: `expires` becomes the epoch. `now_ms` is Node's `Date.now()`.
    pub fn set(
        &self,
        name: &str,
        value: &str,
        opts: &CookieOptions,
        now_ms: i64,
    ) -> Result<Vec<String>, Error> {
        if !is_field_content(name) || name.contains([';', '=']) {
            return Err(Error::InvalidName);
        }
        if !value.is_empty() && (!is_field_content(value) || value.contains(';')) {
            return Err(Error::InvalidValue);
        }
        if let Some(path) = opts.path.as_deref() {
            if !is_valid_path(path) {
                return Err(Error::InvalidPath);
            }
        }
        if let Some(domain) = opts.domain.as_deref().filter(|d| !d.is_empty()) {
            if !is_valid_domain(domain) {
                return Err(Error::InvalidDomain);
            }
        }
        if opts.secure == Some(true) && !self.secure_attribute() {
            return Err(Error::SecureOverHttp);
        }
        let secure = opts.secure.unwrap_or_else(|| self.secure_attribute());
        let expires_ms = if value.is_empty() {
            Some(0)
        } else {
            match opts.max_age_ms {
                Some(max_age) if max_age != 0 => Some(now_ms.saturating_add(max_age)),
                _ => opts.expires_ms,
            }
        };
        let attributes = |cookie: String| {
            let mut header = cookie;
            if let Some(path) = opts.path.as_deref().filter(|p| !p.is_empty()) {
                header.push_str("; path=");
                header.push_str(path);
            }
            if let Some(expires) = expires_ms {
                header.push_str("; expires=");
                header.push_str(&to_utc_string(expires));
            }
            if let Some(domain) = opts.domain.as_deref().filter(|d| !d.is_empty()) {
                header.push_str("; domain=");
                header.push_str(domain);
            }
            if let Some(priority) = opts.priority {
                header.push_str(match priority {
                    Priority::Low => "; priority=low",
                    Priority::Medium => "; priority=medium",
                    Priority::High => "; priority=high",
                });
            }
            if let Some(same_site) = opts.same_site {
                header.push_str(match same_site {
                    SameSite::Strict => "; samesite=strict",
                    SameSite::Lax => "; samesite=lax",
                    SameSite::None => "; samesite=none",
                });
            }
            if secure {
                header.push_str("; secure");
            }
            if opts.http_only {
                header.push_str("; httponly");
            }
            if opts.partitioned {
                header.push_str("; partitioned");
            }
            header
        };
        let main = format!("{name}={value}");
        let mut headers = vec![attributes(main.clone())];
        if opts.signed {
            headers.push(attributes(format!("{name}.sig={}", self.keys.sign(&main))));
        }
        Ok(headers)
    }

    /// The `secure` attribute `cookies` uses when the options do not say: HTTPS or not.
    /// The one `Set-Cookie` header `cookies.get` emits when `NAME=value` verified under an older
    /// key: `NAME.sig` signed with the first key, with the `Cookie` prototype's attributes only
    /// (`path=/`, `httponly`, `secure` on HTTPS; no `expires`, no `domain`). The main cookie is
    /// not sent again.
    ///
    /// ```
    /// use sessile_node::keygrip::{KoaCookies, Keygrip};
    /// let cookies = KoaCookies::new(Keygrip::new(["new", "old"])?, false);
    /// let header = cookies.resigned("koa.sid", "abc");
    /// assert!(header.starts_with("koa.sid.sig="));
    /// assert!(header.ends_with("; path=/; httponly"));
    /// # Ok::<(), sessile_node::Error>(())
    /// ```
    pub fn resigned(&self, name: &str, value: &str) -> String {
        let signature = self.keys.sign(&format!("{name}={value}"));
        default_attributes_header(&format!("{name}.sig"), &signature, self.secure_attribute())
    }

    /// The header `cookies.get` emits for a `NAME.sig` no key verifies: the signature cookie
    /// removed, with the `Cookie` prototype's attributes (the main cookie stays).
    ///
    /// ```
    /// use sessile_node::keygrip::{KoaCookies, Keygrip};
    /// let cookies = KoaCookies::new(Keygrip::new(["k1"])?, false);
    /// assert_eq!(
    ///     cookies.rejected("koa.sid"),
    ///     "koa.sid.sig=; path=/; expires=Thu, 01 Jan 1970 00:00:00 GMT; httponly"
    /// );
    /// # Ok::<(), sessile_node::Error>(())
    /// ```
    pub fn rejected(&self, name: &str) -> String {
        default_attributes_header(&format!("{name}.sig"), "", self.secure_attribute())
    }

    fn secure_attribute(&self) -> bool {
        self.secure_request
    }
}

/// A cookie written with `{ signed: false }` only, i.e. the `Cookie` prototype's attributes.
fn default_attributes_header(name: &str, value: &str, secure: bool) -> String {
    let mut header = format!("{name}={value}; path=/");
    if value.is_empty() {
        header.push_str("; expires=");
        header.push_str(EPOCH_UTC_STRING);
    }
    if secure {
        header.push_str("; secure");
    }
    header.push_str("; httponly");
    header
}

/// RFC 7230 field-content as `cookies` checks it: tab, 0x20..=0x7E and 0x80..=0xFF.
fn is_field_content(text: &str) -> bool {
    !text.is_empty()
        && text
            .chars()
            .all(|c| matches!(c, '\t' | '\u{20}'..='\u{7e}' | '\u{80}'..='\u{ff}'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn get_cookie_follows_the_regexp() {
        assert_eq!(get_cookie("a=1", "a"), Some("1"));
        assert_eq!(get_cookie("b=2;a=1", "a"), Some("1"));
        assert_eq!(get_cookie("b=2;   a=1 ;", "a"), Some("1 "));
        assert_eq!(get_cookie("b=2;\ta=1", "a"), None);
        assert_eq!(get_cookie("ba=2", "a"), None);
        assert_eq!(get_cookie("a.sig=2; a=1", "a"), Some("1"));
        assert_eq!(get_cookie("a=", "a"), Some(""));
        assert_eq!(get_cookie("a=\"", "a"), Some(""));
        assert_eq!(get_cookie("a=\"xé", "a"), Some("x"));
        assert_eq!(get_cookie("", "a"), None);
    }

    #[test]
    fn missing_or_empty_signature_reads_nothing_and_writes_nothing() {
        let cookies = KoaCookies::new(Keygrip::new(["k"]).unwrap(), false);
        assert_eq!(cookies.get_signed("a=1", "a"), SignedRead::default());
        assert_eq!(
            cookies.get_signed("a=1; a.sig=", "a"),
            SignedRead::default()
        );
    }

    #[test]
    fn bad_signature_removes_the_sig_cookie_with_secure_on_https() {
        let cookies = KoaCookies::new(Keygrip::new(["k"]).unwrap(), true);
        let read = cookies.get_signed("a=1; a.sig=bogus", "a");
        assert_eq!(read.value, None);
        assert_eq!(
            read.set_cookies,
            vec!["a.sig=; path=/; expires=Thu, 01 Jan 1970 00:00:00 GMT; secure; httponly"]
        );
    }

    #[test]
    fn set_rejects_what_cookies_rejects() {
        let cookies = KoaCookies::new(Keygrip::new(["k"]).unwrap(), false);
        let opts = CookieOptions::default();
        assert_eq!(cookies.set("a;b", "v", &opts, 0), Err(Error::InvalidName));
        assert_eq!(cookies.set("a", "v;w", &opts, 0), Err(Error::InvalidValue));
        assert_eq!(cookies.set("a", "v\n", &opts, 0), Err(Error::InvalidValue));
        let secure = CookieOptions {
            secure: Some(true),
            ..CookieOptions::default()
        };
        assert_eq!(
            cookies.set("a", "v", &secure, 0),
            Err(Error::SecureOverHttp)
        );
        assert!(Keygrip::new(Vec::<String>::new()).is_err());
    }
}
