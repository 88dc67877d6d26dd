//! A client of a running keyhole's admin listener: `keyhole health` asks `/healthz`
//! (or `/readyz`), so a container `HEALTHCHECK` needs no shell and no curl; `keyhole
//! revoke` posts to `/revoke` with the admin bearer token.

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
    #[error("the admin listener at {addr} answered {status} for {path}{}", said(.message))]
    Status {
        addr: SocketAddr,
        path: &'static str,
        status: u16,
        /// The first line of the answer's body, when it had one.
        message: String,
    },
    #[error("no answer from {addr} within {0:?}", TIMEOUT)]
    Timeout { addr: SocketAddr },
}

fn said(message: &str) -> String {
    if message.is_empty() {
        String::new()
    } else {
        format!(": {message}")
    }
}

const TIMEOUT: Duration = Duration::from_secs(3);
/// Most bytes of an answer's body read (the admin listener's texts are one line).
const MAX_BODY: usize = 4096;

/// What the admin listener answered to a POST.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Answer {
    /// The `X-Keyhole-Store` header (`memory`, `redis`), when present.
    pub store: Option<String>,
}

/// GETs `path` (`/healthz` or `/readyz`) from the admin listener; Ok on a 200.
pub async fn check(addr: SocketAddr, path: &'static str) -> Result<(), HealthError> {
    call(addr, hyper::Method::GET, path, path, None)
        .await
        .map(|_| ())
}

/// POSTs to `target` (path and query) on the admin listener with `bearer` as the
/// `Authorization` header value; Ok on a 200.
pub async fn post(
    addr: SocketAddr,
    target: &str,
    path: &'static str,
    bearer: Option<&str>,
) -> Result<Answer, HealthError> {
    call(addr, hyper::Method::POST, target, path, bearer).await
}

async fn call(
    addr: SocketAddr,
    method: hyper::Method,
    target: &str,
    path: &'static str,
    bearer: Option<&str>,
) -> Result<Answer, HealthError> {
    match tokio::time::timeout(TIMEOUT, send(addr, method, target, path, bearer)).await {
        Ok(result) => result,
        Err(_) => Err(HealthError::Timeout { addr }),
    }
}

async fn send(
    addr: SocketAddr,
    method: hyper::Method,
    target: &str,
    path: &'static str,
    bearer: Option<&str>,
) -> Result<Answer, HealthError> {
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
    let mut request = hyper::Request::builder()
        .method(method)
        .uri(target)
        .header("host", addr.to_string());
    if let Some(bearer) = bearer {
        request = request.header("authorization", bearer);
    }
    let request = request
        .body(Empty::<Bytes>::new())
        .map_err(|_| HealthError::Http {
            addr,
            // Never the error's text: it could quote the header value (the token).
            message: "cannot build the request (a bad character in the target or token?)"
                .to_owned(),
        })?;
    let response = sender.send_request(request).await.map_err(http)?;
    let status = response.status().as_u16();
    let store = response
        .headers()
        .get(crate::admin::STORE_HEADER)
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned);
    if status == 200 {
        return Ok(Answer { store });
    }
    let body = http_body_util::Limited::new(response.into_body(), MAX_BODY);
    let message = match http_body_util::BodyExt::collect(body).await {
        Ok(collected) => String::from_utf8_lossy(&collected.to_bytes())
            .lines()
            .next()
            .unwrap_or_default()
            .chars()
            .filter(|c| !c.is_control())
            .collect(),
        Err(_) => String::new(),
    };
    Err(HealthError::Status {
        addr,
        path,
        status,
        message,
    })
}
