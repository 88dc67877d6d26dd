//! Runtime objects built from a validated configuration: the store, the JWKS
//! fetcher and the [`Authorizer`].
//!
//! Moves to app.rs: the composition root (`src/app.rs`) is where runtime objects
//! belong. Everything else under `config/` produces plain data; this file is the only
//! place in `config` that constructs a store, a JWKS source or an authorizer, so that
//! the move is this one file.

use std::sync::Arc;

use super::jwt::JwtSettings;
use super::{Config, StoreSettings};
use crate::authorize::Authorizer;
use crate::clock::SystemClock;
use crate::jwks::JwksSource;
use crate::metrics::StoreMetrics;
use crate::store::ReplayStore;
use crate::store::memory::MemoryStore;
use crate::store::redis::RedisStore;
use crate::verify::jwt::{JwtVerifier, RemoteKeys};

/// The JWT verifier and the remote JWKS feeding it, both optional.
pub(super) type JwtParts = (Option<Arc<JwtVerifier>>, Option<Arc<JwksSource>>);

/// The verifier and, for a remote JWKS, its fetcher, sharing one remote key set. The
/// fetcher does nothing until `serve` fetches and spawns its refresher.
pub(super) fn jwt_parts(settings: Option<JwtSettings>) -> JwtParts {
    let Some(JwtSettings {
        mut verifier,
        remote,
    }) = settings
    else {
        return (None, None);
    };
    let jwks = remote.map(|remote| {
        let keys = Arc::new(RemoteKeys::default());
        verifier.remote = Some(Arc::clone(&keys));
        Arc::new(JwksSource::new(
            remote.url,
            keys,
            remote.local_kids,
            remote.refresh,
            remote.refetch_interval,
        ))
    });
    (Some(Arc::new(verifier)), jwks)
}

impl Config {
    /// The authorizer this configuration describes, with a fresh store (its metrics
    /// unregistered; `serve` passes its own through [`Config::authorizer_with`]).
    pub fn authorizer(&self) -> Authorizer {
        self.authorizer_with(self.open_store(StoreMetrics::default()))
    }

    /// The authorizer this configuration describes, with `store`.
    pub fn authorizer_with(&self, store: Arc<dyn ReplayStore>) -> Authorizer {
        Authorizer {
            keys: Arc::clone(&self.keys),
            policy: self.policy,
            jwt: self.jwt.clone(),
            store,
            jwks: self
                .jwks
                .clone()
                .map(|jwks| jwks as Arc<dyn crate::authorize::KeySource>),
            cookies: self.cookies.clone(),
        }
    }

    /// A new store as configured. A Redis store connects on first use, so this never
    /// waits and never fails.
    pub fn open_store(&self, metrics: StoreMetrics) -> Arc<dyn ReplayStore> {
        match &self.store {
            StoreSettings::Memory => Arc::new(MemoryStore::new(
                self.replay_capacity,
                Arc::new(SystemClock),
            )),
            StoreSettings::Redis {
                target,
                prefix,
                timeout,
            } => Arc::new(RedisStore::new(
                (**target).clone(),
                prefix,
                *timeout,
                Arc::new(SystemClock),
                metrics,
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let verifier = config.jwt.as_ref().unwrap();
        assert!(verifier.key_ids().is_empty());
        let jwks = config.jwks.as_ref().unwrap();
        assert_eq!(jwks.url().to_string(), "http://127.0.0.1:9/jwks.json");
        assert!(verifier.remote.is_some());
        let authorizer = config.authorizer();
        assert!(authorizer.jwt.unwrap().remote.is_some());
    }
}
