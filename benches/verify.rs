//! Microbenchmarks of the request path without IO: canonicalise and verify a signed
//! URL, from nginx's raw header values to a Decision. Run with `cargo bench --bench verify`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use keyhole::canonical::CanonicalPath;
use keyhole::clock::UnixTime;
use keyhole::keys::KeyRing;
use keyhole::request::NginxHeaders;
use keyhole::verify::signed_url::{UrlGrant, sign};
use keyhole::verify::{Authorizer, Policy};

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

criterion_group!(benches, signed_url);
criterion_main!(benches);
