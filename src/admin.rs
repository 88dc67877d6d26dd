//! The admin protocol, shared by the server's admin listener and `keyhole revoke`: the
//! bearer token that every state-changing admin call must carry, and the rule that
//! refuses browser requests (an `Origin` header, or `Sec-Fetch-Site` other than `none`).
//!
//! The admin listener takes no request from a web page: a page opened on the keyhole
//! host could otherwise post to `127.0.0.1:9182` (a "simple" cross-site POST needs no
//! CORS preflight) and revoke sessions or every token of a key. Browsers send `Origin`
//! on every POST and `Sec-Fetch-Site` on every request; `keyhole revoke`, curl and
//! other programs send neither.

use subtle::ConstantTimeEq;

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

/// One request header as the admin check needs it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Header<'a> {
    /// Not sent.
    Missing,
    /// Sent once, with this value.
    One(&'a [u8]),
    /// Sent more than once.
    Duplicated,
}

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
}
