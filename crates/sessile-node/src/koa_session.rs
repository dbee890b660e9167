//! koa-session 7 cookie mode: the whole session as base64 JSON in the `koa.sess` cookie.
//!
//! The cookie value is `base64(JSON.stringify(session))`, standard alphabet with `=` padding,
//! UTF-8 inside. The JSON holds the session's own keys except `isNew` and any key starting with
//! `_`, followed by the fields koa-session adds when it saves:
//!
//! - a number of milliseconds as maxAge (the default, one day): `"_expire": now + maxAge` and
//!   `"_maxAge": maxAge`, e.g. `{"user":"alice","_expire":1700086400000,"_maxAge":86400000}`;
//! - `maxAge: 'session'`: `"_session": true` and no expiry.
//!
//! Reading is lenient like the package: Node's base64 decoder skips characters outside both
//! alphabets and stops at `=`, invalid UTF-8 becomes U+FFFD, and anything that then fails to parse
//! as JSON is simply no session. A session whose numeric `_expire` lies before `now` is expired.
//! A value signed by the `.sig` cookie should be verified with
//! [`KoaCookies::get_signed`](crate::keygrip::KoaCookies::get_signed) first.
//!
//! ```
//! use serde_json::json;
//! use sessile_node::koa_session::{decode, encode, MaxAge};
//!
//! let now = 1_700_000_000_000;
//! let data = json!({ "user": "alice", "_csrf": "not persisted" });
//! let cookie = encode(data.as_object().unwrap(), MaxAge::Millis(86_400_000), now);
//! assert_eq!(
//!     String::from_utf8(base64::Engine::decode(
//!         &base64::engine::general_purpose::STANDARD, &cookie).unwrap()).unwrap(),
//!     r#"{"user":"alice","_expire":1700086400000,"_maxAge":86400000}"#
//! );
//!
//! let session = decode(&cookie, now).unwrap();
//! assert_eq!(session.data["user"], "alice");
//! assert_eq!(session.max_age, Some(MaxAge::Millis(86_400_000)));
//! assert!(decode(&cookie, now + 86_400_001).is_none()); // expired
//! assert!(decode("not base64 JSON!", now).is_none());
//! ```

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde_json::{Map, Value};

/// The default cookie name since koa-session 6 (5.x and earlier used `koa:sess`).
pub const DEFAULT_COOKIE_NAME: &str = "koa.sess";

/// koa-session's `ONE_DAY`: the lifetime written when no `maxAge` is configured.
pub const DEFAULT_MAX_AGE_MS: u64 = 86_400_000;

/// A koa-session `maxAge`: a number of milliseconds or `'session'` (a browser-session cookie,
/// stored as `"_session": true` with no expiry of its own).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MaxAge {
    /// Milliseconds; zero means the default ([`DEFAULT_MAX_AGE_MS`]), as in Node where `0` is
    /// falsy.
    Millis(u64),
    /// `'session'`.
    Session,
}

impl MaxAge {
    /// The lifetime koa-session writes for this setting: zero becomes one day.
    fn effective(self) -> Self {
        match self {
            MaxAge::Millis(0) => MaxAge::Millis(DEFAULT_MAX_AGE_MS),
            other => other,
        }
    }
}

/// A session read from a koa-session cookie.
#[derive(Debug, Clone, PartialEq)]
pub struct CookieSession {
    /// The session's persisted content: every stored key except `isNew` and keys starting with
    /// `_` (koa-session loads those onto the session object but never writes them back).
    pub data: Map<String, Value>,
    /// The lifetime restored from `_maxAge` (a positive whole number of ms) or `_session`;
    /// `None` when the cookie has neither (or an unusable `_maxAge`), i.e. the app's option (or
    /// the one-day default) applies on the next save.
    pub max_age: Option<MaxAge>,
    /// `_expire`: when the session expires, in ms since the epoch, if the cookie carries a
    /// numeric one. A session without it never expires on the Node side.
    pub expire_ms: Option<f64>,
}

/// Why [`decode_detailed`] found no session. koa-session creates a fresh session in every case;
/// the variants tell which of its events (`session:missed`, `session:expired`) fired, if any.
#[derive(Debug, Clone, PartialEq)]
pub enum DecodeError {
    /// The value is not base64 JSON (Node's `SyntaxError` path: silently a new session, no
    /// event), or it is JSON but not an object (see [`decode_detailed`]).
    Malformed,
    /// The JSON is falsy (`null`, `false`, `0`, `""`): koa-session's `session:missed`.
    Missed,
    /// `_expire` is before now: koa-session's `session:expired`.
    Expired {
        /// The stored `_expire`.
        expire_ms: f64,
    },
}

/// Encodes a session as koa-session's default `encode` does when saving at `now_ms`: user keys
/// (minus `isNew` and `_`-prefixed keys) in the map's order, then `_expire` and `_maxAge`, or
/// `_session` for [`MaxAge::Session`].
///
/// Node does not care about key order when reading; byte-identical output to Node's needs the
/// keys in the order the Node app set them (serde_json's `Map` iterates in sorted order unless its
/// `preserve_order` feature is on).
pub fn encode(data: &Map<String, Value>, max_age: MaxAge, now_ms: i64) -> String {
    STANDARD.encode(to_json(data, max_age, now_ms))
}

/// The JSON text inside a koa-session cookie (what [`encode`] base64-encodes).
pub fn to_json(data: &Map<String, Value>, max_age: MaxAge, now_ms: i64) -> String {
    let mut json = String::from("{");
    let persisted = data
        .iter()
        .filter(|(key, _)| !key.starts_with('_') && key.as_str() != "isNew");
    for (key, value) in persisted {
        if json.len() > 1 {
            json.push(',');
        }
        write_js_json(&mut json, &Value::from(key.as_str()));
        json.push(':');
        write_js_json(&mut json, value);
    }
    if json.len() > 1 {
        json.push(',');
    }
    match max_age.effective() {
        MaxAge::Millis(max_age) => {
            let max_age = i64::try_from(max_age).unwrap_or(i64::MAX);
            json.push_str(&format!(
                "\"_expire\":{},\"_maxAge\":{max_age}",
                now_ms.saturating_add(max_age)
            ));
        }
        MaxAge::Session => json.push_str("\"_session\":true"),
    }
    json.push('}');
    json
}

/// Appends `JSON.stringify(value)`: serde_json's string escaping is already JavaScript's, but
/// numbers must be written as JavaScript writes them (`0.000001`, `1e+21`, `5` for `5.0`).
fn write_js_json(out: &mut String, value: &Value) {
    match value {
        Value::Number(number) if number.is_f64() => {
            out.push_str(&js_number_to_string(number.as_f64().unwrap_or(0.0)));
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_js_json(out, item);
            }
            out.push(']');
        }
        Value::Object(map) => {
            out.push('{');
            for (i, (key, item)) in map.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_js_json(out, &Value::from(key.as_str()));
                out.push(':');
                write_js_json(out, item);
            }
            out.push('}');
        }
        other => out.push_str(&other.to_string()),
    }
}

/// ECMAScript `Number::toString` for a finite double: the shortest round-trip digits, in plain
/// notation for decimal exponents -6 to 20, scientific (`1.5e-7`, `1e+21`) outside.
pub(crate) fn js_number_to_string(number: f64) -> String {
    if number == 0.0 || !number.is_finite() {
        // JSON has no NaN or infinity; -0 prints as "0" in JavaScript.
        return "0".to_owned();
    }
    let scientific = format!("{:e}", number.abs());
    let (mantissa, exponent) = scientific
        .split_once('e')
        .unwrap_or((scientific.as_str(), "0"));
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let exponent: i32 = exponent.parse().unwrap_or(0);
    let digit_count = digits.len() as i32;
    // JavaScript's `n`: the value is 0.digits × 10^n.
    let n = exponent + 1;
    let body = if digit_count <= n && n <= 21 {
        format!("{digits}{}", "0".repeat((n - digit_count) as usize))
    } else if 0 < n && n <= 21 {
        format!("{}.{}", &digits[..n as usize], &digits[n as usize..])
    } else if -6 < n && n <= 0 {
        format!("0.{}{digits}", "0".repeat((-n) as usize))
    } else {
        let sign = if n - 1 < 0 { '-' } else { '+' };
        let (first, rest) = digits.split_at(1);
        let fraction = if rest.is_empty() {
            String::new()
        } else {
            format!(".{rest}")
        };
        format!("{first}{fraction}e{sign}{}", (n - 1).abs())
    };
    if number < 0.0 {
        format!("-{body}")
    } else {
        body
    }
}

/// Decodes a koa-session cookie value read at `now_ms`; `None` wherever koa-session would start
/// a fresh session. Never panics, whatever the input.
pub fn decode(cookie_value: &str, now_ms: i64) -> Option<CookieSession> {
    decode_detailed(cookie_value, now_ms).ok()
}

/// [`decode`], telling why there is no session.
///
/// Known divergence, on purpose: Node turns a truthy non-object JSON value (a string, an array, a
/// number, `true`) into a session whose keys are its indices (or no keys); this returns
/// [`DecodeError::Malformed`] instead. Only a holder of the signing keys could produce such a
/// cookie. JSON nested deeper than 128 levels, or with lone UTF-16 surrogate escapes, is also
/// `Malformed` here where `JSON.parse` accepts it.
pub fn decode_detailed(cookie_value: &str, now_ms: i64) -> Result<CookieSession, DecodeError> {
    let bytes = node_base64_decode(cookie_value);
    let text = String::from_utf8_lossy(&bytes);
    let parsed: Value = serde_json::from_str(&text).map_err(|_| DecodeError::Malformed)?;
    if is_falsy(&parsed) {
        return Err(DecodeError::Missed);
    }
    let Value::Object(stored) = parsed else {
        return Err(DecodeError::Malformed);
    };
    let expire_ms = stored.get("_expire").and_then(Value::as_f64);
    if let Some(expire_ms) = expire_ms {
        // Node compares `_expire < Date.now()`: equal is still alive.
        if expire_ms < now_ms as f64 {
            return Err(DecodeError::Expired { expire_ms });
        }
    }
    let mut max_age = None;
    let mut data = Map::new();
    for (key, value) in stored {
        match key.as_str() {
            "_maxAge" => max_age = stored_max_age(&value),
            // Node checks only that the key exists, not its value.
            "_session" => max_age = Some(MaxAge::Session),
            "isNew" => {}
            _ if key.starts_with('_') => {}
            _ => {
                data.insert(key, value);
            }
        }
    }
    Ok(CookieSession {
        data,
        max_age,
        expire_ms,
    })
}

/// `_maxAge` as the next save would use it: a positive whole number of ms, or `'session'`.
fn stored_max_age(value: &Value) -> Option<MaxAge> {
    match value {
        Value::String(text) if text == "session" => Some(MaxAge::Session),
        Value::Number(number) => number
            .as_u64()
            .or_else(|| {
                number
                    .as_f64()
                    .filter(|ms| ms.fract() == 0.0 && *ms >= 1.0 && *ms <= u64::MAX as f64)
                    .map(|ms| ms as u64)
            })
            .filter(|ms| *ms > 0)
            .map(MaxAge::Millis),
        _ => None,
    }
}

fn is_falsy(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::String(s) => s.is_empty(),
        Value::Array(_) | Value::Object(_) => false,
    }
}

/// `Buffer.from(text, 'base64')` as Node decodes it: both the standard and the URL-safe alphabet,
/// characters outside them skipped, decoding stopped at the first `=`, a trailing lone sextet
/// dropped, and the output no longer than Node's size estimate from the raw length.
///
/// ```
/// use sessile_node::koa_session::node_base64_decode;
/// assert_eq!(node_base64_decode("eyJhIjoxfQ"), br#"{"a":1}"#);
/// assert_eq!(node_base64_decode("a b\tc!d"), node_base64_decode("abcd"));
/// assert_eq!(node_base64_decode("-_-_"), node_base64_decode("+/+/"));
/// assert_eq!(node_base64_decode("ab=cd"), vec![0x69]);
/// ```
pub fn node_base64_decode(text: &str) -> Vec<u8> {
    let capacity = node_decoded_size(text.as_bytes());
    let mut out = Vec::with_capacity(capacity);
    let mut group = [0u8; 4];
    let mut filled = 0;
    for byte in text.bytes() {
        if byte == b'=' {
            break;
        }
        let Some(sextet) = sextet(byte) else {
            continue;
        };
        group[filled] = sextet;
        filled += 1;
        if filled == 4 {
            out.extend_from_slice(&[
                (group[0] << 2) | (group[1] >> 4),
                (group[1] << 4) | (group[2] >> 2),
                (group[2] << 6) | group[3],
            ]);
            filled = 0;
        }
    }
    if filled >= 2 {
        out.push((group[0] << 2) | (group[1] >> 4));
    }
    if filled == 3 {
        out.push((group[1] << 4) | (group[2] >> 2));
    }
    out.truncate(capacity);
    out
}

/// Node's `base64_decoded_size`: computed from the raw length, junk characters included.
fn node_decoded_size(raw: &[u8]) -> usize {
    let mut size = raw.len();
    if size < 2 {
        return 0;
    }
    if raw[size - 1] == b'=' {
        size -= 1;
        if raw[size - 1] == b'=' {
            size -= 1;
        }
    }
    let remainder = size % 4;
    let whole = size / 4 * 3;
    match remainder {
        0 => whole,
        1 if whole == 0 => 0,
        3 => whole + 2,
        _ => whole + 1,
    }
}

fn sextet(byte: u8) -> Option<u8> {
    match byte {
        b'A'..=b'Z' => Some(byte - b'A'),
        b'a'..=b'z' => Some(byte - b'a' + 26),
        b'0'..=b'9' => Some(byte - b'0' + 52),
        b'+' | b'-' => Some(62),
        b'/' | b'_' => Some(63),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn base64_quirks_match_node() {
        // Expected bytes taken from `Buffer.from(s, 'base64').toString('hex')` in Node 20.
        let cases: [(&str, &[u8]); 10] = [
            ("e", &[]),
            ("ey", &[0x7b]),
            ("a=b=c", &[]),
            ("ab!!cd", &[0x69, 0xb7, 0x1d]),
            ("ab==cd", &[0x69]),
            ("=abc", &[]),
            ("abcde", &[0x69, 0xb7, 0x1d]),
            ("abcdef==", &[0x69, 0xb7, 0x1d, 0x79]),
            ("a===", &[]),
            ("-_-_", &[0xfb, 0xff, 0xbf]),
        ];
        for (input, expected) in cases {
            assert_eq!(node_base64_decode(input), expected, "{input:?}");
        }
    }

    #[test]
    fn session_max_age_writes_the_flag_and_no_expiry() {
        let data = json!({"a": 1});
        let json = to_json(data.as_object().unwrap(), MaxAge::Session, 5);
        assert_eq!(json, r#"{"a":1,"_session":true}"#);
        let session = decode(&STANDARD.encode(json), i64::MAX).unwrap();
        assert_eq!(session.max_age, Some(MaxAge::Session));
        assert_eq!(session.expire_ms, None);
    }

    #[test]
    fn zero_max_age_means_one_day_and_empty_data_still_carries_the_trailer() {
        let json = to_json(&Map::new(), MaxAge::Millis(0), 1);
        assert_eq!(json, r#"{"_expire":86400001,"_maxAge":86400000}"#);
    }

    #[test]
    fn underscore_keys_and_is_new_are_neither_written_nor_returned() {
        let data = json!({"_private": 1, "isNew": true, "kept": 2});
        let json = to_json(data.as_object().unwrap(), MaxAge::Millis(10), 0);
        assert_eq!(json, r#"{"kept":2,"_expire":10,"_maxAge":10}"#);
        let stored = STANDARD.encode(r#"{"_private":1,"isNew":false,"kept":2,"_expire":"x"}"#);
        let session = decode(&stored, 0).unwrap();
        assert_eq!(Value::Object(session.data), json!({"kept": 2}));
        assert_eq!(session.expire_ms, None);
        assert_eq!(session.max_age, None);
    }

    #[test]
    fn falsy_expired_and_non_object_values_are_not_sessions() {
        let at = |json: &str| decode_detailed(&STANDARD.encode(json), 1000);
        assert_eq!(at("null"), Err(DecodeError::Missed));
        assert_eq!(at("0"), Err(DecodeError::Missed));
        assert_eq!(at("\"\""), Err(DecodeError::Missed));
        assert_eq!(at("[1]"), Err(DecodeError::Malformed));
        assert_eq!(at("{"), Err(DecodeError::Malformed));
        assert_eq!(
            at(r#"{"_expire":999}"#),
            Err(DecodeError::Expired { expire_ms: 999.0 })
        );
        assert!(at(r#"{"_expire":1000}"#).is_ok());
    }

    #[test]
    fn numbers_print_as_javascript_prints_them() {
        let cases = [
            (0.000001, "0.000001"),
            (0.0000001, "1e-7"),
            (1.5e-7, "1.5e-7"),
            (12.5, "12.5"),
            (5.0, "5"),
            (-0.0, "0"),
            (-2.25, "-2.25"),
            (1e20, "100000000000000000000"),
            (1e21, "1e+21"),
            (1.2345e22, "1.2345e+22"),
            (0.1 + 0.2, "0.30000000000000004"),
            (123456.789, "123456.789"),
        ];
        for (number, expected) in cases {
            assert_eq!(js_number_to_string(number), expected, "{number}");
        }
    }

    #[test]
    fn max_age_restoration() {
        assert_eq!(stored_max_age(&json!(5000)), Some(MaxAge::Millis(5000)));
        assert_eq!(stored_max_age(&json!(5000.0)), Some(MaxAge::Millis(5000)));
        assert_eq!(stored_max_age(&json!("session")), Some(MaxAge::Session));
        assert_eq!(stored_max_age(&json!(-1)), None);
        assert_eq!(stored_max_age(&json!(0)), None);
        assert_eq!(stored_max_age(&json!(1.5)), None);
        assert_eq!(stored_max_age(&json!("1 day")), None);
    }
}
