//! `keyhole explain URL`: decides as `/auth` would for a method, a client address, a
//! virtual host and optionally a cookie, and reports every field of the credential
//! found: each `kh_*` item of a signed URL, each claim of a JWT, each field of a
//! cookie, and the limits of the key that signed it. Signatures, tokens and cookie
//! values are never printed. Exit 0 allow, 1 would deny.

use std::fmt::Write as _;
use std::net::IpAddr;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use keyhole::clock::{Clock, SystemClock, UnixTime};
use keyhole::config::Config;
use keyhole::decision::{Decision, Deny};
use keyhole::request::{AuthRequest, HeaderField, NginxHeaders, Param, Target};
use keyhole::verify::cookie::{self, SignedCookie};
use keyhole::verify::signed_url::{self, SignedUrl};

use super::{CliError, Printed};

#[derive(Debug, clap::Args)]
pub struct ExplainArgs {
    /// A full URL (`https://host/path?…`) or a path with its query.
    url: String,
    /// The request method to assume.
    #[arg(long, default_value = "GET")]
    method: String,
    /// The client address to assume.
    #[arg(long, default_value = "127.0.0.1")]
    ip: IpAddr,
    /// A keyhole cookie to send with the request: its value (as `keyhole cookie` or the
    /// exchange set it), or a whole `Cookie` header (`__Host-keyhole=…; other=…`).
    #[arg(long)]
    cookie: Option<String>,
    /// The virtual host to assume (nginx's `$host`, sent as `X-Original-Host`); by
    /// default the host of a full URL, none for a path.
    #[arg(long)]
    host: Option<String>,
}

pub fn run(config: &Config, args: &ExplainArgs) -> Result<Printed, CliError> {
    let (decision, text) = report(config, args, SystemClock.now());
    Ok(Printed {
        stdout: text,
        notes: Vec::new(),
        would_deny: !decision.is_allow(),
    })
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

/// The host of a full URL (`https://Host:8443/…` gives `Host`), as nginx's `$host`
/// would hold it (without the port).
fn url_host(url: &str) -> Option<&str> {
    let rest = ["https://", "http://"]
        .iter()
        .find_map(|scheme| url.strip_prefix(scheme))?;
    let authority = rest.split(['/', '?', '#']).next()?;
    let host = match authority.find(']') {
        Some(end) if authority.starts_with('[') => authority.get(..=end)?,
        _ => authority.split(':').next()?,
    };
    (!host.is_empty()).then_some(host)
}

/// A key's limits as `explain` reports them.
fn limits_line(limits: Option<&keyhole::key_limits::KeyLimits>) -> String {
    match limits {
        Some(limits) => limits.to_string(),
        None => "grants nothing (KEYHOLE_JWKS_KEY_LIMITS lists other key ids)".to_owned(),
    }
}

/// The `Cookie` header `--cookie` stands for: a whole header as given, or the
/// configured cookie's name and the value.
fn cookie_header(config: &Config, given: &str) -> String {
    let name = &config.cookies.name;
    if given.contains(';') || given.starts_with(&format!("{name}=")) {
        given.to_owned()
    } else {
        format!("{name}={given}")
    }
}

fn report(config: &Config, args: &ExplainArgs, now: UnixTime) -> (Decision, String) {
    let mut text = String::new();
    let target = request_target(&args.url);
    let client_ip = args.ip.to_string();
    let cookie = args
        .cookie
        .as_deref()
        .map(|given| cookie_header(config, given));
    let mut headers = NginxHeaders::new(
        target.as_bytes(),
        args.method.as_bytes(),
        client_ip.as_bytes(),
    );
    if let Some(cookie) = &cookie {
        headers.cookie = HeaderField::One(cookie.as_bytes());
    }
    let host = args.host.as_deref().or_else(|| url_host(&args.url));
    if let Some(host) = host {
        headers.host = HeaderField::One(host.as_bytes());
    }
    let decision = keyhole::app::authorizer(config).decide(&headers, now);
    let verdict = if decision.is_allow() { "allow" } else { "deny" };
    let _ = writeln!(text, "decision:   {verdict}");
    let _ = writeln!(text, "reason:     {}", decision.code());
    let _ = writeln!(text, "method:     {}", args.method);
    let _ = writeln!(text, "client ip:  {}", args.ip);
    let _ = writeln!(text, "host:       {}", host.unwrap_or("- (none)"));
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
    signed_url_fields(&mut text, config, &params, now);
    if let Some(jwt) = config.jwt.as_ref().filter(|jwt| jwt.is_present(&params)) {
        let param = &jwt.policy.param;
        let _ = writeln!(
            text,
            concat!(
                "jwt:        present in `{param}` ",
                "(not shown; a single-use token is not used up by explain)"
            ),
            param = param
        );
        let token = params
            .iter()
            .find(|p| p.name == param.as_str())
            .map(|p| p.value);
        jwt_claims(&mut text, token.unwrap_or_default(), now);
        if let Some(kid) = token.and_then(token_kid) {
            let line = limits_line(jwt.configured_limits(&kid));
            let _ = writeln!(text, "key limits: {line}");
        }
    }
    if let Some(cookie) = &cookie {
        cookie_fields(&mut text, config, cookie, now);
    }
    (decision, text)
}

/// Every `kh_*` item of the URL, then what the signed URL grants.
fn signed_url_fields(text: &mut String, config: &Config, params: &[Param<'_>], now: UnixTime) {
    let items: Vec<String> = params
        .iter()
        .filter(|param| param.name.starts_with("kh_"))
        .map(|param| match param.name {
            "kh_sig" => "kh_sig=(not shown)".to_owned(),
            _ => param.raw.to_owned(),
        })
        .collect();
    if !items.is_empty() {
        let _ = writeln!(text, "kh_ items:  {}", items.join(" "));
    }
    match SignedUrl::parse(params) {
        Ok(url) => {
            let known = if config.keys.find(url.kid).is_some() {
                "configured"
            } else {
                "NOT configured"
            };
            let _ = writeln!(text, "key id:     {} ({known})", url.kid);
            if let Some(key) = config.keys.find(url.kid) {
                let _ = writeln!(text, "key kind:   {}", key.kind().name());
                let _ = writeln!(text, "key limits: {}", key.limits);
            }
            match &url.scope {
                Some(scope) => _ = writeln!(text, "grants:     every path below {scope}"),
                None => _ = writeln!(text, "grants:     exactly this path"),
            }
            let _ = writeln!(text, "expires:    {}", when(url.exp, now));
            match url.nbf {
                Some(nbf) => _ = writeln!(text, "not before: {}", when(nbf, now)),
                None => _ = writeln!(text, "not before: -"),
            }
            match &url.ip {
                Some(ip) => _ = writeln!(text, "bound ip:   {ip}"),
                None => _ = writeln!(text, "bound ip:   any"),
            }
            let _ = writeln!(text, "methods:    {}", url.methods.as_str());
            match &url.host {
                Some(host) => _ = writeln!(text, "bound host: {host}"),
                None => _ = writeln!(text, "bound host: any"),
            }
            let bound = if url.bound_query.is_some() {
                "signed"
            } else {
                "not signed (ignored)"
            };
            let _ = writeln!(text, "app query:  {bound}");
            let _ = writeln!(text, "signature:  present (not shown)");
        }
        Err(reason) if signed_url::is_present(params) => {
            let _ = writeln!(text, "signed url: unreadable ({reason})");
        }
        Err(_) => {
            let _ = writeln!(text, "signed url: none in this URL");
        }
    }
}

/// The `kid` a token's header names, read without believing it.
fn token_kid(token: &str) -> Option<String> {
    let header = URL_SAFE_NO_PAD.decode(token.split('.').next()?).ok()?;
    let header: serde_json::Value = serde_json::from_slice(&header).ok()?;
    header.get("kid")?.as_str().map(str::to_owned)
}

/// The token's header and every claim, as the token states them (read, not yet
/// believed: the decision above says whether the signature holds).
fn jwt_claims(text: &mut String, token: &str, now: UnixTime) {
    let mut parts = token.split('.');
    let (Some(header), Some(payload)) = (parts.next(), parts.next()) else {
        let _ = writeln!(
            text,
            "jwt claims: unreadable (not three dot-separated parts)"
        );
        return;
    };
    let decode = |part: &str| {
        URL_SAFE_NO_PAD.decode(part).ok().and_then(|bytes| {
            serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(&bytes).ok()
        })
    };
    match decode(header) {
        Some(header) => {
            for (name, value) in &header {
                let _ = writeln!(text, "jwt header: {name} = {value}");
            }
        }
        None => _ = writeln!(text, "jwt header: unreadable (not base64url JSON)"),
    }
    let Some(claims) = decode(payload) else {
        let _ = writeln!(text, "jwt claims: unreadable (not base64url JSON)");
        return;
    };
    for (name, value) in &claims {
        let time = matches!(name.as_str(), "exp" | "iat" | "nbf")
            .then(|| value.as_u64())
            .flatten();
        match time {
            Some(seconds) => {
                _ = writeln!(
                    text,
                    "jwt claim:  {name} = {}",
                    when(UnixTime(seconds), now)
                )
            }
            None => _ = writeln!(text, "jwt claim:  {name} = {value}"),
        }
    }
}

/// The cookie's fields, as it states them (the decision says whether they hold).
fn cookie_fields(text: &mut String, config: &Config, header: &str, now: UnixTime) {
    let name = &config.cookies.name;
    let value = match cookie::find(header, name) {
        Ok(Some(value)) => value,
        Ok(None) => {
            let _ = writeln!(text, "cookie:     no `{name}` cookie in --cookie");
            return;
        }
        Err(reason) => {
            let _ = writeln!(text, "cookie:     unreadable ({reason})");
            return;
        }
    };
    match SignedCookie::parse(&value) {
        Ok(cookie) => {
            let known = if config.keys.find(cookie.kid).is_some() {
                "configured"
            } else {
                "NOT configured"
            };
            let grant = &cookie.grant;
            let _ = writeln!(text, "cookie:     `{name}` (value not shown)");
            let _ = writeln!(text, "cookie kid: {} ({known})", cookie.kid);
            if let Some(key) = config.keys.find(cookie.kid) {
                let _ = writeln!(text, "key kind:   {}", key.kind().name());
                let _ = writeln!(text, "key limits: {}", key.limits);
            }
            let _ = writeln!(text, "cookie scope: every path below {}", grant.scope);
            let _ = writeln!(text, "cookie exp: {}", when(grant.exp, now));
            let sid = grant.sid.as_ref().map_or("-", |sid| sid.as_str());
            let _ = writeln!(text, "cookie sid: {sid}");
            match &grant.ip {
                Some(ip) => _ = writeln!(text, "cookie ip:  {ip}"),
                None => _ = writeln!(text, "cookie ip:  any"),
            }
            let _ = writeln!(text, "cookie methods: {}", grant.methods.as_str());
        }
        Err(reason) => _ = writeln!(text, "cookie:     unreadable ({reason})"),
    }
}

/// A time as RFC 3339 and relative to now.
fn when(time: UnixTime, now: UnixTime) -> String {
    let relative = if time >= now {
        format!(
            "in {}",
            humantime::format_duration(std::time::Duration::from_secs(time.0 - now.0))
        )
    } else {
        format!(
            "{} ago",
            humantime::format_duration(std::time::Duration::from_secs(now.0 - time.0))
        )
    };
    format!("{} ({relative})", time.to_rfc3339())
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
    fn hosts_from_full_urls() {
        assert_eq!(
            url_host("https://Img.example.com:8443/a?b"),
            Some("Img.example.com")
        );
        assert_eq!(url_host("http://h.example"), Some("h.example"));
        assert_eq!(url_host("http://[2001:db8::1]:80/a"), Some("[2001:db8::1]"));
        assert_eq!(url_host("http://[2001:db8::1]/a"), Some("[2001:db8::1]"));
        assert_eq!(url_host("/a?x"), None);
    }
}
