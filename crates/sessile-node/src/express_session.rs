//! express-session 1.19's session cookie: `s:<id>.<signature>`, URL-encoded.
//!
//! The signature is `cookie-signature`'s: HMAC-SHA256 over the session id with the secret, in
//! standard base64 (so `+` and `/` appear) with the trailing `=` removed. The whole value goes
//! through `encodeURIComponent`, so the header shows `connect.sid=s%3A<id>.<sig>`. The app holds a
//! secret list: it signs with the first and accepts any. Unlike Koa, reading never writes a
//! header, and a cookie signed with an older secret is not re-signed until the session's cookie is
//! sent again for another reason.
//!
//! ```
//! use sessile_node::express_session::{read_session_id, CookieOptions, Secrets};
//!
//! let secrets = Secrets::new(["keyboard cat"])?;
//! let header = secrets.set_cookie_header("connect.sid", "abc", &CookieOptions::default())?;
//! assert!(header.starts_with("connect.sid=s%3Aabc."));
//! assert!(header.ends_with("; Path=/; HttpOnly"));
//!
//! let cookie = header.split(';').next().unwrap();
//! assert_eq!(read_session_id(cookie, "connect.sid", &secrets).as_deref(), Some("abc"));
//! let rotated = Secrets::new(["new secret", "keyboard cat"])?;
//! assert_eq!(read_session_id(cookie, "connect.sid", &rotated).as_deref(), Some("abc"));
//! assert_eq!(read_session_id(cookie, "connect.sid", &Secrets::new(["other"])?), None);
//! # Ok::<(), sessile_node::Error>(())
//! ```

use base64::engine::general_purpose::STANDARD_NO_PAD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::{is_valid_domain, is_valid_path, to_utc_string, Error, Priority, SameSite};

/// express-session's default cookie name.
pub const DEFAULT_COOKIE_NAME: &str = "connect.sid";

/// What `encodeURIComponent` leaves alone: `A-Z a-z 0-9 - _ . ! ~ * ' ( )`.
const URI_COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'!')
    .remove(b'~')
    .remove(b'*')
    .remove(b'\'')
    .remove(b'(')
    .remove(b')');

/// `cookie-signature`'s `sign(value, secret)`: `value + "." + signature`.
///
/// ```
/// let signed = sessile_node::express_session::sign("abc", b"secret");
/// assert!(signed.starts_with("abc."));
/// assert_eq!(signed.len(), "abc.".len() + 43);
/// ```
pub fn sign(value: &str, secret: &[u8]) -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret)
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(value.as_bytes());
    format!(
        "{value}.{}",
        STANDARD_NO_PAD.encode(mac.finalize().into_bytes())
    )
}

/// `cookie-signature`'s `unsign(signed, secret)`: the value before the last `.` when the whole
/// input equals `sign(value, secret)`, compared in constant time; `None` where the package
/// returns `false` (no `.`, wrong signature, padding left on, ...).
///
/// ```
/// use sessile_node::express_session::{sign, unsign};
/// assert_eq!(unsign(&sign("a.b", b"s"), b"s").as_deref(), Some("a.b"));
/// assert_eq!(unsign(&sign("a.b", b"s"), b"t"), None);
/// assert_eq!(unsign("no-dot", b"s"), None);
/// ```
pub fn unsign(signed: &str, secret: &[u8]) -> Option<String> {
    let (value, _) = signed.rsplit_once('.')?;
    let expected = sign(value, secret);
    bool::from(expected.as_bytes().ct_eq(signed.as_bytes())).then(|| value.to_owned())
}

/// express-session's `secret` option: one or more secrets, the first signs, any verifies.
#[derive(Clone)]
pub struct Secrets(Vec<Vec<u8>>);

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Secrets([{} redacted])", self.0.len())
    }
}

impl Secrets {
    /// A secret list, newest first; [`Error::NoSecrets`] when empty (express-session rejects an
    /// empty array).
    pub fn new<I, S>(secrets: I) -> Result<Self, Error>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<[u8]>,
    {
        let secrets: Vec<Vec<u8>> = secrets.into_iter().map(|s| s.as_ref().to_vec()).collect();
        if secrets.is_empty() {
            return Err(Error::NoSecrets);
        }
        Ok(Self(secrets))
    }

    /// `s:<id>.<sig>` signed with the first secret, before URL-encoding.
    pub fn signed_value(&self, session_id: &str) -> String {
        format!("s:{}", sign(session_id, &self.0[0]))
    }

    /// The cookie value as it appears in the header: [`Secrets::signed_value`] through
    /// `encodeURIComponent` (`s%3A...`, `+` → `%2B`, `/` → `%2F`).
    pub fn cookie_value(&self, session_id: &str) -> String {
        utf8_percent_encode(&self.signed_value(session_id), URI_COMPONENT).to_string()
    }

    /// express-session's `unsigncookie`: the id from the part after `s:`, verified against each
    /// secret in turn.
    pub fn unsign(&self, signed: &str) -> Option<String> {
        self.unsign_with_index(signed).map(|(id, _)| id)
    }

    /// [`Secrets::unsign`], also saying which secret verified it (0 = the one that signs).
    pub fn unsign_with_index(&self, signed: &str) -> Option<(String, usize)> {
        self.0
            .iter()
            .enumerate()
            .find_map(|(index, secret)| unsign(signed, secret).map(|id| (id, index)))
    }

    /// The `Set-Cookie` value express-session writes for `session_id`: `cookie.serialize(name,
    /// 's:' + sign(id, secret[0]), req.session.cookie)`.
    pub fn set_cookie_header(
        &self,
        name: &str,
        session_id: &str,
        options: &CookieOptions,
    ) -> Result<String, Error> {
        if name.is_empty() || !name.bytes().all(is_token_byte) {
            return Err(Error::InvalidName);
        }
        let mut header = format!("{name}={}", self.cookie_value(session_id));
        if let Some(domain) = options.domain.as_deref().filter(|d| !d.is_empty()) {
            if !is_valid_domain(domain) {
                return Err(Error::InvalidDomain);
            }
            header.push_str("; Domain=");
            header.push_str(domain);
        }
        if let Some(path) = options.path.as_deref().filter(|p| !p.is_empty()) {
            if !is_valid_path(path) {
                return Err(Error::InvalidPath);
            }
            header.push_str("; Path=");
            header.push_str(path);
        }
        if let Some(expires) = options.expires_ms {
            header.push_str("; Expires=");
            header.push_str(&to_utc_string(expires));
        }
        if options.http_only {
            header.push_str("; HttpOnly");
        }
        if options.secure {
            header.push_str("; Secure");
        }
        if options.partitioned {
            header.push_str("; Partitioned");
        }
        if let Some(priority) = options.priority {
            header.push_str(match priority {
                Priority::Low => "; Priority=Low",
                Priority::Medium => "; Priority=Medium",
                Priority::High => "; Priority=High",
            });
        }
        if let Some(same_site) = options.same_site {
            header.push_str(match same_site {
                SameSite::Strict => "; SameSite=Strict",
                SameSite::Lax => "; SameSite=Lax",
                SameSite::None => "; SameSite=None",
            });
        }
        Ok(header)
    }
}

/// RFC 7230 token characters, the cookie package's `cookieNameRegExp`.
fn is_token_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&byte)
}

/// The attributes of express-session's cookie (`req.session.cookie`). The default is
/// express-session's: `Path=/; HttpOnly`, no expiry (a browser-session cookie).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CookieOptions {
    /// `Domain`.
    pub domain: Option<String>,
    /// `Path`; `None` or empty writes none.
    pub path: Option<String>,
    /// `Expires`, absolute (ms since the epoch): express-session sets it to `now + maxAge`.
    pub expires_ms: Option<i64>,
    /// `HttpOnly`.
    pub http_only: bool,
    /// `Secure`.
    pub secure: bool,
    /// `Partitioned`.
    pub partitioned: bool,
    /// `Priority`.
    pub priority: Option<Priority>,
    /// `SameSite`.
    pub same_site: Option<SameSite>,
}

impl Default for CookieOptions {
    fn default() -> Self {
        Self {
            domain: None,
            path: Some("/".to_owned()),
            expires_ms: None,
            http_only: true,
            secure: false,
            partitioned: false,
            priority: None,
            same_site: None,
        }
    }
}

/// The `cookie` package's `parse` (0.7): every `name=value` pair of a `Cookie` header, the first
/// occurrence of a name winning, names and values trimmed of spaces and tabs, one pair of
/// surrounding double quotes removed, and values containing `%` passed through
/// `decodeURIComponent` (kept raw if that fails).
///
/// ```
/// use sessile_node::express_session::parse_cookie_header;
/// let pairs = parse_cookie_header("a=1; b=\"x%20y\"; a=2; junk; c=%zz");
/// assert_eq!(pairs, vec![
///     ("a".to_owned(), "1".to_owned()),
///     ("b".to_owned(), "x y".to_owned()),
///     ("c".to_owned(), "%zz".to_owned()),
/// ]);
/// ```
pub fn parse_cookie_header(header: &str) -> Vec<(String, String)> {
    let mut pairs: Vec<(String, String)> = Vec::new();
    for (key, value) in cookie_pairs(header) {
        if !pairs.iter().any(|(existing, _)| existing == key) {
            pairs.push((key.to_owned(), decode_value(value)));
        }
    }
    pairs
}

/// Every `name=value` pair of a `Cookie` header as the `cookie` package's `parse` walks it,
/// duplicates included, names trimmed, values raw (trimmed, quotes and encoding kept).
fn cookie_pairs(header: &str) -> impl Iterator<Item = (&str, &str)> {
    let len = header.len();
    let mut index = if len < 2 { len } else { 0 };
    std::iter::from_fn(move || {
        while index < len {
            let eq = find_from(header, b'=', index)?;
            let end = match find_from(header, b';', index) {
                None => len,
                Some(semicolon) if eq > semicolon => {
                    // The pair before has no `=`: resume after the last `;` ahead of this `=`.
                    index = header[..eq].rfind(';').map_or(0, |i| i + 1);
                    continue;
                }
                Some(semicolon) => semicolon,
            };
            let pair = (
                trim_space_tab(&header[index..eq]),
                trim_space_tab(&header[eq + 1..end]),
            );
            index = end + 1;
            return Some(pair);
        }
        None
    })
}

/// One value as `parse` hands it out: one pair of surrounding quotes removed, then
/// URL-decoded leniently.
fn decode_value(raw: &str) -> String {
    let mut value = raw;
    if value.starts_with('"') && value.ends_with('"') {
        // A lone `"` is both quotes at once: JavaScript's `slice(1, 0)` is "".
        value = value.get(1..value.len() - 1).unwrap_or("");
    }
    decode_uri_component_lenient(value)
}

fn find_from(text: &str, byte: u8, from: usize) -> Option<usize> {
    text.as_bytes()
        .get(from..)?
        .iter()
        .position(|b| *b == byte)
        .map(|i| i + from)
}

fn trim_space_tab(text: &str) -> &str {
    text.trim_matches([' ', '\t'])
}

/// `cookie`'s default `decode` inside its `tryDecode`: `decodeURIComponent` when the text has a
/// `%`, the raw text when decoding throws (a `%` without two hex digits, or bytes that are not
/// UTF-8).
fn decode_uri_component_lenient(text: &str) -> String {
    if !text.contains('%') {
        return text.to_owned();
    }
    let bytes = text.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|pair| std::str::from_utf8(pair).ok())
                .and_then(|pair| u8::from_str_radix(pair, 16).ok());
            let Some(byte) = hex else {
                return text.to_owned();
            };
            decoded.push(byte);
            i += 3;
        } else {
            decoded.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(decoded).unwrap_or_else(|_| text.to_owned())
}

/// The value of cookie `name` as express-session sees it in a `Cookie` header
/// ([`parse_cookie_header`]'s first occurrence, URL-decoded).
pub fn get_cookie(header: &str, name: &str) -> Option<String> {
    get_cookies(header, name).next()
}

/// Every value of cookie `name` in a `Cookie` header, in order, each decoded as [`get_cookie`]
/// decodes the first. express-session reads only the first; a sibling subdomain can plant one
/// ahead of the real cookie, so sessile's codec tries them all.
///
/// ```
/// use sessile_node::express_session::get_cookies;
/// let values: Vec<String> = get_cookies("connect.sid=junk; connect.sid=s%3Areal", "connect.sid").collect();
/// assert_eq!(values, ["junk", "s:real"]);
/// ```
pub fn get_cookies<'h>(header: &'h str, name: &'h str) -> impl Iterator<Item = String> + 'h {
    cookie_pairs(header)
        .filter(move |(key, _)| *key == name)
        .map(|(_, value)| decode_value(value))
}

/// The session id express-session takes from a `Cookie` header: the cookie must start with `s:`
/// and verify against one of the secrets. `None` when express-session would start a new session
/// (missing, unsigned, badly signed, or an empty id).
pub fn read_session_id(header: &str, name: &str, secrets: &Secrets) -> Option<String> {
    read_session_id_with_index(header, name, secrets).map(|(id, _)| id)
}

/// [`read_session_id`], also saying which secret verified the cookie (0 = the one that signs).
pub fn read_session_id_with_index(
    header: &str,
    name: &str,
    secrets: &Secrets,
) -> Option<(String, usize)> {
    unsign_session_cookie(&get_cookie(header, name)?, secrets)
}

/// The id in one decoded `connect.sid` value (`s:<id>.<sig>`) and the index of the secret that
/// verified it; `None` for an unsigned, badly signed or empty id.
pub fn unsign_session_cookie(value: &str, secrets: &Secrets) -> Option<(String, usize)> {
    secrets
        .unsign_with_index(value.strip_prefix("s:")?)
        .filter(|(id, _)| !id.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_follows_the_package_on_awkward_headers() {
        let pairs = |h: &str| parse_cookie_header(h);
        assert!(pairs("a").is_empty());
        assert_eq!(
            pairs("a=;b=2"),
            vec![("a".into(), "".into()), ("b".into(), "2".into())]
        );
        assert_eq!(pairs("junk; a = 1 "), vec![("a".into(), "1".into())]);
        assert_eq!(pairs("x;y;a=1"), vec![("a".into(), "1".into())]);
        assert_eq!(pairs("a=\""), vec![("a".into(), "".into())]);
        assert_eq!(pairs("a=%E2%98%83"), vec![("a".into(), "☃".into())]);
        assert_eq!(pairs("a=%C3"), vec![("a".into(), "%C3".into())]);
        assert_eq!(pairs("a=%ED%A0%80"), vec![("a".into(), "%ED%A0%80".into())]);
        assert_eq!(
            pairs("é=ü;a=1"),
            vec![("é".into(), "ü".into()), ("a".into(), "1".into())]
        );
    }

    #[test]
    fn unsign_refuses_padding_and_missing_prefix() {
        let secrets = Secrets::new(["s"]).unwrap();
        let signed = sign("id", b"s");
        assert_eq!(secrets.unsign(&signed).as_deref(), Some("id"));
        assert_eq!(secrets.unsign(&format!("{signed}=")), None);
        let header = format!("connect.sid={}", signed);
        assert_eq!(read_session_id(&header, "connect.sid", &secrets), None);
        let empty_id = format!("connect.sid=s:{}", sign("", b"s"));
        assert_eq!(read_session_id(&empty_id, "connect.sid", &secrets), None);
        assert!(Secrets::new(Vec::<&str>::new()).is_err());
    }

    #[test]
    fn encode_uri_component_set() {
        let secrets = Secrets::new(["s"]).unwrap();
        let value = secrets.cookie_value("a-_.!~*'()é /+");
        assert!(
            value.starts_with("s%3Aa-_.!~*'()%C3%A9%20%2F%2B."),
            "{value}"
        );
    }
}
