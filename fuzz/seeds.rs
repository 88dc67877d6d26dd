//! The seeds of the `jwt` and `cookie` targets and the JWT and cookie seeds of
//! `decide`: valid credentials under the targets' keys and the attacks of
//! `tests/jwt_attacks.rs`, `tests/cookies_e2e.rs` and `tests/vectors/jws.json`. Written
//! by `cargo run --manifest-path fuzz/Cargo.toml --bin seeds -- write`
//! (`fuzz/tools/seeds.rs`); [`ALLOWED`] names the ones that must stay allowed, which
//! `tests/fuzz_smoke.rs` checks.

use std::path::PathBuf;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey};
use keyhole::canonical::Scope;
use keyhole::claims::{CookieMethods, IpBinding};
use keyhole::clock::UnixTime;
use keyhole::keys::KeyRing;
use keyhole::verify::cookie::{self, CookieGrant, SessionId};
use serde_json::{Value, json};

use super::properties;

/// The private half of the targets' ES256 key `e256` (a throwaway test key; its
/// public half is `properties::ES256_X`/`ES256_Y`).
const ES256_PEM: &str = "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgJKoujnqd7EcvZlzV
0cQIwNZ6Lmghx+/hcwhNlpcMbZOhRANCAAScjmhBWiM447+PZTTh4/6fMscbpRd1
G/2jbleA6GEiZxpTJIfusgVaLc1z3J6IpxHmxL8e/JSORSx7ENsAsTzF
-----END PRIVATE KEY-----
";

/// The signed-URL (and cookie) key line of the targets.
const KEY_LINE: &str = "k1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8";

/// The repository's root, from the root package's tests or from the fuzz package.
fn repo_root() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    if manifest.join("fuzz_targets").is_dir() {
        manifest.parent().unwrap().to_path_buf()
    } else {
        manifest
    }
}

/// The targets' `now` (clock byte 128).
const NOW: u64 = 1_800_000_000;

/// Seeds that must be allowed: (target, file name).
pub const ALLOWED: &[(&str, &str)] = &[
    ("jwt", "valid-h256-path"),
    ("jwt", "valid-e256-path"),
    ("jwt", "valid-h256-scope"),
    ("jwt", "valid-e256-once"),
    ("jwt", "valid-h256-uses-ip-methods"),
    ("jwt", "valid-e256-typ-application-aud-array"),
    ("cookie", "valid-scope-sid"),
    ("cookie", "valid-no-sid"),
    ("cookie", "valid-root-scope"),
    ("cookie", "valid-among-others"),
    ("cookie", "valid-same-origin"),
    ("cookie", "valid-cross-site-partner"),
    ("cookie", "valid-ip-bound"),
    ("decide", "jwt-h256"),
    ("decide", "jwt-e256"),
    ("decide", "cookie-same-origin"),
    ("decide", "cookie-cross-site-partner"),
];

/// Whether a seed is allowed by its target.
pub fn allowed(target: &str, input: &[u8]) -> bool {
    match target {
        "jwt" => properties::jwt_allows(input),
        "cookie" => properties::cookie_allows(input),
        "decide" => properties::decide_allows(input),
        other => panic!("no target {other}"),
    }
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// `header.claims` (raw JSON text) signed by `kid` (`h256`, `e256`) under `alg`.
fn sign_text(kid: &str, alg: Algorithm, header: &str, claims: &str) -> String {
    let key = match kid {
        "e256" => EncodingKey::from_ec_pem(ES256_PEM.as_bytes()).unwrap(),
        _ => EncodingKey::from_secret(
            &URL_SAFE_NO_PAD
                .decode(properties::JWT_HS256_SECRET)
                .unwrap(),
        ),
    };
    let message = format!("{}.{}", b64(header.as_bytes()), b64(claims.as_bytes()));
    let signature = jsonwebtoken::crypto::sign(message.as_bytes(), &key, alg).unwrap();
    format!("{message}.{signature}")
}

fn header(kid: &str, alg: &str) -> Value {
    json!({"alg": alg, "typ": "keyhole+jwt", "kid": kid})
}

fn claims() -> Value {
    json!({"aud": "keyhole", "iat": NOW, "exp": NOW + 60, "kh_path": "/protected/a.jpg"})
}

fn with(mut value: Value, key: &str, field: Value) -> Value {
    value.as_object_mut().unwrap().insert(key.into(), field);
    value
}

fn without(mut value: Value, key: &str) -> Value {
    value.as_object_mut().unwrap().remove(key);
    value
}

fn alg_of(kid: &str) -> Algorithm {
    if kid == "e256" {
        Algorithm::ES256
    } else {
        Algorithm::HS256
    }
}

fn token(kid: &str, header: &Value, claims: &Value) -> String {
    sign_text(kid, alg_of(kid), &header.to_string(), &claims.to_string())
}

fn good(kid: &str, claims: &Value) -> String {
    let alg = if kid == "e256" { "ES256" } else { "HS256" };
    token(kid, &header(kid, alg), claims)
}

/// The `jwt` seeds: (name, selector, token).
fn jwt_seeds() -> Vec<(String, u8, String)> {
    let mut seeds: Vec<(String, u8, String)> = Vec::new();
    let mut add = |name: &str, selector: u8, token: String| {
        seeds.push((name.to_owned(), selector, token));
    };
    add("valid-h256-path", 0, good("h256", &claims()));
    add("valid-e256-path", 0, good("e256", &claims()));
    let scope = with(
        without(claims(), "kh_path"),
        "kh_scope",
        json!("/protected/"),
    );
    add("valid-h256-scope", 1, good("h256", &scope));
    let once = with(with(claims(), "kh_once", json!(true)), "jti", json!("j-1"));
    add("valid-e256-once", 0, good("e256", &once));
    let uses = with(
        with(
            with(with(claims(), "kh_uses", json!(3)), "jti", json!("j-2")),
            "kh_ip",
            json!("198.51.100.0/24"),
        ),
        "kh_m",
        json!("GET,HEAD"),
    );
    add("valid-h256-uses-ip-methods", 0, good("h256", &uses));
    let app = json!({"alg": "ES256", "typ": "application/KEYHOLE+JWT", "kid": "e256"});
    let aud = with(with(claims(), "aud", json!(["keyhole"])), "nbf", json!(NOW));
    add(
        "valid-e256-typ-application-aud-array",
        0,
        token("e256", &app, &aud),
    );
    // Attacks: algorithms, key ids, headers, shapes, claims.
    let unsigned = |alg: &str| {
        format!(
            "{}.{}.",
            b64(header("h256", alg).to_string().as_bytes()),
            b64(claims().to_string().as_bytes())
        )
    };
    add("alg-none", 0, unsigned("none"));
    add("alg-NONE-signed", 0, unsigned("NONE") + "c2ln");
    add(
        "hs256-under-es256-kid",
        0,
        sign_text(
            "h256",
            Algorithm::HS256,
            &header("e256", "HS256").to_string(),
            &claims().to_string(),
        ),
    );
    add(
        "es256-under-hs256-kid",
        0,
        sign_text(
            "e256",
            Algorithm::ES256,
            &header("h256", "ES256").to_string(),
            &claims().to_string(),
        ),
    );
    add(
        "kid-unknown",
        0,
        token("h256", &header("nope", "HS256"), &claims()),
    );
    add(
        "kid-traversal",
        0,
        token("h256", &header("../../etc/passwd", "HS256"), &claims()),
    );
    add(
        "kid-missing",
        0,
        token("h256", &without(header("h256", "HS256"), "kid"), &claims()),
    );
    add(
        "kid-number",
        0,
        token(
            "h256",
            &with(header("h256", "HS256"), "kid", json!(1)),
            &claims(),
        ),
    );
    add(
        "header-jku",
        0,
        token(
            "h256",
            &with(header("h256", "HS256"), "jku", json!("http://x/")),
            &claims(),
        ),
    );
    add(
        "typ-missing",
        0,
        token("h256", &without(header("h256", "HS256"), "typ"), &claims()),
    );
    add(
        "header-duplicate-alg",
        0,
        sign_text(
            "h256",
            Algorithm::HS256,
            r#"{"alg":"HS256","alg":"none","typ":"keyhole+jwt","kid":"h256"}"#,
            &claims().to_string(),
        ),
    );
    add(
        "claims-duplicate-path",
        0,
        sign_text(
            "h256",
            Algorithm::HS256,
            &header("h256", "HS256").to_string(),
            &format!(
                r#"{{"aud":"keyhole","iat":{NOW},"exp":{},"kh_path":"/other/x","kh_path":"/protected/a.jpg"}}"#,
                NOW + 60
            ),
        ),
    );
    add(
        "expired",
        0,
        good("h256", &with(claims(), "exp", json!(NOW - 100))),
    );
    add(
        "lifetime-too-long",
        0,
        good("e256", &with(claims(), "exp", json!(NOW + 3600))),
    );
    add(
        "wrong-audience",
        0,
        good("h256", &with(claims(), "aud", json!("other"))),
    );
    add("other-path", 2, good("h256", &claims()));
    add("bare-name-not-scope", 3, good("h256", &claims()));
    add("method-post", 4, good("e256", &claims()));
    add(
        "once-without-jti",
        0,
        good("h256", &with(claims(), "kh_once", json!(true))),
    );
    add(
        "uses-too-many",
        0,
        good(
            "h256",
            &with(with(claims(), "kh_uses", json!(9)), "jti", json!("j")),
        ),
    );
    add(
        "path-and-scope",
        0,
        good("h256", &with(claims(), "kh_scope", json!("/protected/"))),
    );
    add(
        "path-not-canonical",
        0,
        good(
            "h256",
            &with(claims(), "kh_path", json!("/protected/../a.jpg")),
        ),
    );
    let valid = good("h256", &claims());
    add("five-segments", 0, format!("{valid}.x.y"));
    add("padding", 0, format!("{valid}="));
    add("signature-changed", 0, valid.replacen(".", ".A", 1));
    add("too-large", 0, format!("{valid}{}", "A".repeat(4096)));
    add("empty", 0, String::new());
    add(
        "nested-json",
        0,
        format!("{}.{}.sig", b64(&[b'['; 200]), b64(b"{}")),
    );
    // Every JWS of tests/vectors/jws.json.
    let vectors: Value = serde_json::from_str(
        &std::fs::read_to_string(repo_root().join("tests/vectors/jws.json")).unwrap(),
    )
    .unwrap();
    for (g, group) in vectors["groups"].as_array().unwrap().iter().enumerate() {
        for (t, test) in group["tests"].as_array().unwrap().iter().enumerate() {
            if let Some(jws) = test["jws"].as_str() {
                seeds.push((format!("vector-{g:02}-{t:03}"), 0, jws.to_owned()));
            }
        }
    }
    seeds
}

fn grant(scope: &str, exp: u64, sid: Option<&str>) -> CookieGrant {
    CookieGrant::new(
        Scope::parse(scope.as_bytes()).unwrap(),
        UnixTime(exp),
        sid.map(|s| SessionId::parse(s).unwrap()),
    )
}

/// The `cookie` seeds: (name, selector, `header \n fetch-site \n referer`).
fn cookie_seeds() -> Vec<(String, u8, String)> {
    let ring = KeyRing::parse(KEY_LINE).unwrap();
    let sign = |g: &CookieGrant| cookie::sign(g, ring.signing_key()).unwrap();
    let good = sign(&grant("/u1/", NOW + 3600, Some("s-1")));
    let other_key = KeyRing::parse("k1:AQECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8").unwrap();
    let forged = cookie::sign(
        &grant("/u1/", NOW + 3600, Some("s-1")),
        other_key.signing_key(),
    )
    .unwrap();
    let tampered = good.replace("L3UxLw", "L3UyLw");
    let expired = sign(&grant("/u1/", NOW - 100, Some("s-1")));
    let too_long = sign(&grant("/u1/", NOW + 2 * 86400, Some("s-1")));
    let h = |value: &str| format!("__Host-keyhole={value}");
    let mut seeds: Vec<(String, u8, String)> = Vec::new();
    let mut add = |name: &str, selector: u8, text: String| {
        seeds.push((name.to_owned(), selector, text));
    };
    add("valid-scope-sid", 0, h(&good));
    add("valid-no-sid", 4, h(&sign(&grant("/u1/", NOW + 60, None))));
    add(
        "valid-root-scope",
        8,
        h(&sign(&grant("/", NOW + 60, Some("s_2")))),
    );
    add(
        "valid-among-others",
        0,
        format!("theme=dark; {}; b=2", h(&good)),
    );
    add("valid-same-origin", 1, format!("{}\nsame-origin", h(&good)));
    add(
        "valid-cross-site-partner",
        3,
        format!("{}\ncross-site\nhttps://partner.example/page?x=1", h(&good)),
    );
    add(
        "cross-site-evil",
        3,
        format!("{}\ncross-site\nhttps://evil.example/", h(&good)),
    );
    add(
        "cross-site-partner-lookalike",
        3,
        format!("{}\ncross-site\nhttps://partner.example.evil/", h(&good)),
    );
    add(
        "cross-site-userinfo",
        3,
        format!("{}\ncross-site\nhttps://partner.example@evil/", h(&good)),
    );
    add(
        "cross-site-no-referer",
        1,
        format!("{}\ncross-site", h(&good)),
    );
    add(
        "unknown-site",
        3,
        format!("{}\nweird\nhttps://partner.example/", h(&good)),
    );
    add("quoted", 0, format!("__Host-keyhole=\"{good}\""));
    add("no-cookie", 0, "theme=dark".into());
    add("forged", 0, h(&forged));
    add("tampered", 8, h(&tampered));
    add("expired", 0, h(&expired));
    add("ttl-too-long", 0, h(&too_long));
    add("out-of-scope", 8, h(&good));
    add("bare-scope-name", 12, h(&good));
    add("duplicate", 0, format!("{}; {}", h(&good), h(&tampered)));
    add(
        "duplicate-reversed",
        0,
        format!("{}; {}", h(&tampered), h(&good)),
    );
    add("name-case", 0, format!("__HOST-keyhole={good}"));
    add("name-prefix-missing", 0, format!("keyhole={good}"));
    add("too-large", 0, h(&"A".repeat(2000)));
    add("empty-version-field", 0, h(&good.replacen("2.", "2..", 1)));
    add("version-1", 0, h(&good.replacen("2.", "1.", 1)));
    let bound = |ip: &str, methods: CookieMethods| {
        let mut grant = grant("/u1/", NOW + 3600, Some("s-1"));
        grant.ip = Some(IpBinding::parse(ip).unwrap());
        grant.methods = methods;
        sign(&grant)
    };
    add(
        "valid-ip-bound",
        0,
        h(&bound("198.51.100.0/24", CookieMethods::Get)),
    );
    add(
        "ip-mismatch",
        0,
        h(&bound("203.0.113.0/24", CookieMethods::GetHead)),
    );
    add(
        "head-only",
        0,
        h(&bound("198.51.100.1", CookieMethods::Head)),
    );
    add(
        "methods-widened",
        0,
        h(&bound("198.51.100.1", CookieMethods::Head).replace(".SEVBRA.", ".R0VULEhFQUQ.")),
    );
    add(
        "exp-leading-zero",
        0,
        h(&good.replace(&format!(".{}.", NOW + 3600), &format!(".0{}.", NOW + 3600))),
    );
    add(
        "scope-traversal",
        0,
        h(&good.replace("L3UxLw", "L3UxLy4uLw")),
    );
    add("signature-short", 0, h(&good[..good.len() - 1]));
    add("extra-field", 0, h(&format!("{good}.x")));
    seeds
}

/// The new `decide` seeds: (name, more-shapes byte, `uri \n method \n ip \n cookie \n
/// fetch-site \n referer`). All header shapes 0 (sent once) unless missing.
fn decide_seeds() -> Vec<(String, u8, String)> {
    const NO_BROWSER_HEADERS: u8 = 0b10_10_10;
    let ring = KeyRing::parse(KEY_LINE).unwrap();
    let good_cookie =
        cookie::sign(&grant("/u1/", NOW + 3600, Some("s-1")), ring.signing_key()).unwrap();
    let h256 = good("h256", &claims());
    let e256 = good("e256", &claims());
    let ip = "198.51.100.1";
    let mut seeds: Vec<(String, u8, String)> = Vec::new();
    let mut add = |name: &str, shapes: u8, text: String| {
        seeds.push((name.to_owned(), shapes, text));
    };
    add(
        "jwt-h256",
        NO_BROWSER_HEADERS,
        format!("/protected/a.jpg?token={h256}\nGET\n{ip}"),
    );
    add(
        "jwt-e256",
        NO_BROWSER_HEADERS,
        format!("/protected/a.jpg?token={e256}\nHEAD\n{ip}"),
    );
    add(
        "jwt-twice",
        NO_BROWSER_HEADERS,
        format!("/protected/a.jpg?token={h256}&token={e256}\nGET\n{ip}"),
    );
    add(
        "jwt-and-kh-sig",
        NO_BROWSER_HEADERS,
        format!(
            "/protected/a.jpg?token={h256}&kh_v=1&kh_kid=k1&kh_exp=1800000600&kh_sig=x\nGET\n{ip}"
        ),
    );
    add(
        "cookie-same-origin",
        0,
        format!(
            "/u1/a.png\nGET\n{ip}\n__Host-keyhole={good_cookie}\nsame-origin\nhttps://files.example/"
        ),
    );
    add(
        "cookie-cross-site-partner",
        0,
        format!(
            "/u1/a.png\nGET\n{ip}\n__Host-keyhole={good_cookie}\ncross-site\nhttps://partner.example/x"
        ),
    );
    add(
        "cookie-cross-site-evil",
        0,
        format!(
            "/u1/a.png\nGET\n{ip}\n__Host-keyhole={good_cookie}\ncross-site\nhttps://evil.example/"
        ),
    );
    add(
        "cookie-with-failing-token",
        0b10_10_00,
        format!("/u1/a.png?token=x.y.z\nGET\n{ip}\n__Host-keyhole={good_cookie}"),
    );
    add(
        "cookie-duplicated-header",
        0b10_10_11,
        format!("/u1/a.png\nGET\n{ip}\n__Host-keyhole={good_cookie}"),
    );
    seeds
}

fn write_all(target: &str, seeds: &[(String, u8, String)], prefix: &[u8]) {
    let dir = repo_root().join("fuzz/seeds").join(target);
    std::fs::create_dir_all(&dir).unwrap();
    for (name, byte, text) in seeds {
        let mut input = prefix.to_vec();
        input.push(*byte);
        input.extend_from_slice(text.as_bytes());
        std::fs::write(dir.join(name), input).unwrap();
    }
}

/// Writes every seed of this module.
pub fn write() {
    // jwt and cookie: clock byte 128 (now), then the selector.
    write_all("jwt", &jwt_seeds(), &[128]);
    write_all("cookie", &cookie_seeds(), &[128]);
    // decide: every nginx header once (0), clock 128, then the browser headers' shapes.
    write_all("decide", &decide_seeds(), &[0, 128]);
    for (target, name) in ALLOWED {
        let input = std::fs::read(repo_root().join("fuzz/seeds").join(target).join(name)).unwrap();
        assert!(allowed(target, &input), "{target}/{name} is not allowed");
    }
}
