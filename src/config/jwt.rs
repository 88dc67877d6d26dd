//! JWTs: the key sources (`KEYHOLE_JWT_KEYS` or `_FILE`, `KEYHOLE_JWKS_FILE`,
//! `KEYHOLE_JWKS_URL`), the token rules (`KEYHOLE_JWT_AUDIENCE`, `_ISSUERS`,
//! `_MAX_LIFETIME`, `_PARAM`, `_SINGLE_USE`) and the remote set's timing
//! (`KEYHOLE_JWKS_REFRESH`, `KEYHOLE_JWKS_REFETCH_INTERVAL`). Setting any key source
//! turns JWTs on.
//!
//! The result is data: the verifier of the local keys (pure, no IO) and, for a remote
//! JWKS, where and how often to fetch it. `build.rs` makes the fetcher.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use super::table::{
    JWKS_CA_FILE, JWKS_FILE, JWKS_KEY_LIMITS, JWKS_REFETCH_INTERVAL, JWKS_REFRESH, JWKS_URL,
    JWT_AUDIENCE, JWT_ISSUERS, JWT_KEYS, JWT_KEYS_FILE, JWT_MAX_LIFETIME, JWT_PARAM,
    JWT_SINGLE_USE,
};
use super::{RawConfig, parse_seconds};
use crate::jwks::{JwksUrl, tls};
use crate::verify::jwt::{self as core_jwt, JwtPolicy, JwtVerifier, SingleUse};
use crate::verify::signed_url::PARAM_PREFIX;

/// What the JWT variables describe, when any key source is set.
#[derive(Clone, Debug)]
pub struct JwtSettings {
    /// The local keys and the token rules; without a remote set attached yet.
    pub verifier: JwtVerifier,
    /// The remote JWKS (`KEYHOLE_JWKS_URL`), when set.
    pub remote: Option<RemoteJwksSettings>,
}

/// Where and how often to fetch a remote JWKS.
#[derive(Clone, Debug)]
pub struct RemoteJwksSettings {
    /// `KEYHOLE_JWKS_URL`.
    pub url: JwksUrl,
    /// The TLS client for an `https://` URL: the Web PKI roots plus the certificates
    /// of `KEYHOLE_JWKS_CA_FILE`.
    pub tls: Arc<rustls::ClientConfig>,
    /// Key ids of the local sources, which the remote set may not reuse.
    pub local_kids: Vec<String>,
    /// `KEYHOLE_JWKS_REFRESH`.
    pub refresh: Duration,
    /// `KEYHOLE_JWKS_REFETCH_INTERVAL`.
    pub refetch_interval: Duration,
}

/// `Some(None)` when no JWT key source is set; `None` when anything is wrong
/// (reported, secrets never echoed). `leeway` is `KEYHOLE_LEEWAY`.
pub(super) fn validate(
    raw: &RawConfig,
    leeway: u64,
    report: &mut impl FnMut(&'static str, String),
) -> Option<Option<JwtSettings>> {
    let mut ok = true;
    let mut keys = Vec::new();
    let mut any_source = false;
    if raw.jwt_keys.is_some() && raw.jwt_keys_file.is_some() {
        report(
            JWT_KEYS.name,
            "set either KEYHOLE_JWT_KEYS or KEYHOLE_JWT_KEYS_FILE, not both".into(),
        );
        ok = false;
    }
    if let Some(text) = &raw.jwt_keys {
        any_source = true;
        match core_jwt::keys::parse_hmac_keys(text) {
            Ok(more) => keys.extend(more),
            Err(error) => {
                report(JWT_KEYS.name, error.to_string());
                ok = false;
            }
        }
    }
    let jwks_limits = match raw
        .jwks_key_limits
        .as_deref()
        .map(core_jwt::RemoteLimits::parse)
    {
        None => core_jwt::RemoteLimits::default(),
        Some(Ok(limits)) => limits,
        Some(Err(error)) => {
            report(JWKS_KEY_LIMITS.name, error.to_string());
            ok = false;
            core_jwt::RemoteLimits::default()
        }
    };
    let files: [(&'static str, &Option<PathBuf>, bool); 2] = [
        (JWT_KEYS_FILE.name, &raw.jwt_keys_file, false),
        (JWKS_FILE.name, &raw.jwks_file, true),
    ];
    for (variable, path, is_jwks) in files {
        let Some(path) = path else { continue };
        any_source = true;
        let parsed = std::fs::read_to_string(path)
            .map_err(|error| format!("cannot read {}: {error}", path.display()))
            .and_then(|text| {
                let parsed = if is_jwks {
                    core_jwt::keys::parse_jwks(&text)
                } else {
                    core_jwt::keys::parse_hmac_keys(&text)
                };
                parsed.map_err(|error| format!("{}: {error}", path.display()))
            });
        match parsed {
            Ok(more) if is_jwks => {
                for mut key in more {
                    // A JWKS file's keys take their limits by key id too; a key the
                    // list leaves out while it lists others would grant nothing.
                    match jwks_limits.for_kid(&key.kid) {
                        Some(limits) => key.limits = limits.clone(),
                        None => {
                            report(
                                JWKS_KEY_LIMITS.name,
                                format!(
                                    "lists key ids but not `{}` of KEYHOLE_JWKS_FILE; give it limits (`{};paths=/…/`)",
                                    key.kid, key.kid
                                ),
                            );
                            ok = false;
                        }
                    }
                    keys.push(key);
                }
            }
            Ok(more) => keys.extend(more),
            Err(message) => {
                report(variable, message);
                ok = false;
            }
        }
    }
    let max_lifetime = parse_seconds(
        raw.jwt_max_lifetime.as_deref(),
        const { JWT_MAX_LIFETIME.default_seconds() },
    )
    .map_err(|message| report(JWT_MAX_LIFETIME.name, message))
    .ok();
    if max_lifetime == Some(0) {
        report(JWT_MAX_LIFETIME.name, "must be greater than zero".into());
        ok = false;
    }
    let param = raw
        .jwt_param
        .clone()
        .unwrap_or_else(|| const { JWT_PARAM.default_text() }.into());
    let param_ok = !param.is_empty()
        && param.len() <= 32
        && param
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        && !param.starts_with(PARAM_PREFIX);
    if !param_ok {
        report(
            JWT_PARAM.name,
            format!(
                "must be 1 to 32 characters of A-Z a-z 0-9 `_` `-` and not start with `kh_` (reserved for signed URLs), got `{param}`"
            ),
        );
        ok = false;
    }
    let audience = raw
        .jwt_audience
        .clone()
        .unwrap_or_else(|| const { JWT_AUDIENCE.default_text() }.into());
    if audience.is_empty() {
        report(JWT_AUDIENCE.name, "must not be empty".into());
        ok = false;
    }
    let issuers = raw.jwt_issuers.as_deref().map(|text| {
        text.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect::<Vec<_>>()
    });
    if issuers.as_ref().is_some_and(Vec::is_empty) {
        report(
            JWT_ISSUERS.name,
            "lists no issuer; unset it to accept any `iss`".into(),
        );
        ok = false;
    }
    let single_use = match raw
        .jwt_single_use
        .as_deref()
        .unwrap_or(const { JWT_SINGLE_USE.default_text() })
    {
        "on-request" => Some(SingleUse::OnRequest),
        "always" => Some(SingleUse::Always),
        other => {
            report(
                JWT_SINGLE_USE.name,
                format!("must be `on-request` or `always`, got `{other}`"),
            );
            None
        }
    };
    let jwks_url = match raw.jwks_url.as_deref().map(JwksUrl::parse) {
        None => None,
        Some(Ok(url)) => {
            any_source = true;
            Some(url)
        }
        Some(Err(message)) => {
            report(JWKS_URL.name, message);
            ok = false;
            None
        }
    };
    // Built only when there is something to fetch (or a CA file to check).
    let tls = if jwks_url.is_some() || raw.jwks_ca_file.is_some() {
        let tls = jwks_tls(raw, jwks_url.is_some(), report);
        ok &= tls.is_some();
        tls
    } else {
        None
    };
    let refresh = parse_seconds(
        raw.jwks_refresh.as_deref(),
        const { JWKS_REFRESH.default_seconds() },
    )
    .map_err(|message| report(JWKS_REFRESH.name, message))
    .ok();
    let refetch = parse_seconds(
        raw.jwks_refetch_interval.as_deref(),
        const { JWKS_REFETCH_INTERVAL.default_seconds() },
    )
    .map_err(|message| report(JWKS_REFETCH_INTERVAL.name, message))
    .ok();
    if refresh == Some(0) {
        report(JWKS_REFRESH.name, "must be greater than zero".into());
        ok = false;
    }
    if !any_source {
        return ok.then_some(None);
    }
    if keys.is_empty() && jwks_url.is_none() && ok {
        report(JWT_KEYS.name, "the JWT key sources hold no key".into());
        ok = false;
    }
    let policy = JwtPolicy {
        param,
        audience,
        issuers,
        max_lifetime: max_lifetime?,
        leeway,
        single_use: single_use?,
    };
    let local_kids: Vec<String> = keys.iter().map(|key| key.kid.clone()).collect();
    let verifier = match JwtVerifier::new(keys, policy) {
        Ok(mut verifier) => {
            verifier.remote_limits = jwks_limits;
            verifier
        }
        Err(error) => {
            report(JWT_KEYS.name, error.to_string());
            return None;
        }
    };
    let remote = match jwks_url {
        Some(url) => Some(RemoteJwksSettings {
            url,
            tls: tls?,
            local_kids,
            refresh: Duration::from_secs(refresh?),
            refetch_interval: Duration::from_secs(refetch?),
        }),
        None => None,
    };
    ok.then_some(Some(JwtSettings { verifier, remote }))
}

/// The TLS client of the remote JWKS: the Web PKI roots plus `KEYHOLE_JWKS_CA_FILE`'s
/// certificates; `None` when the file is unreadable or holds no usable certificate,
/// or is set without `KEYHOLE_JWKS_URL` (reported).
fn jwks_tls(
    raw: &RawConfig,
    has_url: bool,
    report: &mut impl FnMut(&'static str, String),
) -> Option<Arc<rustls::ClientConfig>> {
    let extra = match &raw.jwks_ca_file {
        None => Vec::new(),
        Some(_) if !has_url => {
            report(
                JWKS_CA_FILE.name,
                "is set without KEYHOLE_JWKS_URL; unset it or set the URL".into(),
            );
            return None;
        }
        Some(path) => {
            let pem = std::fs::read(path)
                .map_err(|error| {
                    report(
                        JWKS_CA_FILE.name,
                        format!("cannot read {}: {error}", path.display()),
                    )
                })
                .ok()?;
            tls::parse_ca_pem(&pem)
                .map_err(|error| report(JWKS_CA_FILE.name, format!("{}: {error}", path.display())))
                .ok()?
        }
    };
    tls::client_config(&extra)
        .map_err(|error| report(JWKS_CA_FILE.name, error.to_string()))
        .ok()
}
