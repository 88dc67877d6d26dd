//! Running keyhole: the admin listener (metrics, health, readiness), `keyhole health`,
//! SIGHUP key reload (also under continuous load through nginx), SIGTERM, listener
//! limits (slow clients, huge headers, connection limit), the Unix socket's mode and
//! JSON logs.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::{Env, Keyhole, send_raw};
use keyhole::canonical::CanonicalPath;
use keyhole::config::Listen;
use keyhole::keys::KeyRing;
use keyhole::verify::signed_url::{UrlGrant, sign};

const K2_LINE: &str = "k2:ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8";

fn admin_get(port: u16, path: &str) -> common::Response {
    send_raw(
        port,
        format!("GET {path} HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n").as_bytes(),
    )
}

fn signal(pid: u32, name: &str) {
    let status = Command::new("kill")
        .args([&format!("-{name}"), &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

fn sign_with(line: &str, path: &str) -> String {
    let keys = KeyRing::parse(line).unwrap();
    let grant = UrlGrant::new(
        CanonicalPath::parse(path.as_bytes()).unwrap(),
        common::now().plus(600),
    );
    sign(&grant, keys.signing_key()).unwrap()
}

fn tcp_port(listen: &Listen) -> u16 {
    match listen {
        Listen::Tcp(addr) => addr.port(),
        Listen::Unix(_) => unreachable!(),
    }
}

fn wait_for(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn admin_listener_serves_metrics_health_and_readiness() {
    let env = Env::start();
    env.put("protected/a.png", b"a");
    assert_eq!(env.get(&env.sign("/protected/a.png")).status, 200);
    assert_eq!(env.get("/protected/a.png").status, 403);
    let admin = env.keyhole.admin_port;

    let metrics = admin_get(admin, "/metrics");
    assert_eq!(metrics.status, 200);
    assert!(
        metrics
            .header("content-type")
            .unwrap()
            .starts_with("application/openmetrics-text")
    );
    let text = String::from_utf8(metrics.body).unwrap();
    for expected in [
        r#"keyhole_decisions_total{decision="allow",credential="signed-url",reason="ok"} 1"#,
        r#"keyhole_decisions_total{decision="deny",credential="none",reason="missing-credential"} 1"#,
        "keyhole_decision_duration_seconds_count 2",
        "# TYPE keyhole_decision_duration_seconds histogram",
    ] {
        assert!(text.contains(expected), "{expected} missing from\n{text}");
    }
    assert_eq!(admin_get(admin, "/healthz").status, 200);
    let ready = admin_get(admin, "/readyz");
    assert_eq!(ready.status, 200);
    assert!(String::from_utf8_lossy(&ready.body).contains("1 key(s)"));
    // The admin routes are not on the auth listener, and /auth is not on the admin one.
    assert_eq!(
        admin_get(tcp_port(&env.keyhole.listen), "/metrics").status,
        404
    );
    assert_eq!(admin_get(admin, "/auth").status, 404);

    // `keyhole health` asks the admin listener.
    let health = |addr: &str, ready: bool| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_keyhole"));
        command
            .arg("health")
            .env_clear()
            .env("KEYHOLE_ADMIN_LISTEN", addr);
        if ready {
            command.arg("--ready");
        }
        command.output().unwrap().status.code()
    };
    assert_eq!(health(&format!("127.0.0.1:{admin}"), false), Some(0));
    assert_eq!(health(&format!("127.0.0.1:{admin}"), true), Some(0));
    assert_eq!(
        health(&format!("127.0.0.1:{}", common::free_port()), false),
        Some(1)
    );
    assert_eq!(health("off", false), Some(2));
}

#[test]
fn sighup_reloads_keys_from_the_file_and_keeps_them_when_the_file_is_bad() {
    let dir = tempfile::tempdir().unwrap();
    let keys_file = dir.path().join("keys");
    std::fs::write(&keys_file, format!("{}\n", common::KEY_LINE)).unwrap();
    let file = keys_file.to_str().unwrap().to_owned();
    let env = Env::builder().vars(&[("KEYHOLE_KEYS_FILE", &file)]).start();
    env.put("protected/a.png", b"a");
    let old = env.sign("/protected/a.png");
    let new = sign_with(K2_LINE, "/protected/a.png");
    assert_eq!(env.get(&new).status, 403);
    assert_eq!(env.last_reason(), "unknown-key");

    // Add k2 (signing) before k1 (still verifying): both URLs open.
    std::fs::write(&keys_file, format!("{K2_LINE}\n{}\n", common::KEY_LINE)).unwrap();
    signal(env.keyhole.pid(), "HUP");
    wait_for("reload", Duration::from_secs(5), || {
        env.keyhole.log_text().contains("keys reloaded")
    });
    assert_eq!(env.get(&new).status, 200);
    assert_eq!(env.get(&old).status, 200);

    // A bad file (secret too short) keeps the keys in force and says why.
    std::fs::write(&keys_file, "k3:AAAA\n").unwrap();
    signal(env.keyhole.pid(), "HUP");
    wait_for("failed reload", Duration::from_secs(5), || {
        env.keyhole.log_text().contains("reload failed")
    });
    assert!(env.keyhole.log_text().contains("KEYHOLE_KEYS_FILE"));
    assert_eq!(env.get(&new).status, 200);
    assert_eq!(env.get(&old).status, 200);
    let metrics = String::from_utf8(admin_get(env.keyhole.admin_port, "/metrics").body).unwrap();
    assert!(
        metrics.contains(r#"keyhole_key_reloads_total{result="ok"} 1"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"keyhole_key_reloads_total{result="error"} 1"#),
        "{metrics}"
    );

    // Dropping k1 retires its URLs.
    std::fs::write(&keys_file, format!("{K2_LINE}\n")).unwrap();
    signal(env.keyhole.pid(), "HUP");
    wait_for("second reload", Duration::from_secs(5), || {
        env.keyhole.log_text().matches("keys reloaded").count() == 2
    });
    assert_eq!(env.get(&old).status, 403);
    assert_eq!(env.last_reason(), "unknown-key");
    assert_eq!(env.get(&new).status, 200);
}

#[test]
fn key_rotation_under_continuous_load_loses_no_request() {
    let dir = tempfile::tempdir().unwrap();
    let keys_file = dir.path().join("keys");
    std::fs::write(&keys_file, format!("{}\n", common::KEY_LINE)).unwrap();
    let file = keys_file.to_str().unwrap().to_owned();
    let env = Arc::new(Env::builder().vars(&[("KEYHOLE_KEYS_FILE", &file)]).start());
    env.put("protected/a.png", b"a");
    let old = env.sign("/protected/a.png");
    let new = sign_with(K2_LINE, "/protected/a.png");

    // Two clients send requests with the k1 URL through nginx, keep-alive, until told
    // to stop (bounded: at most 20,000 requests or 20 seconds each).
    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicUsize::new(0));
    let failures = Arc::new(AtomicUsize::new(0));
    let clients: Vec<_> = (0..2)
        .map(|_| {
            let (stop, sent, failures, url, port) = (
                Arc::clone(&stop),
                Arc::clone(&sent),
                Arc::clone(&failures),
                old.clone(),
                env.port,
            );
            std::thread::spawn(move || {
                let start = Instant::now();
                let connect = || {
                    let stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
                    stream
                        .set_read_timeout(Some(Duration::from_secs(5)))
                        .unwrap();
                    stream
                };
                let mut stream = connect();
                let request = format!("GET {url} HTTP/1.1\r\nHost: l\r\n\r\n");
                let mut buffer = vec![0u8; 4096];
                for count in 0..20_000 {
                    if stop.load(Ordering::Relaxed) || start.elapsed() > Duration::from_secs(20) {
                        break;
                    }
                    // nginx closes a keep-alive connection after 1,000 requests: open a
                    // fresh one well before that.
                    if count % 500 == 499 {
                        stream = connect();
                    }
                    stream.write_all(request.as_bytes()).unwrap();
                    let n = stream.read(&mut buffer).unwrap();
                    if !buffer[..n].starts_with(b"HTTP/1.1 200") {
                        failures.fetch_add(1, Ordering::Relaxed);
                    }
                    sent.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    env.remember_secrets(format!("GET {old} HTTP/1.1").as_bytes());

    // Rotate: introduce k2, make it sign, keep k1 verifying; reload ten times.
    let files = [
        format!("{}\n{K2_LINE}\n", common::KEY_LINE),
        format!("{K2_LINE}\n{}\n", common::KEY_LINE),
    ];
    for round in 0..10 {
        let staged = dir.path().join("keys.new");
        std::fs::write(&staged, &files[round % 2]).unwrap();
        std::fs::rename(&staged, &keys_file).unwrap();
        signal(env.keyhole.pid(), "HUP");
        std::thread::sleep(Duration::from_millis(150));
    }
    wait_for("ten reloads", Duration::from_secs(5), || {
        env.keyhole.log_text().matches("keys reloaded").count() == 10
    });
    stop.store(true, Ordering::Relaxed);
    for client in clients {
        client.join().unwrap();
    }
    assert!(
        sent.load(Ordering::Relaxed) > 100,
        "too little load: {}",
        sent.load(Ordering::Relaxed)
    );
    assert_eq!(
        failures.load(Ordering::Relaxed),
        0,
        "requests lost during rotation"
    );
    assert_eq!(env.get(&new).status, 200);
}

#[test]
fn sigterm_stops_accepting_and_exits_zero_promptly() {
    let dir = tempfile::tempdir().unwrap();
    let listen = Listen::Tcp(
        format!("127.0.0.1:{}", common::free_port())
            .parse()
            .unwrap(),
    );
    let mut keyhole = Keyhole::start(dir.path(), "keyhole", listen.clone(), &[]);
    let port = tcp_port(&listen);
    // An idle keep-alive connection must not hold shutdown up.
    let mut idle = TcpStream::connect(("127.0.0.1", port)).unwrap();
    idle.write_all(b"GET /auth HTTP/1.1\r\nHost: k\r\n\r\n")
        .unwrap();
    let mut buffer = [0u8; 512];
    let n = idle.read(&mut buffer).unwrap();
    assert!(buffer[..n].starts_with(b"HTTP/1.1 403"));

    let started = Instant::now();
    signal(keyhole.pid(), "TERM");
    let status = keyhole.wait_exit(Duration::from_secs(12));
    assert_eq!(status.code(), Some(0), "{}", keyhole.log_text());
    assert!(started.elapsed() < Duration::from_secs(11));
    assert!(
        TcpStream::connect(("127.0.0.1", port)).is_err(),
        "still accepting"
    );
    assert!(keyhole.log_text().contains("keyhole stopped"));
}

#[test]
fn slow_clients_are_cut_off_and_huge_headers_refused_fast() {
    let dir = tempfile::tempdir().unwrap();
    let listen = Listen::Tcp(
        format!("127.0.0.1:{}", common::free_port())
            .parse()
            .unwrap(),
    );
    let keyhole = Keyhole::start(
        dir.path(),
        "keyhole",
        listen.clone(),
        &[("KEYHOLE_HEADER_TIMEOUT", "1s")],
    );
    let port = tcp_port(&listen);

    // Slowloris: headers that never end.
    let mut slow = TcpStream::connect(("127.0.0.1", port)).unwrap();
    slow.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    slow.write_all(b"GET /auth HTTP/1.1\r\nHost: k\r\nX-Slow: a")
        .unwrap();
    let started = Instant::now();
    let mut rest = Vec::new();
    let _ = slow.read_to_end(&mut rest);
    let elapsed = started.elapsed();
    assert!(
        elapsed < Duration::from_secs(4),
        "slow client held for {elapsed:?}"
    );
    assert!(
        elapsed >= Duration::from_millis(800),
        "cut off too early: {elapsed:?}"
    );

    // A header twice the head limit (KEYHOLE_MAX_HEAD_BYTES): refused at once,
    // without waiting for the timeout.
    let mut big = TcpStream::connect(("127.0.0.1", port)).unwrap();
    big.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let header = format!(
        "GET /auth HTTP/1.1\r\nHost: k\r\nX-Big: {}\r\n\r\n",
        "a".repeat(2 * keyhole::config::DEFAULT_MAX_HEAD_BYTES)
    );
    let started = Instant::now();
    let _ = big.write_all(header.as_bytes());
    let mut answer = Vec::new();
    let _ = big.read_to_end(&mut answer);
    assert!(
        started.elapsed() < Duration::from_millis(900),
        "took {:?}",
        started.elapsed()
    );
    let answer = String::from_utf8_lossy(&answer);
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 431"),
        "{answer}"
    );

    // keyhole still answers.
    let ok = send_raw(
        port,
        b"GET /auth HTTP/1.1\r\nHost: k\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(ok.status, 403);
    drop(keyhole);
}

#[test]
fn the_connection_limit_queues_further_connections() {
    let dir = tempfile::tempdir().unwrap();
    let listen = Listen::Tcp(
        format!("127.0.0.1:{}", common::free_port())
            .parse()
            .unwrap(),
    );
    let _keyhole = Keyhole::start(
        dir.path(),
        "keyhole",
        listen.clone(),
        &[("KEYHOLE_MAX_CONNECTIONS", "2")],
    );
    let port = tcp_port(&listen);
    let request = b"GET /auth HTTP/1.1\r\nHost: k\r\n\r\n";
    let open = |expect_answer: bool| {
        let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_millis(700)))
            .unwrap();
        stream.write_all(request).unwrap();
        let mut buffer = [0u8; 512];
        let answered = matches!(stream.read(&mut buffer), Ok(n) if n > 0);
        assert_eq!(answered, expect_answer);
        stream
    };
    // The harness's readiness probe connected once; let keyhole see it close.
    std::thread::sleep(Duration::from_millis(200));
    let first = open(true);
    let _second = open(true);
    let mut third = open(false);
    drop(first);
    third
        .set_read_timeout(Some(Duration::from_secs(3)))
        .unwrap();
    let mut buffer = [0u8; 512];
    let n = third.read(&mut buffer).unwrap();
    assert!(
        buffer[..n].starts_with(b"HTTP/1.1 403"),
        "{}",
        String::from_utf8_lossy(&buffer[..n])
    );
}

#[test]
fn the_unix_socket_gets_the_configured_mode() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("k.sock");
    let _keyhole = Keyhole::start(
        dir.path(),
        "keyhole",
        Listen::Unix(socket.clone()),
        &[("KEYHOLE_SOCKET_MODE", "0600")],
    );
    let mode = std::fs::metadata(&socket).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
}

#[test]
fn json_logs_carry_the_reason_and_never_the_credential() {
    let env = Env::builder()
        .vars(&[("KEYHOLE_LOG_FORMAT", "json")])
        .start();
    env.put("protected/a.png", b"a");
    let url = env.sign("/protected/a.png");
    let tampered = format!(
        "{}{}",
        &url[..url.len() - 1],
        if url.ends_with('A') { 'E' } else { 'A' }
    );
    assert_eq!(env.get(&tampered).status, 403);
    wait_for("deny log line", Duration::from_secs(5), || {
        env.keyhole.log_text().contains("bad-signature")
    });
    let log = env.keyhole.log_text();
    let line = log.lines().find(|l| l.contains("bad-signature")).unwrap();
    let json: serde_json::Value = serde_json::from_str(line).unwrap();
    assert_eq!(json["reason"], "bad-signature");
    assert_eq!(json["path"], "/protected/a.png");
    assert_eq!(json["method"], "GET");
    assert_eq!(json["client_ip"], "127.0.0.1");
    assert_eq!(json["level"], "INFO");
}

#[test]
fn sighup_reloads_jwt_keys_and_keeps_the_replay_store() {
    use keyhole::verify::jwt::{self, JwtVerifier, TokenGrant};
    let j1 = common::JWT_KEY_LINE;
    let j2 = "j2:HS256:ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8";
    let mint = |line: &str, once: bool| {
        let verifier = JwtVerifier::new(
            jwt::keys::parse_hmac_keys(line).unwrap(),
            Default::default(),
        )
        .unwrap();
        let (kid, alg, key) = verifier.signing_key().unwrap();
        let grant = TokenGrant {
            path: CanonicalPath::parse(b"/protected/a.png").unwrap(),
            scope: None,
            iat: common::now(),
            exp: common::now().plus(120),
            audience: "keyhole".into(),
            once,
            ip: None,
            methods: None,
            uses: None,
        };
        format!(
            "/protected/a.png?token={}",
            jwt::mint(&grant, &kid, alg, &key).unwrap()
        )
    };
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("jwt-keys");
    std::fs::write(&file, format!("{j1}\n")).unwrap();
    let env = Env::builder()
        .vars(&[("KEYHOLE_JWT_KEYS_FILE", file.to_str().unwrap())])
        .start();
    env.put("protected/a.png", b"a");
    let once = mint(j1, true);
    assert_eq!(env.get(&once).status, 200);
    let by_j2 = mint(j2, false);
    assert_eq!(env.get(&by_j2).status, 403);
    assert_eq!(env.last_reason(), "unknown-key");

    std::fs::write(&file, format!("{j2}\n{j1}\n")).unwrap();
    signal(env.keyhole.pid(), "HUP");
    wait_for("reload", Duration::from_secs(5), || {
        env.keyhole.log_text().contains("keys reloaded")
    });
    assert_eq!(env.get(&by_j2).status, 200);
    // The single-use token used before the reload stays used.
    assert_eq!(env.get(&once).status, 403);
    assert_eq!(env.last_reason(), "replayed");
}

/// A session cookie for `sid` under the test key.
fn session_cookie(sid: &str) -> String {
    use keyhole::verify::cookie::{self, CookieGrant, SessionId};
    let keys = KeyRing::parse(common::KEY_LINE).unwrap();
    let grant = CookieGrant::new(
        keyhole::canonical::Scope::parse(b"/protected/").unwrap(),
        common::now().plus(600),
        Some(SessionId::parse(sid).unwrap()),
    );
    cookie::sign(&grant, keys.signing_key()).unwrap()
}

/// Asks keyhole's `/auth` directly about `/protected/a.png` with a session cookie:
/// (status, reason code).
fn auth_with_cookie(keyhole: &Keyhole, cookie: &str) -> (u16, String) {
    let request = format!(
        "GET /auth HTTP/1.1\r\nHost: keyhole\r\nConnection: close\r\nX-Original-URI: /protected/a.png\r\nX-Original-Method: GET\r\nX-Real-IP: 127.0.0.1\r\nCookie: __Host-keyhole={cookie}\r\n\r\n"
    );
    let response = send_raw(tcp_port(&keyhole.listen), request.as_bytes());
    (
        response.status,
        response.header("x-keyhole-reason").unwrap_or_default(),
    )
}

/// `POST target` to the admin listener with extra header lines.
fn admin_post(port: u16, target: &str, headers: &str) -> common::Response {
    send_raw(
        port,
        format!(
            "POST {target} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\nContent-Length: 0\r\n{headers}\r\n"
        )
        .as_bytes(),
    )
}

#[test]
fn the_admin_listener_revokes_only_with_its_token_and_never_for_a_browser() {
    let env = Env::start();
    let admin = env.keyhole.admin_port;
    let token = env.keyhole.admin_token.clone().unwrap();
    let wrong = common::random_admin_token();
    let cookie = session_cookie("admin-1");
    env.sent_secrets
        .lock()
        .unwrap()
        .extend([wrong.clone(), cookie.clone()]);
    let allowed = (204, "ok".to_owned());
    assert_eq!(auth_with_cookie(&env.keyhole, &cookie), allowed);

    let bearer = format!("Authorization: Bearer {token}\r\n");
    let cases = [
        (String::new(), 401),
        (format!("Authorization: Bearer {wrong}\r\n"), 401),
        (format!("Authorization: {token}\r\n"), 401),
        (format!("Authorization: Basic {token}\r\n"), 401),
        (format!("{bearer}{bearer}"), 401),
        (format!("{bearer}Origin: http://127.0.0.1:{admin}\r\n"), 403),
        (format!("{bearer}Origin: null\r\n"), 403),
        (format!("{bearer}Sec-Fetch-Site: same-site\r\n"), 403),
        (format!("{bearer}Sec-Fetch-Site: same-origin\r\n"), 403),
        (format!("{bearer}Sec-Fetch-Site: cross-site\r\n"), 403),
    ];
    for (headers, status) in &cases {
        let response = admin_post(admin, "/revoke?sid=admin-1", headers);
        let body = String::from_utf8_lossy(&response.body).into_owned();
        assert_eq!(response.status, *status, "{headers}: {body}");
        if *status == 401 {
            assert!(body.starts_with("401 unauthorized: "), "{body}");
            assert!(body.contains("KEYHOLE_ADMIN_TOKEN_FILE"), "{body}");
            assert!(
                response
                    .header("www-authenticate")
                    .is_some_and(|value| value.starts_with("Bearer")),
                "{}",
                response.head
            );
        } else {
            assert!(body.starts_with("403 refused: a browser request"), "{body}");
        }
        assert!(!body.contains(&token) && !response.head.contains(&token));
        assert_eq!(
            auth_with_cookie(&env.keyhole, &cookie),
            allowed,
            "a refused request revoked the session: {headers}"
        );
    }
    // Another method is no way around the check.
    assert_eq!(admin_get(admin, "/revoke?sid=admin-1").status, 405);
    assert_eq!(auth_with_cookie(&env.keyhole, &cookie), allowed);

    // The token alone, as a program sends it: revoked, in memory (and said so).
    let done = admin_post(admin, "/revoke?sid=admin-1", &bearer);
    assert_eq!(done.status, 200, "{}", String::from_utf8_lossy(&done.body));
    assert_eq!(done.header("x-keyhole-store").as_deref(), Some("memory"));
    assert!(String::from_utf8_lossy(&done.body).contains("lost when it restarts"));
    assert_eq!(
        auth_with_cookie(&env.keyhole, &cookie),
        (403, "revoked".to_owned())
    );
    // A bad order is answered in the admin protocol's words, not the CLI's flags.
    let bad = admin_post(admin, "/revoke?sid=a&jti=b", &bearer);
    assert_eq!(bad.status, 400);
    let body = String::from_utf8_lossy(&bad.body);
    assert!(body.contains("POST /revoke takes sid=ID"), "{body}");
    assert!(!body.contains("--sid"), "{body}");
    // Metrics and health stay open without a token.
    assert_eq!(admin_get(admin, "/metrics").status, 200);
    assert_eq!(admin_get(admin, "/healthz").status, 200);
    assert!(env.keyhole.log_text().contains("admin request refused"));
    // The Env checks at drop that neither token reached a log.
}

#[test]
fn an_admin_listener_beyond_loopback_needs_a_token_to_start() {
    let admin = format!("0.0.0.0:{}", common::free_port());
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("stderr");
    let mut child = Command::new(env!("CARGO_BIN_EXE_keyhole"))
        .arg("serve")
        .env_clear()
        .env("KEYHOLE_KEYS", common::KEY_LINE)
        .env(
            "KEYHOLE_LISTEN",
            format!("127.0.0.1:{}", common::free_port()),
        )
        .env("KEYHOLE_ADMIN_LISTEN", &admin)
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    // A keyhole that starts anyway is stopped by its pid (then the test fails).
    let started = Instant::now();
    let mut status = child.try_wait().unwrap();
    while status.is_none() && started.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(20));
        status = child.try_wait().unwrap();
    }
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(status.and_then(|status| status.code()), Some(2));
    let stderr = std::fs::read_to_string(&log).unwrap();
    for expected in [
        "KEYHOLE_ADMIN_LISTEN",
        "KEYHOLE_ADMIN_TOKEN_FILE",
        "not a loopback address",
        admin.as_str(),
    ] {
        assert!(
            stderr.contains(expected),
            "{expected} missing from {stderr}"
        );
    }

    // Refused before binding anything (with a token it would start: unit test
    // `config::tests::an_admin_listener_beyond_loopback_needs_a_token`; the tests
    // themselves never listen beyond loopback).
}

#[test]
fn keyhole_revoke_sends_the_token_and_warns_that_a_memory_revocation_dies_with_the_process() {
    let env = Env::start();
    let cookie = session_cookie("cli-1");
    env.sent_secrets.lock().unwrap().push(cookie.clone());
    let allowed = (204, "ok".to_owned());
    let revoke = |token: Option<&str>| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_keyhole"));
        command.args(["revoke", "--sid", "cli-1"]).env_clear().env(
            "KEYHOLE_ADMIN_LISTEN",
            format!("127.0.0.1:{}", env.keyhole.admin_port),
        );
        if let Some(token) = token {
            command.env("KEYHOLE_ADMIN_TOKEN", token);
        }
        command.output().unwrap()
    };
    // No token: a usage error that names the variables; nothing revoked.
    let output = revoke(None);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("KEYHOLE_ADMIN_TOKEN_FILE"), "{stderr}");
    assert_eq!(auth_with_cookie(&env.keyhole, &cookie), allowed);
    // A wrong token: refused (exit 1) with the listener's answer, never the token.
    let wrong = common::random_admin_token();
    env.sent_secrets.lock().unwrap().push(wrong.clone());
    let output = revoke(Some(&wrong));
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("401"), "{stderr}");
    assert!(
        stderr.contains("not the one of KEYHOLE_ADMIN_TOKEN_FILE"),
        "{stderr}"
    );
    assert!(!stderr.contains(&wrong), "{stderr}");
    assert_eq!(auth_with_cookie(&env.keyhole, &cookie), allowed);
    // The right token: revoked, with a warning that the memory store forgets it.
    let output = env
        .keyhole
        .admin_command(&["revoke", "--sid", "cli-1"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        "revoked session cli-1\n"
    );
    assert!(
        stderr.contains("warning") && stderr.contains("lost when it restarts"),
        "{stderr}"
    );
    assert_eq!(
        auth_with_cookie(&env.keyhole, &cookie),
        (403, "revoked".to_owned())
    );
}

/// nginx's connections to keyhole (`ESTABLISHED`, to `port` on 127.0.0.1), from
/// /proc/net/tcp.
fn connections_to(port: u16) -> usize {
    let table = std::fs::read_to_string("/proc/net/tcp").unwrap();
    let keyhole = format!("0100007F:{port:04X}");
    table
        .lines()
        .skip(1)
        .filter(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            fields.get(2) == Some(&keyhole.as_str()) && fields.get(3) == Some(&"01")
        })
        .count()
}

/// Resumes a stopped process when dropped, pass or fail.
struct Resume(u32);

impl Drop for Resume {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-CONT", &self.0.to_string()])
            .status();
    }
}

/// A peak of 200 auth subrequests at once (keyhole stopped while they arrive, so
/// each holds its own connection): afterwards nginx keeps their connections for the
/// next requests, instead of closing all but `keepalive` and opening new ones under
/// load (keyhole-upstream.conf; docs/operations.md, "Limits").
#[test]
fn nginx_keeps_the_connections_a_peak_of_subrequests_opened() {
    const PEAK: usize = 200;
    let env = Env::start();
    env.put("protected/peak.png", b"peak");
    let port = tcp_port(&env.keyhole.listen);
    let url = env.sign("/protected/peak.png");
    assert_eq!(env.get(&url).status, 200);
    // Scoped: every client has ended before `env` stops nginx and keyhole, pass or
    // fail (a failed wait resumes keyhole as it unwinds, so the clients end).
    std::thread::scope(|scope| {
        signal(env.keyhole.pid(), "STOP");
        let resume = Resume(env.keyhole.pid());
        let clients: Vec<_> = (0..PEAK)
            .map(|_| scope.spawn(|| env.get(&url).status))
            .collect();
        // Every subrequest connected (the kernel completes the handshakes for the
        // stopped keyhole) before keyhole answers any.
        wait_for(
            "a connection per subrequest",
            Duration::from_secs(3),
            || connections_to(port) >= PEAK,
        );
        drop(resume);
        for client in clients {
            assert_eq!(client.join().unwrap(), 200);
        }
    });
    // Idle now: what nginx kept. keyhole closes idle connections only after
    // KEYHOLE_HEADER_TIMEOUT (10 s).
    std::thread::sleep(Duration::from_millis(300));
    let kept = connections_to(port);
    assert!(kept >= PEAK, "nginx kept {kept} of {PEAK} connections");
}
