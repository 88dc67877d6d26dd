//! Signed URL format v1: parsing the `kh_*` query parameters, the exact bytes the
//! HMAC covers, verification, and signing. `docs/signed-urls.md` is the normative
//! description; `tests/vectors/signed-urls.json` pins it.
//!
//! [`sign`], [`SignedUrl::verify`] and [`string_to_sign`] all take the signed bytes
//! from one writer (`SignedFields`' `SignedBytes` implementation, shared MAC code in
//! `verify::mac`), so they can never disagree about a field.

use crate::canonical::{CanonicalPath, Scope};
use crate::claims::{
    IpBinding, Methods, SignatureBytes, TimeClaims, TimeRules, parse_signature, parse_timestamp,
};
use crate::clock::UnixTime;
use crate::decision::{Credential, Deny, Grant};
use crate::host::Host;
use crate::keys::{Key, KeyId, KeyRing, VerifyOnlyKey};
use crate::request::{AuthRequest, MAX_PARAMS, MAX_URI_LEN, Param};
use crate::verify::Policy;
use crate::verify::mac::{self, SignedBytes};

/// Every keyhole query parameter starts with this prefix; the namespace is reserved.
pub const PARAM_PREFIX: &str = "kh_";

/// The first line of the signed bytes; it changes with every format version.
const DOMAIN_V1: &str = "keyhole-url-v1";

/// Every field of a signed URL except the path, parsed from the query.
#[derive(Clone, Debug)]
pub struct SignedUrl<'a> {
    /// `kh_kid`: which key signed.
    pub kid: &'a str,
    /// `kh_scope`, when the signature covers a prefix instead of the path.
    pub scope: Option<Scope>,
    /// `kh_exp`.
    pub exp: UnixTime,
    /// `kh_nbf`.
    pub nbf: Option<UnixTime>,
    /// `kh_ip`.
    pub ip: Option<IpBinding>,
    /// `kh_m`, or the default.
    pub methods: Methods,
    /// With `kh_q=1`, the remaining (non-`kh_`) query items joined by `&` in the
    /// order sent; `None` when the query is not bound (nothing is built then).
    pub bound_query: Option<String>,
    /// `kh_host`: the one host the URL opens on, when bound.
    pub host: Option<Host>,
    /// The decoded `kh_sig` (32 bytes HMAC, 64 bytes Ed25519).
    signature: SignatureBytes,
}

/// The fields a signature covers, borrowed; one value feeds [`string_to_sign`].
#[derive(Clone, Copy, Debug)]
pub struct SignedFields<'a> {
    /// Key id.
    pub kid: &'a str,
    /// Path or scope.
    pub target: TargetRef<'a>,
    /// Expiry.
    pub exp: UnixTime,
    /// Not-before.
    pub nbf: Option<UnixTime>,
    /// Address binding.
    pub ip: Option<IpBinding>,
    /// Allowed methods.
    pub methods: &'a Methods,
    /// The bound query, when bound.
    pub query: Option<&'a str>,
    /// The bound host, when bound: a tenth line, written only then, so URLs without
    /// a host keep their nine-line signed bytes.
    pub host: Option<&'a Host>,
}

/// What a signature covers besides the other fields: one path, or a prefix.
#[derive(Clone, Copy, Debug)]
pub enum TargetRef<'a> {
    /// The exact path.
    Path(&'a CanonicalPath),
    /// A prefix.
    Scope(&'a Scope),
}

/// The exact bytes HMAC-SHA256 covers: one `label:value` line per field, in a fixed
/// order, joined by `\n`. No value can contain `\n`, so the encoding is unambiguous.
pub fn string_to_sign(fields: &SignedFields<'_>) -> String {
    mac::string_to_sign(fields)
}

impl SignedBytes for SignedFields<'_> {
    fn write(&self, sink: &mut dyn FnMut(&[u8])) {
        let mut numbers = itoa::Buffer::new();
        sink(DOMAIN_V1.as_bytes());
        sink(b"\nkid:");
        sink(self.kid.as_bytes());
        match self.target {
            TargetRef::Path(path) => {
                sink(b"\npath:");
                sink(path.as_str().as_bytes());
            }
            TargetRef::Scope(scope) => {
                sink(b"\nscope:");
                sink(scope.as_str().as_bytes());
            }
        }
        sink(b"\nexp:");
        sink(numbers.format(self.exp.0).as_bytes());
        sink(b"\nnbf:");
        if let Some(nbf) = self.nbf {
            sink(numbers.format(nbf.0).as_bytes());
        }
        sink(b"\nip:");
        if let Some(ip) = self.ip {
            sink(ip.to_string().as_bytes());
        }
        sink(b"\nmethods:");
        sink(self.methods.as_str().as_bytes());
        match self.query {
            Some(query) => {
                sink(b"\nbind-query:1\nquery:");
                sink(query.as_bytes());
            }
            None => sink(b"\nbind-query:0\nquery:"),
        }
        if let Some(host) = self.host {
            sink(b"\nhost:");
            sink(host.as_str().as_bytes());
        }
    }
}

/// Whether the query carries any signed-URL parameter.
pub fn is_present(params: &[Param<'_>]) -> bool {
    params
        .iter()
        .any(|param| param.name.starts_with(PARAM_PREFIX))
}

impl<'a> SignedUrl<'a> {
    /// Parses the `kh_*` parameters. Every field is checked for shape here; nothing
    /// is believed until [`verify`](Self::verify) checked the signature.
    pub fn parse(params: &[Param<'a>]) -> Result<Self, Deny> {
        let mut fields = RawFields::default();
        for param in params {
            let Some(field) = param.name.strip_prefix(PARAM_PREFIX) else {
                continue;
            };
            let slot = match field {
                "v" => &mut fields.version,
                "kid" => &mut fields.kid,
                "exp" => &mut fields.exp,
                "nbf" => &mut fields.nbf,
                "scope" => &mut fields.scope,
                "ip" => &mut fields.ip,
                "m" => &mut fields.methods,
                "q" => &mut fields.bind_query,
                "host" => &mut fields.host,
                "sig" => &mut fields.sig,
                _ => return Err(Deny::Malformed),
            };
            if slot.replace(param.value).is_some() {
                return Err(Deny::DuplicateParam);
            }
        }
        match fields.version {
            Some("1") => {}
            Some(v) if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) => {
                return Err(Deny::UnsupportedVersion);
            }
            _ => return Err(Deny::Malformed),
        }
        let kid = fields.kid.ok_or(Deny::Malformed)?;
        KeyId::parse(kid).map_err(|_| Deny::Malformed)?;
        let exp = parse_timestamp(fields.exp.ok_or(Deny::Malformed)?)?;
        let nbf = fields.nbf.map(parse_timestamp).transpose()?;
        let scope = fields
            .scope
            .map(|raw| Scope::parse(raw.as_bytes()))
            .transpose()?;
        let ip = fields.ip.map(IpBinding::parse).transpose()?;
        let methods = match fields.methods {
            Some(text) => Methods::parse(text)?,
            None => Methods::default_methods(),
        };
        let binds_query = match fields.bind_query {
            None => false,
            Some("1") => true,
            Some(_) => return Err(Deny::Malformed),
        };
        // Signed exactly as sent: a host the parser would fold (upper case, a
        // trailing dot) is not the text a signer writes, so it is refused.
        let host = match fields.host {
            None => None,
            Some(text) => Some(
                Host::parse(text)
                    .ok()
                    .filter(|host| host.as_str() == text)
                    .ok_or(Deny::Malformed)?,
            ),
        };
        let signature = parse_signature(fields.sig.ok_or(Deny::Malformed)?)?;
        Ok(SignedUrl {
            kid,
            scope,
            exp,
            nbf,
            ip,
            methods,
            bound_query: binds_query.then(|| {
                let other: Vec<&str> = params
                    .iter()
                    .filter(|p| !p.name.starts_with(PARAM_PREFIX))
                    .map(|p| p.raw)
                    .collect();
                other.join("&")
            }),
            host,
            signature,
        })
    }

    /// The signed fields for a request to `path`.
    pub fn fields<'s>(&'s self, path: &'s CanonicalPath) -> SignedFields<'s> {
        SignedFields {
            kid: self.kid,
            target: match &self.scope {
                Some(scope) => TargetRef::Scope(scope),
                None => TargetRef::Path(path),
            },
            exp: self.exp,
            nbf: self.nbf,
            ip: self.ip,
            methods: &self.methods,
            query: self.bound_query.as_deref(),
            host: self.host.as_ref(),
        }
    }

    /// Checks the signature first, then every claim, against the request, then the
    /// signing key's limits. The grant is cacheable until the expiry unless the URL is
    /// bound to a client address (the only field that depends on more than the URL
    /// and the host, which the shipped decision cache keys on).
    pub fn verify(
        &self,
        request: &AuthRequest<'_>,
        keys: &KeyRing,
        policy: &Policy,
        now: UnixTime,
    ) -> Result<Grant, Deny> {
        let key = self.verify_claims(request, keys, policy, now)?;
        if let Some(scope) = &self.scope {
            if !scope.contains(&request.path) {
                return Err(Deny::OutOfScope);
            }
        }
        key.limits.check(&request.path, request.host.as_ref())?;
        Ok(Grant {
            credential: Credential::SignedUrl,
            cacheable_until: self.ip.is_none().then_some(self.exp),
        })
    }

    /// For the cookie exchange: a valid scope grant (signature, time, IP and method
    /// checked) and its scope and expiry. A URL for one file is `scope-required`.
    pub fn verify_scope_grant(
        &self,
        request: &AuthRequest<'_>,
        keys: &KeyRing,
        policy: &Policy,
        now: UnixTime,
    ) -> Result<(Scope, UnixTime), Deny> {
        let scope = self.scope.clone().ok_or(Deny::ScopeRequired)?;
        let key = self.verify_claims(request, keys, policy, now)?;
        key.limits.check_scope(&scope, request.host.as_ref())?;
        Ok((scope, self.exp))
    }

    /// Key, signature, then time, address, method and host; not the path's
    /// containment nor the key's limits. Returns the key that signed.
    fn verify_claims<'k>(
        &self,
        request: &AuthRequest<'_>,
        keys: &'k KeyRing,
        policy: &Policy,
        now: UnixTime,
    ) -> Result<&'k Key, Deny> {
        let key = keys.find(self.kid).ok_or(Deny::UnknownKey)?;
        mac::verify(&self.fields(&request.path), key, &self.signature)?;
        let window = TimeClaims {
            exp: self.exp,
            nbf: self.nbf,
            iat: None,
        };
        window.check(
            now,
            &TimeRules {
                leeway: policy.leeway,
                max_lifetime: policy.max_lifetime,
                leeway_on_max_expiry: false,
            },
        )?;
        IpBinding::check(self.ip.as_ref(), &request.client_ip)?;
        if !self.methods.allows(request.method) {
            return Err(Deny::MethodNotAllowed);
        }
        if let Some(bound) = &self.host {
            match &request.host {
                None => return Err(Deny::MissingHeader),
                Some(host) if host != bound => return Err(Deny::HostMismatch),
                Some(_) => {}
            }
        }
        Ok(key)
    }
}

/// The `kh_*` values as sent, before any checks.
#[derive(Default)]
struct RawFields<'a> {
    version: Option<&'a str>,
    kid: Option<&'a str>,
    exp: Option<&'a str>,
    nbf: Option<&'a str>,
    scope: Option<&'a str>,
    ip: Option<&'a str>,
    methods: Option<&'a str>,
    bind_query: Option<&'a str>,
    host: Option<&'a str>,
    sig: Option<&'a str>,
}

/// What to sign: the fields of a new URL.
#[derive(Clone, Debug)]
pub struct UrlGrant {
    /// The path the URL points at.
    pub path: CanonicalPath,
    /// Sign a prefix instead of the exact path (the path must lie inside it).
    pub scope: Option<Scope>,
    /// Expiry.
    pub exp: UnixTime,
    /// Optional not-before.
    pub nbf: Option<UnixTime>,
    /// Optional client address binding.
    pub ip: Option<IpBinding>,
    /// Allowed methods; `None` means the default `GET,HEAD` and writes no `kh_m`.
    pub methods: Option<Methods>,
    /// An application query (already percent-encoded, `a=1&b=2`) to sign with `kh_q=1`.
    pub query: Option<String>,
    /// The one host the URL opens on (`kh_host`), when bound.
    pub host: Option<Host>,
}

impl UrlGrant {
    /// A grant for exactly `path` until `exp`, with no other binding (default methods,
    /// any client, application query not signed).
    pub fn new(path: CanonicalPath, exp: UnixTime) -> UrlGrant {
        UrlGrant {
            path,
            scope: None,
            exp,
            nbf: None,
            ip: None,
            methods: None,
            query: None,
            host: None,
        }
    }
}

/// Largest timestamp with at most 12 digits (`kh_exp`, `kh_nbf`).
pub(crate) const MAX_TIMESTAMP: u64 = 999_999_999_999;

/// Why a URL could not be signed: each is a URL keyhole would deny whatever its
/// configuration, named with the rule, the value and the reason code keyhole would give.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SignError {
    #[error("path `{path}` is not inside scope `{scope}`; keyhole would deny it as out-of-scope")]
    /// The path lies outside the scope (`out-of-scope`).
    PathOutsideScope {
        /// The path, in URL form.
        path: String,
        /// The scope, in URL form.
        scope: String,
    },
    #[error(
        "the bound query's item `{item}` uses keyhole's reserved `kh_` prefix; keyhole would deny the URL as duplicate-param or malformed"
    )]
    /// A bound query item named `kh_*`.
    ReservedQueryParam {
        /// The item as written.
        item: String,
    },
    #[error(
        "the bound query's item `{item}` is named like the JWT parameter `{param}`; with JWTs enabled keyhole would deny the URL as ambiguous-credential (rename the application parameter)"
    )]
    /// A bound query item named like the JWT parameter.
    JwtParamInQuery {
        /// The item as written.
        item: String,
        /// The parameter name it uses.
        param: String,
    },
    #[error(
        "the bound query `{query}` must be percent-encoded visible ASCII (0x21-0x7E) without `#`; keyhole would deny it as malformed"
    )]
    /// A bound query with bytes outside 0x21-0x7E, or a `#`.
    QueryNotVisibleAscii {
        /// The query.
        query: String,
    },
    #[error(
        "the bound query `{query}` has an empty item (`&&`, or `&` at either end); keyhole would deny it as malformed"
    )]
    /// A bound query with an empty item.
    QueryEmptyItem {
        /// The query.
        query: String,
    },
    #[error(
        "the URL would carry {total} query items ({application} bound application items and {keyhole} of keyhole's own), more than the {max} keyhole reads; keyhole would deny it as too-many-params"
    )]
    /// More query items than keyhole reads (`too-many-params`).
    TooManyParams {
        /// Bound application items.
        application: usize,
        /// keyhole's own `kh_*` items.
        keyhole: usize,
        /// Their sum.
        total: usize,
        /// The most keyhole reads.
        max: usize,
    },
    #[error(
        "the URL's path and query would be {length} bytes, more than the {max} keyhole reads; keyhole would deny it as uri-too-long"
    )]
    /// A path and query longer than keyhole reads (`uri-too-long`).
    UriTooLong {
        /// The URL's length in bytes.
        length: usize,
        /// The most keyhole reads.
        max: usize,
    },
    #[error(
        "{field} {value} has more than 12 digits (milliseconds?); keyhole would deny it as malformed"
    )]
    /// An expiry or not-before of more than 12 digits.
    TimestampTooLarge {
        /// `expiry` or `not-before`.
        field: &'static str,
        /// The timestamp.
        value: u64,
    },
    #[error(
        "not-before {nbf} is after the expiry {exp}: the URL would never be valid (keyhole would deny it as not-yet-valid, then expired)"
    )]
    /// A not-before after the expiry.
    NotBeforeAfterExpiry {
        /// The not-before.
        nbf: u64,
        /// The expiry.
        exp: u64,
    },
    #[error("keyhole would deny the signed URL as {0}")]
    /// The verifier's own parsers refuse the URL (the reason keyhole would give).
    WouldBeDenied(Deny),
    #[error(transparent)]
    /// The key is an Ed25519 public key: it cannot sign.
    VerifyOnlyKey(#[from] VerifyOnlyKey),
}

/// The items of an application query to bind, checked against the verifier's query
/// rules; `kh_*` and the default JWT parameter names are refused.
fn application_items(query: &str) -> Result<Vec<&str>, SignError> {
    if query.is_empty() {
        return Ok(Vec::new());
    }
    if !query.bytes().all(|b| b.is_ascii_graphic() && b != b'#') {
        return Err(SignError::QueryNotVisibleAscii {
            query: query.to_owned(),
        });
    }
    let items: Vec<&str> = query.split('&').collect();
    if items.iter().any(|item| item.is_empty()) {
        return Err(SignError::QueryEmptyItem {
            query: query.to_owned(),
        });
    }
    for item in &items {
        let name = item.split_once('=').map_or(*item, |(name, _)| name);
        if name.starts_with(PARAM_PREFIX) {
            return Err(SignError::ReservedQueryParam {
                item: (*item).to_owned(),
            });
        }
        if name == crate::verify::jwt::DEFAULT_PARAM {
            return Err(SignError::JwtParamInQuery {
                item: (*item).to_owned(),
                param: name.to_owned(),
            });
        }
    }
    Ok(items)
}

/// Signs a grant with `key`; returns the URL's path and query (`/a.jpg?kh_v=1&…`).
///
/// Refuses (with [`SignError`]) every URL keyhole would deny whatever its
/// configuration: a path outside the scope, a bound query with `kh_*`, `token`, empty
/// items or bytes keyhole refuses, more than [`MAX_PARAMS`] query items counting
/// keyhole's own, more than 8,192 bytes of path and query, a timestamp of
/// more than 12 digits, a not-before after the expiry. It has no clock: an expiry in
/// the past and one beyond `KEYHOLE_MAX_LIFETIME` are the caller's to refuse.
pub fn sign(grant: &UrlGrant, key: &Key) -> Result<String, SignError> {
    if let Some(scope) = &grant.scope {
        if !scope.contains(&grant.path) {
            return Err(SignError::PathOutsideScope {
                path: grant.path.to_string(),
                scope: scope.to_string(),
            });
        }
    }
    for (field, time) in [("expiry", Some(grant.exp)), ("not-before", grant.nbf)] {
        if let Some(time) = time.filter(|t| t.0 > MAX_TIMESTAMP) {
            return Err(SignError::TimestampTooLarge {
                field,
                value: time.0,
            });
        }
    }
    if let Some(nbf) = grant.nbf.filter(|nbf| *nbf > grant.exp) {
        return Err(SignError::NotBeforeAfterExpiry {
            nbf: nbf.0,
            exp: grant.exp.0,
        });
    }
    let items = application_items(grant.query.as_deref().unwrap_or(""))?;
    let default_methods = Methods::default_methods();
    let fields = SignedFields {
        kid: key.kid.as_str(),
        target: match &grant.scope {
            Some(scope) => TargetRef::Scope(scope),
            None => TargetRef::Path(&grant.path),
        },
        exp: grant.exp,
        nbf: grant.nbf,
        ip: grant.ip,
        methods: grant.methods.as_ref().unwrap_or(&default_methods),
        query: grant.query.as_deref(),
        host: grant.host.as_ref(),
    };
    let signature = mac::sign(&fields, key)?;

    let mut params = vec![
        "kh_v=1".to_owned(),
        format!("kh_kid={}", key.kid),
        format!("kh_exp={}", grant.exp.0),
    ];
    if let Some(nbf) = grant.nbf {
        params.push(format!("kh_nbf={}", nbf.0));
    }
    if let Some(scope) = &grant.scope {
        params.push(format!(
            "kh_scope={}",
            encode_query_value(&scope.to_url_form())
        ));
    }
    if let Some(ip) = &grant.ip {
        params.push(format!("kh_ip={ip}"));
    }
    if let Some(methods) = &grant.methods {
        params.push(format!("kh_m={}", methods.as_str()));
    }
    if grant.query.is_some() {
        params.push("kh_q=1".to_owned());
    }
    if let Some(host) = &grant.host {
        params.push(format!("kh_host={host}"));
    }
    params.push(format!("kh_sig={signature}"));
    let total = items.len() + params.len();
    if total > MAX_PARAMS {
        return Err(SignError::TooManyParams {
            application: items.len(),
            keyhole: params.len(),
            total,
            max: MAX_PARAMS,
        });
    }
    let mut url = grant.path.to_url_form();
    url.push('?');
    for item in items
        .iter()
        .copied()
        .chain(params.iter().map(String::as_str))
    {
        if !url.ends_with('?') {
            url.push('&');
        }
        url.push_str(item);
    }
    if url.len() > MAX_URI_LEN {
        return Err(SignError::UriTooLong {
            length: url.len(),
            max: MAX_URI_LEN,
        });
    }
    // Belt and braces: the URL must pass the verifier's own parsers before any key or
    // time is consulted.
    let target = crate::request::Target::parse(url.as_bytes()).map_err(SignError::WouldBeDenied)?;
    CanonicalPath::parse(target.raw_path).map_err(SignError::WouldBeDenied)?;
    SignedUrl::parse(&target.params).map_err(SignError::WouldBeDenied)?;
    Ok(url)
}

/// A path in URL form made safe as a query value: `&`, `=` and `+` are escaped too.
fn encode_query_value(url_form: &str) -> String {
    url_form
        .replace('&', "%26")
        .replace('=', "%3D")
        .replace('+', "%2B")
}

#[cfg(test)]
mod tests;
