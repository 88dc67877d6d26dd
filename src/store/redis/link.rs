//! The connection to Redis, per topology, made on first use and kept:
//!
//! - one node: a [`ConnectionManager`] that reconnects to the same address;
//! - Sentinel: a multiplexed connection to the master the Sentinels name, verified by
//!   `ROLE`; dropped when it fails, times out or answers `READONLY` (a demoted
//!   master), or when the Sentinels, asked at most once a second, name another
//!   master, so that keyhole follows a failover without a restart;
//! - Cluster: the crate's async cluster connection, which follows `MOVED` and `ASK`
//!   and refreshes its slot map by itself.
//!
//! [`Link`] is one of the three, usable wherever the crate takes a connection.

use std::time::{Duration, Instant};

use redis::aio::{
    ConnectionLike, ConnectionManager, ConnectionManagerConfig, MultiplexedConnection,
};
use redis::cluster::ClusterClientBuilder;
use redis::cluster_async::ClusterConnection;
use redis::sentinel::{SentinelClient, SentinelNodeConnectionInfo, SentinelServerType};
use redis::{AsyncConnectionConfig, Cmd, Pipeline, RedisFuture, RedisResult, TlsMode, Value};

use super::target::{Nodes, RedisTarget, Topology, address_of};
use crate::metrics::StoreMetrics;

/// Redirections a cluster call may follow (`MOVED`, `ASK`, a reconnect) within the
/// store timeout.
const CLUSTER_RETRIES: u32 = 4;

/// A connection of any topology.
#[derive(Clone)]
pub(super) enum Link {
    /// One node.
    Single(ConnectionManager),
    /// The current master, as the Sentinels named it.
    Sentinel(MultiplexedConnection),
    /// A Redis Cluster.
    Cluster(ClusterConnection),
}

impl ConnectionLike for Link {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Link::Single(connection) => connection.req_packed_command(cmd),
            Link::Sentinel(connection) => connection.req_packed_command(cmd),
            Link::Cluster(connection) => connection.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        cmd: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Link::Single(connection) => connection.req_packed_commands(cmd, offset, count),
            Link::Sentinel(connection) => connection.req_packed_commands(cmd, offset, count),
            Link::Cluster(connection) => connection.req_packed_commands(cmd, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Link::Single(connection) => connection.get_db(),
            Link::Sentinel(connection) => connection.get_db(),
            Link::Cluster(connection) => connection.get_db(),
        }
    }
}

/// How often a Sentinel store asks the Sentinels whether its master is still the
/// master (on the first call after the interval, within that call's timeout).
const MASTER_CHECK: Duration = Duration::from_secs(1);

/// The connection to the master the Sentinels named.
pub(super) struct MasterLink {
    /// Counts connections made, so that a failed call only drops the connection it
    /// failed on.
    generation: u64,
    /// The multiplexed connection.
    connection: MultiplexedConnection,
    /// The master's `HOST:PORT` (compared to see a failover; never logged or labelled).
    address: String,
    /// When the Sentinels last confirmed it.
    checked: Instant,
}

/// The cached connection of one topology.
pub(super) enum Backend {
    /// One node.
    Single {
        /// The node's client.
        client: redis::Client,
        /// The connection, once made.
        manager: tokio::sync::Mutex<Option<ConnectionManager>>,
    },
    /// A master behind Sentinels.
    Sentinel {
        /// Asks the Sentinels (it keeps its own connections to them).
        sentinel: tokio::sync::Mutex<SentinelClient>,
        /// The master's connection, once made.
        master: tokio::sync::Mutex<Option<MasterLink>>,
        /// The address of the last master connected to, and the generation counter.
        last: std::sync::Mutex<(Option<String>, u64)>,
    },
    /// A cluster.
    Cluster {
        /// The cluster client.
        client: redis::cluster::ClusterClient,
        /// The connection, once made (it follows the cluster by itself).
        connection: tokio::sync::Mutex<Option<ClusterConnection>>,
    },
    /// A client the crate refused to build (the URL was checked when it was parsed, so
    /// this is not expected): every call fails, so what needs the store is denied.
    Unusable(Topology, redis::ErrorKind),
}

impl Backend {
    /// The backend of `target`; calls are bounded by `timeout`.
    pub(super) fn new(target: &RedisTarget, timeout: Duration) -> Backend {
        let topology = target.topology();
        let unusable = |error: redis::RedisError| Backend::Unusable(topology, error.kind());
        match &target.nodes {
            Nodes::Single(client) => Backend::Single {
                client: client.clone(),
                manager: tokio::sync::Mutex::new(None),
            },
            Nodes::Sentinel {
                sentinels,
                master_name,
                master,
            } => {
                let info = SentinelNodeConnectionInfo {
                    tls_mode: target.tls.then_some(TlsMode::Secure),
                    redis_connection_info: Some(master.clone()),
                };
                let client = match SentinelClient::build(
                    sentinels.clone(),
                    master_name.clone(),
                    Some(info),
                    SentinelServerType::Master,
                ) {
                    Ok(client) => client,
                    Err(error) => return unusable(error),
                };
                Backend::Sentinel {
                    sentinel: tokio::sync::Mutex::new(client),
                    master: tokio::sync::Mutex::new(None),
                    last: std::sync::Mutex::new((None, 0)),
                }
            }
            Nodes::Cluster(nodes) => {
                let wait_ms = u64::try_from(timeout.as_millis() / 8)
                    .unwrap_or(u64::MAX)
                    .max(1);
                let client = match ClusterClientBuilder::new(nodes.clone())
                    .connection_timeout(timeout)
                    .response_timeout(timeout)
                    .retries(CLUSTER_RETRIES)
                    .min_retry_wait(1)
                    .max_retry_wait(wait_ms)
                    .build()
                {
                    Ok(client) => client,
                    Err(error) => return unusable(error),
                };
                Backend::Cluster {
                    client,
                    connection: tokio::sync::Mutex::new(None),
                }
            }
        }
    }

    /// The topology served.
    pub(super) fn topology(&self) -> Topology {
        match self {
            Backend::Single { .. } => Topology::Single,
            Backend::Sentinel { .. } => Topology::Sentinel,
            Backend::Cluster { .. } => Topology::Cluster,
            Backend::Unusable(topology, _) => *topology,
        }
    }

    /// The connection, made now if there is none yet, and its generation (Sentinel).
    ///
    /// One connection attempt per reconnect, with no back-off sleep: a reconnect that
    /// slept between attempts would hold every call made meanwhile (they all wait for
    /// it) past the timeout, also after Redis came back. Concurrent calls share one
    /// attempt; the next call after a failed one starts another.
    pub(super) async fn link(
        &self,
        timeout: Duration,
        metrics: &StoreMetrics,
    ) -> RedisResult<(u64, Link)> {
        match self {
            Backend::Single { client, manager } => {
                let mut slot = manager.lock().await;
                if let Some(manager) = slot.as_ref() {
                    return Ok((0, Link::Single(manager.clone())));
                }
                let config = ConnectionManagerConfig::new()
                    .set_connection_timeout(timeout)
                    .set_response_timeout(timeout)
                    .set_number_of_retries(0);
                let manager = ConnectionManager::new_with_config(client.clone(), config).await?;
                *slot = Some(manager.clone());
                Ok((0, Link::Single(manager)))
            }
            Backend::Sentinel {
                sentinel,
                master,
                last,
            } => {
                let mut slot = master.lock().await;
                let mut named = None;
                if let Some(current) = slot.as_mut() {
                    if current.checked.elapsed() < MASTER_CHECK {
                        return Ok((
                            current.generation,
                            Link::Sentinel(current.connection.clone()),
                        ));
                    }
                    // At most once per MASTER_CHECK: do the Sentinels still name this
                    // master? A demoted master keeps taking writes until Sentinel
                    // converts it, seconds later. If they cannot say, keep it.
                    match sentinel.lock().await.async_get_client().await {
                        Ok(client)
                            if address_of(client.get_connection_info()) != current.address =>
                        {
                            named = Some(client);
                        }
                        _ => {
                            current.checked = Instant::now();
                            return Ok((
                                current.generation,
                                Link::Sentinel(current.connection.clone()),
                            ));
                        }
                    }
                }
                // Asks the Sentinels, then checks with ROLE that the node is a master.
                let client = match named {
                    Some(client) => client,
                    None => sentinel.lock().await.async_get_client().await?,
                };
                let address = address_of(client.get_connection_info());
                let config = AsyncConnectionConfig::new()
                    .set_connection_timeout(timeout)
                    .set_response_timeout(timeout);
                let connection = client
                    .get_multiplexed_async_connection_with_config(&config)
                    .await?;
                let generation = {
                    let mut last = last
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner);
                    if last.0.as_ref().is_some_and(|previous| *previous != address) {
                        metrics.record_failover(Topology::Sentinel.name());
                        tracing::warn!("redis sentinel: the master changed; following it");
                    }
                    last.0 = Some(address.clone());
                    last.1 = last.1.wrapping_add(1);
                    last.1
                };
                *slot = Some(MasterLink {
                    generation,
                    connection: connection.clone(),
                    address,
                    checked: Instant::now(),
                });
                Ok((generation, Link::Sentinel(connection)))
            }
            Backend::Cluster { client, connection } => {
                let mut slot = connection.lock().await;
                if let Some(connection) = slot.as_ref() {
                    return Ok((0, Link::Cluster(connection.clone())));
                }
                let made = client.get_async_connection().await?;
                *slot = Some(made.clone());
                Ok((0, Link::Cluster(made)))
            }
            Backend::Unusable(_, kind) => {
                Err((*kind, "the Redis client could not be built").into())
            }
        }
    }

    /// Drops the Sentinel master connection of `generation` (it failed, hung, or the
    /// node is no longer the master), so that the next call asks the Sentinels again.
    /// `None` drops whatever connection is current. One node and clusters reconnect
    /// by themselves.
    pub(super) async fn forget(&self, generation: Option<u64>) {
        if let Backend::Sentinel { master, .. } = self {
            let mut slot = master.lock().await;
            let current = slot.as_ref().map(|link| link.generation);
            if generation.is_none() || generation == current {
                *slot = None;
            }
        }
    }
}
