//! `keyhole revoke`: records a revocation in Redis directly (`KEYHOLE_STORE=redis://…`)
//! or through a running keyhole's admin listener, with the request of
//! [`keyhole::admin`].

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use keyhole::admin::{self, Speaker};
use keyhole::clock::{Clock, SystemClock};
use keyhole::config::{RevokeSettings, StoreSettings};
use keyhole::store::{Revoke, StoreKind};

use super::values::{self, Before};
use super::{CliError, Printed, small_runtime};

/// The ids of `keyhole revoke` take any value, also one that starts with `-` (a random
/// base64url session id does one time in 64) or looks like a flag (`--help`): the word
/// after `--sid` is always the id, as `keyhole cookie` prints it.
#[derive(Debug, clap::Args)]
pub struct RevokeArgs {
    /// A cookie session id (printed by `keyhole cookie`, logged by the exchange).
    #[arg(
        long,
        allow_hyphen_values = true,
        conflicts_with_all = ["jti", "before", "subject", "kid"]
    )]
    sid: Option<String>,
    /// A token id (`jti`); needs --kid, the key id in the token's header.
    #[arg(
        long,
        allow_hyphen_values = true,
        requires = "kid",
        conflicts_with_all = ["before", "subject"]
    )]
    jti: Option<String>,
    /// Every JWT issued (`iat`) before this time: Unix seconds, RFC 3339
    /// (`2026-11-28T14:00:00Z`) or `now`; needs --kid and/or --subject.
    #[arg(long, value_parser = values::before)]
    before: Option<Before>,
    /// With --before: only tokens of this subject (`sub` claim).
    #[arg(long, allow_hyphen_values = true, requires = "before")]
    subject: Option<String>,
    /// The JWT key id, with --jti or --before.
    #[arg(long, allow_hyphen_values = true)]
    kid: Option<String>,
}

pub fn run(args: RevokeArgs) -> Result<Printed, CliError> {
    let now = SystemClock.now();
    let before = args.before.map(|before| before.at(now));
    let order = Revoke::from_parts(args.sid, args.jti, args.kid, before, args.subject)
        .map_err(|error| CliError::Usage(admin::revoke_error_text(&error, Speaker::Cli)))?;
    let settings = keyhole::config::revoke_settings_from_env()?;
    let runtime = small_runtime()?;
    let mut printed = Printed::line(done(&order));
    match &settings.store {
        StoreSettings::Redis {
            target,
            prefix,
            timeout,
            wait_replicas,
        } => {
            // A one-off command may wait a little longer than a request does.
            let store = keyhole::store::redis::RedisStore::new(
                (**target).clone(),
                prefix,
                (*timeout).max(Duration::from_secs(3)),
                Arc::new(SystemClock),
                keyhole::metrics::StoreMetrics::default(),
            )
            .with_wait_replicas(*wait_replicas);
            runtime
                .block_on(order.apply(&store, now, settings.cookie_lifetime, settings.jwt_lifetime))
                .map_err(|error| CliError::Refused(format!("Redis (KEYHOLE_STORE): {error}")))?;
        }
        StoreSettings::Memory => {
            let addr = admin_listener(&settings)?;
            if let Some(warning) = runtime.block_on(through_admin(addr, &settings, &order))? {
                printed = printed.note(warning);
            }
        }
    }
    Ok(printed)
}

/// The admin listener to post to, or why there is none.
fn admin_listener(settings: &RevokeSettings) -> Result<SocketAddr, CliError> {
    match keyhole::config::admin_listen_from_env() {
        Ok(Some(addr)) if settings.admin_token.is_some() => Ok(addr),
        Ok(Some(_)) => Err(CliError::Usage(
            concat!(
                "no admin token: set KEYHOLE_ADMIN_TOKEN_FILE (or KEYHOLE_ADMIN_TOKEN) to the ",
                "running keyhole's; without KEYHOLE_STORE=redis://…, revoke goes through its ",
                "admin listener, which takes revocations only with that token"
            )
            .to_owned(),
        )),
        Ok(None) => Err(CliError::Usage(
            concat!(
                "KEYHOLE_ADMIN_LISTEN is off; with the in-memory store, revoke goes through ",
                "a running keyhole's admin listener"
            )
            .to_owned(),
        )),
        Err(message) => Err(CliError::Usage(format!("KEYHOLE_ADMIN_LISTEN {message}"))),
    }
}

/// Posts `order` to the admin listener; a warning when the instance keeps it in
/// memory only.
async fn through_admin(
    addr: SocketAddr,
    settings: &RevokeSettings,
    order: &Revoke,
) -> Result<Option<String>, CliError> {
    let bearer = settings.admin_token.as_ref().map(|token| token.bearer());
    let answer = keyhole::admin_client::post(
        addr,
        &admin::revoke_target(order),
        admin::REVOKE_PATH,
        bearer.as_deref(),
    )
    .await
    .map_err(|error| CliError::Refused(error.to_string()))?;
    // Anything but a store the instance calls durable gets the warning.
    if answer.store.as_deref() == Some(StoreKind::Redis.name()) {
        return Ok(None);
    }
    Ok(Some(format!(
        concat!(
            "keyhole: warning: the keyhole at {addr} keeps revocations in memory ",
            "(no KEYHOLE_STORE): this one is lost when it restarts, and other instances ",
            "never see it; use KEYHOLE_STORE=redis://… (docs/operations.md)"
        ),
        addr = addr
    )))
}

/// What `keyhole revoke` prints once the revocation is recorded.
fn done(order: &Revoke) -> String {
    match order {
        Revoke::Session(sid) => format!("revoked session {sid}"),
        Revoke::TokenId { kid, jti } => format!("revoked token {jti} of key {kid}"),
        Revoke::IssuedBefore {
            before,
            kid,
            subject,
        } => format!(
            "revoked tokens issued before {} (key {}, subject {})",
            before.to_rfc3339(),
            kid.as_deref().unwrap_or("any"),
            subject.as_deref().unwrap_or("any")
        ),
    }
}
