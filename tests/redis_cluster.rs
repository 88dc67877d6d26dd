//! Issue 18: keyhole on a real Redis Cluster (3 masters, 3 replicas, built with
//! `redis-cli --cluster create`), two instances behind one nginx: a single-use token
//! opens once under 64 concurrent requests, a revocation made through one instance
//! holds on the other, and a slot moved while traffic runs (`MIGRATING`/`IMPORTING`,
//! `MIGRATE`, `SETSLOT NODE`: clients meet `ASK`, then `MOVED`) loses no decision.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use common::now;
use common::redis::RedisCluster;
use common::shared_store::{
    FILE, PATH, Pair, auth, metrics, once, readyz, revoke_through, token, used_key,
};
use serde_json::json;

#[test]
fn on_a_cluster_a_token_opens_once_and_revocations_reach_both_instances() {
    let cluster = RedisCluster::start();
    let pair = Pair::start(&cluster.url(), &[]);
    let [a, b] = [&pair.instances[0], &pair.instances[1]];
    assert_eq!(readyz(a), 200, "{}", pair.logs());

    // 64 concurrent uses of one single-use token: exactly one opens.
    let statuses = pair.race(&once("cluster-race"), 64);
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        1,
        "{statuses:?}\n{}",
        pair.logs()
    );
    assert!(statuses.iter().all(|s| *s == 200 || *s == 403));
    for keyhole in &pair.instances {
        assert!(
            keyhole.log_text().contains("replayed"),
            "{}",
            keyhole.log_text()
        );
    }
    assert!(
        !cluster
            .get(&used_key("keyhole:", "cluster-race"))
            .is_empty()
    );

    // Uses land on several masters (keys are spread over the slots), each still once.
    let mut owners = BTreeSet::new();
    for n in 0..8 {
        let jti = format!("spread-{n}");
        assert_eq!(
            auth(if n % 2 == 0 { a } else { b }, &once(&jti)),
            (204, "ok".into())
        );
        assert_eq!(
            auth(if n % 2 == 0 { b } else { a }, &once(&jti)),
            (403, "replayed".into())
        );
        owners.insert(cluster.owner(cluster.slot(&used_key("keyhole:", &jti))).1);
    }
    assert!(owners.len() >= 2, "every use on one master: {owners:?}");

    // A token id revoked through instance a is refused by b.
    let t1 = format!("{PATH}?token={}", token(json!({"jti": "c-rev-1"})));
    assert_eq!(auth(b, &t1), (204, "ok".into()));
    revoke_through(a, &["--jti", "c-rev-1", "--kid", "j1"]);
    assert_eq!(auth(b, &t1), (403, "revoked".into()));
    assert_eq!(auth(a, &t1), (403, "revoked".into()));

    // `keyhole revoke` writes into the cluster directly.
    let t2 = format!("{PATH}?token={}", token(json!({"jti": "c-rev-2"})));
    assert_eq!(auth(a, &t2), (204, "ok".into()));
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_keyhole"))
        .args(["revoke", "--jti", "c-rev-2", "--kid", "j1"])
        .env_clear()
        .env("KEYHOLE_STORE", cluster.url())
        .env("KEYHOLE_ADMIN_LISTEN", "off")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(auth(a, &t2), (403, "revoked".into()));

    // A subject's cut-off through b is refused by a: the lookup reads the key id's and
    // the subject's cut-offs, two keys in different slots.
    let earlier = now().0 - 10;
    let carol = format!(
        "{PATH}?token={}",
        token(json!({"sub": "carol@example.com", "iat": earlier}))
    );
    let dave = format!(
        "{PATH}?token={}",
        token(json!({"sub": "dave", "iat": earlier}))
    );
    assert_eq!(auth(a, &carol), (204, "ok".into()));
    revoke_through(b, &["--before", "now", "--subject", "carol@example.com"]);
    assert_eq!(auth(a, &carol), (403, "revoked".into()));
    assert_eq!(auth(a, &dave), (204, "ok".into()));

    // Through nginx the file is served for a fresh token, never for a replay.
    let fresh = once("through-nginx");
    let served = pair.get(&fresh);
    assert_eq!((served.status, served.body.as_slice()), (200, FILE));
    assert_eq!(pair.get(&fresh).status, 403);

    let text = metrics(a);
    assert!(
        text.contains(r#"keyhole_store_topology{topology="cluster"} 1"#),
        "{text}"
    );
    for port in cluster.nodes.iter().map(|node| node.port.to_string()) {
        assert!(
            !text.contains(&port),
            "a node address in the metrics: {text}"
        );
    }
    assert!(
        !pair.logs().contains("store-unavailable"),
        "{}",
        pair.logs()
    );
}

/// What the load saw: (what was asked, expected, got).
type Seen = Vec<(String, (u16, String), (u16, String))>;

#[test]
fn a_slot_migrated_during_load_loses_no_decision() {
    let cluster = RedisCluster::start();
    // One hash tag puts every key of this deployment in one slot, so every request
    // of the load meets the slot while it moves.
    let prefix = "{kh-migrate}:";
    let pair = Pair::start(
        &cluster.url(),
        &[
            ("KEYHOLE_REDIS_PREFIX", prefix),
            ("KEYHOLE_STORE_TIMEOUT", "2s"),
        ],
    );
    let [a, b] = [&pair.instances[0], &pair.instances[1]];
    let before: Vec<String> = (0..12).map(|n| format!("before-{n}")).collect();
    for jti in &before {
        assert_eq!(auth(a, &once(jti)), (204, "ok".into()));
    }
    let slot = cluster.slot(&used_key(prefix, "before-0"));
    let (_, source) = cluster.owner(slot);

    let stop = AtomicBool::new(false);
    let (seen, target) = std::thread::scope(|scope| {
        let load = scope.spawn(|| {
            let mut seen: Seen = Vec::new();
            let mut n = 0usize;
            // Bounded: at most 400 rounds, and it stops when the move is over.
            while n < 400 && !(stop.load(Ordering::SeqCst) && n >= 20) {
                let jti = format!("during-{n}");
                let (first, second) = if n % 2 == 0 { (a, b) } else { (b, a) };
                let target = once(&jti);
                seen.push((jti.clone(), (204, "ok".into()), auth(first, &target)));
                seen.push((jti.clone(), (403, "replayed".into()), auth(second, &target)));
                let old = &before[n % before.len()];
                seen.push((
                    old.clone(),
                    (403, "replayed".into()),
                    auth(first, &once(old)),
                ));
                n += 1;
            }
            seen
        });
        // Stops the load also when the move fails (a panic unwinds through it).
        struct StopOnDrop<'a>(&'a AtomicBool);
        impl Drop for StopOnDrop<'_> {
            fn drop(&mut self) {
                self.0.store(true, Ordering::SeqCst);
            }
        }
        let guard = StopOnDrop(&stop);
        let target = cluster.migrate_slot(slot, Duration::from_millis(150));
        drop(guard);
        (load.join().unwrap(), target)
    });
    assert_ne!(source, target);
    let wrong: Vec<_> = seen.iter().filter(|(_, want, got)| want != got).collect();
    assert!(
        wrong.is_empty(),
        "{} of {} decisions lost or doubled: {wrong:?}\n{}",
        wrong.len(),
        seen.len(),
        pair.logs()
    );
    assert!(seen.len() >= 60, "too little load: {}", seen.len());
    // Afterwards every use recorded before or during the move is still spent.
    for (jti, _, _) in &seen {
        assert_eq!(auth(b, &once(jti)), (403, "replayed".into()), "{jti}");
    }
    assert_eq!(cluster.owner(slot).1, target);
    assert!(!cluster.get(&used_key(prefix, "during-0")).is_empty());
}
