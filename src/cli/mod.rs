//! The command line: it parses arguments into typed values ([`values`]), dispatches to
//! one module per command, and is the only part of keyhole that prints. Commands
//! return what to print ([`Printed`]) or a [`CliError`]; [`main`] prints either and
//! turns it into the exit code.
//!
//! Exit codes: 0 success; 1 a "no": `explain` would deny, or the running keyhole (or
//! its store) refused or could not be reached (`health`, `revoke`); 2 usage or
//! configuration error.

mod cookie;
mod demo;
mod explain;
mod gallery;
mod health;
mod key_choice;
mod keygen;
mod mint;
mod revoke;
mod serve;
mod sign;
mod values;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use keyhole::app::AppError;
use keyhole::config::{Config, ConfigError};

/// Exit code for a "no": `explain` would deny, or the running keyhole refused or
/// could not be reached.
pub const EXIT_NO: u8 = 1;
/// Exit code for usage and configuration errors.
pub const EXIT_USAGE: u8 = 2;

/// keyhole answers nginx's auth_request for signed URLs.
#[derive(Debug, Parser)]
#[command(name = "keyhole", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve nginx's auth subrequests (the default). Configured by KEYHOLE_* variables.
    Serve,
    /// Print a signed URL for PATH, signed with the first key of KEYHOLE_KEYS that can
    /// sign (an HMAC secret or an Ed25519 seed), or the one --kid names.
    Sign(sign::SignArgs),
    /// Print a new `kid:secret` line for KEYHOLE_KEYS, or with `--alg ed25519` an Ed25519
    /// seed line then its public line.
    Keygen(keygen::KeygenArgs),
    /// Print a URL with a file-scoped JWT for PATH, signed with the first
    /// KEYHOLE_JWT_KEYS entry or with --key-file.
    Mint(mint::MintArgs),
    /// Say whether keyhole would allow URL (with an optional cookie), and why, with
    /// every field of the credential it carries.
    Explain(explain::ExplainArgs),
    /// Run nginx and keyhole on localhost with a demo gallery.
    Demo(demo::DemoArgs),
    /// Write the demo gallery (images and a page of signed URLs) into DIR, signed with
    /// KEYHOLE_KEYS; for the container demo stack.
    Gallery(gallery::GalleryArgs),
    /// Print a `Set-Cookie` header value granting SCOPE (a path prefix ending in `/`),
    /// signed with the first key of KEYHOLE_KEYS that can sign, for back ends that set
    /// the cookie.
    Cookie(cookie::CookieArgs),
    /// Revoke a cookie session, a token id, or every token of a key id or subject issued
    /// before a time; denied from the next request on. With KEYHOLE_STORE=redis://…
    /// this writes to Redis (every instance sees it); otherwise it goes through the
    /// admin listener of the running keyhole (KEYHOLE_ADMIN_LISTEN). Exit 1 when the
    /// listener or Redis refuses or cannot be reached.
    Revoke(revoke::RevokeArgs),
    /// Ask a running keyhole's admin listener (KEYHOLE_ADMIN_LISTEN) whether it is
    /// alive; exit 0 if so, 1 if not. For container health checks.
    Health(health::HealthArgs),
}

/// What a command that succeeded (or that answered "would deny") prints.
#[derive(Debug, Default)]
pub struct Printed {
    /// Standard output: the command's result (a URL, a header value, a report).
    stdout: String,
    /// Standard error: notes and warnings beside the result, one a line.
    notes: Vec<String>,
    /// `explain` only: the answer is "would deny" (exit 1).
    would_deny: bool,
}

impl Printed {
    /// One line of output.
    fn line(text: impl std::fmt::Display) -> Printed {
        Printed {
            stdout: format!("{text}\n"),
            ..Printed::default()
        }
    }

    /// A note for standard error, beside the result.
    fn note(mut self, text: impl Into<String>) -> Printed {
        self.notes.push(text.into());
        self
    }
}

/// Why a command failed; each kind has its exit code ([`CliError::exit_code`]).
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// A flag or argument breaks a rule that needs the configuration to check (a TTL
    /// beyond the maximum lifetime) or the command's other flags.
    #[error("{0}")]
    Usage(String),
    /// The `KEYHOLE_*` variables do not validate: every problem, each naming its
    /// variable.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The service could not start (a listener could not be bound).
    #[error(transparent)]
    App(#[from] AppError),
    /// `keyhole demo` could not start nginx or keyhole.
    #[error("{0}")]
    Demo(String),
    /// The running keyhole's admin listener, or the Redis store, refused or could not
    /// be reached (`health`, `revoke`).
    #[error("{0}")]
    Refused(String),
}

impl CliError {
    /// The documented exit code: 2 for usage and configuration, 1 for a refusal.
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Usage(_) | CliError::Config(_) | CliError::App(_) | CliError::Demo(_) => {
                EXIT_USAGE
            }
            CliError::Refused(_) => EXIT_NO,
        }
    }

    fn prefix(&self) -> &'static str {
        match self {
            CliError::Demo(_) => "keyhole demo",
            _ => "keyhole",
        }
    }
}

/// Parses the command line, runs the command and prints its result.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve::run(),
        Command::Sign(args) => with_config(|config| sign::run(config, &args)),
        Command::Keygen(args) => keygen::run(&args),
        Command::Mint(args) => with_config(|config| mint::run(config, &args)),
        Command::Explain(args) => with_config(|config| explain::run(config, &args)),
        Command::Demo(args) => demo::run(&args, &mut |line| println!("{line}")),
        Command::Gallery(args) => with_config(|config| gallery::run(config, &args)),
        Command::Cookie(args) => with_config(|config| cookie::run(config, &args)),
        Command::Revoke(args) => revoke::run(args),
        Command::Health(args) => health::run(&args),
    };
    match result {
        Ok(printed) => {
            print!("{}", printed.stdout);
            for note in &printed.notes {
                eprintln!("{note}");
            }
            if printed.would_deny {
                ExitCode::from(EXIT_NO)
            } else {
                ExitCode::SUCCESS
            }
        }
        Err(error) => {
            let text = error.to_string();
            let end = if text.ends_with('\n') { "" } else { "\n" };
            eprint!("{}: {text}{end}", error.prefix());
            ExitCode::from(error.exit_code())
        }
    }
}

fn with_config(
    run: impl FnOnce(&Config) -> Result<Printed, CliError>,
) -> Result<Printed, CliError> {
    run(&Config::from_env()?)
}

/// A runtime for one command's few requests (`health`, `revoke`).
fn small_runtime() -> Result<tokio::runtime::Runtime, CliError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|error| CliError::Usage(format!("cannot start the async runtime: {error}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The exit codes README.md and docs/operations.md document, by kind of error.
    #[test]
    fn every_error_kind_has_its_documented_exit_code() {
        let config = ConfigError {
            problems: Vec::new(),
        };
        assert_eq!(CliError::Usage(String::new()).exit_code(), 2);
        assert_eq!(CliError::Config(config).exit_code(), 2);
        assert_eq!(CliError::Demo(String::new()).exit_code(), 2);
        assert_eq!(CliError::Refused(String::new()).exit_code(), 1);
        assert_eq!((EXIT_NO, EXIT_USAGE), (1, 2));
    }
}
