//! The container files (linted by `scripts/lint-containers` in CI; no engine runs
//! here): the compose stack must mount exactly the nginx files the end-to-end tests
//! run, the image must check health through `keyhole health` as a non-root user, and
//! `keyhole gallery` (the stack's page generator) must write URLs keyhole allows.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::sync::Arc;

use keyhole::authorize::Authorizer;
use keyhole::clock::{Clock, SystemClock};
use keyhole::keys::KeyRing;
use keyhole::request::NginxHeaders;
use keyhole::verify::Policy;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn read(path: &str) -> String {
    std::fs::read_to_string(format!("{ROOT}/{path}")).unwrap()
}

#[test]
fn compose_mounts_the_nginx_files_the_tests_use() {
    let compose = read("docker-compose.yml");
    let nginx_conf = read("deploy/compose/nginx.conf");
    // The files support/src/nginx.rs embeds and the harness renders.
    let shipped = [
        (
            "keyhole-upstream.conf",
            keyhole_support::nginx::UPSTREAM_CONF,
        ),
        ("keyhole.conf", keyhole_support::nginx::AUTH_CONF),
        ("keyhole-log.conf", keyhole_support::nginx::LOG_CONF),
        ("example-site.conf", keyhole_support::nginx::SITE_CONF),
    ];
    for (name, text) in shipped {
        assert_eq!(
            read(&format!("nginx/{name}")),
            text,
            "{name} differs from the embedded copy"
        );
        let mount = format!("./nginx/{name}:/etc/nginx/keyhole/{name}:ro");
        assert!(
            compose.contains(&mount),
            "docker-compose.yml does not mount {mount}"
        );
    }
    for name in [
        "keyhole-log.conf",
        "keyhole-upstream.conf",
        "example-site.conf",
    ] {
        assert!(
            nginx_conf.contains(&format!("include /etc/nginx/keyhole/{name};")),
            "{name}"
        );
    }
    // example-site.conf includes keyhole.conf from the mounted folder, serves the
    // volume the gallery fills, and reaches keyhole where the upstream file says.
    assert!(keyhole_support::nginx::SITE_CONF.contains("include /etc/nginx/keyhole/keyhole.conf;"));
    assert!(compose.contains("www:/srv/keyhole/www:ro"));
    assert!(keyhole_support::nginx::SITE_CONF.contains("root /srv/keyhole/www;"));
    assert!(keyhole_support::nginx::UPSTREAM_CONF.contains("server 127.0.0.1:9181;"));
    assert!(compose.contains("KEYHOLE_LISTEN: 127.0.0.1:9181"));
    assert!(compose.contains("network_mode: \"service:keyhole\""));
}

#[test]
fn the_image_runs_as_non_root_and_checks_health_without_a_shell() {
    let dockerfile = read("Dockerfile");
    assert!(
        dockerfile.contains("FROM gcr.io/distroless/static"),
        "minimal runtime image"
    );
    assert!(dockerfile.contains("USER 65532:65532"));
    assert!(
        dockerfile.contains(r#"HEALTHCHECK"#)
            && dockerfile.contains(r#"CMD ["/keyhole", "health"]"#)
    );
    assert!(dockerfile.contains("--locked"));
    assert!(dockerfile.contains("AS build"), "multi-stage");
}

#[test]
fn gallery_writes_a_page_of_urls_keyhole_allows() {
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_keyhole"))
        .args(["gallery", dir.path().to_str().unwrap(), "--ttl", "10m"])
        .env_clear()
        .env("KEYHOLE_KEYS", common::KEY_LINE)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let html = std::fs::read_to_string(dir.path().join("index.html")).unwrap();
    let sources: Vec<String> = html
        .split("src=\"")
        .skip(1)
        .map(|rest| rest.split('"').next().unwrap().replace("&amp;", "&"))
        .collect();
    assert_eq!(sources.len(), 7);
    let authorizer = Authorizer::new(
        Arc::new(KeyRing::parse(common::KEY_LINE).unwrap()),
        Policy::default(),
    );
    let codes: Vec<&str> = sources
        .iter()
        .map(|src| {
            let headers = NginxHeaders::new(src.as_bytes(), b"GET", b"127.0.0.1");
            authorizer.decide(&headers, SystemClock.now()).code()
        })
        .collect();
    assert_eq!(codes, ["ok", "ok", "ok", "ok", "ok", "ok", "bad-signature"]);
    for src in &sources[..6] {
        let file = src.split('?').next().unwrap();
        assert!(
            dir.path().join(file.trim_start_matches('/')).is_file(),
            "{file}"
        );
    }
}

#[test]
fn the_grafana_dashboard_queries_only_metrics_keyhole_exports() {
    let dashboard: serde_json::Value =
        serde_json::from_str(&read("deploy/grafana/keyhole.json")).unwrap();
    // What keyhole really exports, with one observation of each metric.
    let fetches = keyhole::metrics::ResultCounter::default();
    fetches.record(true);
    let metrics = keyhole::metrics::Metrics::new(Some(fetches));
    metrics.record_reload(true);
    metrics
        .store()
        .record("ping", std::time::Duration::from_millis(1), Some("timeout"));
    metrics.record_decision(
        &keyhole::decision::Decision::Deny(keyhole::decision::Deny::Expired),
        "signed-url",
        std::time::Duration::from_micros(3),
    );
    let exposition = metrics.encode();
    let panels = dashboard["panels"].as_array().unwrap();
    assert!(panels.len() >= 9);
    for panel in panels {
        for target in panel["targets"].as_array().unwrap() {
            let expr = target["expr"].as_str().unwrap();
            let names: Vec<&str> = expr
                .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .filter(|word| word.starts_with("keyhole_"))
                .collect();
            assert!(!names.is_empty(), "{expr}");
            for name in names {
                assert!(
                    exposition.contains(&format!("\n{name}{{"))
                        || exposition.contains(&format!("\n{name} ")),
                    "{name} is not in keyhole's /metrics:\n{exposition}"
                );
            }
        }
    }
}

/// The value of `NAME: value` (compose) or `NAME=value` (Dockerfile ENV) in `text`.
fn setting(text: &str, name: &str) -> Option<String> {
    text.lines().find_map(|line| {
        let rest = line.trim().trim_end_matches('\\').trim();
        let rest = rest.strip_prefix("ENV ").unwrap_or(rest);
        rest.strip_prefix(&format!("{name}: "))
            .or_else(|| rest.strip_prefix(&format!("{name}=")))
            .map(|value| value.trim().to_owned())
    })
}

#[test]
fn the_admin_listener_of_the_image_and_the_stack_is_closed() {
    use keyhole::config::Config;
    // The image: the admin listener on loopback (its HEALTHCHECK needs nothing more),
    // and the configuration it ships with starts.
    let dockerfile = read("Dockerfile");
    let admin = setting(&dockerfile, "KEYHOLE_ADMIN_LISTEN").unwrap();
    let image = Config::from_vars([
        ("KEYHOLE_KEYS".to_owned(), common::KEY_LINE.to_owned()),
        ("KEYHOLE_ADMIN_LISTEN".to_owned(), admin.clone()),
    ]);
    assert!(
        image.is_ok(),
        "the image's KEYHOLE_ADMIN_LISTEN={admin}: {image:?}"
    );
    assert!(!dockerfile.contains("EXPOSE 9181 9182"));
    // The stack: the key and the token are generated on first start by the init
    // services (`keyhole keygen --out`) into the secrets volume, and the files they
    // write form a configuration keyhole accepts.
    let compose = read("docker-compose.yml");
    assert_eq!(
        setting(&compose, "KEYHOLE_ADMIN_TOKEN_FILE").as_deref(),
        Some("/var/lib/keyhole/admin-token")
    );
    assert_eq!(
        setting(&compose, "KEYHOLE_KEYS_FILE").as_deref(),
        Some("/var/lib/keyhole/keys")
    );
    assert!(compose.contains(r#"command: ["keygen", "--out", "/var/lib/keyhole/keys"]"#));
    assert!(compose.contains(
        r#"command: ["keygen", "--kid", "admin", "--out", "/var/lib/keyhole/admin-token"]"#
    ));
    assert!(compose.contains("condition: service_completed_successfully"));
    assert!(compose.contains("keyhole-secrets:/var/lib/keyhole:ro"));
    // The image gives its non-root user the folder the volume is mounted on.
    assert!(
        dockerfile.contains("COPY --from=build --chown=65532:65532 /out/secrets /var/lib/keyhole")
    );
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys");
    let token = dir.path().join("admin-token");
    for args in [
        vec!["keygen", "--out", keys.to_str().unwrap()],
        vec!["keygen", "--kid", "admin", "--out", token.to_str().unwrap()],
    ] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_keyhole"))
            .args(&args)
            .env_clear()
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let admin = setting(&compose, "KEYHOLE_ADMIN_LISTEN").unwrap();
    let stack = Config::from_vars([
        (
            "KEYHOLE_KEYS_FILE".to_owned(),
            keys.to_str().unwrap().to_owned(),
        ),
        ("KEYHOLE_ADMIN_LISTEN".to_owned(), admin),
        (
            "KEYHOLE_ADMIN_TOKEN_FILE".to_owned(),
            token.to_str().unwrap().to_owned(),
        ),
    ])
    .unwrap();
    assert!(stack.server.admin_token.is_some());
}

/// Whether `word` looks like a key line: `kid:secret` with a base64url secret of 32
/// or more bytes (`KEYHOLE_KEYS`), or `kid:ALG:secret` (`KEYHOLE_JWT_KEYS`).
fn looks_like_a_key(word: &str) -> bool {
    use base64::Engine as _;
    let Some(secret) = word.rsplit(':').next() else {
        return false;
    };
    word.contains(':')
        && secret.len() >= 43
        && base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(secret)
            .is_ok_and(|bytes| bytes.len() >= 32)
}

#[test]
fn no_key_is_committed_in_the_deployment_files() {
    // Regression: the compose stack used to ship a public demo key.
    for gone in ["deploy/compose/keys", "deploy/compose/admin-token"] {
        assert!(
            !std::path::Path::new(&format!("{ROOT}/{gone}")).exists(),
            "{gone} is back: keys are generated at first start, never committed"
        );
    }
    let mut files = vec![
        std::path::PathBuf::from(format!("{ROOT}/docker-compose.yml")),
        std::path::PathBuf::from(format!("{ROOT}/Dockerfile")),
    ];
    let mut folders: Vec<std::path::PathBuf> = ["deploy", "proxies", "nginx"]
        .iter()
        .map(|folder| std::path::PathBuf::from(format!("{ROOT}/{folder}")))
        .collect();
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(&folder).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                folders.push(path);
            } else {
                files.push(path);
            }
        }
    }
    assert!(files.len() > 5, "{files:?}");
    for file in files {
        let Ok(text) = std::fs::read_to_string(&file) else {
            continue;
        };
        for word in text.split(|c: char| c.is_whitespace() || "\"',=[]{}".contains(c)) {
            assert!(
                !looks_like_a_key(word),
                "{} holds what looks like a key",
                file.display()
            );
        }
        assert!(!text.contains(common::TEST_SECRET), "{}", file.display());
    }
    // The check can fail: a key line is recognised.
    assert!(looks_like_a_key(common::KEY_LINE));
    assert!(looks_like_a_key(common::JWT_KEY_LINE));
}
