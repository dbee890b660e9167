//! A sessile [`Record`] as the JSON each Node package stores, and back.
//!
//! The Node packages keep a session as one JSON document, with its lifetime in different places:
//! koa-session adds `_expire`/`_maxAge`, koa-generic-session and express-session a `cookie`
//! object, koa-session-minimal nothing at all (the store's TTL is the lifetime). A [`NodeJson`]
//! knows one package's shape and the app's `maxAge`, and maps:
//!
//! - the handler's data ⇄ the document's own keys (minus the package's bookkeeping keys);
//! - the signed-in user ([`Record::user`]) ⇄ a string under [`NodeJson::user_field`] (`user` by
//!   default), because Node apps keep the user in the session data (sessile writes it after the
//!   data, so a document's key order can change; no Node package cares);
//! - the idle deadline ⇄ the package's expiry (`_expire`, `cookie.expires`) or, when the store
//!   keeps it outside the document (a TTL, an `expires` column), the deadline the store passes in.
//!
//! What does not map: Node sessions have no absolute lifetime (a record read from Node JSON has
//! none), no device metadata, and no creation time (the last write stands in for both).
//!
//! ```
//! use sessile::Timestamp;
//! use sessile_node::record_json::{NodeJson, NodeShape};
//! use std::time::Duration;
//!
//! let shape = NodeJson::new(NodeShape::GenericSession, Duration::from_secs(86_400));
//! let stored = r#"{"cookie":{"httpOnly":true,"path":"/","overwrite":true,"signed":true,"maxAge":86400000},"n":1,"user":"alice"}"#;
//! let record = shape.decode(stored, Some(Timestamp::from_millis(1_700_086_400_000)))?;
//! assert_eq!(record.user.as_deref(), Some("alice"));
//! assert_eq!(record.data["n"], 1);
//! assert_eq!(shape.encode(&record), stored);
//! # Ok::<(), sessile::StoreError>(())
//! ```

use std::time::Duration;

use serde_json::{Map, Value};
use sessile::{Record, StoreError, Timestamp};

use crate::ids::NodeCookie;
use crate::{parse_date, to_iso_string, SameSite};

/// Which package's document shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeShape {
    /// koa-session in external-store mode (and koa-redis under it): the data plus `_expire`
    /// (ms since the epoch) and `_maxAge` (ms). Keys starting with `_` are koa-session's own; the
    /// package drops every such key when it saves.
    KoaSession,
    /// koa-generic-session: a `cookie` object (the cookie options Node re-issues the cookie
    /// with) first, then the data. The lifetime is the store's (TTL or `expires` column).
    GenericSession,
    /// koa-session-minimal: the data alone. The lifetime is the store's.
    SessionMinimal,
    /// express-session: a `cookie` object (`originalMaxAge`, `expires`, `httpOnly`, `path`, ...)
    /// first, then the data. express-session fails on a document without `cookie`.
    Express,
}

/// One Node package's document shape, with the app's settings.
#[derive(Debug, Clone)]
pub struct NodeJson {
    shape: NodeShape,
    max_age: Duration,
    user_field: Option<String>,
    cookie: NodeCookie,
    session_max_age: bool,
    /// The keys of a koa-generic-session app's `cookie` option, in its order.
    app_cookie_keys: Vec<String>,
    /// koa-generic-session's `cookie.signed`.
    signed: bool,
}

impl NodeJson {
    /// The `shape` of an app whose sessions live `max_age` (its `maxAge`; sessile's idle
    /// timeout), with the user under `user` and the default cookie attributes.
    pub fn new(shape: NodeShape, max_age: Duration) -> Self {
        Self {
            shape,
            max_age,
            user_field: Some("user".to_owned()),
            cookie: NodeCookie::default(),
            session_max_age: false,
            app_cookie_keys: Vec::new(),
            signed: true,
        }
    }

    /// The keys of a koa-generic-session app's `cookie` option, in the order the app writes
    /// them (`["maxAge"]` for `cookie: { maxAge: 3600000 }`). The package stores that object
    /// first and its defaults after it (`httpOnly`, `path`, `overwrite`, `signed`, `maxAge`),
    /// so the order of the stored `cookie` object, and the document's bytes, depend on it.
    /// None by default: an app without a `cookie` option. Other shapes ignore it.
    ///
    /// ```
    /// use std::time::Duration;
    /// use sessile::{Record, Timestamp};
    /// use sessile_node::record_json::{NodeJson, NodeShape};
    ///
    /// let json = NodeJson::new(NodeShape::GenericSession, Duration::from_secs(3600))
    ///     .with_app_cookie_keys(["maxAge"]);
    /// let at = Timestamp::from_millis(0);
    /// let document = json.encode(&Record::new(at, at, at));
    /// assert!(document.starts_with(r#"{"cookie":{"maxAge":3600000,"httpOnly":true,"#));
    /// ```
    pub fn with_app_cookie_keys<I, K>(mut self, keys: I) -> Self
    where
        I: IntoIterator<Item = K>,
        K: Into<String>,
    {
        self.app_cookie_keys = keys.into_iter().map(Into::into).collect();
        self
    }

    /// koa-generic-session's `cookie.signed: false`, which its stored `cookie` object carries
    /// (pair it with `KoaIds::with_signed(false)`). Other shapes ignore it.
    pub fn with_signed(mut self, signed: bool) -> Self {
        self.signed = signed;
        self
    }

    /// koa-session's `maxAge: 'session'`: its documents carry `"_session": true` instead of
    /// `_expire` and `_maxAge`, so the Node app keeps writing browser-session cookies and judges
    /// no expiry of its own (a document without `_expire` is read with the deadline the caller
    /// passes to [`NodeJson::decode`]). Only [`NodeShape::KoaSession`] documents change.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use sessile::{Record, Timestamp};
    /// use sessile_node::record_json::{NodeJson, NodeShape};
    ///
    /// let json = NodeJson::new(NodeShape::KoaSession, Duration::from_secs(3600)).with_session_max_age();
    /// let at = Timestamp::from_millis(1_700_000_000_000);
    /// let mut record = json.decode(r#"{"n":1,"_session":true}"#, Some(at)).unwrap();
    /// assert_eq!(record.idle_deadline, at);
    /// record.data.insert("n".into(), 2.into());
    /// assert_eq!(json.encode(&record), r#"{"n":2,"_session":true}"#);
    /// ```
    pub fn with_session_max_age(mut self) -> Self {
        self.session_max_age = true;
        self
    }

    /// Keeps [`Record::user`] under `field` (a string), or nowhere with `None` (then signing in
    /// through sessile is not visible to the Node app).
    pub fn with_user_field(mut self, field: Option<&str>) -> Self {
        self.user_field = field.map(str::to_owned);
        self
    }

    /// The cookie attributes written into the `cookie` object of koa-generic-session and
    /// express-session documents (they must match the Node app's, which re-issues its cookie
    /// from them).
    pub fn with_cookie(mut self, cookie: NodeCookie) -> Self {
        self.cookie = cookie;
        self
    }

    /// The shape.
    pub fn shape(&self) -> NodeShape {
        self.shape
    }

    /// The app's `maxAge`.
    pub fn max_age(&self) -> Duration {
        self.max_age
    }

    /// Whether documents carry koa-session's `"_session": true` (see
    /// [`NodeJson::with_session_max_age`]).
    pub fn session_max_age(&self) -> bool {
        self.session_max_age
    }

    /// The data field that holds the user, if any.
    pub fn user_field(&self) -> Option<&str> {
        self.user_field.as_deref()
    }

    /// The session's own `maxAge` in ms: the one its document carried, else the app's.
    fn max_age_of(&self, record: &Record) -> i64 {
        let max_age = record.idle_timeout.unwrap_or(self.max_age);
        i64::try_from(max_age.as_millis()).unwrap_or(i64::MAX)
    }

    /// Reads a stored document. `store_deadline` is the expiry the store keeps outside the
    /// document (a TTL, an `expires` column), if any; the document's own (`_expire`,
    /// `cookie.expires`) wins when both exist, as it does in Node. A document that is not a JSON
    /// object, or lacks the `cookie` object its package requires, is [`StoreError::Corrupt`].
    pub fn decode(
        &self,
        text: &str,
        store_deadline: Option<Timestamp>,
    ) -> Result<Record, StoreError> {
        let corrupt = |why: &str| StoreError::Corrupt(format!("{:?} session: {why}", self.shape));
        let value: Value = serde_json::from_str(text).map_err(|e| corrupt(&e.to_string()))?;
        let Value::Object(mut document) = value else {
            return Err(corrupt("not a JSON object"));
        };
        // Each session's own lifetime, where the package keeps one per session: koa-session's
        // `_maxAge`, the `maxAge` koa-generic-session re-issues its cookie with, express's
        // `originalMaxAge`. Kept on the record so every Rust write and touch uses it.
        let own_max_age = |value: Option<&Value>| {
            value
                .and_then(Value::as_f64)
                .filter(|ms| ms.is_finite() && *ms >= 1.0)
                .map(|ms| Duration::from_millis(ms as u64))
        };
        let (own_deadline, max_age) = match self.shape {
            NodeShape::KoaSession => {
                let expire = document.get("_expire").and_then(Value::as_f64);
                let max_age = own_max_age(document.get("_maxAge"));
                // koa-session owns every `_` key; none of them is handler data.
                document.retain(|key, _| !key.starts_with('_'));
                (expire.map(|ms| Timestamp::from_millis(ms as i64)), max_age)
            }
            NodeShape::GenericSession | NodeShape::Express => {
                let Some(Value::Object(cookie)) = document.shift_remove("cookie") else {
                    return Err(corrupt("no `cookie` object"));
                };
                let max_age = match self.shape {
                    NodeShape::Express => own_max_age(cookie.get("originalMaxAge")),
                    _ => own_max_age(cookie.get("maxAge")),
                };
                let expires = cookie
                    .get("expires")
                    .and_then(Value::as_str)
                    .and_then(parse_date)
                    .map(Timestamp::from_millis);
                (expires, max_age)
            }
            NodeShape::SessionMinimal => (None, None),
        };
        let deadline = own_deadline
            .or(store_deadline)
            .ok_or_else(|| corrupt("no expiry in the document and none from the store"))?;
        let user = self
            .user_field
            .as_deref()
            .and_then(|field| match document.get(field) {
                Some(Value::String(_)) => match document.shift_remove(field) {
                    Some(Value::String(user)) => Some(user),
                    _ => None,
                },
                _ => None,
            });
        let last_write = deadline - max_age.unwrap_or(self.max_age);
        let mut record = Record::new(last_write, deadline, Timestamp::from_millis(i64::MAX));
        record.data = document;
        record.user = user;
        record.persistent = self.cookie.expiring;
        record.idle_timeout = max_age;
        Ok(record)
    }

    /// The document the Node package would store for `record`, byte for byte where the package's
    /// own output is fixed (key order: bookkeeping and data as the package writes them).
    pub fn encode(&self, record: &Record) -> String {
        self.encode_over(None, record)
    }

    /// [`NodeJson::encode`] for a rewrite of the document `previous`: the user field keeps its
    /// place among the data keys, as a JavaScript object keeps a property's place when it is
    /// assigned again (a key the handler adds lands after it, as in the Node app's document).
    /// Without a previous document, or one without a user, the user comes after the data, as
    /// a Node sign-in appends it.
    ///
    /// ```
    /// use std::time::Duration;
    /// use sessile::Timestamp;
    /// use sessile_node::record_json::{NodeJson, NodeShape};
    ///
    /// let json = NodeJson::new(NodeShape::SessionMinimal, Duration::from_secs(3600));
    /// let previous = r#"{"n":42,"user":"alice"}"#;
    /// let mut record = json.decode(previous, Some(Timestamp::from_millis(3_600_000)))?;
    /// record.data.insert("theme".into(), "dark".into());
    /// assert_eq!(json.encode(&record), r#"{"n":42,"theme":"dark","user":"alice"}"#);
    /// assert_eq!(json.encode_over(Some(previous), &record), r#"{"n":42,"user":"alice","theme":"dark"}"#);
    /// # Ok::<(), sessile::StoreError>(())
    /// ```
    pub fn encode_over(&self, previous: Option<&str>, record: &Record) -> String {
        // The data keys the user field came after in `previous`: the user goes before the
        // first data key that is not one of them.
        let before_user: Option<Vec<String>> = self.user_field.as_deref().and_then(|field| {
            let previous = serde_json::from_str::<Map<String, Value>>(previous?).ok()?;
            let position = previous.keys().position(|key| key == field)?;
            Some(previous.keys().take(position).cloned().collect())
        });
        let mut document = Map::new();
        match self.shape {
            NodeShape::GenericSession => {
                document.insert("cookie".to_owned(), self.generic_cookie(record));
            }
            NodeShape::Express => {
                document.insert("cookie".to_owned(), self.express_cookie(record));
            }
            NodeShape::KoaSession | NodeShape::SessionMinimal => {}
        }
        let user = match (&self.user_field, &record.user) {
            (Some(field), Some(user)) => Some((field, user)),
            _ => None,
        };
        let mut user_placed = false;
        for (key, value) in &record.data {
            // The package's own keys are its bookkeeping, never data: a handler's `cookie` key
            // must not replace the cookie object Node re-issues its cookie from.
            if self.is_bookkeeping(key) {
                continue;
            }
            if let (Some((field, user)), Some(before)) = (user, &before_user) {
                if !user_placed && !before.contains(key) {
                    document.insert(field.clone(), Value::String(user.clone()));
                    user_placed = true;
                }
            }
            document.insert(key.clone(), value.clone());
        }
        if let (Some((field, user)), false) = (user, user_placed) {
            document.insert(field.clone(), Value::String(user.clone()));
        }
        if self.shape == NodeShape::KoaSession {
            if self.session_max_age {
                document.insert("_session".to_owned(), Value::Bool(true));
            } else {
                document.insert("_expire".to_owned(), record.expires_at().as_millis().into());
                document.insert("_maxAge".to_owned(), self.max_age_of(record).into());
            }
        }
        Value::Object(document).to_string()
    }

    /// Whether `key` belongs to the package, not to the handler: `cookie` in koa-generic-session
    /// and express-session documents, koa-session's `_expire`, `_maxAge` and `_session`. Such
    /// data keys are not written.
    pub fn is_bookkeeping(&self, key: &str) -> bool {
        match self.shape {
            NodeShape::GenericSession | NodeShape::Express => key == "cookie",
            NodeShape::KoaSession => matches!(key, "_expire" | "_maxAge" | "_session"),
            NodeShape::SessionMinimal => false,
        }
    }

    /// koa-generic-session's stored cookie options: the app's options first, then the
    /// package's defaults, in the order the package merges them.
    fn generic_cookie(&self, record: &Record) -> Value {
        // A browser-session app (`cookie: {maxAge: null}`) stores `null`: Node re-issues its cookie
        // from this object, so a number here would turn it into an expiring one.
        let max_age = if self.cookie.expiring {
            self.max_age_of(record).into()
        } else {
            Value::Null
        };
        let value = |key: &str| -> Option<Value> {
            match key {
                "domain" => self.cookie.domain.clone().map(Value::from),
                "secure" => self.cookie.secure.then_some(Value::Bool(true)),
                "sameSite" => self
                    .cookie
                    .same_site
                    .map(|same_site| same_site_name(same_site).into()),
                "httpOnly" => Some(self.cookie.http_only.into()),
                "path" => Some(self.cookie.path.clone().into()),
                "overwrite" => Some(true.into()),
                "signed" => Some(self.signed.into()),
                "maxAge" => Some(max_age.clone()),
                _ => None,
            }
        };
        // The app's object first (`Object.assign({}, options.cookie)`), attributes it sets
        // without naming them here next, then the package's defaults it did not set.
        let order = self.app_cookie_keys.iter().map(String::as_str).chain([
            "domain",
            "secure",
            "sameSite",
            "httpOnly",
            "path",
            "overwrite",
            "signed",
            "maxAge",
        ]);
        let mut cookie = Map::new();
        for key in order {
            if !cookie.contains_key(key) {
                if let Some(value) = value(key) {
                    cookie.insert(key.to_owned(), value);
                }
            }
        }
        Value::Object(cookie)
    }

    /// express-session's `Cookie#toJSON()`: `originalMaxAge, expires, secure, httpOnly, domain,
    /// path, sameSite`, undefined ones left out.
    fn express_cookie(&self, record: &Record) -> Value {
        let mut cookie = Map::new();
        let (max_age, expires) = if self.cookie.expiring {
            let expires = to_iso_string(record.expires_at().as_millis());
            (
                Value::from(self.max_age_of(record)),
                expires.map_or(Value::Null, Value::from),
            )
        } else {
            (Value::Null, Value::Null)
        };
        cookie.insert("originalMaxAge".into(), max_age);
        cookie.insert("expires".into(), expires);
        if self.cookie.secure {
            cookie.insert("secure".into(), true.into());
        }
        cookie.insert("httpOnly".into(), self.cookie.http_only.into());
        if let Some(domain) = &self.cookie.domain {
            cookie.insert("domain".into(), domain.clone().into());
        }
        cookie.insert("path".into(), self.cookie.path.clone().into());
        if let Some(same_site) = self.cookie.same_site {
            cookie.insert("sameSite".into(), same_site_name(same_site).into());
        }
        Value::Object(cookie)
    }
}

fn same_site_name(same_site: SameSite) -> &'static str {
    match same_site {
        SameSite::Strict => "strict",
        SameSite::Lax => "lax",
        SameSite::None => "none",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: Duration = Duration::from_secs(86_400);

    fn record(data: Value, user: Option<&str>, deadline_ms: i64) -> Record {
        let Value::Object(data) = data else {
            unreachable!()
        };
        let mut record = Record::new(
            Timestamp::from_millis(0),
            Timestamp::from_millis(deadline_ms),
            Timestamp::from_millis(i64::MAX),
        );
        record.data = data;
        record.user = user.map(str::to_owned);
        record.persistent = true;
        record
    }

    #[test]
    fn koa_session_documents_carry_expire_and_max_age_after_the_data() {
        let json = NodeJson::new(NodeShape::KoaSession, DAY);
        let r = record(
            serde_json::json!({"n": 1}),
            Some("alice"),
            1_700_086_400_000,
        );
        assert_eq!(
            json.encode(&r),
            r#"{"n":1,"user":"alice","_expire":1700086400000,"_maxAge":86400000}"#
        );
        let back = json.decode(&json.encode(&r), None).unwrap();
        assert_eq!(back.data, r.data);
        assert_eq!(back.user, r.user);
        assert_eq!(back.idle_deadline, r.idle_deadline);
        assert_eq!(back.last_seen.as_millis(), 1_700_000_000_000);
    }

    #[test]
    fn express_documents_match_the_package_byte_for_byte() {
        let json = NodeJson::new(NodeShape::Express, Duration::from_millis(3_600_000));
        let r = record(serde_json::json!({}), Some("alice"), 1_700_003_600_000);
        assert_eq!(
            json.encode(&r),
            r#"{"cookie":{"originalMaxAge":3600000,"expires":"2023-11-14T23:13:20.000Z","httpOnly":true,"path":"/"},"user":"alice"}"#
        );
    }

    #[test]
    fn data_never_overwrites_the_packages_bookkeeping() {
        let express = NodeJson::new(NodeShape::Express, DAY);
        let r = record(
            serde_json::json!({"cookie": "mine", "a": 1}),
            None,
            1_700_003_600_000,
        );
        let stored: Value = serde_json::from_str(&express.encode(&r)).unwrap();
        assert!(stored["cookie"].is_object(), "{stored}");
        assert_eq!(stored["a"], 1);
        let koa = NodeJson::new(NodeShape::KoaSession, DAY);
        let r = record(
            serde_json::json!({"_expire": 1, "b": 2}),
            None,
            1_700_003_600_000,
        );
        let stored: Value = serde_json::from_str(&koa.encode(&r)).unwrap();
        assert_eq!(stored["_expire"], 1_700_003_600_000_i64);
    }

    #[test]
    fn malformed_documents_are_corrupt_never_a_panic() {
        let generic = NodeJson::new(NodeShape::GenericSession, DAY);
        let express = NodeJson::new(NodeShape::Express, DAY);
        let minimal = NodeJson::new(NodeShape::SessionMinimal, DAY);
        let at = Some(Timestamp::from_millis(1));
        for text in ["", "null", "[]", "\"x\"", "{", "{\"cookie\":1}"] {
            assert!(
                matches!(generic.decode(text, at), Err(StoreError::Corrupt(_))),
                "{text}"
            );
            assert!(
                matches!(express.decode(text, at), Err(StoreError::Corrupt(_))),
                "{text}"
            );
        }
        assert!(matches!(
            generic.decode("{\"user\":\"a\"}", at),
            Err(StoreError::Corrupt(_))
        ));
        assert!(matches!(
            minimal.decode("{}", None),
            Err(StoreError::Corrupt(_))
        ));
        // A user that is not a string stays data.
        let odd = minimal.decode(r#"{"user":{"id":7}}"#, at).unwrap();
        assert_eq!(odd.user, None);
        assert_eq!(odd.data["user"]["id"], 7);
    }
}
