//! The directives' values: parsed from their arguments here, inherited from the
//! enclosing level (http → server → location) when a level does not set them, and
//! resolved once per location into the [`Settings`] the handler reads.
//!
//! Defaults are the service's: `keyhole_leeway` as `KEYHOLE_LEEWAY` (30 s, at most
//! 5 min), `keyhole_max_lifetime` as `KEYHOLE_MAX_LIFETIME` (7 days); the cookie
//! name and JWT parameter are the service's defaults too, and so is the cookie
//! lifetime limit unless `keyhole_cookie_max_lifetime` sets it. The JWT
//! rules (`keyhole_jwt_audience`, `_issuers`, `_max_lifetime`, `_single_use`) take the
//! defaults of `KEYHOLE_JWT_AUDIENCE` (`keyhole`), `KEYHOLE_JWT_ISSUERS` (any),
//! `KEYHOLE_JWT_MAX_LIFETIME` (5 min) and `KEYHOLE_JWT_SINGLE_USE` (`on-request`);
//! their leeway is `keyhole_leeway`, as the service's is `KEYHOLE_LEEWAY`.

use std::sync::Arc;

use keyhole_core::keys::KeyRing;
use keyhole_core::verify::jwt::{JwtKey, JwtPolicy, JwtVerifier, SingleUse};
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
    /// `keyhole_jwt_keys_file` and the JWT rules: HMAC JWTs without a use limit are
    /// verified here (NOT checked against revocations, which live in the store);
    /// `None`: every JWT is handed on.
    pub jwt: Option<Arc<JwtVerifier>>,
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
    /// `keyhole_jwt_keys_file`: the HMAC JWT keys it held when the configuration was read.
    pub jwt_keys: Option<Arc<Vec<JwtKey>>>,
    /// `keyhole_jwt_audience`.
    pub jwt_audience: Option<String>,
    /// `keyhole_jwt_issuers` (comma-separated).
    pub jwt_issuers: Option<Vec<String>>,
    /// `keyhole_jwt_max_lifetime`.
    pub jwt_max_lifetime: Option<u64>,
    /// `keyhole_cookie_max_lifetime`.
    pub cookie_max_lifetime: Option<u64>,
    /// `keyhole_jwt_single_use on-request|always`.
    pub jwt_single_use: Option<SingleUse>,
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
    /// An empty audience.
    #[error("keyhole_jwt_audience must not be empty")]
    JwtAudience,
    /// An issuer list with no issuer.
    #[error("keyhole_jwt_issuers lists no issuer; leave it out to accept any `iss`")]
    JwtIssuers,
    /// A zero cookie lifetime.
    #[error("keyhole_cookie_max_lifetime must be greater than zero")]
    CookieMaxLifetime,
    /// A zero lifetime.
    #[error("keyhole_jwt_max_lifetime must be greater than zero")]
    JwtMaxLifetime,
    /// Not a single-use policy.
    #[error("keyhole_jwt_single_use must be `on-request` or `always`, got \"{0}\"")]
    JwtSingleUse(String),
    /// The JWT keys are refused (a key id listed twice).
    #[error("keyhole_jwt_keys_file: {0}")]
    JwtKeys(jwt::JwtKeyError),
    /// JWT keys but no parameter to read a token from.
    #[error("keyhole_jwt_keys_file needs a token parameter; remove `keyhole_jwt_param off`")]
    JwtParamOff,
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

/// `keyhole_jwt_audience`: not empty.
pub fn parse_audience(text: &str) -> Result<String, SettingsError> {
    if text.is_empty() {
        return Err(SettingsError::JwtAudience);
    }
    Ok(text.to_owned())
}

/// `keyhole_jwt_issuers`: a comma-separated list, as `KEYHOLE_JWT_ISSUERS`.
pub fn parse_issuers(text: &str) -> Result<Vec<String>, SettingsError> {
    let issuers: Vec<String> = text
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    if issuers.is_empty() {
        return Err(SettingsError::JwtIssuers);
    }
    Ok(issuers)
}

/// `keyhole_jwt_max_lifetime`: seconds, more than zero.
pub fn parse_jwt_max_lifetime(text: &str) -> Result<u64, SettingsError> {
    positive_seconds(text, SettingsError::JwtMaxLifetime)
}

/// `keyhole_cookie_max_lifetime`: seconds, more than zero, as
/// `KEYHOLE_COOKIE_MAX_LIFETIME`.
pub fn parse_cookie_max_lifetime(text: &str) -> Result<u64, SettingsError> {
    positive_seconds(text, SettingsError::CookieMaxLifetime)
}

/// Seconds as [`parse_seconds`] reads them, refusing zero with `zero`.
fn positive_seconds(text: &str, zero: SettingsError) -> Result<u64, SettingsError> {
    match parse_seconds(text)? {
        0 => Err(zero),
        seconds => Ok(seconds),
    }
}

/// `keyhole_jwt_single_use`: `on-request` or `always`, as `KEYHOLE_JWT_SINGLE_USE`.
pub fn parse_single_use(text: &str) -> Result<SingleUse, SettingsError> {
    match text {
        "on-request" => Ok(SingleUse::OnRequest),
        "always" => Ok(SingleUse::Always),
        other => Err(SettingsError::JwtSingleUse(other.to_owned())),
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
        if self.jwt_keys.is_none() {
            self.jwt_keys = prev.jwt_keys.clone();
        }
        if self.jwt_audience.is_none() {
            self.jwt_audience = prev.jwt_audience.clone();
        }
        if self.jwt_issuers.is_none() {
            self.jwt_issuers = prev.jwt_issuers.clone();
        }
        self.jwt_max_lifetime = self.jwt_max_lifetime.or(prev.jwt_max_lifetime);
        self.cookie_max_lifetime = self.cookie_max_lifetime.or(prev.cookie_max_lifetime);
        self.jwt_single_use = self.jwt_single_use.or(prev.jwt_single_use);
        self.resolved = None;
        if self.enable == Some(true) {
            let keys = self.keys.clone().ok_or(SettingsError::NoKeys)?;
            let leeway = self.leeway.unwrap_or(verify::DEFAULT_LEEWAY);
            let jwt_param = self
                .jwt_param
                .clone()
                .unwrap_or_else(|| Some(jwt::DEFAULT_PARAM.to_owned()));
            let jwt = match (&self.jwt_keys, &jwt_param) {
                (None, _) => None,
                (Some(_), None) => return Err(SettingsError::JwtParamOff),
                (Some(jwt_keys), Some(param)) => {
                    let policy = JwtPolicy {
                        param: param.clone(),
                        audience: self
                            .jwt_audience
                            .clone()
                            .unwrap_or_else(|| jwt::DEFAULT_AUDIENCE.to_owned()),
                        issuers: self.jwt_issuers.clone(),
                        max_lifetime: self.jwt_max_lifetime.unwrap_or(jwt::DEFAULT_MAX_LIFETIME),
                        leeway,
                        single_use: self.jwt_single_use.unwrap_or(SingleUse::OnRequest),
                    };
                    // The key file's ids were checked unique when it was read.
                    let verifier = JwtVerifier::new(jwt_keys.to_vec(), policy)
                        .map_err(SettingsError::JwtKeys)?;
                    Some(Arc::new(verifier))
                }
            };
            self.resolved = Some(Arc::new(Settings {
                keys,
                policy: Policy {
                    leeway,
                    max_lifetime: self.max_lifetime.unwrap_or(verify::DEFAULT_MAX_LIFETIME),
                    max_cache: verify::DEFAULT_MAX_CACHE,
                },
                cookies: cookie::CookiePolicy {
                    max_lifetime: self
                        .cookie_max_lifetime
                        .unwrap_or(cookie::CookiePolicy::default().max_lifetime),
                    ..cookie::CookiePolicy::default()
                },
                jwt_param,
                jwt,
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
    fn jwt_rules_get_the_service_defaults_and_refuse_what_it_refuses() {
        let keys =
            jwt::keys::parse_hmac_keys("h1:HS256:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8")
                .unwrap();
        let http = Directives {
            keys: Some(ring()),
            jwt_keys: Some(Arc::new(keys)),
            leeway: Some(10),
            ..Directives::default()
        };
        let mut location = Directives {
            enable: Some(true),
            ..Directives::default()
        };
        location.merge(&http).unwrap();
        let verifier = location.resolved.unwrap().jwt.clone().unwrap();
        let policy = &verifier.policy;
        assert_eq!(policy.audience, jwt::DEFAULT_AUDIENCE);
        assert_eq!(policy.max_lifetime, jwt::DEFAULT_MAX_LIFETIME);
        assert_eq!(
            (policy.leeway, policy.single_use),
            (10, SingleUse::OnRequest)
        );
        assert_eq!(policy.issuers, None);
        let mut off = Directives {
            enable: Some(true),
            jwt_param: Some(None),
            ..Directives::default()
        };
        assert_eq!(off.merge(&http), Err(SettingsError::JwtParamOff));
        assert_eq!(parse_single_use("always"), Ok(SingleUse::Always));
        assert!(parse_single_use("never").is_err());
        assert_eq!(parse_issuers(" a, b ,"), Ok(vec!["a".into(), "b".into()]));
        assert_eq!(parse_issuers(" , "), Err(SettingsError::JwtIssuers));
        assert_eq!(
            parse_jwt_max_lifetime("0"),
            Err(SettingsError::JwtMaxLifetime)
        );
        assert_eq!(parse_audience(""), Err(SettingsError::JwtAudience));
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
