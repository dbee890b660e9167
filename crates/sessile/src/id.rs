//! Session ids, the store keys derived from them, and the short tags logs use.

use std::fmt;
use std::sync::{Arc, OnceLock};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chacha20poly1305::aead::Aead;
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use rand::rngs::OsRng;
use rand::RngCore;
use sha2::{Digest, Sha256};

/// Length of an encoded [`SessionId`]: 32 bytes in unpadded base64url.
pub(crate) const ENCODED_ID_LEN: usize = 43;

/// A session id: the bearer secret of a session.
///
/// sessile's own ids are 256 bits from the operating system's CSPRNG, 43 characters of base64url.
/// An [`crate::codec::IdCodec`] for another format (a Node app's cookie, say) wraps that format's ids
/// with [`SessionId::foreign`]. Either way `Debug` and `Display` never print the id; stores see
/// its [`StoreKey`] and logs a short keyed [`SessionId::log_tag`].
///
/// ```
/// use sessile::SessionId;
/// let id = SessionId::generate();
/// assert_eq!(id.encode().len(), 43);
/// assert_eq!(SessionId::decode(&id.encode()), Some(id.clone()));
/// assert!(!format!("{id:?}").contains(&id.encode()));
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct SessionId(IdRepr);

#[derive(Clone, PartialEq, Eq, Hash)]
enum IdRepr {
    Random([u8; 32]),
    Foreign(Arc<str>),
}

/// The longest id [`SessionId::foreign`] accepts: Node ids with their prefixes are far shorter
/// (koa-generic-session-sequelize's `id` column holds 100 characters).
pub(crate) const MAX_FOREIGN_ID_LEN: usize = 255;

impl SessionId {
    /// A fresh id from the OS CSPRNG.
    pub fn generate() -> Self {
        let mut bytes = [0u8; 32];
        OsRng.fill_bytes(&mut bytes);
        Self(IdRepr::Random(bytes))
    }

    /// An id in another system's format, exactly as that system writes it (a Koa app's UUID
    /// with its prefix, an Express app's 32-character sid). `None` unless it is 1 to
    /// 255 visible ASCII characters without `;`, `,`, `"` or `\`, so it can
    /// travel in a cookie and serve as a store key as it is.
    ///
    /// ```
    /// use sessile::SessionId;
    /// let id = SessionId::foreign("koa:sess:Zm9vYmFy").unwrap();
    /// assert_eq!(id.encode(), "koa:sess:Zm9vYmFy");
    /// assert_eq!(id.store_key().plain(), Some("koa:sess:Zm9vYmFy"));
    /// assert!(SessionId::foreign("a;b").is_none());
    /// ```
    pub fn foreign(text: &str) -> Option<Self> {
        let fits = (1..=MAX_FOREIGN_ID_LEN).contains(&text.len())
            && text
                .bytes()
                .all(|b| b.is_ascii_graphic() && !matches!(b, b';' | b',' | b'"' | b'\\'));
        fits.then(|| Self(IdRepr::Foreign(Arc::from(text))))
    }

    /// The id as it travels in a cookie or header: 43 characters of base64url for sessile's own
    /// ids, the text as given for foreign ones.
    pub fn encode(&self) -> String {
        match &self.0 {
            IdRepr::Random(bytes) => URL_SAFE_NO_PAD.encode(bytes),
            IdRepr::Foreign(text) => text.to_string(),
        }
    }

    /// Parses an encoded sessile id, checking its exact length and alphabet first; `None` for
    /// anything else.
    pub fn decode(encoded: &str) -> Option<Self> {
        if encoded.len() != ENCODED_ID_LEN || !encoded.bytes().all(is_base64url) {
            return None;
        }
        let mut bytes = [0u8; 32];
        let written = URL_SAFE_NO_PAD.decode_slice(encoded, &mut bytes).ok()?;
        (written == 32).then_some(Self(IdRepr::Random(bytes)))
    }

    /// The key this session is stored under: SHA-256 of the id, plus the id itself for a foreign
    /// id (Node layouts store under it, because the Node app looks the session up by it).
    pub fn store_key(&self) -> StoreKey {
        match &self.0 {
            IdRepr::Random(bytes) => StoreKey {
                digest: Sha256::digest(bytes).into(),
                plain: None,
            },
            IdRepr::Foreign(text) => StoreKey {
                digest: Sha256::digest(text.as_bytes()).into(),
                plain: Some(text.clone()),
            },
        }
    }

    /// A short tag for logs and events, keyed with a per-process secret so it cannot be reversed
    /// or matched against a leaked store.
    pub fn log_tag(&self) -> String {
        self.store_key().log_tag()
    }
}

/// Domain separation of the key that seals a rotation's successor id: it must differ from the
/// store key (plain SHA-256 of the same id), which the store holds.
const SUCCESSOR_SALT: &[u8] = b"sessile rotation forward v1";
/// XChaCha20-Poly1305's nonce length.
const SUCCESSOR_NONCE_LEN: usize = 24;

impl SessionId {
    /// The secret bytes of the id, as its store key hashes them.
    fn secret_bytes(&self) -> &[u8] {
        match &self.0 {
            IdRepr::Random(bytes) => bytes,
            IdRepr::Foreign(text) => text.as_bytes(),
        }
    }

    fn successor_cipher(&self) -> XChaCha20Poly1305 {
        let mut key = [0u8; 32];
        Hkdf::<Sha256>::new(Some(SUCCESSOR_SALT), self.secret_bytes())
            .expand(b"successor id", &mut key)
            .expect("32 bytes is a valid HKDF-SHA256 output length");
        <XChaCha20Poly1305 as chacha20poly1305::KeyInit>::new((&key).into())
    }

    /// `next` (the id this session rotated to), sealed so that only a holder of this id can
    /// open it: the store keeps it in a forward pointer beside this id's store key, and neither
    /// reveals `next` (the sealing key is derived from the id itself, which the store never
    /// sees). A random nonce, then the XChaCha20-Poly1305 ciphertext of a one-byte kind and the
    /// id's bytes.
    pub(crate) fn seal_successor(&self, next: &SessionId) -> Vec<u8> {
        let mut nonce = [0u8; SUCCESSOR_NONCE_LEN];
        OsRng.fill_bytes(&mut nonce);
        let mut plain = Vec::with_capacity(1 + next.secret_bytes().len());
        plain.push(match next.0 {
            IdRepr::Random(_) => 0,
            IdRepr::Foreign(_) => 1,
        });
        plain.extend_from_slice(next.secret_bytes());
        let sealed = self
            .successor_cipher()
            .encrypt(XNonce::from_slice(&nonce), plain.as_slice())
            .expect("XChaCha20-Poly1305 seals any message this short");
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        out
    }

    /// Opens what [`SessionId::seal_successor`] sealed for this id, and accepts it only if it
    /// is the id stored under `to`; `None` for anything else (a forged or mangled pointer).
    pub(crate) fn open_successor(&self, sealed: &[u8], to: &StoreKey) -> Option<SessionId> {
        if sealed.len() < SUCCESSOR_NONCE_LEN {
            return None;
        }
        let (nonce, ciphertext) = sealed.split_at(SUCCESSOR_NONCE_LEN);
        let plain = self
            .successor_cipher()
            .decrypt(XNonce::from_slice(nonce), ciphertext)
            .ok()?;
        let next = match plain.split_first()? {
            (0, bytes) => SessionId(IdRepr::Random(bytes.try_into().ok()?)),
            (1, text) => SessionId::foreign(std::str::from_utf8(text).ok()?)?,
            _ => return None,
        };
        (next.store_key() == *to).then_some(next)
    }
}

impl fmt::Debug for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SessionId({})", self.log_tag())
    }
}

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "session {}", self.log_tag())
    }
}

/// Lower-case hex digits, for store keys and log tags.
const HEX_DIGITS: &[u8; 16] = b"0123456789abcdef";

pub(crate) fn is_base64url(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_'
}

/// The key a session is stored under: SHA-256 of its id. A leaked store reveals no usable id.
///
/// Keys of [foreign](SessionId::foreign) ids also carry the id in clear ([`StoreKey::plain`]) for
/// the Node-compatible layouts that must keep it; sessile's own stores use the digest only.
/// Equality, hashing and order are the digest's.
///
/// ```
/// use sessile::{SessionId, StoreKey};
/// let key = SessionId::generate().store_key();
/// assert_eq!(StoreKey::from_hex(&key.to_hex()), Some(key.clone()));
/// assert_eq!(key.plain(), None);
/// ```
#[derive(Clone)]
pub struct StoreKey {
    digest: [u8; 32],
    plain: Option<Arc<str>>,
}

impl PartialEq for StoreKey {
    fn eq(&self, other: &Self) -> bool {
        self.digest == other.digest
    }
}

impl Eq for StoreKey {}

impl std::hash::Hash for StoreKey {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.digest.hash(state);
    }
}

impl PartialOrd for StoreKey {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for StoreKey {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.digest.cmp(&other.digest)
    }
}

impl StoreKey {
    /// Wraps 32 bytes read back from a store.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self {
            digest: bytes,
            plain: None,
        }
    }

    /// Wraps a byte slice read back from a store; `None` unless it is exactly 32 bytes.
    pub fn from_slice(bytes: &[u8]) -> Option<Self> {
        bytes.try_into().ok().map(Self::from_bytes)
    }

    /// The id in clear, for keys of [foreign](SessionId::foreign) ids only: what a Node-compatible
    /// layout stores under. `None` for sessile's own ids, which never reach a store in clear.
    pub fn plain(&self) -> Option<&str> {
        self.plain.as_deref()
    }

    /// The 32 raw bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.digest
    }

    /// Lower-case hex, 64 characters: for stores with text keys and for the "my devices" page,
    /// where it names a session without revealing its id.
    pub fn to_hex(&self) -> String {
        let mut hex = String::with_capacity(64);
        for byte in self.digest {
            hex.push(char::from(HEX_DIGITS[usize::from(byte >> 4)]));
            hex.push(char::from(HEX_DIGITS[usize::from(byte & 0x0f)]));
        }
        hex
    }

    /// Parses [`StoreKey::to_hex`] output; `None` for anything else.
    pub fn from_hex(text: &str) -> Option<Self> {
        if text.len() != 64 {
            return None;
        }
        let mut bytes = [0u8; 32];
        for (slot, pair) in bytes.iter_mut().zip(text.as_bytes().chunks(2)) {
            let pair = std::str::from_utf8(pair).ok()?;
            *slot = u8::from_str_radix(pair, 16).ok()?;
        }
        Some(Self::from_bytes(bytes))
    }

    /// A short keyed hash for logs: 8 hex characters of HMAC-SHA256 under a per-process key.
    pub fn log_tag(&self) -> String {
        // Keyed once per process: each tag clones the keyed state instead of hashing the key's
        // pads again (two of the four compressions). Events carry a tag on every request.
        static LOG_MAC: OnceLock<Hmac<Sha256>> = OnceLock::new();
        let keyed = LOG_MAC.get_or_init(|| {
            let mut key = [0u8; 32];
            OsRng.fill_bytes(&mut key);
            Hmac::<Sha256>::new_from_slice(&key).expect("HMAC takes any key length")
        });
        let mut mac = keyed.clone();
        mac.update(&self.digest);
        let mut tag = String::with_capacity(8);
        for byte in &mac.finalize().into_bytes()[..4] {
            tag.push(char::from(HEX_DIGITS[usize::from(byte >> 4)]));
            tag.push(char::from(HEX_DIGITS[usize::from(byte & 0x0f)]));
        }
        tag
    }
}

impl fmt::Debug for StoreKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "StoreKey({})", self.log_tag())
    }
}

/// Sealed cookies ([`crate::codec::SealedCookies`]) carry the id as its base64url text.
impl serde::Serialize for SessionId {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.encode())
    }
}

impl<'de> serde::Deserialize<'de> for SessionId {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_str(EncodedIdVisitor)
    }
}

/// Decodes the id from the text the deserializer holds, without copying it first.
struct EncodedIdVisitor;

impl serde::de::Visitor<'_> for EncodedIdVisitor {
    type Value = SessionId;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("a session id in base64url")
    }

    fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<SessionId, E> {
        SessionId::decode(text).ok_or_else(|| E::custom("malformed session id"))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_the_old_id_opens_its_successor() {
        let (old, new) = (SessionId::generate(), SessionId::generate());
        let sealed = old.seal_successor(&new);
        assert_eq!(
            old.open_successor(&sealed, &new.store_key()),
            Some(new.clone())
        );
        // Another id cannot open it, and it does not name another key.
        let stranger = SessionId::generate();
        assert_eq!(stranger.open_successor(&sealed, &new.store_key()), None);
        assert_eq!(old.open_successor(&sealed, &stranger.store_key()), None);
        // Neither the new id nor its store key appears in the sealed bytes.
        let key = new.store_key();
        assert!(!sealed
            .windows(32)
            .any(|w| w == key.as_bytes() || w == new.secret_bytes()));
        let mut flipped = sealed.clone();
        *flipped.last_mut().unwrap() ^= 1;
        assert_eq!(old.open_successor(&flipped, &new.store_key()), None);
        assert_eq!(old.open_successor(&sealed[..10], &new.store_key()), None);
        let foreign = SessionId::foreign("koa:sess:abc").unwrap();
        let sealed = old.seal_successor(&foreign);
        assert_eq!(
            old.open_successor(&sealed, &foreign.store_key()),
            Some(foreign)
        );
    }

    use super::*;

    #[test]
    fn decode_rejects_wrong_shapes() {
        assert!(SessionId::decode("").is_none());
        assert!(SessionId::decode(&"a".repeat(42)).is_none());
        assert!(SessionId::decode(&"a".repeat(44)).is_none());
        assert!(SessionId::decode(&format!("{}=", "a".repeat(42))).is_none());
        assert!(SessionId::decode(&format!("{}é", "a".repeat(41))).is_none());
    }

    #[test]
    fn ids_are_distinct_and_keys_differ_from_ids() {
        let a = SessionId::generate();
        let b = SessionId::generate();
        assert_ne!(a, b);
        let IdRepr::Random(bytes) = &a.0 else {
            unreachable!("generated ids are random")
        };
        assert_ne!(a.store_key().as_bytes(), bytes);
        assert!(!a.store_key().to_hex().contains(&a.encode()));
    }
}
