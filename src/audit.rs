//! Who opened what: the names an allow is recorded under (the key id, and where the
//! credential has them, the subject, the token id and the session id), never the
//! credential itself. The server sends them to nginx as `X-Keyhole-Key`,
//! `X-Keyhole-Subject`, `X-Keyhole-Token-Id` and `X-Keyhole-Session` (the shipped
//! `keyhole-log.conf` writes them to the access log), logs them with allows when
//! `KEYHOLE_AUDIT=on`, and counts allows by key id where configuration bounds the
//! key ids.

use std::borrow::Cow;

/// Longest value passed on; a longer one (a JWT `sub` or `jti` can be any string) is
/// cut there, after escaping.
pub const MAX_AUDIT_VALUE_LEN: usize = 256;

/// The key id label of allows signed by a key the configuration does not name (a key
/// of a remote JWKS without limits): the label stays bounded by configuration.
pub const OTHER_KEY_LABEL: &str = "other";

/// The names one allow is recorded under. None of them is a secret: a key id, a
/// session id or a token id names a credential, it does not make one.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Audit {
    /// The id of the key that signed the credential.
    pub key: Option<String>,
    /// Whether that key id is one the configuration names (signed-URL keys, local
    /// JWT keys, or a JWKS key id listed in `KEYHOLE_JWKS_KEY_LIMITS`): only such ids
    /// become a metric label.
    pub key_configured: bool,
    /// A JWT's `sub`.
    pub subject: Option<String>,
    /// A JWT's `jti`.
    pub token_id: Option<String>,
    /// A cookie's session id.
    pub session: Option<String>,
}

impl Audit {
    /// The key id as a metric label: the id when configured, else [`OTHER_KEY_LABEL`].
    pub fn key_label(&self) -> &str {
        match &self.key {
            Some(key) if self.key_configured => key,
            _ => OTHER_KEY_LABEL,
        }
    }

    /// Every field as `(header name, header-safe value)`, skipping absent ones. Nothing
    /// is allocated for a value that needs no escaping (the usual key id).
    pub fn headers(&self) -> impl Iterator<Item = (&'static str, Cow<'_, str>)> {
        [
            ("x-keyhole-key", &self.key),
            ("x-keyhole-subject", &self.subject),
            ("x-keyhole-token-id", &self.token_id),
            ("x-keyhole-session", &self.session),
        ]
        .into_iter()
        .filter_map(|(name, value)| value.as_deref().map(|value| (name, escape(value))))
    }
}

/// A value safe in a header and a log line: visible ASCII kept, `%` and every other
/// byte (spaces, quotes, control characters, non-ASCII) percent-encoded, at most
/// [`MAX_AUDIT_VALUE_LEN`] bytes. A value that is already safe is returned as it is.
pub fn escape(value: &str) -> Cow<'_, str> {
    if value.len() <= MAX_AUDIT_VALUE_LEN && value.bytes().all(kept) {
        return Cow::Borrowed(value);
    }
    let mut out = String::with_capacity(value.len().min(MAX_AUDIT_VALUE_LEN));
    for byte in value.bytes() {
        let kept = kept(byte);
        if out.len() + if kept { 1 } else { 3 } > MAX_AUDIT_VALUE_LEN {
            break;
        }
        if kept {
            out.push(char::from(byte));
        } else {
            out.push('%');
            for nibble in [byte >> 4, byte & 0x0f] {
                let digit = char::from_digit(u32::from(nibble), 16).unwrap_or('0');
                out.push(digit.to_ascii_uppercase());
            }
        }
    }
    Cow::Owned(out)
}

/// Whether `byte` stands for itself in an escaped value.
fn kept(byte: u8) -> bool {
    byte.is_ascii_graphic() && !matches!(byte, b'%' | b'"' | b'\\')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_escaped_and_bounded() {
        assert_eq!(escape("user-42"), "user-42");
        assert_eq!(escape("a b\"c\n%é"), "a%20b%22c%0A%25%C3%A9");
        assert_eq!(escape(&"x".repeat(300)).len(), MAX_AUDIT_VALUE_LEN);
        assert_eq!(escape(&"x".repeat(256)), "x".repeat(256));
        assert!(matches!(
            escape("k1.2026-12_a"),
            Cow::Borrowed("k1.2026-12_a")
        ));
    }

    #[test]
    fn only_configured_key_ids_are_labels() {
        let mut audit = Audit {
            key: Some("a".into()),
            key_configured: true,
            ..Audit::default()
        };
        assert_eq!(audit.key_label(), "a");
        audit.key_configured = false;
        assert_eq!(audit.key_label(), OTHER_KEY_LABEL);
        assert_eq!(
            audit.headers().collect::<Vec<_>>(),
            [("x-keyhole-key", Cow::Borrowed("a"))]
        );
    }
}
