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
    let env = Env::builder()
        .vars(&[("KEYHOLE_JWT_KEYS", JWT_KEY)])
        .start();
    env.put("protected/u1/a.png", A);
    env.put("protected/u1/b.png", B);
    env.put("protected/u2/c.png", C);
    env
}

fn grant(prefix: &str, exp: UnixTime, sid: &str) -> CookieGrant {
    CookieGrant::new(
        Scope::parse(prefix.as_bytes()).unwrap(),
        exp,
        Some(SessionId::parse(sid).unwrap()),
    )
}

fn value(env: &Env, grant: &CookieGrant) -> String {
    cookie::sign(grant, env.keys.signing_key()).unwrap()
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
    let partner = Env::builder()
        .vars(&[("KEYHOLE_COOKIE_CROSS_SITE_ALLOW", "https://partner.example")])
        .start();
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
        "__Host-keyhole=2.k1.",
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
        ip: None,
        methods: None,
        uses: None,
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

/// Extra nginx config: a second site on `site_port` that includes the shipped
/// `keyhole.conf` and protects `/app/` with it in front of an application (`proxy_pass`
/// to a third server on `app_port` that answers every method with 200), so that nginx
/// never refuses a method before keyhole is asked, as a static location would with 405.
fn proxying_site(site_port: u16, app_port: u16) -> String {
    format!(
        "    server {{
        listen 127.0.0.1:{site_port};
        server_name app;
        access_log logs/keyhole-access.log keyhole;
        error_log logs/keyhole-error.log warn;
        include conf/keyhole.conf;
        location /app/ {{
            auth_request /_keyhole/auth;
            auth_request_set $keyhole_reason $upstream_http_x_keyhole_reason;
            proxy_pass http://127.0.0.1:{app_port};
        }}
    }}
    server {{
        listen 127.0.0.1:{app_port};
        server_name upstream;
        access_log off;
        default_type text/plain;
        location / {{ return 200 \"application ran $request_method\\n\"; }}
    }}"
    )
}

/// A raw request to another port of this Env's nginx, remembered for the log check.
fn to_port(env: &Env, port: u16, method: &str, target: &str, headers: &str) -> Response {
    let body = if method == "POST" || method == "PUT" {
        "Content-Length: 0\r\n"
    } else {
        ""
    };
    let request = format!(
        "{method} {target} HTTP/1.1\r\nHost: app\r\nConnection: close\r\n{headers}{body}\r\n"
    );
    env.remember_secrets(request.as_bytes());
    env.note_request();
    common::send_raw(port, request.as_bytes())
}

/// Regression (attack run): `/auth` allowed a valid cookie for POST, PUT and DELETE. A
/// static location hid it behind nginx's 405; a location that proxies to an application
/// ran the request.
#[test]
fn a_cookie_never_opens_a_proxied_application_for_other_methods_than_get_and_head() {
    let (site_port, app_port) = (common::free_port(), common::free_port());
    let env = Env::builder()
        .http(&proxying_site(site_port, app_port))
        .start();
    let good = value(&env, &grant("/app/", now().plus(600), "s1"));
    let cookie = format!("Cookie: __Host-keyhole={good}\r\n");
    let get = to_port(&env, site_port, "GET", "/app/x", &cookie);
    assert_eq!(get.status, 200, "{}", get.head);
    assert_eq!(get.body, b"application ran GET\n");
    assert_eq!(env.last_reason(), "ok");
    assert_eq!(
        to_port(&env, site_port, "HEAD", "/app/x", &cookie).status,
        200
    );
    for method in [
        "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "PROPFIND", "MKCOL", "COPY", "MOVE",
    ] {
        let response = to_port(&env, site_port, method, "/app/x", &cookie);
        assert_eq!(response.status, 403, "{method}: {}", response.head);
        assert!(
            !String::from_utf8_lossy(&response.body).contains("application ran"),
            "{method} reached the application"
        );
        assert_eq!(env.last_reason(), "method-not-allowed", "{method}");
    }
    // A HEAD-only cookie does not open GET either.
    let mut head = grant("/app/", now().plus(600), "s2");
    head.methods = keyhole::claims::CookieMethods::Head;
    let head = format!("Cookie: __Host-keyhole={}\r\n", value(&env, &head));
    assert_eq!(
        to_port(&env, site_port, "HEAD", "/app/x", &head).status,
        200
    );
    assert_eq!(to_port(&env, site_port, "GET", "/app/x", &head).status, 403);
    assert_eq!(env.last_reason(), "method-not-allowed");
}

/// Regression (attack run): the exchange made an unbound GET,HEAD cookie out of an
/// address-bound (address or network) or HEAD-only scope URL.
#[test]
fn the_exchange_keeps_the_address_and_method_bindings() {
    let env = env();
    let from = |source: [u8; 4], target: &str, cookie: &str| {
        let request = format!(
            "GET {target} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nCookie: {cookie}\r\n\r\n"
        );
        env.remember_secrets(request.as_bytes());
        env.note_request();
        common::send_raw_from(source.into(), env.port, request.as_bytes())
    };
    for binding in ["127.0.0.1", "127.0.0.0/30"] {
        let link = exchange_link(&env, "/protected/u1/", "/protected/u1/a.png", |g| {
            g.ip = common::ip(binding);
        });
        let response = env.get(&link);
        assert_eq!(response.status, 303, "{binding}: {}", response.head);
        let cookie = set_cookie_value(&response);
        let allowed = from([127, 0, 0, 1], "/protected/u1/b.png", &cookie);
        assert_eq!(
            (allowed.status, allowed.body.as_slice()),
            (200, B),
            "{binding}"
        );
        let denied = from([127, 0, 0, 9], "/protected/u1/b.png", &cookie);
        assert_denied(&env, &denied, "ip-mismatch");
    }
    // Exchanged from outside its binding: no cookie at all.
    let link = exchange_link(&env, "/protected/u1/", "/protected/u1/a.png", |g| {
        g.ip = common::ip("127.0.0.1");
    });
    let response = from([127, 0, 0, 9], &link, "x=1");
    assert_eq!(response.status, 403);
    assert!(response.header("set-cookie").is_none());

    // HEAD-only: exchanged with HEAD, the cookie opens files for HEAD and not for GET.
    let link = exchange_link(&env, "/protected/u1/", "/protected/u1/a.png", |g| {
        g.methods = common::methods("HEAD");
    });
    assert_eq!(env.get(&link).status, 403, "a GET exchange of a HEAD URL");
    let response = env.request("HEAD", link.as_bytes(), "");
    assert_eq!(response.status, 303, "{}", response.head);
    let cookie = format!("Cookie: {}\r\n", set_cookie_value(&response));
    assert_eq!(
        env.request("HEAD", b"/protected/u1/b.png", &cookie).status,
        200
    );
    let get = env.request("GET", b"/protected/u1/b.png", &cookie);
    assert_denied(&env, &get, "method-not-allowed");

    // A URL for methods other than GET and HEAD, and a URL with a bound query, give no
    // cookie: nothing a cookie may carry, and a binding it cannot carry.
    let post = exchange_link(&env, "/protected/u1/", "/protected/u1/a.png", |g| {
        g.methods = common::methods("POST");
    });
    let response = env.request("POST", post.as_bytes(), "");
    assert_eq!(response.status, 403, "{}", response.head);
    let bound = env.sign_with("/protected/u1/a.png", |g| {
        g.scope = scope("/protected/u1/");
        g.query = Some("return_to=/protected/u1/a.png".into());
    });
    let query = format!("/_keyhole/session?{}", bound.split_once('?').unwrap().1);
    let response = env.get(&query);
    assert_eq!(response.status, 403, "{}", response.head);
    assert!(response.header("set-cookie").is_none());
    std::thread::sleep(Duration::from_millis(50));
    let log = env.keyhole.log_text();
    for reason in ["method-not-allowed", "not-exchangeable"] {
        assert!(log.contains(reason), "{reason} not logged: {log}");
    }
}

/// Login CSRF: another site navigating the victim's browser to the exchange with the
/// attacker's grant gets no cookie set; the same link from the site itself, typed or
/// from a bookmark, or from an allow-listed partner works.
#[test]
fn the_exchange_refuses_cross_site_navigations() {
    let env = env();
    let link = || exchange_link(&env, "/protected/u1/", "/protected/u1/a.png", |_| {});
    for site in ["cross-site", "nonsense"] {
        let response = env.request(
            "GET",
            link().as_bytes(),
            &format!("Sec-Fetch-Site: {site}\r\nReferer: https://evil.example/page\r\n"),
        );
        assert_eq!(response.status, 403, "{site}: {}", response.head);
        assert!(response.header("set-cookie").is_none(), "{site}");
        assert!(response.header("location").is_none(), "{site}");
    }
    std::thread::sleep(Duration::from_millis(50));
    let log = env.keyhole.log_text();
    let refused = log
        .lines()
        .filter(|line| line.contains("exchange denied") && line.contains("cross-site"))
        .count();
    assert_eq!(refused, 2, "{log}");
    for site in ["same-origin", "same-site", "none"] {
        let response = env.request(
            "GET",
            link().as_bytes(),
            &format!("Sec-Fetch-Site: {site}\r\n"),
        );
        assert_eq!(response.status, 303, "{site}: {}", response.head);
    }
    assert_eq!(env.get(&link()).status, 303, "no Sec-Fetch-Site");

    // The same through the decision-cache variant of the shipped file.
    let cached = Env::builder().decision_cache().start();
    let link = exchange_link(&cached, "/protected/u1/", "/protected/u1/a.png", |_| {});
    let cross = "Sec-Fetch-Site: cross-site\r\nReferer: https://evil.example/\r\n";
    assert_eq!(cached.request("GET", link.as_bytes(), cross).status, 403);
    assert_eq!(cached.get(&link).status, 303);

    let partner = Env::builder()
        .vars(&[("KEYHOLE_COOKIE_CROSS_SITE_ALLOW", "https://partner.example")])
        .start();
    let link = exchange_link(&partner, "/protected/u1/", "/protected/u1/a.png", |_| {});
    let from = |referer: &str| {
        partner.request(
            "GET",
            link.as_bytes(),
            &format!("Sec-Fetch-Site: cross-site\r\nReferer: {referer}\r\n"),
        )
    };
    assert_eq!(from("https://partner.example/mail").status, 303);
    assert_eq!(from("https://partner.example.evil/").status, 403);
}

/// docs/cookies.md: whitespace around the cookie's name and value is trimmed, through
/// nginx as in `cookie::find`.
#[test]
fn a_cookie_name_with_surrounding_whitespace_is_the_cookie() {
    let env = env();
    let good = value(&env, &grant("/protected/u1/", now().plus(600), "s1"));
    let padded = format!("theme=dark;  __Host-keyhole\t= {good} ; b=1");
    assert_eq!(with_cookie(&env, "/protected/u1/a.png", &padded).body, A);
    let twice = format!("__Host-keyhole={good}; __Host-keyhole ={good}");
    assert_denied(
        &env,
        &with_cookie(&env, "/protected/u1/a.png", &twice),
        "duplicate-cookie",
    );
}
