//! `keyhole_jwt_keys_file` through a real nginx that loads the built module: an HMAC
//! JWT without a use limit is decided inside nginx (the sidecar decides nothing) with
//! the reason code the sidecar gives; a JWT that needs the store (`kh_once`) or a key
//! the module does not hold is still handed over and decided exactly once. Requests go
//! out as raw bytes.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::module::{ModuleSetup, hmac_jwt, jwt_claims, jwt_key_line};
use common::{Env, now, send_raw};
use serde_json::{Value, json};

const FILE: &[u8] = b"module-protected bytes";
const PATH: &str = "/protected/a.jpg";

fn with_module() -> Env {
    let key = jwt_key_line();
    let setup = ModuleSetup {
        jwt_keys: Some(key.clone()),
        ..ModuleSetup::with_sidecar()
    };
    let env = Env::builder()
        .vars(&[("KEYHOLE_JWT_KEYS", &key)])
        .module(setup)
        .start();
    env.put("protected/a.jpg", FILE);
    env.put("protected/b.jpg", FILE);
    env
}

/// How many decisions the sidecar has made (`keyhole_decisions_total`, every label).
fn sidecar_decisions(env: &Env) -> u64 {
    let metrics = send_raw(
        env.keyhole.admin_port,
        b"GET /metrics HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
    );
    String::from_utf8_lossy(&metrics.body)
        .lines()
        .filter(|l| l.starts_with("keyhole_decisions_total{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

/// Status and logged reason of `GET path?token=…`.
fn ask(env: &Env, path: &str, token: &str) -> (u16, String) {
    let response = env.request("GET", format!("{path}?token={token}").as_bytes(), "");
    if response.status != 200 {
        assert!(!response.body.windows(FILE.len()).any(|w| w == FILE));
    }
    (response.status, env.last_reason())
}

fn set(mut claims: Value, key: &str, value: Value) -> Value {
    claims.as_object_mut().unwrap().insert(key.into(), value);
    claims
}

#[test]
fn an_hmac_jwt_is_decided_in_nginx_with_the_sidecars_reason_codes() {
    let env = with_module();
    let t = now().0;
    let good = hmac_jwt("mh1", &jwt_claims(PATH, t));
    env.remember_secrets(good.as_bytes());
    let response = env.request("GET", format!("{PATH}?token={good}").as_bytes(), "");
    assert_eq!(response.status, 200, "{}", response.head);
    assert_eq!(response.body, FILE);

    let (message, signature) = good.rsplit_once('.').unwrap();
    let flipped = if signature.starts_with('A') { 'B' } else { 'A' };
    let tampered = format!("{message}.{flipped}{}", &signature[1..]);
    let cases = [
        ("tampered", PATH, tampered),
        (
            "expired",
            PATH,
            hmac_jwt(
                "mh1",
                &set(
                    set(jwt_claims(PATH, t - 400), "exp", json!(t - 200)),
                    "iat",
                    json!(t - 260),
                ),
            ),
        ),
        ("out of scope", "/protected/b.jpg", good.clone()),
        (
            "wrong audience",
            PATH,
            hmac_jwt("mh1", &set(jwt_claims(PATH, t), "aud", json!("other"))),
        ),
    ];
    let mut by_module = Vec::new();
    for (label, path, token) in &cases {
        env.remember_secrets(token.as_bytes());
        let (status, reason) = ask(&env, path, token);
        assert_eq!(status, 403, "{label}");
        by_module.push(reason);
    }
    assert_eq!(
        by_module,
        ["bad-signature", "expired", "out-of-scope", "wrong-audience"]
    );
    // All of it decided once, in nginx.
    assert_eq!(sidecar_decisions(&env), 0);
    env.assert_no_secret_logged();

    // The sidecar alone (the shipped keyhole.conf, no module) gives the same answers.
    let sidecar = Env::builder()
        .vars(&[("KEYHOLE_JWT_KEYS", &jwt_key_line())])
        .start();
    sidecar.put("protected/a.jpg", FILE);
    sidecar.put("protected/b.jpg", FILE);
    assert_eq!(ask(&sidecar, PATH, &good), (200, "ok".to_owned()));
    for ((label, path, token), module_reason) in cases.iter().zip(&by_module) {
        assert_eq!(
            ask(&sidecar, path, token),
            (403, module_reason.clone()),
            "{label}"
        );
    }
}

#[test]
fn a_jwt_that_needs_the_store_or_another_key_is_handed_over_and_decided_once() {
    let env = with_module();
    let t = now().0;
    let once = hmac_jwt(
        "mh1",
        &set(
            set(jwt_claims(PATH, t), "jti", json!("module-jwt-once")),
            "kh_once",
            json!(true),
        ),
    );
    env.remember_secrets(once.as_bytes());
    assert_eq!(ask(&env, PATH, &once), (200, "ok".to_owned()));
    assert_eq!(sidecar_decisions(&env), 1, "handed over exactly once");
    assert_eq!(ask(&env, PATH, &once), (403, "replayed".to_owned()));
    assert_eq!(sidecar_decisions(&env), 2);
    // A key id the module does not hold: the sidecar may hold it, so it decides.
    let foreign = hmac_jwt("not-here", &jwt_claims(PATH, t));
    env.remember_secrets(foreign.as_bytes());
    assert_eq!(ask(&env, PATH, &foreign), (403, "unknown-key".to_owned()));
    assert_eq!(sidecar_decisions(&env), 3);
    // A plain token next to them never reaches the sidecar.
    let plain = hmac_jwt("mh1", &jwt_claims(PATH, t));
    env.remember_secrets(plain.as_bytes());
    assert_eq!(ask(&env, PATH, &plain).0, 200);
    assert_eq!(sidecar_decisions(&env), 3);
    env.assert_no_secret_logged();
}

#[test]
fn single_use_always_hands_every_jwt_over() {
    let key = jwt_key_line();
    let setup = ModuleSetup {
        jwt_keys: Some(key.clone()),
        http: "    keyhole_jwt_single_use always;\n".to_owned(),
        ..ModuleSetup::with_sidecar()
    };
    let env = Env::builder()
        .vars(&[
            ("KEYHOLE_JWT_KEYS", &key),
            ("KEYHOLE_JWT_SINGLE_USE", "always"),
        ])
        .module(setup)
        .start();
    env.put("protected/a.jpg", FILE);
    let token = hmac_jwt(
        "mh1",
        &set(jwt_claims(PATH, now().0), "jti", json!("module-jwt-always")),
    );
    env.remember_secrets(token.as_bytes());
    assert_eq!(ask(&env, PATH, &token), (200, "ok".to_owned()));
    assert_eq!(ask(&env, PATH, &token), (403, "replayed".to_owned()));
    assert_eq!(sidecar_decisions(&env), 2);
}

#[test]
fn a_bad_jwt_key_file_fails_nginx_t_naming_file_and_line_not_the_secret() {
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("bad-jwt.keys");
    let short = &common::TEST_SECRET[..20];
    std::fs::write(
        &keys,
        format!("{}\n# next\nmh2:HS256:{short}\n", jwt_key_line()),
    )
    .unwrap();
    let conf = dir.path().join("nginx.conf");
    std::fs::write(
        &conf,
        format!(
            "load_module {};\nerror_log {}/e.log;\npid {}/p;\nevents {{}}\nhttp {{ keyhole_jwt_keys_file {}; }}\n",
            common::module::module_so().display(),
            dir.path().display(),
            dir.path().display(),
            keys.display()
        ),
    )
    .unwrap();
    let out = std::process::Command::new(keyhole_support::nginx::find_nginx().unwrap())
        .arg("-t")
        .arg("-p")
        .arg(dir.path())
        .arg("-c")
        .arg(&conf)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains(&format!("JWT key file \"{}\", line 3", keys.display())),
        "{stderr}"
    );
    assert!(
        !stderr.contains(short) && !stderr.contains(common::TEST_SECRET),
        "{stderr}"
    );
}
