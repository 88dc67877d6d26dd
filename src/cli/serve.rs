//! `keyhole serve` (the default command): loads the configuration and runs
//! [`keyhole::app::run`] until SIGTERM or SIGINT.

use keyhole::app;
use keyhole::config::Config;

use super::{CliError, Printed};

pub fn run() -> Result<Printed, CliError> {
    let config = Config::from_env()?;
    // The control runtime: the admin listener, reloads, JWKS refreshes and the store's
    // connections. Requests are served on the auth listener's own worker threads
    // (`KEYHOLE_WORKER_THREADS`, see keyhole::server).
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|error| CliError::Usage(format!("cannot start the async runtime: {error}")))?;
    runtime.block_on(app::run(config, app::shutdown_signal()))?;
    Ok(Printed::default())
}
