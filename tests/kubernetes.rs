//! The Kubernetes manifests under `deploy/kubernetes/` (validated against the
//! Kubernetes schemas by `scripts/lint-containers`; no cluster runs here): every file
//! a kustomization names exists, the sidecar overlay mounts exactly the shipped nginx
//! files, and every container runs non-root, read-only, with every capability dropped
//! and resources set.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::{Path, PathBuf};

const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/kubernetes");

/// The list items under a top-level `key:` of a kustomization (`  - item`).
fn entries(text: &str, key: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut inside = false;
    for line in text.lines() {
        if !line.starts_with(' ') && !line.starts_with('-') {
            inside = line.trim() == format!("{key}:");
            continue;
        }
        if inside && let Some(item) = line.strip_prefix("  - ") {
            out.push(item.trim().to_owned());
        }
    }
    out
}

/// Every file a kustomization in `folder` refers to (resources, components,
/// patches, generator files), followed into the folders it names.
fn referenced(folder: &Path, seen: &mut Vec<PathBuf>) {
    let kustomization = folder.join("kustomization.yaml");
    let text = std::fs::read_to_string(&kustomization)
        .unwrap_or_else(|_| panic!("{} has no kustomization.yaml", folder.display()));
    let mut names: Vec<String> = ["resources", "components"]
        .iter()
        .flat_map(|key| entries(&text, key))
        .collect();
    for line in text.lines() {
        // `- path: FILE` (a patch file; a JSON patch's own `path:` is no list item)
        // and `- nginx/FILE` (the generator's files).
        let line = line.trim();
        if let Some(path) = line.strip_prefix("- path: ") {
            names.push(path.to_owned());
        }
        if let Some(file) = line.strip_prefix("- nginx/") {
            names.push(format!("nginx/{file}"));
        }
    }
    assert!(!names.is_empty(), "{}", kustomization.display());
    for name in names {
        let path = folder.join(&name);
        assert!(
            path.exists(),
            "{} names {name}, which does not exist",
            kustomization.display()
        );
        if path.is_dir() && !seen.contains(&path) {
            seen.push(path.clone());
            referenced(&path, seen);
        } else if path.is_file() {
            seen.push(path);
        }
    }
}

#[test]
fn every_referenced_file_exists_and_every_manifest_is_referenced() {
    let mut seen = Vec::new();
    for overlay in ["service", "sidecar"] {
        referenced(&Path::new(ROOT).join("overlays").join(overlay), &mut seen);
    }
    let seen: Vec<PathBuf> = seen.iter().map(|p| p.canonicalize().unwrap()).collect();
    let mut folders = vec![PathBuf::from(ROOT)];
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(&folder).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                folders.push(path);
            } else if path.file_name().unwrap() != "kustomization.yaml" {
                assert!(
                    seen.contains(&path.canonicalize().unwrap()),
                    "{} is not used by any overlay",
                    path.display()
                );
            }
        }
    }
}

#[test]
fn the_sidecar_mounts_the_shipped_nginx_files_unchanged() {
    for name in [
        "keyhole.conf",
        "keyhole-upstream.conf",
        "keyhole-log.conf",
        "example-site.conf",
    ] {
        let shipped =
            std::fs::read_to_string(format!("{}/nginx/{name}", env!("CARGO_MANIFEST_DIR")))
                .unwrap();
        let copy =
            std::fs::read_to_string(format!("{ROOT}/overlays/sidecar/nginx/{name}")).unwrap();
        assert_eq!(
            copy, shipped,
            "overlays/sidecar/nginx/{name} differs from nginx/{name}"
        );
    }
    let upstream = std::fs::read_to_string(format!(
        "{ROOT}/overlays/sidecar/nginx/keyhole-upstream.conf"
    ))
    .unwrap();
    assert!(upstream.contains("server 127.0.0.1:9181;"));
    let patch =
        std::fs::read_to_string(format!("{ROOT}/overlays/sidecar/deployment.yaml")).unwrap();
    assert!(patch.contains("value: \"127.0.0.1:9181\""));
}

#[test]
fn every_container_is_locked_down() {
    for file in [
        "base/deployment.yaml",
        "components/redis/redis.yaml",
        "overlays/sidecar/deployment.yaml",
    ] {
        let text = std::fs::read_to_string(format!("{ROOT}/{file}")).unwrap();
        let containers = text.matches("\n          image: ").count();
        assert!(containers >= 1, "{file}");
        for setting in [
            "readOnlyRootFilesystem: true",
            "allowPrivilegeEscalation: false",
            "drop: [\"ALL\"]",
            "\n            runAsNonRoot: true",
            "\n          resources:",
            "\n          readinessProbe:",
            "\n          livenessProbe:",
        ] {
            assert_eq!(
                text.matches(setting).count(),
                containers,
                "{file}: every container needs {setting}"
            );
        }
    }
    let base = std::fs::read_to_string(format!("{ROOT}/base/deployment.yaml")).unwrap();
    assert!(base.contains("name: KEYHOLE_KEYS_FILE"));
    assert!(base.contains("secretName: keyhole-keys"));
    assert!(base.contains("port: admin"));
    assert!(base.contains("automountServiceAccountToken: false"));
    // No Helm chart: nothing here renders or lints one.
    assert!(!Path::new(ROOT).join("Chart.yaml").exists());
}
