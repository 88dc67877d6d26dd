//! Seed and corpus tools for the fuzz targets, on the stable toolchain (not a fuzz
//! target; `fuzz/run` never runs it):
//!
//! ```sh
//! cargo run --manifest-path fuzz/Cargo.toml --bin seeds -- write
//! cargo run --manifest-path fuzz/Cargo.toml --bin seeds -- corpus-allows
//! ```
//!
//! `write` writes the `jwt` and `cookie` seeds and the JWT and cookie seeds of
//! `decide` into `fuzz/seeds/` (deterministic but for ECDSA's random nonces); run it
//! when the seed list in `fuzz/seeds.rs` changes. `corpus-allows` counts how many
//! inputs of each local libFuzzer corpus (`fuzz/corpus/TARGET`, left by `fuzz/run`,
//! not committed) are allowed: the numbers in docs/security.md.
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

#[path = "../properties.rs"]
mod properties;
#[path = "../seeds.rs"]
mod seeds;

use std::path::PathBuf;
use std::process::ExitCode;

fn corpus_allows() {
    type Allows = fn(&[u8]) -> bool;
    let targets: [(&str, Allows); 3] = [
        ("jwt", properties::jwt_allows),
        ("cookie", properties::cookie_allows),
        ("decide", properties::decide_allows),
    ];
    for (target, allows) in targets {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("corpus")
            .join(target);
        let Ok(entries) = std::fs::read_dir(&dir) else {
            eprintln!("{target}: no corpus at {}", dir.display());
            continue;
        };
        let (mut inputs, mut allowed) = (0, 0);
        for entry in entries {
            let input = std::fs::read(entry.unwrap().path()).unwrap();
            inputs += 1;
            if allows(&input) {
                allowed += 1;
            }
        }
        println!("{target}: {allowed} of {inputs} corpus inputs allowed");
    }
}

fn main() -> ExitCode {
    match std::env::args().nth(1).as_deref() {
        Some("write") => seeds::write(),
        Some("corpus-allows") => corpus_allows(),
        _ => {
            eprintln!("usage: seeds write | seeds corpus-allows");
            return ExitCode::from(2);
        }
    }
    ExitCode::SUCCESS
}
