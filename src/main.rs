//! The `keyhole` binary: everything lives in the library; see `keyhole::cli`.

fn main() -> std::process::ExitCode {
    keyhole::cli::main()
}
