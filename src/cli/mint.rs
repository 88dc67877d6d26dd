//! `keyhole mint`: a URL carrying a file-scoped JWT, signed with the first
//! `KEYHOLE_JWT_KEYS` entry, the one `--kid` names, or `--key-file`; refused outside
//! the key's limits (its own, or `KEYHOLE_JWKS_KEY_LIMITS` for a `--key-file` key).

use jsonwebtoken::Algorithm;
use keyhole::canonical::{CanonicalPath, Scope};
use keyhole::claims::{IpBinding, Methods};
use keyhole::clock::{Clock, SystemClock, UnixTime};
use keyhole::config::Config;
use keyhole::decision::Deny;
use keyhole::verify::jwt;

use super::key_choice::{self, Target};
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
    /// Sign with this KEYHOLE_JWT_KEYS key instead of the first; with --key-file, the
    /// key id keyhole knows that key by.
    #[arg(long)]
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
        (None, Some(kid), _) => config
            .jwt
            .as_ref()
            .and_then(|verifier| verifier.hmac_signing_key(kid))
            .ok_or_else(|| {
                let known = config
                    .jwt
                    .as_ref()
                    .map(|verifier| verifier.key_ids().join(", "))
                    .unwrap_or_default();
                format!(
                    "--kid `{kid}` is not an HMAC key of KEYHOLE_JWT_KEYS (configured: {known}); for another key pass --key-file and --alg"
                )
            })?,
        _ => config
            .jwt
            .as_ref()
            .and_then(|verifier| verifier.signing_key())
            .ok_or(concat!(
                "no HMAC key to sign with: set KEYHOLE_JWT_KEYS (or _FILE), ",
                "or pass --key-file, --kid and --alg"
            ))?,
    };
    if let Some(verifier) = &config.jwt {
        let target = match &args.scope {
            Some(scope) => Target::Scope(scope),
            None => Target::Path(&args.path),
        };
        match verifier.configured_limits(&kid) {
            Some(limits) => key_choice::check(&kid, limits, target, None)?,
            None => {
                return Err(format!(
                    concat!(
                        "--kid {kid}: KEYHOLE_JWKS_KEY_LIMITS lists other key ids but not ",
                        "this one; keyhole would deny its tokens as {deny}"
                    ),
                    kid = kid,
                    deny = Deny::KeyOutOfScope
                ));
            }
        }
    }
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
