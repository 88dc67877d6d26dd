//! `keyhole health [--ready]`: asks a running keyhole's admin listener; for container
//! health checks (exit 0 healthy, 1 not).

use keyhole::admin_client;

use super::{CliError, Printed, small_runtime};

#[derive(Debug, clap::Args)]
pub struct HealthArgs {
    /// Ask `/readyz` (keys loaded, store reachable) instead of `/healthz`.
    #[arg(long)]
    ready: bool,
}

pub fn run(args: &HealthArgs) -> Result<Printed, CliError> {
    let addr = match keyhole::config::admin_listen_from_env() {
        Ok(Some(addr)) => addr,
        Ok(None) => {
            return Err(CliError::Usage(
                "KEYHOLE_ADMIN_LISTEN is off; there is nothing to ask".to_owned(),
            ));
        }
        Err(message) => return Err(CliError::Usage(format!("KEYHOLE_ADMIN_LISTEN {message}"))),
    };
    let path = if args.ready { "/readyz" } else { "/healthz" };
    small_runtime()?
        .block_on(admin_client::check(addr, path))
        .map_err(|error| CliError::Refused(error.to_string()))?;
    Ok(Printed::line("ok"))
}
