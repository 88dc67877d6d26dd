//! Key limits: the path prefixes and hosts one key may grant, written after a key's
//! material as `;paths=/a/|/b/;hosts=img.example.com|*.cdn.example.com`. A platform
//! gives each application its own key limited to its own files, so a key handed to
//! team A cannot open team B's files, whatever the credential it signed says
//! (`key-out-of-scope`). The same attributes apply to signed-URL and cookie keys
//! (`KEYHOLE_KEYS`), JWT keys (`KEYHOLE_JWT_KEYS`) and, by key id, JWKS keys
//! (`KEYHOLE_JWKS_KEY_LIMITS`). docs/multi-team.md is the guide.

use std::fmt;

use crate::canonical::{CanonicalPath, Scope};
use crate::decision::Deny;
use crate::host::{Host, HostError, HostPattern};

/// Most prefixes or hosts in one attribute.
pub const MAX_LIMIT_ITEMS: usize = 64;

/// What one key may grant. Empty lists mean "no limit" for that dimension.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KeyLimits {
    /// Path prefixes (whole segments, as scopes); empty: every path.
    pub paths: Vec<Scope>,
    /// Hosts; empty: every host.
    pub hosts: Vec<HostPattern>,
}

/// Why a key's attributes were refused. Messages name the attribute and the value
/// (attributes are never secret).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LimitsError {
    #[error(
        "unknown key attribute `{0}`: the attributes are `;paths=/a/|/b/` and `;hosts=h1|*.h2` (no empty attribute, no `;` at the end)"
    )]
    /// An attribute other than `paths` and `hosts`, or one without `=`.
    Unknown(String),
    #[error("key attribute `{0}` is given twice")]
    /// `;paths=…;paths=…`.
    Duplicate(&'static str),
    #[error("key attribute `{0}` has an empty item (`{0}=`, `||`, or `|` at either end)")]
    /// An empty list or item.
    EmptyItem(&'static str),
    #[error("key attribute `{attribute}` has more than {MAX_LIMIT_ITEMS} items")]
    /// Too many items.
    TooMany {
        /// `paths` or `hosts`.
        attribute: &'static str,
    },
    #[error(
        "`paths` item `{0}` is not a canonical path prefix: it must start and end with `/`, percent-encoded like a URL path, without `.`, `..` or `//` (reason: {1})"
    )]
    /// A path prefix that is not a canonical scope.
    BadPath(String, Deny),
    #[error("`hosts` item `{item}`: {source}")]
    /// A host pattern that does not parse.
    BadHost {
        /// The item as written.
        item: String,
        /// Which rule it breaks.
        source: HostError,
    },
}

impl KeyLimits {
    /// Parses the attributes that follow a key's material: `paths=…;hosts=…` (the
    /// text after the first `;`, each attribute separated by `;`). Both are optional,
    /// each may appear once.
    pub fn parse(attributes: &str) -> Result<KeyLimits, LimitsError> {
        let mut limits = KeyLimits::default();
        let (mut seen_paths, mut seen_hosts) = (false, false);
        for attribute in attributes.split(';') {
            let attribute = attribute.trim();
            let (name, value) = attribute
                .split_once('=')
                .ok_or_else(|| LimitsError::Unknown(attribute.to_owned()))?;
            match name.trim() {
                "paths" => {
                    if std::mem::replace(&mut seen_paths, true) {
                        return Err(LimitsError::Duplicate("paths"));
                    }
                    for item in items("paths", value)? {
                        let scope = Scope::parse(item.as_bytes())
                            .map_err(|reason| LimitsError::BadPath(item.to_owned(), reason))?;
                        limits.paths.push(scope);
                    }
                }
                "hosts" => {
                    if std::mem::replace(&mut seen_hosts, true) {
                        return Err(LimitsError::Duplicate("hosts"));
                    }
                    for item in items("hosts", value)? {
                        let pattern =
                            HostPattern::parse(item).map_err(|source| LimitsError::BadHost {
                                item: item.to_owned(),
                                source,
                            })?;
                        limits.hosts.push(pattern);
                    }
                }
                other => return Err(LimitsError::Unknown(other.to_owned())),
            }
        }
        Ok(limits)
    }

    /// Splits a key entry at its first `;`: the key itself, then its limits (none
    /// when there is no `;`).
    pub fn split_entry(entry: &str) -> Result<(&str, KeyLimits), LimitsError> {
        match entry.split_once(';') {
            None => Ok((entry, KeyLimits::default())),
            Some((key, attributes)) => Ok((key, KeyLimits::parse(attributes)?)),
        }
    }

    /// Whether the key has no limit at all.
    pub fn is_unlimited(&self) -> bool {
        self.paths.is_empty() && self.hosts.is_empty()
    }

    /// Whether the key may grant `path`.
    pub fn permits_path(&self, path: &CanonicalPath) -> bool {
        self.paths.is_empty() || self.paths.iter().any(|prefix| prefix.contains(path))
    }

    /// Whether the key may grant every path below `scope`: the scope lies inside one
    /// of the prefixes (whole segments).
    pub fn permits_scope(&self, scope: &Scope) -> bool {
        self.paths.is_empty()
            || self
                .paths
                .iter()
                .any(|prefix| scope.as_str().starts_with(prefix.as_str()))
    }

    /// Whether the key may be used on `host`; a key limited to hosts is never used
    /// on an unknown host.
    pub fn permits_host(&self, host: Option<&Host>) -> bool {
        self.hosts.is_empty()
            || host.is_some_and(|host| self.hosts.iter().any(|pattern| pattern.matches(host)))
    }

    /// The request check: the path and the host must both be inside the key's
    /// limits, else `key-out-of-scope` (a key limited to hosts on a request that
    /// carries no `X-Original-Host` is `missing-header`).
    pub fn check(&self, path: &CanonicalPath, host: Option<&Host>) -> Result<(), Deny> {
        if !self.hosts.is_empty() && host.is_none() {
            return Err(Deny::MissingHeader);
        }
        if self.permits_path(path) && self.permits_host(host) {
            Ok(())
        } else {
            Err(Deny::KeyOutOfScope)
        }
    }

    /// The exchange check: a granted scope and the host the cookie is set on.
    pub fn check_scope(&self, scope: &Scope, host: Option<&Host>) -> Result<(), Deny> {
        if !self.hosts.is_empty() && host.is_none() {
            return Err(Deny::MissingHeader);
        }
        if self.permits_scope(scope) && self.permits_host(host) {
            Ok(())
        } else {
            Err(Deny::KeyOutOfScope)
        }
    }
}

/// The `|`-separated items of one attribute, none empty.
fn items<'v>(attribute: &'static str, value: &'v str) -> Result<Vec<&'v str>, LimitsError> {
    let items: Vec<&str> = value.trim().split('|').map(str::trim).collect();
    if items.iter().any(|item| item.is_empty()) {
        return Err(LimitsError::EmptyItem(attribute));
    }
    if items.len() > MAX_LIMIT_ITEMS {
        return Err(LimitsError::TooMany { attribute });
    }
    Ok(items)
}

/// The attributes as written in a key line (`paths=/a/|/b/;hosts=h`), or `none`.
impl fmt::Display for KeyLimits {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_unlimited() {
            return f.write_str("none (every path, every host)");
        }
        let mut parts = Vec::new();
        if !self.paths.is_empty() {
            let paths: Vec<String> = self.paths.iter().map(Scope::to_url_form).collect();
            parts.push(format!("paths={}", paths.join("|")));
        }
        if !self.hosts.is_empty() {
            let hosts: Vec<String> = self.hosts.iter().map(ToString::to_string).collect();
            parts.push(format!("hosts={}", hosts.join("|")));
        }
        f.write_str(&parts.join(";"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(text: &str) -> CanonicalPath {
        CanonicalPath::parse(text.as_bytes()).unwrap()
    }

    fn host(text: &str) -> Host {
        Host::parse(text).unwrap()
    }

    #[test]
    fn parses_paths_and_hosts() {
        let (key, limits) = KeyLimits::split_entry(
            "a:SECRET;paths=/protected/a/|/shared/;hosts=img.example.com|*.cdn.example.com",
        )
        .unwrap();
        assert_eq!(key, "a:SECRET");
        assert_eq!(limits.paths.len(), 2);
        assert_eq!(limits.hosts.len(), 2);
        assert_eq!(
            limits.to_string(),
            "paths=/protected/a/|/shared/;hosts=img.example.com|*.cdn.example.com"
        );
        let (_, none) = KeyLimits::split_entry("a:SECRET").unwrap();
        assert!(none.is_unlimited());
    }

    #[test]
    fn paths_match_whole_segments() {
        let limits = KeyLimits::parse("paths=/protected/a/").unwrap();
        assert!(limits.check(&path("/protected/a/x.jpg"), None).is_ok());
        assert_eq!(
            limits.check(&path("/protected/ab/x.jpg"), None),
            Err(Deny::KeyOutOfScope)
        );
        assert_eq!(
            limits.check(&path("/protected/b/x.jpg"), None),
            Err(Deny::KeyOutOfScope)
        );
        let scope = |t: &str| Scope::parse(t.as_bytes()).unwrap();
        assert!(limits.check_scope(&scope("/protected/a/u1/"), None).is_ok());
        assert_eq!(
            limits.check_scope(&scope("/protected/"), None),
            Err(Deny::KeyOutOfScope)
        );
    }

    #[test]
    fn hosts_need_the_host() {
        let limits = KeyLimits::parse("hosts=a.example.com|*.cdn.example.com").unwrap();
        let p = path("/x.jpg");
        assert!(limits.check(&p, Some(&host("A.example.com."))).is_ok());
        assert!(limits.check(&p, Some(&host("e1.cdn.example.com"))).is_ok());
        assert_eq!(
            limits.check(&p, Some(&host("b.example.com"))),
            Err(Deny::KeyOutOfScope)
        );
        assert_eq!(limits.check(&p, None), Err(Deny::MissingHeader));
    }

    #[test]
    fn refuses_bad_attributes() {
        for (text, expected) in [
            ("path=/a/", LimitsError::Unknown("path".into())),
            ("paths", LimitsError::Unknown("paths".into())),
            ("paths=/a/;paths=/b/", LimitsError::Duplicate("paths")),
            ("hosts=a;hosts=b", LimitsError::Duplicate("hosts")),
            ("paths=", LimitsError::EmptyItem("paths")),
            ("paths=/a/||/b/", LimitsError::EmptyItem("paths")),
            ("hosts=a|", LimitsError::EmptyItem("hosts")),
            (
                "paths=/a",
                LimitsError::BadPath("/a".into(), Deny::ScopeNotPrefix),
            ),
            (
                "paths=/a/../",
                LimitsError::BadPath("/a/../".into(), Deny::PathTraversal),
            ),
        ] {
            assert_eq!(KeyLimits::parse(text), Err(expected), "{text}");
        }
        assert!(matches!(
            KeyLimits::parse("hosts=a.example.com:443"),
            Err(LimitsError::BadHost { .. })
        ));
        let many = vec!["/a/"; MAX_LIMIT_ITEMS + 1].join("|");
        assert_eq!(
            KeyLimits::parse(&format!("paths={many}")),
            Err(LimitsError::TooMany { attribute: "paths" })
        );
    }
}
