//! The authorizer against a memory store, a store that is down, and the selection rules.

use super::*;
use crate::canonical::CanonicalPath;
use crate::clock::FixedClock;
use crate::store::StoreFuture;
use jsonwebtoken::{Algorithm, EncodingKey};

const SECRET: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8";
const NOW: UnixTime = UnixTime(1_800_000_000);

#[derive(Debug)]
struct DownStore;

fn down<T>() -> Result<T, StoreError> {
    Err(StoreError::Unavailable("down".into()))
}

impl ReplayStore for DownStore {
    fn check_and_record<'a>(&'a self, _: &'a StoreId<'a>, _: UnixTime) -> StoreFuture<'a> {
        Box::pin(std::future::ready(down()))
    }

    fn revoke<'a>(&'a self, _: &'a StoreId<'a>, _: UnixTime) -> StoreFuture<'a, ()> {
        Box::pin(std::future::ready(down()))
    }

    fn is_revoked<'a>(&'a self, _: &'a StoreId<'a>) -> StoreFuture<'a> {
        Box::pin(std::future::ready(down()))
    }

    fn revoke_issued_before<'a>(
        &'a self,
        _: &'a StoreId<'a>,
        _: UnixTime,
        _: UnixTime,
    ) -> StoreFuture<'a, ()> {
        Box::pin(std::future::ready(down()))
    }

    fn latest_cut_off<'a>(&'a self, _: &'a [StoreId<'a>]) -> StoreFuture<'a, Option<UnixTime>> {
        Box::pin(std::future::ready(down()))
    }

    fn ping(&self) -> StoreFuture<'_, ()> {
        Box::pin(std::future::ready(down()))
    }
}

fn authorizer(store: Arc<dyn ReplayStore>) -> Authorizer {
    let keys = Arc::new(KeyRing::parse(&format!("k1:{SECRET}")).unwrap());
    let jwt_keys = jwt::keys::parse_hmac_keys(&format!("j1:HS256:{SECRET}")).unwrap();
    let verifier = jwt::JwtVerifier::new(jwt_keys, jwt::JwtPolicy::default()).unwrap();
    Authorizer {
        jwt: Some(Arc::new(verifier)),
        store,
        ..Authorizer::new(keys, Policy::default())
    }
}

fn token(once: bool) -> String {
    let grant = jwt::TokenGrant {
        path: CanonicalPath::parse(b"/a.jpg").unwrap(),
        scope: None,
        iat: NOW,
        exp: NOW.plus(60),
        audience: "keyhole".into(),
        once,
        ip: None,
        methods: None,
        uses: None,
    };
    let secret = crate::keys::Secret::from_base64url(SECRET).unwrap();
    jwt::mint(
        &grant,
        "j1",
        Algorithm::HS256,
        &EncodingKey::from_secret(secret.expose()),
    )
    .unwrap()
}

async fn decide(authorizer: &Authorizer, target: &str) -> Decision {
    let headers = NginxHeaders::new(target.as_bytes(), b"GET", b"127.0.0.1");
    match headers.parse() {
        Ok(request) => authorizer.decide_request(&request, NOW).await.decision,
        Err(reason) => Decision::Deny(reason),
    }
}

#[tokio::test]
async fn single_use_tokens_are_recorded_and_fail_closed() {
    let memory = Arc::new(MemoryStore::new(10, Arc::new(FixedClock(NOW))));
    let authorizer = authorizer(memory);
    let once = format!("/a.jpg?token={}", token(true));
    assert_eq!(
        decide(&authorizer, &once).await,
        Decision::Allow(Grant::uncacheable(Credential::Jwt))
    );
    assert_eq!(
        decide(&authorizer, &once).await,
        Decision::Deny(Deny::Replayed)
    );
    // `decide` (explain) never consumes a use.
    let headers = NginxHeaders::new(once.as_bytes(), b"GET", b"127.0.0.1");
    assert!(authorizer.decide(&headers, NOW).is_allow());

    let down = authorizer_with_down_store();
    assert_eq!(
        decide(&down, &once).await,
        Decision::Deny(Deny::StoreUnavailable)
    );
    // A reusable token still needs the store for its revocations (token id, key
    // and subject cut-offs), so it fails closed too; a signed URL does not.
    let reusable = format!("/a.jpg?token={}", token(false));
    assert_eq!(
        decide(&down, &reusable).await,
        Decision::Deny(Deny::StoreUnavailable)
    );
    let grant = signed_url::UrlGrant::new(CanonicalPath::parse(b"/a.jpg").unwrap(), NOW.plus(60));
    let url = signed_url::sign(&grant, down.keys.signing_key()).unwrap();
    assert!(decide(&down, &url).await.is_allow());
}

#[tokio::test]
async fn token_ids_and_issued_before_cut_offs_revoke_tokens() {
    let memory = Arc::new(MemoryStore::new(10, Arc::new(FixedClock(NOW))));
    let authorizer = authorizer(Arc::clone(&memory) as Arc<dyn ReplayStore>);
    let reusable = format!("/a.jpg?token={}", token(false));
    assert!(decide(&authorizer, &reusable).await.is_allow());
    // A cut-off at iat does not revoke (iat < T is required); one after it does.
    let until = NOW.plus(3600);
    memory
        .revoke_issued_before(&StoreId::KeyCutOff("j1"), NOW, until)
        .await
        .unwrap();
    assert!(decide(&authorizer, &reusable).await.is_allow());
    memory
        .revoke_issued_before(&StoreId::KeyCutOff("j1"), NOW.plus(1), until)
        .await
        .unwrap();
    assert_eq!(
        decide(&authorizer, &reusable).await,
        Decision::Deny(Deny::Revoked)
    );
    // Another key's cut-off, or a subject's, does not touch this token (no `sub`).
    let fresh = Arc::new(MemoryStore::new(10, Arc::new(FixedClock(NOW))));
    let authorizer = authorizer_with(Arc::clone(&fresh) as Arc<dyn ReplayStore>);
    fresh
        .revoke_issued_before(&StoreId::KeyCutOff("j2"), NOW.plus(1), until)
        .await
        .unwrap();
    fresh
        .revoke_issued_before(&StoreId::SubjectCutOff("alice"), NOW.plus(1), until)
        .await
        .unwrap();
    assert!(decide(&authorizer, &reusable).await.is_allow());
    // A single-use token carries a jti: revoking it denies before any use is taken.
    let once = token(true);
    let jti = claim(&once, "jti");
    fresh
        .revoke(
            &StoreId::RevokedToken {
                kid: "j1",
                jti: &jti,
            },
            until,
        )
        .await
        .unwrap();
    assert_eq!(
        decide(&authorizer, &format!("/a.jpg?token={once}")).await,
        Decision::Deny(Deny::Revoked)
    );
}

fn authorizer_with(store: Arc<dyn ReplayStore>) -> Authorizer {
    authorizer(store)
}

/// A string claim of a token, read without verifying (test helper).
fn claim(token: &str, name: &str) -> String {
    use base64::Engine as _;
    let payload = token.split('.').nth(1).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    let value: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    value[name].as_str().unwrap().to_owned()
}

fn authorizer_with_down_store() -> Authorizer {
    authorizer(Arc::new(DownStore))
}

/// Runs the exchange for `target` (`/_keyhole/session?…`) and parses the cookie it
/// sets back into its grant.
async fn exchange_grant(
    authorizer: &Authorizer,
    target: &str,
    method: &str,
    ip: &str,
    fetch_site: Option<&[u8]>,
) -> Result<cookie::CookieGrant, Deny> {
    use crate::request::HeaderField;
    let headers = NginxHeaders {
        fetch_site: fetch_site.map_or(HeaderField::Missing, HeaderField::One),
        ..NginxHeaders::new(target.as_bytes(), method.as_bytes(), ip.as_bytes())
    };
    let request = headers.parse()?;
    let exchange = authorizer.exchange(&request, NOW).await?;
    let value = exchange
        .set_cookie
        .strip_prefix("__Host-keyhole=")
        .and_then(|rest| rest.split(';').next())
        .unwrap()
        .to_owned();
    Ok(cookie::SignedCookie::parse(&value).unwrap().grant)
}

fn scope_url(adjust: impl FnOnce(&mut signed_url::UrlGrant)) -> String {
    let mut grant =
        signed_url::UrlGrant::new(CanonicalPath::parse(b"/u1/a.jpg").unwrap(), NOW.plus(600));
    grant.scope = Some(crate::canonical::Scope::parse(b"/u1/").unwrap());
    adjust(&mut grant);
    let keys = KeyRing::parse(&format!("k1:{SECRET}")).unwrap();
    let url = signed_url::sign(&grant, keys.signing_key()).unwrap();
    let query = url.split_once('?').unwrap().1;
    format!("/_keyhole/session?{query}")
}

/// Regression (attack run): the exchange dropped the address and method bindings.
#[tokio::test]
async fn the_exchange_carries_address_and_method_bindings_into_the_cookie() {
    let authorizer = authorizer(Arc::new(MemoryStore::new(10, Arc::new(FixedClock(NOW)))));
    let run = |target: String, method: &'static str, ip: &'static str| {
        let authorizer = authorizer.clone();
        async move { exchange_grant(&authorizer, &target, method, ip, None).await }
    };
    let plain = run(scope_url(|_| {}), "GET", "10.1.2.3").await.unwrap();
    assert_eq!((plain.ip, plain.methods), (None, CookieMethods::GetHead));

    let bound = scope_url(|g| g.ip = Some(IpBinding::parse("10.1.0.0/16").unwrap()));
    let grant = run(bound.clone(), "GET", "10.1.2.3").await.unwrap();
    assert_eq!(
        grant.ip.map(|ip| ip.to_string()).as_deref(),
        Some("10.1.0.0/16")
    );
    assert_eq!(run(bound, "GET", "10.2.0.1").await, Err(Deny::IpMismatch));

    let head = scope_url(|g| g.methods = Some(Methods::parse("HEAD").unwrap()));
    let grant = run(head.clone(), "HEAD", "10.1.2.3").await.unwrap();
    assert_eq!(grant.methods, CookieMethods::Head);
    assert_eq!(
        run(head, "GET", "10.1.2.3").await,
        Err(Deny::MethodNotAllowed)
    );

    let wide = scope_url(|g| g.methods = Some(Methods::parse("PUT,GET").unwrap()));
    let grant = run(wide.clone(), "PUT", "10.1.2.3").await.unwrap();
    assert_eq!(grant.methods, CookieMethods::Get);

    // No GET or HEAD at all: nothing to carry, the exchange refuses.
    let post = scope_url(|g| g.methods = Some(Methods::parse("POST").unwrap()));
    assert_eq!(
        run(post, "POST", "10.1.2.3").await,
        Err(Deny::MethodNotAllowed)
    );

    // A bound query cannot be carried: refused rather than dropped.
    let query = scope_url(|g| g.query = Some("w=100".into()));
    assert_eq!(
        run(query, "GET", "10.1.2.3").await,
        Err(Deny::NotExchangeable)
    );

    // Not yet valid: refused (the cookie would otherwise start early).
    let later = scope_url(|g| g.nbf = Some(NOW.plus(300)));
    assert_eq!(run(later, "GET", "10.1.2.3").await, Err(Deny::NotYetValid));
}

#[tokio::test]
async fn a_scope_jwt_keeps_its_bindings_through_the_exchange() {
    let authorizer = authorizer(Arc::new(MemoryStore::new(10, Arc::new(FixedClock(NOW)))));
    let secret = crate::keys::Secret::from_base64url(SECRET).unwrap();
    let mint = |claims: serde_json::Value| {
        let mut header = jsonwebtoken::Header::new(Algorithm::HS256);
        header.typ = Some(jwt::TOKEN_TYPE.into());
        header.kid = Some("j1".into());
        let token =
            jsonwebtoken::encode(&header, &claims, &EncodingKey::from_secret(secret.expose()))
                .unwrap();
        format!("/_keyhole/session?token={token}")
    };
    let claims = |extra: serde_json::Value| {
        let mut claims = serde_json::json!({
            "aud": "keyhole", "iat": NOW.0, "exp": NOW.0 + 120, "kh_scope": "/u1/"
        });
        claims
            .as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        claims
    };
    let target = mint(claims(
        serde_json::json!({"kh_ip": "2001:db8::/32", "kh_m": "HEAD"}),
    ));
    let grant = exchange_grant(&authorizer, &target, "HEAD", "2001:db8::1", None)
        .await
        .unwrap();
    assert_eq!(
        grant.ip.map(|ip| ip.to_string()).as_deref(),
        Some("2001:db8::/32")
    );
    assert_eq!(grant.methods, CookieMethods::Head);
    assert_eq!(grant.exp, NOW.plus(120));
    let target = mint(claims(serde_json::json!({"kh_m": "DELETE"})));
    assert_eq!(
        exchange_grant(&authorizer, &target, "DELETE", "192.0.2.1", None).await,
        Err(Deny::MethodNotAllowed)
    );
}

/// Login CSRF: a cross-site navigation cannot trade a grant for a cookie.
#[tokio::test]
async fn the_exchange_refuses_cross_site_navigations() {
    let authorizer = authorizer(Arc::new(MemoryStore::new(10, Arc::new(FixedClock(NOW)))));
    for site in [&b"cross-site"[..], b"bogus"] {
        assert_eq!(
            exchange_grant(
                &authorizer,
                &scope_url(|_| {}),
                "GET",
                "10.0.0.1",
                Some(site)
            )
            .await,
            Err(Deny::CrossSite)
        );
    }
    for site in [&b"same-origin"[..], b"same-site", b"none"] {
        assert!(
            exchange_grant(
                &authorizer,
                &scope_url(|_| {}),
                "GET",
                "10.0.0.1",
                Some(site)
            )
            .await
            .is_ok()
        );
    }
}

#[tokio::test]
async fn two_kinds_of_credential_are_ambiguous() {
    let authorizer = authorizer_with_down_store();
    let target = format!("/a.jpg?kh_v=1&token={}", token(false));
    assert_eq!(
        decide(&authorizer, &target).await,
        Decision::Deny(Deny::AmbiguousCredential)
    );
    assert_eq!(
        decide(&authorizer, "/a.jpg").await,
        Decision::Deny(Deny::MissingCredential)
    );
    // Without JWT keys, the parameter is not a credential.
    let plain = Authorizer::new(Arc::clone(&authorizer.keys), Policy::default());
    let target = format!("/a.jpg?token={}", token(false));
    assert_eq!(
        decide(&plain, &target).await,
        Decision::Deny(Deny::MissingCredential)
    );
}

#[tokio::test]
async fn the_credential_chosen_comes_back_with_the_decision() {
    let memory = Arc::new(MemoryStore::new(10, Arc::new(FixedClock(NOW))));
    let authorizer = authorizer(memory);
    let url = signed_url::sign(
        &signed_url::UrlGrant::new(CanonicalPath::parse(b"/a.jpg").unwrap(), NOW.plus(60)),
        authorizer.keys.signing_key(),
    )
    .unwrap();
    let jwt = format!("/a.jpg?token={}", token(false));
    let both = format!("{url}&token={}", token(false));
    let cookie = |header: &'static [u8]| (b"/a.jpg".as_slice(), Some(header));
    // Target, Cookie header, what it presents, the reason code.
    type Case<'a> = (&'a [u8], Option<&'a [u8]>, Presented, &'a str);
    let cases: [Case<'_>; 8] = [
        (url.as_bytes(), None, Presented::SignedUrl, "ok"),
        (jwt.as_bytes(), None, Presented::Jwt, "ok"),
        (
            both.as_bytes(),
            None,
            Presented::Ambiguous,
            "ambiguous-credential",
        ),
        (b"/a.jpg", None, Presented::Nothing, "missing-credential"),
        (
            cookie(b"other=1").0,
            cookie(b"other=1").1,
            Presented::Nothing,
            "missing-credential",
        ),
        (
            b"/a.jpg",
            Some(b"__Host-keyhole=x"),
            Presented::Cookie,
            "malformed",
        ),
        (
            b"/a.jpg",
            Some(b"__Host-keyhole=x; __Host-keyhole=y"),
            Presented::Cookie,
            "duplicate-cookie",
        ),
        // A URL credential wins: the cookie is not even read.
        (
            url.as_bytes(),
            Some(b"__Host-keyhole=x"),
            Presented::SignedUrl,
            "ok",
        ),
    ];
    for (target, cookie_header, presented, code) in cases {
        let mut headers = NginxHeaders::new(target, b"GET", b"127.0.0.1");
        if let Some(value) = cookie_header {
            headers.cookie = crate::request::HeaderField::One(value);
        }
        let request = headers.parse().unwrap();
        let outcome = authorizer.decide_request(&request, NOW).await;
        assert_eq!(
            (outcome.presented, outcome.decision.code()),
            (presented, code),
            "{}",
            String::from_utf8_lossy(target)
        );
    }
}

/// A JWT exchanged for a cookie: the JWT key's limits are checked on the scope, and
/// the cookie is signed with the first signed-URL key whose limits cover the scope,
/// so the cookie keeps a key's limits; no such key, no cookie.
#[tokio::test]
async fn a_jwt_cookie_is_signed_by_a_key_whose_limits_cover_its_scope() {
    let keys = KeyRing::parse(&format!("a:{SECRET};paths=/a/,b:{SECRET};paths=/b/")).unwrap();
    let jwt_keys = jwt::keys::parse_hmac_keys(&format!("j1:HS256:{SECRET};paths=/b/|/c/")).unwrap();
    let verifier = jwt::JwtVerifier::new(jwt_keys, jwt::JwtPolicy::default()).unwrap();
    let authorizer = Authorizer {
        jwt: Some(Arc::new(verifier)),
        store: Arc::new(MemoryStore::new(10, Arc::new(FixedClock(NOW)))),
        ..Authorizer::new(Arc::new(keys), Policy::default())
    };
    let secret = crate::keys::Secret::from_base64url(SECRET).unwrap();
    let link = |scope: &str| {
        let mut header = jsonwebtoken::Header::new(Algorithm::HS256);
        header.typ = Some(jwt::TOKEN_TYPE.into());
        header.kid = Some("j1".into());
        let claims = serde_json::json!({
            "aud": "keyhole", "iat": NOW.0, "exp": NOW.0 + 120, "kh_scope": scope
        });
        let token =
            jsonwebtoken::encode(&header, &claims, &EncodingKey::from_secret(secret.expose()))
                .unwrap();
        format!("/_keyhole/session?token={token}")
    };
    let exchange = |target: String| {
        let authorizer = &authorizer;
        async move {
            let headers = NginxHeaders::new(target.as_bytes(), b"GET", b"127.0.0.1");
            authorizer.exchange(&headers.parse().unwrap(), NOW).await
        }
    };
    let made = exchange(link("/b/u1/")).await.unwrap();
    assert!(
        made.set_cookie.starts_with("__Host-keyhole=2.b."),
        "{}",
        made.set_cookie
    );
    // Inside the JWT key's limits, but no signed-URL key may grant it.
    assert_eq!(exchange(link("/c/")).await, Err(Deny::KeyOutOfScope));
    // Outside the JWT key's limits.
    assert_eq!(exchange(link("/a/")).await, Err(Deny::KeyOutOfScope));
}
