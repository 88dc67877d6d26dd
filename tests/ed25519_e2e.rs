//! Ed25519 signed URLs and cookies through a real nginx running the shipped files: a
//! keyhole holding only the public key opens what the seed signed and nothing
//! tampered, and cannot sign (the exchange answers `no-signing-key`, `keyhole sign`
//! and `keyhole cookie` refuse); `keyhole serve` refuses a seed line unless
//! `KEYHOLE_ALLOW_SIGNING_KEYS=on`; `keyhole keygen --alg ed25519` makes a working
//! pair. Requests are raw bytes over TCP.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{Env, Response, now};
use keyhole::canonical::{CanonicalPath, Scope};
use keyhole::keys::{KeyRing, Secret, ed25519_public_of};
use keyhole::verify::cookie::{self, CookieGrant, SessionId};
use keyhole::verify::signed_url::{self, UrlGrant};

const BIN: &str = env!("CARGO_BIN_EXE_keyhole");
const SEED: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8";
const FILE: &[u8] = b"team photo bytes";

fn seed_line() -> String {
    format!("ed1:ed25519-seed:{SEED}")
}

fn public_line() -> String {
    let seed = Secret::from_base64url(SEED).unwrap();
    format!("ed1:ed25519:{}", ed25519_public_of(&seed).unwrap())
}

fn seed_ring() -> KeyRing {
    KeyRing::parse(&seed_line()).unwrap()
}

/// A keyhole whose only key is the public line (plus `extra` variables).
fn public_env(extra: &[(&str, &str)]) -> Env {
    let keys = public_line();
    let mut vars = vec![("KEYHOLE_KEYS", keys.as_str())];
    vars.extend_from_slice(extra);
    let env = Env::builder().vars(&vars).start();
    env.put("protected/team/a.jpg", FILE);
    env
}

fn signed_url(adjust: impl FnOnce(&mut UrlGrant)) -> String {
    let mut grant = UrlGrant::new(
        CanonicalPath::parse(b"/protected/team/a.jpg").unwrap(),
        now().plus(600),
    );
    adjust(&mut grant);
    signed_url::sign(&grant, seed_ring().signing_key()).unwrap()
}

fn get(env: &Env, target: &str) -> Response {
    let response = env.get(target);
    env.remember_secrets(target.as_bytes());
    response
}

fn with_cookie(env: &Env, value: &str) -> Response {
    let header = format!("Cookie: __Host-keyhole={value}\r\n");
    env.remember_secrets(header.as_bytes());
    env.request("GET", b"/protected/team/a.jpg", &header)
}

fn assert_opens(response: &Response) {
    assert_eq!(response.status, 200, "{}", response.head);
    assert!(response.body.ends_with(FILE));
}

fn assert_denied(env: &Env, response: &Response, reason: &str) {
    assert_eq!(response.status, 403, "{reason}: {}", response.head);
    assert!(!response.body.windows(FILE.len()).any(|w| w == FILE));
    assert_eq!(env.last_reason(), reason);
}

/// The fifth character from the end (inside the signature, and never one of the last
/// character's stray bits, which would be `malformed`) changed, never into itself.
fn flip_last_sig_char(text: &str) -> String {
    let at = text.len() - 5;
    let old = &text[at..=at];
    let new = if old == "A" { "B" } else { "A" };
    format!("{}{new}{}", &text[..at], &text[at + 1..])
}

#[test]
fn an_ed25519_url_opens_through_a_keyhole_holding_only_the_public_key() {
    let env = public_env(&[]);
    let url = signed_url(|_| {});
    assert_eq!(url.rsplit_once("kh_sig=").unwrap().1.len(), 86, "{url}");
    assert_opens(&get(&env, &url));

    // Tampered: the path, the expiry, the signature.
    let other_path = url.replace("/protected/team/a.jpg", "/protected/team/b.jpg");
    env.put("protected/team/b.jpg", b"other bytes");
    assert_denied(&env, &get(&env, &other_path), "bad-signature");
    let later = url.replace("kh_exp=", "kh_exp=1");
    assert_denied(&env, &get(&env, &later), "bad-signature");
    assert_denied(&env, &get(&env, &flip_last_sig_char(&url)), "bad-signature");
    // An HMAC signature under the same key id (the seed's bytes used as an HMAC
    // secret): the configured key's kind decides, so it is a forgery.
    let hmac = KeyRing::parse(&format!("ed1:{SEED}")).unwrap();
    let grant = UrlGrant::new(
        CanonicalPath::parse(b"/protected/team/a.jpg").unwrap(),
        now().plus(600),
    );
    let hmac_url = signed_url::sign(&grant, hmac.signing_key()).unwrap();
    assert_denied(&env, &get(&env, &hmac_url), "bad-signature");
    // A signature of neither length.
    let cut = &url[..url.len() - 2];
    assert_denied(&env, &get(&env, cut), "malformed");
    env.assert_no_secret_logged();
}

#[test]
fn an_ed25519_cookie_opens_through_a_keyhole_holding_only_the_public_key() {
    let env = public_env(&[]);
    let grant = CookieGrant::new(
        Scope::parse(b"/protected/team/").unwrap(),
        now().plus(600),
        Some(SessionId::parse("s-ed").unwrap()),
    );
    let value = cookie::sign(&grant, seed_ring().signing_key()).unwrap();
    assert_opens(&with_cookie(&env, &value));
    assert_denied(
        &env,
        &with_cookie(&env, &flip_last_sig_char(&value)),
        "bad-signature",
    );
    // The scope field changed to `/protected/` (base64url of the decoded scope).
    let wider = value.replace(
        &format!(".{}.", common::b64(b"/protected/team/")),
        &format!(".{}.", common::b64(b"/protected/")),
    );
    assert_ne!(wider, value);
    assert_denied(&env, &with_cookie(&env, &wider), "bad-signature");
    env.assert_no_secret_logged();
}

#[test]
fn a_keyhole_holding_only_public_keys_cannot_sign() {
    let env = public_env(&[]);
    let url = signed_url(|g| g.scope = Some(Scope::parse(b"/protected/team/").unwrap()));
    let query = url.split_once('?').unwrap().1;
    // The URL itself opens: the key verifies.
    assert_opens(&get(&env, &url));
    let link = format!("/_keyhole/session?return_to=/protected/team/a.jpg&{query}");
    let response = get(&env, &link);
    assert_eq!(response.status, 403, "{}", response.head);
    assert!(response.header("set-cookie").is_none(), "{}", response.head);
    assert_logged(&env, "no-signing-key");
    // A forged scope URL is still a forgery first, not a signing problem.
    let response = get(&env, &flip_last_sig_char(&link));
    assert_eq!(response.status, 403);
    assert_logged(&env, "bad-signature");

    // The commands refuse too, with exit code 2 and the reason.
    let public = public_line();
    let keys = [("KEYHOLE_KEYS", public.as_str())];
    for args in [
        &["sign", "/protected/team/a.jpg"][..],
        &["cookie", "/protected/team/"][..],
    ] {
        let output = keyhole(args, &keys);
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        assert!(output.stdout.is_empty(), "{args:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains("key `ed1` is an Ed25519 public key"),
            "{args:?}: {stderr}"
        );
    }
    env.assert_no_secret_logged();
}

#[test]
fn with_signing_allowed_the_exchange_mints_ed25519_cookies() {
    let keys = seed_line();
    let env = Env::builder()
        .vars(&[
            ("KEYHOLE_KEYS", keys.as_str()),
            ("KEYHOLE_ALLOW_SIGNING_KEYS", "on"),
        ])
        .start();
    env.put("protected/team/a.jpg", FILE);
    let url = signed_url(|g| g.scope = Some(Scope::parse(b"/protected/team/").unwrap()));
    let query = url.split_once('?').unwrap().1;
    let response = get(
        &env,
        &format!("/_keyhole/session?return_to=/protected/team/a.jpg&{query}"),
    );
    assert_eq!(response.status, 303, "{}", response.head);
    let set_cookie = response.header("set-cookie").unwrap();
    let pair = set_cookie.split(';').next().unwrap().trim();
    let value = pair.strip_prefix("__Host-keyhole=").unwrap();
    assert!(value.starts_with("2.ed1."), "{value}");
    assert_eq!(value.rsplit_once('.').unwrap().1.len(), 86, "{value}");
    // The minted cookie opens through a keyhole holding only the public key.
    let verifier = public_env(&[]);
    assert_opens(&with_cookie(&verifier, value));
    env.assert_no_secret_logged();
    verifier.assert_no_secret_logged();
}

/// keyhole logs `reason` (waiting at most 5 s for the log line to be written).
fn assert_logged(env: &Env, reason: &str) {
    let start = Instant::now();
    while !env.keyhole.log_text().contains(reason) && start.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(20));
    }
    let log = env.keyhole.log_text();
    assert!(log.contains(reason), "{reason} not logged: {log}");
}

fn keyhole(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(BIN);
    command
        .args(args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default());
    for (k, v) in env {
        command.env(k, v);
    }
    command.output().unwrap()
}

/// `keyhole serve` with these keys: its exit code and standard error, or `None` when
/// it was still running after 10 s (then it is killed by pid).
fn serve_exit(env: &[(&str, &str)]) -> Option<(Option<i32>, String)> {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("serve.log");
    let mut command = Command::new(BIN);
    command
        .arg("serve")
        .env_clear()
        .env(
            "KEYHOLE_LISTEN",
            format!("127.0.0.1:{}", common::free_port()),
        )
        .env("KEYHOLE_ADMIN_LISTEN", "off")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap());
    for (k, v) in env {
        command.env(k, v);
    }
    let mut child = command.spawn().unwrap();
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(10) {
        if let Some(status) = child.try_wait().unwrap() {
            return Some((status.code(), std::fs::read_to_string(&log).unwrap()));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
    None
}

#[test]
fn serve_refuses_a_seed_line_unless_told_it_may_sign() {
    let seed = seed_line();
    let (code, stderr) = serve_exit(&[("KEYHOLE_KEYS", seed.as_str())])
        .expect("keyhole serve started with a seed line");
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("KEYHOLE_ALLOW_SIGNING_KEYS=on"), "{stderr}");
    assert!(stderr.contains("ed1"), "{stderr}");
    assert!(!stderr.contains(SEED), "the seed was echoed: {stderr}");
    // In a file, next to the public line of another key, too.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("keys");
    std::fs::write(
        &file,
        format!("{}\n{seed}\n", public_line().replace("ed1", "ed0")),
    )
    .unwrap();
    let (code, stderr) =
        serve_exit(&[("KEYHOLE_KEYS_FILE", file.to_str().unwrap())]).expect("started");
    assert_eq!(code, Some(2), "{stderr}");
    // A wrong value is a configuration error of its own.
    let public = public_line();
    let (code, stderr) = serve_exit(&[
        ("KEYHOLE_KEYS", public.as_str()),
        ("KEYHOLE_ALLOW_SIGNING_KEYS", "yes"),
    ])
    .expect("started with KEYHOLE_ALLOW_SIGNING_KEYS=yes");
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("must be `on` or `off`"), "{stderr}");
}

/// SIGHUP re-reads the keys with the same rule: a seed line without
/// `KEYHOLE_ALLOW_SIGNING_KEYS=on` is a failed reload, and the keys in force stay.
#[test]
fn a_reload_refuses_a_seed_line_too() {
    let dir = tempfile::tempdir().unwrap();
    let keys_file = dir.path().join("keys");
    std::fs::write(&keys_file, format!("{}\n", public_line())).unwrap();
    let file = keys_file.to_str().unwrap().to_owned();
    let env = Env::builder()
        .vars(&[("KEYHOLE_KEYS_FILE", file.as_str())])
        .start();
    env.put("protected/team/a.jpg", FILE);
    let url = signed_url(|_| {});
    assert_opens(&get(&env, &url));

    // The seed line, and a second key that would change what opens.
    std::fs::write(
        &keys_file,
        format!("{}\nk2:{}\n", seed_line(), common::TEST_SECRET),
    )
    .unwrap();
    let hup = Command::new("kill")
        .args(["-HUP", &env.keyhole.pid().to_string()])
        .status()
        .unwrap();
    assert!(hup.success());
    assert_logged(&env, "reload failed");
    assert_logged(&env, "KEYHOLE_ALLOW_SIGNING_KEYS");
    assert!(
        !env.keyhole.log_text().contains(SEED),
        "the seed was logged"
    );
    // The public key is still the only key: its URL opens, k2 is unknown.
    assert_opens(&get(&env, &url));
    let k2 = KeyRing::parse(&format!("k2:{}", common::TEST_SECRET)).unwrap();
    let grant = UrlGrant::new(
        CanonicalPath::parse(b"/protected/team/a.jpg").unwrap(),
        now().plus(600),
    );
    let k2_url = signed_url::sign(&grant, k2.signing_key()).unwrap();
    assert_denied(&env, &get(&env, &k2_url), "unknown-key");
    env.assert_no_secret_logged();
}

#[test]
fn keygen_makes_a_pair_whose_seed_signs_what_the_public_line_opens() {
    let output = keyhole(&["keygen", "--alg", "ed25519", "--kid", "team-a"], &[]);
    assert!(output.status.success());
    let stdout = String::from_utf8(output.stdout).unwrap();
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{stdout}");
    assert!(lines[0].starts_with("team-a:ed25519-seed:"), "{stdout}");
    assert!(lines[1].starts_with("team-a:ed25519:"), "{stdout}");
    assert_ne!(lines[0], lines[1]);
    let again = keyhole(&["keygen", "--alg", "ed25519"], &[]);
    assert_ne!(String::from_utf8(again.stdout).unwrap(), stdout);

    let signed = keyhole(
        &["sign", "/protected/team/a.jpg", "--ttl", "5m"],
        &[("KEYHOLE_KEYS", lines[0])],
    );
    assert!(
        signed.status.success(),
        "{}",
        String::from_utf8_lossy(&signed.stderr)
    );
    let url = String::from_utf8(signed.stdout).unwrap().trim().to_owned();
    let env = Env::builder().vars(&[("KEYHOLE_KEYS", lines[1])]).start();
    env.put("protected/team/a.jpg", FILE);
    assert_opens(&get(&env, &url));
    let cookie = keyhole(
        &["cookie", "/protected/team/", "--ttl", "5m"],
        &[("KEYHOLE_KEYS", lines[0])],
    );
    assert!(cookie.status.success());
    let header = String::from_utf8(cookie.stdout).unwrap();
    let value = header
        .split(';')
        .next()
        .unwrap()
        .trim()
        .strip_prefix("__Host-keyhole=")
        .unwrap()
        .to_owned();
    assert_opens(&with_cookie(&env, &value));
    env.assert_no_secret_logged();
}

/// `keygen --alg ed25519 --out PATH`: the seed to PATH and the public line to PATH.pub,
/// both new files of mode 0600, nothing on standard output; a second run keeps both.
#[test]
fn keygen_out_writes_the_seed_and_its_public_twin_once() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keys");
    let public = dir.path().join("keys.pub");
    let args = ["keygen", "--alg", "ed25519", "--kid", "app1", "--out"];
    let out = keyhole(&[&args[..], &[path.to_str().unwrap()]].concat(), &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.stdout.is_empty(), "the keys go to the files only");
    let seed = std::fs::read_to_string(&path).unwrap();
    let public_text = std::fs::read_to_string(&public).unwrap();
    assert!(seed.starts_with("app1:ed25519-seed:"), "{seed}");
    assert!(public_text.starts_with("app1:ed25519:"), "{public_text}");
    for file in [&path, &public] {
        let mode = std::fs::metadata(file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
    // The seed signs what the public twin verifies.
    let signer = KeyRing::parse(seed.trim()).unwrap();
    let verifier = KeyRing::parse(public_text.trim()).unwrap();
    let seed_secret = Secret::from_base64url(seed.trim().rsplit(':').next().unwrap()).unwrap();
    assert_eq!(
        format!("app1:ed25519:{}", ed25519_public_of(&seed_secret).unwrap()),
        public_text.trim()
    );
    assert!(signer.can_sign() && !verifier.can_sign());
    // A second run keeps the pair.
    let again = keyhole(&[&args[..], &[path.to_str().unwrap()]].concat(), &[]);
    assert!(again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("kept"));
    assert_eq!(std::fs::read_to_string(&path).unwrap(), seed);
    assert_eq!(std::fs::read_to_string(&public).unwrap(), public_text);
}

/// `keyhole explain` names the kind of the key that signed a URL, and allows an
/// Ed25519 URL with the public line alone.
#[test]
fn explain_names_the_key_kind() {
    let url = signed_url(|_| {});
    let public = public_line();
    let out = keyhole(&["explain", &url], &[("KEYHOLE_KEYS", public.as_str())]);
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{report}");
    assert!(report.contains("key kind:   ed25519\n"), "{report}");
    let seed = seed_line();
    let out = keyhole(&["explain", &url], &[("KEYHOLE_KEYS", seed.as_str())]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("key kind:   ed25519-seed\n"));
}
