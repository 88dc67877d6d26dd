//! Signed cookie grants, format v1: a path-prefix scope, an expiry and an optional
//! session id, HMAC-SHA256-signed with the signed-URL keys. `docs/cookies.md` is the
//! normative description.
//!
//! The cookie value is `1.<kid>.<scope>.<exp>.<sid>.<sig>`: `scope` is the decoded
//! canonical scope in base64url (no padding), `sid` may be empty, `sig` is 43
//! base64url characters. Only the characters `A–Z a–z 0–9 - _ .` occur, all valid
//! cookie octets. The signed bytes are, joined by `\n`:
//! `keyhole-cookie-v1`, `kid:<kid>`, `scope:<scope>`, `exp:<exp>`, `sid:<sid>`.

use std::borrow::Cow;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::Mac;

use crate::canonical::{CanonicalPath, Scope};
use crate::clock::UnixTime;
use crate::decision::{Credential, Deny, Grant};
use crate::keys::{Key, KeyId, KeyRing};
use crate::verify::Policy;

/// The default cookie name. The `__Host-` prefix makes browsers refuse it unless it is
/// `Secure`, `Path=/` and has no `Domain`: no subdomain can set or shadow it.
pub const DEFAULT_NAME: &str = "__Host-keyhole";

/// The first line of the signed bytes.
pub const DOMAIN_V1: &str = "keyhole-cookie-v1";

/// Longest cookie value read; longer is `cookie-too-large`.
pub const MAX_VALUE_LEN: usize = 1024;

/// Longest session id.
pub const MAX_SID_LEN: usize = 64;

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
    /// cookie, matched against the request's Referer.
    pub cross_site_allow: Vec<String>,
}

impl Default for CookiePolicy {
    fn default() -> Self {
        CookiePolicy {
            name: DEFAULT_NAME.to_owned(),
            same_site: SameSite::Lax,
            max_lifetime: 24 * 3600,
            cross_site_allow: Vec::new(),
        }
    }
}

impl CookiePolicy {
    /// Whether a cookie may authenticate this request, by where the browser says it
    /// comes from: same-origin, same-site, user-initiated (`none`) and requests without
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

/// What a cookie grants: every path below `scope` until `exp`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CookieGrant {
    /// The path prefix.
    pub scope: Scope,
    /// Expiry.
    pub exp: UnixTime,
    /// Session id, for revocation.
    pub sid: Option<SessionId>,
}

/// A parsed cookie value; nothing in it is believed before [`verify`](Self::verify).
#[derive(Clone, Debug)]
pub struct SignedCookie<'a> {
    /// The key id.
    pub kid: &'a str,
    /// The grant's fields.
    pub grant: CookieGrant,
    signature: [u8; 32],
}

fn write_signed_bytes(kid: &str, grant: &CookieGrant, sink: &mut dyn FnMut(&[u8])) {
    let mut numbers = itoa::Buffer::new();
    sink(DOMAIN_V1.as_bytes());
    sink(b"\nkid:");
    sink(kid.as_bytes());
    sink(b"\nscope:");
    sink(grant.scope.as_str().as_bytes());
    sink(b"\nexp:");
    sink(numbers.format(grant.exp.0).as_bytes());
    sink(b"\nsid:");
    if let Some(sid) = &grant.sid {
        sink(sid.as_str().as_bytes());
    }
}

/// The signed bytes as text (for documentation and vectors).
pub fn string_to_sign(kid: &str, grant: &CookieGrant) -> String {
    let mut out = Vec::new();
    write_signed_bytes(kid, grant, &mut |bytes| out.extend_from_slice(bytes));
    String::from_utf8_lossy(&out).into_owned()
}

fn mac_of(kid: &str, grant: &CookieGrant, key: &Key) -> crate::keys::HmacSha256 {
    let mut mac = key.mac();
    write_signed_bytes(kid, grant, &mut |bytes| mac.update(bytes));
    mac
}

/// Signs a grant with `key`; returns the cookie value.
pub fn sign(grant: &CookieGrant, key: &Key) -> String {
    let kid = key.kid.as_str();
    let signature = URL_SAFE_NO_PAD.encode(mac_of(kid, grant, key).finalize().into_bytes());
    let scope = URL_SAFE_NO_PAD.encode(grant.scope.as_str());
    let sid = grant.sid.as_ref().map_or("", SessionId::as_str);
    format!("1.{kid}.{scope}.{}.{sid}.{signature}", grant.exp.0)
}

impl<'a> SignedCookie<'a> {
    /// Parses a cookie value strictly: six `.`-separated fields, version 1, a valid
    /// key id, a canonical scope, a plain-digit expiry, a valid or empty session id and
    /// a 43-character canonical base64url signature.
    pub fn parse(value: &'a str) -> Result<Self, Deny> {
        if value.len() > MAX_VALUE_LEN {
            return Err(Deny::CookieTooLarge);
        }
        let mut fields = value.split('.');
        let mut next = || fields.next().ok_or(Deny::Malformed);
        let (version, kid, scope, exp, sid, sig) =
            (next()?, next()?, next()?, next()?, next()?, next()?);
        if fields.next().is_some() {
            return Err(Deny::Malformed);
        }
        match version {
            "1" => {}
            v if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) => {
                return Err(Deny::UnsupportedVersion);
            }
            _ => return Err(Deny::Malformed),
        }
        KeyId::parse(kid).map_err(|_| Deny::Malformed)?;
        let scope_bytes = URL_SAFE_NO_PAD.decode(scope).map_err(|_| Deny::Malformed)?;
        let scope_text = String::from_utf8(scope_bytes).map_err(|_| Deny::Malformed)?;
        // The scope travels decoded; its URL form must pass the canonical rules.
        let scope = Scope::parse(crate::canonical::encode(&scope_text).as_bytes())?;
        if scope.as_str() != scope_text {
            return Err(Deny::Malformed);
        }
        let exp = super::signed_url::parse_timestamp(exp)?;
        let sid = match sid {
            "" => None,
            text => Some(SessionId::parse(text)?),
        };
        let signature = super::signed_url::parse_signature(sig)?;
        Ok(SignedCookie {
            kid,
            grant: CookieGrant { scope, exp, sid },
            signature,
        })
    }

    /// Checks the signature, then expiry, lifetime and scope. Revocation of the
    /// session id is checked by the caller, against the store.
    pub fn verify(
        &self,
        path: &CanonicalPath,
        keys: &KeyRing,
        policy: &Policy,
        max_lifetime: u64,
        now: UnixTime,
    ) -> Result<Grant, Deny> {
        let key = keys.find(self.kid).ok_or(Deny::UnknownKey)?;
        mac_of(self.kid, &self.grant, key)
            .verify_slice(&self.signature)
            .map_err(|_| Deny::BadSignature)?;
        if now.minus(policy.leeway) > self.grant.exp {
            return Err(Deny::Expired);
        }
        if self.grant.exp > now.plus(max_lifetime) {
            return Err(Deny::TtlTooLong);
        }
        if !self.grant.scope.contains(path) {
            return Err(Deny::OutOfScope);
        }
        // Cookies are sent automatically and revocable: never cached by nginx.
        Ok(Grant::uncacheable(Credential::Cookie))
    }
}

/// Finds the value of cookie `name` in a `Cookie` header (parsed by the `cookie`
/// crate). `Ok(None)`: no such cookie; two cookies of that name: `duplicate-cookie`.
/// Names are compared exactly: `__HOST-keyhole` or `keyhole` are other cookies.
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
        CookieGrant {
            scope: Scope::parse(scope.as_bytes()).unwrap(),
            exp: NOW.plus(3600),
            sid: Some(SessionId::parse("s-1").unwrap()),
        }
    }

    fn check(value: &str, path: &str) -> Result<Grant, Deny> {
        let path = CanonicalPath::parse(path.as_bytes()).unwrap();
        SignedCookie::parse(value)?.verify(&path, &ring(), &Policy::default(), 86400, NOW)
    }

    #[test]
    fn a_signed_cookie_opens_its_scope_only() {
        let value = sign(&grant("/u1/"), ring().signing_key());
        assert!(value.starts_with("1.k1.L3UxLw.1800003600.s-1."), "{value}");
        assert_eq!(check(&value, "/u1/a.jpg").unwrap().cacheable_until, None);
        assert_eq!(check(&value, "/u10/a.jpg"), Err(Deny::OutOfScope));
        let parsed = SignedCookie::parse(&value).unwrap();
        assert_eq!(parsed.grant, grant("/u1/"));
    }

    #[test]
    fn tampering_and_time_are_checked() {
        let value = sign(&grant("/u1/"), ring().signing_key());
        let other_scope = value.replace("L3UxLw", "L3UyLw");
        assert_eq!(check(&other_scope, "/u2/a.jpg"), Err(Deny::BadSignature));
        let other_sid = value.replace(".s-1.", ".s-2.");
        assert_eq!(check(&other_sid, "/u1/a.jpg"), Err(Deny::BadSignature));
        let mut expired = grant("/u1/");
        expired.exp = NOW.minus(31);
        let value = sign(&expired, ring().signing_key());
        assert_eq!(check(&value, "/u1/a.jpg"), Err(Deny::Expired));
        let mut long = grant("/u1/");
        long.exp = NOW.plus(86401);
        assert_eq!(
            check(&sign(&long, ring().signing_key()), "/u1/a.jpg"),
            Err(Deny::TtlTooLong)
        );
    }

    #[test]
    fn strict_parsing() {
        let value = sign(&grant("/u1/"), ring().signing_key());
        for (bad, reason) in [
            (format!("{value}.x"), Deny::Malformed),
            (value.replacen("1.", "2.", 1), Deny::UnsupportedVersion),
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
