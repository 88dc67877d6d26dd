//! Signed cookies and the URL-to-cookie exchange through a real nginx running the
//! shipped files. Requests are raw bytes over TCP.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::time::Duration;

use common::{Env, Response, now, scope};
use keyhole::canonical::{CanonicalPath, Scope};
use keyhole::clock::UnixTime;
use keyhole::verify::cookie::{self, CookieGrant, SessionId};

const A: &[u8] = b"u1 a bytes";
const B: &[u8] = b"u1 b bytes";
const C: &[u8] = b"u2 c bytes";
const JWT_KEY: &str = common::JWT_KEY_LINE;

fn env() -> Env {
    let env = Env::start_with(&[("KEYHOLE_JWT_KEYS", JWT_KEY)], "");
    env.put("protected/u1/a.png", A);
    env.put("protected/u1/b.png", B);
    env.put("protected/u2/c.png", C);
    env
}

fn grant(prefix: &str, exp: UnixTime, sid: &str) -> CookieGrant {
    CookieGrant {
        scope: Scope::parse(prefix.as_bytes()).unwrap(),
        exp,
        sid: Some(SessionId::parse(sid).unwrap()),
    }
}

fn value(env: &Env, grant: &CookieGrant) -> String {
    cookie::sign(grant, env.keys.signing_key())
}

fn with_cookie(env: &Env, target: &str, cookie_header: &str) -> Response {
    env.request(
        "GET",
        target.as_bytes(),
        &format!("Cookie: {cookie_header}\r\n"),
    )
}

fn assert_denied(env: &Env, response: &Response, reason: &str) {
    assert_eq!(response.status, 403, "{reason}: {}", response.head);
    for bytes in [A, B, C] {
        assert!(
            !response.body.windows(bytes.len()).any(|w| w == bytes),
            "{reason}: bytes leaked"
        );
    }
    assert_eq!(env.last_reason(), reason);
}

#[test]
fn a_valid_cookie_opens_its_scope_and_nothing_else() {
    let env = env();
    let good = value(&env, &grant("/protected/u1/", now().plus(600), "s1"));
    let cookie = format!("theme=dark; __Host-keyhole={good}; other=1");
    for site in [
        "",
        "Sec-Fetch-Site: same-origin\r\n",
        "Sec-Fetch-Site: same-site\r\n",
        "Sec-Fetch-Site: none\r\n",
    ] {
        let response = env.request(
            "GET",
            b"/protected/u1/a.png",
            &format!("Cookie: {cookie}\r\n{site}"),
        );
        assert_eq!(
            (response.status, response.body.as_slice()),
            (200, A),
            "{site}"
        );
        assert_eq!(env.last_reason(), "ok");
    }
    assert_eq!(with_cookie(&env, "/protected/u1/b.png", &cookie).body, B);

    let expired = value(&env, &grant("/protected/u1/", now().minus(120), "s1"));
    let too_long = value(&env, &grant("/protected/u1/", now().plus(2 * 86400), "s1"));
    let tampered = format!(
        "{}{}",
        &good[..good.len() - 1],
        if good.ends_with('A') { 'E' } else { 'A' }
    );
    let cases: Vec<(String, &str, &str)> = vec![
        (
            "theme=dark".into(),
            "/protected/u1/a.png",
            "missing-credential",
        ),
        (
            format!("__Host-keyhole={tampered}"),
            "/protected/u1/a.png",
            "bad-signature",
        ),
        (
            format!("__Host-keyhole={expired}"),
            "/protected/u1/a.png",
            "expired",
        ),
        (
            format!("__Host-keyhole={too_long}"),
            "/protected/u1/a.png",
            "ttl-too-long",
        ),
        (
            format!("__Host-keyhole={good}"),
            "/protected/u2/c.png",
            "out-of-scope",
        ),
        (
            format!("__Host-keyhole={good}; __Host-keyhole={tampered}"),
            "/protected/u1/a.png",
            "duplicate-cookie",
        ),
        (
            format!("__Host-keyhole={tampered}; __Host-keyhole={good}"),
            "/protected/u1/a.png",
            "duplicate-cookie",
        ),
        (
            format!("__HOST-keyhole={good}"),
            "/protected/u1/a.png",
            "missing-credential",
        ),
        (
            format!("keyhole={good}"),
            "/protected/u1/a.png",
            "missing-credential",
        ),
        (
            format!("__Host-keyhole={}", "A".repeat(2000)),
            "/protected/u1/a.png",
            "cookie-too-large",
        ),
        (
            format!("__Host-keyhole={}", good.replacen("1.", "1..", 1)),
            "/protected/u1/a.png",
            "malformed",
        ),
    ];
    for (header, target, reason) in cases {
        assert_denied(&env, &with_cookie(&env, target, &header), reason);
    }

    // Two Cookie headers: nginx joins them, keyhole still sees both cookies.
    let two = env.request(
        "GET",
        b"/protected/u1/a.png",
        &format!("Cookie: __Host-keyhole={good}\r\nCookie: __Host-keyhole={good}\r\n"),
    );
    assert_denied(&env, &two, "duplicate-cookie");
}

#[test]
fn a_url_credential_that_fails_never_falls_through_to_the_cookie() {
    let env = env();
    let good = format!(
        "__Host-keyhole={}",
        value(&env, &grant("/protected/u1/", now().plus(600), "s1"))
    );
    let signed = env.sign("/protected/u1/a.png");
    let broken = format!("{}A", &signed[..signed.len() - 1]);
    let broken = if broken == signed {
        format!("{}E", &signed[..signed.len() - 1])
    } else {
        broken
    };
    assert_denied(&env, &with_cookie(&env, &broken, &good), "bad-signature");
    assert_denied(
        &env,
        &with_cookie(&env, "/protected/u1/a.png?kh_v=1", &good),
        "malformed",
    );
    assert_denied(
        &env,
        &with_cookie(&env, "/protected/u1/a.png?token=x.y.z", &good),
        "malformed",
    );
    // A valid URL credential works, cookie or not.
    assert_eq!(with_cookie(&env, &signed, &good).status, 200);
}

#[test]
fn cross_site_requests_with_a_valid_cookie_are_denied() {
    let env = env();
    let good = format!(
        "__Host-keyhole={}",
        value(&env, &grant("/protected/u1/", now().plus(600), "s1"))
    );
    for site in ["cross-site", "nonsense"] {
        let response = env.request(
            "GET",
            b"/protected/u1/a.png",
            &format!(
                "Cookie: {good}\r\nSec-Fetch-Site: {site}\r\nReferer: https://evil.example/page\r\n"
            ),
        );
        assert_denied(&env, &response, "cross-site");
    }

    // An allow-listed partner may embed.
    let partner = Env::start_with(
        &[("KEYHOLE_COOKIE_CROSS_SITE_ALLOW", "https://partner.example")],
        "",
    );
    partner.put("protected/u1/a.png", A);
    let cookie = format!(
        "__Host-keyhole={}",
        value(&partner, &grant("/protected/u1/", now().plus(600), "s1"))
    );
    let from = |referer: &str| {
        partner.request(
            "GET",
            b"/protected/u1/a.png",
            &format!("Cookie: {cookie}\r\nSec-Fetch-Site: cross-site\r\nReferer: {referer}\r\n"),
        )
    };
    assert_eq!(from("https://partner.example/gallery").status, 200);
    assert_denied(
        &partner,
        &from("https://partner.example.evil/"),
        "cross-site",
    );
}

#[test]
fn a_revoked_session_is_denied_from_the_next_request() {
    let env = env();
    let s1 = format!(
        "__Host-keyhole={}",
        value(&env, &grant("/protected/u1/", now().plus(600), "session-1"))
    );
    let s2 = format!(
        "__Host-keyhole={}",
        value(&env, &grant("/protected/u1/", now().plus(600), "session-2"))
    );
    assert_eq!(with_cookie(&env, "/protected/u1/a.png", &s1).status, 200);

    env.revoke_sid("session-1");

    assert_denied(
        &env,
        &with_cookie(&env, "/protected/u1/a.png", &s1),
        "revoked",
    );
    assert_eq!(with_cookie(&env, "/protected/u1/a.png", &s2).status, 200);
}

fn set_cookie_value(response: &Response) -> String {
    let header = response.header("set-cookie").unwrap();
    header.split(';').next().unwrap().trim().to_owned()
}

/// `/_keyhole/session?return_to=…&<the query of a scope-signed URL>`.
fn exchange_link(
    env: &Env,
    prefix: &str,
    return_to: &str,
    adjust: impl FnOnce(&mut keyhole::verify::signed_url::UrlGrant),
) -> String {
    let inside = format!("{prefix}a.png");
    let url = env.sign_with(&inside, |g| {
        g.scope = scope(prefix);
        adjust(g);
    });
    let query = url.split_once('?').unwrap().1;
    format!("/_keyhole/session?return_to={return_to}&{query}")
}

#[test]
fn the_exchange_sets_a_scoped_cookie_and_redirects_inside_the_scope() {
    let env = env();
    let link = exchange_link(&env, "/protected/u1/", "/protected/u1/b.png", |_| {});
    let response = env.get(&link);
    assert_eq!(response.status, 303, "{}", response.head);
    assert_eq!(
        response.header("location").as_deref(),
        Some("/protected/u1/b.png")
    );
    assert_eq!(
        response.header("cache-control").as_deref(),
        Some("no-store")
    );
    assert!(response.header("x-keyhole-reason").is_none());
    let set_cookie = response.header("set-cookie").unwrap();
    for part in [
        "__Host-keyhole=1.k1.",
        "HttpOnly",
        "Secure",
        "Path=/",
        "SameSite=Lax",
    ] {
        assert!(set_cookie.contains(part), "{part} missing: {set_cookie}");
    }
    assert!(!set_cookie.contains("Domain"), "{set_cookie}");
    let max_age: u64 = set_cookie
        .split("Max-Age=")
        .nth(1)
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        (590..=600).contains(&max_age),
        "Max-Age {max_age} beyond the URL's remaining life"
    );

    let cookie = set_cookie_value(&response);
    assert_eq!(with_cookie(&env, "/protected/u1/b.png", &cookie).body, B);
    assert_denied(
        &env,
        &with_cookie(&env, "/protected/u2/c.png", &cookie),
        "out-of-scope",
    );

    // No return_to: the scope itself.
    let bare = exchange_link(&env, "/protected/u1/", "", |_| {}).replace("return_to=&", "");
    let response = env.get(&bare);
    assert_eq!(response.status, 303);
    assert_eq!(
        response.header("location").as_deref(),
        Some("/protected/u1/")
    );
}

#[test]
fn the_exchange_refuses_open_redirects_and_file_grants() {
    let env = env();
    for return_to in [
        "https://evil.example/",
        "//evil.example/",
        "/\\evil.example/",
        "%2F%2Fevil.example/",
        "/%2Fevil.example/",
        "/%5Cevil.example/",
        "%5C%5Cevil.example/",
        "/protected/u2/c.png",
        "/protected/u1/../u2/c.png",
        "/protected/u1/%2e%2e/u2/c.png",
        "/protected/u10/x.png",
        "javascript:alert(1)",
        "/protected/u1/a.png?next=//evil.example",
    ] {
        let response = env.get(&exchange_link(&env, "/protected/u1/", return_to, |_| {}));
        assert_ne!(response.status, 303, "{return_to}");
        assert!(response.header("location").is_none(), "{return_to}");
        assert!(response.header("set-cookie").is_none(), "{return_to}");
    }
    let log = env.keyhole.log_text();
    assert!(log.matches("bad-return-to").count() >= 8, "{log}");

    // A URL for one file cannot become a cookie.
    let file_url = env.sign("/protected/u1/a.png");
    let query = file_url.split_once('?').unwrap().1;
    let response = env.get(&format!(
        "/_keyhole/session?return_to=/protected/u1/a.png&{query}"
    ));
    assert_eq!(response.status, 403);
    assert!(response.header("set-cookie").is_none());
    // An expired scope URL neither.
    let expired = exchange_link(&env, "/protected/u1/", "/protected/u1/a.png", |g| {
        g.exp = now().minus(120)
    });
    assert_eq!(env.get(&expired).status, 403);
    // Two return_to parameters.
    let twice = exchange_link(&env, "/protected/u1/", "/protected/u1/a.png", |_| {}).replace(
        "return_to=/protected/u1/a.png&",
        "return_to=/protected/u1/a.png&return_to=/protected/u1/b.png&",
    );
    assert_eq!(env.get(&twice).status, 403);
    std::thread::sleep(Duration::from_millis(50));
    let log = env.keyhole.log_text();
    for reason in ["scope-required", "expired", "duplicate-param"] {
        assert!(log.contains(reason), "{reason} not logged: {log}");
    }
}

#[test]
fn a_scope_jwt_can_be_exchanged_too() {
    let env = env();
    let (kid, alg, key) = {
        let keys = keyhole::verify::jwt::keys::parse_hmac_keys(JWT_KEY).unwrap();
        let verifier = keyhole::verify::jwt::JwtVerifier::new(keys, Default::default()).unwrap();
        verifier.signing_key().unwrap()
    };
    let grant = keyhole::verify::jwt::TokenGrant {
        path: CanonicalPath::parse(b"/protected/u1/a.png").unwrap(),
        scope: Some(Scope::parse(b"/protected/u1/").unwrap()),
        iat: now(),
        exp: now().plus(120),
        audience: "keyhole".into(),
        once: true,
    };
    let token = keyhole::verify::jwt::mint(&grant, &kid, alg, &key).unwrap();
    let link = format!("/_keyhole/session?return_to=/protected/u1/a.png&token={token}");
    let response = env.get(&link);
    assert_eq!(response.status, 303, "{}", response.head);
    let cookie = set_cookie_value(&response);
    assert_eq!(with_cookie(&env, "/protected/u1/b.png", &cookie).body, B);
    // Single use: the same link cannot mint a second cookie.
    assert_eq!(env.get(&link).status, 403);
}
