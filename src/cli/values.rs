//! Typed values of the command line, parsed once by clap (`value_parser`): a command
//! never re-parses a string. Each parser's message names the flag, the rule and the
//! value, and, when keyhole would deny what the value describes, the reason code.

use std::fmt;

use keyhole::canonical::{CanonicalPath, Scope};
use keyhole::claims::{CookieMethods, IpBinding, Methods};
use keyhole::clock::UnixTime;
use keyhole::config::parse_seconds;
use keyhole::decision::Deny;

/// A duration flag (`--ttl 10m`): its seconds, and the text as written (messages
/// quote it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Span {
    /// The duration in seconds.
    pub seconds: u64,
    /// The value as written on the command line.
    text: String,
}

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// `90s`, `10m`, `2h`, `7d`, or plain seconds.
pub fn span(text: &str) -> Result<Span, String> {
    parse_seconds(Some(text), 0).map(|seconds| Span {
        seconds,
        text: text.to_owned(),
    })
}

/// A PATH argument, as written in a URL, checked by the canonical rules.
pub fn path(text: &str) -> Result<CanonicalPath, String> {
    CanonicalPath::parse(text.as_bytes()).map_err(|reason| {
        format!(
            concat!(
                "PATH `{path}` is not canonical ({reason}); percent-encode spaces and ",
                "non-ASCII, no `..`, `//` or trailing `/`"
            ),
            path = text,
            reason = reason
        )
    })
}

/// `--host`: a host name as docs/signed-urls.md ("Hosts") defines it, written in its
/// one form (lower case, no trailing dot, no port; IDNA names as `xn--…`).
pub fn host(text: &str) -> Result<keyhole::host::Host, String> {
    let host =
        keyhole::host::Host::parse(text).map_err(|error| format!("--host `{text}`: {error}"))?;
    if host.as_str() != text {
        return Err(format!(
            "--host `{text}`: write the host as `{host}` (lower case, no trailing dot): the URL carries exactly the text it signs"
        ));
    }
    Ok(host)
}

/// `--scope`: a canonical path prefix ending in `/`.
pub fn scope_flag(text: &str) -> Result<Scope, String> {
    Scope::parse(text.as_bytes()).map_err(|reason| {
        format!("--scope `{text}` is not a canonical prefix ending in `/` ({reason})")
    })
}

/// `keyhole cookie SCOPE`: a canonical path prefix ending in `/`.
pub fn scope_arg(text: &str) -> Result<Scope, String> {
    Scope::parse(text.as_bytes()).map_err(|reason| {
        format!("SCOPE `{text}` is not a canonical prefix ending in `/` ({reason})")
    })
}

/// `--ip`: a client address or network, in the one canonical form keyhole accepts.
pub fn ip_binding(text: &str) -> Result<IpBinding, String> {
    IpBinding::parse(text).map_err(|_| {
        format!(
            concat!(
                "--ip `{ip}` is not a canonical address or network (`203.0.113.7`, ",
                "`10.0.0.0/8`, `2001:db8::/32`: IPv4 dotted decimal without leading zeros, ",
                "IPv6 lower-case RFC 5952 hex without a dotted part or zone, an optional ",
                "/PREFIX with no host bits set, no IPv4-mapped IPv6); ",
                "keyhole would deny it as {deny}"
            ),
            ip = text,
            deny = Deny::Malformed
        )
    })
}

/// `--methods` of a signed URL or a token: 1 to 8 distinct upper-case names.
pub fn methods(text: &str) -> Result<Methods, String> {
    Methods::parse(text).map_err(|_| {
        format!(
            concat!(
                "--methods `{methods}` must be 1 to 8 distinct upper-case names of at most ",
                "16 letters, separated by `,` (GET,HEAD); keyhole would deny it as {deny}"
            ),
            methods = text,
            deny = Deny::Malformed
        )
    })
}

/// `--methods` of a cookie: `GET,HEAD`, `GET` or `HEAD`.
pub fn cookie_methods(text: &str) -> Result<CookieMethods, String> {
    CookieMethods::parse(text).map_err(|_| {
        format!(
            concat!(
                "--methods `{text}` must be GET,HEAD, GET or HEAD: ",
                "a cookie never opens files for other methods"
            ),
            text = text
        )
    })
}

/// `--before` of `keyhole revoke`: a time, or `now` (read when the command runs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Before {
    /// `now`.
    Now,
    /// Unix seconds or an RFC 3339 time.
    At(UnixTime),
}

impl Before {
    /// The time this names, with `now` as the current time.
    pub fn at(self, now: UnixTime) -> UnixTime {
        match self {
            Before::Now => now,
            Before::At(time) => time,
        }
    }
}

/// Unix seconds, RFC 3339 (`2026-11-28T14:00:00Z`) or `now`.
pub fn before(text: &str) -> Result<Before, String> {
    if text == "now" {
        return Ok(Before::Now);
    }
    if let Ok(seconds) = text.parse::<u64>() {
        return Ok(Before::At(UnixTime(seconds)));
    }
    humantime::parse_rfc3339_weak(text)
        .ok()
        .and_then(|time| time.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|since| Before::At(UnixTime(since.as_secs())))
        .ok_or_else(|| {
            format!("--before `{text}`: Unix seconds, RFC 3339 (2026-11-28T14:00:00Z) or `now`")
        })
}

/// `--uses` of a token: 1 to 8 uses.
pub fn uses(text: &str) -> Result<u64, String> {
    use keyhole::verify::jwt::MAX_USES;
    text.parse::<u64>()
        .ok()
        .filter(|uses| (1..=MAX_USES).contains(uses))
        .ok_or_else(|| {
            format!(
                concat!(
                    "--uses `{text}` must be a whole number from 1 to {max}; ",
                    "keyhole would deny a token asking for more as {deny}"
                ),
                text = text,
                max = MAX_USES,
                deny = Deny::Malformed
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn revoke_times() {
        assert_eq!(before("now"), Ok(Before::Now));
        assert_eq!(before("17"), Ok(Before::At(UnixTime(17))));
        assert_eq!(
            before("2027-01-15T08:00:00Z"),
            Ok(Before::At(UnixTime(1_800_000_000)))
        );
        assert!(before("tomorrow").is_err());
        let now = UnixTime(1_800_000_000);
        assert_eq!(Before::Now.at(now), now);
    }

    #[test]
    fn spans_keep_the_text_as_written() {
        let ttl = span("10m").unwrap();
        assert_eq!((ttl.seconds, ttl.to_string()), (600, "10m".to_owned()));
        assert!(span("soon").is_err());
        assert_eq!(uses("8"), Ok(8));
        assert!(uses("0").is_err() && uses("9").is_err() && uses("x").is_err());
    }
}
