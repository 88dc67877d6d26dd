//! The end-to-end harness: a real nginx (from PATH) running the shipped files, and the
//! real `keyhole` binary, each on a free loopback port, both stopped by their process
//! id when the [`Env`] is dropped (pass or fail). Requests go out as raw bytes over
//! TCP so that no HTTP client normalises the URL first.
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use keyhole::canonical::{CanonicalPath, Scope};
use keyhole::claims::{IpBinding, Methods};
use keyhole::clock::{Clock, SystemClock, UnixTime};
use keyhole::config::Listen;
use keyhole::keys::KeyRing;
use keyhole::verify::signed_url::{self, UrlGrant};
use keyhole_support::nginx::{Layout, Stack, Upstream};

pub mod interop;
pub mod jwt;
pub mod module;
pub mod signers;

/// The test secret: 32 bytes 0x00..0x1f in base64url. Every test key uses it.
pub const TEST_SECRET: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8";

/// The test signed-URL key, id `k1`.
pub const KEY_LINE: &str = "k1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8";

/// The test JWT key, id `j1`, HS256.
pub const JWT_KEY_LINE: &str = "j1:HS256:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8";

/// Unpadded base64url, as every keyhole format writes it.
pub fn b64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// A free TCP port on 127.0.0.1 (bound, read, released).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Where nginx finds a keyhole that listens on `listen`.
pub fn upstream(listen: &Listen) -> Upstream {
    match listen {
        Listen::Tcp(addr) => Upstream::Tcp(*addr),
        Listen::Unix(path) => Upstream::Unix(path.clone()),
    }
}

/// A running keyhole process; dropped = killed by pid.
pub struct Keyhole {
    child: Child,
    /// Where it listens.
    pub listen: Listen,
    /// Its admin listener's port on 127.0.0.1.
    pub admin_port: u16,
    /// Its stderr (the log).
    pub log: PathBuf,
    /// The admin bearer token it was given (through `KEYHOLE_ADMIN_TOKEN_FILE`), unless
    /// the test set `KEYHOLE_ADMIN_TOKEN` or `_FILE` itself.
    pub admin_token: Option<String>,
}

/// A fresh random admin token (32 hex digits after a prefix).
pub fn random_admin_token() -> String {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).unwrap();
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("kh-admin-{hex}")
}

impl Keyhole {
    /// Starts `keyhole serve` with `KEYHOLE_KEYS=KEY_LINE` plus `env`, and waits
    /// until it accepts connections.
    pub fn start(dir: &Path, name: &str, listen: Listen, env: &[(&str, &str)]) -> Keyhole {
        let log = dir.join(format!("{name}.log"));
        let admin_port = free_port();
        let mut command = Command::new(env!("CARGO_BIN_EXE_keyhole"));
        command
            .arg("serve")
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("KEYHOLE_LISTEN", listen.to_string())
            .env("KEYHOLE_ADMIN_LISTEN", format!("127.0.0.1:{admin_port}"))
            .env("KEYHOLE_LOG", "keyhole=debug,info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap());
        if !env.iter().any(|(k, _)| k.starts_with("KEYHOLE_KEYS")) {
            command.env("KEYHOLE_KEYS", KEY_LINE);
        }
        let mut admin_token = None;
        if !env
            .iter()
            .any(|(k, _)| k.starts_with("KEYHOLE_ADMIN_TOKEN"))
        {
            let token = random_admin_token();
            let file = dir.join(format!("{name}.admin-token"));
            std::fs::write(&file, format!("{token}\n")).unwrap();
            command.env("KEYHOLE_ADMIN_TOKEN_FILE", &file);
            admin_token = Some(token);
        }
        for (key, value) in env {
            command.env(key, value);
        }
        let child = command.spawn().unwrap();
        let mut keyhole = Keyhole {
            child,
            listen,
            admin_port,
            log,
            admin_token,
        };
        keyhole.wait_ready();
        keyhole
    }

    fn wait_ready(&mut self) {
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(10) {
            let up = match &self.listen {
                Listen::Tcp(addr) => TcpStream::connect(addr).is_ok(),
                Listen::Unix(path) => std::os::unix::net::UnixStream::connect(path).is_ok(),
            };
            if up {
                return;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "keyhole exited with {status}: {}",
                    std::fs::read_to_string(&self.log).unwrap_or_default()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!(
            "keyhole did not start: {}",
            std::fs::read_to_string(&self.log).unwrap_or_default()
        );
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits for the process to exit on its own (after a signal), at most `limit`.
    pub fn wait_exit(&mut self, limit: Duration) -> std::process::ExitStatus {
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                start.elapsed() < limit,
                "keyhole did not exit within {limit:?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Stops it now (killed by pid); dropping it later does nothing more.
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// `keyhole ARGS` pointed at this instance's admin listener, with its admin token.
    pub fn admin_command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_keyhole"));
        command.args(args).env_clear().env(
            "KEYHOLE_ADMIN_LISTEN",
            format!("127.0.0.1:{}", self.admin_port),
        );
        if let Some(token) = &self.admin_token {
            command.env("KEYHOLE_ADMIN_TOKEN", token);
        }
        command
    }

    /// Its log so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Keyhole {
    fn drop(&mut self) {
        self.stop();
    }
}

/// How an [`Env`] starts: keyhole's extra variables, nginx's extra `http`-level
/// config, the optional decision cache, and the level of the shipped files' quiet
/// error logs.
#[derive(Default)]
pub struct EnvBuilder<'a> {
    vars: Vec<(&'a str, &'a str)>,
    http: String,
    decision_cache: bool,
    error_log_level: Option<&'static str>,
    module: Option<module::ModuleSetup>,
}

impl<'a> EnvBuilder<'a> {
    /// Loads ngx_http_keyhole_module (built by scripts/build-nginx-module) in front of
    /// the sidecar: `keyhole on;` in the protected location, `keyhole-module.conf`,
    /// the Env's keys in a `keyhole_keys_file`, and `setup`'s extra directives.
    pub fn module(mut self, setup: module::ModuleSetup) -> Self {
        self.module = Some(setup);
        self
    }

    /// Sets keyhole variables (the default test key unless `KEYHOLE_KEYS*` is set).
    pub fn vars(mut self, vars: &[(&'a str, &'a str)]) -> Self {
        self.vars.extend_from_slice(vars);
        self
    }

    /// Appends config inside nginx's `http` block (diagnostic servers, upstreams,
    /// further virtual hosts). `@PORT@`, `@ROOT@`, `@CONF@` (the folder of the
    /// rendered shipped files) and `@ACCESS_LOG@` are replaced with the Env's own.
    pub fn http(mut self, extra: &str) -> Self {
        self.http.push_str(extra);
        self
    }

    /// Uses the optional decision cache (`keyhole-cached.conf`).
    pub fn decision_cache(mut self) -> Self {
        self.decision_cache = true;
        self
    }

    /// Lowers every `error_log … crit;` of the shipped files to `level`: what a
    /// hostile run writes to nginx's error log at that level is then checked at drop
    /// like every other log.
    pub fn error_log_level(mut self, level: &'static str) -> Self {
        self.error_log_level = Some(level);
        self
    }

    /// Starts keyhole, then nginx.
    pub fn start(self) -> Env {
        Env::start_layout(
            &self.vars,
            &self.http,
            self.decision_cache,
            self.error_log_level,
            self.module.as_ref(),
        )
    }
}

/// nginx + keyhole with a document root. When dropped after a passing test, it checks
/// that no credential the test sent reached keyhole's log or nginx's access and error
/// logs.
pub struct Env {
    /// Credential values sent through this Env (signatures, tokens, cookie values).
    pub sent_secrets: std::sync::Mutex<Vec<String>>,
    /// Requests sent to nginx through this Env, so that reading the access log can
    /// wait for their lines (nginx may write a line just after the response).
    pub sent_requests: std::sync::atomic::AtomicUsize,
    /// Field order matters: nginx stops before keyhole, then the folder goes.
    pub stack: Stack,
    pub keyhole: Keyhole,
    pub dir: tempfile::TempDir,
    pub port: u16,
    pub keys: KeyRing,
}

impl Drop for Env {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            self.assert_no_secret_logged();
        }
    }
}

/// A response read off the wire.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub head: String,
    pub body: Vec<u8>,
}

impl Response {
    /// A header's value (first match, case-insensitive name).
    pub fn header(&self, name: &str) -> Option<String> {
        self.head.lines().skip(1).find_map(|line| {
            let (k, v) = line.split_once(':')?;
            k.eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
        })
    }
}

impl Env {
    /// Starts with the default test key and the shipped files as they are.
    pub fn start() -> Env {
        Env::builder().start()
    }

    /// An Env to configure before it starts.
    pub fn builder<'a>() -> EnvBuilder<'a> {
        EnvBuilder::default()
    }

    fn start_layout(
        env: &[(&str, &str)],
        extra_http: &str,
        decision_cache: bool,
        error_log_level: Option<&'static str>,
        module: Option<&module::ModuleSetup>,
    ) -> Env {
        let dir = tempfile::Builder::new()
            .prefix("keyhole-e2e-")
            .tempdir()
            .unwrap();
        let root = dir.path().join("www");
        std::fs::create_dir_all(root.join("protected")).unwrap();
        let keyhole_listen = Listen::Tcp(format!("127.0.0.1:{}", free_port()).parse().unwrap());
        let keyhole = Keyhole::start(dir.path(), "keyhole", keyhole_listen.clone(), env);
        let keys_text = env
            .iter()
            .find(|(k, _)| *k == "KEYHOLE_KEYS")
            .map(|(_, v)| *v)
            .unwrap_or(KEY_LINE);
        let keys = KeyRing::parse(keys_text).unwrap_or_else(|_| KeyRing::parse(KEY_LINE).unwrap());
        let mut last_error = None;
        for _ in 0..5 {
            let port = free_port();
            let layout = Layout {
                dir: dir.path().join("nginx"),
                port,
                keyhole: upstream(&keyhole_listen),
                more_keyholes: Vec::new(),
                root: root.clone(),
                decision_cache,
                error_log_level,
            };
            let extra_http = extra_http
                .replace("@PORT@", &port.to_string())
                .replace("@ROOT@", &root.display().to_string())
                .replace("@CONF@", &layout.conf_dir().display().to_string())
                .replace("@ACCESS_LOG@", &layout.access_log().display().to_string());
            let started = match module {
                Some(setup) => {
                    Stack::start_module(layout, &extra_http, &setup.render(dir.path(), keys_text))
                }
                None => Stack::start(layout, &extra_http),
            };
            match started {
                Ok(stack) => {
                    // The admin token must never reach a log either.
                    let sent_secrets =
                        std::sync::Mutex::new(keyhole.admin_token.iter().cloned().collect());
                    return Env {
                        sent_secrets,
                        sent_requests: std::sync::atomic::AtomicUsize::new(0),
                        stack,
                        keyhole,
                        dir,
                        port,
                        keys,
                    };
                }
                Err(error) => last_error = Some(error),
            }
        }
        panic!("nginx did not start: {}", last_error.unwrap());
    }

    /// Writes a file below the document root.
    pub fn put(&self, path: &str, bytes: &[u8]) {
        let full = self.stack.root().join(path.trim_start_matches('/'));
        std::fs::create_dir_all(full.parent().unwrap()).unwrap();
        std::fs::write(full, bytes).unwrap();
    }

    /// Sends raw bytes to nginx and reads the whole response (`Connection: close`).
    /// Every credential in the request is remembered for the log check at drop.
    pub fn raw(&self, request: &[u8]) -> Response {
        self.remember_secrets(request);
        self.note_request();
        send_raw(self.port, request)
    }

    /// Counts a request sent to nginx outside [`Env::raw`].
    pub fn note_request(&self) {
        self.sent_requests
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }

    /// Remembers the credential values in a raw request: every query value of 16 or
    /// more characters that is not a path, and every cookie value.
    pub fn remember_secrets(&self, request: &[u8]) {
        let text = String::from_utf8_lossy(request);
        let mut found = Vec::new();
        for line in text.lines() {
            if let Some((_, query)) = line.split_once('?') {
                let query = query.split(' ').next().unwrap_or_default();
                for item in query.split('&') {
                    let value = item.split_once('=').map_or("", |(_, v)| v);
                    if value.len() >= 16 && !value.starts_with('/') {
                        found.push(value.to_owned());
                    }
                }
            }
            if let Some(cookies) = line
                .strip_prefix("Cookie:")
                .or_else(|| line.strip_prefix("cookie:"))
            {
                for pair in cookies.split(';') {
                    let value = pair.split_once('=').map_or("", |(_, v)| v.trim());
                    if value.len() >= 16 {
                        found.push(value.to_owned());
                    }
                }
            }
        }
        self.sent_secrets.lock().unwrap().extend(found);
    }

    /// Runs `keyhole revoke --sid SID` against this Env's keyhole (its admin listener)
    /// and requires success.
    pub fn revoke_sid(&self, sid: &str) {
        let revoke = self
            .keyhole
            .admin_command(&["revoke", "--sid", sid])
            .output()
            .unwrap();
        assert!(
            revoke.status.success(),
            "{}",
            String::from_utf8_lossy(&revoke.stderr)
        );
    }

    /// Every log this Env wrote: keyhole's, nginx's access log and both error logs.
    pub fn all_logs(&self) -> String {
        let layout = &self.stack.layout;
        let mut text = self.keyhole.log_text();
        for path in [
            layout.access_log(),
            layout.error_log(),
            layout.site_error_log(),
        ] {
            text.push_str(&std::fs::read_to_string(path).unwrap_or_default());
        }
        text
    }

    /// Fails when any remembered credential appears in any log.
    pub fn assert_no_secret_logged(&self) {
        let logs = self.all_logs();
        let secrets = self.sent_secrets.lock().unwrap();
        for secret in secrets.iter() {
            let line = logs
                .lines()
                .find(|l| l.contains(secret.as_str()))
                .unwrap_or_default();
            assert!(
                !logs.contains(secret.as_str()),
                "a credential reached a log: {line}"
            );
        }
    }

    /// `METHOD target HTTP/1.1` with the target written byte for byte.
    pub fn request(&self, method: &str, target: &[u8], extra_headers: &str) -> Response {
        let mut bytes = Vec::new();
        bytes.extend_from_slice(method.as_bytes());
        bytes.push(b' ');
        bytes.extend_from_slice(target);
        bytes.extend_from_slice(b" HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n");
        bytes.extend_from_slice(extra_headers.as_bytes());
        if method == "POST" {
            bytes.extend_from_slice(b"Content-Length: 0\r\n");
        }
        bytes.extend_from_slice(b"\r\n");
        self.raw(&bytes)
    }

    /// A raw GET.
    pub fn get(&self, target: &str) -> Response {
        self.request("GET", target.as_bytes(), "")
    }

    /// The reason code nginx logged for the most recent request (`reason=` field).
    pub fn last_reason(&self) -> String {
        // Wait (at most 2 s) until every request sent so far has its line.
        let sent = self.sent_requests.load(std::sync::atomic::Ordering::SeqCst);
        let start = Instant::now();
        let mut log = String::new();
        while start.elapsed() < Duration::from_secs(2) {
            log = std::fs::read_to_string(self.stack.layout.access_log()).unwrap_or_default();
            if log.lines().count() >= sent {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let line = log.lines().last().unwrap_or_default().to_owned();
        line.split_whitespace()
            .find_map(|field| field.strip_prefix("reason="))
            .unwrap_or_default()
            .to_owned()
    }

    /// Signs `path` (URL form) for 10 minutes with the first key.
    pub fn sign(&self, path: &str) -> String {
        self.sign_with(path, |_| {})
    }

    /// Signs `path` after letting `adjust` change the grant.
    pub fn sign_with(&self, path: &str, adjust: impl FnOnce(&mut UrlGrant)) -> String {
        sign_with_ring(&self.keys, path, adjust)
    }
}

/// Sends raw bytes to 127.0.0.1:port and reads until the server closes.
pub fn send_raw(port: u16, request: &[u8]) -> Response {
    exchange(TcpStream::connect(("127.0.0.1", port)).unwrap(), request)
}

/// Writes the request on a connected stream and reads until the server closes.
fn exchange(mut stream: TcpStream, request: &[u8]) -> Response {
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream.write_all(request).unwrap();
    let mut bytes = Vec::new();
    let _ = stream.read_to_end(&mut bytes);
    parse_response(&bytes)
}

fn parse_response(bytes: &[u8]) -> Response {
    let split = bytes
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or(bytes.len());
    let head = String::from_utf8_lossy(&bytes[..split]).into_owned();
    let body = bytes.get(split + 4..).unwrap_or_default().to_vec();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    Response { status, head, body }
}

/// The current time.
pub fn now() -> UnixTime {
    SystemClock.now()
}

/// Helpers for grants.
pub fn scope(prefix: &str) -> Option<Scope> {
    Some(Scope::parse(prefix.as_bytes()).unwrap())
}
pub fn ip(text: &str) -> Option<IpBinding> {
    Some(IpBinding::parse(text).unwrap())
}
pub fn methods(text: &str) -> Option<Methods> {
    Some(Methods::parse(text).unwrap())
}

/// Like [`send_raw`], from a chosen loopback source address (127.0.0.2 …), so that
/// nginx sees another client IP.
pub fn send_raw_from(source: std::net::Ipv4Addr, port: u16, request: &[u8]) -> Response {
    use socket2::{Domain, Socket, Type};
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    socket
        .bind(&std::net::SocketAddr::from((source, 0)).into())
        .unwrap();
    socket
        .connect(&std::net::SocketAddr::from(([127, 0, 0, 1], port)).into())
        .unwrap();
    exchange(socket.into(), request)
}
pub mod browser;
pub mod caddy;
pub mod redis;
pub mod rng;
pub mod shared_store;

/// A signed URL for `path` with the test key (`KEY_LINE`), valid for 10 minutes, after
/// `adjust` sets its other fields: built with keyhole-core's signer directly.
pub fn sign_url(path: &str, adjust: impl FnOnce(&mut UrlGrant)) -> String {
    sign_with_ring(&KeyRing::parse(KEY_LINE).unwrap(), path, adjust)
}

/// A signed URL for `path` with the first signing key of `keys`, valid for 10
/// minutes, after `adjust` sets its other fields.
pub fn sign_with_ring(keys: &KeyRing, path: &str, adjust: impl FnOnce(&mut UrlGrant)) -> String {
    let mut grant = UrlGrant::new(
        CanonicalPath::parse(path.as_bytes()).unwrap(),
        now().plus(600),
    );
    adjust(&mut grant);
    signed_url::sign(&grant, keys.signing_key()).unwrap()
}

/// `keyhole mint PATH` with the test keys: the target with its file-scoped JWT.
pub fn mint_url(path: &str) -> String {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_keyhole"))
        .args(["mint", path])
        .env_clear()
        .env("KEYHOLE_KEYS", KEY_LINE)
        .env("KEYHOLE_JWT_KEYS", JWT_KEY_LINE)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}
