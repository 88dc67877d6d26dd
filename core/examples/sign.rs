//! Signs a URL, a cookie and a JWT with `keyhole-core` alone: no keyhole service, no
//! runtime. docs/signing.md ("Rust") shows this file; `core/tests/sign_example.rs`
//! runs the same functions and verifies what they make.
//!
//! Run: `cargo run -p keyhole-core --example sign`.

use std::error::Error;

use keyhole_core::canonical::{CanonicalPath, Scope, encode};
use keyhole_core::clock::{Clock, SystemClock, UnixTime};
use keyhole_core::keys::KeyRing;
use keyhole_core::verify::cookie::{self, CookieGrant, SameSite, SessionId};
use keyhole_core::verify::jwt::{self, JwtPolicy, JwtVerifier, TokenGrant};
use keyhole_core::verify::signed_url::{self, UrlGrant};

/// The signed-URL and cookie key: a `kid:secret` line, as in keyhole's `KEYHOLE_KEYS`
/// (give the whole value to sign with its first key). Read it from your secret store.
pub const KEY_LINE: &str = "k1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8";

/// The JWT key: a `kid:ALG:secret` line, as in keyhole's `KEYHOLE_JWT_KEYS` (a
/// separate secret from the signed-URL keys).
pub const JWT_KEY_LINE: &str = "j1:HS256:ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8";

/// A signed URL (path and query) for one file, valid for 10 minutes from `now`.
pub fn sign_url(
    keys: &KeyRing,
    decoded_path: &str,
    now: UnixTime,
) -> Result<String, Box<dyn Error>> {
    // CanonicalPath::parse reads a path as written in a URL: encode the file name first.
    let path = CanonicalPath::parse(encode(decoded_path).as_bytes())
        .map_err(|reason| format!("{decoded_path:?} is not a canonical path ({reason})"))?;
    let mut grant = UrlGrant::new(path, now.plus(600));
    grant.methods = None; // None = GET,HEAD; a claims::Methods::parse("GET") writes kh_m
    grant.ip = None; // a claims::IpBinding::parse("203.0.113.7") binds the client
    Ok(signed_url::sign(&grant, keys.signing_key())?)
}

/// A cookie opening every file below `decoded_scope` for an hour from `now`: its value
/// and the whole `Set-Cookie` header value.
pub fn sign_cookie(
    keys: &KeyRing,
    decoded_scope: &str,
    now: UnixTime,
) -> Result<(String, String), Box<dyn Error>> {
    let scope = Scope::parse(encode(decoded_scope).as_bytes())
        .map_err(|reason| format!("{decoded_scope:?} is not a canonical scope ({reason})"))?;
    let ttl = 3600;
    // A fresh random session id names the cookie in `keyhole revoke --sid`.
    let sid = SessionId::generate().map_err(|error| format!("no session id: {error}"))?;
    let grant = CookieGrant::new(scope, now.plus(ttl), Some(sid));
    let value = cookie::sign(&grant, keys.signing_key())?;
    let set_cookie = cookie::set_cookie_header(cookie::DEFAULT_NAME, &value, ttl, SameSite::Lax);
    Ok((value, set_cookie))
}

/// A URL carrying a JWT for one file (`?token=`), valid for 5 minutes from `now`.
pub fn sign_jwt_url(
    jwt_key_line: &str,
    decoded_path: &str,
    now: UnixTime,
) -> Result<String, Box<dyn Error>> {
    let keys = jwt::keys::parse_hmac_keys(jwt_key_line)?;
    let (kid, alg, key) = JwtVerifier::new(keys, JwtPolicy::default())?
        .signing_key()
        .ok_or("the JWT key line holds no HMAC key")?;
    let path = CanonicalPath::parse(encode(decoded_path).as_bytes())
        .map_err(|reason| format!("{decoded_path:?} is not a canonical path ({reason})"))?;
    let grant = TokenGrant {
        path: path.clone(),
        scope: None, // a Scope::parse(b"/u1/") opens every file below /u1/
        iat: now,
        exp: now.plus(300),
        audience: jwt::DEFAULT_AUDIENCE.into(),
        once: false,   // true: single use (a random jti, kh_once)
        ip: None,      // a claims::IpBinding binds the client (kh_ip)
        methods: None, // None = GET,HEAD; a claims::Methods writes kh_m
        uses: None,    // Some(3): three uses (a random jti, kh_uses)
    };
    let token = jwt::mint(&grant, &kid, alg, &key)?;
    Ok(format!(
        "{}?{}={token}",
        path.to_url_form(),
        jwt::DEFAULT_PARAM
    ))
}

fn main() -> Result<(), Box<dyn Error>> {
    let keys = KeyRing::parse(KEY_LINE)?;
    let now = SystemClock.now();
    println!(
        "URL:        {}",
        sign_url(&keys, "/photos/café au lait.jpg", now)?
    );
    let (_value, set_cookie) = sign_cookie(&keys, "/photos/u1/", now)?;
    println!("Set-Cookie: {set_cookie}");
    println!(
        "JWT URL:    {}",
        sign_jwt_url(JWT_KEY_LINE, "/photos/café.jpg", now)?
    );
    Ok(())
}
