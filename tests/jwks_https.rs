//! `KEYHOLE_JWKS_URL=https://…` through a real nginx: a local HTTPS server (Python's
//! `http.server` wrapped in `ssl`, started and stopped by pid) with a certificate from
//! a test CA made by openssl here. Trusted through `KEYHOLE_JWKS_CA_FILE` it serves
//! keys; without the CA nothing is trusted; a redirect on the same origin is followed
//! and one to another host refused; and the keys rotate under load with no request
//! lost, the last good set kept while the endpoint fails.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::Env;
use common::jwt::*;

/// The HTTPS server: serves the files of `root` by name, `/same` redirects to
/// `/jwks.json`, `/away` to the same file on `localhost` (another host name for the
/// same server, which its certificate also names).
const SERVER: &str = r#"
import http.server, os, ssl, sys
root, cert, key = sys.argv[1], sys.argv[2], sys.argv[3]
class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *args):
        pass
    def answer(self, status, body=b"", location=None):
        self.send_response(status)
        if location:
            self.send_header("Location", location)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)
    def do_GET(self):
        port = self.server.server_address[1]
        if self.path == "/same":
            return self.answer(302, location="/jwks.json")
        if self.path == "/away":
            return self.answer(302, location="https://localhost:%d/jwks.json" % port)
        try:
            with open(os.path.join(root, os.path.basename(self.path)), "rb") as f:
                body = f.read()
        except OSError:
            return self.answer(503)
        self.answer(200, body)
server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
context.load_cert_chain(cert, key)
server.socket = context.wrap_socket(server.socket, server_side=True)
print(server.server_address[1], flush=True)
server.serve_forever()
"#;

/// A test CA and a server certificate for 127.0.0.1 and localhost, made by openssl.
fn make_certificates(dir: &Path) {
    let p = |name: &str| dir.join(name).to_str().unwrap().to_owned();
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-subj",
        "/CN=keyhole test CA",
        "-days",
        "2",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
        "-keyout",
        &p("ca.key"),
        "-out",
        &p("ca.pem"),
    ]);
    openssl(&[
        "req",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-subj",
        "/CN=127.0.0.1",
        "-keyout",
        &p("server.key"),
        "-out",
        &p("server.csr"),
    ]);
    std::fs::write(
        dir.join("server.ext"),
        "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n",
    )
    .unwrap();
    openssl(&[
        "x509",
        "-req",
        "-in",
        &p("server.csr"),
        "-CA",
        &p("ca.pem"),
        "-CAkey",
        &p("ca.key"),
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        &p("server.ext"),
        "-out",
        &p("server.pem"),
    ]);
}

/// The HTTPS JWKS server, stopped by pid when dropped.
struct HttpsJwks {
    dir: tempfile::TempDir,
    child: Child,
    port: u16,
}

impl HttpsJwks {
    fn start(kids: &[&str]) -> HttpsJwks {
        let dir = tempfile::Builder::new()
            .prefix("keyhole-jwks-https-")
            .tempdir()
            .unwrap();
        make_certificates(dir.path());
        std::fs::create_dir(dir.path().join("www")).unwrap();
        std::fs::write(dir.path().join("server.py"), SERVER).unwrap();
        let mut child = Command::new("python3")
            .arg(dir.path().join("server.py"))
            .arg(dir.path().join("www"))
            .arg(dir.path().join("server.pem"))
            .arg(dir.path().join("server.key"))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("python3 is needed (apt-get install python3): {e}"));
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line.trim().parse().unwrap_or_else(|_| {
            let _ = child.kill();
            panic!("the HTTPS server did not start: {line:?}")
        });
        let server = HttpsJwks { dir, child, port };
        server.publish(kids);
        server
    }

    fn url(&self, path: &str) -> String {
        format!("https://127.0.0.1:{}{path}", self.port)
    }

    fn ca(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    /// Replaces `/jwks.json` atomically with a set of the test keys `kids` (none: the
    /// endpoint answers 503).
    fn publish(&self, kids: &[&str]) {
        let target = self.dir.path().join("www/jwks.json");
        if kids.is_empty() {
            let _ = std::fs::remove_file(&target);
            return;
        }
        let staging = self.dir.path().join("jwks.json.new");
        std::fs::write(&staging, jwks_with(kids)).unwrap();
        std::fs::rename(&staging, &target).unwrap();
    }
}

impl Drop for HttpsJwks {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(url: &str, ca: Option<&Path>, refresh: &str) -> Env {
    let ca = ca.map(|path| path.to_str().unwrap().to_owned());
    let mut vars = vec![
        ("KEYHOLE_JWKS_URL", url),
        ("KEYHOLE_JWKS_REFRESH", refresh),
        ("KEYHOLE_JWKS_REFETCH_INTERVAL", "1s"),
    ];
    if let Some(ca) = &ca {
        vars.push(("KEYHOLE_JWKS_CA_FILE", ca));
    }
    let env = Env::builder().vars(&vars).start();
    env.put("protected/a.jpg", FILE);
    env
}

/// Waits (at most 10 s) until keyhole's log contains `text`.
fn wait_for_log(env: &Env, text: &str) {
    let start = Instant::now();
    while !env.keyhole.log_text().contains(text) {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "`{text}` not logged: {}",
            env.keyhole.log_text()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn an_https_jwks_is_trusted_through_the_ca_file_and_nothing_else() {
    let server = HttpsJwks::start(&["e256"]);
    let token = token_for("e256", &claims());

    let env = start(&server.url("/jwks.json"), Some(&server.ca()), "1h");
    wait_for_log(&env, "JWKS fetched");
    assert_served(&env, &get_token(&env, PATH, &token), "https JWKS, CA file");

    // Without the CA file the certificate is not trusted: no keys, the token denied.
    let untrusted = start(&server.url("/jwks.json"), None, "1h");
    wait_for_log(&untrusted, "JWKS fetch at start failed");
    assert!(
        untrusted.keyhole.log_text().contains("TLS"),
        "{}",
        untrusted.keyhole.log_text()
    );
    assert_denied(
        &untrusted,
        &get_token(&untrusted, PATH, &token),
        "unknown-key",
        "untrusted",
    );

    // A redirect on the same origin is followed; one to another host is refused.
    let same = start(&server.url("/same"), Some(&server.ca()), "1h");
    wait_for_log(&same, "JWKS fetched");
    assert_served(
        &same,
        &get_token(&same, PATH, &token),
        "same-origin redirect",
    );
    let away = start(&server.url("/away"), Some(&server.ca()), "1h");
    wait_for_log(&away, "JWKS fetch at start failed");
    assert!(
        away.keyhole
            .log_text()
            .contains("another scheme, host or port"),
        "{}",
        away.keyhole.log_text()
    );
    assert_denied(
        &away,
        &get_token(&away, PATH, &token),
        "unknown-key",
        "redirect away",
    );
}

#[test]
fn a_ca_file_without_certificates_stops_keyhole_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("ca.pem");
    std::fs::write(&bad, "not a certificate\n").unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_keyhole"))
        .arg("serve")
        .env_clear()
        .env("KEYHOLE_KEYS", common::KEY_LINE)
        .env("KEYHOLE_JWKS_URL", "https://127.0.0.1:9/jwks.json")
        .env("KEYHOLE_JWKS_CA_FILE", &bad)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("KEYHOLE_JWKS_CA_FILE"), "{stderr}");
    assert!(stderr.contains("no PEM certificate"), "{stderr}");
}

/// Load threads send tokens of the key in use while the identity provider rotates:
/// add the new key (the first token naming it makes keyhole refetch), move every
/// signer to it, drop the old key (gone after the next refresh), then fail the
/// endpoint (the last good set stays). No request signed with a published key is
/// refused at any point.
#[test]
fn https_jwks_rotation_under_load_loses_no_request() {
    const THREADS: usize = 4;
    const MAX_REQUESTS: usize = 3000;
    let server = HttpsJwks::start(&["e256"]);
    let env = Arc::new(start(&server.url("/jwks.json"), Some(&server.ca()), "1s"));
    wait_for_log(&env, "JWKS fetched");

    let use_new = Arc::new(AtomicBool::new(false));
    let switched = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicUsize::new(0));
    let failures = Arc::new(Mutex::new(Vec::new()));
    let old_token = token_for("e256", &claims());
    let new_token = token_for("ed", &claims());
    let workers: Vec<_> = (0..THREADS)
        .map(|_| {
            let (env, use_new, switched, stop, sent, failures) = (
                Arc::clone(&env),
                Arc::clone(&use_new),
                Arc::clone(&switched),
                Arc::clone(&stop),
                Arc::clone(&sent),
                Arc::clone(&failures),
            );
            let (old_token, new_token) = (old_token.clone(), new_token.clone());
            std::thread::spawn(move || {
                let mut on_new = false;
                while !stop.load(Ordering::SeqCst)
                    && sent.fetch_add(1, Ordering::SeqCst) < MAX_REQUESTS
                {
                    if !on_new && use_new.load(Ordering::SeqCst) {
                        on_new = true;
                        switched.fetch_add(1, Ordering::SeqCst);
                    }
                    let token = if on_new { &new_token } else { &old_token };
                    let response = get_token(&env, PATH, token);
                    if response.status != 200 {
                        failures
                            .lock()
                            .unwrap()
                            .push((on_new, response.head.clone()));
                    }
                }
            })
        })
        .collect();
    let wait = |what: &str, done: &dyn Fn() -> bool| {
        let start = Instant::now();
        while !done() {
            assert!(
                start.elapsed() < Duration::from_secs(15),
                "timed out: {what}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    wait("load running", &|| sent.load(Ordering::SeqCst) > 50);

    // 1. The new key is published; its first token makes keyhole refetch.
    server.publish(&["e256", "ed"]);
    assert_served(
        &env,
        &get_token(&env, PATH, &new_token),
        "new key after refetch",
    );
    // 2. Every signer moves to the new key.
    use_new.store(true, Ordering::SeqCst);
    wait("every thread on the new key", &|| {
        switched.load(Ordering::SeqCst) == THREADS
    });
    // 3. The old key is withdrawn: gone after the next refresh.
    server.publish(&["ed"]);
    wait("the old key refused", &|| {
        get_token(&env, PATH, &old_token).status == 403
    });
    // 4. The endpoint fails: refreshes fail and the last good set stays.
    server.publish(&[]);
    wait_for_log(&env, "JWKS refresh failed");
    assert_served(&env, &get_token(&env, PATH, &new_token), "last good set");
    stop.store(true, Ordering::SeqCst);
    for worker in workers {
        worker.join().unwrap();
    }
    let failures = failures.lock().unwrap();
    assert!(
        failures.is_empty(),
        "{} refused: {:?}",
        failures.len(),
        failures.first()
    );
    assert!(sent.load(Ordering::SeqCst) > 100);
    env.assert_no_secret_logged();
}
