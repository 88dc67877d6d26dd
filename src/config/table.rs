//! The one table of `KEYHOLE_*` variables: name, default, meaning, whether the value is
//! a secret and which variable is its `_FILE` twin. [`KNOWN_VARIABLES`] (any other
//! `KEYHOLE_*` name is an error) is derived from it, every area reads its default from
//! it, and a test checks it against docs/configuration.md.
//!
//! Where the pure core needs the same default (the leeway, the lifetimes, the JWT
//! parameter and audience, the cookie name), the core's constant is the one source
//! and the row names it.

use std::time::Duration;

use keyhole_core::verify::{self as core_verify, cookie, jwt};

use crate::store::memory::DEFAULT_CAPACITY;
use crate::store::redis::{DEFAULT_PREFIX, DEFAULT_TIMEOUT};

/// A variable's default.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DefaultValue {
    /// No default: unset means "off" or "not configured".
    None,
    /// A literal text value.
    Text(&'static str),
    /// A duration in whole seconds.
    Seconds(u64),
    /// A duration below a second's resolution (`KEYHOLE_STORE_TIMEOUT`).
    Duration(Duration),
    /// A whole number.
    Count(usize),
    /// The number of CPUs keyhole may use less one, left to nginx beside it; at least
    /// one.
    CpusLessOne,
}

/// How the tables write [`DefaultValue::CpusLessOne`].
const CPUS_LESS_ONE: &str = "CPUs - 1 (at least 1)";

impl DefaultValue {
    /// The default as operators write it (`30s`, `127.0.0.1:9181`, `none`, `CPUs - 1 (at least 1)`).
    pub fn to_text(self) -> String {
        match self {
            DefaultValue::None => "none".to_owned(),
            DefaultValue::Text(text) => text.to_owned(),
            DefaultValue::Seconds(seconds) => {
                humantime::format_duration(Duration::from_secs(seconds)).to_string()
            }
            DefaultValue::Duration(duration) => humantime::format_duration(duration).to_string(),
            DefaultValue::Count(count) => count.to_string(),
            DefaultValue::CpusLessOne => CPUS_LESS_ONE.to_owned(),
        }
    }
}

/// One row of the table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Variable {
    /// The environment variable (`KEYHOLE_FOO_BAR`, field `foo_bar` of the raw
    /// configuration).
    pub name: &'static str,
    /// What applies when it is unset.
    pub default: DefaultValue,
    /// One line for operators; docs/configuration.md has the full rules.
    pub meaning: &'static str,
    /// Whether the value is a secret: never echoed in a message or a log.
    pub secret: bool,
    /// The variable naming a file that holds the same value (`KEYHOLE_KEYS_FILE` for
    /// `KEYHOLE_KEYS`); set one or the other, not both.
    pub file_twin: Option<&'static str>,
}

// The accessors below panic on a row of another kind. They are only called inside
// `const { }` blocks, so a wrong kind is a compile error, never a runtime panic.
#[allow(clippy::panic)]
impl Variable {
    /// The default of a text row.
    pub const fn default_text(&self) -> &'static str {
        match self.default {
            DefaultValue::Text(text) => text,
            _ => panic!("default_text on a row whose default is not text"),
        }
    }

    /// The default of a duration-in-seconds row.
    pub const fn default_seconds(&self) -> u64 {
        match self.default {
            DefaultValue::Seconds(seconds) => seconds,
            _ => panic!("default_seconds on a row whose default is not in seconds"),
        }
    }

    /// The default of a sub-second duration row.
    pub const fn default_duration(&self) -> Duration {
        match self.default {
            DefaultValue::Duration(duration) => duration,
            _ => panic!("default_duration on a row whose default is not a duration"),
        }
    }

    /// The default of a count row.
    pub const fn default_count(&self) -> usize {
        match self.default {
            DefaultValue::Count(count) => count,
            _ => panic!("default_count on a row whose default is not a count"),
        }
    }
}

/// A row with a default and no secret.
const fn plain(name: &'static str, default: DefaultValue, meaning: &'static str) -> Variable {
    Variable {
        name,
        default,
        meaning,
        secret: false,
        file_twin: None,
    }
}

/// A secret given directly, with its `_FILE` twin.
const fn secret(name: &'static str, file_twin: &'static str, meaning: &'static str) -> Variable {
    Variable {
        name,
        default: DefaultValue::None,
        meaning,
        secret: true,
        file_twin: Some(file_twin),
    }
}

/// The default admin listener.
pub const DEFAULT_ADMIN_LISTEN: &str = "127.0.0.1:9182";

/// Default of `KEYHOLE_MAX_HEAD_BYTES`: twice the largest head nginx accepts with its
/// default buffers (1 KiB + 4 × 8 KiB), so every request nginx takes is answered.
pub const DEFAULT_MAX_HEAD_BYTES: usize = 64 * 1024;

pub const LISTEN: Variable = plain(
    "KEYHOLE_LISTEN",
    DefaultValue::Text("127.0.0.1:9181"),
    "the auth listener: an IP `HOST:PORT` or `unix:/absolute/path.sock`",
);
pub const ADMIN_LISTEN: Variable = plain(
    "KEYHOLE_ADMIN_LISTEN",
    DefaultValue::Text(DEFAULT_ADMIN_LISTEN),
    "the admin listener (metrics, health, revoke), or `off`",
);
pub const ADMIN_TOKEN: Variable = secret(
    "KEYHOLE_ADMIN_TOKEN",
    ADMIN_TOKEN_FILE.name,
    "the admin bearer token every state-changing admin call must carry",
);
pub const ADMIN_TOKEN_FILE: Variable = plain(
    "KEYHOLE_ADMIN_TOKEN_FILE",
    DefaultValue::None,
    "a file holding the admin bearer token",
);
pub const SOCKET_MODE: Variable = plain(
    "KEYHOLE_SOCKET_MODE",
    DefaultValue::Text("0660"),
    "file mode of the Unix socket (octal)",
);
pub const HEADER_TIMEOUT: Variable = plain(
    "KEYHOLE_HEADER_TIMEOUT",
    DefaultValue::Seconds(10),
    "time a client has to send its request head",
);
pub const MAX_CONNECTIONS: Variable = plain(
    "KEYHOLE_MAX_CONNECTIONS",
    DefaultValue::Count(1024),
    "connections served at once on the auth listener",
);
pub const MAX_HEAD_BYTES: Variable = plain(
    "KEYHOLE_MAX_HEAD_BYTES",
    DefaultValue::Count(DEFAULT_MAX_HEAD_BYTES),
    "largest request head read on the auth listener, in bytes",
);
pub const WORKER_THREADS: Variable = plain(
    "KEYHOLE_WORKER_THREADS",
    DefaultValue::CpusLessOne,
    "threads serving the auth listener, each with its own runtime and accept loop",
);
pub const TRUSTED_PROXIES: Variable = plain(
    "KEYHOLE_TRUSTED_PROXIES",
    DefaultValue::Text("127.0.0.0/8,::1/128"),
    "proxies whose `X-Forwarded-*` headers `/forward-auth` and `/ext-authz/` believe: CIDRs or addresses",
);
pub const KEYS: Variable = secret(
    "KEYHOLE_KEYS",
    KEYS_FILE.name,
    "signed-URL and cookie keys, comma-separated `kid:secret`, `kid:ed25519:PUBLIC` or `kid:ed25519-seed:SEED`; the first that can sign signs",
);
pub const KEYS_FILE: Variable = plain(
    "KEYHOLE_KEYS_FILE",
    DefaultValue::None,
    "signed-URL and cookie keys, one `kid:MATERIAL` a line",
);
pub const ALLOW_SIGNING_KEYS: Variable = plain(
    "KEYHOLE_ALLOW_SIGNING_KEYS",
    DefaultValue::Text("off"),
    "`on` lets `keyhole serve` hold Ed25519 seeds (private keys), to sign exchange cookies",
);
pub const LEEWAY: Variable = plain(
    "KEYHOLE_LEEWAY",
    DefaultValue::Seconds(core_verify::DEFAULT_LEEWAY),
    "clock skew forgiven on expiry and not-before; at most 5m",
);
pub const MAX_LIFETIME: Variable = plain(
    "KEYHOLE_MAX_LIFETIME",
    DefaultValue::Seconds(core_verify::DEFAULT_MAX_LIFETIME),
    "the furthest ahead an expiry may lie",
);
pub const DECISION_CACHE_MAX: Variable = plain(
    "KEYHOLE_DECISION_CACHE_MAX",
    DefaultValue::Seconds(core_verify::DEFAULT_MAX_CACHE),
    "longest time nginx's decision cache may reuse an allow",
);
pub const LOG: Variable = plain(
    "KEYHOLE_LOG",
    DefaultValue::Text("info"),
    "a `tracing` filter",
);
pub const LOG_FORMAT: Variable = plain(
    "KEYHOLE_LOG_FORMAT",
    DefaultValue::Text("text"),
    "`text` or `json`",
);
pub const AUDIT: Variable = plain(
    "KEYHOLE_AUDIT",
    DefaultValue::Text("off"),
    "`on` logs every allow with its key id, subject, token id and session id",
);
pub const JWT_KEYS: Variable = secret(
    "KEYHOLE_JWT_KEYS",
    JWT_KEYS_FILE.name,
    "JWT HMAC keys, comma-separated `kid:ALG:secret`",
);
pub const JWT_KEYS_FILE: Variable = plain(
    "KEYHOLE_JWT_KEYS_FILE",
    DefaultValue::None,
    "JWT HMAC keys, one `kid:ALG:secret` a line",
);
pub const JWKS_FILE: Variable = plain(
    "KEYHOLE_JWKS_FILE",
    DefaultValue::None,
    "public JWT keys as a JWKS document",
);
pub const JWT_AUDIENCE: Variable = plain(
    "KEYHOLE_JWT_AUDIENCE",
    DefaultValue::Text(jwt::DEFAULT_AUDIENCE),
    "the `aud` every token must carry",
);
pub const JWT_ISSUERS: Variable = plain(
    "KEYHOLE_JWT_ISSUERS",
    DefaultValue::None,
    "comma-separated `iss` allow-list (unset: any)",
);
pub const JWT_MAX_LIFETIME: Variable = plain(
    "KEYHOLE_JWT_MAX_LIFETIME",
    DefaultValue::Seconds(jwt::DEFAULT_MAX_LIFETIME),
    "the longest `exp − iat` (and `exp − now`) accepted",
);
pub const JWT_PARAM: Variable = plain(
    "KEYHOLE_JWT_PARAM",
    DefaultValue::Text(jwt::DEFAULT_PARAM),
    "the query parameter carrying the token",
);
pub const JWT_SINGLE_USE: Variable = plain(
    "KEYHOLE_JWT_SINGLE_USE",
    DefaultValue::Text("on-request"),
    "`on-request` or `always`",
);
pub const REPLAY_CAPACITY: Variable = plain(
    "KEYHOLE_REPLAY_CAPACITY",
    DefaultValue::Count(DEFAULT_CAPACITY),
    "most live single-use ids the in-memory store keeps",
);
pub const JWKS_URL: Variable = plain(
    "KEYHOLE_JWKS_URL",
    DefaultValue::None,
    "an https:// (or local http://) JWKS fetched at start and refreshed",
);
pub const JWKS_CA_FILE: Variable = plain(
    "KEYHOLE_JWKS_CA_FILE",
    DefaultValue::None,
    "PEM certificates of a private CA trusted for an https JWKS, besides the Web PKI roots",
);
pub const JWKS_KEY_LIMITS: Variable = plain(
    "KEYHOLE_JWKS_KEY_LIMITS",
    DefaultValue::None,
    "limits of JWKS keys by key id, comma-separated `kid;paths=…;hosts=…`",
);
pub const JWKS_REFRESH: Variable = plain(
    "KEYHOLE_JWKS_REFRESH",
    DefaultValue::Seconds(300),
    "time between scheduled JWKS fetches",
);
pub const JWKS_REFETCH_INTERVAL: Variable = plain(
    "KEYHOLE_JWKS_REFETCH_INTERVAL",
    DefaultValue::Seconds(60),
    "least time between two fetches caused by unknown key ids",
);
pub const COOKIE_NAME: Variable = plain(
    "KEYHOLE_COOKIE_NAME",
    DefaultValue::Text(cookie::DEFAULT_NAME),
    "the session cookie's name",
);
pub const COOKIE_SAMESITE: Variable = plain(
    "KEYHOLE_COOKIE_SAMESITE",
    DefaultValue::Text("lax"),
    "`lax` or `strict`",
);
pub const COOKIE_MAX_LIFETIME: Variable = plain(
    "KEYHOLE_COOKIE_MAX_LIFETIME",
    DefaultValue::Seconds(cookie::DEFAULT_MAX_LIFETIME),
    "the longest cookie lifetime, and how long a session revocation is kept",
);
pub const COOKIE_CROSS_SITE_ALLOW: Variable = plain(
    "KEYHOLE_COOKIE_CROSS_SITE_ALLOW",
    DefaultValue::None,
    "comma-separated origins whose pages may use the cookie cross-site",
);
pub const STORE: Variable = Variable {
    name: "KEYHOLE_STORE",
    default: DefaultValue::Text("memory"),
    meaning: "`memory`, or a `redis://`, `rediss://`, `redis+sentinel://` or `redis+cluster://` URL (may hold a password)",
    secret: true,
    file_twin: Some(STORE_FILE.name),
};
pub const STORE_FILE: Variable = plain(
    "KEYHOLE_STORE_FILE",
    DefaultValue::None,
    "the store URL, read from a file",
);
pub const STORE_TIMEOUT: Variable = plain(
    "KEYHOLE_STORE_TIMEOUT",
    DefaultValue::Duration(DEFAULT_TIMEOUT),
    "bound on every Redis call, connecting included",
);
pub const REDIS_PREFIX: Variable = plain(
    "KEYHOLE_REDIS_PREFIX",
    DefaultValue::Text(DEFAULT_PREFIX),
    "prepended to every Redis key",
);
pub const STORE_WAIT_REPLICAS: Variable = plain(
    "KEYHOLE_STORE_WAIT_REPLICAS",
    DefaultValue::Count(0),
    "Redis replicas that must acknowledge a use or revocation (WAIT) within the store timeout; 0: none",
);

/// Every variable keyhole reads, in the order problems are checked.
pub const VARIABLES: [Variable; 42] = [
    LISTEN,
    ADMIN_LISTEN,
    ADMIN_TOKEN,
    ADMIN_TOKEN_FILE,
    SOCKET_MODE,
    HEADER_TIMEOUT,
    MAX_CONNECTIONS,
    MAX_HEAD_BYTES,
    WORKER_THREADS,
    TRUSTED_PROXIES,
    KEYS,
    KEYS_FILE,
    ALLOW_SIGNING_KEYS,
    LEEWAY,
    MAX_LIFETIME,
    DECISION_CACHE_MAX,
    LOG,
    LOG_FORMAT,
    AUDIT,
    JWT_KEYS,
    JWT_KEYS_FILE,
    JWKS_FILE,
    JWT_AUDIENCE,
    JWT_ISSUERS,
    JWT_MAX_LIFETIME,
    JWT_PARAM,
    JWT_SINGLE_USE,
    REPLAY_CAPACITY,
    JWKS_URL,
    JWKS_KEY_LIMITS,
    JWKS_CA_FILE,
    JWKS_REFRESH,
    JWKS_REFETCH_INTERVAL,
    COOKIE_NAME,
    COOKIE_SAMESITE,
    COOKIE_MAX_LIFETIME,
    COOKIE_CROSS_SITE_ALLOW,
    STORE,
    STORE_FILE,
    STORE_TIMEOUT,
    REDIS_PREFIX,
    STORE_WAIT_REPLICAS,
];

/// Every variable keyhole reads (the names of [`VARIABLES`]); any other `KEYHOLE_*`
/// variable is an error (a typo must not silently fall back to a default).
pub const KNOWN_VARIABLES: [&str; VARIABLES.len()] = {
    let mut names = [""; VARIABLES.len()];
    let mut index = 0;
    while index < VARIABLES.len() {
        #[allow(clippy::indexing_slicing)]
        {
            names[index] = VARIABLES[index].name;
        }
        index += 1;
    }
    names
};

/// The row of `name`, if keyhole reads it.
pub fn variable(name: &str) -> Option<&'static Variable> {
    VARIABLES.iter().find(|variable| variable.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Config, RawConfig, parse_seconds};
    use crate::verify::Policy;
    use crate::verify::cookie::CookiePolicy;
    use crate::verify::jwt::JwtPolicy;

    const KEY_LINE: &str = "k1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8";

    /// The `| variable | default |` cells of every row of docs/configuration.md's table.
    fn documented() -> Vec<(String, String)> {
        include_str!("../../docs/configuration.md")
            .lines()
            .filter(|line| line.starts_with("| `KEYHOLE_"))
            .filter_map(|line| {
                let mut cells = line.splitn(4, " | ");
                let name = cells.next()?.trim_start_matches("| ").trim_matches('`');
                let default = cells.next()?;
                Some((name.to_owned(), default.to_owned()))
            })
            .collect()
    }

    /// Whether a documentation cell states `default`.
    fn states(cell: &str, default: DefaultValue) -> bool {
        let quoted = cell.strip_prefix('`').and_then(|c| c.strip_suffix('`'));
        match default {
            DefaultValue::None => cell.starts_with("none"),
            DefaultValue::CpusLessOne => cell == CPUS_LESS_ONE,
            DefaultValue::Text(text) => quoted == Some(text),
            DefaultValue::Seconds(seconds) => {
                quoted.is_some_and(|q| parse_seconds(Some(q), 0) == Ok(seconds))
            }
            DefaultValue::Duration(duration) => {
                quoted.is_some_and(|q| humantime::parse_duration(q) == Ok(duration))
            }
            DefaultValue::Count(count) => quoted.is_some_and(|q| q.parse() == Ok(count)),
        }
    }

    #[test]
    fn every_variable_is_documented_in_configuration_md() {
        let documented = documented();
        for variable in VARIABLES {
            let Some((_, cell)) = documented.iter().find(|(name, _)| name == variable.name) else {
                panic!("{} has no row in docs/configuration.md", variable.name);
            };
            assert!(
                states(cell, variable.default),
                "docs/configuration.md gives {} the default {cell}; the table says {}",
                variable.name,
                variable.default.to_text()
            );
        }
        for (name, _) in &documented {
            assert!(
                variable(name).is_some(),
                "docs/configuration.md documents {name}, which keyhole does not read"
            );
        }
    }

    #[test]
    fn every_row_is_a_field_of_the_raw_configuration_and_back() {
        let all = VARIABLES.map(|variable| (variable.name.to_owned(), "1".to_owned()));
        let raw: RawConfig = envy::prefixed("KEYHOLE_").from_iter(all).unwrap();
        let fields = serde_json::to_value(&raw).unwrap();
        let fields = fields.as_object().unwrap();
        assert_eq!(fields.len(), VARIABLES.len(), "{fields:?}");
        for variable in VARIABLES {
            let field = variable.name.trim_start_matches("KEYHOLE_").to_lowercase();
            assert_eq!(
                fields.get(&field),
                Some(&serde_json::json!("1")),
                "{} does not reach RawConfig::{field}",
                variable.name
            );
        }
    }

    #[test]
    fn names_are_unique_and_file_twins_are_rows() {
        for (index, row) in VARIABLES.iter().enumerate() {
            assert!(row.name.starts_with("KEYHOLE_"), "{}", row.name);
            assert_eq!(KNOWN_VARIABLES[index], row.name);
            assert_eq!(
                VARIABLES.iter().filter(|v| v.name == row.name).count(),
                1,
                "{} is in the table twice",
                row.name
            );
            if let Some(twin) = row.file_twin {
                assert_eq!(twin, format!("{}_FILE", row.name));
                assert!(variable(twin).is_some(), "{twin} is not in the table");
                assert!(row.secret, "{} has a file twin but is not secret", row.name);
            }
        }
    }

    /// Setting a variable to the default the table states (as operators would write
    /// it) must give the configuration its absence gives: the areas read their
    /// defaults from the table, and the table's text parses back.
    #[test]
    fn setting_a_variable_to_its_table_default_changes_nothing() {
        let base = vec![("KEYHOLE_KEYS".to_owned(), KEY_LINE.to_owned())];
        let unset = format!("{:?}", Config::from_vars(base.clone()).unwrap());
        let mut checked = 0;
        for variable in VARIABLES {
            if matches!(
                variable.default,
                DefaultValue::None | DefaultValue::CpusLessOne
            ) {
                continue;
            }
            let mut vars = base.clone();
            vars.push((variable.name.to_owned(), variable.default.to_text()));
            let set = Config::from_vars(vars)
                .map(|config| format!("{config:?}"))
                .map_err(|error| error.to_string());
            assert_eq!(
                set.as_deref(),
                Ok(unset.as_str()),
                "{}={}",
                variable.name,
                variable.default.to_text()
            );
            checked += 1;
        }
        assert!(checked >= 20, "{checked}");
    }

    /// The core's defaults are the service's: the table names the core's constants,
    /// and the core's `Default` impls use the same constants.
    #[test]
    fn the_core_defaults_are_the_table_defaults() {
        let policy = Policy::default();
        assert_eq!(policy.leeway, LEEWAY.default_seconds());
        assert_eq!(policy.max_lifetime, MAX_LIFETIME.default_seconds());
        assert_eq!(policy.max_cache, DECISION_CACHE_MAX.default_seconds());
        let jwt = JwtPolicy::default();
        assert_eq!(jwt.leeway, LEEWAY.default_seconds());
        assert_eq!(jwt.max_lifetime, JWT_MAX_LIFETIME.default_seconds());
        assert_eq!(jwt.param, JWT_PARAM.default_text());
        assert_eq!(jwt.audience, JWT_AUDIENCE.default_text());
        let cookies = CookiePolicy::default();
        assert_eq!(cookies.max_lifetime, COOKIE_MAX_LIFETIME.default_seconds());
        assert_eq!(cookies.name, COOKIE_NAME.default_text());
    }
}
