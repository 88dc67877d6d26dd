//! JWT verification keys: each has a key id and exactly one algorithm and is parsed
//! once at start into a [`DecodingKey`]. HMAC keys come from `kid:ALG:secret` lines; public keys (RSA, EC,
//! Ed25519) from a JWKS document in which every key names its `alg`.

use std::fmt;
use std::sync::{Arc, RwLock};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, JwkSet, PublicKeyUse};
use jsonwebtoken::{Algorithm, AlgorithmFamily, DecodingKey};

use crate::key_limits::{KeyLimits, LimitsError};
use crate::keys::{KeyError, Secret};

/// Longest key id accepted (JWKS key ids are often thumbprints, longer than
/// signed-URL key ids).
pub(crate) const MAX_JWT_KID_LEN: usize = 128;

/// Smallest RSA modulus accepted, in bits.
pub(crate) const MIN_RSA_BITS: usize = 2048;

/// The algorithms keyhole accepts, with their names as written in `alg`.
pub(crate) const ALGORITHMS: [(&str, Algorithm); 12] = [
    ("HS256", Algorithm::HS256),
    ("HS384", Algorithm::HS384),
    ("HS512", Algorithm::HS512),
    ("RS256", Algorithm::RS256),
    ("RS384", Algorithm::RS384),
    ("RS512", Algorithm::RS512),
    ("PS256", Algorithm::PS256),
    ("PS384", Algorithm::PS384),
    ("PS512", Algorithm::PS512),
    ("ES256", Algorithm::ES256),
    ("ES384", Algorithm::ES384),
    ("EdDSA", Algorithm::EdDSA),
];

/// The `alg` name of an algorithm.
pub fn algorithm_name(alg: Algorithm) -> &'static str {
    ALGORITHMS
        .iter()
        .find(|(_, a)| *a == alg)
        .map_or("?", |(name, _)| name)
}

/// Parses an exact (case-sensitive) `alg` name.
pub fn parse_algorithm(name: &str) -> Option<Algorithm> {
    ALGORITHMS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, alg)| *alg)
}

/// Why a JWT key was refused. Messages never include key material.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum JwtKeyError {
    #[error(
        "a JWT key entry must be `kid:ALG:secret`, got an entry with {0} `:`-separated part(s)"
    )]
    /// A `KEYHOLE_JWT_KEYS` entry without exactly three parts (the count it had).
    Shape(usize),
    #[error(
        "a JWT key id must be 1 to {MAX_JWT_KID_LEN} visible ASCII characters (no spaces), got `{0}`"
    )]
    /// A key id that is empty, too long or not visible ASCII (the id).
    Kid(String),
    #[error(
        "key `{kid}`: unknown algorithm `{alg}`; use one of HS256, HS384, HS512 here (public-key algorithms come from KEYHOLE_JWKS_FILE)"
    )]
    /// A `kid:ALG:secret` entry whose algorithm is not HS256, HS384 or HS512.
    NotHmac {
        /// The entry's key id.
        kid: String,
        /// The algorithm as written.
        alg: String,
    },
    #[error("key `{kid}`: {source}")]
    /// The entry's secret is refused.
    Secret {
        /// The entry's key id.
        kid: String,
        /// Why the secret is refused.
        source: KeyError,
    },
    #[error("key `{kid}`: {source}")]
    /// The entry's `;paths=` / `;hosts=` attributes are refused.
    Limits {
        /// The entry's key id.
        kid: String,
        /// What is wrong with the attributes.
        source: LimitsError,
    },
    #[error("key id `{0}` is listed twice (across all JWT key sources)")]
    /// Two keys share a key id (the id).
    DuplicateKid(String),
    #[error("the JWKS document does not parse: {0}")]
    /// The JWKS document is not JSON of the JWKS shape (the parser's message).
    Jwks(String),
    #[error("a JWKS key has no `kid`; every key needs one")]
    /// A JWKS key without `kid`.
    JwkNoKid,
    #[error("JWKS key `{0}` has no supported `alg` (one of RS256…PS512, ES256, ES384, EdDSA)")]
    /// A JWKS key without a supported `alg` (its key id).
    JwkAlg(String),
    #[error("JWKS key `{0}` is symmetric (`oct`); HMAC keys belong in KEYHOLE_JWT_KEYS")]
    /// A symmetric (`oct`) key in a JWKS (its key id).
    JwkSymmetric(String),
    #[error("JWKS key `{0}` has `use` other than `sig`")]
    /// A JWKS key whose `use` is not `sig` (its key id).
    JwkUse(String),
    #[error("JWKS key `{kid}`: its key type or curve does not fit `alg` {alg}")]
    /// A JWKS key whose type or curve does not fit its `alg`.
    JwkMismatch {
        /// The key id.
        kid: String,
        /// The key's `alg`.
        alg: &'static str,
    },
    #[error("JWKS key `{kid}`: RSA modulus of {bits} bits; at least {MIN_RSA_BITS} are required")]
    /// An RSA key with a modulus shorter than 2048 bits.
    JwkRsaTooSmall {
        /// The key id.
        kid: String,
        /// The modulus length.
        bits: usize,
    },
    #[error("JWKS key `{kid}` is not a valid public key")]
    /// A JWKS key that does not load as a public key.
    JwkInvalid {
        /// The key id.
        kid: String,
    },
}

/// One verification key.
#[derive(Clone)]
pub struct JwtKey {
    /// The `kid` tokens name.
    pub kid: String,
    /// The one algorithm this key verifies.
    pub alg: Algorithm,
    /// The key, parsed once.
    pub(super) decoding: DecodingKey,
    /// The paths and hosts this key may grant; unlimited by default. JWKS keys get
    /// theirs by key id from `KEYHOLE_JWKS_KEY_LIMITS` (see [`RemoteLimits`]).
    pub limits: KeyLimits,
}

impl fmt::Debug for JwtKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtKey")
            .field("kid", &self.kid)
            .field("alg", &algorithm_name(self.alg))
            .field("key", &"[redacted]")
            .field("limits", &self.limits)
            .finish()
    }
}

fn parse_kid(text: &str) -> Result<String, JwtKeyError> {
    let ok = !text.is_empty()
        && text.len() <= MAX_JWT_KID_LEN
        && text.bytes().all(|b| b.is_ascii_graphic());
    if ok {
        Ok(text.to_owned())
    } else {
        Err(JwtKeyError::Kid(text.chars().take(40).collect()))
    }
}

impl JwtKey {
    /// An HMAC key.
    pub fn hmac(kid: &str, alg: Algorithm, secret: &Secret) -> Result<Self, JwtKeyError> {
        let kid = parse_kid(kid)?;
        if alg.family() != AlgorithmFamily::Hmac {
            return Err(JwtKeyError::NotHmac {
                kid,
                alg: algorithm_name(alg).into(),
            });
        }
        Ok(JwtKey {
            kid,
            alg,
            decoding: DecodingKey::from_secret(secret.expose()),
            limits: KeyLimits::default(),
        })
    }

    /// A public key from one JWKS entry, which must name its `kid` and `alg`.
    pub fn from_jwk(jwk: &Jwk) -> Result<Self, JwtKeyError> {
        let kid = parse_kid(jwk.common.key_id.as_deref().ok_or(JwtKeyError::JwkNoKid)?)?;
        if matches!(jwk.algorithm, AlgorithmParameters::OctetKey(_)) {
            return Err(JwtKeyError::JwkSymmetric(kid));
        }
        match &jwk.common.public_key_use {
            None | Some(PublicKeyUse::Signature) => {}
            Some(_) => return Err(JwtKeyError::JwkUse(kid)),
        }
        let alg = jwk
            .common
            .key_algorithm
            .and_then(|alg| parse_algorithm(&alg.to_string()))
            .filter(|alg| alg.family() != AlgorithmFamily::Hmac)
            .ok_or_else(|| JwtKeyError::JwkAlg(kid.clone()))?;
        let fits = match (&jwk.algorithm, alg) {
            (AlgorithmParameters::RSA(_), _) => alg.family() == AlgorithmFamily::Rsa,
            (AlgorithmParameters::EllipticCurve(ec), Algorithm::ES256) => {
                ec.curve == EllipticCurve::P256
            }
            (AlgorithmParameters::EllipticCurve(ec), Algorithm::ES384) => {
                ec.curve == EllipticCurve::P384
            }
            (AlgorithmParameters::OctetKeyPair(okp), Algorithm::EdDSA) => {
                okp.curve == EllipticCurve::Ed25519
            }
            _ => false,
        };
        if !fits {
            return Err(JwtKeyError::JwkMismatch {
                kid,
                alg: algorithm_name(alg),
            });
        }
        if let AlgorithmParameters::RSA(rsa) = &jwk.algorithm {
            let modulus = URL_SAFE_NO_PAD
                .decode(rsa.n.trim_end_matches('='))
                .map_err(|_| JwtKeyError::JwkInvalid { kid: kid.clone() })?;
            let leading_zeros = modulus.iter().take_while(|b| **b == 0).count();
            let bits = (modulus.len() - leading_zeros) * 8;
            if bits < MIN_RSA_BITS {
                return Err(JwtKeyError::JwkRsaTooSmall { kid, bits });
            }
        }
        let decoding =
            DecodingKey::from_jwk(jwk).map_err(|_| JwtKeyError::JwkInvalid { kid: kid.clone() })?;
        Ok(JwtKey {
            kid,
            alg,
            decoding,
            limits: KeyLimits::default(),
        })
    }

    /// Whether `signature_b64url` (a JWS signature segment: base64url, no padding) is
    /// this key's signature over `message` under its one algorithm. An empty or
    /// undecodable signature is not. This is the whole signature check of the request
    /// path (`verify_jws` calls it with the JWS signing input); the Wycheproof tests
    /// (`tests/wycheproof.rs`) drive raw-message vectors through it.
    pub fn verify_signature(&self, message: &[u8], signature_b64url: &str) -> bool {
        !signature_b64url.is_empty()
            && matches!(
                jsonwebtoken::crypto::verify(signature_b64url, message, &self.decoding, self.alg),
                Ok(true)
            )
    }
}

/// Parses `kid:ALG:secret` HMAC entries, each optionally followed by
/// `;paths=…;hosts=…` limits, separated by commas or newlines; blank lines and `#`
/// lines are skipped.
pub fn parse_hmac_keys(text: &str) -> Result<Vec<JwtKey>, JwtKeyError> {
    let mut keys = Vec::new();
    for entry in text.split([',', '\n']) {
        let entry = entry.trim();
        if entry.is_empty() || entry.starts_with('#') {
            continue;
        }
        let (entry, attributes) = match entry.split_once(';') {
            Some((entry, attributes)) => (entry, Some(attributes)),
            None => (entry, None),
        };
        let parts: Vec<&str> = entry.split(':').collect();
        let [kid, alg, secret] = parts.as_slice() else {
            return Err(JwtKeyError::Shape(parts.len()));
        };
        let kid = kid.trim();
        let alg_text = alg.trim();
        let alg = parse_algorithm(alg_text)
            .filter(|alg| alg.family() == AlgorithmFamily::Hmac)
            .ok_or_else(|| JwtKeyError::NotHmac {
                kid: kid.to_owned(),
                alg: alg_text.to_owned(),
            })?;
        let secret =
            Secret::from_base64url(secret.trim()).map_err(|source| JwtKeyError::Secret {
                kid: kid.to_owned(),
                source,
            })?;
        let mut key = JwtKey::hmac(kid, alg, &secret)?;
        if let Some(attributes) = attributes {
            key.limits = KeyLimits::parse(attributes).map_err(|source| JwtKeyError::Limits {
                kid: kid.to_owned(),
                source,
            })?;
        }
        keys.push(key);
    }
    Ok(keys)
}

/// Parses a JWKS document (`{"keys":[…]}`) of public keys.
pub fn parse_jwks(text: &str) -> Result<Vec<JwtKey>, JwtKeyError> {
    let set: JwkSet = serde_json::from_str(text).map_err(|e| JwtKeyError::Jwks(e.to_string()))?;
    set.keys.iter().map(JwtKey::from_jwk).collect()
}

/// Refuses a key list with a repeated key id.
pub fn check_unique(keys: &[JwtKey]) -> Result<(), JwtKeyError> {
    for (index, key) in keys.iter().enumerate() {
        if keys
            .iter()
            .take(index)
            .any(|earlier| earlier.kid == key.kid)
        {
            return Err(JwtKeyError::DuplicateKid(key.kid.clone()));
        }
    }
    Ok(())
}

/// The keys of a remote JWKS, replaced whole by the service's JWKS fetcher and read
/// by the verifier. The verifier never fetches: it only reads the current snapshot.
#[derive(Debug, Default)]
pub struct RemoteKeys {
    /// The last good set.
    current: RwLock<Arc<Vec<Arc<JwtKey>>>>,
}

impl RemoteKeys {
    /// The current set (cheap: one `Arc` clone).
    pub(crate) fn snapshot(&self) -> Arc<Vec<Arc<JwtKey>>> {
        self.current
            .read()
            .map(|keys| Arc::clone(&keys))
            .unwrap_or_default()
    }

    /// Replaces the set.
    pub fn replace(&self, keys: Vec<JwtKey>) {
        if let Ok(mut current) = self.current.write() {
            *current = Arc::new(keys.into_iter().map(Arc::new).collect());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8";

    #[test]
    fn hmac_entries_parse() {
        let keys =
            parse_hmac_keys(&format!("j1:HS256:{SECRET}\n# old\nj2:HS512:{SECRET}")).unwrap();
        assert_eq!(keys.len(), 2);
        assert_eq!(keys[1].alg, Algorithm::HS512);
        let debug = format!("{keys:?}");
        assert!(
            !debug.contains(SECRET) && debug.contains("[redacted]"),
            "{debug}"
        );
    }

    #[test]
    fn bad_hmac_entries_are_refused() {
        assert_eq!(
            parse_hmac_keys(&format!("j1:{SECRET}")).unwrap_err(),
            JwtKeyError::Shape(2)
        );
        assert!(matches!(
            parse_hmac_keys(&format!("j1:RS256:{SECRET}")),
            Err(JwtKeyError::NotHmac { .. })
        ));
        assert!(matches!(
            parse_hmac_keys(&format!("j1:none:{SECRET}")),
            Err(JwtKeyError::NotHmac { .. })
        ));
        assert!(matches!(
            parse_hmac_keys("j1:HS256:AAAA"),
            Err(JwtKeyError::Secret { .. })
        ));
        assert!(matches!(
            parse_hmac_keys(&format!("j 1:HS256:{SECRET}")),
            Err(JwtKeyError::Kid(_))
        ));
        let keys = parse_hmac_keys(&format!("j1:HS256:{SECRET},j1:HS384:{SECRET}")).unwrap();
        assert_eq!(
            check_unique(&keys),
            Err(JwtKeyError::DuplicateKid("j1".into()))
        );
    }

    #[test]
    fn jwks_needs_kid_alg_and_matching_curve() {
        let x = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo";
        let ok = format!(
            r#"{{"keys":[{{"kty":"OKP","crv":"Ed25519","x":"{x}","kid":"e1","alg":"EdDSA"}}]}}"#
        );
        assert_eq!(parse_jwks(&ok).unwrap()[0].alg, Algorithm::EdDSA);
        let no_alg =
            format!(r#"{{"keys":[{{"kty":"OKP","crv":"Ed25519","x":"{x}","kid":"e1"}}]}}"#);
        assert_eq!(
            parse_jwks(&no_alg).unwrap_err(),
            JwtKeyError::JwkAlg("e1".into())
        );
        let no_kid =
            format!(r#"{{"keys":[{{"kty":"OKP","crv":"Ed25519","x":"{x}","alg":"EdDSA"}}]}}"#);
        assert_eq!(parse_jwks(&no_kid).unwrap_err(), JwtKeyError::JwkNoKid);
        let wrong = format!(
            r#"{{"keys":[{{"kty":"OKP","crv":"Ed25519","x":"{x}","kid":"e1","alg":"ES256"}}]}}"#
        );
        assert!(matches!(
            parse_jwks(&wrong),
            Err(JwtKeyError::JwkMismatch { .. })
        ));
        let oct = r#"{"keys":[{"kty":"oct","k":"AAAA","kid":"h1","alg":"HS256"}]}"#;
        assert_eq!(
            parse_jwks(oct).unwrap_err(),
            JwtKeyError::JwkSymmetric("h1".into())
        );
        let small_rsa =
            r#"{"keys":[{"kty":"RSA","n":"AQAB","e":"AQAB","kid":"r1","alg":"RS256"}]}"#;
        assert!(matches!(
            parse_jwks(small_rsa),
            Err(JwtKeyError::JwkRsaTooSmall { .. })
        ));
    }
}

/// Limits for keys of a remote JWKS, by key id (`KEYHOLE_JWKS_KEY_LIMITS`): the JWKS
/// itself cannot say what a key may grant. Once any is configured, a JWKS key whose id
/// is not listed grants nothing (`key-out-of-scope`): a key the identity provider
/// adds later does not silently open every file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RemoteLimits {
    /// `(kid, limits)`, unique by key id.
    entries: Vec<(String, KeyLimits)>,
}

impl RemoteLimits {
    /// Parses `kid;paths=…;hosts=…` entries separated by commas or newlines; blank
    /// lines and `#` lines are skipped.
    pub fn parse(text: &str) -> Result<RemoteLimits, JwtKeyError> {
        let mut entries: Vec<(String, KeyLimits)> = Vec::new();
        for entry in text.split([',', '\n']) {
            let entry = entry.trim();
            if entry.is_empty() || entry.starts_with('#') {
                continue;
            }
            // A key id alone is listed without limits: it may grant everything.
            let (kid, limits) = match entry.split_once(';') {
                None => (parse_kid(entry)?, KeyLimits::default()),
                Some((kid, attributes)) => {
                    let kid = parse_kid(kid.trim())?;
                    let limits =
                        KeyLimits::parse(attributes).map_err(|source| JwtKeyError::Limits {
                            kid: kid.clone(),
                            source,
                        })?;
                    (kid, limits)
                }
            };
            if entries.iter().any(|(seen, _)| *seen == kid) {
                return Err(JwtKeyError::DuplicateKid(kid));
            }
            entries.push((kid, limits));
        }
        Ok(RemoteLimits { entries })
    }

    /// Whether any limit is configured.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The limits of remote key `kid`: unlimited when nothing is configured, `None`
    /// (grants nothing) when others are configured but not this one.
    pub fn for_kid(&self, kid: &str) -> Option<&KeyLimits> {
        static UNLIMITED: KeyLimits = KeyLimits {
            paths: Vec::new(),
            hosts: Vec::new(),
        };
        if self.entries.is_empty() {
            return Some(&UNLIMITED);
        }
        self.entries
            .iter()
            .find(|(listed, _)| listed == kid)
            .map(|(_, limits)| limits)
    }

    /// Every configured entry (for `explain` and start-up logs).
    pub fn entries(&self) -> &[(String, KeyLimits)] {
        &self.entries
    }
}
