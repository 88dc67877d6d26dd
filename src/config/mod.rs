//! `KEYHOLE_*` environment variables, read through envy into [`RawConfig`], then
//! validated into a [`Config`]. Every problem is reported at once, each naming the
//! variable, the rule and (for non-secrets) the value. This is the only module that
//! knows environment variable names.
//!
//! [`table`] is the one list of variables with their defaults; each area validates its
//! own variables and pushes its problems into the shared report:
//!
//! - [`listen`]: the auth listener and its limits.
//! - [`forwarded`]: the proxies whose `X-Forwarded-*` headers are believed.
//! - [`admin`]: the admin listener and its token.
//! - [`keys`]: signed-URL keys.
//! - [`policy`]: leeway and lifetimes shared by every credential.
//! - [`log`]: the log filter and format.
//! - [`jwt`]: JWT key sources and rules, and the remote JWKS.
//! - [`cookie`]: session cookies.
//! - [`store`]: the replay and revocation store.
//! - [`revoke`]: the part of the configuration `keyhole revoke` reads.

mod admin;
mod cookie;
mod forwarded;
pub mod jwt;
mod keys;
mod listen;
mod log;
mod policy;
mod revoke;
mod store;
pub mod table;

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;

use crate::admin::AdminToken;
use crate::forwarded::TrustedProxies;
use crate::keys::KeyRing;
use crate::verify::Policy;
use crate::verify::cookie::CookiePolicy;
use crate::verify::jwt::JwtVerifier;

pub use admin::{admin_listen_from_env, parse_admin_listen};
pub use listen::Listen;
pub use log::LogFormat;
pub use revoke::{RevokeSettings, revoke_settings_from_env, revoke_settings_from_vars};
pub use store::StoreSettings;
pub use table::{DEFAULT_ADMIN_LISTEN, DEFAULT_MAX_HEAD_BYTES, KNOWN_VARIABLES};

/// The variables as strings, before validation (field `foo_bar` is `KEYHOLE_FOO_BAR`;
/// one field per row of [`table::VARIABLES`], a test checks).
#[derive(Debug, Default, Deserialize)]
#[cfg_attr(test, derive(serde::Serialize))]
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
    trusted_proxies: Option<String>,
    keys: Option<String>,
    keys_file: Option<PathBuf>,
    allow_signing_keys: Option<String>,
    leeway: Option<String>,
    max_lifetime: Option<String>,
    decision_cache_max: Option<String>,
    log: Option<String>,
    log_format: Option<String>,
    audit: Option<String>,
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
    jwks_key_limits: Option<String>,
    jwks_ca_file: Option<PathBuf>,
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
    store_wait_replicas: Option<String>,
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
    /// The proxies whose `X-Forwarded-*` headers `/forward-auth` and `/ext-authz/`
    /// believe (`KEYHOLE_TRUSTED_PROXIES`).
    pub trusted_proxies: TrustedProxies,
}

/// A validated configuration.
#[derive(Clone, Debug)]
pub struct Config {
    /// The auth listener.
    pub listen: Listen,
    /// Listener settings.
    pub server: ServerSettings,
    /// Signed-URL keys.
    pub keys: Arc<KeyRing>,
    /// `KEYHOLE_ALLOW_SIGNING_KEYS=on`: `keyhole serve` may hold Ed25519 seeds
    /// (checked by [`Config::check_serving`]); the signing commands need no permission.
    pub allow_signing_keys: bool,
    /// Leeway and maximum lifetime.
    pub policy: Policy,
    /// A `tracing` filter directive (`info`, `keyhole=debug`, …).
    pub log_filter: String,
    /// Log line format.
    pub log_format: LogFormat,
    /// `KEYHOLE_AUDIT=on`: every allow is logged (at info) with its audit fields.
    pub audit: bool,
    /// The JWT verifier, when any JWT key source is set.
    pub jwt: Option<Arc<JwtVerifier>>,
    /// Most live ids in the in-memory replay store.
    pub replay_capacity: usize,
    /// The remote JWKS, when `KEYHOLE_JWKS_URL` is set: where and how often to fetch
    /// it (the fetcher itself is built and run by `app`).
    pub jwks: Option<jwt::RemoteJwksSettings>,
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
            if name.starts_with("KEYHOLE_") && table::variable(name).is_none() {
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
    /// Every area in turn, each reporting its own problems (so all are reported at
    /// once); `None` when any area failed.
    fn validate(self, problems: &mut Vec<Problem>) -> Option<Config> {
        let mut report = |variable: &'static str, message: String| {
            problems.push(Problem { variable, message });
        };
        let listen = listen::listen(&self, &mut report);
        let admin = admin::validate(&self, &mut report);
        let limits = listen::limits(&self, &mut report);
        let trusted_proxies = forwarded::trusted_proxies(&self, &mut report);
        let keys = keys::validate(&self, &mut report);
        let allow_signing_keys = keys::allow_signing_keys(&self, &mut report);
        let leeway = policy::leeway(&self, &mut report);
        let policy = policy::validate(&self, leeway, &mut report);
        let log = log::validate(&self, &mut report);
        let audit = log::audit(&self, &mut report);
        let jwt = jwt::validate(
            &self,
            leeway.unwrap_or(const { table::LEEWAY.default_seconds() }),
            &mut report,
        );
        let replay_capacity = store::replay_capacity(&self, &mut report);
        let cookies = cookie::validate(&self, &mut report);
        let store = store::validate(&self, &mut report);
        let (admin, limits, (log_filter, log_format)) = (admin?, limits?, log?);
        let (jwt, jwks) = match jwt? {
            Some(jwt::JwtSettings { verifier, remote }) => (Some(Arc::new(verifier)), remote),
            None => (None, None),
        };
        Some(Config {
            store: store?,
            listen: listen?,
            server: ServerSettings {
                admin_listen: admin.listen,
                admin_token: admin.token,
                socket_mode: limits.socket_mode,
                header_timeout: limits.header_timeout,
                max_connections: limits.max_connections,
                max_head_bytes: limits.max_head_bytes,
                worker_threads: limits.worker_threads,
                trusted_proxies: trusted_proxies?,
            },
            keys: Arc::new(keys?),
            allow_signing_keys: allow_signing_keys?,
            policy: policy?,
            log_filter,
            log_format,
            audit: audit?,
            jwt,
            jwks,
            replay_capacity: replay_capacity?,
            cookies: cookies?,
        })
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

#[cfg(test)]
mod tests {
    use super::listen::parse_listen;
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
    fn sentinel_and_cluster_urls_and_wait_replicas_are_checked() {
        let key = format!("k1:{SECRET}");
        for (url, topology) in [
            (
                "redis+sentinel://:pw@10.0.0.1:26379,10.0.0.2:26379/main/1",
                crate::store::redis::Topology::Sentinel,
            ),
            (
                "rediss+cluster://:pw@10.0.0.1:7000,10.0.0.2:7000",
                crate::store::redis::Topology::Cluster,
            ),
        ] {
            let config = Config::from_vars(vars(&[
                ("KEYHOLE_KEYS", &key),
                ("KEYHOLE_STORE", url),
                ("KEYHOLE_STORE_WAIT_REPLICAS", "2"),
            ]))
            .unwrap();
            match &config.store {
                StoreSettings::Redis {
                    target,
                    wait_replicas,
                    ..
                } => {
                    assert_eq!((target.topology(), *wait_replicas), (topology, 2));
                }
                StoreSettings::Memory => panic!("expected Redis"),
            }
            assert!(!format!("{config:?}").contains(":pw@"));
        }
        for (store, replicas) in [
            ("redis://127.0.0.1", "many"),
            ("redis://127.0.0.1", "17"),
            ("memory", "1"),
        ] {
            let error = Config::from_vars(vars(&[
                ("KEYHOLE_KEYS", &key),
                ("KEYHOLE_STORE", store),
                ("KEYHOLE_STORE_WAIT_REPLICAS", replicas),
            ]))
            .unwrap_err();
            let variables: Vec<_> = error.problems.iter().map(|p| p.variable).collect();
            assert_eq!(
                variables,
                ["KEYHOLE_STORE_WAIT_REPLICAS"],
                "{store} {replicas}"
            );
        }
        let error = Config::from_vars(vars(&[
            ("KEYHOLE_KEYS", &key),
            ("KEYHOLE_STORE", "redis+sentinel://:hunter2@10.0.0.1:26379"),
        ]))
        .unwrap_err();
        assert_eq!(error.problems[0].variable, "KEYHOLE_STORE");
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
            ("KEYHOLE_JWKS_URL", "ftp://idp.example/jwks"),
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
