//! The JWT verifier from a raw token string: the pre-checks (size, segments,
//! base64url, strict header JSON, alg and kid rules), the signature against an HS256
//! and an ES256 key, then the claims; input layout and properties in
//! `properties::jwt`.
#![no_main]

// Each target uses one of the shared properties.
#[allow(dead_code)]
#[path = "../properties.rs"]
mod properties;

libfuzzer_sys::fuzz_target!(|data: &[u8]| properties::jwt(data));
