//! Microbenchmarks of the request path without IO, from nginx's raw header values to
//! a Decision: a signed URL (HMAC and Ed25519), JWTs of each algorithm family (HS256, RS256, ES256,
//! EdDSA), and a signed cookie. Run with `cargo bench --bench verify`. Test keys for
//! RS256, ES256 and EdDSA are generated with `openssl` into the bench's temp folder.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::hint::black_box;
use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use keyhole::authorize::Authorizer;
use keyhole::canonical::CanonicalPath;
use keyhole::clock::UnixTime;
use keyhole::keys::KeyRing;
use keyhole::request::NginxHeaders;
use keyhole::verify::Policy;
use keyhole::verify::signed_url::{UrlGrant, sign};

const NOW: UnixTime = UnixTime(1_800_000_000);

fn signed_url(c: &mut Criterion) {
    let keys = KeyRing::parse("k1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8").unwrap();
    let grant = UrlGrant::new(
        CanonicalPath::parse(b"/protected/gallery/2026/caf%C3%A9-0042.jpg").unwrap(),
        NOW.plus(600),
    );
    let url = sign(&grant, keys.signing_key()).unwrap();
    let authorizer = Authorizer::new(Arc::new(keys), Policy::default());
    let headers = NginxHeaders::new(url.as_bytes(), b"GET", b"203.0.113.7");
    assert!(authorizer.decide(&headers, NOW).is_allow());

    c.bench_function("signed_url/decide (headers to Decision)", |b| {
        b.iter(|| black_box(authorizer.decide(black_box(&headers), NOW)))
    });
    c.bench_function("signed_url/canonicalise path", |b| {
        b.iter(|| {
            black_box(CanonicalPath::parse(black_box(
                b"/protected/gallery/2026/caf%C3%A9-0042.jpg",
            )))
        })
    });
    c.bench_function("signed_url/sign", |b| {
        let key = authorizer.keys.signing_key();
        b.iter(|| black_box(sign(black_box(&grant), key)))
    });
}

/// The same URL signed with an Ed25519 seed and decided by a keyhole holding only the
/// public key, beside the HMAC one above (docs/benchmarks.md).
fn signed_url_ed25519(c: &mut Criterion) {
    let seed =
        KeyRing::parse("k1:ed25519-seed:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8").unwrap();
    let public = seed.signing_key().ed25519_public().unwrap();
    let keys = KeyRing::parse(&format!("k1:ed25519:{public}")).unwrap();
    let grant = UrlGrant::new(
        CanonicalPath::parse(b"/protected/gallery/2026/caf%C3%A9-0042.jpg").unwrap(),
        NOW.plus(600),
    );
    let url = sign(&grant, seed.signing_key()).unwrap();
    let authorizer = Authorizer::new(Arc::new(keys), Policy::default());
    let headers = NginxHeaders::new(url.as_bytes(), b"GET", b"203.0.113.7");
    assert!(authorizer.decide(&headers, NOW).is_allow());

    c.bench_function("signed_url_ed25519/decide (headers to Decision)", |b| {
        b.iter(|| black_box(authorizer.decide(black_box(&headers), NOW)))
    });
    c.bench_function("signed_url_ed25519/sign", |b| {
        let key = seed.signing_key();
        b.iter(|| black_box(sign(black_box(&grant), key)))
    });
}

/// Runs openssl, or stops the benchmark with an install hint.
fn openssl(args: &[&str]) {
    let status = std::process::Command::new("openssl").args(args).status();
    assert!(
        status.is_ok_and(|s| s.success()),
        "openssl {args:?} failed (apt-get install openssl)"
    );
}

fn jwt(c: &mut Criterion) {
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use jsonwebtoken::jwk::{Jwk, KeyAlgorithm};
    use jsonwebtoken::{Algorithm, EncodingKey, Header};
    use keyhole::verify::jwt::{JwtVerifier, keys};

    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("bench-jwt-keys");
    std::fs::create_dir_all(&dir).unwrap();
    let p = |name: &str| dir.join(name).to_str().unwrap().to_owned();
    if !dir.join("complete").is_file() {
        openssl(&[
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
            "-out",
            &p("rsa.pem"),
        ]);
        openssl(&[
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-out",
            &p("ec.pem"),
        ]);
        openssl(&["genpkey", "-algorithm", "ED25519", "-out", &p("ed.pem")]);
        openssl(&[
            "pkey",
            "-in",
            &p("ed.pem"),
            "-pubout",
            "-outform",
            "DER",
            "-out",
            &p("ed.pub.der"),
        ]);
        std::fs::write(dir.join("complete"), b"").unwrap();
    }
    let read = |name: &str| std::fs::read(dir.join(name)).unwrap();
    let secret = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8";
    let signers = [
        (
            "hs256",
            Algorithm::HS256,
            EncodingKey::from_secret(&URL_SAFE_NO_PAD.decode(secret).unwrap()),
        ),
        (
            "rs256",
            Algorithm::RS256,
            EncodingKey::from_rsa_pem(&read("rsa.pem")).unwrap(),
        ),
        (
            "es256",
            Algorithm::ES256,
            EncodingKey::from_ec_pem(&read("ec.pem")).unwrap(),
        ),
        (
            "eddsa",
            Algorithm::EdDSA,
            EncodingKey::from_ed_pem(&read("ed.pem")).unwrap(),
        ),
    ];
    let mut jwks = Vec::new();
    for (kid, alg, key) in &signers {
        match alg {
            Algorithm::HS256 => {}
            Algorithm::EdDSA => {
                let der = read("ed.pub.der");
                let x = URL_SAFE_NO_PAD.encode(&der[der.len() - 32..]);
                jwks.push(serde_json::json!({"kty": "OKP", "crv": "Ed25519", "x": x, "kid": kid, "alg": "EdDSA"}));
            }
            _ => {
                let mut jwk = Jwk::from_encoding_key(key, *alg).unwrap();
                jwk.common.key_id = Some((*kid).to_owned());
                jwk.common.key_algorithm =
                    Some(format!("{alg:?}").parse::<KeyAlgorithm>().unwrap());
                jwks.push(serde_json::to_value(&jwk).unwrap());
            }
        }
    }
    let mut all = keys::parse_hmac_keys(&format!("hs256:HS256:{secret}")).unwrap();
    all.extend(keys::parse_jwks(&serde_json::json!({"keys": jwks}).to_string()).unwrap());
    let verifier = JwtVerifier::new(all, Default::default()).unwrap();
    let ring = Arc::new(KeyRing::parse("k1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8").unwrap());
    let authorizer = Authorizer {
        jwt: Some(Arc::new(verifier)),
        ..Authorizer::new(ring, Policy::default())
    };
    let claims = serde_json::json!({
        "aud": "keyhole", "iat": NOW.0 - 10, "exp": NOW.0 + 60,
        "kh_path": "/protected/gallery/2026/0042.jpg",
    });
    for (kid, alg, key) in &signers {
        let mut header = Header::new(*alg);
        header.typ = Some("keyhole+jwt".into());
        header.kid = Some((*kid).into());
        let token = jsonwebtoken::encode(&header, &claims, key).unwrap();
        let uri = format!("/protected/gallery/2026/0042.jpg?token={token}");
        let headers = NginxHeaders::new(uri.as_bytes(), b"GET", b"203.0.113.7");
        assert!(authorizer.decide(&headers, NOW).is_allow(), "{kid}");
        c.bench_function(&format!("jwt/decide {kid}"), |b| {
            b.iter(|| black_box(authorizer.decide(black_box(&headers), NOW)))
        });
    }
}

fn cookie(c: &mut Criterion) {
    use keyhole::canonical::Scope;
    use keyhole::verify::cookie::{CookieGrant, SessionId, SignedCookie, sign};
    let ring = KeyRing::parse("k1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8").unwrap();
    let grant = CookieGrant::new(
        Scope::parse(b"/protected/gallery/").unwrap(),
        NOW.plus(3600),
        Some(SessionId::parse("Zm9vYmFyYmF6cXV4cXV1eA").unwrap()),
    );
    let value = sign(&grant, ring.signing_key()).unwrap();
    let headers = NginxHeaders::new(b"/protected/gallery/2026/0042.jpg", b"GET", b"192.0.2.1");
    let request = headers.parse().unwrap();
    c.bench_function("cookie/parse grant", |b| {
        b.iter(|| black_box(SignedCookie::parse(black_box(&value))))
    });
    c.bench_function("cookie/parse and verify grant", |b| {
        b.iter(|| {
            let cookie = SignedCookie::parse(black_box(&value)).unwrap();
            black_box(cookie.verify(&request, &ring, &Policy::default(), 86400, NOW))
        })
    });
}

criterion_group!(benches, signed_url, signed_url_ed25519, jwt, cookie);
criterion_main!(benches);
