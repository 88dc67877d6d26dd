//! The signed-URL parser: `request::Target::parse` (path/query split, query items)
//! then `SignedUrl::parse` (the `kh_*` fields), on an arbitrary request target.
//!
//! Beyond "never panics": the parameters rebuild the query exactly, every `kh_` name
//! appears at most once in an accepted URL, and the signed bytes (`string_to_sign`)
//! have exactly the documented nine lines whatever the fields hold.
#![no_main]

use keyhole::canonical::CanonicalPath;
use keyhole::request::{MAX_PARAMS, Target};
use keyhole::verify::signed_url::{PARAM_PREFIX, SignedUrl, string_to_sign};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|uri: &[u8]| {
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
});
