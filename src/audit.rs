//! Who opened what: the names an allow is recorded under (the key id, and where the
//! credential has them, the subject, the token id and the session id), never the
//! credential itself. The server sends them to nginx as `X-Keyhole-Key`,
//! `X-Keyhole-Subject`, `X-Keyhole-Token-Id` and `X-Keyhole-Session` (the shipped
//! `keyhole-log.conf` writes them to the access log), logs them with allows when
//! `KEYHOLE_AUDIT=on`, and counts allows by key id where configuration bounds the
//! key ids.

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
    pub fn key_label(&self) -> String {
        match &self.key {
            Some(key) if self.key_configured => key.clone(),
            _ => OTHER_KEY_LABEL.to_owned(),
        }
    }

    /// Every field as `(header name, header-safe value)`, skipping absent ones.
    pub fn headers(&self) -> Vec<(&'static str, String)> {
        [
            ("x-keyhole-key", &self.key),
            ("x-keyhole-subject", &self.subject),
            ("x-keyhole-token-id", &self.token_id),
            ("x-keyhole-session", &self.session),
        ]
        .into_iter()
        .filter_map(|(name, value)| value.as_deref().map(|value| (name, escape(value))))
        .collect()
    }
}

/// A value safe in a header and a log line: visible ASCII kept, `%` and every other
/// byte (spaces, quotes, control characters, non-ASCII) percent-encoded, at most
/// [`MAX_AUDIT_VALUE_LEN`] bytes.
pub fn escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len().min(MAX_AUDIT_VALUE_LEN));
    for byte in value.bytes() {
        let kept = byte.is_ascii_graphic() && !matches!(byte, b'%' | b'"' | b'\\');
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
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_escaped_and_bounded() {
        assert_eq!(escape("user-42"), "user-42");
        assert_eq!(escape("a b\"c\n%é"), "a%20b%22c%0A%25%C3%A9");
        assert_eq!(escape(&"x".repeat(300)).len(), MAX_AUDIT_VALUE_LEN);
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
        assert_eq!(audit.headers(), [("x-keyhole-key", "a".to_owned())]);
    }
}
