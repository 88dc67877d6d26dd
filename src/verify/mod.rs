//! Credential verification: picks the one credential a request carries and asks its
//! verifier for a [`Decision`]. One file per credential kind.
//!
//! Verifiers do no IO, never read the environment or the system clock (the time is
//! an argument), and never panic on input.

pub mod jwt;
pub mod signed_url;

use std::sync::Arc;

use crate::clock::{SystemClock, UnixTime};
use crate::decision::{Credential, Decision, Deny};
use crate::keys::KeyRing;
use crate::request::{AuthRequest, NginxHeaders};
use crate::store::memory::{DEFAULT_CAPACITY, MemoryStore};
use crate::store::{ReplayStore, StoreError};

/// Time rules shared by every credential.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Policy {
    /// Seconds of clock skew forgiven on expiry and not-before.
    pub leeway: u64,
    /// Longest accepted distance from now to a credential's expiry, in seconds.
    pub max_lifetime: u64,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            leeway: 30,
            max_lifetime: 7 * 24 * 3600,
        }
    }
}

/// Everything a decision needs that is not in the request: keys, policy, and the
/// replay store.
#[derive(Clone, Debug)]
pub struct Authorizer {
    /// Signed-URL (and cookie) keys.
    pub keys: Arc<KeyRing>,
    /// Time rules.
    pub policy: Policy,
    /// The JWT verifier, when JWT keys are configured.
    pub jwt: Option<Arc<jwt::JwtVerifier>>,
    /// Where single-use token ids are recorded.
    pub store: Arc<dyn ReplayStore>,
    /// The remote JWKS, refetched (rate-limited) when a token names an unknown key.
    pub jwks: Option<Arc<crate::jwks::JwksSource>>,
}

/// A stateless verdict that still needs the replay store before it is an allow.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Allowance {
    /// The credential that passed.
    pub credential: Credential,
    /// A use limit to enforce, for single- and limited-use tokens.
    pub uses: Option<jwt::Uses>,
}

impl Authorizer {
    /// Signed URLs only, with an in-memory replay store.
    pub fn new(keys: Arc<KeyRing>, policy: Policy) -> Self {
        Authorizer {
            keys,
            policy,
            jwt: None,
            store: Arc::new(MemoryStore::new(DEFAULT_CAPACITY, Arc::new(SystemClock))),
            jwks: None,
        }
    }

    /// Decides about one request without consulting the replay store: a single-use
    /// token is reported as allowed and not used up (for `explain`).
    pub fn decide(&self, headers: &NginxHeaders<'_>, now: UnixTime) -> Decision {
        headers
            .parse()
            .and_then(|request| self.check(&request, now))
            .map(|a| a.credential)
            .into()
    }

    /// Every stateless check: which credential, and whether it holds.
    pub fn check(&self, request: &AuthRequest<'_>, now: UnixTime) -> Result<Allowance, Deny> {
        let signed = signed_url::is_present(&request.params);
        let jwt = self
            .jwt
            .as_ref()
            .filter(|jwt| jwt.is_present(&request.params));
        match (signed, jwt) {
            (true, Some(_)) => Err(Deny::AmbiguousCredential),
            (true, None) => signed_url::SignedUrl::parse(&request.params)
                .and_then(|url| url.verify(request, &self.keys, &self.policy, now))
                .map(|credential| Allowance {
                    credential,
                    uses: None,
                }),
            (false, Some(jwt)) => jwt.verify(request, now).map(|grant| Allowance {
                credential: Credential::Jwt,
                uses: grant.uses,
            }),
            (false, None) => Err(Deny::MissingCredential),
        }
    }

    /// Decides about a request whose headers already parsed, recording single-use
    /// tokens in the replay store.
    pub async fn decide_request(&self, request: &AuthRequest<'_>, now: UnixTime) -> Decision {
        let allowance = match self.check(request, now) {
            Ok(allowance) => allowance,
            Err(Deny::UnknownKey) if self.may_refetch(request) => {
                if let Some(jwks) = &self.jwks {
                    // Rate-limited; concurrent callers wait for one fetch. Either way
                    // the current set is consulted again.
                    jwks.refetch_for_unknown_kid().await;
                }
                match self.check(request, now) {
                    Ok(allowance) => allowance,
                    Err(reason) => return Decision::Deny(reason),
                }
            }
            Err(reason) => return Decision::Deny(reason),
        };
        let Some(uses) = &allowance.uses else {
            return Decision::Allow(allowance.credential);
        };
        match self.consume(uses).await {
            Ok(()) => Decision::Allow(allowance.credential),
            Err(reason) => Decision::Deny(reason),
        }
    }

    /// Whether an unknown key id may be a key the remote JWKS gained since the last
    /// fetch: a JWKS URL is configured and the request carries only a JWT.
    fn may_refetch(&self, request: &AuthRequest<'_>) -> bool {
        self.jwks.is_some()
            && !signed_url::is_present(&request.params)
            && self
                .jwt
                .as_ref()
                .is_some_and(|jwt| jwt.is_present(&request.params))
    }

    /// Takes one of the token's uses: slot ids `id`, `id#2`, … `id#count`, each
    /// recorded atomically, so concurrent requests can never share one.
    async fn consume(&self, uses: &jwt::Uses) -> Result<(), Deny> {
        for slot in 1..=uses.count {
            let id = if slot == 1 {
                uses.id.clone()
            } else {
                format!("{}#{slot}", uses.id)
            };
            match self.store.check_and_record(&id, uses.expires_at).await {
                Ok(true) => return Ok(()),
                Ok(false) => continue,
                Err(StoreError::Full) => return Err(Deny::StoreFull),
                Err(StoreError::Unavailable(error)) => {
                    tracing::warn!(%error, "replay store unavailable");
                    return Err(Deny::StoreUnavailable);
                }
            }
        }
        Err(Deny::Replayed)
    }
}
