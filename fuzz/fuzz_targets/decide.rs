//! The whole `/auth` decision from raw header values (`Authorizer::decide`; each
//! header may be missing or duplicated); input layout and properties in
//! `properties::decide`.
#![no_main]

// Each target uses one of the shared properties.
#[allow(dead_code)]
#[path = "../properties.rs"]
mod properties;

libfuzzer_sys::fuzz_target!(|data: &[u8]| properties::decide(data));
