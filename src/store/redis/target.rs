//! Where Redis is: `KEYHOLE_STORE` parsed into one of three topologies, each served by
//! the `redis` crate's own client for it (no hand-written routing):
//!
//! - `redis://` / `rediss://`: one node, or a managed endpoint that keeps its address
//!   through a failover;
//! - `redis+sentinel://[[USER]:PASSWORD@]HOST:PORT[,HOST:PORT…]/MASTER_NAME[/DB]`
//!   (and `rediss+sentinel://`): the Sentinels are asked for the master of
//!   `MASTER_NAME`; the credentials and the database are the master's;
//! - `redis+cluster://[[USER]:PASSWORD@]HOST:PORT[,HOST:PORT…]` (and
//!   `rediss+cluster://`): any reachable nodes of a Redis Cluster, which the crate's
//!   cluster client follows (`MOVED`, `ASK`, slot map refreshes).
//!
//! Nothing here ever prints the URL: it may carry a password.

use redis::{ConnectionAddr, ConnectionInfo, IntoConnectionInfo, RedisConnectionInfo};

/// A parsed Redis URL. Its `Debug` never shows the URL (it may carry a password).
#[derive(Clone)]
pub struct RedisTarget {
    /// The topology and its nodes.
    pub(super) nodes: Nodes,
    /// TLS (`rediss…://`).
    pub(super) tls: bool,
}

/// The topologies, with what each client needs.
#[derive(Clone)]
pub(super) enum Nodes {
    /// One node.
    Single(redis::Client),
    /// Sentinels and the name of the master they watch.
    Sentinel {
        /// The Sentinels' addresses.
        sentinels: Vec<ConnectionInfo>,
        /// The master's name (`sentinel monitor NAME …`).
        master_name: String,
        /// Credentials and database for the master.
        master: RedisConnectionInfo,
    },
    /// Seed nodes of a cluster (the crate discovers the rest).
    Cluster(Vec<ConnectionInfo>),
}

/// The three deployment shapes, as the metrics and `/readyz` name them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Topology {
    /// One node (or an endpoint that keeps its address).
    Single,
    /// A master found through Sentinel.
    Sentinel,
    /// A Redis Cluster.
    Cluster,
}

impl Topology {
    /// `single`, `sentinel` or `cluster`.
    pub fn name(self) -> &'static str {
        match self {
            Topology::Single => "single",
            Topology::Sentinel => "sentinel",
            Topology::Cluster => "cluster",
        }
    }
}

impl std::fmt::Debug for RedisTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisTarget")
            .field("url", &"[redacted]")
            .field("topology", &self.topology())
            .field("tls", &self.tls)
            .finish()
    }
}

/// Why a Redis URL was refused. Never carries the URL itself.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RedisUrlError {
    /// Not one of the known schemes.
    #[error(
        "must be `memory` or a `redis://`, `rediss://`, `redis+sentinel://`, `rediss+sentinel://`, `redis+cluster://` or `rediss+cluster://` URL"
    )]
    Scheme,
    /// The URL does not parse.
    #[error("is not a valid Redis URL ({0}); the form is redis://[:PASSWORD@]HOST[:PORT][/DB]")]
    Invalid(String),
    /// A Sentinel URL without a master name, or with a bad database number.
    #[error(
        "is not a valid Sentinel URL ({0}); the form is redis+sentinel://[:PASSWORD@]HOST:PORT[,HOST:PORT…]/MASTER_NAME[/DB]"
    )]
    Sentinel(&'static str),
    /// A cluster URL with a path, or without nodes.
    #[error(
        "is not a valid cluster URL ({0}); the form is redis+cluster://[:PASSWORD@]HOST:PORT[,HOST:PORT…]"
    )]
    Cluster(&'static str),
}

/// The error kind only: the crate's detail text could quote the URL.
fn invalid(error: redis::RedisError) -> RedisUrlError {
    RedisUrlError::Invalid(format!("{:?}", error.kind()))
}

/// `USERINFO@HOSTS/PATH` split at the last `@` before the path, and the path.
fn split_authority(rest: &str) -> (Option<&str>, &str, &str) {
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    match authority.rsplit_once('@') {
        Some((userinfo, hosts)) => (Some(userinfo), hosts, path),
        None => (None, authority, path),
    }
}

/// One `redis[s]://[USERINFO@]HOST:PORT` per listed host, parsed by the crate.
fn node_infos(
    tls: bool,
    userinfo: Option<&str>,
    hosts: &str,
) -> Result<Vec<ConnectionInfo>, RedisUrlError> {
    let scheme = if tls { "rediss" } else { "redis" };
    let mut nodes = Vec::new();
    for host in hosts.split(',') {
        if host.is_empty() {
            return Err(RedisUrlError::Invalid("an empty host in the list".into()));
        }
        let url = match userinfo {
            Some(userinfo) => format!("{scheme}://{userinfo}@{host}"),
            None => format!("{scheme}://{host}"),
        };
        nodes.push(url.as_str().into_connection_info().map_err(invalid)?);
    }
    Ok(nodes)
}

impl RedisTarget {
    /// Parses a `redis://`, `rediss://`, `redis[s]+sentinel://` or
    /// `redis[s]+cluster://` URL.
    pub fn parse(url: &str) -> Result<RedisTarget, RedisUrlError> {
        let (scheme, rest) = url.split_once("://").ok_or(RedisUrlError::Scheme)?;
        match scheme {
            "redis" | "rediss" => Ok(RedisTarget {
                nodes: Nodes::Single(redis::Client::open(url).map_err(invalid)?),
                tls: scheme == "rediss",
            }),
            "redis+cluster" | "rediss+cluster" => {
                let tls = scheme == "rediss+cluster";
                let (userinfo, hosts, path) = split_authority(rest);
                if !path.is_empty() {
                    return Err(RedisUrlError::Cluster("a cluster has no database or name"));
                }
                if hosts.is_empty() {
                    return Err(RedisUrlError::Cluster("no node"));
                }
                let nodes = node_infos(tls, userinfo, hosts)?;
                // The crate checks that the nodes agree (TLS, credentials).
                redis::cluster::ClusterClientBuilder::new(nodes.clone())
                    .build()
                    .map_err(invalid)?;
                Ok(RedisTarget {
                    nodes: Nodes::Cluster(nodes),
                    tls,
                })
            }
            "redis+sentinel" | "rediss+sentinel" => {
                let tls = scheme == "rediss+sentinel";
                let (userinfo, hosts, path) = split_authority(rest);
                if hosts.is_empty() {
                    return Err(RedisUrlError::Sentinel("no Sentinel"));
                }
                let (master_name, db) = match path.split_once('/') {
                    Some((name, db)) => (name, db),
                    None => (path, ""),
                };
                if master_name.is_empty() {
                    return Err(RedisUrlError::Sentinel("no master name"));
                }
                let db = match db {
                    "" => 0,
                    text => text
                        .parse::<i64>()
                        .ok()
                        .filter(|db| *db >= 0)
                        .ok_or(RedisUrlError::Sentinel("the database is not a number"))?,
                };
                // The credentials are the master's; the Sentinels are asked without.
                let master = match userinfo {
                    Some(_) => node_infos(tls, userinfo, hosts)?
                        .into_iter()
                        .next()
                        .map(|info| info.redis)
                        .unwrap_or_default(),
                    None => RedisConnectionInfo::default(),
                };
                let sentinels = node_infos(tls, None, hosts)?;
                redis::sentinel::SentinelClient::build(
                    sentinels.clone(),
                    master_name.to_owned(),
                    None,
                    redis::sentinel::SentinelServerType::Master,
                )
                .map_err(invalid)?;
                Ok(RedisTarget {
                    nodes: Nodes::Sentinel {
                        sentinels,
                        master_name: master_name.to_owned(),
                        master: RedisConnectionInfo { db, ..master },
                    },
                    tls,
                })
            }
            _ => Err(RedisUrlError::Scheme),
        }
    }

    /// Which topology this URL names.
    pub fn topology(&self) -> Topology {
        match self.nodes {
            Nodes::Single(_) => Topology::Single,
            Nodes::Sentinel { .. } => Topology::Sentinel,
            Nodes::Cluster(_) => Topology::Cluster,
        }
    }
}

/// `HOST:PORT` of an address, for comparing masters (never logged with credentials,
/// never a metric label).
pub(super) fn address_of(info: &ConnectionInfo) -> String {
    match &info.addr {
        ConnectionAddr::Tcp(host, port) | ConnectionAddr::TcpTls { host, port, .. } => {
            format!("{host}:{port}")
        }
        other => format!("{other:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_three_topologies_parse() {
        let single = RedisTarget::parse("redis://127.0.0.1:6379/0").unwrap();
        assert_eq!(single.topology(), Topology::Single);
        let cluster =
            RedisTarget::parse("redis+cluster://:pw@10.0.0.1:7000,10.0.0.2:7001").unwrap();
        assert_eq!(cluster.topology(), Topology::Cluster);
        match &cluster.nodes {
            Nodes::Cluster(nodes) => {
                assert_eq!(nodes.len(), 2);
                assert_eq!(nodes[1].redis.password.as_deref(), Some("pw"));
                assert_eq!(address_of(&nodes[1]), "10.0.0.2:7001");
            }
            _ => panic!("expected a cluster"),
        }
        let sentinel =
            RedisTarget::parse("rediss+sentinel://:pw@s1:26379,s2:26380/mymaster/3").unwrap();
        assert_eq!(sentinel.topology(), Topology::Sentinel);
        assert!(sentinel.tls);
        match &sentinel.nodes {
            Nodes::Sentinel {
                sentinels,
                master_name,
                master,
            } => {
                assert_eq!(sentinels.len(), 2);
                assert_eq!(sentinels[0].redis.password, None);
                assert_eq!(master_name, "mymaster");
                assert_eq!(master.db, 3);
                assert_eq!(master.password.as_deref(), Some("pw"));
            }
            _ => panic!("expected sentinel"),
        }
    }

    #[test]
    fn bad_urls_are_refused_without_echoing_them() {
        let cases = [
            ("http://x", RedisUrlError::Scheme),
            (
                "redis+sentinel://:hunter2@s1:26379",
                RedisUrlError::Sentinel("no master name"),
            ),
            (
                "redis+sentinel://:hunter2@s1:26379/m/x",
                RedisUrlError::Sentinel("the database is not a number"),
            ),
            (
                "redis+cluster://:hunter2@n1:7000/2",
                RedisUrlError::Cluster("a cluster has no database or name"),
            ),
            ("redis+cluster://", RedisUrlError::Cluster("no node")),
        ];
        for (url, expected) in cases {
            let error = RedisTarget::parse(url).err().unwrap();
            assert_eq!(error, expected, "{url}");
            assert!(!error.to_string().contains("hunter2"), "{error}");
        }
        let error = RedisTarget::parse("redis+cluster://:hunter2@n1:7000,,n2:7001")
            .err()
            .unwrap();
        assert!(!error.to_string().contains("hunter2"), "{error}");
        let debug = format!(
            "{:?}",
            RedisTarget::parse("redis+sentinel://:hunter2@s1:1/m").unwrap()
        );
        assert!(!debug.contains("hunter2"), "{debug}");
    }
}
