//! File-scoped JWTs minted by the Python (PyJWT) and Node (`jose`) reference signers
//! (`--jwt`), following docs/jwt.md: keyhole accepts every token they print, through a
//! real nginx. PyJWT and jose are installed once per build (`common/interop.rs`).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::process::Command;

use common::Env;
use common::signers::*;
use keyhole::canonical::encode;

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
    let env = Env::builder()
        .vars(&[("KEYHOLE_JWT_KEYS", JWT_KEYS)])
        .start();
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
