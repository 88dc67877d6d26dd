//! The optional decision cache (`nginx/keyhole-cached.conf`) through a real nginx:
//! cacheable allows are reused, and nothing that depends on the client or the host, or
//! that has expired or been denied, is ever served from the cache.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::net::Ipv4Addr;
use std::time::Duration;

use common::{Env, ip, now};

fn get_from(env: &Env, source: Ipv4Addr, target: &str) -> common::Response {
    let request = format!("GET {target} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    env.remember_secrets(request.as_bytes());
    env.note_request();
    common::send_raw_from(source, env.port, request.as_bytes())
}

fn cached_env() -> Env {
    let env = Env::builder()
        .vars(&[("KEYHOLE_LEEWAY", "0")])
        .decision_cache()
        .start();
    env.put("protected/a.png", b"a bytes");
    env
}

#[test]
fn a_cacheable_allow_is_reused_without_asking_keyhole() {
    let mut env = cached_env();
    let url = env.sign("/protected/a.png");
    assert_eq!(env.get(&url).status, 200);
    // keyhole gone: the cached allow still serves this URL, and nothing else.
    env.keyhole.stop();
    let again = env.get(&url);
    assert_eq!(
        (again.status, again.body.as_slice()),
        (200, b"a bytes".as_slice())
    );
    let other = env.sign_with("/protected/a.png", |g| g.exp = now().plus(601));
    assert_ne!(
        env.get(&other).status,
        200,
        "an uncached URL must need keyhole"
    );
}

#[test]
fn an_ip_bound_allow_is_never_cached_for_another_client() {
    let env = cached_env();
    let url = env.sign_with("/protected/a.png", |g| g.ip = ip("127.0.0.1"));
    assert_eq!(
        get_from(&env, Ipv4Addr::new(127, 0, 0, 1), &url).status,
        200
    );
    let other = get_from(&env, Ipv4Addr::new(127, 0, 0, 2), &url);
    assert_eq!(other.status, 403);
    assert_eq!(env.last_reason(), "ip-mismatch");
    assert_eq!(
        get_from(&env, Ipv4Addr::new(127, 0, 0, 1), &url).status,
        200
    );
}

fn get_on(env: &Env, host: &str, target: &str) -> common::Response {
    let request = format!("GET {target} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    env.raw(request.as_bytes())
}

/// An allow cached on one virtual host is never served on another: the cache key
/// holds `$host`. Both a host-bound URL and a key limited to one host depend on it.
#[test]
fn an_allow_cached_on_one_host_is_not_served_on_another() {
    let keys = format!(
        "{},team:{};hosts=team-b.test",
        common::KEY_LINE,
        common::TEST_SECRET
    );
    let mut env = Env::builder()
        .vars(&[("KEYHOLE_LEEWAY", "0"), ("KEYHOLE_KEYS", &keys)])
        .decision_cache()
        .start();
    env.put("protected/a.png", b"a bytes");
    let bound = env.sign_with("/protected/a.png", |g| {
        g.host = Some(keyhole::host::Host::parse("localhost").unwrap());
    });
    let mut grant = keyhole::verify::signed_url::UrlGrant::new(
        keyhole::canonical::CanonicalPath::parse(b"/protected/a.png").unwrap(),
        now().plus(600),
    );
    grant.exp = now().plus(601);
    let team = keyhole::verify::signed_url::sign(&grant, env.keys.find("team").unwrap()).unwrap();
    assert_eq!(get_on(&env, "localhost", &bound).status, 200);
    assert_eq!(get_on(&env, "team-b.test", &team).status, 200);
    // The same URLs on the other host: asked again, and denied.
    assert_eq!(get_on(&env, "team-b.test", &bound).status, 403);
    assert_eq!(env.last_reason(), "host-mismatch");
    assert_eq!(get_on(&env, "localhost", &team).status, 403);
    assert_eq!(env.last_reason(), "key-out-of-scope");
    // The allows were cached, on their own hosts.
    env.keyhole.stop();
    assert_eq!(get_on(&env, "localhost", &bound).status, 200);
    assert_eq!(get_on(&env, "team-b.test", &team).status, 200);
    assert_ne!(get_on(&env, "team-b.test", &bound).status, 200);
}

#[test]
fn denials_are_never_cached_and_allows_end_at_expiry() {
    let env = cached_env();
    // Not yet valid for 2 more seconds: denied now, allowed after, so the denial was
    // not cached.
    let later = env.sign_with("/protected/a.png", |g| g.nbf = Some(now().plus(2)));
    assert_eq!(env.get(&later).status, 403);
    assert_eq!(env.last_reason(), "not-yet-valid");
    std::thread::sleep(Duration::from_millis(3100));
    assert_eq!(env.get(&later).status, 200);

    // Expiring in 2 seconds (leeway 0): allowed and cached, then denied after expiry,
    // so the cached allow did not outlive the credential.
    let short = env.sign_with("/protected/a.png", |g| g.exp = now().plus(2));
    assert_eq!(env.get(&short).status, 200);
    assert_eq!(env.get(&short).status, 200);
    std::thread::sleep(Duration::from_millis(3100));
    let expired = env.get(&short);
    assert_eq!(expired.status, 403);
    assert_eq!(env.last_reason(), "expired");
}

/// The shipped include keeps cache files open (`open_file_cache`). When an entry
/// expires and keyhole's new answer replaces the file, the next hit must read the new
/// file, not the old one through a kept descriptor: with keyhole stopped, a hit on the
/// refreshed entry is served (a read of the old, expired file would go to keyhole and
/// fail).
#[test]
fn a_refreshed_entry_is_read_from_its_new_file() {
    let mut env = Env::builder()
        .vars(&[("KEYHOLE_LEEWAY", "0"), ("KEYHOLE_DECISION_CACHE_MAX", "2")])
        .decision_cache()
        .start();
    env.put("protected/a.png", b"a bytes");
    let url = env.sign("/protected/a.png");
    assert_eq!(env.get(&url).status, 200);
    assert_eq!(env.get(&url).status, 200, "a hit on the first file");
    std::thread::sleep(Duration::from_millis(3100));
    // Expired: nginx asks keyhole again and replaces the file.
    assert_eq!(env.get(&url).status, 200);
    env.keyhole.stop();
    let hit = env.get(&url);
    assert_eq!(
        (hit.status, hit.body.as_slice()),
        (200, b"a bytes".as_slice()),
        "the refreshed entry must be served from its new file"
    );
}

#[test]
fn keyhole_cached_conf_is_keyhole_conf_plus_the_cache() {
    // Everything after the header comment, with the cache block taken out, must be
    // keyhole.conf's: the two shipped files cannot drift apart.
    let body = |text: &str| -> String {
        text.lines()
            .skip_while(|line| line.starts_with('#') || line.is_empty())
            .collect::<Vec<_>>()
            .join("\n")
    };
    let cached = body(keyhole_support::nginx::CACHED_AUTH_CONF);
    let start = cached.find("\n\n    # The decision cache").unwrap();
    let end = start
        + cached[start..]
            .find("proxy_no_cache $http_cookie;")
            .unwrap()
        + "proxy_no_cache $http_cookie;".len();
    let without_cache = format!("{}{}", &cached[..start], &cached[end..]);
    assert_eq!(without_cache, body(keyhole_support::nginx::AUTH_CONF));
}
