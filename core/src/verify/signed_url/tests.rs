//! Unit tests for signed URLs: a fixed key, a fixed clock.

use super::*;
use crate::host::Host;
use crate::request::NginxHeaders;

const SECRET: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8";
const NOW: UnixTime = UnixTime(1_800_000_000);

fn ring() -> KeyRing {
    KeyRing::parse(&format!("k1:{SECRET}")).unwrap()
}

fn policy() -> Policy {
    Policy {
        leeway: 30,
        max_lifetime: 7 * 86400,
        max_cache: 60,
    }
}

fn grant(path: &str) -> UrlGrant {
    UrlGrant::new(
        CanonicalPath::parse(path.as_bytes()).unwrap(),
        NOW.plus(600),
    )
}

fn check(uri: &str, method: &str, ip: &str) -> Result<Credential, Deny> {
    check_grant(uri, method, ip).map(|grant| grant.credential)
}

fn check_grant(uri: &str, method: &str, ip: &str) -> Result<Grant, Deny> {
    let headers = NginxHeaders::new(uri.as_bytes(), method.as_bytes(), ip.as_bytes());
    let request = headers.parse()?;
    SignedUrl::parse(&request.params)?.verify(&request, &ring(), &policy(), NOW)
}

fn signed(grant: &UrlGrant) -> String {
    sign(grant, ring().signing_key()).unwrap()
}

#[test]
fn a_signed_url_verifies() {
    let url = signed(&grant("/a/b.jpg"));
    assert_eq!(check(&url, "GET", "10.1.1.1"), Ok(Credential::SignedUrl));
    assert_eq!(check(&url, "HEAD", "10.1.1.1"), Ok(Credential::SignedUrl));
    assert_eq!(check(&url, "POST", "10.1.1.1"), Err(Deny::MethodNotAllowed));
    assert_eq!(
        check(&url.replace("/a/b.jpg", "/a/c.jpg"), "GET", "1.1.1.1"),
        Err(Deny::BadSignature)
    );
}

#[test]
fn only_unbound_urls_are_cacheable_and_only_until_expiry() {
    let g = grant("/a");
    assert_eq!(
        check_grant(&signed(&g), "GET", "1.1.1.1")
            .unwrap()
            .cacheable_until,
        Some(g.exp)
    );
    let mut g = grant("/a");
    g.ip = Some(IpBinding::parse("1.1.1.1").unwrap());
    assert_eq!(
        check_grant(&signed(&g), "GET", "1.1.1.1")
            .unwrap()
            .cacheable_until,
        None
    );
}

#[test]
fn moving_digits_between_fields_breaks_the_signature() {
    let mut g = grant("/a/b1");
    g.exp = UnixTime(1_800_000_234);
    let url = signed(&g);
    let moved = url
        .replace("/a/b1?", "/a/b12?")
        .replace("kh_exp=1800000234", "kh_exp=180000234");
    assert_eq!(check(&moved, "GET", "1.1.1.1"), Err(Deny::BadSignature));
}

#[test]
fn time_rules() {
    let mut g = grant("/a");
    g.exp = NOW.minus(31);
    assert_eq!(check(&signed(&g), "GET", "1.1.1.1"), Err(Deny::Expired));
    g.exp = NOW.minus(30);
    assert_eq!(
        check(&signed(&g), "GET", "1.1.1.1"),
        Ok(Credential::SignedUrl)
    );
    g.exp = NOW.plus(7 * 86400 + 1);
    assert_eq!(check(&signed(&g), "GET", "1.1.1.1"), Err(Deny::TtlTooLong));
    g.exp = NOW.plus(60);
    g.nbf = Some(NOW.plus(31));
    assert_eq!(check(&signed(&g), "GET", "1.1.1.1"), Err(Deny::NotYetValid));
    g.nbf = Some(NOW.plus(30));
    assert_eq!(
        check(&signed(&g), "GET", "1.1.1.1"),
        Ok(Credential::SignedUrl)
    );
}

#[test]
fn scope_ip_and_query_bindings() {
    let mut g = grant("/u1/a.jpg");
    g.scope = Some(Scope::parse(b"/u1/").unwrap());
    let url = signed(&g);
    assert_eq!(
        check(&url.replace("/u1/a.jpg", "/u1/b/c.jpg"), "GET", "1.1.1.1"),
        Ok(Credential::SignedUrl)
    );
    assert_eq!(
        check(&url.replace("/u1/a.jpg", "/u10/x"), "GET", "1.1.1.1"),
        Err(Deny::OutOfScope)
    );

    let mut g = grant("/a");
    g.ip = Some(IpBinding::parse("10.0.0.0/8").unwrap());
    let url = signed(&g);
    assert_eq!(check(&url, "GET", "10.9.9.9"), Ok(Credential::SignedUrl));
    assert_eq!(check(&url, "GET", "11.0.0.1"), Err(Deny::IpMismatch));

    let mut g = grant("/a");
    g.query = Some("w=100&h=50".into());
    let url = signed(&g);
    assert!(url.starts_with("/a?w=100&h=50&kh_v=1"), "{url}");
    assert_eq!(check(&url, "GET", "1.1.1.1"), Ok(Credential::SignedUrl));
    assert_eq!(
        check(&url.replace("w=100", "w=900"), "GET", "1.1.1.1"),
        Err(Deny::BadSignature)
    );
    assert_eq!(
        check(&format!("{url}&x=1"), "GET", "1.1.1.1"),
        Err(Deny::BadSignature)
    );

    // Unbound: extra application parameters do not matter.
    let url = signed(&grant("/a"));
    assert_eq!(
        check(&format!("{url}&v=2"), "GET", "1.1.1.1"),
        Ok(Credential::SignedUrl)
    );
}

#[test]
fn strict_parsing() {
    let url = signed(&grant("/a"));
    let exp = format!("kh_exp={}", NOW.plus(600).0);
    for (bad, reason) in [
        (format!("{url}&{exp}"), Deny::DuplicateParam),
        (url.replace(&exp, "kh_exp=+1800000600"), Deny::Malformed),
        (url.replace(&exp, "kh_exp=01800000600"), Deny::Malformed),
        (url.replace(&exp, "kh_exp=1800000600000"), Deny::Malformed),
        (url.replace(&exp, "kh_exp="), Deny::Malformed),
        (url.replace("kh_v=1", "kh_v=2"), Deny::UnsupportedVersion),
        (url.replace("kh_v=1", "kh_v=x"), Deny::Malformed),
        (url.replace("kh_v=1&", ""), Deny::Malformed),
        (url.replace("kh_kid=k1", "kh_kid=k9"), Deny::UnknownKey),
        (url.replace("kh_kid=k1", "kh_kid=k%31"), Deny::Malformed),
        (format!("{url}&kh_extra=1"), Deny::Malformed),
        (format!("{url}A"), Deny::Malformed),
        (url[..url.len() - 1].to_owned(), Deny::Malformed),
    ] {
        assert_eq!(check(&bad, "GET", "1.1.1.1"), Err(reason), "{bad}");
    }
}

#[test]
fn signature_must_be_canonical_base64url() {
    let url = signed(&grant("/a"));
    let (head, sig) = url.split_once("kh_sig=").unwrap();
    // Flip the last character to one that decodes to the same bytes with stray bits.
    let last = sig.chars().last().unwrap();
    let alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let index = alphabet.find(last).unwrap();
    let stray = alphabet.chars().nth(index ^ 1).unwrap();
    let tampered = format!("{head}kh_sig={}{stray}", &sig[..sig.len() - 1]);
    assert_eq!(check(&tampered, "GET", "1.1.1.1"), Err(Deny::Malformed));
    let padded = format!("{head}kh_sig={}=", &sig[..sig.len() - 1]);
    assert_eq!(check(&padded, "GET", "1.1.1.1"), Err(Deny::Malformed));
    let encoded = format!("{head}kh_sig={}%2D", &sig[..sig.len() - 1]);
    assert_eq!(check(&encoded, "GET", "1.1.1.1"), Err(Deny::Malformed));
}

#[test]
fn ip_bindings_must_be_canonical() {
    for good in [
        "10.0.0.1",
        "2001:db8::/32",
        "0.0.0.0/0",
        "::/0",
        "::102:304",
        "64:ff9b::c000:201",
    ] {
        assert_eq!(
            IpBinding::parse(good).map(|ip| ip.to_string()),
            Ok(good.to_owned())
        );
    }
    for bad in [
        "10.0.0.1/8",
        "010.0.0.1",
        "2001:DB8::1",
        "2001:0db8::1",
        "0:0:0:0:0:0:0:1",
        "::ffff:1.2.3.4",
        "::ffff:102:304",
        "::ffff:0:0/96",
        "::1.2.3.4",
        "64:ff9b::192.0.2.1",
        "fe80::1%eth0",
        "10.0.0.0/08",
        "2001:db8::/032",
        "10.0.0.0/33",
        "::/129",
        "10.0.0.0/",
        " 10.0.0.1",
        "x",
    ] {
        assert_eq!(IpBinding::parse(bad), Err(Deny::Malformed), "{bad}");
    }
}

/// Regression: an outside signer's `kh_ip=127.0.0.1/32` and `::1/128` were refused
/// as `malformed` although the doc's rule for networks allows them.
#[test]
fn full_length_prefixes_are_networks_signed_as_written() {
    for (text, client, other) in [
        ("127.0.0.1/32", "127.0.0.1", "127.0.0.2"),
        ("::1/128", "::1", "::2"),
    ] {
        let ip = IpBinding::parse(text).unwrap();
        assert_eq!(ip.to_string(), text);
        let bare = IpBinding::parse(text.split('/').next().unwrap()).unwrap();
        assert_ne!(ip, bare, "the text as sent is what is signed");
        let mut g = grant("/a");
        g.ip = Some(ip);
        let url = signed(&g);
        assert!(url.contains(&format!("&kh_ip={text}&")), "{url}");
        let default_methods = Methods::default_methods();
        let fields = SignedFields {
            kid: "k1",
            target: TargetRef::Path(&g.path),
            exp: g.exp,
            nbf: None,
            ip: g.ip,
            methods: &default_methods,
            query: None,
            host: None,
        };
        assert!(string_to_sign(&fields).contains(&format!("\nip:{text}\n")));
        assert_eq!(check(&url, "GET", client), Ok(Credential::SignedUrl));
        assert_eq!(check(&url, "GET", other), Err(Deny::IpMismatch));
        // The same address signed bare is another text: swapping them breaks the MAC.
        let bare_text = text.split('/').next().unwrap();
        assert_eq!(
            check(
                &url.replace(&format!("kh_ip={text}"), &format!("kh_ip={bare_text}")),
                "GET",
                client
            ),
            Err(Deny::BadSignature)
        );
    }
}

#[test]
fn methods_must_be_distinct_upper_case_names() {
    assert!(Methods::parse("GET").is_ok());
    for bad in ["get", "GET,GET", "GET,", "", "GET HEAD"] {
        assert_eq!(Methods::parse(bad), Err(Deny::Malformed), "{bad}");
    }
}

#[test]
fn sign_refuses_what_verify_would_refuse() {
    let key = ring();
    let key = key.signing_key();
    let mut g = grant("/u2/a");
    g.scope = Some(Scope::parse(b"/u1/").unwrap());
    assert!(matches!(
        sign(&g, key),
        Err(SignError::PathOutsideScope { .. })
    ));
    for (query, expected) in [
        (
            "kh_sig=x",
            SignError::ReservedQueryParam {
                item: "kh_sig=x".into(),
            },
        ),
        (
            "a=1&kh_q",
            SignError::ReservedQueryParam {
                item: "kh_q".into(),
            },
        ),
        (
            "token=abc",
            SignError::JwtParamInQuery {
                item: "token=abc".into(),
                param: "token".into(),
            },
        ),
        (
            "a&&b",
            SignError::QueryEmptyItem {
                query: "a&&b".into(),
            },
        ),
        ("a&", SignError::QueryEmptyItem { query: "a&".into() }),
        (
            "a b",
            SignError::QueryNotVisibleAscii {
                query: "a b".into(),
            },
        ),
        (
            "a#b",
            SignError::QueryNotVisibleAscii {
                query: "a#b".into(),
            },
        ),
    ] {
        let mut g = grant("/a");
        g.query = Some(query.into());
        assert_eq!(sign(&g, key), Err(expected), "{query}");
    }
    let mut g = grant("/a");
    g.exp = UnixTime(MAX_TIMESTAMP + 1);
    assert!(matches!(
        sign(&g, key),
        Err(SignError::TimestampTooLarge { .. })
    ));
    let mut g = grant("/a");
    g.nbf = Some(g.exp.plus(1));
    assert!(matches!(
        sign(&g, key),
        Err(SignError::NotBeforeAfterExpiry { .. })
    ));
    g.nbf = Some(g.exp);
    assert!(sign(&g, key).is_ok(), "a not-before equal to the expiry");
}

/// Regression: `keyhole sign --query` with 96 items printed a URL keyhole denied
/// as `too-many-params`, because keyhole's own `kh_*` items were not counted.
#[test]
fn sign_counts_its_own_parameters_against_the_limit() {
    let key = ring();
    let key = key.signing_key();
    // kh_v, kh_kid, kh_exp, kh_q and kh_sig: 5 of the 100 items are keyhole's.
    let mut g = grant("/a");
    g.query = Some(vec!["x=1"; MAX_PARAMS - 5].join("&"));
    let url = sign(&g, key).unwrap();
    assert_eq!(url.matches('&').count() + 1, MAX_PARAMS);
    assert_eq!(check(&url, "GET", "1.1.1.1"), Ok(Credential::SignedUrl));
    g.query = Some(vec!["x=1"; MAX_PARAMS - 4].join("&"));
    assert_eq!(
        sign(&g, key),
        Err(SignError::TooManyParams {
            application: 96,
            keyhole: 5,
            total: 101,
            max: MAX_PARAMS
        })
    );
    // Every optional field is one more item of keyhole's.
    g.query = Some(vec!["x=1"; MAX_PARAMS - 5].join("&"));
    g.methods = Some(Methods::parse("GET").unwrap());
    assert!(matches!(
        sign(&g, key),
        Err(SignError::TooManyParams { total: 101, .. })
    ));
}

#[test]
fn sign_refuses_urls_longer_than_keyhole_reads() {
    let key = ring();
    let key = key.signing_key();
    let mut g = grant("/a");
    g.query = Some("x=".into());
    let overhead = sign(&g, key).unwrap().len() - "x=".len();
    g.query = Some(format!("x={}", "y".repeat(MAX_URI_LEN - overhead - 2)));
    let url = sign(&g, key).unwrap();
    assert_eq!(url.len(), MAX_URI_LEN);
    assert_eq!(check(&url, "GET", "1.1.1.1"), Ok(Credential::SignedUrl));
    g.query = Some(format!("x={}", "y".repeat(MAX_URI_LEN - overhead - 1)));
    assert_eq!(
        sign(&g, key),
        Err(SignError::UriTooLong {
            length: MAX_URI_LEN + 1,
            max: MAX_URI_LEN
        })
    );
}

fn check_on(uri: &str, host: Option<&str>, keys: &KeyRing) -> Result<Grant, Deny> {
    let mut headers = NginxHeaders::new(uri.as_bytes(), b"GET", b"10.1.1.1");
    if let Some(host) = host {
        headers.host = crate::request::HeaderField::One(host.as_bytes());
    }
    let request = headers.parse()?;
    SignedUrl::parse(&request.params)?.verify(&request, keys, &policy(), NOW)
}

#[test]
fn a_bound_host_is_signed_and_checked() {
    let mut g = grant("/a/b.jpg");
    g.host = Some(Host::parse("img.example.com").unwrap());
    let url = signed(&g);
    assert!(url.contains("&kh_host=img.example.com&kh_sig="), "{url}");
    let keys = ring();
    assert!(check_on(&url, Some("img.example.com"), &keys).is_ok());
    assert!(check_on(&url, Some("IMG.example.com."), &keys).is_ok());
    assert_eq!(
        check_on(&url, Some("other.example.com"), &keys),
        Err(Deny::HostMismatch)
    );
    assert_eq!(check_on(&url, None, &keys), Err(Deny::MissingHeader));
    // The host is signed: swapping it is a forgery, and so is dropping it.
    let swapped = url.replace("kh_host=img.", "kh_host=other.");
    assert_eq!(
        check_on(&swapped, Some("other.example.com"), &keys),
        Err(Deny::BadSignature)
    );
    let dropped = url.replace("&kh_host=img.example.com", "");
    assert_eq!(
        check_on(&dropped, Some("img.example.com"), &keys),
        Err(Deny::BadSignature)
    );
    // Only the one text a signer writes is read.
    for bad in [
        "IMG.example.com",
        "img.example.com.",
        "img.example.com:443",
        "",
    ] {
        let url = url.replace("kh_host=img.example.com", &format!("kh_host={bad}"));
        assert_eq!(
            check_on(&url, Some("img.example.com"), &keys),
            Err(Deny::Malformed),
            "{bad}"
        );
    }
    // An unbound URL keeps its nine-line signed bytes.
    let default_methods = Methods::default_methods();
    let fields = |host| SignedFields {
        kid: "k1",
        target: TargetRef::Path(&g.path),
        exp: g.exp,
        nbf: None,
        ip: None,
        methods: &default_methods,
        query: None,
        host,
    };
    assert!(string_to_sign(&fields(None)).ends_with("\nquery:"));
    let host = Host::parse("img.example.com").unwrap();
    assert!(string_to_sign(&fields(Some(&host))).ends_with("\nquery:\nhost:img.example.com"));
}

#[test]
fn a_key_grants_only_inside_its_limits() {
    let keys = KeyRing::parse(&format!(
        "a:{SECRET};paths=/protected/a/,b:{SECRET};paths=/protected/b/;hosts=b.example.com"
    ))
    .unwrap();
    let sign_with = |kid: &str, g: &UrlGrant| sign(g, keys.find(kid).unwrap()).unwrap();
    let url = sign_with("a", &grant("/protected/a/x.jpg"));
    assert!(check_on(&url, None, &keys).is_ok());
    // Correctly signed by team A for team B's path: the signature holds, the key may
    // not grant it.
    let url = sign_with("a", &grant("/protected/b/x.jpg"));
    assert_eq!(check_on(&url, None, &keys), Err(Deny::KeyOutOfScope));
    // A scope wider than the key's prefix opens only what the key may grant.
    let mut wide = grant("/protected/a/x.jpg");
    wide.scope = Some(Scope::parse(b"/protected/").unwrap());
    let url = sign_with("a", &wide);
    assert!(check_on(&url, None, &keys).is_ok());
    let url = url.replace("/protected/a/x.jpg?", "/protected/b/x.jpg?");
    assert_eq!(check_on(&url, None, &keys), Err(Deny::KeyOutOfScope));
    // Key b needs its host.
    let url = sign_with("b", &grant("/protected/b/x.jpg"));
    assert!(check_on(&url, Some("b.example.com"), &keys).is_ok());
    assert_eq!(
        check_on(&url, Some("a.example.com"), &keys),
        Err(Deny::KeyOutOfScope)
    );
    assert_eq!(check_on(&url, None, &keys), Err(Deny::MissingHeader));
}
