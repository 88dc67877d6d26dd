//! The published Ed25519 vectors (`tests/vectors/signed-urls-ed25519.json`, computed
//! with Python's `cryptography`): keyhole's signers, given the seed line, reproduce
//! every URL and cookie byte for byte with the same signed bytes as the HMAC vectors,
//! and keyhole holding only the public line answers every verification vector.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::sync::Arc;

use keyhole::authorize::Authorizer;
use keyhole::canonical::{CanonicalPath, Scope, encode};
use keyhole::claims::{CookieMethods, IpBinding, Methods};
use keyhole::clock::UnixTime;
use keyhole::keys::{KeyKind, KeyRing};
use keyhole::request::{HeaderField, NginxHeaders};
use keyhole::verify::Policy;
use keyhole::verify::cookie::{self, CookieGrant, SameSite, SessionId};
use keyhole::verify::signed_url::{self, UrlGrant};
use serde_json::Value;

fn vectors() -> Value {
    serde_json::from_str(include_str!("vectors/signed-urls-ed25519.json")).unwrap()
}

fn ring(v: &Value, kind: &str) -> KeyRing {
    let key = &v["key"];
    let material = match kind {
        "seed" => format!("ed25519-seed:{}", key["seed"].as_str().unwrap()),
        _ => format!("ed25519:{}", key["public"].as_str().unwrap()),
    };
    KeyRing::parse(&format!("{}:{material}", key["kid"].as_str().unwrap())).unwrap()
}

#[test]
fn the_seed_line_reproduces_every_url_and_cookie_vector() {
    let v = vectors();
    let seed = ring(&v, "seed");
    assert_eq!(seed.signing_key().kind(), KeyKind::Ed25519Seed);
    assert_eq!(
        seed.signing_key().ed25519_public().as_deref(),
        v["key"]["public"].as_str()
    );
    let hmac: Value = serde_json::from_str(include_str!("vectors/signed-urls.json")).unwrap();
    let cases = v["signing"].as_array().unwrap();
    assert!(cases.len() >= 17);
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let hmac_case = hmac["signing"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == case["name"])
            .unwrap();
        // The same signed bytes as the HMAC vector of that name.
        assert_eq!(
            case["string_to_sign"], hmac_case["string_to_sign"],
            "{name}"
        );
        let input = &case["input"];
        let grant = UrlGrant {
            path: CanonicalPath::parse(encode(input["path"].as_str().unwrap()).as_bytes()).unwrap(),
            scope: input["scope"]
                .as_str()
                .map(|s| Scope::parse(encode(s).as_bytes()).unwrap()),
            exp: UnixTime(input["exp"].as_u64().unwrap()),
            nbf: input["nbf"].as_u64().map(UnixTime),
            ip: input["ip"].as_str().map(|ip| IpBinding::parse(ip).unwrap()),
            methods: input["methods"]
                .as_str()
                .map(|m| Methods::parse(m).unwrap()),
            query: input["query"].as_str().map(str::to_owned),
            host: input["host"]
                .as_str()
                .map(|h| keyhole::host::Host::parse(h).unwrap()),
        };
        let url = signed_url::sign(&grant, seed.signing_key()).unwrap();
        assert_eq!(url, case["url"].as_str().unwrap(), "{name}");
        assert_eq!(url.rsplit_once("kh_sig=").unwrap().1.len(), 86, "{name}");
    }

    let now = v["now"].as_u64().unwrap();
    let cookies = v["cookies"].as_array().unwrap();
    assert!(cookies.len() >= 6);
    for case in cookies {
        let name = case["name"].as_str().unwrap();
        let input = &case["input"];
        let sid = input["sid"].as_str().unwrap();
        let ip = input["ip"].as_str().unwrap();
        let grant = CookieGrant {
            scope: Scope::parse(encode(input["scope"].as_str().unwrap()).as_bytes()).unwrap(),
            exp: UnixTime(input["exp"].as_u64().unwrap()),
            sid: (!sid.is_empty()).then(|| SessionId::parse(sid).unwrap()),
            ip: (!ip.is_empty()).then(|| IpBinding::parse(ip).unwrap()),
            methods: CookieMethods::parse(input["methods"].as_str().unwrap()).unwrap(),
        };
        assert_eq!(
            cookie::string_to_sign("k1", &grant),
            case["string_to_sign"].as_str().unwrap(),
            "{name}"
        );
        let value = cookie::sign(&grant, seed.signing_key()).unwrap();
        assert_eq!(value, case["value"].as_str().unwrap(), "{name}");
        let same_site = match input["same_site"].as_str().unwrap() {
            "Lax" => SameSite::Lax,
            _ => SameSite::Strict,
        };
        assert_eq!(
            cookie::set_cookie_header(
                v["name"].as_str().unwrap(),
                &value,
                grant.exp.0 - now,
                same_site
            ),
            case["set_cookie"].as_str().unwrap(),
            "{name}"
        );
    }
}

#[test]
fn the_public_line_answers_every_verification_vector_and_signs_nothing() {
    let v = vectors();
    let public = Arc::new(ring(&v, "public"));
    assert!(!public.can_sign());
    let authorizer = Authorizer::new(Arc::clone(&public), Policy::default());
    let now = UnixTime(v["now"].as_u64().unwrap());
    for case in v["signing"].as_array().unwrap() {
        let url = case["url"].as_str().unwrap();
        let headers = NginxHeaders::new(url.as_bytes(), b"HEAD", b"10.1.2.3");
        let code = authorizer.decide(&headers, now).code();
        // Every vector verifies, or fails on a claim checked after the signature.
        assert!(
            ["ok", "ip-mismatch", "method-not-allowed", "not-yet-valid"].contains(&code),
            "{}: {code}",
            case["name"]
        );
    }
    let cases = v["verification"].as_array().unwrap();
    assert!(cases.len() >= 12);
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let method = case["method"].as_str().unwrap();
        let ip = case["client_ip"].as_str().unwrap();
        let cookie_header = case["cookie"]
            .as_str()
            .map(|value| format!("{}={value}", v["name"].as_str().unwrap()));
        let target = match (&cookie_header, case["url"].as_str()) {
            (Some(_), _) => case["path"].as_str().unwrap().to_owned(),
            (None, Some(url)) => url.to_owned(),
            (None, None) => panic!("{name}: neither url nor cookie"),
        };
        let mut headers = NginxHeaders::new(target.as_bytes(), method.as_bytes(), ip.as_bytes());
        if let Some(header) = &cookie_header {
            headers.cookie = HeaderField::One(header.as_bytes());
        }
        let code = authorizer.decide(&headers, now).code();
        assert_eq!(code, case["expect"].as_str().unwrap(), "{name}");
    }
    let grant = UrlGrant::new(CanonicalPath::parse(b"/a.jpg").unwrap(), now.plus(60));
    assert!(signed_url::sign(&grant, public.signing_key()).is_err());
}

/// The HMAC vector of the longest URL keyhole reads has no Ed25519 twin: the longer
/// signature would make it `uri-too-long`, and the signer refuses it.
#[test]
fn an_ed25519_signature_leaves_43_fewer_bytes_for_path_and_query() {
    let v = vectors();
    let hmac: Value = serde_json::from_str(include_str!("vectors/signed-urls.json")).unwrap();
    let longest = hmac["signing"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["url"].as_str().unwrap().len() == 8192)
        .unwrap();
    let input = &longest["input"];
    let grant = UrlGrant {
        path: CanonicalPath::parse(encode(input["path"].as_str().unwrap()).as_bytes()).unwrap(),
        scope: None,
        exp: UnixTime(input["exp"].as_u64().unwrap()),
        nbf: None,
        ip: None,
        methods: None,
        query: input["query"].as_str().map(str::to_owned),
        host: None,
    };
    assert_eq!(
        signed_url::sign(&grant, ring(&v, "seed").signing_key()),
        Err(signed_url::SignError::UriTooLong {
            length: 8192 + 43,
            max: 8192
        })
    );
}
