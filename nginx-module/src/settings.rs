//! The directives' values: parsed from their arguments here, inherited from the
//! enclosing level (http → server → location) when a level does not set them, and
//! resolved once per location into the [`Settings`] the handler reads.
//!
//! Defaults are the service's: `keyhole_leeway` as `KEYHOLE_LEEWAY` (30 s, at most
//! 5 min), `keyhole_max_lifetime` as `KEYHOLE_MAX_LIFETIME` (7 days); the cookie
//! name, cookie lifetime and JWT parameter are the service's defaults too.

use std::sync::Arc;

use keyhole_core::keys::KeyRing;
use keyhole_core::verify::{self, Policy, cookie, jwt};

/// The largest leeway accepted, as the service's `KEYHOLE_LEEWAY`.
pub const MAX_LEEWAY: u64 = 300;

/// The resolved settings of one location with `keyhole on;`.
#[derive(Clone, Debug)]
pub struct Settings {
    /// The key ring (signed URLs and cookies).
    pub keys: Arc<KeyRing>,
    /// Leeway and maximum lifetime.
    pub policy: Policy,
    /// The cookie rules (the service's defaults).
    pub cookies: cookie::CookiePolicy,
    /// The query parameter that carries a JWT when the sidecar has JWT keys (handed
    /// on, never verified here); `None`: `keyhole_jwt_param off;`.
    pub jwt_param: Option<String>,
    /// The status of a denial.
    pub deny_status: u16,
    /// Whether a credential this module cannot decide goes to the sidecar
    /// (`keyhole_sidecar on;`) or is denied `needs-sidecar`.
    pub sidecar: bool,
}

/// One level's directives as written; `None`: not set at this level.
#[derive(Debug, Default)]
pub struct Directives {
    /// `keyhole on|off`.
    pub enable: Option<bool>,
    /// `keyhole_keys_file`: the keys it held when the configuration was read.
    pub keys: Option<Arc<KeyRing>>,
    /// `keyhole_leeway`.
    pub leeway: Option<u64>,
    /// `keyhole_max_lifetime`.
    pub max_lifetime: Option<u64>,
    /// `keyhole_deny_status`.
    pub deny_status: Option<u16>,
    /// `keyhole_sidecar on|off`.
    pub sidecar: Option<bool>,
    /// `keyhole_jwt_param NAME|off` (`Some(None)`: off).
    pub jwt_param: Option<Option<String>>,
    /// Set by [`Directives::merge`] when `keyhole on;`.
    pub resolved: Option<Arc<Settings>>,
}

/// Why a directive's argument or a location's settings were refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SettingsError {
    /// Not `on` or `off`.
    #[error("expected `on` or `off`, got \"{0}\"")]
    Flag(String),
    /// Not a duration.
    #[error("expected seconds or a duration such as `30s` or `7d`, got \"{0}\"")]
    Duration(String),
    /// A leeway over five minutes.
    #[error("keyhole_leeway is at most {MAX_LEEWAY}s (5m), got {0}s")]
    LeewayTooLarge(u64),
    /// Not a status nginx can send for a denial.
    #[error("keyhole_deny_status must be a status from 400 to 599, got \"{0}\"")]
    Status(String),
    /// Not a parameter name.
    #[error(
        "keyhole_jwt_param must be `off` or a query parameter name (A-Z a-z 0-9 _ -), got \"{0}\""
    )]
    JwtParam(String),
    /// `keyhole on;` with no key file at this level or above.
    #[error("`keyhole on` needs `keyhole_keys_file` in this location, its server or http block")]
    NoKeys,
}

/// `on` or `off`.
pub fn parse_flag(text: &str) -> Result<bool, SettingsError> {
    match text {
        "on" => Ok(true),
        "off" => Ok(false),
        other => Err(SettingsError::Flag(other.to_owned())),
    }
}

/// Seconds, plain (`30`) or as a duration (`30s`, `5m`, `7d`).
pub fn parse_seconds(text: &str) -> Result<u64, SettingsError> {
    if let Ok(seconds) = text.parse::<u64>() {
        return Ok(seconds);
    }
    humantime::parse_duration(text)
        .map(|d| d.as_secs())
        .map_err(|_| SettingsError::Duration(text.to_owned()))
}

/// A leeway: seconds, at most [`MAX_LEEWAY`].
pub fn parse_leeway(text: &str) -> Result<u64, SettingsError> {
    let seconds = parse_seconds(text)?;
    if seconds > MAX_LEEWAY {
        return Err(SettingsError::LeewayTooLarge(seconds));
    }
    Ok(seconds)
}

/// `keyhole_jwt_param`: a query parameter name, or `off`.
pub fn parse_jwt_param(text: &str) -> Result<Option<String>, SettingsError> {
    match text {
        "off" => Ok(None),
        name if !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-') =>
        {
            Ok(Some(name.to_owned()))
        }
        other => Err(SettingsError::JwtParam(other.to_owned())),
    }
}

/// A denial status, 400 to 599.
pub fn parse_status(text: &str) -> Result<u16, SettingsError> {
    text.parse::<u16>()
        .ok()
        .filter(|status| (400..=599).contains(status))
        .ok_or_else(|| SettingsError::Status(text.to_owned()))
}

impl Directives {
    /// Takes what this level does not set from the enclosing level, then resolves the
    /// settings of a location with `keyhole on;`.
    pub fn merge(&mut self, prev: &Directives) -> Result<(), SettingsError> {
        self.enable = self.enable.or(prev.enable);
        if self.keys.is_none() {
            self.keys = prev.keys.clone();
        }
        self.leeway = self.leeway.or(prev.leeway);
        self.max_lifetime = self.max_lifetime.or(prev.max_lifetime);
        self.deny_status = self.deny_status.or(prev.deny_status);
        self.sidecar = self.sidecar.or(prev.sidecar);
        if self.jwt_param.is_none() {
            self.jwt_param = prev.jwt_param.clone();
        }
        self.resolved = None;
        if self.enable == Some(true) {
            let keys = self.keys.clone().ok_or(SettingsError::NoKeys)?;
            self.resolved = Some(Arc::new(Settings {
                keys,
                policy: Policy {
                    leeway: self.leeway.unwrap_or(verify::DEFAULT_LEEWAY),
                    max_lifetime: self.max_lifetime.unwrap_or(verify::DEFAULT_MAX_LIFETIME),
                    max_cache: verify::DEFAULT_MAX_CACHE,
                },
                cookies: cookie::CookiePolicy::default(),
                jwt_param: self
                    .jwt_param
                    .clone()
                    .unwrap_or_else(|| Some(jwt::DEFAULT_PARAM.to_owned())),
                deny_status: self.deny_status.unwrap_or(403),
                sidecar: self.sidecar.unwrap_or(false),
            }));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring() -> Arc<KeyRing> {
        Arc::new(KeyRing::parse("k1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8").unwrap())
    }

    #[test]
    fn arguments_parse_or_say_what_was_expected() {
        assert_eq!(parse_flag("on"), Ok(true));
        assert!(parse_flag("yes").is_err());
        assert_eq!(parse_seconds("90"), Ok(90));
        assert_eq!(parse_seconds("7d"), Ok(7 * 86400));
        assert!(parse_seconds("soon").is_err());
        assert_eq!(parse_leeway("301"), Err(SettingsError::LeewayTooLarge(301)));
        assert_eq!(parse_status("401"), Ok(401));
        assert!(parse_status("204").is_err() && parse_status("600").is_err());
    }

    #[test]
    fn a_location_inherits_and_gets_the_service_defaults() {
        let http = Directives {
            keys: Some(ring()),
            deny_status: Some(404),
            ..Directives::default()
        };
        let mut location = Directives {
            enable: Some(true),
            ..Directives::default()
        };
        location.merge(&http).unwrap();
        let settings = location.resolved.unwrap();
        assert_eq!(settings.deny_status, 404);
        assert_eq!(settings.policy.leeway, verify::DEFAULT_LEEWAY);
        assert_eq!(settings.policy.max_lifetime, verify::DEFAULT_MAX_LIFETIME);
        assert!(!settings.sidecar);
    }

    #[test]
    fn keyhole_on_without_keys_is_refused() {
        let mut location = Directives {
            enable: Some(true),
            ..Directives::default()
        };
        assert_eq!(
            location.merge(&Directives::default()),
            Err(SettingsError::NoKeys)
        );
    }
}
