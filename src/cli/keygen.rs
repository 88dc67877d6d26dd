//! `keyhole keygen`: a new `kid:secret` line for `KEYHOLE_KEYS`.

use keyhole::clock::{Clock, SystemClock};
use keyhole::keys::{KeyId, Secret};

use super::{CliError, Printed};

#[derive(Debug, clap::Args)]
pub struct KeygenArgs {
    /// Key id; defaults to `k` and today's date.
    #[arg(long)]
    kid: Option<String>,
}

pub fn run(args: &KeygenArgs) -> Result<Printed, CliError> {
    let kid = args.kid.clone().unwrap_or_else(|| {
        let date = SystemClock.now().to_rfc3339();
        format!("k{}", date.get(..10).unwrap_or("0").replace('-', ""))
    });
    KeyId::parse(&kid).map_err(|error| CliError::Usage(format!("--kid: {error}")))?;
    let secret = Secret::generate().map_err(|error| CliError::Usage(error.to_string()))?;
    Ok(Printed::line(format_args!(
        "{kid}:{}",
        secret.to_base64url()
    )))
}
