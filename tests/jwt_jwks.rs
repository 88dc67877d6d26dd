//! A remote JWKS (`KEYHOLE_JWKS_URL`) served by the test on loopback: fetched at start,
//! refetched for an unknown key id at most once per interval, refreshed, the last good
//! set kept through failures; and nginx's decision cache never replays a JWT allow.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::net::TcpListener;

use common::Env;
use common::jwt::*;

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

fn start_with_jwks_url(server: &JwksServer, refresh: &str) -> Env {
    let url = server.url();
    let env = Env::builder()
        .vars(&[
            ("KEYHOLE_JWKS_URL", &url),
            ("KEYHOLE_JWKS_REFRESH", refresh),
            ("KEYHOLE_JWKS_REFETCH_INTERVAL", "60s"),
        ])
        .start();
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
    let mut env = Env::builder()
        .vars(&[("KEYHOLE_JWT_KEYS", &hmac), ("KEYHOLE_JWKS_FILE", &jwks)])
        .decision_cache()
        .start();
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
