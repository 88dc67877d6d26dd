//! Known-answer JWS vectors (RFC 7515 Appendix A, RFC 8037 A.4, Project Wycheproof)
//! through keyhole's JWS layer: its key loader, its shape and header rules, and
//! `jsonwebtoken`'s signature check with the chosen backend. `tests/vectors/jws.json`
//! says where each vector comes from.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use jsonwebtoken::jwk::Jwk;
use keyhole::keys::Secret;
use keyhole::verify::jwt::{JwtKey, JwtPolicy, JwtVerifier, parse_algorithm};
use serde_json::Value;

fn load_key(jwk: &Value) -> Result<JwtKey, String> {
    if jwk["kty"] == "oct" {
        let alg = parse_algorithm(jwk["alg"].as_str().unwrap()).unwrap();
        let secret = Secret::from_base64url(jwk["k"].as_str().unwrap()).unwrap();
        return JwtKey::hmac(jwk["kid"].as_str().unwrap(), alg, &secret).map_err(|e| e.to_string());
    }
    let parsed: Jwk = serde_json::from_value(jwk.clone()).map_err(|e| e.to_string())?;
    JwtKey::from_jwk(&parsed).map_err(|e| e.to_string())
}

#[test]
fn every_jws_vector_gets_its_expected_answer() {
    let vectors: Value = serde_json::from_str(include_str!("vectors/jws.json")).unwrap();
    let mut checked = 0;
    for group in vectors["groups"].as_array().unwrap() {
        let source = group["source"].as_str().unwrap();
        let key = load_key(&group["key"]);
        if group["refused"] == true {
            assert!(key.is_err(), "{source}: the key should be refused");
            continue;
        }
        let key = key.unwrap_or_else(|e| panic!("{source}: key refused: {e}"));
        let verifier = JwtVerifier::new(vec![key], JwtPolicy::default()).unwrap();
        for test in group["tests"].as_array().unwrap() {
            let jws = test["jws"].as_str().unwrap();
            let result = verifier.danger_verify_jws_only(jws);
            assert_eq!(
                result.is_ok(),
                test["valid"].as_bool().unwrap(),
                "{source} {}: {result:?}",
                test["id"]
            );
            checked += 1;
        }
    }
    assert_eq!(checked, 48);
}
