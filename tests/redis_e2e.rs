//! Issue 5: Redis as the shared replay and revocation store. Two real keyhole
//! processes share one real `redis-server` behind one nginx upstream; Redis is stopped
//! and started again under them.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::redis::Redis;
use common::shared_store::{FILE, PATH, once, readyz, token};
use common::{KEY_LINE, Keyhole, free_port, now, send_raw};
use keyhole::canonical::{CanonicalPath, Scope};
use keyhole::config::Listen;
use keyhole::keys::KeyRing;
use keyhole::verify::cookie::{self, CookieGrant, SessionId};
use keyhole::verify::signed_url::{self, UrlGrant};
use keyhole_support::nginx::{Layout, Stack};
use serde_json::json;

const JWT_KEY: &str = common::JWT_KEY_LINE;

/// One Redis, two keyhole instances on it, one nginx in front of both.
/// Field order is drop order: nginx, the keyholes, Redis, the folder.
struct Cluster {
    stack: Option<Stack>,
    instances: Vec<Keyhole>,
    redis: Redis,
    dir: tempfile::TempDir,
}

fn start_instance(dir: &Path, name: &str, redis: &Redis, extra: &[(&str, &str)]) -> Keyhole {
    let listen = Listen::Tcp(format!("127.0.0.1:{}", free_port()).parse().unwrap());
    let url = redis.url();
    let mut env = vec![
        ("KEYHOLE_JWT_KEYS", JWT_KEY),
        ("KEYHOLE_STORE", url.as_str()),
        ("KEYHOLE_STORE_TIMEOUT", "100ms"),
    ];
    env.extend_from_slice(extra);
    Keyhole::start(dir, name, listen, &env)
}

impl Cluster {
    /// Redis (running or not, as `redis` is), two instances, and nginx when `nginx`.
    fn start(redis: Redis, nginx: bool, extra: &[(&str, &str)]) -> Cluster {
        let dir = tempfile::Builder::new()
            .prefix("keyhole-redis-e2e-")
            .tempdir()
            .unwrap();
        let instances = vec![
            start_instance(dir.path(), "keyhole-a", &redis, extra),
            start_instance(dir.path(), "keyhole-b", &redis, extra),
        ];
        let mut cluster = Cluster {
            stack: None,
            instances,
            redis,
            dir,
        };
        if nginx {
            let root = cluster.dir.path().join("www");
            std::fs::create_dir_all(root.join("protected")).unwrap();
            std::fs::write(root.join("protected/a.jpg"), FILE).unwrap();
            let mut last_error = None;
            for _ in 0..5 {
                let layout = Layout {
                    dir: cluster.dir.path().join("nginx"),
                    port: free_port(),
                    keyhole: common::upstream(&cluster.instances[0].listen),
                    more_keyholes: vec![common::upstream(&cluster.instances[1].listen)],
                    root: root.clone(),
                    decision_cache: false,
                    error_log_level: None,
                };
                match Stack::start(layout, "") {
                    Ok(stack) => {
                        cluster.stack = Some(stack);
                        return cluster;
                    }
                    Err(error) => last_error = Some(error),
                }
            }
            panic!("nginx did not start: {}", last_error.unwrap());
        }
        cluster
    }

    fn nginx_port(&self) -> u16 {
        self.stack.as_ref().unwrap().layout.port
    }
}

fn port_of(keyhole: &Keyhole) -> u16 {
    match &keyhole.listen {
        Listen::Tcp(addr) => addr.port(),
        Listen::Unix(_) => unreachable!("TCP only here"),
    }
}

/// Asks one instance's `/auth` directly: (status, reason code).
fn auth(keyhole: &Keyhole, target: &str, cookie: Option<&str>) -> (u16, String) {
    let cookie = cookie
        .map(|value| format!("Cookie: __Host-keyhole={value}\r\n"))
        .unwrap_or_default();
    let request = format!(
        "GET /auth HTTP/1.1\r\nHost: keyhole\r\nConnection: close\r\nX-Original-URI: {target}\r\nX-Original-Method: GET\r\nX-Real-IP: 127.0.0.1\r\n{cookie}\r\n"
    );
    let response = send_raw(port_of(keyhole), request.as_bytes());
    (
        response.status,
        response.header("x-keyhole-reason").unwrap_or_default(),
    )
}

fn signed_url() -> String {
    let keys = KeyRing::parse(KEY_LINE).unwrap();
    let grant = UrlGrant::new(
        CanonicalPath::parse(PATH.as_bytes()).unwrap(),
        now().plus(600),
    );
    signed_url::sign(&grant, keys.signing_key()).unwrap()
}

fn session_cookie(sid: &str) -> String {
    let keys = KeyRing::parse(KEY_LINE).unwrap();
    let grant = CookieGrant::new(
        Scope::parse(b"/protected/").unwrap(),
        now().plus(600),
        Some(SessionId::parse(sid).unwrap()),
    );
    cookie::sign(&grant, keys.signing_key()).unwrap()
}

/// `keyhole revoke ARGS` against Redis alone (no admin listener in its environment).
fn revoke(redis: &Redis, args: &[&str]) {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_keyhole"))
        .arg("revoke")
        .args(args)
        .env_clear()
        .env("KEYHOLE_STORE", redis.url())
        .env("KEYHOLE_ADMIN_LISTEN", "off")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "keyhole revoke {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The Redis key of a store id (default prefix).
fn key(kind: &str, id: &str) -> String {
    keyhole::store::redis::key("keyhole:", kind, id)
}

#[test]
fn a_single_use_token_fired_64_times_across_two_instances_opens_once() {
    let cluster = Cluster::start(Redis::start(), true, &[]);
    let port = cluster.nginx_port();
    let target = once("race-1");
    let request = format!("GET {target} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(64));
    let handles: Vec<_> = (0..64)
        .map(|_| {
            let barrier = std::sync::Arc::clone(&barrier);
            let request = request.clone();
            std::thread::spawn(move || {
                barrier.wait();
                send_raw(port, request.as_bytes())
            })
        })
        .collect();
    let responses: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    let opened: Vec<_> = responses.iter().filter(|r| r.status == 200).collect();
    assert_eq!(opened.len(), 1, "exactly one use");
    assert_eq!(opened[0].body, FILE);
    assert!(responses.iter().all(|r| r.status == 200 || r.status == 403));
    // Both instances refused replays (nginx balances the upstream), so the one use
    // was shared, not counted per instance.
    for keyhole in &cluster.instances {
        assert!(
            keyhole.log_text().contains("replayed"),
            "an instance took no part: {}",
            keyhole.log_text()
        );
    }
    // The used slot lives in Redis, under a hash, until the token expires (+ leeway).
    let used = key("used", "jwt:2:j1:race-1#1");
    let ttl = cluster.redis.pttl(&used);
    assert!(ttl > 0 && ttl <= 90_000, "PTTL {ttl}");
    assert!(
        cluster
            .redis
            .keys("keyhole:*")
            .iter()
            .all(|k| !k.contains("race-1"))
    );
    // Neither instance logged the token.
    let token = target.split("token=").nth(1).unwrap();
    for keyhole in &cluster.instances {
        assert!(!keyhole.log_text().contains(token));
    }
}

#[test]
fn revocations_made_with_keyhole_revoke_reach_both_instances() {
    let cluster = Cluster::start(Redis::start(), false, &[]);
    let [a, b] = [&cluster.instances[0], &cluster.instances[1]];
    let both = |target: &str, cookie: Option<&str>| -> Vec<(u16, String)> {
        vec![auth(a, target, cookie), auth(b, target, cookie)]
    };
    let allowed = vec![(204, "ok".to_owned()); 2];
    let revoked = vec![(403, "revoked".to_owned()); 2];

    // A session id.
    let (s1, s2) = (session_cookie("s1"), session_cookie("s2"));
    assert_eq!(both(PATH, Some(&s1)), allowed);
    revoke(&cluster.redis, &["--sid", "s1"]);
    assert_eq!(both(PATH, Some(&s1)), revoked);
    assert_eq!(both(PATH, Some(&s2)), allowed);
    let ttl = cluster.redis.pttl(&key("revoked", "sid:s1"));
    assert!(ttl > 0 && ttl <= 24 * 3600 * 1000, "PTTL {ttl}");

    // A token id.
    let t1 = format!("{PATH}?token={}", token(json!({"jti": "t-1"})));
    let t2 = format!("{PATH}?token={}", token(json!({"jti": "t-2"})));
    assert_eq!(both(&t1, None), allowed);
    revoke(&cluster.redis, &["--jti", "t-1", "--kid", "j1"]);
    assert_eq!(both(&t1, None), revoked);
    assert_eq!(both(&t2, None), allowed);
    let ttl = cluster.redis.pttl(&key("revoked", "jti:2:j1:t-1"));
    assert!(ttl > 0 && ttl <= (3600 + 30) * 1000, "PTTL {ttl}");

    // Everything of a subject issued before now, then everything of the key.
    let earlier = now().0 - 10;
    let alice = format!(
        "{PATH}?token={}",
        token(json!({"sub": "alice@example.com", "iat": earlier}))
    );
    let bob = format!(
        "{PATH}?token={}",
        token(json!({"sub": "bob", "iat": earlier}))
    );
    assert_eq!(both(&alice, None), allowed);
    revoke(
        &cluster.redis,
        &["--before", "now", "--subject", "alice@example.com"],
    );
    assert_eq!(both(&alice, None), revoked);
    assert_eq!(both(&bob, None), allowed);
    revoke(
        &cluster.redis,
        &["--before", &now().0.to_string(), "--kid", "j1"],
    );
    assert_eq!(both(&bob, None), revoked);
    // Tokens issued at or after the cut-off still open.
    let later = format!(
        "{PATH}?token={}",
        token(json!({"sub": "bob", "iat": now().0 + 1}))
    );
    assert_eq!(both(&later, None), allowed);
    let ttl = cluster.redis.pttl(&key("before", "before:j1"));
    assert!(ttl > 0 && ttl <= (3600 + 30) * 1000 + 2000, "PTTL {ttl}");
    // No subject, session or token id in clear in any key.
    let keys = cluster.redis.keys("keyhole:*");
    assert!(keys.len() >= 4, "{keys:?}");
    for name in ["alice", "s1", "t-1", "j1"] {
        assert!(keys.iter().all(|k| !k.contains(name)), "{keys:?}");
    }
}

#[test]
fn redis_entries_expire_on_their_own() {
    let cluster = Cluster::start(Redis::start(), false, &[("KEYHOLE_LEEWAY", "0")]);
    let exp = now().plus(2);
    let target = format!(
        "{PATH}?token={}",
        token(json!({"jti": "short", "kh_once": true, "exp": exp.0}))
    );
    assert_eq!(auth(&cluster.instances[0], &target, None).0, 204);
    let used = key("used", "jwt:2:j1:short#1");
    let ttl = cluster.redis.pttl(&used);
    assert!(ttl > 0 && ttl <= 2000, "PTTL {ttl}");
    let start = Instant::now();
    while cluster.redis.pttl(&used) != -2 {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "the key outlived its TTL"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn redis_down_fails_closed_within_the_bound_and_recovery_needs_no_restart() {
    // Redis is down before keyhole starts: keyhole starts anyway, not ready.
    let mut redis = Redis::start();
    redis.stop();
    let mut cluster = Cluster::start(redis, false, &[]);
    let pids: Vec<u32> = cluster.instances.iter().map(Keyhole::pid).collect();
    for keyhole in &cluster.instances {
        assert_eq!(readyz(keyhole), 503);
    }
    let url = signed_url();
    let sid = session_cookie("down-1");
    let check_down = |cluster: &Cluster, round: &str| {
        for keyhole in &cluster.instances {
            for (target, cookie) in [
                (once(&format!("{round}-once")), None),
                (PATH.to_owned(), Some(sid.as_str())),
            ] {
                let start = Instant::now();
                let answer = auth(keyhole, &target, cookie);
                assert_eq!(answer, (403, "store-unavailable".to_owned()));
                assert!(
                    start.elapsed() < Duration::from_millis(1000),
                    "took {:?}",
                    start.elapsed()
                );
            }
            // A signed URL needs no store.
            assert_eq!(auth(keyhole, &url, None), (204, "ok".to_owned()));
            assert_eq!(readyz(keyhole), 503);
        }
    };
    let wait_up = |cluster: &Cluster, round: &str| {
        for (index, keyhole) in cluster.instances.iter().enumerate() {
            let start = Instant::now();
            let target = once(&format!("{round}-{index}"));
            loop {
                let answer = auth(keyhole, &target, None);
                if answer == (204, "ok".to_owned()) {
                    break;
                }
                assert_eq!(answer, (403, "store-unavailable".to_owned()));
                assert!(
                    start.elapsed() < Duration::from_secs(10),
                    "no recovery after Redis came back"
                );
                std::thread::sleep(Duration::from_millis(100));
            }
            assert_eq!(auth(keyhole, PATH, Some(&sid)), (204, "ok".to_owned()));
            assert_eq!(readyz(keyhole), 200);
        }
    };
    check_down(&cluster, "a");
    cluster.redis.resume();
    wait_up(&cluster, "b");
    // Redis goes away mid-run, then comes back on the same port.
    cluster.redis.stop();
    check_down(&cluster, "c");
    cluster.redis.resume();
    wait_up(&cluster, "d");
    let now_pids: Vec<u32> = cluster.instances.iter().map(Keyhole::pid).collect();
    assert_eq!(pids, now_pids, "the same keyhole processes");
    // The outage is counted.
    let metrics = send_raw(
        cluster.instances[0].admin_port,
        b"GET /metrics HTTP/1.1\r\nHost: admin\r\nConnection: close\r\n\r\n",
    );
    let text = String::from_utf8_lossy(&metrics.body);
    assert!(text.contains("keyhole_store_errors_total{"), "{text}");
    assert!(
        text.contains("keyhole_store_duration_seconds_bucket{"),
        "{text}"
    );
}

#[test]
fn without_redis_keyhole_revoke_goes_through_the_admin_listener() {
    let env = common::Env::builder()
        .vars(&[("KEYHOLE_JWT_KEYS", JWT_KEY)])
        .start();
    let admin = format!("127.0.0.1:{}", env.keyhole.admin_port);
    let run = |args: &[&str]| {
        let output = env
            .keyhole
            .admin_command(&["revoke"])
            .args(args)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "keyhole revoke {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    };
    let t1 = format!("{PATH}?token={}", token(json!({"jti": "m-1"})));
    let carol = format!(
        "{PATH}?token={}",
        token(json!({"sub": "carol", "iat": now().0 - 5}))
    );
    assert_eq!(auth(&env.keyhole, &t1, None), (204, "ok".to_owned()));
    assert_eq!(auth(&env.keyhole, &carol, None), (204, "ok".to_owned()));
    run(&["--jti", "m-1", "--kid", "j1"]);
    run(&["--before", "now", "--subject", "carol"]);
    assert_eq!(auth(&env.keyhole, &t1, None), (403, "revoked".to_owned()));
    assert_eq!(
        auth(&env.keyhole, &carol, None),
        (403, "revoked".to_owned())
    );
    // The command refuses what names no single revocation.
    let refused = std::process::Command::new(env!("CARGO_BIN_EXE_keyhole"))
        .args(["revoke", "--before", "now"])
        .env_clear()
        .env("KEYHOLE_ADMIN_LISTEN", &admin)
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(2));
}

#[test]
fn a_redis_that_hangs_is_cut_off_by_the_timeout() {
    let cluster = Cluster::start(Redis::start(), false, &[]);
    let keyhole = &cluster.instances[0];
    assert_eq!(auth(keyhole, &once("hang-0"), None), (204, "ok".to_owned()));
    cluster.redis.freeze(true);
    for round in 0..3 {
        let start = Instant::now();
        let answer = auth(keyhole, &once(&format!("hang-{}", round + 1)), None);
        let took = start.elapsed();
        assert_eq!(answer, (403, "store-unavailable".to_owned()));
        // KEYHOLE_STORE_TIMEOUT is 100 ms; the rest is slack for a busy machine.
        assert!(took < Duration::from_millis(600), "took {took:?}");
        assert!(
            took >= Duration::from_millis(90),
            "took {took:?}: not a timeout?"
        );
    }
    assert_eq!(auth(keyhole, &signed_url(), None), (204, "ok".to_owned()));
    assert_eq!(readyz(keyhole), 503);
    cluster.redis.freeze(false);
    let start = Instant::now();
    loop {
        let answer = auth(keyhole, &once("hang-after"), None);
        if answer == (204, "ok".to_owned()) {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "no recovery: {answer:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let metrics = send_raw(
        keyhole.admin_port,
        b"GET /metrics HTTP/1.1\r\nHost: admin\r\nConnection: close\r\n\r\n",
    );
    let text = String::from_utf8_lossy(&metrics.body);
    // The revocation lookups come first and time out (a JWT is checked for
    // revocation before a use is taken).
    assert!(
        text.contains(r#"keyhole_store_errors_total{op="latest_cut_off",kind="timeout"}"#),
        "{text}"
    );
}

#[test]
fn a_bad_store_url_stops_start_up_and_an_absent_redis_fails_revoke() {
    let serve = std::process::Command::new(env!("CARGO_BIN_EXE_keyhole"))
        .arg("serve")
        .env_clear()
        .env("KEYHOLE_KEYS", KEY_LINE)
        .env("KEYHOLE_STORE", "redis://:hunter2@[::1")
        .output()
        .unwrap();
    assert_eq!(serve.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&serve.stderr);
    assert!(stderr.contains("KEYHOLE_STORE"), "{stderr}");
    assert!(!stderr.contains("hunter2"), "{stderr}");

    let mut redis = Redis::start();
    redis.stop();
    let revoke = std::process::Command::new(env!("CARGO_BIN_EXE_keyhole"))
        .args(["revoke", "--sid", "s1"])
        .env_clear()
        .env(
            "KEYHOLE_STORE",
            format!("redis://:hunter2@127.0.0.1:{}", redis.port),
        )
        .output()
        .unwrap();
    assert_eq!(revoke.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&revoke.stderr);
    assert!(stderr.contains("KEYHOLE_STORE"), "{stderr}");
    assert!(!stderr.contains("hunter2"), "{stderr}");
}

#[test]
fn after_a_redis_restart_no_request_is_lost_on_an_instance_that_missed_the_outage() {
    let mut cluster = Cluster::start(Redis::start(), true, &[]);
    let ok = (204, "ok".to_owned());
    let unavailable = (403, "store-unavailable".to_owned());
    // Both instances hold a live connection to Redis.
    for (index, keyhole) in cluster.instances.iter().enumerate() {
        assert_eq!(auth(keyhole, &once(&format!("warm-{index}")), None), ok);
    }
    // Redis goes away (killed by pid). Only `a` is asked meanwhile: it fails closed;
    // `b` never notices the outage.
    cluster.redis.stop();
    let sid = session_cookie("restart-1");
    {
        let a = &cluster.instances[0];
        assert_eq!(auth(a, &once("down-0"), None), unavailable);
        assert_eq!(auth(a, PATH, Some(&sid)), unavailable);
        assert_eq!(
            auth(a, &signed_url(), None),
            ok,
            "a signed URL needs no store"
        );
    }
    // Redis is back on the same port and answers.
    cluster.redis.resume();
    // Four single-use tokens in a row on `b`, each asked once: no first request lost.
    let b = &cluster.instances[1];
    let answers: Vec<_> = (0..4)
        .map(|round| auth(b, &once(&format!("after-b-{round}")), None))
        .collect();
    assert_eq!(answers, vec![ok.clone(); 4]);
    // `a`, which saw the outage, loses none either.
    let a = &cluster.instances[0];
    let answers: Vec<_> = (0..4)
        .map(|round| auth(a, &once(&format!("after-a-{round}")), None))
        .collect();
    assert_eq!(answers, vec![ok.clone(); 4]);
    assert_eq!(auth(a, PATH, Some(&sid)), ok);
    // Through nginx (both instances): four more single-use tokens, each opens once.
    for round in 0..4 {
        let target = once(&format!("after-nginx-{round}"));
        let request =
            format!("GET {target} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
        let response = send_raw(cluster.nginx_port(), request.as_bytes());
        assert_eq!(response.status, 200, "round {round}");
        assert_eq!(response.body, FILE);
        let replay = send_raw(cluster.nginx_port(), request.as_bytes());
        assert_eq!(replay.status, 403, "round {round}: a replay opened");
    }
    // Every one of those uses was recorded once, and replays stay refused directly.
    assert_eq!(
        auth(b, &once("after-b-0"), None),
        (403, "replayed".to_owned())
    );
}

/// Runs `keyhole cookie /protected/ --sid=SID` and returns the cookie value and the
/// revoke command it prints (its words after `keyhole`).
fn printed_cookie(sid: &str) -> (String, Vec<String>) {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_keyhole"))
        .args(["cookie", "/protected/", &format!("--sid={sid}")])
        .env_clear()
        .env("KEYHOLE_KEYS", KEY_LINE)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(output.status.success(), "{stderr}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let value = stdout
        .split(';')
        .next()
        .and_then(|pair| pair.split_once('='))
        .unwrap()
        .1
        .to_owned();
    let command = stderr
        .split("(keyhole ")
        .nth(1)
        .and_then(|rest| rest.rsplit_once(')'))
        .unwrap_or_else(|| panic!("no revoke command printed: {stderr}"))
        .0;
    let args = command.split_whitespace().map(str::to_owned).collect();
    (value, args)
}

#[test]
fn ids_that_start_with_a_hyphen_are_revoked_as_keyhole_prints_them() {
    let revoked = (403, "revoked".to_owned());
    let ok = (204, "ok".to_owned());
    // The in-memory store, through the admin listener.
    let env = common::Env::builder()
        .vars(&[("KEYHOLE_JWT_KEYS", JWT_KEY)])
        .start();
    for sid in ["-Kq3xW9", "--help"] {
        let (cookie, args) = printed_cookie(sid);
        env.sent_secrets.lock().unwrap().push(cookie.clone());
        assert_eq!(args[0], "revoke", "{args:?}");
        assert_eq!(auth(&env.keyhole, PATH, Some(&cookie)), ok);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let output = env.keyhole.admin_command(&args).output().unwrap();
        assert!(
            output.status.success(),
            "keyhole {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert_eq!(
            String::from_utf8_lossy(&output.stdout),
            format!("revoked session {sid}\n")
        );
        assert_eq!(auth(&env.keyhole, PATH, Some(&cookie)), revoked, "{sid}");
    }
    // Token ids, key ids and subjects take such values too.
    let t1 = format!("{PATH}?token={}", token(json!({"jti": "--version"})));
    assert_eq!(auth(&env.keyhole, &t1, None), ok);
    let output = env
        .keyhole
        .admin_command(&["revoke", "--jti", "--version", "--kid", "j1"])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(auth(&env.keyhole, &t1, None), revoked);
    let dash = format!(
        "{PATH}?token={}",
        token(json!({"sub": "-h", "iat": now().0 - 5}))
    );
    assert_eq!(auth(&env.keyhole, &dash, None), ok);
    let output = env
        .keyhole
        .admin_command(&["revoke", "--before", "now", "--subject", "-h"])
        .output()
        .unwrap();
    assert!(output.status.success());
    assert_eq!(auth(&env.keyhole, &dash, None), revoked);

    // Redis, written directly by the command: both instances see it, no warning.
    let cluster = Cluster::start(Redis::start(), false, &[]);
    for sid in ["-Rz9", "--help"] {
        let (cookie, args) = printed_cookie(sid);
        for keyhole in &cluster.instances {
            assert_eq!(auth(keyhole, PATH, Some(&cookie)), ok);
        }
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_keyhole"))
            .args(&args)
            .env_clear()
            .env("KEYHOLE_STORE", cluster.redis.url())
            .env("KEYHOLE_ADMIN_LISTEN", "off")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "keyhole {args:?}: {stderr}");
        assert!(!stderr.contains("warning"), "{stderr}");
        for keyhole in &cluster.instances {
            assert_eq!(auth(keyhole, PATH, Some(&cookie)), revoked, "{sid}");
        }
    }
    // Through the admin listener of an instance that keeps them in Redis: no warning.
    let cookie = session_cookie("-via-admin");
    let a = &cluster.instances[0];
    assert_eq!(auth(a, PATH, Some(&cookie)), ok);
    let output = a
        .admin_command(&["revoke", "--sid", "-via-admin"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(!stderr.contains("warning"), "{stderr}");
    assert_eq!(auth(&cluster.instances[1], PATH, Some(&cookie)), revoked);
}

#[test]
fn a_use_recorded_just_before_the_connection_broke_is_still_this_requests_use() {
    let redis = Redis::start();
    let proxy = common::redis::CuttingProxy::start(&redis);
    let dir = tempfile::tempdir().unwrap();
    let listen = Listen::Tcp(format!("127.0.0.1:{}", free_port()).parse().unwrap());
    let url = proxy.url();
    let keyhole = Keyhole::start(
        dir.path(),
        "keyhole",
        listen,
        &[
            ("KEYHOLE_JWT_KEYS", JWT_KEY),
            ("KEYHOLE_STORE", url.as_str()),
            // Room for a reconnect on a busy machine; the cut itself is immediate.
            ("KEYHOLE_STORE_TIMEOUT", "1s"),
        ],
    );
    let ok = (204, "ok".to_owned());
    assert_eq!(auth(&keyhole, &once("cut-0"), None), ok);
    // Redis executes the next use's `SET … NX`, and the reply never comes back: the
    // retry finds the use recorded with this request's own mark, so it is an allow,
    // not a `replayed` denial of a token that was never honoured.
    proxy.arm(b"NX");
    assert_eq!(auth(&keyhole, &once("cut-1"), None), ok);
    assert!(proxy.fired(), "the connection was not cut");
    let used = key("used", "jwt:2:j1:cut-1#1");
    let mark = redis.command(&["GET", &used]).unwrap();
    assert!(mark.starts_with('$'), "no use recorded: {mark}");
    // The use is spent: the same token again is a replay.
    assert_eq!(
        auth(&keyhole, &once("cut-1"), None),
        (403, "replayed".to_owned())
    );
    assert!(keyhole.log_text().contains("sending the call once more"));
}
