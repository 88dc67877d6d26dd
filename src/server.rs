//! The HTTP side: the warp routes, the listener (TCP or Unix socket), the per-connection
//! hyper settings, and graceful shutdown. This is the only module that knows HTTP.
//!
//! `/auth` always ends in a reply, 204 or 403, with an empty body and the reason code
//! in `X-Keyhole-Reason`; it never ends in a warp rejection, a 400 or a 500.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, UnixListener};
use warp::Filter;
use warp::filters::BoxedFilter;
use warp::http::{HeaderMap, Response, StatusCode};

use crate::clock::Clock;
use crate::config::Listen;
use crate::decision::Decision;
use crate::request::{HeaderField, NginxHeaders};
use crate::verify::Authorizer;

/// Response header carrying the reason code.
pub const REASON_HEADER: &str = "x-keyhole-reason";
/// Response header naming the credential kind on an allow.
pub const CREDENTIAL_HEADER: &str = "x-keyhole-credential";

/// How long a client may take to send its request headers.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest request head buffered (hyper answers 431 beyond it).
const MAX_HEAD_BYTES: usize = 32 * 1024;
/// How long shutdown waits for requests in flight.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(
        "cannot listen on {listen}: {source} (is another process using it? set KEYHOLE_LISTEN)"
    )]
    Bind {
        listen: String,
        source: std::io::Error,
    },
}

/// A bound listener, ready to serve.
pub enum Listener {
    /// TCP.
    Tcp(TcpListener),
    /// Unix socket, with its path (removed again on shutdown).
    Unix(UnixListener, std::path::PathBuf),
}

impl Listener {
    /// Binds the configured address. A stale Unix socket file is replaced.
    pub async fn bind(listen: &Listen) -> Result<Listener, ServeError> {
        let bind_error = |source| ServeError::Bind {
            listen: listen.to_string(),
            source,
        };
        match listen {
            Listen::Tcp(addr) => TcpListener::bind(addr)
                .await
                .map(Listener::Tcp)
                .map_err(bind_error),
            Listen::Unix(path) => {
                if std::fs::symlink_metadata(path)
                    .is_ok_and(|meta| std::os::unix::fs::FileTypeExt::is_socket(&meta.file_type()))
                {
                    std::fs::remove_file(path).map_err(bind_error)?;
                }
                UnixListener::bind(path)
                    .map(|l| Listener::Unix(l, path.clone()))
                    .map_err(bind_error)
            }
        }
    }

    /// The address actually bound (useful with port 0).
    pub fn local_addr(&self) -> String {
        match self {
            Listener::Tcp(listener) => listener
                .local_addr()
                .map(|addr| addr.to_string())
                .unwrap_or_else(|_| "tcp".into()),
            Listener::Unix(_, path) => format!("unix:{}", path.display()),
        }
    }
}

/// Serves `/auth` on `listener` until `shutdown` completes, then finishes the requests
/// in flight (for at most [`SHUTDOWN_GRACE`]).
pub async fn serve(
    listener: Listener,
    authorizer: Arc<Authorizer>,
    clock: Arc<dyn Clock>,
    shutdown: impl Future<Output = ()>,
) {
    let routes = routes(authorizer, clock);
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            accepted = accept(&listener) => match accepted {
                Ok(Accepted::Tcp(stream)) => {
                    // Auth answers are tiny: never wait for Nagle.
                    let _ = stream.set_nodelay(true);
                    spawn_connection(stream, routes.clone(), &graceful);
                }
                Ok(Accepted::Unix(stream)) => spawn_connection(stream, routes.clone(), &graceful),
                Err(error) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
        }
    }
    let path = match &listener {
        Listener::Unix(_, path) => Some(path.clone()),
        Listener::Tcp(_) => None,
    };
    drop(listener);
    if tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("shutdown grace period ended with requests still in flight");
    }
    if let Some(path) = path {
        let _ = std::fs::remove_file(path);
    }
}

enum Accepted {
    Tcp(tokio::net::TcpStream),
    Unix(tokio::net::UnixStream),
}

async fn accept(listener: &Listener) -> std::io::Result<Accepted> {
    match listener {
        Listener::Tcp(l) => l.accept().await.map(|(s, _)| Accepted::Tcp(s)),
        Listener::Unix(l, _) => l.accept().await.map(|(s, _)| Accepted::Unix(s)),
    }
}

fn spawn_connection<S>(stream: S, routes: Routes, graceful: &GracefulShutdown)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = TowerToHyperService::new(warp::service(routes));
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .max_buf_size(MAX_HEAD_BYTES)
        .keep_alive(true);
    let connection = graceful.watch(builder.serve_connection(TokioIo::new(stream), service));
    tokio::spawn(async move {
        if let Err(error) = connection.await {
            tracing::debug!(%error, "connection ended with an error");
        }
    });
}

/// The warp filter tree keyhole serves.
pub type Routes = BoxedFilter<(warp::reply::Response,)>;

/// The routes: `/auth` (any method) and nothing else.
pub fn routes(authorizer: Arc<Authorizer>, clock: Arc<dyn Clock>) -> Routes {
    warp::path!("auth")
        .and(warp::header::headers_cloned())
        .then(move |headers: HeaderMap| {
            let authorizer = Arc::clone(&authorizer);
            let clock = Arc::clone(&clock);
            async move {
                let decision = decide(&authorizer, clock.as_ref(), &headers).await;
                warp::Reply::into_response(reply(&decision))
            }
        })
        .boxed()
}

/// Runs one decision from raw headers and logs it (denials at info, allows at debug).
pub async fn decide(authorizer: &Authorizer, clock: &dyn Clock, headers: &HeaderMap) -> Decision {
    let nginx = NginxHeaders {
        original_uri: field(headers, "x-original-uri"),
        original_method: field(headers, "x-original-method"),
        real_ip: field(headers, "x-real-ip"),
    };
    let request = match nginx.parse() {
        Ok(request) => request,
        Err(reason) => {
            tracing::info!(reason = reason.code(), "deny");
            return Decision::Deny(reason);
        }
    };
    let decision = authorizer.decide_request(&request, clock.now()).await;
    match &decision {
        Decision::Deny(reason) => tracing::info!(
            reason = reason.code(),
            method = request.method,
            path = request.path.as_str(),
            client_ip = %request.client_ip,
            "deny"
        ),
        Decision::Allow(credential) => tracing::debug!(
            credential = credential.name(),
            method = request.method,
            path = request.path.as_str(),
            client_ip = %request.client_ip,
            "allow"
        ),
    }
    decision
}

fn field<'a>(headers: &'a HeaderMap, name: &str) -> HeaderField<'a> {
    let mut values = headers.get_all(name).iter();
    match (values.next(), values.next()) {
        (None, _) => HeaderField::Missing,
        (Some(value), None) => HeaderField::One(value.as_bytes()),
        (Some(_), Some(_)) => HeaderField::Duplicated,
    }
}

/// 204 or 403, empty body, reason code header.
pub fn reply(decision: &Decision) -> Response<&'static str> {
    let mut response = Response::new("");
    *response.status_mut() = match decision {
        Decision::Allow(_) => StatusCode::NO_CONTENT,
        Decision::Deny(_) => StatusCode::FORBIDDEN,
    };
    let headers = response.headers_mut();
    headers.insert(
        REASON_HEADER,
        warp::http::HeaderValue::from_static(decision.code()),
    );
    if let Decision::Allow(credential) = decision {
        headers.insert(
            CREDENTIAL_HEADER,
            warp::http::HeaderValue::from_static(credential.name()),
        );
    }
    response
}
