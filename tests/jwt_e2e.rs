//! File-scoped JWTs through a real nginx running the shipped files and the real keyhole
//! binary: every attack of issue 3 item 8 is a 403 with no file bytes, and a token of
//! every algorithm is a 200 with the file. Keys are generated with `openssl` once per
//! build (under Cargo's test temp dir); tokens are assembled by hand so that headers
//! and claims can be as wrong as an attacker likes.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::io::ErrorKind as IoErrorKind;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use common::{Env, Response, now};
use jsonwebtoken::jwk::{Jwk, KeyAlgorithm};
use jsonwebtoken::{Algorithm, EncodingKey};
use serde_json::{Value, json};

const FILE: &[u8] = b"\xff\xd8 a.jpg protected bytes \x00\x01";
const OTHER: &[u8] = b"b.jpg protected bytes";
const PATH: &str = "/protected/a.jpg";

/// The 32-byte test secret (0x00..0x1f) in base64url.
const SECRET_B64: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8";

/// Generated key material, shared by every test of this binary.
struct TestKeys {
    /// kid → (algorithm, private key).
    signers: Vec<(&'static str, Algorithm, EncodingKey)>,
    /// The JWKS document keyhole loads.
    jwks_path: PathBuf,
    /// Public keys in PEM, for the HMAC-with-public-key attack.
    rsa_public_pem: Vec<u8>,
    ec_public_pem: Vec<u8>,
}

fn openssl(args: &[&str]) {
    let status = Command::new("openssl")
        .args(args)
        .status()
        .unwrap_or_else(|e| {
            panic!("openssl is needed by the JWT tests (apt-get install openssl): {e}")
        });
    assert!(status.success(), "openssl {args:?} failed");
}

/// Where the generated test keys live.
fn key_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("jwt-keys")
}

fn keys() -> &'static TestKeys {
    static KEYS: OnceLock<TestKeys> = OnceLock::new();
    KEYS.get_or_init(|| {
        let dir = key_dir();
        let p = |name: &str| dir.join(name).to_str().unwrap().to_owned();
        // Generated once per target directory; `complete` is written last.
        if !dir.join("complete").is_file() {
            std::fs::create_dir_all(&dir).unwrap();
            openssl(&["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", &p("rsa.pem")]);
            openssl(&["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", &p("ec256.pem")]);
            openssl(&["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384", "-out", &p("ec384.pem")]);
            openssl(&["genpkey", "-algorithm", "ED25519", "-out", &p("ed.pem")]);
            openssl(&["pkey", "-in", &p("rsa.pem"), "-pubout", "-out", &p("rsa.pub.pem")]);
            openssl(&["pkey", "-in", &p("ec256.pem"), "-pubout", "-out", &p("ec256.pub.pem")]);
            openssl(&["pkey", "-in", &p("ed.pem"), "-pubout", "-outform", "DER", "-out", &p("ed.pub.der")]);
            std::fs::write(dir.join("complete"), b"").unwrap();
        }
        let read = |name: &str| std::fs::read(dir.join(name)).unwrap();
        let rsa = read("rsa.pem");
        let secret = URL_SAFE_NO_PAD.decode(SECRET_B64).unwrap();
        let mut signers = vec![
            ("h256", Algorithm::HS256, EncodingKey::from_secret(&secret)),
            ("h384", Algorithm::HS384, EncodingKey::from_secret(&secret)),
            ("h512", Algorithm::HS512, EncodingKey::from_secret(&secret)),
        ];
        for (kid, alg) in [
            ("r256", Algorithm::RS256),
            ("r384", Algorithm::RS384),
            ("r512", Algorithm::RS512),
            ("p256", Algorithm::PS256),
            ("p384", Algorithm::PS384),
            ("p512", Algorithm::PS512),
        ] {
            signers.push((kid, alg, EncodingKey::from_rsa_pem(&rsa).unwrap()));
        }
        signers.push(("e256", Algorithm::ES256, EncodingKey::from_ec_pem(&read("ec256.pem")).unwrap()));
        signers.push(("e384", Algorithm::ES384, EncodingKey::from_ec_pem(&read("ec384.pem")).unwrap()));
        signers.push(("ed", Algorithm::EdDSA, EncodingKey::from_ed_pem(&read("ed.pem")).unwrap()));

        let mut jwks = Vec::new();
        for (kid, alg, key) in &signers {
            let entry = match alg {
                Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512 => continue,
                Algorithm::EdDSA => {
                    let der = read("ed.pub.der");
                    let x = URL_SAFE_NO_PAD.encode(&der[der.len() - 32..]);
                    json!({"kty": "OKP", "crv": "Ed25519", "x": x, "kid": kid, "alg": "EdDSA", "use": "sig"})
                }
                _ => {
                    let mut jwk = Jwk::from_encoding_key(key, *alg).unwrap();
                    jwk.common.key_id = Some((*kid).to_owned());
                    jwk.common.key_algorithm = Some(format!("{alg:?}").parse::<KeyAlgorithm>().unwrap());
                    serde_json::to_value(&jwk).unwrap()
                }
            };
            jwks.push(entry);
        }
        let jwks_path = dir.join("jwks.json");
        std::fs::write(&jwks_path, json!({"keys": jwks}).to_string()).unwrap();
        TestKeys {
            signers,
            jwks_path,
            rsa_public_pem: read("rsa.pub.pem"),
            ec_public_pem: read("ec256.pub.pem"),
        }
    })
}

fn hmac_keys_var() -> String {
    format!("h256:HS256:{SECRET_B64},h384:HS384:{SECRET_B64},h512:HS512:{SECRET_B64}")
}

fn start_with(extra: &[(&str, &str)]) -> Env {
    let keys = keys();
    let hmac = hmac_keys_var();
    let jwks = keys.jwks_path.to_str().unwrap().to_owned();
    let mut vars: Vec<(&str, &str)> =
        vec![("KEYHOLE_JWT_KEYS", &hmac), ("KEYHOLE_JWKS_FILE", &jwks)];
    vars.extend_from_slice(extra);
    let env = Env::start_with(&vars, "");
    env.put("protected/a.jpg", FILE);
    env.put("protected/b.jpg", OTHER);
    env.put("protected/a.jpgx", OTHER);
    env.put("protected/d/c.jpg", OTHER);
    env
}

fn start() -> Env {
    start_with(&[])
}

fn header(kid: &str, alg: &str) -> Value {
    json!({"alg": alg, "typ": "keyhole+jwt", "kid": kid})
}

fn claims() -> Value {
    let now = now().0;
    json!({"aud": "keyhole", "iat": now, "exp": now + 60, "kh_path": PATH})
}

fn set(mut value: Value, key: &str, field: Value) -> Value {
    value.as_object_mut().unwrap().insert(key.into(), field);
    value
}

fn unset(mut value: Value, key: &str) -> Value {
    value.as_object_mut().unwrap().remove(key);
    value
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Signs `header.claims` (raw JSON text) with the key `kid` under its own algorithm.
fn sign_text(kid: &str, header: &str, claims: &str) -> String {
    let (_, alg, key) = keys().signers.iter().find(|(k, _, _)| *k == kid).unwrap();
    let message = format!("{}.{}", b64(header.as_bytes()), b64(claims.as_bytes()));
    let signature = jsonwebtoken::crypto::sign(message.as_bytes(), key, *alg).unwrap();
    format!("{message}.{signature}")
}

fn sign(kid: &str, header: &Value, claims: &Value) -> String {
    sign_text(kid, &header.to_string(), &claims.to_string())
}

/// A good token of key `kid` for `claims`.
fn token_for(kid: &str, claims: &Value) -> String {
    let (_, alg, _) = keys().signers.iter().find(|(k, _, _)| *k == kid).unwrap();
    sign(kid, &header(kid, jsonwebtoken_alg_name(*alg)), claims)
}

fn jsonwebtoken_alg_name(alg: Algorithm) -> &'static str {
    keyhole::verify::jwt::algorithm_name(alg)
}

fn get_token(env: &Env, path: &str, token: &str) -> Response {
    env.request("GET", format!("{path}?token={token}").as_bytes(), "")
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// A 403 with `reason` in nginx's log and none of the protected bytes.
fn assert_denied(env: &Env, response: &Response, reason: &str, case: &str) {
    assert_eq!(
        response.status, 403,
        "{case}: expected 403, got {}\n{}",
        response.status, response.head
    );
    for secret in [FILE, OTHER] {
        assert!(
            !contains(&response.body, secret),
            "{case}: protected bytes leaked"
        );
    }
    assert_eq!(env.last_reason(), reason, "{case}");
    assert!(
        response.header("x-keyhole-reason").is_none(),
        "{case}: reason code leaked to the client"
    );
}

fn assert_served(env: &Env, response: &Response, case: &str) {
    assert_eq!(
        response.status,
        200,
        "{case}: {} reason={}",
        response.head,
        env.last_reason()
    );
    assert_eq!(response.body, FILE, "{case}");
    assert_eq!(env.last_reason(), "ok", "{case}");
}

#[test]
fn every_algorithm_opens_its_file() {
    let env = start();
    for (kid, alg, _) in &keys().signers {
        let token = token_for(kid, &claims());
        let response = get_token(&env, PATH, &token);
        assert_served(&env, &response, &format!("{kid} {alg:?}"));
    }
    // HEAD too; and keyhole's own minter.
    let token = token_for("e256", &claims());
    assert_eq!(
        env.request("HEAD", format!("{PATH}?token={token}").as_bytes(), "")
            .status,
        200
    );
}

#[test]
fn algorithm_attacks_are_denied() {
    let env = start();
    let keys = keys();
    let unsigned = |alg: &str| {
        format!(
            "{}.{}.",
            b64(header("h256", alg).to_string().as_bytes()),
            b64(claims().to_string().as_bytes())
        )
    };
    let hmac_with = |kid: &str, public_pem: &[u8]| {
        let message = format!(
            "{}.{}",
            b64(header(kid, "HS256").to_string().as_bytes()),
            b64(claims().to_string().as_bytes())
        );
        let signature = jsonwebtoken::crypto::sign(
            message.as_bytes(),
            &EncodingKey::from_secret(public_pem),
            Algorithm::HS256,
        )
        .unwrap();
        format!("{message}.{signature}")
    };
    // A signature over the same message by the RSA key, presented as ES256.
    let cross_family = {
        let message = format!(
            "{}.{}",
            b64(header("r256", "ES256").to_string().as_bytes()),
            b64(claims().to_string().as_bytes())
        );
        let (_, _, ec) = keys.signers.iter().find(|(k, _, _)| *k == "e256").unwrap();
        let signature =
            jsonwebtoken::crypto::sign(message.as_bytes(), ec, Algorithm::ES256).unwrap();
        format!("{message}.{signature}")
    };
    let cases = [
        (unsigned("none"), "alg-not-allowed", "alg none"),
        (unsigned("None"), "alg-not-allowed", "alg None"),
        (unsigned("NONE"), "alg-not-allowed", "alg NONE"),
        (
            format!("{}sig", unsigned("none")),
            "alg-not-allowed",
            "alg none with a signature",
        ),
        (
            hmac_with("r256", &keys.rsa_public_pem),
            "alg-not-allowed",
            "HS256 with the RSA public key",
        ),
        (
            hmac_with("e256", &keys.ec_public_pem),
            "alg-not-allowed",
            "HS256 with the EC public key",
        ),
        (cross_family, "alg-not-allowed", "ES256 under an RSA kid"),
        (
            sign("h256", &header("h384", "HS256"), &claims()),
            "alg-not-allowed",
            "HS256 under an HS384 kid",
        ),
    ];
    for (token, reason, case) in cases {
        assert_denied(&env, &get_token(&env, PATH, &token), reason, case);
    }
}

#[test]
fn key_id_attacks_are_denied() {
    let env = start();
    let cases = [
        (header("nope", "HS256"), "unknown-key"),
        (header("../../../../etc/passwd", "HS256"), "unknown-key"),
        (header("h256' OR '1'='1", "HS256"), "unknown-key"),
        (header("/dev/null", "HS256"), "unknown-key"),
        (unset(header("h256", "HS256"), "kid"), "unknown-key"),
    ];
    for (header, reason) in cases {
        let token = sign("h256", &header, &claims());
        assert_denied(
            &env,
            &get_token(&env, PATH, &token),
            reason,
            &header.to_string(),
        );
    }
}

#[test]
fn key_url_headers_are_never_followed() {
    let env = start();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let url = format!(
        "http://127.0.0.1:{}/jwks.json",
        listener.local_addr().unwrap().port()
    );
    let cases = [
        set(header("h256", "HS256"), "jku", json!(url)),
        set(header("h256", "HS256"), "x5u", json!(url)),
        set(unset(header("h256", "HS256"), "kid"), "jku", json!(url)),
        set(
            header("h256", "HS256"),
            "jwk",
            json!({"kty": "oct", "k": SECRET_B64}),
        ),
        set(
            header("e256", "ES256"),
            "x5c",
            json!([STANDARD.encode(b"not a certificate")]),
        ),
        set(header("h256", "HS256"), "crit", json!(["exp"])),
        set(header("h256", "HS256"), "b64", json!(false)),
        set(
            set(header("h256", "HS256"), "b64", json!(false)),
            "crit",
            json!(["b64"]),
        ),
        set(header("h256", "HS256"), "cty", json!("JWT")),
    ];
    for header in cases {
        let kid = header.get("kid").and_then(Value::as_str).unwrap_or("h256");
        let token = sign(
            if kid == "e256" { "e256" } else { "h256" },
            &header,
            &claims(),
        );
        assert_denied(
            &env,
            &get_token(&env, PATH, &token),
            "header-not-allowed",
            &header.to_string(),
        );
    }
    std::thread::sleep(std::time::Duration::from_millis(200));
    match listener.accept() {
        Err(error) if error.kind() == IoErrorKind::WouldBlock => {}
        other => panic!("the key-URL listener was contacted: {other:?}"),
    }
}

#[test]
fn claim_rules_are_enforced() {
    let env = start();
    let now = now().0;
    let cases = [
        (unset(claims(), "exp"), "missing-claim", "missing exp"),
        (
            set(claims(), "exp", json!((now + 60).to_string())),
            "malformed",
            "string exp",
        ),
        (
            set(claims(), "exp", json!(now as f64 + 60.5)),
            "malformed",
            "fractional exp",
        ),
        (
            set(claims(), "exp", json!(now + 365 * 86400)),
            "ttl-too-long",
            "exp one year ahead",
        ),
        (
            set(
                set(claims(), "iat", json!(now - 100)),
                "exp",
                json!(now - 45),
            ),
            "expired",
            "exp past the leeway",
        ),
        (
            set(claims(), "nbf", json!(now + 120)),
            "not-yet-valid",
            "nbf in the future",
        ),
        (
            set(
                set(claims(), "iat", json!(now + 120)),
                "exp",
                json!(now + 180),
            ),
            "not-yet-valid",
            "iat in the future",
        ),
        (unset(claims(), "iat"), "missing-claim", "missing iat"),
        (unset(claims(), "aud"), "missing-claim", "missing aud"),
        (
            set(claims(), "aud", json!("https://api.example.com")),
            "wrong-audience",
            "foreign aud",
        ),
        (
            set(claims(), "aud", json!(["keyhole", "api"])),
            "wrong-audience",
            "aud with another audience",
        ),
        (
            unset(claims(), "kh_path"),
            "not-a-file-token",
            "no resource claim",
        ),
        (
            set(claims(), "kh_path", json!("/protected/b.jpg")),
            "out-of-scope",
            "token for b.jpg",
        ),
        (
            set(claims(), "kh_ip", json!("192.0.2.1")),
            "ip-mismatch",
            "bound to another address",
        ),
        (
            set(claims(), "kh_m", json!("POST")),
            "method-not-allowed",
            "bound to POST",
        ),
    ];
    for (claims, reason, case) in cases {
        let token = token_for("h256", &claims);
        assert_denied(&env, &get_token(&env, PATH, &token), reason, case);
    }
    // Just inside the leeway (30 s): served.
    let inside = set(
        set(claims(), "iat", json!(now - 100)),
        "exp",
        json!(now - 20),
    );
    assert_served(
        &env,
        &get_token(&env, PATH, &token_for("h256", &inside)),
        "exp inside the leeway",
    );
}

#[test]
fn a_login_token_never_opens_a_file() {
    let env = start();
    let now = now().0;
    let login = json!({"sub": "alice", "aud": "keyhole", "iat": now, "exp": now + 60});
    let as_jwt = sign(
        "h256",
        &json!({"alg": "HS256", "typ": "JWT", "kid": "h256"}),
        &login,
    );
    assert_denied(
        &env,
        &get_token(&env, PATH, &as_jwt),
        "not-a-file-token",
        "typ JWT",
    );
    let untyped = sign(
        "h256",
        &json!({"alg": "HS256", "kid": "h256"}),
        &set(login.clone(), "kh_path", json!(PATH)),
    );
    assert_denied(
        &env,
        &get_token(&env, PATH, &untyped),
        "not-a-file-token",
        "no typ",
    );
    let typed = sign("h256", &header("h256", "HS256"), &login);
    assert_denied(
        &env,
        &get_token(&env, PATH, &typed),
        "not-a-file-token",
        "typ but no resource",
    );
}

#[test]
fn a_path_token_opens_exactly_its_path() {
    let env = start();
    let token = token_for("h256", &claims());
    assert_served(&env, &get_token(&env, PATH, &token), "own path");
    assert_denied(
        &env,
        &get_token(&env, "/protected/b.jpg", &token),
        "out-of-scope",
        "/b.jpg",
    );
    assert_denied(
        &env,
        &get_token(&env, "/protected/a.jpg/", &token),
        "path-not-file",
        "/a.jpg/",
    );
    assert_denied(
        &env,
        &get_token(&env, "/protected/a.jpgx", &token),
        "out-of-scope",
        "/a.jpgx",
    );
    assert_denied(
        &env,
        &get_token(&env, "/protected/d/../a.jpg", &token),
        "path-traversal",
        "dot segments",
    );

    let scoped = token_for(
        "h256",
        &set(
            unset(claims(), "kh_path"),
            "kh_scope",
            json!("/protected/d/"),
        ),
    );
    let ok = get_token(&env, "/protected/d/c.jpg", &scoped);
    assert_eq!((ok.status, ok.body.as_slice()), (200, OTHER));
    assert_denied(
        &env,
        &get_token(&env, PATH, &scoped),
        "out-of-scope",
        "outside the scope",
    );
}

#[test]
fn malformed_tokens_are_denied() {
    let env = start();
    let good = token_for("h256", &claims());
    let (message, signature) = good.rsplit_once('.').unwrap();
    let (head, _) = good.split_once('.').unwrap();
    // Correctly signed tokens whose segments use standard base64: padding, `+`, `/`.
    let signed_standard = |header: &str, claims: &str| {
        let (_, _, key) = keys()
            .signers
            .iter()
            .find(|(k, _, _)| *k == "h256")
            .unwrap();
        let message = format!("{}.{}", STANDARD.encode(header), STANDARD.encode(claims));
        let signature =
            jsonwebtoken::crypto::sign(message.as_bytes(), key, Algorithm::HS256).unwrap();
        format!("{message}.{signature}")
    };
    let mut padded_header = header("h256", "HS256").to_string();
    while !STANDARD.encode(&padded_header).ends_with('=') {
        padded_header.push(' ');
    }
    let padded = signed_standard(&padded_header, &claims().to_string());
    let mut plus_slash_header = header("h256", "HS256").to_string();
    while STANDARD.encode(&plus_slash_header).contains('=') {
        plus_slash_header.push(' ');
    }
    let plus_slash_claims = set(claims(), "x", json!("??????>>>>>>")).to_string();
    let plus_slash = signed_standard(&plus_slash_header, &plus_slash_claims);
    assert!(
        plus_slash.contains('+') && plus_slash.contains('/'),
        "{plus_slash}"
    );
    let nested = {
        let inner = token_for("h256", &claims());
        let header = set(header("h256", "HS256"), "cty", json!("JWT"));
        sign_text("h256", &header.to_string(), &format!("\"{inner}\""))
    };
    let nested_plain = sign_text(
        "h256",
        &header("h256", "HS256").to_string(),
        &format!("\"{good}\""),
    );
    let dup_claims = format!(
        r#"{{"aud":"keyhole","iat":{n},"exp":{e},"kh_path":"/protected/b.jpg","kh_path":"{PATH}"}}"#,
        n = now().0,
        e = now().0 + 60
    );
    let dup_header = r#"{"alg":"HS256","typ":"keyhole+jwt","kid":"h512","kid":"h256"}"#;
    let deep = format!(
        r#"{{"aud":"keyhole","iat":{n},"exp":{e},"kh_path":"{PATH}","x":{open}1{close}}}"#,
        n = now().0,
        e = now().0 + 60,
        open = "[".repeat(1000),
        close = "]".repeat(1000)
    );
    let cases = [
        (format!("{message}="), "malformed", "trailing padding"),
        (padded, "malformed", "signed, padded header"),
        (
            plus_slash,
            "malformed",
            "signed, standard base64 with + and /",
        ),
        (format!("{message}.{signature}+"), "malformed", "plus"),
        (format!("{message}.{signature}/"), "malformed", "slash"),
        (
            format!(
                "{message}.%{:02X}{}",
                signature.as_bytes()[0],
                &signature[1..]
            ),
            "malformed",
            "percent-encoded",
        ),
        (message.to_owned(), "malformed", "two segments"),
        (
            format!("{good}.AAAA.BBBB"),
            "malformed",
            "five segments (JWE)",
        ),
        (nested, "header-not-allowed", "nested JWT (cty)"),
        (nested_plain, "malformed", "a JWT as the payload"),
        (
            sign_text("h256", &header("h256", "HS256").to_string(), &dup_claims),
            "malformed",
            "duplicate claim",
        ),
        (
            sign_text("h256", dup_header, &claims().to_string()),
            "malformed",
            "duplicate header key",
        ),
        (
            sign_text("h256", &header("h256", "HS256").to_string(), &deep),
            "malformed",
            "1,000-deep claims",
        ),
        ("A".repeat(5000), "token-too-large", "oversized token"),
        (
            format!("{good}&token={good}"),
            "duplicate-param",
            "two token parameters",
        ),
    ];
    for (token, reason, case) in cases {
        assert_denied(&env, &get_token(&env, PATH, &token), reason, case);
    }
    // A 3,000-deep payload cannot fit the 4 KiB cap: refused before any decoding (the
    // parser's depth limit is covered by the 1,000-deep case above and by unit tests),
    // and keyhole stays up.
    let deepest = format!(
        "{}.{}.{}",
        head,
        b64(format!("{}1{}", "[".repeat(3000), "]".repeat(3000)).as_bytes()),
        signature
    );
    let response = get_token(&env, PATH, &deepest);
    assert_denied(&env, &response, "token-too-large", "3,000-deep payload");
    assert_served(&env, &get_token(&env, PATH, &good), "keyhole still answers");
}

#[test]
fn invalid_ecdsa_signatures_are_denied() {
    let env = start();
    let good = token_for("e256", &claims());
    let (message, _) = good.rsplit_once('.').unwrap();
    // The order n of P-256.
    let n = hex("ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551");
    let one = {
        let mut one = [0u8; 32];
        one[31] = 1;
        one.to_vec()
    };
    let cases = [
        ([vec![0u8; 32], vec![0u8; 32]].concat(), "r = s = 0"),
        ([n.clone(), one.clone()].concat(), "r = n"),
        ([one.clone(), n.clone()].concat(), "s = n"),
        ([vec![0xff; 32], one.clone()].concat(), "r > n"),
        (vec![0u8; 63], "short"),
    ];
    for (signature, case) in cases {
        let token = format!("{message}.{}", b64(&signature));
        assert_denied(&env, &get_token(&env, PATH, &token), "bad-signature", case);
    }
    // A tampered payload under a valid signature.
    let (_, tail) = good.split_once('.').unwrap();
    let (_, signature) = tail.split_once('.').unwrap();
    let forged = format!(
        "{}.{}.{signature}",
        good.split_once('.').unwrap().0,
        b64(set(claims(), "kh_path", json!("/protected/b.jpg"))
            .to_string()
            .as_bytes())
    );
    assert_denied(
        &env,
        &get_token(&env, "/protected/b.jpg", &forged),
        "bad-signature",
        "tampered claims",
    );
    // An expired forgery is bad-signature, not expired.
    let expired = set(set(claims(), "iat", json!(1)), "exp", json!(2));
    let forged = format!(
        "{}.{}.{signature}",
        good.split_once('.').unwrap().0,
        b64(expired.to_string().as_bytes())
    );
    assert_denied(
        &env,
        &get_token(&env, PATH, &forged),
        "bad-signature",
        "expired forgery",
    );
}

fn hex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
        .collect()
}

#[test]
fn a_signed_url_and_a_token_together_are_ambiguous() {
    let env = start();
    let url = env.sign(PATH);
    let token = token_for("h256", &claims());
    let response = env.get(&format!("{url}&token={token}"));
    assert_denied(&env, &response, "ambiguous-credential", "signed URL + JWT");
    // Each alone works.
    assert_eq!(env.get(&url).status, 200);
    assert_served(&env, &get_token(&env, PATH, &token), "token alone");
}

fn once_claims(jti: &str) -> Value {
    set(set(claims(), "jti", json!(jti)), "kh_once", json!(true))
}

#[test]
fn a_single_use_token_is_used_once() {
    let env = start();
    let token = token_for("h256", &once_claims("replay-1"));
    assert_served(&env, &get_token(&env, PATH, &token), "first use");
    assert_denied(
        &env,
        &get_token(&env, PATH, &token),
        "replayed",
        "second use",
    );
    // A limited-use token: three uses.
    let three = token_for(
        "e256",
        &set(set(claims(), "jti", json!("three")), "kh_uses", json!(3)),
    );
    for use_number in 1..=3 {
        assert_served(
            &env,
            &get_token(&env, PATH, &three),
            &format!("use {use_number}"),
        );
    }
    assert_denied(
        &env,
        &get_token(&env, PATH, &three),
        "replayed",
        "fourth use",
    );
    // Single use without a jti cannot be enforced.
    let no_jti = token_for("h256", &set(claims(), "kh_once", json!(true)));
    assert_denied(
        &env,
        &get_token(&env, PATH, &no_jti),
        "missing-claim",
        "kh_once without jti",
    );
}

#[test]
fn sixty_four_concurrent_uses_of_a_single_use_token_allow_exactly_one() {
    let env = start();
    let token = token_for("ed", &once_claims("concurrent-1"));
    let target = format!("{PATH}?token={token}");
    let port = env.port;
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(64));
    let handles: Vec<_> = (0..64)
        .map(|_| {
            let target = target.clone();
            let barrier = std::sync::Arc::clone(&barrier);
            std::thread::spawn(move || {
                let request = format!(
                    "GET {target} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
                );
                barrier.wait();
                common::send_raw(port, request.as_bytes())
            })
        })
        .collect();
    let responses: Vec<Response> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    let served: Vec<_> = responses.iter().filter(|r| r.status == 200).collect();
    assert_eq!(
        served.len(),
        1,
        "statuses: {:?}",
        responses.iter().map(|r| r.status).collect::<Vec<_>>()
    );
    assert_eq!(served[0].body, FILE);
    assert_eq!(responses.iter().filter(|r| r.status == 403).count(), 63);
    let log = std::fs::read_to_string(env.stack.layout.access_log()).unwrap();
    assert_eq!(log.matches("reason=replayed").count(), 63);
}

#[test]
fn always_single_use_and_a_full_store() {
    let env = start_with(&[
        ("KEYHOLE_JWT_SINGLE_USE", "always"),
        ("KEYHOLE_REPLAY_CAPACITY", "2"),
    ]);
    let plain = token_for("h256", &claims());
    assert_denied(
        &env,
        &get_token(&env, PATH, &plain),
        "missing-claim",
        "always: no jti",
    );
    for jti in ["a", "b"] {
        let token = token_for("h256", &set(claims(), "jti", json!(jti)));
        assert_served(&env, &get_token(&env, PATH, &token), jti);
        assert_denied(&env, &get_token(&env, PATH, &token), "replayed", jti);
    }
    let third = token_for("h256", &set(claims(), "jti", json!("c")));
    assert_denied(
        &env,
        &get_token(&env, PATH, &third),
        "store-full",
        "full of live entries",
    );
}

#[test]
fn the_parameter_name_and_audience_are_configurable() {
    let env = start_with(&[
        ("KEYHOLE_JWT_PARAM", "jwt"),
        ("KEYHOLE_JWT_AUDIENCE", "files"),
        ("KEYHOLE_JWT_ISSUERS", "https://app.example"),
    ]);
    let claims = set(
        set(claims(), "aud", json!("files")),
        "iss",
        json!("https://app.example"),
    );
    let token = token_for("h256", &claims);
    let ok = env.get(&format!("{PATH}?jwt={token}"));
    assert_served(&env, &ok, "custom parameter");
    assert_denied(
        &env,
        &env.get(&format!("{PATH}?token={token}")),
        "missing-credential",
        "default name unused",
    );
    let foreign = token_for(
        "h256",
        &set(claims.clone(), "iss", json!("https://evil.example")),
    );
    assert_denied(
        &env,
        &env.get(&format!("{PATH}?jwt={foreign}")),
        "wrong-issuer",
        "foreign iss",
    );
    let no_iss = token_for("h256", &unset(claims, "iss"));
    assert_denied(
        &env,
        &env.get(&format!("{PATH}?jwt={no_iss}")),
        "wrong-issuer",
        "no iss",
    );
}

fn run_mint(args: &[&str]) -> std::process::Output {
    let hmac = hmac_keys_var();
    Command::new(env!("CARGO_BIN_EXE_keyhole"))
        .arg("mint")
        .args(args)
        .env_clear()
        .env("KEYHOLE_KEYS", common::KEY_LINE)
        .env("KEYHOLE_JWT_KEYS", hmac)
        .output()
        .unwrap()
}

#[test]
fn keyhole_mint_prints_urls_that_open_the_file() {
    let env = start();
    let output = run_mint(&[PATH, "--once", "--base", "https://files.example/"]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let url = String::from_utf8(output.stdout).unwrap();
    let target = url.trim().strip_prefix("https://files.example").unwrap();
    assert!(target.starts_with(&format!("{PATH}?token=")), "{target}");
    assert_served(&env, &env.get(target), "minted, first use");
    assert_denied(&env, &env.get(target), "replayed", "minted, second use");

    let scoped = run_mint(&[
        "/protected/d/c.jpg",
        "--scope",
        "/protected/d/",
        "--ttl",
        "2m",
    ]);
    let target = String::from_utf8(scoped.stdout).unwrap().trim().to_owned();
    let token = target.split_once("token=").unwrap().1;
    assert_eq!(get_token(&env, "/protected/d/c.jpg", token).status, 200);
    assert_denied(
        &env,
        &get_token(&env, PATH, token),
        "out-of-scope",
        "minted scope",
    );

    // A private key from a file.
    let pem = key_dir().join("ec256.pem");
    let _ = keys();
    let output = run_mint(&[
        PATH,
        "--key-file",
        pem.to_str().unwrap(),
        "--kid",
        "e256",
        "--alg",
        "ES256",
    ]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let target = String::from_utf8(output.stdout).unwrap().trim().to_owned();
    assert_served(&env, &env.get(&target), "minted with ES256 from a file");

    // `explain` reads a token without using it up.
    let once = run_mint(&[PATH, "--once"]);
    let target = String::from_utf8(once.stdout).unwrap().trim().to_owned();
    let explained = Command::new(env!("CARGO_BIN_EXE_keyhole"))
        .args(["explain", &target])
        .env_clear()
        .env("KEYHOLE_KEYS", common::KEY_LINE)
        .env("KEYHOLE_JWT_KEYS", hmac_keys_var())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&explained.stdout).into_owned();
    assert_eq!(explained.status.code(), Some(0), "{text}");
    assert!(
        text.contains("reason:     ok") && text.contains("jwt:        present in `token`"),
        "{text}"
    );
    assert!(
        !text.contains(target.split_once("token=").unwrap().1),
        "explain printed the token"
    );
    assert_served(&env, &env.get(&target), "explained token still unused");

    // Too long a lifetime is refused at minting time.
    let output = run_mint(&[PATH, "--ttl", "1h"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("KEYHOLE_JWT_MAX_LIFETIME"));
}

/// Installs PyJWT (with `cryptography`) and `jose` once per build into Cargo's test
/// temp dir; a failed install fails the test with a hint, never skips it.
fn interop_tools() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("jwt-interop");
        if !dir.join("py/jwt").is_dir() {
            let status = Command::new("python3")
                .args(["-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--target"])
                .arg(dir.join("py"))
                .arg("pyjwt[crypto]==2.*")
                // Debian's pip refuses installs without this, even into --target.
                .env("PIP_BREAK_SYSTEM_PACKAGES", "1")
                .status();
            assert!(
                status.is_ok_and(|s| s.success()),
                "installing PyJWT failed: needs python3 with pip and access to PyPI (apt-get install python3-pip)"
            );
        }
        if !dir.join("node/node_modules/jose").is_dir() {
            let status = Command::new("npm")
                .args(["install", "--silent", "--no-audit", "--no-fund", "--prefix"])
                .arg(dir.join("node"))
                .arg("jose@6")
                .status();
            assert!(
                status.is_ok_and(|s| s.success()),
                "installing jose failed: needs node >= 18 with npm and access to the npm registry (apt-get install nodejs npm)"
            );
        }
        dir
    })
}

fn lines(output: std::process::Output, tool: &str) -> Vec<String> {
    assert!(
        output.status.success(),
        "{tool}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

#[test]
fn tokens_minted_by_pyjwt_and_jose_following_the_docs_are_accepted() {
    let env = start();
    let tools = interop_tools();
    let _ = keys();
    let key_dir = key_dir();
    let interop = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop");

    let python = Command::new("python3")
        .arg(interop.join("mint.py"))
        .args([PATH, SECRET_B64, "h256"])
        .arg(key_dir.join("ed.pem"))
        .arg("ed")
        .env("PYTHONPATH", tools.join("py"))
        .output()
        .unwrap();
    let python = lines(python, "PyJWT");
    assert_eq!(python.len(), 2);
    assert_served(&env, &env.get(&python[0]), "PyJWT HS256 single-use");
    assert_denied(
        &env,
        &env.get(&python[0]),
        "replayed",
        "PyJWT HS256 replayed",
    );
    assert_served(&env, &env.get(&python[1]), "PyJWT EdDSA");

    // jose is ESM: the script runs from a copy beside its node_modules.
    let script = tools.join("node/mint.mjs");
    std::fs::copy(interop.join("mint.mjs"), &script).unwrap();
    let node = Command::new("node")
        .arg(&script)
        .args([PATH, SECRET_B64, "h256"])
        .arg(key_dir.join("ec256.pem"))
        .arg("e256")
        .output()
        .unwrap();
    let node = lines(node, "jose");
    assert_eq!(node.len(), 2);
    assert_served(&env, &env.get(&node[0]), "jose HS256 single-use");
    assert_denied(&env, &env.get(&node[0]), "replayed", "jose HS256 replayed");
    assert_served(&env, &env.get(&node[1]), "jose ES256");
}

/// A JWKS endpoint on 127.0.0.1 that the test controls: what it answers, and how many
/// requests it received. Stopped when dropped.
struct JwksServer {
    port: u16,
    answer: std::sync::Arc<std::sync::Mutex<(u16, String)>>,
    hits: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl JwksServer {
    fn start(body: String) -> JwksServer {
        use std::io::{Read, Write};
        use std::sync::atomic::Ordering;
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let answer = std::sync::Arc::new(std::sync::Mutex::new((200, body)));
        let hits = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (a, h, s) = (answer.clone(), hits.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            while !s.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((mut stream, _)) => {
                        stream.set_nonblocking(false).unwrap();
                        stream
                            .set_read_timeout(Some(std::time::Duration::from_secs(2)))
                            .unwrap();
                        let mut request = Vec::new();
                        let mut buf = [0u8; 1024];
                        while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                            match stream.read(&mut buf) {
                                Ok(0) | Err(_) => break,
                                Ok(n) => request.extend_from_slice(&buf[..n]),
                            }
                        }
                        h.fetch_add(1, Ordering::SeqCst);
                        let (status, body) = a.lock().unwrap().clone();
                        let response = format!(
                            "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                            body.len()
                        );
                        let _ = stream.write_all(response.as_bytes());
                    }
                    Err(_) => std::thread::sleep(std::time::Duration::from_millis(10)),
                }
            }
        });
        JwksServer {
            port,
            answer,
            hits,
            stop,
            thread: Some(thread),
        }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/.well-known/jwks.json", self.port)
    }

    fn set(&self, status: u16, body: String) {
        *self.answer.lock().unwrap() = (status, body);
    }

    fn hits(&self) -> usize {
        self.hits.load(std::sync::atomic::Ordering::SeqCst)
    }
}

impl Drop for JwksServer {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// A JWKS document with the test keys `kids`.
fn jwks_with(kids: &[&str]) -> String {
    let all: Value =
        serde_json::from_str(&std::fs::read_to_string(&keys().jwks_path).unwrap()).unwrap();
    let keys: Vec<Value> = all["keys"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|k| kids.contains(&k["kid"].as_str().unwrap()))
        .cloned()
        .collect();
    json!({ "keys": keys }).to_string()
}

fn start_with_jwks_url(server: &JwksServer, refresh: &str) -> Env {
    let url = server.url();
    let env = Env::start_with(
        &[
            ("KEYHOLE_JWKS_URL", &url),
            ("KEYHOLE_JWKS_REFRESH", refresh),
            ("KEYHOLE_JWKS_REFETCH_INTERVAL", "60s"),
        ],
        "",
    );
    env.put("protected/a.jpg", FILE);
    env
}

#[test]
fn a_jwks_url_is_fetched_at_start_and_refetched_for_a_new_kid_at_most_once_per_interval() {
    let server = JwksServer::start(jwks_with(&["e256"]));
    let env = start_with_jwks_url(&server, "1h");
    assert_eq!(server.hits(), 1, "fetched once at start");
    assert_served(
        &env,
        &get_token(&env, PATH, &token_for("e256", &claims())),
        "key from the start fetch",
    );

    // The identity provider rotates in a new key: the first token naming it triggers
    // one refetch and is served.
    server.set(200, jwks_with(&["e256", "ed"]));
    assert_served(
        &env,
        &get_token(&env, PATH, &token_for("ed", &claims())),
        "new kid after a refetch",
    );
    assert_eq!(server.hits(), 2);

    // A flood of random key ids is not a flood of fetches.
    for i in 0..20 {
        let token = sign("e256", &header(&format!("random-{i}"), "ES256"), &claims());
        assert_denied(
            &env,
            &get_token(&env, PATH, &token),
            "unknown-key",
            "random kid",
        );
    }
    server.set(200, jwks_with(&["e256", "ed", "e384"]));
    assert_denied(
        &env,
        &get_token(&env, PATH, &token_for("e384", &claims())),
        "unknown-key",
        "rate-limited",
    );
    assert_eq!(server.hits(), 2, "no refetch within the interval");
}

#[test]
fn a_jwks_url_is_refreshed_and_the_last_good_set_survives_failures() {
    let server = JwksServer::start(jwks_with(&["e256"]));
    let env = start_with_jwks_url(&server, "1s");
    let e256 = token_for("e256", &claims());
    assert_served(&env, &get_token(&env, PATH, &e256), "initial set");

    let wait_for_hits = |more: usize| {
        let target = server.hits() + more;
        let start = std::time::Instant::now();
        while server.hits() < target {
            assert!(
                start.elapsed() < std::time::Duration::from_secs(10),
                "no refresh happened"
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        // Let keyhole finish processing the answer.
        std::thread::sleep(std::time::Duration::from_millis(200));
    };
    for (status, body) in [
        (500, "oops".to_owned()),
        (200, "not json".to_owned()),
        (
            200,
            r#"{"keys":[{"kty":"oct","k":"AAAA","kid":"x","alg":"HS256"}]}"#.to_owned(),
        ),
    ] {
        server.set(status, body);
        wait_for_hits(1);
        assert_served(&env, &get_token(&env, PATH, &e256), "last good set kept");
    }
    // A good new set replaces the old one on the next refresh.
    server.set(200, jwks_with(&["ed"]));
    wait_for_hits(1);
    assert_served(
        &env,
        &get_token(&env, PATH, &token_for("ed", &claims())),
        "refreshed set",
    );
    assert_denied(
        &env,
        &get_token(&env, PATH, &e256),
        "unknown-key",
        "key removed by the refresh",
    );
    // Fetches are counted by result on the admin listener.
    let metrics = common::send_raw(
        env.keyhole.admin_port,
        b"GET /metrics HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
    );
    let text = String::from_utf8_lossy(&metrics.body);
    for result in ["ok", "error"] {
        let line = text
            .lines()
            .find(|l| {
                l.starts_with(&format!(
                    "keyhole_jwks_fetches_total{{result=\"{result}\"}}"
                ))
            })
            .unwrap_or_else(|| panic!("no {result} fetch counted:\n{text}"));
        let count: u64 = line.rsplit(' ').next().unwrap().parse().unwrap();
        assert!(count >= 2, "{line}");
    }
}

#[test]
fn the_decision_cache_never_replays_a_jwt_allow() {
    let keys = keys();
    let hmac = hmac_keys_var();
    let jwks = keys.jwks_path.to_str().unwrap().to_owned();
    let mut env = Env::start_full(
        &[("KEYHOLE_JWT_KEYS", &hmac), ("KEYHOLE_JWKS_FILE", &jwks)],
        "",
        true,
    );
    env.put("protected/a.jpg", FILE);
    let once = token_for("h256", &once_claims("cached-once"));
    assert_served(&env, &get_token(&env, PATH, &once), "first use, cache on");
    assert_denied(
        &env,
        &get_token(&env, PATH, &once),
        "replayed",
        "second use is not served from the cache",
    );
    // Reusable tokens are not cached either: without keyhole, nothing is served.
    let reusable = token_for("h256", &claims());
    assert_served(
        &env,
        &get_token(&env, PATH, &reusable),
        "reusable, cache on",
    );
    env.keyhole.stop();
    let response = get_token(&env, PATH, &reusable);
    assert_ne!(response.status, 200, "a JWT allow came from the cache");
    assert!(!contains(&response.body, FILE));
}
