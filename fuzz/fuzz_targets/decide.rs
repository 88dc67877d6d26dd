//! The whole `/auth` decision from raw header values: `Authorizer::decide` with
//! arbitrary bytes for `X-Original-URI`, `X-Original-Method` and `X-Real-IP`, each
//! of which may also be missing or duplicated, at a time near the vectors' `now`.
//!
//! Input layout (readable, so that seeds can be written by hand):
//! byte 0 picks each header's shape (two bits per header: 0 or 1 = sent once,
//! 2 = missing, 3 = duplicated); byte 1 moves the clock by (byte - 128) × 10 s; the
//! rest is `uri \n method \n ip` (a field never holds `\n`: no HTTP header can).
//!
//! Beyond "never panics": the decision is deterministic; an allow needs headers that
//! parse and a `kh_sig`; a cacheable allow never outlives `now + max_cache`.
#![no_main]

use std::sync::{Arc, LazyLock};

use keyhole::clock::UnixTime;
use keyhole::decision::Decision;
use keyhole::keys::KeyRing;
use keyhole::request::{HeaderField, NginxHeaders};
use keyhole::verify::{Authorizer, Policy};
use libfuzzer_sys::fuzz_target;

/// The key of tests/vectors/signed-urls.json, so seeded valid URLs verify.
const KEY_LINE: &str = "k1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8";
/// The vectors' `now`.
const NOW: u64 = 1_800_000_000;

static AUTHORIZER: LazyLock<Authorizer> = LazyLock::new(|| Authorizer {
    keys: Arc::new(KeyRing::parse(KEY_LINE).unwrap_or_else(|e| panic!("test key: {e}"))),
    policy: Policy::default(),
});

fn field(shape: u8, value: &[u8]) -> HeaderField<'_> {
    match shape & 3 {
        2 => HeaderField::Missing,
        3 => HeaderField::Duplicated,
        _ => HeaderField::One(value),
    }
}

fuzz_target!(|data: &[u8]| {
    let (shapes, clock, rest) = match data {
        [shapes, clock, rest @ ..] => (*shapes, *clock, rest),
        _ => return,
    };
    let mut fields = rest.splitn(3, |&b| b == b'\n');
    let uri = fields.next().unwrap_or_default();
    let method = fields.next().unwrap_or_default();
    let ip = fields.next().unwrap_or_default();
    let headers = NginxHeaders {
        original_uri: field(shapes, uri),
        original_method: field(shapes >> 2, method),
        real_ip: field(shapes >> 4, ip),
    };
    let now = UnixTime(NOW.saturating_add_signed((i64::from(clock) - 128) * 10));
    let authorizer = &*AUTHORIZER;
    let decision = authorizer.decide(&headers, now);
    assert_eq!(decision, authorizer.decide(&headers, now), "not deterministic");
    assert!(!decision.code().is_empty());
    if let Decision::Allow(grant) = &decision {
        let request = headers
            .parse()
            .unwrap_or_else(|deny| panic!("allowed, yet headers deny: {deny:?}"));
        assert!(request.params.iter().any(|p| p.name == "kh_sig"));
        if let Some(until) = grant.cacheable_until {
            assert!(until <= now.plus(authorizer.policy.max_cache));
        }
    }
});
