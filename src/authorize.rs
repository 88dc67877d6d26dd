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

use crate::verify::{Policy, cookie, jwt, signed_url};

use crate::claims::{CookieMethods, IpBinding, Methods};
use crate::clock::{SystemClock, UnixTime};
use crate::decision::{Credential, Decision, Deny, Grant};
use crate::keys::KeyRing;
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
            Selection::SignedUrl => signed_url::SignedUrl::parse(&request.params)
                .and_then(|url| url.verify(request, &self.keys, &self.policy, now))
                .map(|grant| Allowance {
                    grant,
                    uses: None,
                    session: None,
                    token: None,
                }),
            // A JWT allow is never cached by nginx: a cached answer would replay a
            // single-use token and outlive a key removed from a JWKS.
            Selection::Jwt(jwt) => jwt.verify(request, now).map(|grant| Allowance {
                grant: Grant::uncacheable(Credential::Jwt),
                uses: grant.uses,
                session: None,
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
        let decision = match self.allowance(&selection, request, now).await {
            Ok(allowance) => match self.check_state(&allowance).await {
                Ok(()) => self.cap_cache(Decision::Allow(allowance.grant), now),
                Err(reason) => Decision::Deny(reason),
            },
            Err(reason) => Decision::Deny(reason),
        };
        Outcome {
            decision,
            presented,
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
                // A bound query cannot follow the cookie to clean URLs.
                if url.bound_query.is_some() {
                    return Err(Deny::NotExchangeable);
                }
                Bound {
                    scope,
                    exp,
                    ip: url.ip,
                    methods: url.methods,
                    uses: None,
                    token: None,
                }
            }
            Selection::Jwt(jwt) => {
                let grant = jwt.verify_scope_grant(request, now)?;
                Bound {
                    scope: grant.scope.ok_or(Deny::ScopeRequired)?,
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
        let value = cookie::sign(&grant, self.keys.signing_key());
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
mod tests {
    use super::*;
    use crate::canonical::CanonicalPath;
    use crate::clock::FixedClock;
    use crate::store::StoreFuture;
    use jsonwebtoken::{Algorithm, EncodingKey};

    const SECRET: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8";
    const NOW: UnixTime = UnixTime(1_800_000_000);

    #[derive(Debug)]
    struct DownStore;

    fn down<T>() -> Result<T, StoreError> {
        Err(StoreError::Unavailable("down".into()))
    }

    impl ReplayStore for DownStore {
        fn check_and_record<'a>(&'a self, _: &'a StoreId<'a>, _: UnixTime) -> StoreFuture<'a> {
            Box::pin(std::future::ready(down()))
        }

        fn revoke<'a>(&'a self, _: &'a StoreId<'a>, _: UnixTime) -> StoreFuture<'a, ()> {
            Box::pin(std::future::ready(down()))
        }

        fn is_revoked<'a>(&'a self, _: &'a StoreId<'a>) -> StoreFuture<'a> {
            Box::pin(std::future::ready(down()))
        }

        fn revoke_issued_before<'a>(
            &'a self,
            _: &'a StoreId<'a>,
            _: UnixTime,
            _: UnixTime,
        ) -> StoreFuture<'a, ()> {
            Box::pin(std::future::ready(down()))
        }

        fn latest_cut_off<'a>(&'a self, _: &'a [StoreId<'a>]) -> StoreFuture<'a, Option<UnixTime>> {
            Box::pin(std::future::ready(down()))
        }

        fn ping(&self) -> StoreFuture<'_, ()> {
            Box::pin(std::future::ready(down()))
        }
    }

    fn authorizer(store: Arc<dyn ReplayStore>) -> Authorizer {
        let keys = Arc::new(KeyRing::parse(&format!("k1:{SECRET}")).unwrap());
        let jwt_keys = jwt::keys::parse_hmac_keys(&format!("j1:HS256:{SECRET}")).unwrap();
        let verifier = jwt::JwtVerifier::new(jwt_keys, jwt::JwtPolicy::default()).unwrap();
        Authorizer {
            jwt: Some(Arc::new(verifier)),
            store,
            ..Authorizer::new(keys, Policy::default())
        }
    }

    fn token(once: bool) -> String {
        let grant = jwt::TokenGrant {
            path: CanonicalPath::parse(b"/a.jpg").unwrap(),
            scope: None,
            iat: NOW,
            exp: NOW.plus(60),
            audience: "keyhole".into(),
            once,
            ip: None,
            methods: None,
            uses: None,
        };
        let secret = crate::keys::Secret::from_base64url(SECRET).unwrap();
        jwt::mint(
            &grant,
            "j1",
            Algorithm::HS256,
            &EncodingKey::from_secret(secret.expose()),
        )
        .unwrap()
    }

    async fn decide(authorizer: &Authorizer, target: &str) -> Decision {
        let headers = NginxHeaders::new(target.as_bytes(), b"GET", b"127.0.0.1");
        match headers.parse() {
            Ok(request) => authorizer.decide_request(&request, NOW).await.decision,
            Err(reason) => Decision::Deny(reason),
        }
    }

    #[tokio::test]
    async fn single_use_tokens_are_recorded_and_fail_closed() {
        let memory = Arc::new(MemoryStore::new(10, Arc::new(FixedClock(NOW))));
        let authorizer = authorizer(memory);
        let once = format!("/a.jpg?token={}", token(true));
        assert_eq!(
            decide(&authorizer, &once).await,
            Decision::Allow(Grant::uncacheable(Credential::Jwt))
        );
        assert_eq!(
            decide(&authorizer, &once).await,
            Decision::Deny(Deny::Replayed)
        );
        // `decide` (explain) never consumes a use.
        let headers = NginxHeaders::new(once.as_bytes(), b"GET", b"127.0.0.1");
        assert!(authorizer.decide(&headers, NOW).is_allow());

        let down = authorizer_with_down_store();
        assert_eq!(
            decide(&down, &once).await,
            Decision::Deny(Deny::StoreUnavailable)
        );
        // A reusable token still needs the store for its revocations (token id, key
        // and subject cut-offs), so it fails closed too; a signed URL does not.
        let reusable = format!("/a.jpg?token={}", token(false));
        assert_eq!(
            decide(&down, &reusable).await,
            Decision::Deny(Deny::StoreUnavailable)
        );
        let grant =
            signed_url::UrlGrant::new(CanonicalPath::parse(b"/a.jpg").unwrap(), NOW.plus(60));
        let url = signed_url::sign(&grant, down.keys.signing_key()).unwrap();
        assert!(decide(&down, &url).await.is_allow());
    }

    #[tokio::test]
    async fn token_ids_and_issued_before_cut_offs_revoke_tokens() {
        let memory = Arc::new(MemoryStore::new(10, Arc::new(FixedClock(NOW))));
        let authorizer = authorizer(Arc::clone(&memory) as Arc<dyn ReplayStore>);
        let reusable = format!("/a.jpg?token={}", token(false));
        assert!(decide(&authorizer, &reusable).await.is_allow());
        // A cut-off at iat does not revoke (iat < T is required); one after it does.
        let until = NOW.plus(3600);
        memory
            .revoke_issued_before(&StoreId::KeyCutOff("j1"), NOW, until)
            .await
            .unwrap();
        assert!(decide(&authorizer, &reusable).await.is_allow());
        memory
            .revoke_issued_before(&StoreId::KeyCutOff("j1"), NOW.plus(1), until)
            .await
            .unwrap();
        assert_eq!(
            decide(&authorizer, &reusable).await,
            Decision::Deny(Deny::Revoked)
        );
        // Another key's cut-off, or a subject's, does not touch this token (no `sub`).
        let fresh = Arc::new(MemoryStore::new(10, Arc::new(FixedClock(NOW))));
        let authorizer = authorizer_with(Arc::clone(&fresh) as Arc<dyn ReplayStore>);
        fresh
            .revoke_issued_before(&StoreId::KeyCutOff("j2"), NOW.plus(1), until)
            .await
            .unwrap();
        fresh
            .revoke_issued_before(&StoreId::SubjectCutOff("alice"), NOW.plus(1), until)
            .await
            .unwrap();
        assert!(decide(&authorizer, &reusable).await.is_allow());
        // A single-use token carries a jti: revoking it denies before any use is taken.
        let once = token(true);
        let jti = claim(&once, "jti");
        fresh
            .revoke(
                &StoreId::RevokedToken {
                    kid: "j1",
                    jti: &jti,
                },
                until,
            )
            .await
            .unwrap();
        assert_eq!(
            decide(&authorizer, &format!("/a.jpg?token={once}")).await,
            Decision::Deny(Deny::Revoked)
        );
    }

    fn authorizer_with(store: Arc<dyn ReplayStore>) -> Authorizer {
        authorizer(store)
    }

    /// A string claim of a token, read without verifying (test helper).
    fn claim(token: &str, name: &str) -> String {
        use base64::Engine as _;
        let payload = token.split('.').nth(1).unwrap();
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap();
        let value: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        value[name].as_str().unwrap().to_owned()
    }

    fn authorizer_with_down_store() -> Authorizer {
        authorizer(Arc::new(DownStore))
    }

    /// Runs the exchange for `target` (`/_keyhole/session?…`) and parses the cookie it
    /// sets back into its grant.
    async fn exchange_grant(
        authorizer: &Authorizer,
        target: &str,
        method: &str,
        ip: &str,
        fetch_site: Option<&[u8]>,
    ) -> Result<cookie::CookieGrant, Deny> {
        use crate::request::HeaderField;
        let headers = NginxHeaders {
            fetch_site: fetch_site.map_or(HeaderField::Missing, HeaderField::One),
            ..NginxHeaders::new(target.as_bytes(), method.as_bytes(), ip.as_bytes())
        };
        let request = headers.parse()?;
        let exchange = authorizer.exchange(&request, NOW).await?;
        let value = exchange
            .set_cookie
            .strip_prefix("__Host-keyhole=")
            .and_then(|rest| rest.split(';').next())
            .unwrap()
            .to_owned();
        Ok(cookie::SignedCookie::parse(&value).unwrap().grant)
    }

    fn scope_url(adjust: impl FnOnce(&mut signed_url::UrlGrant)) -> String {
        let mut grant =
            signed_url::UrlGrant::new(CanonicalPath::parse(b"/u1/a.jpg").unwrap(), NOW.plus(600));
        grant.scope = Some(crate::canonical::Scope::parse(b"/u1/").unwrap());
        adjust(&mut grant);
        let keys = KeyRing::parse(&format!("k1:{SECRET}")).unwrap();
        let url = signed_url::sign(&grant, keys.signing_key()).unwrap();
        let query = url.split_once('?').unwrap().1;
        format!("/_keyhole/session?{query}")
    }

    /// Regression (attack run): the exchange dropped the address and method bindings.
    #[tokio::test]
    async fn the_exchange_carries_address_and_method_bindings_into_the_cookie() {
        let authorizer = authorizer(Arc::new(MemoryStore::new(10, Arc::new(FixedClock(NOW)))));
        let run = |target: String, method: &'static str, ip: &'static str| {
            let authorizer = authorizer.clone();
            async move { exchange_grant(&authorizer, &target, method, ip, None).await }
        };
        let plain = run(scope_url(|_| {}), "GET", "10.1.2.3").await.unwrap();
        assert_eq!((plain.ip, plain.methods), (None, CookieMethods::GetHead));

        let bound = scope_url(|g| g.ip = Some(IpBinding::parse("10.1.0.0/16").unwrap()));
        let grant = run(bound.clone(), "GET", "10.1.2.3").await.unwrap();
        assert_eq!(
            grant.ip.map(|ip| ip.to_string()).as_deref(),
            Some("10.1.0.0/16")
        );
        assert_eq!(run(bound, "GET", "10.2.0.1").await, Err(Deny::IpMismatch));

        let head = scope_url(|g| g.methods = Some(Methods::parse("HEAD").unwrap()));
        let grant = run(head.clone(), "HEAD", "10.1.2.3").await.unwrap();
        assert_eq!(grant.methods, CookieMethods::Head);
        assert_eq!(
            run(head, "GET", "10.1.2.3").await,
            Err(Deny::MethodNotAllowed)
        );

        let wide = scope_url(|g| g.methods = Some(Methods::parse("PUT,GET").unwrap()));
        let grant = run(wide.clone(), "PUT", "10.1.2.3").await.unwrap();
        assert_eq!(grant.methods, CookieMethods::Get);

        // No GET or HEAD at all: nothing to carry, the exchange refuses.
        let post = scope_url(|g| g.methods = Some(Methods::parse("POST").unwrap()));
        assert_eq!(
            run(post, "POST", "10.1.2.3").await,
            Err(Deny::MethodNotAllowed)
        );

        // A bound query cannot be carried: refused rather than dropped.
        let query = scope_url(|g| g.query = Some("w=100".into()));
        assert_eq!(
            run(query, "GET", "10.1.2.3").await,
            Err(Deny::NotExchangeable)
        );

        // Not yet valid: refused (the cookie would otherwise start early).
        let later = scope_url(|g| g.nbf = Some(NOW.plus(300)));
        assert_eq!(run(later, "GET", "10.1.2.3").await, Err(Deny::NotYetValid));
    }

    #[tokio::test]
    async fn a_scope_jwt_keeps_its_bindings_through_the_exchange() {
        let authorizer = authorizer(Arc::new(MemoryStore::new(10, Arc::new(FixedClock(NOW)))));
        let secret = crate::keys::Secret::from_base64url(SECRET).unwrap();
        let mint = |claims: serde_json::Value| {
            let mut header = jsonwebtoken::Header::new(Algorithm::HS256);
            header.typ = Some(jwt::TOKEN_TYPE.into());
            header.kid = Some("j1".into());
            let token =
                jsonwebtoken::encode(&header, &claims, &EncodingKey::from_secret(secret.expose()))
                    .unwrap();
            format!("/_keyhole/session?token={token}")
        };
        let claims = |extra: serde_json::Value| {
            let mut claims = serde_json::json!({
                "aud": "keyhole", "iat": NOW.0, "exp": NOW.0 + 120, "kh_scope": "/u1/"
            });
            claims
                .as_object_mut()
                .unwrap()
                .extend(extra.as_object().unwrap().clone());
            claims
        };
        let target = mint(claims(
            serde_json::json!({"kh_ip": "2001:db8::/32", "kh_m": "HEAD"}),
        ));
        let grant = exchange_grant(&authorizer, &target, "HEAD", "2001:db8::1", None)
            .await
            .unwrap();
        assert_eq!(
            grant.ip.map(|ip| ip.to_string()).as_deref(),
            Some("2001:db8::/32")
        );
        assert_eq!(grant.methods, CookieMethods::Head);
        assert_eq!(grant.exp, NOW.plus(120));
        let target = mint(claims(serde_json::json!({"kh_m": "DELETE"})));
        assert_eq!(
            exchange_grant(&authorizer, &target, "DELETE", "192.0.2.1", None).await,
            Err(Deny::MethodNotAllowed)
        );
    }

    /// Login CSRF: a cross-site navigation cannot trade a grant for a cookie.
    #[tokio::test]
    async fn the_exchange_refuses_cross_site_navigations() {
        let authorizer = authorizer(Arc::new(MemoryStore::new(10, Arc::new(FixedClock(NOW)))));
        for site in [&b"cross-site"[..], b"bogus"] {
            assert_eq!(
                exchange_grant(
                    &authorizer,
                    &scope_url(|_| {}),
                    "GET",
                    "10.0.0.1",
                    Some(site)
                )
                .await,
                Err(Deny::CrossSite)
            );
        }
        for site in [&b"same-origin"[..], b"same-site", b"none"] {
            assert!(
                exchange_grant(
                    &authorizer,
                    &scope_url(|_| {}),
                    "GET",
                    "10.0.0.1",
                    Some(site)
                )
                .await
                .is_ok()
            );
        }
    }

    #[tokio::test]
    async fn two_kinds_of_credential_are_ambiguous() {
        let authorizer = authorizer_with_down_store();
        let target = format!("/a.jpg?kh_v=1&token={}", token(false));
        assert_eq!(
            decide(&authorizer, &target).await,
            Decision::Deny(Deny::AmbiguousCredential)
        );
        assert_eq!(
            decide(&authorizer, "/a.jpg").await,
            Decision::Deny(Deny::MissingCredential)
        );
        // Without JWT keys, the parameter is not a credential.
        let plain = Authorizer::new(Arc::clone(&authorizer.keys), Policy::default());
        let target = format!("/a.jpg?token={}", token(false));
        assert_eq!(
            decide(&plain, &target).await,
            Decision::Deny(Deny::MissingCredential)
        );
    }

    #[tokio::test]
    async fn the_credential_chosen_comes_back_with_the_decision() {
        let memory = Arc::new(MemoryStore::new(10, Arc::new(FixedClock(NOW))));
        let authorizer = authorizer(memory);
        let url = signed_url::sign(
            &signed_url::UrlGrant::new(CanonicalPath::parse(b"/a.jpg").unwrap(), NOW.plus(60)),
            authorizer.keys.signing_key(),
        )
        .unwrap();
        let jwt = format!("/a.jpg?token={}", token(false));
        let both = format!("{url}&token={}", token(false));
        let cookie = |header: &'static [u8]| (b"/a.jpg".as_slice(), Some(header));
        // Target, Cookie header, what it presents, the reason code.
        type Case<'a> = (&'a [u8], Option<&'a [u8]>, Presented, &'a str);
        let cases: [Case<'_>; 8] = [
            (url.as_bytes(), None, Presented::SignedUrl, "ok"),
            (jwt.as_bytes(), None, Presented::Jwt, "ok"),
            (
                both.as_bytes(),
                None,
                Presented::Ambiguous,
                "ambiguous-credential",
            ),
            (b"/a.jpg", None, Presented::Nothing, "missing-credential"),
            (
                cookie(b"other=1").0,
                cookie(b"other=1").1,
                Presented::Nothing,
                "missing-credential",
            ),
            (
                b"/a.jpg",
                Some(b"__Host-keyhole=x"),
                Presented::Cookie,
                "malformed",
            ),
            (
                b"/a.jpg",
                Some(b"__Host-keyhole=x; __Host-keyhole=y"),
                Presented::Cookie,
                "duplicate-cookie",
            ),
            // A URL credential wins: the cookie is not even read.
            (
                url.as_bytes(),
                Some(b"__Host-keyhole=x"),
                Presented::SignedUrl,
                "ok",
            ),
        ];
        for (target, cookie_header, presented, code) in cases {
            let mut headers = NginxHeaders::new(target, b"GET", b"127.0.0.1");
            if let Some(value) = cookie_header {
                headers.cookie = crate::request::HeaderField::One(value);
            }
            let request = headers.parse().unwrap();
            let outcome = authorizer.decide_request(&request, NOW).await;
            assert_eq!(
                (outcome.presented, outcome.decision.code()),
                (presented, code),
                "{}",
                String::from_utf8_lossy(target)
            );
        }
    }
}
