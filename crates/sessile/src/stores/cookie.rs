//! Session state sealed in the cookie itself: no server storage at all.

use serde::{Deserialize, Serialize};

use crate::id::SessionId;
use crate::keys::{KeyIndex, Keys};
use crate::record::{Deadline, Record};
use crate::time::Timestamp;

/// Browsers keep cookies up to 4096 bytes, name and attributes included.
pub const BROWSER_COOKIE_LIMIT: usize = 4096;

/// Keeps the whole session in an encrypted cookie (XChaCha20-Poly1305, the cookie name bound as
/// associated data, the deadlines sealed inside so an old cookie cannot be replayed past them).
///
/// What it cannot do, by its nature: revoke a session before its deadline (a copied cookie stays
/// valid until it expires), list a user's sessions, or merge concurrent writes (the last
/// response's cookie wins in the browser).
///
/// ```
/// use sessile::{Config, CookieStore, Keys, SessionManager};
/// let manager = SessionManager::with_cookie_store(CookieStore::new(), Config::new(Keys::generate()));
/// # let _ = manager;
/// ```
#[derive(Clone, Debug)]
pub struct CookieStore {
    limit: usize,
}

impl Default for CookieStore {
    fn default() -> Self {
        Self::new()
    }
}

#[derive(Serialize, Deserialize)]
struct Sealed {
    id: SessionId,
    record: Record,
}

/// Why a sealed cookie value was not used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Unsealed {
    /// No key opens it (tampered, foreign, or from a retired key).
    Unopenable,
    /// It opened but does not decode.
    Corrupt,
    /// Its sealed deadline has passed.
    Expired(Deadline),
}

impl CookieStore {
    /// A cookie store with the browser limit of 4096 bytes per cookie.
    pub fn new() -> Self {
        Self {
            limit: BROWSER_COOKIE_LIMIT,
        }
    }

    /// The largest `Set-Cookie` value (name, value and attributes) a commit may produce.
    pub fn limit(&self) -> usize {
        self.limit
    }

    pub(crate) fn seal(&self, keys: &Keys, name: &str, id: &SessionId, record: &Record) -> String {
        let payload = serde_json::to_vec(&SealedRef { id, record })
            .expect("a record of JSON values always serializes");
        keys.seal(name, &payload)
    }

    pub(crate) fn open(
        &self,
        keys: &Keys,
        name: &str,
        value: &str,
        now: Timestamp,
    ) -> Result<(SessionId, Record, KeyIndex), Unsealed> {
        if value.len() > self.limit * 2 {
            return Err(Unsealed::Unopenable);
        }
        let (plaintext, index) = keys.open(name, value).ok_or(Unsealed::Unopenable)?;
        let sealed: Sealed = serde_json::from_slice(&plaintext).map_err(|_| Unsealed::Corrupt)?;
        if let Some(deadline) = sealed.record.expired_by(now) {
            return Err(Unsealed::Expired(deadline));
        }
        Ok((sealed.id, sealed.record, index))
    }
}

#[derive(Serialize)]
struct SealedRef<'a> {
    id: &'a SessionId,
    record: &'a Record,
}

impl Serialize for SessionId {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.encode())
    }
}

impl<'de> Deserialize<'de> for SessionId {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        SessionId::decode(&text).ok_or_else(|| serde::de::Error::custom("malformed session id"))
    }
}
