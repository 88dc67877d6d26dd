//! File-scoped JWTs through a real nginx running the shipped files and the real keyhole
//! binary: every attack is a 403 with no file bytes and its reason code, a token of
//! every algorithm is a 200 with the file, single use holds under concurrency, and the
//! parameter name and audience are configurable. Test keys and token helpers:
//! `common/jwt.rs`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::io::ErrorKind as IoErrorKind;
use std::net::TcpListener;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use common::jwt::*;
use common::{Response, b64, now};
use jsonwebtoken::{Algorithm, EncodingKey};
use serde_json::{Value, json};

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
