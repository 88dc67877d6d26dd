//! ingress-nginx's `auth-url` dialect through a real nginx: the test's nginx runs,
//! next to the shipped files, a server whose protected location and auth location
//! are what ingress-nginx's template generates for an Ingress with
//! `nginx.ingress.kubernetes.io/auth-url: http://keyhole.keyhole.svc:9181/ingress-auth`
//! (kubernetes/ingress-nginx `rootfs/etc/nginx/template/nginx.tmpl` at
//! controller-v1.15.1, commit dbb11b92; the Lua balancer, OpenTelemetry and
//! ModSecurity lines left out, `$req_id` replaced by nginx's `$request_id`, and the
//! upstream's address by the test keyhole's). keyhole answers on `/ingress-auth`.
//!
//! Pinned: signed URLs and JWTs open their files; tampered and missing credentials
//! get 403; ingress-nginx passes every client header on to the auth service, so a
//! client's own `X-Original-URI` (the `/auth` dialect) and `X-Forwarded-*` must open
//! nothing; `X-Real-IP`, which the template sets itself, is the client address.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::{Env, Response, ip, mint_url, send_raw};

const FILE: &[u8] = b"protected bytes behind ingress-nginx";
const OTHER: &[u8] = b"other protected bytes";

/// The server block ingress-nginx renders for one Ingress path `/protected/` with
/// `auth-url`, listening on `port`, asking keyhole at `keyhole`.
fn ingress_server(port: u16, keyhole: &str, root: &str, access_log: &str) -> String {
    format!(
        r#"
server {{
    server_name files.example ;
    listen 127.0.0.1:{port};
    access_log {access_log} keyhole;
    # What the controller's ConfigMap `error-log-level: crit` renders (docs/proxies.md):
    # below `crit`, nginx writes the request line, credentials included, next to every
    # upstream error.
    error_log logs/keyhole-error.log crit;

    location = /_external-auth-L3Byb3RlY3RlZC8-Prefix {{
        internal;

        access_log off;

        set $proxy_upstream_name "default-files-80";

        proxy_intercept_errors      off;
        proxy_pass_request_body     off;
        proxy_set_header            Content-Length          "";
        proxy_set_header            X-Forwarded-Proto       "";
        proxy_set_header            X-Request-ID            $request_id;

        proxy_set_header            Host                    keyhole.keyhole.svc;
        proxy_set_header            X-Original-URL          $scheme://$http_host$request_uri;
        proxy_set_header            X-Original-Method       $request_method;
        proxy_set_header            X-Sent-From             "nginx-ingress-controller";
        proxy_set_header            X-Real-IP               $remote_addr;
        proxy_set_header            X-Forwarded-For        $remote_addr;

        proxy_set_header            X-Auth-Request-Redirect $request_uri;

        proxy_buffering                         off;
        proxy_buffer_size                       4k;
        proxy_buffers                           4 4k;
        proxy_request_buffering                 on;

        proxy_ssl_server_name       on;
        proxy_pass_request_headers  on;
        client_max_body_size        1m;

        proxy_http_version 1.1;
        proxy_set_header Connection "";
        set $target http://{keyhole}/ingress-auth;
        proxy_pass $target;
    }}

    location /protected/ {{
        set $proxy_upstream_name "default-files-80";

        # this location requires authentication
        auth_request        /_external-auth-L3Byb3RlY3RlZC8-Prefix;
        auth_request_set    $auth_cookie $upstream_http_set_cookie;
        add_header          Set-Cookie $auth_cookie;

        # The backend: here the files themselves.
        root {root};
        try_files $uri =404;
    }}
}}
"#
    )
}

struct Ingress {
    env: Env,
    port: u16,
    _root: tempfile::TempDir,
}

impl Ingress {
    /// Starts; a port taken between choosing and binding it (by a test running in
    /// parallel) makes nginx fail, and then the whole start is tried again.
    fn start() -> Ingress {
        for _ in 0..2 {
            let started = std::panic::catch_unwind(Ingress::try_start);
            if let Ok(ingress) = started {
                return ingress;
            }
        }
        Ingress::try_start()
    }

    fn try_start() -> Ingress {
        let port = common::free_port();
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join("protected/u1")).unwrap();
        std::fs::write(root.path().join("protected/u1/a.png"), FILE).unwrap();
        std::fs::write(root.path().join("protected/u1/b.png"), OTHER).unwrap();
        // `proxy_pass $target` finds the shipped `upstream keyhole` by name, so the
        // auth location reaches the test's keyhole. The access log is the shipped
        // one (format `keyhole`), checked for credentials when the Env drops.
        let env = Env::builder()
            .vars(&[("KEYHOLE_JWT_KEYS", common::JWT_KEY_LINE)])
            .http(&ingress_server(
                port,
                "keyhole",
                root.path().to_str().unwrap(),
                "logs/keyhole-access.log",
            ))
            .start();
        Ingress {
            env,
            port,
            _root: root,
        }
    }

    fn get(&self, target: &str, headers: &[(&str, &str)]) -> Response {
        let mut request =
            format!("GET {target} HTTP/1.1\r\nHost: files.example\r\nConnection: close\r\n");
        for (name, value) in headers {
            request.push_str(&format!("{name}: {value}\r\n"));
        }
        request.push_str("\r\n");
        self.env.remember_secrets(request.as_bytes());
        send_raw(self.port, request.as_bytes())
    }

    fn last_denial(&self) -> String {
        let log = self.env.keyhole.log_text();
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

#[track_caller]
fn assert_served(response: &Response, bytes: &[u8]) {
    assert_eq!(response.status, 200, "{}", response.head);
    assert_eq!(response.body, bytes);
}

#[track_caller]
fn assert_denied(ingress: &Ingress, response: &Response, reason: &str) {
    assert_eq!(response.status, 403, "{}", response.head);
    assert!(!response.body.windows(FILE.len()).any(|w| w == FILE));
    assert!(!response.body.windows(OTHER.len()).any(|w| w == OTHER));
    assert_eq!(ingress.last_denial(), reason);
}

#[test]
fn signed_urls_and_jwts_open_their_files_through_the_ingress_template() {
    let ingress = Ingress::start();
    let url = ingress.env.sign("/protected/u1/a.png");
    assert_served(&ingress.get(&url, &[]), FILE);
    assert_served(&ingress.get(&mint_url("/protected/u1/b.png"), &[]), OTHER);
    let tampered = url.replace("kh_exp=", "kh_exp=9");
    assert_denied(&ingress, &ingress.get(&tampered, &[]), "bad-signature");
    assert_denied(
        &ingress,
        &ingress.get("/protected/u1/a.png", &[]),
        "missing-credential",
    );
    let other = url.replace("a.png", "b.png");
    assert_denied(&ingress, &ingress.get(&other, &[]), "bad-signature");
    // The client's method reaches keyhole through X-Original-Method.
    let get_only = ingress.env.sign_with("/protected/u1/a.png", |g| {
        g.methods = common::methods("GET");
    });
    assert_served(&ingress.get(&get_only, &[]), FILE);
    let request =
        format!("DELETE {get_only} HTTP/1.1\r\nHost: files.example\r\nConnection: close\r\n\r\n")
            .into_bytes();
    ingress.env.remember_secrets(&request);
    let response = send_raw(ingress.port, &request);
    assert_denied(&ingress, &response, "method-not-allowed");
    // The same path rules as /auth: an encoded dot segment.
    let traversal = url.replace("/protected/u1/", "/protected/u1/%2e%2e/u1/");
    let response = ingress.get(&traversal, &[]);
    assert_eq!(response.status, 403, "{}", response.head);
}

#[test]
fn client_headers_that_ingress_nginx_passes_on_open_nothing() {
    let ingress = Ingress::start();
    let url = ingress.env.sign("/protected/u1/a.png");
    // ingress-nginx passes every client header to the auth service: a client's own
    // nginx-dialect and forward-auth headers reach keyhole, and must not count.
    for (name, value) in [
        ("X-Original-URI", url.clone()),
        ("X-Forwarded-Uri", url.clone()),
        ("X-Forwarded-Method", "GET".to_owned()),
        ("X-Forwarded-Host", "files.example".to_owned()),
    ] {
        let response = ingress.get("/protected/u1/b.png", &[(name, &value)]);
        assert_denied(&ingress, &response, "missing-credential");
    }
    // X-Original-URL and X-Sent-From are set by the template: a client's own are
    // replaced, never duplicated.
    let response = ingress.get(
        "/protected/u1/b.png",
        &[
            ("X-Original-URL", &format!("http://files.example{url}")),
            ("X-Sent-From", "nginx-ingress-controller"),
        ],
    );
    assert_denied(&ingress, &response, "missing-credential");
    // The address is the template's X-Real-IP ($remote_addr), never the client's
    // X-Real-IP or X-Forwarded-For.
    let bound = ingress
        .env
        .sign_with("/protected/u1/a.png", |g| g.ip = ip("203.0.113.7"));
    for (name, value) in [
        ("X-Real-IP", "203.0.113.7"),
        ("X-Forwarded-For", "203.0.113.7"),
    ] {
        let response = ingress.get(&bound, &[(name, value)]);
        assert_denied(&ingress, &response, "ip-mismatch");
    }
    let loopback = ingress
        .env
        .sign_with("/protected/u1/a.png", |g| g.ip = ip("127.0.0.1"));
    assert_served(&ingress.get(&loopback, &[]), FILE);
}

#[test]
fn ingress_auth_refuses_what_the_template_never_sends() {
    // Straight to keyhole's /ingress-auth: the template's headers, each broken.
    let ingress = Ingress::start();
    let url = ingress.env.sign("/protected/u1/a.png");
    let port = match &ingress.env.keyhole.listen {
        keyhole::config::Listen::Tcp(addr) => addr.port(),
        keyhole::config::Listen::Unix(_) => unreachable!(),
    };
    let full = format!("http://files.example{url}");
    let ask = |headers: &[(&str, &str)]| {
        let mut request =
            String::from("GET /ingress-auth HTTP/1.1\r\nHost: keyhole\r\nConnection: close\r\n");
        for (name, value) in headers {
            request.push_str(&format!("{name}: {value}\r\n"));
        }
        request.push_str("\r\n");
        let response = send_raw(port, request.as_bytes());
        assert!(response.body.is_empty());
        (
            response.status,
            response.header("x-keyhole-reason").unwrap_or_default(),
        )
    };
    let good = [
        ("X-Original-URL", full.as_str()),
        ("X-Original-Method", "GET"),
        ("X-Sent-From", "nginx-ingress-controller"),
        ("X-Real-IP", "127.0.0.1"),
    ];
    assert_eq!(ask(&good), (204, "ok".to_owned()));
    for (drop, reason) in [
        ("X-Original-URL", "missing-header"),
        ("X-Original-Method", "missing-header"),
        ("X-Sent-From", "missing-header"),
        ("X-Real-IP", "missing-header"),
    ] {
        let headers: Vec<_> = good.iter().copied().filter(|(k, _)| *k != drop).collect();
        assert_eq!(ask(&headers), (403, reason.to_owned()), "without {drop}");
        let mut twice = good.to_vec();
        twice.push(*good.iter().find(|(k, _)| *k == drop).unwrap());
        assert_eq!(
            ask(&twice),
            (403, "duplicate-header".to_owned()),
            "{drop} twice"
        );
    }
    for (name, value) in [
        ("X-Original-URL", url.as_str()),
        ("X-Original-URL", "ftp://files.example/protected/u1/a.png"),
        ("X-Original-URL", "http://files.example"),
        ("X-Sent-From", "a-client"),
    ] {
        let mut headers: Vec<_> = good.iter().copied().filter(|(k, _)| *k != name).collect();
        headers.push((name, value));
        assert_eq!(
            ask(&headers),
            (403, "bad-header".to_owned()),
            "{name}: {value}"
        );
    }
    // The /auth dialect alone is not the ingress dialect.
    let auth_dialect = [
        ("X-Original-URI", url.as_str()),
        ("X-Original-Method", "GET"),
        ("X-Real-IP", "127.0.0.1"),
    ];
    assert_eq!(ask(&auth_dialect), (403, "missing-header".to_owned()));
}
