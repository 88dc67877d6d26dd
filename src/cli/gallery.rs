//! `keyhole gallery DIR`: writes the demo gallery, signed with `KEYHOLE_KEYS`, for the
//! container demo stack.

use keyhole::config::Config;

use super::values::{self, Span};
use super::{CliError, Printed};

#[derive(Debug, clap::Args)]
pub struct GalleryArgs {
    /// The document root to fill.
    dir: std::path::PathBuf,
    /// Lifetime of the page's signed URLs.
    #[arg(long, default_value = "1h", value_parser = values::span)]
    ttl: Span,
}

pub fn run(config: &Config, args: &GalleryArgs) -> Result<Printed, CliError> {
    keyhole_support::gallery::write_gallery(&args.dir, &config.keys, args.ttl.seconds)
        .map_err(CliError::Usage)?;
    Ok(Printed::line(format_args!(
        "wrote the gallery to {}",
        args.dir.display()
    )))
}
