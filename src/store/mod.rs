//! The state store: which single-use token ids were already used, which sessions and
//! token ids were revoked, and which "issued before T" cut-offs hold for a key id or a
//! subject, each until it expires. A trait, so the in-memory store (the embedded
//! default, one instance) and the Redis store (shared by several instances) plug into
//! [`crate::authorize::Authorizer`] unchanged.
//!
//! [`ReplayStore::check_and_record`] must be atomic: of any number of concurrent calls
//! with one id, exactly one answers `true`. Every error denies the request that needed
//! the store (fail closed).

mod id;
pub mod memory;
pub mod redis;

pub use id::{Namespace, StoreId};

use std::fmt;
use std::future::Future;
use std::pin::Pin;

use crate::clock::UnixTime;

/// The future a store returns: boxed so that the trait stays object-safe.
pub type StoreFuture<'a, T = bool> =
    Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'a>>;

/// A set of used ids, each kept until its expiry.
pub trait ReplayStore: fmt::Debug + Send + Sync {
    /// Records a use slot until `expires_at` and answers `true` if it was not recorded
    /// yet (first use), `false` if it was (a replay). Atomic per id.
    fn check_and_record<'a>(&'a self, id: &'a StoreId<'a>, expires_at: UnixTime)
    -> StoreFuture<'a>;

    /// Marks a session or token id revoked until `until`, after which whatever it
    /// named has expired anyway. Revoking twice keeps the later time.
    fn revoke<'a>(&'a self, id: &'a StoreId<'a>, until: UnixTime) -> StoreFuture<'a, ()>;

    /// Whether a session or token id is revoked now.
    fn is_revoked<'a>(&'a self, id: &'a StoreId<'a>) -> StoreFuture<'a>;

    /// Records a cut-off for a key id or subject: credentials it names that were
    /// issued before `before` are revoked, until `until`. Recording twice keeps the
    /// later cut-off and the later expiry.
    fn revoke_issued_before<'a>(
        &'a self,
        id: &'a StoreId<'a>,
        before: UnixTime,
        until: UnixTime,
    ) -> StoreFuture<'a, ()>;

    /// The latest live cut-off recorded for any of `ids`, if any.
    fn latest_cut_off<'a>(&'a self, ids: &'a [StoreId<'a>]) -> StoreFuture<'a, Option<UnixTime>>;

    /// Whether the store answers now (for `/readyz`).
    fn ping(&self) -> StoreFuture<'_, ()>;

    /// Which kind of store this is; by default the in-memory kind, whose entries a
    /// restart loses (so that an unknown store is never reported as durable).
    fn kind(&self) -> StoreKind {
        StoreKind::Memory
    }
}

/// The kinds of store, as the admin listener names them to `keyhole revoke`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StoreKind {
    /// In this process: one instance only, lost when it restarts.
    Memory,
    /// Redis: shared by every instance, kept across their restarts.
    Redis,
}

impl StoreKind {
    /// `memory` or `redis`.
    pub fn name(self) -> &'static str {
        match self {
            StoreKind::Memory => "memory",
            StoreKind::Redis => "redis",
        }
    }

    /// Whether what it holds outlives the keyhole process.
    pub fn survives_restart(self) -> bool {
        match self {
            StoreKind::Memory => false,
            StoreKind::Redis => true,
        }
    }
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
    /// The write reached the master, but fewer than the required replicas
    /// (`KEYHOLE_STORE_WAIT_REPLICAS`) acknowledged it within the timeout: a failover
    /// now could lose it, so it does not count.
    #[error("fewer than {0} Redis replicas acknowledged the write within the store timeout")]
    Unreplicated(u32),
}

/// One revocation, as `keyhole revoke` and the admin listener's `POST /revoke` take it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Revoke {
    /// A cookie session (`--sid`).
    Session(String),
    /// One token id of one JWT key (`--jti`, `--kid`).
    TokenId {
        /// The key id the token names in its header.
        kid: String,
        /// The token's `jti`.
        jti: String,
    },
    /// Every JWT of a key id and/or a subject issued (`iat`) before `before`.
    IssuedBefore {
        /// The cut-off.
        before: UnixTime,
        /// The key id (`--kid`).
        kid: Option<String>,
        /// The subject (`--subject`, the `sub` claim).
        subject: Option<String>,
    },
}

/// Longest key id, token id or subject accepted in a revocation.
const MAX_NAME_LEN: usize = 256;

/// Why a revocation was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RevokeError {
    /// The arguments do not name one revocation.
    #[error(
        "name one revocation: --sid ID, --jti ID --kid K, or --before TIMESTAMP with --kid K and/or --subject S"
    )]
    Shape,
    /// A value is empty, too long, or holds control characters.
    #[error("--{0}: 1 to 256 characters, no control characters")]
    Value(&'static str),
    /// A session id outside the session-id alphabet.
    #[error("--sid: 1 to 64 of A-Z a-z 0-9 _ -")]
    Session,
}

fn checked(name: &'static str, value: Option<String>) -> Result<Option<String>, RevokeError> {
    match value {
        Some(text) if text.is_empty() || text.len() > MAX_NAME_LEN => Err(RevokeError::Value(name)),
        Some(text) if text.chars().any(char::is_control) => Err(RevokeError::Value(name)),
        other => Ok(other),
    }
}

impl Revoke {
    /// Builds one revocation from the optional arguments, refusing any other mix.
    pub fn from_parts(
        sid: Option<String>,
        jti: Option<String>,
        kid: Option<String>,
        before: Option<UnixTime>,
        subject: Option<String>,
    ) -> Result<Revoke, RevokeError> {
        let (jti, kid, subject) = (
            checked("jti", jti)?,
            checked("kid", kid)?,
            checked("subject", subject)?,
        );
        match (sid, jti, kid, before, subject) {
            (Some(sid), None, None, None, None) => {
                crate::verify::cookie::SessionId::parse(&sid).map_err(|_| RevokeError::Session)?;
                Ok(Revoke::Session(sid))
            }
            (None, Some(jti), Some(kid), None, None) => Ok(Revoke::TokenId { kid, jti }),
            (None, None, kid, Some(before), subject) if kid.is_some() || subject.is_some() => {
                Ok(Revoke::IssuedBefore {
                    before,
                    kid,
                    subject,
                })
            }
            _ => Err(RevokeError::Shape),
        }
    }

    /// Records the revocation in `store`, kept as long as what it names can live:
    /// `cookie_lifetime` for sessions, `jwt_lifetime` (longest JWT lifetime plus
    /// leeway) for tokens, counted from now or, for a cut-off, from the cut-off.
    pub async fn apply(
        &self,
        store: &dyn ReplayStore,
        now: UnixTime,
        cookie_lifetime: u64,
        jwt_lifetime: u64,
    ) -> Result<(), StoreError> {
        match self {
            Revoke::Session(sid) => {
                store
                    .revoke(&StoreId::RevokedSession(sid), now.plus(cookie_lifetime))
                    .await
            }
            Revoke::TokenId { kid, jti } => {
                store
                    .revoke(&StoreId::RevokedToken { kid, jti }, now.plus(jwt_lifetime))
                    .await
            }
            Revoke::IssuedBefore {
                before,
                kid,
                subject,
            } => {
                let until = (*before).max(now).plus(jwt_lifetime);
                if let Some(kid) = kid {
                    store
                        .revoke_issued_before(&StoreId::KeyCutOff(kid), *before, until)
                        .await?;
                }
                if let Some(subject) = subject {
                    store
                        .revoke_issued_before(&StoreId::SubjectCutOff(subject), *before, until)
                        .await?;
                }
                Ok(())
            }
        }
    }
}
