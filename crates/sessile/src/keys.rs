//! Secret keys: signing session ids and sealing cookie-store state, with rotation.

use std::fmt;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chacha20poly1305::aead::{Aead, Payload};
use chacha20poly1305::{KeyInit, XChaCha20Poly1305, XNonce};
use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use rand::rngs::OsRng;
use rand::RngCore;
use sha2::Sha256;

/// Shortest accepted secret. 256 bits matches the session id's strength.
pub(crate) const MIN_SECRET_LEN: usize = 32;
/// Length of an encoded signature: HMAC-SHA256 in unpadded base64url.
pub(crate) const ENCODED_SIGNATURE_LEN: usize = 43;
const NONCE_LEN: usize = 24;

/// Why a secret was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyError {
    /// The secret is shorter than 32 bytes.
    #[error("a session key needs at least {MIN_SECRET_LEN} bytes of secret, got {0}")]
    TooShort(usize),
    /// The key list is empty.
    #[error("at least one session key is required")]
    Empty,
}

/// One secret, from which a signing key and an encryption key are derived (HKDF-SHA256), so the
/// same secret never serves two algorithms.
#[derive(Clone)]
pub struct Key {
    /// HMAC-SHA256 already keyed with the derived signing key: each signature clones it instead
    /// of hashing the key's inner and outer pads again (two of a short MAC's four compressions).
    signing: Hmac<Sha256>,
    sealing: [u8; 32],
}

impl Key {
    /// Derives a key from a secret of at least 32 bytes.
    ///
    /// ```
    /// let key = sessile::Key::from_secret(&[7u8; 32]).unwrap();
    /// assert!(sessile::Key::from_secret(b"short").is_err());
    /// # let _ = key;
    /// ```
    pub fn from_secret(secret: &[u8]) -> Result<Self, KeyError> {
        if secret.len() < MIN_SECRET_LEN {
            return Err(KeyError::TooShort(secret.len()));
        }
        let hkdf = Hkdf::<Sha256>::new(Some(b"sessile v1"), secret);
        let mut signing = [0u8; 32];
        let mut sealing = [0u8; 32];
        hkdf.expand(b"session id signature", &mut signing)
            .expect("32 bytes is a valid HKDF output length");
        hkdf.expand(b"cookie store sealing", &mut sealing)
            .expect("32 bytes is a valid HKDF output length");
        let signing =
            <Hmac<Sha256> as Mac>::new_from_slice(&signing).expect("HMAC takes any key length");
        Ok(Self { signing, sealing })
    }

    /// A random key, for tests and for development setups that accept losing sessions on restart.
    pub fn generate() -> Self {
        let mut secret = [0u8; 32];
        OsRng.fill_bytes(&mut secret);
        Self::from_secret(&secret).expect("32 random bytes are long enough")
    }

    fn mac(&self, name: &str, value: &str) -> Hmac<Sha256> {
        let mut mac = self.signing.clone();
        // The cookie (or header) name is signed too, so a value cannot be replayed under another name.
        mac.update(name.as_bytes());
        mac.update(b"=");
        mac.update(value.as_bytes());
        mac
    }

    fn cipher(&self) -> XChaCha20Poly1305 {
        XChaCha20Poly1305::new((&self.sealing).into())
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Key(..)")
    }
}

/// An ordered key list: the first signs and seals, any of them verifies and opens, so keys rotate
/// without logging anybody out. Values that only an older key accepts are re-issued under the first.
///
/// ```
/// use sessile::{Key, Keys};
/// let old = Key::from_secret(&[1u8; 32]).unwrap();
/// let new = Key::from_secret(&[2u8; 32]).unwrap();
/// let signature = Keys::new(vec![old.clone()]).unwrap().sign("sid", "value");
/// let rotated = Keys::new(vec![new, old]).unwrap();
/// assert_eq!(rotated.verify("sid", "value", &signature), Some(1));
/// ```
#[derive(Clone, Debug)]
pub struct Keys {
    keys: Vec<Key>,
}

/// Which key of the list accepted a value: 0 is the current key; anything else calls for a re-issue.
pub(crate) type KeyIndex = usize;

impl Keys {
    /// A key list; the first key is the current one.
    pub fn new(keys: Vec<Key>) -> Result<Self, KeyError> {
        if keys.is_empty() {
            return Err(KeyError::Empty);
        }
        Ok(Self { keys })
    }

    /// One random key (see [`Key::generate`]).
    pub fn generate() -> Self {
        Self {
            keys: vec![Key::generate()],
        }
    }

    /// The signature of `name=value` under the current key, 43 characters of base64url.
    pub fn sign(&self, name: &str, value: &str) -> String {
        URL_SAFE_NO_PAD.encode(self.keys[0].mac(name, value).finalize().into_bytes())
    }

    /// Which key signed `name=value`, compared in constant time; `None` if none did.
    pub fn verify(&self, name: &str, value: &str, signature: &str) -> Option<KeyIndex> {
        if signature.len() != ENCODED_SIGNATURE_LEN {
            return None;
        }
        let mut expected = [0u8; 32];
        let written = URL_SAFE_NO_PAD
            .decode_slice(signature, &mut expected)
            .ok()?;
        if written != 32 {
            return None;
        }
        self.keys
            .iter()
            .position(|key| key.mac(name, value).verify_slice(&expected).is_ok())
    }

    /// Encrypts `plaintext` under the current key with XChaCha20-Poly1305, binding `name` as
    /// associated data. The result is base64url: a random 24-byte nonce, then the ciphertext.
    pub fn seal(&self, name: &str, plaintext: &[u8]) -> String {
        let mut nonce = [0u8; NONCE_LEN];
        OsRng.fill_bytes(&mut nonce);
        let ciphertext = self.keys[0]
            .cipher()
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: plaintext,
                    aad: name.as_bytes(),
                },
            )
            .expect("XChaCha20-Poly1305 encryption does not fail for in-memory buffers");
        let mut sealed = nonce.to_vec();
        sealed.extend_from_slice(&ciphertext);
        URL_SAFE_NO_PAD.encode(sealed)
    }

    /// Decrypts a value made by [`Keys::seal`] under any key of the list, with the same `name`.
    pub fn open(&self, name: &str, sealed: &str) -> Option<(Vec<u8>, KeyIndex)> {
        let bytes = URL_SAFE_NO_PAD.decode(sealed).ok()?;
        if bytes.len() < NONCE_LEN + 16 {
            return None;
        }
        let (nonce, ciphertext) = bytes.split_at(NONCE_LEN);
        self.keys.iter().enumerate().find_map(|(index, key)| {
            key.cipher()
                .decrypt(
                    XNonce::from_slice(nonce),
                    Payload {
                        msg: ciphertext,
                        aad: name.as_bytes(),
                    },
                )
                .ok()
                .map(|plaintext| (plaintext, index))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(byte: u8) -> Key {
        Key::from_secret(&[byte; 32]).unwrap()
    }

    #[test]
    fn signatures_bind_the_name_and_the_key() {
        let keys = Keys::new(vec![key(1)]).unwrap();
        let signature = keys.sign("sid", "v");
        assert_eq!(keys.verify("sid", "v", &signature), Some(0));
        assert_eq!(keys.verify("other", "v", &signature), None);
        assert_eq!(keys.verify("sid", "w", &signature), None);
        assert_eq!(
            Keys::new(vec![key(2)])
                .unwrap()
                .verify("sid", "v", &signature),
            None
        );
        assert_eq!(keys.verify("sid", "v", &signature[1..]), None);
    }

    #[test]
    fn sealing_round_trips_and_rotates() {
        let old = Keys::new(vec![key(1)]).unwrap();
        let sealed = old.seal("c", b"hello");
        assert_eq!(old.open("c", &sealed), Some((b"hello".to_vec(), 0)));
        assert_eq!(old.open("d", &sealed), None);
        let rotated = Keys::new(vec![key(2), key(1)]).unwrap();
        assert_eq!(rotated.open("c", &sealed), Some((b"hello".to_vec(), 1)));
        assert_eq!(Keys::new(vec![key(2)]).unwrap().open("c", &sealed), None);
        assert_eq!(old.open("c", "!!"), None);
        assert_eq!(old.open("c", ""), None);
    }

    #[test]
    fn short_secrets_and_empty_lists_are_refused() {
        assert_eq!(
            Key::from_secret(&[0; 31]).unwrap_err(),
            KeyError::TooShort(31)
        );
        assert_eq!(Keys::new(vec![]).unwrap_err(), KeyError::Empty);
    }
}
