//! What a client controls in the auth subrequest, byte by byte and by size: the
//! `Cookie`, `Referer` and `Sec-Fetch-Site` values and the request target that the
//! shipped `keyhole.conf` forwards, and a request head at nginx's own size limit.
//! Every request nginx accepts gets keyhole's 204 or 403 (never a 400 or 431 that
//! nginx turns into a 500), and the answer is the right one: a valid signed URL opens
//! its file whatever junk rides in the browser headers.
//!
//! nginx's error log runs at `warn` here (the shipped files keep `crit` in protected
//! locations); each Env checks at drop that no credential reached any log.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::{Env, Response, scope};

const FILE: &[u8] = b"protected file bytes";

fn env() -> Env {
    let env = Env::builder().error_log_level("warn").start();
    env.put("protected/u1/a.png", FILE);
    env
}

/// `GET target` with `headers` (each `name: value` line written byte for byte).
fn get_with(env: &Env, target: &[u8], headers: &[(&str, &[u8])]) -> Response {
    let mut request = b"GET ".to_vec();
    request.extend_from_slice(target);
    request.extend_from_slice(b" HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n");
    for (name, value) in headers {
        request.extend_from_slice(name.as_bytes());
        request.extend_from_slice(b": ");
        request.extend_from_slice(value);
        request.extend_from_slice(b"\r\n");
    }
    request.extend_from_slice(b"\r\n");
    env.raw(&request)
}

/// nginx's error log for the site (at `warn` here) holds no line about an answer
/// nginx did not expect from keyhole; credentials are checked when the Env drops.
fn assert_every_answer_expected(env: &Env) {
    let log = std::fs::read_to_string(env.stack.layout.site_error_log()).unwrap_or_default();
    assert!(
        !log.contains("unexpected status") && !log.contains("upstream"),
        "nginx logged: {log}"
    );
}

fn served(response: &Response) -> bool {
    response.status == 200 && response.body == FILE
}

/// `prefix`, the byte, `suffix`.
fn with_byte(prefix: &str, byte: u8, suffix: &str) -> Vec<u8> {
    let mut value = prefix.as_bytes().to_vec();
    value.push(byte);
    value.extend_from_slice(suffix.as_bytes());
    value
}

/// Bytes that end or break a header line in HTTP/1.1 framing itself (NUL, CR, LF):
/// nginx may refuse the request (400) before keyhole is asked. Every other byte
/// reaches keyhole.
fn breaks_framing(byte: u8) -> bool {
    matches!(byte, 0x00 | b'\n' | b'\r')
}

/// A cookie from the exchange, so this test does not depend on the cookie format.
fn exchanged_cookie(env: &Env) -> String {
    let url = env.sign_with("/protected/u1/a.png", |g| g.scope = scope("/protected/u1/"));
    let query = url.split_once('?').unwrap().1;
    let response = env.get(&format!("/_keyhole/session?{query}"));
    assert_eq!(response.status, 303, "{}", response.head);
    let set_cookie = response.header("set-cookie").unwrap();
    let pair = set_cookie.split(';').next().unwrap().to_owned();
    env.remember_secrets(format!("Cookie: {pair}\r\n").as_bytes());
    pair
}

#[test]
fn every_byte_in_a_browser_header_leaves_a_signed_url_open() {
    let env = env();
    let url = env.sign("/protected/u1/a.png");
    let mut wrong = Vec::new();
    for (name, prefix, suffix) in [
        ("Sec-Fetch-Site", "same", "origin"),
        ("Referer", "http://localhost/page", "?x=1"),
        ("Cookie", "other=a", "b"),
    ] {
        for byte in 0..=u8::MAX {
            let value = with_byte(prefix, byte, suffix);
            let response = get_with(&env, url.as_bytes(), &[(name, &value)]);
            let refused_by_nginx = breaks_framing(byte) && response.status == 400;
            if !(served(&response) || refused_by_nginx) {
                wrong.push(format!("{name} byte {byte:#04x}: {}", response.status));
            }
        }
    }
    assert!(wrong.is_empty(), "not served: {wrong:#?}");
    assert_every_answer_expected(&env);
}

#[test]
fn every_byte_in_the_request_target_gets_an_answer() {
    let env = env();
    let url = env.sign("/protected/u1/a.png");
    let (path, query) = url.split_once('?').unwrap();
    let mut wrong = Vec::new();
    for byte in 0..=u8::MAX {
        // In an application parameter (unbound: the signature still holds), and in the
        // path (never canonical with a control or non-ASCII byte: denied).
        let in_query = [with_byte(
            &format!("{path}?app=a"),
            byte,
            &format!("b&{query}"),
        )];
        let in_path = [with_byte("/protected/u1/a", byte, &format!(".png?{query}"))];
        for (place, target) in [("query", &in_query[0]), ("path", &in_path[0])] {
            let response = get_with(&env, target, &[]);
            // nginx refuses some bytes in a request line itself (400), or reads a line
            // cut by CR or LF as another request; never a 500. What it forwards,
            // keyhole answers, and no byte in the path opens the signed file.
            let failed = (500..600).contains(&response.status)
                || (response.status == 0 && !breaks_framing(byte))
                || String::from_utf8_lossy(&response.body).contains("500 Internal");
            if failed || (place == "path" && response.status == 200) {
                wrong.push(format!("{place} byte {byte:#04x}: {}", response.status));
            }
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
    assert_every_answer_expected(&env);
}

#[test]
fn junk_browser_headers_beside_a_cookie_grant_are_decided_not_refused() {
    let env = env();
    let cookie = exchanged_cookie(&env);
    let mut wrong = Vec::new();
    for byte in 0..=u8::MAX {
        if breaks_framing(byte) {
            continue;
        }
        // A value keyhole cannot read is treated as not sent: a browser never sends
        // one, and a client that writes its own headers can always leave these out,
        // so ignoring it grants nothing. The cookie still opens its scope.
        for (name, value) in [
            ("Sec-Fetch-Site", with_byte("same", byte, "origin")),
            ("Referer", with_byte("http://localhost/", byte, "")),
        ] {
            let response = get_with(
                &env,
                b"/protected/u1/a.png",
                &[("Cookie", cookie.as_bytes()), (name, &value)],
            );
            let readable = byte == b'\t' || (0x20..0x7f).contains(&byte) || byte >= 0x80;
            // A readable but unknown Sec-Fetch-Site is treated as cross-site: denied.
            let known = value == b"same-origin";
            let expected = if name == "Sec-Fetch-Site" && readable && !known {
                403
            } else {
                200
            };
            if response.status != expected {
                wrong.push(format!("{name} byte {byte:#04x}: {}", response.status));
            }
        }
        // Junk inside the Cookie header itself: the header cannot be read, so there is
        // no cookie grant (403), never a 500.
        let mut value = format!("{cookie}; other=a").into_bytes();
        value.extend_from_slice(&[byte, b'b']);
        let response = get_with(&env, b"/protected/u1/a.png", &[("Cookie", &value)]);
        let expected = if byte == b'\t' || (0x20..0x7f).contains(&byte) {
            &[200, 403][..]
        } else {
            &[403][..]
        };
        if !expected.contains(&response.status) {
            wrong.push(format!("Cookie byte {byte:#04x}: {}", response.status));
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
    assert_every_answer_expected(&env);
}

/// A request whose head is `lines` extra `Cookie` lines of `line_len` bytes each
/// (`Cookie: ` and CRLF included), after a valid signed URL.
fn big_head(url: &str, lines: usize, line_len: usize) -> Vec<u8> {
    let mut request =
        format!("GET {url} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n").into_bytes();
    for line in 0..lines {
        let fill = line_len - "Cookie: c0=".len() - 2;
        request.extend_from_slice(format!("Cookie: c{line}=").as_bytes());
        request.extend(std::iter::repeat_n(b'x', fill));
        request.extend_from_slice(b"\r\n");
    }
    request.extend_from_slice(b"\r\n");
    request
}

#[test]
fn a_head_at_nginx_s_own_limit_gets_keyhole_s_answer() {
    let env = env();
    let url = env.sign("/protected/u1/a.png");
    // nginx's defaults: one header line fits one `large_client_header_buffers` buffer
    // (8k), and there are four. Find the longest line nginx takes, four times over.
    let accepted = |line_len: usize| env.raw(&big_head(&url, 4, line_len)).status != 400;
    let (mut fits, mut too_long) = (1024, 8193);
    assert!(accepted(fits) && !accepted(too_long));
    while too_long - fits > 1 {
        let mid = (fits + too_long) / 2;
        if accepted(mid) {
            fits = mid;
        } else {
            too_long = mid;
        }
    }
    // nginx joins the four Cookie values with `; ` into the one header it forwards,
    // beside the target: more than keyhole's former 32 KiB limit for the head.
    let cookie_values = 4 * (fits - "Cookie: ".len() - 2) + 3 * "; ".len();
    assert!(
        cookie_values + url.len() > 32 * 1024,
        "nginx took lines of {fits} bytes"
    );
    for (lines, line_len) in [(4, fits - 64), (4, fits), (3, fits), (5, fits - 64)] {
        let response = env.raw(&big_head(&url, lines, line_len));
        if lines == 5 {
            // Over nginx's own limit: nginx refuses it before keyhole is asked.
            assert_eq!(response.status, 400, "{lines} x {line_len}");
        } else {
            assert!(served(&response), "{lines} x {line_len}: {}", response.head);
        }
    }
    let over = env.raw(&big_head(&url, 4, too_long));
    assert_eq!(over.status, 400, "{}", over.head);
    assert_every_answer_expected(&env);
}

#[test]
fn a_cookie_grant_among_cookies_at_nginx_s_limit_opens_its_scope() {
    let env = env();
    let cookie = exchanged_cookie(&env);
    // Four more lines of 8,100 bytes beside the grant: nginx joins them all into one
    // forwarded Cookie header of over 32 KiB.
    let mut request = format!(
        "GET /protected/u1/a.png HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\
         Cookie: {cookie}\r\n"
    )
    .into_bytes();
    let filler = big_head("/", 4, 8100);
    // Past its request line, Host and Connection lines.
    let mut start = 0;
    for _ in 0..3 {
        start += filler[start..]
            .windows(2)
            .position(|w| w == b"\r\n")
            .unwrap()
            + 2;
    }
    request.extend_from_slice(&filler[start..]);
    let response = env.raw(&request);
    assert!(served(&response), "{}", response.head);
    assert_every_answer_expected(&env);
}
