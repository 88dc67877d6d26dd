//! `keyhole sign`: a signed URL for a path, with the first key of `KEYHOLE_KEYS` or
//! the one `--kid` names. Every URL keyhole would deny is refused, naming the flag,
//! a URL outside the key's limits included.

use keyhole::canonical::{CanonicalPath, Scope};
use keyhole::claims::{IpBinding, Methods};
use keyhole::clock::{Clock, SystemClock, UnixTime};
use keyhole::config::Config;
use keyhole::decision::Deny;
use keyhole::verify::signed_url::{self, SignError, UrlGrant};

use super::key_choice::{self, Target};
use super::values::{self, Span};
use super::{CliError, Printed};

#[derive(Debug, clap::Args)]
pub struct SignArgs {
    /// The URL path, percent-encoded as it will appear in the URL (`/photos/a%20b.jpg`).
    #[arg(value_parser = values::path)]
    path: CanonicalPath,
    /// Lifetime from now (`90s`, `10m`, `2h`, `7d`).
    #[arg(long, default_value = "10m", value_parser = values::span)]
    ttl: Span,
    /// Round the expiry up to a multiple of this duration (`10m`), so that URLs signed
    /// within one window are identical and cacheable.
    #[arg(long, value_parser = values::span)]
    window: Option<Span>,
    /// Sign this path prefix (ending in `/`) instead of the exact path.
    #[arg(long, value_parser = values::scope_flag)]
    scope: Option<Scope>,
    /// Bind to a client address or network (`203.0.113.7`, `10.0.0.0/8`).
    #[arg(long, value_parser = values::ip_binding)]
    ip: Option<IpBinding>,
    /// Allowed methods (default GET,HEAD).
    #[arg(long, value_parser = values::methods)]
    methods: Option<Methods>,
    /// Not valid before this many seconds from now.
    #[arg(long, value_parser = values::span)]
    not_before: Option<Span>,
    /// Sign this application query too (`w=100&h=50`, already percent-encoded).
    #[arg(long)]
    query: Option<String>,
    /// Bind the URL to this host (`kh_host`): it opens only on that virtual host.
    #[arg(long, value_parser = values::host)]
    host: Option<keyhole::host::Host>,
    /// Sign with this key of KEYHOLE_KEYS instead of the first.
    #[arg(long)]
    kid: Option<String>,
    /// Prefix for the printed URL (`https://files.example.com`).
    #[arg(long, default_value = "")]
    base: String,
}

pub fn run(config: &Config, args: &SignArgs) -> Result<Printed, CliError> {
    let url = build(config, args, SystemClock.now()).map_err(CliError::Usage)?;
    Ok(Printed::line(format_args!(
        "{}{url}",
        args.base.trim_end_matches('/')
    )))
}

fn build(config: &Config, args: &SignArgs, now: UnixTime) -> Result<String, String> {
    let ttl = args.ttl.seconds;
    let max = config.policy.max_lifetime;
    if ttl == 0 {
        return Err(format!(
            concat!(
                "--ttl {ttl} must be more than 0: the URL would expire as it is made ",
                "(keyhole would deny it as {deny} once the leeway passed)"
            ),
            ttl = args.ttl,
            deny = Deny::Expired
        ));
    }
    if ttl > max {
        return Err(format!(
            concat!(
                "--ttl {ttl} exceeds the maximum lifetime of {max}s (KEYHOLE_MAX_LIFETIME); ",
                "keyhole would deny it as {deny}"
            ),
            ttl = args.ttl,
            max = max,
            deny = Deny::TtlTooLong
        ));
    }
    let window = args.window.as_ref().map_or(0, |window| window.seconds);
    if ttl.saturating_add(window) > max {
        return Err(format!(
            concat!(
                "--ttl plus --window may reach {reach}s, beyond the maximum lifetime ",
                "of {max}s (KEYHOLE_MAX_LIFETIME)"
            ),
            reach = ttl.saturating_add(window),
            max = max,
        ));
    }
    if let (Some(query), Some(jwt)) = (&args.query, &config.jwt) {
        let param = &jwt.policy.param;
        let named = |item: &&str| item.split_once('=').map_or(*item, |(name, _)| name) == param;
        if let Some(item) = query.split('&').find(named) {
            return Err(format!(
                concat!(
                    "--query `{query}`: the item `{item}` is named like the JWT parameter ",
                    "`{param}` (KEYHOLE_JWT_PARAM); keyhole would deny the URL as {deny}"
                ),
                query = query,
                item = item,
                param = param,
                deny = Deny::AmbiguousCredential
            ));
        }
    }
    let key = key_choice::ring_key(config, args.kid.as_deref())?;
    let target = match &args.scope {
        Some(scope) => Target::Scope(scope),
        None => Target::Path(&args.path),
    };
    key_choice::check(key.kid.as_str(), &key.limits, target, args.host.as_ref())?;
    let grant = UrlGrant {
        path: args.path.clone(),
        scope: args.scope.clone(),
        exp: now.plus(ttl).round_up(window),
        nbf: args.not_before.as_ref().map(|nbf| now.plus(nbf.seconds)),
        ip: args.ip,
        methods: args.methods.clone(),
        query: args.query.clone(),
        host: args.host.clone(),
    };
    signed_url::sign(&grant, key).map_err(|error| sign_error(args, &error))
}

/// A [`SignError`] prefixed with the flag whose value broke the rule.
fn sign_error(args: &SignArgs, error: &SignError) -> String {
    let flag = match error {
        SignError::PathOutsideScope { .. } => "PATH and --scope".to_owned(),
        SignError::ReservedQueryParam { .. }
        | SignError::JwtParamInQuery { .. }
        | SignError::QueryNotVisibleAscii { .. }
        | SignError::QueryEmptyItem { .. } => {
            format!("--query `{}`", args.query.as_deref().unwrap_or(""))
        }
        SignError::TooManyParams { .. } => {
            "--query (with --not-before, --scope, --ip, --methods)".to_owned()
        }
        SignError::UriTooLong { .. } => "PATH and --query".to_owned(),
        SignError::TimestampTooLarge { .. } => "--ttl and --not-before".to_owned(),
        SignError::NotBeforeAfterExpiry { .. } => format!(
            "--not-before {} and --ttl {}",
            args.not_before
                .as_ref()
                .map(ToString::to_string)
                .unwrap_or_default(),
            args.ttl
        ),
        SignError::WouldBeDenied(_) => "the signed URL".to_owned(),
        SignError::VerifyOnlyKey(_) => "KEYHOLE_KEYS".to_owned(),
    };
    format!("{flag}: {error}")
}
