//! The published signed-URL test vectors (`tests/vectors/signed-urls.json`): keyhole's
//! signer must reproduce every URL byte for byte, and its verifier must answer every
//! verification vector with the expected reason code.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::sync::Arc;

use keyhole::authorize::Authorizer;
use keyhole::canonical::{CanonicalPath, Scope, encode};
use keyhole::claims::{IpBinding, Methods};
use keyhole::clock::UnixTime;
use keyhole::host::Host;
use keyhole::keys::KeyRing;
use keyhole::request::{HeaderField, NginxHeaders};
use keyhole::verify::Policy;
use keyhole::verify::signed_url::{SignedFields, TargetRef, UrlGrant, sign, string_to_sign};
use serde_json::Value;

fn vectors() -> Value {
    serde_json::from_str(include_str!("vectors/signed-urls.json")).unwrap()
}

fn ring(v: &Value) -> KeyRing {
    let key = &v["key"];
    KeyRing::parse(&format!(
        "{}:{}",
        key["kid"].as_str().unwrap(),
        key["secret"].as_str().unwrap()
    ))
    .unwrap()
}

#[test]
fn signer_reproduces_every_signing_vector() {
    let v = vectors();
    let ring = ring(&v);
    let cases = v["signing"].as_array().unwrap();
    assert!(cases.len() >= 18);
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let input = &case["input"];
        let path =
            CanonicalPath::parse(encode(input["path"].as_str().unwrap()).as_bytes()).unwrap();
        let scope = input["scope"]
            .as_str()
            .map(|s| Scope::parse(encode(s).as_bytes()).unwrap());
        let grant = UrlGrant {
            path: path.clone(),
            scope: scope.clone(),
            exp: UnixTime(input["exp"].as_u64().unwrap()),
            nbf: input["nbf"].as_u64().map(UnixTime),
            ip: input["ip"].as_str().map(|ip| IpBinding::parse(ip).unwrap()),
            methods: input["methods"]
                .as_str()
                .map(|m| Methods::parse(m).unwrap()),
            query: input["query"].as_str().map(str::to_owned),
            host: input["host"].as_str().map(|h| Host::parse(h).unwrap()),
        };
        let default_methods = Methods::default_methods();
        let fields = SignedFields {
            kid: "k1",
            target: match &scope {
                Some(scope) => TargetRef::Scope(scope),
                None => TargetRef::Path(&path),
            },
            exp: grant.exp,
            nbf: grant.nbf,
            ip: grant.ip,
            methods: grant.methods.as_ref().unwrap_or(&default_methods),
            query: grant.query.as_deref(),
            host: grant.host.as_ref(),
        };
        assert_eq!(
            string_to_sign(&fields),
            case["string_to_sign"].as_str().unwrap(),
            "{name}"
        );
        assert_eq!(
            sign(&grant, ring.signing_key()).unwrap(),
            case["url"].as_str().unwrap(),
            "{name}"
        );
    }
}

#[test]
fn verifier_answers_every_verification_vector() {
    let v = vectors();
    let authorizer = Authorizer::new(Arc::new(ring(&v)), Policy::default());
    let now = UnixTime(v["now"].as_u64().unwrap());
    let signed: Vec<&str> = v["signing"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["url"].as_str().unwrap())
        .collect();
    for url in signed {
        // A host-bound vector is sent to its own host.
        let host = url
            .split('&')
            .find_map(|item| item.strip_prefix("kh_host="));
        let decision = decide(&authorizer, url, "GET", "10.1.2.3", host, now);
        // IP-bound vectors are bound to other addresses; every other one must pass.
        let client: std::net::IpAddr = "10.1.2.3".parse().unwrap();
        let bound_elsewhere = url
            .split('&')
            .find_map(|item| item.strip_prefix("kh_ip="))
            .is_some_and(|ip| !IpBinding::parse(ip).unwrap().contains(&client));
        let expect = if bound_elsewhere {
            "ip-mismatch"
        } else if url.contains("kh_m=PUT") {
            "method-not-allowed"
        } else if url.contains("kh_nbf=1800000060") {
            "not-yet-valid"
        } else {
            "ok"
        };
        assert_eq!(decision, expect, "{url}");
    }
    let cases = v["verification"].as_array().unwrap();
    assert!(cases.len() >= 50);
    for case in cases {
        let got = decide(
            &authorizer,
            case["url"].as_str().unwrap(),
            case["method"].as_str().unwrap(),
            case["client_ip"].as_str().unwrap(),
            case["host"].as_str(),
            now,
        );
        assert_eq!(got, case["expect"].as_str().unwrap(), "{}", case["name"]);
    }
}

/// Every must-refuse case is refused by keyhole's own signer too: an input its types
/// refuse, a [`sign`] error, or (for the clock rules `sign` leaves to its caller) an
/// expiry not after `now`, which `keyhole sign` refuses as `--ttl 0`.
#[test]
fn keyholes_signer_refuses_every_must_refuse_case() {
    let v = vectors();
    let ring = ring(&v);
    let cases = v["must_refuse"].as_array().unwrap();
    assert!(cases.len() >= 45);
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let input = &case["input"];
        assert!(case["deny"].as_str().is_some(), "{name}: no deny code");
        let exp = input["exp"].as_u64().unwrap();
        if exp <= input["now"].as_u64().unwrap() {
            continue;
        }
        let grant = (|| {
            Some(UrlGrant {
                path: CanonicalPath::parse(encode(input["path"].as_str()?).as_bytes()).ok()?,
                scope: match input["scope"].as_str() {
                    Some(s) => Some(Scope::parse(encode(s).as_bytes()).ok()?),
                    None => None,
                },
                exp: UnixTime(exp),
                nbf: input["nbf"].as_u64().map(UnixTime),
                ip: match input["ip"].as_str() {
                    Some(ip) => Some(IpBinding::parse(ip).ok()?),
                    None => None,
                },
                methods: match input["methods"].as_str() {
                    Some(m) => Some(Methods::parse(m).ok()?),
                    None => None,
                },
                query: input["query"].as_str().map(str::to_owned),
                // The one text a signer writes: a host the parser would fold is refused.
                host: match input["host"].as_str() {
                    Some(h) => Some(Host::parse(h).ok().filter(|host| host.as_str() == h)?),
                    None => None,
                },
            })
        })();
        if let Some(grant) = grant {
            let signed = sign(&grant, ring.signing_key());
            assert!(signed.is_err(), "{name}: keyhole signed {signed:?}");
        }
    }
}

fn decide(
    authorizer: &Authorizer,
    uri: &str,
    method: &str,
    ip: &str,
    host: Option<&str>,
    now: UnixTime,
) -> &'static str {
    let mut headers = NginxHeaders::new(uri.as_bytes(), method.as_bytes(), ip.as_bytes());
    if let Some(host) = host {
        headers.host = HeaderField::One(host.as_bytes());
    }
    authorizer.decide(&headers, now).code()
}
