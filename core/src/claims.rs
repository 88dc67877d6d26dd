//! What every credential claims, parsed and checked one way: the client address
//! binding ([`IpBinding`]), the allowed methods ([`Methods`], and [`CookieMethods`],
//! their narrowing to `GET` and `HEAD`), the time window (expiry and not-before with
//! leeway, the longest lifetime), timestamps and signatures in text.
//!
//! The signed URL, the JWT and the cookie verifiers all use these, so a binding or a
//! time rule means the same in each; each verifier still checks its signature first
//! and calls `TimeClaims::check` where its documented order of checks says.

use std::borrow::Cow;
use std::fmt;
use std::net::IpAddr;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ipnet::IpNet;

use crate::clock::UnixTime;
use crate::decision::Deny;

/// Length of a base64url HMAC-SHA256 signature (32 bytes, no padding).
pub(crate) const SIGNATURE_LEN: usize = 43;

/// Length of a base64url Ed25519 signature (64 bytes, no padding).
pub(crate) const ED25519_SIGNATURE_LEN: usize = 86;

/// A decoded signature, by its length: which one a key accepts is the key's kind, never
/// the credential's.
#[derive(Clone, Copy, Debug)]
pub(crate) enum SignatureBytes {
    /// 32 bytes: an HMAC-SHA256 tag.
    Mac([u8; 32]),
    /// 64 bytes: an Ed25519 signature.
    Ed25519([u8; 64]),
}

/// Most digits in a timestamp (enough until the year 33658).
const MAX_TIMESTAMP_DIGITS: usize = 12;

/// Methods allowed when a credential does not say (`kh_m` absent).
const DEFAULT_METHODS: &str = "GET,HEAD";

/// Most methods in a method list.
const MAX_METHODS: usize = 8;

/// A client address binding: one address or a network, remembered exactly as written.
///
/// The signed bytes' `ip:` line is the `kh_ip` value as sent, so `127.0.0.1` and
/// `127.0.0.1/32` bind the same address but are different (and differently signed)
/// texts. Each accepted text is the one canonical spelling of its address and prefix
/// (docs/signed-urls.md, `kh_ip`), so printing the binding gives back the exact text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IpBinding {
    /// The address, or the network with its prefix (a bare address is a full prefix).
    net: IpNet,
    /// Whether the text carried `/PREFIX`: needed to give back `127.0.0.1/32` rather
    /// than `127.0.0.1`, since both are accepted.
    prefix_written: bool,
}

impl IpBinding {
    /// Parses `ADDR` or `ADDR/PREFIX` in canonical text: IPv4 dotted decimal without
    /// leading zeros; IPv6 in RFC 5952 hex form (lower case, longest zero run
    /// compressed, no dotted IPv4 part, no zone); a prefix length in decimal without
    /// leading zeros, 0 up to the full length; no host bits set; no IPv4-mapped IPv6.
    pub fn parse(text: &str) -> Result<Self, Deny> {
        let binding = match text.parse::<IpAddr>() {
            Ok(addr) => IpBinding {
                net: IpNet::from(addr),
                prefix_written: false,
            },
            Err(_) => IpBinding {
                net: text.parse::<IpNet>().map_err(|_| Deny::Malformed)?,
                prefix_written: true,
            },
        };
        let net = binding.net;
        let mapped = matches!(net.addr(), IpAddr::V6(v6) if v6.to_ipv4_mapped().is_some());
        // Rust prints the one canonical text of an address or network, so comparing
        // refuses upper case, leading zeros, uncompressed or dotted IPv6 and `/08`.
        if mapped || net.trunc() != net || binding.to_string() != text {
            return Err(Deny::Malformed);
        }
        Ok(binding)
    }

    /// Whether the client address lies in this binding.
    pub fn contains(&self, ip: &IpAddr) -> bool {
        self.net.contains(ip)
    }

    /// `ip-mismatch` unless the client address lies in the binding (or there is none).
    pub(crate) fn check(binding: Option<&IpBinding>, client: &IpAddr) -> Result<(), Deny> {
        match binding {
            Some(ip) if !ip.contains(client) => Err(Deny::IpMismatch),
            _ => Ok(()),
        }
    }
}

impl fmt::Display for IpBinding {
    /// The text as written in `kh_ip`, which is also the signed `ip:` line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.prefix_written {
            write!(f, "{}", self.net)
        } else {
            write!(f, "{}", self.net.addr())
        }
    }
}

/// A validated method list (`kh_m`): upper-case names, comma-separated, no repeats.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Methods(Cow<'static, str>);

impl Methods {
    /// Parses a method list such as `GET,HEAD`: 1 to 8 distinct names of 1 to 16
    /// upper-case letters.
    pub fn parse(text: &str) -> Result<Self, Deny> {
        let names: Vec<&str> = text.split(',').collect();
        let well_formed = names.len() <= MAX_METHODS
            && names.iter().all(|name| {
                !name.is_empty() && name.len() <= 16 && name.bytes().all(|b| b.is_ascii_uppercase())
            });
        let unique = names
            .iter()
            .enumerate()
            .all(|(i, name)| !names.iter().take(i).any(|n| n == name));
        if !well_formed || !unique {
            return Err(Deny::Malformed);
        }
        Ok(Methods(Cow::Owned(text.to_owned())))
    }

    /// The default when a credential names none, `GET,HEAD`.
    pub fn default_methods() -> Self {
        // Borrowed: the default costs no allocation on the request path.
        Methods(Cow::Borrowed(DEFAULT_METHODS))
    }

    /// Whether `method` is in the list.
    pub fn allows(&self, method: &str) -> bool {
        self.0.split(',').any(|name| name == method)
    }

    /// The list as written in the URL and the signed bytes.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The methods a cookie opens files for: a non-empty subset of `GET` and `HEAD`, never
/// anything else (the cookie's CSRF argument rests on that).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum CookieMethods {
    /// `GET,HEAD`, the default.
    #[default]
    GetHead,
    /// `GET` only.
    Get,
    /// `HEAD` only.
    Head,
}

impl CookieMethods {
    /// Parses the signed text: exactly `GET,HEAD`, `GET` or `HEAD`.
    pub fn parse(text: &str) -> Result<CookieMethods, Deny> {
        match text {
            "GET,HEAD" => Ok(CookieMethods::GetHead),
            "GET" => Ok(CookieMethods::Get),
            "HEAD" => Ok(CookieMethods::Head),
            _ => Err(Deny::Malformed),
        }
    }

    /// The methods of a credential narrowed to `GET` and `HEAD`; `None` when it allows
    /// neither (the exchange then refuses with `method-not-allowed`).
    pub fn narrowed(methods: &Methods) -> Option<CookieMethods> {
        match (methods.allows("GET"), methods.allows("HEAD")) {
            (true, true) => Some(CookieMethods::GetHead),
            (true, false) => Some(CookieMethods::Get),
            (false, true) => Some(CookieMethods::Head),
            (false, false) => None,
        }
    }

    /// Whether `method` is one of them.
    pub fn allows(self, method: &str) -> bool {
        match self {
            CookieMethods::GetHead => method == "GET" || method == "HEAD",
            CookieMethods::Get => method == "GET",
            CookieMethods::Head => method == "HEAD",
        }
    }

    /// The signed text (`GET,HEAD`, `GET` or `HEAD`).
    pub fn as_str(self) -> &'static str {
        match self {
            CookieMethods::GetHead => "GET,HEAD",
            CookieMethods::Get => "GET",
            CookieMethods::Head => "HEAD",
        }
    }
}

/// A credential's time claims, as signed; nothing here is believed before the
/// signature is checked.
#[derive(Clone, Copy, Debug)]
pub(crate) struct TimeClaims {
    /// Expiry.
    pub(crate) exp: UnixTime,
    /// Not-before, when the credential has one.
    pub(crate) nbf: Option<UnixTime>,
    /// Issued-at, when the credential has one (JWTs): it too must not lie in the
    /// future, and the lifetime is also counted from it.
    pub(crate) iat: Option<UnixTime>,
}

/// The time rules one credential kind is checked against.
#[derive(Clone, Copy, Debug)]
pub(crate) struct TimeRules {
    /// Seconds of clock skew forgiven on expiry, not-before and issued-at.
    pub(crate) leeway: u64,
    /// Longest accepted lifetime, in seconds: from now to the expiry, and from the
    /// issued-at to the expiry.
    pub(crate) max_lifetime: u64,
    /// Whether the leeway also extends the furthest accepted expiry (now + the
    /// longest lifetime): JWTs, whose issuer's clock may run ahead; not signed URLs
    /// and cookies, which keyhole's own signers make.
    pub(crate) leeway_on_max_expiry: bool,
}

impl TimeClaims {
    /// The time window, in this order: `expired` (now − leeway after the expiry),
    /// `not-yet-valid` (not-before or issued-at after now + leeway), `malformed` (an
    /// issued-at after the expiry), `ttl-too-long` (the expiry beyond now + the
    /// longest lifetime, or further than it from the issued-at).
    pub(crate) fn check(&self, now: UnixTime, rules: &TimeRules) -> Result<(), Deny> {
        let latest_start = now.plus(rules.leeway);
        if now.minus(rules.leeway) > self.exp {
            return Err(Deny::Expired);
        }
        if self.nbf.is_some_and(|nbf| nbf > latest_start)
            || self.iat.is_some_and(|iat| iat > latest_start)
        {
            return Err(Deny::NotYetValid);
        }
        if self.iat.is_some_and(|iat| self.exp < iat) {
            return Err(Deny::Malformed);
        }
        let mut max_expiry = now.plus(rules.max_lifetime);
        if rules.leeway_on_max_expiry {
            max_expiry = max_expiry.plus(rules.leeway);
        }
        let too_long_from_iat = self
            .iat
            .is_some_and(|iat| self.exp.0.saturating_sub(iat.0) > rules.max_lifetime);
        if too_long_from_iat || self.exp > max_expiry {
            return Err(Deny::TtlTooLong);
        }
        Ok(())
    }
}

/// Plain decimal digits, 1 to 12 of them, no leading zero (except `0` itself).
pub(crate) fn parse_timestamp(text: &str) -> Result<UnixTime, Deny> {
    let digits_only = !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit());
    let leading_zero = text.len() > 1 && text.starts_with('0');
    if !digits_only || leading_zero || text.len() > MAX_TIMESTAMP_DIGITS {
        return Err(Deny::Malformed);
    }
    text.parse().map(UnixTime).map_err(|_| Deny::Malformed)
}

/// Exactly 43 (HMAC) or 86 (Ed25519) base64url characters in canonical form (no
/// padding, no stray bits).
pub(crate) fn parse_signature(text: &str) -> Result<SignatureBytes, Deny> {
    match text.len() {
        SIGNATURE_LEN => {
            let mut out = [0u8; 32];
            match URL_SAFE_NO_PAD.decode_slice(text, &mut out) {
                Ok(32) => Ok(SignatureBytes::Mac(out)),
                _ => Err(Deny::Malformed),
            }
        }
        ED25519_SIGNATURE_LEN => {
            let mut out = [0u8; 64];
            match URL_SAFE_NO_PAD.decode_slice(text, &mut out) {
                Ok(64) => Ok(SignatureBytes::Ed25519(out)),
                _ => Err(Deny::Malformed),
            }
        }
        _ => Err(Deny::Malformed),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: UnixTime = UnixTime(1_800_000_000);

    const RULES: TimeRules = TimeRules {
        leeway: 30,
        max_lifetime: 600,
        leeway_on_max_expiry: false,
    };

    fn window(exp: UnixTime, nbf: Option<UnixTime>, iat: Option<UnixTime>) -> TimeClaims {
        TimeClaims { exp, nbf, iat }
    }

    /// The edges of every rule, and the order in which they are reported.
    #[test]
    fn the_time_window_and_its_order() {
        let check = |claims: TimeClaims, rules: &TimeRules| claims.check(NOW, rules);
        assert_eq!(check(window(NOW.minus(30), None, None), &RULES), Ok(()));
        let expired = window(NOW.minus(31), None, None);
        assert_eq!(check(expired, &RULES), Err(Deny::Expired));
        let late = Some(NOW.plus(31));
        assert_eq!(
            check(window(NOW.plus(60), late, None), &RULES),
            Err(Deny::NotYetValid)
        );
        assert_eq!(
            check(window(NOW.plus(60), None, late), &RULES),
            Err(Deny::NotYetValid)
        );
        let on_time = Some(NOW.plus(30));
        assert_eq!(
            check(window(NOW.plus(60), on_time, on_time), &RULES),
            Ok(())
        );
        // Expired wins over not-yet-valid: the first failing rule is reported.
        assert_eq!(
            check(window(NOW.minus(31), late, late), &RULES),
            Err(Deny::Expired)
        );
        // An issued-at after the expiry is malformed, before any lifetime rule.
        assert_eq!(
            check(window(NOW, None, Some(NOW.plus(1))), &RULES),
            Err(Deny::Malformed)
        );
        assert_eq!(check(window(NOW.plus(600), None, None), &RULES), Ok(()));
        assert_eq!(
            check(window(NOW.plus(601), None, None), &RULES),
            Err(Deny::TtlTooLong)
        );
        // From the issued-at too, even when now + the lifetime would allow it.
        let early = Some(NOW.minus(10));
        assert_eq!(
            check(window(NOW.plus(591), None, early), &RULES),
            Err(Deny::TtlTooLong)
        );
        let with_leeway = TimeRules {
            leeway_on_max_expiry: true,
            ..RULES
        };
        assert_eq!(
            check(window(NOW.plus(630), None, None), &with_leeway),
            Ok(())
        );
        assert_eq!(
            check(window(NOW.plus(631), None, None), &with_leeway),
            Err(Deny::TtlTooLong)
        );
    }

    #[test]
    fn timestamps_are_plain_digits() {
        assert_eq!(parse_timestamp("0"), Ok(UnixTime(0)));
        assert_eq!(
            parse_timestamp("999999999999"),
            Ok(UnixTime(999_999_999_999))
        );
        for bad in ["", "01", "+1", "1e9", "1000000000000", " 1", "-1"] {
            assert_eq!(parse_timestamp(bad), Err(Deny::Malformed), "{bad}");
        }
    }

    #[test]
    fn binding_checks_the_client_address() {
        let client: IpAddr = "10.1.2.3".parse().unwrap();
        let net = IpBinding::parse("10.1.0.0/16").unwrap();
        assert_eq!(IpBinding::check(None, &client), Ok(()));
        assert_eq!(IpBinding::check(Some(&net), &client), Ok(()));
        let other = IpBinding::parse("10.2.0.0/16").unwrap();
        assert_eq!(
            IpBinding::check(Some(&other), &client),
            Err(Deny::IpMismatch)
        );
    }

    #[test]
    fn narrowing_a_credentials_methods() {
        let narrowed = |text: &str| CookieMethods::narrowed(&Methods::parse(text).unwrap());
        assert_eq!(narrowed("GET,HEAD"), Some(CookieMethods::GetHead));
        assert_eq!(narrowed("HEAD,GET,POST"), Some(CookieMethods::GetHead));
        assert_eq!(narrowed("GET,PUT"), Some(CookieMethods::Get));
        assert_eq!(narrowed("HEAD"), Some(CookieMethods::Head));
        assert_eq!(narrowed("POST,PUT"), None);
    }
}
