//! The reference signers in `clients/` (Python, Node.js, PHP, Go, POSIX shell), checked
//! rather than hoped: each must reproduce every signing vector byte for byte (URL and
//! signed text), refuse what keyhole would deny (every case of the vectors'
//! `must_refuse` section, shared by all signers, and more), round cacheable expiries
//! the same way, and mint URLs that the real nginx + keyhole serve with a 200.
//!
//! Every signer is driven through the same command line:
//! `SIGNER [--exp N | --ttl N [--window N] [--now N]] [--nbf N] [--scope S] [--ip IP]
//! [--methods M] [--query Q] [--string-to-sign] PATH`, key from `KEYHOLE_KEYS`.
//! A missing runtime fails the test with the Debian package to install; nothing skips.
//!
//! Cookie grants (docs/cookies.md) through the same command line in cookie mode:
//! `SIGNER --cookie [--exp N | --ttl N] [--now N] [--sid ID | --no-sid] [--ip IP]
//! [--methods GET,HEAD|GET|HEAD] [--same-site Lax|Strict] [--value | --string-to-sign]
//! SCOPE` (cookie format v2), checked against
//! `tests/vectors/cookies.json` and through nginx + keyhole. The Python and Node signers
//! also mint file-scoped JWTs (`--jwt`, with PyJWT and `jose`, installed by the test into
//! Cargo's temp dir; a failed install fails the test with a hint).
//!
//! Each signer is also a package of its ecosystem, checked the way a user installs it:
//! the Python one with pip (its `keyhole-sign` console script), the Node one with
//! `npm pack` + `npm install` (`require`, `import`, its bin), the PHP one with Composer
//! (PSR-4 autoload, `vendor/bin/keyhole-sign`), the Go one by its module path from
//! another module. Each README's `## Test` command runs as written.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::ffi::OsString;
use std::process::Command;
use std::sync::Arc;

use common::signers::*;
use common::{Env, KEY_LINE, now};
use keyhole::authorize::Authorizer;
use keyhole::canonical::{CanonicalPath, Scope, encode};
use keyhole::claims::IpBinding;
use keyhole::clock::UnixTime;
use keyhole::keys::KeyRing;
use keyhole::request::NginxHeaders;
use keyhole::verify::Policy;
use keyhole::verify::signed_url::{UrlGrant, sign};
use serde_json::Value;

/// The command-line arguments for one vector's input, signed at `now` (the vectors'
/// clock, so that their fixed expiries never fall into the past).
fn vector_args(input: &Value, now: u64) -> Vec<String> {
    let mut args = vec!["--now".to_owned(), now.to_string()];
    for name in ["exp", "nbf"] {
        if let Some(value) = input[name].as_u64() {
            args.extend([format!("--{name}"), value.to_string()]);
        }
    }
    for name in ["scope", "ip", "methods", "query", "host"] {
        if let Some(value) = input[name].as_str() {
            args.extend([format!("--{name}"), value.to_owned()]);
        }
    }
    args.push(input["path"].as_str().unwrap().to_owned());
    args
}

fn check_vectors(runner: &Runner) {
    let vectors = load_vectors(&vectors_path());
    let cases = vectors["signing"].as_array().unwrap();
    assert!(cases.len() >= 18);
    let now = vectors["now"].as_u64().unwrap();
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let args = vector_args(&case["input"], now);
        assert_eq!(
            runner.sign(&args),
            case["url"].as_str().unwrap(),
            "{}: url of `{name}`",
            runner.name
        );
        let mut text_args = vec!["--string-to-sign".to_owned()];
        text_args.extend(args);
        assert_eq!(
            runner.sign(&text_args),
            case["string_to_sign"].as_str().unwrap(),
            "{}: signed text of `{name}`",
            runner.name
        );
    }
}

/// The first `sh` block under the `## Test` heading of a client's README.
fn readme_test_block(name: &str) -> String {
    let path = clients_dir().join(name).join("README.md");
    let readme = std::fs::read_to_string(&path).unwrap();
    let section = readme
        .split_once("\n## Test\n")
        .unwrap_or_else(|| panic!("{} has no `## Test` section", path.display()))
        .1;
    let block = section
        .split_once("```sh\n")
        .and_then(|(_, rest)| rest.split_once("\n```"))
        .unwrap_or_else(|| panic!("{}: no ```sh block under `## Test`", path.display()))
        .0;
    block.to_owned()
}

/// The README's test command, run as written from the client's folder with `sh -e`
/// (the shell signer's sets its own key; the others need none): it must pass, printing
/// only `ok` lines.
fn check_readme_test(signer: &Signer) {
    let block = readme_test_block(signer.name);
    let mut command = Command::new("sh");
    command
        .args(["-e", "-c", &block])
        .current_dir(clients_dir().join(signer.name))
        .env_remove("KEYHOLE_KEYS");
    let output = go_cache(&mut command).output().unwrap();
    let at_least = if signer.name == "shell" { 1 } else { 20 };
    assert_self_check(
        &output,
        at_least,
        &format!("{}: README test command", signer.name),
    );
}

/// Its own `--vectors FILE` self-check (every signer but the shell one has it).
fn check_vectors_mode(runner: &Runner) {
    let output = runner.run(&[OsString::from("--vectors"), vectors_path().into()]);
    let report = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{}: --vectors failed:\n{report}{}",
        runner.name,
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        report.lines().count() >= 10 && report.lines().all(|l| l.starts_with("ok ")),
        "{}: {report}",
        runner.name
    );
}

/// Every case of the vectors' `must_refuse` section, the list shared by all signers:
/// inputs for which keyhole would deny the URL whatever its configuration (too many
/// query items counting keyhole's own, more than 8,192 bytes, an expiry not after
/// `now`, a not-before after the expiry, non-canonical paths, scopes, methods and
/// addresses, `kh_*` or `token` items in the bound query...). Each must be refused.
fn check_must_refuse(runner: &Runner) {
    let vectors = load_vectors(&vectors_path());
    let cases = vectors["must_refuse"].as_array().unwrap();
    assert!(cases.len() >= 45);
    for case in cases {
        let input = &case["input"];
        let args = vector_args(input, input["now"].as_u64().unwrap());
        let output = runner.run(&args);
        assert_eq!(
            output.status.code(),
            Some(2),
            "{}: must refuse `{}` (keyhole: {}), printed {:?}",
            runner.name,
            case["name"].as_str().unwrap(),
            case["deny"].as_str().unwrap(),
            String::from_utf8_lossy(&output.stdout)
        );
        assert!(output.stdout.is_empty() && !output.stderr.is_empty());
    }
}

/// Decoded paths keyhole denies; each signer must refuse them too.
const BAD_PATHS: &[&str] = &[
    "/a/../b",
    "/a/./b",
    "/a/b.",
    "/a//b",
    "/a/",
    "relative",
    "/a%2Fb",
    "/a%20b",
    "/a\\b",
    "/a;b",
    "/a?b",
    "/a#b",
    "/a\u{1}b",
    "/a\u{7f}b",
    "/a\u{85}b",
];

fn check_refusals(runner: &Runner) {
    let long = format!("/{}", "a".repeat(2100));
    for path in BAD_PATHS.iter().copied().chain([long.as_str()]) {
        assert!(
            CanonicalPath::parse(encode(path).as_bytes()).is_err(),
            "keyhole accepts {path:?}; fix BAD_PATHS"
        );
        runner.assert_refuses(&["--now", "1800000000", "--exp", "1800000600", path]);
    }
    let bad_options: &[&[&str]] = &[
        &["--exp", "1800000000000"],
        &["--exp", "1800000600", "--methods", "get"],
        &["--exp", "1800000600", "--methods", "GET,GET"],
        &["--exp", "1800000600", "--query", "kh_v=2"],
        &["--exp", "1800000600", "--query", "a&&b"],
        &["--exp", "1800000600", "--query", "a b"],
        &["--exp", "1800000600", "--scope", "/b/"],
        &["--exp", "1800000600", "--scope", "/a"],
    ];
    for options in bad_options {
        let mut args = vec!["--now", "1800000000"];
        args.extend_from_slice(options);
        args.push("/a/x.jpg");
        runner.assert_refuses(&args);
    }
    // Each signer must accept exactly the addresses keyhole's IpBinding::parse accepts.
    let ips = [
        "10.0.0.1",
        "10.0.0.0/8",
        "10.0.0.1/8",
        "10.0.0.1/32",
        "010.0.0.1",
        "1.2.3",
        "0.0.0.0/0",
        "2001:db8::/32",
        "::/0",
        "127.0.0.1/32",
        "::1/128",
        "2001:DB8::1",
        "2001:db8::1/32",
        "2001:db8::/128",
        "2001:0db8::1",
        "::ffff:1.2.3.4",
        "::ffff:102:304",
        "fe80::1%eth0",
        "2001:db8:0:0:1::/80",
        "::102:304",
        "::1.2.3.4",
        "64:ff9b::c000:201",
        "64:ff9b::192.0.2.1",
        "2001:0:0:1::1",
        "2001::1:0:0:0:1",
        "2001:db8::1:1:1:1:1",
        "1:2:3:4:5:6:7:8",
        "10.0.0.0/08",
        "203.0.113.128/25",
        "203.0.113.128/24",
    ];
    for ip in ips {
        let args = [
            "--now",
            "1800000000",
            "--exp",
            "1800000600",
            "--ip",
            ip,
            "/a/x.jpg",
        ];
        if IpBinding::parse(ip).is_ok() {
            assert!(
                runner.sign(&args).contains(&format!("&kh_ip={ip}&")),
                "{}: {ip}",
                runner.name
            );
        } else {
            runner.assert_refuses(&args);
        }
    }
}

/// Inputs beyond the vectors: (decoded path, scope, bound query). keyhole's own signer
/// decides whether each is signable and what the URL is; every client must agree.
const DIFFERENTIAL: &[(&str, Option<&str>, Option<&str>)] = &[
    ("/emoji/\u{1f600}.png", None, None),
    (
        "/\u{65e5}\u{672c}/\u{30d5}\u{30a1}\u{30a4}\u{30eb}.pdf",
        Some("/\u{65e5}\u{672c}/"),
        None,
    ),
    ("/a~b/!$'()*,=:@.txt", Some("/a~b/"), None),
    (
        "/nbsp/a\u{a0}b\u{200b}c.jpg",
        None,
        Some("q=%E2%9C%93&x=a+b&flag"),
    ),
    ("/plus+and space/+.jpg", Some("/plus+and space/"), Some("")),
    ("/.well-known/x", Some("/"), None),
    ("/a/.hidden/x..y", None, None),
    ("/a/b./c", None, None),
    ("/a/\u{9f}", None, None),
];

fn check_against_rust(runner: &Runner) {
    let keys = KeyRing::parse(KEY_LINE).unwrap();
    let long_ok = format!("/{}", "a".repeat(2047));
    let long_bad = format!("/{}", "a".repeat(2048));
    let wide_bad = format!("/{}", "\u{e9}".repeat(400));
    let extra = [
        (long_ok.as_str(), None, None),
        (long_bad.as_str(), None, None),
        (wide_bad.as_str(), None, None),
    ];
    let mut signable = 0;
    for &(path, scope, query) in DIFFERENTIAL.iter().chain(extra.iter()) {
        let expected = CanonicalPath::parse(encode(path).as_bytes())
            .ok()
            .and_then(|path| {
                let scope = match scope {
                    Some(scope) => Some(Scope::parse(encode(scope).as_bytes()).ok()?),
                    None => None,
                };
                let grant = UrlGrant {
                    path,
                    scope,
                    exp: UnixTime(1_800_000_600),
                    nbf: None,
                    ip: None,
                    methods: None,
                    query: query.map(str::to_owned),
                    host: None,
                };
                sign(&grant, keys.signing_key()).ok()
            });
        let mut args = vec!["--now", "1800000000", "--exp", "1800000600"];
        if let Some(scope) = scope {
            args.extend(["--scope", scope]);
        }
        if let Some(query) = query {
            args.extend(["--query", query]);
        }
        args.push(path);
        match expected {
            Some(url) => {
                assert_eq!(runner.sign(&args), url, "{}: {path:?}", runner.name);
                signable += 1;
            }
            None => runner.assert_refuses(&args),
        }
    }
    assert_eq!(
        signable, 8,
        "keyhole's signer should accept 8 of these inputs"
    );
}

/// `--window` rounds now + ttl up, so URLs signed within one window are identical.
fn check_cacheable(runner: &Runner) {
    let first = runner.sign(&[
        "--now",
        "1800000001",
        "--ttl",
        "600",
        "--window",
        "300",
        "/a/x.jpg",
    ]);
    let later = runner.sign(&[
        "--now",
        "1800000299",
        "--ttl",
        "600",
        "--window",
        "300",
        "/a/x.jpg",
    ]);
    assert_eq!(first, later, "{}", runner.name);
    assert!(
        first.contains("&kh_exp=1800000900&"),
        "{}: {first}",
        runner.name
    );
}

/// URLs from the signer, with the system clock, through real nginx + keyhole.
fn check_through_nginx(runner: &Runner) {
    let env = Env::start();
    let name = runner.name;
    let plain_bytes = format!("{name}: plain file bytes");
    let deep_bytes = format!("{name}: deep file bytes");
    let plain = format!("/protected/{name}/café au lait+1.png");
    let deep = format!("/protected/{name}/deep/x (1).png");
    env.put(&plain, plain_bytes.as_bytes());
    env.put(&deep, deep_bytes.as_bytes());
    let nbf = now().minus(60).0.to_string();
    let scope = format!("/protected/{name}/");
    let largest_query = (1..=95)
        .map(|i| format!("p{i}={i}"))
        .collect::<Vec<_>>()
        .join("&");
    let cases: Vec<(Vec<&str>, &str, &str)> = vec![
        (vec!["--ttl", "600", &plain], &plain, &plain_bytes),
        (
            vec!["--ttl", "600", "--window", "300", &plain],
            &plain,
            &plain_bytes,
        ),
        (
            vec![
                "--ttl",
                "600",
                "--nbf",
                &nbf,
                "--scope",
                &scope,
                "--ip",
                "127.0.0.0/8",
                "--methods",
                "GET",
                &deep,
            ],
            &deep,
            &deep_bytes,
        ),
        (
            vec!["--ttl", "600", "--query", "w=640&v=2", &plain],
            &plain,
            &plain_bytes,
        ),
        // The most items keyhole reads: 95 bound and kh_v, kh_kid, kh_exp, kh_q, kh_sig.
        (
            vec!["--ttl", "600", "--query", &largest_query, &plain],
            &plain,
            &plain_bytes,
        ),
        // A full-length prefix, signed as written.
        (
            vec!["--ttl", "600", "--ip", "127.0.0.1/32", &plain],
            &plain,
            &plain_bytes,
        ),
    ];
    for (args, path, bytes) in cases {
        let url = runner.sign(&args);
        assert!(url.starts_with(&encode(path)), "{name}: {url}");
        let response = env.get(&url);
        assert_eq!(
            response.status,
            200,
            "{name}: {url} -> {} ({})\n{}",
            response.status,
            env.last_reason(),
            response.head
        );
        assert_eq!(response.body, bytes.as_bytes(), "{name}: {url}");
        assert_eq!(env.last_reason(), "ok", "{name}: {url}");
    }
    // And a URL keyhole must refuse: the signer's URL for another file.
    let url = runner.sign(&["--ttl", "600", &plain]);
    let moved = url.replacen(&encode(&plain), &encode(&deep), 1);
    assert_eq!(env.get(&moved).status, 403, "{name}: {moved}");
    assert_eq!(env.last_reason(), "bad-signature");
}

/// The cookie-mode arguments for one cookie vector's input.
fn cookie_vector_args(vectors: &Value, input: &Value) -> Vec<String> {
    let mut args = vec![
        "--cookie".to_owned(),
        "--exp".to_owned(),
        input["exp"].as_u64().unwrap().to_string(),
        "--now".to_owned(),
        vectors["now"].as_u64().unwrap().to_string(),
        "--same-site".to_owned(),
        input["same_site"].as_str().unwrap().to_owned(),
        "--methods".to_owned(),
        input["methods"].as_str().unwrap().to_owned(),
    ];
    match input["ip"].as_str().unwrap() {
        "" => {}
        ip => args.extend(["--ip".to_owned(), ip.to_owned()]),
    }
    match input["sid"].as_str().unwrap() {
        "" => args.push("--no-sid".to_owned()),
        sid => args.extend(["--sid".to_owned(), sid.to_owned()]),
    }
    args
}

/// Every cookie vector: Set-Cookie value, cookie value and signed text, byte for byte.
fn check_cookie_vectors(runner: &Runner) {
    let vectors = load_vectors(&cookie_vectors_path());
    let cases = vectors["signing"].as_array().unwrap();
    assert!(cases.len() >= 6);
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let input = &case["input"];
        let scope = input["scope"].as_str().unwrap().to_owned();
        for (flag, field) in [
            (None, "set_cookie"),
            (Some("--value"), "value"),
            (Some("--string-to-sign"), "string_to_sign"),
        ] {
            let mut args = cookie_vector_args(&vectors, input);
            args.extend(flag.map(str::to_owned));
            args.push(scope.clone());
            assert_eq!(
                runner.sign(&args),
                case[field].as_str().unwrap(),
                "{}: {field} of cookie `{name}`",
                runner.name
            );
        }
    }
}

/// Its own `--cookie-vectors FILE` self-check (every signer but the shell one).
fn check_cookie_vectors_mode(runner: &Runner) {
    let output = runner.run(&[
        OsString::from("--cookie-vectors"),
        cookie_vectors_path().into(),
    ]);
    let report = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{}: --cookie-vectors failed:\n{report}{}",
        runner.name,
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        report.lines().count() >= 6 && report.lines().all(|l| l.starts_with("ok ")),
        "{}: {report}",
        runner.name
    );
}

/// Scopes keyhole's canonical rules deny, bad session ids and lifetimes: refused.
fn check_cookie_refusals(runner: &Runner) {
    let long = format!("/{}/", "a".repeat(2100));
    let bad_scopes = [
        "/a",
        "/a/x.jpg",
        "a/",
        "/a//",
        "/a/../",
        "/a/./",
        "/a./",
        "/a%2F/",
        "/a;b/",
        "/a?b/",
        "/a\\b/",
        "/a\u{1}/",
        "/a\u{85}/",
        long.as_str(),
    ];
    for scope in bad_scopes {
        assert!(
            Scope::parse(encode(scope).as_bytes()).is_err(),
            "keyhole accepts the scope {scope:?}; fix the list"
        );
        runner.assert_refuses(&["--cookie", "--ttl", "600", "--sid", "s1", scope]);
    }
    let sid65 = "a".repeat(65);
    let bad_options: &[&[&str]] = &[
        &["--sid", "a b"],
        &["--sid", "a.b"],
        &["--sid", &sid65],
        &["--sid", "s1", "--no-sid"],
        &["--same-site", "None"],
        &["--same-site", "lax"],
        &["--methods", "POST"],
        &["--methods", "GET,POST"],
        &["--methods", "HEAD,GET"],
        &["--methods", "get"],
        &["--methods", ""],
        &["--ip", "10.0.0.1/8"],
        &["--ip", "010.0.0.1"],
        &["--ip", "x"],
    ];
    for options in bad_options {
        let mut args = vec!["--cookie", "--ttl", "600"];
        args.extend_from_slice(options);
        args.push("/a/");
        runner.assert_refuses(&args);
    }
    // An expiry that is not in the future, and a millisecond timestamp.
    runner.assert_refuses(&[
        "--cookie",
        "--exp",
        "1800000000",
        "--now",
        "1800000000",
        "/a/",
    ]);
    runner.assert_refuses(&["--cookie", "--exp", "1800000000000", "/a/"]);
}

/// The Set-Cookie value's cookie value, after `__Host-keyhole=` and before `;`.
fn cookie_value(set_cookie: &str) -> &str {
    set_cookie
        .strip_prefix("__Host-keyhole=")
        .and_then(|rest| rest.split(';').next())
        .unwrap_or_else(|| panic!("not a keyhole Set-Cookie value: {set_cookie}"))
}

/// Cookies from the signer, with the system clock, through real nginx + keyhole: files
/// in the scope open, a file beside it does not, and each run gets a fresh session id.
fn check_cookie_through_nginx(runner: &Runner) {
    let env = Env::start();
    let name = runner.name;
    let inside = format!("/protected/{name}-c/café au lait+1.png");
    let deep = format!("/protected/{name}-c/deep/x (1).png");
    let outside = format!("/protected/{name}-cx/a.png");
    for path in [&inside, &deep, &outside] {
        env.put(path, format!("{path} bytes").as_bytes());
    }
    let scope = format!("/protected/{name}-c/");
    let header = runner.sign(&["--cookie", "--ttl", "600", &scope]);
    for part in [
        "HttpOnly",
        "SameSite=Lax",
        "Secure",
        "Path=/",
        "Max-Age=600",
    ] {
        assert!(
            header.contains(part),
            "{name}: {part} missing from {header}"
        );
    }
    let value = cookie_value(&header);
    let fields: Vec<&str> = value.split('.').collect();
    assert_eq!(fields.len(), 8, "{name}: {value}");
    assert_eq!(fields[0], "2", "{name}: format v2: {value}");
    assert_eq!(
        fields[4].len(),
        22,
        "{name}: a random 128-bit sid in {value}"
    );
    let again = runner.sign(&["--cookie", "--ttl", "600", &scope]);
    assert_ne!(
        cookie_value(&again).split('.').nth(4),
        Some(fields[4]),
        "{name}: the session id must be fresh for each cookie"
    );
    let strict = runner.sign(&[
        "--cookie",
        "--ttl",
        "300",
        "--same-site",
        "Strict",
        "--sid",
        "user-42",
        &scope,
    ]);
    assert!(strict.contains("SameSite=Strict"), "{name}: {strict}");
    assert!(strict.contains("; Max-Age=300"), "{name}: {strict}");
    let no_sid = runner.sign(&["--cookie", "--ttl", "300", "--no-sid", "--value", &scope]);
    assert_eq!(no_sid.split('.').nth(4), Some(""), "{name}: {no_sid}");

    for value in [value, cookie_value(&strict), no_sid.as_str()] {
        let cookie = format!("Cookie: __Host-keyhole={value}\r\n");
        for path in [&inside, &deep] {
            let response = env.request("GET", encode(path).as_bytes(), &cookie);
            assert_eq!(
                response.status,
                200,
                "{name}: cookie {value} for {path} -> {} ({})",
                response.status,
                env.last_reason()
            );
            assert_eq!(response.body, format!("{path} bytes").as_bytes());
            assert_eq!(env.last_reason(), "ok", "{name}: {path}");
        }
        let response = env.request("GET", encode(&outside).as_bytes(), &cookie);
        assert_eq!(response.status, 403, "{name}: cookie {value} for {outside}");
        assert_eq!(env.last_reason(), "out-of-scope", "{name}: {outside}");
    }

    // Bindings: a HEAD-only cookie for this client's address opens files for HEAD and
    // not for GET; a cookie for another network opens nothing here.
    let head = runner.sign(&[
        "--cookie",
        "--ttl",
        "300",
        "--ip",
        "127.0.0.1",
        "--methods",
        "HEAD",
        "--value",
        &scope,
    ]);
    let cookie = format!("Cookie: __Host-keyhole={head}\r\n");
    let response = env.request("HEAD", encode(&inside).as_bytes(), &cookie);
    assert_eq!(response.status, 200, "{name}: HEAD with {head}");
    let response = env.request("GET", encode(&inside).as_bytes(), &cookie);
    assert_eq!(response.status, 403, "{name}: GET with {head}");
    assert_eq!(env.last_reason(), "method-not-allowed", "{name}");
    let elsewhere = runner.sign(&[
        "--cookie",
        "--ttl",
        "300",
        "--ip",
        "10.0.0.0/8",
        "--value",
        &scope,
    ]);
    let cookie = format!("Cookie: __Host-keyhole={elsewhere}\r\n");
    let response = env.request("GET", encode(&inside).as_bytes(), &cookie);
    assert_eq!(response.status, 403, "{name}: {elsewhere} from 127.0.0.1");
    assert_eq!(env.last_reason(), "ip-mismatch", "{name}");
}

fn check(signer: &Signer, has_vectors_mode: bool) {
    let runner = Runner::prepare(signer);
    check_vectors(&runner);
    check_readme_test(signer);
    if has_vectors_mode {
        check_vectors_mode(&runner);
    }
    check_refusals(&runner);
    check_must_refuse(&runner);
    check_against_rust(&runner);
    check_cacheable(&runner);
    check_through_nginx(&runner);
    check_cookie_vectors(&runner);
    if has_vectors_mode {
        check_cookie_vectors_mode(&runner);
    }
    check_cookie_refusals(&runner);
    check_cookie_through_nginx(&runner);
}

#[test]
fn python_signer_matches_the_vectors_and_keyhole() {
    check(&PYTHON, true);
}

#[test]
fn node_signer_matches_the_vectors_and_keyhole() {
    check(&NODE, true);
}

#[test]
fn php_signer_matches_the_vectors_and_keyhole() {
    check(&PHP, true);
}

#[test]
fn go_signer_matches_the_vectors_and_keyhole() {
    check(&GO, true);
}

#[test]
fn shell_signer_matches_the_vectors_and_keyhole() {
    check(&SHELL, false);
}

/// The Rust example in docs/signing.md (core/examples/sign.rs, which the doc shows
/// exactly: core/tests/sign_example.rs): keyhole's service allows the URL it makes.
#[test]
fn rust_example_in_signing_md() {
    let docs = include_str!("../docs/signing.md");
    assert!(docs.contains("pub fn sign_url(\n    keys: &KeyRing,"));

    let keys = KeyRing::parse(rust_example::KEY_LINE).unwrap();
    let url = rust_example::sign_url(&keys, "/photos/café au lait.jpg", now()).unwrap();
    assert!(
        url.starts_with("/photos/caf%C3%A9%20au%20lait.jpg?kh_v=1&kh_kid=k1&kh_exp="),
        "{url}"
    );
    assert!(rust_example::sign_url(&keys, "/photos/../etc/passwd", now()).is_err());
    let authorizer = Authorizer::new(Arc::new(keys), Policy::default());
    let headers = NginxHeaders::new(url.as_bytes(), b"GET", b"198.51.100.1");
    assert_eq!(authorizer.decide(&headers, now()).code(), "ok");
}

/// docs/signing.md's Rust example, the file `cargo run -p keyhole-core --example sign` runs.
#[allow(dead_code)]
#[path = "../core/examples/sign.rs"]
mod rust_example;
