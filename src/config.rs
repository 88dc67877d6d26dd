//! `KEYHOLE_*` environment variables, read through envy into [`RawConfig`], then
//! validated into a [`Config`]. Every problem is reported at once, each naming the
//! variable, the rule and (for non-secrets) the value. This is the only module that
//! knows environment variable names.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;

use crate::admin::AdminToken;
use crate::jwks::{JwksSource, JwksUrl};
use crate::keys::KeyRing;
use crate::store::memory::DEFAULT_CAPACITY;
use crate::store::redis::{DEFAULT_PREFIX, DEFAULT_TIMEOUT, RedisTarget};
use crate::verify::Policy;
use crate::verify::cookie::{self, CookiePolicy};
use crate::verify::jwt::{self, JwtPolicy, JwtVerifier, SingleUse};

/// Every variable keyhole reads; any other `KEYHOLE_*` variable is an error (a typo
/// must not silently fall back to a default).
pub const KNOWN_VARIABLES: [&str; 36] = [
    "KEYHOLE_LISTEN",
    "KEYHOLE_ADMIN_LISTEN",
    "KEYHOLE_ADMIN_TOKEN",
    "KEYHOLE_ADMIN_TOKEN_FILE",
    "KEYHOLE_SOCKET_MODE",
    "KEYHOLE_HEADER_TIMEOUT",
    "KEYHOLE_MAX_CONNECTIONS",
    "KEYHOLE_MAX_HEAD_BYTES",
    "KEYHOLE_WORKER_THREADS",
    "KEYHOLE_KEYS",
    "KEYHOLE_KEYS_FILE",
    "KEYHOLE_LEEWAY",
    "KEYHOLE_MAX_LIFETIME",
    "KEYHOLE_DECISION_CACHE_MAX",
    "KEYHOLE_LOG",
    "KEYHOLE_LOG_FORMAT",
    "KEYHOLE_JWT_KEYS",
    "KEYHOLE_JWT_KEYS_FILE",
    "KEYHOLE_JWKS_FILE",
    "KEYHOLE_JWT_AUDIENCE",
    "KEYHOLE_JWT_ISSUERS",
    "KEYHOLE_JWT_MAX_LIFETIME",
    "KEYHOLE_JWT_PARAM",
    "KEYHOLE_JWT_SINGLE_USE",
    "KEYHOLE_REPLAY_CAPACITY",
    "KEYHOLE_JWKS_URL",
    "KEYHOLE_JWKS_REFRESH",
    "KEYHOLE_JWKS_REFETCH_INTERVAL",
    "KEYHOLE_COOKIE_NAME",
    "KEYHOLE_COOKIE_SAMESITE",
    "KEYHOLE_COOKIE_MAX_LIFETIME",
    "KEYHOLE_COOKIE_CROSS_SITE_ALLOW",
    "KEYHOLE_STORE",
    "KEYHOLE_STORE_FILE",
    "KEYHOLE_STORE_TIMEOUT",
    "KEYHOLE_REDIS_PREFIX",
];

/// The variables as strings, before validation (field `foo_bar` is `KEYHOLE_FOO_BAR`).
#[derive(Debug, Default, Deserialize)]
pub struct RawConfig {
    listen: Option<String>,
    admin_listen: Option<String>,
    admin_token: Option<String>,
    admin_token_file: Option<PathBuf>,
    socket_mode: Option<String>,
    header_timeout: Option<String>,
    max_connections: Option<String>,
    max_head_bytes: Option<String>,
    worker_threads: Option<String>,
    keys: Option<String>,
    keys_file: Option<PathBuf>,
    leeway: Option<String>,
    max_lifetime: Option<String>,
    decision_cache_max: Option<String>,
    log: Option<String>,
    log_format: Option<String>,
    jwt_keys: Option<String>,
    jwt_keys_file: Option<PathBuf>,
    jwks_file: Option<PathBuf>,
    jwt_audience: Option<String>,
    jwt_issuers: Option<String>,
    jwt_max_lifetime: Option<String>,
    jwt_param: Option<String>,
    jwt_single_use: Option<String>,
    replay_capacity: Option<String>,
    jwks_url: Option<String>,
    jwks_refresh: Option<String>,
    jwks_refetch_interval: Option<String>,
    cookie_name: Option<String>,
    cookie_samesite: Option<String>,
    cookie_max_lifetime: Option<String>,
    cookie_cross_site_allow: Option<String>,
    store: Option<String>,
    store_file: Option<PathBuf>,
    store_timeout: Option<String>,
    redis_prefix: Option<String>,
}

/// The JWT verifier and the remote JWKS feeding it, both optional.
type JwtParts = (Option<Arc<JwtVerifier>>, Option<Arc<JwksSource>>);

/// Where the auth listener listens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Listen {
    /// A TCP address such as `127.0.0.1:9181`.
    Tcp(SocketAddr),
    /// A Unix socket path (`unix:/run/keyhole.sock`).
    Unix(PathBuf),
}

impl fmt::Display for Listen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Listen::Tcp(addr) => write!(f, "{addr}"),
            Listen::Unix(path) => write!(f, "unix:{}", path.display()),
        }
    }
}

/// Log line format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// How the listeners behave.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerSettings {
    /// The admin listener (`/metrics`, `/healthz`, `/readyz`, `POST /revoke`); `None`
    /// when turned off.
    pub admin_listen: Option<SocketAddr>,
    /// The bearer token every state-changing admin call must carry; without one the
    /// admin listener changes nothing, and it may only listen on loopback.
    pub admin_token: Option<AdminToken>,
    /// File mode of the Unix socket (so that nginx's user can connect).
    pub socket_mode: u32,
    /// How long a client may take to send its request headers.
    pub header_timeout: Duration,
    /// Most connections served at once on the auth listener; more wait in the backlog.
    pub max_connections: usize,
    /// Largest request head read on the auth listener, in bytes. It must hold the
    /// largest head nginx forwards (docs/nginx.md has the arithmetic): a larger one
    /// would be answered 431, which nginx turns into a 500.
    pub max_head_bytes: usize,
    /// Runtime worker threads.
    pub worker_threads: usize,
}

/// Where single-use ids and revocations are kept.
#[derive(Clone, Debug)]
pub enum StoreSettings {
    /// In this process (`KEYHOLE_STORE=memory`, the default): one instance only.
    Memory,
    /// Redis, shared by every instance.
    Redis {
        /// The parsed URL (never printed); boxed, being much larger than `Memory`.
        target: Box<RedisTarget>,
        /// Key prefix (`KEYHOLE_REDIS_PREFIX`).
        prefix: String,
        /// Bound on every call (`KEYHOLE_STORE_TIMEOUT`).
        timeout: Duration,
    },
}

/// The default admin listener.
pub const DEFAULT_ADMIN_LISTEN: &str = "127.0.0.1:9182";

/// A validated configuration.
#[derive(Clone, Debug)]
pub struct Config {
    /// The auth listener.
    pub listen: Listen,
    /// Listener settings.
    pub server: ServerSettings,
    /// Signed-URL keys.
    pub keys: Arc<KeyRing>,
    /// Leeway and maximum lifetime.
    pub policy: Policy,
    /// A `tracing` filter directive (`info`, `keyhole=debug`, …).
    pub log_filter: String,
    /// Log line format.
    pub log_format: LogFormat,
    /// The JWT verifier, when any JWT key source is set.
    pub jwt: Option<Arc<JwtVerifier>>,
    /// Most live ids in the in-memory replay store.
    pub replay_capacity: usize,
    /// The remote JWKS, when `KEYHOLE_JWKS_URL` is set (fetched by `serve`).
    pub jwks: Option<Arc<JwksSource>>,
    /// Cookie name, attributes and cross-site rules.
    pub cookies: CookiePolicy,
    /// The replay and revocation store.
    pub store: StoreSettings,
}

impl Config {
    /// How long a JWT revocation must be kept: the longest JWT lifetime plus leeway.
    pub fn jwt_revocation_lifetime(&self) -> u64 {
        let policy = self
            .jwt
            .as_ref()
            .map(|jwt| jwt.policy.clone())
            .unwrap_or_default();
        policy.max_lifetime.saturating_add(policy.leeway)
    }
}

/// One configuration problem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The variable at fault.
    pub variable: &'static str,
    /// What is wrong and, when it helps, what to do.
    pub message: String,
}

/// Every problem found in the environment; keyhole refuses to start with any.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub struct ConfigError {
    /// The problems, in variable order.
    pub problems: Vec<Problem>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "invalid configuration ({} problem(s)):",
            self.problems.len()
        )?;
        for problem in &self.problems {
            writeln!(f, "  {}: {}", problem.variable, problem.message)?;
        }
        Ok(())
    }
}

impl Config {
    /// Reads and validates the process environment.
    pub fn from_env() -> Result<Config, ConfigError> {
        Config::from_vars(std::env::vars())
    }

    /// Reads and validates the given variables (tests pass their own).
    pub fn from_vars(
        vars: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, ConfigError> {
        let vars: Vec<(String, String)> = vars.into_iter().collect();
        let mut problems = Vec::new();
        for (name, _) in &vars {
            if name.starts_with("KEYHOLE_") && !KNOWN_VARIABLES.contains(&name.as_str()) {
                problems.push(Problem {
                    variable: "KEYHOLE_*",
                    message: format!(
                        "unknown variable `{name}`; known: {}",
                        KNOWN_VARIABLES.join(", ")
                    ),
                });
            }
        }
        let raw: RawConfig = match envy::prefixed("KEYHOLE_").from_iter(vars) {
            Ok(raw) => raw,
            Err(error) => {
                problems.push(Problem {
                    variable: "KEYHOLE_*",
                    message: error.to_string(),
                });
                RawConfig::default()
            }
        };
        let config = raw.validate(&mut problems);
        match config {
            Some(config) if problems.is_empty() => Ok(config),
            _ => Err(ConfigError { problems }),
        }
    }
}

impl RawConfig {
    fn validate(self, problems: &mut Vec<Problem>) -> Option<Config> {
        let mut report = |variable: &'static str, message: String| {
            problems.push(Problem { variable, message });
        };
        let listen = match parse_listen(self.listen.as_deref().unwrap_or("127.0.0.1:9181")) {
            Ok(listen) => Some(listen),
            Err(message) => {
                report("KEYHOLE_LISTEN", message);
                None
            }
        };
        let admin_listen = parse_admin_listen(self.admin_listen.as_deref())
            .map_err(|message| report("KEYHOLE_ADMIN_LISTEN", message))
            .ok();
        let admin_token = load_admin_token(
            self.admin_token.as_deref(),
            self.admin_token_file.as_deref(),
            &mut report,
        );
        if let (Some(Some(addr)), Some(None)) = (admin_listen, &admin_token) {
            if !addr.ip().is_loopback() {
                report(
                    "KEYHOLE_ADMIN_LISTEN",
                    format!(
                        "`{addr}` is not a loopback address and no admin token is set: set KEYHOLE_ADMIN_TOKEN_FILE (or KEYHOLE_ADMIN_TOKEN), or listen on 127.0.0.1 or [::1]"
                    ),
                );
            }
        }
        let socket_mode = match self.socket_mode.as_deref().unwrap_or("0660") {
            text if text.len() <= 4 && text.bytes().all(|b| (b'0'..=b'7').contains(&b)) => {
                u32::from_str_radix(text, 8).ok()
            }
            other => {
                report(
                    "KEYHOLE_SOCKET_MODE",
                    format!("must be an octal file mode such as `0660`, got `{other}`"),
                );
                None
            }
        };
        let header_timeout = parse_seconds(self.header_timeout.as_deref(), 10)
            .map_err(|message| report("KEYHOLE_HEADER_TIMEOUT", message))
            .ok()
            .filter(|seconds| {
                let ok = *seconds > 0;
                if !ok {
                    report("KEYHOLE_HEADER_TIMEOUT", "must be greater than zero".into());
                }
                ok
            });
        let max_connections = parse_count(self.max_connections.as_deref(), 1024)
            .map_err(|message| report("KEYHOLE_MAX_CONNECTIONS", message))
            .ok();
        let max_head_bytes = parse_head_bytes(self.max_head_bytes.as_deref())
            .map_err(|message| report("KEYHOLE_MAX_HEAD_BYTES", message))
            .ok();
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        let worker_threads = parse_count(self.worker_threads.as_deref(), cores)
            .map_err(|message| report("KEYHOLE_WORKER_THREADS", message))
            .ok();
        let keys = load_keys(self.keys.as_deref(), self.keys_file.as_deref(), &mut report);
        let leeway = parse_seconds(self.leeway.as_deref(), 30)
            .map_err(|message| report("KEYHOLE_LEEWAY", message))
            .ok();
        let max_lifetime = parse_seconds(self.max_lifetime.as_deref(), 7 * 24 * 3600)
            .map_err(|message| report("KEYHOLE_MAX_LIFETIME", message))
            .ok();
        let max_cache = parse_seconds(self.decision_cache_max.as_deref(), 60)
            .map_err(|message| report("KEYHOLE_DECISION_CACHE_MAX", message))
            .ok();
        if max_lifetime == Some(0) {
            report("KEYHOLE_MAX_LIFETIME", "must be greater than zero".into());
        }
        if leeway.is_some_and(|leeway| leeway > 300) {
            report(
                "KEYHOLE_LEEWAY",
                "must be at most 5m (a larger leeway outlives short credentials)".into(),
            );
        }
        let log_format = match self.log_format.as_deref().unwrap_or("text") {
            "text" => Some(LogFormat::Text),
            "json" => Some(LogFormat::Json),
            other => {
                report(
                    "KEYHOLE_LOG_FORMAT",
                    format!("must be `text` or `json`, got `{other}`"),
                );
                None
            }
        };
        let jwt = self.load_jwt(leeway.unwrap_or(30), &mut report);
        let replay_capacity = match self.replay_capacity.as_deref().map(str::parse::<usize>) {
            None => Some(DEFAULT_CAPACITY),
            Some(Ok(capacity)) if capacity > 0 => Some(capacity),
            Some(_) => {
                report(
                    "KEYHOLE_REPLAY_CAPACITY",
                    "must be a whole number greater than zero".into(),
                );
                None
            }
        };
        let cookies = parse_cookie_policy(
            self.cookie_name.as_deref(),
            self.cookie_samesite.as_deref(),
            self.cookie_max_lifetime.as_deref(),
            self.cookie_cross_site_allow.as_deref(),
            &mut report,
        );
        let store = self.load_store(&mut report);
        Some(Config {
            store: store?,
            listen: listen?,
            server: ServerSettings {
                admin_listen: admin_listen?,
                admin_token: admin_token?,
                socket_mode: socket_mode?,
                header_timeout: Duration::from_secs(header_timeout?),
                max_connections: max_connections?,
                max_head_bytes: max_head_bytes?,
                worker_threads: worker_threads?,
            },
            keys: Arc::new(keys?),
            policy: Policy {
                leeway: leeway?,
                max_lifetime: max_lifetime?,
                max_cache: max_cache?,
            },
            log_filter: self.log.unwrap_or_else(|| "info".into()),
            log_format: log_format?,
            jwt: jwt.as_ref()?.0.clone(),
            jwks: jwt?.1,
            replay_capacity: replay_capacity?,
            cookies: cookies?,
        })
    }

    /// `KEYHOLE_STORE` (or `_FILE`), `KEYHOLE_STORE_TIMEOUT` and `KEYHOLE_REDIS_PREFIX`.
    /// The URL is never echoed: it may carry a password.
    fn load_store(&self, report: &mut impl FnMut(&'static str, String)) -> Option<StoreSettings> {
        let timeout = match self.store_timeout.as_deref() {
            None => Some(DEFAULT_TIMEOUT),
            Some(text) => match humantime::parse_duration(text) {
                Ok(timeout)
                    if timeout >= Duration::from_millis(1)
                        && timeout <= Duration::from_secs(10) =>
                {
                    Some(timeout)
                }
                _ => {
                    report(
                        "KEYHOLE_STORE_TIMEOUT",
                        format!("must be a duration from 1ms to 10s such as `100ms`, got `{text}`"),
                    );
                    None
                }
            },
        };
        let prefix = self.redis_prefix.as_deref().unwrap_or(DEFAULT_PREFIX);
        let prefix_ok = prefix.len() <= 64
            && prefix
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_:.{}".contains(&b));
        if !prefix_ok {
            report(
                "KEYHOLE_REDIS_PREFIX",
                format!("must be at most 64 of A-Z a-z 0-9 - _ : . {{ }}, got `{prefix}`"),
            );
        }
        let (variable, text) = match (&self.store, &self.store_file) {
            (Some(_), Some(_)) => {
                report(
                    "KEYHOLE_STORE",
                    "set either KEYHOLE_STORE or KEYHOLE_STORE_FILE, not both".into(),
                );
                return None;
            }
            (None, None) => return Some(StoreSettings::Memory),
            (Some(text), None) => ("KEYHOLE_STORE", text.trim().to_owned()),
            (None, Some(path)) => match std::fs::read_to_string(path) {
                Ok(text) => ("KEYHOLE_STORE_FILE", text.trim().to_owned()),
                Err(error) => {
                    report(
                        "KEYHOLE_STORE_FILE",
                        format!("cannot read {}: {error}", path.display()),
                    );
                    return None;
                }
            },
        };
        if text == "memory" {
            return Some(StoreSettings::Memory);
        }
        let target = RedisTarget::parse(&text)
            .map_err(|error| {
                report(
                    variable,
                    format!("{error} (value not shown: it may hold a password)"),
                )
            })
            .ok()?;
        Some(StoreSettings::Redis {
            target: Box::new(target),
            prefix: prefix_ok.then(|| prefix.to_owned())?,
            timeout: timeout?,
        })
    }

    /// The JWT verifier and remote JWKS: `(None, None)` when no JWT key source is set;
    /// `None` when anything is wrong.
    fn load_jwt(
        &self,
        leeway: u64,
        report: &mut impl FnMut(&'static str, String),
    ) -> Option<JwtParts> {
        let mut ok = true;
        let mut keys = Vec::new();
        let mut any_source = false;
        if self.jwt_keys.is_some() && self.jwt_keys_file.is_some() {
            report(
                "KEYHOLE_JWT_KEYS",
                "set either KEYHOLE_JWT_KEYS or KEYHOLE_JWT_KEYS_FILE, not both".into(),
            );
            ok = false;
        }
        if let Some(text) = &self.jwt_keys {
            any_source = true;
            match jwt::keys::parse_hmac_keys(text) {
                Ok(more) => keys.extend(more),
                Err(error) => {
                    report("KEYHOLE_JWT_KEYS", error.to_string());
                    ok = false;
                }
            }
        }
        let files: [(&'static str, &Option<PathBuf>, bool); 2] = [
            ("KEYHOLE_JWT_KEYS_FILE", &self.jwt_keys_file, false),
            ("KEYHOLE_JWKS_FILE", &self.jwks_file, true),
        ];
        for (variable, path, is_jwks) in files {
            let Some(path) = path else { continue };
            any_source = true;
            let parsed = std::fs::read_to_string(path)
                .map_err(|error| format!("cannot read {}: {error}", path.display()))
                .and_then(|text| {
                    let parsed = if is_jwks {
                        jwt::keys::parse_jwks(&text)
                    } else {
                        jwt::keys::parse_hmac_keys(&text)
                    };
                    parsed.map_err(|error| format!("{}: {error}", path.display()))
                });
            match parsed {
                Ok(more) => keys.extend(more),
                Err(message) => {
                    report(variable, message);
                    ok = false;
                }
            }
        }
        let max_lifetime =
            parse_seconds(self.jwt_max_lifetime.as_deref(), jwt::DEFAULT_MAX_LIFETIME)
                .map_err(|message| report("KEYHOLE_JWT_MAX_LIFETIME", message))
                .ok();
        if max_lifetime == Some(0) {
            report(
                "KEYHOLE_JWT_MAX_LIFETIME",
                "must be greater than zero".into(),
            );
            ok = false;
        }
        let param = self
            .jwt_param
            .clone()
            .unwrap_or_else(|| jwt::DEFAULT_PARAM.into());
        let param_ok = !param.is_empty()
            && param.len() <= 32
            && param
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
            && !param.starts_with(crate::verify::signed_url::PARAM_PREFIX);
        if !param_ok {
            report(
                "KEYHOLE_JWT_PARAM",
                format!(
                    "must be 1 to 32 characters of A-Z a-z 0-9 `_` `-` and not start with `kh_` (reserved for signed URLs), got `{param}`"
                ),
            );
            ok = false;
        }
        let audience = self
            .jwt_audience
            .clone()
            .unwrap_or_else(|| jwt::DEFAULT_AUDIENCE.into());
        if audience.is_empty() {
            report("KEYHOLE_JWT_AUDIENCE", "must not be empty".into());
            ok = false;
        }
        let issuers = self.jwt_issuers.as_deref().map(|text| {
            text.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect::<Vec<_>>()
        });
        if issuers.as_ref().is_some_and(Vec::is_empty) {
            report(
                "KEYHOLE_JWT_ISSUERS",
                "lists no issuer; unset it to accept any `iss`".into(),
            );
            ok = false;
        }
        let single_use = match self.jwt_single_use.as_deref().unwrap_or("on-request") {
            "on-request" => Some(SingleUse::OnRequest),
            "always" => Some(SingleUse::Always),
            other => {
                report(
                    "KEYHOLE_JWT_SINGLE_USE",
                    format!("must be `on-request` or `always`, got `{other}`"),
                );
                None
            }
        };
        let jwks_url = match self.jwks_url.as_deref().map(JwksUrl::parse) {
            None => None,
            Some(Ok(url)) => {
                any_source = true;
                Some(url)
            }
            Some(Err(message)) => {
                report("KEYHOLE_JWKS_URL", message);
                ok = false;
                None
            }
        };
        let refresh = parse_seconds(self.jwks_refresh.as_deref(), 300)
            .map_err(|message| report("KEYHOLE_JWKS_REFRESH", message))
            .ok();
        let refetch = parse_seconds(self.jwks_refetch_interval.as_deref(), 60)
            .map_err(|message| report("KEYHOLE_JWKS_REFETCH_INTERVAL", message))
            .ok();
        if refresh == Some(0) {
            report("KEYHOLE_JWKS_REFRESH", "must be greater than zero".into());
            ok = false;
        }
        if !any_source {
            return ok.then_some((None, None));
        }
        if keys.is_empty() && jwks_url.is_none() && ok {
            report("KEYHOLE_JWT_KEYS", "the JWT key sources hold no key".into());
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
        let mut verifier = match JwtVerifier::new(keys, policy) {
            Ok(verifier) => verifier,
            Err(error) => {
                report("KEYHOLE_JWT_KEYS", error.to_string());
                return None;
            }
        };
        let jwks = match jwks_url {
            Some(url) => {
                let remote = Arc::new(jwt::RemoteKeys::default());
                verifier.remote = Some(Arc::clone(&remote));
                Some(Arc::new(JwksSource::new(
                    url,
                    remote,
                    local_kids,
                    std::time::Duration::from_secs(refresh?),
                    std::time::Duration::from_secs(refetch?),
                )))
            }
            None => None,
        };
        ok.then_some((Some(Arc::new(verifier)), jwks))
    }
}

fn parse_listen(text: &str) -> Result<Listen, String> {
    if let Some(path) = text.strip_prefix("unix:") {
        if path.starts_with('/') {
            return Ok(Listen::Unix(PathBuf::from(path)));
        }
        return Err(format!(
            "a Unix socket needs an absolute path (`unix:/run/keyhole.sock`), got `{text}`"
        ));
    }
    text.parse().map(Listen::Tcp).map_err(|_| {
        format!("must be `HOST:PORT` with an IP address (`127.0.0.1:9181`, `[::1]:9181`) or `unix:/path`, got `{text}`")
    })
}

/// The `KEYHOLE_COOKIE_*` variables.
fn parse_cookie_policy(
    name: Option<&str>,
    same_site: Option<&str>,
    max_lifetime: Option<&str>,
    cross_site_allow: Option<&str>,
    report: &mut impl FnMut(&'static str, String),
) -> Option<CookiePolicy> {
    let defaults = CookiePolicy::default();
    let name = name.unwrap_or(cookie::DEFAULT_NAME);
    // RFC 6265 token characters only; `__Host-` is recommended, not required.
    let name_ok = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
    if !name_ok {
        report(
            "KEYHOLE_COOKIE_NAME",
            format!(
                "must be a cookie name of letters, digits and `-_.` (such as `__Host-keyhole`), got `{name}`"
            ),
        );
    }
    let same_site = match same_site.unwrap_or("lax") {
        "lax" | "Lax" => Some(cookie::SameSite::Lax),
        "strict" | "Strict" => Some(cookie::SameSite::Strict),
        other => {
            report(
                "KEYHOLE_COOKIE_SAMESITE",
                format!("must be `lax` or `strict`, got `{other}`"),
            );
            None
        }
    };
    let max_lifetime = parse_seconds(max_lifetime, defaults.max_lifetime)
        .map_err(|message| report("KEYHOLE_COOKIE_MAX_LIFETIME", message))
        .ok()
        .filter(|seconds| {
            let ok = *seconds > 0;
            if !ok {
                report(
                    "KEYHOLE_COOKIE_MAX_LIFETIME",
                    "must be greater than zero".into(),
                );
            }
            ok
        });
    let mut origins = Vec::new();
    for origin in cross_site_allow
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
                "KEYHOLE_COOKIE_CROSS_SITE_ALLOW",
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

/// `KEYHOLE_ADMIN_LISTEN`: an IP `HOST:PORT`, or `off`.
pub fn parse_admin_listen(text: Option<&str>) -> Result<Option<SocketAddr>, String> {
    match text.unwrap_or(DEFAULT_ADMIN_LISTEN) {
        "off" => Ok(None),
        text => text.parse().map(Some).map_err(|_| {
            format!(
                "must be `HOST:PORT` with an IP address (`127.0.0.1:9182`) or `off`, got `{text}`"
            )
        }),
    }
}

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
    let store = raw.load_store(&mut report);
    let admin_token = load_admin_token(
        raw.admin_token.as_deref(),
        raw.admin_token_file.as_deref(),
        &mut report,
    );
    let cookie_lifetime = parse_seconds(
        raw.cookie_max_lifetime.as_deref(),
        CookiePolicy::default().max_lifetime,
    )
    .map_err(|message| report("KEYHOLE_COOKIE_MAX_LIFETIME", message))
    .ok();
    let jwt_max = parse_seconds(raw.jwt_max_lifetime.as_deref(), jwt::DEFAULT_MAX_LIFETIME)
        .map_err(|message| report("KEYHOLE_JWT_MAX_LIFETIME", message))
        .ok();
    let leeway = parse_seconds(raw.leeway.as_deref(), 30)
        .map_err(|message| report("KEYHOLE_LEEWAY", message))
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

/// The admin address from the process environment alone (for `keyhole health`,
/// which must work without keys).
pub fn admin_listen_from_env() -> Result<Option<SocketAddr>, String> {
    parse_admin_listen(std::env::var("KEYHOLE_ADMIN_LISTEN").ok().as_deref())
}

/// `KEYHOLE_ADMIN_TOKEN` or `KEYHOLE_ADMIN_TOKEN_FILE`: `Some(None)` when neither is
/// set, `None` when either is wrong (reported, never echoed).
fn load_admin_token(
    inline: Option<&str>,
    file: Option<&std::path::Path>,
    report: &mut impl FnMut(&'static str, String),
) -> Option<Option<AdminToken>> {
    match (inline, file) {
        (None, None) => Some(None),
        (Some(_), Some(_)) => {
            report(
                "KEYHOLE_ADMIN_TOKEN",
                "set either KEYHOLE_ADMIN_TOKEN or KEYHOLE_ADMIN_TOKEN_FILE, not both".into(),
            );
            None
        }
        (Some(text), None) => AdminToken::parse(text)
            .map(Some)
            .map_err(|error| report("KEYHOLE_ADMIN_TOKEN", error.to_string()))
            .ok(),
        (None, Some(path)) => match std::fs::read_to_string(path) {
            Ok(text) => AdminToken::parse_file(&text)
                .map(Some)
                .map_err(|error| {
                    report(
                        "KEYHOLE_ADMIN_TOKEN_FILE",
                        format!("{}: {error}", path.display()),
                    )
                })
                .ok(),
            Err(error) => {
                report(
                    "KEYHOLE_ADMIN_TOKEN_FILE",
                    format!("cannot read {}: {error}", path.display()),
                );
                None
            }
        },
    }
}

/// A whole number from 1 to 1,000,000.
fn parse_count(text: Option<&str>, default: usize) -> Result<usize, String> {
    let Some(text) = text else { return Ok(default) };
    match text.parse::<usize>() {
        Ok(n) if (1..=1_000_000).contains(&n) => Ok(n),
        _ => Err(format!(
            "must be a whole number from 1 to 1000000, got `{text}`"
        )),
    }
}

/// Default of `KEYHOLE_MAX_HEAD_BYTES`: twice the largest head nginx accepts with its
/// default buffers (1 KiB + 4 × 8 KiB), so every request nginx takes is answered.
pub const DEFAULT_MAX_HEAD_BYTES: usize = 64 * 1024;

/// `KEYHOLE_MAX_HEAD_BYTES`: from 8 KiB (hyper's smallest read buffer) to 1 MiB.
fn parse_head_bytes(text: Option<&str>) -> Result<usize, String> {
    let Some(text) = text else {
        return Ok(DEFAULT_MAX_HEAD_BYTES);
    };
    match text.parse::<usize>() {
        Ok(n) if (8192..=1_048_576).contains(&n) => Ok(n),
        _ => Err(format!(
            "must be a number of bytes from 8192 to 1048576, got `{text}`"
        )),
    }
}

/// A duration as plain seconds (`30`) or with a unit (`30s`, `10m`, `7d`).
pub fn parse_seconds(text: Option<&str>, default: u64) -> Result<u64, String> {
    let Some(text) = text else { return Ok(default) };
    if let Ok(seconds) = text.parse::<u64>() {
        return Ok(seconds);
    }
    humantime::parse_duration(text)
        .map(|duration: Duration| duration.as_secs())
        .map_err(|_| format!("must be a duration such as `30s`, `10m` or `7d`, got `{text}`"))
}

fn load_keys(
    inline: Option<&str>,
    file: Option<&std::path::Path>,
    report: &mut impl FnMut(&'static str, String),
) -> Option<KeyRing> {
    match (inline, file) {
        (Some(_), Some(_)) => {
            report(
                "KEYHOLE_KEYS",
                "set either KEYHOLE_KEYS or KEYHOLE_KEYS_FILE, not both".into(),
            );
            None
        }
        (None, None) => {
            report(
                "KEYHOLE_KEYS",
                "no signing key configured: set KEYHOLE_KEYS=kid:secret or KEYHOLE_KEYS_FILE (generate one with `keyhole keygen`)".into(),
            );
            None
        }
        (Some(text), None) => KeyRing::parse(text)
            .map_err(|error| report("KEYHOLE_KEYS", error.to_string()))
            .ok(),
        (None, Some(path)) => match std::fs::read_to_string(path) {
            Ok(text) => KeyRing::parse(&text)
                .map_err(|error| {
                    report("KEYHOLE_KEYS_FILE", format!("{}: {error}", path.display()))
                })
                .ok(),
            Err(error) => {
                report(
                    "KEYHOLE_KEYS_FILE",
                    format!("cannot read {}: {error}", path.display()),
                );
                None
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8";

    fn vars(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_apply() {
        let config = Config::from_vars(vars(&[("KEYHOLE_KEYS", &format!("k1:{SECRET}"))])).unwrap();
        assert_eq!(
            config.listen,
            Listen::Tcp("127.0.0.1:9181".parse().unwrap())
        );
        assert_eq!(config.policy, Policy::default());
        assert_eq!(config.log_format, LogFormat::Text);
        assert_eq!(config.server.max_head_bytes, 64 * 1024);
    }

    #[test]
    fn the_head_limit_stays_in_hyper_s_range() {
        let key = format!("k1:{SECRET}");
        let with = |bytes: &str| {
            Config::from_vars(vars(&[
                ("KEYHOLE_KEYS", &key),
                ("KEYHOLE_MAX_HEAD_BYTES", bytes),
            ]))
        };
        assert_eq!(with("131072").unwrap().server.max_head_bytes, 131_072);
        for bad in ["8191", "1048577", "64k", ""] {
            let error = with(bad).unwrap_err();
            assert_eq!(
                error.problems[0].variable, "KEYHOLE_MAX_HEAD_BYTES",
                "{bad}"
            );
        }
    }

    #[test]
    fn store_selection_names_the_variable_and_never_the_password() {
        let key = format!("k1:{SECRET}");
        let config = Config::from_vars(vars(&[("KEYHOLE_KEYS", &key)])).unwrap();
        assert!(matches!(config.store, StoreSettings::Memory));
        let config = Config::from_vars(vars(&[
            ("KEYHOLE_KEYS", &key),
            ("KEYHOLE_STORE", "redis://:pw@127.0.0.1:6379/2"),
            ("KEYHOLE_STORE_TIMEOUT", "250ms"),
            ("KEYHOLE_REDIS_PREFIX", "app:kh:"),
        ]))
        .unwrap();
        match &config.store {
            StoreSettings::Redis {
                prefix, timeout, ..
            } => {
                assert_eq!(prefix, "app:kh:");
                assert_eq!(*timeout, Duration::from_millis(250));
            }
            StoreSettings::Memory => panic!("expected Redis"),
        }
        assert!(!format!("{config:?}").contains(":pw@"));
        let error = Config::from_vars(vars(&[
            ("KEYHOLE_KEYS", &key),
            ("KEYHOLE_STORE", "mysql://root:hunter2@db"),
            ("KEYHOLE_STORE_TIMEOUT", "0s"),
            ("KEYHOLE_REDIS_PREFIX", "bad prefix"),
        ]))
        .unwrap_err();
        let text = error.to_string();
        assert!(!text.contains("hunter2"), "{text}");
        let variables: Vec<_> = error.problems.iter().map(|p| p.variable).collect();
        assert_eq!(
            variables,
            [
                "KEYHOLE_STORE_TIMEOUT",
                "KEYHOLE_REDIS_PREFIX",
                "KEYHOLE_STORE"
            ]
        );
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("store");
        std::fs::write(&file, "redis://:hunter2@[::1\n").unwrap();
        let error = Config::from_vars(vars(&[
            ("KEYHOLE_KEYS", &key),
            ("KEYHOLE_STORE_FILE", file.to_str().unwrap()),
        ]))
        .unwrap_err();
        assert_eq!(error.problems.len(), 1);
        assert_eq!(error.problems[0].variable, "KEYHOLE_STORE_FILE");
        assert!(!error.to_string().contains("hunter2"));
    }

    #[test]
    fn every_problem_is_reported_at_once_and_secrets_are_not() {
        let short = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwd";
        let error = Config::from_vars(vars(&[
            ("KEYHOLE_KEYS", &format!("k1:{short}")),
            ("KEYHOLE_LISTEN", "localhost:80"),
            ("KEYHOLE_LEEWAY", "soon"),
            ("KEYHOLE_MAX_LIFETIME", "0"),
            ("KEYHOLE_LOG_FORMAT", "xml"),
            ("KEYHOLE_KEY", "typo"),
        ]))
        .unwrap_err();
        let variables: Vec<_> = error.problems.iter().map(|p| p.variable).collect();
        for expected in [
            "KEYHOLE_KEYS",
            "KEYHOLE_LISTEN",
            "KEYHOLE_LEEWAY",
            "KEYHOLE_MAX_LIFETIME",
            "KEYHOLE_LOG_FORMAT",
            "KEYHOLE_*",
        ] {
            assert!(
                variables.contains(&expected),
                "{expected} missing from {error}"
            );
        }
        let text = error.to_string();
        assert!(!text.contains(short), "{text}");
        assert!(text.contains("30 bytes"), "{text}");
    }

    #[test]
    fn listen_forms() {
        assert_eq!(
            parse_listen("unix:/run/k.sock"),
            Ok(Listen::Unix("/run/k.sock".into()))
        );
        assert!(parse_listen("unix:rel.sock").is_err());
        assert_eq!(
            parse_listen("[::1]:9"),
            Ok(Listen::Tcp("[::1]:9".parse().unwrap()))
        );
    }

    #[test]
    fn durations() {
        assert_eq!(parse_seconds(Some("90"), 0), Ok(90));
        assert_eq!(parse_seconds(Some("10m"), 0), Ok(600));
        assert_eq!(parse_seconds(Some("7d"), 0), Ok(604800));
        assert_eq!(parse_seconds(None, 5), Ok(5));
        assert!(parse_seconds(Some("-1"), 0).is_err());
    }

    #[test]
    fn jwt_variables_are_validated_together() {
        let error = Config::from_vars(vars(&[
            ("KEYHOLE_KEYS", &format!("k1:{SECRET}")),
            ("KEYHOLE_JWT_KEYS", &format!("j1:RS256:{SECRET}")),
            ("KEYHOLE_JWT_PARAM", "kh_token"),
            ("KEYHOLE_JWKS_URL", "https://idp.example/jwks"),
            ("KEYHOLE_JWT_SINGLE_USE", "sometimes"),
            ("KEYHOLE_REPLAY_CAPACITY", "0"),
        ]))
        .unwrap_err();
        let variables: Vec<_> = error.problems.iter().map(|p| p.variable).collect();
        for expected in [
            "KEYHOLE_JWT_KEYS",
            "KEYHOLE_JWT_PARAM",
            "KEYHOLE_JWKS_URL",
            "KEYHOLE_JWT_SINGLE_USE",
            "KEYHOLE_REPLAY_CAPACITY",
        ] {
            assert!(
                variables.contains(&expected),
                "{expected} missing from {error}"
            );
        }
        assert!(!error.to_string().contains(SECRET));

        let config = Config::from_vars(vars(&[
            ("KEYHOLE_KEYS", &format!("k1:{SECRET}")),
            ("KEYHOLE_JWT_KEYS", &format!("j1:HS256:{SECRET}")),
        ]))
        .unwrap();
        let jwt = config.jwt.unwrap();
        assert_eq!(jwt.policy.param, "token");
        assert_eq!(jwt.policy.max_lifetime, 300);
        assert!(config.jwks.is_none());
        let without =
            Config::from_vars(vars(&[("KEYHOLE_KEYS", &format!("k1:{SECRET}"))])).unwrap();
        assert!(without.jwt.is_none());
    }

    #[test]
    fn an_admin_listener_beyond_loopback_needs_a_token() {
        let key = format!("k1:{SECRET}");
        let token = "0123456789abcdef0123456789abcdef";
        let problems = |pairs: &[(&str, &str)]| -> Vec<Problem> {
            let mut all = vec![("KEYHOLE_KEYS", key.as_str())];
            all.extend_from_slice(pairs);
            Config::from_vars(vars(&all))
                .err()
                .map(|e| e.problems)
                .unwrap_or_default()
        };
        let open = problems(&[("KEYHOLE_ADMIN_LISTEN", "0.0.0.0:9182")]);
        assert_eq!(open.len(), 1, "{open:?}");
        assert_eq!(open[0].variable, "KEYHOLE_ADMIN_LISTEN");
        assert!(
            open[0].message.contains("KEYHOLE_ADMIN_TOKEN_FILE"),
            "{open:?}"
        );
        assert_eq!(problems(&[("KEYHOLE_ADMIN_LISTEN", "[::]:9182")]).len(), 1);
        assert!(problems(&[("KEYHOLE_ADMIN_LISTEN", "127.0.0.1:9182")]).is_empty());
        assert!(problems(&[("KEYHOLE_ADMIN_LISTEN", "[::1]:9182")]).is_empty());
        assert!(
            problems(&[
                ("KEYHOLE_ADMIN_LISTEN", "0.0.0.0:9182"),
                ("KEYHOLE_ADMIN_TOKEN", token)
            ])
            .is_empty()
        );
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("admin-token");
        std::fs::write(&file, format!("{token}\n")).unwrap();
        let config = Config::from_vars(vars(&[
            ("KEYHOLE_KEYS", &key),
            ("KEYHOLE_ADMIN_LISTEN", "0.0.0.0:9182"),
            ("KEYHOLE_ADMIN_TOKEN_FILE", file.to_str().unwrap()),
        ]))
        .unwrap();
        assert!(config.server.admin_token.unwrap().matches(token.as_bytes()));
        let both = problems(&[
            ("KEYHOLE_ADMIN_TOKEN", token),
            ("KEYHOLE_ADMIN_TOKEN_FILE", file.to_str().unwrap()),
        ]);
        assert_eq!(both[0].variable, "KEYHOLE_ADMIN_TOKEN");
        let short = "not-long-enough-secret";
        let bad = problems(&[("KEYHOLE_ADMIN_TOKEN", short)]);
        assert_eq!(bad[0].variable, "KEYHOLE_ADMIN_TOKEN");
        assert!(!format!("{bad:?}").contains(short), "{bad:?}");
    }

    #[test]
    fn every_variable_is_documented_in_configuration_md() {
        let doc = include_str!("../docs/configuration.md");
        for variable in KNOWN_VARIABLES {
            assert!(
                doc.contains(&format!("| `{variable}` |")),
                "{variable} has no row in docs/configuration.md"
            );
        }
    }

    #[test]
    fn keys_from_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys");
        std::fs::write(&path, format!("k2:{SECRET}\nk1:{SECRET}\n")).unwrap();
        let config =
            Config::from_vars(vars(&[("KEYHOLE_KEYS_FILE", path.to_str().unwrap())])).unwrap();
        assert_eq!(config.keys.signing_key().kid.as_str(), "k2");
        let both = Config::from_vars(vars(&[
            ("KEYHOLE_KEYS_FILE", path.to_str().unwrap()),
            ("KEYHOLE_KEYS", &format!("k1:{SECRET}")),
        ]));
        assert!(both.is_err());
    }
}
