//! File-scoped JWTs in the query string: strict shape checks before any cryptography,
//! the signature checked with `jsonwebtoken` against the one key and algorithm the
//! `kid` names, then keyhole's own claim rules against the injected clock.
//! `docs/jwt.md` is the normative description.
//!
//! Order of checks (each a stable [`Deny`] code): the parameter (once), the size cap,
//! three base64url segments without padding, the header (strict JSON, only `alg`,
//! `typ`, `kid`; `typ` must be [`TOKEN_TYPE`]), the key and its algorithm, the
//! signature, and only then the claims. A forged token is therefore `bad-signature`,
//! never `expired`.

mod json;
pub mod keys;
mod limits;

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::Header;
use serde_json::{Map, Value};

use crate::canonical::{CanonicalPath, Scope};
use crate::claims::{IpBinding, Methods, TimeClaims, TimeRules};
use crate::clock::UnixTime;
use crate::decision::Deny;
use crate::request::{AuthRequest, Param};

pub use jsonwebtoken::{Algorithm, EncodingKey};
pub use keys::{JwtKey, JwtKeyError, RemoteKeys, RemoteLimits, algorithm_name, parse_algorithm};

/// Longest token read, in bytes; checked before any decoding.
pub const MAX_TOKEN_LEN: usize = 4096;

/// The default query parameter carrying the token. Not `kh_`-prefixed: that namespace
/// belongs to signed URLs, whose parser refuses unknown `kh_*` names.
pub const DEFAULT_PARAM: &str = "token";

/// The `typ` header value that marks a keyhole file token; login and API tokens do
/// not carry it. Compared case-insensitively, with or without `application/`.
pub const TOKEN_TYPE: &str = "keyhole+jwt";

/// The default `aud`.
pub const DEFAULT_AUDIENCE: &str = "keyhole";

/// The default longest `exp − iat`, in seconds.
pub const DEFAULT_MAX_LIFETIME: u64 = 300;

/// Longest `jti` accepted.
pub(crate) const MAX_JTI_LEN: usize = 128;

/// Most uses a limited-use token may ask for (`kh_uses`).
pub const MAX_USES: u64 = 8;

/// Header parameters keyhole reads; any other one is refused.
const HEADER_ALLOWED: [&str; 3] = ["alg", "typ", "kid"];

/// When tokens are single-use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SingleUse {
    /// Only tokens that ask for it (`kh_once: true` or `kh_uses: N`, with a `jti`).
    OnRequest,
    /// Every token: a `jti` is required and each token is used once unless it asks
    /// for more uses.
    Always,
}

/// The JWT rules that are not keys.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JwtPolicy {
    /// The query parameter carrying the token.
    pub param: String,
    /// The required `aud`.
    pub audience: String,
    /// Accepted `iss` values; `None` accepts any (or none).
    pub issuers: Option<Vec<String>>,
    /// Longest `exp − iat` and `exp − now`, in seconds.
    pub max_lifetime: u64,
    /// Seconds of clock skew forgiven on `exp`, `nbf` and `iat`.
    pub leeway: u64,
    /// When tokens are single-use.
    pub single_use: SingleUse,
}

impl Default for JwtPolicy {
    fn default() -> Self {
        JwtPolicy {
            param: DEFAULT_PARAM.into(),
            audience: DEFAULT_AUDIENCE.into(),
            issuers: None,
            max_lifetime: DEFAULT_MAX_LIFETIME,
            leeway: super::DEFAULT_LEEWAY,
            single_use: SingleUse::OnRequest,
        }
    }
}

/// The configured keys and rules; built once at start.
#[derive(Clone, Debug)]
pub struct JwtVerifier {
    /// Every local verification key (HMAC and public), unique by `kid`.
    keys: Vec<Arc<JwtKey>>,
    /// Keys of a remote JWKS (`KEYHOLE_JWKS_URL`), kept current by the service's JWKS fetcher.
    pub remote: Option<Arc<RemoteKeys>>,
    /// Limits of the remote keys, by key id (`KEYHOLE_JWKS_KEY_LIMITS`).
    pub remote_limits: RemoteLimits,
    /// Everything else.
    pub policy: JwtPolicy,
}

/// A use limit the replay store must enforce before the request is allowed. The
/// token is named by its key id and `jti`; the store spells that as its own id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Uses {
    /// The key id the token names.
    pub kid: String,
    /// The token's `jti`.
    pub jti: String,
    /// How many uses the token grants (1 for single use).
    pub count: u64,
    /// When the store may forget the id: `exp` plus the leeway.
    pub expires_at: UnixTime,
}

/// What a valid token grants beyond "allow".
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JwtGrant {
    /// A use limit, when the token is single- or limited-use.
    pub uses: Option<Uses>,
    /// The `kh_scope` claim, when the token grants a prefix (not one path).
    pub scope: Option<Scope>,
    /// The token's expiry.
    pub exp: UnixTime,
    /// The `kh_ip` binding, when the token has one (the exchange carries it over).
    pub ip: Option<IpBinding>,
    /// The `kh_m` methods, or the default (the exchange narrows them to GET and HEAD).
    pub methods: Methods,
    /// What a revocation of this token would be recorded under.
    pub revocation: Revocation,
}

/// What a token may be revoked by: its `jti` (when it has one), and the "issued before
/// T" cut-offs of its key id and (when it has one) its subject.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Revocation {
    /// The key id the token names.
    pub kid: String,
    /// The token's `jti`, when it has one.
    pub jti: Option<String>,
    /// The token's `sub`, when it has one.
    pub subject: Option<String>,
    /// The token's `iat`: a cut-off T revokes it when `iat < T`.
    pub issued_at: UnixTime,
}

/// Whether the request's own path must lie in the token's resource.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Containment {
    /// An `/auth` decision: the file requested must be the token's.
    RequestPath,
    /// The cookie exchange: the caller checks `return_to` against the scope.
    Caller,
}

impl JwtVerifier {
    /// Builds a verifier; key ids must be unique and at least one key given.
    pub fn new(keys: Vec<JwtKey>, policy: JwtPolicy) -> Result<Self, JwtKeyError> {
        keys::check_unique(&keys)?;
        Ok(JwtVerifier {
            keys: keys.into_iter().map(Arc::new).collect(),
            remote: None,
            remote_limits: RemoteLimits::default(),
            policy,
        })
    }

    /// Every key id with its algorithm name (for start-up logs).
    pub fn key_ids(&self) -> Vec<String> {
        self.keys
            .iter()
            .map(|k| format!("{}:{}", k.kid, algorithm_name(k.alg)))
            .collect()
    }

    /// The first HMAC key as a signer (`keyhole mint` without `--key-file`).
    pub fn signing_key(&self) -> Option<(String, Algorithm, EncodingKey)> {
        self.keys.iter().find_map(|key| {
            let secret = key.decoding.try_get_hmac_secret().ok()?;
            Some((key.kid.clone(), key.alg, EncodingKey::from_secret(secret)))
        })
    }

    /// Whether the query carries the token parameter.
    pub fn is_present(&self, params: &[Param<'_>]) -> bool {
        params.iter().any(|param| param.name == self.policy.param)
    }

    /// The key a token names: local keys first, then the remote set (whose fetcher
    /// refuses key ids that are also local).
    fn find_key(&self, kid: Option<&str>) -> Result<Arc<JwtKey>, Deny> {
        let remote = self
            .remote
            .as_ref()
            .map(|r| r.snapshot())
            .unwrap_or_default();
        match kid {
            Some(kid) => self
                .keys
                .iter()
                .chain(remote.iter())
                .find(|key| key.kid == kid)
                .cloned()
                .ok_or(Deny::UnknownKey),
            None => match (self.keys.as_slice(), remote.as_slice()) {
                ([only], []) | ([], [only]) => Ok(only.clone()),
                _ => Err(Deny::UnknownKey),
            },
        }
    }

    /// Verifies the request's token: shape, header, key, signature, then claims.
    pub fn verify(&self, request: &AuthRequest<'_>, now: UnixTime) -> Result<JwtGrant, Deny> {
        self.verify_with(request, now, Containment::RequestPath)
    }

    /// For the cookie exchange: every check except the request path's containment;
    /// a token for one path (`kh_path`) is `scope-required`.
    pub fn verify_scope_grant(
        &self,
        request: &AuthRequest<'_>,
        now: UnixTime,
    ) -> Result<JwtGrant, Deny> {
        let grant = self.verify_with(request, now, Containment::Caller)?;
        if grant.scope.is_none() {
            return Err(Deny::ScopeRequired);
        }
        Ok(grant)
    }

    fn verify_with(
        &self,
        request: &AuthRequest<'_>,
        now: UnixTime,
        containment: Containment,
    ) -> Result<JwtGrant, Deny> {
        let mut values = request
            .params
            .iter()
            .filter(|p| p.name == self.policy.param);
        let token = match (values.next(), values.next()) {
            (Some(param), None) => param.value,
            (Some(_), Some(_)) => return Err(Deny::DuplicateParam),
            (None, _) => return Err(Deny::MissingCredential),
        };
        let (key, parts) = self.verify_jws(token, TypRule::Required)?;
        // The signature holds: from here on the claims are the issuer's.
        let payload = URL_SAFE_NO_PAD
            .decode(parts.payload)
            .map_err(|_| Deny::Malformed)?;
        let claims = json::parse_object(&payload).map_err(|_| Deny::Malformed)?;
        let claims = Claims::parse(&claims)?;
        let grant = self.check_claims(&claims, &key.kid, request, now, containment)?;
        let limits = self
            .configured_limits(&key.kid)
            .ok_or(Deny::KeyOutOfScope)?;
        match (&grant.scope, containment) {
            (_, Containment::RequestPath) => limits.check(&request.path, request.host.as_ref())?,
            (Some(scope), Containment::Caller) => {
                limits.check_scope(scope, request.host.as_ref())?;
            }
            // A token for one path at the exchange: `scope-required` follows.
            (None, Containment::Caller) => {}
        }
        Ok(grant)
    }

    /// The JWS layer: shape, header, key, algorithm, signature. Returns the key and
    /// the segments; nothing in the payload has been read.
    fn verify_jws<'t>(
        &self,
        token: &'t str,
        typ: TypRule,
    ) -> Result<(Arc<JwtKey>, Parts<'t>), Deny> {
        let parts = split_token(token)?;
        let header = parse_header(parts.header)?;
        if typ == TypRule::Required && !header.typ_ok {
            return Err(Deny::NotAFileToken);
        }
        let key = self.find_key(header.kid.as_deref())?;
        if header.alg != algorithm_name(key.alg) {
            return Err(Deny::AlgNotAllowed);
        }
        let message_len = parts.header.len() + 1 + parts.payload.len();
        let message = token.get(..message_len).ok_or(Deny::Malformed)?;
        if key.verify_signature(message.as_bytes(), parts.signature) {
            Ok((key, parts))
        } else {
            Err(Deny::BadSignature)
        }
    }

    /// Whether the request's token is well-formed up to its header and that header
    /// names no key id. A front end that holds only some of the service's keys (the
    /// nginx module) cannot know which key the service would pick for such a token, so
    /// it hands the token on; a token whose header does not parse is not this case.
    pub fn token_lacks_kid(&self, params: &[Param<'_>]) -> bool {
        let Some(param) = params.iter().find(|p| p.name == self.policy.param) else {
            return false;
        };
        split_token(param.value)
            .and_then(|parts| parse_header(parts.header))
            .is_ok_and(|header| header.kid.is_none())
    }

    /// DANGER: the JWS layer alone (shape, header, key, algorithm, signature) without
    /// the `typ` rule and without any claim. For the RFC 7515 / Wycheproof vectors;
    /// never an authorization decision.
    pub fn danger_verify_jws_only(&self, token: &str) -> Result<(), Deny> {
        self.verify_jws(token, TypRule::DangerIgnored).map(|_| ())
    }

    fn check_claims(
        &self,
        claims: &Claims,
        kid: &str,
        request: &AuthRequest<'_>,
        now: UnixTime,
        containment: Containment,
    ) -> Result<JwtGrant, Deny> {
        let policy = &self.policy;
        let window = TimeClaims {
            exp: claims.exp,
            nbf: claims.nbf,
            iat: Some(claims.iat),
        };
        window.check(
            now,
            &TimeRules {
                leeway: policy.leeway,
                max_lifetime: policy.max_lifetime,
                leeway_on_max_expiry: true,
            },
        )?;
        if !claims.audience_is(&policy.audience) {
            return Err(Deny::WrongAudience);
        }
        if let Some(issuers) = &policy.issuers {
            if !claims.iss.as_ref().is_some_and(|iss| issuers.contains(iss)) {
                return Err(Deny::WrongIssuer);
            }
        }
        let allowed = match &claims.resource {
            _ if containment == Containment::Caller => true,
            Resource::Path(path) => *path == request.path,
            Resource::Scope(scope) => scope.contains(&request.path),
        };
        if !allowed {
            return Err(Deny::OutOfScope);
        }
        IpBinding::check(claims.ip.as_ref(), &request.client_ip)?;
        if !claims.methods.allows(request.method) {
            return Err(Deny::MethodNotAllowed);
        }
        let count = match (claims.uses, policy.single_use) {
            (Some(count), _) => Some(count),
            (None, SingleUse::Always) => Some(1),
            (None, SingleUse::OnRequest) => None,
        };
        let uses = match count {
            None => None,
            Some(count) => {
                let jti = claims.jti.as_deref().ok_or(Deny::MissingClaim)?;
                Some(Uses {
                    kid: kid.to_owned(),
                    jti: jti.to_owned(),
                    count,
                    expires_at: claims.exp.plus(policy.leeway),
                })
            }
        };
        let scope = match &claims.resource {
            Resource::Scope(scope) => Some(scope.clone()),
            Resource::Path(_) => None,
        };
        let revocation = Revocation {
            kid: kid.to_owned(),
            jti: claims.jti.clone(),
            subject: claims.sub.clone(),
            issued_at: claims.iat,
        };
        Ok(JwtGrant {
            uses,
            scope,
            exp: claims.exp,
            ip: claims.ip,
            methods: claims.methods.clone(),
            revocation,
        })
    }
}

/// The three segments of a compact JWS, still base64url.
struct Parts<'a> {
    header: &'a str,
    payload: &'a str,
    signature: &'a str,
}

/// Size cap, exactly three segments (five is a JWE), base64url alphabet only (no
/// padding, no `+` or `/`, no percent-encoding).
fn split_token(token: &str) -> Result<Parts<'_>, Deny> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(Deny::TokenTooLarge);
    }
    if !token
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
    {
        return Err(Deny::Malformed);
    }
    let mut segments = token.split('.');
    match (
        segments.next(),
        segments.next(),
        segments.next(),
        segments.next(),
    ) {
        (Some(header), Some(payload), Some(signature), None)
            if !header.is_empty() && !payload.is_empty() =>
        {
            Ok(Parts {
                header,
                payload,
                signature,
            })
        }
        _ => Err(Deny::Malformed),
    }
}

/// Whether the JWS layer requires the keyhole `typ`.
#[derive(Clone, Copy, PartialEq, Eq)]
enum TypRule {
    /// Every authorization: a token without `typ: keyhole+jwt` is `not-a-file-token`.
    Required,
    /// Test vectors only.
    DangerIgnored,
}

/// The header fields keyhole reads.
struct JoseHeader {
    /// `alg`, as written.
    alg: String,
    /// `kid`, when present.
    kid: Option<String>,
    /// Whether `typ` marks a keyhole file token.
    typ_ok: bool,
}

fn parse_header(encoded: &str) -> Result<JoseHeader, Deny> {
    let bytes = URL_SAFE_NO_PAD
        .decode(encoded)
        .map_err(|_| Deny::Malformed)?;
    let header = json::parse_object(&bytes).map_err(|_| Deny::Malformed)?;
    if header
        .keys()
        .any(|name| !HEADER_ALLOWED.contains(&name.as_str()))
    {
        return Err(Deny::HeaderNotAllowed);
    }
    let alg = match header.get("alg") {
        Some(Value::String(alg))
            if !alg.eq_ignore_ascii_case("none") && parse_algorithm(alg).is_some() =>
        {
            alg.clone()
        }
        Some(Value::String(_)) => return Err(Deny::AlgNotAllowed),
        _ => return Err(Deny::Malformed),
    };
    let typ_ok = match header.get("typ") {
        Some(Value::String(typ)) => {
            let typ = typ.to_ascii_lowercase();
            typ == TOKEN_TYPE || typ.strip_prefix("application/") == Some(TOKEN_TYPE)
        }
        _ => false,
    };
    let kid = match header.get("kid") {
        None => None,
        Some(Value::String(kid)) if !kid.is_empty() && kid.len() <= keys::MAX_JWT_KID_LEN => {
            Some(kid.clone())
        }
        Some(Value::String(_)) => return Err(Deny::UnknownKey),
        Some(_) => return Err(Deny::Malformed),
    };
    Ok(JoseHeader { alg, kid, typ_ok })
}

/// What a token grants access to.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Resource {
    /// `kh_path`: exactly this path.
    Path(CanonicalPath),
    /// `kh_scope`: every path below this prefix.
    Scope(Scope),
}

/// The claims keyhole reads, typed.
struct Claims {
    exp: UnixTime,
    iat: UnixTime,
    nbf: Option<UnixTime>,
    aud: Value,
    iss: Option<String>,
    resource: Resource,
    ip: Option<IpBinding>,
    methods: Methods,
    uses: Option<u64>,
    jti: Option<String>,
    sub: Option<String>,
}

fn time_claim(claims: &Map<String, Value>, name: &str) -> Result<Option<UnixTime>, Deny> {
    match claims.get(name) {
        None => Ok(None),
        Some(Value::Number(n)) => n.as_u64().map(|t| Some(UnixTime(t))).ok_or(Deny::Malformed),
        Some(_) => Err(Deny::Malformed),
    }
}

fn string_claim<'a>(claims: &'a Map<String, Value>, name: &str) -> Result<Option<&'a str>, Deny> {
    match claims.get(name) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(Deny::Malformed),
    }
}

impl Claims {
    fn parse(claims: &Map<String, Value>) -> Result<Self, Deny> {
        let exp = time_claim(claims, "exp")?.ok_or(Deny::MissingClaim)?;
        let iat = time_claim(claims, "iat")?.ok_or(Deny::MissingClaim)?;
        let nbf = time_claim(claims, "nbf")?;
        let aud = claims.get("aud").cloned().ok_or(Deny::MissingClaim)?;
        let iss = string_claim(claims, "iss")?.map(str::to_owned);
        let resource = match (
            string_claim(claims, "kh_path")?,
            string_claim(claims, "kh_scope")?,
        ) {
            (Some(path), None) => {
                Resource::Path(CanonicalPath::parse(path.as_bytes()).map_err(|_| Deny::Malformed)?)
            }
            (None, Some(scope)) => {
                Resource::Scope(Scope::parse(scope.as_bytes()).map_err(|_| Deny::Malformed)?)
            }
            (None, None) => return Err(Deny::NotAFileToken),
            (Some(_), Some(_)) => return Err(Deny::Malformed),
        };
        let ip = string_claim(claims, "kh_ip")?
            .map(IpBinding::parse)
            .transpose()?;
        let methods = match string_claim(claims, "kh_m")? {
            Some(text) => Methods::parse(text)?,
            None => Methods::default_methods(),
        };
        let once = match claims.get("kh_once") {
            None | Some(Value::Bool(false)) => false,
            Some(Value::Bool(true)) => true,
            Some(_) => return Err(Deny::Malformed),
        };
        let uses = match (claims.get("kh_uses"), once) {
            (None, false) => None,
            (None, true) => Some(1),
            (Some(Value::Number(n)), false) => Some(
                n.as_u64()
                    .filter(|n| (1..=MAX_USES).contains(n))
                    .ok_or(Deny::Malformed)?,
            ),
            _ => return Err(Deny::Malformed),
        };
        let jti = match string_claim(claims, "jti")? {
            Some(jti) if jti.is_empty() || jti.len() > MAX_JTI_LEN => return Err(Deny::Malformed),
            other => other.map(str::to_owned),
        };
        // `sub` only names the token for subject cut-offs; any string is accepted
        // (the Redis store hashes it into its key).
        let sub = string_claim(claims, "sub")?
            .filter(|sub| !sub.is_empty())
            .map(str::to_owned);
        Ok(Claims {
            sub,
            exp,
            iat,
            nbf,
            aud,
            iss,
            resource,
            ip,
            methods,
            uses,
            jti,
        })
    }

    /// `aud` is the audience, or an array holding exactly it.
    fn audience_is(&self, audience: &str) -> bool {
        match &self.aud {
            Value::String(aud) => aud == audience,
            Value::Array(items) => {
                matches!(items.as_slice(), [Value::String(aud)] if aud == audience)
            }
            _ => false,
        }
    }
}

/// What to mint: the fields of a new token.
#[derive(Clone, Debug)]
pub struct TokenGrant {
    /// The path the URL points at (always checked against the scope).
    pub path: CanonicalPath,
    /// Grant a prefix instead of the exact path.
    pub scope: Option<Scope>,
    /// Issued at.
    pub iat: UnixTime,
    /// Expiry.
    pub exp: UnixTime,
    /// The audience.
    pub audience: String,
    /// Single use (with a random `jti`): `kh_once`.
    pub once: bool,
    /// The client address or network the token is bound to: `kh_ip`.
    pub ip: Option<IpBinding>,
    /// The methods the token opens the file for (`kh_m`); `None`: GET and HEAD.
    pub methods: Option<Methods>,
    /// Limited use (with a random `jti`): `kh_uses`, 1 to 8; not with `once`.
    pub uses: Option<u64>,
}

/// Why a token could not be minted.
#[derive(Debug, thiserror::Error)]
pub enum MintError {
    /// The grant's path lies outside its scope.
    #[error("path `{path}` is not inside scope `{scope}`")]
    PathOutsideScope {
        /// The path.
        path: String,
        /// The scope.
        scope: String,
    },
    /// No random `jti` could be drawn for a single-use token.
    #[error("the operating system's random number generator failed")]
    Random,
    /// A use count outside 1 to 8 (the count).
    #[error("kh_uses must be 1 to {MAX_USES}, got {0} (keyhole would deny it as malformed)")]
    Uses(u64),
    /// Both single-use and a use count were asked for.
    #[error("a token is either single-use (kh_once) or limited-use (kh_uses), not both")]
    OnceAndUses,
    /// `jsonwebtoken` could not sign (its message; never the key).
    #[error("signing failed: {0}")]
    Sign(String),
}

/// A signing key for `alg` from a file's bytes: a base64url secret (at least 32
/// bytes) for HS*, a PKCS#8 PEM private key otherwise.
pub fn encoding_key(alg: Algorithm, bytes: &[u8]) -> Result<EncodingKey, String> {
    use jsonwebtoken::AlgorithmFamily;
    match alg.family() {
        AlgorithmFamily::Hmac => {
            let text =
                std::str::from_utf8(bytes).map_err(|_| "the secret is not text".to_owned())?;
            let secret =
                crate::keys::Secret::from_base64url(text.trim()).map_err(|e| e.to_string())?;
            Ok(EncodingKey::from_secret(secret.expose()))
        }
        AlgorithmFamily::Rsa => {
            EncodingKey::from_rsa_pem(bytes).map_err(|_| "not an RSA private key in PEM".to_owned())
        }
        AlgorithmFamily::Ec => EncodingKey::from_ec_pem(bytes)
            .map_err(|_| "not a PKCS#8 EC private key in PEM".to_owned()),
        AlgorithmFamily::Ed => EncodingKey::from_ed_pem(bytes)
            .map_err(|_| "not a PKCS#8 Ed25519 private key in PEM".to_owned()),
    }
}

/// Mints a keyhole token for `grant`, signed with `key` as `kid` using `alg`.
pub fn mint(
    grant: &TokenGrant,
    kid: &str,
    alg: Algorithm,
    key: &EncodingKey,
) -> Result<String, MintError> {
    let mut claims = Map::new();
    match &grant.scope {
        Some(scope) if !scope.contains(&grant.path) => {
            return Err(MintError::PathOutsideScope {
                path: grant.path.to_string(),
                scope: scope.to_string(),
            });
        }
        Some(scope) => claims.insert("kh_scope".into(), Value::from(scope.to_url_form())),
        None => claims.insert("kh_path".into(), Value::from(grant.path.to_url_form())),
    };
    claims.insert("aud".into(), Value::from(grant.audience.clone()));
    claims.insert("iat".into(), Value::from(grant.iat.0));
    claims.insert("exp".into(), Value::from(grant.exp.0));
    if let Some(ip) = &grant.ip {
        claims.insert("kh_ip".into(), Value::from(ip.to_string()));
    }
    if let Some(methods) = &grant.methods {
        claims.insert("kh_m".into(), Value::from(methods.as_str()));
    }
    match (grant.once, grant.uses) {
        (true, Some(_)) => return Err(MintError::OnceAndUses),
        (_, Some(uses)) if !(1..=MAX_USES).contains(&uses) => return Err(MintError::Uses(uses)),
        (false, None) => {}
        (once, uses) => {
            let mut id = [0u8; 16];
            getrandom::fill(&mut id).map_err(|_| MintError::Random)?;
            claims.insert("jti".into(), Value::from(URL_SAFE_NO_PAD.encode(id)));
            if once {
                claims.insert("kh_once".into(), Value::Bool(true));
            }
            if let Some(uses) = uses {
                claims.insert("kh_uses".into(), Value::from(uses));
            }
        }
    }
    let mut header = Header::new(alg);
    header.typ = Some(TOKEN_TYPE.into());
    header.kid = Some(kid.into());
    jsonwebtoken::encode(&header, &claims, key).map_err(|e| MintError::Sign(e.to_string()))
}

#[cfg(test)]
mod tests;
