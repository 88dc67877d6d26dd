//! nginx parity: for every request path keyhole's canonicaliser accepts, nginx's own
//! `$uri` (its decoded, normalised path, the one it serves the file from) must be
//! exactly keyhole's canonical path, byte for byte. Otherwise keyhole would decide
//! about one file while nginx serves another.
//!
//! Thousands of raw request targets come from a seeded generator (deterministic: the
//! same targets on every run) that mixes percent escapes (valid, invalid, encoded
//! dots, slashes, backslashes, NUL), dot segments, repeated slashes, backslashes,
//! semicolons, UTF-8 and invalid bytes. Each goes to a real nginx, as raw bytes over a
//! keep-alive connection, at a diagnostic server whose only location answers
//! `return 200 "$uri"`. Inputs that ever failed stay below as named regression cases.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::Env;
use common::rng::Rng;
use keyhole::canonical::CanonicalPath;
use keyhole::request::Target;

/// How many generated targets one run sends (`KEYHOLE_PARITY_TARGETS` overrides it
/// for a longer hunt).
const GENERATED: usize = 10_000;
/// The generator's fixed seed (`KEYHOLE_PARITY_SEED` overrides it).
const SEED: u64 = 0x6b65_7968_6f6c_6521;

/// A number from the environment, or the default.
fn setting(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(default)
}

/// Targets pinned by name: each once disagreed, or sits on an edge of the rules that
/// a change to the canonicaliser or to nginx could move. `true`: keyhole must
/// accept it (and then nginx must agree); `false`: keyhole must refuse it.
const PINNED: &[(&str, &[u8], bool)] = &[
    ("plain", b"/a/b.jpg", true),
    ("escaped letter", b"/%41/x", true),
    ("lower-case hex", b"/caf%c3%a9.jpg", true),
    ("encoded space", b"/a%20b", true),
    ("encoded dot inside a name", b"/a%2Eb/c", true),
    ("leading dot", b"/.well-known/x", true),
    ("encoded leading dot", b"/%2Ea/b", true),
    ("two leading dots", b"/..a/b", true),
    ("encoded two leading dots", b"/%2e%2ea/b", true),
    ("dots inside", b"/a..b", true),
    ("encoded tilde", b"/%7Euser/x", true),
    ("encoded plus", b"/a%2Bb", true),
    ("raw reserved", b"/a+b/c=d&e/(1)'x'@y:z.png", true),
    ("line separator U+2028", b"/a%E2%80%A8b", true),
    ("four-byte UTF-8", b"/%F0%9F%90%88.png", true),
    ("encoded question mark is refused", b"/a%3Fb", false),
    ("encoded hash is refused", b"/a%23b", false),
    ("encoded percent is refused", b"/a%25b", false),
    ("encoded slash is refused", b"/a%2Fb", false),
    ("encoded dot segment is refused", b"/a/%2e%2E/b", false),
    ("encoded NUL is refused", b"/a%00b", false),
    ("trailing dot is refused", b"/a.", false),
    ("backslash is refused", b"/a\\b", false),
    ("semicolon is refused", b"/a;b", false),
    ("raw UTF-8 is refused", b"/caf\xc3\xa9", false),
    // Found by the generator (seed 7, 1,000,000 targets) when the check looked at the
    // path alone: the path is canonical, but nginx answers 400 for the raw space or
    // DEL in the query, so there is no `$uri`. keyhole refuses these too, at the query
    // (`malformed`), so no file is served either way; the check now asks keyhole
    // about the whole target, as `/auth` does.
    ("query with a raw space", b"/.png?/%c0 %2B(", false),
    (
        "query with a raw DEL",
        b"/bx@?/\\.jpg%2$/@\x7f%A4%7C",
        false,
    ),
    (
        "query starting with DEL",
        b"/%5D%3C?\x7f/%2E%3E/%60/%5D",
        false,
    ),
];

/// Pieces of a name that keyhole accepts.
const GOOD: &[&[u8]] = &[
    b"a",
    b"b",
    b"x",
    b"cat",
    b"img",
    b"u1",
    b"2026",
    b".jpg",
    b".png",
    b"-",
    b"_",
    b"~",
    b"!",
    b"$",
    b"&",
    b"'",
    b"(",
    b")",
    b"*",
    b"+",
    b",",
    b"=",
    b":",
    b"@",
    b".",
    b"%20",
    b"%41",
    b"%61",
    b"%7E",
    b"%7e",
    b"%2B",
    b"%2E",
    b"%2e",
    b"%C3%A9",
    b"%c3%a9",
    b"%E6%97%A5",
    b"%F0%9F%90%88",
    b"%E2%80%A8",
    b"%21",
    b"%27",
    b"%28",
    b"%5B",
    b"%5D",
    b"%7B",
    b"%7C",
    b"%22",
    b"%3C",
    b"%3E",
    b"%60",
    b"%5E",
    b"%C2%A0",
];

/// Pieces that break a rule (or that nginx treats specially).
const NOISE: &[&[u8]] = &[
    b"..",
    b"%2e%2e",
    b"%2E%2E",
    b".%2e",
    b"%2F",
    b"%2f",
    b"%5C",
    b"%5c",
    b"\\",
    b";",
    b"%3B",
    b"%00",
    b"%0A",
    b"%0D",
    b"%09",
    b"%7F",
    b"%C2%85",
    b"%25",
    b"%252e",
    b"%2",
    b"%zz",
    b"%G0",
    b"%",
    b"%C3",
    b"%FF",
    b"%C0%AF",
    b"%E0%80%AE",
    b"%ED%A0%80",
    b"\xc3\xa9",
    b"\xff",
    b"\x80",
    b"\x01",
    b"\x7f",
    b" ",
    b"\t",
    b"#",
    b"%23",
    b"%3F",
    b"\"",
    b"<",
    b">",
    b"`",
    b"{",
    b"|",
    b"}",
    b"^",
    b"[",
    b"]",
    b"//",
    b"/./",
    b"/../",
    b"/.",
    b"/..",
];

/// Queries sometimes appended (nginx's `$uri` never includes them).
const QUERIES: &[&[u8]] = &[b"?x=1", b"?kh_v=1&a=%2F", b"?", b"?a/../b"];

/// One raw request target: a path of 1 to 4 segments, sometimes a query.
fn generate(rng: &mut Rng) -> Vec<u8> {
    let noisy = rng.chance(35);
    let mut target = Vec::new();
    let segments = 1 + rng.below(4);
    for _ in 0..segments {
        target.extend_from_slice(&segment(rng, noisy));
    }
    if noisy && rng.chance(15) {
        // A trailing slash, or a repeated one.
        target.push(b'/');
    }
    if rng.chance(20) {
        target.extend_from_slice(rng.pick(QUERIES));
    }
    target
}

/// `/` and 1 to 4 pieces; in a noisy target some pieces break a rule.
fn segment(rng: &mut Rng, noisy: bool) -> Vec<u8> {
    let mut segment = vec![b'/'];
    let pieces = 1 + rng.below(4);
    for _ in 0..pieces {
        if noisy && rng.chance(10) {
            // Any byte at all, escaped (either case) or raw; never CR or LF, which
            // would end the request line itself.
            let byte = rng.below(256) as u8;
            match rng.below(3) {
                0 => segment.extend_from_slice(format!("%{byte:02X}").as_bytes()),
                1 => segment.extend_from_slice(format!("%{byte:02x}").as_bytes()),
                _ if byte != b'\r' && byte != b'\n' => segment.push(byte),
                _ => {}
            }
            continue;
        }
        let piece = if noisy && rng.chance(30) {
            rng.pick(NOISE)
        } else {
            rng.pick(GOOD)
        };
        segment.extend_from_slice(piece);
    }
    segment
}

/// The raw path keyhole parses: the target before the first `?`.
fn raw_path(target: &[u8]) -> &[u8] {
    match target.iter().position(|&b| b == b'?') {
        Some(at) => &target[..at],
        None => target,
    }
}

/// One keep-alive connection to the diagnostic server; reopened when nginx closes.
struct Client {
    port: u16,
    reader: Option<BufReader<TcpStream>>,
    connections: usize,
}

/// nginx's answer: the status and the body (`$uri` when 200).
#[derive(Debug, PartialEq)]
struct Answer {
    status: u16,
    body: Vec<u8>,
}

impl Client {
    fn new(port: u16) -> Client {
        Client {
            port,
            reader: None,
            connections: 0,
        }
    }

    fn connect(&mut self) -> &mut BufReader<TcpStream> {
        if self.reader.is_none() {
            let stream = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
            stream
                .set_read_timeout(Some(Duration::from_secs(5)))
                .unwrap();
            stream.set_nodelay(true).unwrap();
            self.reader = Some(BufReader::new(stream));
            self.connections += 1;
        }
        self.reader.as_mut().unwrap()
    }

    /// Sends `GET target HTTP/1.1` and reads one response; `None` when nginx closed
    /// without answering.
    fn get(&mut self, target: &[u8]) -> Option<Answer> {
        let mut request = b"GET ".to_vec();
        request.extend_from_slice(target);
        request.extend_from_slice(b" HTTP/1.1\r\nHost: parity\r\n\r\n");
        let answer = self.exchange(&request);
        if answer.is_none() {
            self.reader = None;
        }
        answer
    }

    fn exchange(&mut self, request: &[u8]) -> Option<Answer> {
        let reader = self.connect();
        reader.get_mut().write_all(request).ok()?;
        let mut status_line = String::new();
        reader.read_line(&mut status_line).ok()?;
        let status: u16 = status_line.split_whitespace().nth(1)?.parse().ok()?;
        let mut length = 0usize;
        let mut close = false;
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).ok()?;
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            let (name, value) = line.split_once(':')?;
            let value = value.trim();
            if name.eq_ignore_ascii_case("content-length") {
                length = value.parse().ok()?;
            }
            if name.eq_ignore_ascii_case("connection") && value.eq_ignore_ascii_case("close") {
                close = true;
            }
        }
        let mut body = vec![0u8; length];
        reader.read_exact(&mut body).ok()?;
        if close {
            self.reader = None;
        }
        Some(Answer { status, body })
    }
}

/// nginx + keyhole, with the diagnostic server on its own port.
fn start() -> (Env, u16) {
    let port = common::free_port();
    let diagnostic = format!(
        "    server {{
        listen 127.0.0.1:{port};
        server_name parity;
        access_log off;
        keepalive_requests 100000;
        default_type text/plain;
        location / {{ return 200 \"$uri\"; }}
    }}"
    );
    (Env::builder().http(&diagnostic).start(), port)
}

/// What one target showed.
enum Outcome {
    /// keyhole refused it (nginx's view does not matter).
    Refused,
    /// keyhole accepted it and nginx's `$uri` is the same.
    Agreed,
    /// keyhole accepted it and nginx said something else.
    Mismatch(String),
}

/// What keyhole accepts of a target: its query must parse (`Target::parse`, as
/// `/auth` does before looking at the path) and its path must be canonical.
fn keyhole_path(target: &[u8]) -> Option<CanonicalPath> {
    let split = Target::parse(target).ok()?;
    assert_eq!(split.raw_path, raw_path(target));
    CanonicalPath::parse(split.raw_path).ok()
}

fn check(client: &mut Client, target: &[u8]) -> Outcome {
    let answer = client.get(target);
    let Some(path) = keyhole_path(target) else {
        return Outcome::Refused;
    };
    match answer {
        Some(Answer { status: 200, body }) if body == path.as_str().as_bytes() => Outcome::Agreed,
        other => Outcome::Mismatch(format!(
            "target {:?}: keyhole {:?}, nginx {:?}",
            String::from_utf8_lossy(target),
            path.as_str(),
            other.map(|a| (a.status, String::from_utf8_lossy(&a.body).into_owned()))
        )),
    }
}

#[test]
fn pinned_targets_agree_with_nginx() {
    let (_env, port) = start();
    let mut client = Client::new(port);
    let mut failures = Vec::new();
    for (name, target, accepted) in PINNED {
        match check(&mut client, target) {
            Outcome::Agreed if *accepted => {}
            Outcome::Refused if !*accepted => {}
            Outcome::Mismatch(detail) => failures.push(format!("{name}: {detail}")),
            Outcome::Agreed | Outcome::Refused => failures.push(format!(
                "{name}: keyhole {} it, the case says otherwise",
                if *accepted { "refused" } else { "accepted" }
            )),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_accepted_generated_target_is_nginx_uri_byte_for_byte() {
    let (_env, port) = start();
    let started = Instant::now();
    let mut client = Client::new(port);
    let count = setting("KEYHOLE_PARITY_TARGETS", GENERATED as u64) as usize;
    let seed = setting("KEYHOLE_PARITY_SEED", SEED);
    let mut rng = Rng(seed);
    let (mut accepted, mut refused) = (0usize, 0usize);
    let mut mismatches = Vec::new();
    for _ in 0..count {
        let target = generate(&mut rng);
        match check(&mut client, &target) {
            Outcome::Agreed => accepted += 1,
            Outcome::Refused => refused += 1,
            Outcome::Mismatch(detail) => mismatches.push(detail),
        }
    }
    let elapsed = started.elapsed();
    eprintln!(
        "nginx parity (seed {seed:#x}): {count} targets, {accepted} accepted and equal to $uri, \
         {refused} refused by keyhole, {} mismatches, {} connections, {elapsed:?}",
        mismatches.len(),
        client.connections
    );
    assert!(
        mismatches.is_empty(),
        "{} of {count} targets differ:\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
    assert!(
        accepted > 500,
        "only {accepted} accepted: the test would pass vacuously"
    );
    assert!(
        refused > 500,
        "only {refused} refused: the generator lost its noise"
    );
    if count == GENERATED {
        assert!(elapsed < Duration::from_secs(30), "took {elapsed:?}");
    }
}
