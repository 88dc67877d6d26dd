//! keyhole answers nginx's `auth_request` subrequests with 204 (allow) or 403 (deny),
//! so nginx can serve protected static files to browsers that cannot send an
//! `Authorization` header. nginx serves the bytes; keyhole only decides.
//!
//! The pure part (canonical paths, the typed request, decisions, keys, the clock and
//! the three verifiers and signers) is the `keyhole-core` crate, re-exported here under
//! its module names. This crate is the service around it (ARCHITECTURE.md has the map
//! and the invariants):
//!
//! - [`app`]: the composition root: config in, listeners, store and key sources
//!   wired, run until shutdown (the lifecycle, SIGHUP reload, tracing set-up).
//! - [`config`]: `KEYHOLE_*` variables into a validated [`config::Config`].
//! - [`authorize`]: [`authorize::Authorizer`] picks the one credential a request
//!   carries, asks the core's verifier, then does the async work around it: the store
//!   (single use, revocations), the JWKS refetch, and the cookie exchange.
//! - [`audit`]: who opened what: the key id, subject, token id and session id of an
//!   allow, for nginx's access log, keyhole's log and the metrics.
//! - [`jwks`]: fetching and refreshing a remote JWKS (the only JWT code doing IO).
//! - [`store`]: the replay and revocation store trait; in-memory and Redis stores.
//! - [`server`]: warp routes and listeners; the only module that knows HTTP.
//! - [`metrics`]: Prometheus metrics for the admin listener.
//! - [`admin`]: the admin protocol: the bearer token and the no-browser rule of every
//!   state-changing admin call, and the revocation request both ends share.
//! - [`admin_client`]: `keyhole health` and `keyhole revoke`, clients of the admin
//!   listener.
//!
//! The command line (`src/cli/`, one file per command) lives in the binary, and the
//! nginx child process and the demo gallery in the `keyhole-support` crate: neither
//! is part of this library.

pub use keyhole_core::{
    canonical, claims, clock, decision, forwarded, host, key_limits, keys, request, verify,
};

pub mod admin;
pub mod admin_client;
pub mod app;
pub mod audit;
pub mod authorize;
pub mod config;
pub mod jwks;
pub mod metrics;
pub mod server;
pub mod store;
