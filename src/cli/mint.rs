//! `keyhole mint`: a URL carrying a file-scoped JWT, signed with the first
//! `KEYHOLE_JWT_KEYS` entry or with `--key-file`.

use jsonwebtoken::Algorithm;
use keyhole::canonical::{CanonicalPath, Scope};
use keyhole::claims::{IpBinding, Methods};
use keyhole::clock::{Clock, SystemClock, UnixTime};
use keyhole::config::Config;
use keyhole::decision::Deny;
use keyhole::verify::jwt;

use super::values::{self, Span};
use super::{CliError, Printed};

#[derive(Debug, clap::Args)]
pub struct MintArgs {
    /// The URL path, percent-encoded as it will appear in the URL (`/photos/a%20b.jpg`).
    #[arg(value_parser = values::path)]
    path: CanonicalPath,
    /// Lifetime from now (`60s`, `5m`); at most KEYHOLE_JWT_MAX_LIFETIME.
    #[arg(long, default_value = "60s", value_parser = values::span)]
    ttl: Span,
    /// Grant this path prefix (ending in `/`) instead of the exact path.
    #[arg(long, value_parser = values::scope_flag)]
    scope: Option<Scope>,
    /// Make the token single-use (adds a random `jti` and `kh_once`).
    #[arg(long, conflicts_with = "uses")]
    once: bool,
    /// Let the token open its file this many times, 1 to 8 (adds a random `jti` and
    /// `kh_uses`).
    #[arg(long, value_parser = values::uses)]
    uses: Option<u64>,
    /// Bind to a client address or network (`203.0.113.7`, `10.0.0.0/8`): `kh_ip`.
    #[arg(long, value_parser = values::ip_binding)]
    ip: Option<IpBinding>,
    /// Allowed methods (default GET,HEAD): `kh_m`.
    #[arg(long, value_parser = values::methods)]
    methods: Option<Methods>,
    /// Sign with this key instead: a base64url secret for HS*, a PKCS#8 PEM private
    /// key otherwise. Needs --kid and --alg.
    #[arg(long, requires_all = ["kid", "alg"])]
    key_file: Option<std::path::PathBuf>,
    /// The key id keyhole knows the --key-file key by.
    #[arg(long, requires = "key_file")]
    kid: Option<String>,
    /// The algorithm of the --key-file key (HS256 … EdDSA).
    #[arg(long, requires = "key_file", value_parser = algorithm)]
    alg: Option<Algorithm>,
    /// Prefix for the printed URL (`https://files.example.com`).
    #[arg(long, default_value = "")]
    base: String,
}

fn algorithm(name: &str) -> Result<Algorithm, String> {
    jwt::parse_algorithm(name).ok_or_else(|| {
        format!(
            "--alg `{name}` is not one of HS256, HS384, HS512, RS256…PS512, ES256, ES384, EdDSA"
        )
    })
}

pub fn run(config: &Config, args: &MintArgs) -> Result<Printed, CliError> {
    let url = build(config, args, SystemClock.now()).map_err(CliError::Usage)?;
    Ok(Printed::line(format_args!(
        "{}{url}",
        args.base.trim_end_matches('/')
    )))
}

fn build(config: &Config, args: &MintArgs, now: UnixTime) -> Result<String, String> {
    let policy = config
        .jwt
        .as_ref()
        .map(|v| v.policy.clone())
        .unwrap_or_default();
    if args.ttl.seconds > policy.max_lifetime {
        return Err(format!(
            concat!(
                "--ttl {ttl} exceeds the JWT maximum lifetime of {max}s ",
                "(KEYHOLE_JWT_MAX_LIFETIME); keyhole would deny it as {deny}"
            ),
            ttl = args.ttl,
            max = policy.max_lifetime,
            deny = Deny::TtlTooLong
        ));
    }
    let (kid, alg, key) = match (&args.key_file, &args.kid, args.alg) {
        (Some(file), Some(kid), Some(alg)) => {
            let read = |e: String| format!("--key-file {}: {e}", file.display());
            let bytes = std::fs::read(file).map_err(|e| read(e.to_string()))?;
            let key = jwt::encoding_key(alg, &bytes).map_err(read)?;
            (kid.clone(), alg, key)
        }
        _ => config
            .jwt
            .as_ref()
            .and_then(|verifier| verifier.signing_key())
            .ok_or(concat!(
                "no HMAC key to sign with: set KEYHOLE_JWT_KEYS (or _FILE), ",
                "or pass --key-file, --kid and --alg"
            ))?,
    };
    let grant = jwt::TokenGrant {
        path: args.path.clone(),
        scope: args.scope.clone(),
        iat: now,
        exp: now.plus(args.ttl.seconds),
        audience: policy.audience.clone(),
        once: args.once,
        ip: args.ip,
        methods: args.methods.clone(),
        uses: args.uses,
    };
    let token = jwt::mint(&grant, &kid, alg, &key).map_err(|e| e.to_string())?;
    Ok(format!(
        "{}?{}={token}",
        args.path.to_url_form(),
        policy.param
    ))
}
