//! File-scoped JWT test material shared by the `jwt_*` tests: keys generated with
//! `openssl` once per build (under Cargo's test temp dir), an Env with every test key
//! loaded, tokens assembled by hand so that headers and claims can be as wrong as an
//! attacker likes, and the allow/deny assertions.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::{Jwk, KeyAlgorithm};
use jsonwebtoken::{Algorithm, EncodingKey};
use serde_json::{Value, json};

use super::{Env, Response, b64, now};

pub const FILE: &[u8] = b"\xff\xd8 a.jpg protected bytes \x00\x01";
pub const OTHER: &[u8] = b"b.jpg protected bytes";
pub const PATH: &str = "/protected/a.jpg";

/// The 32-byte test secret (0x00..0x1f) in base64url.
pub const SECRET_B64: &str = super::TEST_SECRET;

/// Generated key material, shared by every test of this binary.
pub struct TestKeys {
    /// kid → (algorithm, private key).
    pub signers: Vec<(&'static str, Algorithm, EncodingKey)>,
    /// The JWKS document keyhole loads.
    pub jwks_path: PathBuf,
    /// Public keys in PEM, for the HMAC-with-public-key attack.
    pub rsa_public_pem: Vec<u8>,
    pub ec_public_pem: Vec<u8>,
}

pub fn openssl(args: &[&str]) {
    let status = Command::new("openssl")
        .args(args)
        .status()
        .unwrap_or_else(|e| {
            panic!("openssl is needed by the JWT tests (apt-get install openssl): {e}")
        });
    assert!(status.success(), "openssl {args:?} failed");
}

/// Where the generated test keys live.
pub fn key_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("jwt-keys")
}

pub fn keys() -> &'static TestKeys {
    static KEYS: OnceLock<TestKeys> = OnceLock::new();
    KEYS.get_or_init(|| {
        let dir = key_dir();
        let p = |name: &str| dir.join(name).to_str().unwrap().to_owned();
        // Generated once per target directory; `complete` is written last.
        if !dir.join("complete").is_file() {
            std::fs::create_dir_all(&dir).unwrap();
            openssl(&["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", &p("rsa.pem")]);
            openssl(&["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", &p("ec256.pem")]);
            openssl(&["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384", "-out", &p("ec384.pem")]);
            openssl(&["genpkey", "-algorithm", "ED25519", "-out", &p("ed.pem")]);
            openssl(&["pkey", "-in", &p("rsa.pem"), "-pubout", "-out", &p("rsa.pub.pem")]);
            openssl(&["pkey", "-in", &p("ec256.pem"), "-pubout", "-out", &p("ec256.pub.pem")]);
            openssl(&["pkey", "-in", &p("ed.pem"), "-pubout", "-outform", "DER", "-out", &p("ed.pub.der")]);
            std::fs::write(dir.join("complete"), b"").unwrap();
        }
        let read = |name: &str| std::fs::read(dir.join(name)).unwrap();
        let rsa = read("rsa.pem");
        let secret = URL_SAFE_NO_PAD.decode(SECRET_B64).unwrap();
        let mut signers = vec![
            ("h256", Algorithm::HS256, EncodingKey::from_secret(&secret)),
            ("h384", Algorithm::HS384, EncodingKey::from_secret(&secret)),
            ("h512", Algorithm::HS512, EncodingKey::from_secret(&secret)),
        ];
        for (kid, alg) in [
            ("r256", Algorithm::RS256),
            ("r384", Algorithm::RS384),
            ("r512", Algorithm::RS512),
            ("p256", Algorithm::PS256),
            ("p384", Algorithm::PS384),
            ("p512", Algorithm::PS512),
        ] {
            signers.push((kid, alg, EncodingKey::from_rsa_pem(&rsa).unwrap()));
        }
        signers.push(("e256", Algorithm::ES256, EncodingKey::from_ec_pem(&read("ec256.pem")).unwrap()));
        signers.push(("e384", Algorithm::ES384, EncodingKey::from_ec_pem(&read("ec384.pem")).unwrap()));
        signers.push(("ed", Algorithm::EdDSA, EncodingKey::from_ed_pem(&read("ed.pem")).unwrap()));

        let mut jwks = Vec::new();
        for (kid, alg, key) in &signers {
            let entry = match alg {
                Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512 => continue,
                Algorithm::EdDSA => {
                    let der = read("ed.pub.der");
                    let x = URL_SAFE_NO_PAD.encode(&der[der.len() - 32..]);
                    json!({"kty": "OKP", "crv": "Ed25519", "x": x, "kid": kid, "alg": "EdDSA", "use": "sig"})
                }
                _ => {
                    let mut jwk = Jwk::from_encoding_key(key, *alg).unwrap();
                    jwk.common.key_id = Some((*kid).to_owned());
                    jwk.common.key_algorithm = Some(format!("{alg:?}").parse::<KeyAlgorithm>().unwrap());
                    serde_json::to_value(&jwk).unwrap()
                }
            };
            jwks.push(entry);
        }
        let jwks_path = dir.join("jwks.json");
        std::fs::write(&jwks_path, json!({"keys": jwks}).to_string()).unwrap();
        TestKeys {
            signers,
            jwks_path,
            rsa_public_pem: read("rsa.pub.pem"),
            ec_public_pem: read("ec256.pub.pem"),
        }
    })
}

pub fn hmac_keys_var() -> String {
    format!("h256:HS256:{SECRET_B64},h384:HS384:{SECRET_B64},h512:HS512:{SECRET_B64}")
}

pub fn start_with(extra: &[(&str, &str)]) -> Env {
    let keys = keys();
    let hmac = hmac_keys_var();
    let jwks = keys.jwks_path.to_str().unwrap().to_owned();
    let mut vars: Vec<(&str, &str)> =
        vec![("KEYHOLE_JWT_KEYS", &hmac), ("KEYHOLE_JWKS_FILE", &jwks)];
    vars.extend_from_slice(extra);
    let env = Env::builder().vars(&vars).start();
    env.put("protected/a.jpg", FILE);
    env.put("protected/b.jpg", OTHER);
    env.put("protected/a.jpgx", OTHER);
    env.put("protected/d/c.jpg", OTHER);
    env
}

pub fn start() -> Env {
    start_with(&[])
}

pub fn header(kid: &str, alg: &str) -> Value {
    json!({"alg": alg, "typ": "keyhole+jwt", "kid": kid})
}

pub fn claims() -> Value {
    let now = now().0;
    json!({"aud": "keyhole", "iat": now, "exp": now + 60, "kh_path": PATH})
}

pub fn set(mut value: Value, key: &str, field: Value) -> Value {
    value.as_object_mut().unwrap().insert(key.into(), field);
    value
}

pub fn unset(mut value: Value, key: &str) -> Value {
    value.as_object_mut().unwrap().remove(key);
    value
}

/// Signs `header.claims` (raw JSON text) with the key `kid` under its own algorithm.
pub fn sign_text(kid: &str, header: &str, claims: &str) -> String {
    let (_, alg, key) = keys().signers.iter().find(|(k, _, _)| *k == kid).unwrap();
    let message = format!("{}.{}", b64(header.as_bytes()), b64(claims.as_bytes()));
    let signature = jsonwebtoken::crypto::sign(message.as_bytes(), key, *alg).unwrap();
    format!("{message}.{signature}")
}

pub fn sign(kid: &str, header: &Value, claims: &Value) -> String {
    sign_text(kid, &header.to_string(), &claims.to_string())
}

/// A good token of key `kid` for `claims`.
pub fn token_for(kid: &str, claims: &Value) -> String {
    let (_, alg, _) = keys().signers.iter().find(|(k, _, _)| *k == kid).unwrap();
    sign(kid, &header(kid, jsonwebtoken_alg_name(*alg)), claims)
}

/// Claims of a single-use token with id `jti`.
pub fn once_claims(jti: &str) -> Value {
    set(set(claims(), "jti", json!(jti)), "kh_once", json!(true))
}

pub fn jsonwebtoken_alg_name(alg: Algorithm) -> &'static str {
    keyhole::verify::jwt::algorithm_name(alg)
}

pub fn get_token(env: &Env, path: &str, token: &str) -> Response {
    env.request("GET", format!("{path}?token={token}").as_bytes(), "")
}

pub fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// A 403 with `reason` in nginx's log and none of the protected bytes.
pub fn assert_denied(env: &Env, response: &Response, reason: &str, case: &str) {
    assert_eq!(
        response.status, 403,
        "{case}: expected 403, got {}\n{}",
        response.status, response.head
    );
    for secret in [FILE, OTHER] {
        assert!(
            !contains(&response.body, secret),
            "{case}: protected bytes leaked"
        );
    }
    assert_eq!(env.last_reason(), reason, "{case}");
    assert!(
        response.header("x-keyhole-reason").is_none(),
        "{case}: reason code leaked to the client"
    );
}

pub fn assert_served(env: &Env, response: &Response, case: &str) {
    assert_eq!(
        response.status,
        200,
        "{case}: {} reason={}",
        response.head,
        env.last_reason()
    );
    assert_eq!(response.body, FILE, "{case}");
    assert_eq!(env.last_reason(), "ok", "{case}");
}

/// A JWKS document with the test keys `kids`.
pub fn jwks_with(kids: &[&str]) -> String {
    let all: Value =
        serde_json::from_str(&std::fs::read_to_string(&keys().jwks_path).unwrap()).unwrap();
    let keys: Vec<Value> = all["keys"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|k| kids.contains(&k["kid"].as_str().unwrap()))
        .cloned()
        .collect();
    json!({ "keys": keys }).to_string()
}
