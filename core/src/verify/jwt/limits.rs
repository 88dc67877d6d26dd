//! The JWT verifier's key limits (`;paths=`, `;hosts=` on `KEYHOLE_JWT_KEYS` entries,
//! `KEYHOLE_JWKS_KEY_LIMITS` by key id for JWKS keys): which limits a key id is held
//! to, whether the configuration names it (for a bounded metric label), and the HMAC
//! key `keyhole mint --kid` signs with.

use super::{Algorithm, EncodingKey, JwtVerifier};
use crate::key_limits::KeyLimits;

impl JwtVerifier {
    /// The HMAC key with id `kid` as a signer (`keyhole mint --kid`).
    pub fn hmac_signing_key(&self, kid: &str) -> Option<(String, Algorithm, EncodingKey)> {
        let key = self.keys.iter().find(|key| key.kid == kid)?;
        let secret = key.decoding.try_get_hmac_secret().ok()?;
        Some((key.kid.clone(), key.alg, EncodingKey::from_secret(secret)))
    }

    /// The limits tokens of key id `kid` are held to, from configuration alone: a
    /// local key's own, else the JWKS limits by key id (`None`: JWKS limits are
    /// configured and do not list it, so its tokens grant nothing). The remote set's
    /// fetcher refuses key ids that are also local, so a local id is never remote.
    pub fn configured_limits(&self, kid: &str) -> Option<&KeyLimits> {
        match self.keys.iter().find(|key| key.kid == kid) {
            Some(key) => Some(&key.limits),
            None => self.remote_limits.for_kid(kid),
        }
    }

    /// Whether the configuration names key id `kid` (a local key, or a JWKS key id
    /// listed in `KEYHOLE_JWKS_KEY_LIMITS`): such ids are bounded by configuration.
    pub fn names_kid(&self, kid: &str) -> bool {
        self.keys.iter().any(|key| key.kid == kid)
            || self
                .remote_limits
                .entries()
                .iter()
                .any(|(listed, _)| listed == kid)
    }
}
