//! What keyhole's demo and end-to-end tests share and the service never needs:
//!
//! - [`nginx`]: the shipped nginx files, embedded, and an nginx child process that
//!   runs them with only ports and paths changed.
//! - [`gallery`]: the demo gallery of signed images.
//! - [`scratch_dir`]: a temporary folder, removed when dropped.
//!
//! The `keyhole` library never uses this crate; the binary (`keyhole demo`, `keyhole
//! gallery`) and the tests do.

pub mod gallery;
pub mod nginx;

pub use tempfile::TempDir;

/// A new temporary folder whose name starts with `prefix`; removed when dropped.
pub fn scratch_dir(prefix: &str) -> std::io::Result<TempDir> {
    tempfile::Builder::new().prefix(prefix).tempdir()
}
