//! The composition root: a validated [`Config`] in, the listeners, the store, the key
//! sources and the request state wired together, served until a shutdown future
//! completes. It owns the lifecycle: tracing set-up, binding the auth and admin
//! listeners, the first JWKS fetch and its refresher, the store check at start,
//! key reload on SIGHUP and graceful shutdown. `config` only describes; this module
//! builds what the description names.

use std::future::Future;
use std::sync::Arc;

use crate::authorize::Authorizer;
use crate::clock::SystemClock;
use crate::config::{Config, LogFormat, StoreSettings};
use crate::jwks::JwksSource;
use crate::keys::KeyId;
use crate::metrics::{Metrics, StoreMetrics};
use crate::server::{self, Limits, Listener, ServeError, State};
use crate::store::ReplayStore;
use crate::store::memory::MemoryStore;
use crate::store::redis::RedisStore;
use crate::verify::jwt::{JwtVerifier, RemoteKeys};

/// Why the service could not run.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// A listener (`KEYHOLE_LISTEN` or `KEYHOLE_ADMIN_LISTEN`) could not be bound.
    #[error(transparent)]
    Listen(#[from] ServeError),
    /// The configuration is valid but not for serving (an Ed25519 seed without
    /// `KEYHOLE_ALLOW_SIGNING_KEYS=on`).
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
}

/// Starts logging as configured. Logs go to standard error. A second call (the demo
/// after a test, say) keeps the first set-up.
pub fn init_tracing(filter: &str, format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_new(filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}

/// Completes on SIGTERM or SIGINT: the shutdown future of a process.
pub async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let Ok(mut term) = signal(SignalKind::terminate()) else {
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    tracing::info!("shutdown signal received; finishing requests in flight");
}

/// A new store as `config` describes it. A Redis store connects on first use, so this
/// never waits and never fails.
pub fn open_store(config: &Config, metrics: StoreMetrics) -> Arc<dyn ReplayStore> {
    match &config.store {
        StoreSettings::Memory => Arc::new(MemoryStore::new(
            config.replay_capacity,
            Arc::new(SystemClock),
        )),
        StoreSettings::Redis {
            target,
            prefix,
            timeout,
            wait_replicas,
        } => Arc::new(
            RedisStore::new(
                (**target).clone(),
                prefix,
                *timeout,
                Arc::new(SystemClock),
                metrics,
            )
            .with_wait_replicas(*wait_replicas),
        ),
    }
}

/// The runtime half of the JWT configuration: the verifier and, for a remote JWKS,
/// its fetcher, sharing one remote key set. The fetcher does nothing until [`run`]
/// fetches and spawns its refresher.
struct JwtParts {
    verifier: Option<Arc<JwtVerifier>>,
    jwks: Option<Arc<JwksSource>>,
}

fn jwt_parts(config: &Config) -> JwtParts {
    let Some(verifier) = &config.jwt else {
        return JwtParts {
            verifier: None,
            jwks: None,
        };
    };
    let Some(remote) = &config.jwks else {
        return JwtParts {
            verifier: Some(Arc::clone(verifier)),
            jwks: None,
        };
    };
    let keys = Arc::new(RemoteKeys::default());
    let mut verifier = (**verifier).clone();
    verifier.remote = Some(Arc::clone(&keys));
    let jwks = JwksSource::new(
        remote.url.clone(),
        Arc::clone(&remote.tls),
        keys,
        remote.local_kids.clone(),
        remote.refresh,
        remote.refetch_interval,
    );
    JwtParts {
        verifier: Some(Arc::new(verifier)),
        jwks: Some(Arc::new(jwks)),
    }
}

fn assemble(config: &Config, store: Arc<dyn ReplayStore>, jwt: &JwtParts) -> Authorizer {
    Authorizer {
        keys: Arc::clone(&config.keys),
        policy: config.policy,
        jwt: jwt.verifier.clone(),
        store,
        jwks: jwt
            .jwks
            .clone()
            .map(|jwks| jwks as Arc<dyn crate::authorize::KeySource>),
        cookies: config.cookies.clone(),
    }
}

/// The authorizer `config` describes, deciding with `store`.
pub fn authorizer_with(config: &Config, store: Arc<dyn ReplayStore>) -> Authorizer {
    assemble(config, store, &jwt_parts(config))
}

/// The authorizer `config` describes, with a fresh store whose metrics are not
/// registered anywhere (`keyhole explain`, and the keys of a SIGHUP reload).
pub fn authorizer(config: &Config) -> Authorizer {
    authorizer_with(config, open_store(config, StoreMetrics::default()))
}

/// Runs keyhole as `config` describes until `shutdown` completes: binds the auth
/// listener (and the admin listener unless it is off), then serves both, reloading
/// keys on SIGHUP. Returns once both listeners have finished their requests in
/// flight; fails, before serving anything, when a listener cannot be bound.
pub async fn run(config: Config, shutdown: impl Future<Output = ()>) -> Result<(), AppError> {
    config.check_serving()?;
    init_tracing(&config.log_filter, config.log_format);
    let listener = Listener::bind(&config.listen, config.server.socket_mode).await?;
    let admin = match config.server.admin_listen {
        Some(addr) => Some(server::bind_admin(addr).await?),
        None => None,
    };
    let jwt = jwt_parts(&config);
    if let Some(jwks) = &jwt.jwks {
        match jwks.fetch().await {
            Ok(count) => tracing::info!(url = %jwks.url(), keys = count, "JWKS fetched"),
            Err(error) => tracing::error!(
                url = %jwks.url(),
                %error,
                "JWKS fetch at start failed; tokens of its keys are denied until a fetch succeeds"
            ),
        }
        Arc::clone(jwks).spawn_refresher();
    }
    let metrics = Metrics::new(jwt.jwks.as_ref().map(|jwks| jwks.fetches.clone()));
    let store = open_store(&config, metrics.store());
    match store.ping().await {
        Ok(()) => tracing::info!(store = ?config.store, "store answering"),
        Err(error) => tracing::error!(
            %error,
            "store not answering at start; not ready, and what needs it is denied until it answers"
        ),
    }
    let state = State::with_metrics(
        assemble(&config, store, &jwt),
        Arc::new(SystemClock),
        metrics,
        config.audit,
        config.server.trusted_proxies.clone(),
    );
    let kids: Vec<&str> = config.keys.kids().map(KeyId::as_str).collect();
    let admin_addr = admin.as_ref().and_then(|a| a.local_addr().ok());
    tracing::info!(
        listen = %listener.local_addr(),
        admin = ?admin_addr,
        keys = ?kids,
        "keyhole listening"
    );

    // One shutdown future, watched by both listeners.
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let wait_stop = |mut stopped: tokio::sync::watch::Receiver<bool>| async move {
        let _ = stopped.wait_for(|stop| *stop).await;
    };
    let reloader = tokio::spawn(reload_on_sighup(Arc::clone(&state)));
    let auth = async {
        let served = server::serve(
            listener,
            Arc::clone(&state),
            Limits::from(&config.server),
            wait_stop(stopped.clone()),
        )
        .await;
        // Not one worker thread could start: stop the admin listener too.
        let _ = stop.send(true);
        served
    };
    let signal = async {
        tokio::select! {
            () = shutdown => {}
            () = wait_stop(stopped.clone()) => {}
        }
        let _ = stop.send(true);
    };
    let served = match admin {
        Some(admin) => {
            let admin = server::serve_admin(
                admin,
                Arc::clone(&state),
                config.server.admin_token.clone(),
                wait_stop(stopped.clone()),
            );
            tokio::join!(signal, auth, admin).1
        }
        None => tokio::join!(signal, auth).1,
    };
    reloader.abort();
    served?;
    tracing::info!("keyhole stopped");
    Ok(())
}

/// On every SIGHUP, re-reads the configuration and swaps in the new keys at once. A
/// configuration that does not validate keeps the old keys and logs why.
async fn reload_on_sighup(state: Arc<State>) {
    use tokio::signal::unix::{SignalKind, signal};
    let Ok(mut hangup) = signal(SignalKind::hangup()) else {
        tracing::warn!("cannot listen for SIGHUP; key reload is off");
        return;
    };
    while hangup.recv().await.is_some() {
        let checked = Config::from_env().and_then(|config| config.check_serving().map(|()| config));
        match checked {
            Ok(config) => {
                let current = state.authorizer.load();
                state
                    .authorizer
                    .store(Arc::new(current.reloaded(authorizer(&config))));
                state.metrics.record_reload(true);
                let kids: Vec<&str> = config.keys.kids().map(KeyId::as_str).collect();
                let jwt_kids = config
                    .jwt
                    .as_ref()
                    .map(|jwt| jwt.key_ids())
                    .unwrap_or_default();
                tracing::info!(keys = ?kids, jwt_keys = ?jwt_kids, "keys reloaded");
            }
            Err(error) => {
                state.metrics.record_reload(false);
                let problems: Vec<String> = error
                    .problems
                    .iter()
                    .map(|p| format!("{}: {}", p.variable, p.message))
                    .collect();
                tracing::error!(?problems, "reload failed; keeping the previous keys");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    /// The verifier reads the keys the JWKS fetcher writes: one set, shared.
    #[test]
    fn a_remote_jwks_shares_its_key_set_with_the_verifier() {
        let vars = [
            (
                "KEYHOLE_KEYS",
                "k1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8",
            ),
            ("KEYHOLE_JWKS_URL", "http://127.0.0.1:9/jwks.json"),
        ]
        .map(|(name, value)| (name.to_owned(), value.to_owned()));
        let config = Config::from_vars(vars).unwrap();
        assert!(config.jwt.as_ref().unwrap().key_ids().is_empty());
        let parts = jwt_parts(&config);
        let jwks = parts.jwks.as_ref().unwrap();
        assert_eq!(jwks.url().to_string(), "http://127.0.0.1:9/jwks.json");
        assert!(parts.verifier.unwrap().remote.is_some());
        let authorizer = authorizer(&config);
        assert!(authorizer.jwt.unwrap().remote.is_some());
    }
}
