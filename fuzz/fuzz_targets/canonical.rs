//! The canonicaliser: `CanonicalPath::parse` and `Scope::parse` on arbitrary bytes,
//! with the rule and round-trip properties of `properties::canonical`.
#![no_main]

// Each target uses one of the shared properties.
#[allow(dead_code)]
#[path = "../properties.rs"]
mod properties;

libfuzzer_sys::fuzz_target!(|data: &[u8]| properties::canonical(data));
