//! The state store: which single-use token ids were already used, and which sessions
//! were revoked, each until it expires. A trait, so the in-memory store (the embedded
//! default) and the Redis store of a later issue plug into
//! [`crate::verify::Authorizer`] unchanged.
//!
//! [`ReplayStore::check_and_record`] must be atomic: of any number of concurrent calls
//! with one id, exactly one answers `true`. Every error denies the request that needed
//! the store (fail closed).

pub mod memory;

use std::fmt;
use std::future::Future;
use std::pin::Pin;

use crate::clock::UnixTime;

/// The future a store returns: boxed so that the trait stays object-safe.
pub type StoreFuture<'a, T = bool> =
    Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'a>>;

/// A set of used ids, each kept until its expiry.
pub trait ReplayStore: fmt::Debug + Send + Sync {
    /// Records `id` until `expires_at` and answers `true` if it was not recorded yet
    /// (first use), `false` if it was (a replay). Atomic per id.
    fn check_and_record<'a>(&'a self, id: &'a str, expires_at: UnixTime) -> StoreFuture<'a>;

    /// Marks `id` (for example `sid:<session id>`) revoked until `until`, after which
    /// whatever it named has expired anyway. Revoking twice keeps the later time.
    fn revoke<'a>(&'a self, id: &'a str, until: UnixTime) -> StoreFuture<'a, ()>;

    /// Whether `id` is revoked now.
    fn is_revoked<'a>(&'a self, id: &'a str) -> StoreFuture<'a>;
}

/// Why a store could not answer. Every error denies the request (fail closed).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// The store holds its full capacity of live entries.
    #[error("the replay store is full of live entries")]
    Full,
    /// The store is unreachable or answered with an error.
    #[error("the replay store is unavailable: {0}")]
    Unavailable(String),
}
