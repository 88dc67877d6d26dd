//! `keyhole serve` (the default command): loads the configuration and runs
//! [`keyhole::app::run`] until SIGTERM or SIGINT.

use keyhole::app;
use keyhole::config::Config;

use super::{CliError, Printed};

pub fn run() -> Result<Printed, CliError> {
    let config = Config::from_env()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(config.server.worker_threads)
        .enable_all()
        .build()
        .map_err(|error| CliError::Usage(format!("cannot start the async runtime: {error}")))?;
    runtime.block_on(app::run(config, app::shutdown_signal()))?;
    Ok(Printed::default())
}
