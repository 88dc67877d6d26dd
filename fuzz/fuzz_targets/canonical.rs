//! The canonicaliser: `CanonicalPath::parse` and `Scope::parse` on arbitrary bytes,
//! with the rule and round-trip properties of `properties::canonical`.
#![no_main]

#[path = "../properties.rs"]
mod properties;

libfuzzer_sys::fuzz_target!(|data: &[u8]| properties::canonical(data));
