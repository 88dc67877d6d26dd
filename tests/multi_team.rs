//! Two teams on one keyhole, through a real nginx with two virtual hosts: each team's
//! key is limited to its own paths (and team B's to its own host), so a URL correctly
//! signed with team A's key for team B's files is `key-out-of-scope`; a host-bound URL
//! opens on its host only; the CLI refuses to sign outside a key's limits; and who
//! opened what reaches nginx's access log and keyhole's audit log, never a credential.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::process::Command;

use common::{Env, TEST_SECRET, now};
use keyhole::canonical::CanonicalPath;
use keyhole::host::Host;
use keyhole::verify::signed_url::{self, UrlGrant};
use serde_json::json;

/// Team B's secret: 32 bytes 0x20..0x3f.
const SECRET_B: &str = "ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8";

fn keys_var() -> String {
    format!(
        "a:{TEST_SECRET};paths=/protected/a/,b:{SECRET_B};paths=/protected/b/;hosts=team-b.test"
    )
}

/// Team B's virtual host, next to the shipped example site (team A's, `localhost`),
/// using the shipped `keyhole.conf` as a second server block would.
const TEAM_B_SERVER: &str = r#"
server {
    listen 127.0.0.1:@PORT@;
    server_name team-b.test;
    root @ROOT@;
    access_log @ACCESS_LOG@ keyhole;
    error_log @ACCESS_LOG@.error crit;
    include @CONF@/keyhole.conf;
    location /protected/ {
        auth_request /_keyhole/auth;
        auth_request_set $keyhole_reason $upstream_http_x_keyhole_reason;
        auth_request_set $keyhole_key $upstream_http_x_keyhole_key;
        auth_request_set $keyhole_subject $upstream_http_x_keyhole_subject;
        auth_request_set $keyhole_token_id $upstream_http_x_keyhole_token_id;
        auth_request_set $keyhole_session $upstream_http_x_keyhole_session;
        try_files $uri =404;
    }
}
"#;

fn two_teams(extra: &[(&str, &str)]) -> Env {
    let keys = keys_var();
    let mut vars = vec![("KEYHOLE_KEYS", keys.as_str())];
    vars.extend_from_slice(extra);
    let env = Env::builder().vars(&vars).http(TEAM_B_SERVER).start();
    env.put("protected/a/photo.png", b"team a bytes");
    env.put("protected/b/photo.png", b"team b bytes");
    env
}

/// Signs with keyhole-core's signer directly, whatever the key's limits say.
fn sign_with(env: &Env, kid: &str, path: &str, host: Option<&str>) -> String {
    let mut grant = UrlGrant::new(
        CanonicalPath::parse(path.as_bytes()).unwrap(),
        now().plus(600),
    );
    grant.host = host.map(|h| Host::parse(h).unwrap());
    signed_url::sign(&grant, env.keys.find(kid).unwrap()).unwrap()
}

fn get_on(env: &Env, host: &str, target: &str) -> common::Response {
    let request = format!("GET {target} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    env.raw(request.as_bytes())
}

fn last_field(env: &Env, name: &str) -> String {
    env.last_reason();
    let log = std::fs::read_to_string(env.stack.layout.access_log()).unwrap();
    let line = log.lines().last().unwrap_or_default().to_owned();
    line.split_whitespace()
        .find_map(|field| field.strip_prefix(&format!("{name}=")))
        .unwrap_or_default()
        .to_owned()
}

#[test]
fn each_team_opens_its_own_files_only() {
    let env = two_teams(&[]);
    let a = sign_with(&env, "a", "/protected/a/photo.png", None);
    let response = get_on(&env, "localhost", &a);
    assert_eq!(
        (response.status, response.body.as_slice()),
        (200, b"team a bytes".as_slice())
    );
    assert_eq!(last_field(&env, "key"), "a");
    assert_eq!(last_field(&env, "host"), "localhost");

    // Correctly signed with team A's key, for team B's file: the signature holds, the
    // key may not grant it.
    let forged_scope = sign_with(&env, "a", "/protected/b/photo.png", None);
    for host in ["localhost", "team-b.test"] {
        let response = get_on(&env, host, &forged_scope);
        assert_eq!(response.status, 403, "{host}");
        assert_eq!(env.last_reason(), "key-out-of-scope", "{host}");
        assert_eq!(last_field(&env, "key"), "", "a denial names no key");
    }

    // Team B's key opens team B's files on team B's host only.
    let b = sign_with(&env, "b", "/protected/b/photo.png", None);
    let response = get_on(&env, "team-b.test", &b);
    assert_eq!(
        (response.status, response.body.as_slice()),
        (200, b"team b bytes".as_slice())
    );
    assert_eq!(last_field(&env, "key"), "b");
    assert_eq!(get_on(&env, "TEAM-B.test.", &b).status, 200);
    assert_eq!(get_on(&env, "localhost", &b).status, 403);
    assert_eq!(env.last_reason(), "key-out-of-scope");
    let b_on_a = sign_with(&env, "b", "/protected/a/photo.png", None);
    assert_eq!(get_on(&env, "team-b.test", &b_on_a).status, 403);
    assert_eq!(env.last_reason(), "key-out-of-scope");
}

#[test]
fn a_host_bound_url_opens_on_its_host_only() {
    let env = two_teams(&[]);
    // Key a serves both virtual hosts; the URL binds one.
    let bound = sign_with(&env, "a", "/protected/a/photo.png", Some("localhost"));
    assert!(bound.contains("&kh_host=localhost&"), "{bound}");
    assert_eq!(get_on(&env, "localhost", &bound).status, 200);
    assert_eq!(get_on(&env, "team-b.test", &bound).status, 403);
    assert_eq!(env.last_reason(), "host-mismatch");
    // Rebinding it to the other host breaks the signature.
    let rebound = bound.replace("kh_host=localhost", "kh_host=team-b.test");
    assert_eq!(get_on(&env, "team-b.test", &rebound).status, 403);
    assert_eq!(env.last_reason(), "bad-signature");
    // The unbound URL of the same key opens on both.
    let unbound = sign_with(&env, "a", "/protected/a/photo.png", None);
    assert_eq!(get_on(&env, "team-b.test", &unbound).status, 200);
    // A client's own X-Original-Host is never passed on: nginx sets it from $host.
    let spoofed = format!(
        "GET {bound} HTTP/1.1\r\nHost: team-b.test\r\nX-Original-Host: localhost\r\nConnection: close\r\n\r\n"
    );
    assert_eq!(env.raw(spoofed.as_bytes()).status, 403);
    assert_eq!(env.last_reason(), "host-mismatch");
}

#[test]
fn jwt_keys_have_limits_and_the_audit_trail_names_the_subject() {
    let jwt_keys = format!("h256:HS256:{TEST_SECRET};paths=/protected/a/,h384:HS384:{TEST_SECRET}");
    let jwks = common::jwt::keys().jwks_path.to_str().unwrap().to_owned();
    let env = two_teams(&[
        ("KEYHOLE_JWT_KEYS", &jwt_keys),
        ("KEYHOLE_JWKS_FILE", &jwks),
        ("KEYHOLE_LOG", "info"),
        ("KEYHOLE_AUDIT", "on"),
    ]);
    let claims = |path: &str| {
        let c = common::jwt::set(common::jwt::claims(), "kh_path", json!(path));
        let c = common::jwt::set(c, "sub", json!("user 42"));
        common::jwt::set(c, "jti", json!("t-1"))
    };
    let token = common::jwt::token_for("h256", &claims("/protected/a/photo.png"));
    let response = get_on(
        &env,
        "localhost",
        &format!("/protected/a/photo.png?token={token}"),
    );
    assert_eq!(response.status, 200);
    assert_eq!(last_field(&env, "key"), "h256");
    assert_eq!(last_field(&env, "sub"), "user%2042");
    assert_eq!(last_field(&env, "jti"), "t-1");
    let token = common::jwt::token_for("h256", &claims("/protected/b/photo.png"));
    let response = get_on(
        &env,
        "localhost",
        &format!("/protected/b/photo.png?token={token}"),
    );
    assert_eq!(response.status, 403);
    assert_eq!(env.last_reason(), "key-out-of-scope");
    // The unlimited key opens both.
    let token = common::jwt::token_for("h384", &claims("/protected/b/photo.png"));
    let response = get_on(
        &env,
        "localhost",
        &format!("/protected/b/photo.png?token={token}"),
    );
    assert_eq!(response.status, 200);
    // keyhole's own log: allows at info with the audit fields (KEYHOLE_AUDIT=on).
    let log = env.keyhole.log_text();
    let allow = log
        .lines()
        .find(|line| line.contains("allow") && line.contains("h256"))
        .unwrap_or_else(|| panic!("no audited allow in keyhole's log:\n{log}"));
    assert!(
        allow.contains("user%2042") && allow.contains("t-1"),
        "{allow}"
    );
    // Env's drop checks that no token reached any log.
}

#[test]
fn the_audit_log_is_off_by_default() {
    let env = two_teams(&[("KEYHOLE_LOG", "info")]);
    let a = sign_with(&env, "a", "/protected/a/photo.png", None);
    assert_eq!(get_on(&env, "localhost", &a).status, 200);
    assert_eq!(last_field(&env, "key"), "a");
    assert!(
        !env.keyhole.log_text().contains("allow"),
        "{}",
        env.keyhole.log_text()
    );
}

fn keyhole_cli(args: &[&str], vars: &[(&str, &str)]) -> std::process::Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_keyhole"));
    command
        .args(args)
        .env_clear()
        .env("KEYHOLE_KEYS", keys_var());
    for (name, value) in vars {
        command.env(name, value);
    }
    command.output().unwrap()
}

fn assert_refused(output: &std::process::Output, needle: &str) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(output.stdout.is_empty());
    assert!(stderr.contains(needle), "{stderr}");
    assert!(stderr.contains("key-out-of-scope"), "{stderr}");
}

#[test]
fn the_cli_refuses_to_sign_outside_a_keys_limits() {
    let env = two_teams(&[]);
    assert_refused(
        &keyhole_cli(&["sign", "--kid", "a", "/protected/b/photo.png"], &[]),
        "PATH /protected/b/photo.png",
    );
    assert_refused(
        &keyhole_cli(
            &[
                "sign",
                "--kid",
                "a",
                "/protected/a/photo.png",
                "--scope",
                "/protected/",
            ],
            &[],
        ),
        "scope /protected/",
    );
    assert_refused(
        &keyhole_cli(
            &[
                "sign",
                "--kid",
                "b",
                "/protected/b/photo.png",
                "--host",
                "localhost",
            ],
            &[],
        ),
        "--host localhost",
    );
    assert_refused(
        &keyhole_cli(&["cookie", "--kid", "a", "/protected/b/"], &[]),
        "scope /protected/b/",
    );
    let jwt_keys = format!("h256:HS256:{TEST_SECRET};paths=/protected/a/");
    assert_refused(
        &keyhole_cli(
            &["mint", "--kid", "h256", "/protected/b/photo.png"],
            &[("KEYHOLE_JWT_KEYS", &jwt_keys)],
        ),
        "PATH /protected/b/photo.png",
    );
    let unknown = keyhole_cli(&["sign", "--kid", "c", "/protected/a/photo.png"], &[]);
    assert_eq!(unknown.status.code(), Some(2));

    // What --kid signs inside the limits opens through nginx.
    let output = keyhole_cli(
        &[
            "sign",
            "--kid",
            "b",
            "/protected/b/photo.png",
            "--host",
            "team-b.test",
        ],
        &[],
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let url = String::from_utf8(output.stdout).unwrap();
    let url = url.trim();
    assert!(
        url.contains("kh_kid=b") && url.contains("kh_host=team-b.test"),
        "{url}"
    );
    assert_eq!(get_on(&env, "team-b.test", url).status, 200);
    assert_eq!(get_on(&env, "localhost", url).status, 403);
    assert_eq!(env.last_reason(), "host-mismatch");

    // explain reports the key's limits and the bound host.
    let output = keyhole_cli(&["explain", url, "--host", "team-b.test"], &[]);
    let report = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{report}");
    assert!(
        report.contains("key limits: paths=/protected/b/;hosts=team-b.test"),
        "{report}"
    );
    assert!(report.contains("bound host: team-b.test"), "{report}");
    let output = keyhole_cli(&["explain", url, "--host", "localhost"], &[]);
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stdout).contains("host-mismatch"));
}

/// The cookie exchange signs the cookie with the key that signed the URL, so the
/// key's limits follow the grant into the cookie: team B's cookie opens team B's
/// files on team B's host only. A scope wider than the key's prefixes, or a URL bound
/// to a host (the cookie cannot carry it), is refused at the exchange.
#[test]
fn the_exchange_carries_the_keys_limits_into_the_cookie() {
    let env = two_teams(&[]);
    env.put("protected/b/u1/photo.png", b"team b u1 bytes");
    let link = |kid: &str, scope: &str, host: Option<&str>| {
        let mut grant = UrlGrant::new(
            CanonicalPath::parse(format!("{scope}photo.png").as_bytes()).unwrap(),
            now().plus(600),
        );
        grant.scope = common::scope(scope);
        grant.host = host.map(|h| Host::parse(h).unwrap());
        let url = signed_url::sign(&grant, env.keys.find(kid).unwrap()).unwrap();
        format!("/_keyhole/session?{}", url.split_once('?').unwrap().1)
    };
    let response = get_on(&env, "team-b.test", &link("b", "/protected/b/u1/", None));
    assert_eq!(response.status, 303, "{}", response.head);
    let cookie = response.header("set-cookie").unwrap();
    let cookie = cookie.split(';').next().unwrap().trim().to_owned();
    assert!(cookie.contains(".b."), "signed with key b: {cookie}");
    env.remember_secrets(format!("Cookie: {cookie}").as_bytes());
    let with_cookie = |host: &str, path: &str| {
        let request = format!(
            "GET {path} HTTP/1.1\r\nHost: {host}\r\nCookie: {cookie}\r\nConnection: close\r\n\r\n"
        );
        env.raw(request.as_bytes())
    };
    let served = with_cookie("team-b.test", "/protected/b/u1/photo.png");
    assert_eq!(served.status, 200);
    assert_eq!(last_field(&env, "key"), "b");
    assert!(
        last_field(&env, "sid").len() >= 16,
        "the session id is logged"
    );
    assert_eq!(
        with_cookie("localhost", "/protected/b/u1/photo.png").status,
        403
    );
    assert_eq!(env.last_reason(), "key-out-of-scope");

    // A scope wider than key a's prefix: refused at the exchange, no cookie.
    let response = get_on(&env, "localhost", &link("a", "/protected/", None));
    assert_eq!(response.status, 403);
    assert!(response.header("set-cookie").is_none());
    // A host-bound URL cannot become a cookie.
    let response = get_on(
        &env,
        "localhost",
        &link("a", "/protected/a/", Some("localhost")),
    );
    assert_eq!(response.status, 403);
    assert!(response.header("set-cookie").is_none());
    let log = env.keyhole.log_text();
    for reason in ["key-out-of-scope", "not-exchangeable"] {
        assert!(
            log.lines()
                .any(|line| line.contains("exchange denied") && line.contains(reason)),
            "{reason}:\n{log}"
        );
    }
}

/// `KEYHOLE_JWKS_KEY_LIMITS` limits JWKS keys by key id; a JWKS file key it leaves out
/// while it lists others is a configuration error, not a key that opens everything.
#[test]
fn jwks_keys_take_their_limits_by_key_id() {
    let jwks = common::jwt::keys().jwks_path.to_str().unwrap().to_owned();
    let document: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&jwks).unwrap()).unwrap();
    let kids: Vec<String> = document["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|key| key["kid"].as_str().unwrap().to_owned())
        .collect();
    assert!(kids.iter().any(|kid| kid == "e256"), "{kids:?}");
    let limits: Vec<String> = kids
        .iter()
        .map(|kid| match kid.as_str() {
            "e256" => format!("{kid};paths=/protected/a/"),
            _ => format!("{kid};paths=/"),
        })
        .collect();
    let limits = limits.join(",");
    let env = two_teams(&[
        ("KEYHOLE_JWKS_FILE", &jwks),
        ("KEYHOLE_JWKS_KEY_LIMITS", &limits),
    ]);
    let claims = |path: &str| common::jwt::set(common::jwt::claims(), "kh_path", json!(path));
    let token = common::jwt::token_for("e256", &claims("/protected/a/photo.png"));
    let target = format!("/protected/a/photo.png?token={token}");
    assert_eq!(get_on(&env, "localhost", &target).status, 200);
    let token = common::jwt::token_for("e256", &claims("/protected/b/photo.png"));
    let target = format!("/protected/b/photo.png?token={token}");
    assert_eq!(get_on(&env, "localhost", &target).status, 403);
    assert_eq!(env.last_reason(), "key-out-of-scope");

    // Leaving a JWKS file key out is refused at start.
    let output = keyhole_cli(
        &["explain", "/protected/a/photo.png"],
        &[
            ("KEYHOLE_JWKS_FILE", &jwks),
            ("KEYHOLE_JWKS_KEY_LIMITS", "e256;paths=/protected/a/"),
        ],
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("KEYHOLE_JWKS_KEY_LIMITS"), "{stderr}");
}

/// keyhole's JSON log carries the audit fields with `KEYHOLE_AUDIT=on`, and the
/// metrics count allows by key id, for key ids the configuration names only.
#[test]
fn the_json_audit_log_and_the_key_metric() {
    let env = two_teams(&[
        ("KEYHOLE_LOG", "info"),
        ("KEYHOLE_LOG_FORMAT", "json"),
        ("KEYHOLE_AUDIT", "on"),
    ]);
    let a = sign_with(&env, "a", "/protected/a/photo.png", None);
    assert_eq!(get_on(&env, "localhost", &a).status, 200);
    let b = sign_with(&env, "b", "/protected/b/photo.png", None);
    assert_eq!(get_on(&env, "team-b.test", &b).status, 200);
    assert_eq!(get_on(&env, "team-b.test", &b).status, 200);
    let log = env.keyhole.log_text();
    let allows: Vec<serde_json::Value> = log
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|entry| entry["message"] == "allow")
        .collect();
    assert_eq!(allows.len(), 3, "{log}");
    assert_eq!(allows[0]["key"], "a", "{log}");
    assert_eq!(allows[0]["host"], "localhost", "{log}");
    assert_eq!(allows[1]["key"], "b", "{log}");
    assert_eq!(allows[1]["host"], "team-b.test", "{log}");
    let metrics = common::send_raw(
        env.keyhole.admin_port,
        b"GET /metrics HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
    );
    let text = String::from_utf8(metrics.body).unwrap();
    for (key, count) in [("a", 1), ("b", 2)] {
        let series =
            format!("keyhole_key_allows_total{{credential=\"signed-url\",key=\"{key}\"}} {count}");
        assert!(text.contains(&series), "{series}\n{text}");
    }
}
