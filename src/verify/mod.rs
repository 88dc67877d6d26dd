//! Credential verification: picks the one credential a request carries and asks its
//! verifier for a [`Decision`]. One file per credential kind.
//!
//! Verifiers do no IO, never read the environment or the system clock (the time is
//! an argument), and never panic on input.

pub mod signed_url;

use std::sync::Arc;

use crate::clock::UnixTime;
use crate::decision::{Decision, Deny};
use crate::keys::KeyRing;
use crate::request::{AuthRequest, NginxHeaders};

/// Time rules shared by every credential.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Policy {
    /// Seconds of clock skew forgiven on expiry and not-before.
    pub leeway: u64,
    /// Longest accepted distance from now to a credential's expiry, in seconds.
    pub max_lifetime: u64,
    /// Longest time nginx may cache an allow, in seconds (0: never). Caps the
    /// credential's own expiry so that removing a key takes effect within it.
    pub max_cache: u64,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            leeway: 30,
            max_lifetime: 7 * 24 * 3600,
            max_cache: 60,
        }
    }
}

/// Everything a decision needs that is not in the request: keys and policy.
#[derive(Clone, Debug)]
pub struct Authorizer {
    /// Signed-URL (and cookie) keys.
    pub keys: Arc<KeyRing>,
    /// Time rules.
    pub policy: Policy,
}

impl Authorizer {
    /// Decides about one request: nginx's headers in, one [`Decision`] out.
    pub fn decide(&self, headers: &NginxHeaders<'_>, now: UnixTime) -> Decision {
        match headers.parse() {
            Ok(request) => self.decide_request(&request, now),
            Err(reason) => Decision::Deny(reason),
        }
    }

    /// The same authorizer with other keys (a reload); everything else is kept.
    pub fn with_keys(&self, keys: Arc<KeyRing>) -> Authorizer {
        Authorizer {
            keys,
            ..self.clone()
        }
    }

    /// The kind of credential a request presents, for metrics and logs: the name of a
    /// [`crate::decision::Credential`], or `none`.
    pub fn presented(&self, request: &AuthRequest<'_>) -> &'static str {
        if signed_url::is_present(&request.params) {
            crate::decision::Credential::SignedUrl.name()
        } else {
            "none"
        }
    }

    /// Decides about a request whose headers already parsed.
    pub fn decide_request(&self, request: &AuthRequest<'_>, now: UnixTime) -> Decision {
        if !signed_url::is_present(&request.params) {
            return Decision::Deny(Deny::MissingCredential);
        }
        let decision: Decision = signed_url::SignedUrl::parse(&request.params)
            .and_then(|url| url.verify(request, &self.keys, &self.policy, now))
            .into();
        self.cap_cache(decision, now)
    }

    /// Applies [`Policy::max_cache`] to a cacheable allow.
    fn cap_cache(&self, decision: Decision, now: UnixTime) -> Decision {
        match decision {
            Decision::Allow(mut grant) => {
                let cap = now.plus(self.policy.max_cache);
                grant.cacheable_until = grant
                    .cacheable_until
                    .filter(|_| self.policy.max_cache > 0)
                    .map(|until| until.min(cap));
                Decision::Allow(grant)
            }
            deny => deny,
        }
    }
}
