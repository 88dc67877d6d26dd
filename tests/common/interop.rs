//! PyJWT (with `cryptography`) and `jose`, installed once per build into one folder of
//! Cargo's test temp dir, for the tests that mint tokens with them the way the docs
//! tell a developer to. Each tool installs on its own, so a missing runtime fails only
//! the tests that need it; a failed install fails with a hint, never skips.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The PyJWT release line the docs are checked against.
pub const PYJWT: &str = "pyjwt[crypto]==2.*";
/// The jose release line the docs are checked against.
pub const JOSE: &str = "jose@6";

/// The shared folder: `py/` (for `PYTHONPATH`) and `node/` (with `node_modules/`).
fn dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("interop")
}

/// Installs PyJWT when missing; returns the shared folder (`py/` goes on `PYTHONPATH`).
pub fn with_pyjwt() -> PathBuf {
    static DONE: OnceLock<()> = OnceLock::new();
    let dir = dir();
    DONE.get_or_init(|| {
        if dir.join("py/jwt").is_dir() {
            return;
        }
        let status = Command::new("python3")
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
            ])
            .arg("--target")
            .arg(dir.join("py"))
            .arg(PYJWT)
            // Debian's pip refuses installs without this, even into --target.
            .env("PIP_BREAK_SYSTEM_PACKAGES", "1")
            .status();
        assert!(
            status.is_ok_and(|s| s.success()),
            "installing PyJWT failed: needs python3 with pip and access to PyPI \
             (apt-get install python3-pip)"
        );
    });
    dir
}

/// Installs jose when missing; returns the shared folder (scripts copied into `node/`
/// import it from `node/node_modules`).
pub fn with_jose() -> PathBuf {
    static DONE: OnceLock<()> = OnceLock::new();
    let dir = dir();
    DONE.get_or_init(|| {
        if dir.join("node/node_modules/jose").is_dir() {
            return;
        }
        let status = Command::new("npm")
            .args(["install", "--silent", "--no-audit", "--no-fund", "--prefix"])
            .arg(dir.join("node"))
            .arg(JOSE)
            .status();
        assert!(
            status.is_ok_and(|s| s.success()),
            "installing jose failed: needs node >= 18 with npm and access to the npm \
             registry (apt-get install nodejs npm)"
        );
    });
    dir
}
