//! Unit tests for the JWT verifier: hand-built tokens, a fixed clock.

use std::net::IpAddr;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::EncodingKey;
use serde_json::json;

use super::*;
use crate::keys::Secret;
use crate::request::NginxHeaders;

const SECRET: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8";
const NOW: u64 = 1_800_000_000;

fn verifier() -> JwtVerifier {
    let keys = keys::parse_hmac_keys(&format!("j1:HS256:{SECRET},j2:HS512:{SECRET}")).unwrap();
    JwtVerifier::new(keys, JwtPolicy::default()).unwrap()
}

fn b64(value: &serde_json::Value) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(value).unwrap())
}

/// Signs raw header and claims JSON text with the HS256 test key.
fn sign_raw(header: &str, claims: &str, alg: Algorithm) -> String {
    let message = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header),
        URL_SAFE_NO_PAD.encode(claims)
    );
    let secret = Secret::from_base64url(SECRET).unwrap();
    let key = EncodingKey::from_secret(secret.expose());
    let signature = jsonwebtoken::crypto::sign(message.as_bytes(), &key, alg).unwrap();
    format!("{message}.{signature}")
}

fn header() -> serde_json::Value {
    json!({"alg": "HS256", "typ": "keyhole+jwt", "kid": "j1"})
}

fn claims() -> serde_json::Value {
    json!({"aud": "keyhole", "iat": NOW, "exp": NOW + 60, "kh_path": "/a.jpg"})
}

fn token(header: &serde_json::Value, claims: &serde_json::Value) -> String {
    sign_raw(&header.to_string(), &claims.to_string(), Algorithm::HS256)
}

fn check_at(token: &str, path: &str, now: u64) -> Result<JwtGrant, Deny> {
    let uri = format!("{path}?token={token}");
    let headers = NginxHeaders::new(uri.as_bytes(), b"GET", b"10.0.0.1");
    let request = headers.parse()?;
    verifier().verify(&request, UnixTime(now))
}

fn check(token: &str) -> Result<JwtGrant, Deny> {
    check_at(token, "/a.jpg", NOW)
}

fn with(mut value: serde_json::Value, key: &str, field: serde_json::Value) -> serde_json::Value {
    value.as_object_mut().unwrap().insert(key.into(), field);
    value
}

fn without(mut value: serde_json::Value, key: &str) -> serde_json::Value {
    value.as_object_mut().unwrap().remove(key);
    value
}

#[test]
fn a_good_token_passes() {
    assert_eq!(
        check(&token(&header(), &claims())),
        Ok(JwtGrant {
            uses: None,
            scope: None,
            exp: UnixTime(NOW + 60),
            ip: None,
            methods: Methods::default_methods(),
            revocation: Revocation {
                kid: "j1".into(),
                jti: None,
                subject: None,
                issued_at: UnixTime(NOW),
            },
        })
    );
}

#[test]
fn revocation_ids_name_the_token_id_key_and_subject() {
    let claims = with(with(claims(), "jti", json!("t-1")), "sub", json!("alice"));
    let grant = check(&token(&header(), &claims)).unwrap();
    assert_eq!(
        grant.revocation,
        Revocation {
            kid: "j1".into(),
            jti: Some("t-1".into()),
            subject: Some("alice".into()),
            issued_at: UnixTime(NOW),
        }
    );
    // `sub` must be a string, as RFC 7519 says.
    let bad = with(claims, "sub", json!(7));
    assert_eq!(check(&token(&header(), &bad)), Err(Deny::Malformed));
}

#[test]
fn minted_tokens_verify() {
    let secret = Secret::from_base64url(SECRET).unwrap();
    let grant = TokenGrant {
        path: CanonicalPath::parse(b"/d/a.jpg").unwrap(),
        scope: Some(Scope::parse(b"/d/").unwrap()),
        iat: UnixTime(NOW),
        exp: UnixTime(NOW + 60),
        audience: "keyhole".into(),
        once: true,
        ip: None,
        methods: None,
        uses: None,
    };
    let token = mint(
        &grant,
        "j1",
        Algorithm::HS256,
        &EncodingKey::from_secret(secret.expose()),
    )
    .unwrap();
    let grant = check_at(&token, "/d/b.jpg", NOW).unwrap();
    let uses = grant.uses.unwrap();
    assert_eq!(uses.count, 1);
    assert_eq!(uses.kid, "j1");
    assert_eq!(uses.expires_at, UnixTime(NOW + 90));
    assert_eq!(check_at(&token, "/e/b.jpg", NOW), Err(Deny::OutOfScope));
}

/// `kh_ip`, `kh_m` and `kh_uses` are minted as the verifier reads them; a grant the
/// verifier would refuse (`kh_uses` beyond 1..=8, or with `kh_once`) is not minted.
#[test]
fn minted_bindings_and_use_limits_verify() {
    let secret = Secret::from_base64url(SECRET).unwrap();
    let key = EncodingKey::from_secret(secret.expose());
    let mut grant = TokenGrant {
        path: CanonicalPath::parse(b"/d/a.jpg").unwrap(),
        scope: None,
        iat: UnixTime(NOW),
        exp: UnixTime(NOW + 60),
        audience: "keyhole".into(),
        once: false,
        ip: Some(IpBinding::parse("10.0.0.0/8").unwrap()),
        methods: Some(Methods::parse("GET").unwrap()),
        uses: Some(3),
    };
    let token = mint(&grant, "j1", Algorithm::HS256, &key).unwrap();
    let verified = check_at(&token, "/d/a.jpg", NOW).unwrap();
    assert_eq!(
        verified.ip.map(|ip| ip.to_string()).as_deref(),
        Some("10.0.0.0/8")
    );
    assert_eq!(verified.methods.as_str(), "GET");
    assert_eq!(verified.uses.unwrap().count, 3);
    for uses in [0, MAX_USES + 1] {
        grant.uses = Some(uses);
        assert!(matches!(
            mint(&grant, "j1", Algorithm::HS256, &key),
            Err(MintError::Uses(n)) if n == uses
        ));
    }
    grant.uses = Some(2);
    grant.once = true;
    assert!(matches!(
        mint(&grant, "j1", Algorithm::HS256, &key),
        Err(MintError::OnceAndUses)
    ));
}

#[test]
fn header_rules() {
    let cases = [
        (with(header(), "alg", json!("none")), Deny::AlgNotAllowed),
        (with(header(), "alg", json!("nOnE")), Deny::AlgNotAllowed),
        (with(header(), "alg", json!("HS512")), Deny::AlgNotAllowed),
        (with(header(), "alg", json!("RS256")), Deny::AlgNotAllowed),
        (with(header(), "alg", json!("hs256")), Deny::AlgNotAllowed),
        (with(header(), "alg", json!(1)), Deny::Malformed),
        (without(header(), "alg"), Deny::Malformed),
        (
            with(header(), "crit", json!(["exp"])),
            Deny::HeaderNotAllowed,
        ),
        (with(header(), "b64", json!(false)), Deny::HeaderNotAllowed),
        (
            with(header(), "jku", json!("http://127.0.0.1:1/")),
            Deny::HeaderNotAllowed,
        ),
        (
            with(header(), "x5u", json!("http://127.0.0.1:1/")),
            Deny::HeaderNotAllowed,
        ),
        (
            with(header(), "jwk", json!({"kty": "oct", "k": SECRET})),
            Deny::HeaderNotAllowed,
        ),
        (
            with(header(), "x5c", json!(["MIIB"])),
            Deny::HeaderNotAllowed,
        ),
        (with(header(), "cty", json!("JWT")), Deny::HeaderNotAllowed),
        (with(header(), "typ", json!("JWT")), Deny::NotAFileToken),
        (without(header(), "typ"), Deny::NotAFileToken),
        (with(header(), "kid", json!("nope")), Deny::UnknownKey),
        (
            with(header(), "kid", json!("../../etc/passwd")),
            Deny::UnknownKey,
        ),
        (
            with(header(), "kid", json!("' OR 1=1 --")),
            Deny::UnknownKey,
        ),
        (with(header(), "kid", json!(7)), Deny::Malformed),
        (without(header(), "kid"), Deny::UnknownKey),
    ];
    for (header, expected) in cases {
        assert_eq!(check(&token(&header, &claims())), Err(expected), "{header}");
    }
    assert!(
        check(&token(
            &with(header(), "typ", json!("application/KEYHOLE+JWT")),
            &claims()
        ))
        .is_ok()
    );
}

#[test]
fn shape_rules() {
    let good = token(&header(), &claims());
    let (message, signature) = good.rsplit_once('.').unwrap();
    let cases = [
        (message.to_string(), Deny::Malformed),
        (format!("{good}.x.y"), Deny::Malformed),
        (format!("{good}="), Deny::Malformed),
        (format!("{message}.{signature}+"), Deny::Malformed),
        (format!("{message}.{signature}/"), Deny::Malformed),
        (format!("{message}.{signature}%41"), Deny::Malformed),
        (format!("{message}."), Deny::BadSignature),
        ("a".repeat(MAX_TOKEN_LEN + 1), Deny::TokenTooLarge),
        (format!("{message}.{}A", signature), Deny::BadSignature),
    ];
    for (token, expected) in cases {
        assert_eq!(check(&token), Err(expected), "{token}");
    }
    // A padded header segment.
    let padded = format!("{}=.{}", b64(&header()), good.split_once('.').unwrap().1);
    assert_eq!(check(&padded), Err(Deny::Malformed));
}

#[test]
fn duplicate_keys_and_deep_json_are_malformed() {
    let dup_header = r#"{"alg":"HS256","typ":"keyhole+jwt","kid":"j1","kid":"j2"}"#;
    assert_eq!(
        check(&sign_raw(
            dup_header,
            &claims().to_string(),
            Algorithm::HS256
        )),
        Err(Deny::Malformed)
    );
    let dup_claims = format!(
        r#"{{"aud":"keyhole","iat":{NOW},"exp":{},"kh_path":"/b.jpg","kh_path":"/a.jpg"}}"#,
        NOW + 60
    );
    assert_eq!(
        check(&sign_raw(
            &header().to_string(),
            &dup_claims,
            Algorithm::HS256
        )),
        Err(Deny::Malformed)
    );
    let deep = format!(
        r#"{{"aud":"keyhole","iat":{NOW},"exp":{},"kh_path":"/a.jpg","x":{}1{}}}"#,
        NOW + 60,
        "[".repeat(3000),
        "]".repeat(3000)
    );
    let token = sign_raw(&header().to_string(), &deep, Algorithm::HS256);
    assert!(token.len() > MAX_TOKEN_LEN);
    let deep = format!(
        r#"{{"aud":"keyhole","iat":{NOW},"exp":{},"kh_path":"/a.jpg","x":{}1{}}}"#,
        NOW + 60,
        "[".repeat(1000),
        "]".repeat(1000)
    );
    let token = sign_raw(&header().to_string(), &deep, Algorithm::HS256);
    assert!(token.len() < MAX_TOKEN_LEN);
    assert_eq!(check(&token), Err(Deny::Malformed));
}

#[test]
fn claim_rules() {
    let cases = [
        (without(claims(), "exp"), Deny::MissingClaim),
        (without(claims(), "iat"), Deny::MissingClaim),
        (without(claims(), "aud"), Deny::MissingClaim),
        (
            with(claims(), "exp", json!((NOW + 60).to_string())),
            Deny::Malformed,
        ),
        (
            with(claims(), "exp", json!(NOW as f64 + 60.5)),
            Deny::Malformed,
        ),
        (with(claims(), "exp", json!(-1)), Deny::Malformed),
        (
            with(claims(), "exp", json!(NOW + 365 * 86400)),
            Deny::TtlTooLong,
        ),
        (with(claims(), "nbf", json!(NOW + 31)), Deny::NotYetValid),
        (
            with(
                with(claims(), "iat", json!(NOW + 31)),
                "exp",
                json!(NOW + 60),
            ),
            Deny::NotYetValid,
        ),
        (with(claims(), "aud", json!("other")), Deny::WrongAudience),
        (
            with(claims(), "aud", json!(["keyhole", "other"])),
            Deny::WrongAudience,
        ),
        (without(claims(), "kh_path"), Deny::NotAFileToken),
        (with(claims(), "kh_path", json!("/b.jpg")), Deny::OutOfScope),
        (with(claims(), "kh_scope", json!("/")), Deny::Malformed),
        (
            with(claims(), "kh_path", json!("/x/../a.jpg")),
            Deny::Malformed,
        ),
        (with(claims(), "kh_ip", json!("10.0.0.2")), Deny::IpMismatch),
        (
            with(claims(), "kh_m", json!("POST")),
            Deny::MethodNotAllowed,
        ),
        (with(claims(), "kh_once", json!(true)), Deny::MissingClaim),
        (with(claims(), "kh_uses", json!(9)), Deny::Malformed),
        (with(claims(), "kh_once", json!("yes")), Deny::Malformed),
    ];
    for (claims, expected) in cases {
        assert_eq!(check(&token(&header(), &claims)), Err(expected), "{claims}");
    }
    // Inside the leeway; a one-element audience array; a network binding.
    let edge = with(
        with(claims(), "iat", json!(NOW - 60)),
        "exp",
        json!(NOW - 30),
    );
    assert!(check(&token(&header(), &edge)).is_ok());
    let past = with(
        with(claims(), "iat", json!(NOW - 60)),
        "exp",
        json!(NOW - 31),
    );
    assert_eq!(check(&token(&header(), &past)), Err(Deny::Expired));
    assert!(
        check(&token(
            &header(),
            &with(claims(), "aud", json!(["keyhole"]))
        ))
        .is_ok()
    );
    assert!(
        check(&token(
            &header(),
            &with(claims(), "kh_ip", json!("10.0.0.0/8"))
        ))
        .is_ok()
    );
    let login = json!({"sub": "alice", "aud": "keyhole", "iat": NOW, "exp": NOW + 60});
    assert_eq!(check(&token(&header(), &login)), Err(Deny::NotAFileToken));
}

#[test]
fn forged_tokens_are_bad_signature_before_any_claim() {
    let expired = with(claims(), "exp", json!(NOW - 1000));
    let good = token(&header(), &expired);
    let (message, _) = good.rsplit_once('.').unwrap();
    let forged = format!("{message}.{}", URL_SAFE_NO_PAD.encode([0u8; 32]));
    assert_eq!(check(&forged), Err(Deny::BadSignature));
    // The HS512 key with an HS256-signed token under its kid.
    let other = token(&with(header(), "kid", json!("j2")), &claims());
    assert_eq!(check(&other), Err(Deny::AlgNotAllowed));
}

#[test]
fn uses_and_the_always_policy() {
    let once = with(with(claims(), "kh_once", json!(true)), "jti", json!("t-1"));
    let uses = check(&token(&header(), &once)).unwrap().uses.unwrap();
    assert_eq!(
        (uses.kid.as_str(), uses.jti.as_str(), uses.count),
        ("j1", "t-1", 1)
    );
    let three = with(with(claims(), "kh_uses", json!(3)), "jti", json!("t-2"));
    assert_eq!(
        check(&token(&header(), &three))
            .unwrap()
            .uses
            .unwrap()
            .count,
        3
    );

    let mut always = verifier();
    always.policy.single_use = SingleUse::Always;
    let uri = format!("/a.jpg?token={}", token(&header(), &claims()));
    let headers = NginxHeaders::new(uri.as_bytes(), b"GET", b"10.0.0.1");
    let request = headers.parse().unwrap();
    assert_eq!(
        always.verify(&request, UnixTime(NOW)),
        Err(Deny::MissingClaim)
    );
    assert_eq!(request.client_ip, "10.0.0.1".parse::<IpAddr>().unwrap());
}

#[test]
fn two_token_params_are_refused() {
    let good = token(&header(), &claims());
    assert_eq!(
        check(&format!("{good}&token={good}")),
        Err(Deny::DuplicateParam)
    );
}

fn check_with(verifier: &JwtVerifier, token: &str, path: &str) -> Result<JwtGrant, Deny> {
    let uri = format!("{path}?token={token}");
    let headers = NginxHeaders::new(uri.as_bytes(), b"GET", b"10.0.0.1");
    verifier.verify(&headers.parse()?, UnixTime(NOW))
}

#[test]
fn local_keys_grant_only_inside_their_limits() {
    let keys = keys::parse_hmac_keys(&format!("j1:HS256:{SECRET};paths=/a/")).unwrap();
    let verifier = JwtVerifier::new(keys, JwtPolicy::default()).unwrap();
    let for_path = |path: &str| {
        token(
            &header(),
            &json!({"aud": "keyhole", "iat": NOW, "exp": NOW + 60, "kh_path": path}),
        )
    };
    assert!(check_with(&verifier, &for_path("/a/x.jpg"), "/a/x.jpg").is_ok());
    assert_eq!(
        check_with(&verifier, &for_path("/b/x.jpg"), "/b/x.jpg").unwrap_err(),
        Deny::KeyOutOfScope
    );
    assert!(matches!(
        keys::parse_hmac_keys(&format!("j1:HS256:{SECRET};hosts=a:1")),
        Err(JwtKeyError::Limits { .. })
    ));
}

/// JWKS keys take their limits by key id; once any is listed, an unlisted one grants
/// nothing.
#[test]
fn remote_keys_take_their_limits_by_key_id() {
    let secret = Secret::from_base64url(SECRET).unwrap();
    let remote = Arc::new(RemoteKeys::default());
    remote.replace(vec![
        JwtKey::hmac("r1", Algorithm::HS256, &secret).unwrap(),
        JwtKey::hmac("r2", Algorithm::HS256, &secret).unwrap(),
    ]);
    let mut verifier = JwtVerifier::new(Vec::new(), JwtPolicy::default()).unwrap();
    verifier.remote = Some(remote);
    let for_key = |kid: &str, path: &str| {
        token(
            &json!({"alg": "HS256", "typ": "keyhole+jwt", "kid": kid}),
            &json!({"aud": "keyhole", "iat": NOW, "exp": NOW + 60, "kh_path": path}),
        )
    };
    // Nothing configured: every remote key is unlimited.
    assert!(check_with(&verifier, &for_key("r2", "/b/x.jpg"), "/b/x.jpg").is_ok());
    verifier.remote_limits = RemoteLimits::parse("r1;paths=/a/").unwrap();
    assert!(check_with(&verifier, &for_key("r1", "/a/x.jpg"), "/a/x.jpg").is_ok());
    assert_eq!(
        check_with(&verifier, &for_key("r1", "/b/x.jpg"), "/b/x.jpg").unwrap_err(),
        Deny::KeyOutOfScope
    );
    assert_eq!(
        check_with(&verifier, &for_key("r2", "/a/x.jpg"), "/a/x.jpg").unwrap_err(),
        Deny::KeyOutOfScope
    );
    assert!(verifier.names_kid("r1") && !verifier.names_kid("r2"));
    // Listed alone: no limits.
    verifier.remote_limits = RemoteLimits::parse("r1;paths=/a/,r2").unwrap();
    assert!(check_with(&verifier, &for_key("r2", "/b/x.jpg"), "/b/x.jpg").is_ok());
    assert_eq!(
        RemoteLimits::parse("r1;paths=/a/,r1;paths=/b/").unwrap_err(),
        JwtKeyError::DuplicateKid("r1".into())
    );
}
