//! Signed URLs through a real nginx running the shipped files and the real keyhole
//! binary. Path attacks go out as raw bytes over TCP.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::{Env, Response, ip, methods, now, scope};
use keyhole::clock::UnixTime;
use keyhole::config::Listen;
use keyhole::keys::KeyRing;

const CAT: &[u8] = b"\x89PNG cat bytes \x00\x01\x02 not a real image";
const SECRET: &[u8] = b"u2 private bytes";

fn env() -> Env {
    let env = Env::start();
    env.put("protected/cat.png", CAT);
    env.put("protected/u1/a.png", b"u1 a bytes");
    env.put("protected/u1/deep/b.png", b"u1 deep b bytes");
    env.put("protected/u10/x", SECRET);
    env.put("protected/u2/secret.png", SECRET);
    env.put("index.html", b"public page");
    env
}

/// Asserts a denial: 403 with `reason` in nginx's log, or nginx's own 400, and none of
/// the protected bytes in the response.
fn assert_denied(env: &Env, response: &Response, reason: Option<&str>, case: &str) {
    assert!(
        response.status == 403 || (reason.is_none() && response.status == 400),
        "{case}: expected a denial, got {}\n{}",
        response.status,
        response.head
    );
    for secret in [CAT, SECRET, b"u1 a bytes".as_slice()] {
        assert!(
            !contains(&response.body, secret),
            "{case}: protected bytes leaked"
        );
    }
    if let Some(reason) = reason {
        assert_eq!(env.last_reason(), reason, "{case}");
    }
    assert!(
        response.header("x-keyhole-reason").is_none(),
        "{case}: reason code leaked to the client"
    );
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn a_signed_url_serves_the_exact_bytes() {
    let env = env();
    let url = env.sign("/protected/cat.png");
    let response = env.get(&url);
    assert_eq!(response.status, 200, "{}", response.head);
    assert_eq!(response.body, CAT);
    assert_eq!(env.last_reason(), "ok");
    assert_eq!(
        response.header("referrer-policy").as_deref(),
        Some("no-referrer")
    );
    assert_eq!(
        response.header("cache-control").as_deref(),
        Some("private, no-cache")
    );
    assert!(response.header("x-keyhole-reason").is_none());

    let head = env.request("HEAD", url.as_bytes(), "");
    assert_eq!(head.status, 200);
    assert!(head.body.is_empty());

    // Public pages need nothing.
    assert_eq!(env.get("/index.html").status, 200);
}

/// The longest URLs through the shipped nginx (docs/signed-urls.md, "What a signer
/// must refuse"): signers allow keyhole's 8,192 bytes, but nginx's default 8 KiB
/// request-line buffer holds `GET `, the URL and ` HTTP/1.1` CRLF, so a `GET` URL of
/// 8,177 bytes opens its file and one of 8,178 bytes is nginx's 414.
#[test]
fn the_longest_signed_urls_through_nginx() {
    let env = env();
    let with_pad = |pad: usize| {
        env.sign_with("/protected/cat.png", |g| {
            g.query = Some(format!("pad={}", "a".repeat(pad)));
        })
    };
    let overhead = with_pad(0).len();
    let longest = with_pad(8177 - overhead);
    assert_eq!(longest.len(), 8177);
    let response = env.get(&longest);
    assert_eq!(response.status, 200, "{}", response.head);
    assert_eq!(response.body, CAT);
    let refused = env.get(&with_pad(8178 - overhead));
    assert_eq!(refused.status, 414, "{}", refused.head);
}

#[test]
fn a_scope_opens_everything_below_it_and_nothing_beside_it() {
    let env = env();
    let url = env.sign_with("/protected/u1/a.png", |g| g.scope = scope("/protected/u1/"));
    let query = url.split_once('?').unwrap().1;
    let ok = env.get(&format!("/protected/u1/a.png?{query}"));
    assert_eq!(
        (ok.status, ok.body.as_slice()),
        (200, b"u1 a bytes".as_slice())
    );
    let deep = env.get(&format!("/protected/u1/deep/b.png?{query}"));
    assert_eq!(
        (deep.status, deep.body.as_slice()),
        (200, b"u1 deep b bytes".as_slice())
    );

    let cases: [(&str, Option<&str>); 5] = [
        ("/protected/u10/x", Some("out-of-scope")),
        ("/protected/u2/secret.png", Some("out-of-scope")),
        ("/protected/u1../x", Some("path-traversal")),
        ("/protected/u1/../u2/secret.png", Some("path-traversal")),
        ("/protected/u1/%2e%2e/u2/secret.png", Some("path-traversal")),
    ];
    for (path, reason) in cases {
        let response = env.request("GET", format!("{path}?{query}").as_bytes(), "");
        assert_denied(&env, &response, reason, path);
    }
}

#[test]
fn tampered_truncated_reencoded_and_moved_fields_are_denied() {
    let env = env();
    let url = env.sign("/protected/cat.png");
    let last = url.chars().last().unwrap();
    // 'A' and 'E' both leave the last character's two unused bits zero (canonical).
    let flipped = if last == 'A' { 'E' } else { 'A' };
    let tampered = format!("{}{flipped}", &url[..url.len() - 1]);
    let truncated = url[..url.len() - 1].to_owned();
    let sig_start = url.find("kh_sig=").unwrap() + "kh_sig=".len();
    let first = url.as_bytes()[sig_start];
    let reencoded = format!(
        "{}%{:02X}{}",
        &url[..sig_start],
        first,
        &url[sig_start + 1..]
    );
    let exp = url
        .split("kh_exp=")
        .nth(1)
        .unwrap()
        .split('&')
        .next()
        .unwrap()
        .to_owned();

    // Sign a path ending in a digit, then move a digit from the expiry into the path.
    env.put("protected/cat1", CAT);
    env.put("protected/cat17", CAT);
    let moved_source = env.sign("/protected/cat1");
    let moved_exp = moved_source
        .split("kh_exp=")
        .nth(1)
        .unwrap()
        .split('&')
        .next()
        .unwrap()
        .to_owned();
    let moved = moved_source
        .replace(
            "/protected/cat1?",
            &format!("/protected/cat1{}?", &moved_exp[..1]),
        )
        .replace(
            &format!("kh_exp={moved_exp}"),
            &format!("kh_exp={}", &moved_exp[1..]),
        );

    let cases = [
        (tampered, "bad-signature"),
        (truncated, "malformed"),
        (reencoded, "malformed"),
        (moved, "bad-signature"),
        (format!("{url}&kh_exp={exp}"), "duplicate-param"),
        (
            format!(
                "/protected/cat.png?kh_exp={exp}&{}",
                url.split_once('?').unwrap().1
            ),
            "duplicate-param",
        ),
        (url.replace("/cat.png?", "/cat1?"), "bad-signature"),
        ("/protected/cat.png".to_owned(), "missing-credential"),
        (
            "/protected/cat.png?size=large".to_owned(),
            "missing-credential",
        ),
    ];
    for (target, reason) in cases {
        let response = env.get(&target);
        assert_denied(&env, &response, Some(reason), &target);
    }
}

#[test]
fn time_key_ip_and_method_bindings_are_enforced() {
    let env = env();
    let path = "/protected/cat.png";
    let other_ring = KeyRing::parse("k9:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8").unwrap();
    let grant = keyhole::verify::signed_url::UrlGrant::new(
        keyhole::canonical::CanonicalPath::parse(path.as_bytes()).unwrap(),
        now().plus(600),
    );
    let unknown_key = keyhole::verify::signed_url::sign(&grant, other_ring.signing_key()).unwrap();
    let cases = [
        (env.sign_with(path, |g| g.exp = now().minus(120)), "expired"),
        (
            env.sign_with(path, |g| g.nbf = Some(now().plus(120))),
            "not-yet-valid",
        ),
        (
            env.sign_with(path, |g| g.exp = now().plus(8 * 86400)),
            "ttl-too-long",
        ),
        (unknown_key, "unknown-key"),
        (
            env.sign_with(path, |g| g.ip = ip("10.0.0.1")),
            "ip-mismatch",
        ),
        (env.sign_with(path, |g| g.exp = UnixTime(0)), "expired"),
    ];
    for (target, reason) in cases {
        let response = env.get(&target);
        assert_denied(&env, &response, Some(reason), reason);
    }

    // Bound to the client's real address: allowed.
    let mine = env.sign_with(path, |g| g.ip = ip("127.0.0.1"));
    assert_eq!(env.get(&mine).status, 200);
    let my_net = env.sign_with(path, |g| g.ip = ip("127.0.0.0/8"));
    assert_eq!(env.get(&my_net).status, 200);

    // POST with a URL signed for GET and HEAD.
    let url = env.sign(path);
    let post = env.request("POST", url.as_bytes(), "");
    assert_denied(&env, &post, Some("method-not-allowed"), "POST");
    // A URL signed for GET only refuses HEAD.
    let get_only = env.sign_with(path, |g| g.methods = methods("GET"));
    assert_denied(
        &env,
        &env.request("HEAD", get_only.as_bytes(), ""),
        Some("method-not-allowed"),
        "HEAD",
    );
}

#[test]
fn client_sent_nginx_headers_cannot_override_nginx() {
    let env = env();
    let path = "/protected/cat.png";
    // A URL bound to 10.0.0.1, sent from 127.0.0.1 with a forged X-Real-IP.
    let bound = env.sign_with(path, |g| g.ip = ip("10.0.0.1"));
    let forged_ip = env.request(
        "GET",
        bound.as_bytes(),
        "X-Real-IP: 10.0.0.1\r\nX-Forwarded-For: 10.0.0.1\r\n",
    );
    assert_denied(&env, &forged_ip, Some("ip-mismatch"), "forged X-Real-IP");

    // A valid URL for cat.png presented as X-Original-URI while requesting u2's file.
    let valid = env.sign(path);
    let target = format!(
        "/protected/u2/secret.png?{}",
        valid.split_once('?').unwrap().1
    );
    let forged_uri = env.request(
        "GET",
        target.as_bytes(),
        &format!("X-Original-URI: {valid}\r\nX-Original-Method: GET\r\n"),
    );
    assert_denied(
        &env,
        &forged_uri,
        Some("bad-signature"),
        "forged X-Original-URI",
    );
}

#[test]
fn path_attacks_sent_as_raw_bytes_are_denied() {
    let env = env();
    let valid = env.sign_with("/protected/u1/a.png", |g| g.scope = scope("/protected/u1/"));
    let query = valid.split_once('?').unwrap().1.to_owned();
    let cases: Vec<(Vec<u8>, Option<&str>)> = vec![
        (
            b"/protected/u1/../u2/secret.png".to_vec(),
            Some("path-traversal"),
        ),
        (
            b"/protected/u1/%2e%2e/u2/secret.png".to_vec(),
            Some("path-traversal"),
        ),
        (
            b"/protected/u1/%2E%2E/u2/secret.png".to_vec(),
            Some("path-traversal"),
        ),
        (b"/protected/u1/..%2Fu2/secret.png".to_vec(), None),
        (
            b"/protected/u1/%252e%252e/u2/secret.png".to_vec(),
            Some("path-bad-escape"),
        ),
        (b"/protected/u1//a.png".to_vec(), Some("path-empty-segment")),
        (b"/protected/u1/a.png/".to_vec(), Some("path-not-file")),
        (b"/protected/u1/a.png.".to_vec(), Some("path-traversal")),
        (b"/protected/u1/.".to_vec(), None),
        (
            b"/protected/u1\\..\\u2\\secret.png".to_vec(),
            Some("path-bad-char"),
        ),
        (b"/protected/u1/a.png;x".to_vec(), Some("path-bad-char")),
        (b"/protected/u1/a%00.png".to_vec(), None),
        (b"/protected/u1/a%C3.png".to_vec(), Some("path-bad-utf8")),
        (b"/protected/u1/a%FF%FE.png".to_vec(), Some("path-bad-utf8")),
        (
            b"/protected/u1/caf\xc3\xa9.png".to_vec(),
            Some("path-bad-char"),
        ),
        (
            b"/protected/u1/a%2Fb.png".to_vec(),
            Some("path-encoded-slash"),
        ),
        (b"/protected/u1/a%zz".to_vec(), None),
    ];
    for (path, reason) in cases {
        let mut target = path.clone();
        target.push(b'?');
        target.extend_from_slice(query.as_bytes());
        let response = env.request("GET", &target, "");
        // nginx answers some of these itself (400); when keyhole answers, the code must match.
        let case = String::from_utf8_lossy(&path).into_owned();
        if response.status == 403 {
            if let Some(reason) = reason {
                assert_eq!(env.last_reason(), reason, "{case}");
            }
        }
        assert_denied(&env, &response, None, &case);
    }

    // A raw `#` (browsers never send one; raw clients can).
    let mut hash = b"/protected/u1/a.png#x?".to_vec();
    hash.extend_from_slice(query.as_bytes());
    assert_denied(&env, &env.request("GET", &hash, ""), None, "raw #");

    // 2,000 query parameters.
    let many = format!("/protected/u1/a.png?{}&{query}", vec!["a"; 2000].join("&"));
    assert_denied(
        &env,
        &env.get(&many),
        Some("too-many-params"),
        "2000 params",
    );

    // And the control: the valid URL itself still works.
    assert_eq!(env.get(&valid).status, 200);
}

#[test]
fn keyhole_answers_only_204_or_403_on_auth() {
    let env = env();
    let port = match &env.keyhole.listen {
        Listen::Tcp(addr) => addr.port(),
        Listen::Unix(_) => unreachable!(),
    };
    let direct = |headers: &str| {
        common::send_raw(
            port,
            format!("GET /auth HTTP/1.1\r\nHost: k\r\nConnection: close\r\n{headers}\r\n")
                .as_bytes(),
        )
    };
    let url = env.sign("/protected/cat.png");
    let good =
        format!("X-Original-URI: {url}\r\nX-Original-Method: GET\r\nX-Real-IP: 127.0.0.1\r\n");
    let allowed = direct(&good);
    assert_eq!(allowed.status, 204);
    assert_eq!(allowed.header("x-keyhole-reason").as_deref(), Some("ok"));
    assert_eq!(
        allowed.header("x-keyhole-credential").as_deref(),
        Some("signed-url")
    );
    assert!(allowed.body.is_empty());

    let cases = [
        (
            "X-Original-Method: GET\r\nX-Real-IP: 127.0.0.1\r\n".to_owned(),
            "missing-header",
        ),
        (
            format!("{good}X-Original-URI: /protected/other\r\n"),
            "duplicate-header",
        ),
        (format!("{good}X-Real-IP: 10.0.0.1\r\n"), "duplicate-header"),
        (
            good.replace("X-Real-IP: 127.0.0.1", "X-Real-IP: not-an-ip"),
            "bad-header",
        ),
        (
            good.replace("X-Original-Method: GET", "X-Original-Method: get"),
            "bad-header",
        ),
        (
            "X-Original-URI: /caf\u{e9}\r\nX-Original-Method: GET\r\nX-Real-IP: 127.0.0.1\r\n"
                .to_owned(),
            "path-bad-char",
        ),
        (
            good.replace(&url, &format!("/{}", "a".repeat(9000))),
            "uri-too-long",
        ),
    ];
    for (headers, reason) in cases {
        let response = direct(&headers);
        assert_eq!(response.status, 403, "{reason}: {}", response.head);
        assert_eq!(response.header("x-keyhole-reason").as_deref(), Some(reason));
        assert_eq!(response.header("content-length").as_deref(), Some("0"));
    }
    // Any method on /auth still ends in a decision.
    let post = common::send_raw(
        port,
        format!(
            "POST /auth HTTP/1.1\r\nHost: k\r\nConnection: close\r\nContent-Length: 0\r\n{good}\r\n"
        )
        .as_bytes(),
    );
    assert_eq!(post.status, 204);
    // Other paths are not keyhole's.
    let other = common::send_raw(
        port,
        b"GET /other HTTP/1.1\r\nHost: k\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(other.status, 404);
    // Denials are logged with their code, never with the credential.
    let log = env.keyhole.log_text();
    assert!(
        log.contains("reason=\"duplicate-header\"") || log.contains("reason=duplicate-header"),
        "{log}"
    );
    let sig = url.split("kh_sig=").nth(1).unwrap();
    assert!(!log.contains(sig), "signature in keyhole's log");
    let access = std::fs::read_to_string(env.stack.layout.access_log()).unwrap();
    assert!(!access.contains(sig), "signature in nginx's access log");
}

#[test]
fn keyhole_on_a_unix_socket_behind_nginx() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("keyhole.sock");
    let keyhole = common::Keyhole::start(dir.path(), "keyhole", Listen::Unix(socket.clone()), &[]);
    let root = dir.path().join("www");
    std::fs::create_dir_all(root.join("protected")).unwrap();
    std::fs::write(root.join("protected/cat.png"), CAT).unwrap();
    let port = common::free_port();
    let layout = keyhole_support::nginx::Layout {
        dir: dir.path().join("nginx"),
        port,
        keyhole: common::upstream(&keyhole.listen),
        more_keyholes: Vec::new(),
        root,
        decision_cache: false,
        error_log_level: None,
    };
    let _stack = keyhole_support::nginx::Stack::start(layout, "").unwrap();
    let keys = KeyRing::parse(common::KEY_LINE).unwrap();
    let grant = keyhole::verify::signed_url::UrlGrant::new(
        keyhole::canonical::CanonicalPath::parse(b"/protected/cat.png").unwrap(),
        now().plus(60),
    );
    let url = keyhole::verify::signed_url::sign(&grant, keys.signing_key()).unwrap();
    let response = common::send_raw(
        port,
        format!("GET {url} HTTP/1.1\r\nHost: l\r\nConnection: close\r\n\r\n").as_bytes(),
    );
    assert_eq!((response.status, response.body.as_slice()), (200, CAT));
    let denied = common::send_raw(
        port,
        b"GET /protected/cat.png HTTP/1.1\r\nHost: l\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(denied.status, 403);
}
