//! Signed-URL keys: `KEYHOLE_KEYS` or `KEYHOLE_KEYS_FILE`, exactly one of them.

use std::path::Path;

use super::RawConfig;
use super::table::{KEYS, KEYS_FILE};
use crate::keys::KeyRing;

/// The key ring; `None` when no source is set, both are, or one is wrong (reported,
/// the secret never echoed).
pub(super) fn validate(
    raw: &RawConfig,
    report: &mut impl FnMut(&'static str, String),
) -> Option<KeyRing> {
    load_keys(raw.keys.as_deref(), raw.keys_file.as_deref(), report)
}

fn load_keys(
    inline: Option<&str>,
    file: Option<&Path>,
    report: &mut impl FnMut(&'static str, String),
) -> Option<KeyRing> {
    match (inline, file) {
        (Some(_), Some(_)) => {
            report(
                KEYS.name,
                "set either KEYHOLE_KEYS or KEYHOLE_KEYS_FILE, not both".into(),
            );
            None
        }
        (None, None) => {
            report(
                KEYS.name,
                "no signing key configured: set KEYHOLE_KEYS=kid:secret or KEYHOLE_KEYS_FILE (generate one with `keyhole keygen`)".into(),
            );
            None
        }
        (Some(text), None) => KeyRing::parse(text)
            .map_err(|error| report(KEYS.name, error.to_string()))
            .ok(),
        (None, Some(path)) => match std::fs::read_to_string(path) {
            Ok(text) => KeyRing::parse(&text)
                .map_err(|error| report(KEYS_FILE.name, format!("{}: {error}", path.display())))
                .ok(),
            Err(error) => {
                report(
                    KEYS_FILE.name,
                    format!("cannot read {}: {error}", path.display()),
                );
                None
            }
        },
    }
}
