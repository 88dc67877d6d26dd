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
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::{Env, KEY_LINE, now};
use std::sync::Arc;

use keyhole::authorize::Authorizer;
use keyhole::canonical::{CanonicalPath, Scope, encode};
use keyhole::claims::IpBinding;
use keyhole::clock::UnixTime;
use keyhole::keys::KeyRing;
use keyhole::request::NginxHeaders;
use keyhole::verify::Policy;
use keyhole::verify::signed_url::{UrlGrant, sign};
use serde_json::Value;

/// One reference signer and what it needs to run.
struct Signer {
    /// Folder below `clients/` and the name used in messages.
    name: &'static str,
    /// The program that must be on PATH.
    runtime: &'static str,
    /// The Debian package providing `runtime`.
    package: &'static str,
}

const PYTHON: Signer = Signer {
    name: "python",
    runtime: "python3",
    package: "python3",
};
const NODE: Signer = Signer {
    name: "node",
    runtime: "node",
    package: "nodejs",
};
const PHP: Signer = Signer {
    name: "php",
    runtime: "php",
    package: "php-cli",
};
const GO: Signer = Signer {
    name: "go",
    runtime: "go",
    package: "golang-go",
};
const SHELL: Signer = Signer {
    name: "shell",
    runtime: "openssl",
    package: "openssl",
};

/// A signer ready to run: the program and the arguments before the options.
struct Runner {
    name: &'static str,
    program: PathBuf,
    leading: Vec<OsString>,
    /// Holds the Go binary's folder for the runner's lifetime.
    _build: Option<tempfile::TempDir>,
}

fn clients_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("clients")
}

fn vectors_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/signed-urls.json")
}

/// Fails (never skips) when the runtime is missing, naming the package to install.
fn require_runtime(signer: &Signer) {
    let flag = match signer.runtime {
        "go" | "openssl" => "version",
        _ => "--version",
    };
    let found = Command::new(signer.runtime)
        .arg(flag)
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        found,
        "the {} signer needs `{}` on PATH; install it with `apt-get install -y {}` \
         (CI: apt-get install -y php-cli golang-go nodejs python3 openssl)",
        signer.name, signer.runtime, signer.package
    );
}

impl Runner {
    fn prepare(signer: &Signer) -> Runner {
        require_runtime(signer);
        let dir = clients_dir().join(signer.name);
        let (program, leading, build): (PathBuf, Vec<OsString>, _) = match signer.name {
            "python" => (
                "python3".into(),
                vec![dir.join("keyhole_sign.py").into()],
                None,
            ),
            "node" => (
                "node".into(),
                vec![dir.join("keyhole-sign.js").into()],
                None,
            ),
            "php" => (
                "php".into(),
                vec![dir.join("bin/keyhole-sign").into()],
                None,
            ),
            "shell" => ("sh".into(), vec![dir.join("keyhole-sign.sh").into()], None),
            "go" => {
                let build = tempfile::Builder::new()
                    .prefix("keyhole-go-")
                    .tempdir()
                    .unwrap();
                let binary = build.path().join("keyhole-sign");
                let mut command = Command::new("go");
                command
                    .args(["build", "-buildvcs=false", "-o"])
                    .arg(&binary)
                    .arg("./cmd/keyhole-sign");
                command.current_dir(&dir);
                let output = go_cache(&mut command).output().unwrap();
                assert!(
                    output.status.success(),
                    "go build failed:\n{}",
                    String::from_utf8_lossy(&output.stderr)
                );
                (binary, Vec::new(), Some(build))
            }
            other => panic!("no runner for {other}"),
        };
        Runner {
            name: signer.name,
            program,
            leading,
            _build: build,
        }
    }

    /// Runs the signer with `args` and `KEYHOLE_KEYS` set to the test key.
    fn run<S: AsRef<std::ffi::OsStr>>(&self, args: &[S]) -> Output {
        Command::new(&self.program)
            .args(&self.leading)
            .args(args)
            .env("KEYHOLE_KEYS", KEY_LINE)
            .output()
            .unwrap_or_else(|e| panic!("{}: cannot run {}: {e}", self.name, self.program.display()))
    }

    /// Runs and returns stdout without its final newline; any failure is fatal.
    fn sign<S: AsRef<std::ffi::OsStr>>(&self, args: &[S]) -> String {
        let output = self.run(args);
        let text = String::from_utf8(output.stdout).unwrap();
        assert!(
            output.status.success(),
            "{}: exit {}\n{}",
            self.name,
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
        text.strip_suffix('\n')
            .unwrap_or_else(|| panic!("{}: output lacks a final newline: {text:?}", self.name))
            .to_owned()
    }

    /// Asserts that the signer refuses: exit 2, nothing on stdout, a message on stderr.
    fn assert_refuses<S: AsRef<std::ffi::OsStr> + std::fmt::Debug>(&self, args: &[S]) {
        let output = self.run(args);
        assert_eq!(
            output.status.code(),
            Some(2),
            "{}: should refuse {args:?}, printed {:?}",
            self.name,
            String::from_utf8_lossy(&output.stdout)
        );
        assert!(
            output.stdout.is_empty(),
            "{}: printed a URL for {args:?}",
            self.name
        );
        assert!(
            !output.stderr.is_empty(),
            "{}: refused {args:?} without a message",
            self.name
        );
    }
}

/// The command-line arguments for one vector's input, signed at `now` (the vectors'
/// clock, so that their fixed expiries never fall into the past).
fn vector_args(input: &Value, now: u64) -> Vec<String> {
    let mut args = vec!["--now".to_owned(), now.to_string()];
    for name in ["exp", "nbf"] {
        if let Some(value) = input[name].as_u64() {
            args.extend([format!("--{name}"), value.to_string()]);
        }
    }
    for name in ["scope", "ip", "methods", "query"] {
        if let Some(value) = input[name].as_str() {
            args.extend([format!("--{name}"), value.to_owned()]);
        }
    }
    args.push(input["path"].as_str().unwrap().to_owned());
    args
}

/// A vector file, after checking that it uses the key the signers are given.
fn load_vectors(path: &std::path::Path) -> Value {
    let vectors: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    assert_eq!(
        format!(
            "{}:{}",
            vectors["key"]["kid"].as_str().unwrap(),
            vectors["key"]["secret"].as_str().unwrap()
        ),
        KEY_LINE
    );
    vectors
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

/// Asserts that a self-check printed one `ok` line per vector (at least `at_least`) and
/// exited 0.
fn assert_self_check(output: &Output, at_least: usize, what: &str) {
    let report = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{what}: exit {}\n{report}{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    let lines: Vec<&str> = report.lines().filter(|l| !l.is_empty()).collect();
    assert!(
        lines.len() >= at_least && lines.iter().all(|l| l.starts_with("ok")),
        "{what}: {report}"
    );
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

/// Go's build cache when the environment has none (no HOME, no GOCACHE).
fn go_cache(command: &mut Command) -> &mut Command {
    if std::env::var_os("HOME").is_none() && std::env::var_os("GOCACHE").is_none() {
        command.env("GOCACHE", std::env::temp_dir().join("keyhole-go-cache"));
    }
    command
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

fn cookie_vectors_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/cookies.json")
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

/// The JWT key the minting tests configure (`KEYHOLE_JWT_KEYS`): HS256, 32 bytes.
const JWT_KEYS: &str = "j1:HS256:ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8";

/// Runs a minting command line and returns its one output line.
fn mint(command: &mut Command, what: &str) -> String {
    let output = command.env("KEYHOLE_JWT_KEYS", JWT_KEYS).output().unwrap();
    assert!(
        output.status.success(),
        "{what}: exit {}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    let text = String::from_utf8(output.stdout).unwrap();
    text.strip_suffix('\n')
        .unwrap_or_else(|| panic!("{what}: output lacks a final newline: {text:?}"))
        .to_owned()
}

/// Tokens minted by a client (`mint_with(args)` runs it with `--jwt` and `args`) open
/// their file through nginx + keyhole, a single-use one only once, and never another file.
fn check_jwt_minting(name: &str, mint_with: impl Fn(&[&str]) -> String) {
    let env = Env::start_with(&[("KEYHOLE_JWT_KEYS", JWT_KEYS)], "");
    let file = format!("/protected/{name}-jwt/café au lait+1.png");
    let deep = format!("/protected/{name}-jwt/deep/x (1).png");
    let other = format!("/protected/{name}-jwt/other.png");
    for path in [&file, &deep, &other] {
        env.put(path, format!("{path} bytes").as_bytes());
    }
    let scope = format!("/protected/{name}-jwt/");
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec![file.as_str()], &file),
        (vec!["--ttl", "60", "--once", file.as_str()], &file),
        (
            vec![
                "--scope",
                &scope,
                "--methods",
                "GET",
                "--ip",
                "127.0.0.0/8",
                deep.as_str(),
            ],
            &deep,
        ),
    ];
    for (args, path) in cases {
        let target = mint_with(&args);
        assert!(
            target.starts_with(&format!("{}?token=", encode(path))),
            "{name}: {target}"
        );
        let response = env.get(&target);
        assert_eq!(
            response.status,
            200,
            "{name}: {args:?} -> {} ({})",
            response.status,
            env.last_reason()
        );
        assert_eq!(response.body, format!("{path} bytes").as_bytes());
        assert_eq!(env.last_reason(), "ok", "{name}: {args:?}");
        if args.contains(&"--once") {
            assert_eq!(env.get(&target).status, 403, "{name}: single use replayed");
            assert_eq!(env.last_reason(), "replayed", "{name}");
        }
    }
    // A token for one file presented for another.
    let target = mint_with(&[file.as_str()]);
    let moved = target.replacen(&encode(&file), &encode(&other), 1);
    assert_ne!(moved, target);
    assert_eq!(env.get(&moved).status, 403, "{name}: {moved}");
    assert_ne!(env.last_reason(), "ok", "{name}: {moved}");
    // A scope token outside its scope.
    let scoped = mint_with(&["--scope", &scope, file.as_str()]);
    let outside = scoped.replacen(
        &encode(&file),
        &encode(&format!("/protected/{name}-jwtx/a.png")),
        1,
    );
    assert_eq!(env.get(&outside).status, 403, "{name}: {outside}");
}

#[test]
fn python_client_mints_jwts_with_pyjwt_that_keyhole_accepts() {
    require_runtime(&PYTHON);
    let tools = common::interop::with_pyjwt();
    let script = clients_dir().join("python/keyhole_sign.py");
    // Without PyJWT on the path, --jwt refuses with an install hint (and URLs still sign).
    let output = Command::new("python3")
        .arg(&script)
        .args(["--jwt", "/a/b.jpg"])
        .env("KEYHOLE_JWT_KEYS", JWT_KEYS)
        .env_remove("PYTHONPATH")
        .output()
        .unwrap();
    if !output.status.success() {
        assert_eq!(output.status.code(), Some(2));
        assert!(String::from_utf8_lossy(&output.stderr).contains("pip install pyjwt"));
    }
    check_jwt_minting("python", |args| {
        mint(
            Command::new("python3")
                .arg(&script)
                .arg("--jwt")
                .args(args)
                .env("PYTHONPATH", tools.join("py")),
            "python --jwt",
        )
    });
}

#[test]
fn node_client_mints_jwts_with_jose_that_keyhole_accepts() {
    require_runtime(&NODE);
    let tools = common::interop::with_jose();
    // jose is ESM and found beside the importing file: run a copy beside node_modules.
    let script = tools.join("node/keyhole-sign.js");
    std::fs::copy(clients_dir().join("node/keyhole-sign.js"), &script).unwrap();
    let output = Command::new("node")
        .arg(clients_dir().join("node/keyhole-sign.js"))
        .args(["--jwt", "/a/b.jpg"])
        .env("KEYHOLE_JWT_KEYS", JWT_KEYS)
        .output()
        .unwrap();
    if !output.status.success() {
        assert_eq!(output.status.code(), Some(2));
        assert!(String::from_utf8_lossy(&output.stderr).contains("npm install jose"));
    }
    check_jwt_minting("node", |args| {
        mint(
            Command::new("node").arg(&script).arg("--jwt").args(args),
            "node --jwt",
        )
    });
}

/// The first signing vector: (path, exp, url), signed at the vectors' `now`.
fn first_vector() -> (String, u64, u64, String) {
    let vectors = load_vectors(&vectors_path());
    let case = &vectors["signing"][0];
    assert!(case["input"].as_object().unwrap().len() == 2, "{case}");
    (
        case["input"]["path"].as_str().unwrap().to_owned(),
        vectors["now"].as_u64().unwrap(),
        case["input"]["exp"].as_u64().unwrap(),
        case["url"].as_str().unwrap().to_owned(),
    )
}

/// Runs a packaging step; a failure shows its output and `hint`.
fn run_step(command: &mut Command, hint: &str) -> Output {
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("cannot run {command:?}: {e}; {hint}"));
    assert!(
        output.status.success(),
        "{command:?}: exit {}\n{}{}\n{hint}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// Runs `program [leading] --vectors` and `--cookie-vectors` on both vector files.
fn check_installed_self_checks(
    program: &Path,
    leading: &[&str],
    env: &[(&str, &Path)],
    what: &str,
) {
    for (mode, file) in [
        ("--vectors", vectors_path()),
        ("--cookie-vectors", cookie_vectors_path()),
    ] {
        let mut command = Command::new(program);
        command.args(leading).arg(mode).arg(&file);
        for (name, value) in env {
            command.env(name, value);
        }
        let output = command
            .output()
            .unwrap_or_else(|e| panic!("{what}: cannot run {}: {e}", program.display()));
        assert_self_check(&output, 10, &format!("{what} {mode}"));
    }
}

/// `pip install clients/python` (from a copy: pip builds in the source folder) gives
/// the `keyhole_sign` module, the `keyhole-sign` console script and `python3 -m
/// keyhole_sign`, all passing the vectors, and no runtime dependency outside extras.
#[test]
fn python_package_installs_with_pip_and_runs_as_keyhole_sign() {
    require_runtime(&PYTHON);
    let work = tempfile::Builder::new()
        .prefix("keyhole-pip-")
        .tempdir()
        .unwrap();
    let source = work.path().join("source");
    std::fs::create_dir(&source).unwrap();
    for entry in std::fs::read_dir(clients_dir().join("python")).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_file() {
            std::fs::copy(entry.path(), source.join(entry.file_name())).unwrap();
        }
    }
    let site = work.path().join("site");
    run_step(
        Command::new("python3")
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
            ])
            .args(["--no-deps", "--target"])
            .arg(&site)
            .arg(&source)
            .env("PIP_BREAK_SYSTEM_PACKAGES", "1"),
        "needs python3 with pip and access to PyPI for the build backend \
         (apt-get install python3-pip)",
    );
    let env = [("PYTHONPATH", site.as_path())];
    check_installed_self_checks(&site.join("bin/keyhole-sign"), &[], &env, "keyhole-sign");
    check_installed_self_checks(
        Path::new("python3"),
        &["-m", "keyhole_sign"],
        &env,
        "python3 -m keyhole_sign",
    );
    let (path, now, exp, url) = first_vector();
    let script = format!(
        "import importlib.metadata as m, keyhole_sign as k\n\
         print(k.__file__.startswith({site:?}))\n\
         print(m.version('keyhole-sign'), m.requires('keyhole-sign'))\n\
         print(k.sign_url({KEY_LINE:?}, {path:?}, exp={exp}, now={now}))",
        site = site.to_str().unwrap()
    );
    let output = run_step(
        Command::new("python3")
            .args(["-c", &script])
            .env("PYTHONPATH", &site)
            .current_dir(work.path()),
        "",
    );
    let lines: Vec<String> = String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    assert_eq!(lines[0], "True", "keyhole_sign imported from elsewhere");
    // One optional extra (PyJWT for --jwt), no runtime requirement.
    assert_eq!(lines[1], "0.1.0 ['PyJWT>=2; extra == \"jwt\"']");
    assert_eq!(lines[2], url);
}

/// `npm pack` + `npm install` of the tarball give a package that `require` and `import`
/// resolve by name (with its types), and a `keyhole-sign` bin passing the vectors.
#[test]
fn node_package_packs_and_installs_with_npm() {
    require_runtime(&NODE);
    let work = tempfile::Builder::new()
        .prefix("keyhole-npm-")
        .tempdir()
        .unwrap();
    let hint = "needs npm (apt-get install npm)";
    let packed = run_step(
        Command::new("npm")
            .args(["pack", "--silent", "--pack-destination"])
            .arg(work.path())
            .current_dir(clients_dir().join("node")),
        hint,
    );
    let tarball = work
        .path()
        .join(String::from_utf8(packed.stdout).unwrap().trim());
    let app = work.path().join("app");
    run_step(
        Command::new("npm")
            .args([
                "install",
                "--silent",
                "--offline",
                "--no-audit",
                "--no-fund",
            ])
            .arg("--prefix")
            .arg(&app)
            .arg(&tarball),
        hint,
    );
    let installed = app.join("node_modules/keyhole-sign");
    let mut files: Vec<String> = std::fs::read_dir(&installed)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    files.sort();
    assert_eq!(
        files,
        ["README.md", "index.d.ts", "keyhole-sign.js", "package.json"]
    );
    check_installed_self_checks(
        &app.join("node_modules/.bin/keyhole-sign"),
        &[],
        &[],
        "npm bin keyhole-sign",
    );
    let (path, now, exp, url) = first_vector();
    let call = format!("signUrl({KEY_LINE:?}, {path:?}, {{ exp: {exp}, now: {now} }})");
    let scripts = [
        (
            "commonjs",
            format!("const {{ signUrl }} = require(\"keyhole-sign\"); console.log({call});"),
        ),
        (
            "module",
            format!("import {{ signUrl }} from \"keyhole-sign\"; console.log({call});"),
        ),
    ];
    for (kind, script) in scripts {
        let output = run_step(
            Command::new("node")
                .arg(format!("--input-type={kind}"))
                .args(["-e", &script])
                .current_dir(&app),
            "",
        );
        assert_eq!(
            String::from_utf8(output.stdout).unwrap().trim_end(),
            url,
            "{kind}"
        );
    }
    let manifest: Value =
        serde_json::from_str(&std::fs::read_to_string(installed.join("package.json")).unwrap())
            .unwrap();
    assert_eq!(manifest["exports"]["."]["types"], "./index.d.ts");
    assert_eq!(manifest["types"], "./index.d.ts");
}

/// Composer validates `composer.json`, installs the package from a path repository
/// (Packagist off: nothing is downloaded) into another project, autoloads
/// `Keyhole\KeyholeSign` and `Keyhole\KeyholeSignError` (PSR-4), and links
/// `vendor/bin/keyhole-sign`, which passes the vectors.
#[test]
fn php_package_installs_with_composer_and_autoloads_psr4() {
    require_runtime(&PHP);
    let hint = "needs Composer (apt-get install -y composer)";
    let work = tempfile::Builder::new()
        .prefix("keyhole-composer-")
        .tempdir()
        .unwrap();
    let composer = |args: &[&str]| {
        let mut command = Command::new("composer");
        command
            .args(args)
            .args(["--no-interaction", "--no-ansi"])
            .env("COMPOSER_HOME", work.path().join("home"))
            .env("COMPOSER_ALLOW_SUPERUSER", "1");
        command
    };
    run_step(
        composer(&["validate", "--strict"]).current_dir(clients_dir().join("php")),
        hint,
    );
    let app = work.path().join("app");
    std::fs::create_dir(&app).unwrap();
    let project = serde_json::json!({
        "repositories": [
            { "type": "path", "url": clients_dir().join("php"), "options": { "symlink": false } },
            { "packagist.org": false }
        ],
        "require": { "keyhole-auth/keyhole-sign": "*@dev" }
    });
    std::fs::write(app.join("composer.json"), project.to_string()).unwrap();
    run_step(
        composer(&["install", "--no-progress"]).current_dir(&app),
        hint,
    );
    check_installed_self_checks(
        &app.join("vendor/bin/keyhole-sign"),
        &[],
        &[],
        "vendor/bin/keyhole-sign",
    );
    let (path, now, exp, url) = first_vector();
    let script = format!(
        "require 'vendor/autoload.php';\n\
         echo \\Keyhole\\KeyholeSign::signUrl('{KEY_LINE}', '{path}', ['exp' => {exp}, 'now' => {now}]), \"\\n\";\n\
         try {{ \\Keyhole\\KeyholeSign::signUrl('{KEY_LINE}', '/a/../b', ['exp' => {exp}, 'now' => {now}]); }}\n\
         catch (\\Keyhole\\KeyholeSignError $e) {{ echo \"refused\\n\"; }}"
    );
    let output = run_step(
        Command::new("php").args(["-r", &script]).current_dir(&app),
        "",
    );
    assert_eq!(
        String::from_utf8(output.stdout).unwrap(),
        format!("{url}\nrefused\n")
    );
}

/// The Go package is importable by its module path: another module requires
/// `github.com/keyhole-auth/keyhole/clients/go` (a `replace` directive points at this
/// checkout, as the README says; nothing is downloaded), signs a vector with the
/// `keyhole` package and builds the `cmd/keyhole-sign` command, which passes the vectors.
#[test]
fn go_module_is_importable_by_its_path() {
    require_runtime(&GO);
    let module = "github.com/keyhole-auth/keyhole/clients/go";
    let app = tempfile::Builder::new()
        .prefix("keyhole-go-app-")
        .tempdir()
        .unwrap();
    std::fs::write(
        app.path().join("go.mod"),
        "module example.com/app\n\ngo 1.19\n",
    )
    .unwrap();
    run_step(
        go_cache(
            Command::new("go")
                .args(["mod", "edit"])
                .arg(format!("-require={module}@v0.0.0"))
                .arg(format!(
                    "-replace={module}={}",
                    clients_dir().join("go").display()
                ))
                .current_dir(app.path()),
        ),
        "",
    );
    let (path, now, exp, url) = first_vector();
    let program = format!(
        "package main\n\n\
         import (\n\t\"fmt\"\n\t\"time\"\n\n\t\"{module}/keyhole\"\n)\n\n\
         func main() {{\n\
         \turl, err := keyhole.SignURL({KEY_LINE:?}, {path:?}, keyhole.URLOptions{{\n\
         \t\tExpires: time.Unix({exp}, 0), Now: time.Unix({now}, 0)}})\n\
         \tif err != nil {{\n\t\tpanic(err)\n\t}}\n\
         \tfmt.Println(url)\n}}\n"
    );
    std::fs::write(app.path().join("main.go"), program).unwrap();
    let output = run_step(
        go_cache(
            Command::new("go")
                .args(["run", "-buildvcs=false", "."])
                .env("GOFLAGS", "-mod=mod")
                .env("GOPROXY", "off")
                .current_dir(app.path()),
        ),
        "",
    );
    assert_eq!(
        String::from_utf8(output.stdout).unwrap(),
        format!("{url}\n")
    );
    // The command builds from the other module by its package path too (its import of
    // the library goes through the module path).
    let binary = app.path().join("keyhole-sign");
    run_step(
        go_cache(
            Command::new("go")
                .args(["build", "-buildvcs=false", "-o"])
                .arg(&binary)
                .arg(format!("{module}/cmd/keyhole-sign"))
                .env("GOFLAGS", "-mod=mod")
                .env("GOPROXY", "off")
                .current_dir(app.path()),
        ),
        "",
    );
    check_installed_self_checks(&binary, &[], &[], "go build .../cmd/keyhole-sign");
}

/// The Python command line moved from a hand-written parser to argparse and kept its
/// rules: an option takes the next argument whatever it looks like (a session id or a
/// bound query may start with `-`), `--` is not the end of the options, options are
/// never abbreviated, a missing value is a refusal; argparse added only `--help`.
#[test]
fn python_command_line_keeps_its_rules_on_argparse() {
    let runner = Runner::prepare(&PYTHON);
    let now = ["--now", "1800000000"];
    let cookie = runner.sign(
        &[
            &[
                "--cookie",
                "--exp",
                "1800000600",
                "--sid",
                "-abc",
                "--value",
            ],
            &now[..],
            &["/u1/"],
        ]
        .concat(),
    );
    assert!(cookie.contains(".1800000600.-abc."), "{cookie}");
    let url = runner.sign(
        &[
            &now[..],
            &["--exp", "1800000600", "--query", "--a", "/a/b.jpg"],
        ]
        .concat(),
    );
    assert!(url.starts_with("/a/b.jpg?--a&kh_v=1&"), "{url}");
    for refused in [
        &["--exp", "1800000600", "--", "/a/b.jpg"][..],
        &["--ex", "1800000600", "/a/b.jpg"],
        &["--exp", "1800000600", "--window"],
        &["--exp", "1800000600", "/a/b.jpg", "/a/c.jpg"],
        &["--exp", "soon", "/a/b.jpg"],
    ] {
        runner.assert_refuses(&[&now[..], refused].concat());
    }
    let help = runner.run(&["--help"]);
    assert_eq!(help.status.code(), Some(0));
    assert!(
        String::from_utf8_lossy(&help.stdout).starts_with("usage: keyhole-sign [--exp N"),
        "{}",
        String::from_utf8_lossy(&help.stdout)
    );
}
