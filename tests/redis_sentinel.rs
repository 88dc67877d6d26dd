//! Issue 18: keyhole behind Redis Sentinel (a master, a replica, three real
//! `redis-sentinel` processes with a 500 ms down-after), two instances behind one
//! nginx: one use under 64 concurrent requests, revocations shared, recovery after a
//! `SENTINEL FAILOVER` and after the master is killed (once the new master answers, no
//! request is denied), and `KEYHOLE_STORE_WAIT_REPLICAS=1` keeping a use through the
//! master's death.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::time::Duration;

use common::redis::{SentinelSet, wait_until, write_acknowledged};
use common::shared_store::{
    PATH, Pair, auth, metrics, once, readyz, revoke_through, token, used_key,
};
use common::{JWT_KEY_LINE, Keyhole, free_port};
use keyhole::config::Listen;
use serde_json::json;

/// Every request after the new master answers is decided on the first try: fresh
/// single-use tokens open (on both instances), old uses stay spent, revocations hold.
fn no_request_is_denied(pair: &Pair, round: &str, spent: &str, revoked: &str) {
    for n in 0..6 {
        let keyhole = &pair.instances[n % 2];
        let other = &pair.instances[(n + 1) % 2];
        let jti = format!("{round}-{n}");
        assert_eq!(
            auth(keyhole, &once(&jti)),
            (204, "ok".into()),
            "{jti}\n{}",
            pair.logs()
        );
        assert_eq!(auth(other, &once(&jti)), (403, "replayed".into()), "{jti}");
        assert_eq!(auth(keyhole, &once(spent)), (403, "replayed".into()));
        assert_eq!(auth(other, revoked), (403, "revoked".into()));
    }
}

#[test]
fn under_sentinel_a_token_opens_once_and_both_kinds_of_failover_recover() {
    let mut set = SentinelSet::start();
    let pair = Pair::start(&set.url(), &[]);
    let [a, b] = [&pair.instances[0], &pair.instances[1]];
    assert_eq!(readyz(a), 200, "{}", pair.logs());

    let statuses = pair.race(&once("sentinel-race"), 64);
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        1,
        "{statuses:?}\n{}",
        pair.logs()
    );
    assert!(statuses.iter().all(|s| *s == 200 || *s == 403));

    let revoked = format!("{PATH}?token={}", token(json!({"jti": "s-rev-1"})));
    assert_eq!(auth(b, &revoked), (204, "ok".into()));
    revoke_through(a, &["--jti", "s-rev-1", "--kid", "j1"]);
    assert_eq!(auth(b, &revoked), (403, "revoked".into()));

    // A planned switch-over: the master is demoted (its old connections now answer
    // READONLY), the replica promoted.
    let first = set.master_port();
    let second = set.other(first).port;
    wait_until(
        Duration::from_secs(10),
        "the replica has every write",
        || {
            let info = set.other(first).cli(&["INFO", "replication"]);
            info.contains("master_link_status:up")
        },
    );
    set.failover();
    set.wait_master(second);
    no_request_is_denied(&pair, "after-switch", "sentinel-race", &revoked);
    // Each instance moves its writes to the new master (it asks the Sentinels at
    // most once a second whether the master changed): polled, not timed.
    for (n, keyhole) in [a, b].into_iter().enumerate() {
        let mut round = 0;
        wait_until(
            Duration::from_secs(10),
            "writes reach the new master",
            || {
                round += 1;
                let jti = format!("follow-{n}-{round}");
                assert_eq!(auth(keyhole, &once(&jti)), (204, "ok".into()));
                set.servers
                    .iter()
                    .find(|server| server.port == second)
                    .unwrap()
                    .cli(&["EXISTS", &used_key("keyhole:", &jti)])
                    .trim()
                    == "1"
            },
        );
    }

    // The master killed: the demoted node, now its replica, is promoted.
    wait_until(
        Duration::from_secs(20),
        "the old master replicates the new",
        || {
            set.server(first)
                .cli(&["INFO", "replication"])
                .contains("master_link_status:up")
        },
    );
    set.server(second).stop();
    set.wait_master(first);
    no_request_is_denied(&pair, "after-kill", "sentinel-race", &revoked);

    for keyhole in [a, b] {
        let text = metrics(keyhole);
        assert!(
            text.contains(r#"keyhole_store_topology{topology="sentinel"} 1"#),
            "{text}"
        );
        assert!(
            text.contains(r#"keyhole_store_failovers_total{topology="sentinel"} 2"#),
            "two changes of master seen: {text}\n{}\n{}",
            set.logs(),
            pair.logs()
        );
        for port in [first, second] {
            assert!(
                !text.contains(&port.to_string()),
                "an address in the metrics"
            );
        }
    }
}

/// One more instance on the same Sentinels, without `KEYHOLE_STORE_WAIT_REPLICAS`.
fn start_unwaiting(pair: &Pair, url: &str) -> Keyhole {
    let listen = Listen::Tcp(format!("127.0.0.1:{}", free_port()).parse().unwrap());
    Keyhole::start(
        pair.dir(),
        "keyhole-no-wait",
        listen,
        &[
            ("KEYHOLE_JWT_KEYS", JWT_KEY_LINE),
            ("KEYHOLE_STORE", url),
            ("KEYHOLE_STORE_TIMEOUT", "250ms"),
        ],
    )
}

#[test]
fn with_wait_replicas_a_use_never_opens_again_on_the_promoted_replica() {
    let mut set = SentinelSet::start();
    let url = set.url();
    // A wider bound than the default, for a busy test machine: WAIT gets most of it.
    let pair = Pair::start(
        &url,
        &[
            ("KEYHOLE_STORE_WAIT_REPLICAS", "1"),
            ("KEYHOLE_STORE_TIMEOUT", "1s"),
        ],
    );
    let unwaiting = start_unwaiting(&pair, &url);
    let [a, b] = [&pair.instances[0], &pair.instances[1]];
    let master = set.master_port();
    let replica = set.other(master).port;

    // Acknowledged by the replica: the use survives whatever happens to the master.
    assert_eq!(
        auth(a, &once("acked")),
        (204, "ok".into()),
        "{}",
        pair.logs()
    );

    // The replica stops acknowledging. Without WAIT a use counts on the
    // master alone; with WAIT it does not count (denied, fail closed).
    // (The replica is frozen, and the master closes its link to it, so that nothing
    // written now reaches it, not even its socket buffer.)
    set.server(replica).freeze(true);
    set.server(master)
        .cli(&["CLIENT", "KILL", "TYPE", "replica"]);
    assert_eq!(auth(&unwaiting, &once("unacked")), (204, "ok".into()));
    assert_eq!(
        auth(b, &once("waited")),
        (403, "store-unreplicated".into()),
        "{}",
        pair.logs()
    );

    // The master dies right after those uses; the replica, which never saw the last
    // two, is promoted.
    set.server(master).stop();
    set.server(replica).freeze(false);
    set.wait_master(replica);

    // The acknowledged use is still spent, on both instances.
    assert_eq!(
        auth(a, &once("acked")),
        (403, "replayed".into()),
        "{}",
        pair.logs()
    );
    assert_eq!(auth(b, &once("acked")), (403, "replayed".into()));
    // The window the option closes: without it, the unacknowledged use was lost with
    // the master, and its token opens a second time.
    assert_eq!(auth(&unwaiting, &once("unacked")), (204, "ok".into()));
    // With it, the promoted master has no replica left to acknowledge: every use is
    // refused (fail closed), never granted on a write a second failover could lose.
    assert_eq!(
        auth(a, &once("waited")),
        (403, "store-unreplicated".into()),
        "{}",
        pair.logs()
    );
    assert_eq!(
        auth(b, &once("fresh-1")),
        (403, "store-unreplicated".into())
    );
    // The old master comes back (empty) and Sentinel makes it the new master's
    // replica: uses count again. The tokens refused meanwhile stay spent (their use
    // was recorded, unacknowledged): they opened at most once, here never.
    set.server(master).resume();
    wait_until(Duration::from_secs(30), "the old master replicates", || {
        set.server(master)
            .cli(&["INFO", "replication"])
            .contains("master_link_status:up")
            && write_acknowledged(replica, 1)
    });
    assert_eq!(
        auth(a, &once("fresh-2")),
        (204, "ok".into()),
        "{}",
        pair.logs()
    );
    assert_eq!(auth(b, &once("fresh-2")), (403, "replayed".into()));
    assert_eq!(auth(b, &once("waited")), (403, "replayed".into()));
    assert_eq!(auth(a, &once("fresh-1")), (403, "replayed".into()));
    let text = metrics(b);
    assert!(
        text.contains(r#"keyhole_store_errors_total{op="check_and_record",kind="unreplicated"}"#),
        "{text}"
    );
}
