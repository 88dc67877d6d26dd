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
use crate::request::{AuthRequest, Param};
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

/// A client address binding: one address or a network.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IpBinding(IpNet);

impl IpBinding {
    /// Parses `ADDR` or `ADDR/PREFIX` in canonical text form (as Rust prints it: IPv6
    /// compressed and lower-case, no host bits set, no IPv4-mapped IPv6).
    pub fn parse(text: &str) -> Result<Self, Deny> {
        let net = match text.parse::<IpAddr>() {
            Ok(addr) => IpNet::from(addr),
            Err(_) => text.parse::<IpNet>().map_err(|_| Deny::Malformed)?,
        };
        let mapped = matches!(net.addr(), IpAddr::V6(v6) if v6.to_ipv4_mapped().is_some());
        if mapped || net.trunc() != net || IpBinding(net).to_string() != text {
            return Err(Deny::Malformed);
        }
        Ok(IpBinding(net))
    }

    /// Whether the client address lies in this binding.
    pub fn contains(&self, ip: &IpAddr) -> bool {
        self.0.contains(ip)
    }
}

impl fmt::Display for IpBinding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.prefix_len() == self.0.max_prefix_len() {
            write!(f, "{}", self.0.addr())
        } else {
            write!(f, "{}", self.0)
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

/// Why a URL could not be signed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SignError {
    #[error("path `{path}` is not inside scope `{scope}`")]
    PathOutsideScope { path: String, scope: String },
    #[error("the query to bind must not contain keyhole's own `kh_` parameters")]
    ReservedQueryParam,
    #[error("the query to bind is not a plain `name=value&…` string: {0}")]
    BadQuery(Deny),
}

/// Signs a grant with `key`; returns the URL's path and query (`/a.jpg?kh_v=1&…`).
pub fn sign(grant: &UrlGrant, key: &Key) -> Result<String, SignError> {
    if let Some(scope) = &grant.scope {
        if !scope.contains(&grant.path) {
            return Err(SignError::PathOutsideScope {
                path: grant.path.to_string(),
                scope: scope.to_string(),
            });
        }
    }
    let app_query = match &grant.query {
        Some(query) if !query.is_empty() => {
            let target = format!("/?{query}");
            let parsed =
                crate::request::Target::parse(target.as_bytes()).map_err(SignError::BadQuery)?;
            if is_present(&parsed.params) {
                return Err(SignError::ReservedQueryParam);
            }
            Some(query.as_str())
        }
        _ => None,
    };
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
        query: grant.query.as_ref().map(|_| app_query.unwrap_or("")),
    };
    let signature = URL_SAFE_NO_PAD.encode(mac_of(&fields, key).finalize().into_bytes());

    let mut url = grant.path.to_url_form();
    url.push('?');
    if let Some(query) = app_query {
        url.push_str(query);
        url.push('&');
    }
    url.push_str(&format!("kh_v=1&kh_kid={}&kh_exp={}", key.kid, grant.exp.0));
    if let Some(nbf) = grant.nbf {
        url.push_str(&format!("&kh_nbf={}", nbf.0));
    }
    if let Some(scope) = &grant.scope {
        url.push_str(&format!(
            "&kh_scope={}",
            encode_query_value(&scope.to_url_form())
        ));
    }
    if let Some(ip) = &grant.ip {
        url.push_str(&format!("&kh_ip={ip}"));
    }
    if let Some(methods) = &grant.methods {
        url.push_str(&format!("&kh_m={}", methods.as_str()));
    }
    if grant.query.is_some() {
        url.push_str("&kh_q=1");
    }
    url.push_str(&format!("&kh_sig={signature}"));
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
        assert!(IpBinding::parse("10.0.0.1").is_ok());
        assert!(IpBinding::parse("2001:db8::/32").is_ok());
        for bad in [
            "10.0.0.1/8",
            "010.0.0.1",
            "2001:DB8::1",
            "::ffff:1.2.3.4",
            "10.0.0.0/33",
            "x",
        ] {
            assert_eq!(IpBinding::parse(bad), Err(Deny::Malformed), "{bad}");
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
        let mut g = grant("/u2/a");
        g.scope = Some(Scope::parse(b"/u1/").unwrap());
        assert!(matches!(
            sign(&g, ring().signing_key()),
            Err(SignError::PathOutsideScope { .. })
        ));
        let mut g = grant("/a");
        g.query = Some("kh_sig=x".into());
        assert_eq!(
            sign(&g, ring().signing_key()),
            Err(SignError::ReservedQueryParam)
        );
    }
}
