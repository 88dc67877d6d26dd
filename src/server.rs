//! The HTTP side: the listeners (TCP or Unix socket), per-connection hyper settings and
//! limits, graceful shutdown, and the warp routes: on the auth listener `/auth` and
//! `/session` (the cookie exchange, exposed by nginx as `/_keyhole/session`), on the
//! admin listener `/metrics`, `/healthz`, `/readyz` and `POST /revoke`. Each decision
//! is logged and counted here. This is the only module that knows HTTP.
//! [`dialects`] adds the other proxies' auth routes (`/forward-auth`, `/ext-authz/`,
//! `/ingress-auth`), each mapped into the same request `/auth` parses.
//!
//! `/auth` always ends in a reply, 204 or 403, with an empty body and the reason code
//! in `X-Keyhole-Reason`; it never ends in a warp rejection, a 400 or a 500. So does
//! every dialect route.

mod auth_conn;
mod dialects;
mod workers;

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, UnixListener};
use tokio::sync::Semaphore;
use warp::Filter;
use warp::filters::BoxedFilter;
use warp::http::{HeaderMap, HeaderValue, Response, StatusCode};

use crate::admin::{self, AdminHeaders, AdminRefusal, AdminToken};
use crate::audit::Audit;
use crate::authorize::Authorizer;
use crate::clock::Clock;
use crate::config::{Listen, ServerSettings};
use crate::decision::{Decision, Deny};
use crate::forwarded::{Peer, TrustedProxies};
use crate::metrics::Metrics;
use crate::request::{HeaderField, NginxHeaders};

/// Response header carrying the reason code.
pub const REASON_HEADER: &str = "x-keyhole-reason";
/// Response header naming the credential kind on an allow.
pub const CREDENTIAL_HEADER: &str = "x-keyhole-credential";
/// nginx's cache-control header for upstream responses.
pub const ACCEL_EXPIRES_HEADER: &str = "x-accel-expires";

/// How long shutdown waits for requests in flight.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Why a server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("cannot listen on {listen}: {source} (is another process using it? set {variable})")]
    Bind {
        listen: String,
        variable: &'static str,
        source: std::io::Error,
    },
    #[error("cannot set mode {mode:o} on {path}: {source} (check KEYHOLE_SOCKET_MODE)")]
    SocketMode {
        path: String,
        mode: u32,
        source: std::io::Error,
    },
    #[error(
        "cannot start a worker thread for {listen}: {source} (lower KEYHOLE_WORKER_THREADS or raise the process's thread limit)"
    )]
    Worker {
        listen: String,
        source: std::io::Error,
    },
}

/// What every request handler shares.
pub struct State {
    /// The current keys and policy; replaced whole on reload, never edited in place.
    pub authorizer: ArcSwap<Authorizer>,
    /// The only clock the request path reads.
    pub clock: Arc<dyn Clock>,
    /// Prometheus metrics.
    pub metrics: Metrics,
    /// The proxies whose `X-Forwarded-*` headers the forward-auth routes believe.
    pub trusted_proxies: TrustedProxies,
    /// `KEYHOLE_AUDIT=on`: allows are logged at info with their audit fields.
    pub audit: bool,
}

impl State {
    /// State for an authorizer and a clock, with fresh metrics.
    pub fn new(authorizer: Authorizer, clock: Arc<dyn Clock>) -> Arc<State> {
        // No JWKS fetch counter: a remote key source's metrics come with it
        // (`with_metrics`).
        State::with_metrics(
            authorizer,
            clock,
            Metrics::new(None),
            false,
            TrustedProxies::loopback(),
        )
    }

    /// State with metrics made beforehand (the store records into them), the audit
    /// switch (`KEYHOLE_AUDIT`) and the trusted proxies (`KEYHOLE_TRUSTED_PROXIES`).
    pub fn with_metrics(
        authorizer: Authorizer,
        clock: Arc<dyn Clock>,
        metrics: Metrics,
        audit: bool,
        trusted_proxies: TrustedProxies,
    ) -> Arc<State> {
        Arc::new(State {
            authorizer: ArcSwap::from_pointee(authorizer),
            clock,
            metrics,
            trusted_proxies,
            audit,
        })
    }
}

/// A bound listener, ready to serve.
pub enum Listener {
    /// TCP.
    Tcp(TcpListener),
    /// Unix socket, with its path (removed again on shutdown).
    Unix(UnixListener, std::path::PathBuf),
}

/// Connections the kernel completes for the auth listener before keyhole accepts them
/// (capped by `net.core.somaxconn`). The standard library's and tokio's 128 dropped
/// the handshakes of a burst of nginx subrequests beyond it, and each dropped one
/// waits a second or more for the client's retry; nginx's own listeners use 511.
const LISTEN_BACKLOG: u32 = 1024;

impl Listener {
    /// Binds the auth listener. A stale Unix socket file is replaced and the new one
    /// gets `socket_mode`.
    pub async fn bind(listen: &Listen, socket_mode: u32) -> Result<Listener, ServeError> {
        let bind_error = |source| ServeError::Bind {
            listen: listen.to_string(),
            variable: "KEYHOLE_LISTEN",
            source,
        };
        match listen {
            Listen::Tcp(addr) => {
                let socket = match addr {
                    std::net::SocketAddr::V4(_) => tokio::net::TcpSocket::new_v4(),
                    std::net::SocketAddr::V6(_) => tokio::net::TcpSocket::new_v6(),
                }
                .map_err(bind_error)?;
                socket.set_reuseaddr(true).map_err(bind_error)?;
                socket.bind(*addr).map_err(bind_error)?;
                socket
                    .listen(LISTEN_BACKLOG)
                    .map(Listener::Tcp)
                    .map_err(bind_error)
            }
            Listen::Unix(path) => {
                use std::os::unix::fs::{FileTypeExt, PermissionsExt};
                if std::fs::symlink_metadata(path).is_ok_and(|meta| meta.file_type().is_socket()) {
                    std::fs::remove_file(path).map_err(bind_error)?;
                }
                let socket = tokio::net::UnixSocket::new_stream().map_err(bind_error)?;
                socket.bind(path).map_err(bind_error)?;
                let listener = socket.listen(LISTEN_BACKLOG).map_err(bind_error)?;
                std::fs::set_permissions(path, std::fs::Permissions::from_mode(socket_mode))
                    .map_err(|source| ServeError::SocketMode {
                        path: path.display().to_string(),
                        mode: socket_mode,
                        source,
                    })?;
                Ok(Listener::Unix(listener, path.clone()))
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

/// Binds the admin listener.
pub async fn bind_admin(addr: std::net::SocketAddr) -> Result<TcpListener, ServeError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| ServeError::Bind {
            listen: addr.to_string(),
            variable: "KEYHOLE_ADMIN_LISTEN",
            source,
        })
}

/// Per-connection limits of a listener.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// How long a client may take to send its request headers (slowloris defence).
    pub header_timeout: Duration,
    /// Most connections served at once; further ones wait in the kernel's backlog.
    pub max_connections: usize,
    /// Largest request head read (hyper answers 431 beyond it).
    pub max_head_bytes: usize,
    /// Threads serving the listener, each with its own single-threaded runtime and
    /// its own accept loop on the shared listening socket (`KEYHOLE_WORKER_THREADS`).
    pub workers: usize,
}

impl From<&ServerSettings> for Limits {
    fn from(settings: &ServerSettings) -> Self {
        Limits {
            header_timeout: settings.header_timeout,
            max_connections: settings.max_connections,
            max_head_bytes: settings.max_head_bytes,
            workers: settings.worker_threads,
        }
    }
}

/// Serves the auth routes on `listener` until `shutdown` completes, on
/// `limits.workers` threads of their own (see [`workers`]). Fails only when not one
/// worker thread could be started.
pub async fn serve(
    listener: Listener,
    state: Arc<State>,
    limits: Limits,
    shutdown: impl Future<Output = ()>,
) -> Result<(), ServeError> {
    let service = Service {
        routes: auth_routes(Arc::clone(&state)),
        auth: Some(state),
    };
    workers::serve(listener, service, limits, shutdown).await
}

/// Serves the admin routes (`/metrics`, `/healthz`, `/readyz`, `POST /revoke`) until
/// `shutdown`; `token` guards every state-changing route.
pub async fn serve_admin(
    listener: TcpListener,
    state: Arc<State>,
    token: Option<AdminToken>,
    shutdown: impl Future<Output = ()>,
) {
    let limits = Limits {
        header_timeout: Duration::from_secs(10),
        max_connections: 64,
        max_head_bytes: crate::config::DEFAULT_MAX_HEAD_BYTES,
        workers: 1,
    };
    let service = Service {
        routes: admin_routes(state, token),
        auth: None,
    };
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    serve_routes(Listener::Tcp(listener), service, limits, slots, shutdown).await;
}

/// What a listener answers with: its warp routes, and for the auth listener the state
/// behind `/auth`, which is answered before the routes are walked (the request path
/// nginx calls for every protected request: no header map copied, no filter chain).
#[derive(Clone)]
struct Service {
    routes: Routes,
    auth: Option<Arc<State>>,
}

/// The accept loop: a connection slot first, then a connection, then a task. On
/// shutdown it stops accepting and gives requests in flight [`SHUTDOWN_GRACE`]. The
/// caller removes a Unix socket's file once every loop on it has ended.
async fn serve_routes(
    listener: Listener,
    service: Service,
    limits: Limits,
    slots: Arc<Semaphore>,
    shutdown: impl Future<Output = ()>,
) {
    let conns = Connections {
        graceful: GracefulShutdown::new(),
        stopping: tokio::sync::watch::Sender::new(false),
    };
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let slot = tokio::select! {
            () = &mut shutdown => break,
            slot = Arc::clone(&slots).acquire_owned() => match slot {
                Ok(slot) => slot,
                Err(_) => break,
            },
        };
        tokio::select! {
            () = &mut shutdown => break,
            accepted = accept(&listener) => match accepted {
                Ok(Accepted::Tcp(stream, addr)) => {
                    // Auth answers are tiny: never wait for Nagle.
                    let _ = stream.set_nodelay(true);
                    let peer = Peer::Tcp(addr.ip());
                    spawn_connection(stream, peer, service.clone(), limits, &conns, slot);
                }
                Ok(Accepted::Unix(stream)) => {
                    spawn_connection(stream, Peer::Local, service.clone(), limits, &conns, slot);
                }
                Err(error) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
        }
    }
    drop(listener);
    conns.stopping.send_replace(true);
    if tokio::time::timeout(SHUTDOWN_GRACE, conns.graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("shutdown grace period ended with requests still in flight");
    }
}

enum Accepted {
    /// With the peer's address, as accept(2) gave it.
    Tcp(tokio::net::TcpStream, std::net::SocketAddr),
    Unix(tokio::net::UnixStream),
}

async fn accept(listener: &Listener) -> std::io::Result<Accepted> {
    match listener {
        Listener::Tcp(l) => l.accept().await.map(|(s, addr)| Accepted::Tcp(s, addr)),
        Listener::Unix(l, _) => l.accept().await.map(|(s, _)| Accepted::Unix(s)),
    }
}

fn spawn_connection<S>(
    stream: S,
    peer: Peer,
    service: Service,
    limits: Limits,
    conns: &Connections,
    slot: tokio::sync::OwnedSemaphorePermit,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    // Both taken here, before the task runs, so that a shutdown begun meanwhile is
    // not missed (hyper-util's warning on `GracefulShutdown::watcher`).
    let watcher = conns.graceful.watcher();
    let stopping = conns.stopping.subscribe();
    tokio::spawn(async move {
        let ended = match &service.auth {
            Some(state) => auth_conn::serve(stream, state, limits, stopping).await,
            None => auth_conn::Ended::HandOff(auth_conn::Prefixed::new(Vec::new(), stream)),
        };
        // Boxed: hyper's connection is large, and most connections never need it.
        if let auth_conn::Ended::HandOff(stream) = ended
            && let Err(error) =
                Box::pin(watcher.watch(hyper_connection(stream, peer, service, limits))).await
        {
            tracing::debug!(%error, "connection ended with an error");
        }
        drop(slot);
    });
}

/// hyper serving a connection with the warp routes (`/auth` among them, for the
/// requests [`auth_conn`] hands on).
fn hyper_connection<S>(
    stream: S,
    peer: Peer,
    service: Service,
    limits: Limits,
) -> impl hyper_util::server::graceful::GracefulConnection<Error = hyper::Error> + Send
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let warp_service = TowerToHyperService::new(warp::service(service.routes));
    // The peer rides in each request's extensions, for the routes that must know who
    // sent the request (the forward-auth routes check it against the trusted proxies).
    let service =
        hyper::service::service_fn(move |mut request: hyper::Request<hyper::body::Incoming>| {
            request.extensions_mut().insert(peer);
            hyper::service::Service::call(&warp_service, request)
        });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        // nginx forwards browser headers (Cookie, Referer, Sec-Fetch-Site) as the
        // client sent them, control bytes included. A header line hyper cannot read is
        // dropped, as if not sent, instead of failing the request with a 400 that
        // nginx would turn into a 500. Dropping one never grants more: a missing
        // nginx header is a denial, and a client that writes its own headers can
        // always leave the browser ones out.
        .ignore_invalid_headers(true)
        // hyper refuses a value under 8 KiB; config checks the range.
        .max_buf_size(limits.max_head_bytes.max(8192))
        .keep_alive(true);
    builder.serve_connection(TokioIo::new(stream), service)
}

/// A listener's open connections: hyper's, which finish their requests on shutdown,
/// and `stopping`, which tells [`auth_conn`]'s to close once idle.
struct Connections {
    graceful: GracefulShutdown,
    stopping: tokio::sync::watch::Sender<bool>,
}

/// A warp filter tree a listener serves.
pub type Routes = BoxedFilter<(warp::reply::Response,)>;

/// The auth listener's routes: `/auth` (any method) and `/session`, the cookie
/// exchange; nothing else.
pub fn auth_routes(state: Arc<State>) -> Routes {
    let session_state = Arc::clone(&state);
    let dialect_state = Arc::clone(&state);
    let auth = warp::path!("auth")
        .and(warp::header::headers_cloned())
        .then(move |headers: HeaderMap| {
            let state = Arc::clone(&state);
            async move {
                let (decision, audit) = decide_audited(&state, &headers).await;
                warp::Reply::into_response(reply_audited(&decision, &audit))
            }
        });
    // The cookie exchange, which nginx exposes as /_keyhole/session: 303 with the
    // cookie, or 403 with a reason code.
    let session = warp::path!("session")
        .and(warp::header::headers_cloned())
        .then(move |headers: HeaderMap| {
            let state = Arc::clone(&session_state);
            async move { exchange(&state, &headers).await }
        });
    let dialects = dialects::routes(dialect_state);
    auth.or(session).unify().or(dialects).unify().boxed()
}

fn nginx_headers(headers: &HeaderMap) -> NginxHeaders<'_> {
    NginxHeaders {
        original_uri: field(headers, "x-original-uri"),
        original_method: field(headers, "x-original-method"),
        real_ip: field(headers, "x-real-ip"),
        cookie: field(headers, "cookie"),
        fetch_site: field(headers, "sec-fetch-site"),
        referer: field(headers, "referer"),
        host: field(headers, "x-original-host"),
    }
}

/// Runs the cookie exchange and builds its reply.
async fn exchange(state: &State, headers: &HeaderMap) -> warp::reply::Response {
    let nginx = nginx_headers(headers);
    let result = match nginx.parse() {
        Ok(request) => {
            let authorizer = state.authorizer.load_full();
            let result = authorizer.exchange(&request, state.clock.now()).await;
            match &result {
                Ok(exchange) => tracing::info!(
                    sid = exchange.sid,
                    scope = exchange.scope,
                    client_ip = %request.client_ip,
                    "cookie issued"
                ),
                Err(reason) => tracing::info!(
                    reason = reason.code(),
                    client_ip = %request.client_ip,
                    "exchange denied"
                ),
            }
            result
        }
        Err(reason) => Err(reason),
    };
    let mut response = Response::new(String::new());
    let headers = response.headers_mut();
    headers.insert("cache-control", HeaderValue::from_static("no-store"));
    headers.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
    let built = result.and_then(|exchange| {
        let location = HeaderValue::from_str(&exchange.location).map_err(|_| Deny::BadReturnTo)?;
        let cookie = HeaderValue::from_str(&exchange.set_cookie).map_err(|_| Deny::Malformed)?;
        Ok((location, cookie))
    });
    let status = match built {
        Ok((location, cookie)) => {
            headers.insert("location", location);
            headers.insert("set-cookie", cookie);
            headers.insert(REASON_HEADER, HeaderValue::from_static("ok"));
            StatusCode::SEE_OTHER
        }
        Err(reason) => {
            headers.insert(REASON_HEADER, HeaderValue::from_static(reason.code()));
            StatusCode::FORBIDDEN
        }
    };
    *response.status_mut() = status;
    warp::Reply::into_response(response)
}

pub use crate::admin::STORE_HEADER;

/// The admin listener's routes. Metrics and health are open to whoever reaches the
/// listener; every state-changing route passes [`admin::check`] first.
pub fn admin_routes(state: Arc<State>, token: Option<AdminToken>) -> Routes {
    let metrics_state = Arc::clone(&state);
    let revoke_state = Arc::clone(&state);
    let metrics = warp::path!("metrics").map(move || {
        let mut response = Response::new(metrics_state.metrics.encode());
        response.headers_mut().insert(
            "content-type",
            HeaderValue::from_static("application/openmetrics-text; version=1.0.0; charset=utf-8"),
        );
        warp::Reply::into_response(response)
    });
    let healthz = warp::path!("healthz").map(|| warp::Reply::into_response("ok\n"));
    let readyz = warp::path!("readyz").then(move || {
        let state = Arc::clone(&state);
        async move {
            let authorizer = state.authorizer.load_full();
            let keys = authorizer.keys.kids().count();
            let (status, body) = if keys == 0 {
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "not ready: no keys\n".to_owned(),
                )
            } else if let Err(error) = authorizer.store.ping().await {
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    format!("not ready: {error}\n"),
                )
            } else {
                (
                    StatusCode::OK,
                    format!("ready: {keys} key(s) loaded, store answering\n"),
                )
            };
            let mut response = Response::new(body);
            *response.status_mut() = status;
            warp::Reply::into_response(response)
        }
    });
    // POST /revoke?sid=ID (or jti=ID&kid=K, or before=UNIX&kid=K&subject=S): denied
    // from now on (nginx never exposes the admin listener). Kept in the store as long
    // as what it names can live. Only with the admin token, never from a browser.
    // The path first: any other path is a 404, not a 405.
    let token = Arc::new(token);
    let revoke = warp::path!("revoke")
        .and(warp::post())
        .and(warp::header::headers_cloned())
        .and(warp::query::raw().or(warp::any().map(String::new)).unify())
        .then(move |headers: HeaderMap, query: String| {
            let state = Arc::clone(&revoke_state);
            let token = Arc::clone(&token);
            async move {
                match admin_guard(&headers, token.as_ref().as_ref()) {
                    Ok(()) => revoke(&state, &query).await,
                    Err(refusal) => refused(refusal),
                }
            }
        });
    metrics
        .or(healthz)
        .unify()
        .or(readyz)
        .unify()
        .or(revoke)
        .unify()
        .boxed()
}

/// [`admin::check`] over the request's headers.
fn admin_guard(headers: &HeaderMap, token: Option<&AdminToken>) -> Result<(), AdminRefusal> {
    let request = AdminHeaders {
        authorization: field(headers, "authorization"),
        origin: field(headers, "origin"),
        fetch_site: field(headers, "sec-fetch-site"),
    };
    admin::check(&request, token)
}

/// The reply to a refused admin request: 401 with a `WWW-Authenticate` challenge
/// without or with a wrong token, 403 for a browser's request or when no token is
/// configured. Nothing is logged beyond the refusal's kind (never a header value).
fn refused(refusal: AdminRefusal) -> warp::reply::Response {
    tracing::warn!(refusal = ?refusal, "admin request refused");
    let status = match refusal {
        AdminRefusal::MissingToken | AdminRefusal::WrongToken => StatusCode::UNAUTHORIZED,
        AdminRefusal::Browser | AdminRefusal::NoTokenConfigured => StatusCode::FORBIDDEN,
    };
    let mut response = Response::new(format!("{} {refusal}\n", status.as_u16()));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert("cache-control", HeaderValue::from_static("no-store"));
    match refusal {
        AdminRefusal::MissingToken => {
            headers.insert(
                "www-authenticate",
                HeaderValue::from_static("Bearer realm=\"keyhole-admin\""),
            );
        }
        AdminRefusal::WrongToken => {
            headers.insert(
                "www-authenticate",
                HeaderValue::from_static("Bearer realm=\"keyhole-admin\", error=\"invalid_token\""),
            );
        }
        AdminRefusal::Browser | AdminRefusal::NoTokenConfigured => {}
    }
    warp::Reply::into_response(response)
}

/// Records a revocation named in the admin request's query.
async fn revoke(state: &State, query: &str) -> warp::reply::Response {
    let (status, body) = match admin::parse_revoke(query) {
        Ok(order) => {
            let authorizer = state.authorizer.load_full();
            let jwt_lifetime = authorizer
                .jwt
                .as_ref()
                .map(|jwt| jwt.policy.max_lifetime.saturating_add(jwt.policy.leeway))
                .unwrap_or_else(|| {
                    let policy = crate::verify::jwt::JwtPolicy::default();
                    policy.max_lifetime.saturating_add(policy.leeway)
                });
            let applied = order
                .apply(
                    authorizer.store.as_ref(),
                    state.clock.now(),
                    authorizer.cookies.max_lifetime,
                    jwt_lifetime,
                )
                .await;
            match applied {
                Ok(()) => {
                    // Session ids, token ids, key ids and subjects are names, not
                    // credentials: logged so revocations can be audited.
                    tracing::info!(revocation = ?order, "revoked");
                    let text = if authorizer.store.kind().survives_restart() {
                        "revoked\n"
                    } else {
                        "revoked (in this instance's memory only: lost when it restarts)\n"
                    };
                    (StatusCode::OK, text.to_owned())
                }
                Err(error) => (
                    StatusCode::SERVICE_UNAVAILABLE,
                    format!("503 not revoked: {error}\n"),
                ),
            }
        }
        Err(message) => (StatusCode::BAD_REQUEST, format!("400 {message}\n")),
    };
    let kind = state.authorizer.load().store.kind().name();
    let mut response = Response::new(body);
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(STORE_HEADER, HeaderValue::from_static(kind));
    warp::Reply::into_response(response)
}

/// Runs one decision from raw headers, logs it (denials at info, allows at debug) and
/// counts it.
pub async fn decide(state: &State, headers: &HeaderMap) -> Decision {
    decide_audited(state, headers).await.0
}

/// [`decide`], with who opened what for an allow (empty for a denial).
pub async fn decide_audited(state: &State, headers: &HeaderMap) -> (Decision, Audit) {
    decide_mapped(state, Ok(nginx_headers(headers))).await
}

/// Runs one decision from headers already mapped into the request model (or the
/// reason they could not be), logs it and counts it: `/auth` and every dialect route
/// end here. Allows are logged at info with their audit fields when `KEYHOLE_AUDIT=on`,
/// at debug otherwise.
async fn decide_mapped(state: &State, nginx: Result<NginxHeaders<'_>, Deny>) -> (Decision, Audit) {
    let started = Instant::now();
    let request = match nginx.and_then(|nginx| nginx.parse()) {
        Ok(request) => request,
        Err(reason) => {
            tracing::info!(reason = reason.code(), "deny");
            let decision = Decision::Deny(reason);
            state
                .metrics
                .record_decision(&decision, "none", started.elapsed());
            return (decision, Audit::default());
        }
    };
    // An owned snapshot: the decision may wait on the replay store or a JWKS fetch,
    // and a key reload meanwhile must not change the keys under it.
    let authorizer = state.authorizer.load_full();
    let outcome = authorizer.decide_request(&request, state.clock.now()).await;
    let (decision, presented, audit) = (outcome.decision, outcome.presented.name(), outcome.audit);
    state
        .metrics
        .record_decision(&decision, presented, started.elapsed());
    if decision.is_allow() {
        state.metrics.record_key_allow(presented, audit.key_label());
    }
    let host = request.host.as_ref().map(|host| host.as_str());
    match &decision {
        Decision::Deny(reason) => tracing::info!(
            reason = reason.code(),
            credential = presented,
            method = request.method,
            path = request.path.as_str(),
            client_ip = %request.client_ip,
            host,
            "deny"
        ),
        // The audit fields are escaped only for a line that is written.
        Decision::Allow(_) if !state.audit && !tracing::enabled!(tracing::Level::DEBUG) => {}
        Decision::Allow(grant) => {
            fn field(value: &Option<String>) -> Option<std::borrow::Cow<'_, str>> {
                value.as_deref().map(crate::audit::escape)
            }
            let (key, subject, token_id, session) = (
                field(&audit.key),
                field(&audit.subject),
                field(&audit.token_id),
                field(&audit.session),
            );
            macro_rules! allow {
                ($level:ident) => {
                    tracing::$level!(
                        credential = grant.credential.name(),
                        method = request.method,
                        path = request.path.as_str(),
                        client_ip = %request.client_ip,
                        host,
                        key = key.as_deref(),
                        subject = subject.as_deref(),
                        token_id = token_id.as_deref(),
                        session = session.as_deref(),
                        "allow"
                    )
                };
            }
            if state.audit {
                allow!(info);
            } else {
                allow!(debug);
            }
        }
    }
    (decision, audit)
}

fn field<'a>(headers: &'a HeaderMap, name: &str) -> HeaderField<'a> {
    let mut values = headers.get_all(name).iter();
    match (values.next(), values.next()) {
        (None, _) => HeaderField::Missing,
        (Some(value), None) => HeaderField::One(value.as_bytes()),
        (Some(_), Some(_)) => HeaderField::Duplicated,
    }
}

/// [`reply`], with an allow's audit headers (`X-Keyhole-Key`, `X-Keyhole-Subject`,
/// `X-Keyhole-Token-Id`, `X-Keyhole-Session`): names, never the credential. nginx
/// passes none of them to the client; `keyhole-log.conf` logs them.
pub fn reply_audited(decision: &Decision, audit: &Audit) -> Response<&'static str> {
    response(decision, Some(audit))
}

/// 204 or 403, empty body, reason code header, and `X-Accel-Expires` for nginx's
/// optional decision cache.
pub fn reply(decision: &Decision) -> Response<&'static str> {
    response(decision, None)
}

/// The reply to a decision as a response: [`reply_status`] and [`reply_headers`].
fn response(decision: &Decision, audit: Option<&Audit>) -> Response<&'static str> {
    let mut response = Response::new("");
    *response.status_mut() = reply_status(decision);
    reply_headers(decision, audit, |name, value| {
        if let Ok(value) = HeaderValue::from_bytes(value) {
            response.headers_mut().insert(name, value);
        }
    });
    response
}

/// A decision's status: 204 or 403.
fn reply_status(decision: &Decision) -> StatusCode {
    match decision {
        Decision::Allow(_) => StatusCode::NO_CONTENT,
        Decision::Deny(_) => StatusCode::FORBIDDEN,
    }
}

/// A decision's reply headers, in order, each given to `header` once: the reason code,
/// on an allow the credential kind, `X-Accel-Expires`, and with `audit` an allow's
/// audit headers. Every value is header-safe (audit values are escaped); the one
/// function both the hyper replies and [`auth_conn`]'s writer use.
fn reply_headers(
    decision: &Decision,
    audit: Option<&Audit>,
    mut header: impl FnMut(&'static str, &[u8]),
) {
    header(REASON_HEADER, decision.code().as_bytes());
    // nginx's proxy_cache honours X-Accel-Expires: `@T` caches until Unix time T, `0`
    // never. Denials and client-, state- or revocation-dependent allows are never cached.
    match decision {
        Decision::Allow(grant) => {
            header(CREDENTIAL_HEADER, grant.credential.name().as_bytes());
            match grant.cacheable_until {
                Some(until) => {
                    // `@` and up to 20 digits, written without an allocation.
                    let mut digits = itoa::Buffer::new();
                    let digits = digits.format(until.0).as_bytes();
                    let mut value = [0u8; 21];
                    for (slot, byte) in value.iter_mut().zip(b"@".iter().chain(digits)) {
                        *slot = *byte;
                    }
                    header(
                        ACCEL_EXPIRES_HEADER,
                        value.get(..=digits.len()).unwrap_or(b"0"),
                    );
                }
                None => header(ACCEL_EXPIRES_HEADER, b"0"),
            }
            if let Some(audit) = audit {
                for (name, value) in audit.headers() {
                    header(name, value.as_bytes());
                }
            }
        }
        Decision::Deny(_) => header(ACCEL_EXPIRES_HEADER, b"0"),
    }
}
