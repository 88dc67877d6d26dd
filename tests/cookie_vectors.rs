//! The published cookie-grant test vectors (`tests/vectors/cookies.json`, computed
//! independently of keyhole from docs/cookies.md): keyhole's `string_to_sign`, `sign`
//! and `set_cookie_header` must reproduce every one byte for byte, and its parser and
//! verifier must accept each value for a file inside the scope and refuse one outside.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use keyhole::canonical::{CanonicalPath, Scope, encode};
use keyhole::clock::UnixTime;
use keyhole::decision::Deny;
use keyhole::keys::KeyRing;
use keyhole::verify::Policy;
use keyhole::verify::cookie::{
    CookieGrant, DEFAULT_NAME, SameSite, SessionId, SignedCookie, set_cookie_header, sign,
    string_to_sign,
};
use serde_json::Value;

fn vectors() -> Value {
    serde_json::from_str(include_str!("vectors/cookies.json")).unwrap()
}

fn grant(input: &Value) -> CookieGrant {
    let scope = input["scope"].as_str().unwrap();
    let sid = input["sid"].as_str().unwrap();
    CookieGrant {
        scope: Scope::parse(encode(scope).as_bytes()).unwrap(),
        exp: UnixTime(input["exp"].as_u64().unwrap()),
        sid: (!sid.is_empty()).then(|| SessionId::parse(sid).unwrap()),
    }
}

#[test]
fn keyhole_reproduces_every_cookie_vector() {
    let v = vectors();
    let key = &v["key"];
    let ring = KeyRing::parse(&format!(
        "{}:{}",
        key["kid"].as_str().unwrap(),
        key["secret"].as_str().unwrap()
    ))
    .unwrap();
    let kid = key["kid"].as_str().unwrap();
    let now = UnixTime(v["now"].as_u64().unwrap());
    assert_eq!(v["name"].as_str().unwrap(), DEFAULT_NAME);
    let cases = v["signing"].as_array().unwrap();
    assert!(cases.len() >= 6);
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let input = &case["input"];
        let grant = grant(input);
        assert_eq!(
            string_to_sign(kid, &grant),
            case["string_to_sign"].as_str().unwrap(),
            "signed text of `{name}`"
        );
        let value = sign(&grant, ring.signing_key());
        assert_eq!(value, case["value"].as_str().unwrap(), "value of `{name}`");
        let same_site = match input["same_site"].as_str().unwrap() {
            "Lax" => SameSite::Lax,
            "Strict" => SameSite::Strict,
            other => panic!("`{name}`: SameSite {other}"),
        };
        let max_age = input["max_age"].as_u64().unwrap();
        assert_eq!(
            max_age,
            grant.exp.0 - now.0,
            "`{name}`: Max-Age is exp - now"
        );
        assert_eq!(
            set_cookie_header(DEFAULT_NAME, &value, max_age, same_site),
            case["set_cookie"].as_str().unwrap(),
            "Set-Cookie of `{name}`"
        );

        // The value parses back to the same grant, opens a file in its scope and no
        // file beside it.
        let parsed = SignedCookie::parse(&value).unwrap();
        assert_eq!(parsed.grant, grant, "`{name}`");
        let scope = input["scope"].as_str().unwrap();
        let inside = CanonicalPath::parse(encode(&format!("{scope}x.jpg")).as_bytes()).unwrap();
        assert!(
            parsed
                .verify(&inside, &ring, &Policy::default(), 86400, now)
                .is_ok(),
            "`{name}` should open {inside:?}"
        );
        if scope != "/" {
            let outside = CanonicalPath::parse(
                encode(&format!("{}x.jpg", scope.trim_end_matches('/'))).as_bytes(),
            )
            .unwrap();
            assert_eq!(
                parsed
                    .verify(&outside, &ring, &Policy::default(), 86400, now)
                    .map(|_| ()),
                Err(Deny::OutOfScope),
                "`{name}` must not open {outside:?}"
            );
        }
    }
}
