//! The signing key ring: key ids, secrets kept in redacting newtypes, the
//! first-key-signs rule that makes rotation possible, and each key's material
//! prepared once: an HMAC secret (signs and verifies), an Ed25519 public key
//! (verifies only) or an Ed25519 seed (signs and verifies).
//!
//! A key line's material is `SECRET` (base64url, at least 32 bytes),
//! `ed25519:PUBLIC` or `ed25519-seed:SEED` (base64url, exactly 32 bytes each).

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::{SigningKey, VerifyingKey};
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
    #[error("the {kind} is not base64url of exactly 32 bytes (run `keyhole keygen --alg ed25519`)")]
    /// An `ed25519:` or `ed25519-seed:` value that is not base64url of 32 bytes.
    Ed25519Length {
        /// `Ed25519 public key` or `Ed25519 seed`.
        kind: &'static str,
    },
    #[error("the Ed25519 public key is not a valid curve point, or is a weak (small-order) key")]
    /// An `ed25519:` value that is no usable public key.
    Ed25519BadPoint,
}

/// Why a key could not sign: it is an Ed25519 public key, which only verifies.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error(
    "key `{kid}` is an Ed25519 public key: it verifies but cannot sign (sign with its `ed25519-seed:` line)"
)]
pub struct VerifyOnlyKey {
    /// The key's id.
    pub kid: String,
}

/// What kind of key a line configured; the verifier picks the signature algorithm from
/// it, never from the credential.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyKind {
    /// An HMAC-SHA256 secret: signs and verifies.
    Hmac,
    /// An Ed25519 public key: verifies only.
    Ed25519Public,
    /// An Ed25519 seed (private key): signs and verifies.
    Ed25519Seed,
}

impl KeyKind {
    /// The name used in `explain` and messages.
    pub fn name(self) -> &'static str {
        match self {
            KeyKind::Hmac => "hmac",
            KeyKind::Ed25519Public => "ed25519",
            KeyKind::Ed25519Seed => "ed25519-seed",
        }
    }
}

/// A key's prepared material.
#[derive(Clone)]
pub(crate) enum Material {
    /// HMAC already keyed with the secret; cloned per use instead of re-keying.
    Hmac(HmacSha256),
    /// An Ed25519 public key, checked to be a valid, non-weak point at load.
    Ed25519Public(VerifyingKey),
    /// An Ed25519 signing key (it holds its public key too).
    Ed25519Seed(Box<SigningKey>),
}

/// Prefix of an Ed25519 public key's material.
pub const ED25519_PREFIX: &str = "ed25519:";
/// Prefix of an Ed25519 seed's material.
pub const ED25519_SEED_PREFIX: &str = "ed25519-seed:";

/// Exactly 32 bytes of base64url (padding optional).
fn decode_32(text: &str, kind: &'static str) -> Result<[u8; 32], KeyError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(text.trim_end_matches('='))
        .map_err(|_| KeyError::Ed25519Length { kind })?;
    <[u8; 32]>::try_from(bytes.as_slice()).map_err(|_| KeyError::Ed25519Length { kind })
}

/// The public key of an Ed25519 seed, in base64url without padding (for `keygen`).
pub fn ed25519_public_of(seed: &Secret) -> Result<String, KeyError> {
    let seed = <[u8; 32]>::try_from(seed.expose()).map_err(|_| KeyError::Ed25519Length {
        kind: "Ed25519 seed",
    })?;
    let signing = SigningKey::from_bytes(&seed);
    Ok(URL_SAFE_NO_PAD.encode(signing.verifying_key().as_bytes()))
}

/// One configured key with its material prepared once at load.
#[derive(Clone)]
pub struct Key {
    /// Key id written into credentials.
    pub kid: KeyId,
    /// The secret, public key or seed, ready to use.
    material: Material,
    /// The paths and hosts this key may grant (`;paths=`, `;hosts=`); unlimited by
    /// default.
    pub limits: KeyLimits,
}

impl Key {
    /// Builds an HMAC key from its id and secret.
    pub fn new(kid: KeyId, secret: Secret) -> Result<Self, KeyError> {
        // HMAC takes keys of every length; the error arm only exists in the type.
        let prototype =
            HmacSha256::new_from_slice(secret.expose()).map_err(|_| KeyError::SecretEncoding)?;
        Ok(Key {
            kid,
            material: Material::Hmac(prototype),
            limits: KeyLimits::default(),
        })
    }

    /// The same key, limited to `limits`.
    pub fn with_limits(self, limits: KeyLimits) -> Key {
        Key { limits, ..self }
    }

    /// Builds a key from a key line's material: `SECRET`, `ed25519:PUBLIC` or
    /// `ed25519-seed:SEED`.
    pub fn from_material(kid: KeyId, material: &str) -> Result<Self, KeyError> {
        if let Some(public) = material.strip_prefix(ED25519_PREFIX) {
            let bytes = decode_32(public.trim(), "Ed25519 public key")?;
            let public = VerifyingKey::from_bytes(&bytes).map_err(|_| KeyError::Ed25519BadPoint)?;
            if public.is_weak() {
                return Err(KeyError::Ed25519BadPoint);
            }
            return Ok(Key {
                kid,
                material: Material::Ed25519Public(public),
                limits: KeyLimits::default(),
            });
        }
        if let Some(seed) = material.strip_prefix(ED25519_SEED_PREFIX) {
            let seed = decode_32(seed.trim(), "Ed25519 seed")?;
            return Ok(Key {
                kid,
                material: Material::Ed25519Seed(Box::new(SigningKey::from_bytes(&seed))),
                limits: KeyLimits::default(),
            });
        }
        Key::new(kid, Secret::from_base64url(material.trim())?)
    }

    /// What kind of key this is.
    pub fn kind(&self) -> KeyKind {
        match self.material {
            Material::Hmac(_) => KeyKind::Hmac,
            Material::Ed25519Public(_) => KeyKind::Ed25519Public,
            Material::Ed25519Seed(_) => KeyKind::Ed25519Seed,
        }
    }

    /// Whether this key can sign (an HMAC secret or an Ed25519 seed).
    pub fn can_sign(&self) -> bool {
        self.kind() != KeyKind::Ed25519Public
    }

    /// The public key of an Ed25519 key, in base64url without padding; `None` for
    /// an HMAC key.
    pub fn ed25519_public(&self) -> Option<String> {
        match &self.material {
            Material::Hmac(_) => None,
            Material::Ed25519Public(public) => Some(URL_SAFE_NO_PAD.encode(public.as_bytes())),
            Material::Ed25519Seed(seed) => {
                Some(URL_SAFE_NO_PAD.encode(seed.verifying_key().as_bytes()))
            }
        }
    }

    /// A fresh MAC keyed with this key; `None` for an Ed25519 key.
    pub fn mac(&self) -> Option<HmacSha256> {
        match &self.material {
            Material::Hmac(prototype) => Some(prototype.clone()),
            Material::Ed25519Public(_) | Material::Ed25519Seed(_) => None,
        }
    }

    /// The prepared material, for `verify::mac`.
    pub(crate) fn material(&self) -> &Material {
        &self.material
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Key")
            .field("kid", &self.kid)
            .field("kind", &self.kind().name())
            .field("secret", &"[redacted]")
            .field("limits", &self.limits)
            .finish()
    }
}

/// The configured keys: the first key that can sign signs, all verify.
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
            let (material, limits) =
                KeyLimits::split_entry(rest).map_err(|source| KeyError::Limits {
                    kid: kid.to_string(),
                    source,
                })?;
            let key = Key::from_material(kid, material.trim())?;
            keys.push(key.with_limits(limits));
        }
        KeyRing::new(keys)
    }

    /// The key that signs new credentials: the first key that can sign (an HMAC
    /// secret or an Ed25519 seed). When every key is an Ed25519 public key it is the
    /// first key, and signing with it fails with [`VerifyOnlyKey`]: see
    /// [`can_sign`](Self::can_sign).
    pub fn signing_key(&self) -> &Key {
        self.all().find(|key| key.can_sign()).unwrap_or(&self.first)
    }

    /// Whether any key can sign.
    pub fn can_sign(&self) -> bool {
        self.all().any(Key::can_sign)
    }

    /// Whether any key is an Ed25519 seed (a private key): `keyhole serve` refuses
    /// those unless told it may sign.
    pub fn holds_ed25519_seed(&self) -> bool {
        self.all().any(|key| key.kind() == KeyKind::Ed25519Seed)
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

    /// Every configured key, in order.
    pub fn keys(&self) -> impl Iterator<Item = &Key> {
        self.all()
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
    fn every_material_kind_takes_limits() {
        let seed = Secret::from_base64url(SECRET).unwrap();
        let public = ed25519_public_of(&seed).unwrap();
        let ring = KeyRing::parse(&format!(
            "h:{SECRET};paths=/a/\nv:ed25519:{public};paths=/b/;hosts=img.example.com\ns:ed25519-seed:{SECRET};paths=/c/"
        ))
        .unwrap();
        let kinds = ["h", "v", "s"].map(|kid| ring.find(kid).unwrap().kind());
        assert_eq!(
            kinds,
            [KeyKind::Hmac, KeyKind::Ed25519Public, KeyKind::Ed25519Seed]
        );
        for kid in ["h", "v", "s"] {
            assert!(!ring.find(kid).unwrap().limits.is_unlimited(), "{kid}");
        }
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
                let mut mac = key.mac().unwrap();
                mac.update(data);
                let tag = mac.finalize().into_bytes();
                let hex: String = tag.iter().map(|b| format!("{b:02x}")).collect();
                assert_eq!(hex, expected);
                let mut check = key.mac().unwrap();
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
