//! ngx_http_keyhole_module through a real nginx that loads the built module
//! (scripts/build-nginx-module) with the shipped files: signed URLs decided inside
//! nginx without the sidecar, the published vectors, parity with the sidecar on
//! generated requests, key rotation by reload under load, and the handover of a
//! single-use JWT to the sidecar. Requests go out as raw bytes.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::process::Command;
use std::time::Duration;

use common::module::{self as module, ModuleSetup};
use common::rng::Rng;
use common::{Env, KEY_LINE, TEST_SECRET, free_port, ip, jwt, methods, now, scope, send_raw};
use keyhole::canonical::{CanonicalPath, Scope};
use keyhole::clock::UnixTime;
use keyhole::verify::cookie::{self, CookieGrant, SessionId};
use keyhole::verify::signed_url::{UrlGrant, sign};
use serde_json::Value;

const FILE: &[u8] = b"module-protected bytes";

fn start(setup: ModuleSetup, vars: &[(&str, &str)], http: &str) -> Env {
    let env = Env::builder().vars(vars).http(http).module(setup).start();
    env.put("protected/a.jpg", FILE);
    env.put("protected/d/c.jpg", FILE);
    env
}

/// How many decisions the sidecar has made (`keyhole_decisions_total`, every label).
fn sidecar_decisions(env: &Env) -> u64 {
    let metrics = send_raw(
        env.keyhole.admin_port,
        b"GET /metrics HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
    );
    String::from_utf8_lossy(&metrics.body)
        .lines()
        .filter(|l| l.starts_with("keyhole_decisions_total{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

/// Denied by the module: the status, the logged reason, and no upstream round trip.
fn assert_module_denied(env: &Env, target: &str, method: &str, reason: &str) {
    let response = env.request(method, target.as_bytes(), "");
    assert_eq!(response.status, 403, "{target}: {}", response.head);
    assert!(!response.body.windows(FILE.len()).any(|w| w == FILE));
    assert_eq!(env.last_reason(), reason, "{target}");
}

#[test]
fn signed_urls_are_decided_in_nginx_and_the_sidecar_is_never_asked() {
    let env = start(ModuleSetup::with_sidecar(), &[], "");
    let url = env.sign("/protected/a.jpg");
    let response = env.get(&url);
    assert_eq!(response.status, 200, "{}", response.head);
    assert_eq!(response.body, FILE);

    let tampered = url.replace("/protected/a.jpg", "/protected/d/c.jpg");
    assert_module_denied(&env, &tampered, "GET", "bad-signature");
    let expired = env.sign_with("/protected/a.jpg", |g| g.exp = UnixTime(now().0 - 120));
    assert_module_denied(&env, &expired, "GET", "expired");
    let scoped = env.sign_with("/protected/d/c.jpg", |g| g.scope = scope("/protected/d/"));
    let outside = scoped.replace("/protected/d/c.jpg", "/protected/a.jpg");
    assert_module_denied(&env, &outside, "GET", "out-of-scope");
    assert_module_denied(&env, &url, "POST", "method-not-allowed");
    let bound = env.sign_with("/protected/a.jpg", |g| g.ip = ip("192.0.2.7"));
    assert_module_denied(&env, &bound, "GET", "ip-mismatch");
    assert_module_denied(&env, "/protected/a.jpg", "GET", "missing-credential");
    assert_module_denied(
        &env,
        "/protected/../protected/a.jpg?kh_v=1",
        "GET",
        "path-traversal",
    );
    // A method the URL grants, in-process too.
    let put = env.sign_with("/protected/a.jpg", |g| g.methods = methods("PUT"));
    let response = env.request("PUT", put.as_bytes(), "Content-Length: 0\r\n");
    assert_ne!(response.status, 403, "{}", response.head);
    // Everything above was decided once, in nginx: the sidecar decided nothing.
    assert_eq!(sidecar_decisions(&env), 0);
}

#[test]
fn a_single_use_jwt_is_handed_to_the_sidecar_and_decided_once() {
    let hmac = jwt::hmac_keys_var();
    let env = start(
        ModuleSetup::with_sidecar(),
        &[("KEYHOLE_JWT_KEYS", &hmac)],
        "",
    );
    let token = jwt::token_for("h256", &jwt::once_claims("module-once-1"));
    let first = jwt::get_token(&env, "/protected/a.jpg", &token);
    assert_eq!(first.status, 200, "{}", first.head);
    assert_eq!(sidecar_decisions(&env), 1, "handed over exactly once");
    let second = jwt::get_token(&env, "/protected/a.jpg", &token);
    assert_eq!(second.status, 403);
    assert_eq!(env.last_reason(), "replayed");
    assert_eq!(sidecar_decisions(&env), 2);
    // A signed URL next to it never reaches the sidecar.
    assert_eq!(env.get(&env.sign("/protected/a.jpg")).status, 200);
    assert_eq!(sidecar_decisions(&env), 2);
}

#[test]
fn a_session_cookie_is_handed_to_the_sidecar_once_per_request_until_revoked() {
    let env = start(ModuleSetup::with_sidecar(), &[], "");
    let grant = CookieGrant::new(
        Scope::parse(b"/protected/").unwrap(),
        now().plus(600),
        Some(SessionId::parse("module-session-1").unwrap()),
    );
    let value = cookie::sign(&grant, env.keys.signing_key()).unwrap();
    let header = format!("Cookie: __Host-keyhole={value}\r\n");
    env.remember_secrets(header.as_bytes());
    for (n, target) in [(1, "/protected/a.jpg"), (2, "/protected/d/c.jpg")] {
        let response = env.request("GET", target.as_bytes(), &header);
        assert_eq!(response.status, 200, "{target}: {}", response.head);
        assert_eq!(response.body, FILE);
        // Handed over, and decided by the sidecar exactly once for this request.
        assert_eq!(sidecar_decisions(&env), n, "{target}");
    }
    env.revoke_sid("module-session-1");
    let response = env.request("GET", b"/protected/a.jpg", &header);
    assert_eq!(response.status, 403, "{}", response.head);
    assert!(!response.body.windows(FILE.len()).any(|w| w == FILE));
    assert_eq!(env.last_reason(), "revoked");
    assert_eq!(sidecar_decisions(&env), 3);
    // The same grant without a session id is decided in nginx: no upstream decision.
    let sessionless =
        CookieGrant::new(Scope::parse(b"/protected/").unwrap(), now().plus(600), None);
    let value = cookie::sign(&sessionless, env.keys.signing_key()).unwrap();
    let header = format!("Cookie: __Host-keyhole={value}\r\n");
    env.remember_secrets(header.as_bytes());
    assert_eq!(env.request("GET", b"/protected/a.jpg", &header).status, 200);
    assert_eq!(sidecar_decisions(&env), 3);
    env.assert_no_secret_logged();
}

#[test]
fn without_a_sidecar_what_needs_one_is_denied() {
    let env = start(ModuleSetup::default(), &[], "");
    assert_module_denied(&env, "/protected/a.jpg?token=abc", "GET", "needs-sidecar");
}

/// A server on its own port whose location decides with the module only and says the
/// reason in a response header; `realip` makes `X-Real-IP` the client address.
fn diagnostic_server(port: u16, root: &std::path::Path) -> String {
    format!(
        "    server {{
        listen 127.0.0.1:{port};
        root {root};
        access_log off;
        # As the shipped site: nginx writes refused request lines (query included) at
        # `info`.
        error_log logs/diagnostic-error.log crit;
        # Allowed requests find no file here; nginx would log the request line.
        log_not_found off;
        # keyhole reads 8,192 bytes of request target; let the module see longer ones.
        large_client_header_buffers 4 16k;
        set_real_ip_from 127.0.0.1;
        real_ip_header X-Real-IP;
        location / {{
            keyhole on;
            add_header X-Module-Reason $keyhole_reason always;
            add_header X-Module-Outcome $keyhole_outcome always;
        }}
    }}
",
        root = root.display()
    )
}

fn reason(port: u16, method: &str, target: &[u8], client: &str) -> String {
    reason_with(port, method, target, client, "Host: x\r\n")
}

/// The module's reason for one request; `extra` holds its `Host` line and any other.
fn reason_with(port: u16, method: &str, target: &[u8], client: &str, extra: &str) -> String {
    let mut request = format!("{method} ").into_bytes();
    request.extend_from_slice(target);
    request.extend_from_slice(
        format!(" HTTP/1.1\r\nX-Real-IP: {client}\r\nConnection: close\r\n{extra}\r\n").as_bytes(),
    );
    let response = send_raw(port, &request);
    response
        .header("x-module-reason")
        .unwrap_or_else(|| format!("status {}", response.status))
}

/// nginx with the module and the diagnostic server on its own port, the vector file's
/// key, and the clock frozen at the vectors' `now` (1,800,000,000: 2027-01-15 08:00:00
/// UTC); the folder served is returned to live as long as the test.
fn vector_env(vectors: &Value) -> (Env, u16, tempfile::TempDir) {
    let port = free_port();
    let root = tempfile::tempdir().unwrap();
    let key = format!(
        "{}:{}",
        vectors["key"]["kid"].as_str().unwrap(),
        vectors["key"]["secret"].as_str().unwrap()
    );
    let setup = ModuleSetup {
        faketime: Some("2027-01-15 08:00:00".to_owned()),
        ..ModuleSetup::default()
    };
    let env = Env::builder()
        .vars(&[("KEYHOLE_KEYS", &key)])
        .http(&diagnostic_server(port, root.path()))
        .module(setup)
        .start();
    (env, port, root)
}

#[test]
fn every_signed_url_vector_gets_its_expected_answer_from_the_module() {
    let vectors: Value = serde_json::from_str(include_str!("vectors/signed-urls.json")).unwrap();
    let at = vectors["now"].as_u64().unwrap();
    assert_eq!(at, 1_800_000_000, "the frozen clock below is this instant");
    let (env, port, _root) = vector_env(&vectors);
    let cases = vectors["verification"].as_array().unwrap();
    for case in cases {
        let url = case["url"].as_str().unwrap();
        let (method, client) = (
            case["method"].as_str().unwrap(),
            case["client_ip"].as_str().unwrap(),
        );
        let got = match case["host"].as_str() {
            // A host-bound vector names the virtual host it is sent to (nginx's `$host`
            // folds case and the trailing dot as keyhole does).
            Some(host) => reason_with(
                port,
                method,
                url.as_bytes(),
                client,
                &format!("Host: {host}\r\n"),
            ),
            // No host at all: an HTTP/1.0 request without `Host` to a server without
            // `server_name` leaves `$host` empty, the module's "not sent".
            None if url.contains("kh_host=") => {
                let request = format!("{method} {url} HTTP/1.0\r\nX-Real-IP: {client}\r\n\r\n");
                let response = send_raw(port, request.as_bytes());
                response
                    .header("x-module-reason")
                    .unwrap_or_else(|| format!("status {}", response.status))
            }
            None => reason(port, method, url.as_bytes(), client),
        };
        env.remember_secrets(url.as_bytes());
        // The sidecar refuses an `X-Original-Host` with a port (nginx's `$host` never
        // has one); the module reads `$host` itself, which nginx took from `Host`
        // without the port: the URL's own host, allowed.
        let sent_a_port = case["host"]
            .as_str()
            .is_some_and(|host| !host.starts_with('[') && host.contains(':'));
        let expect = if sent_a_port {
            "ok"
        } else {
            case["expect"].as_str().unwrap()
        };
        assert_eq!(got, expect, "vector {}", case["name"]);
    }
    assert!(cases.len() > 40);
}

/// Raw targets around a signed path: valid, tampered, re-encoded, traversals.
fn generated(rng: &mut Rng, env: &Env) -> Vec<u8> {
    let segments: &[&[u8]] = &[
        b"a",
        b"b.jpg",
        b"%41",
        b"..",
        b".",
        b"%2e%2E",
        b"%2F",
        b"",
        b"caf%C3%A9",
        b"%ZZ",
        b"x;y",
        b"\\",
        b"%00",
        b"~u",
        b"%252e",
    ];
    let mut path = b"/protected".to_vec();
    for _ in 0..1 + rng.below(4) {
        path.push(b'/');
        path.extend_from_slice(rng.pick(segments));
    }
    let signed_for = match CanonicalPath::parse(&path) {
        Ok(p) if !rng.chance(10) => p,
        _ => CanonicalPath::parse(b"/protected/a.jpg").unwrap(),
    };
    let mut grant = UrlGrant::new(signed_for, now().plus(300));
    if rng.chance(20) {
        grant.ip = ip("127.0.0.0/8");
    }
    if rng.chance(10) {
        grant.exp = UnixTime(now().0 - 100);
    }
    if rng.chance(25) {
        return jwt_target(rng, path, grant.path.as_str());
    }
    let url = sign(&grant, env.keys.signing_key()).unwrap();
    let query = url.split_once('?').unwrap().1.to_owned();
    let mut target = path;
    match rng.below(6) {
        0 => {}
        1 => target.extend_from_slice(format!("?{query}&kh_v=1").as_bytes()),
        2 => target
            .extend_from_slice(format!("?{}", query.replace("kh_sig=", "kh_sig=A")).as_bytes()),
        3 => target.extend_from_slice(format!("?{query}&token=x").as_bytes()),
        _ => target.extend_from_slice(format!("?{query}").as_bytes()),
    }
    target
}

/// `path` with an HMAC JWT (the module's `keyhole_jwt_keys_file` key) for `signed_for`
/// or a scope: valid, expired, for another audience, or with a broken signature.
fn jwt_target(rng: &mut Rng, mut path: Vec<u8>, signed_for: &str) -> Vec<u8> {
    let t = now().0;
    // Half of them on a clean path (the token's own, or another one).
    if rng.chance(50) {
        let clean: [&[u8]; 3] = [
            signed_for.as_bytes(),
            b"/protected/a.jpg",
            b"/protected/d/c.jpg",
        ];
        path = rng.pick(&clean).to_vec();
    }
    let mut claims = module::jwt_claims(signed_for, t);
    let fields = claims.as_object_mut().unwrap();
    if rng.chance(25) {
        fields.remove("kh_path");
        fields.insert("kh_scope".into(), "/protected/".into());
    }
    match rng.below(6) {
        0 => {
            fields.insert("exp".into(), (t - 100).into());
            fields.insert("iat".into(), (t - 160).into());
        }
        1 => {
            fields.insert("aud".into(), "other".into());
        }
        _ => {}
    }
    let mut token = module::hmac_jwt("mh1", &claims);
    if rng.chance(15) {
        token.insert(token.rfind('.').unwrap() + 1, 'A');
    }
    path.extend_from_slice(format!("?token={token}").as_bytes());
    path
}

#[test]
fn the_module_and_the_sidecar_agree_on_generated_requests() {
    let module_port = free_port();
    let sidecar_port = free_port();
    let root = tempfile::tempdir().unwrap();
    // The sidecar's server: the shipped keyhole.conf (rendered into `conf/`, relative
    // to nginx.conf), auth_request alone.
    let sidecar = format!(
        "    server {{
        listen 127.0.0.1:{sidecar_port};
        root {root};
        access_log off;
        error_log logs/diagnostic-error.log crit;
        include conf/keyhole.conf;
        location / {{
            auth_request /_keyhole/auth;
            auth_request_set $sidecar_reason $upstream_http_x_keyhole_reason;
            add_header X-Module-Reason $sidecar_reason always;
        }}
    }}
",
        root = root.path().display()
    );
    let mut http = diagnostic_server(module_port, root.path());
    http.push_str(&sidecar);
    // Both hold the same HMAC JWT key: the module decides tokens without a use limit
    // in nginx, and must decide them as the sidecar does.
    let key = module::jwt_key_line();
    let setup = ModuleSetup {
        jwt_keys: Some(key.clone()),
        ..ModuleSetup::with_sidecar()
    };
    let env = start(setup, &[("KEYHOLE_JWT_KEYS", &key)], &http);
    let mut rng = Rng(0x6b68_6d6f_6475_6c65);
    let mut decided = 0;
    let mut tokens_decided = 0;
    for _ in 0..600 {
        let target = generated(&mut rng, &env);
        env.remember_secrets(&target);
        let by_module = reason(module_port, "GET", &target, "127.0.0.1");
        let by_sidecar = reason(sidecar_port, "GET", &target, "127.0.0.1");
        assert_eq!(
            by_module,
            by_sidecar,
            "module and sidecar disagree on {:?}",
            String::from_utf8_lossy(&target)
        );
        decided += usize::from(by_module == "ok");
        tokens_decided +=
            usize::from(by_module == "ok" && target.windows(6).any(|w| w == b"token="));
    }
    eprintln!("allowed {decided} of 600, {tokens_decided} by a JWT");
    assert!(decided > 10, "too few allows to mean anything: {decided}");
    assert!(tokens_decided > 10, "too few JWT allows: {tokens_decided}");
}

#[test]
fn a_bad_key_file_fails_nginx_t_naming_file_and_line_not_the_secret() {
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("bad.keys");
    let short = &TEST_SECRET[..20];
    std::fs::write(&keys, format!("{KEY_LINE}\n# next\nk2:{short}\n")).unwrap();
    let conf = dir.path().join("nginx.conf");
    std::fs::write(
        &conf,
        format!(
            "load_module {};\nerror_log {}/e.log;\npid {}/p;\nevents {{}}\nhttp {{ keyhole_keys_file {}; }}\n",
            common::module::module_so().display(),
            dir.path().display(),
            dir.path().display(),
            keys.display()
        ),
    )
    .unwrap();
    let out = Command::new(keyhole_support::nginx::find_nginx().unwrap())
        .arg("-t")
        .arg("-p")
        .arg(dir.path())
        .arg("-c")
        .arg(&conf)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains(&format!("\"{}\", line 3", keys.display())),
        "{stderr}"
    );
    assert!(
        !stderr.contains(short) && !stderr.contains(TEST_SECRET),
        "{stderr}"
    );
}

const SECOND_KEY: &str = "k2:ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8";

#[test]
fn keys_rotate_on_reload_and_a_retired_key_is_refused() {
    let setup = ModuleSetup {
        master: true,
        ..ModuleSetup::with_sidecar()
    };
    let env = start(setup, &[], "");
    let keys_file = env.dir.path().join("module.keys");
    let url = env.sign("/protected/a.jpg");
    assert_eq!(env.get(&url).status, 200);
    // Introduce k2 (k1 still verifies), then make it the signing key.
    for keys in [
        format!("{KEY_LINE}\n{SECOND_KEY}\n"),
        format!("{SECOND_KEY}\n{KEY_LINE}\n"),
    ] {
        std::fs::write(&keys_file, keys).unwrap();
        env.stack.reload().unwrap();
        std::thread::sleep(Duration::from_millis(500));
        assert_eq!(env.get(&url).status, 200);
    }
    // Retire k1: its URL is denied now; nothing was asked of the sidecar.
    std::fs::write(&keys_file, format!("{SECOND_KEY}\n")).unwrap();
    env.stack.reload().unwrap();
    std::thread::sleep(Duration::from_millis(500));
    assert_module_denied(&env, &url, "GET", "unknown-key");
    assert_eq!(sidecar_decisions(&env), 0);
}

#[test]
fn a_url_credential_and_a_token_are_ambiguous_to_both() {
    let hmac = jwt::hmac_keys_var();
    let env = start(
        ModuleSetup::with_sidecar(),
        &[("KEYHOLE_JWT_KEYS", &hmac)],
        "",
    );
    let url = env.sign("/protected/a.jpg");
    assert_module_denied(
        &env,
        &format!("{url}&token=abc"),
        "GET",
        "ambiguous-credential",
    );
    assert_eq!(sidecar_decisions(&env), 0);
}

#[test]
fn keys_rotate_by_reload_under_wrk_and_no_request_is_lost_or_mis_decided() {
    let setup = ModuleSetup {
        master: true,
        ..ModuleSetup::with_sidecar()
    };
    let env = start(setup, &[], "");
    let keys_file = env.dir.path().join("module.keys");
    let url = env.sign("/protected/a.jpg");
    env.remember_secrets(url.as_bytes());
    let target = format!("http://127.0.0.1:{}{url}", env.port);
    // wrk for load, bounded (3 s, 8 connections). Keep-alive: a reload closes idle
    // keep-alive connections, which wrk counts as read errors, so only its statuses
    // are checked; the clients below check every single answer.
    let wrk = Command::new("wrk")
        .args(["-t", "2", "-c", "8", "-d", "3s", "--timeout", "2s", &target])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_millis(2500);
    let port = env.port;
    let clients: Vec<_> = (0..4)
        .map(|_| {
            let request =
                format!("GET {url} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
            std::thread::spawn(move || {
                let mut statuses = Vec::new();
                while std::time::Instant::now() < deadline && statuses.len() < 20_000 {
                    statuses.push(send_raw(port, request.as_bytes()).status);
                }
                statuses
            })
        })
        .collect();
    // Introduce k2 while k1 still verifies, then make k2 the signer: k1's URL stays
    // valid throughout.
    for keys in [
        format!("{KEY_LINE}\n{SECOND_KEY}\n"),
        format!("{SECOND_KEY}\n{KEY_LINE}\n"),
    ] {
        std::thread::sleep(Duration::from_millis(700));
        std::fs::write(&keys_file, keys).unwrap();
        env.stack.reload().unwrap();
    }
    let mut answered = 0;
    for client in clients {
        let statuses = client.join().unwrap();
        let bad: Vec<_> = statuses.iter().filter(|&&s| s != 200).collect();
        assert!(bad.is_empty(), "lost (0) or mis-decided answers: {bad:?}");
        answered += statuses.len();
    }
    assert!(answered > 0);
    let output = wrk.wait_with_output().unwrap();
    let report = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{report}");
    assert!(
        !report.contains("Non-2xx"),
        "denied during the reload:\n{report}"
    );
    assert_eq!(sidecar_decisions(&env), 0);
}

/// A client address inside a vector's binding, and one outside it.
fn addresses(ip: &str) -> (&'static str, Option<&'static str>) {
    match ip {
        "" => ("198.51.100.1", None),
        "203.0.113.7" => ("203.0.113.7", Some("203.0.113.8")),
        "10.0.0.0/8" => ("10.200.0.1", Some("11.0.0.1")),
        "2001:db8::/32" => ("2001:db8:1::1", Some("2001:db9::1")),
        "2001:db8::7" => ("2001:db8::7", Some("2001:db8::8")),
        other => panic!("add addresses for the binding {other}"),
    }
}

#[test]
fn every_cookie_vector_is_decided_by_the_module_or_needs_the_sidecar() {
    let vectors: Value = serde_json::from_str(include_str!("vectors/cookies.json")).unwrap();
    assert_eq!(vectors["now"].as_u64().unwrap(), 1_800_000_000);
    let (env, port, _root) = vector_env(&vectors);
    let name = vectors["name"].as_str().unwrap();
    let cases = vectors["signing"].as_array().unwrap();
    for case in cases {
        let input = &case["input"];
        let value = case["value"].as_str().unwrap();
        let cookie = format!("Cookie: {name}={value}\r\n");
        env.remember_secrets(cookie.as_bytes());
        let scope = keyhole::canonical::encode(input["scope"].as_str().unwrap());
        let inside = format!("{scope}x.jpg");
        let method = input["methods"]
            .as_str()
            .unwrap()
            .split(',')
            .next()
            .unwrap();
        let (good_ip, bad_ip) = addresses(input["ip"].as_str().unwrap());
        let ask = |target: &str, method: &str, ip: &str| {
            reason_with(
                port,
                method,
                target.as_bytes(),
                ip,
                &format!("Host: x\r\n{cookie}"),
            )
        };
        let label = case["name"].as_str().unwrap();
        if !input["sid"].as_str().unwrap().is_empty() {
            // A session can be revoked: only the sidecar decides it.
            assert_eq!(ask(&inside, method, good_ip), "needs-sidecar", "{label}");
            continue;
        }
        assert_eq!(ask(&inside, method, good_ip), "ok", "{label}");
        assert_eq!(
            ask("/elsewhere/x.jpg", method, good_ip),
            "out-of-scope",
            "{label}"
        );
        if let Some(bad_ip) = bad_ip {
            assert_eq!(ask(&inside, method, bad_ip), "ip-mismatch", "{label}");
        }
        assert_eq!(
            ask(&inside, "POST", good_ip),
            "method-not-allowed",
            "{label}"
        );
    }
}

#[test]
fn a_handover_without_an_auth_subrequest_is_denied_not_served() {
    let port = free_port();
    let root = tempfile::tempdir().unwrap();
    std::fs::write(root.path().join("a.jpg"), FILE).unwrap();
    // `keyhole_sidecar on;` (from the Env) but this location has no auth_request.
    let env = start(
        ModuleSetup::with_sidecar(),
        &[],
        &diagnostic_server(port, root.path()),
    );
    let response = send_raw(
        port,
        b"GET /a.jpg?token=abc HTTP/1.1\r\nHost: x\r\nX-Real-IP: 127.0.0.1\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(response.status, 403, "{}", response.head);
    assert_eq!(
        response.header("x-module-reason").as_deref(),
        Some("needs-sidecar")
    );
    assert_eq!(sidecar_decisions(&env), 0);
}

/// `keyhole-module.conf` is `keyhole.conf` with its own header comment and the one
/// block that answers 204 when the module allowed: every header the sidecar gets
/// (`X-Original-Host` among them) stays the same in both files.
#[test]
fn keyhole_module_conf_is_keyhole_conf_plus_the_shortcut() {
    let plain = include_str!("../nginx/keyhole.conf");
    let module = include_str!("../nginx/keyhole-module.conf");
    let body = |text: &'static str| -> Vec<&'static str> {
        text.lines()
            .skip_while(|line| line.starts_with('#'))
            .collect()
    };
    let shortcut = [
        "    # The module already allowed this request (read from the main request): no",
        "    # upstream round trip. Anything else (handed over, or the module off here) goes",
        "    # to keyhole.",
        "    if ($keyhole_outcome = \"allow\") {",
        "        return 204;",
        "    }",
    ];
    let module_body = body(module);
    let at = module_body
        .windows(shortcut.len())
        .position(|window| window == shortcut)
        .expect("the shortcut block");
    let mut without = module_body.clone();
    without.drain(at..at + shortcut.len());
    assert_eq!(without, body(plain));
}

/// The sidecar's verdict on `/auth` for `path` with `extra` headers, asked directly.
fn sidecar_reason(env: &Env, path: &str, extra: &str) -> String {
    let keyhole::config::Listen::Tcp(addr) = &env.keyhole.listen else {
        panic!("the test sidecar listens on TCP");
    };
    let response = send_raw(
        addr.port(),
        format!(
            "GET /auth HTTP/1.1\r\nHost: keyhole\r\nX-Original-URI: {path}\r\n\
             X-Original-Method: GET\r\nX-Real-IP: 127.0.0.1\r\n{extra}Connection: close\r\n\r\n"
        )
        .as_bytes(),
    );
    response.header("x-keyhole-reason").unwrap_or_default()
}

/// A `Cookie` header with a grant for `/protected/` without a session id, running
/// `seconds` from now, signed with the test key; remembered as a secret.
fn sessionless_cookie(env: &Env, seconds: u64) -> String {
    let grant = CookieGrant::new(
        Scope::parse(b"/protected/").unwrap(),
        now().plus(seconds),
        None,
    );
    let header = format!(
        "Cookie: __Host-keyhole={}\r\n",
        cookie::sign(&grant, env.keys.signing_key()).unwrap()
    );
    env.remember_secrets(header.as_bytes());
    header
}

/// `keyhole_cookie_max_lifetime` is the sidecar's `KEYHOLE_COOKIE_MAX_LIFETIME`: a
/// cookie grant longer than it is refused by both with the same reason, a shorter one
/// opens in nginx; without the directive the module keeps the service's default.
#[test]
fn the_module_holds_cookies_to_the_sidecar_s_lifetime_limit() {
    let setup = ModuleSetup {
        http: "keyhole_cookie_max_lifetime 1h;".into(),
        ..ModuleSetup::default()
    };
    let env = start(setup, &[("KEYHOLE_COOKIE_MAX_LIFETIME", "1h")], "");
    let (long, short) = (
        sessionless_cookie(&env, 2 * 3600),
        sessionless_cookie(&env, 1800),
    );
    let response = env.request("GET", b"/protected/a.jpg", &long);
    assert_eq!(response.status, 403, "{}", response.head);
    let module_reason = env.last_reason();
    assert_ne!(module_reason, "ok");
    assert_eq!(
        module_reason,
        sidecar_reason(&env, "/protected/a.jpg", &long)
    );
    let response = env.request("GET", b"/protected/a.jpg", &short);
    assert_eq!(response.status, 200, "{}", response.head);
    assert_eq!(sidecar_reason(&env, "/protected/a.jpg", &short), "ok");
    drop(env);

    // The service's default (24 h) without the directive: the 2-hour grant opens.
    let env = start(ModuleSetup::default(), &[], "");
    let long = sessionless_cookie(&env, 2 * 3600);
    assert_eq!(env.request("GET", b"/protected/a.jpg", &long).status, 200);
}
