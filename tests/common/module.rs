//! ngx_http_keyhole_module for the end-to-end tests: built once per test binary by
//! scripts/build-nginx-module (cached; it prints the `.so` path last), and the
//! directives an [`Env`](super::Env) adds when it loads it.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use keyhole_support::nginx::Module;

/// How the module is set up in an Env.
#[derive(Clone, Debug, Default)]
pub struct ModuleSetup {
    /// `keyhole_sidecar on;`: hand JWTs and session cookies to keyhole.
    pub sidecar: bool,
    /// Further `http`-level directives.
    pub http: String,
    /// Run nginx at this frozen time (libfaketime), for fixed-clock vectors.
    pub faketime: Option<String>,
    /// A master process (for reload tests).
    pub master: bool,
}

impl ModuleSetup {
    /// The module with `keyhole_sidecar on;`.
    pub fn with_sidecar() -> ModuleSetup {
        ModuleSetup {
            sidecar: true,
            ..ModuleSetup::default()
        }
    }

    /// Writes the key file into `dir` and names the directives.
    pub fn render(&self, dir: &Path, keys_text: &str) -> Module {
        let keys = dir.join("module.keys");
        std::fs::write(&keys, format!("{}\n", keys_text.replace(',', "\n"))).unwrap();
        Module {
            so: module_so(),
            http: format!(
                "    keyhole_keys_file {};\n    keyhole_sidecar {};\n{}",
                keys.display(),
                if self.sidecar { "on" } else { "off" },
                self.http
            ),
            faketime: self.faketime.clone(),
            master: self.master,
        }
    }
}

/// The built module (scripts/build-nginx-module, once per test binary).
pub fn module_so() -> PathBuf {
    static SO: OnceLock<PathBuf> = OnceLock::new();
    SO.get_or_init(|| {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let output = std::process::Command::new(root.join("scripts/build-nginx-module"))
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "scripts/build-nginx-module failed:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let stdout = String::from_utf8(output.stdout).unwrap();
        PathBuf::from(stdout.lines().last().unwrap().trim())
    })
    .clone()
}
