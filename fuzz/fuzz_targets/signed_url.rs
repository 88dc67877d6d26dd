//! The signed-URL parser: `request::Target::parse` then `SignedUrl::parse` on an
//! arbitrary request target, with the properties of `properties::signed_url`.
#![no_main]

// Each target uses one of the shared properties.
#[allow(dead_code)]
#[path = "../properties.rs"]
mod properties;

libfuzzer_sys::fuzz_target!(|data: &[u8]| properties::signed_url(data));
