//! The three credentials, one file each: a parse step (shape only), a verify step
//! (signature first, then every claim) and a signer. [`Policy`] holds the time rules
//! they share; `crate::claims` the claim types and checks, and `mac` the HMAC over
//! signed bytes that signed URLs and cookies share.
//!
//! Verifiers do no IO, never read the environment or the system clock (the time is
//! an argument), and never panic on input.

pub mod cookie;
pub mod jwt;
mod mac;
pub mod signed_url;

/// Default seconds of clock skew forgiven on expiry and not-before, for every
/// credential (`Policy`, `jwt::JwtPolicy`); the service's `KEYHOLE_LEEWAY` default.
pub const DEFAULT_LEEWAY: u64 = 30;

/// Default longest distance from now to a credential's expiry, in seconds (7 days).
pub const DEFAULT_MAX_LIFETIME: u64 = 7 * 24 * 3600;

/// Default longest time nginx may cache an allow, in seconds.
pub const DEFAULT_MAX_CACHE: u64 = 60;

/// Time rules shared by every credential.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Policy {
    /// Seconds of clock skew forgiven on expiry and not-before.
    pub leeway: u64,
    /// Longest accepted distance from now to a credential's expiry, in seconds.
    pub max_lifetime: u64,
    /// Longest time nginx may cache an allow, in seconds (0: never). Caps the
    /// credential's own expiry so that removing a key takes effect within it.
    pub max_cache: u64,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            leeway: DEFAULT_LEEWAY,
            max_lifetime: DEFAULT_MAX_LIFETIME,
            max_cache: DEFAULT_MAX_CACHE,
        }
    }
}
