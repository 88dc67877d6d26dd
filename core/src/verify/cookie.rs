//! Signed cookie grants, format v2: a path-prefix scope, an expiry, an optional
//! session id, an optional client address binding and the methods (`GET`, `HEAD` or
//! both), signed with the signed-URL keys (HMAC-SHA256, or Ed25519 by the key's
//! kind). `docs/cookies.md` is the normative description.
//!
//! The cookie value is `2.<kid>.<scope>.<exp>.<sid>.<ip>.<methods>.<sig>`: `scope`,
//! `ip` and `methods` are their signed text in base64url (no padding; `ip` empty when
//! unbound), `sid` may be empty, `sig` is 43 base64url characters (HMAC) or 86
//! (Ed25519). Only the characters `A–Z a–z 0–9 - _ .` occur, all valid cookie octets. The signed bytes are, joined by
//! `\n`: `keyhole-cookie-v2`, `kid:<kid>`, `scope:<scope>`, `exp:<exp>`, `sid:<sid>`,
//! `ip:<ip>`, `methods:<methods>`.
//!
//! Version 1 (no address, no methods) is refused as `unsupported-version`: the
//! exchange used to make v1 cookies from address- and method-bound credentials, so a v1
//! cookie cannot be trusted to be unbound.

use std::borrow::Cow;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::canonical::Scope;
use crate::claims::{
    CookieMethods, IpBinding, SignatureBytes, TimeClaims, TimeRules, parse_signature,
    parse_timestamp,
};
use crate::clock::UnixTime;
use crate::decision::{Credential, Deny, Grant};
use crate::keys::{Key, KeyId, KeyRing, VerifyOnlyKey};
use crate::request::AuthRequest;
use crate::verify::Policy;
use crate::verify::mac::{self, SignedBytes};

/// The default cookie name. The `__Host-` prefix makes browsers refuse it unless it is
/// `Secure`, `Path=/` and has no `Domain`: no subdomain can set or shadow it.
pub const DEFAULT_NAME: &str = "__Host-keyhole";

/// The default longest cookie lifetime, in seconds (24 hours).
pub const DEFAULT_MAX_LIFETIME: u64 = 24 * 3600;

/// The first line of the signed bytes.
const DOMAIN_V2: &str = "keyhole-cookie-v2";

/// The format version, the value's first field.
const VERSION: &str = "2";

/// Longest cookie value read; longer is `cookie-too-large`.
const MAX_VALUE_LEN: usize = 1024;

/// Longest session id.
const MAX_SID_LEN: usize = 64;

/// How cookies are named, set and accepted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CookiePolicy {
    /// The cookie's name (`KEYHOLE_COOKIE_NAME`, default `__Host-keyhole`).
    pub name: String,
    /// `SameSite` of the cookie the exchange sets.
    pub same_site: SameSite,
    /// Longest cookie lifetime, in seconds; also how long a revocation is kept.
    pub max_lifetime: u64,
    /// Origins (`https://partner.example`) whose cross-site requests may use the
    /// cookie or the exchange, matched against the request's Referer.
    pub cross_site_allow: Vec<String>,
}

impl Default for CookiePolicy {
    fn default() -> Self {
        CookiePolicy {
            name: DEFAULT_NAME.to_owned(),
            same_site: SameSite::Lax,
            max_lifetime: DEFAULT_MAX_LIFETIME,
            cross_site_allow: Vec::new(),
        }
    }
}

impl CookiePolicy {
    /// Whether a cookie may authenticate this request (or the exchange set one), by
    /// where the browser says it comes from: same-origin, same-site, user-initiated (`none`) and requests without
    /// `Sec-Fetch-Site` (older browsers, non-browser clients) may; `cross-site` (or an
    /// unknown value) may only from an allow-listed Referer origin.
    pub fn check_site(
        &self,
        fetch_site: Option<&[u8]>,
        referer: Option<&[u8]>,
    ) -> Result<(), Deny> {
        match fetch_site {
            None | Some(b"same-origin" | b"same-site" | b"none") => Ok(()),
            Some(_) => {
                let origin = referer.and_then(referer_origin);
                let allowed =
                    origin.is_some_and(|origin| self.cross_site_allow.iter().any(|a| a == origin));
                if allowed {
                    Ok(())
                } else {
                    Err(Deny::CrossSite)
                }
            }
        }
    }
}

/// `scheme://host[:port]` of an `http(s)` Referer, or `None`.
fn referer_origin(referer: &[u8]) -> Option<&str> {
    let text = std::str::from_utf8(referer).ok()?;
    let rest = text
        .strip_prefix("https://")
        .or_else(|| text.strip_prefix("http://"))?;
    let authority_len = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let origin_len = text.len() - rest.len() + authority_len;
    let origin = text.get(..origin_len)?;
    // An origin names its scheme's default port without it (RFC 6454).
    let default_port = if text.starts_with("https://") {
        ":443"
    } else {
        ":80"
    };
    Some(origin.strip_suffix(default_port).unwrap_or(origin))
}

/// A session id: 1 to 64 characters of `A–Z a–z 0–9 _ -`, named in revocations.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct SessionId(String);

impl SessionId {
    /// Parses a session id.
    pub fn parse(text: &str) -> Result<SessionId, Deny> {
        let ok = !text.is_empty()
            && text.len() <= MAX_SID_LEN
            && text
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if ok {
            Ok(SessionId(text.to_owned()))
        } else {
            Err(Deny::Malformed)
        }
    }

    /// A fresh random session id (22 base64url characters, 128 bits).
    pub fn generate() -> Result<SessionId, getrandom::Error> {
        let mut bytes = [0u8; 16];
        getrandom::fill(&mut bytes)?;
        Ok(SessionId(URL_SAFE_NO_PAD.encode(bytes)))
    }

    /// The id text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What a cookie grants: every path below `scope` until `exp`, for `methods`, from
/// `ip` when bound.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CookieGrant {
    /// The path prefix.
    pub scope: Scope,
    /// Expiry.
    pub exp: UnixTime,
    /// Session id, for revocation.
    pub sid: Option<SessionId>,
    /// The client address or network the cookie is bound to, carried over from the
    /// exchanged credential; `None`: any client.
    pub ip: Option<IpBinding>,
    /// The methods the cookie opens files for.
    pub methods: CookieMethods,
}

impl CookieGrant {
    /// A grant for `scope` until `exp`, any client, `GET` and `HEAD`.
    pub fn new(scope: Scope, exp: UnixTime, sid: Option<SessionId>) -> CookieGrant {
        CookieGrant {
            scope,
            exp,
            sid,
            ip: None,
            methods: CookieMethods::GetHead,
        }
    }
}

/// A parsed cookie value; nothing in it is believed before [`verify`](Self::verify).
#[derive(Clone, Debug)]
pub struct SignedCookie<'a> {
    /// The key id.
    pub kid: &'a str,
    /// The grant's fields.
    pub grant: CookieGrant,
    /// 32 bytes HMAC, 64 bytes Ed25519.
    signature: SignatureBytes,
}

/// The fields a cookie's signature covers: the key id and the grant.
struct CookieFields<'a> {
    /// The signing key's id.
    kid: &'a str,
    /// Scope, expiry, session id, address and methods.
    grant: &'a CookieGrant,
}

impl SignedBytes for CookieFields<'_> {
    fn write(&self, sink: &mut dyn FnMut(&[u8])) {
        let grant = self.grant;
        let mut numbers = itoa::Buffer::new();
        sink(DOMAIN_V2.as_bytes());
        sink(b"\nkid:");
        sink(self.kid.as_bytes());
        sink(b"\nscope:");
        sink(grant.scope.as_str().as_bytes());
        sink(b"\nexp:");
        sink(numbers.format(grant.exp.0).as_bytes());
        sink(b"\nsid:");
        if let Some(sid) = &grant.sid {
            sink(sid.as_str().as_bytes());
        }
        sink(b"\nip:");
        if let Some(ip) = &grant.ip {
            sink(ip.to_string().as_bytes());
        }
        sink(b"\nmethods:");
        sink(grant.methods.as_str().as_bytes());
    }
}

/// The signed bytes as text (for documentation and vectors).
pub fn string_to_sign(kid: &str, grant: &CookieGrant) -> String {
    mac::string_to_sign(&CookieFields { kid, grant })
}

/// Signs a grant with `key` (HMAC or an Ed25519 seed); returns the cookie value. An
/// Ed25519 public key cannot sign.
pub fn sign(grant: &CookieGrant, key: &Key) -> Result<String, VerifyOnlyKey> {
    let kid = key.kid.as_str();
    let signature = mac::sign(&CookieFields { kid, grant }, key)?;
    let scope = URL_SAFE_NO_PAD.encode(grant.scope.as_str());
    let sid = grant.sid.as_ref().map_or("", SessionId::as_str);
    let ip = grant
        .ip
        .map(|ip| URL_SAFE_NO_PAD.encode(ip.to_string()))
        .unwrap_or_default();
    let methods = URL_SAFE_NO_PAD.encode(grant.methods.as_str());
    Ok(format!(
        "{VERSION}.{kid}.{scope}.{}.{sid}.{ip}.{methods}.{signature}",
        grant.exp.0
    ))
}

/// A base64url (no padding) field holding UTF-8 text.
fn decode_text(field: &str) -> Result<String, Deny> {
    let bytes = URL_SAFE_NO_PAD.decode(field).map_err(|_| Deny::Malformed)?;
    String::from_utf8(bytes).map_err(|_| Deny::Malformed)
}

impl<'a> SignedCookie<'a> {
    /// Parses a cookie value strictly: eight `.`-separated fields, version 2, a valid
    /// key id, a canonical scope, a plain-digit expiry, a valid or empty session id, an
    /// empty or canonical address binding, `GET,HEAD` / `GET` / `HEAD`, and a
    /// 43- or 86-character canonical base64url signature. Another version number (1 included)
    /// is `unsupported-version`.
    pub fn parse(value: &'a str) -> Result<Self, Deny> {
        if value.len() > MAX_VALUE_LEN {
            return Err(Deny::CookieTooLarge);
        }
        // The version decides the shape, so it is read before the field count.
        let version = value.split('.').next().unwrap_or_default();
        match version {
            VERSION => {}
            v if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) => {
                return Err(Deny::UnsupportedVersion);
            }
            _ => return Err(Deny::Malformed),
        }
        let mut fields = value.split('.').skip(1);
        let mut next = || fields.next().ok_or(Deny::Malformed);
        let (kid, scope, exp, sid, ip, methods, sig) = (
            next()?,
            next()?,
            next()?,
            next()?,
            next()?,
            next()?,
            next()?,
        );
        if fields.next().is_some() {
            return Err(Deny::Malformed);
        }
        KeyId::parse(kid).map_err(|_| Deny::Malformed)?;
        let scope_text = decode_text(scope)?;
        // The scope travels decoded; its URL form must pass the canonical rules.
        let scope = Scope::parse(crate::canonical::encode(&scope_text).as_bytes())?;
        if scope.as_str() != scope_text {
            return Err(Deny::Malformed);
        }
        let exp = parse_timestamp(exp)?;
        let sid = match sid {
            "" => None,
            text => Some(SessionId::parse(text)?),
        };
        let ip = match ip {
            "" => None,
            field => Some(IpBinding::parse(&decode_text(field)?)?),
        };
        let methods = CookieMethods::parse(&decode_text(methods)?)?;
        let signature = parse_signature(sig)?;
        Ok(SignedCookie {
            kid,
            grant: CookieGrant {
                scope,
                exp,
                sid,
                ip,
                methods,
            },
            signature,
        })
    }

    /// Checks the signature, then expiry, lifetime, the client address, the method,
    /// the scope and the signing key's limits, against the request. Revocation of the session id is checked by the
    /// caller, against the store.
    pub fn verify(
        &self,
        request: &AuthRequest<'_>,
        keys: &KeyRing,
        policy: &Policy,
        max_lifetime: u64,
        now: UnixTime,
    ) -> Result<Grant, Deny> {
        let key = keys.find(self.kid).ok_or(Deny::UnknownKey)?;
        let fields = CookieFields {
            kid: self.kid,
            grant: &self.grant,
        };
        mac::verify(&fields, key, &self.signature)?;
        let window = TimeClaims {
            exp: self.grant.exp,
            nbf: None,
            iat: None,
        };
        window.check(
            now,
            &TimeRules {
                leeway: policy.leeway,
                max_lifetime,
                leeway_on_max_expiry: false,
            },
        )?;
        IpBinding::check(self.grant.ip.as_ref(), &request.client_ip)?;
        if !self.grant.methods.allows(request.method) {
            return Err(Deny::MethodNotAllowed);
        }
        if !self.grant.scope.contains(&request.path) {
            return Err(Deny::OutOfScope);
        }
        key.limits.check(&request.path, request.host.as_ref())?;
        // Cookies are sent automatically and revocable: never cached by nginx.
        Ok(Grant::uncacheable(Credential::Cookie))
    }
}

/// Finds the value of cookie `name` in a `Cookie` header (parsed by the `cookie`
/// crate). `Ok(None)`: no such cookie; two cookies of that name: `duplicate-cookie`.
/// Pairs are split on `;`; whitespace around each name and value is trimmed (RFC 6265
/// 5.2), then names are compared exactly: `__HOST-keyhole` or `keyhole` are other
/// cookies, ` __Host-keyhole ` is this one.
pub fn find<'h>(header: &'h str, name: &str) -> Result<Option<Cow<'h, str>>, Deny> {
    let mut found = None;
    for cookie in ::cookie::Cookie::split_parse(header).flatten() {
        if cookie.name() != name {
            continue;
        }
        if found.is_some() {
            return Err(Deny::DuplicateCookie);
        }
        found = Some(Cow::Owned(cookie.value().to_owned()));
    }
    Ok(found)
}

/// `SameSite` for the cookie keyhole sets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SameSite {
    /// Sent on top-level navigations from other sites, not on their subresources.
    Lax,
    /// Never sent on requests started by other sites.
    Strict,
}

/// The `Set-Cookie` header value for a signed grant: `Secure`, `HttpOnly`, `Path=/`, no
/// `Domain`, the given `SameSite`, and `Max-Age` no longer than the grant's remaining
/// life.
pub fn set_cookie_header(name: &str, value: &str, max_age: u64, same_site: SameSite) -> String {
    let same_site = match same_site {
        SameSite::Lax => ::cookie::SameSite::Lax,
        SameSite::Strict => ::cookie::SameSite::Strict,
    };
    let seconds = i64::try_from(max_age).unwrap_or(i64::MAX);
    ::cookie::Cookie::build((name.to_owned(), value.to_owned()))
        .path("/")
        .secure(true)
        .http_only(true)
        .same_site(same_site)
        .max_age(::cookie::time::Duration::seconds(seconds))
        .build()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8";
    const NOW: UnixTime = UnixTime(1_800_000_000);

    fn ring() -> KeyRing {
        KeyRing::parse(&format!("k1:{SECRET}")).unwrap()
    }

    fn grant(scope: &str) -> CookieGrant {
        CookieGrant::new(
            Scope::parse(scope.as_bytes()).unwrap(),
            NOW.plus(3600),
            Some(SessionId::parse("s-1").unwrap()),
        )
    }

    fn check(value: &str, path: &str) -> Result<Grant, Deny> {
        check_from(value, path, "GET", "192.0.2.1")
    }

    fn check_from(value: &str, path: &str, method: &str, ip: &str) -> Result<Grant, Deny> {
        let headers =
            crate::request::NginxHeaders::new(path.as_bytes(), method.as_bytes(), ip.as_bytes());
        let request = headers.parse().unwrap();
        SignedCookie::parse(value)?.verify(&request, &ring(), &Policy::default(), 86400, NOW)
    }

    #[test]
    fn a_signed_cookie_opens_its_scope_only() {
        let value = sign(&grant("/u1/"), ring().signing_key()).unwrap();
        assert!(
            value.starts_with("2.k1.L3UxLw.1800003600.s-1..R0VULEhFQUQ."),
            "{value}"
        );
        assert_eq!(check(&value, "/u1/a.jpg").unwrap().cacheable_until, None);
        assert_eq!(check(&value, "/u10/a.jpg"), Err(Deny::OutOfScope));
        let parsed = SignedCookie::parse(&value).unwrap();
        assert_eq!(parsed.grant, grant("/u1/"));
    }

    /// Regression (attack run): a cookie opened files for POST, PUT and DELETE.
    #[test]
    fn a_cookie_opens_files_only_for_its_methods() {
        let value = sign(&grant("/u1/"), ring().signing_key()).unwrap();
        for method in ["GET", "HEAD"] {
            assert!(check_from(&value, "/u1/a.jpg", method, "192.0.2.1").is_ok());
        }
        for method in [
            "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "PROPFIND", "MKCOL",
        ] {
            assert_eq!(
                check_from(&value, "/u1/a.jpg", method, "192.0.2.1"),
                Err(Deny::MethodNotAllowed),
                "{method}"
            );
        }
        let mut head = grant("/u1/");
        head.methods = CookieMethods::Head;
        let value = sign(&head, ring().signing_key()).unwrap();
        assert!(check_from(&value, "/u1/a.jpg", "HEAD", "192.0.2.1").is_ok());
        assert_eq!(
            check_from(&value, "/u1/a.jpg", "GET", "192.0.2.1"),
            Err(Deny::MethodNotAllowed)
        );
    }

    #[test]
    fn an_address_bound_cookie_opens_files_only_for_that_address() {
        let mut bound = grant("/u1/");
        bound.ip = Some(IpBinding::parse("10.1.0.0/16").unwrap());
        let value = sign(&bound, ring().signing_key()).unwrap();
        assert!(check_from(&value, "/u1/a.jpg", "GET", "10.1.2.3").is_ok());
        assert_eq!(
            check_from(&value, "/u1/a.jpg", "GET", "10.2.0.1"),
            Err(Deny::IpMismatch)
        );
        assert_eq!(SignedCookie::parse(&value).unwrap().grant, bound);
        let mut one = grant("/u1/");
        one.ip = Some(IpBinding::parse("2001:db8::7").unwrap());
        let value = sign(&one, ring().signing_key()).unwrap();
        assert!(check_from(&value, "/u1/a.jpg", "GET", "2001:db8::7").is_ok());
        assert_eq!(
            check_from(&value, "/u1/a.jpg", "GET", "2001:db8::8"),
            Err(Deny::IpMismatch)
        );
    }

    #[test]
    fn tampering_and_time_are_checked() {
        let value = sign(&grant("/u1/"), ring().signing_key()).unwrap();
        let other_scope = value.replace("L3UxLw", "L3UyLw");
        assert_eq!(check(&other_scope, "/u2/a.jpg"), Err(Deny::BadSignature));
        let other_sid = value.replace(".s-1.", ".s-2.");
        assert_eq!(check(&other_sid, "/u1/a.jpg"), Err(Deny::BadSignature));
        // Dropping the address binding or widening the methods breaks the signature.
        let mut bound = grant("/u1/");
        bound.ip = Some(IpBinding::parse("192.0.2.1").unwrap());
        bound.methods = CookieMethods::Head;
        let value = sign(&bound, ring().signing_key()).unwrap();
        let unbound = value.replace(".MTkyLjAuMi4x.", "..");
        assert_ne!(unbound, value);
        assert_eq!(check(&unbound, "/u1/a.jpg"), Err(Deny::BadSignature));
        let widened = value.replace(".SEVBRA.", ".R0VULEhFQUQ.");
        assert_ne!(widened, value);
        assert_eq!(check(&widened, "/u1/a.jpg"), Err(Deny::BadSignature));
        let mut expired = grant("/u1/");
        expired.exp = NOW.minus(31);
        let value = sign(&expired, ring().signing_key()).unwrap();
        assert_eq!(check(&value, "/u1/a.jpg"), Err(Deny::Expired));
        let mut long = grant("/u1/");
        long.exp = NOW.plus(86401);
        assert_eq!(
            check(&sign(&long, ring().signing_key()).unwrap(), "/u1/a.jpg"),
            Err(Deny::TtlTooLong)
        );
    }

    #[test]
    fn strict_parsing() {
        let value = sign(&grant("/u1/"), ring().signing_key()).unwrap();
        // A version 1 cookie, validly signed under the v1 rules, is refused.
        let v1 = "1.k1.L3UxLw.1800003600.s-1.G2vGC8GFgovjnqgo77se0d7d_PvfUjftE9aBVi_BXa8";
        let b64 = |text: &str| URL_SAFE_NO_PAD.encode(text);
        for (bad, reason) in [
            (format!("{value}.x"), Deny::Malformed),
            (v1.to_owned(), Deny::UnsupportedVersion),
            (value.replacen("2.", "1.", 1), Deny::UnsupportedVersion),
            (value.replacen("2.", "3.", 1), Deny::UnsupportedVersion),
            (value.replacen("2.", "v2.", 1), Deny::Malformed),
            (
                value.replace(".1800003600.", ".01800003600."),
                Deny::Malformed,
            ),
            (value.replace(".s-1.", ".s 1."), Deny::Malformed),
            (value.replace("L3UxLw", "L3Ux"), Deny::ScopeNotPrefix),
            (value.replace("L3UxLw", "L3UxLy4uLw"), Deny::PathTraversal),
            (value[..value.len() - 1].to_owned(), Deny::Malformed),
            ("a".repeat(MAX_VALUE_LEN + 1), Deny::CookieTooLarge),
            (String::new(), Deny::Malformed),
            // Address bindings in canonical form only; methods from the three spellings.
            (
                value.replace(".s-1..", &format!(".s-1.{}.", b64("10.0.0.1/8"))),
                Deny::Malformed,
            ),
            (
                value.replace(".s-1..", &format!(".s-1.{}.", b64("::ffff:1.2.3.4"))),
                Deny::Malformed,
            ),
            (
                value.replace(".s-1..", ".s-1.MTAuMC4wLjE=."),
                Deny::Malformed,
            ),
            (value.replace(".s-1..", ".s-1.10.0.0.1."), Deny::Malformed),
            (
                value.replace(".R0VULEhFQUQ.", &format!(".{}.", b64("HEAD,GET"))),
                Deny::Malformed,
            ),
            (
                value.replace(".R0VULEhFQUQ.", &format!(".{}.", b64("GET,HEAD,POST"))),
                Deny::Malformed,
            ),
            (
                value.replace(".R0VULEhFQUQ.", &format!(".{}.", b64("POST"))),
                Deny::Malformed,
            ),
            (value.replace(".R0VULEhFQUQ.", ".."), Deny::Malformed),
        ] {
            assert_eq!(check(&bad, "/u1/a.jpg").map(|_| ()), Err(reason), "{bad}");
        }
    }

    #[test]
    fn finding_the_cookie() {
        assert_eq!(
            find("a=1; __Host-keyhole=v; b=2", DEFAULT_NAME)
                .unwrap()
                .as_deref(),
            Some("v")
        );
        assert_eq!(
            find("__HOST-keyhole=v; keyhole=w", DEFAULT_NAME).unwrap(),
            None
        );
        assert_eq!(
            find("__Host-keyhole=v; __Host-keyhole=w", DEFAULT_NAME),
            Err(Deny::DuplicateCookie)
        );
        assert_eq!(find("", DEFAULT_NAME).unwrap(), None);
    }

    /// docs/cookies.md, "Finding the cookie", states exactly this.
    #[test]
    fn cookie_names_and_values_are_trimmed_and_pairs_split_on_semicolons_only() {
        let found = |header: &str| find(header, DEFAULT_NAME).map(|v| v.map(Cow::into_owned));
        let v = Ok(Some("v".to_owned()));
        // Whitespace around the name and the value is trimmed (RFC 6265 5.2), Unicode
        // White_Space included, as Rust's `str::trim`.
        assert_eq!(found(" __Host-keyhole =v"), v);
        assert_eq!(found("a=1;\t__Host-keyhole\t=\tv\t;b=2"), v);
        assert_eq!(found("__Host-keyhole = v "), v);
        assert_eq!(found("\u{a0}__Host-keyhole\u{a0}=v"), v);
        // So a padded name is the same cookie: two of them are a duplicate.
        assert_eq!(
            found("__Host-keyhole=v; __Host-keyhole =w"),
            Err(Deny::DuplicateCookie)
        );
        // Case, inner characters and prefixes still count; quotes are kept in the value.
        assert_eq!(found("__host-keyhole=v"), Ok(None));
        assert_eq!(found("__Host-keyhole2=v; x__Host-keyhole=v"), Ok(None));
        assert_eq!(found("__Host- keyhole=v"), Ok(None));
        assert_eq!(found("__Host-keyhole=\"v\""), Ok(Some("\"v\"".to_owned())));
        // Only `;` separates pairs: after a comma it is part of the first value.
        assert_eq!(found("a=1, __Host-keyhole=v"), Ok(None));
        // The value runs to the next `;` and may hold `=`; pairs without `=` or with an
        // empty name are skipped.
        assert_eq!(found("__Host-keyhole=v=w"), Ok(Some("v=w".to_owned())));
        assert_eq!(found("__Host-keyhole; =x; __Host-keyhole=v"), v);
    }

    #[test]
    fn cross_site_requests_need_an_allow_listed_referer() {
        let mut policy = CookiePolicy::default();
        for site in [
            None,
            Some(&b"same-origin"[..]),
            Some(b"same-site"),
            Some(b"none"),
        ] {
            assert_eq!(policy.check_site(site, None), Ok(()));
        }
        assert_eq!(
            policy.check_site(Some(b"cross-site"), None),
            Err(Deny::CrossSite)
        );
        assert_eq!(
            policy.check_site(Some(b"weird"), None),
            Err(Deny::CrossSite)
        );
        policy.cross_site_allow = vec!["https://partner.example".into()];
        let from = |r: &'static [u8]| policy.check_site(Some(b"cross-site"), Some(r));
        assert_eq!(from(b"https://partner.example/page?x=1"), Ok(()));
        assert_eq!(from(b"https://partner.example"), Ok(()));
        assert_eq!(from(b"https://partner.example:443/page"), Ok(()));
        assert_eq!(
            from(b"https://partner.example:8443/page"),
            Err(Deny::CrossSite)
        );
        assert_eq!(
            from(b"https://partner.example:80/page"),
            Err(Deny::CrossSite)
        );
        assert_eq!(from(b"https://partner.example.evil/"), Err(Deny::CrossSite));
        assert_eq!(from(b"http://partner.example/"), Err(Deny::CrossSite));
        assert_eq!(from(b"https://partner.example@evil/"), Err(Deny::CrossSite));
    }

    #[test]
    fn set_cookie_attributes() {
        let header = set_cookie_header(DEFAULT_NAME, "1.k1.x", 600, SameSite::Lax);
        for part in [
            "__Host-keyhole=1.k1.x",
            "HttpOnly",
            "SameSite=Lax",
            "Secure",
            "Path=/",
            "Max-Age=600",
        ] {
            assert!(header.contains(part), "{part} missing from {header}");
        }
        assert!(!header.contains("Domain"));
        assert!(
            set_cookie_header(DEFAULT_NAME, "v", 1, SameSite::Strict).contains("SameSite=Strict")
        );
    }
}
