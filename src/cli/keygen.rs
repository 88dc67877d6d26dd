//! `keyhole keygen`: a new `kid:secret` line for `KEYHOLE_KEYS`, printed, or written to
//! a file that does not exist yet (`--out`, for an init container: the compose stack
//! and the Kubernetes manifests generate their keys on first start that way).

use std::io::Write as _;
use std::path::PathBuf;

use keyhole::clock::{Clock, SystemClock};
use keyhole::keys::{KeyId, Secret};

use super::{CliError, Printed};

#[derive(Debug, clap::Args)]
pub struct KeygenArgs {
    /// Key id; defaults to `k` and today's date.
    #[arg(long)]
    kid: Option<String>,
    /// Write the line to this file (mode 0600) instead of printing it. A file that
    /// already exists is kept as it is, so running this at every start generates the
    /// key once.
    #[arg(long, value_name = "PATH")]
    out: Option<PathBuf>,
}

pub fn run(args: &KeygenArgs) -> Result<Printed, CliError> {
    let kid = args.kid.clone().unwrap_or_else(|| {
        let date = SystemClock.now().to_rfc3339();
        format!("k{}", date.get(..10).unwrap_or("0").replace('-', ""))
    });
    KeyId::parse(&kid).map_err(|error| CliError::Usage(format!("--kid: {error}")))?;
    let secret = Secret::generate().map_err(|error| CliError::Usage(error.to_string()))?;
    let line = format!("{kid}:{}", secret.to_base64url());
    let Some(path) = &args.out else {
        return Ok(Printed::line(line));
    };
    write_new(path, &line)
}

/// Creates `path` with the line, readable by its owner only; an existing file is left
/// alone (never overwritten, never read back).
fn write_new(path: &std::path::Path, line: &str) -> Result<Printed, CliError> {
    use std::os::unix::fs::OpenOptionsExt as _;
    let shown = path.display();
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path);
    let mut file = match file {
        Ok(file) => file,
        Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {
            return Ok(Printed::default().note(format!("{shown} exists: kept as it is")));
        }
        Err(error) => {
            return Err(CliError::Usage(format!(
                "--out {shown}: cannot create it: {error} (is its folder there and writable?)"
            )));
        }
    };
    file.write_all(format!("{line}\n").as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(|error| CliError::Usage(format!("--out {shown}: cannot write it: {error}")))?;
    Ok(Printed::default().note(format!("{shown}: new key written (mode 0600)")))
}
