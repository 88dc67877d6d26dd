//! The published cookie-grant test vectors (`tests/vectors/cookies.json`, format v2,
//! computed independently of keyhole from docs/cookies.md): keyhole's `string_to_sign`,
//! `sign` and `set_cookie_header` must reproduce every one byte for byte, and its parser
//! and verifier must accept each value for a file inside the scope, from an address
//! inside its binding and with its methods, and refuse one outside, another address
//! and another method.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use keyhole::canonical::{Scope, encode};
use keyhole::claims::{CookieMethods, IpBinding};
use keyhole::clock::UnixTime;
use keyhole::decision::Deny;
use keyhole::keys::KeyRing;
use keyhole::request::{AuthRequest, NginxHeaders};
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
    let ip = input["ip"].as_str().unwrap();
    CookieGrant {
        scope: Scope::parse(encode(scope).as_bytes()).unwrap(),
        exp: UnixTime(input["exp"].as_u64().unwrap()),
        sid: (!sid.is_empty()).then(|| SessionId::parse(sid).unwrap()),
        ip: (!ip.is_empty()).then(|| IpBinding::parse(ip).unwrap()),
        methods: CookieMethods::parse(input["methods"].as_str().unwrap()).unwrap(),
    }
}

/// The request for `path` (decoded) with `method` from `ip`.
fn verify(
    parsed: &SignedCookie<'_>,
    ring: &KeyRing,
    now: UnixTime,
    path: &str,
    method: &str,
    ip: &str,
) -> Result<(), Deny> {
    let target = encode(path);
    let headers = NginxHeaders::new(target.as_bytes(), method.as_bytes(), ip.as_bytes());
    let request: AuthRequest<'_> = headers.parse().unwrap();
    parsed
        .verify(&request, ring, &Policy::default(), 86400, now)
        .map(|_| ())
}

/// An address inside a vector's binding, and one outside it.
fn addresses(ip: &str) -> (&'static str, Option<&'static str>) {
    match ip {
        "" => ("198.51.100.1", None),
        "203.0.113.7" => ("203.0.113.7", Some("203.0.113.8")),
        "10.0.0.0/8" => ("10.200.0.1", Some("11.0.0.1")),
        "2001:db8::/32" => ("2001:db8:1::1", Some("2001:db9::1")),
        "2001:db8::7" => ("2001:db8::7", Some("2001:db8::8")),
        other => panic!("add addresses for the binding {other}"),
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
        let value = sign(&grant, ring.signing_key()).unwrap();
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

        // The value parses back to the same grant, opens a file in its scope with its
        // methods from its addresses, and nothing else.
        let parsed = SignedCookie::parse(&value).unwrap();
        assert_eq!(parsed.grant, grant, "`{name}`");
        let scope = input["scope"].as_str().unwrap();
        let inside = format!("{scope}x.jpg");
        let (good_ip, bad_ip) = addresses(input["ip"].as_str().unwrap());
        let allowed = grant.methods.as_str().split(',').next().unwrap();
        for method in ["GET", "HEAD", "POST", "PUT", "DELETE"] {
            let expected = if grant.methods.allows(method) {
                Ok(())
            } else {
                Err(Deny::MethodNotAllowed)
            };
            assert_eq!(
                verify(&parsed, &ring, now, &inside, method, good_ip),
                expected,
                "`{name}` {method} {inside} from {good_ip}"
            );
        }
        if let Some(bad_ip) = bad_ip {
            assert_eq!(
                verify(&parsed, &ring, now, &inside, allowed, bad_ip),
                Err(Deny::IpMismatch),
                "`{name}` from {bad_ip}"
            );
        }
        if scope != "/" {
            let outside = format!("{}x.jpg", scope.trim_end_matches('/'));
            assert_eq!(
                verify(&parsed, &ring, now, &outside, allowed, good_ip),
                Err(Deny::OutOfScope),
                "`{name}` must not open {outside:?}"
            );
        }
    }
    assert!(
        cases
            .iter()
            .any(|c| c["input"]["ip"].as_str().unwrap().contains(':')),
        "an IPv6 binding among the vectors"
    );
    assert!(
        cases
            .iter()
            .any(|c| c["input"]["methods"].as_str().unwrap() == "HEAD"),
        "a HEAD-only grant among the vectors"
    );
}

/// Version 1 cookies (no address or method fields) are refused: the exchange made them
/// from bound credentials, so none can be trusted to be unbound. This one was the first
/// v1 vector, validly signed under the v1 rules.
#[test]
fn a_version_1_cookie_is_unsupported() {
    let v1 = "1.k1.L3UxLw.1800003600.s-1.G2vGC8GFgovjnqgo77se0d7d_PvfUjftE9aBVi_BXa8";
    assert_eq!(
        SignedCookie::parse(v1).map(|_| ()),
        Err(Deny::UnsupportedVersion)
    );
}
