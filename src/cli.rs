//! The command line: `serve` (default), `sign`, `keygen`, `mint`, `explain`, `demo`,
//! `gallery`, `cookie`, `revoke` and `health`, and logging set-up. `serve` runs the
//! service until SIGTERM or SIGINT (runtime, listeners, the first JWKS fetch, the
//! store, key reload on SIGHUP). This module and `demo` are the only ones that print.
//! Exit codes: 0 success, 1 "would deny" from `explain` (and "not healthy" or "not
//! revoked" from `health` and `revoke`), 2 usage or configuration error.

use std::net::IpAddr;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};

use crate::canonical::{CanonicalPath, Scope};
use crate::clock::{Clock, SystemClock, UnixTime};
use crate::config::{Config, LogFormat, parse_seconds};
use crate::decision::{Decision, Deny};
use crate::keys::{KeyId, Secret};
use crate::request::{AuthRequest, Target};
use crate::verify::signed_url::{self, IpBinding, Methods, SignError, SignedUrl, UrlGrant};

/// Exit code for "keyhole would deny this".
pub const EXIT_DENY: u8 = 1;
/// Exit code for usage and configuration errors.
pub const EXIT_USAGE: u8 = 2;

/// keyhole answers nginx's auth_request for signed URLs.
#[derive(Debug, Parser)]
#[command(name = "keyhole", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve nginx's auth subrequests (the default). Configured by KEYHOLE_* variables.
    Serve,
    /// Print a signed URL for PATH, signed with the first key of KEYHOLE_KEYS.
    Sign(SignArgs),
    /// Print a new `kid:secret` line for KEYHOLE_KEYS.
    Keygen {
        /// Key id; defaults to `k` and today's date.
        #[arg(long)]
        kid: Option<String>,
    },
    /// Print a URL with a file-scoped JWT for PATH, signed with the first
    /// KEYHOLE_JWT_KEYS entry or with --key-file.
    Mint(MintArgs),
    /// Say whether keyhole would allow URL, and why.
    Explain(ExplainArgs),
    /// Run nginx and keyhole on localhost with a demo gallery.
    Demo(crate::demo::DemoArgs),
    /// Write the demo gallery (images and a page of signed URLs) into DIR, signed with
    /// KEYHOLE_KEYS; for the container demo stack.
    Gallery {
        /// The document root to fill.
        dir: std::path::PathBuf,
        /// Lifetime of the page's signed URLs.
        #[arg(long, default_value = "1h")]
        ttl: String,
    },
    /// Print a `Set-Cookie` header value granting SCOPE (a path prefix ending in `/`),
    /// signed with the first key of KEYHOLE_KEYS, for back ends that set the cookie.
    Cookie {
        /// The path prefix the cookie grants.
        scope: String,
        /// Lifetime (at most KEYHOLE_COOKIE_MAX_LIFETIME).
        #[arg(long, default_value = "1h")]
        ttl: String,
        /// Session id to name in revocations; a random one by default.
        #[arg(long)]
        sid: Option<String>,
        /// Bind to a client address or network (`203.0.113.7`, `10.0.0.0/8`).
        #[arg(long)]
        ip: Option<String>,
        /// The methods the cookie opens files for: GET,HEAD (default), GET or HEAD.
        #[arg(long, default_value = "GET,HEAD")]
        methods: String,
    },
    /// Revoke a cookie session, a token id, or every token of a key id or subject issued
    /// before a time; denied from the next request on. With KEYHOLE_STORE=redis://…
    /// this writes to Redis (every instance sees it); otherwise it goes through the
    /// admin listener of the running keyhole (KEYHOLE_ADMIN_LISTEN).
    Revoke(RevokeArgs),
    /// Ask a running keyhole's admin listener (KEYHOLE_ADMIN_LISTEN) whether it is
    /// alive; exit 0 if so, 1 if not. For container health checks.
    Health {
        /// Ask `/readyz` (keys loaded, store reachable) instead of `/healthz`.
        #[arg(long)]
        ready: bool,
    },
}

#[derive(Debug, clap::Args)]
struct SignArgs {
    /// The URL path, percent-encoded as it will appear in the URL (`/photos/a%20b.jpg`).
    path: String,
    /// Lifetime from now (`90s`, `10m`, `2h`, `7d`).
    #[arg(long, default_value = "10m")]
    ttl: String,
    /// Round the expiry up to a multiple of this duration (`10m`), so that URLs signed
    /// within one window are identical and cacheable.
    #[arg(long)]
    window: Option<String>,
    /// Sign this path prefix (ending in `/`) instead of the exact path.
    #[arg(long)]
    scope: Option<String>,
    /// Bind to a client address or network (`203.0.113.7`, `10.0.0.0/8`).
    #[arg(long)]
    ip: Option<String>,
    /// Allowed methods (default GET,HEAD).
    #[arg(long)]
    methods: Option<String>,
    /// Not valid before this many seconds from now.
    #[arg(long)]
    not_before: Option<String>,
    /// Sign this application query too (`w=100&h=50`, already percent-encoded).
    #[arg(long)]
    query: Option<String>,
    /// Prefix for the printed URL (`https://files.example.com`).
    #[arg(long, default_value = "")]
    base: String,
}

/// The ids of `keyhole revoke` take any value, also one that starts with `-` (a random
/// base64url session id does one time in 64) or looks like a flag (`--help`): the word
/// after `--sid` is always the id, as `keyhole cookie` prints it.
#[derive(Debug, clap::Args)]
struct RevokeArgs {
    /// A cookie session id (printed by `keyhole cookie`, logged by the exchange).
    #[arg(long, allow_hyphen_values = true, conflicts_with_all = ["jti", "before", "subject", "kid"])]
    sid: Option<String>,
    /// A token id (`jti`); needs --kid, the key id in the token's header.
    #[arg(long, allow_hyphen_values = true, requires = "kid", conflicts_with_all = ["before", "subject"])]
    jti: Option<String>,
    /// Every JWT issued (`iat`) before this time: Unix seconds, RFC 3339
    /// (`2026-11-28T14:00:00Z`) or `now`; needs --kid and/or --subject.
    #[arg(long)]
    before: Option<String>,
    /// With --before: only tokens of this subject (`sub` claim).
    #[arg(long, allow_hyphen_values = true, requires = "before")]
    subject: Option<String>,
    /// The JWT key id, with --jti or --before.
    #[arg(long, allow_hyphen_values = true)]
    kid: Option<String>,
}

#[derive(Debug, clap::Args)]
struct MintArgs {
    /// The URL path, percent-encoded as it will appear in the URL (`/photos/a%20b.jpg`).
    path: String,
    /// Lifetime from now (`60s`, `5m`); at most KEYHOLE_JWT_MAX_LIFETIME.
    #[arg(long, default_value = "60s")]
    ttl: String,
    /// Grant this path prefix (ending in `/`) instead of the exact path.
    #[arg(long)]
    scope: Option<String>,
    /// Make the token single-use (adds a random `jti` and `kh_once`).
    #[arg(long)]
    once: bool,
    /// Sign with this key instead: a base64url secret for HS*, a PKCS#8 PEM private
    /// key otherwise. Needs --kid and --alg.
    #[arg(long, requires_all = ["kid", "alg"])]
    key_file: Option<std::path::PathBuf>,
    /// The key id keyhole knows the --key-file key by.
    #[arg(long, requires = "key_file")]
    kid: Option<String>,
    /// The algorithm of the --key-file key (HS256 … EdDSA).
    #[arg(long, requires = "key_file")]
    alg: Option<String>,
    /// Prefix for the printed URL (`https://files.example.com`).
    #[arg(long, default_value = "")]
    base: String,
}

#[derive(Debug, clap::Args)]
struct ExplainArgs {
    /// A full URL (`https://host/path?…`) or a path with its query.
    url: String,
    /// The request method to assume.
    #[arg(long, default_value = "GET")]
    method: String,
    /// The client address to assume.
    #[arg(long, default_value = "127.0.0.1")]
    ip: IpAddr,
}

/// Parses the command line and runs it.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(),
        Command::Sign(args) => with_config(|config| sign(config, &args)),
        Command::Keygen { kid } => keygen(kid),
        Command::Mint(args) => with_config(|config| mint(config, &args)),
        Command::Explain(args) => with_config(|config| explain(config, &args)),
        Command::Demo(args) => crate::demo::run(&args),
        Command::Health { ready } => health(ready),
        Command::Cookie {
            scope,
            ttl,
            sid,
            ip,
            methods,
        } => with_config(|config| {
            let args = CookieArgs {
                scope: &scope,
                ttl: &ttl,
                sid: sid.as_deref(),
                ip: ip.as_deref(),
                methods: &methods,
            };
            cookie(config, &args)
        }),
        Command::Revoke(args) => revoke(args),
        Command::Gallery { dir, ttl } => with_config(|config| {
            let written = parse_seconds(Some(&ttl), 0)
                .map_err(|m| format!("--ttl {m}"))
                .and_then(|ttl| crate::demo::write_gallery(&dir, &config.keys, ttl));
            match written {
                Ok(()) => {
                    println!("wrote the gallery to {}", dir.display());
                    ExitCode::SUCCESS
                }
                Err(message) => usage_error(message),
            }
        }),
    }
}

fn with_config(run: impl FnOnce(&Config) -> ExitCode) -> ExitCode {
    match Config::from_env() {
        Ok(config) => run(&config),
        Err(error) => {
            eprint!("keyhole: {error}");
            ExitCode::from(EXIT_USAGE)
        }
    }
}

fn usage_error(message: impl std::fmt::Display) -> ExitCode {
    eprintln!("keyhole: {message}");
    ExitCode::from(EXIT_USAGE)
}

/// Starts logging as configured. Logs go to standard error.
pub fn init_tracing(filter: &str, format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_new(filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}

fn serve() -> ExitCode {
    let config = match Config::from_env() {
        Ok(config) => config,
        Err(error) => {
            eprint!("keyhole: {error}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    init_tracing(&config.log_filter, config.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(config.server.worker_threads)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => return usage_error(format!("cannot start the async runtime: {error}")),
    };
    runtime.block_on(serve_until_signal(config))
}

async fn serve_until_signal(config: Config) -> ExitCode {
    use crate::server::{self, Limits, State};
    let listener = match server::Listener::bind(&config.listen, config.server.socket_mode).await {
        Ok(listener) => listener,
        Err(error) => return usage_error(error),
    };
    let admin = match config.server.admin_listen {
        Some(addr) => match server::bind_admin(addr).await {
            Ok(admin) => Some(admin),
            Err(error) => return usage_error(error),
        },
        None => None,
    };
    if let Some(jwks) = &config.jwks {
        match jwks.fetch().await {
            Ok(count) => tracing::info!(url = %jwks.url(), keys = count, "JWKS fetched"),
            Err(error) => tracing::error!(
                url = %jwks.url(),
                %error,
                "JWKS fetch at start failed; tokens of its keys are denied until a fetch succeeds"
            ),
        }
        Arc::clone(jwks).spawn_refresher();
    }
    let metrics =
        crate::metrics::Metrics::new(config.jwks.as_ref().map(|jwks| jwks.fetches.clone()));
    let store = config.open_store(metrics.store());
    match store.ping().await {
        Ok(()) => tracing::info!(store = ?config.store, "store answering"),
        Err(error) => tracing::error!(
            %error,
            "store not answering at start; not ready, and what needs it is denied until it answers"
        ),
    }
    let state = State::with_metrics(
        config.authorizer_with(store),
        Arc::new(SystemClock),
        metrics,
    );
    let kids: Vec<&str> = config.keys.kids().map(KeyId::as_str).collect();
    let admin_addr = admin.as_ref().and_then(|a| a.local_addr().ok());
    tracing::info!(
        listen = %listener.local_addr(),
        admin = ?admin_addr,
        keys = ?kids,
        "keyhole listening"
    );

    let (stop, stopped) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        shutdown_signal().await;
        let _ = stop.send(true);
    });
    let wait_stop = |mut stopped: tokio::sync::watch::Receiver<bool>| async move {
        let _ = stopped.wait_for(|stop| *stop).await;
    };
    let reloader = tokio::spawn(reload_on_sighup(Arc::clone(&state)));
    let auth = server::serve(
        listener,
        Arc::clone(&state),
        Limits::from(&config.server),
        wait_stop(stopped.clone()),
    );
    match admin {
        Some(admin) => {
            let admin = server::serve_admin(
                admin,
                Arc::clone(&state),
                config.server.admin_token.clone(),
                wait_stop(stopped),
            );
            tokio::join!(auth, admin);
        }
        None => auth.await,
    }
    reloader.abort();
    tracing::info!("keyhole stopped");
    ExitCode::SUCCESS
}

/// On every SIGHUP, re-reads the configuration and swaps in the new keys at once. A
/// configuration that does not validate keeps the old keys and logs why.
async fn reload_on_sighup(state: Arc<crate::server::State>) {
    use tokio::signal::unix::{SignalKind, signal};
    let Ok(mut hangup) = signal(SignalKind::hangup()) else {
        tracing::warn!("cannot listen for SIGHUP; key reload is off");
        return;
    };
    while hangup.recv().await.is_some() {
        match Config::from_env() {
            Ok(config) => {
                let current = state.authorizer.load();
                state
                    .authorizer
                    .store(Arc::new(current.reloaded(config.authorizer())));
                state.metrics.record_reload(true);
                let kids: Vec<&str> = config.keys.kids().map(KeyId::as_str).collect();
                let jwt_kids = config
                    .jwt
                    .as_ref()
                    .map(|jwt| jwt.key_ids())
                    .unwrap_or_default();
                tracing::info!(keys = ?kids, jwt_keys = ?jwt_kids, "keys reloaded");
            }
            Err(error) => {
                state.metrics.record_reload(false);
                let problems: Vec<String> = error
                    .problems
                    .iter()
                    .map(|p| format!("{}: {}", p.variable, p.message))
                    .collect();
                tracing::error!(?problems, "reload failed; keeping the previous keys");
            }
        }
    }
}

/// `keyhole cookie`'s arguments, as written on the command line.
struct CookieArgs<'a> {
    scope: &'a str,
    ttl: &'a str,
    sid: Option<&'a str>,
    ip: Option<&'a str>,
    methods: &'a str,
}

/// Why `keyhole cookie` refused its arguments.
#[derive(Debug, thiserror::Error)]
enum CookieArgError {
    #[error("SCOPE `{scope}` is not a canonical prefix ending in `/` ({reason})")]
    Scope { scope: String, reason: Deny },
    #[error("--ttl {0}")]
    Ttl(String),
    #[error(
        "--ttl must be more than 0 and at most KEYHOLE_COOKIE_MAX_LIFETIME ({max}s), not {ttl}s"
    )]
    TtlRange { ttl: u64, max: u64 },
    #[error("--sid `{0}`: 1 to 64 of A-Z a-z 0-9 _ -")]
    Sid(String),
    #[error("cannot make a random session id: {0}")]
    Random(getrandom::Error),
    #[error(
        "--ip `{0}` is not a canonical address or network (`203.0.113.7`, `10.0.0.0/8`, `2001:db8::/32`)"
    )]
    Ip(String),
    #[error(
        "--methods `{0}` must be GET,HEAD, GET or HEAD: a cookie never opens files for other methods"
    )]
    Methods(String),
}

fn cookie_grant(
    config: &Config,
    args: &CookieArgs<'_>,
    now: UnixTime,
) -> Result<(crate::verify::cookie::CookieGrant, u64), CookieArgError> {
    use crate::verify::cookie::{CookieGrant, CookieMethods, SessionId};
    let scope = Scope::parse(args.scope.as_bytes()).map_err(|reason| CookieArgError::Scope {
        scope: args.scope.to_owned(),
        reason,
    })?;
    let ttl = parse_seconds(Some(args.ttl), 0).map_err(CookieArgError::Ttl)?;
    let max = config.cookies.max_lifetime;
    if ttl == 0 || ttl > max {
        return Err(CookieArgError::TtlRange { ttl, max });
    }
    let sid = match args.sid {
        Some(text) => SessionId::parse(text).map_err(|_| CookieArgError::Sid(text.to_owned()))?,
        None => SessionId::generate().map_err(CookieArgError::Random)?,
    };
    let ip = args
        .ip
        .map(|text| IpBinding::parse(text).map_err(|_| CookieArgError::Ip(text.to_owned())))
        .transpose()?;
    let methods = CookieMethods::parse(args.methods)
        .map_err(|_| CookieArgError::Methods(args.methods.to_owned()))?;
    let grant = CookieGrant {
        scope,
        exp: now.plus(ttl),
        sid: Some(sid),
        ip,
        methods,
    };
    Ok((grant, ttl))
}

fn cookie(config: &Config, args: &CookieArgs<'_>) -> ExitCode {
    use crate::verify::cookie;
    match cookie_grant(config, args, SystemClock.now()) {
        Ok((grant, ttl)) => {
            let value = cookie::sign(&grant, config.keys.signing_key());
            println!(
                "{}",
                cookie::set_cookie_header(
                    &config.cookies.name,
                    &value,
                    ttl,
                    config.cookies.same_site
                )
            );
            if let Some(sid) = &grant.sid {
                eprintln!(
                    "session id: {} (keyhole revoke --sid {})",
                    sid.as_str(),
                    sid.as_str()
                );
            }
            ExitCode::SUCCESS
        }
        Err(error) => usage_error(error),
    }
}

/// `--before`: Unix seconds, RFC 3339, or `now`.
fn parse_before(text: &str, now: UnixTime) -> Result<UnixTime, String> {
    if text == "now" {
        return Ok(now);
    }
    if let Ok(seconds) = text.parse::<u64>() {
        return Ok(UnixTime(seconds));
    }
    humantime::parse_rfc3339_weak(text)
        .ok()
        .and_then(|time| time.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|since| UnixTime(since.as_secs()))
        .ok_or_else(|| {
            format!("--before `{text}`: Unix seconds, RFC 3339 (2026-11-28T14:00:00Z) or `now`")
        })
}

/// Percent-encodes a query value (everything but unreserved characters).
fn query_value(text: &str) -> String {
    use std::fmt::Write as _;
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(char::from(byte));
        } else {
            let _ = write!(out, "%{byte:02X}");
        }
    }
    out
}

fn revoke(args: RevokeArgs) -> ExitCode {
    use crate::config::StoreSettings;
    use crate::store::{Revoke, StoreKind};
    let now = SystemClock.now();
    let before = match args
        .before
        .as_deref()
        .map(|t| parse_before(t, now))
        .transpose()
    {
        Ok(before) => before,
        Err(message) => return usage_error(message),
    };
    let order = match Revoke::from_parts(args.sid, args.jti, args.kid, before, args.subject) {
        Ok(order) => order,
        Err(error) => return usage_error(error),
    };
    let settings = match crate::config::revoke_settings_from_env() {
        Ok(settings) => settings,
        Err(error) => {
            eprint!("keyhole: {error}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => return usage_error(format!("cannot start the async runtime: {error}")),
    };
    let result = match &settings.store {
        StoreSettings::Redis {
            target,
            prefix,
            timeout,
        } => {
            // A one-off command may wait a little longer than a request does.
            let store = crate::store::redis::RedisStore::new(
                (**target).clone(),
                prefix,
                (*timeout).max(std::time::Duration::from_secs(3)),
                Arc::new(SystemClock),
                crate::metrics::StoreMetrics::default(),
            );
            runtime
                .block_on(order.apply(&store, now, settings.cookie_lifetime, settings.jwt_lifetime))
                .map_err(|error| format!("Redis (KEYHOLE_STORE): {error}"))
        }
        StoreSettings::Memory => {
            let addr = match crate::config::admin_listen_from_env() {
                Ok(Some(addr)) => addr,
                Ok(None) => {
                    return usage_error(
                        "KEYHOLE_ADMIN_LISTEN is off; with the in-memory store, revoke goes through a running keyhole's admin listener",
                    );
                }
                Err(message) => return usage_error(format!("KEYHOLE_ADMIN_LISTEN {message}")),
            };
            let Some(token) = &settings.admin_token else {
                return usage_error(
                    "no admin token: set KEYHOLE_ADMIN_TOKEN_FILE (or KEYHOLE_ADMIN_TOKEN) to the running keyhole's; without KEYHOLE_STORE=redis://…, revoke goes through its admin listener, which takes revocations only with that token",
                );
            };
            let query = match &order {
                Revoke::Session(sid) => format!("sid={}", query_value(sid)),
                Revoke::TokenId { kid, jti } => {
                    format!("jti={}&kid={}", query_value(jti), query_value(kid))
                }
                Revoke::IssuedBefore {
                    before,
                    kid,
                    subject,
                } => {
                    let mut query = format!("before={}", before.0);
                    if let Some(kid) = kid {
                        query.push_str(&format!("&kid={}", query_value(kid)));
                    }
                    if let Some(subject) = subject {
                        query.push_str(&format!("&subject={}", query_value(subject)));
                    }
                    query
                }
            };
            runtime
                .block_on(crate::admin_client::post(
                    addr,
                    &format!("/revoke?{query}"),
                    "/revoke",
                    Some(&token.bearer()),
                ))
                .map(|answer| {
                    // Anything but a store the instance calls durable gets the warning.
                    if answer.store.as_deref() != Some(StoreKind::Redis.name()) {
                        eprintln!(
                            "keyhole: warning: the keyhole at {addr} keeps revocations in memory (no KEYHOLE_STORE): this one is lost when it restarts, and other instances never see it; use KEYHOLE_STORE=redis://… (docs/operations.md)"
                        );
                    }
                })
                .map_err(|error| error.to_string())
        }
    };
    match result {
        Ok(()) => {
            match &order {
                Revoke::Session(sid) => println!("revoked session {sid}"),
                Revoke::TokenId { kid, jti } => println!("revoked token {jti} of key {kid}"),
                Revoke::IssuedBefore {
                    before,
                    kid,
                    subject,
                } => println!(
                    "revoked tokens issued before {} (key {}, subject {})",
                    before.to_rfc3339(),
                    kid.as_deref().unwrap_or("any"),
                    subject.as_deref().unwrap_or("any")
                ),
            }
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("keyhole: {error}");
            ExitCode::from(EXIT_DENY)
        }
    }
}

fn health(ready: bool) -> ExitCode {
    let addr = match crate::config::admin_listen_from_env() {
        Ok(Some(addr)) => addr,
        Ok(None) => return usage_error("KEYHOLE_ADMIN_LISTEN is off; there is nothing to ask"),
        Err(message) => return usage_error(format!("KEYHOLE_ADMIN_LISTEN {message}")),
    };
    let path = if ready { "/readyz" } else { "/healthz" };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => return usage_error(format!("cannot start the async runtime: {error}")),
    };
    match runtime.block_on(crate::admin_client::check(addr, path)) {
        Ok(()) => {
            println!("ok");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("keyhole: {error}");
            ExitCode::from(EXIT_DENY)
        }
    }
}

/// Completes on SIGTERM or SIGINT.
pub async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let Ok(mut term) = signal(SignalKind::terminate()) else {
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    tracing::info!("shutdown signal received; finishing requests in flight");
}

fn sign(config: &Config, args: &SignArgs) -> ExitCode {
    print_url(
        build_signed_url(config, args, SystemClock.now()),
        &args.base,
    )
}

/// Prints a built URL behind `--base`, or the reason it could not be built.
fn print_url(url: Result<String, String>, base: &str) -> ExitCode {
    match url {
        Ok(url) => {
            println!("{}{url}", base.trim_end_matches('/'));
            ExitCode::SUCCESS
        }
        Err(message) => usage_error(message),
    }
}

/// A PATH argument, as written in a URL, checked by the canonical rules.
fn parse_path_arg(path: &str) -> Result<CanonicalPath, String> {
    CanonicalPath::parse(path.as_bytes()).map_err(|reason| {
        format!("PATH `{path}` is not canonical ({reason}); percent-encode spaces and non-ASCII, no `..`, `//` or trailing `/`")
    })
}

fn build_signed_url(config: &Config, args: &SignArgs, now: UnixTime) -> Result<String, String> {
    let path = parse_path_arg(&args.path)?;
    let ttl = parse_seconds(Some(&args.ttl), 0).map_err(|m| format!("--ttl {m}"))?;
    if ttl == 0 {
        return Err(format!(
            "--ttl {} must be more than 0: the URL would expire as it is made (keyhole would deny it as {} once the leeway passed)",
            args.ttl,
            Deny::Expired
        ));
    }
    if ttl > config.policy.max_lifetime {
        return Err(format!(
            "--ttl {} exceeds the maximum lifetime of {}s (KEYHOLE_MAX_LIFETIME); keyhole would deny it as {}",
            args.ttl,
            config.policy.max_lifetime,
            Deny::TtlTooLong
        ));
    }
    let window = match &args.window {
        Some(text) => parse_seconds(Some(text), 0).map_err(|m| format!("--window {m}"))?,
        None => 0,
    };
    if ttl.saturating_add(window) > config.policy.max_lifetime {
        return Err(format!(
            "--ttl plus --window may reach {}s, beyond the maximum lifetime of {}s (KEYHOLE_MAX_LIFETIME)",
            ttl.saturating_add(window),
            config.policy.max_lifetime
        ));
    }
    let scope = args
        .scope
        .as_deref()
        .map(|s| {
            Scope::parse(s.as_bytes())
                .map_err(|r| format!("--scope `{s}` is not a canonical prefix ending in `/` ({r})"))
        })
        .transpose()?;
    let ip = args
        .ip
        .as_deref()
        .map(|ip| {
            IpBinding::parse(ip).map_err(|_| {
                format!(
                    "--ip `{ip}` is not a canonical address or network (IPv4 dotted decimal without leading zeros, IPv6 lower-case RFC 5952 hex without a dotted part or zone, an optional /PREFIX with no host bits set, no IPv4-mapped IPv6); keyhole would deny it as {}",
                    Deny::Malformed
                )
            })
        })
        .transpose()?;
    let methods = args
        .methods
        .as_deref()
        .map(|m| {
            Methods::parse(m).map_err(|_| {
                format!(
                    "--methods `{m}` must be 1 to 8 distinct upper-case names of at most 16 letters, separated by `,` (GET,HEAD); keyhole would deny it as {}",
                    Deny::Malformed
                )
            })
        })
        .transpose()?;
    let nbf = args
        .not_before
        .as_deref()
        .map(|n| {
            parse_seconds(Some(n), 0)
                .map(|s| now.plus(s))
                .map_err(|m| format!("--not-before {m}"))
        })
        .transpose()?;
    if let (Some(query), Some(jwt)) = (&args.query, &config.jwt) {
        let param = &jwt.policy.param;
        let named = |item: &&str| item.split_once('=').map_or(*item, |(name, _)| name) == param;
        if let Some(item) = query.split('&').find(named) {
            return Err(format!(
                "--query `{query}`: the item `{item}` is named like the JWT parameter `{param}` (KEYHOLE_JWT_PARAM); keyhole would deny the URL as {}",
                Deny::AmbiguousCredential
            ));
        }
    }
    let grant = UrlGrant {
        path,
        scope,
        exp: now.plus(ttl).round_up(window),
        nbf,
        ip,
        methods,
        query: args.query.clone(),
    };
    signed_url::sign(&grant, config.keys.signing_key()).map_err(|error| sign_error(args, &error))
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
            args.not_before.as_deref().unwrap_or(""),
            args.ttl
        ),
        SignError::WouldBeDenied(_) => "the signed URL".to_owned(),
    };
    format!("{flag}: {error}")
}

fn mint(config: &Config, args: &MintArgs) -> ExitCode {
    print_url(
        build_minted_url(config, args, SystemClock.now()),
        &args.base,
    )
}

fn build_minted_url(config: &Config, args: &MintArgs, now: UnixTime) -> Result<String, String> {
    use crate::verify::jwt;
    let path = parse_path_arg(&args.path)?;
    let policy = config
        .jwt
        .as_ref()
        .map(|v| v.policy.clone())
        .unwrap_or_default();
    let ttl = parse_seconds(Some(&args.ttl), 0).map_err(|m| format!("--ttl {m}"))?;
    if ttl > policy.max_lifetime {
        return Err(format!(
            "--ttl {} exceeds the JWT maximum lifetime of {}s (KEYHOLE_JWT_MAX_LIFETIME); keyhole would deny it as {}",
            args.ttl,
            policy.max_lifetime,
            Deny::TtlTooLong
        ));
    }
    let scope = args
        .scope
        .as_deref()
        .map(|s| {
            Scope::parse(s.as_bytes())
                .map_err(|r| format!("--scope `{s}` is not a canonical prefix ending in `/` ({r})"))
        })
        .transpose()?;
    let (kid, alg, key) = match (&args.key_file, &args.kid, &args.alg) {
        (Some(file), Some(kid), Some(alg_name)) => {
            let alg = jwt::parse_algorithm(alg_name)
                .ok_or_else(|| format!("--alg `{alg_name}` is not one of HS256, HS384, HS512, RS256…PS512, ES256, ES384, EdDSA"))?;
            let bytes = std::fs::read(file).map_err(|e| format!("--key-file {}: {e}", file.display()))?;
            let key = jwt::encoding_key(alg, &bytes).map_err(|e| format!("--key-file {}: {e}", file.display()))?;
            (kid.clone(), alg, key)
        }
        _ => config
            .jwt
            .as_ref()
            .and_then(|verifier| verifier.signing_key())
            .ok_or("no HMAC key to sign with: set KEYHOLE_JWT_KEYS (or _FILE), or pass --key-file, --kid and --alg")?,
    };
    let grant = jwt::TokenGrant {
        path: path.clone(),
        scope,
        iat: now,
        exp: now.plus(ttl),
        audience: policy.audience.clone(),
        once: args.once,
    };
    let token = jwt::mint(&grant, &kid, alg, &key).map_err(|e| e.to_string())?;
    Ok(format!("{}?{}={token}", path.to_url_form(), policy.param))
}

fn keygen(kid: Option<String>) -> ExitCode {
    let kid = kid.unwrap_or_else(|| {
        let date = SystemClock.now().to_rfc3339();
        format!("k{}", date.get(..10).unwrap_or("0").replace('-', ""))
    });
    if let Err(error) = KeyId::parse(&kid) {
        return usage_error(format!("--kid: {error}"));
    }
    match Secret::generate() {
        Ok(secret) => {
            println!("{kid}:{}", secret.to_base64url());
            ExitCode::SUCCESS
        }
        Err(error) => usage_error(error),
    }
}

/// Strips `scheme://authority` from a full URL, leaving the request target.
fn request_target(url: &str) -> &str {
    for scheme in ["https://", "http://"] {
        if let Some(rest) = url.strip_prefix(scheme) {
            return rest.find('/').and_then(|at| rest.get(at..)).unwrap_or("/");
        }
    }
    url
}

fn explain(config: &Config, args: &ExplainArgs) -> ExitCode {
    let now = SystemClock.now();
    let report = explain_report(config, args, now);
    print!("{}", report.text);
    if report.decision.is_allow() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_DENY)
    }
}

struct Report {
    decision: Decision,
    text: String,
}

fn explain_report(config: &Config, args: &ExplainArgs, now: UnixTime) -> Report {
    use std::fmt::Write as _;
    let mut text = String::new();
    let target = request_target(&args.url);
    let client_ip = args.ip.to_string();
    let headers = crate::request::NginxHeaders::new(
        target.as_bytes(),
        args.method.as_bytes(),
        client_ip.as_bytes(),
    );
    let authorizer = config.authorizer();
    let decision = authorizer.decide(&headers, now);
    let verdict = if decision.is_allow() { "allow" } else { "deny" };
    let _ = writeln!(text, "decision:   {verdict}");
    let _ = writeln!(text, "reason:     {}", decision.code());
    let _ = writeln!(text, "method:     {}", args.method);
    let _ = writeln!(text, "client ip:  {}", args.ip);
    let parsed: Result<AuthRequest<'_>, Deny> = headers.parse();
    match &parsed {
        Ok(request) => {
            let _ = writeln!(text, "path:       {}", request.path);
        }
        Err(_) => {
            let raw = Target::parse(target.as_bytes())
                .map(|t| String::from_utf8_lossy(t.raw_path).into_owned());
            let _ = writeln!(
                text,
                "path:       not canonical ({})",
                raw.unwrap_or_default()
            );
        }
    }
    let params = Target::parse(target.as_bytes())
        .map(|t| t.params)
        .unwrap_or_default();
    match SignedUrl::parse(&params) {
        Ok(url) => {
            let known = if config.keys.find(url.kid).is_some() {
                "configured"
            } else {
                "NOT configured"
            };
            let _ = writeln!(text, "key id:     {} ({known})", url.kid);
            match &url.scope {
                Some(scope) => _ = writeln!(text, "grants:     every path below {scope}"),
                None => _ = writeln!(text, "grants:     exactly this path"),
            }
            let _ = writeln!(
                text,
                "expires:    {} ({})",
                url.exp.to_rfc3339(),
                relative(url.exp, now)
            );
            match url.nbf {
                Some(nbf) => {
                    _ = writeln!(
                        text,
                        "not before: {} ({})",
                        nbf.to_rfc3339(),
                        relative(nbf, now)
                    )
                }
                None => _ = writeln!(text, "not before: -"),
            }
            match &url.ip {
                Some(ip) => _ = writeln!(text, "bound ip:   {ip}"),
                None => _ = writeln!(text, "bound ip:   any"),
            }
            let _ = writeln!(text, "methods:    {}", url.methods.as_str());
            let bound = if url.bound_query.is_some() {
                "signed"
            } else {
                "not signed (ignored)"
            };
            let _ = writeln!(text, "app query:  {bound}");
            let _ = writeln!(text, "signature:  present (not shown)");
        }
        Err(reason) if signed_url::is_present(&params) => {
            let _ = writeln!(text, "signed url: unreadable ({reason})");
        }
        Err(_) => {
            let _ = writeln!(text, "signed url: none in this URL");
        }
    }
    if let Some(jwt) = config.jwt.as_ref().filter(|jwt| jwt.is_present(&params)) {
        let _ = writeln!(
            text,
            "jwt:        present in `{}` (not shown; a single-use token is not used up by explain)",
            jwt.policy.param
        );
    }
    Report { decision, text }
}

fn relative(time: UnixTime, now: UnixTime) -> String {
    if time >= now {
        format!(
            "in {}",
            humantime::format_duration(std::time::Duration::from_secs(time.0 - now.0))
        )
    } else {
        format!(
            "{} ago",
            humantime::format_duration(std::time::Duration::from_secs(now.0 - time.0))
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_targets_from_full_urls() {
        assert_eq!(request_target("https://h.example/a?b=1"), "/a?b=1");
        assert_eq!(request_target("http://h.example"), "/");
        assert_eq!(request_target("/a?x"), "/a?x");
    }

    #[test]
    fn revoke_times_and_query_values() {
        let now = UnixTime(1_800_000_000);
        assert_eq!(parse_before("now", now), Ok(now));
        assert_eq!(parse_before("17", now), Ok(UnixTime(17)));
        assert_eq!(
            parse_before("2027-01-15T08:00:00Z", now),
            Ok(UnixTime(1_800_000_000))
        );
        assert!(parse_before("tomorrow", now).is_err());
        assert_eq!(query_value("a@b.c/d e"), "a%40b.c%2Fd%20e");
    }
}
