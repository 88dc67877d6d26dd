//! Unit tests for keyhole's own signatures: RFC 8032 through keyhole's key lines, and
//! Ed25519 signed URLs and cookies (a public key verifies and cannot sign; the
//! algorithm follows the key, never the credential).

use super::*;
use crate::canonical::{CanonicalPath, Scope};
use crate::clock::UnixTime;
use crate::decision::Credential;
use crate::keys::{KeyError, KeyId, KeyKind, KeyRing, Secret, ed25519_public_of};
use crate::request::NginxHeaders;
use crate::verify::Policy;
use crate::verify::cookie::{self, CookieGrant, SignedCookie};
use crate::verify::signed_url::{self, SignError, SignedUrl, UrlGrant};

const SEED: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8";
const NOW: UnixTime = UnixTime(1_800_000_000);

/// Raw bytes as a credential's signed bytes.
struct Raw<'a>(&'a [u8]);

impl SignedBytes for Raw<'_> {
    fn write(&self, sink: &mut dyn FnMut(&[u8])) {
        sink(self.0);
    }
}

fn hex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
        .collect()
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn public_line() -> String {
    let seed = Secret::from_base64url(SEED).unwrap();
    format!("k1:ed25519:{}", ed25519_public_of(&seed).unwrap())
}

fn seed_ring() -> KeyRing {
    KeyRing::parse(&format!("k1:ed25519-seed:{SEED}")).unwrap()
}

fn public_ring() -> KeyRing {
    KeyRing::parse(&public_line()).unwrap()
}

fn policy() -> Policy {
    Policy {
        leeway: 30,
        max_lifetime: 7 * 86400,
        max_cache: 60,
    }
}

/// RFC 8032, section 7.1, tests 1 and 2: the seed line signs exactly the RFC's
/// signature, and the public line verifies it; one flipped bit does not.
#[test]
fn rfc8032_ed25519_through_key_lines() {
    let cases = [
        (
            "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
            "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
            "",
            "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
        ),
        (
            "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
            "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
            "72",
            "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00",
        ),
    ];
    for (seed, public, message, signature) in cases {
        let kid = KeyId::parse("rfc").unwrap();
        let signer =
            Key::from_material(kid.clone(), &format!("ed25519-seed:{}", b64(&hex(seed)))).unwrap();
        let verifier = Key::from_material(kid, &format!("ed25519:{}", b64(&hex(public)))).unwrap();
        assert_eq!(signer.kind(), KeyKind::Ed25519Seed);
        assert_eq!(verifier.kind(), KeyKind::Ed25519Public);
        assert_eq!(signer.ed25519_public(), verifier.ed25519_public());
        let message = hex(message);
        let signed = sign(&Raw(&message), &signer).unwrap();
        assert_eq!(signed, b64(&hex(signature)));
        let bytes: [u8; 64] = hex(signature).try_into().unwrap();
        assert_eq!(
            verify(&Raw(&message), &verifier, &SignatureBytes::Ed25519(bytes)),
            Ok(())
        );
        assert_eq!(
            verify(&Raw(&message), &signer, &SignatureBytes::Ed25519(bytes)),
            Ok(())
        );
        let mut flipped = bytes;
        flipped[10] ^= 1;
        assert_eq!(
            verify(&Raw(&message), &verifier, &SignatureBytes::Ed25519(flipped)),
            Err(Deny::BadSignature)
        );
        assert_eq!(
            sign(&Raw(&message), &verifier),
            Err(VerifyOnlyKey { kid: "rfc".into() })
        );
    }
}

#[test]
fn ed25519_key_lines_are_checked_at_load() {
    let short = b64(&[1u8; 31]);
    assert_eq!(
        KeyRing::parse(&format!("k1:ed25519:{short}")).unwrap_err(),
        KeyError::Ed25519Length {
            kind: "Ed25519 public key"
        }
    );
    assert_eq!(
        KeyRing::parse(&format!("k1:ed25519-seed:{}", b64(&[1u8; 33]))).unwrap_err(),
        KeyError::Ed25519Length {
            kind: "Ed25519 seed"
        }
    );
    assert_eq!(
        KeyRing::parse("k1:ed25519:***").unwrap_err(),
        KeyError::Ed25519Length {
            kind: "Ed25519 public key"
        }
    );
    // The identity point (small order) is refused as a weak key.
    let mut identity = [0u8; 32];
    identity[0] = 1;
    assert_eq!(
        KeyRing::parse(&format!("k1:ed25519:{}", b64(&identity))).unwrap_err(),
        KeyError::Ed25519BadPoint
    );
    let debug = format!("{:?}", seed_ring());
    assert!(!debug.contains(SEED), "{debug}");
}

#[test]
fn the_first_key_that_can_sign_signs() {
    let mixed = KeyRing::parse(&format!("{},k2:{SEED}", public_line())).unwrap();
    assert_eq!(mixed.signing_key().kid.as_str(), "k2");
    assert!(mixed.can_sign());
    assert!(!mixed.holds_ed25519_seed());
    assert!(!public_ring().can_sign());
    assert!(seed_ring().holds_ed25519_seed());
}

fn check_url(url: &str, keys: &KeyRing) -> Result<Credential, Deny> {
    let headers = NginxHeaders::new(url.as_bytes(), b"GET", b"10.1.1.1");
    let request = headers.parse()?;
    SignedUrl::parse(&request.params)?
        .verify(&request, keys, &policy(), NOW)
        .map(|grant| grant.credential)
}

fn url_grant(path: &str) -> UrlGrant {
    UrlGrant::new(
        CanonicalPath::parse(path.as_bytes()).unwrap(),
        NOW.plus(600),
    )
}

#[test]
fn an_ed25519_url_verifies_with_the_public_key_only() {
    let url = signed_url::sign(&url_grant("/a/b.jpg"), seed_ring().signing_key()).unwrap();
    let signature = url.rsplit_once("kh_sig=").unwrap().1;
    assert_eq!(signature.len(), 86, "{url}");
    assert_eq!(check_url(&url, &public_ring()), Ok(Credential::SignedUrl));
    assert_eq!(check_url(&url, &seed_ring()), Ok(Credential::SignedUrl));
    assert_eq!(
        check_url(&url.replace("/a/b.jpg", "/a/c.jpg"), &public_ring()),
        Err(Deny::BadSignature)
    );
    assert_eq!(
        check_url(&url.replace("kh_exp=", "kh_exp=1"), &public_ring()),
        Err(Deny::BadSignature)
    );
    // The same URL under an HMAC key of the same id: the key decides, so bad-signature.
    let hmac = KeyRing::parse(&format!("k1:{SEED}")).unwrap();
    assert_eq!(check_url(&url, &hmac), Err(Deny::BadSignature));
    // And an HMAC URL under the Ed25519 key of that id.
    let hmac_url = signed_url::sign(&url_grant("/a/b.jpg"), hmac.signing_key()).unwrap();
    assert_eq!(
        check_url(&hmac_url, &public_ring()),
        Err(Deny::BadSignature)
    );
    // A signature of neither length is malformed.
    let cut = &url[..url.len() - 1];
    assert_eq!(check_url(cut, &public_ring()), Err(Deny::Malformed));
}

#[test]
fn a_public_key_cannot_sign_a_url_or_a_cookie() {
    let ring = public_ring();
    assert_eq!(
        signed_url::sign(&url_grant("/a/b.jpg"), ring.signing_key()),
        Err(SignError::VerifyOnlyKey(VerifyOnlyKey { kid: "k1".into() }))
    );
    let scope = Scope::parse(b"/u1/").unwrap();
    let grant = CookieGrant::new(scope, NOW.plus(600), None);
    assert_eq!(
        cookie::sign(&grant, ring.signing_key()),
        Err(VerifyOnlyKey { kid: "k1".into() })
    );
}

#[test]
fn an_ed25519_cookie_verifies_with_the_public_key_only() {
    let scope = Scope::parse(b"/u1/").unwrap();
    let grant = CookieGrant::new(scope, NOW.plus(600), None);
    let value = cookie::sign(&grant, seed_ring().signing_key()).unwrap();
    let check = |value: &str, keys: &KeyRing| {
        let headers = NginxHeaders::new(b"/u1/a.jpg", b"GET", b"10.1.1.1");
        let request = headers.parse()?;
        SignedCookie::parse(value)?
            .verify(&request, keys, &policy(), 86400, NOW)
            .map(|grant| grant.credential)
    };
    assert_eq!(check(&value, &public_ring()), Ok(Credential::Cookie));
    let tampered = value.replace(".L3UxLw.", ".L3UyLw.");
    assert_ne!(tampered, value);
    assert_eq!(check(&tampered, &public_ring()), Err(Deny::BadSignature));
    let hmac = KeyRing::parse(&format!("k1:{SEED}")).unwrap();
    assert_eq!(check(&value, &hmac), Err(Deny::BadSignature));
}
