//! The auth listener's connections, talked to as raw bytes over TCP: nginx's `/auth`
//! requests answered in place (src/server/auth_conn.rs), everything else handed to
//! hyper on the same connection with nothing lost or read twice, the header timeout
//! and head limit, shutdown, and the worker threads (`KEYHOLE_WORKER_THREADS`).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::{Keyhole, free_port, sign_url};
use keyhole::config::Listen;

fn start(env: &[(&str, &str)]) -> (tempfile::TempDir, Keyhole, u16) {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let keyhole = Keyhole::start(
        dir.path(),
        "keyhole",
        Listen::Tcp(([127, 0, 0, 1], port).into()),
        env,
    );
    (dir, keyhole, port)
}

fn connect(port: u16) -> TcpStream {
    let stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream
}

/// nginx's subrequest for `uri`, as keyhole.conf sends it.
fn auth(uri: &str, extra: &str) -> String {
    format!(
        "GET /auth HTTP/1.1\r\nHost: keyhole\r\nX-Original-URI: {uri}\r\n\
         X-Original-Method: GET\r\nX-Real-IP: 127.0.0.1\r\n{extra}\r\n"
    )
}

/// One response off a kept-alive connection: its head, and its body by
/// `content-length`; `None` once the server has closed.
fn read_response(stream: &mut TcpStream, pending: &mut Vec<u8>) -> Option<(u16, String)> {
    loop {
        if let Some(end) = pending.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&pending[..end]).into_owned();
            let length: usize = head
                .lines()
                .find_map(|line| {
                    let (name, value) = line.split_once(':')?;
                    name.eq_ignore_ascii_case("content-length")
                        .then(|| value.trim().parse().unwrap())
                })
                .unwrap_or(0);
            while pending.len() < end + 4 + length {
                let mut chunk = [0u8; 4096];
                let n = stream.read(&mut chunk).unwrap();
                assert!(n > 0, "closed inside a body");
                pending.extend_from_slice(&chunk[..n]);
            }
            pending.drain(..end + 4 + length);
            let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
            return Some((status, head));
        }
        let mut chunk = [0u8; 4096];
        match stream.read(&mut chunk) {
            Ok(0) => return None,
            Ok(n) => pending.extend_from_slice(&chunk[..n]),
            Err(error) if error.kind() == std::io::ErrorKind::ConnectionReset => return None,
            Err(error) => panic!("read: {error}"),
        }
    }
}

fn reason(head: &str) -> String {
    head.lines()
        .find_map(|line| line.strip_prefix("x-keyhole-reason: "))
        .unwrap_or("-")
        .to_owned()
}

/// Every response until the server closes.
fn responses_until_closed(stream: &mut TcpStream) -> Vec<(u16, String)> {
    let mut pending = Vec::new();
    let mut all = Vec::new();
    while let Some(response) = read_response(stream, &mut pending) {
        all.push(response);
    }
    all
}

#[test]
fn pipelined_requests_are_answered_in_order_on_one_connection() {
    let (_dir, _keyhole, port) = start(&[]);
    let good = sign_url("/protected/a.png", |_| {});
    let tampered = good.replace("kh_exp=", "kh_exp=1");
    let mut stream = connect(port);
    let mut burst = String::new();
    for uri in [&good, &tampered, &good] {
        burst.push_str(&auth(uri, ""));
    }
    burst.push_str(&auth(&good, "Connection: close\r\n"));
    stream.write_all(burst.as_bytes()).unwrap();
    let got: Vec<(u16, String)> = responses_until_closed(&mut stream)
        .into_iter()
        .map(|(status, head)| (status, reason(&head)))
        .collect();
    assert_eq!(got.len(), 4, "{got:?}");
    assert_eq!(got[0], (204, "ok".to_owned()));
    assert_eq!(got[1].0, 403);
    assert_ne!(got[1].1, "ok");
    assert_eq!(got[2], (204, "ok".to_owned()));
    // The last one asked to close: hyper's to answer, after the three before it.
    assert_eq!(got[3], (204, "ok".to_owned()));
}

#[test]
fn a_head_sent_a_byte_at_a_time_is_answered() {
    let (_dir, _keyhole, port) = start(&[]);
    let mut stream = connect(port);
    stream.set_nodelay(true).unwrap();
    let request = auth(&sign_url("/protected/a.png", |_| {}), "");
    for byte in request.as_bytes() {
        stream.write_all(&[*byte]).unwrap();
    }
    let mut pending = Vec::new();
    let (status, head) = read_response(&mut stream, &mut pending).unwrap();
    assert_eq!((status, reason(&head).as_str()), (204, "ok"), "{head}");
    // The reply is hyper's, header for header (less `date`).
    assert!(head.starts_with("HTTP/1.1 204 No Content\r\n"), "{head}");
    assert!(
        head.contains("\r\nx-keyhole-credential: signed-url"),
        "{head}"
    );
    assert!(head.contains("\r\nx-keyhole-key: k1"), "{head}");
    assert!(
        !head.to_ascii_lowercase().contains("content-length"),
        "{head}"
    );
}

#[test]
fn a_denial_carries_an_empty_body_that_keeps_the_connection_usable() {
    let (_dir, _keyhole, port) = start(&[]);
    let mut stream = connect(port);
    let mut pending = Vec::new();
    stream
        .write_all(auth("/protected/a.png", "").as_bytes())
        .unwrap();
    let (status, head) = read_response(&mut stream, &mut pending).unwrap();
    assert_eq!(status, 403);
    assert!(head.contains("\r\ncontent-length: 0"), "{head}");
    assert!(head.contains("\r\nx-accel-expires: 0"), "{head}");
    stream
        .write_all(auth(&sign_url("/protected/a.png", |_| {}), "").as_bytes())
        .unwrap();
    assert_eq!(read_response(&mut stream, &mut pending).unwrap().0, 204);
}

/// A request the in-place reader does not take goes to hyper, which answers it as it
/// always did, and the connection goes on under hyper with nothing lost.
#[test]
fn what_the_in_place_reader_refuses_hyper_answers_on_the_same_connection() {
    let (_dir, _keyhole, port) = start(&[]);
    let good = sign_url("/protected/a.png", |_| {});
    let mut stream = connect(port);
    let mut pending = Vec::new();
    // A browser header with a control byte: hyper drops that line and decides.
    stream
        .write_all(auth(&good, "Cookie: a=\x01b\r\n").as_bytes())
        .unwrap();
    let (status, head) = read_response(&mut stream, &mut pending).unwrap();
    assert_eq!((status, reason(&head).as_str()), (204, "ok"), "{head}");
    // Then plain requests, now answered by hyper, and another path.
    stream.write_all(auth(&good, "").as_bytes()).unwrap();
    assert_eq!(read_response(&mut stream, &mut pending).unwrap().0, 204);
    stream
        .write_all(b"GET /nothing-here HTTP/1.1\r\nHost: keyhole\r\n\r\n")
        .unwrap();
    assert_eq!(read_response(&mut stream, &mut pending).unwrap().0, 404);
    stream.write_all(auth(&good, "").as_bytes()).unwrap();
    assert_eq!(read_response(&mut stream, &mut pending).unwrap().0, 204);
}

/// A body is framing, never a request: what it holds is not answered, whether it
/// is announced by `Content-Length` or sent chunked.
#[test]
fn a_request_body_is_never_read_as_a_request() {
    let (_dir, _keyhole, port) = start(&[]);
    let good = sign_url("/protected/a.png", |_| {});
    let smuggled = auth(&good, "");
    for framing in ["length", "chunked"] {
        let mut stream = connect(port);
        let outer = match framing {
            "length" => format!(
                "GET /auth HTTP/1.1\r\nHost: keyhole\r\nContent-Length: {}\r\n\r\n{smuggled}",
                smuggled.len()
            ),
            _ => format!(
                "GET /auth HTTP/1.1\r\nHost: keyhole\r\nTransfer-Encoding: chunked\r\n\r\n\
                 {:x}\r\n{smuggled}\r\n0\r\n\r\n",
                smuggled.len()
            ),
        };
        let last = "GET /auth HTTP/1.1\r\nHost: keyhole\r\nConnection: close\r\n\r\n";
        stream
            .write_all(format!("{outer}{last}").as_bytes())
            .unwrap();
        let got = responses_until_closed(&mut stream);
        let statuses: Vec<u16> = got.iter().map(|(status, _)| *status).collect();
        // Two requests without a credential: two denials, and no allow for the body.
        assert_eq!(statuses, [403, 403], "{framing}: {got:?}");
    }
}

#[test]
fn a_head_over_the_limit_is_refused_as_before() {
    let (_dir, _keyhole, port) = start(&[("KEYHOLE_MAX_HEAD_BYTES", "8192")]);
    let mut stream = connect(port);
    let big = format!("Cookie: {}\r\n", "a".repeat(9000));
    stream
        .write_all(auth(&sign_url("/protected/a.png", |_| {}), &big).as_bytes())
        .unwrap();
    let got = responses_until_closed(&mut stream);
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].0, 431, "{got:?}");
}

#[test]
fn idle_and_slow_connections_are_closed_after_the_header_timeout() {
    let (_dir, _keyhole, port) = start(&[("KEYHOLE_HEADER_TIMEOUT", "1")]);
    let good = sign_url("/protected/a.png", |_| {});
    // Silent from the start; idle after an answer; a head left unfinished.
    let unfinished = auth(&good, "");
    let unfinished = &unfinished[..unfinished.len() - 10];
    for (case, first) in [
        ("silent", None),
        ("idle", Some(auth(&good, ""))),
        ("slow", Some(unfinished.to_owned())),
    ] {
        let mut stream = connect(port);
        let started = Instant::now();
        if let Some(first) = &first {
            stream.write_all(first.as_bytes()).unwrap();
        }
        let got = responses_until_closed(&mut stream);
        let waited = started.elapsed();
        let answered = usize::from(case == "idle");
        assert_eq!(got.len(), answered, "{case}: {got:?}");
        assert!(
            waited >= Duration::from_millis(900) && waited < Duration::from_secs(5),
            "{case}: closed after {waited:?}"
        );
    }
}

/// The names of a process's auth worker threads, sorted.
fn auth_threads(pid: u32) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(format!("/proc/{pid}/task"))
        .unwrap()
        .filter_map(|task| std::fs::read_to_string(task.unwrap().path().join("comm")).ok())
        .map(|name| name.trim().to_owned())
        .filter(|name| name.starts_with("keyhole-auth-"))
        .collect();
    names.sort();
    names
}

#[test]
fn by_default_one_cpu_is_left_to_nginx() {
    let (_dir, keyhole, port) = start(&[]);
    let cpus = std::thread::available_parallelism().map_or(1, usize::from);
    let expected: Vec<String> = (0..cpus.saturating_sub(1).max(1))
        .map(|n| format!("keyhole-auth-{n}"))
        .collect();
    assert_eq!(auth_threads(keyhole.pid()), expected, "{cpus} CPUs");
    let good = sign_url("/protected/a.png", |_| {});
    let mut stream = connect(port);
    stream
        .write_all(auth(&good, "Connection: close\r\n").as_bytes())
        .unwrap();
    assert_eq!(responses_until_closed(&mut stream)[0].0, 204);
}

#[test]
fn requests_are_served_on_the_configured_worker_threads() {
    let (_dir, keyhole, port) = start(&[("KEYHOLE_WORKER_THREADS", "3")]);
    assert_eq!(
        auth_threads(keyhole.pid()),
        ["keyhole-auth-0", "keyhole-auth-1", "keyhole-auth-2"]
    );
    // Many connections at once, each answered, whichever thread took it.
    let good = sign_url("/protected/a.png", |_| {});
    let handles: Vec<_> = (0..24)
        .map(|_| {
            let request = auth(&good, "Connection: close\r\n");
            std::thread::spawn(move || {
                let mut stream = connect(port);
                stream.write_all(request.as_bytes()).unwrap();
                responses_until_closed(&mut stream)
            })
        })
        .collect();
    for handle in handles {
        let got = handle.join().unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].0, 204);
    }
}

#[test]
fn shutdown_closes_idle_connections_at_once_and_removes_the_socket_file() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("keyhole.sock");
    let mut keyhole = Keyhole::start(
        dir.path(),
        "keyhole",
        Listen::Unix(socket.clone()),
        &[("KEYHOLE_WORKER_THREADS", "2")],
    );
    let mut idle = std::os::unix::net::UnixStream::connect(&socket).unwrap();
    idle.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    idle.write_all(auth(&sign_url("/protected/a.png", |_| {}), "").as_bytes())
        .unwrap();
    let mut first = [0u8; 12];
    idle.read_exact(&mut first).unwrap();
    assert_eq!(&first, b"HTTP/1.1 204");
    let started = Instant::now();
    // SAFETY-free: kill(1) by pid, as the operator's SIGTERM.
    let sent = std::process::Command::new("kill")
        .args(["-TERM", &keyhole.pid().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    let status = keyhole.wait_exit(Duration::from_secs(8));
    assert!(status.success(), "{status}");
    // Well inside the 10 s grace: nothing was in flight.
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(!socket.exists(), "the socket file is left behind");
    let mut rest = Vec::new();
    let _ = idle.read_to_end(&mut rest);
    assert!(!String::from_utf8_lossy(&rest).contains("HTTP/1.1"));
}
