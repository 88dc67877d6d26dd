//! A real `redis-server` for the shared-store tests: on a free 127.0.0.1 port, with
//! no persistence, stopped by its process id when dropped. It can be stopped and
//! started again on the same port (Redis going away mid-run and coming back). A
//! [`CuttingProxy`] in front of it breaks a connection between a command and its reply.
//! [`RedisCluster`] (3 masters, 3 replicas) and [`SentinelSet`] (a master, a replica,
//! three `redis-sentinel` processes) build the two other topologies from such servers,
//! every process on loopback and stopped by its pid when dropped.

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
    /// Extra command-line arguments (cluster mode, `--replicaof`).
    extra: Vec<String>,
}

/// The path of a Redis program (`redis-server`, `redis-cli`, `redis-sentinel`).
fn program(name: &str, package: &str) -> PathBuf {
    for dir in ["/usr/bin", "/usr/local/bin"] {
        let candidate = std::path::Path::new(dir).join(name);
        if candidate.is_file() {
            return candidate;
        }
    }
    let found = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|dir| dir.join(name))
            .find(|candidate| candidate.is_file())
    });
    found.unwrap_or_else(|| {
        panic!(
            "{name} was not found; install it with `sudo apt-get install -y {package}` (or run scripts/install-test-deps)"
        )
    })
}

fn binary() -> PathBuf {
    program("redis-server", "redis-server")
}

/// `redis-cli -p PORT ARGS…` (raw output, one value a line); panics if it fails.
pub fn cli(port: u16, args: &[&str]) -> String {
    let output = Command::new(program("redis-cli", "redis-tools"))
        .args(["-h", "127.0.0.1", "-p", &port.to_string(), "--raw"])
        .args(args)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "redis-cli -p {port} {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Whether a write on `port` is acknowledged by `replicas` replicas within 200 ms:
/// `SET` then `WAIT` on one connection (a `WAIT` alone, from a client that wrote
/// nothing, answers at once).
pub fn write_acknowledged(port: u16, replicas: u32) -> bool {
    let mut child = Command::new(program("redis-cli", "redis-tools"))
        .args(["-h", "127.0.0.1", "-p", &port.to_string(), "--raw"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let script = format!("SET keyhole-test-probe 1\nWAIT {replicas} 200\n");
    let _ = child.stdin.take().unwrap().write_all(script.as_bytes());
    let output = child.wait_with_output().unwrap();
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .last()
        .and_then(|line| line.trim().parse::<u32>().ok())
        .is_some_and(|count| count >= replicas)
}

/// Polls `check` every 50 ms for at most `limit`; panics with `what` if it never holds.
pub fn wait_until(limit: Duration, what: &str, mut check: impl FnMut() -> bool) {
    let start = Instant::now();
    while start.elapsed() < limit {
        if check() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("timed out waiting until {what}");
}

impl Redis {
    /// Starts redis-server on a free port and waits until it answers PING.
    pub fn start() -> Redis {
        Redis::start_with(&[])
    }

    /// The same, with extra command-line arguments.
    pub fn start_with(extra: &[&str]) -> Redis {
        let dir = tempfile::Builder::new()
            .prefix("keyhole-redis-")
            .tempdir()
            .unwrap();
        let mut redis = Redis {
            child: None,
            port: super::free_port(),
            dir,
            extra: extra.iter().map(|arg| (*arg).to_owned()).collect(),
        };
        redis.resume();
        redis
    }

    /// `redis-cli` against this server.
    pub fn cli(&self, args: &[&str]) -> String {
        cli(self.port, args)
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
            .args(&self.extra)
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

    /// Whether it is running (not stopped).
    pub fn running(&self) -> bool {
        self.child.is_some()
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

/// Arguments of a cluster node: cluster mode, its node file in its own folder, a
/// short node timeout (replica promotion after a master dies).
const CLUSTER_NODE: [&str; 6] = [
    "--cluster-enabled",
    "yes",
    "--cluster-config-file",
    "nodes.conf",
    "--cluster-node-timeout",
    "2000",
];

/// A master as `CLUSTER NODES` lists it: node id, port, slot ranges.
pub type Master = (String, u16, Vec<(u16, u16)>);

/// A Redis Cluster of 3 masters and 3 replicas, built with `redis-cli --cluster
/// create`; every node is stopped by its pid when dropped.
pub struct RedisCluster {
    /// The six nodes (which are masters is the cluster's choice; see [`RedisCluster::owner`]).
    pub nodes: Vec<Redis>,
}

impl RedisCluster {
    /// Starts six nodes, creates the cluster, and waits until every node reports
    /// `cluster_state:ok` with all 16384 slots served.
    pub fn start() -> RedisCluster {
        // The cluster bus port is given too: by default it is the port + 10000, past
        // 65535 for a high free port.
        let nodes: Vec<Redis> = (0..6)
            .map(|_| {
                let bus = super::free_port().to_string();
                let mut args = CLUSTER_NODE.to_vec();
                args.extend(["--cluster-port", &bus]);
                Redis::start_with(&args)
            })
            .collect();
        let addresses: Vec<String> = nodes
            .iter()
            .map(|node| format!("127.0.0.1:{}", node.port))
            .collect();
        let mut create = vec!["--cluster", "create"];
        create.extend(addresses.iter().map(String::as_str));
        create.extend(["--cluster-replicas", "1", "--cluster-yes"]);
        let output = Command::new(program("redis-cli", "redis-tools"))
            .args(&create)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "redis-cli --cluster create: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        let cluster = RedisCluster { nodes };
        cluster.wait_healthy();
        cluster
    }

    /// Waits until every node sees the cluster whole (`cluster_state:ok`, all slots,
    /// three replicas).
    pub fn wait_healthy(&self) {
        wait_until(Duration::from_secs(30), "the cluster is ok", || {
            self.nodes.iter().all(|node| {
                let info = node.cli(&["CLUSTER", "INFO"]);
                let nodes = node.cli(&["CLUSTER", "NODES"]);
                info.contains("cluster_state:ok")
                    && info.contains("cluster_slots_ok:16384")
                    && nodes.matches("slave").count() == 3
            })
        });
    }

    /// `redis+cluster://` naming two of the nodes (the client discovers the rest).
    pub fn url(&self) -> String {
        format!(
            "redis+cluster://127.0.0.1:{},127.0.0.1:{}",
            self.nodes[0].port, self.nodes[1].port
        )
    }

    /// The slot of `key` (`CLUSTER KEYSLOT`).
    pub fn slot(&self, key: &str) -> u16 {
        self.nodes[0]
            .cli(&["CLUSTER", "KEYSLOT", key])
            .trim()
            .parse()
            .unwrap()
    }

    /// `(node id, port, slot ranges)` of every master, from `CLUSTER NODES`.
    pub fn masters(&self) -> Vec<Master> {
        self.masters_seen_by(self.nodes[0].port)
    }

    /// The same, as the node on `port` sees the cluster.
    pub fn masters_seen_by(&self, port: u16) -> Vec<Master> {
        let nodes = cli(port, &["CLUSTER", "NODES"]);
        nodes
            .lines()
            .filter(|line| line.split(' ').nth(2).is_some_and(|f| f.contains("master")))
            .map(|line| {
                let fields: Vec<&str> = line.split(' ').collect();
                let port = fields[1]
                    .split('@')
                    .next()
                    .and_then(|addr| addr.rsplit(':').next())
                    .unwrap()
                    .parse()
                    .unwrap();
                let ranges = fields[8..]
                    .iter()
                    .filter(|range| !range.starts_with('['))
                    .map(|range| match range.split_once('-') {
                        Some((from, to)) => (from.parse().unwrap(), to.parse().unwrap()),
                        None => (range.parse().unwrap(), range.parse().unwrap()),
                    })
                    .collect();
                (fields[0].to_owned(), port, ranges)
            })
            .collect()
    }

    /// `(node id, port)` of the master serving `slot`.
    pub fn owner(&self, slot: u16) -> (String, u16) {
        self.owner_seen_by(self.nodes[0].port, slot)
    }

    /// The same, as the node on `port` sees it.
    pub fn owner_seen_by(&self, port: u16, slot: u16) -> (String, u16) {
        self.masters_seen_by(port)
            .into_iter()
            .find(|(_, _, ranges)| ranges.iter().any(|(a, b)| (*a..=*b).contains(&slot)))
            .map(|(id, port, _)| (id, port))
            .unwrap()
    }

    /// Moves `slot` to another master while traffic runs: `IMPORTING` on the target,
    /// `MIGRATING` on the source, then its keys a few at a time with `MIGRATE` (so
    /// clients meet `ASK` for the keys already moved), pausing between steps, then
    /// `SETSLOT … NODE` on every master (clients meet `MOVED`). Returns the new owner's port.
    pub fn migrate_slot(&self, slot: u16, pause: Duration) -> u16 {
        let slot_text = slot.to_string();
        let (source_id, source) = self.owner(slot);
        let (target_id, target, _) = self
            .masters()
            .into_iter()
            .find(|(id, _, ranges)| *id != source_id && !ranges.is_empty())
            .unwrap();
        cli(
            target,
            &["CLUSTER", "SETSLOT", &slot_text, "IMPORTING", &source_id],
        );
        cli(
            source,
            &["CLUSTER", "SETSLOT", &slot_text, "MIGRATING", &target_id],
        );
        std::thread::sleep(pause);
        loop {
            let keys = cli(source, &["CLUSTER", "GETKEYSINSLOT", &slot_text, "3"]);
            let keys: Vec<&str> = keys.lines().filter(|key| !key.is_empty()).collect();
            if keys.is_empty() {
                break;
            }
            let target_port = target.to_string();
            let mut migrate = vec![
                "MIGRATE",
                "127.0.0.1",
                &target_port,
                "",
                "0",
                "5000",
                "KEYS",
            ];
            migrate.extend(keys.iter().copied());
            cli(source, &migrate);
            std::thread::sleep(pause);
        }
        // The documented order: the target, then the source, then the other masters.
        let mut order = vec![target, source];
        order.extend(
            self.masters()
                .into_iter()
                .map(|(_, port, _)| port)
                .filter(|port| *port != target && *port != source),
        );
        for port in order {
            cli(
                port,
                &["CLUSTER", "SETSLOT", &slot_text, "NODE", &target_id],
            );
        }
        let moved = |port: u16| {
            self.masters_seen_by(port)
                .into_iter()
                .find(|(_, _, ranges)| ranges.iter().any(|(a, b)| (*a..=*b).contains(&slot)))
                .is_some_and(|(_, owner, _)| owner == target)
        };
        let start = Instant::now();
        while !self.nodes.iter().all(|node| moved(node.port)) {
            if start.elapsed() > Duration::from_secs(20) {
                let views: Vec<String> = self
                    .nodes
                    .iter()
                    .map(|node| {
                        format!("{}:\n{}", node.port, cli(node.port, &["CLUSTER", "NODES"]))
                    })
                    .collect();
                panic!(
                    "slot {slot} did not move to {target} everywhere:\n{}",
                    views.join("\n")
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        target
    }

    /// `GET key`, following redirections (`redis-cli -c`).
    pub fn get(&self, key: &str) -> String {
        cli(self.nodes[0].port, &["-c", "GET", key])
            .trim()
            .to_owned()
    }
}

/// The master's name the Sentinels watch.
pub const SENTINEL_MASTER: &str = "keyhole-test";

/// A `redis-sentinel` process; killed by pid when dropped.
pub struct Sentinel {
    child: Child,
    /// Its port on 127.0.0.1.
    pub port: u16,
    /// Its folder: its config (which Sentinel rewrites) and log.
    dir: tempfile::TempDir,
}

impl Sentinel {
    fn start(master_port: u16) -> Sentinel {
        let dir = tempfile::Builder::new()
            .prefix("keyhole-sentinel-")
            .tempdir()
            .unwrap();
        let port = super::free_port();
        let config = dir.path().join("sentinel.conf");
        std::fs::write(
            &config,
            format!(
                "port {port}\nbind 127.0.0.1\ndaemonize no\ndir {dir}\n\
                 sentinel monitor {SENTINEL_MASTER} 127.0.0.1 {master_port} 2\n\
                 sentinel down-after-milliseconds {SENTINEL_MASTER} 500\n\
                 sentinel failover-timeout {SENTINEL_MASTER} 3000\n\
                 sentinel parallel-syncs {SENTINEL_MASTER} 1\n",
                dir = dir.path().display()
            ),
        )
        .unwrap();
        let log = std::fs::File::create(dir.path().join("sentinel.log")).unwrap();
        let child = Command::new(program("redis-sentinel", "redis-sentinel"))
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        let sentinel = Sentinel { child, port, dir };
        wait_until(Duration::from_secs(10), "redis-sentinel answers", || {
            Command::new(program("redis-cli", "redis-tools"))
                .args(["-p", &port.to_string(), "PING"])
                .output()
                .is_ok_and(|output| output.stdout.starts_with(b"PONG"))
        });
        sentinel
    }

    /// `SENTINEL MASTER`'s fields.
    fn master_fields(&self) -> std::collections::HashMap<String, String> {
        let text = cli(self.port, &["SENTINEL", "MASTER", SENTINEL_MASTER]);
        let lines: Vec<&str> = text.lines().collect();
        lines
            .chunks(2)
            .filter(|pair| pair.len() == 2)
            .map(|pair| (pair[0].to_owned(), pair[1].to_owned()))
            .collect()
    }

    /// The master's port as this Sentinel names it.
    pub fn master_port(&self) -> Option<u16> {
        let text = cli(
            self.port,
            &["SENTINEL", "GET-MASTER-ADDR-BY-NAME", SENTINEL_MASTER],
        );
        text.lines()
            .nth(1)
            .and_then(|port| port.trim().parse().ok())
    }

    /// Its log.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("sentinel.log")).unwrap_or_default()
    }
}

impl Drop for Sentinel {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A master, its replica and three Sentinels watching them (quorum 2, a master is
/// down after 500 ms). Field order is drop order: Sentinels first.
pub struct SentinelSet {
    /// The three Sentinels.
    pub sentinels: Vec<Sentinel>,
    /// The two servers: first the initial master, then its replica.
    pub servers: Vec<Redis>,
}

impl SentinelSet {
    /// Starts the master, the replica (synced), the Sentinels, and waits until every
    /// Sentinel knows the replica and the two other Sentinels.
    pub fn start() -> SentinelSet {
        let master = Redis::start();
        let master_port = master.port.to_string();
        let replica = Redis::start_with(&["--replicaof", "127.0.0.1", &master_port]);
        wait_until(Duration::from_secs(10), "the replica is in sync", || {
            replica
                .cli(&["INFO", "replication"])
                .contains("master_link_status:up")
        });
        let sentinels: Vec<Sentinel> = (0..3).map(|_| Sentinel::start(master.port)).collect();
        let set = SentinelSet {
            sentinels,
            servers: vec![master, replica],
        };
        wait_until(
            Duration::from_secs(20),
            "the Sentinels know each other",
            || {
                set.sentinels.iter().all(|sentinel| {
                    let fields = sentinel.master_fields();
                    fields.get("num-slaves").map(String::as_str) == Some("1")
                        && fields.get("num-other-sentinels").map(String::as_str) == Some("2")
                })
            },
        );
        set
    }

    /// `redis+sentinel://` naming the three Sentinels and the master's name.
    pub fn url(&self) -> String {
        let hosts: Vec<String> = self
            .sentinels
            .iter()
            .map(|sentinel| format!("127.0.0.1:{}", sentinel.port))
            .collect();
        format!("redis+sentinel://{}/{SENTINEL_MASTER}", hosts.join(","))
    }

    /// The port of the current master, as the first Sentinel names it.
    pub fn master_port(&self) -> u16 {
        self.sentinels[0].master_port().unwrap()
    }

    /// The server listening on `port`.
    pub fn server(&mut self, port: u16) -> &mut Redis {
        self.servers
            .iter_mut()
            .find(|server| server.port == port)
            .unwrap()
    }

    /// The server that is not on `port`.
    pub fn other(&mut self, port: u16) -> &mut Redis {
        self.servers
            .iter_mut()
            .find(|server| server.port != port)
            .unwrap()
    }

    /// `SENTINEL FAILOVER` (a planned switch-over: the master is demoted, the replica
    /// promoted), asked of the first Sentinel.
    pub fn failover(&self) {
        let reply = cli(
            self.sentinels[0].port,
            &["SENTINEL", "FAILOVER", SENTINEL_MASTER],
        );
        assert!(reply.trim() == "OK", "SENTINEL FAILOVER: {reply}");
    }

    /// Waits until every Sentinel names the server on `port` as the master and that
    /// server answers as a master (`ROLE`): the point from which no request may be
    /// denied. Readiness is polled; nothing is timed.
    pub fn wait_master(&self, port: u16) {
        wait_until(Duration::from_secs(30), "the new master answers", || {
            self.sentinels
                .iter()
                .all(|sentinel| sentinel.master_port() == Some(port))
                && cli(port, &["ROLE"]).lines().next() == Some("master")
        });
    }

    /// Every Sentinel's log (for failure messages).
    pub fn logs(&self) -> String {
        self.sentinels
            .iter()
            .map(Sentinel::log_text)
            .collect::<Vec<_>>()
            .join("\n---\n")
    }
}
