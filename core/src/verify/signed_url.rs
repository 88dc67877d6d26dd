//! Signed URL format v1: parsing the `kh_*` query parameters, the exact bytes the
//! HMAC covers, verification, and signing. `docs/signed-urls.md` is the normative
//! description; `tests/vectors/signed-urls.json` pins it.
//!
//! Both [`sign`] and [`SignedUrl::verify`] build the signed bytes with
//! [`string_to_sign`], so the two can never disagree about a field.

use std::fmt;
use std::net::IpAddr;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::Mac;
use ipnet::IpNet;

use crate::canonical::{self, CanonicalPath, Scope};
use crate::clock::UnixTime;
use crate::decision::{Credential, Deny, Grant};
use crate::keys::{Key, KeyId, KeyRing};
use crate::request::{AuthRequest, MAX_PARAMS, MAX_URI_LEN, Param};
use crate::verify::Policy;

/// Every keyhole query parameter starts with this prefix; the namespace is reserved.
pub const PARAM_PREFIX: &str = "kh_";

/// The first line of the signed bytes; it changes with every format version.
pub const DOMAIN_V1: &str = "keyhole-url-v1";

/// Length of the base64url signature (32 bytes of HMAC-SHA256, no padding).
pub const SIGNATURE_LEN: usize = 43;

/// Most digits in a timestamp (enough until the year 33658).
const MAX_TIMESTAMP_DIGITS: usize = 12;

/// Methods allowed when the URL does not say (`kh_m` absent).
pub const DEFAULT_METHODS: &str = "GET,HEAD";

/// Most methods in `kh_m`.
const MAX_METHODS: usize = 8;

/// What a signature grants access to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// Exactly this path (the request's own path).
    Path(CanonicalPath),
    /// Every path below this prefix.
    Scope(Scope),
}

/// A client address binding: one address or a network, remembered exactly as written.
///
/// The signed bytes' `ip:` line is the `kh_ip` value as sent, so `127.0.0.1` and
/// `127.0.0.1/32` bind the same address but are different (and differently signed)
/// texts. Each accepted text is the one canonical spelling of its address and prefix
/// (docs/signed-urls.md, `kh_ip`), so printing the binding gives back the exact text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IpBinding {
    /// The address, or the network with its prefix (a bare address is a full prefix).
    net: IpNet,
    /// Whether the text carried `/PREFIX`: needed to give back `127.0.0.1/32` rather
    /// than `127.0.0.1`, since both are accepted.
    prefix_written: bool,
}

impl IpBinding {
    /// Parses `ADDR` or `ADDR/PREFIX` in canonical text: IPv4 dotted decimal without
    /// leading zeros; IPv6 in RFC 5952 hex form (lower case, longest zero run
    /// compressed, no dotted IPv4 part, no zone); a prefix length in decimal without
    /// leading zeros, 0 up to the full length; no host bits set; no IPv4-mapped IPv6.
    pub fn parse(text: &str) -> Result<Self, Deny> {
        let binding = match text.parse::<IpAddr>() {
            Ok(addr) => IpBinding {
                net: IpNet::from(addr),
                prefix_written: false,
            },
            Err(_) => IpBinding {
                net: text.parse::<IpNet>().map_err(|_| Deny::Malformed)?,
                prefix_written: true,
            },
        };
        let net = binding.net;
        let mapped = matches!(net.addr(), IpAddr::V6(v6) if v6.to_ipv4_mapped().is_some());
        // Rust prints the one canonical text of an address or network, so comparing
        // refuses upper case, leading zeros, uncompressed or dotted IPv6 and `/08`.
        if mapped || net.trunc() != net || binding.to_string() != text {
            return Err(Deny::Malformed);
        }
        Ok(binding)
    }

    /// Whether the client address lies in this binding.
    pub fn contains(&self, ip: &IpAddr) -> bool {
        self.net.contains(ip)
    }
}

impl fmt::Display for IpBinding {
    /// The text as written in `kh_ip`, which is also the signed `ip:` line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.prefix_written {
            write!(f, "{}", self.net)
        } else {
            write!(f, "{}", self.net.addr())
        }
    }
}

/// A validated `kh_m` list: upper-case method names, comma-separated, no repeats.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Methods(std::borrow::Cow<'static, str>);

impl Methods {
    /// Parses a method list such as `GET,HEAD`.
    pub fn parse(text: &str) -> Result<Self, Deny> {
        let names: Vec<&str> = text.split(',').collect();
        let well_formed = names.len() <= MAX_METHODS
            && names.iter().all(|name| {
                !name.is_empty() && name.len() <= 16 && name.bytes().all(|b| b.is_ascii_uppercase())
            });
        let unique = names
            .iter()
            .enumerate()
            .all(|(i, name)| !names.iter().take(i).any(|n| n == name));
        if !well_formed || !unique {
            return Err(Deny::Malformed);
        }
        Ok(Methods(std::borrow::Cow::Owned(text.to_owned())))
    }

    /// The default, `GET,HEAD`.
    pub fn default_methods() -> Self {
        // Borrowed: the default costs no allocation on the request path.
        Methods(std::borrow::Cow::Borrowed(DEFAULT_METHODS))
    }

    /// Whether `method` is in the list.
    pub fn allows(&self, method: &str) -> bool {
        self.0.split(',').any(|name| name == method)
    }

    /// The list as written in the URL and the signed bytes.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

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
    /// The decoded `kh_sig`.
    signature: [u8; 32],
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
}

/// A borrowed [`Target`].
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
    let mut out = Vec::with_capacity(256);
    write_signed_bytes(fields, &mut |bytes| out.extend_from_slice(bytes));
    String::from_utf8_lossy(&out).into_owned()
}

/// Feeds the signed bytes to `sink` piece by piece, so that signing and verifying can
/// stream them into the MAC without building a string first.
pub fn write_signed_bytes(fields: &SignedFields<'_>, sink: &mut dyn FnMut(&[u8])) {
    let mut numbers = itoa::Buffer::new();
    sink(DOMAIN_V1.as_bytes());
    sink(b"\nkid:");
    sink(fields.kid.as_bytes());
    match fields.target {
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
    sink(numbers.format(fields.exp.0).as_bytes());
    sink(b"\nnbf:");
    if let Some(nbf) = fields.nbf {
        sink(numbers.format(nbf.0).as_bytes());
    }
    sink(b"\nip:");
    if let Some(ip) = fields.ip {
        sink(ip.to_string().as_bytes());
    }
    sink(b"\nmethods:");
    sink(fields.methods.as_str().as_bytes());
    match fields.query {
        Some(query) => {
            sink(b"\nbind-query:1\nquery:");
            sink(query.as_bytes());
        }
        None => sink(b"\nbind-query:0\nquery:"),
    }
}

/// HMAC-SHA256 of the signed bytes under `key`.
fn mac_of(fields: &SignedFields<'_>, key: &Key) -> crate::keys::HmacSha256 {
    let mut mac = key.mac();
    write_signed_bytes(fields, &mut |bytes| mac.update(bytes));
    mac
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
        }
    }

    /// Checks the signature first, then every claim, against the request. The grant
    /// is cacheable until the expiry unless the URL is bound to a client address (the
    /// only field that depends on more than the URL).
    pub fn verify(
        &self,
        request: &AuthRequest<'_>,
        keys: &KeyRing,
        policy: &Policy,
        now: UnixTime,
    ) -> Result<Grant, Deny> {
        self.verify_claims(request, keys, policy, now)?;
        if let Some(scope) = &self.scope {
            if !scope.contains(&request.path) {
                return Err(Deny::OutOfScope);
            }
        }
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
        self.verify_claims(request, keys, policy, now)?;
        Ok((scope, self.exp))
    }

    /// Key, signature, then time, address and method; not the path's containment.
    fn verify_claims(
        &self,
        request: &AuthRequest<'_>,
        keys: &KeyRing,
        policy: &Policy,
        now: UnixTime,
    ) -> Result<(), Deny> {
        let key = keys.find(self.kid).ok_or(Deny::UnknownKey)?;
        mac_of(&self.fields(&request.path), key)
            .verify_slice(&self.signature)
            .map_err(|_| Deny::BadSignature)?;
        if now.minus(policy.leeway) > self.exp {
            return Err(Deny::Expired);
        }
        if let Some(nbf) = self.nbf {
            if now.plus(policy.leeway) < nbf {
                return Err(Deny::NotYetValid);
            }
        }
        if self.exp > now.plus(policy.max_lifetime) {
            return Err(Deny::TtlTooLong);
        }
        if let Some(ip) = &self.ip {
            if !ip.contains(&request.client_ip) {
                return Err(Deny::IpMismatch);
            }
        }
        if !self.methods.allows(request.method) {
            return Err(Deny::MethodNotAllowed);
        }
        Ok(())
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
    sig: Option<&'a str>,
}

/// Plain decimal digits, 1 to 12 of them, no leading zero (except `0` itself).
pub(crate) fn parse_timestamp(text: &str) -> Result<UnixTime, Deny> {
    let digits_only = !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit());
    let leading_zero = text.len() > 1 && text.starts_with('0');
    if !digits_only || leading_zero || text.len() > MAX_TIMESTAMP_DIGITS {
        return Err(Deny::Malformed);
    }
    text.parse().map(UnixTime).map_err(|_| Deny::Malformed)
}

/// Exactly 43 base64url characters in canonical form (no padding, no stray bits).
pub(crate) fn parse_signature(text: &str) -> Result<[u8; 32], Deny> {
    if text.len() != SIGNATURE_LEN {
        return Err(Deny::Malformed);
    }
    let mut out = [0u8; 32];
    match URL_SAFE_NO_PAD.decode_slice(text, &mut out) {
        Ok(32) => Ok(out),
        _ => Err(Deny::Malformed),
    }
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
        }
    }
}

/// Largest timestamp with at most 12 digits (`kh_exp`, `kh_nbf`).
pub const MAX_TIMESTAMP: u64 = 999_999_999_999;

/// Why a URL could not be signed: each is a URL keyhole would deny whatever its
/// configuration, named with the rule, the value and the reason code keyhole would give.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SignError {
    #[error("path `{path}` is not inside scope `{scope}`; keyhole would deny it as out-of-scope")]
    PathOutsideScope { path: String, scope: String },
    #[error(
        "the bound query's item `{item}` uses keyhole's reserved `kh_` prefix; keyhole would deny the URL as duplicate-param or malformed"
    )]
    ReservedQueryParam { item: String },
    #[error(
        "the bound query's item `{item}` is named like the JWT parameter `{param}`; with JWTs enabled keyhole would deny the URL as ambiguous-credential (rename the application parameter)"
    )]
    JwtParamInQuery { item: String, param: String },
    #[error(
        "the bound query `{query}` must be percent-encoded visible ASCII (0x21-0x7E) without `#`; keyhole would deny it as malformed"
    )]
    QueryNotVisibleAscii { query: String },
    #[error(
        "the bound query `{query}` has an empty item (`&&`, or `&` at either end); keyhole would deny it as malformed"
    )]
    QueryEmptyItem { query: String },
    #[error(
        "the URL would carry {total} query items ({application} bound application items and {keyhole} of keyhole's own), more than the {max} keyhole reads; keyhole would deny it as too-many-params"
    )]
    TooManyParams {
        application: usize,
        keyhole: usize,
        total: usize,
        max: usize,
    },
    #[error(
        "the URL's path and query would be {length} bytes, more than the {max} keyhole reads; keyhole would deny it as uri-too-long"
    )]
    UriTooLong { length: usize, max: usize },
    #[error(
        "{field} {value} has more than 12 digits (milliseconds?); keyhole would deny it as malformed"
    )]
    TimestampTooLarge { field: &'static str, value: u64 },
    #[error(
        "not-before {nbf} is after the expiry {exp}: the URL would never be valid (keyhole would deny it as not-yet-valid, then expired)"
    )]
    NotBeforeAfterExpiry { nbf: u64, exp: u64 },
    #[error("keyhole would deny the signed URL as {0}")]
    WouldBeDenied(Deny),
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
/// keyhole's own, more than [`MAX_URI_LEN`] bytes of path and query, a timestamp of
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
    };
    let signature = URL_SAFE_NO_PAD.encode(mac_of(&fields, key).finalize().into_bytes());

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

/// Percent-encodes a decoded path for a URL (re-exported for signers).
pub fn encode_path(decoded: &str) -> String {
    canonical::encode(decoded)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::NginxHeaders;

    const SECRET: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8";
    const NOW: UnixTime = UnixTime(1_800_000_000);

    fn ring() -> KeyRing {
        KeyRing::parse(&format!("k1:{SECRET}")).unwrap()
    }

    fn policy() -> Policy {
        Policy {
            leeway: 30,
            max_lifetime: 7 * 86400,
            max_cache: 60,
        }
    }

    fn grant(path: &str) -> UrlGrant {
        UrlGrant::new(
            CanonicalPath::parse(path.as_bytes()).unwrap(),
            NOW.plus(600),
        )
    }

    fn check(uri: &str, method: &str, ip: &str) -> Result<Credential, Deny> {
        check_grant(uri, method, ip).map(|grant| grant.credential)
    }

    fn check_grant(uri: &str, method: &str, ip: &str) -> Result<Grant, Deny> {
        let headers = NginxHeaders::new(uri.as_bytes(), method.as_bytes(), ip.as_bytes());
        let request = headers.parse()?;
        SignedUrl::parse(&request.params)?.verify(&request, &ring(), &policy(), NOW)
    }

    fn signed(grant: &UrlGrant) -> String {
        sign(grant, ring().signing_key()).unwrap()
    }

    #[test]
    fn a_signed_url_verifies() {
        let url = signed(&grant("/a/b.jpg"));
        assert_eq!(check(&url, "GET", "10.1.1.1"), Ok(Credential::SignedUrl));
        assert_eq!(check(&url, "HEAD", "10.1.1.1"), Ok(Credential::SignedUrl));
        assert_eq!(check(&url, "POST", "10.1.1.1"), Err(Deny::MethodNotAllowed));
        assert_eq!(
            check(&url.replace("/a/b.jpg", "/a/c.jpg"), "GET", "1.1.1.1"),
            Err(Deny::BadSignature)
        );
    }

    #[test]
    fn only_unbound_urls_are_cacheable_and_only_until_expiry() {
        let g = grant("/a");
        assert_eq!(
            check_grant(&signed(&g), "GET", "1.1.1.1")
                .unwrap()
                .cacheable_until,
            Some(g.exp)
        );
        let mut g = grant("/a");
        g.ip = Some(IpBinding::parse("1.1.1.1").unwrap());
        assert_eq!(
            check_grant(&signed(&g), "GET", "1.1.1.1")
                .unwrap()
                .cacheable_until,
            None
        );
    }

    #[test]
    fn moving_digits_between_fields_breaks_the_signature() {
        let mut g = grant("/a/b1");
        g.exp = UnixTime(1_800_000_234);
        let url = signed(&g);
        let moved = url
            .replace("/a/b1?", "/a/b12?")
            .replace("kh_exp=1800000234", "kh_exp=180000234");
        assert_eq!(check(&moved, "GET", "1.1.1.1"), Err(Deny::BadSignature));
    }

    #[test]
    fn time_rules() {
        let mut g = grant("/a");
        g.exp = NOW.minus(31);
        assert_eq!(check(&signed(&g), "GET", "1.1.1.1"), Err(Deny::Expired));
        g.exp = NOW.minus(30);
        assert_eq!(
            check(&signed(&g), "GET", "1.1.1.1"),
            Ok(Credential::SignedUrl)
        );
        g.exp = NOW.plus(7 * 86400 + 1);
        assert_eq!(check(&signed(&g), "GET", "1.1.1.1"), Err(Deny::TtlTooLong));
        g.exp = NOW.plus(60);
        g.nbf = Some(NOW.plus(31));
        assert_eq!(check(&signed(&g), "GET", "1.1.1.1"), Err(Deny::NotYetValid));
        g.nbf = Some(NOW.plus(30));
        assert_eq!(
            check(&signed(&g), "GET", "1.1.1.1"),
            Ok(Credential::SignedUrl)
        );
    }

    #[test]
    fn scope_ip_and_query_bindings() {
        let mut g = grant("/u1/a.jpg");
        g.scope = Some(Scope::parse(b"/u1/").unwrap());
        let url = signed(&g);
        assert_eq!(
            check(&url.replace("/u1/a.jpg", "/u1/b/c.jpg"), "GET", "1.1.1.1"),
            Ok(Credential::SignedUrl)
        );
        assert_eq!(
            check(&url.replace("/u1/a.jpg", "/u10/x"), "GET", "1.1.1.1"),
            Err(Deny::OutOfScope)
        );

        let mut g = grant("/a");
        g.ip = Some(IpBinding::parse("10.0.0.0/8").unwrap());
        let url = signed(&g);
        assert_eq!(check(&url, "GET", "10.9.9.9"), Ok(Credential::SignedUrl));
        assert_eq!(check(&url, "GET", "11.0.0.1"), Err(Deny::IpMismatch));

        let mut g = grant("/a");
        g.query = Some("w=100&h=50".into());
        let url = signed(&g);
        assert!(url.starts_with("/a?w=100&h=50&kh_v=1"), "{url}");
        assert_eq!(check(&url, "GET", "1.1.1.1"), Ok(Credential::SignedUrl));
        assert_eq!(
            check(&url.replace("w=100", "w=900"), "GET", "1.1.1.1"),
            Err(Deny::BadSignature)
        );
        assert_eq!(
            check(&format!("{url}&x=1"), "GET", "1.1.1.1"),
            Err(Deny::BadSignature)
        );

        // Unbound: extra application parameters do not matter.
        let url = signed(&grant("/a"));
        assert_eq!(
            check(&format!("{url}&v=2"), "GET", "1.1.1.1"),
            Ok(Credential::SignedUrl)
        );
    }

    #[test]
    fn strict_parsing() {
        let url = signed(&grant("/a"));
        let exp = format!("kh_exp={}", NOW.plus(600).0);
        for (bad, reason) in [
            (format!("{url}&{exp}"), Deny::DuplicateParam),
            (url.replace(&exp, "kh_exp=+1800000600"), Deny::Malformed),
            (url.replace(&exp, "kh_exp=01800000600"), Deny::Malformed),
            (url.replace(&exp, "kh_exp=1800000600000"), Deny::Malformed),
            (url.replace(&exp, "kh_exp="), Deny::Malformed),
            (url.replace("kh_v=1", "kh_v=2"), Deny::UnsupportedVersion),
            (url.replace("kh_v=1", "kh_v=x"), Deny::Malformed),
            (url.replace("kh_v=1&", ""), Deny::Malformed),
            (url.replace("kh_kid=k1", "kh_kid=k9"), Deny::UnknownKey),
            (url.replace("kh_kid=k1", "kh_kid=k%31"), Deny::Malformed),
            (format!("{url}&kh_extra=1"), Deny::Malformed),
            (format!("{url}A"), Deny::Malformed),
            (url[..url.len() - 1].to_owned(), Deny::Malformed),
        ] {
            assert_eq!(check(&bad, "GET", "1.1.1.1"), Err(reason), "{bad}");
        }
    }

    #[test]
    fn signature_must_be_canonical_base64url() {
        let url = signed(&grant("/a"));
        let (head, sig) = url.split_once("kh_sig=").unwrap();
        // Flip the last character to one that decodes to the same bytes with stray bits.
        let last = sig.chars().last().unwrap();
        let alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let index = alphabet.find(last).unwrap();
        let stray = alphabet.chars().nth(index ^ 1).unwrap();
        let tampered = format!("{head}kh_sig={}{stray}", &sig[..sig.len() - 1]);
        assert_eq!(check(&tampered, "GET", "1.1.1.1"), Err(Deny::Malformed));
        let padded = format!("{head}kh_sig={}=", &sig[..sig.len() - 1]);
        assert_eq!(check(&padded, "GET", "1.1.1.1"), Err(Deny::Malformed));
        let encoded = format!("{head}kh_sig={}%2D", &sig[..sig.len() - 1]);
        assert_eq!(check(&encoded, "GET", "1.1.1.1"), Err(Deny::Malformed));
    }

    #[test]
    fn ip_bindings_must_be_canonical() {
        for good in [
            "10.0.0.1",
            "2001:db8::/32",
            "0.0.0.0/0",
            "::/0",
            "::102:304",
            "64:ff9b::c000:201",
        ] {
            assert_eq!(
                IpBinding::parse(good).map(|ip| ip.to_string()),
                Ok(good.to_owned())
            );
        }
        for bad in [
            "10.0.0.1/8",
            "010.0.0.1",
            "2001:DB8::1",
            "2001:0db8::1",
            "0:0:0:0:0:0:0:1",
            "::ffff:1.2.3.4",
            "::ffff:102:304",
            "::ffff:0:0/96",
            "::1.2.3.4",
            "64:ff9b::192.0.2.1",
            "fe80::1%eth0",
            "10.0.0.0/08",
            "2001:db8::/032",
            "10.0.0.0/33",
            "::/129",
            "10.0.0.0/",
            " 10.0.0.1",
            "x",
        ] {
            assert_eq!(IpBinding::parse(bad), Err(Deny::Malformed), "{bad}");
        }
    }

    /// Regression: an outside signer's `kh_ip=127.0.0.1/32` and `::1/128` were refused
    /// as `malformed` although the doc's rule for networks allows them.
    #[test]
    fn full_length_prefixes_are_networks_signed_as_written() {
        for (text, client, other) in [
            ("127.0.0.1/32", "127.0.0.1", "127.0.0.2"),
            ("::1/128", "::1", "::2"),
        ] {
            let ip = IpBinding::parse(text).unwrap();
            assert_eq!(ip.to_string(), text);
            let bare = IpBinding::parse(text.split('/').next().unwrap()).unwrap();
            assert_ne!(ip, bare, "the text as sent is what is signed");
            let mut g = grant("/a");
            g.ip = Some(ip);
            let url = signed(&g);
            assert!(url.contains(&format!("&kh_ip={text}&")), "{url}");
            let default_methods = Methods::default_methods();
            let fields = SignedFields {
                kid: "k1",
                target: TargetRef::Path(&g.path),
                exp: g.exp,
                nbf: None,
                ip: g.ip,
                methods: &default_methods,
                query: None,
            };
            assert!(string_to_sign(&fields).contains(&format!("\nip:{text}\n")));
            assert_eq!(check(&url, "GET", client), Ok(Credential::SignedUrl));
            assert_eq!(check(&url, "GET", other), Err(Deny::IpMismatch));
            // The same address signed bare is another text: swapping them breaks the MAC.
            let bare_text = text.split('/').next().unwrap();
            assert_eq!(
                check(
                    &url.replace(&format!("kh_ip={text}"), &format!("kh_ip={bare_text}")),
                    "GET",
                    client
                ),
                Err(Deny::BadSignature)
            );
        }
    }

    #[test]
    fn methods_must_be_distinct_upper_case_names() {
        assert!(Methods::parse("GET").is_ok());
        for bad in ["get", "GET,GET", "GET,", "", "GET HEAD"] {
            assert_eq!(Methods::parse(bad), Err(Deny::Malformed), "{bad}");
        }
    }

    #[test]
    fn sign_refuses_what_verify_would_refuse() {
        let key = ring();
        let key = key.signing_key();
        let mut g = grant("/u2/a");
        g.scope = Some(Scope::parse(b"/u1/").unwrap());
        assert!(matches!(
            sign(&g, key),
            Err(SignError::PathOutsideScope { .. })
        ));
        for (query, expected) in [
            (
                "kh_sig=x",
                SignError::ReservedQueryParam {
                    item: "kh_sig=x".into(),
                },
            ),
            (
                "a=1&kh_q",
                SignError::ReservedQueryParam {
                    item: "kh_q".into(),
                },
            ),
            (
                "token=abc",
                SignError::JwtParamInQuery {
                    item: "token=abc".into(),
                    param: "token".into(),
                },
            ),
            (
                "a&&b",
                SignError::QueryEmptyItem {
                    query: "a&&b".into(),
                },
            ),
            ("a&", SignError::QueryEmptyItem { query: "a&".into() }),
            (
                "a b",
                SignError::QueryNotVisibleAscii {
                    query: "a b".into(),
                },
            ),
            (
                "a#b",
                SignError::QueryNotVisibleAscii {
                    query: "a#b".into(),
                },
            ),
        ] {
            let mut g = grant("/a");
            g.query = Some(query.into());
            assert_eq!(sign(&g, key), Err(expected), "{query}");
        }
        let mut g = grant("/a");
        g.exp = UnixTime(MAX_TIMESTAMP + 1);
        assert!(matches!(
            sign(&g, key),
            Err(SignError::TimestampTooLarge { .. })
        ));
        let mut g = grant("/a");
        g.nbf = Some(g.exp.plus(1));
        assert!(matches!(
            sign(&g, key),
            Err(SignError::NotBeforeAfterExpiry { .. })
        ));
        g.nbf = Some(g.exp);
        assert!(sign(&g, key).is_ok(), "a not-before equal to the expiry");
    }

    /// Regression: `keyhole sign --query` with 96 items printed a URL keyhole denied
    /// as `too-many-params`, because keyhole's own `kh_*` items were not counted.
    #[test]
    fn sign_counts_its_own_parameters_against_the_limit() {
        let key = ring();
        let key = key.signing_key();
        // kh_v, kh_kid, kh_exp, kh_q and kh_sig: 5 of the 100 items are keyhole's.
        let mut g = grant("/a");
        g.query = Some(vec!["x=1"; MAX_PARAMS - 5].join("&"));
        let url = sign(&g, key).unwrap();
        assert_eq!(url.matches('&').count() + 1, MAX_PARAMS);
        assert_eq!(check(&url, "GET", "1.1.1.1"), Ok(Credential::SignedUrl));
        g.query = Some(vec!["x=1"; MAX_PARAMS - 4].join("&"));
        assert_eq!(
            sign(&g, key),
            Err(SignError::TooManyParams {
                application: 96,
                keyhole: 5,
                total: 101,
                max: MAX_PARAMS
            })
        );
        // Every optional field is one more item of keyhole's.
        g.query = Some(vec!["x=1"; MAX_PARAMS - 5].join("&"));
        g.methods = Some(Methods::parse("GET").unwrap());
        assert!(matches!(
            sign(&g, key),
            Err(SignError::TooManyParams { total: 101, .. })
        ));
    }

    #[test]
    fn sign_refuses_urls_longer_than_keyhole_reads() {
        let key = ring();
        let key = key.signing_key();
        let mut g = grant("/a");
        g.query = Some("x=".into());
        let overhead = sign(&g, key).unwrap().len() - "x=".len();
        g.query = Some(format!("x={}", "y".repeat(MAX_URI_LEN - overhead - 2)));
        let url = sign(&g, key).unwrap();
        assert_eq!(url.len(), MAX_URI_LEN);
        assert_eq!(check(&url, "GET", "1.1.1.1"), Ok(Credential::SignedUrl));
        g.query = Some(format!("x={}", "y".repeat(MAX_URI_LEN - overhead - 1)));
        assert_eq!(
            sign(&g, key),
            Err(SignError::UriTooLong {
                length: MAX_URI_LEN + 1,
                max: MAX_URI_LEN
            })
        );
    }
}
