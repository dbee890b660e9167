//! Secret keys: signing session ids and sealing cookie-store state, with rotation.

use std::fmt;

use aes_gcm_siv::aead::AeadInPlace;
use aes_gcm_siv::Aes256GcmSiv;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
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
/// What every sealed value made since format 2 starts with. Format 1 values (XChaCha20-Poly1305)
/// are plain base64url, which has no `.`, so the two never look alike.
const SEALED_V2_PREFIX: &str = "2.";
/// AES-256-GCM-SIV's nonce, drawn at random for every seal.
const NONCE_LEN: usize = 12;
/// XChaCha20-Poly1305's nonce in format 1, which is still opened.
const V1_NONCE_LEN: usize = 24;
/// The authentication tag of both AEADs.
const TAG_LEN: usize = 16;

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

/// One secret, from which a signing key and the encryption keys are derived (HKDF-SHA256), so the
/// same secret never serves two algorithms.
#[derive(Clone)]
pub struct Key {
    /// HMAC-SHA256 already keyed with the derived signing key: each signature clones it instead
    /// of hashing the key's inner and outer pads again (two of a short MAC's four compressions).
    signing: Hmac<Sha256>,
    /// AES-256-GCM-SIV with its key schedule expanded once, for every seal and open.
    sealing: Aes256GcmSiv,
    /// The XChaCha20-Poly1305 key of format 1, kept to open cookies sealed before format 2.
    sealing_v1: [u8; 32],
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
        let derive = |info: &[u8]| {
            let mut key = [0u8; 32];
            hkdf.expand(info, &mut key)
                .expect("32 bytes is a valid HKDF output length");
            key
        };
        let signing = <Hmac<Sha256> as Mac>::new_from_slice(&derive(b"session id signature"))
            .expect("HMAC takes any key length");
        // Each AEAD has its own key: the same bytes never key two algorithms.
        let sealing = Aes256GcmSiv::new(&derive(b"cookie store sealing, AES-256-GCM-SIV").into());
        let sealing_v1 = derive(b"cookie store sealing");
        Ok(Self {
            signing,
            sealing,
            sealing_v1,
        })
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

    /// Opens `sealed` (nonce, ciphertext, tag) of the given format in place; on success the
    /// plaintext is `sealed[nonce length .. len - TAG_LEN]`.
    fn open_in_place(&self, format: SealFormat, name: &str, sealed: &mut [u8]) -> Option<()> {
        let (nonce, rest) = sealed.split_at_mut(format.nonce_len());
        let (ciphertext, tag) = rest.split_at_mut(rest.len() - TAG_LEN);
        let tag = (&*tag).into();
        match format {
            SealFormat::V2 => self.sealing.decrypt_in_place_detached(
                (&*nonce).into(),
                name.as_bytes(),
                ciphertext,
                tag,
            ),
            SealFormat::V1 => XChaCha20Poly1305::new((&self.sealing_v1).into())
                .decrypt_in_place_detached(
                    XNonce::from_slice(nonce),
                    name.as_bytes(),
                    ciphertext,
                    tag,
                ),
        }
        .ok()
    }
}

/// The layouts of a sealed value, told apart by [`SEALED_V2_PREFIX`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SealFormat {
    /// Before format 2: base64url of a 24-byte nonce, XChaCha20-Poly1305 ciphertext and tag.
    V1,
    /// `2.` then base64url of a 12-byte nonce, AES-256-GCM-SIV ciphertext and tag.
    V2,
}

impl SealFormat {
    fn nonce_len(self) -> usize {
        match self {
            SealFormat::V1 => V1_NONCE_LEN,
            SealFormat::V2 => NONCE_LEN,
        }
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

    /// Encrypts `plaintext` under the current key with AES-256-GCM-SIV, binding `name` as
    /// associated data. The result is `2.` and base64url: a random 12-byte nonce, the
    /// ciphertext, the tag.
    pub fn seal(&self, name: &str, plaintext: &[u8]) -> String {
        self.seal_with(name, plaintext.len(), |buffer| {
            buffer.extend_from_slice(plaintext)
        })
    }

    /// [`Keys::seal`] of the bytes `write` appends to the buffer it is given, sealed where they
    /// were written: one buffer for the plaintext, the nonce and the tag, one for the text.
    /// `expected_len` sizes the buffer.
    ///
    /// The nonce comes from the thread's CSPRNG (`rand::thread_rng`: ChaCha12 seeded from the
    /// OS, reseeded from it every 64 KiB of output and after a fork), so sealing makes no system
    /// call. Its output is as unpredictable and as unlikely to repeat as the OS's. And a
    /// repeated nonce would not break AES-GCM-SIV as it breaks AES-GCM: its nonce-misuse
    /// resistance (RFC 8452) leaks only that the same plaintext was sealed twice.
    pub(crate) fn seal_with(
        &self,
        name: &str,
        expected_len: usize,
        write: impl FnOnce(&mut Vec<u8>),
    ) -> String {
        let mut buffer = Vec::with_capacity(NONCE_LEN + expected_len + TAG_LEN);
        buffer.resize(NONCE_LEN, 0);
        rand::thread_rng().fill_bytes(&mut buffer);
        write(&mut buffer);
        let (nonce, plaintext) = buffer.split_at_mut(NONCE_LEN);
        let tag = self.keys[0]
            .sealing
            .encrypt_in_place_detached((&*nonce).into(), name.as_bytes(), plaintext)
            .expect("AES-256-GCM-SIV seals any in-memory message shorter than 64 GiB");
        buffer.extend_from_slice(&tag);
        let mut sealed = String::with_capacity(
            SEALED_V2_PREFIX.len() + base64::encoded_len(buffer.len(), false).unwrap_or(0),
        );
        sealed.push_str(SEALED_V2_PREFIX);
        URL_SAFE_NO_PAD.encode_string(&buffer, &mut sealed);
        sealed
    }

    /// Decrypts a value made by [`Keys::seal`] (or by a sessile from before format 2) under any
    /// key of the list, with the same `name`.
    pub fn open(&self, name: &str, sealed: &str) -> Option<(Vec<u8>, KeyIndex)> {
        self.open_with(name, sealed, |_, plaintext| Some(plaintext.to_vec()))
    }

    /// [`Keys::open`], handing `read` the value's format and the plaintext in the buffer it was
    /// decrypted in.
    pub(crate) fn open_with<T>(
        &self,
        name: &str,
        sealed: &str,
        read: impl FnOnce(SealFormat, &[u8]) -> Option<T>,
    ) -> Option<(T, KeyIndex)> {
        let (format, encoded) = match sealed.strip_prefix(SEALED_V2_PREFIX) {
            Some(encoded) => (SealFormat::V2, encoded),
            None => (SealFormat::V1, sealed),
        };
        let mut bytes = URL_SAFE_NO_PAD.decode(encoded).ok()?;
        if bytes.len() < format.nonce_len() + TAG_LEN {
            return None;
        }
        // A failed attempt leaves the buffer as it was (XChaCha20-Poly1305 checks the tag before
        // decrypting, AES-GCM-SIV encrypts the bytes back when the tag fails), so the next key
        // starts from the same bytes.
        let index = self
            .keys
            .iter()
            .position(|key| key.open_in_place(format, name, &mut bytes).is_some())?;
        let plaintext = &bytes[format.nonce_len()..bytes.len() - TAG_LEN];
        Some((read(format, plaintext)?, index))
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

    /// `Keys::seal("id", b"sealed before format 2")` by sessile before format 2
    /// (XChaCha20-Poly1305), under the key of the secret `[7; 32]`.
    const SEALED_IN_FORMAT_1: &str =
        "LQOIbKvlJchrWmuHQIJjSidRBL2DEpPUzrosEbLtZn0GAq7EEUpu5rV5AHTYn_PHWAb_A1IyRAZu-V6iC1w";

    #[test]
    fn values_sealed_in_format_1_still_open() {
        let plaintext = b"sealed before format 2".to_vec();
        let keys = Keys::new(vec![key(7)]).unwrap();
        assert_eq!(
            keys.open("id", SEALED_IN_FORMAT_1),
            Some((plaintext.clone(), 0))
        );
        assert_eq!(keys.open("other", SEALED_IN_FORMAT_1), None);
        let rotated = Keys::new(vec![key(8), key(7)]).unwrap();
        assert_eq!(rotated.open("id", SEALED_IN_FORMAT_1), Some((plaintext, 1)));
        // Read as format 2 it is nothing.
        assert_eq!(keys.open("id", &format!("2.{SEALED_IN_FORMAT_1}")), None);
        let mut tampered = SEALED_IN_FORMAT_1.to_owned();
        tampered.replace_range(40..41, "A");
        assert_eq!(keys.open("id", &tampered), None);
    }

    #[test]
    fn new_values_are_format_2_with_a_fresh_nonce() {
        let keys = Keys::new(vec![key(1)]).unwrap();
        let sealed = keys.seal("c", b"hello");
        // The marker, then base64url of nonce, 5 bytes of ciphertext and the tag.
        assert!(sealed.starts_with(SEALED_V2_PREFIX));
        assert_eq!(sealed.len(), 2 + (NONCE_LEN + 5 + TAG_LEN).div_ceil(3) * 4);
        assert_ne!(keys.seal("c", b"hello"), sealed);
        // Without its marker it is read as format 1, and does not open.
        assert_eq!(keys.open("c", &sealed[2..]), None);
        assert_eq!(keys.open("c", "2."), None);
        assert_eq!(keys.open("c", "2.!!"), None);
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
