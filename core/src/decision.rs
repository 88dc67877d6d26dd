//! The outcome of one `/auth` request: [`Decision::Allow`] or [`Decision::Deny`] with
//! a [`Deny`] reason whose [`code`](Deny::code) is a stable, documented string.
//!
//! Reason codes are part of the public contract (nginx logs capture them through
//! `auth_request_set`): a code is never renamed and never reused for another meaning.

use std::fmt;

use crate::clock::UnixTime;

/// Which kind of credential allowed a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Credential {
    /// An HMAC-signed URL (`kh_sig`).
    SignedUrl,
    /// A file-scoped JWT in the query string.
    Jwt,
    /// A keyhole-signed cookie grant.
    Cookie,
}

impl Credential {
    /// The stable name used in logs, headers and metrics.
    pub fn name(self) -> &'static str {
        match self {
            Credential::SignedUrl => "signed-url",
            Credential::Jwt => "jwt",
            Credential::Cookie => "cookie",
        }
    }
}

/// An allow: which credential, and until when nginx may reuse the answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Grant {
    /// The credential that allowed the request.
    pub credential: Credential,
    /// `Some(t)`: the decision depends on nothing but the URL (method and
    /// `$request_uri`) and stays true until `t`, so nginx may cache it until then.
    /// `None`: it depends on the client, on state, or on anything revocable.
    pub cacheable_until: Option<UnixTime>,
}

impl Grant {
    /// An allow nginx must not cache.
    pub fn uncacheable(credential: Credential) -> Grant {
        Grant {
            credential,
            cacheable_until: None,
        }
    }
}

/// What keyhole tells nginx about one request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Serve the file.
    Allow(Grant),
    /// Refuse, for this reason.
    Deny(Deny),
}

impl Decision {
    /// The reason code sent in `X-Keyhole-Reason`: `ok` for an allow.
    pub fn code(&self) -> &'static str {
        match self {
            Decision::Allow(_) => "ok",
            Decision::Deny(reason) => reason.code(),
        }
    }

    /// Whether this decision lets nginx serve the file.
    pub fn is_allow(&self) -> bool {
        matches!(self, Decision::Allow(_))
    }
}

impl From<Result<Grant, Deny>> for Decision {
    fn from(result: Result<Grant, Deny>) -> Self {
        match result {
            Ok(grant) => Decision::Allow(grant),
            Err(reason) => Decision::Deny(reason),
        }
    }
}

/// Why a request was denied. Every variant has exactly one stable code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Deny {
    /// A header keyhole needs from nginx (`X-Original-URI`, `X-Original-Method`,
    /// `X-Real-IP`) is absent.
    MissingHeader,
    /// A header keyhole reads appears more than once.
    DuplicateHeader,
    /// A header keyhole reads is not valid (not ASCII, not an IP address, not a method).
    BadHeader,
    /// The request target is longer than keyhole reads.
    UriTooLong,
    /// The path is longer than [`crate::canonical::MAX_RAW_PATH_LEN`].
    PathTooLong,
    /// A dot segment (`.`, `..`, raw or encoded) or a segment ending in `.`.
    PathTraversal,
    /// `%2F` in the path.
    PathEncodedSlash,
    /// `//` in the path.
    PathEmptySegment,
    /// An invalid or double (`%25`) percent escape.
    PathBadEscape,
    /// The decoded path is not UTF-8.
    PathBadUtf8,
    /// A byte that is never canonical: control, backslash, `;`, `#`, `?`, space, raw
    /// non-ASCII, or no leading `/`.
    PathBadChar,
    /// The path ends with `/` (a directory, not a file).
    PathNotFile,
    /// A scope that does not end with `/`.
    ScopeNotPrefix,
    /// More query parameters than keyhole reads.
    TooManyParams,
    /// A keyhole query parameter appears twice.
    DuplicateParam,
    /// The request carries no credential.
    MissingCredential,
    /// A credential field is malformed (non-digit timestamp, bad key id, bad IP, …).
    Malformed,
    /// The credential names a format version keyhole does not know.
    UnsupportedVersion,
    /// The credential names a key id that is not configured.
    UnknownKey,
    /// The signature does not match.
    BadSignature,
    /// The credential expired (beyond the leeway).
    Expired,
    /// The credential's not-before lies in the future (beyond the leeway).
    NotYetValid,
    /// The credential's expiry lies beyond now + the maximum lifetime.
    TtlTooLong,
    /// The requested path lies outside the signed scope.
    OutOfScope,
    /// The client address is not the one the credential is bound to.
    IpMismatch,
    /// The request method is not one the credential allows.
    MethodNotAllowed,
    /// The request carries more than one kind of credential (a signed URL and a JWT).
    AmbiguousCredential,
    /// The token is longer than keyhole reads (checked before any cryptography).
    TokenTooLarge,
    /// The token's `alg` is `none`, unknown, or not the one algorithm of its key.
    AlgNotAllowed,
    /// The token's header carries a parameter keyhole refuses (`crit`, `b64`, `jku`,
    /// `x5u`, `jwk`, `x5c`, `cty`, `enc`, `zip`, or any unknown one).
    HeaderNotAllowed,
    /// The token is not a keyhole file token: wrong or missing `typ`, or no resource
    /// claim (a login or API token).
    NotAFileToken,
    /// A claim keyhole requires (`exp`, `iat`, `aud`) is absent.
    MissingClaim,
    /// The token's `aud` is not the configured audience.
    WrongAudience,
    /// The token's `iss` is not in the configured allow-list.
    WrongIssuer,
    /// A single-use token was already used (or a limited-use token used up).
    Replayed,
    /// The replay store did not answer; single-use tokens fail closed.
    StoreUnavailable,
    /// The replay store is full of live entries; new single-use tokens are refused.
    StoreFull,
    /// A use reached the Redis master, but fewer replicas than
    /// `KEYHOLE_STORE_WAIT_REPLICAS` acknowledged it in time; it does not count.
    StoreUnreplicated,
    /// Two cookies carry keyhole's cookie name.
    DuplicateCookie,
    /// keyhole's cookie value is longer than it reads.
    CookieTooLarge,
    /// A cookie-authenticated request came from another site (`Sec-Fetch-Site:
    /// cross-site`) that is not on the allow-list.
    CrossSite,
    /// The credential's session was revoked.
    Revoked,
    /// The cookie exchange needs a credential for a path prefix, not for one file.
    ScopeRequired,
    /// The exchange's `return_to` is not a same-origin path inside the granted scope.
    BadReturnTo,
    /// The exchange was given a credential with a binding a cookie cannot carry (a
    /// bound query, `kh_q=1`).
    NotExchangeable,
    /// A forwarded-auth request (`/forward-auth`, `/ext-authz/`) came from a peer that
    /// is not in `KEYHOLE_TRUSTED_PROXIES`: its `X-Forwarded-*` headers are not
    /// believed.
    UntrustedProxy,
    /// `X-Forwarded-For` is not a comma-separated list of bare IP addresses.
    BadForwardedFor,
    /// `X-Forwarded-For` names more hops than keyhole reads.
    TooManyHops,
    /// The credential is valid, but the key that signed it is limited to other paths
    /// or hosts (`;paths=`, `;hosts=`) than the request's.
    KeyOutOfScope,
    /// The signed URL binds a host (`kh_host`) other than the request's.
    HostMismatch,
    /// The cookie exchange has no key that can sign: every configured key is an
    /// Ed25519 public key, which verifies but cannot mint.
    NoSigningKey,
    /// The nginx module met a credential that needs the service (a session cookie, a
    /// JWT) in a location without `keyhole_sidecar on` (docs/nginx-module.md).
    NeedsSidecar,
}

impl Deny {
    /// Every reason, in documentation order.
    pub const ALL: [Deny; 52] = [
        Deny::MissingHeader,
        Deny::DuplicateHeader,
        Deny::BadHeader,
        Deny::UriTooLong,
        Deny::PathTooLong,
        Deny::PathTraversal,
        Deny::PathEncodedSlash,
        Deny::PathEmptySegment,
        Deny::PathBadEscape,
        Deny::PathBadUtf8,
        Deny::PathBadChar,
        Deny::PathNotFile,
        Deny::ScopeNotPrefix,
        Deny::TooManyParams,
        Deny::DuplicateParam,
        Deny::MissingCredential,
        Deny::Malformed,
        Deny::UnsupportedVersion,
        Deny::UnknownKey,
        Deny::BadSignature,
        Deny::Expired,
        Deny::NotYetValid,
        Deny::TtlTooLong,
        Deny::OutOfScope,
        Deny::IpMismatch,
        Deny::MethodNotAllowed,
        Deny::AmbiguousCredential,
        Deny::TokenTooLarge,
        Deny::AlgNotAllowed,
        Deny::HeaderNotAllowed,
        Deny::NotAFileToken,
        Deny::MissingClaim,
        Deny::WrongAudience,
        Deny::WrongIssuer,
        Deny::Replayed,
        Deny::StoreUnavailable,
        Deny::StoreFull,
        Deny::StoreUnreplicated,
        Deny::DuplicateCookie,
        Deny::CookieTooLarge,
        Deny::CrossSite,
        Deny::Revoked,
        Deny::ScopeRequired,
        Deny::BadReturnTo,
        Deny::NotExchangeable,
        Deny::UntrustedProxy,
        Deny::BadForwardedFor,
        Deny::TooManyHops,
        Deny::KeyOutOfScope,
        Deny::HostMismatch,
        Deny::NoSigningKey,
        Deny::NeedsSidecar,
    ];

    /// The stable reason code.
    pub fn code(self) -> &'static str {
        match self {
            Deny::MissingHeader => "missing-header",
            Deny::DuplicateHeader => "duplicate-header",
            Deny::BadHeader => "bad-header",
            Deny::UriTooLong => "uri-too-long",
            Deny::PathTooLong => "path-too-long",
            Deny::PathTraversal => "path-traversal",
            Deny::PathEncodedSlash => "path-encoded-slash",
            Deny::PathEmptySegment => "path-empty-segment",
            Deny::PathBadEscape => "path-bad-escape",
            Deny::PathBadUtf8 => "path-bad-utf8",
            Deny::PathBadChar => "path-bad-char",
            Deny::PathNotFile => "path-not-file",
            Deny::ScopeNotPrefix => "scope-not-prefix",
            Deny::TooManyParams => "too-many-params",
            Deny::DuplicateParam => "duplicate-param",
            Deny::MissingCredential => "missing-credential",
            Deny::Malformed => "malformed",
            Deny::UnsupportedVersion => "unsupported-version",
            Deny::UnknownKey => "unknown-key",
            Deny::BadSignature => "bad-signature",
            Deny::Expired => "expired",
            Deny::NotYetValid => "not-yet-valid",
            Deny::TtlTooLong => "ttl-too-long",
            Deny::OutOfScope => "out-of-scope",
            Deny::IpMismatch => "ip-mismatch",
            Deny::MethodNotAllowed => "method-not-allowed",
            Deny::AmbiguousCredential => "ambiguous-credential",
            Deny::TokenTooLarge => "token-too-large",
            Deny::AlgNotAllowed => "alg-not-allowed",
            Deny::HeaderNotAllowed => "header-not-allowed",
            Deny::NotAFileToken => "not-a-file-token",
            Deny::MissingClaim => "missing-claim",
            Deny::WrongAudience => "wrong-audience",
            Deny::WrongIssuer => "wrong-issuer",
            Deny::Replayed => "replayed",
            Deny::StoreUnavailable => "store-unavailable",
            Deny::StoreFull => "store-full",
            Deny::StoreUnreplicated => "store-unreplicated",
            Deny::DuplicateCookie => "duplicate-cookie",
            Deny::CookieTooLarge => "cookie-too-large",
            Deny::CrossSite => "cross-site",
            Deny::Revoked => "revoked",
            Deny::ScopeRequired => "scope-required",
            Deny::BadReturnTo => "bad-return-to",
            Deny::NotExchangeable => "not-exchangeable",
            Deny::UntrustedProxy => "untrusted-proxy",
            Deny::BadForwardedFor => "bad-forwarded-for",
            Deny::TooManyHops => "too-many-hops",
            Deny::KeyOutOfScope => "key-out-of-scope",
            Deny::HostMismatch => "host-mismatch",
            Deny::NoSigningKey => "no-signing-key",
            Deny::NeedsSidecar => "needs-sidecar",
        }
    }
}

impl fmt::Display for Deny {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_and_kebab_case() {
        let mut seen = std::collections::HashSet::new();
        for reason in Deny::ALL {
            let code = reason.code();
            assert!(seen.insert(code), "duplicate code {code}");
            assert!(
                code.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'),
                "{code}"
            );
            assert_ne!(code, "ok");
        }
    }

    #[test]
    fn every_code_is_documented() {
        let doc = include_str!("../../docs/reason-codes.md");
        for reason in Deny::ALL {
            assert!(
                doc.contains(&format!("`{}`", reason.code())),
                "{reason} undocumented"
            );
        }
    }
}
