//! Prometheus metrics (through `prometheus-client`): decisions by credential kind and
//! reason code, allows by key id, decision latency, key reloads, shared-store errors,
//! latency and topology (redirections, failovers). Served as OpenMetrics text on the
//! admin listener's `/metrics`. Label values are fixed, stable strings or key ids the
//! configuration names (never other request data), so the number of series is
//! bounded.

use std::collections::HashMap;
use std::sync::RwLock;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::decision::Decision;

/// Labels of `keyhole_decisions_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DecisionLabels {
    /// `allow` or `deny`.
    pub decision: &'static str,
    /// The credential presented (`signed-url`, `none`, …).
    pub credential: &'static str,
    /// The reason code (`ok` for an allow).
    pub reason: &'static str,
}

/// Labels of `keyhole_key_allows_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KeyLabels {
    /// The credential kind.
    pub credential: &'static str,
    /// A key id the configuration names, or `other` (`audit::OTHER_KEY_LABEL`).
    pub key: String,
}

/// Labels of counters by outcome (`keyhole_key_reloads_total`,
/// `keyhole_jwks_fetches_total`).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResultLabels {
    /// `ok` or `error`.
    pub result: &'static str,
}

/// A counter family by outcome; clones share their values, so a component can count
/// before the registry exists.
#[derive(Clone, Debug, Default)]
pub struct ResultCounter(Family<ResultLabels, Counter>);

impl ResultCounter {
    /// Counts one outcome.
    pub fn record(&self, ok: bool) {
        let result = if ok { "ok" } else { "error" };
        self.0.get_or_create(&ResultLabels { result }).inc();
    }
}

/// Labels of `keyhole_store_errors_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StoreErrorLabels {
    /// The store operation (`check_and_record`, `is_revoked`, …).
    pub op: &'static str,
    /// `timeout`, `error` or `unreplicated`.
    pub kind: &'static str,
}

/// Labels of `keyhole_store_duration_seconds`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StoreOpLabels {
    /// The store operation.
    pub op: &'static str,
}

/// Labels of the store topology metrics (`keyhole_store_topology`,
/// `keyhole_store_redirections_total`, `keyhole_store_failovers_total`): the kind of
/// Redis deployment only, never an address.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TopologyLabels {
    /// `single`, `sentinel` or `cluster`.
    pub topology: &'static str,
}

/// The shared store's metrics: a cheap handle the Redis store records into, registered
/// with [`Metrics`].
#[derive(Clone, Debug)]
pub struct StoreMetrics {
    errors: Family<StoreErrorLabels, Counter>,
    duration: Family<StoreOpLabels, Histogram>,
    /// 1 for the topology the store was configured with.
    topology: Family<TopologyLabels, Gauge>,
    /// Calls sent once more to another node than the first (a demoted master answered
    /// `READONLY`, or the master was looked up again after its connection failed).
    redirections: Family<TopologyLabels, Counter>,
    /// Times the master the store writes to changed (a Sentinel failover seen).
    failovers: Family<TopologyLabels, Counter>,
}

impl Default for StoreMetrics {
    fn default() -> Self {
        StoreMetrics {
            errors: Family::default(),
            // 50 µs to about 1.6 s, doubling: covers the store timeout.
            duration: Family::new_with_constructor(|| {
                Histogram::new(exponential_buckets(50e-6, 2.0, 16))
            }),
            topology: Family::default(),
            redirections: Family::default(),
            failovers: Family::default(),
        }
    }
}

impl StoreMetrics {
    /// Counts one store call that took `elapsed`; `error` is `Some("timeout")` or
    /// `Some("error")` when it failed.
    pub fn record(&self, op: &'static str, elapsed: Duration, error: Option<&'static str>) {
        self.duration
            .get_or_create(&StoreOpLabels { op })
            .observe(elapsed.as_secs_f64());
        if let Some(kind) = error {
            self.errors
                .get_or_create(&StoreErrorLabels { op, kind })
                .inc();
        }
    }

    /// Counts one failed store call whose time [`StoreMetrics::record`] already
    /// observed (`kind` `unreplicated`: the replicas did not acknowledge in time).
    pub fn count_error(&self, op: &'static str, kind: &'static str) {
        self.errors
            .get_or_create(&StoreErrorLabels { op, kind })
            .inc();
    }

    /// Sets the topology gauge (`single`, `sentinel`, `cluster`) to 1.
    pub fn set_topology(&self, topology: &'static str) {
        self.topology
            .get_or_create(&TopologyLabels { topology })
            .set(1);
    }

    /// Counts one call re-routed to another node.
    pub fn record_redirection(&self, topology: &'static str) {
        self.redirections
            .get_or_create(&TopologyLabels { topology })
            .inc();
    }

    /// Counts one change of master.
    pub fn record_failover(&self, topology: &'static str) {
        self.failovers
            .get_or_create(&TopologyLabels { topology })
            .inc();
    }
}

/// Counters of allows by key id, then credential kind.
type KeyCounters = RwLock<HashMap<Box<str>, Vec<(&'static str, Counter)>>>;

/// Every metric keyhole exports.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    decisions: Family<DecisionLabels, Counter>,
    key_allows: Family<KeyLabels, Counter>,
    /// `key_allows`' counters by key id, then credential kind: clones that share the
    /// family's values, found without building a label. Bounded as the labels are.
    key_counters: KeyCounters,
    latency: Histogram,
    reloads: ResultCounter,
    store: StoreMetrics,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new(None)
    }
}

impl Metrics {
    /// Registers every metric under the `keyhole_` prefix; `jwks_fetches` is the
    /// remote JWKS source's counter, when one is configured.
    pub fn new(jwks_fetches: Option<ResultCounter>) -> Self {
        let mut registry = Registry::with_prefix("keyhole");
        let decisions = Family::<DecisionLabels, Counter>::default();
        registry.register(
            "decisions",
            "Auth decisions by outcome, credential kind and reason code",
            decisions.clone(),
        );
        let key_allows = Family::<KeyLabels, Counter>::default();
        registry.register(
            "key_allows",
            "Allows by credential kind and signing key id (key ids the configuration names; `other` for the rest)",
            key_allows.clone(),
        );
        // 1 µs to about 65 ms, doubling.
        let latency = Histogram::new(exponential_buckets(1e-6, 2.0, 17));
        registry.register(
            "decision_duration_seconds",
            "Time from nginx's headers to a decision, excluding network and HTTP parsing",
            latency.clone(),
        );
        let reloads = ResultCounter::default();
        registry.register(
            "key_reloads",
            "Key reloads (SIGHUP) by result",
            reloads.0.clone(),
        );
        if let Some(fetches) = jwks_fetches {
            registry.register(
                "jwks_fetches",
                "Fetches of KEYHOLE_JWKS_URL by result (start, refresh, unknown key id)",
                fetches.0,
            );
        }
        let store = StoreMetrics::default();
        registry.register(
            "store_errors",
            "Shared-store calls that failed or timed out, by operation and kind",
            store.errors.clone(),
        );
        registry.register(
            "store_duration_seconds",
            "Time of each shared-store call, by operation (timeouts included)",
            store.duration.clone(),
        );
        registry.register(
            "store_topology",
            "The shared store's Redis topology (single, sentinel or cluster): 1",
            store.topology.clone(),
        );
        registry.register(
            "store_redirections",
            "Shared-store calls sent once more to another node (READONLY from a demoted master, or the master looked up again)",
            store.redirections.clone(),
        );
        registry.register(
            "store_failovers",
            "Changes of the master the shared store writes to (Sentinel failovers seen)",
            store.failovers.clone(),
        );
        Metrics {
            registry,
            decisions,
            key_allows,
            key_counters: KeyCounters::default(),
            latency,
            reloads,
            store,
        }
    }

    /// The handle a store records its calls into.
    pub fn store(&self) -> StoreMetrics {
        self.store.clone()
    }

    /// Counts one decision and its latency.
    pub fn record_decision(
        &self,
        decision: &Decision,
        credential: &'static str,
        elapsed: Duration,
    ) {
        let labels = DecisionLabels {
            decision: if decision.is_allow() { "allow" } else { "deny" },
            credential,
            reason: decision.code(),
        };
        self.decisions.get_or_create(&labels).inc();
        self.latency.observe(elapsed.as_secs_f64());
    }

    /// Counts one allow under its key id label (`Audit::key_label`). The counter is
    /// found by the borrowed key id: no label is allocated once a key id has been seen.
    pub fn record_key_allow(&self, credential: &'static str, key: &str) {
        let seen = self.key_counters.read().unwrap_or_else(|e| e.into_inner());
        if let Some(counter) = seen
            .get(key)
            .and_then(|counters| counters.iter().find(|(kind, _)| *kind == credential))
        {
            counter.1.inc();
            return;
        }
        drop(seen);
        let counter = self
            .key_allows
            .get_or_create(&KeyLabels {
                credential,
                key: key.to_owned(),
            })
            .clone();
        counter.inc();
        let mut seen = self.key_counters.write().unwrap_or_else(|e| e.into_inner());
        let counters = seen.entry(key.into()).or_default();
        if !counters.iter().any(|(kind, _)| *kind == credential) {
            counters.push((credential, counter));
        }
    }

    /// Counts one key reload.
    pub fn record_reload(&self, ok: bool) {
        self.reloads.record(ok);
    }

    /// The OpenMetrics text exposition.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decision::{Credential, Deny, Grant};

    #[test]
    fn decisions_and_reloads_are_exported_with_stable_names() {
        let fetches = ResultCounter::default();
        let metrics = Metrics::new(Some(fetches.clone()));
        fetches.record(true);
        metrics.record_decision(
            &Decision::Deny(Deny::Expired),
            "signed-url",
            Duration::from_micros(3),
        );
        metrics.record_decision(
            &Decision::Allow(Grant::uncacheable(Credential::SignedUrl)),
            "signed-url",
            Duration::from_micros(2),
        );
        metrics.record_reload(false);
        // The first allow of a key id builds its label; the next ones find the counter
        // by the borrowed id, under their own credential kind.
        for _ in 0..3 {
            metrics.record_key_allow("signed-url", "team-a");
        }
        metrics.record_key_allow("jwt", "team-a");
        let store = metrics.store();
        store.record("is_revoked", Duration::from_millis(100), Some("timeout"));
        store.record("ping", Duration::from_micros(80), None);
        let text = metrics.encode();
        assert!(
            text.contains(r#"keyhole_store_errors_total{op="is_revoked",kind="timeout"} 1"#),
            "{text}"
        );
        assert!(
            text.contains(r#"keyhole_store_duration_seconds_count{op="ping"} 1"#),
            "{text}"
        );
        assert!(
            text.contains(r#"keyhole_decisions_total{decision="deny",credential="signed-url",reason="expired"} 1"#),
            "{text}"
        );
        assert!(text.contains(r#"reason="ok"} 1"#), "{text}");
        assert!(
            text.contains("keyhole_decision_duration_seconds_count 2"),
            "{text}"
        );
        assert!(
            text.contains(r#"keyhole_key_allows_total{credential="signed-url",key="team-a"} 3"#),
            "{text}"
        );
        assert!(
            text.contains(r#"keyhole_key_allows_total{credential="jwt",key="team-a"} 1"#),
            "{text}"
        );
        assert!(
            text.contains(r#"keyhole_key_reloads_total{result="error"} 1"#),
            "{text}"
        );
        assert!(
            text.contains(r#"keyhole_jwks_fetches_total{result="ok"} 1"#),
            "{text}"
        );
    }
}
