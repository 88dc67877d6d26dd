//! The auth listener and its limits: `KEYHOLE_LISTEN`, `KEYHOLE_SOCKET_MODE`,
//! `KEYHOLE_HEADER_TIMEOUT`, `KEYHOLE_MAX_CONNECTIONS`, `KEYHOLE_MAX_HEAD_BYTES` and
//! `KEYHOLE_WORKER_THREADS`.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use super::table::{
    HEADER_TIMEOUT, LISTEN, MAX_CONNECTIONS, MAX_HEAD_BYTES, SOCKET_MODE, WORKER_THREADS,
};
use super::{RawConfig, parse_count, parse_seconds};

/// Where the auth listener listens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Listen {
    /// A TCP address such as `127.0.0.1:9181`.
    Tcp(SocketAddr),
    /// A Unix socket path (`unix:/run/keyhole.sock`).
    Unix(PathBuf),
}

impl fmt::Display for Listen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Listen::Tcp(addr) => write!(f, "{addr}"),
            Listen::Unix(path) => write!(f, "unix:{}", path.display()),
        }
    }
}

/// The listener limits, before the admin settings join them in
/// [`super::ServerSettings`].
pub(super) struct Limits {
    pub(super) socket_mode: u32,
    pub(super) header_timeout: Duration,
    pub(super) max_connections: usize,
    pub(super) max_head_bytes: usize,
    pub(super) worker_threads: usize,
}

/// `KEYHOLE_LISTEN`.
pub(super) fn listen(
    raw: &RawConfig,
    report: &mut impl FnMut(&'static str, String),
) -> Option<Listen> {
    let text = raw
        .listen
        .as_deref()
        .unwrap_or(const { LISTEN.default_text() });
    parse_listen(text)
        .map_err(|message| report(LISTEN.name, message))
        .ok()
}

/// The limits, each checked (and reported) even when another is wrong.
pub(super) fn limits(
    raw: &RawConfig,
    report: &mut impl FnMut(&'static str, String),
) -> Option<Limits> {
    let socket_mode = match raw
        .socket_mode
        .as_deref()
        .unwrap_or(const { SOCKET_MODE.default_text() })
    {
        text if text.len() <= 4 && text.bytes().all(|b| (b'0'..=b'7').contains(&b)) => {
            u32::from_str_radix(text, 8).ok()
        }
        other => {
            report(
                SOCKET_MODE.name,
                format!("must be an octal file mode such as `0660`, got `{other}`"),
            );
            None
        }
    };
    let header_timeout = parse_seconds(
        raw.header_timeout.as_deref(),
        const { HEADER_TIMEOUT.default_seconds() },
    )
    .map_err(|message| report(HEADER_TIMEOUT.name, message))
    .ok()
    .filter(|seconds| {
        let ok = *seconds > 0;
        if !ok {
            report(HEADER_TIMEOUT.name, "must be greater than zero".into());
        }
        ok
    });
    let max_connections = parse_count(
        raw.max_connections.as_deref(),
        const { MAX_CONNECTIONS.default_count() },
    )
    .map_err(|message| report(MAX_CONNECTIONS.name, message))
    .ok();
    let max_head_bytes = parse_head_bytes(raw.max_head_bytes.as_deref())
        .map_err(|message| report(MAX_HEAD_BYTES.name, message))
        .ok();
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let worker_threads = parse_count(raw.worker_threads.as_deref(), default_worker_threads(cores))
        .map_err(|message| report(WORKER_THREADS.name, message))
        .ok();
    Some(Limits {
        socket_mode: socket_mode?,
        header_timeout: Duration::from_secs(header_timeout?),
        max_connections: max_connections?,
        max_head_bytes: max_head_bytes?,
        worker_threads: worker_threads?,
    })
}

/// `KEYHOLE_WORKER_THREADS` when unset: one thread per CPU keyhole may use, less the
/// one left to nginx, which runs beside it and does the other half of every request;
/// at least one. On 2 CPUs one thread beat two for signed URLs (HMAC and Ed25519) and
/// lost 4 % for ES256 tokens (docs/benchmarks.md, "One CPU left to nginx").
fn default_worker_threads(cores: usize) -> usize {
    cores.saturating_sub(1).max(1)
}

pub(super) fn parse_listen(text: &str) -> Result<Listen, String> {
    if let Some(path) = text.strip_prefix("unix:") {
        if path.starts_with('/') {
            return Ok(Listen::Unix(PathBuf::from(path)));
        }
        return Err(format!(
            "a Unix socket needs an absolute path (`unix:/run/keyhole.sock`), got `{text}`"
        ));
    }
    text.parse().map(Listen::Tcp).map_err(|_| {
        format!("must be `HOST:PORT` with an IP address (`127.0.0.1:9181`, `[::1]:9181`) or `unix:/path`, got `{text}`")
    })
}

/// `KEYHOLE_MAX_HEAD_BYTES`: from 8 KiB (hyper's smallest read buffer) to 1 MiB.
fn parse_head_bytes(text: Option<&str>) -> Result<usize, String> {
    let Some(text) = text else {
        return Ok(const { MAX_HEAD_BYTES.default_count() });
    };
    match text.parse::<usize>() {
        Ok(n) if (8192..=1_048_576).contains(&n) => Ok(n),
        _ => Err(format!(
            "must be a number of bytes from 8192 to 1048576, got `{text}`"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::default_worker_threads;

    #[test]
    fn the_default_leaves_one_cpu_to_nginx() {
        assert_eq!(default_worker_threads(1), 1);
        assert_eq!(default_worker_threads(2), 1);
        assert_eq!(default_worker_threads(8), 7);
    }
}
