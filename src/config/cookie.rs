//! Session cookies: `KEYHOLE_COOKIE_NAME`, `KEYHOLE_COOKIE_SAMESITE`,
//! `KEYHOLE_COOKIE_MAX_LIFETIME` and `KEYHOLE_COOKIE_CROSS_SITE_ALLOW`.

use super::table::{COOKIE_CROSS_SITE_ALLOW, COOKIE_MAX_LIFETIME, COOKIE_NAME, COOKIE_SAMESITE};
use super::{RawConfig, parse_seconds};
use crate::verify::cookie::{CookiePolicy, SameSite};

/// The cookie policy; `None` when any variable is wrong (each reported).
pub(super) fn validate(
    raw: &RawConfig,
    report: &mut impl FnMut(&'static str, String),
) -> Option<CookiePolicy> {
    let name = raw
        .cookie_name
        .as_deref()
        .unwrap_or(const { COOKIE_NAME.default_text() });
    // RFC 6265 token characters only; `__Host-` is recommended, not required.
    let name_ok = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
    if !name_ok {
        report(
            COOKIE_NAME.name,
            format!(
                "must be a cookie name of letters, digits and `-_.` (such as `__Host-keyhole`), got `{name}`"
            ),
        );
    }
    let same_site = match raw
        .cookie_samesite
        .as_deref()
        .unwrap_or(const { COOKIE_SAMESITE.default_text() })
    {
        "lax" | "Lax" => Some(SameSite::Lax),
        "strict" | "Strict" => Some(SameSite::Strict),
        other => {
            report(
                COOKIE_SAMESITE.name,
                format!("must be `lax` or `strict`, got `{other}`"),
            );
            None
        }
    };
    let max_lifetime = max_lifetime(raw, report).filter(|seconds| {
        let ok = *seconds > 0;
        if !ok {
            report(COOKIE_MAX_LIFETIME.name, "must be greater than zero".into());
        }
        ok
    });
    let mut origins = Vec::new();
    for origin in raw
        .cookie_cross_site_allow
        .as_deref()
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|o| !o.is_empty())
    {
        let rest = origin
            .strip_prefix("https://")
            .or_else(|| origin.strip_prefix("http://"));
        if rest.is_some_and(|rest| !rest.is_empty() && !rest.contains(['/', '?', '#', '@'])) {
            origins.push(origin.to_owned());
        } else {
            report(
                COOKIE_CROSS_SITE_ALLOW.name,
                format!("must list origins such as `https://partner.example`, got `{origin}`"),
            );
        }
    }
    Some(CookiePolicy {
        name: name_ok.then(|| name.to_owned())?,
        same_site: same_site?,
        max_lifetime: max_lifetime?,
        cross_site_allow: origins,
    })
}

/// `KEYHOLE_COOKIE_MAX_LIFETIME` as written (`keyhole revoke` needs it alone).
pub(super) fn max_lifetime(
    raw: &RawConfig,
    report: &mut impl FnMut(&'static str, String),
) -> Option<u64> {
    parse_seconds(
        raw.cookie_max_lifetime.as_deref(),
        const { COOKIE_MAX_LIFETIME.default_seconds() },
    )
    .map_err(|message| report(COOKIE_MAX_LIFETIME.name, message))
    .ok()
}
