//! `core/examples/sign.rs`, the Rust example of docs/signing.md, run as a test: the URL,
//! the cookie and the JWT it signs with keyhole-core alone each pass keyhole's own
//! verifier, and the doc shows the example's code exactly.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

#[allow(dead_code)] // `main` is the example's, not the test's.
#[path = "../examples/sign.rs"]
mod example;

use keyhole_core::clock::UnixTime;
use keyhole_core::decision::{Credential, Deny};
use keyhole_core::keys::KeyRing;
use keyhole_core::request::{AuthRequest, NginxHeaders};
use keyhole_core::verify::Policy;
use keyhole_core::verify::cookie::{CookiePolicy, DEFAULT_NAME, SignedCookie};
use keyhole_core::verify::jwt::{self, JwtPolicy, JwtVerifier};
use keyhole_core::verify::signed_url::SignedUrl;

const NOW: UnixTime = UnixTime(1_800_000_000);

/// The request nginx would describe for `GET uri` from a client.
fn headers(uri: &str) -> NginxHeaders<'_> {
    NginxHeaders::new(uri.as_bytes(), b"GET", b"198.51.100.7")
}

fn verify_url(keys: &KeyRing, uri: &str) -> Result<Credential, Deny> {
    let headers = headers(uri);
    let request = headers.parse()?;
    let grant =
        SignedUrl::parse(&request.params)?.verify(&request, keys, &Policy::default(), NOW)?;
    Ok(grant.credential)
}

#[test]
fn the_example_url_verifies() {
    let keys = KeyRing::parse(example::KEY_LINE).unwrap();
    let url = example::sign_url(&keys, "/photos/café au lait.jpg", NOW).unwrap();
    assert!(
        url.starts_with("/photos/caf%C3%A9%20au%20lait.jpg?kh_v=1&kh_kid=k1&"),
        "{url}"
    );
    assert_eq!(verify_url(&keys, &url), Ok(Credential::SignedUrl));
    let moved = url.replace("lait.jpg", "lait.png");
    assert_eq!(verify_url(&keys, &moved), Err(Deny::BadSignature));
    assert!(example::sign_url(&keys, "/photos/../etc/passwd", NOW).is_err());
}

#[test]
fn the_example_cookie_verifies() {
    let keys = KeyRing::parse(example::KEY_LINE).unwrap();
    let (value, set_cookie) = example::sign_cookie(&keys, "/photos/u1/", NOW).unwrap();
    assert!(
        set_cookie.starts_with(&format!("{DEFAULT_NAME}={value};")),
        "{set_cookie}"
    );
    let verify = |path: &str| -> Result<Credential, Deny> {
        let headers = headers(path);
        let request: AuthRequest<'_> = headers.parse()?;
        let max_lifetime = CookiePolicy::default().max_lifetime;
        let grant = SignedCookie::parse(&value)?.verify(
            &request,
            &keys,
            &Policy::default(),
            max_lifetime,
            NOW,
        )?;
        Ok(grant.credential)
    };
    assert_eq!(verify("/photos/u1/a.jpg"), Ok(Credential::Cookie));
    assert_eq!(verify("/photos/u2/a.jpg"), Err(Deny::OutOfScope));
}

#[test]
fn the_example_jwt_verifies() {
    let url = example::sign_jwt_url(example::JWT_KEY_LINE, "/photos/café.jpg", NOW).unwrap();
    let keys = jwt::keys::parse_hmac_keys(example::JWT_KEY_LINE).unwrap();
    let verifier = JwtVerifier::new(keys, JwtPolicy::default()).unwrap();
    let verify = |uri: &str| -> Result<(), Deny> {
        let headers = headers(uri);
        verifier.verify(&headers.parse()?, NOW).map(|_| ())
    };
    assert_eq!(verify(&url), Ok(()));
    let moved = url.replacen("caf%C3%A9.jpg", "other.jpg", 1);
    assert_eq!(verify(&moved), Err(Deny::OutOfScope));
}

/// docs/signing.md shows the example's code, byte for byte, after its `//!` header.
#[test]
fn signing_md_shows_the_example() {
    let example = include_str!("../examples/sign.rs");
    let code = example
        .split_once("\n\n")
        .map(|(_header, code)| code.trim())
        .unwrap();
    let docs = include_str!("../../docs/signing.md");
    assert!(
        docs.contains(code),
        "docs/signing.md (Rust) must show core/examples/sign.rs after its header"
    );
}
