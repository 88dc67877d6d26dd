//! Two keyhole instances on one shared store URL (one node, Sentinel or Cluster),
//! behind one real nginx upstream, and the requests the shared-store tests send: JWTs
//! signed with `j1`, single-use ones, 64 at once through nginx, straight to one
//! instance's `/auth`, and a revocation through one instance's admin listener.

use std::path::Path;
use std::sync::{Arc, Barrier};

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use keyhole::config::Listen;
use keyhole::keys::Secret;
use keyhole::verify::jwt;
use keyhole_support::nginx::{Layout, Stack};
use serde_json::{Value, json};

use super::{JWT_KEY_LINE, Keyhole, Response, TEST_SECRET, free_port, now, send_raw};

/// The protected file and its path.
pub const FILE: &[u8] = b"shared store protected bytes";
/// Where it is served.
pub const PATH: &str = "/protected/a.jpg";

/// Two instances on one store, nginx in front of both. Field order is drop order:
/// nginx, the instances, the folder.
pub struct Pair {
    stack: Stack,
    /// The two instances.
    pub instances: Vec<Keyhole>,
    dir: tempfile::TempDir,
}

fn start_instance(dir: &Path, name: &str, url: &str, extra: &[(&str, &str)]) -> Keyhole {
    let listen = Listen::Tcp(format!("127.0.0.1:{}", free_port()).parse().unwrap());
    let mut env = vec![
        ("KEYHOLE_JWT_KEYS", JWT_KEY_LINE),
        ("KEYHOLE_STORE", url),
        ("KEYHOLE_STORE_TIMEOUT", "250ms"),
    ];
    env.extend_from_slice(extra);
    Keyhole::start(dir, name, listen, &env)
}

impl Pair {
    /// Two instances with `KEYHOLE_STORE=url` plus `extra`, and nginx.
    pub fn start(url: &str, extra: &[(&str, &str)]) -> Pair {
        let dir = tempfile::Builder::new()
            .prefix("keyhole-shared-store-")
            .tempdir()
            .unwrap();
        let instances = vec![
            start_instance(dir.path(), "keyhole-a", url, extra),
            start_instance(dir.path(), "keyhole-b", url, extra),
        ];
        let root = dir.path().join("www");
        std::fs::create_dir_all(root.join("protected")).unwrap();
        std::fs::write(root.join("protected/a.jpg"), FILE).unwrap();
        let mut last_error = None;
        for _ in 0..5 {
            let layout = Layout {
                dir: dir.path().join("nginx"),
                port: free_port(),
                keyhole: super::upstream(&instances[0].listen),
                more_keyholes: vec![super::upstream(&instances[1].listen)],
                root: root.clone(),
                decision_cache: false,
                error_log_level: None,
            };
            match Stack::start(layout, "") {
                Ok(stack) => {
                    return Pair {
                        stack,
                        instances,
                        dir,
                    };
                }
                Err(error) => last_error = Some(error),
            }
        }
        panic!("nginx did not start: {}", last_error.unwrap());
    }

    /// `GET target` through nginx.
    pub fn get(&self, target: &str) -> Response {
        let request =
            format!("GET {target} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
        send_raw(self.stack.layout.port, request.as_bytes())
    }

    /// `count` copies of `GET target` through nginx, released at once: the statuses.
    pub fn race(&self, target: &str, count: usize) -> Vec<u16> {
        let port = self.stack.layout.port;
        let request =
            format!("GET {target} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
        let barrier = Arc::new(Barrier::new(count));
        let handles: Vec<_> = (0..count)
            .map(|_| {
                let barrier = Arc::clone(&barrier);
                let request = request.clone();
                std::thread::spawn(move || {
                    barrier.wait();
                    send_raw(port, request.as_bytes()).status
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    }

    /// Every instance's log.
    pub fn logs(&self) -> String {
        self.instances
            .iter()
            .map(Keyhole::log_text)
            .collect::<Vec<_>>()
            .join("\n---\n")
    }

    /// The test's folder.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

fn port_of(keyhole: &Keyhole) -> u16 {
    match &keyhole.listen {
        Listen::Tcp(addr) => addr.port(),
        Listen::Unix(_) => unreachable!("TCP only here"),
    }
}

/// Asks one instance's `/auth` directly: (status, reason code).
pub fn auth(keyhole: &Keyhole, target: &str) -> (u16, String) {
    let request = format!(
        "GET /auth HTTP/1.1\r\nHost: keyhole\r\nConnection: close\r\nX-Original-URI: {target}\r\nX-Original-Method: GET\r\nX-Real-IP: 127.0.0.1\r\n\r\n"
    );
    let response = send_raw(port_of(keyhole), request.as_bytes());
    (
        response.status,
        response.header("x-keyhole-reason").unwrap_or_default(),
    )
}

/// `/readyz` of one instance: its status.
pub fn readyz(keyhole: &Keyhole) -> u16 {
    send_raw(
        keyhole.admin_port,
        b"GET /readyz HTTP/1.1\r\nHost: admin\r\nConnection: close\r\n\r\n",
    )
    .status
}

/// `/metrics` of one instance.
pub fn metrics(keyhole: &Keyhole) -> String {
    let response = send_raw(
        keyhole.admin_port,
        b"GET /metrics HTTP/1.1\r\nHost: admin\r\nConnection: close\r\n\r\n",
    );
    String::from_utf8_lossy(&response.body).into_owned()
}

/// `keyhole revoke ARGS` through one instance's admin listener (the instance writes
/// the revocation into the shared store).
pub fn revoke_through(keyhole: &Keyhole, args: &[&str]) {
    let mut all = vec!["revoke"];
    all.extend_from_slice(args);
    let output = keyhole.admin_command(&all).output().unwrap();
    assert!(
        output.status.success(),
        "keyhole revoke {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A keyhole JWT for PATH with these extra claims, signed with `j1`.
pub fn token(extra: Value) -> String {
    let mut claims = json!({
        "aud": "keyhole",
        "iat": now().0,
        "exp": now().plus(60).0,
        "kh_path": PATH,
    });
    for (name, value) in extra.as_object().unwrap() {
        claims[name] = value.clone();
    }
    let mut header = Header::new(Algorithm::HS256);
    header.typ = Some(jwt::TOKEN_TYPE.into());
    header.kid = Some("j1".into());
    let secret = Secret::from_base64url(TEST_SECRET).unwrap();
    jsonwebtoken::encode(&header, &claims, &EncodingKey::from_secret(secret.expose())).unwrap()
}

/// PATH with a single-use token of id `jti`.
pub fn once(jti: &str) -> String {
    format!(
        "{PATH}?token={}",
        token(json!({"jti": jti, "kh_once": true}))
    )
}

/// The Redis key of a single-use token's use with `prefix`.
pub fn used_key(prefix: &str, jti: &str) -> String {
    keyhole::store::redis::key(prefix, "used", &format!("jwt:2:j1:{jti}#1"))
}
