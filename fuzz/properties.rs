//! The properties the fuzz targets check, one function per target, each taking the
//! raw fuzz input. Shared by the libFuzzer targets (`fuzz/fuzz_targets/`) and by
//! `tests/fuzz_smoke.rs`, which replays the seeds and deterministic mutations of them
//! on the stable toolchain, so the suite checks the same properties without cargo-fuzz.
//!
//! A property that does not hold panics (that is how libFuzzer sees a finding).

use std::sync::{Arc, LazyLock};

use keyhole::canonical::{CanonicalPath, MAX_RAW_PATH_LEN, Scope, encode};
use keyhole::clock::UnixTime;
use keyhole::decision::Decision;
use keyhole::keys::KeyRing;
use keyhole::request::{HeaderField, MAX_PARAMS, NginxHeaders, Target};
use keyhole::verify::signed_url::{PARAM_PREFIX, SignedUrl, string_to_sign};
use keyhole::verify::{Authorizer, Policy};

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
    for name in ["v", "kid", "exp", "nbf", "scope", "ip", "m", "q", "sig"] {
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
    assert_eq!(
        labels,
        [
            "keyhole-url-v1",
            "kid",
            target_label,
            "exp",
            "nbf",
            "ip",
            "methods",
            "bind-query",
            "query"
        ],
        "signed bytes not nine lines: {signed:?}"
    );
}

/// The key of tests/vectors/signed-urls.json, so that seeded valid URLs verify.
const KEY_LINE: &str = "k1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8";
/// The vectors' `now`.
const NOW: u64 = 1_800_000_000;

static AUTHORIZER: LazyLock<Authorizer> = LazyLock::new(|| {
    Authorizer::new(
        Arc::new(KeyRing::parse(KEY_LINE).unwrap_or_else(|e| panic!("test key: {e}"))),
        Policy::default(),
    )
});

fn field(shape: u8, value: &[u8]) -> HeaderField<'_> {
    match shape & 3 {
        2 => HeaderField::Missing,
        3 => HeaderField::Duplicated,
        _ => HeaderField::One(value),
    }
}

/// The whole `/auth` decision from raw header values. Input: byte 0 gives each
/// header's shape (two bits per header: 0 or 1 sent once, 2 missing, 3 duplicated);
/// byte 1 moves the clock by (byte - 128) × 10 s from the vectors' `now`; the rest is
/// `uri \n method \n ip` (no field holds `\n`: no HTTP header can). The decision is
/// deterministic; an allow needs headers that parse and a `kh_sig`; a cacheable
/// allow never outlives `now + max_cache`.
pub fn decide(data: &[u8]) {
    let (shapes, clock, rest) = match data {
        [shapes, clock, rest @ ..] => (*shapes, *clock, rest),
        _ => return,
    };
    let mut fields = rest.splitn(3, |&b| b == b'\n');
    let uri = fields.next().unwrap_or_default();
    let method = fields.next().unwrap_or_default();
    let ip = fields.next().unwrap_or_default();
    let headers = NginxHeaders {
        original_uri: field(shapes, uri),
        original_method: field(shapes >> 2, method),
        real_ip: field(shapes >> 4, ip),
        cookie: HeaderField::Missing,
        fetch_site: HeaderField::Missing,
        referer: HeaderField::Missing,
    };
    let now = UnixTime(NOW.saturating_add_signed((i64::from(clock) - 128) * 10));
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
        assert!(request.params.iter().any(|p| p.name == "kh_sig"));
        if let Some(until) = grant.cacheable_until {
            assert!(until <= now.plus(authorizer.policy.max_cache));
        }
    }
}
