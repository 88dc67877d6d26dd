//! The Redis store: one replay and revocation truth shared by every keyhole instance
//! behind one nginx (Redis, Valkey or a managed Redis).
//!
//! Every call is one single-key command (or a pipeline of single-key `GET`s), bounded
//! by a timeout; a timeout or an error is [`StoreError::Unavailable`] and the decision
//! that needed the store is denied (fail closed). The connection is made on first use
//! and a [`ConnectionManager`] reconnects after Redis comes back, so keyhole starts
//! while Redis is down and recovers without a restart; a call that finds its
//! connection dead is sent once more on a new one within the same timeout, so that
//! no decision is lost once Redis answers (see `run` and `record`).
//!
//! Key layout (`<prefix>` is `KEYHOLE_REDIS_PREFIX`, `keyhole:` by default; `<h>` is
//! the lower-case hex SHA-256 of the store id, so no key holds a subject, a session
//! id or a token id in clear, and no key grows with its input):
//!
//! - `<prefix>used:<h>` = a random mark of the decision that took the use, single-use
//!   slots (`SET NX PX`), until the token expires;
//! - `<prefix>revoked:<h>` = the expiry (Unix seconds), revoked sessions and token
//!   ids, until whatever they name has expired;
//! - `<prefix>before:<h>` = the cut-off (Unix seconds), "issued before T" for a key id
//!   or a subject, until tokens issued before T have expired.
//!
//! Every key carries a TTL, so Redis never grows without bound.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use crate::clock::{Clock, UnixTime};
use crate::metrics::StoreMetrics;
use crate::store::{ReplayStore, StoreError, StoreFuture, StoreId, StoreKind};

mod link;
mod target;

use link::{Backend, Link};
pub use target::{RedisTarget, RedisUrlError, Topology};

/// The default key prefix.
pub const DEFAULT_PREFIX: &str = "keyhole:";
/// The default bound on every store call.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_millis(100);

/// Sets `KEYS[1]` to `ARGV[1]` unless it already holds a larger number, with the
/// longer of its remaining TTL and `ARGV[2]` milliseconds: "revoking twice keeps the
/// later time", atomically and on one key (so it works on one Redis Cluster slot).
const KEEP_LATER: &str = r"
local value = ARGV[1]
local current = redis.call('GET', KEYS[1])
if current and tonumber(current) and tonumber(current) > tonumber(value) then
  value = current
end
local ttl = tonumber(ARGV[2])
local left = redis.call('PTTL', KEYS[1])
if left > ttl then ttl = left end
redis.call('SET', KEYS[1], value, 'PX', ttl)
return 1
";

/// Takes the single use of `KEYS[1]` for the mark `ARGV[1]` (TTL `ARGV[2]` ms) unless
/// it is taken, and answers the mark that holds it: this call's own mark means "first
/// use", any other a replay. One command on one key, so a cluster routes it to one
/// slot, and sending it again (a redirection, a reconnect) never turns this call's
/// own use into a replay nor grants a second one.
const USE_ONCE: &str = r"
local held = redis.call('GET', KEYS[1])
if held then return held end
redis.call('SET', KEYS[1], ARGV[1], 'PX', tonumber(ARGV[2]))
return ARGV[1]
";

/// The Redis-backed store.
pub struct RedisStore {
    /// The connection of the configured topology (the URL stays inside the client).
    backend: Backend,
    /// Prepended to every key.
    prefix: String,
    /// Bound on each call, connecting included.
    timeout: Duration,
    /// Replicas that must acknowledge a write (`WAIT`) before it counts; 0: none.
    wait_replicas: u32,
    /// Turns expiry times into TTLs.
    clock: Arc<dyn Clock>,
    /// Errors and latency of each call.
    metrics: StoreMetrics,
    /// The keep-the-later-time script (sent by hash, loaded on first use).
    keep_later: redis::Script,
    /// The single-use script of Sentinel and cluster topologies.
    use_once: redis::Script,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("topology", &self.backend.topology())
            .field("prefix", &self.prefix)
            .field("timeout", &self.timeout)
            .field("wait_replicas", &self.wait_replicas)
            .finish()
    }
}

/// How a failed attempt is followed up.
enum Follow {
    /// Sent once more (the connection died, or a demoted master answered).
    Retry,
    /// Final.
    Stop,
}

impl RedisStore {
    /// A store that connects on first use.
    pub fn new(
        target: RedisTarget,
        prefix: &str,
        timeout: Duration,
        clock: Arc<dyn Clock>,
        metrics: StoreMetrics,
    ) -> RedisStore {
        if target.tls {
            // rustls needs a process-wide crypto provider; a second install (one
            // already set) is harmless.
            let _ = rustls::crypto::ring::default_provider().install_default();
        }
        let backend = Backend::new(&target, timeout);
        metrics.set_topology(backend.topology().name());
        RedisStore {
            backend,
            prefix: prefix.to_owned(),
            timeout,
            wait_replicas: 0,
            clock,
            metrics,
            keep_later: redis::Script::new(KEEP_LATER),
            use_once: redis::Script::new(USE_ONCE),
        }
    }

    /// Makes every write (a use, a revocation) count only once `replicas` replicas
    /// acknowledged it (`WAIT`) within the store timeout; otherwise the call fails
    /// with [`StoreError::Unreplicated`] (fail closed). 0 (the default) waits for none.
    pub fn with_wait_replicas(mut self, replicas: u32) -> RedisStore {
        self.wait_replicas = replicas;
        self
    }

    /// The topology this store talks to.
    pub fn topology(&self) -> Topology {
        self.backend.topology()
    }

    /// The Redis key of a store id: its namespace, then a hash of its encoding.
    pub fn key(&self, id: &StoreId<'_>) -> String {
        key(&self.prefix, id.namespace().as_str(), &id.encode())
    }

    /// The connection, made now if there is none yet, and its generation.
    async fn connection(&self) -> redis::RedisResult<(u64, Link)> {
        self.backend.link(self.timeout, &self.metrics).await
    }

    /// Whether an attempt that failed with `error` is sent once more, and drops the
    /// Sentinel connection it failed on when that connection is no good any more.
    async fn follow(&self, generation: Option<u64>, error: &redis::RedisError) -> Follow {
        let topology = self.backend.topology();
        if error.kind() == redis::ErrorKind::ReadOnly && topology == Topology::Sentinel {
            // A demoted master: nothing was written; ask the Sentinels again.
            self.backend.forget(generation).await;
            self.metrics.record_redirection(topology.name());
            return Follow::Retry;
        }
        if topology == Topology::Cluster
            && matches!(
                error.kind(),
                redis::ErrorKind::Ask | redis::ErrorKind::Moved | redis::ErrorKind::TryAgain
            )
        {
            // The crate follows redirections itself, but sends `ASKING` as a request of
            // its own on the node's shared connection: two concurrent calls to a
            // migrating slot can both send it and one of them lose it, bouncing
            // between the two nodes until its redirections are spent. The node
            // refused the command (nothing was written), so it is sent once more.
            self.metrics.record_redirection(topology.name());
            return Follow::Retry;
        }
        if error.is_unrecoverable_error() && !error.is_timeout() {
            if topology == Topology::Sentinel {
                self.backend.forget(generation).await;
                self.metrics.record_redirection(topology.name());
            }
            return Follow::Retry;
        }
        if error.is_timeout() {
            self.backend.forget(generation).await;
        }
        Follow::Stop
    }

    /// Runs one call within the timeout and records it in the metrics.
    ///
    /// On a cluster, a redirection the crate could not complete (`ASK`, `MOVED`,
    /// `TRYAGAIN` after its own retries; the node wrote nothing) is sent once more.
    ///
    /// A call that fails because its connection is dead (Redis restarted, the
    /// connection reset, or the last reconnect attempt refused) is sent once more,
    /// within the same timeout: the connection is made again (under Sentinel, after
    /// asking the Sentinels for the master again), and the second attempt waits for
    /// it. Without this, the first call after Redis came back would be lost on every
    /// instance (denied `store-unavailable` although Redis answers). Under Sentinel a
    /// `READONLY` answer (the node was demoted by a failover; it wrote nothing) is
    /// followed the same way. A timeout is never retried (the budget is spent), nor
    /// is another error Redis itself answered. While Redis is away the second attempt
    /// fails too, and the call is `Unavailable` (fail closed).
    ///
    /// `work` gets the attempt number (0, then 1) and the connection, so that a call
    /// that is not idempotent can tell a retry apart (see [`RedisStore::record`]).
    async fn run<T, F, W>(&self, op: &'static str, work: W) -> Result<T, StoreError>
    where
        W: Fn(u8, Link) -> F,
        F: Future<Output = redis::RedisResult<T>>,
    {
        let started = Instant::now();
        let attempt = |number: u8| {
            let work = &work;
            async move {
                let (generation, link) = self.connection().await.map_err(|error| (None, error))?;
                work(number, link)
                    .await
                    .map_err(|error| (Some(generation), error))
            }
        };
        let attempts = async {
            match attempt(0).await {
                Err((generation, error)) => match self.follow(generation, &error).await {
                    Follow::Retry => {
                        tracing::debug!(
                            op,
                            kind = ?error.kind(),
                            "redis connection lost or master demoted; sending the call once more"
                        );
                        match attempt(1).await {
                            Err((generation, error)) => {
                                if let Follow::Retry = self.follow(generation, &error).await {
                                    // Already retried once: the next call starts afresh.
                                }
                                Err(error)
                            }
                            Ok(value) => Ok(value),
                        }
                    }
                    Follow::Stop => Err(error),
                },
                Ok(value) => Ok(value),
            }
        };
        let result = tokio::time::timeout(self.timeout, attempts).await;
        let (result, error) = match result {
            Ok(Ok(value)) => (Ok(value), None),
            Ok(Err(error)) => (
                // The kind only: never the URL or the password.
                Err(StoreError::Unavailable(format!(
                    "redis {op}: {:?}",
                    error.kind()
                ))),
                // The connection's own response timeout (the same bound) is a timeout.
                Some(if error.is_timeout() {
                    "timeout"
                } else {
                    "error"
                }),
            ),
            Err(_) => {
                // A hung master may have been replaced: ask the Sentinels next time.
                self.backend.forget(None).await;
                (
                    Err(StoreError::Unavailable(format!(
                        "redis {op}: no answer within {:?}",
                        self.timeout
                    ))),
                    Some("timeout"),
                )
            }
        };
        self.metrics.record(op, started.elapsed(), error);
        result
    }

    /// With `KEYHOLE_STORE_WAIT_REPLICAS=N`: `WAIT N ms` on the connection that
    /// wrote, with three quarters of what is left of the timeout, after a write. `Ok(false)` when fewer
    /// than N replicas acknowledged it in time. On a cluster, the crate sends `WAIT`
    /// to every master and keeps the smallest count, which covers the master that
    /// took the write.
    async fn replicated(&self, link: &mut Link, started: Instant) -> redis::RedisResult<bool> {
        if self.wait_replicas == 0 {
            return Ok(true);
        }
        // Three quarters of what is left, so that a short count answers before the
        // call's own timeout (a silent Redis stays `Unavailable`); never 0: `WAIT n 0`
        // blocks for ever.
        let left = (self.timeout.saturating_sub(started.elapsed()).as_millis() * 3 / 4).max(1);
        let acknowledged: i64 = redis::cmd("WAIT")
            .arg(self.wait_replicas)
            .arg(u64::try_from(left).unwrap_or(u64::MAX))
            .query_async(link)
            .await?;
        Ok(acknowledged >= i64::from(self.wait_replicas))
    }

    /// Milliseconds from now until `until`, at least one second.
    fn ttl_ms(&self, until: UnixTime) -> u64 {
        until
            .0
            .saturating_sub(self.clock.now().0)
            .max(1)
            .saturating_mul(1000)
    }

    /// Takes the single use of `id`: `SET key MARK NX PX ttl`, where MARK is random
    /// per call. The first attempt is a plain `SET NX` (a reply `OK` is a first use).
    /// A retry cannot tell whether the lost first attempt reached Redis, so it sends
    /// `SET NX` and `GET` together and answers "first use" exactly when the key holds
    /// this call's own MARK: a first attempt that was recorded before its connection
    /// broke is this call's use (never `replayed`), and a use recorded by any other
    /// call (another MARK) stays a replay. So a retry never allows twice and never
    /// turns this call's own use into a denial.
    async fn record(&self, id: &StoreId<'_>, expires_at: UnixTime) -> Result<bool, StoreError> {
        let key = self.key(id);
        let ttl = self.ttl_ms(expires_at);
        let mark = use_mark().map_err(|error| {
            StoreError::Unavailable(format!("no random number for the use mark: {error}"))
        })?;
        let (key, mark) = (&key, &mark);
        let started = Instant::now();
        let single = self.backend.topology() == Topology::Single;
        let (first, replicated) = self
            .run("check_and_record", |attempt, mut connection| async move {
                let first = if single && attempt == 0 {
                    let mut set = redis::cmd("SET");
                    set.arg(key).arg(mark).arg("NX").arg("PX").arg(ttl);
                    let set: Option<String> = set.query_async(&mut connection).await?;
                    set.is_some()
                } else if single {
                    let mut set = redis::cmd("SET");
                    set.arg(key).arg(mark).arg("NX").arg("PX").arg(ttl);
                    let (_, held): (Option<String>, Option<String>) = redis::pipe()
                        .add_command(set)
                        .cmd("GET")
                        .arg(key)
                        .query_async(&mut connection)
                        .await?;
                    held.as_deref() == Some(mark.as_str())
                } else {
                    // Sentinel and cluster: the one-command form, whatever the
                    // attempt, since the cluster client may itself send a call again.
                    let held: String = self
                        .use_once
                        .key(key)
                        .arg(mark)
                        .arg(ttl)
                        .invoke_async(&mut connection)
                        .await?;
                    held == *mark
                };
                // Only a first use needs its replicas: a replay denies anyway.
                let replicated = !first || self.replicated(&mut connection, started).await?;
                Ok((first, replicated))
            })
            .await?;
        self.unreplicated("check_and_record", replicated)?;
        Ok(first)
    }

    /// [`StoreError::Unreplicated`] (counted) when the replicas did not acknowledge.
    fn unreplicated(&self, op: &'static str, replicated: bool) -> Result<(), StoreError> {
        if replicated {
            return Ok(());
        }
        self.metrics.count_error(op, "unreplicated");
        Err(StoreError::Unreplicated(self.wait_replicas))
    }

    async fn keep_later_value(
        &self,
        op: &'static str,
        key: String,
        value: UnixTime,
        until: UnixTime,
    ) -> Result<(), StoreError> {
        let ttl = self.ttl_ms(until);
        let key = &key;
        let started = Instant::now();
        // Idempotent: sending it twice keeps the same later time.
        let replicated = self
            .run(op, |_, mut connection| async move {
                let _: i64 = self
                    .keep_later
                    .key(key)
                    .arg(value.0)
                    .arg(ttl)
                    .invoke_async(&mut connection)
                    .await?;
                self.replicated(&mut connection, started).await
            })
            .await?;
        self.unreplicated(op, replicated)
    }

    async fn revoked(&self, id: &StoreId<'_>) -> Result<bool, StoreError> {
        let key = &self.key(id);
        self.run("is_revoked", |_, mut connection| async move {
            let count: i64 = redis::cmd("EXISTS")
                .arg(key)
                .query_async(&mut connection)
                .await?;
            Ok(count > 0)
        })
        .await
    }

    async fn cut_off(&self, ids: &[StoreId<'_>]) -> Result<Option<UnixTime>, StoreError> {
        if ids.is_empty() {
            return Ok(None);
        }
        // Separate single-key GETs, never MGET. One node and Sentinel send them in
        // one pipeline; a cluster sends each to its own slot's master (the crate
        // refuses a pipeline across slots), one after the other (at most two keys).
        let keys: Vec<String> = ids.iter().map(|id| self.key(id)).collect();
        let mut pipe = redis::pipe();
        for key in &keys {
            pipe.cmd("GET").arg(key);
        }
        let (pipe, keys) = (&pipe, &keys);
        let cluster = self.backend.topology() == Topology::Cluster;
        self.run("latest_cut_off", |_, mut connection| async move {
            let values: Vec<Option<String>> = if cluster {
                let mut values = Vec::with_capacity(keys.len());
                for key in keys {
                    values.push(
                        redis::cmd("GET")
                            .arg(key)
                            .query_async(&mut connection)
                            .await?,
                    );
                }
                values
            } else {
                pipe.query_async(&mut connection).await?
            };
            Ok(values
                .iter()
                .flatten()
                .filter_map(|value| value.parse::<u64>().ok())
                .max()
                .map(UnixTime))
        })
        .await
    }

    async fn ping_now(&self) -> Result<(), StoreError> {
        self.run("ping", |_, mut connection| async move {
            let _: String = redis::cmd("PING").query_async(&mut connection).await?;
            Ok(())
        })
        .await
    }
}

/// A random mark for one single-use call (32 hex digits), so that a retried call
/// recognises its own earlier write.
fn use_mark() -> Result<String, getrandom::Error> {
    use std::fmt::Write as _;
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes)?;
    let mut mark = String::with_capacity(32);
    for byte in bytes {
        let _ = write!(mark, "{byte:02x}");
    }
    Ok(mark)
}

/// `<prefix><kind>:<hex SHA-256 of id>`.
pub fn key(prefix: &str, kind: &str, id: &str) -> String {
    use std::fmt::Write as _;
    let digest = Sha256::digest(id.as_bytes());
    let mut key = String::with_capacity(prefix.len() + kind.len() + 1 + 64);
    key.push_str(prefix);
    key.push_str(kind);
    key.push(':');
    for byte in digest {
        let _ = write!(key, "{byte:02x}");
    }
    key
}

impl ReplayStore for RedisStore {
    fn check_and_record<'a>(
        &'a self,
        id: &'a StoreId<'a>,
        expires_at: UnixTime,
    ) -> StoreFuture<'a> {
        Box::pin(self.record(id, expires_at))
    }

    fn revoke<'a>(&'a self, id: &'a StoreId<'a>, until: UnixTime) -> StoreFuture<'a, ()> {
        Box::pin(self.keep_later_value("revoke", self.key(id), until, until))
    }

    fn is_revoked<'a>(&'a self, id: &'a StoreId<'a>) -> StoreFuture<'a> {
        Box::pin(self.revoked(id))
    }

    fn revoke_issued_before<'a>(
        &'a self,
        id: &'a StoreId<'a>,
        before: UnixTime,
        until: UnixTime,
    ) -> StoreFuture<'a, ()> {
        Box::pin(self.keep_later_value("revoke_issued_before", self.key(id), before, until))
    }

    fn latest_cut_off<'a>(&'a self, ids: &'a [StoreId<'a>]) -> StoreFuture<'a, Option<UnixTime>> {
        Box::pin(self.cut_off(ids))
    }

    fn ping(&self) -> StoreFuture<'_, ()> {
        Box::pin(self.ping_now())
    }

    fn kind(&self) -> StoreKind {
        StoreKind::Redis
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_prefixed_hashes_of_the_id() {
        let key = key("keyhole:", "used", "jwt:2:j1:abc#1");
        assert!(key.starts_with("keyhole:used:"), "{key}");
        assert_eq!(key.len(), "keyhole:used:".len() + 64);
        assert!(!key.contains("abc"));
    }

    #[test]
    fn urls_are_checked_and_never_echoed() {
        assert!(RedisTarget::parse("redis://127.0.0.1:6379/0").is_ok());
        assert!(RedisTarget::parse("rediss://:pw@redis.example:6380").is_ok());
        assert_eq!(
            RedisTarget::parse("http://x").err(),
            Some(RedisUrlError::Scheme)
        );
        let debug = format!(
            "{:?}",
            RedisTarget::parse("redis://:hunter2@127.0.0.1").unwrap()
        );
        assert!(!debug.contains("hunter2"), "{debug}");
        let error = RedisTarget::parse("redis://:hunter2@[::1").err().unwrap();
        assert!(!error.to_string().contains("hunter2"), "{error}");
    }
}
