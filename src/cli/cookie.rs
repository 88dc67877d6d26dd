//! `keyhole cookie SCOPE`: a `Set-Cookie` header value for back ends that set the
//! cookie themselves, signed with the first key of `KEYHOLE_KEYS` or the one `--kid`
//! names (refused outside that key's limits).

use keyhole::canonical::Scope;
use keyhole::claims::{CookieMethods, IpBinding};
use keyhole::clock::{Clock, SystemClock, UnixTime};
use keyhole::config::Config;
use keyhole::verify::cookie::{self, CookieGrant, SessionId};

use super::key_choice::{self, Target};
use super::values::{self, Span};
use super::{CliError, Printed};

#[derive(Debug, clap::Args)]
pub struct CookieArgs {
    /// The path prefix the cookie grants.
    #[arg(value_parser = values::scope_arg)]
    scope: Scope,
    /// Lifetime (at most KEYHOLE_COOKIE_MAX_LIFETIME).
    #[arg(long, default_value = "1h", value_parser = values::span)]
    ttl: Span,
    /// Session id to name in revocations; a random one by default.
    #[arg(long)]
    sid: Option<String>,
    /// Bind to a client address or network (`203.0.113.7`, `10.0.0.0/8`).
    #[arg(long, value_parser = values::ip_binding)]
    ip: Option<IpBinding>,
    /// The methods the cookie opens files for: GET,HEAD (default), GET or HEAD.
    #[arg(long, default_value = "GET,HEAD", value_parser = values::cookie_methods)]
    methods: CookieMethods,
    /// Sign with this key of KEYHOLE_KEYS instead of the first.
    #[arg(long)]
    kid: Option<String>,
}

pub fn run(config: &Config, args: &CookieArgs) -> Result<Printed, CliError> {
    let key = key_choice::ring_key(config, args.kid.as_deref()).map_err(CliError::Usage)?;
    key_choice::check(
        key.kid.as_str(),
        &key.limits,
        Target::Scope(&args.scope),
        None,
    )
    .map_err(CliError::Usage)?;
    let grant = grant(config, args, SystemClock.now())?;
    let value = cookie::sign(&grant, key).map_err(|error| CliError::Usage(error.to_string()))?;
    let header = cookie::set_cookie_header(
        &config.cookies.name,
        &value,
        args.ttl.seconds,
        config.cookies.same_site,
    );
    let mut printed = Printed::line(header);
    if let Some(sid) = &grant.sid {
        let sid = sid.as_str();
        printed = printed.note(format!("session id: {sid} (keyhole revoke --sid {sid})"));
    }
    Ok(printed)
}

fn grant(config: &Config, args: &CookieArgs, now: UnixTime) -> Result<CookieGrant, CliError> {
    let ttl = args.ttl.seconds;
    let max = config.cookies.max_lifetime;
    if ttl == 0 || ttl > max {
        return Err(CliError::Usage(format!(
            "--ttl must be more than 0 and at most KEYHOLE_COOKIE_MAX_LIFETIME ({max}s), not {ttl}s"
        )));
    }
    let sid = match &args.sid {
        Some(text) => SessionId::parse(text)
            .map_err(|_| CliError::Usage(format!("--sid `{text}`: 1 to 64 of A-Z a-z 0-9 _ -")))?,
        None => SessionId::generate().map_err(|error| {
            CliError::Usage(format!("cannot make a random session id: {error}"))
        })?,
    };
    Ok(CookieGrant {
        scope: args.scope.clone(),
        exp: now.plus(ttl),
        sid: Some(sid),
        ip: args.ip,
        methods: args.methods,
    })
}
