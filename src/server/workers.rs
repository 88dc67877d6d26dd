//! The auth listener's threads: `KEYHOLE_WORKER_THREADS` threads, each running a
//! single-threaded tokio runtime with its own accept loop on the one listening socket,
//! as nginx runs its workers. A connection lives and dies on the thread that accepted
//! it, so a request never wakes a second thread and no task moves between cores; the
//! kernel hands each new connection to whichever thread is waiting for one.
//!
//! The rest of the process (the admin listener, key reloads, JWKS refreshes, the store's
//! connections) stays on the runtime that called [`serve`]. The workers share the
//! connection limit (`KEYHOLE_MAX_CONNECTIONS`) and stop together on shutdown.

use std::future::Future;
use std::sync::Arc;

use tokio::sync::{Semaphore, oneshot, watch};

use super::{Limits, Listener, ServeError, Service, serve_routes};

/// One worker's copy of the listening socket, handed to its thread before the
/// thread's runtime exists (a tokio listener belongs to the runtime it was made in).
enum Socket {
    Tcp(std::net::TcpListener),
    Unix(std::os::unix::net::UnixListener),
}

impl Socket {
    fn copy(&self) -> std::io::Result<Socket> {
        Ok(match self {
            Socket::Tcp(listener) => Socket::Tcp(listener.try_clone()?),
            Socket::Unix(listener) => Socket::Unix(listener.try_clone()?),
        })
    }

    /// Registers the copy with the calling thread's runtime.
    fn into_listener(self) -> std::io::Result<Listener> {
        Ok(match self {
            Socket::Tcp(listener) => Listener::Tcp(tokio::net::TcpListener::from_std(listener)?),
            Socket::Unix(listener) => Listener::Unix(
                tokio::net::UnixListener::from_std(listener)?,
                std::path::PathBuf::new(),
            ),
        })
    }
}

/// Serves `service` on `limits.workers` threads until `shutdown` completes, then
/// waits for every thread to finish its requests in flight and removes a Unix
/// socket's file. Fails only when not one thread could be started; a thread that
/// could not be started (or whose runtime could not be built) is logged, and the
/// others serve.
pub(super) async fn serve(
    listener: Listener,
    service: Service,
    limits: Limits,
    shutdown: impl Future<Output = ()>,
) -> Result<(), ServeError> {
    let listen = listener.local_addr();
    let worker_error = |source| ServeError::Worker {
        listen: listen.clone(),
        source,
    };
    let (socket, unix_path) = match listener {
        Listener::Tcp(listener) => (
            Socket::Tcp(listener.into_std().map_err(worker_error)?),
            None,
        ),
        Listener::Unix(listener, path) => (
            Socket::Unix(listener.into_std().map_err(worker_error)?),
            Some(path),
        ),
    };
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let (stop, stopped) = watch::channel(false);
    let mut finished = Vec::new();
    let mut first_error = None;
    for index in 0..limits.workers.max(1) {
        let started = socket.copy().and_then(|copy| {
            let (done, finished_rx) = oneshot::channel::<()>();
            let (service, slots, stopped) = (service.clone(), Arc::clone(&slots), stopped.clone());
            std::thread::Builder::new()
                .name(format!("keyhole-auth-{index}"))
                .spawn(move || {
                    run_worker(copy, service, limits, slots, stopped);
                    drop(done);
                })
                .map(|_| finished_rx)
        });
        match started {
            Ok(finished_rx) => finished.push(finished_rx),
            Err(source) => {
                tracing::error!(worker = index, error = %source, "cannot start a worker thread");
                first_error.get_or_insert(source);
            }
        }
    }
    drop(socket);
    if finished.is_empty() {
        if let Some(path) = unix_path {
            let _ = std::fs::remove_file(path);
        }
        return Err(worker_error(first_error.unwrap_or_else(|| {
            std::io::Error::other("no worker thread was started")
        })));
    }
    shutdown.await;
    let _ = stop.send(true);
    for finished_rx in finished {
        // Ok or Err alike: the thread has ended (Err if it unwound).
        let _ = finished_rx.await;
    }
    if let Some(path) = unix_path {
        let _ = std::fs::remove_file(path);
    }
    Ok(())
}

/// One worker thread: its own runtime, its accept loop, until `stopped` turns true.
fn run_worker(
    socket: Socket,
    service: Service,
    limits: Limits,
    slots: Arc<Semaphore>,
    mut stopped: watch::Receiver<bool>,
) {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            tracing::error!(%error, "cannot start a worker's runtime; the other workers serve");
            return;
        }
    };
    runtime.block_on(async move {
        let listener = match socket.into_listener() {
            Ok(listener) => listener,
            Err(error) => {
                tracing::error!(%error, "a worker cannot register the listener; the other workers serve");
                return;
            }
        };
        let shutdown = async move {
            let _ = stopped.wait_for(|stop| *stop).await;
        };
        serve_routes(listener, service, limits, slots, shutdown).await;
    });
}
