//! The cookie credential from raw headers: `cookie::find` in the `Cookie` header, the
//! cross-site rule, `SignedCookie::parse` and `verify`, compared with
//! `Authorizer::decide`; input layout and properties in `properties::cookie`.
#![no_main]

// Each target uses one of the shared properties.
#[allow(dead_code)]
#[path = "../properties.rs"]
mod properties;

libfuzzer_sys::fuzz_target!(|data: &[u8]| properties::cookie(data));
