//! A real `redis-server` for the shared-store tests: on a free 127.0.0.1 port, with
//! no persistence, stopped by its process id when dropped. It can be stopped and
//! started again on the same port (Redis going away mid-run and coming back). A
//! [`CuttingProxy`] in front of it breaks a connection between a command and its reply.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running (or stopped) redis-server.
pub struct Redis {
    child: Option<Child>,
    /// Its port on 127.0.0.1 (kept across restarts).
    pub port: u16,
    /// Its working directory and log.
    dir: tempfile::TempDir,
}

fn binary() -> PathBuf {
    for candidate in ["/usr/bin/redis-server", "/usr/local/bin/redis-server"] {
        if std::path::Path::new(candidate).is_file() {
            return candidate.into();
        }
    }
    let found = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|dir| dir.join("redis-server"))
            .find(|candidate| candidate.is_file())
    });
    found.unwrap_or_else(|| {
        panic!(
            "redis-server was not found; install it with `sudo apt-get install -y redis-server` (or run scripts/install-test-deps)"
        )
    })
}

impl Redis {
    /// Starts redis-server on a free port and waits until it answers PING.
    pub fn start() -> Redis {
        let dir = tempfile::Builder::new()
            .prefix("keyhole-redis-")
            .tempdir()
            .unwrap();
        let mut redis = Redis {
            child: None,
            port: super::free_port(),
            dir,
        };
        redis.resume();
        redis
    }

    /// `redis://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Starts it again on the same port (after [`Redis::stop`]).
    pub fn resume(&mut self) {
        assert!(self.child.is_none(), "redis-server is already running");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("redis.log"))
            .unwrap();
        let child = Command::new(binary())
            .args(["--port", &self.port.to_string()])
            .args(["--bind", "127.0.0.1"])
            .args(["--save", ""])
            .args(["--appendonly", "no"])
            .args(["--dir", self.dir.path().to_str().unwrap()])
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        self.child = Some(child);
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(10) {
            if self
                .command(&["PING"])
                .is_some_and(|reply| reply == "+PONG")
            {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!(
            "redis-server did not answer on port {}: {}",
            self.port,
            std::fs::read_to_string(self.dir.path().join("redis.log")).unwrap_or_default()
        );
    }

    /// Stops it now (killed by pid, so nothing is saved).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // A frozen server still dies of SIGKILL.
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Freezes (`SIGSTOP`) or thaws (`SIGCONT`) the server by its pid: connections stay
    /// open but nothing answers, the case only a timeout can cut short.
    pub fn freeze(&self, frozen: bool) {
        let pid = self.child.as_ref().expect("redis-server is running").id();
        let signal = if frozen { "-STOP" } else { "-CONT" };
        let status = Command::new("kill")
            .args([signal, &pid.to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Sends one command (RESP, bulk-string arguments) and returns the first line of
    /// the reply; `None` when Redis does not answer.
    pub fn command(&self, args: &[&str]) -> Option<String> {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).ok()?;
        stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
        let mut request = format!("*{}\r\n", args.len());
        for arg in args {
            request.push_str(&format!("${}\r\n{arg}\r\n", arg.len()));
        }
        stream.write_all(request.as_bytes()).ok()?;
        let mut reply = Vec::new();
        let mut byte = [0u8; 1];
        while stream.read(&mut byte).ok()? == 1 {
            if byte[0] == b'\n' {
                break;
            }
            reply.push(byte[0]);
        }
        let line = String::from_utf8(reply).ok()?;
        Some(line.trim_end_matches('\r').to_owned())
    }

    /// Every key matching `pattern` (a `KEYS` reply, read whole).
    pub fn keys(&self, pattern: &str) -> Vec<String> {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(2)))
            .unwrap();
        let request = format!("*2\r\n$4\r\nKEYS\r\n${}\r\n{pattern}\r\n", pattern.len());
        stream.write_all(request.as_bytes()).unwrap();
        let mut text = String::new();
        let mut buffer = [0u8; 4096];
        // Read until the announced number of items arrived (bounded by the timeout).
        loop {
            let read = stream.read(&mut buffer).unwrap_or(0);
            if read == 0 {
                break;
            }
            text.push_str(&String::from_utf8_lossy(&buffer[..read]));
            let lines: Vec<&str> = text.split("\r\n").collect();
            let count: usize = lines[0].trim_start_matches('*').parse().unwrap_or(0);
            if lines.len() > count * 2 {
                break;
            }
        }
        text.split("\r\n")
            .skip(1)
            .filter(|line| !line.starts_with('$') && !line.is_empty())
            .map(str::to_owned)
            .collect()
    }

    /// A key's remaining time to live in milliseconds (`PTTL`: -1 none, -2 no key).
    pub fn pttl(&self, key: &str) -> i64 {
        let reply = self.command(&["PTTL", key]).unwrap();
        reply.trim_start_matches(':').parse().unwrap()
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A TCP proxy in front of a [`Redis`] that forwards every byte both ways until it is
/// armed: then the next client chunk holding `needle` still reaches Redis (which
/// executes it), but its reply is swallowed and the client's connection is closed.
/// That is the ambiguous failure a client cannot tell apart from a command that never
/// arrived. Stopped (its threads end) when dropped.
pub struct CuttingProxy {
    /// Its port on 127.0.0.1.
    pub port: u16,
    armed: std::sync::Arc<std::sync::Mutex<Option<Vec<u8>>>>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl CuttingProxy {
    /// Starts forwarding 127.0.0.1:(free port) to `redis`.
    pub fn start(redis: &Redis) -> CuttingProxy {
        use std::sync::atomic::{AtomicBool, Ordering};
        use std::sync::{Arc, Mutex};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let upstream_port = redis.port;
        let armed: Arc<Mutex<Option<Vec<u8>>>> = Arc::new(Mutex::new(None));
        let stop = Arc::new(AtomicBool::new(false));
        let (armed_loop, stop_loop) = (Arc::clone(&armed), Arc::clone(&stop));
        std::thread::spawn(move || {
            for client in listener.incoming() {
                if stop_loop.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(client) = client else { continue };
                let Ok(upstream) = TcpStream::connect(("127.0.0.1", upstream_port)) else {
                    continue;
                };
                // Set when the reply to the armed chunk must be swallowed.
                let swallow = Arc::new(AtomicBool::new(false));
                let (mut from_client, mut to_upstream) =
                    (client.try_clone().unwrap(), upstream.try_clone().unwrap());
                let (mut from_upstream, mut to_client) = (upstream, client);
                let armed = Arc::clone(&armed_loop);
                let swallow_out = Arc::clone(&swallow);
                std::thread::spawn(move || {
                    let mut buffer = [0u8; 16 * 1024];
                    while let Ok(read) = from_client.read(&mut buffer) {
                        if read == 0 {
                            break;
                        }
                        let chunk = &buffer[..read];
                        let mut armed = armed.lock().unwrap();
                        if armed
                            .as_ref()
                            .is_some_and(|needle| chunk.windows(needle.len()).any(|w| w == needle))
                        {
                            *armed = None;
                            swallow_out.store(true, Ordering::SeqCst);
                        }
                        drop(armed);
                        if to_upstream.write_all(chunk).is_err() {
                            break;
                        }
                    }
                    let _ = to_upstream.shutdown(std::net::Shutdown::Both);
                });
                std::thread::spawn(move || {
                    let mut buffer = [0u8; 16 * 1024];
                    while let Ok(read) = from_upstream.read(&mut buffer) {
                        if read == 0 {
                            break;
                        }
                        if swallow.load(Ordering::SeqCst) {
                            break;
                        }
                        if to_client.write_all(&buffer[..read]).is_err() {
                            break;
                        }
                    }
                    let _ = to_client.shutdown(std::net::Shutdown::Both);
                    let _ = from_upstream.shutdown(std::net::Shutdown::Both);
                });
            }
        });
        CuttingProxy { port, armed, stop }
    }

    /// `redis://127.0.0.1:PORT` of the proxy.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Cuts the connection after the next client chunk that holds `needle` has been
    /// forwarded to Redis, before its reply.
    pub fn arm(&self, needle: &[u8]) {
        *self.armed.lock().unwrap() = Some(needle.to_vec());
    }

    /// Whether the armed cut has happened.
    pub fn fired(&self) -> bool {
        self.armed.lock().unwrap().is_none()
    }
}

impl Drop for CuttingProxy {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        // Wake the accept loop so that it sees the flag.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}
