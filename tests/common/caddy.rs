//! A real Caddy (from PATH) running the shipped `proxies/caddy/Caddyfile`, changed
//! only in its site address (a free port, bound to 127.0.0.1), keyhole's address, the
//! document root and the access log path; each substitution must find its anchor, so
//! an edit to the shipped file cannot silently stop the tests from using it. Caddy
//! runs with its admin endpoint off and no automatic HTTPS (both set in the file),
//! and is stopped by its pid when dropped.

use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// `proxies/caddy/Caddyfile`, as shipped.
pub const CADDYFILE: &str = include_str!("../../proxies/caddy/Caddyfile");

/// A running Caddy; dropped = killed by pid.
pub struct Caddy {
    child: Child,
    /// The port it serves on (127.0.0.1).
    pub port: u16,
    /// Its access log (the Caddyfile's `log` block).
    pub access_log: PathBuf,
    /// Its own process log (stderr).
    pub process_log: PathBuf,
}

/// The shipped Caddyfile with the test's addresses and paths.
pub fn render(port: u16, keyhole: SocketAddr, root: &Path, access_log: &Path) -> String {
    let mut text = CADDYFILE.to_owned();
    for (anchor, value) in [
        // Any host name, as shipped; only the port and the bound address change.
        ("\n:8080 {", format!("\n:{port} {{\n\tbind 127.0.0.1")),
        ("127.0.0.1:9181", keyhole.to_string()),
        ("/srv/keyhole/www", root.display().to_string()),
        (
            "/var/log/caddy/keyhole-access.log",
            access_log.display().to_string(),
        ),
    ] {
        assert!(
            text.contains(anchor),
            "proxies/caddy/Caddyfile no longer contains `{anchor}`, which the tests replace"
        );
        text = text.replace(anchor, &value);
    }
    text
}

impl Caddy {
    /// Renders the Caddyfile into `dir` and starts `caddy run`, waiting until it
    /// accepts connections. A port taken between choosing and binding it (by a test
    /// running in parallel) makes Caddy exit: then another port is tried.
    pub fn start(dir: &Path, keyhole: SocketAddr, root: &Path) -> Caddy {
        let caddy_dir = dir.join("caddy");
        std::fs::create_dir_all(&caddy_dir).unwrap();
        let access_log = caddy_dir.join("access.log");
        let process_log = caddy_dir.join("caddy.log");
        let mut last_log = String::new();
        for _ in 0..3 {
            let port = super::free_port();
            let config = caddy_dir.join("Caddyfile");
            std::fs::write(&config, render(port, keyhole, root, &access_log)).unwrap();
            let child = Command::new("caddy")
                .arg("run")
                .arg("--config")
                .arg(&config)
                .arg("--adapter")
                .arg("caddyfile")
                .env_clear()
                .env("PATH", std::env::var_os("PATH").unwrap_or_default())
                // Caddy's storage (certificates, autosave) stays in the test's folder.
                .env("HOME", &caddy_dir)
                .env("XDG_DATA_HOME", caddy_dir.join("data"))
                .env("XDG_CONFIG_HOME", caddy_dir.join("config"))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(std::fs::File::create(&process_log).unwrap())
                .spawn()
                .unwrap_or_else(|error| {
                    panic!(
                        "cannot start caddy ({error}); install it with `sudo apt-get install -y caddy` \
                         (scripts/install-test-deps does)"
                    )
                });
            let mut caddy = Caddy {
                child,
                port,
                access_log: access_log.clone(),
                process_log: process_log.clone(),
            };
            if caddy.wait_listening() {
                return caddy;
            }
            last_log = std::fs::read_to_string(&process_log).unwrap_or_default();
        }
        panic!("caddy did not start: {last_log}");
    }

    /// Whether Caddy accepts connections within 10 s (false when it exited first).
    fn wait_listening(&mut self) -> bool {
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(10) {
            if TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return true;
            }
            if let Ok(Some(_)) = self.child.try_wait() {
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    /// Its access log and process log so far.
    pub fn logs(&self) -> String {
        let mut text = std::fs::read_to_string(&self.access_log).unwrap_or_default();
        text.push_str(&std::fs::read_to_string(&self.process_log).unwrap_or_default());
        text
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Caddy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
