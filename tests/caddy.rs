//! A real second proxy: Caddy running the shipped `proxies/caddy/Caddyfile`
//! (`forward_auth` to keyhole's `/forward-auth` in front of `file_server`, and the
//! cookie exchange proxied to `/session`), with the real keyhole binary behind it.
//! Requests go to Caddy as raw bytes over TCP.
//!
//! Pinned: signed URLs, JWTs and the cookie exchange open their files; tampered and
//! missing credentials get 403 (and the file's bytes never); a client that writes its
//! own `X-Forwarded-Uri`, `X-Original-URI` or `X-Forwarded-For` gains nothing; the
//! reason code never reaches the client; no credential reaches Caddy's or keyhole's
//! logs.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::caddy::Caddy;
use common::{JWT_KEY_LINE, Keyhole, Response, ip, mint_url, scope, send_raw, sign_url};
use keyhole::config::Listen;

const FILE: &[u8] = b"protected bytes behind caddy";
const OTHER: &[u8] = b"other protected bytes";

/// keyhole, then Caddy in front of it, with two protected files and a public page.
/// Field order: Caddy stops before keyhole, then the folder goes.
struct Stack {
    caddy: Caddy,
    keyhole: Keyhole,
    dir: tempfile::TempDir,
    /// Credentials sent, checked against every log at the end of each test.
    secrets: Vec<String>,
}

impl Stack {
    fn start() -> Stack {
        let dir = tempfile::Builder::new()
            .prefix("keyhole-caddy-")
            .tempdir()
            .unwrap();
        let root = dir.path().join("www");
        std::fs::create_dir_all(root.join("protected/u1")).unwrap();
        std::fs::write(root.join("protected/u1/a.png"), FILE).unwrap();
        std::fs::write(root.join("protected/u1/b.png"), OTHER).unwrap();
        std::fs::write(root.join("index.html"), b"public").unwrap();
        let addr = format!("127.0.0.1:{}", common::free_port())
            .parse()
            .unwrap();
        let keyhole = Keyhole::start(
            dir.path(),
            "keyhole",
            Listen::Tcp(addr),
            &[("KEYHOLE_JWT_KEYS", JWT_KEY_LINE)],
        );
        let caddy = Caddy::start(dir.path(), addr, &root);
        Stack {
            caddy,
            keyhole,
            dir,
            secrets: Vec::new(),
        }
    }

    /// `GET target` to Caddy with these header lines; every query value of 16 or
    /// more characters and every cookie value is remembered as a secret.
    fn get(&mut self, target: &str, headers: &[(&str, &str)]) -> Response {
        for item in target.split_once('?').map_or("", |(_, q)| q).split('&') {
            let value = item.split_once('=').map_or("", |(_, v)| v);
            if value.len() >= 16 && !value.starts_with('/') {
                self.secrets.push(value.to_owned());
            }
        }
        let mut request =
            format!("GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n");
        for (name, value) in headers {
            if name.eq_ignore_ascii_case("cookie") {
                let value = value.split_once('=').map_or("", |(_, v)| v);
                self.secrets.push(value.to_owned());
            }
            request.push_str(&format!("{name}: {value}\r\n"));
        }
        request.push_str("\r\n");
        send_raw(self.caddy.port, request.as_bytes())
    }

    /// The reason code of keyhole's most recent denial (its log line).
    fn last_denial(&self) -> String {
        let log = self.keyhole.log_text();
        let line = log
            .lines()
            .rev()
            .find(|line| line.contains("deny"))
            .unwrap_or_default()
            .to_owned();
        line.split_whitespace()
            .find_map(|field| field.strip_prefix("reason="))
            .unwrap_or_default()
            .trim_matches('"')
            .to_owned()
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        if std::thread::panicking() {
            return;
        }
        let access = std::fs::read_to_string(&self.caddy.access_log).unwrap_or_default();
        assert!(
            self.secrets.is_empty() || access.contains("?REDACTED"),
            "Caddy's access log holds no filtered request line: {access}"
        );
        let mut logs = self.caddy.logs();
        logs.push_str(&self.keyhole.log_text());
        for secret in &self.secrets {
            let line = logs
                .lines()
                .find(|line| line.contains(secret.as_str()))
                .unwrap_or_default();
            assert!(
                !logs.contains(secret.as_str()),
                "a credential reached a log: {line}"
            );
        }
        let _ = &self.dir;
    }
}

#[track_caller]
fn assert_served(response: &Response, bytes: &[u8]) {
    assert_eq!(response.status, 200, "{}", response.head);
    assert_eq!(response.body, bytes);
    assert!(
        response.header("x-keyhole-reason").is_none(),
        "{}",
        response.head
    );
}

#[track_caller]
fn assert_denied(stack: &Stack, response: &Response, reason: &str) {
    assert_eq!(response.status, 403, "{}", response.head);
    assert!(
        !response.body.windows(FILE.len()).any(|w| w == FILE),
        "file bytes in a denial"
    );
    assert!(
        response.header("x-keyhole-reason").is_none(),
        "the reason code reached the client: {}",
        response.head
    );
    assert_eq!(stack.last_denial(), reason);
}

#[test]
fn signed_urls_and_jwts_open_their_files_through_caddy() {
    let mut stack = Stack::start();
    let url = sign_url("/protected/u1/a.png", |_| {});
    let response = stack.get(&url, &[]);
    assert_served(&response, FILE);
    assert_eq!(
        response.header("referrer-policy").as_deref(),
        Some("no-referrer")
    );
    let response = stack.get(&mint_url("/protected/u1/b.png"), &[]);
    assert_served(&response, OTHER);
    // HEAD through forward_auth: the client's method reaches keyhole.
    let public = stack.get("/index.html", &[]);
    assert_eq!(public.status, 200);
    assert_eq!(public.body, b"public");

    let tampered = url.replace("kh_exp=", "kh_exp=9");
    let response = stack.get(&tampered, &[]);
    assert_denied(&stack, &response, "bad-signature");
    let response = stack.get("/protected/u1/a.png", &[]);
    assert_denied(&stack, &response, "missing-credential");
    // A URL signed for one file opens no other.
    let other = url.replace("/protected/u1/a.png", "/protected/u1/b.png");
    let response = stack.get(&other, &[]);
    assert_denied(&stack, &response, "bad-signature");
    let token = mint_url("/protected/u1/b.png");
    let response = stack.get(&token.replace("b.png", "a.png"), &[]);
    assert_denied(&stack, &response, "out-of-scope");
}

#[test]
fn the_cookie_exchange_works_through_caddy() {
    let mut stack = Stack::start();
    let url = sign_url("/protected/u1/a.png", |g| g.scope = scope("/protected/u1/"));
    let query = url.split_once('?').unwrap().1;
    let response = stack.get(
        &format!("/_keyhole/session?return_to=/protected/u1/a.png&{query}"),
        &[],
    );
    assert_eq!(response.status, 303, "{}", response.head);
    assert_eq!(
        response.header("location").as_deref(),
        Some("/protected/u1/a.png")
    );
    assert!(response.header("x-keyhole-reason").is_none());
    let set_cookie = response.header("set-cookie").unwrap();
    let pair = set_cookie.split(';').next().unwrap().to_owned();
    assert_served(
        &stack.get("/protected/u1/a.png", &[("Cookie", &pair)]),
        FILE,
    );
    assert_served(
        &stack.get("/protected/u1/b.png", &[("Cookie", &pair)]),
        OTHER,
    );
    // Cross-site use of the cookie: Sec-Fetch-Site reaches keyhole through Caddy.
    let response = stack.get(
        "/protected/u1/a.png",
        &[("Cookie", &pair), ("Sec-Fetch-Site", "cross-site")],
    );
    assert_denied(&stack, &response, "cross-site");
    let (name, value) = pair.split_once('=').unwrap();
    let mut forged = value.to_owned();
    forged.push('A');
    let response = stack.get(
        "/protected/u1/a.png",
        &[("Cookie", &format!("{name}={forged}"))],
    );
    assert_eq!(response.status, 403, "{}", response.head);
    // The exchange refuses a tampered credential.
    let response = stack.get(
        &format!(
            "/_keyhole/session?return_to=/protected/u1/a.png&{}",
            query.replace("kh_exp=", "kh_exp=9")
        ),
        &[],
    );
    assert_eq!(response.status, 403, "{}", response.head);
    assert!(response.header("set-cookie").is_none());
    assert!(response.header("x-keyhole-reason").is_none());
}

#[test]
fn a_client_writing_its_own_forwarding_headers_opens_nothing() {
    let mut stack = Stack::start();
    let url = sign_url("/protected/u1/a.png", |_| {});
    // A valid credential for a.png in headers, while asking for b.png without one:
    // Caddy sets X-Forwarded-Uri itself, and /forward-auth never reads X-Original-*.
    for (name, value) in [
        ("X-Forwarded-Uri", url.as_str()),
        ("X-Original-URI", url.as_str()),
        ("X-Original-URL", &format!("http://127.0.0.1{url}")),
    ] {
        let response = stack.get(
            "/protected/u1/b.png",
            &[(name, value), ("X-Original-Method", "GET")],
        );
        assert_denied(&stack, &response, "missing-credential");
        assert!(!response.body.windows(OTHER.len()).any(|w| w == OTHER));
    }
    // Both at once, and a method of the client's choosing.
    let response = stack.get(
        "/protected/u1/b.png",
        &[
            ("X-Forwarded-Uri", &url),
            ("X-Original-URI", &url),
            ("X-Forwarded-Method", "GET"),
        ],
    );
    assert_denied(&stack, &response, "missing-credential");
    // The exchange: a client's own X-Original-URI is replaced by Caddy.
    let scoped = sign_url("/protected/u1/a.png", |g| g.scope = scope("/protected/u1/"));
    let query = scoped.split_once('?').unwrap().1;
    let response = stack.get(
        "/_keyhole/session?return_to=/protected/u1/a.png",
        &[(
            "X-Original-URI",
            &format!("/_keyhole/session?return_to=/protected/u1/a.png&{query}"),
        )],
    );
    assert_eq!(response.status, 403, "{}", response.head);
    assert!(response.header("set-cookie").is_none());
    // An address binding: Caddy ignores the client's X-Forwarded-For (no
    // trusted_proxies), so the client cannot claim the bound address.
    let bound = sign_url("/protected/u1/a.png", |g| g.ip = ip("203.0.113.7"));
    let response = stack.get(&bound, &[("X-Forwarded-For", "203.0.113.7")]);
    assert_denied(&stack, &response, "ip-mismatch");
    let response = stack.get(&bound, &[("X-Real-IP", "203.0.113.7")]);
    assert_denied(&stack, &response, "ip-mismatch");
    let loopback = sign_url("/protected/u1/a.png", |g| g.ip = ip("127.0.0.1"));
    assert_served(
        &stack.get(&loopback, &[("X-Forwarded-For", "203.0.113.7")]),
        FILE,
    );
}

/// Raw request targets that Caddy's matcher and file server decode and clean: each
/// reaches keyhole (never the public `file_server`), and no spelling of a path opens
/// a file without a credential for it.
#[test]
fn no_spelling_of_a_path_opens_a_file_without_its_credential() {
    let mut stack = Stack::start();
    let spellings = [
        "/protected/u1/a.png",
        "/%70rotected/u1/a.png",
        "/PROTECTED/u1/a.png",
        "//protected/u1/a.png",
        "/./protected/u1/a.png",
        "/x/../protected/u1/a.png",
        "/%2e/protected/u1/a.png",
        "/protected%2fu1/a.png",
        "/%2Fprotected%2Fu1%2Fa.png",
        "/prot%65cted/u1/a.png",
        "/protected/u1/./a.png",
        "/protected/u1/a%2epng",
        "/protected/u1/a.png%00",
        "/protected/u1/a.png.",
        "/protected/u1/",
        "/protected",
    ];
    for target in spellings {
        let response = stack.get(target, &[]);
        assert_ne!(response.status, 200, "{target}: {}", response.head);
        assert!(
            !response.body.windows(FILE.len()).any(|w| w == FILE),
            "{target}"
        );
    }
    // A credential for a.png, with the target spelled to reach b.png.
    let url = sign_url("/protected/u1/a.png", |_| {});
    let query = url.split_once('?').unwrap().1;
    for target in [
        "/protected/u1/b.png",
        "/protected/u1/a.png/../b.png",
        "/protected/u1/a.png%2f..%2fb.png",
        "/protected/u1/%62.png",
        "/protected/u1/./b.png",
    ] {
        let response = stack.get(&format!("{target}?{query}"), &[]);
        assert_ne!(response.status, 200, "{target}: {}", response.head);
        assert!(
            !response.body.windows(OTHER.len()).any(|w| w == OTHER),
            "{target}"
        );
    }
    // The same file spelled with an escape is the same canonical path for keyhole
    // and for Caddy's file server: the credential opens it, and it is a.png.
    let response = stack.get(&format!("/protected/u1/%61.png?{query}"), &[]);
    assert_served(&response, FILE);
}

/// docs/proxies.md shows the shipped Caddyfile: every line that is not a comment, in
/// order, so the page cannot drift from the file the tests run.
#[test]
fn the_docs_show_the_shipped_caddyfile() {
    let docs =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/proxies.md")).unwrap();
    let start = docs.find("```caddyfile\n").unwrap();
    let block = &docs[start..];
    let block = &block[..3 + block[3..].find("```").unwrap()];
    let shown: Vec<&str> = block
        .lines()
        .skip(1)
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let shipped: Vec<&str> = common::caddy::CADDYFILE
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    assert_eq!(shown, shipped);
}
