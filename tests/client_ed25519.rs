//! Ed25519 in the five reference signers (`clients/`): given the seed line
//! (`k1:ed25519-seed:…`) each reproduces every URL and cookie of
//! `tests/vectors/signed-urls-ed25519.json` byte for byte (and, but the shell one, its
//! own `--vectors` / `--cookie-vectors` self-check passes on that file); given the
//! public line each refuses to sign (exit 2, a message, nothing on stdout); and a URL
//! and a cookie each signs open through nginx and a keyhole holding only the public
//! line. A missing runtime fails with the package to install; nothing skips.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::ffi::OsString;
use std::path::PathBuf;

use common::Env;
use common::signers::*;
use serde_json::Value;

fn vectors_file() -> PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/signed-urls-ed25519.json")
}

fn vectors() -> Value {
    serde_json::from_str(&std::fs::read_to_string(vectors_file()).unwrap()).unwrap()
}

fn seed_line(v: &Value) -> String {
    format!("k1:ed25519-seed:{}", v["key"]["seed"].as_str().unwrap())
}

fn public_line(v: &Value) -> String {
    format!("k1:ed25519:{}", v["key"]["public"].as_str().unwrap())
}

/// Runs and returns stdout without its final newline; any failure is fatal.
fn sign(runner: &Runner, keys: &str, args: &[String]) -> String {
    let output = runner.run_with_keys(keys, args);
    assert!(
        output.status.success(),
        "{}: exit {}\n{}",
        runner.name,
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    let text = String::from_utf8(output.stdout).unwrap();
    text.strip_suffix('\n').unwrap().to_owned()
}

fn url_args(input: &Value, now: u64) -> Vec<String> {
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

fn cookie_args(input: &Value, now: u64) -> Vec<String> {
    let mut args: Vec<String> = [
        "--cookie",
        "--exp",
        &input["exp"].as_u64().unwrap().to_string(),
        "--now",
        &now.to_string(),
        "--same-site",
        input["same_site"].as_str().unwrap(),
        "--methods",
        input["methods"].as_str().unwrap(),
    ]
    .map(str::to_owned)
    .to_vec();
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

fn check(signer: &Signer, has_vectors_mode: bool) {
    let runner = Runner::prepare(signer);
    let v = vectors();
    let (seed, public) = (seed_line(&v), public_line(&v));
    let now = v["now"].as_u64().unwrap();

    let urls = v["signing"].as_array().unwrap();
    assert!(urls.len() >= 17);
    for case in urls {
        let name = case["name"].as_str().unwrap();
        let args = url_args(&case["input"], now);
        assert_eq!(
            sign(&runner, &seed, &args),
            case["url"].as_str().unwrap(),
            "{}: url of `{name}`",
            runner.name
        );
        let mut text_args = vec!["--string-to-sign".to_owned()];
        text_args.extend(args);
        assert_eq!(
            sign(&runner, &seed, &text_args),
            case["string_to_sign"].as_str().unwrap(),
            "{}: signed text of `{name}`",
            runner.name
        );
    }
    let cookies = v["cookies"].as_array().unwrap();
    assert!(cookies.len() >= 6);
    for case in cookies {
        let name = case["name"].as_str().unwrap();
        let mut args = cookie_args(&case["input"], now);
        args.push(case["input"]["scope"].as_str().unwrap().to_owned());
        assert_eq!(
            sign(&runner, &seed, &args),
            case["set_cookie"].as_str().unwrap(),
            "{}: cookie `{name}`",
            runner.name
        );
    }

    if has_vectors_mode {
        for mode in ["--vectors", "--cookie-vectors"] {
            let output = runner.run(&[OsString::from(mode), vectors_file().into()]);
            let report = String::from_utf8_lossy(&output.stdout);
            assert!(
                output.status.success(),
                "{}: {mode}:\n{report}",
                runner.name
            );
            assert!(
                !report.contains("FAIL"),
                "{}: {mode}:\n{report}",
                runner.name
            );
            assert!(report.lines().filter(|l| l.starts_with("ok")).count() >= 11);
        }
    }

    // The public line cannot sign, URL or cookie.
    for args in [
        vec![
            "--ttl".to_owned(),
            "60".to_owned(),
            "/protected/team/a.jpg".to_owned(),
        ],
        vec![
            "--cookie".to_owned(),
            "--ttl".to_owned(),
            "60".to_owned(),
            "/protected/team/".to_owned(),
        ],
    ] {
        let output = runner.run_with_keys(&public, &args);
        assert_eq!(output.status.code(), Some(2), "{}: {args:?}", runner.name);
        assert!(output.stdout.is_empty(), "{}: {args:?}", runner.name);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains("Ed25519 public key"),
            "{}: {stderr}",
            runner.name
        );
    }

    // What it signs with the seed opens through a keyhole holding only the public line.
    let env = Env::builder()
        .vars(&[("KEYHOLE_KEYS", public.as_str())])
        .start();
    env.put("protected/team/a.jpg", b"team bytes");
    let url = sign(
        &runner,
        &seed,
        &[
            "--ttl".to_owned(),
            "300".to_owned(),
            "/protected/team/a.jpg".to_owned(),
        ],
    );
    let response = env.get(&url);
    assert_eq!(
        response.status, 200,
        "{}: {url}: {}",
        runner.name, response.head
    );
    let tampered = url.replace("/protected/team/a.jpg", "/protected/team/b.jpg");
    env.put("protected/team/b.jpg", b"other bytes");
    assert_eq!(env.get(&tampered).status, 403, "{}", runner.name);
    assert_eq!(env.last_reason(), "bad-signature");
    let header = sign(
        &runner,
        &seed,
        &[
            "--cookie".to_owned(),
            "--ttl".to_owned(),
            "300".to_owned(),
            "/protected/team/".to_owned(),
        ],
    );
    let pair = header.split(';').next().unwrap();
    let response = env.request(
        "GET",
        b"/protected/team/a.jpg",
        &format!("Cookie: {pair}\r\n"),
    );
    assert_eq!(response.status, 200, "{}: {}", runner.name, response.head);
}

#[test]
fn python_signer_signs_with_ed25519_seeds() {
    check(&PYTHON, true);
}

#[test]
fn node_signer_signs_with_ed25519_seeds() {
    check(&NODE, true);
}

#[test]
fn php_signer_signs_with_ed25519_seeds() {
    check(&PHP, true);
}

#[test]
fn go_signer_signs_with_ed25519_seeds() {
    check(&GO, true);
}

#[test]
fn shell_signer_signs_with_ed25519_seeds() {
    check(&SHELL, false);
}
