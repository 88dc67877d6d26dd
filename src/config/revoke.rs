//! What `keyhole revoke` reads: the store, the admin token, and how long revocations
//! must be kept. Keys are not needed, and other variables are not checked here (the
//! running instances checked them).

use super::table::{JWT_MAX_LIFETIME, KNOWN_VARIABLES, LEEWAY};
use super::{ConfigError, Problem, RawConfig, StoreSettings, admin, cookie, parse_seconds, store};
use crate::admin::AdminToken;

/// What `keyhole revoke` needs from the environment, without keys: the store, and how
/// long revocations must be kept.
#[derive(Clone, Debug)]
pub struct RevokeSettings {
    /// `KEYHOLE_STORE` and friends.
    pub store: StoreSettings,
    /// `KEYHOLE_COOKIE_MAX_LIFETIME`.
    pub cookie_lifetime: u64,
    /// `KEYHOLE_JWT_MAX_LIFETIME` plus `KEYHOLE_LEEWAY`.
    pub jwt_lifetime: u64,
    /// `KEYHOLE_ADMIN_TOKEN` or `_FILE`: sent to the admin listener.
    pub admin_token: Option<AdminToken>,
}

/// Reads [`RevokeSettings`] from the process environment; other variables are not
/// checked here (the running instances checked them).
pub fn revoke_settings_from_env() -> Result<RevokeSettings, ConfigError> {
    revoke_settings_from_vars(std::env::vars())
}

/// [`revoke_settings_from_env`] over the given variables.
pub fn revoke_settings_from_vars(
    vars: impl IntoIterator<Item = (String, String)>,
) -> Result<RevokeSettings, ConfigError> {
    let mut problems = Vec::new();
    let raw: RawConfig = envy::prefixed("KEYHOLE_")
        .from_iter(
            vars.into_iter()
                .filter(|(name, _)| KNOWN_VARIABLES.contains(&name.as_str())),
        )
        .map_err(|error| ConfigError {
            problems: vec![Problem {
                variable: "KEYHOLE_*",
                message: error.to_string(),
            }],
        })?;
    let mut report = |variable: &'static str, message: String| {
        problems.push(Problem { variable, message });
    };
    let store = store::validate(&raw, &mut report);
    let admin_token = admin::load_admin_token(
        raw.admin_token.as_deref(),
        raw.admin_token_file.as_deref(),
        &mut report,
    );
    let cookie_lifetime = cookie::max_lifetime(&raw, &mut report);
    let jwt_max = parse_seconds(
        raw.jwt_max_lifetime.as_deref(),
        const { JWT_MAX_LIFETIME.default_seconds() },
    )
    .map_err(|message| report(JWT_MAX_LIFETIME.name, message))
    .ok();
    let leeway = parse_seconds(raw.leeway.as_deref(), const { LEEWAY.default_seconds() })
        .map_err(|message| report(LEEWAY.name, message))
        .ok();
    match (store, cookie_lifetime, jwt_max, leeway, admin_token) {
        (Some(store), Some(cookie_lifetime), Some(jwt_max), Some(leeway), Some(admin_token))
            if problems.is_empty() =>
        {
            Ok(RevokeSettings {
                store,
                cookie_lifetime,
                jwt_lifetime: jwt_max.saturating_add(leeway),
                admin_token,
            })
        }
        _ => Err(ConfigError { problems }),
    }
}
