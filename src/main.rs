//! The `keyhole` binary: the command line ([`cli`]) over the `keyhole` library, whose
//! [`keyhole::app::run`] serves.

mod cli;

fn main() -> std::process::ExitCode {
    cli::main()
}
