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
    /// `keyhole_jwt_keys_file` with these `kid:ALG:secret` entries (comma-separated):
    /// HMAC JWTs without a use limit are decided in nginx.
    pub jwt_keys: Option<String>,
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
        let jwt = match &self.jwt_keys {
            Some(entries) => {
                let file = dir.join("module-jwt.keys");
                std::fs::write(&file, format!("{}\n", entries.replace(',', "\n"))).unwrap();
                format!("    keyhole_jwt_keys_file {};\n", file.display())
            }
            None => String::new(),
        };
        Module {
            so: module_so(),
            http: format!(
                "    keyhole_keys_file {};\n    keyhole_sidecar {};\n{jwt}{}",
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

/// The one HMAC JWT key of the module tests (`kid:ALG:secret`), for both
/// `KEYHOLE_JWT_KEYS` and `keyhole_jwt_keys_file`.
pub fn jwt_key_line() -> String {
    format!("mh1:HS256:{}", super::TEST_SECRET)
}

/// An HS256 token of `mh1` (or of a key id the module does not hold) over `claims`,
/// with keyhole's file-token header.
pub fn hmac_jwt(kid: &str, claims: &serde_json::Value) -> String {
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let header = serde_json::json!({"alg": "HS256", "typ": "keyhole+jwt", "kid": kid});
    let message = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let secret = URL_SAFE_NO_PAD.decode(super::TEST_SECRET).unwrap();
    let key = jsonwebtoken::EncodingKey::from_secret(&secret);
    let signature =
        jsonwebtoken::crypto::sign(message.as_bytes(), &key, jsonwebtoken::Algorithm::HS256)
            .unwrap();
    format!("{message}.{signature}")
}

/// Claims of a token for `path`, valid for a minute from `now`.
pub fn jwt_claims(path: &str, now: u64) -> serde_json::Value {
    serde_json::json!({"aud": "keyhole", "iat": now, "exp": now + 60, "kh_path": path})
}
