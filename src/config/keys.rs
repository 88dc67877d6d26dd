//! Signed-URL keys: `KEYHOLE_KEYS` or `KEYHOLE_KEYS_FILE`, exactly one of them, and
//! `KEYHOLE_ALLOW_SIGNING_KEYS`, without which `keyhole serve` refuses Ed25519 seeds
//! (a verifier that holds only public keys cannot mint anything).

use std::path::Path;

use super::table::{ALLOW_SIGNING_KEYS, KEYS, KEYS_FILE};
use super::{Config, ConfigError, Problem, RawConfig};
use crate::keys::{KeyKind, KeyRing};

/// `KEYHOLE_ALLOW_SIGNING_KEYS`: `on` or `off`.
pub(super) fn allow_signing_keys(
    raw: &RawConfig,
    report: &mut impl FnMut(&'static str, String),
) -> Option<bool> {
    match raw
        .allow_signing_keys
        .as_deref()
        .unwrap_or(const { ALLOW_SIGNING_KEYS.default_text() })
    {
        "on" => Some(true),
        "off" => Some(false),
        other => {
            report(
                ALLOW_SIGNING_KEYS.name,
                format!("must be `on` or `off`, got `{other}`"),
            );
            None
        }
    }
}

impl Config {
    /// What only serving adds to the configuration's rules: an Ed25519 seed (a private
    /// key) in the key ring needs `KEYHOLE_ALLOW_SIGNING_KEYS=on`, so that an edge
    /// meant to verify cannot mint by accident. `keyhole sign` and `keyhole cookie`
    /// sign with seeds without it.
    pub fn check_serving(&self) -> Result<(), ConfigError> {
        if self.allow_signing_keys || !self.keys.holds_ed25519_seed() {
            return Ok(());
        }
        let seeds: Vec<&str> = self
            .keys
            .keys()
            .filter(|key| key.kind() == KeyKind::Ed25519Seed)
            .map(|key| key.kid.as_str())
            .collect();
        Err(ConfigError {
            problems: vec![Problem {
                variable: KEYS.name,
                message: format!(
                    "holds the Ed25519 seed (private key) of {}: a verifier needs only the public line (`KID:ed25519:PUBLIC`, printed by `keyhole keygen --alg ed25519`); set {}=on only if this keyhole must sign exchange cookies with it",
                    seeds.join(", "),
                    ALLOW_SIGNING_KEYS.name
                ),
            }],
        })
    }
}

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
