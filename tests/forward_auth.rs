//! The forward-auth routes against a real keyhole, request by request, as raw bytes:
//! `/forward-auth` (the Traefik / Caddy / oauth2-proxy dialect) and `/ext-authz/`
//! (Envoy's `ext_authz` HTTP service). The Traefik and Envoy cases replay the requests
//! their documentation describes (contract tests: neither proxy runs here); Caddy runs
//! for real in tests/caddy.rs.
//!
//! What is pinned: every dialect answers exactly like `/auth` (204 or 403, empty body,
//! `X-Keyhole-Reason`); `/auth` never reads `X-Forwarded-*` and `/forward-auth` never
//! reads `X-Original-*`; the client address is the right-most `X-Forwarded-For` entry
//! that is not a trusted proxy, and a request from a peer that is not a trusted proxy
//! is denied.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::{JWT_KEY_LINE, Keyhole, Response, ip, mint_url, send_raw, sign_url};
use keyhole::config::Listen;

/// A keyhole on a free loopback port with the test keys (signed URL and JWT).
struct Service {
    keyhole: Keyhole,
    _dir: tempfile::TempDir,
}

impl Service {
    fn start(vars: &[(&str, &str)]) -> Service {
        let dir = tempfile::tempdir().unwrap();
        let listen = Listen::Tcp(
            format!("127.0.0.1:{}", common::free_port())
                .parse()
                .unwrap(),
        );
        let mut all = vec![("KEYHOLE_JWT_KEYS", JWT_KEY_LINE)];
        all.extend_from_slice(vars);
        let keyhole = Keyhole::start(dir.path(), "keyhole", listen, &all);
        Service { keyhole, _dir: dir }
    }

    fn port(&self) -> u16 {
        match &self.keyhole.listen {
            Listen::Tcp(addr) => addr.port(),
            Listen::Unix(_) => unreachable!(),
        }
    }

    /// `METHOD target` with these header lines, sent as bytes.
    fn send(&self, method: &str, target: &str, headers: &[(&str, &str)]) -> Response {
        let mut request = format!("{method} {target} HTTP/1.1\r\nConnection: close\r\n");
        if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("host")) {
            request.push_str("Host: keyhole\r\n");
        }
        for (name, value) in headers {
            request.push_str(&format!("{name}: {value}\r\n"));
        }
        request.push_str("\r\n");
        send_raw(self.port(), request.as_bytes())
    }

    /// `GET /forward-auth` with the five forwarding headers and `extra`.
    fn forward_auth(&self, uri: &str, xff: &str, extra: &[(&str, &str)]) -> Response {
        let mut headers = vec![
            ("X-Forwarded-Method", "GET"),
            ("X-Forwarded-Proto", "https"),
            ("X-Forwarded-Host", "files.example"),
            ("X-Forwarded-Uri", uri),
            ("X-Forwarded-For", xff),
        ];
        headers.extend_from_slice(extra);
        self.send("GET", "/forward-auth", &headers)
    }
}

#[track_caller]
fn assert_answer(response: &Response, status: u16, reason: &str) {
    assert_eq!(response.status, status, "{}", response.head);
    assert_eq!(
        response.header("x-keyhole-reason").as_deref(),
        Some(reason),
        "{}",
        response.head
    );
    assert!(response.body.is_empty(), "{}", response.head);
}

#[test]
fn forward_auth_answers_like_auth() {
    let service = Service::start(&[]);
    let url = sign_url("/files/a.png", |_| {});
    assert_answer(&service.forward_auth(&url, "203.0.113.7", &[]), 204, "ok");
    let tampered = url.replace("kh_exp=", "kh_exp=1");
    assert_answer(
        &service.forward_auth(&tampered, "203.0.113.7", &[]),
        403,
        "bad-signature",
    );
    assert_answer(
        &service.forward_auth("/files/a.png", "203.0.113.7", &[]),
        403,
        "missing-credential",
    );
    assert_answer(
        &service.forward_auth(&mint_url("/files/a.png"), "203.0.113.7", &[]),
        204,
        "ok",
    );
    // The same path rules as /auth.
    let traversal = url.replace("/files/a.png", "/files/../a.png");
    assert_answer(
        &service.forward_auth(&traversal, "203.0.113.7", &[]),
        403,
        "path-traversal",
    );
    let log = service.keyhole.log_text();
    let signature = url.split("kh_sig=").nth(1).unwrap();
    assert!(!log.contains(signature), "a signature reached the log");
}

#[test]
fn forward_auth_never_reads_x_original() {
    let service = Service::start(&[]);
    let url = sign_url("/files/a.png", |_| {});
    // Only nginx's dialect: no forwarding headers at all.
    let response = service.send(
        "GET",
        "/forward-auth",
        &[
            ("X-Original-URI", &url),
            ("X-Original-Method", "GET"),
            ("X-Real-IP", "203.0.113.7"),
        ],
    );
    assert_answer(&response, 403, "missing-header");
    // X-Original-URI next to a X-Forwarded-Uri without credential: the latter counts.
    let response = service.forward_auth(
        "/files/a.png",
        "203.0.113.7",
        &[("X-Original-URI", &url), ("X-Original-Method", "GET")],
    );
    assert_answer(&response, 403, "missing-credential");
    // X-Real-IP never replaces X-Forwarded-For.
    let bound = sign_url("/files/a.png", |g| g.ip = ip("203.0.113.7"));
    let response = service.forward_auth(&bound, "198.51.100.1", &[("X-Real-IP", "203.0.113.7")]);
    assert_answer(&response, 403, "ip-mismatch");
}

#[test]
fn auth_never_reads_x_forwarded() {
    let service = Service::start(&[]);
    let url = sign_url("/files/a.png", |_| {});
    let response = service.send(
        "GET",
        "/auth",
        &[
            ("X-Forwarded-Method", "GET"),
            ("X-Forwarded-Proto", "https"),
            ("X-Forwarded-Host", "files.example"),
            ("X-Forwarded-Uri", &url),
            ("X-Forwarded-For", "203.0.113.7"),
        ],
    );
    assert_answer(&response, 403, "missing-header");
    // X-Forwarded-For never replaces X-Real-IP on /auth.
    let bound = sign_url("/files/a.png", |g| g.ip = ip("203.0.113.7"));
    let response = service.send(
        "GET",
        "/auth",
        &[
            ("X-Original-URI", &bound),
            ("X-Original-Method", "GET"),
            ("X-Real-IP", "198.51.100.1"),
            ("X-Forwarded-For", "203.0.113.7"),
        ],
    );
    assert_answer(&response, 403, "ip-mismatch");
}

#[test]
fn the_client_is_the_right_most_address_that_is_not_a_trusted_proxy() {
    let service = Service::start(&[("KEYHOLE_TRUSTED_PROXIES", "127.0.0.0/8,10.0.0.0/8")]);
    let bound = sign_url("/files/a.png", |g| g.ip = ip("203.0.113.7"));
    // The client wrote its own X-Forwarded-For; the proxies appended the real peer
    // and themselves.
    for xff in [
        "203.0.113.7",
        "198.51.100.1, 203.0.113.7",
        "198.51.100.1, 203.0.113.7, 10.0.0.2",
        "198.51.100.1,203.0.113.7,10.0.0.2,127.0.0.1",
    ] {
        assert_answer(&service.forward_auth(&bound, xff, &[]), 204, "ok");
    }
    // A spoofed address to the right of the real one is what a client cannot write
    // (the proxy appends after it): the right-most untrusted entry is the one checked.
    for xff in [
        "203.0.113.7, 198.51.100.1",
        "203.0.113.7, 198.51.100.1, 10.0.0.2",
    ] {
        assert_answer(&service.forward_auth(&bound, xff, &[]), 403, "ip-mismatch");
    }
}

#[test]
fn a_peer_that_is_not_a_trusted_proxy_is_denied() {
    // keyhole trusts only 10.0.0.0/8; this test connects from loopback.
    let service = Service::start(&[("KEYHOLE_TRUSTED_PROXIES", "10.0.0.0/8")]);
    let url = sign_url("/files/a.png", |_| {});
    assert_answer(
        &service.forward_auth(&url, "203.0.113.7", &[]),
        403,
        "untrusted-proxy",
    );
    let response = service.send(
        "GET",
        &format!("/ext-authz{url}"),
        &[
            ("Host", "files.example"),
            ("X-Forwarded-For", "203.0.113.7"),
        ],
    );
    assert_answer(&response, 403, "untrusted-proxy");
    // /auth is unaffected: nginx's dialect carries no forwarding headers.
    let response = service.send(
        "GET",
        "/auth",
        &[
            ("X-Original-URI", &url),
            ("X-Original-Method", "GET"),
            ("X-Real-IP", "203.0.113.7"),
        ],
    );
    assert_answer(&response, 204, "ok");
}

#[test]
fn malformed_duplicated_and_missing_forwarding_headers_are_denied() {
    let service = Service::start(&[]);
    let url = sign_url("/files/a.png", |_| {});
    for (xff, reason) in [
        ("", "bad-forwarded-for"),
        ("203.0.113.7,", "bad-forwarded-for"),
        ("unknown", "bad-forwarded-for"),
        ("203.0.113.7:443", "bad-forwarded-for"),
        ("[2001:db8::1]", "bad-forwarded-for"),
        ("203.0.113.7 198.51.100.1", "bad-forwarded-for"),
    ] {
        assert_answer(&service.forward_auth(&url, xff, &[]), 403, reason);
    }
    let hops = vec!["10.0.0.1"; 17].join(", ");
    assert_answer(
        &service.forward_auth(&url, &hops, &[]),
        403,
        "too-many-hops",
    );
    // A second line of any forwarding header (the base request has one of each), or
    // of a browser header.
    for extra in [
        &[("X-Forwarded-For", "203.0.113.7")][..],
        &[("X-Forwarded-Uri", "/files/a.png")],
        &[("X-Forwarded-Method", "GET")],
        &[("X-Forwarded-Host", "files.example")],
        &[("X-Forwarded-Proto", "https")],
        &[("Cookie", "a=b"), ("Cookie", "c=d")],
        &[
            ("Referer", "https://a.example/"),
            ("Referer", "https://b.example/"),
        ],
    ] {
        assert_answer(
            &service.forward_auth(&url, "203.0.113.7", extra),
            403,
            "duplicate-header",
        );
    }
    for (name, value) in [
        ("X-Forwarded-Proto", "ftp"),
        ("X-Forwarded-Host", "files.example/evil"),
        ("X-Forwarded-Method", "get"),
    ] {
        let mut headers = vec![
            ("X-Forwarded-Method", "GET"),
            ("X-Forwarded-Proto", "https"),
            ("X-Forwarded-Host", "files.example"),
            ("X-Forwarded-Uri", url.as_str()),
            ("X-Forwarded-For", "203.0.113.7"),
        ];
        headers.retain(|(k, _)| *k != name);
        headers.push((name, value));
        assert_answer(
            &service.send("GET", "/forward-auth", &headers),
            403,
            "bad-header",
        );
    }
    for name in [
        "X-Forwarded-Method",
        "X-Forwarded-Proto",
        "X-Forwarded-Host",
        "X-Forwarded-Uri",
        "X-Forwarded-For",
    ] {
        let mut headers = vec![
            ("X-Forwarded-Method", "GET"),
            ("X-Forwarded-Proto", "https"),
            ("X-Forwarded-Host", "files.example"),
            ("X-Forwarded-Uri", url.as_str()),
            ("X-Forwarded-For", "203.0.113.7"),
        ];
        headers.retain(|(k, _)| *k != name);
        assert_answer(
            &service.send("GET", "/forward-auth", &headers),
            403,
            "missing-header",
        );
    }
}

/// Traefik's `forwardAuth` (docs: "Forward-Request Headers"; traefik/traefik
/// `pkg/middlewares/auth/forward.go`): a `GET` to `address` carrying the client's
/// headers (hop-by-hop ones removed) and `X-Forwarded-Method`, `-Proto`, `-Host`,
/// `-Uri`, `-For` (with `trustForwardHeader: false`, `X-Forwarded-For` is the peer
/// only), plus `X-Forwarded-Port` and `X-Forwarded-Server`.
#[test]
fn traefik_forward_auth_contract() {
    let service = Service::start(&[]);
    let url = sign_url("/files/a.png", |g| g.ip = ip("203.0.113.7"));
    let traefik = |uri: &str, method: &str| {
        service.send(
            "GET",
            "/forward-auth",
            &[
                ("Host", "keyhole:9181"),
                ("User-Agent", "Mozilla/5.0"),
                ("Accept", "image/png"),
                ("Accept-Encoding", "gzip"),
                ("X-Forwarded-For", "203.0.113.7"),
                ("X-Forwarded-Host", "files.example"),
                ("X-Forwarded-Method", method),
                ("X-Forwarded-Port", "443"),
                ("X-Forwarded-Proto", "https"),
                ("X-Forwarded-Server", "traefik-7d9f"),
                ("X-Forwarded-Uri", uri),
                ("X-Real-Ip", "203.0.113.7"),
            ],
        )
    };
    assert_answer(&traefik(&url, "GET"), 204, "ok");
    assert_answer(&traefik(&url, "HEAD"), 204, "ok");
    assert_answer(&traefik(&url, "DELETE"), 403, "method-not-allowed");
    assert_answer(&traefik("/files/a.png", "GET"), 403, "missing-credential");
}

/// Envoy's `ext_authz` HTTP service (docs: the filter's `http_service`, and
/// `AuthorizationRequest.allowed_headers`: "Host, Method, Path, Content-Length and
/// Authorization are always included"): the check request has the client's method,
/// `path_prefix` + the client's path and query, the client's `Host`,
/// `Content-Length: 0`, and the headers `allowed_headers` lets through (here
/// `x-forwarded-for`, `cookie`, `sec-fetch-site`, `referer`); Envoy adds
/// `x-envoy-expected-rq-timeout-ms` and, with `use_remote_address`, appends the peer
/// to `x-forwarded-for`.
#[test]
fn envoy_ext_authz_contract() {
    let service = Service::start(&[]);
    let url = sign_url("/files/a.png", |g| g.ip = ip("203.0.113.7"));
    let envoy = |method: &str, target: &str, xff: &str| {
        service.send(
            method,
            &format!("/ext-authz{target}"),
            &[
                ("host", "files.example"),
                ("content-length", "0"),
                ("x-forwarded-for", xff),
                ("x-forwarded-proto", "https"),
                ("x-request-id", "0c2f1c36-3a2e-4f5b-9d64-5f1a1b7e2b11"),
                ("x-envoy-expected-rq-timeout-ms", "200"),
                ("x-envoy-internal", "true"),
            ],
        )
    };
    assert_answer(&envoy("GET", &url, "203.0.113.7"), 204, "ok");
    assert_answer(&envoy("HEAD", &url, "203.0.113.7"), 204, "ok");
    assert_answer(
        &envoy("POST", &url, "203.0.113.7"),
        403,
        "method-not-allowed",
    );
    assert_answer(&envoy("GET", &url, "203.0.113.9"), 403, "ip-mismatch");
    assert_answer(&envoy("GET", &url, "198.51.100.1, 203.0.113.7"), 204, "ok");
    assert_answer(
        &envoy("GET", "/files/a.png", "203.0.113.7"),
        403,
        "missing-credential",
    );
    assert_answer(
        &envoy("GET", &mint_url("/files/a.png"), "203.0.113.7"),
        204,
        "ok",
    );
    // The prefix alone, a directory, a dot segment: the same path rules as /auth.
    assert_answer(&envoy("GET", "", "203.0.113.7"), 403, "path-bad-char");
    assert_answer(
        &envoy("GET", "/files/", "203.0.113.7"),
        403,
        "path-not-file",
    );
    assert_answer(
        &envoy(
            "GET",
            &url.replace("/files/", "/files/x/../"),
            "203.0.113.7",
        ),
        403,
        "path-traversal",
    );
    // Envoy never sends X-Original-*: a client's own is not read.
    let response = service.send(
        "GET",
        "/ext-authz/files/a.png",
        &[
            ("host", "files.example"),
            ("x-forwarded-for", "203.0.113.7"),
            ("x-original-uri", &url),
        ],
    );
    assert_answer(&response, 403, "missing-credential");
    // Without allowed_headers letting X-Forwarded-For through: denied.
    let response = service.send(
        "GET",
        &format!("/ext-authz{url}"),
        &[("host", "files.example")],
    );
    assert_answer(&response, 403, "missing-header");
}

/// The host each dialect names (`X-Forwarded-Host`, Envoy's `Host`, the authority of
/// ingress-nginx's `X-Original-URL`) is the request's host, port removed, so a
/// host-bound URL opens on its host only, whichever proxy asks.
#[test]
fn every_dialect_checks_a_host_bound_url_against_its_host() {
    let service = Service::start(&[]);
    let bound = sign_url("/files/a.png", |g| {
        g.host = Some(keyhole::host::Host::parse("files.example").unwrap());
    });
    let xff = "203.0.113.7";
    let forward = |host: &str| {
        service.send(
            "GET",
            "/forward-auth",
            &[
                ("X-Forwarded-Method", "GET"),
                ("X-Forwarded-Proto", "https"),
                ("X-Forwarded-Host", host),
                ("X-Forwarded-Uri", &bound),
                ("X-Forwarded-For", xff),
            ],
        )
    };
    assert_answer(&forward("files.example"), 204, "ok");
    assert_answer(&forward("FILES.example:8443"), 204, "ok");
    assert_answer(&forward("other.example"), 403, "host-mismatch");
    assert_answer(&forward("other.example:443"), 403, "host-mismatch");
    // A port that is not one, or an empty one, is not repaired.
    assert_answer(&forward("files.example:"), 403, "bad-header");
    assert_answer(&forward("files.example:99999"), 403, "bad-header");
    assert_answer(&forward("files.example:8x"), 403, "bad-header");

    let envoy = |host: &str| {
        service.send(
            "GET",
            &format!("/ext-authz{bound}"),
            &[("host", host), ("x-forwarded-for", xff)],
        )
    };
    assert_answer(&envoy("files.example:443"), 204, "ok");
    assert_answer(&envoy("other.example"), 403, "host-mismatch");

    let ingress = |host: &str| {
        service.send(
            "GET",
            "/ingress-auth",
            &[
                ("X-Original-URL", &format!("https://{host}{bound}")),
                ("X-Original-Method", "GET"),
                ("X-Sent-From", "nginx-ingress-controller"),
                ("X-Real-IP", xff),
            ],
        )
    };
    assert_answer(&ingress("files.example"), 204, "ok");
    assert_answer(&ingress("other.example:8080"), 403, "host-mismatch");
}
