//! Authorization: the async work around keyhole-core's pure verifiers. It picks the
//! one credential a request carries (once: the choice travels with the decision, see
//! [`Outcome`]), asks its verifier, then asks the store what the verifier cannot know
//! (single use, revocations), refetches a remote JWKS behind [`KeySource`] when a token
//! names a key it has not seen, and runs the cookie exchange.
//!
//! Every failure closes: a store or key source that does not answer denies what needs
//! it, never allows.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use crate::audit::Audit;
use crate::verify::{Policy, cookie, jwt, signed_url};

use crate::claims::{CookieMethods, IpBinding, Methods};
use crate::clock::{SystemClock, UnixTime};
use crate::decision::{Credential, Decision, Deny, Grant};
use crate::keys::{Key, KeyRing};
use crate::request::{AuthRequest, NginxHeaders};
use crate::store::memory::{DEFAULT_CAPACITY, MemoryStore};
use crate::store::{ReplayStore, StoreError, StoreId};

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
    pub jwks: Option<Arc<dyn KeySource>>,
    /// Cookie name, attributes and cross-site rules.
    pub cookies: cookie::CookiePolicy,
}

/// What the cookie exchange answers: the cookie to set and where to go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Exchange {
    /// The `Set-Cookie` header value.
    pub set_cookie: String,
    /// The `Location` (a same-origin path inside the granted scope).
    pub location: String,
    /// The new session's id (not a secret: it names the session in revocations).
    pub sid: String,
    /// The granted scope.
    pub scope: String,
}

/// What an exchanged credential grants and is bound to, before it becomes a cookie.
struct Bound {
    /// The prefix.
    scope: crate::canonical::Scope,
    /// The credential's expiry.
    exp: UnixTime,
    /// Its address binding, carried into the cookie.
    ip: Option<IpBinding>,
    /// Its methods, narrowed to GET and HEAD for the cookie.
    methods: Methods,
    /// A JWT's use limit: the exchange spends one use.
    uses: Option<jwt::Uses>,
    /// A JWT's revocations, checked before the cookie is made.
    token: Option<jwt::Revocation>,
    /// The key that signs the cookie: the signed URL's own key, so its limits follow
    /// the grant into the cookie; for a JWT, the first signed-URL key whose limits
    /// cover the scope and the host.
    signer: Key,
}

/// A stateless verdict that still needs the replay store before it is an allow.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Allowance {
    /// The credential that passed, and how long nginx may cache the answer.
    pub grant: Grant,
    /// A use limit to enforce, for single- and limited-use tokens.
    pub uses: Option<jwt::Uses>,
    /// A cookie's session, which must not be revoked.
    pub session: Option<cookie::SessionId>,
    /// A JWT's token-id revocation and "issued before" cut-offs.
    pub token: Option<jwt::Revocation>,
    /// Who opened what: the key id and the credential's names.
    pub audit: Audit,
}

/// Where keys that a token names, but the verifier has not seen yet, may come from:
/// the remote JWKS (`crate::jwks::JwksSource`). A trait, so the authorizer knows when
/// to ask and nothing about how keys are fetched.
pub trait KeySource: std::fmt::Debug + Send + Sync {
    /// Fetches the keys again, unless a fetch for an unknown key id started less than
    /// the refetch interval ago; concurrent callers wait for one fetch. The verifier
    /// reads the new keys from its own snapshot afterwards.
    fn refetch_for_unknown_kid(&self) -> Pin<Box<dyn Future<Output = ()> + Send + '_>>;
}

impl KeySource for crate::jwks::JwksSource {
    fn refetch_for_unknown_kid(&self) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        Box::pin(async move {
            crate::jwks::JwksSource::refetch_for_unknown_kid(self).await;
        })
    }
}

/// The kind of credential a request presents, chosen once per request; it travels
/// with the decision into the log and the metrics.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Presented {
    /// No credential: no `kh_*` or token parameter, and no keyhole cookie.
    Nothing,
    /// A signed URL and a token together.
    Ambiguous,
    /// A signed URL.
    SignedUrl,
    /// A file-scoped JWT.
    Jwt,
    /// keyhole's cookie (read only when the URL carries no credential).
    Cookie,
}

impl Presented {
    /// The label in logs and metrics: a [`Credential`] name, `none` or `ambiguous`.
    pub fn name(self) -> &'static str {
        match self {
            Presented::Nothing => "none",
            Presented::Ambiguous => "ambiguous",
            Presented::SignedUrl => Credential::SignedUrl.name(),
            Presented::Jwt => Credential::Jwt.name(),
            Presented::Cookie => Credential::Cookie.name(),
        }
    }
}

/// A decision and the credential it was made about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// Allow or deny.
    pub decision: Decision,
    /// Which credential the request presented.
    pub presented: Presented,
    /// For an allow, the key id and the credential's names (empty for a denial).
    pub audit: Audit,
}

/// The one credential chosen for a request, with what choosing it already read.
enum Selection<'r> {
    /// No credential; why it is a denial (`missing-credential`, or `malformed` for a
    /// `Cookie` header that is not UTF-8).
    Nothing(Deny),
    /// Two kinds in the URL.
    Ambiguous,
    /// A signed URL.
    SignedUrl,
    /// A token, with the verifier of the configured JWT keys.
    Jwt(&'r jwt::JwtVerifier),
    /// keyhole's cookie: its value, or why the `Cookie` header could not be read (two
    /// cookies of the name).
    Cookie(Result<std::borrow::Cow<'r, str>, Deny>),
}

impl Selection<'_> {
    fn presented(&self) -> Presented {
        match self {
            Selection::Nothing(_) => Presented::Nothing,
            Selection::Ambiguous => Presented::Ambiguous,
            Selection::SignedUrl => Presented::SignedUrl,
            Selection::Jwt(_) => Presented::Jwt,
            Selection::Cookie(_) => Presented::Cookie,
        }
    }
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
            cookies: cookie::CookiePolicy::default(),
        }
    }

    /// Decides about one request without consulting the replay store: a single-use
    /// token is reported as allowed and not used up (for `explain`).
    pub fn decide(&self, headers: &NginxHeaders<'_>, now: UnixTime) -> Decision {
        let decision = headers
            .parse()
            .and_then(|request| self.check(&request, now))
            .map(|a| a.grant)
            .into();
        self.cap_cache(decision, now)
    }

    /// A reload: keys, JWT keys and rules from `fresh` (built from the re-read
    /// configuration); the state that must survive from `self`: the replay and
    /// revocation store, the JWKS source and the remote keys it fetched.
    pub fn reloaded(&self, fresh: Authorizer) -> Authorizer {
        let remote = self.jwt.as_ref().and_then(|jwt| jwt.remote.clone());
        let jwt = fresh.jwt.map(|jwt| {
            let mut jwt = (*jwt).clone();
            if remote.is_some() {
                jwt.remote = remote;
            }
            Arc::new(jwt)
        });
        Authorizer {
            jwt,
            store: Arc::clone(&self.store),
            jwks: self.jwks.clone(),
            ..fresh
        }
    }

    /// Chooses the one credential a request carries: a credential in the URL wins,
    /// two kinds in the URL are ambiguous, and only a URL with none has its cookie read
    /// (a URL credential that fails never falls through to the cookie).
    fn select<'r>(&'r self, request: &AuthRequest<'r>) -> Selection<'r> {
        let signed = signed_url::is_present(&request.params);
        let jwt = self
            .jwt
            .as_deref()
            .filter(|jwt| jwt.is_present(&request.params));
        match (signed, jwt) {
            (true, Some(_)) => Selection::Ambiguous,
            (true, None) => Selection::SignedUrl,
            (false, Some(jwt)) => Selection::Jwt(jwt),
            (false, None) => {
                let Some(header) = request.cookie else {
                    return Selection::Nothing(Deny::MissingCredential);
                };
                let Ok(header) = std::str::from_utf8(header) else {
                    return Selection::Nothing(Deny::Malformed);
                };
                match cookie::find(header, &self.cookies.name) {
                    Ok(Some(value)) => Selection::Cookie(Ok(value)),
                    Ok(None) => Selection::Nothing(Deny::MissingCredential),
                    Err(reason) => Selection::Cookie(Err(reason)),
                }
            }
        }
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

    /// Every stateless check: which credential, and whether it holds.
    pub fn check(&self, request: &AuthRequest<'_>, now: UnixTime) -> Result<Allowance, Deny> {
        self.check_selected(&self.select(request), request, now)
    }

    /// The stateless checks of the chosen credential.
    fn check_selected(
        &self,
        selection: &Selection<'_>,
        request: &AuthRequest<'_>,
        now: UnixTime,
    ) -> Result<Allowance, Deny> {
        match selection {
            Selection::Nothing(reason) => Err(*reason),
            Selection::Ambiguous => Err(Deny::AmbiguousCredential),
            Selection::SignedUrl => {
                let url = signed_url::SignedUrl::parse(&request.params)?;
                let grant = url.verify(request, &self.keys, &self.policy, now)?;
                Ok(Allowance {
                    grant,
                    uses: None,
                    session: None,
                    token: None,
                    audit: Audit {
                        key: Some(url.kid.to_owned()),
                        key_configured: true,
                        ..Audit::default()
                    },
                })
            }
            // A JWT allow is never cached by nginx: a cached answer would replay a
            // single-use token and outlive a key removed from a JWKS.
            Selection::Jwt(jwt) => jwt.verify(request, now).map(|grant| Allowance {
                grant: Grant::uncacheable(Credential::Jwt),
                uses: grant.uses,
                session: None,
                audit: Audit {
                    key: Some(grant.revocation.kid.clone()),
                    key_configured: jwt.names_kid(&grant.revocation.kid),
                    subject: grant.revocation.subject.clone(),
                    token_id: grant.revocation.jti.clone(),
                    session: None,
                },
                token: Some(grant.revocation),
            }),
            Selection::Cookie(value) => {
                let value = value.as_ref().map_err(|reason| *reason)?;
                self.check_cookie(value, request, now)
            }
        }
    }

    /// The cookie credential: where the request comes from, then the signed grant.
    fn check_cookie(
        &self,
        value: &str,
        request: &AuthRequest<'_>,
        now: UnixTime,
    ) -> Result<Allowance, Deny> {
        self.cookies
            .check_site(request.fetch_site, request.referer)?;
        let signed = cookie::SignedCookie::parse(value)?;
        let grant = signed.verify(
            request,
            &self.keys,
            &self.policy,
            self.cookies.max_lifetime,
            now,
        )?;
        Ok(Allowance {
            grant,
            uses: None,
            audit: Audit {
                key: Some(signed.kid.to_owned()),
                key_configured: true,
                session: signed.grant.sid.as_ref().map(|sid| sid.as_str().to_owned()),
                ..Audit::default()
            },
            session: signed.grant.sid,
            token: None,
        })
    }

    /// Decides about a request whose headers already parsed, recording single-use
    /// tokens in the replay store. The credential is chosen once, and the choice comes
    /// back with the decision.
    pub async fn decide_request(&self, request: &AuthRequest<'_>, now: UnixTime) -> Outcome {
        let selection = self.select(request);
        let presented = selection.presented();
        let (decision, audit) = match self.allowance(&selection, request, now).await {
            Ok(allowance) => match self.check_state(&allowance).await {
                Ok(()) => (
                    self.cap_cache(Decision::Allow(allowance.grant), now),
                    allowance.audit,
                ),
                Err(reason) => (Decision::Deny(reason), Audit::default()),
            },
            Err(reason) => (Decision::Deny(reason), Audit::default()),
        };
        Outcome {
            decision,
            presented,
            audit,
        }
    }

    /// The stateless checks, asking the key source once when a token names a key id
    /// it may have gained since the last fetch.
    async fn allowance(
        &self,
        selection: &Selection<'_>,
        request: &AuthRequest<'_>,
        now: UnixTime,
    ) -> Result<Allowance, Deny> {
        match self.check_selected(selection, request, now) {
            Err(Deny::UnknownKey) if matches!(selection, Selection::Jwt(_)) => {
                let Some(source) = &self.jwks else {
                    return Err(Deny::UnknownKey);
                };
                // Rate-limited; concurrent callers wait for one fetch. Either way the
                // current set is consulted again.
                source.refetch_for_unknown_kid().await;
                self.check_selected(selection, request, now)
            }
            other => other,
        }
    }

    /// What needs the store: revocation, then use limits. Fails closed.
    async fn check_state(&self, allowance: &Allowance) -> Result<(), Deny> {
        if let Some(sid) = &allowance.session {
            self.check_not_revoked(&StoreId::RevokedSession(sid.as_str()))
                .await?;
        }
        if let Some(token) = &allowance.token {
            self.check_token_revocation(token).await?;
        }
        match &allowance.uses {
            Some(uses) => self.consume(uses).await,
            None => Ok(()),
        }
    }

    /// Denies `revoked` when `id` is revoked; fails closed.
    async fn check_not_revoked(&self, id: &StoreId<'_>) -> Result<(), Deny> {
        match self.store.is_revoked(id).await {
            Ok(false) => Ok(()),
            Ok(true) => Err(Deny::Revoked),
            Err(error) => {
                tracing::warn!(%error, "store unavailable for a revocation check");
                Err(Deny::StoreUnavailable)
            }
        }
    }

    /// A JWT's revocations: its token id, then the cut-offs of its key id and subject
    /// (revoked when issued before the latest). The two lookups run concurrently.
    async fn check_token_revocation(&self, token: &jwt::Revocation) -> Result<(), Deny> {
        let by_id = async {
            match &token.jti {
                Some(jti) => {
                    let id = StoreId::RevokedToken {
                        kid: &token.kid,
                        jti,
                    };
                    self.check_not_revoked(&id).await
                }
                None => Ok(()),
            }
        };
        let mut cut_offs = vec![StoreId::KeyCutOff(&token.kid)];
        cut_offs.extend(token.subject.as_deref().map(StoreId::SubjectCutOff));
        let by_time = async {
            match self.store.latest_cut_off(&cut_offs).await {
                Ok(Some(cut_off)) if token.issued_at < cut_off => Err(Deny::Revoked),
                Ok(_) => Ok(()),
                Err(error) => {
                    tracing::warn!(%error, "store unavailable for a cut-off check");
                    Err(Deny::StoreUnavailable)
                }
            }
        };
        let (by_id, by_time) = tokio::join!(by_id, by_time);
        by_id.and(by_time)
    }

    /// The cookie exchange: a valid scope credential in the URL (a scope-signed URL or
    /// a scope JWT) and a `return_to` inside its scope give a signed cookie for that
    /// scope with a fresh session id, living no longer than the credential, bound to
    /// the credential's address and to its methods narrowed to `GET` and `HEAD`: a
    /// credential never leaves the exchange with more power than it entered with.
    /// Cross-site navigations are refused as cookie use is (login CSRF).
    pub async fn exchange(
        &self,
        request: &AuthRequest<'_>,
        now: UnixTime,
    ) -> Result<Exchange, Deny> {
        // Login CSRF: another site must not make the browser trade the attacker's
        // grant for a cookie that replaces the victim's.
        self.cookies
            .check_site(request.fetch_site, request.referer)?;
        let bound = match self.select(request) {
            Selection::Ambiguous => return Err(Deny::AmbiguousCredential),
            Selection::SignedUrl => {
                let url = signed_url::SignedUrl::parse(&request.params)?;
                let (scope, exp) =
                    url.verify_scope_grant(request, &self.keys, &self.policy, now)?;
                // A bound query cannot follow the cookie to clean URLs, nor a bound
                // host (the cookie format has no host; the key's hosts do follow).
                if url.bound_query.is_some() || url.host.is_some() {
                    return Err(Deny::NotExchangeable);
                }
                Bound {
                    scope,
                    exp,
                    ip: url.ip,
                    methods: url.methods,
                    uses: None,
                    token: None,
                    signer: self.keys.find(url.kid).ok_or(Deny::UnknownKey)?.clone(),
                }
            }
            Selection::Jwt(jwt) => {
                let grant = jwt.verify_scope_grant(request, now)?;
                let scope = grant.scope.ok_or(Deny::ScopeRequired)?;
                let signer = self
                    .keys
                    .kids()
                    .filter_map(|kid| self.keys.find(kid.as_str()))
                    .find(|key| {
                        key.can_sign()
                            && key.limits.permits_scope(&scope)
                            && key.limits.permits_host(request.host.as_ref())
                    })
                    .ok_or(if self.keys.can_sign() {
                        Deny::KeyOutOfScope
                    } else {
                        Deny::NoSigningKey
                    })?
                    .clone();
                Bound {
                    scope,
                    signer,
                    exp: grant.exp,
                    ip: grant.ip,
                    methods: grant.methods,
                    uses: grant.uses,
                    token: Some(grant.revocation),
                }
            }
            // The exchange takes a credential in the URL only, never a cookie.
            Selection::Nothing(_) | Selection::Cookie(_) => return Err(Deny::MissingCredential),
        };
        let methods = CookieMethods::narrowed(&bound.methods).ok_or(Deny::MethodNotAllowed)?;
        let location = return_to(&request.params, &bound.scope)?;
        // The cookie is signed by the credential's own key (so its limits follow the
        // cookie); an Ed25519 public key verifies but cannot mint: said before a use
        // is spent.
        if !bound.signer.can_sign() {
            return Err(Deny::NoSigningKey);
        }
        if let Some(token) = &bound.token {
            self.check_token_revocation(token).await?;
        }
        if let Some(uses) = &bound.uses {
            self.consume(uses).await?;
        }
        let exp = bound.exp.min(now.plus(self.cookies.max_lifetime));
        let max_age = exp.0.saturating_sub(now.0);
        if max_age == 0 {
            return Err(Deny::Expired);
        }
        let sid = cookie::SessionId::generate().map_err(|_| Deny::StoreUnavailable)?;
        let (sid_text, scope_text) = (sid.as_str().to_owned(), bound.scope.as_str().to_owned());
        let grant = cookie::CookieGrant {
            scope: bound.scope,
            exp,
            sid: Some(sid),
            ip: bound.ip,
            methods,
        };
        let value = cookie::sign(&grant, &bound.signer).map_err(|_| Deny::NoSigningKey)?;
        Ok(Exchange {
            sid: sid_text,
            scope: scope_text,
            set_cookie: cookie::set_cookie_header(
                &self.cookies.name,
                &value,
                max_age,
                self.cookies.same_site,
            ),
            location,
        })
    }

    /// Takes one of the token's uses: slots 1, 2, … count, each recorded atomically,
    /// so concurrent requests can never share one.
    async fn consume(&self, uses: &jwt::Uses) -> Result<(), Deny> {
        for slot in 1..=uses.count {
            let id = StoreId::UseSlot {
                kid: &uses.kid,
                jti: &uses.jti,
                slot,
            };
            match self.store.check_and_record(&id, uses.expires_at).await {
                Ok(true) => return Ok(()),
                Ok(false) => continue,
                Err(StoreError::Full) => return Err(Deny::StoreFull),
                Err(StoreError::Unreplicated(replicas)) => {
                    tracing::warn!(replicas, "a use was not acknowledged by enough replicas");
                    return Err(Deny::StoreUnreplicated);
                }
                Err(StoreError::Unavailable(error)) => {
                    tracing::warn!(%error, "replay store unavailable");
                    return Err(Deny::StoreUnavailable);
                }
            }
        }
        Err(Deny::Replayed)
    }
}

/// The exchange's `return_to`: absent means the scope itself; present, it must be a
/// canonical path (file, or directory ending in `/`) inside the scope, written back in
/// keyhole's URL form, so the `Location` is always a same-origin path. Absolute URLs,
/// `//host`, backslashes and their encodings all fail the canonical rules.
fn return_to(
    params: &[crate::request::Param<'_>],
    scope: &crate::canonical::Scope,
) -> Result<String, Deny> {
    let mut values = params.iter().filter(|p| p.name == "return_to");
    let raw = match (values.next(), values.next()) {
        (None, _) => return Ok(scope.to_url_form()),
        (Some(param), None) => param.value,
        (Some(_), Some(_)) => return Err(Deny::DuplicateParam),
    };
    let inside = if raw.ends_with('/') {
        crate::canonical::Scope::parse(raw.as_bytes())
            .ok()
            .filter(|dir| dir.as_str().starts_with(scope.as_str()))
            .map(|dir| dir.to_url_form())
    } else {
        crate::canonical::CanonicalPath::parse(raw.as_bytes())
            .ok()
            .filter(|path| scope.contains(path))
            .map(|path| path.to_url_form())
    };
    inside.ok_or(Deny::BadReturnTo)
}

#[cfg(test)]
mod tests;
