//! `keyhole keygen`: a new `kid:secret` line for `KEYHOLE_KEYS`, or with `--alg
//! ed25519` an Ed25519 pair: the seed line (signs; for `keyhole sign`, `keyhole
//! cookie` and the application) then the public line (verifies; for `keyhole serve`).

use keyhole::clock::{Clock, SystemClock};
use keyhole::keys::{ED25519_PREFIX, ED25519_SEED_PREFIX, KeyId, Secret, ed25519_public_of};

use super::{CliError, Printed};

/// Which kind of key to make.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum KeyAlg {
    /// An HMAC-SHA256 secret (signs and verifies).
    Hmac,
    /// An Ed25519 seed and its public key (the public line only verifies).
    Ed25519,
}

#[derive(Debug, clap::Args)]
pub struct KeygenArgs {
    /// Key id; defaults to `k` and today's date.
    #[arg(long)]
    kid: Option<String>,
    /// `hmac` (default): one `kid:secret` line. `ed25519`: the seed line
    /// (`kid:ed25519-seed:…`) then the public line (`kid:ed25519:…`).
    #[arg(long, value_enum, default_value = "hmac")]
    alg: KeyAlg,
}

pub fn run(args: &KeygenArgs) -> Result<Printed, CliError> {
    let kid = args.kid.clone().unwrap_or_else(|| {
        let date = SystemClock.now().to_rfc3339();
        format!("k{}", date.get(..10).unwrap_or("0").replace('-', ""))
    });
    KeyId::parse(&kid).map_err(|error| CliError::Usage(format!("--kid: {error}")))?;
    let secret = Secret::generate().map_err(|error| CliError::Usage(error.to_string()))?;
    match args.alg {
        KeyAlg::Hmac => Ok(Printed::line(format_args!(
            "{kid}:{}",
            secret.to_base64url()
        ))),
        KeyAlg::Ed25519 => {
            let public =
                ed25519_public_of(&secret).map_err(|error| CliError::Usage(error.to_string()))?;
            Ok(Printed::line(format_args!(
                "{kid}:{ED25519_SEED_PREFIX}{}\n{kid}:{ED25519_PREFIX}{public}",
                secret.to_base64url()
            ))
            .note(
                "the first line is the private seed: keep it with the signer (`keyhole sign`, `keyhole cookie`, your application); give keyhole serve only the second, public line",
            ))
        }
    }
}
