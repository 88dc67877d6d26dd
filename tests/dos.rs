//! Denial of service: oversized requests through nginx are refused quickly; a stream
//! of random key ids and signatures, of random `jti`s (plain and single-use tokens) and
//! of random cookie values leaves keyhole's memory bounded; and slow clients cannot
//! take every connection. Junk tokens against valid requests' latency:
//! `tests/dos_junk_tokens.rs`.
//! Every case is bounded in count and time; numbers go to stderr
//! (`cargo test --test dos -- --nocapture`) and docs/security.md records them.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::thread;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::json;

use common::rng::Rng;
use common::{Env, Keyhole, b64};
use keyhole::config::Listen;

/// Random requests sent straight to keyhole in the memory case.
const RANDOM_REQUESTS: usize = 20_000;
/// Requests sent first, so that allocator pools and buffers reach their working size
/// before the baseline is read.
const WARM_UP_REQUESTS: usize = 2_000;
/// Most RSS growth allowed between the warm-up and the end, in KiB.
const MAX_RSS_GROWTH_KIB: u64 = 8 * 1024;

const KID_CHARS: &[u8] = common::rng::ID_CHARS;

fn tcp_port(listen: &Listen) -> u16 {
    match listen {
        Listen::Tcp(addr) => addr.port(),
        Listen::Unix(_) => unreachable!("the DoS cases use TCP"),
    }
}

fn start_keyhole(dir: &std::path::Path, env: &[(&str, &str)]) -> Keyhole {
    let listen = Listen::Tcp(
        format!("127.0.0.1:{}", common::free_port())
            .parse()
            .unwrap(),
    );
    Keyhole::start(dir, "keyhole", listen, env)
}

/// keyhole's resident set size, from /proc.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

/// A keep-alive HTTP/1.1 connection that reads one response per request.
struct KeepAlive {
    reader: BufReader<TcpStream>,
}

impl KeepAlive {
    fn open(port: u16) -> KeepAlive {
        let stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        stream.set_nodelay(true).unwrap();
        KeepAlive {
            reader: BufReader::new(stream),
        }
    }

    /// Sends one request and returns the status and `X-Keyhole-Reason`.
    fn send(&mut self, request: &[u8]) -> (u16, String) {
        self.reader.get_mut().write_all(request).unwrap();
        let mut line = String::new();
        self.reader.read_line(&mut line).unwrap();
        let status = line.split_whitespace().nth(1).unwrap().parse().unwrap();
        let (mut length, mut reason) = (0usize, String::new());
        loop {
            line.clear();
            self.reader.read_line(&mut line).unwrap();
            let header = line.trim_end();
            if header.is_empty() {
                break;
            }
            let (name, value) = header.split_once(':').unwrap();
            if name.eq_ignore_ascii_case("content-length") {
                length = value.trim().parse().unwrap();
            }
            if name.eq_ignore_ascii_case("x-keyhole-reason") {
                reason = value.trim().to_owned();
            }
        }
        let mut body = vec![0u8; length];
        self.reader.read_exact(&mut body).unwrap();
        (status, reason)
    }
}

/// One `/auth` request as nginx would send it, carrying `target`.
fn auth_request(target: &str) -> Vec<u8> {
    format!(
        "GET /auth HTTP/1.1\r\nHost: keyhole\r\nX-Original-URI: {target}\r\n\
         X-Original-Method: GET\r\nX-Real-IP: 127.0.0.1\r\n\r\n"
    )
    .into_bytes()
}

/// A signed-URL target with a random (unknown) key id or a random signature under
/// the configured key id, a random path and a random extra parameter.
fn random_target(rng: &mut Rng, exp: u64) -> String {
    let path_len = 1 + (rng.next() % 40) as usize;
    let path = rng.text(KID_CHARS, path_len);
    let extra = rng.text(KID_CHARS, 8);
    // 42 random characters and a last one with no stray bits (`A`, `Q`, `g`, `w`),
    // so that the signature is well-formed and reaches the MAC check.
    let sig = rng.text(KID_CHARS, 42) + &rng.text(b"AQgw", 1);
    let kid = if rng.next() % 2 == 0 {
        let kid_len = 1 + (rng.next() % 32) as usize;
        rng.text(KID_CHARS, kid_len)
    } else {
        "k1".to_owned()
    };
    format!("/{path}?{extra}=1&kh_v=1&kh_kid={kid}&kh_exp={exp}&kh_sig={sig}")
}

#[test]
fn random_key_ids_and_signatures_leave_memory_bounded() {
    let dir = tempfile::tempdir().unwrap();
    // Info-level logs: the debug log of 20,000 decisions would only measure the file.
    let keyhole = start_keyhole(dir.path(), &[("KEYHOLE_LOG", "info")]);
    let port = tcp_port(&keyhole.listen);
    let exp = common::now().plus(300).0;
    let mut rng = Rng(0x646f_7321);
    let mut connections: Vec<KeepAlive> = (0..4).map(|_| KeepAlive::open(port)).collect();
    let mut reasons = std::collections::BTreeMap::<String, usize>::new();
    let mut send_batch =
        |rng: &mut Rng, count: usize, reasons: &mut std::collections::BTreeMap<String, usize>| {
            for index in 0..count {
                let request = auth_request(&random_target(rng, exp));
                let (status, reason) = connections[index % 4].send(&request);
                assert_eq!(status, 403, "{reason}");
                *reasons.entry(reason).or_default() += 1;
            }
        };
    let started = Instant::now();
    send_batch(&mut rng, WARM_UP_REQUESTS, &mut reasons);
    let baseline = rss_kib(keyhole.pid());
    send_batch(&mut rng, RANDOM_REQUESTS, &mut reasons);
    let after = rss_kib(keyhole.pid());
    let elapsed = started.elapsed();
    eprintln!(
        "random kids and signatures: {} requests in {elapsed:?}, RSS {baseline} KiB after \
         warm-up, {after} KiB after {RANDOM_REQUESTS} more; reasons {reasons:?}",
        WARM_UP_REQUESTS + RANDOM_REQUESTS
    );
    assert!(reasons.contains_key("unknown-key"), "{reasons:?}");
    assert!(reasons.contains_key("bad-signature"), "{reasons:?}");
    assert!(
        after <= baseline + MAX_RSS_GROWTH_KIB,
        "RSS grew from {baseline} KiB to {after} KiB"
    );
    assert!(elapsed < Duration::from_secs(60), "took {elapsed:?}");
}

/// Sends a request to nginx and times the answer.
fn timed(env: &Env, request: &[u8]) -> (common::Response, Duration) {
    let started = Instant::now();
    let response = env.raw(request);
    (response, started.elapsed())
}

#[test]
fn oversized_queries_headers_and_request_lines_are_refused_quickly_through_nginx() {
    let env = Env::start();
    env.put("/protected/cat.png", b"cat");
    let url = env.sign("/protected/cat.png");
    let (path, query) = url.split_once('?').unwrap();

    // 2,000 query parameters before a valid signed query: keyhole stops reading at
    // its 100th parameter and denies.
    let many = format!("{path}?{}&{query}", vec!["a=1"; 2000].join("&"));
    let (response, took) = timed(
        &env,
        format!("GET {many} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").as_bytes(),
    );
    eprintln!(
        "2,000 parameters ({} bytes): {} reason={} in {took:?}",
        many.len(),
        response.status,
        env.last_reason()
    );
    assert_eq!(response.status, 403);
    assert_eq!(env.last_reason(), "too-many-params");
    assert!(took < Duration::from_secs(1), "took {took:?}");

    // A 64 KiB header: nginx refuses it itself (its header buffers hold 8 KiB) and
    // keyhole is never asked.
    let big_header = format!(
        "GET {url} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nX-Big: {}\r\n\r\n",
        "a".repeat(64 * 1024)
    );
    let (response, took) = timed(&env, big_header.as_bytes());
    let title = String::from_utf8_lossy(&response.body)
        .split("<title>")
        .nth(1)
        .and_then(|rest| rest.split("</title>").next())
        .unwrap_or_default()
        .to_owned();
    eprintln!("64 KiB header: {} ({title}) in {took:?}", response.status);
    assert_eq!(response.status, 400, "{}", response.head);
    assert!(took < Duration::from_secs(1), "took {took:?}");

    // A 64 KiB request line (a huge query): nginx answers 414 itself.
    let long_line = format!(
        "GET {url}&pad={} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
        "a".repeat(64 * 1024)
    );
    let (response, took) = timed(&env, long_line.as_bytes());
    eprintln!("64 KiB request line: {} in {took:?}", response.status);
    assert_eq!(response.status, 414, "{}", response.head);
    assert!(took < Duration::from_secs(1), "took {took:?}");

    // The stack still serves a valid URL.
    assert_eq!(env.get(&url).status, 200);
}

/// How a slow client behaves.
#[derive(Clone, Copy, Debug)]
enum Slowness {
    /// Sends the start of a request, then one header byte every 200 ms.
    Trickle,
    /// Connects and sends nothing.
    Silent,
}

/// Opens `count` slow connections to keyhole; a thread keeps the trickling ones
/// trickling for `for_at_most`. Returns the streams.
fn open_slow(port: u16, count: usize, how: Slowness, for_at_most: Duration) -> Vec<TcpStream> {
    let streams: Vec<TcpStream> = (0..count)
        .map(|_| {
            let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
            if let Slowness::Trickle = how {
                stream
                    .write_all(b"GET /auth HTTP/1.1\r\nHost: k\r\nX-Slow: ")
                    .unwrap();
            }
            stream
        })
        .collect();
    if let Slowness::Trickle = how {
        let mut writers: Vec<TcpStream> = streams.iter().map(|s| s.try_clone().unwrap()).collect();
        thread::spawn(move || {
            let started = Instant::now();
            while started.elapsed() < for_at_most && !writers.is_empty() {
                writers.retain_mut(|stream| stream.write_all(b"a").is_ok());
                thread::sleep(Duration::from_millis(200));
            }
        });
    }
    streams
}

/// Time until the server closes `stream` (reads until EOF or error), at most `limit`.
fn time_to_close(stream: &mut TcpStream, limit: Duration) -> Option<Duration> {
    let started = Instant::now();
    stream.set_read_timeout(Some(limit)).unwrap();
    let mut sink = Vec::new();
    match stream.read_to_end(&mut sink) {
        Ok(_) => Some(started.elapsed()),
        Err(error) if error.kind() == std::io::ErrorKind::ConnectionReset => {
            Some(started.elapsed())
        }
        Err(_) => None,
    }
}

/// A normal `/auth` request on a new connection: the status and how long it took.
fn normal_request(port: u16) -> (u16, Duration) {
    let started = Instant::now();
    let response = common::send_raw(
        port,
        b"GET /auth HTTP/1.1\r\nHost: k\r\nConnection: close\r\n\r\n",
    );
    (response.status, started.elapsed())
}

/// keyhole with 64 connection slots and a 1 s header timeout, `count` slow clients.
fn slow_clients_case(count: usize, how: Slowness) -> (u16, Duration, Vec<Option<Duration>>) {
    let dir = tempfile::tempdir().unwrap();
    let keyhole = start_keyhole(
        dir.path(),
        &[
            ("KEYHOLE_MAX_CONNECTIONS", "64"),
            ("KEYHOLE_HEADER_TIMEOUT", "1s"),
            ("KEYHOLE_LOG", "info"),
        ],
    );
    let port = tcp_port(&keyhole.listen);
    // The harness's readiness probe held a slot for a moment; let it go.
    thread::sleep(Duration::from_millis(200));
    let mut slow = open_slow(port, count, how, Duration::from_secs(6));
    thread::sleep(Duration::from_millis(100));
    let (status, took) = normal_request(port);
    let closed: Vec<Option<Duration>> = slow
        .iter_mut()
        .map(|stream| time_to_close(stream, Duration::from_secs(4)))
        .collect();
    drop(keyhole);
    (status, took, closed)
}

#[test]
fn slow_clients_cannot_exhaust_connections() {
    // Fewer slow clients than slots: a normal request is answered at once.
    let (status, took, closed) = slow_clients_case(50, Slowness::Trickle);
    eprintln!("50 trickling clients: normal request {status} in {took:?}");
    assert_eq!(status, 403);
    assert!(took < Duration::from_millis(500), "took {took:?}");
    assert_all_cut(&closed);

    // More slow clients than slots (64), trickling or silent: the normal request
    // waits in the accept queue until the header timeout (1 s) cuts the first 64,
    // then is answered.
    for how in [Slowness::Trickle, Slowness::Silent] {
        let (status, took, closed) = slow_clients_case(80, how);
        eprintln!("80 {how:?} clients: normal request {status} in {took:?}");
        assert_eq!(status, 403, "{how:?}");
        assert!(took < Duration::from_millis(2500), "{how:?}: took {took:?}");
        assert_all_cut(&closed);
    }
}

/// Every slow connection was closed by keyhole within the wait (no slot held on).
fn assert_all_cut(closed: &[Option<Duration>]) {
    let held = closed.iter().filter(|c| c.is_none()).count();
    assert_eq!(held, 0, "{held} slow connections still open after 4 s");
    let slowest = closed.iter().flatten().max().copied().unwrap_or_default();
    assert!(
        slowest < Duration::from_secs(3),
        "slowest cut after {slowest:?}"
    );
}

/// One `/auth` request as nginx would send it, with extra header lines.
fn auth_request_with(target: &str, extra: &str) -> Vec<u8> {
    format!(
        "GET /auth HTTP/1.1\r\nHost: keyhole\r\nX-Original-URI: {target}\r\n\
         X-Original-Method: GET\r\nX-Real-IP: 127.0.0.1\r\n{extra}\r\n"
    )
    .into_bytes()
}

/// An HS256 token of key `h256` for `/protected/a.jpg` with a random `jti` (16 to
/// 128 characters), single-use or not.
fn random_jti_token(rng: &mut Rng, now: u64, once: bool) -> String {
    let header = json!({"alg": "HS256", "typ": "keyhole+jwt", "kid": "h256"});
    // 16 to 128 characters: random enough that two single-use tokens never share
    // a `jti` by chance (which would rightly be `replayed`).
    let jti_len = 16 + (rng.next() % 113) as usize;
    let mut claims = json!({"aud": "keyhole", "iat": now, "exp": now + 120,
        "kh_path": "/protected/a.jpg", "jti": rng.text(KID_CHARS, jti_len)});
    if once {
        claims["kh_once"] = json!(true);
    }
    let message = format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    );
    let key = jsonwebtoken::EncodingKey::from_secret(
        &URL_SAFE_NO_PAD.decode(common::TEST_SECRET).unwrap(),
    );
    let signature =
        jsonwebtoken::crypto::sign(message.as_bytes(), &key, jsonwebtoken::Algorithm::HS256)
            .unwrap();
    format!("{message}.{signature}")
}

/// A random `__Host-keyhole` value: junk of random length, or a well-formed grant
/// with a random scope, session id and signature (refused at the MAC).
fn random_cookie(rng: &mut Rng, now: u64) -> String {
    if rng.next() % 2 == 0 {
        let len = 1 + (rng.next() % 1500) as usize;
        rng.text(KID_CHARS, len)
    } else {
        let scope = format!("/{}/", rng.word(30));
        let sid = rng.word(64);
        let sig = rng.text(KID_CHARS, 42) + &rng.text(b"AQgw", 1);
        format!(
            "2.k1.{}.{}.{sid}..R0VULEhFQUQ.{sig}",
            b64(scope.as_bytes()),
            now + 600
        )
    }
}

/// Replay store capacity in the memory case.
const REPLAY_CAPACITY: usize = 1_000;
/// Requests of each kind after the baseline.
const AFTER_BASELINE_EACH: usize = 6_000;

/// Random `jti`s and random cookie values straight to keyhole (4 keep-alive
/// connections), `KEYHOLE_REPLAY_CAPACITY=1000`: warm-up of 1,000 plain tokens with
/// random `jti`s (allowed: nothing is stored for them), 1,000 random cookies (denied)
/// and 1,000 single-use tokens (allowed, filling the store); RSS read; then 6,000 of
/// each kind again: plain tokens still allowed, every new single-use token
/// `store-full` (the store refuses rather than forgets), cookies denied; RSS at most
/// 8 MiB above the baseline.
#[test]
fn random_jtis_and_cookie_values_leave_memory_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let capacity = REPLAY_CAPACITY.to_string();
    let jwt_keys = format!("h256:HS256:{}", common::TEST_SECRET);
    let keyhole = start_keyhole(
        dir.path(),
        &[
            ("KEYHOLE_LOG", "info"),
            ("KEYHOLE_JWT_KEYS", &jwt_keys),
            ("KEYHOLE_REPLAY_CAPACITY", &capacity),
        ],
    );
    let port = tcp_port(&keyhole.listen);
    let now = common::now().0;
    let mut rng = Rng(0x6a74_6921);
    let mut connections: Vec<KeepAlive> = (0..4).map(|_| KeepAlive::open(port)).collect();
    let mut sent = 0usize;
    let mut send = |request: Vec<u8>| {
        sent += 1;
        connections[sent % 4].send(&request)
    };
    let mut tally = std::collections::BTreeMap::<(&str, u16, String), usize>::new();
    let mut round = |rng: &mut Rng, count: usize, tally: &mut std::collections::BTreeMap<_, _>| {
        for _ in 0..count {
            let plain = random_jti_token(rng, now, false);
            let (status, reason) = send(auth_request(&format!("/protected/a.jpg?token={plain}")));
            *tally.entry(("plain", status, reason)).or_insert(0usize) += 1;
            let cookie = format!("Cookie: __Host-keyhole={}\r\n", random_cookie(rng, now));
            let (status, reason) = send(auth_request_with("/protected/a.jpg", &cookie));
            *tally.entry(("cookie", status, reason)).or_insert(0usize) += 1;
            let once = random_jti_token(rng, now, true);
            let (status, reason) = send(auth_request(&format!("/protected/a.jpg?token={once}")));
            *tally.entry(("once", status, reason)).or_insert(0usize) += 1;
        }
    };
    let started = Instant::now();
    round(&mut rng, REPLAY_CAPACITY, &mut tally);
    let warm = tally.clone();
    let baseline = rss_kib(keyhole.pid());
    round(&mut rng, AFTER_BASELINE_EACH, &mut tally);
    let after = rss_kib(keyhole.pid());
    let elapsed = started.elapsed();
    eprintln!(
        "random jtis and cookies: {} requests in {elapsed:?}, RSS {baseline} KiB after \
         {} warm-up requests, {after} KiB after {} more; warm-up {warm:?}; total {tally:?}",
        3 * (REPLAY_CAPACITY + AFTER_BASELINE_EACH),
        3 * REPLAY_CAPACITY,
        3 * AFTER_BASELINE_EACH
    );
    let count = |kind: &str, status: u16, reason: &str| {
        tally
            .get(&(kind, status, reason.to_owned()))
            .copied()
            .unwrap_or_default()
    };
    let warm_count = |kind: &str, status: u16| {
        warm.iter()
            .filter(|((k, s, _), _)| *k == kind && *s == status)
            .map(|(_, n)| n)
            .sum::<usize>()
    };
    let total = REPLAY_CAPACITY + AFTER_BASELINE_EACH;
    assert_eq!(warm_count("plain", 204), REPLAY_CAPACITY, "{warm:?}");
    assert_eq!(warm_count("once", 204), REPLAY_CAPACITY, "{warm:?}");
    assert_eq!(warm_count("cookie", 403), REPLAY_CAPACITY, "{warm:?}");
    let plain_allowed: usize = tally
        .iter()
        .filter(|((k, s, _), _)| *k == "plain" && *s == 204)
        .map(|(_, n)| n)
        .sum();
    assert_eq!(plain_allowed, total, "{tally:?}");
    assert_eq!(
        count("once", 403, "store-full"),
        AFTER_BASELINE_EACH,
        "{tally:?}"
    );
    let cookies_denied: usize = tally
        .iter()
        .filter(|((k, s, _), _)| *k == "cookie" && *s == 403)
        .map(|(_, n)| n)
        .sum();
    assert_eq!(cookies_denied, total, "{tally:?}");
    assert!(
        after <= baseline + MAX_RSS_GROWTH_KIB,
        "RSS grew from {baseline} KiB to {after} KiB"
    );
    assert!(elapsed < Duration::from_secs(60), "took {elapsed:?}");
}
