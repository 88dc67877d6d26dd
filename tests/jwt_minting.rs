//! Minting file-scoped JWTs: `keyhole mint`, and PyJWT and jose following docs/jwt.md
//! (installed once per build by `common/interop.rs`); every token they print opens its
//! file through a real nginx.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::path::Path;
use std::process::Command;

use common::jwt::*;

fn run_mint(args: &[&str]) -> std::process::Output {
    let hmac = hmac_keys_var();
    Command::new(env!("CARGO_BIN_EXE_keyhole"))
        .arg("mint")
        .args(args)
        .env_clear()
        .env("KEYHOLE_KEYS", common::KEY_LINE)
        .env("KEYHOLE_JWT_KEYS", hmac)
        .output()
        .unwrap()
}

#[test]
fn keyhole_mint_prints_urls_that_open_the_file() {
    let env = start();
    let output = run_mint(&[PATH, "--once", "--base", "https://files.example/"]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let url = String::from_utf8(output.stdout).unwrap();
    let target = url.trim().strip_prefix("https://files.example").unwrap();
    assert!(target.starts_with(&format!("{PATH}?token=")), "{target}");
    assert_served(&env, &env.get(target), "minted, first use");
    assert_denied(&env, &env.get(target), "replayed", "minted, second use");

    let scoped = run_mint(&[
        "/protected/d/c.jpg",
        "--scope",
        "/protected/d/",
        "--ttl",
        "2m",
    ]);
    let target = String::from_utf8(scoped.stdout).unwrap().trim().to_owned();
    let token = target.split_once("token=").unwrap().1;
    assert_eq!(get_token(&env, "/protected/d/c.jpg", token).status, 200);
    assert_denied(
        &env,
        &get_token(&env, PATH, token),
        "out-of-scope",
        "minted scope",
    );

    // A private key from a file.
    let pem = key_dir().join("ec256.pem");
    let _ = keys();
    let output = run_mint(&[
        PATH,
        "--key-file",
        pem.to_str().unwrap(),
        "--kid",
        "e256",
        "--alg",
        "ES256",
    ]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let target = String::from_utf8(output.stdout).unwrap().trim().to_owned();
    assert_served(&env, &env.get(&target), "minted with ES256 from a file");

    // `explain` reads a token without using it up.
    let once = run_mint(&[PATH, "--once"]);
    let target = String::from_utf8(once.stdout).unwrap().trim().to_owned();
    let explained = Command::new(env!("CARGO_BIN_EXE_keyhole"))
        .args(["explain", &target])
        .env_clear()
        .env("KEYHOLE_KEYS", common::KEY_LINE)
        .env("KEYHOLE_JWT_KEYS", hmac_keys_var())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&explained.stdout).into_owned();
    assert_eq!(explained.status.code(), Some(0), "{text}");
    assert!(
        text.contains("reason:     ok") && text.contains("jwt:        present in `token`"),
        "{text}"
    );
    assert!(
        !text.contains(target.split_once("token=").unwrap().1),
        "explain printed the token"
    );
    assert_served(&env, &env.get(&target), "explained token still unused");

    // Too long a lifetime is refused at minting time.
    let output = run_mint(&[PATH, "--ttl", "1h"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("KEYHOLE_JWT_MAX_LIFETIME"));
}

fn lines(output: std::process::Output, tool: &str) -> Vec<String> {
    assert!(
        output.status.success(),
        "{tool}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

#[test]
fn tokens_minted_by_pyjwt_and_jose_following_the_docs_are_accepted() {
    let env = start();
    let tools = common::interop::with_pyjwt();
    common::interop::with_jose();
    let _ = keys();
    let key_dir = key_dir();
    let interop = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop");

    let python = Command::new("python3")
        .arg(interop.join("mint.py"))
        .args([PATH, SECRET_B64, "h256"])
        .arg(key_dir.join("ed.pem"))
        .arg("ed")
        .env("PYTHONPATH", tools.join("py"))
        .output()
        .unwrap();
    let python = lines(python, "PyJWT");
    assert_eq!(python.len(), 2);
    assert_served(&env, &env.get(&python[0]), "PyJWT HS256 single-use");
    assert_denied(
        &env,
        &env.get(&python[0]),
        "replayed",
        "PyJWT HS256 replayed",
    );
    assert_served(&env, &env.get(&python[1]), "PyJWT EdDSA");

    // jose is ESM: the script runs from a copy beside its node_modules.
    let script = tools.join("node/mint.mjs");
    std::fs::copy(interop.join("mint.mjs"), &script).unwrap();
    let node = Command::new("node")
        .arg(&script)
        .args([PATH, SECRET_B64, "h256"])
        .arg(key_dir.join("ec256.pem"))
        .arg("e256")
        .output()
        .unwrap();
    let node = lines(node, "jose");
    assert_eq!(node.len(), 2);
    assert_served(&env, &env.get(&node[0]), "jose HS256 single-use");
    assert_denied(&env, &env.get(&node[0]), "replayed", "jose HS256 replayed");
    assert_served(&env, &env.get(&node[1]), "jose ES256");
}
