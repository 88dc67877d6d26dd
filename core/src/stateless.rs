//! What a front end with no store and no network (the nginx module) may decide on its
//! own, by the service's rules: the one credential a request carries is chosen as the
//! service chooses it (a credential in the URL wins, two kinds in the URL are
//! ambiguous, the cookie is read only when the URL has none), then a signed URL or a
//! cookie grant without a session id is verified by the same verifier the service
//! calls. A JWT is verified here too when the caller holds the service's HMAC JWT keys
//! ([`Tokens::Decide`]) and the token needs no store: no use limit (`kh_once`,
//! `kh_uses`, or every token under `single_use = always`), a key id the caller knows.
//! Revocations of JWTs live in the store and are NOT checked for a JWT decided here.
//! Everything else (such a JWT, a JWT when the caller holds no JWT keys, a cookie with
//! a session id, which may be revoked) is [`Stateless::NeedsService`]: the caller
//! hands it to the service unchanged.

use crate::clock::UnixTime;
use crate::decision::{Credential, Deny, Grant};
use crate::keys::KeyRing;
use crate::request::AuthRequest;
use crate::verify::jwt::JwtVerifier;
use crate::verify::{Policy, cookie, signed_url};

/// The stateless front end's answer about one request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Stateless<'a> {
    /// Decided here: allowed, with the key id that signed.
    Allow {
        /// What allowed it.
        grant: Grant,
        /// The signing key's id (public), for a signed URL.
        kid: Option<&'a str>,
    },
    /// Decided here: denied, for this reason.
    Deny {
        /// Why.
        reason: Deny,
        /// The credential the request presented, when one was chosen.
        credential: Option<Credential>,
    },
    /// Not decidable without the store or the network: the service decides it.
    NeedsService(Credential),
}

/// What the front end knows about JWTs.
#[derive(Clone, Copy, Debug)]
pub enum Tokens<'v> {
    /// The service has no JWT keys: it reads no token, and neither does this.
    Off,
    /// The service has JWT keys; a token in this query parameter
    /// (`KEYHOLE_JWT_PARAM`) is recognised and handed on.
    HandOn(&'v str),
    /// The service's HMAC JWT keys and token rules (`KEYHOLE_JWT_KEYS_FILE`, audience,
    /// issuers, lifetime, single-use policy): a token that needs no store is decided
    /// here by the service's own verifier.
    Decide(&'v JwtVerifier),
}

impl Tokens<'_> {
    fn param(&self) -> Option<&str> {
        match self {
            Tokens::Off => None,
            Tokens::HandOn(param) => Some(param),
            Tokens::Decide(verifier) => Some(&verifier.policy.param),
        }
    }
}

/// Decides `request` with what needs no store and no network. `tokens` says whether
/// the service reads JWTs and under which parameter (so a token is recognised exactly
/// when the service would see one), and whether this caller may verify them; `cookies`
/// is the service's cookie policy (name, lifetime, cross-site rules).
pub fn decide<'a>(
    request: &AuthRequest<'a>,
    keys: &KeyRing,
    policy: &Policy,
    cookies: &cookie::CookiePolicy,
    tokens: Tokens<'_>,
    now: UnixTime,
) -> Stateless<'a> {
    let signed = signed_url::is_present(&request.params);
    let token = tokens
        .param()
        .is_some_and(|name| request.params.iter().any(|param| param.name == name));
    match (signed, token) {
        (true, true) => deny(Deny::AmbiguousCredential, None),
        (true, false) => {
            let url = match signed_url::SignedUrl::parse(&request.params) {
                Ok(url) => url,
                Err(reason) => return deny(reason, Some(Credential::SignedUrl)),
            };
            match url.verify(request, keys, policy, now) {
                Ok(grant) => Stateless::Allow {
                    grant,
                    kid: Some(url.kid),
                },
                Err(reason) => deny(reason, Some(Credential::SignedUrl)),
            }
        }
        (false, true) => match tokens {
            Tokens::Decide(verifier) => decide_token(request, verifier, now),
            Tokens::Off | Tokens::HandOn(_) => Stateless::NeedsService(Credential::Jwt),
        },
        (false, false) => decide_cookie(request, keys, policy, cookies, now),
    }
}

/// A JWT, with the service's verifier over the keys this caller holds.
fn decide_token<'a>(
    request: &AuthRequest<'a>,
    verifier: &JwtVerifier,
    now: UnixTime,
) -> Stateless<'a> {
    // Without a key id the service may pick a key this caller does not hold.
    if verifier.token_lacks_kid(&request.params) {
        return Stateless::NeedsService(Credential::Jwt);
    }
    match verifier.verify(request, now) {
        // A use limit is counted in the store.
        Ok(grant) if grant.uses.is_some() => Stateless::NeedsService(Credential::Jwt),
        // Never cacheable, as the service's JWT allows.
        Ok(_) => Stateless::Allow {
            grant: Grant::uncacheable(Credential::Jwt),
            kid: None,
        },
        // The service may hold the key (a public key, a remote JWKS).
        Err(Deny::UnknownKey) => Stateless::NeedsService(Credential::Jwt),
        Err(reason) => deny(reason, Some(Credential::Jwt)),
    }
}

/// The cookie, read only when the URL carries no credential.
fn decide_cookie<'a>(
    request: &AuthRequest<'a>,
    keys: &KeyRing,
    policy: &Policy,
    cookies: &cookie::CookiePolicy,
    now: UnixTime,
) -> Stateless<'a> {
    let Some(header) = request.cookie else {
        return deny(Deny::MissingCredential, None);
    };
    let Ok(header) = std::str::from_utf8(header) else {
        return deny(Deny::Malformed, None);
    };
    let value = match cookie::find(header, &cookies.name) {
        Ok(Some(value)) => value,
        Ok(None) => return deny(Deny::MissingCredential, None),
        Err(reason) => return deny(reason, Some(Credential::Cookie)),
    };
    let checked = cookies
        .check_site(request.fetch_site, request.referer)
        .and_then(|()| cookie::SignedCookie::parse(&value));
    let signed = match checked {
        Ok(signed) => signed,
        Err(reason) => return deny(reason, Some(Credential::Cookie)),
    };
    // A session can be revoked: only the service's store knows.
    if signed.grant.sid.is_some() {
        return Stateless::NeedsService(Credential::Cookie);
    }
    match signed.verify(request, keys, policy, cookies.max_lifetime, now) {
        // The cookie's key id is borrowed from the header's decoded value, which does
        // not outlive this call.
        Ok(grant) => Stateless::Allow { grant, kid: None },
        Err(reason) => deny(reason, Some(Credential::Cookie)),
    }
}

fn deny<'a>(reason: Deny, credential: Option<Credential>) -> Stateless<'a> {
    Stateless::Deny { reason, credential }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::canonical::{CanonicalPath, Scope};
    use crate::claims::CookieMethods;
    use crate::request::{HeaderField, NginxHeaders};
    use crate::verify::cookie::{CookieGrant, SessionId};
    use crate::verify::signed_url::UrlGrant;

    const SECRET: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8";
    const NOW: UnixTime = UnixTime(1_800_000_000);

    fn ring() -> KeyRing {
        KeyRing::parse(&format!("k1:{SECRET}")).unwrap()
    }

    fn url(path: &str) -> String {
        let grant = UrlGrant::new(
            CanonicalPath::parse(path.as_bytes()).unwrap(),
            NOW.plus(600),
        );
        signed_url::sign(&grant, ring().signing_key()).unwrap()
    }

    fn cookie(sid: Option<&str>) -> String {
        let grant = CookieGrant {
            scope: Scope::parse(b"/a/").unwrap(),
            exp: NOW.plus(600),
            sid: sid.map(|s| SessionId::parse(s).unwrap()),
            ip: None,
            methods: CookieMethods::default(),
        };
        format!(
            "__Host-keyhole={}",
            cookie::sign(&grant, ring().signing_key()).unwrap()
        )
    }

    fn decide_uri(uri: &str, cookie: Option<&str>) -> Stateless<'static> {
        let uri: &'static str = Box::leak(uri.to_owned().into_boxed_str());
        let mut headers = NginxHeaders::new(uri.as_bytes(), b"GET", b"10.0.0.1");
        if let Some(cookie) = cookie {
            let cookie: &'static str = Box::leak(cookie.to_owned().into_boxed_str());
            headers.cookie = HeaderField::One(cookie.as_bytes());
        }
        let request = headers.parse().unwrap();
        let keys = ring();
        decide(
            &request,
            &keys,
            &Policy::default(),
            &cookie::CookiePolicy::default(),
            Tokens::HandOn("token"),
            NOW,
        )
    }

    #[test]
    fn a_signed_url_is_decided_here_with_its_key_id() {
        let uri = url("/a/b.jpg");
        assert!(matches!(
            decide_uri(&uri, None),
            Stateless::Allow {
                kid: Some("k1"),
                ..
            }
        ));
        let tampered = uri.replace("/a/b.jpg", "/a/c.jpg");
        assert_eq!(
            decide_uri(&tampered, None),
            Stateless::Deny {
                reason: Deny::BadSignature,
                credential: Some(Credential::SignedUrl)
            }
        );
    }

    #[test]
    fn a_url_credential_wins_and_two_kinds_are_ambiguous() {
        let uri = url("/a/b.jpg");
        // A failing URL credential never falls through to a valid cookie.
        let broken = uri.replace("kh_sig=", "kh_sig=A");
        assert!(matches!(
            decide_uri(&broken, Some(&cookie(None))),
            Stateless::Deny {
                credential: Some(Credential::SignedUrl),
                ..
            }
        ));
        assert_eq!(
            decide_uri(&format!("{uri}&token=x"), None),
            Stateless::Deny {
                reason: Deny::AmbiguousCredential,
                credential: None
            }
        );
    }

    #[test]
    fn tokens_and_session_cookies_need_the_service() {
        assert_eq!(
            decide_uri("/a/b.jpg?token=x", None),
            Stateless::NeedsService(Credential::Jwt)
        );
        assert_eq!(
            decide_uri("/a/b.jpg", Some(&cookie(Some("s1")))),
            Stateless::NeedsService(Credential::Cookie)
        );
    }

    #[test]
    fn a_cookie_without_a_session_is_decided_here() {
        assert!(matches!(
            decide_uri("/a/b.jpg", Some(&cookie(None))),
            Stateless::Allow { kid: None, .. }
        ));
        assert_eq!(
            decide_uri("/b/c.jpg", Some(&cookie(None))),
            Stateless::Deny {
                reason: Deny::OutOfScope,
                credential: Some(Credential::Cookie)
            }
        );
        assert_eq!(
            decide_uri("/a/b.jpg", None),
            Stateless::Deny {
                reason: Deny::MissingCredential,
                credential: None
            }
        );
    }
}

#[cfg(test)]
mod without_jwt {
    use super::*;
    use crate::canonical::CanonicalPath;
    use crate::request::NginxHeaders;
    use crate::verify::signed_url::UrlGrant;

    #[test]
    fn without_jwt_keys_a_token_parameter_is_an_ordinary_parameter() {
        let keys = KeyRing::parse("k1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8").unwrap();
        let now = UnixTime(1_800_000_000);
        let grant = UrlGrant::new(CanonicalPath::parse(b"/a").unwrap(), now.plus(60));
        let uri = format!(
            "{}&token=x",
            signed_url::sign(&grant, keys.signing_key()).unwrap()
        );
        let headers = NginxHeaders::new(uri.as_bytes(), b"GET", b"10.0.0.1");
        let request = headers.parse().unwrap();
        let policy = Policy::default();
        let cookies = cookie::CookiePolicy::default();
        let verdict = decide(&request, &keys, &policy, &cookies, Tokens::Off, now);
        assert!(matches!(verdict, Stateless::Allow { .. }), "{verdict:?}");
        let verdict = decide(
            &request,
            &keys,
            &policy,
            &cookies,
            Tokens::HandOn("token"),
            now,
        );
        assert!(matches!(
            verdict,
            Stateless::Deny {
                reason: Deny::AmbiguousCredential,
                ..
            }
        ));
    }
}

#[cfg(test)]
mod with_jwt_keys {
    use super::*;
    use crate::request::NginxHeaders;
    use crate::verify::jwt::{self, JwtPolicy, SingleUse};
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    const SECRET: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8";
    const NOW: UnixTime = UnixTime(1_800_000_000);

    fn verifier(single_use: SingleUse) -> JwtVerifier {
        let keys = jwt::keys::parse_hmac_keys(&format!("h1:HS256:{SECRET}")).unwrap();
        let policy = JwtPolicy {
            single_use,
            ..JwtPolicy::default()
        };
        JwtVerifier::new(keys, policy).unwrap()
    }

    fn token(header: &str, claims: &str) -> String {
        let (kid, alg, key) = verifier(SingleUse::OnRequest).signing_key().unwrap();
        assert_eq!(kid, "h1");
        let message = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header),
            URL_SAFE_NO_PAD.encode(claims)
        );
        let signature = jsonwebtoken::crypto::sign(message.as_bytes(), &key, alg).unwrap();
        format!("{message}.{signature}")
    }

    const HEADER: &str = r#"{"alg":"HS256","typ":"keyhole+jwt","kid":"h1"}"#;

    fn claims(extra: &str) -> String {
        format!(
            r#"{{"aud":"keyhole","iat":{},"exp":{},"kh_path":"/a/b.jpg"{extra}}}"#,
            NOW.0,
            NOW.0 + 60
        )
    }

    fn decide_token(path: &str, token: &str, single_use: SingleUse) -> Stateless<'static> {
        let uri = format!("{path}?token={token}");
        let uri: &'static str = Box::leak(uri.into_boxed_str());
        let headers = NginxHeaders::new(uri.as_bytes(), b"GET", b"10.0.0.1");
        let request = headers.parse().unwrap();
        let keys = KeyRing::parse(&format!("k1:{SECRET}")).unwrap();
        let verifier = verifier(single_use);
        decide(
            &request,
            &keys,
            &Policy::default(),
            &cookie::CookiePolicy::default(),
            Tokens::Decide(&verifier),
            NOW,
        )
    }

    fn denied(reason: Deny) -> Stateless<'static> {
        Stateless::Deny {
            reason,
            credential: Some(Credential::Jwt),
        }
    }

    #[test]
    fn an_hmac_token_without_use_limits_is_decided_here() {
        let good = token(HEADER, &claims(""));
        assert_eq!(
            decide_token("/a/b.jpg", &good, SingleUse::OnRequest),
            Stateless::Allow {
                grant: Grant::uncacheable(Credential::Jwt),
                kid: None
            }
        );
        assert_eq!(
            decide_token("/a/c.jpg", &good, SingleUse::OnRequest),
            denied(Deny::OutOfScope)
        );
        let tampered = good.replace('.', ".x");
        assert!(matches!(
            decide_token("/a/b.jpg", &tampered, SingleUse::OnRequest),
            Stateless::Deny { .. }
        ));
        let other_audience = token(HEADER, &claims("").replace("keyhole", "other"));
        assert_eq!(
            decide_token("/a/b.jpg", &other_audience, SingleUse::OnRequest),
            denied(Deny::WrongAudience)
        );
    }

    #[test]
    fn what_needs_the_store_or_another_key_is_handed_on() {
        let once = token(HEADER, &claims(r#","jti":"j1","kh_once":true"#));
        assert_eq!(
            decide_token("/a/b.jpg", &once, SingleUse::OnRequest),
            Stateless::NeedsService(Credential::Jwt)
        );
        let plain = token(HEADER, &claims(r#","jti":"j2""#));
        assert_eq!(
            decide_token("/a/b.jpg", &plain, SingleUse::Always),
            Stateless::NeedsService(Credential::Jwt)
        );
        let unknown = token(&HEADER.replace("\"h1\"", "\"rs1\""), &claims(""));
        assert_eq!(
            decide_token("/a/b.jpg", &unknown, SingleUse::OnRequest),
            Stateless::NeedsService(Credential::Jwt)
        );
        let no_kid = token(r#"{"alg":"HS256","typ":"keyhole+jwt"}"#, &claims(""));
        assert_eq!(
            decide_token("/a/b.jpg", &no_kid, SingleUse::OnRequest),
            Stateless::NeedsService(Credential::Jwt)
        );
    }
}
