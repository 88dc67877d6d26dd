//! A client of a running keyhole's admin listener: `keyhole health` asks `/healthz`
//! (or `/readyz`), so a container `HEALTHCHECK` needs no shell and no curl; `keyhole
//! revoke` posts to `/revoke`.

use std::net::SocketAddr;
use std::time::Duration;

use http_body_util::Empty;
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;

/// Why the check failed.
#[derive(Debug, thiserror::Error)]
pub enum HealthError {
    #[error("cannot connect to the admin listener at {addr}: {source}")]
    Connect {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("the admin listener at {addr} did not answer: {message}")]
    Http { addr: SocketAddr, message: String },
    #[error("the admin listener at {addr} answered {status} for {path}")]
    Status {
        addr: SocketAddr,
        path: &'static str,
        status: u16,
    },
    #[error("no answer from {addr} within {0:?}", TIMEOUT)]
    Timeout { addr: SocketAddr },
}

const TIMEOUT: Duration = Duration::from_secs(3);

/// GETs `path` (`/healthz` or `/readyz`) from the admin listener; Ok on a 200.
pub async fn check(addr: SocketAddr, path: &'static str) -> Result<(), HealthError> {
    call(addr, hyper::Method::GET, path, path).await
}

/// POSTs to `target` (path and query) on the admin listener; Ok on a 200.
pub async fn post(addr: SocketAddr, target: &str, path: &'static str) -> Result<(), HealthError> {
    call(addr, hyper::Method::POST, target, path).await
}

async fn call(
    addr: SocketAddr,
    method: hyper::Method,
    target: &str,
    path: &'static str,
) -> Result<(), HealthError> {
    match tokio::time::timeout(TIMEOUT, send(addr, method, target, path)).await {
        Ok(result) => result,
        Err(_) => Err(HealthError::Timeout { addr }),
    }
}

async fn send(
    addr: SocketAddr,
    method: hyper::Method,
    target: &str,
    path: &'static str,
) -> Result<(), HealthError> {
    let stream = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|source| HealthError::Connect { addr, source })?;
    let http = |error: hyper::Error| HealthError::Http {
        addr,
        message: error.to_string(),
    };
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(http)?;
    tokio::spawn(connection);
    let request = hyper::Request::builder()
        .method(method)
        .uri(target)
        .header("host", addr.to_string())
        .body(Empty::<Bytes>::new())
        .map_err(|error| HealthError::Http {
            addr,
            message: error.to_string(),
        })?;
    let response = sender.send_request(request).await.map_err(http)?;
    match response.status().as_u16() {
        200 => Ok(()),
        status => Err(HealthError::Status { addr, path, status }),
    }
}
