//! ngx_http_keyhole_module's request handler (`handler::decide`, the function its
//! access-phase handler calls with nginx's six variables), differentially against the
//! service: whatever the module decides itself, `Authorizer::decide` (signed URLs,
//! cookies and HMAC JWTs: the same keys, the same JWT key as `keyhole_jwt_keys_file`,
//! the same time rules) must decide the same way, with the same reason code; only
//! session cookies and JWTs (a use limit, an unknown or missing key id) may be handed
//! over.
//!
//! Input: three bytes (the second sets the clock around a fixed instant, as in the
//! `decide` target, whose seeds fit), then `uri\nmethod\nip\ncookie\nfetch-site\nreferer\nhost`
//! (an empty value is a header nginx did not send).
#![no_main]

use std::sync::{Arc, LazyLock};

use keyhole::authorize::Authorizer;
use keyhole::clock::UnixTime;
use keyhole::decision::Decision;
use keyhole::keys::KeyRing;
use keyhole::request::{HeaderField, NginxHeaders};
use keyhole::verify::Policy;
use keyhole::verify::jwt::{JwtPolicy, JwtVerifier, keys::parse_hmac_keys};
use ngx_http_keyhole_module::handler::{self, Action, Inputs};
use ngx_http_keyhole_module::settings::{Directives, Settings};

const KEYS: &str = "k1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8";
const JWT_KEYS: &str = "j1:HS256:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8";
const NOW: u64 = 1_800_000_000;

static SETTINGS: LazyLock<Settings> = LazyLock::new(|| {
    let mut directives = Directives {
        enable: Some(true),
        keys: Some(Arc::new(KeyRing::parse(KEYS).unwrap())),
        sidecar: Some(true),
        jwt_keys: Some(Arc::new(parse_hmac_keys(JWT_KEYS).unwrap())),
        ..Directives::default()
    };
    directives.merge(&Directives::default()).unwrap();
    (*directives.resolved.unwrap()).clone()
});

static AUTHORIZER: LazyLock<Authorizer> = LazyLock::new(|| {
    let mut authorizer =
        Authorizer::new(Arc::new(KeyRing::parse(KEYS).unwrap()), Policy::default());
    let jwt = JwtVerifier::new(parse_hmac_keys(JWT_KEYS).unwrap(), JwtPolicy::default()).unwrap();
    authorizer.jwt = Some(Arc::new(jwt));
    authorizer
});

fn field(value: &[u8]) -> HeaderField<'_> {
    if value.is_empty() {
        HeaderField::Missing
    } else {
        HeaderField::One(value)
    }
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let [_, clock, _, rest @ ..] = data else {
        return;
    };
    let mut fields = rest.splitn(7, |&b| b == b'\n');
    let mut next = || fields.next().unwrap_or_default();
    let inputs = Inputs {
        uri: next(),
        method: next(),
        client: next(),
        cookie: next(),
        fetch_site: next(),
        referer: next(),
        host: next(),
    };
    let now = UnixTime(NOW.saturating_add_signed((i64::from(*clock) - 128) * 10));
    let verdict = handler::decide(&SETTINGS, &inputs, now);
    assert_eq!(
        verdict,
        handler::decide(&SETTINGS, &inputs, now),
        "not deterministic"
    );
    let headers = NginxHeaders {
        original_uri: field(inputs.uri),
        original_method: field(inputs.method),
        real_ip: field(inputs.client),
        cookie: field(inputs.cookie),
        fetch_site: field(inputs.fetch_site),
        referer: field(inputs.referer),
        host: field(inputs.host),
    };
    let service = AUTHORIZER.decide(&headers, now);
    match verdict.action {
        Action::Allow => assert!(
            matches!(service, Decision::Allow(_)),
            "module allows, service says {}",
            service.code()
        ),
        Action::Deny(status) => {
            assert_eq!(status, 403);
            assert_eq!(
                verdict.reason,
                service.code(),
                "module and service disagree"
            );
        }
        Action::Handover => assert!(
            matches!(verdict.credential, "cookie" | "jwt"),
            "only sessions and tokens go on"
        ),
    }
});
