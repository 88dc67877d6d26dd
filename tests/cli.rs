//! The `keyhole` binary's commands: `sign`, `explain`, `keygen`, configuration errors,
//! and `demo` (the README's run command) end to end.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_keyhole");

fn keyhole(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(BIN);
    command
        .args(args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default());
    for (k, v) in env {
        command.env(k, v);
    }
    command.output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn sign_then_explain_allows_and_tampering_denies() {
    let env = [("KEYHOLE_KEYS", common::KEY_LINE)];
    let signed = keyhole(
        &[
            "sign",
            "/photos/caf%C3%A9.jpg",
            "--ttl",
            "5m",
            "--base",
            "https://files.example.com/",
        ],
        &env,
    );
    assert!(signed.status.success(), "{}", text(&signed.stderr));
    let url = text(&signed.stdout).trim().to_owned();
    assert!(
        url.starts_with("https://files.example.com/photos/caf%C3%A9.jpg?kh_v=1&kh_kid=k1&kh_exp="),
        "{url}"
    );

    let explained = keyhole(&["explain", &url], &env);
    assert_eq!(
        explained.status.code(),
        Some(0),
        "{}",
        text(&explained.stdout)
    );
    let report = text(&explained.stdout);
    assert!(report.contains("decision:   allow"), "{report}");
    assert!(report.contains("path:       /photos/café.jpg"), "{report}");
    assert!(report.contains("key id:     k1 (configured)"), "{report}");
    let sig = url.split("kh_sig=").nth(1).unwrap();
    assert!(!report.contains(sig), "explain printed the signature");
    assert!(
        !report.contains("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8"),
        "explain printed the secret"
    );

    let tampered = url.replace("caf%C3%A9", "cafe");
    let denied = keyhole(&["explain", &tampered], &env);
    assert_eq!(denied.status.code(), Some(1));
    assert!(
        text(&denied.stdout).contains("reason:     bad-signature"),
        "{}",
        text(&denied.stdout)
    );

    let post = keyhole(&["explain", &url, "--method", "POST"], &env);
    assert_eq!(post.status.code(), Some(1));
    assert!(text(&post.stdout).contains("method-not-allowed"));
}

#[test]
fn sign_options_bind_scope_ip_and_methods() {
    let env = [("KEYHOLE_KEYS", common::KEY_LINE)];
    let out = keyhole(
        &[
            "sign",
            "/u1/a.jpg",
            "--scope",
            "/u1/",
            "--ip",
            "10.0.0.0/8",
            "--methods",
            "GET",
            "--ttl",
            "1h",
        ],
        &env,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let url = text(&out.stdout).trim().to_owned();
    assert!(
        url.contains("&kh_scope=/u1/&kh_ip=10.0.0.0/8&kh_m=GET&kh_sig="),
        "{url}"
    );
    let other_file = url.replace("/u1/a.jpg?", "/u1/b.jpg?");
    let inside = keyhole(&["explain", &other_file, "--ip", "10.2.3.4"], &env);
    assert_eq!(inside.status.code(), Some(0), "{}", text(&inside.stdout));
    let outside = keyhole(&["explain", &other_file, "--ip", "192.0.2.1"], &env);
    assert!(text(&outside.stdout).contains("reason:     ip-mismatch"));

    for (args, hint) in [
        (vec!["sign", "/a b.jpg"], "percent-encode"),
        (vec!["sign", "/a/../b"], "path-traversal"),
        (vec!["sign", "/a.jpg", "--ttl", "30d"], "ttl-too-long"),
        (
            vec!["sign", "/u2/a.jpg", "--scope", "/u1/"],
            "not inside scope",
        ),
        (vec!["sign", "/a.jpg", "--ip", "10.0.0.1/8"], "--ip"),
    ] {
        let out = keyhole(&args, &env);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(
            text(&out.stderr).contains(hint),
            "{args:?}: {}",
            text(&out.stderr)
        );
    }
}

/// Runs `keyhole sign` and returns the URL, failing with its message otherwise.
fn sign_ok(args: &[&str], env: &[(&str, &str)]) -> String {
    let mut all = vec!["sign"];
    all.extend_from_slice(args);
    let out = keyhole(&all, env);
    assert!(out.status.success(), "{args:?}: {}", text(&out.stderr));
    text(&out.stdout).trim().to_owned()
}

/// `keyhole explain`'s reason for a URL, from `client`.
fn explain_reason(url: &str, client: &str, env: &[(&str, &str)]) -> String {
    let out = keyhole(&["explain", url, "--ip", client], env);
    let report = text(&out.stdout);
    let reason = report
        .lines()
        .find_map(|line| line.strip_prefix("reason:"))
        .unwrap_or_else(|| panic!("no reason in {report}"))
        .trim()
        .to_owned();
    assert_eq!(out.status.code(), Some(if reason == "ok" { 0 } else { 1 }));
    reason
}

/// Regression: `--ip 127.0.0.1/32` and `--ip ::1/128` exited 2 although the doc's rule
/// for networks allows them; they are signed as written and keyhole allows them.
#[test]
fn sign_accepts_full_length_prefixes_as_written() {
    let env = [("KEYHOLE_KEYS", common::KEY_LINE)];
    for (ip, client, other) in [
        ("127.0.0.1/32", "127.0.0.1", "127.0.0.2"),
        ("::1/128", "::1", "::2"),
        ("0.0.0.0/0", "192.0.2.1", ""),
    ] {
        let url = sign_ok(&["/a.jpg", "--ip", ip], &env);
        assert!(url.contains(&format!("&kh_ip={ip}&")), "{url}");
        assert_eq!(explain_reason(&url, client, &env), "ok", "{ip}");
        if !other.is_empty() {
            assert_eq!(explain_reason(&url, other, &env), "ip-mismatch", "{ip}");
        }
    }
}

/// Regression: `keyhole sign --query` with 96 items printed a URL keyhole denied as
/// `too-many-params`. Every URL keyhole would deny whatever its configuration is
/// refused (exit 2, nothing printed, a message naming the flag, the value, the rule and
/// the reason code), and the largest accepted ones are allowed.
#[test]
fn sign_refuses_every_url_keyhole_would_deny() {
    let env = [("KEYHOLE_KEYS", common::KEY_LINE)];
    let items = |n: usize| vec!["x=1"; n].join("&");
    // Five of the 100 items are keyhole's own: kh_v, kh_kid, kh_exp, kh_q, kh_sig.
    let largest = sign_ok(&["/a.jpg", "--query", &items(95)], &env);
    assert_eq!(largest.split('&').count(), 100, "{largest}");
    assert_eq!(explain_reason(&largest, "127.0.0.1", &env), "ok");
    // The longest URL keyhole reads: 8,192 bytes of path and query.
    let overhead = sign_ok(&["/a.jpg", "--query", "x="], &env).len() - 2;
    let filler = |n: usize| format!("x={}", "y".repeat(n));
    let longest = sign_ok(&["/a.jpg", "--query", &filler(8192 - overhead - 2)], &env);
    assert_eq!(longest.len(), 8192);
    assert_eq!(explain_reason(&longest, "127.0.0.1", &env), "ok");

    let too_long = filler(8192 - overhead - 1);
    let (items95, items96) = (items(95), items(96));
    let nine_methods = "GET,HEAD,PUT,POST,DELETE,PATCH,OPTIONS,TRACE,CONNECT";
    let cases: Vec<(Vec<&str>, &[&str])> = vec![
        (
            vec!["--query", &items96],
            &["--query", "101 query items", "too-many-params"],
        ),
        (
            vec!["--query", &items95, "--methods", "GET"],
            &["--query", "101 query items", "too-many-params"],
        ),
        (
            vec!["--query", &too_long],
            &["PATH and --query", "8193 bytes", "uri-too-long"],
        ),
        (
            vec!["--query", "a=1&kh_v=2"],
            &["--query `a=1&kh_v=2`", "`kh_v=2`", "kh_"],
        ),
        (
            vec!["--query", "token=abc"],
            &["--query `token=abc`", "ambiguous-credential"],
        ),
        (
            vec!["--query", "a&&b"],
            &["--query `a&&b`", "empty item", "malformed"],
        ),
        (
            vec!["--query", "a=1&"],
            &["--query `a=1&`", "empty item", "malformed"],
        ),
        (
            vec!["--query", "a b"],
            &["--query `a b`", "visible ASCII", "malformed"],
        ),
        (
            vec!["--query", "a#b"],
            &["--query `a#b`", "visible ASCII", "malformed"],
        ),
        (
            vec!["--query", "q=\u{e9}"],
            &["--query", "visible ASCII", "malformed"],
        ),
        (vec!["--ttl", "0"], &["--ttl 0", "more than 0", "expired"]),
        (
            vec!["--ttl", "1h", "--not-before", "2h"],
            &["--not-before 2h and --ttl 1h", "after the expiry"],
        ),
        (
            vec!["--methods", nine_methods],
            &["--methods", "1 to 8", "malformed"],
        ),
        (
            vec!["--methods", "GET,GET"],
            &["--methods `GET,GET`", "distinct"],
        ),
        (vec!["--methods", "get"], &["--methods `get`", "upper-case"]),
        (
            vec!["--ip", "127.0.0.1/33"],
            &["--ip `127.0.0.1/33`", "malformed"],
        ),
        (vec!["--ip", "::1.2.3.4"], &["--ip `::1.2.3.4`", "dotted"]),
        (
            vec!["--ip", "::ffff:102:304"],
            &["--ip `::ffff:102:304`", "IPv4-mapped"],
        ),
        (
            vec!["--ip", "fe80::1%eth0"],
            &["--ip `fe80::1%eth0`", "zone"],
        ),
        (
            vec!["--ip", "10.0.0.0/08"],
            &["--ip `10.0.0.0/08`", "malformed"],
        ),
        (vec!["--scope", "/u1"], &["--scope `/u1`", "ending in `/`"]),
    ];
    for (options, hints) in cases {
        let mut args = vec!["sign", "/a.jpg"];
        args.extend(options.iter().copied());
        let out = keyhole(&args, &env);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{options:?}: {}",
            text(&out.stdout)
        );
        assert!(out.stdout.is_empty(), "{options:?}");
        let message = text(&out.stderr);
        for hint in hints {
            assert!(
                message.contains(hint),
                "{options:?}: {hint:?} missing from {message}"
            );
        }
    }

    // With JWTs on under another parameter name, that name is refused too.
    let jwt_env = [
        ("KEYHOLE_KEYS", common::KEY_LINE),
        (
            "KEYHOLE_JWT_KEYS",
            "j1:HS256:ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8",
        ),
        ("KEYHOLE_JWT_PARAM", "jwt"),
    ];
    let out = keyhole(&["sign", "/a.jpg", "--query", "a=1&jwt=x"], &jwt_env);
    assert_eq!(out.status.code(), Some(2));
    let message = text(&out.stderr);
    assert!(
        message.contains("KEYHOLE_JWT_PARAM") && message.contains("ambiguous-credential"),
        "{message}"
    );
}

#[test]
fn sign_window_rounds_the_expiry_up() {
    let env = [("KEYHOLE_KEYS", common::KEY_LINE)];
    let out = keyhole(&["sign", "/a.jpg", "--ttl", "10m", "--window", "1h"], &env);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let url = text(&out.stdout);
    let exp: u64 = url
        .split("kh_exp=")
        .nth(1)
        .unwrap()
        .split('&')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(exp % 3600, 0, "{url}");
    let now = common::now().0;
    assert!(
        exp >= now + 600 && exp <= now + 600 + 3600,
        "{exp} vs {now}"
    );
    let too_long = keyhole(&["sign", "/a.jpg", "--ttl", "7d", "--window", "1h"], &env);
    assert_eq!(too_long.status.code(), Some(2));
}

#[test]
fn keygen_prints_a_usable_key_line() {
    let out = keyhole(&["keygen", "--kid", "2026-11"], &[]);
    assert!(out.status.success());
    let line = text(&out.stdout).trim().to_owned();
    let (kid, secret) = line.split_once(':').unwrap();
    assert_eq!(kid, "2026-11");
    assert_eq!(secret.len(), 43);
    let signed = keyhole(&["sign", "/a.jpg"], &[("KEYHOLE_KEYS", &line)]);
    assert!(signed.status.success(), "{}", text(&signed.stderr));
    let again = keyhole(&["keygen"], &[]);
    assert_ne!(
        text(&again.stdout),
        text(&out.stdout),
        "two keys must differ"
    );
}

#[test]
fn keygen_out_writes_a_new_key_file_once() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keys");
    let out = keyhole(&["keygen", "--out", path.to_str().unwrap()], &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(out.stdout.is_empty(), "the key goes to the file only");
    let written = std::fs::read_to_string(&path).unwrap();
    assert!(!text(&out.stderr).contains(written.trim()));
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let signed = keyhole(
        &["sign", "/a.jpg"],
        &[("KEYHOLE_KEYS_FILE", path.to_str().unwrap())],
    );
    assert!(signed.status.success(), "{}", text(&signed.stderr));
    // A second start keeps the key.
    let again = keyhole(&["keygen", "--out", path.to_str().unwrap()], &[]);
    assert!(again.status.success());
    assert!(text(&again.stderr).contains("kept"));
    assert_eq!(std::fs::read_to_string(&path).unwrap(), written);
    let missing = dir.path().join("no/such/folder/keys");
    let failed = keyhole(&["keygen", "--out", missing.to_str().unwrap()], &[]);
    assert_eq!(failed.status.code(), Some(2));
}

#[test]
fn bad_configuration_names_every_variable_and_never_the_secret() {
    let short = "k1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwd";
    let out = keyhole(
        &["serve"],
        &[
            ("KEYHOLE_KEYS", short),
            ("KEYHOLE_LISTEN", "nowhere"),
            ("KEYHOLE_LEEWAY", "1 fortnight"),
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    for variable in ["KEYHOLE_KEYS", "KEYHOLE_LISTEN", "KEYHOLE_LEEWAY"] {
        assert!(stderr.contains(variable), "{variable}: {stderr}");
    }
    assert!(stderr.contains("at least 32"), "{stderr}");
    assert!(
        !stderr.contains("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwd"),
        "{stderr}"
    );

    let none = keyhole(&["serve"], &[]);
    assert_eq!(none.status.code(), Some(2));
    assert!(
        text(&none.stderr).contains("keyhole keygen"),
        "{}",
        text(&none.stderr)
    );
}

#[test]
fn demo_serves_a_gallery_of_signed_images_and_stops_cleanly() {
    let port = common::free_port();
    let mut child = Command::new(BIN)
        .args(["demo", "--port", &port.to_string()])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut lines = Vec::new();
    while Instant::now() < deadline {
        if let Ok(line) = rx.recv_timeout(Duration::from_millis(200)) {
            let done = line.contains("Ctrl-C");
            lines.push(line);
            if done {
                break;
            }
        }
    }
    let mut guard = KillOnDrop(child);
    let printed = lines.join("\n");
    assert!(
        printed.contains(&format!("http://127.0.0.1:{port}/")),
        "{printed}"
    );

    let page = common::send_raw(
        port,
        b"GET / HTTP/1.1\r\nHost: l\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(page.status, 200);
    let html = String::from_utf8(page.body).unwrap();
    let sources: Vec<String> = html
        .split("src=\"")
        .skip(1)
        .map(|rest| rest.split('"').next().unwrap().replace("&amp;", "&"))
        .collect();
    assert_eq!(sources.len(), 7, "{html}");
    let statuses: Vec<u16> = sources
        .iter()
        .map(|src| {
            common::send_raw(
                port,
                format!("GET {src} HTTP/1.1\r\nHost: l\r\nConnection: close\r\n\r\n").as_bytes(),
            )
            .status
        })
        .collect();
    assert_eq!(statuses, [200, 200, 200, 200, 200, 200, 403], "{sources:?}");

    // The cookie-exchange link leads to a page of clean URLs that the cookie opens.
    let exchange = html
        .split("href=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap()
        .replace("&amp;", "&");
    assert!(exchange.starts_with("/_keyhole/session?return_to=/protected/gallery/index.html&"));
    let get = |target: &str, cookie: &str| {
        common::send_raw(
            port,
            format!("GET {target} HTTP/1.1\r\nHost: l\r\nConnection: close\r\n{cookie}\r\n")
                .as_bytes(),
        )
    };
    let exchanged = get(&exchange, "");
    assert_eq!(exchanged.status, 303, "{}", exchanged.head);
    let cookie = exchanged.header("set-cookie").unwrap();
    let cookie = format!("Cookie: {}\r\n", cookie.split(';').next().unwrap());
    let protected_page = get("/protected/gallery/index.html", &cookie);
    assert_eq!(protected_page.status, 200);
    assert!(String::from_utf8_lossy(&protected_page.body).contains("src=\"sea.svg\""));
    assert_eq!(get("/protected/gallery/sea.svg", &cookie).status, 200);
    assert_eq!(get("/protected/gallery/sea.svg", "").status, 403);

    // Ctrl-C (SIGINT) stops nginx and keyhole.
    let status = Command::new("kill")
        .args(["-INT", &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let child = &mut guard.0;
    let start = Instant::now();
    let exit = loop {
        if let Some(exit) = child.try_wait().unwrap() {
            break exit;
        }
        assert!(
            start.elapsed() < Duration::from_secs(15),
            "demo did not stop"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(exit.success(), "{exit}");
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
        "nginx still listening"
    );
}

struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = Command::new("kill")
                .args(["-INT", &self.0.id().to_string()])
                .status();
            std::thread::sleep(Duration::from_millis(500));
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// `keyhole cookie --ip --methods`: the printed cookie carries both bindings, signed;
/// without them it is unbound and GET,HEAD; bad values are usage errors naming the flag.
#[test]
fn cookie_command_binds_address_and_methods() {
    use keyhole::claims::CookieMethods;
    use keyhole::verify::cookie::SignedCookie;
    let env = [("KEYHOLE_KEYS", common::KEY_LINE)];
    let value_of = |output: &Output| {
        assert!(output.status.success(), "{}", text(&output.stderr));
        let header = text(&output.stdout);
        header
            .trim()
            .strip_prefix("__Host-keyhole=")
            .and_then(|rest| rest.split(';').next())
            .unwrap()
            .to_owned()
    };
    let bound = keyhole(
        &[
            "cookie",
            "/photos/u1/",
            "--ttl",
            "10m",
            "--sid",
            "s-1",
            "--ip",
            "2001:db8::/32",
            "--methods",
            "HEAD",
        ],
        &env,
    );
    let value = value_of(&bound);
    let parsed = SignedCookie::parse(&value).unwrap();
    assert_eq!(
        parsed.grant.ip.map(|ip| ip.to_string()).as_deref(),
        Some("2001:db8::/32")
    );
    assert_eq!(parsed.grant.methods, CookieMethods::Head);
    assert_eq!(parsed.grant.sid.as_ref().unwrap().as_str(), "s-1");
    let keys = keyhole::keys::KeyRing::parse(common::KEY_LINE).unwrap();
    let headers = keyhole::request::NginxHeaders::new(b"/photos/u1/a.jpg", b"HEAD", b"2001:db8::1");
    let request = headers.parse().unwrap();
    assert!(
        parsed
            .verify(
                &request,
                &keys,
                &keyhole::verify::Policy::default(),
                86400,
                common::now()
            )
            .is_ok()
    );

    let plain = SignedCookie::parse(&value_of(&keyhole(&["cookie", "/u1/"], &env)))
        .unwrap()
        .grant;
    assert_eq!((plain.ip, plain.methods), (None, CookieMethods::GetHead));

    for (flag, bad) in [
        ("--methods", "POST"),
        ("--methods", "GET,POST"),
        ("--methods", "get"),
        ("--ip", "10.0.0.1/8"),
        ("--ip", "example.com"),
    ] {
        let refused = keyhole(&["cookie", "/u1/", flag, bad], &env);
        assert_eq!(refused.status.code(), Some(2), "{flag} {bad}");
        let message = text(&refused.stderr);
        assert!(
            message.contains(flag) && message.contains(bad),
            "{flag} {bad}: {message}"
        );
        assert!(refused.stdout.is_empty(), "{flag} {bad}");
    }
}

/// `keyhole explain`'s report and exit code for a URL, from `client`, with `extra`
/// arguments (`--method`, `--cookie`).
fn explain_report(url: &str, client: &str, extra: &[&str], env: &[(&str, &str)]) -> String {
    let mut args = vec!["explain", url, "--ip", client];
    args.extend_from_slice(extra);
    let out = keyhole(&args, env);
    let report = text(&out.stdout);
    let allowed = report.contains("decision:   allow");
    assert_eq!(
        out.status.code(),
        Some(if allowed { 0 } else { 1 }),
        "{report}{}",
        text(&out.stderr)
    );
    report
}

/// `keyhole mint --ip --methods --uses`: the token carries `kh_ip`, `kh_m` and
/// `kh_uses` (with a `jti`), keyhole honours each, and `explain` shows every claim.
#[test]
fn mint_binds_the_token_to_an_address_methods_and_uses() {
    let env = [
        ("KEYHOLE_KEYS", common::KEY_LINE),
        ("KEYHOLE_JWT_KEYS", common::JWT_KEY_LINE),
    ];
    let out = keyhole(
        &[
            "mint",
            "/u1/a.jpg",
            "--ip",
            "10.0.0.0/8",
            "--methods",
            "GET",
            "--uses",
            "3",
        ],
        &env,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let url = text(&out.stdout).trim().to_owned();
    let token = url.split("token=").nth(1).unwrap().to_owned();

    let inside = explain_report(&url, "10.1.2.3", &[], &env);
    assert!(inside.contains("reason:     ok"), "{inside}");
    for claim in [
        "jwt claim:  kh_ip = \"10.0.0.0/8\"",
        "jwt claim:  kh_m = \"GET\"",
        "jwt claim:  kh_uses = 3",
        "jwt claim:  kh_path = \"/u1/a.jpg\"",
        "jwt claim:  aud = \"keyhole\"",
        "jwt claim:  jti = \"",
        "jwt claim:  exp = 20",
        "jwt header: kid = \"j1\"",
    ] {
        assert!(inside.contains(claim), "{claim} missing from {inside}");
    }
    assert!(!inside.contains(&token), "explain printed the token");
    let signature = token.rsplit('.').next().unwrap();
    assert!(!inside.contains(signature), "explain printed the signature");
    let outside = explain_report(&url, "192.0.2.1", &[], &env);
    assert!(outside.contains("reason:     ip-mismatch"), "{outside}");
    let head = explain_report(&url, "10.1.2.3", &["--method", "HEAD"], &env);
    assert!(head.contains("reason:     method-not-allowed"), "{head}");

    // Without the flags: no binding, no jti, no use limit.
    let plain = keyhole(&["mint", "/u1/a.jpg"], &env);
    let plain = explain_report(text(&plain.stdout).trim(), "192.0.2.1", &[], &env);
    assert!(plain.contains("reason:     ok"), "{plain}");
    for absent in ["kh_ip", "kh_m", "kh_uses", "jti"] {
        assert!(!plain.contains(absent), "{absent} in {plain}");
    }

    for (args, hint) in [
        (vec!["--uses", "9"], "--uses `9`"),
        (vec!["--uses", "0"], "--uses `0`"),
        (vec!["--uses", "2", "--once"], "--once"),
        (vec!["--ip", "10.0.0.1/8"], "--ip `10.0.0.1/8`"),
        (vec!["--methods", "get"], "--methods `get`"),
    ] {
        let mut all = vec!["mint", "/u1/a.jpg"];
        all.extend(args.iter().copied());
        let refused = keyhole(&all, &env);
        assert_eq!(refused.status.code(), Some(2), "{args:?}");
        assert!(refused.stdout.is_empty(), "{args:?}");
        let message = text(&refused.stderr);
        assert!(message.contains(hint), "{args:?}: {message}");
    }
}

/// `keyhole explain` lists every `kh_*` item of a signed URL (never the signature),
/// and with `--cookie` decides as `/auth` would for that cookie, listing its fields.
#[test]
fn explain_reports_every_field_and_decides_with_a_cookie() {
    let env = [("KEYHOLE_KEYS", common::KEY_LINE)];
    let url = sign_ok(
        &["/u1/a.jpg", "--ip", "10.0.0.0/8", "--methods", "GET"],
        &env,
    );
    let report = explain_report(&url, "10.0.0.1", &[], &env);
    let items = report
        .lines()
        .find_map(|line| line.strip_prefix("kh_ items:"))
        .unwrap_or_else(|| panic!("no kh_ items in {report}"));
    for item in [
        "kh_v=1",
        "kh_kid=k1",
        "kh_exp=",
        "kh_ip=10.0.0.0/8",
        "kh_m=GET",
    ] {
        assert!(items.contains(item), "{item} missing from {items}");
    }
    assert!(items.trim_end().ends_with("kh_sig=(not shown)"), "{items}");
    let signature = url.split("kh_sig=").nth(1).unwrap();
    assert!(!report.contains(signature), "explain printed the signature");

    let cookie = keyhole(
        &[
            "cookie",
            "/u1/",
            "--sid",
            "s-9",
            "--ip",
            "10.0.0.0/8",
            "--methods",
            "GET",
        ],
        &env,
    );
    assert!(cookie.status.success(), "{}", text(&cookie.stderr));
    let pair = text(&cookie.stdout).split(';').next().unwrap().to_owned();
    let value = pair.strip_prefix("__Host-keyhole=").unwrap().to_owned();
    let file = "/u1/b.jpg";
    // The value alone, or a whole Cookie header holding it among others.
    for given in [value.clone(), format!("other=1; {pair}")] {
        let allowed = explain_report(file, "10.0.0.5", &["--cookie", &given], &env);
        assert!(allowed.contains("reason:     ok"), "{allowed}");
        for field in [
            "cookie kid: k1 (configured)",
            "cookie scope: every path below /u1/",
            "cookie sid: s-9",
            "cookie ip:  10.0.0.0/8",
            "cookie methods: GET",
        ] {
            assert!(allowed.contains(field), "{field} missing from {allowed}");
        }
        assert!(
            !allowed.contains(&value),
            "explain printed the cookie value"
        );
    }
    let elsewhere = explain_report(file, "192.0.2.1", &["--cookie", &value], &env);
    assert!(elsewhere.contains("reason:     ip-mismatch"), "{elsewhere}");
    let head = explain_report(
        file,
        "10.0.0.5",
        &["--cookie", &value, "--method", "HEAD"],
        &env,
    );
    assert!(head.contains("reason:     method-not-allowed"), "{head}");
    let outside = explain_report("/u2/a.jpg", "10.0.0.5", &["--cookie", &value], &env);
    assert!(!outside.contains("decision:   allow"), "{outside}");
    let without = explain_report(file, "10.0.0.5", &[], &env);
    assert!(!without.contains("decision:   allow"), "{without}");
    let tampered = value.replacen("s-9", "s-8", 1);
    let forged = explain_report(file, "10.0.0.5", &["--cookie", &tampered], &env);
    assert!(forged.contains("reason:     bad-signature"), "{forged}");
}
