//! The cost of the shared store's topologies and of `KEYHOLE_STORE_WAIT_REPLICAS`:
//! single-use records (`check_and_record`, the call every single-use JWT makes) sent
//! by `CONCURRENCY` concurrent tasks for `SECONDS` through the real `RedisStore`, as
//! the service makes them. Run by `bench/store.py`, which starts the servers.
//!
//! `cargo run --release --example store_bench -- URL WAIT_REPLICAS SECONDS CONCURRENCY`
//! prints one line: uses per second, p50 and p99 in microseconds, errors.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use keyhole::clock::{Clock, SystemClock};
use keyhole::metrics::StoreMetrics;
use keyhole::store::redis::{RedisStore, RedisTarget};
use keyhole::store::{ReplayStore, StoreId};

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, url, wait, seconds, concurrency] = args.as_slice() else {
        panic!("usage: store_bench URL WAIT_REPLICAS SECONDS CONCURRENCY");
    };
    let (wait, seconds, concurrency): (u32, u64, usize) = (
        wait.parse().unwrap(),
        seconds.parse().unwrap(),
        concurrency.parse().unwrap(),
    );
    let store = Arc::new(
        RedisStore::new(
            RedisTarget::parse(url).unwrap(),
            "bench:",
            Duration::from_secs(1),
            Arc::new(SystemClock),
            StoreMetrics::default(),
        )
        .with_wait_replicas(wait),
    );
    // Warm up: connect, load the scripts (for at most 10 s, while Sentinels settle).
    let warm_until = Instant::now() + Duration::from_secs(10);
    let mut warm = 0;
    while warm < 100 {
        let jti = format!("warm-{}-{warm}", std::process::id());
        let id = StoreId::UseSlot {
            kid: "b",
            jti: &jti,
            slot: 1,
        };
        match store
            .check_and_record(&id, SystemClock.now().plus(60))
            .await
        {
            Ok(_) => warm += 1,
            Err(error) if Instant::now() > warm_until => {
                panic!("the store does not answer: {error}")
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
    // Fresh ids per run: runs against one server must not replay each other.
    let run = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let tasks: Vec<_> = (0..concurrency)
        .map(|task| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                let (mut latencies, mut errors, mut n) = (Vec::new(), 0u64, 0u64);
                let mut first_error = None;
                while Instant::now() < deadline {
                    let jti = format!("{run}-{task}-{n}");
                    n += 1;
                    let id = StoreId::UseSlot {
                        kid: "b",
                        jti: &jti,
                        slot: 1,
                    };
                    let started = Instant::now();
                    match store
                        .check_and_record(&id, SystemClock.now().plus(60))
                        .await
                    {
                        Ok(true) => latencies.push(started.elapsed()),
                        other => {
                            errors += 1;
                            first_error.get_or_insert(format!("{other:?}"));
                        }
                    }
                }
                (latencies, errors, first_error)
            })
        })
        .collect();
    let (mut latencies, mut errors, mut first_error) = (Vec::new(), 0, None);
    for task in tasks {
        let (more, failed, error) = task.await.unwrap();
        latencies.extend(more);
        errors += failed;
        first_error = first_error.or(error);
    }
    if let Some(error) = first_error {
        eprintln!("first error: {error}");
    }
    assert!(!latencies.is_empty(), "no use succeeded");
    latencies.sort();
    let at = |q: f64| latencies[((latencies.len() as f64 * q) as usize).min(latencies.len() - 1)];
    println!(
        "{:.0} uses/s, p50 {} us, p99 {} us, {} errors",
        latencies.len() as f64 / seconds as f64,
        at(0.50).as_micros(),
        at(0.99).as_micros(),
        errors
    );
}
