//! The properties the fuzz targets check, one function per target, each taking the
//! raw fuzz input. Shared by the libFuzzer targets (`fuzz/fuzz_targets/`) and by
//! `tests/fuzz_smoke.rs`, which replays the seeds and deterministic mutations of them
//! on the stable toolchain, so the suite checks the same properties without cargo-fuzz.
//!
//! A property that does not hold panics (that is how libFuzzer sees a finding).

use std::sync::{Arc, LazyLock};

use keyhole::authorize::Authorizer;
use keyhole::canonical::{CanonicalPath, MAX_RAW_PATH_LEN, Scope, encode};
use keyhole::clock::UnixTime;
use keyhole::decision::Decision;
use keyhole::decision::{Credential, Deny};
use keyhole::keys::KeyRing;
use keyhole::keys::Secret;
use keyhole::request::{AuthRequest, Param};
use keyhole::request::{HeaderField, MAX_PARAMS, NginxHeaders, Target};
use keyhole::verify::Policy;
use keyhole::verify::cookie::{self, CookiePolicy, SignedCookie};
use keyhole::verify::jwt::{JwtKey, JwtPolicy, JwtVerifier, keys::parse_jwks};
use keyhole::verify::signed_url::{PARAM_PREFIX, SignedUrl, string_to_sign};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, DecodingKey};
use serde_json::Value;

/// The rules of docs/signed-urls.md ("Canonical paths"), restated on the decoded text
/// without calling keyhole, for a path (`scope == false`) or a scope.
fn assert_rules(decoded: &str, scope: bool) {
    assert!(decoded.starts_with('/'), "{decoded:?}: no leading slash");
    assert!(
        !decoded
            .chars()
            .any(|c| matches!(c, '\\' | ';' | '?' | '#' | '%') || c.is_control()),
        "{decoded:?}: forbidden character"
    );
    assert_eq!(decoded.ends_with('/'), scope, "{decoded:?}: wrong ending");
    let body = decoded.strip_prefix('/').unwrap_or(decoded);
    let body = if scope {
        body.strip_suffix('/').unwrap_or(body)
    } else {
        body
    };
    if scope && body.is_empty() {
        return; // `/`, the whole site.
    }
    for segment in body.split('/') {
        assert!(!segment.is_empty(), "{decoded:?}: empty segment");
        assert!(!segment.ends_with('.'), "{decoded:?}: dot segment");
    }
}

/// The canonicaliser: `CanonicalPath::parse` and `Scope::parse` on raw bytes. Every
/// accepted path obeys the rules; a path without `%` is unchanged; the signers'
/// encoding round-trips and is a fixed point; a path is never a scope, its parent
/// directory is a scope that contains it, and a scope never covers its bare name.
pub fn canonical(raw: &[u8]) {
    if let Ok(path) = CanonicalPath::parse(raw) {
        assert!(raw.len() <= MAX_RAW_PATH_LEN);
        let decoded = path.as_str();
        assert_rules(decoded, false);
        if !raw.contains(&b'%') {
            assert_eq!(decoded.as_bytes(), raw, "no escape, yet changed");
        }
        let encoded = encode(decoded);
        assert_eq!(encoded, path.to_url_form());
        // The encoding can only grow the path; the round trip must still fit.
        if encoded.len() <= MAX_RAW_PATH_LEN {
            let again = CanonicalPath::parse(encoded.as_bytes())
                .unwrap_or_else(|deny| panic!("{decoded:?} encoded as {encoded:?}: {deny:?}"));
            assert_eq!(again, path, "round trip changed the path");
            assert_eq!(again.to_url_form(), encoded, "encoding not a fixed point");
        }
        assert!(Scope::parse(raw).is_err(), "path accepted as scope");
        if let Some(at) = encoded.rfind('/') {
            let parent = encoded.get(..=at).unwrap_or_default();
            let scope = Scope::parse(parent.as_bytes())
                .unwrap_or_else(|deny| panic!("parent {parent:?} of {decoded:?}: {deny:?}"));
            assert!(scope.contains(&path), "parent scope must contain the path");
        }
    }
    if let Ok(scope) = Scope::parse(raw) {
        let decoded = scope.as_str();
        assert_rules(decoded, true);
        let encoded = scope.to_url_form();
        if encoded.len() <= MAX_RAW_PATH_LEN {
            let again = Scope::parse(encoded.as_bytes())
                .unwrap_or_else(|deny| panic!("scope {decoded:?} as {encoded:?}: {deny:?}"));
            assert_eq!(again, scope, "scope round trip changed it");
        }
        if let Some(name) = encoded.strip_suffix('/') {
            if let Ok(bare) = CanonicalPath::parse(name.as_bytes()) {
                assert!(!scope.contains(&bare), "scope covers its own bare name");
            }
        }
    }
}

/// The signed-URL parser: `request::Target::parse` then `SignedUrl::parse` on a raw
/// request target. The parameters rebuild the query byte for byte, no `kh_` field is
/// accepted twice, and the signed bytes are always the nine documented lines.
pub fn signed_url(uri: &[u8]) {
    let Ok(target) = Target::parse(uri) else {
        return;
    };
    assert!(target.params.len() <= MAX_PARAMS);
    assert!(uri.starts_with(target.raw_path));
    if !target.params.is_empty() {
        let rebuilt: Vec<&str> = target.params.iter().map(|p| p.raw).collect();
        let query = uri.get(target.raw_path.len() + 1..).unwrap_or_default();
        assert_eq!(rebuilt.join("&").as_bytes(), query, "params lost bytes");
        for param in &target.params {
            assert!(!param.raw.is_empty());
            assert!(!param.name.contains('&') && !param.value.contains('&'));
            assert!(param.raw.starts_with(param.name));
        }
    }
    let Ok(url) = SignedUrl::parse(&target.params) else {
        return;
    };
    for name in [
        "v", "kid", "exp", "nbf", "scope", "ip", "m", "q", "host", "sig",
    ] {
        let full = format!("{PARAM_PREFIX}{name}");
        let count = target.params.iter().filter(|p| p.name == full).count();
        assert!(count <= 1, "{full} accepted {count} times");
    }
    let path = CanonicalPath::parse(target.raw_path)
        .or_else(|_| CanonicalPath::parse(b"/fuzz"))
        .unwrap_or_else(|deny| panic!("fallback path refused: {deny:?}"));
    let signed = string_to_sign(&url.fields(&path));
    let labels: Vec<&str> = signed
        .split('\n')
        .map(|line| line.split(':').next().unwrap_or_default())
        .collect();
    let target_label = if url.scope.is_some() { "scope" } else { "path" };
    let mut expected = vec![
        "keyhole-url-v1",
        "kid",
        target_label,
        "exp",
        "nbf",
        "ip",
        "methods",
        "bind-query",
        "query",
    ];
    // A host-bound URL (`kh_host`) signs a tenth line, and only such a URL does.
    if url.host.is_some() {
        expected.push("host");
    }
    assert_eq!(
        labels, expected,
        "signed bytes not the nine lines, plus host when bound: {signed:?}"
    );
}

/// The key of tests/vectors/signed-urls.json, so that seeded valid URLs verify.
const KEY_LINE: &str = "k1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8";
/// The vectors' `now`.
const NOW: u64 = 1_800_000_000;

static AUTHORIZER: LazyLock<Authorizer> = LazyLock::new(|| Authorizer {
    jwt: Some(Arc::new(jwt_verifier())),
    cookies: cookie_policy(),
    ..Authorizer::new(Arc::new(key_ring()), Policy::default())
});

fn key_ring() -> KeyRing {
    KeyRing::parse(KEY_LINE).unwrap_or_else(|e| panic!("test key: {e}"))
}

fn field(shape: u8, value: &[u8]) -> HeaderField<'_> {
    match shape & 3 {
        2 => HeaderField::Missing,
        3 => HeaderField::Duplicated,
        _ => HeaderField::One(value),
    }
}

/// The whole `/auth` decision from raw header values. Input: byte 0 gives the shapes
/// of `X-Original-URI`, `X-Original-Method` and `X-Real-IP`, byte 2 those of `Cookie`,
/// `Sec-Fetch-Site` and `Referer` (two bits per header: 0 or 1 sent once, 2 missing,
/// 3 duplicated), and the top two bits of byte 0 that of `X-Original-Host` (0 missing,
/// so older seeds mean what they meant; 1 or 3 sent once, 2 duplicated); byte 1 moves
/// the clock by (byte - 128) × 10 s from the vectors' `now`; the rest is
/// `uri \n method \n ip \n cookie \n fetch-site \n referer \n host` (no field holds
/// `\n`: no HTTP header can). The authorizer knows the signed-URL key, the
/// JWT keys of [`jwt`] and the cookie policy of [`cookie`]. The decision is
/// deterministic; an allow needs headers that parse and one credential that holds
/// when re-checked independently: a `kh_sig` (signed URL), a token that verifies
/// against a configured key ([`assert_token_genuine`]), or, with neither in the URL,
/// the cookie signed by the key ([`assert_cookie_genuine`]); a cacheable allow never
/// outlives `now + max_cache` and only a signed URL is cacheable.
pub fn decide(data: &[u8]) {
    decide_allows(data);
}

/// [`decide`], answering whether the input was allowed (for the seeds' own test).
pub fn decide_allows(data: &[u8]) -> bool {
    let (shapes, clock, more_shapes, rest) = match data {
        [shapes, clock, more_shapes, rest @ ..] => (*shapes, *clock, *more_shapes, rest),
        _ => return false,
    };
    let mut fields = rest.splitn(7, |&b| b == b'\n');
    let mut next = || fields.next().unwrap_or_default();
    let (uri, method, ip) = (next(), next(), next());
    let (cookie_header, fetch_site, referer) = (next(), next(), next());
    let host = next();
    let headers = NginxHeaders {
        original_uri: field(shapes, uri),
        original_method: field(shapes >> 2, method),
        real_ip: field(shapes >> 4, ip),
        cookie: field(more_shapes, cookie_header),
        fetch_site: field(more_shapes >> 2, fetch_site),
        referer: field(more_shapes >> 4, referer),
        host: match (shapes >> 6) & 3 {
            0 => HeaderField::Missing,
            2 => HeaderField::Duplicated,
            _ => HeaderField::One(host),
        },
    };
    let now = clock_at(clock);
    let authorizer = &*AUTHORIZER;
    let decision = authorizer.decide(&headers, now);
    assert_eq!(
        decision,
        authorizer.decide(&headers, now),
        "not deterministic"
    );
    assert!(!decision.code().is_empty());
    if let Decision::Allow(grant) = &decision {
        let request = headers
            .parse()
            .unwrap_or_else(|deny| panic!("allowed, yet headers deny: {deny:?}"));
        let has = |name: &str| request.params.iter().any(|p| p.name == name);
        match grant.credential {
            Credential::SignedUrl => {
                assert!(has("kh_sig"), "signed-URL allow without kh_sig");
                assert!(!has(TOKEN_PARAM), "signed URL and token both present");
            }
            Credential::Jwt => {
                assert!(!has("kh_sig"), "token allow with a kh_sig");
                assert!(grant.cacheable_until.is_none(), "cacheable JWT allow");
                let mut tokens = request.params.iter().filter(|p| p.name == TOKEN_PARAM);
                let token = tokens.next().expect("JWT allow without a token");
                assert!(tokens.next().is_none(), "two tokens allowed");
                assert_token_genuine(token.value, &request, now);
            }
            Credential::Cookie => {
                assert!(grant.cacheable_until.is_none(), "cacheable cookie allow");
                assert!(
                    !request
                        .params
                        .iter()
                        .any(|p| p.name.starts_with(PARAM_PREFIX) || p.name == TOKEN_PARAM),
                    "cookie allow although the URL carries a credential"
                );
                assert_cookie_genuine(&request, now);
            }
        }
        if let Some(until) = grant.cacheable_until {
            assert!(until <= now.plus(authorizer.policy.max_cache));
        }
    }
    decision.is_allow()
}

/// The clock of byte `clock`: (byte - 128) × 10 s from the vectors' `now`.
fn clock_at(clock: u8) -> UnixTime {
    UnixTime(NOW.saturating_add_signed((i64::from(clock) - 128) * 10))
}

/// The JWT keys of the `jwt` and `decide` targets: HS256 under `h256` (the
/// vectors' 32-byte secret) and ES256 under `e256`, a fixed P-256 key whose private
/// half only `tests/fuzz_smoke.rs` holds (to write the seeds).
pub const JWT_HS256_SECRET: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8";
/// The ES256 public key's `x`.
pub const ES256_X: &str = "nI5oQVojOOO_j2U04eP-nzLHG6UXdRv9o25XgOhhImc";
/// The ES256 public key's `y`.
pub const ES256_Y: &str = "GlMkh-6yBVotzXPcnoinEebEvx78lI5FLHsQ2wCxPMU";
/// The default token parameter.
const TOKEN_PARAM: &str = "token";

fn jwt_verifier() -> JwtVerifier {
    let secret = Secret::from_base64url(JWT_HS256_SECRET).unwrap_or_else(|e| panic!("{e}"));
    let mut keys =
        vec![JwtKey::hmac("h256", Algorithm::HS256, &secret).unwrap_or_else(|e| panic!("{e}"))];
    let jwks = format!(
        r#"{{"keys":[{{"kty":"EC","crv":"P-256","x":"{ES256_X}","y":"{ES256_Y}","kid":"e256","alg":"ES256","use":"sig"}}]}}"#
    );
    keys.extend(parse_jwks(&jwks).unwrap_or_else(|e| panic!("{e}")));
    JwtVerifier::new(keys, JwtPolicy::default()).unwrap_or_else(|e| panic!("{e}"))
}

static JWT: LazyLock<JwtVerifier> = LazyLock::new(jwt_verifier);

/// Checks, without keyhole's verifier, that an allowed token is genuine: three
/// segments; a header (read with plain serde_json) naming `h256` with HS256 or `e256`
/// with ES256 and the keyhole `typ`; a signature over `header.payload` that verifies
/// with that key, built here from its raw material; and claims that hold at `now`
/// (audience, expiry, lifetime) and name the request's path.
fn assert_token_genuine(token: &str, request: &AuthRequest<'_>, now: UnixTime) {
    let segments: Vec<&str> = token.split('.').collect();
    let [header, payload, signature] = segments.as_slice() else {
        panic!("allowed token without three segments: {token:?}");
    };
    let json = |segment: &str| -> Value {
        let bytes = URL_SAFE_NO_PAD
            .decode(segment)
            .unwrap_or_else(|e| panic!("allowed token, segment not base64url: {e}"));
        serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("allowed, not JSON: {e}"))
    };
    let header = json(header);
    let claims = json(payload);
    let text =
        |value: &Value, name: &str| value.get(name).and_then(Value::as_str).map(str::to_owned);
    let (alg, key) = match (
        text(&header, "kid").as_deref(),
        text(&header, "alg").as_deref(),
    ) {
        (Some("h256"), Some("HS256")) => {
            let secret = URL_SAFE_NO_PAD
                .decode(JWT_HS256_SECRET)
                .unwrap_or_else(|e| panic!("{e}"));
            (Algorithm::HS256, DecodingKey::from_secret(&secret))
        }
        (Some("e256"), Some("ES256")) => (
            Algorithm::ES256,
            DecodingKey::from_ec_components(ES256_X, ES256_Y).unwrap_or_else(|e| panic!("{e}")),
        ),
        other => panic!("allowed token with kid/alg {other:?}"),
    };
    let typ = text(&header, "typ")
        .unwrap_or_default()
        .to_ascii_lowercase();
    assert!(
        typ == "keyhole+jwt" || typ == "application/keyhole+jwt",
        "allowed token with typ {typ:?}"
    );
    let message_len = token.len() - signature.len() - 1;
    let message = token.get(..message_len).unwrap_or_default();
    let genuine = jsonwebtoken::crypto::verify(signature, message.as_bytes(), &key, alg);
    assert!(
        matches!(genuine, Ok(true)),
        "allowed token whose signature does not verify: {token:?}"
    );
    let number = |name: &str| claims.get(name).and_then(Value::as_u64);
    let exp = number("exp").expect("allowed token without exp");
    let iat = number("iat").expect("allowed token without iat");
    assert!(exp + 30 >= now.0, "allowed an expired token");
    assert!(iat <= now.0 + 30, "allowed a token issued in the future");
    assert!(
        exp >= iat && exp - iat <= 300,
        "allowed too long a lifetime"
    );
    let audience_ok = match claims.get("aud") {
        Some(Value::String(aud)) => aud == "keyhole",
        Some(Value::Array(items)) => items.len() == 1 && items[0] == "keyhole",
        _ => false,
    };
    assert!(audience_ok, "allowed token for another audience");
    match (text(&claims, "kh_path"), text(&claims, "kh_scope")) {
        (Some(path), None) => assert_eq!(
            CanonicalPath::parse(path.as_bytes()).ok().as_ref(),
            Some(&request.path),
            "allowed token for another path"
        ),
        (None, Some(scope)) => assert!(
            Scope::parse(scope.as_bytes()).is_ok_and(|scope| scope.contains(&request.path)),
            "allowed token whose scope does not contain the path"
        ),
        other => panic!("allowed token with resource {other:?}"),
    }
}

/// The JWT verifier from a raw token. Input: byte 0 moves the clock as in
/// [`decide`]; byte 1 picks the request (bits 0-1: path `/protected/a.jpg`,
/// `/protected/d/c.jpg`, `/other/x`, `/protected/a.jpgx`; bit 2: GET or POST); the
/// rest is the token, given to the verifier as the `token` parameter's value exactly
/// (no query parsing in between). The verifier knows an HS256 key (`h256`) and an
/// ES256 key (`e256`). Never a panic; deterministic; the JWS layer alone
/// (`danger_verify_jws_only`) accepts whatever the whole check accepts; and an
/// allowed token is genuine ([`assert_token_genuine`]).
pub fn jwt(data: &[u8]) {
    jwt_allows(data);
}

/// [`jwt`], answering whether the token was allowed (for the seeds' own test).
pub fn jwt_allows(data: &[u8]) -> bool {
    let (clock, selector, rest) = match data {
        [clock, selector, rest @ ..] => (*clock, *selector, rest),
        _ => return false,
    };
    let Ok(token) = std::str::from_utf8(rest) else {
        return false;
    };
    let path = [
        "/protected/a.jpg",
        "/protected/d/c.jpg",
        "/other/x",
        "/protected/a.jpgx",
    ][usize::from(selector & 3)];
    let method = if selector & 4 == 0 { "GET" } else { "POST" };
    let request = AuthRequest {
        method,
        path: CanonicalPath::parse(path.as_bytes()).unwrap_or_else(|e| panic!("{e:?}")),
        params: vec![Param {
            name: TOKEN_PARAM,
            value: token,
            raw: token,
        }],
        client_ip: std::net::IpAddr::from([198, 51, 100, 1]),
        cookie: None,
        fetch_site: None,
        referer: None,
        host: None,
    };
    let now = clock_at(clock);
    let verifier = &*JWT;
    let verdict = verifier.verify(&request, now);
    assert_eq!(verdict, verifier.verify(&request, now), "not deterministic");
    let jws = verifier.danger_verify_jws_only(token);
    if verdict.is_ok() {
        assert_eq!(jws, Ok(()), "whole check allowed, JWS layer refused");
        assert_token_genuine(token, &request, now);
    }
    if token.len() > keyhole::verify::jwt::MAX_TOKEN_LEN {
        assert_eq!(verdict, Err(Deny::TokenTooLarge));
    }
    verdict.is_ok()
}

/// The allow-listed cross-site origin of the `cookie` and `decide` targets.
pub const PARTNER: &str = "https://partner.example";

fn cookie_policy() -> CookiePolicy {
    CookiePolicy {
        cross_site_allow: vec![PARTNER.to_owned()],
        ..CookiePolicy::default()
    }
}

/// Checks, without `SignedCookie::verify`, that the request's cookie is genuine: its
/// value (the one `__Host-keyhole` in the header) is byte for byte what the key signs
/// for the grant it carries, the grant holds at `now` for the request's path, and the
/// request's origin passes the site rule (restated here).
fn assert_cookie_genuine(request: &AuthRequest<'_>, now: UnixTime) {
    let header = request
        .cookie
        .expect("cookie allow without a Cookie header");
    let header = std::str::from_utf8(header).expect("cookie allow, header not UTF-8");
    let value = cookie::find(header, cookie::DEFAULT_NAME)
        .expect("cookie allow, yet the header is refused")
        .expect("cookie allow without the cookie");
    let parsed = SignedCookie::parse(&value).expect("cookie allow, value does not parse");
    let ring = key_ring();
    assert_eq!(
        cookie::sign(&parsed.grant, ring.signing_key())
            .ok()
            .as_deref(),
        Some(&*value),
        "allowed a cookie the key did not sign in this form"
    );
    assert!(
        parsed.grant.exp.0 + 30 >= now.0,
        "allowed an expired cookie"
    );
    assert!(
        parsed.grant.exp.0 <= now.0 + 24 * 3600,
        "allowed too long a cookie"
    );
    assert!(
        parsed.grant.scope.contains(&request.path),
        "cookie out of scope"
    );
    assert!(
        parsed
            .grant
            .ip
            .is_none_or(|ip| ip.contains(&request.client_ip)),
        "cookie allowed from an address outside its binding"
    );
    assert!(
        parsed.grant.methods.allows(request.method),
        "cookie allowed for a method outside its grant"
    );
    let site_ok = match request.fetch_site {
        None | Some(b"same-origin" | b"same-site" | b"none") => true,
        Some(_) => request.referer.is_some_and(|referer| {
            referer
                .strip_prefix(PARTNER.as_bytes())
                .is_some_and(|rest| rest.first().is_none_or(|b| matches!(b, b'/' | b'?' | b'#')))
        }),
    };
    assert!(site_ok, "cookie allowed for a cross-site request");
}

/// The cookie credential from raw headers. Input: byte 0 moves the clock as in
/// [`decide`]; byte 1: bit 0 sends `Sec-Fetch-Site`, bit 1 sends `Referer`, bits 2-3
/// pick the path (`/u1/a.png`, `/u1/d/b.png`, `/u2/c.png`, `/u1`); the rest is
/// `cookie-header \n fetch-site \n referer`. The cookie is found in the header
/// (`cookie::find`), the site rule checked (`CookiePolicy::check_site`, partner origin
/// allow-listed), the value parsed (`SignedCookie::parse`) and verified with the
/// signed-URL key ring. Never a panic; the same request through `Authorizer::decide`
/// gives the same verdict; an allowed cookie is genuine ([`assert_cookie_genuine`]).
pub fn cookie(data: &[u8]) {
    cookie_allows(data);
}

/// [`cookie`], answering whether the cookie was allowed (for the seeds' own test).
pub fn cookie_allows(data: &[u8]) -> bool {
    let (clock, selector, rest) = match data {
        [clock, selector, rest @ ..] => (*clock, *selector, rest),
        _ => return false,
    };
    let mut fields = rest.splitn(3, |&b| b == b'\n');
    let header = fields.next().unwrap_or_default();
    let fetch_site = fields.next().filter(|_| selector & 1 != 0);
    let referer = fields.next().filter(|_| selector & 2 != 0);
    let path = ["/u1/a.png", "/u1/d/b.png", "/u2/c.png", "/u1"][usize::from(selector >> 2 & 3)];
    let now = clock_at(clock);
    let policy = cookie_policy();
    let ring = key_ring();
    let canonical = CanonicalPath::parse(path.as_bytes()).unwrap_or_else(|e| panic!("{e:?}"));
    let verdict = std::str::from_utf8(header)
        .map_err(|_| Deny::Malformed)
        .and_then(|text| {
            let value = cookie::find(text, &policy.name)?.ok_or(Deny::MissingCredential)?;
            policy.check_site(fetch_site, referer)?;
            let signed = SignedCookie::parse(&value)?;
            let request = AuthRequest {
                method: "GET",
                path: canonical.clone(),
                params: Vec::new(),
                client_ip: std::net::IpAddr::from([198, 51, 100, 1]),
                cookie: None,
                fetch_site: None,
                referer: None,
                host: None,
            };
            let grant = signed.verify(
                &request,
                &ring,
                &Policy::default(),
                policy.max_lifetime,
                now,
            )?;
            assert_eq!(grant.credential, Credential::Cookie);
            assert!(grant.cacheable_until.is_none(), "cacheable cookie grant");
            Ok(())
        });
    fn one(value: Option<&[u8]>) -> HeaderField<'_> {
        value.map_or(HeaderField::Missing, HeaderField::One)
    }
    let headers = NginxHeaders {
        cookie: HeaderField::One(header),
        fetch_site: one(fetch_site),
        referer: one(referer),
        ..NginxHeaders::new(path.as_bytes(), b"GET", b"198.51.100.1")
    };
    let decision = AUTHORIZER.decide(&headers, now);
    match (&verdict, &decision) {
        (Ok(()), Decision::Allow(grant)) => assert_eq!(grant.credential, Credential::Cookie),
        (Err(deny), Decision::Deny(other)) => assert_eq!(deny, other, "verdicts differ"),
        other => panic!("the cookie path and decide disagree: {other:?}"),
    }
    if verdict.is_ok() {
        let request = headers.parse().unwrap_or_else(|e| panic!("{e:?}"));
        assert_cookie_genuine(&request, now);
    }
    verdict.is_ok()
}
