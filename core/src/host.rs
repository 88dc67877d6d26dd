//! Host names: the virtual host a request was sent to (nginx's `$host`, passed as
//! `X-Original-Host`), the host a signed URL binds (`kh_host`), and the host patterns
//! a key may be limited to (`;hosts=`). One parser serves all three, so a host means
//! the same wherever it is written. `docs/signed-urls.md` ("Hosts") is normative.
//!
//! The rules: ASCII only (an internationalised name is written in its IDNA A-label
//! form, `xn--…`, as browsers send it); compared case-insensitively (held in lower
//! case); one trailing dot is dropped (`example.com.` is `example.com`); no port; at
//! most 253 bytes, labels of 1 to 63 characters of `a-z 0-9 - _`, or an IPv6 literal
//! in brackets written in its RFC 5952 text. Anything else is refused, never repaired.

use std::fmt;
use std::net::Ipv6Addr;

/// Longest host name accepted, in bytes (without the trailing dot).
pub const MAX_HOST_LEN: usize = 253;

/// Longest label.
const MAX_LABEL_LEN: usize = 63;

/// A host name in its one comparable form: lower case, no trailing dot, no port.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Host(String);

/// Why a host text was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum HostError {
    #[error("the host is empty")]
    /// Nothing, or only a dot.
    Empty,
    #[error(
        "the host is longer than {MAX_HOST_LEN} bytes or has a label longer than {MAX_LABEL_LEN}"
    )]
    /// Too long, or a label too long.
    TooLong,
    #[error(
        "the host has a byte outside a-z A-Z 0-9 - _ . (an internationalised name must be written in its IDNA A-label form, xn--…; no port)"
    )]
    /// A byte that is never in a host name: non-ASCII, a port's `:`, `/`, space, …
    BadChar,
    #[error("the host has an empty label (`..`, or a leading dot)")]
    /// `a..b`, `.a`.
    EmptyLabel,
    #[error("the host is a bracketed IPv6 address not in its RFC 5952 text")]
    /// `[::0001]` and the like: one text per address.
    BadIpv6,
}

impl Host {
    /// Parses a host: lower-cases it and drops one trailing dot.
    pub fn parse(text: &str) -> Result<Host, HostError> {
        if let Some(inner) = text.strip_prefix('[') {
            let inner = inner.strip_suffix(']').ok_or(HostError::BadIpv6)?;
            let address: Ipv6Addr = inner.parse().map_err(|_| HostError::BadIpv6)?;
            if address.to_string() != inner {
                return Err(HostError::BadIpv6);
            }
            return Ok(Host(format!("[{inner}]")));
        }
        let text = text.strip_suffix('.').unwrap_or(text);
        if text.is_empty() {
            return Err(HostError::Empty);
        }
        if text.len() > MAX_HOST_LEN {
            return Err(HostError::TooLong);
        }
        if !text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        {
            return Err(HostError::BadChar);
        }
        for label in text.split('.') {
            if label.is_empty() {
                return Err(HostError::EmptyLabel);
            }
            if label.len() > MAX_LABEL_LEN {
                return Err(HostError::TooLong);
            }
        }
        Ok(Host(text.to_ascii_lowercase()))
    }

    /// Parses the raw bytes of a header.
    pub fn from_bytes(raw: &[u8]) -> Result<Host, HostError> {
        let text = std::str::from_utf8(raw).map_err(|_| HostError::BadChar)?;
        Host::parse(text)
    }

    /// The comparable text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A host a key may be used on: one exact name, or `*.suffix`, matching any host
/// that is exactly one label followed by `.suffix`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HostPattern {
    /// One name.
    Exact(Host),
    /// `*.suffix`: one label, then the suffix (`*.cdn.example.com` matches
    /// `a.cdn.example.com`, never `cdn.example.com` or `a.b.cdn.example.com`).
    OneLabelUnder(Host),
}

impl HostPattern {
    /// Parses `name` or `*.name`. A `*` anywhere else is refused.
    pub fn parse(text: &str) -> Result<HostPattern, HostError> {
        match text.strip_prefix("*.") {
            Some(suffix) => Ok(HostPattern::OneLabelUnder(Host::parse(suffix)?)),
            None => Host::parse(text).map(HostPattern::Exact),
        }
    }

    /// Whether `host` is this name, or one label under this suffix.
    pub fn matches(&self, host: &Host) -> bool {
        match self {
            HostPattern::Exact(name) => name == host,
            HostPattern::OneLabelUnder(suffix) => host
                .as_str()
                .strip_suffix(suffix.as_str())
                .and_then(|head| head.strip_suffix('.'))
                .is_some_and(|label| !label.is_empty() && !label.contains('.')),
        }
    }
}

impl fmt::Display for HostPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HostPattern::Exact(name) => write!(f, "{name}"),
            HostPattern::OneLabelUnder(suffix) => write!(f, "*.{suffix}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn case_and_trailing_dot_fold_into_one_form() {
        for text in ["img.example.com", "IMG.Example.COM", "img.example.com."] {
            assert_eq!(Host::parse(text).unwrap().as_str(), "img.example.com");
        }
        assert_eq!(
            Host::parse("xn--bcher-kva.example").unwrap().as_str(),
            "xn--bcher-kva.example"
        );
        assert_eq!(
            Host::parse("[2001:db8::1]").unwrap().as_str(),
            "[2001:db8::1]"
        );
    }

    #[test]
    fn ambiguous_hosts_are_refused() {
        for (text, error) in [
            ("", HostError::Empty),
            (".", HostError::Empty),
            ("example.com..", HostError::EmptyLabel),
            ("a..b", HostError::EmptyLabel),
            (".a", HostError::EmptyLabel),
            ("example.com:443", HostError::BadChar),
            ("bücher.example", HostError::BadChar),
            ("a b", HostError::BadChar),
            ("a/b", HostError::BadChar),
            ("*.example.com", HostError::BadChar),
            ("[2001:DB8::1]", HostError::BadIpv6),
            ("[2001:db8:0::1]", HostError::BadIpv6),
            ("[::1]:80", HostError::BadIpv6),
        ] {
            assert_eq!(Host::parse(text), Err(error), "{text}");
        }
        assert_eq!(Host::parse(&"a".repeat(64)), Err(HostError::TooLong));
        let long = vec!["a"; 128].join(".");
        assert_eq!(Host::parse(&long), Err(HostError::TooLong));
        assert_eq!(Host::from_bytes(b"\xff"), Err(HostError::BadChar));
    }

    #[test]
    fn wildcards_match_exactly_one_label() {
        let pattern = HostPattern::parse("*.cdn.example.com").unwrap();
        let host = |t: &str| Host::parse(t).unwrap();
        assert!(pattern.matches(&host("a.cdn.example.com")));
        assert!(pattern.matches(&host("A.CDN.example.com.")));
        assert!(!pattern.matches(&host("cdn.example.com")));
        assert!(!pattern.matches(&host("a.b.cdn.example.com")));
        assert!(!pattern.matches(&host("acdn.example.com")));
        let exact = HostPattern::parse("img.example.com").unwrap();
        assert!(exact.matches(&host("IMG.example.com")));
        assert!(!exact.matches(&host("a.img.example.com")));
        assert!(HostPattern::parse("a.*.example.com").is_err());
        assert!(HostPattern::parse("*").is_err());
        assert_eq!(pattern.to_string(), "*.cdn.example.com");
    }
}
