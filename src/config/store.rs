//! The replay and revocation store: `KEYHOLE_STORE` (or `KEYHOLE_STORE_FILE`),
//! `KEYHOLE_STORE_TIMEOUT`, `KEYHOLE_REDIS_PREFIX`, `KEYHOLE_STORE_WAIT_REPLICAS`, and `KEYHOLE_REPLAY_CAPACITY`
//! for the in-memory store. The result is data; `build.rs` opens the store.

use std::time::Duration;

use super::RawConfig;
use super::table::{
    REDIS_PREFIX, REPLAY_CAPACITY, STORE, STORE_FILE, STORE_TIMEOUT, STORE_WAIT_REPLICAS,
};
use crate::store::redis::RedisTarget;

/// Where single-use ids and revocations are kept.
#[derive(Clone, Debug)]
pub enum StoreSettings {
    /// In this process (`KEYHOLE_STORE=memory`, the default): one instance only.
    Memory,
    /// Redis, shared by every instance.
    Redis {
        /// The parsed URL (never printed); boxed, being much larger than `Memory`.
        target: Box<RedisTarget>,
        /// Key prefix (`KEYHOLE_REDIS_PREFIX`).
        prefix: String,
        /// Bound on every call (`KEYHOLE_STORE_TIMEOUT`).
        timeout: Duration,
        /// Replicas that must acknowledge a write (`KEYHOLE_STORE_WAIT_REPLICAS`).
        wait_replicas: u32,
    },
}

/// The smallest and largest `KEYHOLE_STORE_TIMEOUT`.
const TIMEOUT_RANGE: (Duration, Duration) = (Duration::from_millis(1), Duration::from_secs(10));

/// Longest `KEYHOLE_REDIS_PREFIX`.
const MAX_PREFIX_LEN: usize = 64;

/// Most `KEYHOLE_STORE_WAIT_REPLICAS` (far more replicas than any deployment has).
const MAX_WAIT_REPLICAS: u32 = 16;

/// `KEYHOLE_STORE` (or `_FILE`), `KEYHOLE_STORE_TIMEOUT` and `KEYHOLE_REDIS_PREFIX`.
/// The URL is never echoed: it may carry a password.
pub(super) fn validate(
    raw: &RawConfig,
    report: &mut impl FnMut(&'static str, String),
) -> Option<StoreSettings> {
    let timeout = match raw.store_timeout.as_deref() {
        None => Some(const { STORE_TIMEOUT.default_duration() }),
        Some(text) => match humantime::parse_duration(text) {
            Ok(timeout) if timeout >= TIMEOUT_RANGE.0 && timeout <= TIMEOUT_RANGE.1 => {
                Some(timeout)
            }
            _ => {
                report(
                    STORE_TIMEOUT.name,
                    format!("must be a duration from 1ms to 10s such as `100ms`, got `{text}`"),
                );
                None
            }
        },
    };
    let wait_replicas = match raw.store_wait_replicas.as_deref().map(str::parse::<u32>) {
        None => Some(const { STORE_WAIT_REPLICAS.default_count() } as u32),
        Some(Ok(replicas)) if replicas <= MAX_WAIT_REPLICAS => Some(replicas),
        Some(_) => {
            report(
                STORE_WAIT_REPLICAS.name,
                format!("must be a whole number from 0 to {MAX_WAIT_REPLICAS}"),
            );
            None
        }
    };
    let prefix = raw
        .redis_prefix
        .as_deref()
        .unwrap_or(const { REDIS_PREFIX.default_text() });
    let prefix_ok = prefix.len() <= MAX_PREFIX_LEN
        && prefix
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_:.{}".contains(&b));
    if !prefix_ok {
        report(
            REDIS_PREFIX.name,
            format!("must be at most 64 of A-Z a-z 0-9 - _ : . {{ }}, got `{prefix}`"),
        );
    }
    let (variable, text) = match (&raw.store, &raw.store_file) {
        (Some(_), Some(_)) => {
            report(
                STORE.name,
                "set either KEYHOLE_STORE or KEYHOLE_STORE_FILE, not both".into(),
            );
            return None;
        }
        (None, None) => (STORE.name, "memory".to_owned()),
        (Some(text), None) => (STORE.name, text.trim().to_owned()),
        (None, Some(path)) => match std::fs::read_to_string(path) {
            Ok(text) => (STORE_FILE.name, text.trim().to_owned()),
            Err(error) => {
                report(
                    STORE_FILE.name,
                    format!("cannot read {}: {error}", path.display()),
                );
                return None;
            }
        },
    };
    if text == "memory" {
        if wait_replicas.is_some_and(|replicas| replicas > 0) {
            report(
                STORE_WAIT_REPLICAS.name,
                "needs a Redis store (KEYHOLE_STORE): the in-memory store has no replicas".into(),
            );
            return None;
        }
        return Some(StoreSettings::Memory);
    }
    let target = RedisTarget::parse(&text)
        .map_err(|error| {
            report(
                variable,
                format!("{error} (value not shown: it may hold a password)"),
            )
        })
        .ok()?;
    Some(StoreSettings::Redis {
        target: Box::new(target),
        prefix: prefix_ok.then(|| prefix.to_owned())?,
        timeout: timeout?,
        wait_replicas: wait_replicas?,
    })
}

/// `KEYHOLE_REPLAY_CAPACITY`: a whole number greater than zero.
pub(super) fn replay_capacity(
    raw: &RawConfig,
    report: &mut impl FnMut(&'static str, String),
) -> Option<usize> {
    match raw.replay_capacity.as_deref().map(str::parse::<usize>) {
        None => Some(const { REPLAY_CAPACITY.default_count() }),
        Some(Ok(capacity)) if capacity > 0 => Some(capacity),
        Some(_) => {
            report(
                REPLAY_CAPACITY.name,
                "must be a whole number greater than zero".into(),
            );
            None
        }
    }
}
