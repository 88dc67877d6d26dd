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

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use sha2::{Digest, Sha256};

use crate::clock::{Clock, UnixTime};
use crate::metrics::StoreMetrics;
use crate::store::{ReplayStore, StoreError, StoreFuture, StoreId, StoreKind};

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

/// A parsed Redis URL. Its `Debug` never shows the URL (it may carry a password).
#[derive(Clone)]
pub struct RedisTarget {
    client: redis::Client,
    /// `rediss://` (TLS).
    tls: bool,
}

impl std::fmt::Debug for RedisTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisTarget")
            .field("url", &"[redacted]")
            .field("tls", &self.tls)
            .finish()
    }
}

/// Why a Redis URL was refused. Never carries the URL itself.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RedisUrlError {
    /// Not `redis://` or `rediss://`.
    #[error("must be `memory` or a `redis://` or `rediss://` URL")]
    Scheme,
    /// The URL does not parse.
    #[error("is not a valid Redis URL ({0}); the form is redis://[:PASSWORD@]HOST[:PORT][/DB]")]
    Invalid(String),
}

impl RedisTarget {
    /// Parses a `redis://` or `rediss://` URL.
    pub fn parse(url: &str) -> Result<RedisTarget, RedisUrlError> {
        let tls = if url.starts_with("rediss://") {
            true
        } else if url.starts_with("redis://") {
            false
        } else {
            return Err(RedisUrlError::Scheme);
        };
        match redis::Client::open(url) {
            // The error kind only: the crate's detail text could quote the URL.
            Ok(client) => Ok(RedisTarget { client, tls }),
            Err(error) => Err(RedisUrlError::Invalid(format!("{:?}", error.kind()))),
        }
    }
}

/// The Redis-backed store.
pub struct RedisStore {
    /// Where Redis is (the URL stays inside the client).
    target: RedisTarget,
    /// The connection, made on first use and kept; it reconnects by itself.
    manager: tokio::sync::Mutex<Option<ConnectionManager>>,
    /// Prepended to every key.
    prefix: String,
    /// Bound on each call, connecting included.
    timeout: Duration,
    /// Turns expiry times into TTLs.
    clock: Arc<dyn Clock>,
    /// Errors and latency of each call.
    metrics: StoreMetrics,
    /// The keep-the-later-time script (sent by hash, loaded on first use).
    keep_later: redis::Script,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("target", &self.target)
            .field("prefix", &self.prefix)
            .field("timeout", &self.timeout)
            .finish()
    }
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
        RedisStore {
            target,
            manager: tokio::sync::Mutex::new(None),
            prefix: prefix.to_owned(),
            timeout,
            clock,
            metrics,
            keep_later: redis::Script::new(KEEP_LATER),
        }
    }

    /// The Redis key of a store id: its namespace, then a hash of its encoding.
    pub fn key(&self, id: &StoreId<'_>) -> String {
        key(&self.prefix, id.namespace().as_str(), &id.encode())
    }

    /// The connection, made now if there is none yet.
    async fn connection(&self) -> redis::RedisResult<ConnectionManager> {
        let mut slot = self.manager.lock().await;
        if let Some(manager) = slot.as_ref() {
            return Ok(manager.clone());
        }
        // One connection attempt per reconnect, with no back-off sleep: a reconnect
        // that slept between attempts would hold every call made meanwhile (they all
        // wait for it) past the timeout, also after Redis came back. Concurrent calls
        // share one attempt; the next call after a failed one starts another.
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(self.timeout)
            .set_response_timeout(self.timeout)
            .set_number_of_retries(0);
        let manager =
            ConnectionManager::new_with_config(self.target.client.clone(), config).await?;
        *slot = Some(manager.clone());
        Ok(manager)
    }

    /// Runs one call within the timeout and records it in the metrics.
    ///
    /// A call that fails because its connection is dead (Redis restarted, the
    /// connection reset, or the last reconnect attempt refused) is sent once more,
    /// within the same timeout: the [`ConnectionManager`] starts a new connection on
    /// such an error, and the second attempt waits for it. Without this, the first
    /// call after Redis came back would be lost on every instance (denied
    /// `store-unavailable` although Redis answers). A timeout is never retried (the
    /// budget is spent), nor is an error Redis itself answered. While Redis is away
    /// the second attempt fails too, and the call is `Unavailable` (fail closed).
    ///
    /// `work` gets the attempt number (0, then 1), so that a call that is not
    /// idempotent can tell a retry apart (see [`RedisStore::record`]).
    async fn run<T, F, W>(&self, op: &'static str, work: W) -> Result<T, StoreError>
    where
        W: Fn(u8) -> F,
        F: Future<Output = redis::RedisResult<T>>,
    {
        let started = Instant::now();
        let attempts = async {
            match work(0).await {
                Err(error) if error.is_unrecoverable_error() && !error.is_timeout() => {
                    tracing::debug!(
                        op,
                        kind = ?error.kind(),
                        "redis connection lost; sending the call once more on a new connection"
                    );
                    work(1).await
                }
                other => other,
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
            Err(_) => (
                Err(StoreError::Unavailable(format!(
                    "redis {op}: no answer within {:?}",
                    self.timeout
                ))),
                Some("timeout"),
            ),
        };
        self.metrics.record(op, started.elapsed(), error);
        result
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
        self.run("check_and_record", |attempt| async move {
            let mut connection = self.connection().await?;
            let mut set = redis::cmd("SET");
            set.arg(key).arg(mark).arg("NX").arg("PX").arg(ttl);
            if attempt == 0 {
                let set: Option<String> = set.query_async(&mut connection).await?;
                return Ok(set.is_some());
            }
            let (_, held): (Option<String>, Option<String>) = redis::pipe()
                .add_command(set)
                .cmd("GET")
                .arg(key)
                .query_async(&mut connection)
                .await?;
            Ok(held.as_deref() == Some(mark.as_str()))
        })
        .await
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
        // Idempotent: sending it twice keeps the same later time.
        self.run(op, |_| async move {
            let mut connection = self.connection().await?;
            let _: i64 = self
                .keep_later
                .key(key)
                .arg(value.0)
                .arg(ttl)
                .invoke_async(&mut connection)
                .await?;
            Ok(())
        })
        .await
    }

    async fn revoked(&self, id: &StoreId<'_>) -> Result<bool, StoreError> {
        let key = &self.key(id);
        self.run("is_revoked", |_| async move {
            let mut connection = self.connection().await?;
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
        // Separate single-key GETs in one pipeline (not MGET), so that keys in
        // different Redis Cluster slots never meet in one command.
        let mut pipe = redis::pipe();
        for id in ids {
            pipe.cmd("GET").arg(self.key(id));
        }
        let pipe = &pipe;
        self.run("latest_cut_off", |_| async move {
            let mut connection = self.connection().await?;
            let values: Vec<Option<String>> = pipe.query_async(&mut connection).await?;
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
        self.run("ping", |_| async {
            let mut connection = self.connection().await?;
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
