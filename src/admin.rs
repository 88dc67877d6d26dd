//! The admin protocol, shared by the server's admin listener and `keyhole revoke`: the
//! bearer token that every state-changing admin call must carry, the rule that
//! refuses browser requests (an `Origin` header, or `Sec-Fetch-Site` other than `none`),
//! and the one definition of the revocation request (`POST /revoke?…`: encoded by the
//! CLI, parsed by the server) with its errors worded for each side.
//!
//! The admin listener takes no request from a web page: a page opened on the keyhole
//! host could otherwise post to `127.0.0.1:9182` (a "simple" cross-site POST needs no
//! CORS preflight) and revoke sessions or every token of a key. Browsers send `Origin`
//! on every POST and `Sec-Fetch-Site` on every request; `keyhole revoke`, curl and
//! other programs send neither.

use subtle::ConstantTimeEq;

use crate::clock::UnixTime;
use crate::store::{Revoke, RevokeError};

/// Shortest admin token accepted.
pub const MIN_TOKEN_LEN: usize = 32;
/// Longest admin token accepted.
pub const MAX_TOKEN_LEN: usize = 256;

/// The admin bearer token (`KEYHOLE_ADMIN_TOKEN` or `KEYHOLE_ADMIN_TOKEN_FILE`). Its
/// `Debug` prints `[redacted]`; it is compared in constant time.
#[derive(Clone)]
pub struct AdminToken(String);

impl std::fmt::Debug for AdminToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AdminToken([redacted])")
    }
}

/// Equality in constant time, so that `Config` can still be compared in tests.
impl PartialEq for AdminToken {
    fn eq(&self, other: &AdminToken) -> bool {
        self.matches(other.0.as_bytes())
    }
}

impl Eq for AdminToken {}

/// Why a configured admin token was refused. Never carries the token.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AdminTokenError {
    /// Too short or too long.
    #[error(
        "must be {MIN_TOKEN_LEN} to {MAX_TOKEN_LEN} characters, got {0} (value not shown; generate one with `openssl rand -hex 32`)"
    )]
    Length(usize),
    /// Holds a space, a control character or non-ASCII (it travels in an HTTP header).
    #[error(
        "must be visible ASCII characters only, no spaces (value not shown; generate one with `openssl rand -hex 32`)"
    )]
    Characters,
    /// A token file with more than one line besides blank and `#` comment lines.
    #[error(
        "must hold one token line (blank and `#` comment lines aside), got several (values not shown)"
    )]
    Lines,
}

impl AdminToken {
    /// Parses a token; surrounding whitespace (a file's final newline) is dropped.
    pub fn parse(text: &str) -> Result<AdminToken, AdminTokenError> {
        let text = text.trim();
        if !(MIN_TOKEN_LEN..=MAX_TOKEN_LEN).contains(&text.len()) {
            return Err(AdminTokenError::Length(text.len()));
        }
        if !text.bytes().all(|byte| byte.is_ascii_graphic()) {
            return Err(AdminTokenError::Characters);
        }
        Ok(AdminToken(text.to_owned()))
    }

    /// Parses the content of `KEYHOLE_ADMIN_TOKEN_FILE`: blank lines and `#` comment
    /// lines are skipped, and exactly one line must remain.
    pub fn parse_file(text: &str) -> Result<AdminToken, AdminTokenError> {
        let mut lines = text
            .lines()
            .map(str::trim)
            .filter(|line| !line.is_empty() && !line.starts_with('#'));
        match (lines.next(), lines.next()) {
            (Some(line), None) => AdminToken::parse(line),
            (None, _) => Err(AdminTokenError::Length(0)),
            (Some(_), Some(_)) => Err(AdminTokenError::Lines),
        }
    }

    /// Whether `presented` is this token, in time independent of where they differ.
    pub fn matches(&self, presented: &[u8]) -> bool {
        // `ct_eq` on slices of different lengths answers false at once; the length of
        // the token is not the secret.
        bool::from(self.0.as_bytes().ct_eq(presented))
    }

    /// The `Authorization` header value that carries this token.
    pub fn bearer(&self) -> String {
        format!("Bearer {}", self.0)
    }
}

/// One request header as the admin check needs it: the request's own header type
/// (missing, sent once, duplicated).
pub use crate::request::HeaderField as Header;

/// The request headers the admin check reads.
#[derive(Clone, Copy, Debug)]
pub struct AdminHeaders<'a> {
    /// `Authorization`.
    pub authorization: Header<'a>,
    /// `Origin`.
    pub origin: Header<'a>,
    /// `Sec-Fetch-Site`.
    pub fetch_site: Header<'a>,
}

/// Why a state-changing admin request was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AdminRefusal {
    /// The request came from a web page (`Origin`, or `Sec-Fetch-Site` not `none`).
    #[error(
        "refused: a browser request (it carries Origin or Sec-Fetch-Site); the admin listener takes no request from a web page"
    )]
    Browser,
    /// No token is configured, so nothing may change state through the listener.
    #[error(
        "refused: no admin token is configured (KEYHOLE_ADMIN_TOKEN_FILE or KEYHOLE_ADMIN_TOKEN), so the admin listener changes nothing"
    )]
    NoTokenConfigured,
    /// No `Authorization: Bearer …` header, or a malformed or duplicated one.
    #[error(
        "unauthorized: send `Authorization: Bearer TOKEN` with the token of KEYHOLE_ADMIN_TOKEN_FILE (or KEYHOLE_ADMIN_TOKEN)"
    )]
    MissingToken,
    /// A bearer token that is not the configured one.
    #[error(
        "unauthorized: the bearer token is not the one of KEYHOLE_ADMIN_TOKEN_FILE (or KEYHOLE_ADMIN_TOKEN)"
    )]
    WrongToken,
}

/// Decides whether a state-changing admin request may proceed: no browser request
/// (checked first, so that a web page learns nothing about tokens), then a configured
/// token that the request presents as `Authorization: Bearer TOKEN`.
pub fn check(headers: &AdminHeaders<'_>, token: Option<&AdminToken>) -> Result<(), AdminRefusal> {
    if headers.origin != Header::Missing {
        return Err(AdminRefusal::Browser);
    }
    match headers.fetch_site {
        Header::Missing => {}
        // `none`: a user-initiated navigation (typed URL, bookmark), never a page's
        // request. Anything else (`same-origin` included: the admin listener serves no
        // page, so a same-origin request means DNS rebinding) is a page's request.
        Header::One(value) if value.eq_ignore_ascii_case(b"none") => {}
        Header::One(_) | Header::Duplicated => return Err(AdminRefusal::Browser),
    }
    let Some(token) = token else {
        return Err(AdminRefusal::NoTokenConfigured);
    };
    let Header::One(value) = headers.authorization else {
        return Err(AdminRefusal::MissingToken);
    };
    // The scheme is case-insensitive (RFC 9110 §11.1); exactly one space follows it.
    let presented = match value.split_at_checked(7) {
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case(b"bearer ") => rest,
        _ => return Err(AdminRefusal::MissingToken),
    };
    if token.matches(presented) {
        Ok(())
    } else {
        Err(AdminRefusal::WrongToken)
    }
}

/// The path of the revocation request.
pub const REVOKE_PATH: &str = "/revoke";

/// Response header of `POST /revoke` naming the kind of store the revocation went
/// into (`memory` or `redis`), so that `keyhole revoke` can warn when it does not
/// survive a restart.
pub const STORE_HEADER: &str = "x-keyhole-store";

/// What `POST /revoke` takes, in its own words (the CLI's flags are not its API).
const REVOKE_USAGE: &str = concat!(
    "POST /revoke takes sid=ID, or jti=ID&kid=K, ",
    "or before=UNIX_SECONDS with kid=K and/or subject=S"
);

/// The query items of a revocation request, in the order they are written.
const REVOKE_ITEMS: [&str; 5] = ["sid", "jti", "kid", "before", "subject"];

/// Who reads a refused revocation's message: the wording differs, the rule does not.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Speaker {
    /// An HTTP caller of `POST /revoke`: the query's item names (`sid=`).
    Http,
    /// A `keyhole revoke` user: the command's flags (`--sid`).
    Cli,
}

/// A refused revocation order, worded for `speaker`.
pub fn revoke_error_text(error: &RevokeError, speaker: Speaker) -> String {
    match (error, speaker) {
        (RevokeError::Shape, Speaker::Http) => format!("name one revocation: {REVOKE_USAGE}"),
        (RevokeError::Value(name), Speaker::Http) => {
            format!("{name}=: 1 to 256 characters, no control characters")
        }
        (RevokeError::Session, Speaker::Http) => "sid=: 1 to 64 of A-Z a-z 0-9 _ -".to_owned(),
        (error, Speaker::Cli) => error.to_string(),
    }
}

/// The target (path and query) of the request that asks the admin listener to
/// record `order`; every value percent-encoded. [`parse_revoke`] reads it back.
pub fn revoke_target(order: &Revoke) -> String {
    let mut items: Vec<(&str, String)> = Vec::new();
    match order {
        Revoke::Session(sid) => items.push(("sid", sid.clone())),
        Revoke::TokenId { kid, jti } => {
            items.push(("jti", jti.clone()));
            items.push(("kid", kid.clone()));
        }
        Revoke::IssuedBefore {
            before,
            kid,
            subject,
        } => {
            items.push(("before", before.0.to_string()));
            items.extend(kid.iter().map(|kid| ("kid", kid.clone())));
            items.extend(subject.iter().map(|subject| ("subject", subject.clone())));
        }
    }
    let query: Vec<String> = items
        .iter()
        .map(|(name, value)| format!("{name}={}", percent_encode(value)))
        .collect();
    format!("{REVOKE_PATH}?{}", query.join("&"))
}

/// The revocation named by the admin request's query: `sid=`, `jti=` and `kid=`, or
/// `before=` (Unix seconds) with `kid=` and/or `subject=`, each percent-encoded. The
/// error is worded for an HTTP caller.
pub fn parse_revoke(query: &str) -> Result<Revoke, String> {
    let mut fields: [Option<String>; 5] = Default::default();
    for item in query.split('&').filter(|item| !item.is_empty()) {
        let (name, value) = item.split_once('=').unwrap_or((item, ""));
        let at = REVOKE_ITEMS
            .iter()
            .position(|known| *known == name)
            .ok_or_else(|| {
                // The name is echoed only when it is short and plain.
                let shown = if name.len() <= 32
                    && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
                {
                    format!(" `{name}`")
                } else {
                    String::new()
                };
                format!("unknown parameter{shown}; {REVOKE_USAGE}")
            })?;
        let value = percent_decode(value)
            .ok_or_else(|| format!("{name}=: bad percent-encoding or not UTF-8"))?;
        match fields.get_mut(at) {
            Some(slot @ None) => *slot = Some(value),
            _ => return Err(format!("{name}= given twice")),
        }
    }
    let [sid, jti, kid, before, subject] = fields;
    let before = before
        .map(|text| text.parse::<u64>().map(UnixTime))
        .transpose()
        .map_err(|_| "before=: Unix seconds".to_owned())?;
    Revoke::from_parts(sid, jti, kid, before, subject)
        .map_err(|error| revoke_error_text(&error, Speaker::Http))
}

/// Percent-encodes a query value (everything but unreserved characters).
fn percent_encode(text: &str) -> String {
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

/// `%XX` decoding (no `+`); `None` on a bad escape or on bytes that are not UTF-8.
fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut at = 0;
    while let Some(&byte) = bytes.get(at) {
        if byte == b'%' {
            let hex = text.get(at + 1..at + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            at += 3;
        } else {
            out.push(byte);
            at += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "0123456789abcdef0123456789abcdef";

    fn headers<'a>(
        authorization: Header<'a>,
        origin: Header<'a>,
        fetch_site: Header<'a>,
    ) -> AdminHeaders<'a> {
        AdminHeaders {
            authorization,
            origin,
            fetch_site,
        }
    }

    #[test]
    fn tokens_are_checked_redacted_and_compared_whole() {
        let token = AdminToken::parse(&format!("{TOKEN}\n")).unwrap();
        assert_eq!(format!("{token:?}"), "AdminToken([redacted])");
        assert!(token.matches(TOKEN.as_bytes()));
        assert!(!token.matches(&TOKEN.as_bytes()[..31]));
        assert!(!token.matches(format!("{TOKEN}0").as_bytes()));
        assert_eq!(AdminToken::parse("short"), Err(AdminTokenError::Length(5)));
        assert_eq!(
            AdminToken::parse(&format!("{TOKEN} x")),
            Err(AdminTokenError::Characters)
        );
        let error = AdminToken::parse(&format!("{TOKEN}é")).unwrap_err();
        assert!(!error.to_string().contains(TOKEN));
        let file = format!("# the demo token\n\n{TOKEN}\n");
        assert!(
            AdminToken::parse_file(&file)
                .unwrap()
                .matches(TOKEN.as_bytes())
        );
        assert_eq!(
            AdminToken::parse_file(&format!("{TOKEN}\n{TOKEN}\n")),
            Err(AdminTokenError::Lines)
        );
        assert_eq!(
            AdminToken::parse_file("# nothing\n"),
            Err(AdminTokenError::Length(0))
        );
    }

    #[test]
    fn admin_requests_need_the_token_and_no_browser() {
        let token = AdminToken::parse(TOKEN).unwrap();
        let bearer = token.bearer();
        let right = Header::One(bearer.as_bytes());
        let none = Header::Missing;
        assert_eq!(check(&headers(right, none, none), Some(&token)), Ok(()));
        let lower = format!("bearer {TOKEN}");
        assert_eq!(
            check(
                &headers(Header::One(lower.as_bytes()), none, none),
                Some(&token)
            ),
            Ok(())
        );
        assert_eq!(
            check(&headers(right, none, Header::One(b"none")), Some(&token)),
            Ok(())
        );
        let cases: [(AdminHeaders<'_>, AdminRefusal); 9] = [
            (headers(none, none, none), AdminRefusal::MissingToken),
            (
                headers(Header::One(TOKEN.as_bytes()), none, none),
                AdminRefusal::MissingToken,
            ),
            (
                headers(Header::Duplicated, none, none),
                AdminRefusal::MissingToken,
            ),
            (
                headers(Header::One(b"Bearer 0123456789abcdef"), none, none),
                AdminRefusal::WrongToken,
            ),
            (
                headers(right, Header::One(b"https://evil.example"), none),
                AdminRefusal::Browser,
            ),
            (
                headers(right, Header::One(b"null"), none),
                AdminRefusal::Browser,
            ),
            (
                headers(right, none, Header::One(b"cross-site")),
                AdminRefusal::Browser,
            ),
            (
                headers(right, none, Header::One(b"same-origin")),
                AdminRefusal::Browser,
            ),
            (
                headers(right, none, Header::Duplicated),
                AdminRefusal::Browser,
            ),
        ];
        for (request, refusal) in cases {
            assert_eq!(check(&request, Some(&token)), Err(refusal), "{request:?}");
        }
        // Without a configured token nothing passes, not even a browser-free request.
        assert_eq!(
            check(&headers(right, none, none), None),
            Err(AdminRefusal::NoTokenConfigured)
        );
    }

    #[test]
    fn revocations_parse_from_the_admin_query() {
        assert_eq!(parse_revoke("sid=s-1"), Ok(Revoke::Session("s-1".into())));
        assert_eq!(
            parse_revoke("jti=a%2Fb&kid=j1"),
            Ok(Revoke::TokenId {
                kid: "j1".into(),
                jti: "a/b".into()
            })
        );
        assert_eq!(
            parse_revoke("before=1800000000&subject=alice%40example.com"),
            Ok(Revoke::IssuedBefore {
                before: UnixTime(1_800_000_000),
                kid: None,
                subject: Some("alice@example.com".into()),
            })
        );
        for bad in [
            "",
            "sid=a&sid=b",
            "sid=bad%20id",
            "jti=x",
            "before=soon&kid=j1",
            "before=1",
            "sid=s&kid=j1",
            "kid=%zz",
            "other=1",
            "jti=%0a&kid=j1",
        ] {
            assert!(parse_revoke(bad).is_err(), "{bad}");
        }
    }

    /// What the CLI sends is what the server reads, for every shape and for values
    /// that need escaping (`&`, `=`, `%`, `+`, `/`, spaces, non-ASCII, a leading `-`).
    #[test]
    fn every_revocation_the_cli_encodes_the_server_reads_back() {
        let awkward = "a@b.c/d e&x=y%20+é";
        let orders = [
            Revoke::Session("-starts-with-a-dash_1".into()),
            Revoke::TokenId {
                kid: awkward.into(),
                jti: "--help".into(),
            },
            Revoke::IssuedBefore {
                before: UnixTime(1_800_000_000),
                kid: Some("j1".into()),
                subject: Some(awkward.into()),
            },
            Revoke::IssuedBefore {
                before: UnixTime(0),
                kid: None,
                subject: Some("alice".into()),
            },
        ];
        for order in orders {
            let target = revoke_target(&order);
            let query = target.strip_prefix("/revoke?").unwrap();
            assert!(query.bytes().all(|b| b.is_ascii_graphic()), "{target}");
            assert_eq!(parse_revoke(query), Ok(order), "{target}");
        }
        assert_eq!(revoke_target(&Revoke::Session("s".into())), "/revoke?sid=s");
    }

    #[test]
    fn refusals_speak_the_query_to_http_callers_and_the_flags_to_cli_users() {
        let http = revoke_error_text(&RevokeError::Value("kid"), Speaker::Http);
        let cli = revoke_error_text(&RevokeError::Value("kid"), Speaker::Cli);
        assert!(http.starts_with("kid=:") && !http.contains("--"), "{http}");
        assert!(cli.starts_with("--kid:"), "{cli}");
        let http = revoke_error_text(&RevokeError::Shape, Speaker::Http);
        assert!(
            http.contains("before=UNIX_SECONDS") && !http.contains("--"),
            "{http}"
        );
        let cli = revoke_error_text(&RevokeError::Shape, Speaker::Cli);
        assert!(cli.contains("--before"), "{cli}");
    }
}
