//! The canonicaliser: `CanonicalPath::parse` and `Scope::parse` on arbitrary bytes.
//!
//! Beyond "never panics", every accepted path must satisfy the documented rules
//! (docs/signed-urls.md, "Canonical paths") when checked independently here, and the
//! signers' encoding must round-trip: `parse(encode(decoded)) == decoded`, and the
//! encoded form is itself a fixed point.
#![no_main]

use keyhole::canonical::{CanonicalPath, MAX_RAW_PATH_LEN, Scope, encode};
use libfuzzer_sys::fuzz_target;

/// The rules of docs/signed-urls.md, restated on the decoded text (not by calling
/// keyhole), for a path (`scope == false`) or a scope.
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

fuzz_target!(|raw: &[u8]| {
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
        // A path is never a scope, and its parent directory (if any) is one.
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
        // The scope never covers its own name without the slash (`/u1/` vs `/u1`).
        if let Some(name) = encoded.strip_suffix('/') {
            if let Ok(bare) = CanonicalPath::parse(name.as_bytes()) {
                assert!(!scope.contains(&bare), "scope covers its own bare name");
            }
        }
    }
});
