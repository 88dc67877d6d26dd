//! keyhole answers nginx's `auth_request` subrequests with 204 (allow) or 403 (deny),
//! so nginx can serve protected static files to browsers that cannot send an
//! `Authorization` header. nginx serves the bytes; keyhole only decides.
//!
//! The code map (ARCHITECTURE.md has the invariants):
//!
//! - [`cli`]: the command line; the only module that prints.
//! - [`config`]: `KEYHOLE_*` variables into a validated [`config::Config`].
//! - [`keys`]: the key ring, redacting secrets, HMAC state prepared once.
//! - [`clock`]: the only reader of the system time.
//! - [`request`]: nginx's headers into a typed [`request::AuthRequest`].
//! - [`canonical`]: canonical paths and scopes, shared by signing and verifying.
//! - [`decision`]: [`decision::Decision`] and the stable [`decision::Deny`] codes.
//! - [`verify`]: one verifier per credential (signed URL, JWT); [`verify::Authorizer`] picks one.
//! - [`jwks`]: fetching and refreshing a remote JWKS (the only JWT code doing IO).
//! - [`store`]: the replay and revocation store trait; in-memory and Redis stores.
//! - [`server`]: warp routes and listeners; the only module that knows HTTP.
//! - [`metrics`]: Prometheus metrics for the admin listener.
//! - [`admin`]: the admin protocol: the bearer token and the no-browser rule of every
//!   state-changing admin call.
//! - [`admin_client`]: `keyhole health` and `keyhole revoke`, clients of the admin
//!   listener.
//! - [`nginx`]: the shipped nginx files and an nginx child process (demo, tests).
//! - [`demo`]: `keyhole demo`.

pub mod admin;
pub mod admin_client;
pub mod canonical;
pub mod cli;
pub mod clock;
pub mod config;
pub mod decision;
pub mod demo;
pub mod jwks;
pub mod keys;
pub mod metrics;
pub mod nginx;
pub mod request;
pub mod server;
pub mod store;
pub mod verify;
