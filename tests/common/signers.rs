//! The reference signers in `clients/` as the client tests run them: which runtime
//! each needs (a missing one fails with the Debian package to install, never skips),
//! how each is invoked, and the shared vector files.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

use super::KEY_LINE;

/// One reference signer and what it needs to run.
pub struct Signer {
    /// Folder below `clients/` and the name used in messages.
    pub name: &'static str,
    /// The program that must be on PATH.
    pub runtime: &'static str,
    /// The Debian package providing `runtime`.
    pub package: &'static str,
}

pub const PYTHON: Signer = Signer {
    name: "python",
    runtime: "python3",
    package: "python3",
};
pub const NODE: Signer = Signer {
    name: "node",
    runtime: "node",
    package: "nodejs",
};
pub const PHP: Signer = Signer {
    name: "php",
    runtime: "php",
    package: "php-cli",
};
pub const GO: Signer = Signer {
    name: "go",
    runtime: "go",
    package: "golang-go",
};
pub const SHELL: Signer = Signer {
    name: "shell",
    runtime: "openssl",
    package: "openssl",
};

/// A signer ready to run: the program and the arguments before the options.
pub struct Runner {
    pub name: &'static str,
    pub program: PathBuf,
    pub leading: Vec<OsString>,
    /// Holds the Go binary's folder for the runner's lifetime.
    pub _build: Option<tempfile::TempDir>,
}

pub fn clients_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("clients")
}

pub fn vectors_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/signed-urls.json")
}

/// Fails (never skips) when the runtime is missing, naming the package to install.
pub fn require_runtime(signer: &Signer) {
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
    pub fn prepare(signer: &Signer) -> Runner {
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
    pub fn run<S: AsRef<std::ffi::OsStr>>(&self, args: &[S]) -> Output {
        Command::new(&self.program)
            .args(&self.leading)
            .args(args)
            .env("KEYHOLE_KEYS", KEY_LINE)
            .output()
            .unwrap_or_else(|e| panic!("{}: cannot run {}: {e}", self.name, self.program.display()))
    }

    /// Runs the signer with `args` and `KEYHOLE_KEYS` set to `keys` (Ed25519 lines).
    pub fn run_with_keys<S: AsRef<std::ffi::OsStr>>(&self, keys: &str, args: &[S]) -> Output {
        Command::new(&self.program)
            .args(&self.leading)
            .args(args)
            .env("KEYHOLE_KEYS", keys)
            .output()
            .unwrap_or_else(|e| panic!("{}: cannot run {}: {e}", self.name, self.program.display()))
    }

    /// Runs and returns stdout without its final newline; any failure is fatal.
    pub fn sign<S: AsRef<std::ffi::OsStr>>(&self, args: &[S]) -> String {
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
    pub fn assert_refuses<S: AsRef<std::ffi::OsStr> + std::fmt::Debug>(&self, args: &[S]) {
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

/// A vector file, after checking that it uses the key the signers are given.
pub fn load_vectors(path: &std::path::Path) -> Value {
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

/// Asserts that a self-check printed one `ok` line per vector (at least `at_least`) and
/// exited 0.
pub fn assert_self_check(output: &Output, at_least: usize, what: &str) {
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

/// Go's build cache when the environment has none (no HOME, no GOCACHE).
pub fn go_cache(command: &mut Command) -> &mut Command {
    if std::env::var_os("HOME").is_none() && std::env::var_os("GOCACHE").is_none() {
        command.env("GOCACHE", std::env::temp_dir().join("keyhole-go-cache"));
    }
    command
}

pub fn cookie_vectors_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/cookies.json")
}
