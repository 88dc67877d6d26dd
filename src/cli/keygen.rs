//! `keyhole keygen`: a new `kid:secret` line for `KEYHOLE_KEYS`, or with `--alg
//! ed25519` an Ed25519 pair: the seed line (signs; for `keyhole sign`, `keyhole
//! cookie` and the application) then the public line (verifies; for `keyhole serve`).
//! Printed, or written to a file that does not exist yet (`--out`, for an init
//! container: the compose stack and the Kubernetes manifests generate their keys on
//! first start that way); an Ed25519 pair's public line goes to `PATH.pub` beside it.

use std::io::Write as _;
use std::path::PathBuf;

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
    /// Write the line to this file (mode 0600) instead of printing it; with `--alg
    /// ed25519`, the seed line to PATH and the public line to PATH.pub. A file that
    /// already exists is kept as it is, so running this at every start generates the
    /// key once.
    #[arg(long, value_name = "PATH")]
    out: Option<PathBuf>,
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
        KeyAlg::Hmac => {
            let line = format!("{kid}:{}", secret.to_base64url());
            match &args.out {
                None => Ok(Printed::line(line)),
                Some(path) => Ok(Printed::default().note(write_new(path, &line)?)),
            }
        }
        KeyAlg::Ed25519 => {
            let public =
                ed25519_public_of(&secret).map_err(|error| CliError::Usage(error.to_string()))?;
            let seed_line = format!("{kid}:{ED25519_SEED_PREFIX}{}", secret.to_base64url());
            let public_line = format!("{kid}:{ED25519_PREFIX}{public}");
            let Some(path) = &args.out else {
                return Ok(Printed::line(format_args!("{seed_line}\n{public_line}")).note(
                    "the first line is the private seed: keep it with the signer (`keyhole sign`, `keyhole cookie`, your application); give keyhole serve only the second, public line",
                ));
            };
            let mut public_path = path.clone().into_os_string();
            public_path.push(".pub");
            let public_path = PathBuf::from(public_path);
            // The public file first: a seed file without its public twin would be
            // kept by the next run, and the pair would never be completed.
            if path.exists() {
                return Ok(Printed::default().note(format!(
                    "{} exists: kept as it is (and {} with it)",
                    path.display(),
                    public_path.display()
                )));
            }
            let public_note = write_new(&public_path, &public_line)?;
            let seed_note = write_new(path, &seed_line)?;
            Ok(Printed::default().note(public_note).note(seed_note))
        }
    }
}

/// Creates `path` with the line, readable by its owner only; an existing file is left
/// alone (never overwritten, never read back). Returns the note to print.
fn write_new(path: &std::path::Path, line: &str) -> Result<String, CliError> {
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
            return Ok(format!("{shown} exists: kept as it is"));
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
    Ok(format!("{shown}: new key written (mode 0600)"))
}
