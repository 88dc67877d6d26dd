//! The signing key ring: key ids, secrets kept in redacting newtypes, the
//! first-key-signs rule that makes rotation possible, and HMAC state prepared once.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::key_limits::{KeyLimits, LimitsError};

/// HMAC-SHA256, the only MAC keyhole's own credentials use.
pub type HmacSha256 = Hmac<Sha256>;

/// Shortest secret accepted, in bytes once decoded.
pub(crate) const MIN_SECRET_LEN: usize = 32;

/// Longest key id accepted.
pub(crate) const MAX_KID_LEN: usize = 32;

/// A key id: 1 to 32 characters of `A-Z a-z 0-9 _ -`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct KeyId(String);

impl KeyId {
    /// Parses a key id, or says which rule it breaks.
    pub fn parse(text: &str) -> Result<Self, KeyError> {
        if text.is_empty() || text.len() > MAX_KID_LEN {
            return Err(KeyError::KidLength(text.len()));
        }
        if !text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        {
            return Err(KeyError::KidChars);
        }
        Ok(KeyId(text.to_owned()))
    }

    /// The key id text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Secret key bytes. `Debug` prints `[redacted]`, and there is no `Display`, so a
/// secret cannot be formatted into a message or a log; [`Secret::expose`] and
/// [`Secret::to_base64url`] are the only ways to its bytes.
#[derive(Clone)]
pub struct Secret(Vec<u8>);

impl Secret {
    /// Decodes a base64url secret (padding optional) of at least 32 bytes.
    pub fn from_base64url(text: &str) -> Result<Self, KeyError> {
        let trimmed = text.trim_end_matches('=');
        let bytes = URL_SAFE_NO_PAD
            .decode(trimmed)
            .map_err(|_| KeyError::SecretEncoding)?;
        if bytes.len() < MIN_SECRET_LEN {
            return Err(KeyError::SecretTooShort(bytes.len()));
        }
        Ok(Secret(bytes))
    }

    /// A fresh random secret of 32 bytes from the operating system.
    pub fn generate() -> Result<Self, KeyError> {
        let mut bytes = vec![0u8; MIN_SECRET_LEN];
        getrandom::fill(&mut bytes).map_err(|_| KeyError::Random)?;
        Ok(Secret(bytes))
    }

    /// The secret in base64url without padding, for `keygen` output only.
    pub fn to_base64url(&self) -> String {
        URL_SAFE_NO_PAD.encode(&self.0)
    }

    /// The raw bytes.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// Why a key entry was refused. Messages never include secret material.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum KeyError {
    #[error("a key entry must be `kid:secret`, got an entry without `:`")]
    /// An entry without `:` between key id and secret.
    MissingColon,
    #[error("a key id must be 1 to {MAX_KID_LEN} characters, got {0}")]
    /// A key id of the wrong length (the length).
    KidLength(usize),
    #[error("a key id may hold only A-Z, a-z, 0-9, `_` and `-`")]
    /// A key id with characters outside `A-Z a-z 0-9 _ -`.
    KidChars,
    #[error("the secret is not base64url (alphabet A-Z a-z 0-9 - _)")]
    /// A secret that is not base64url.
    SecretEncoding,
    #[error(
        "the secret decodes to {0} bytes; at least {MIN_SECRET_LEN} are required (run `keyhole keygen`)"
    )]
    /// A secret shorter than 32 bytes (its length).
    SecretTooShort(usize),
    #[error("key id `{0}` is listed twice")]
    /// Two keys share a key id (the id).
    DuplicateKid(String),
    #[error("no key is configured")]
    /// No key at all.
    Empty,
    #[error("key `{kid}`: {source}")]
    /// A key's `;paths=` / `;hosts=` attributes do not parse (the key id, the problem).
    Limits {
        /// The key id.
        kid: String,
        /// What is wrong with the attributes.
        source: LimitsError,
    },
    #[error("the operating system's random number generator failed")]
    /// The operating system's random number generator failed (`keygen`).
    Random,
}

/// One configured key with its HMAC state keyed once at load.
#[derive(Clone)]
pub struct Key {
    /// Key id written into credentials.
    pub kid: KeyId,
    /// HMAC already keyed with the secret; cloned per use instead of re-keying.
    prototype: HmacSha256,
    /// The paths and hosts this key may grant (`;paths=`, `;hosts=`); unlimited by
    /// default.
    pub limits: KeyLimits,
}

impl Key {
    /// Builds a key from its id and secret.
    pub fn new(kid: KeyId, secret: Secret) -> Result<Self, KeyError> {
        // HMAC takes keys of every length; the error arm only exists in the type.
        let prototype =
            HmacSha256::new_from_slice(secret.expose()).map_err(|_| KeyError::SecretEncoding)?;
        Ok(Key {
            kid,
            prototype,
            limits: KeyLimits::default(),
        })
    }

    /// The same key, limited to `limits`.
    pub fn with_limits(self, limits: KeyLimits) -> Key {
        Key { limits, ..self }
    }

    /// A fresh MAC keyed with this key.
    pub fn mac(&self) -> HmacSha256 {
        self.prototype.clone()
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Key")
            .field("kid", &self.kid)
            .field("secret", &"[redacted]")
            .field("limits", &self.limits)
            .finish()
    }
}

/// The configured keys: the first signs, all verify.
#[derive(Clone, Debug)]
pub struct KeyRing {
    /// The key that signs; it verifies too.
    first: Key,
    /// Further keys that only verify (old keys during a rotation, or new ones being
    /// introduced).
    rest: Vec<Key>,
}

impl KeyRing {
    /// Builds a ring; the list must be non-empty with unique key ids.
    pub fn new(keys: Vec<Key>) -> Result<Self, KeyError> {
        for (index, key) in keys.iter().enumerate() {
            if keys
                .iter()
                .take(index)
                .any(|earlier| earlier.kid == key.kid)
            {
                return Err(KeyError::DuplicateKid(key.kid.to_string()));
            }
        }
        let mut keys = keys.into_iter();
        let first = keys.next().ok_or(KeyError::Empty)?;
        Ok(KeyRing {
            first,
            rest: keys.collect(),
        })
    }

    /// Parses `kid:secret` entries, each optionally followed by `;paths=…;hosts=…`
    /// limits, separated by commas or newlines; blank lines and lines starting with
    /// `#` are skipped (for key files).
    pub fn parse(text: &str) -> Result<Self, KeyError> {
        let mut keys = Vec::new();
        for entry in text.split([',', '\n']) {
            let entry = entry.trim();
            if entry.is_empty() || entry.starts_with('#') {
                continue;
            }
            let (kid, rest) = entry.split_once(':').ok_or(KeyError::MissingColon)?;
            let kid = KeyId::parse(kid.trim())?;
            let (secret, limits) =
                KeyLimits::split_entry(rest).map_err(|source| KeyError::Limits {
                    kid: kid.to_string(),
                    source,
                })?;
            let key = Key::new(kid, Secret::from_base64url(secret.trim())?)?;
            keys.push(key.with_limits(limits));
        }
        KeyRing::new(keys)
    }

    /// The key that signs new credentials.
    pub fn signing_key(&self) -> &Key {
        &self.first
    }

    /// The key with this id, if configured. Key ids are compared as plain strings:
    /// they are public, only the MAC is secret.
    pub fn find(&self, kid: &str) -> Option<&Key> {
        self.all().find(|key| key.kid.as_str() == kid)
    }

    /// Every configured key id, in order.
    pub fn kids(&self) -> impl Iterator<Item = &KeyId> {
        self.all().map(|key| &key.kid)
    }

    fn all(&self) -> impl Iterator<Item = &Key> {
        std::iter::once(&self.first).chain(self.rest.iter())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8";

    #[test]
    fn parses_comma_and_line_separated_entries() {
        let ring = KeyRing::parse(&format!("k1:{SECRET}, k2:{SECRET}")).unwrap();
        assert_eq!(ring.signing_key().kid.as_str(), "k1");
        assert!(ring.find("k2").is_some());
        let file = format!("# rotated 2026-11\nk2:{SECRET}\n\nk1:{SECRET}=\n");
        let ring = KeyRing::parse(&file).unwrap();
        assert_eq!(
            ring.kids().map(KeyId::as_str).collect::<Vec<_>>(),
            ["k2", "k1"]
        );
    }

    #[test]
    fn refuses_short_bad_and_duplicate_keys() {
        assert_eq!(
            KeyRing::parse("k1:AAAA").unwrap_err(),
            KeyError::SecretTooShort(3)
        );
        assert_eq!(KeyRing::parse("k1").unwrap_err(), KeyError::MissingColon);
        assert_eq!(
            KeyRing::parse("k1:***").unwrap_err(),
            KeyError::SecretEncoding
        );
        assert_eq!(
            KeyRing::parse(&format!("k/1:{SECRET}")).unwrap_err(),
            KeyError::KidChars
        );
        assert_eq!(
            KeyRing::parse(&format!("k1:{SECRET},k1:{SECRET}")).unwrap_err(),
            KeyError::DuplicateKid("k1".into())
        );
        assert_eq!(KeyRing::parse(" \n").unwrap_err(), KeyError::Empty);
    }

    #[test]
    fn entries_carry_their_limits() {
        let ring = KeyRing::parse(&format!(
            "a:{SECRET};paths=/protected/a/,b:{SECRET} ; paths=/protected/b/;hosts=localhost\nc:{SECRET}"
        ))
        .unwrap();
        assert_eq!(
            ring.find("a").unwrap().limits.to_string(),
            "paths=/protected/a/"
        );
        assert_eq!(
            ring.find("b").unwrap().limits.to_string(),
            "paths=/protected/b/;hosts=localhost"
        );
        assert!(ring.find("c").unwrap().limits.is_unlimited());
        assert!(matches!(
            KeyRing::parse(&format!("a:{SECRET};path=/a/")).unwrap_err(),
            KeyError::Limits { kid, .. } if kid == "a"
        ));
    }

    #[test]
    fn secrets_never_print() {
        let ring = KeyRing::parse(&format!("k1:{SECRET}")).unwrap();
        let debug = format!("{ring:?}");
        assert!(!debug.contains(SECRET), "{debug}");
        assert!(debug.contains("[redacted]"));
    }

    /// RFC 4231 test cases 6 and 7 (HMAC-SHA256), the two whose key is at least the
    /// 32 bytes keyhole requires, through keyhole's own path: a base64url secret, a
    /// `Key` keyed once, and the prototype MAC cloned per use, as signing and verifying
    /// do. Each is run twice on one key, so a prototype that kept state would fail.
    #[test]
    fn rfc4231_hmac_sha256_through_the_key_prototype() {
        let key = Secret::from_base64url(&URL_SAFE_NO_PAD.encode([0xaa_u8; 131])).unwrap();
        let key = Key::new(KeyId::parse("rfc").unwrap(), key).unwrap();
        let cases: [(&[u8], &str); 2] = [
            (
                b"Test Using Larger Than Block-Size Key - Hash Key First",
                "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54",
            ),
            (
                b"This is a test using a larger than block-size key and a larger than block-size data. The key needs to be hashed before being used by the HMAC algorithm.",
                "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2",
            ),
        ];
        for _ in 0..2 {
            for (data, expected) in cases {
                let mut mac = key.mac();
                mac.update(data);
                let tag = mac.finalize().into_bytes();
                let hex: String = tag.iter().map(|b| format!("{b:02x}")).collect();
                assert_eq!(hex, expected);
                let mut check = key.mac();
                check.update(data);
                assert!(check.verify_slice(&tag).is_ok());
            }
        }
    }

    #[test]
    fn generated_secrets_round_trip() {
        let secret = Secret::generate().unwrap();
        let again = Secret::from_base64url(&secret.to_base64url()).unwrap();
        assert_eq!(secret.expose(), again.expose());
    }
}
