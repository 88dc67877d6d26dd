//! The fuzz targets' properties (`fuzz/properties.rs`) on the stable toolchain, without
//! cargo-fuzz: every committed seed (`fuzz/seeds/TARGET/`), then deterministic
//! mutations of them (bit flips, interesting bytes and tokens, deletions, repeats,
//! splices). Not coverage-guided, so no substitute for `fuzz/run`; it keeps the
//! properties and the seeds checked on every test run. Any libFuzzer finding added to
//! the seeds is replayed here.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

#[path = "../fuzz/properties.rs"]
mod properties;
#[path = "common/rng.rs"]
mod rng;

use std::path::PathBuf;

use rng::Rng;

/// Mutated inputs per target (fewer for the targets that reach public-key or HMAC
/// verification often, to keep the file near 10 s in a debug build).
const MUTATIONS: usize = 100_000;
const CRYPTO_MUTATIONS: usize = 30_000;

/// Tokens that move the parsers across their rules.
const TOKENS: &[&[u8]] = &[
    b"%",
    b"%2e",
    b"%2E",
    b"%2F",
    b"%2f",
    b"%25",
    b"%00",
    b"%C3%A9",
    b"%C3",
    b"%FF",
    b"%5C",
    b"%3F",
    b"%23",
    b"%3B",
    b"..",
    b"/",
    b"//",
    b"/./",
    b"/../",
    b".",
    b"\\",
    b";",
    b"?",
    b"#",
    b"&",
    b"=",
    b"kh_",
    b"&kh_v=1",
    b"&kh_kid=k1",
    b"&kh_exp=1800000600",
    b"&kh_sig=",
    b"&kh_scope=/",
    b"&kh_ip=198.51.100.1",
    b"&kh_m=GET",
    b"&kh_q=1",
    b"&kh_nbf=0",
    b"\n",
    b"\xc3\xa9",
    b"\xff",
    b"\x80",
    b" ",
    b"::ffff:",
    b"GET",
    b"HEAD",
    b"token=",
    b"&token=",
    b"eyJ",
    b"eyJhbGciOiJub25lIn0",
    b"__Host-keyhole=",
    b"; ",
    b"\"",
    b"2.k1.",
    b".R0VULEhFQUQ.",
    b"same-origin",
    b"cross-site",
    b"https://partner.example",
];

fn seeds(target: &str) -> Vec<Vec<u8>> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz")
        .join("seeds")
        .join(target);
    let mut names: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .collect();
    names.sort();
    let seeds: Vec<Vec<u8>> = names.iter().map(|p| std::fs::read(p).unwrap()).collect();
    assert!(seeds.len() >= 20, "{target}: only {} seeds", seeds.len());
    seeds
}

/// One to four mutations of a seed.
fn mutate(rng: &mut Rng, seeds: &[Vec<u8>]) -> Vec<u8> {
    let mut input = seeds[rng.below(seeds.len())].clone();
    for _ in 0..1 + rng.below(4) {
        let at = rng.below(input.len() + 1);
        match rng.below(6) {
            0 if at < input.len() => input[at] ^= 1 << rng.below(8),
            1 if at < input.len() => input[at] = rng.next() as u8,
            2 => {
                let token = TOKENS[rng.below(TOKENS.len())];
                input.splice(at..at, token.iter().copied());
            }
            3 if at < input.len() => {
                let end = (at + 1 + rng.below(8)).min(input.len());
                input.drain(at..end);
            }
            4 if at < input.len() => {
                let end = (at + 1 + rng.below(16)).min(input.len());
                let piece = input[at..end].to_vec();
                for _ in 0..1 + rng.below(200) {
                    input.splice(end..end, piece.iter().copied());
                }
            }
            _ => {
                let other = &seeds[rng.below(seeds.len())];
                let from = rng.below(other.len() + 1);
                input.truncate(at);
                input.extend_from_slice(&other[from..]);
            }
        }
    }
    input
}

fn run(target: &str, property: fn(&[u8]), seed: u64) {
    run_n(target, property, seed, MUTATIONS);
}

fn run_n(target: &str, property: fn(&[u8]), seed: u64, mutations: usize) {
    let seeds = seeds(target);
    for input in &seeds {
        property(input);
    }
    let mut rng = Rng(seed);
    for _ in 0..mutations {
        property(&mutate(&mut rng, &seeds));
    }
}

#[test]
fn canonicaliser_properties_hold_on_seeds_and_mutations() {
    run("canonical", properties::canonical, 1);
}

#[test]
fn signed_url_parser_properties_hold_on_seeds_and_mutations() {
    run("signed_url", properties::signed_url, 2);
}

#[test]
fn decision_properties_hold_on_seeds_and_mutations() {
    run_n("decide", properties::decide, 3, CRYPTO_MUTATIONS);
}

#[test]
fn jwt_properties_hold_on_seeds_and_mutations() {
    run_n("jwt", properties::jwt, 4, CRYPTO_MUTATIONS);
}

#[test]
fn cookie_properties_hold_on_seeds_and_mutations() {
    run_n("cookie", properties::cookie, 5, CRYPTO_MUTATIONS);
}

/// The seeds start allowed: every valid seed the writer made is still allowed (so a
/// change of input layout or keys cannot silently turn them into denials).
#[test]
fn the_valid_seeds_are_allowed() {
    for (target, name) in seeds::ALLOWED {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("fuzz/seeds")
            .join(target)
            .join(name);
        let input = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(
            seeds::allowed(target, &input),
            "{target}/{name} is not allowed"
        );
    }
}

// The seed writer itself runs from fuzz/tools/seeds.rs; only the allowed list is used here.
#[allow(dead_code)]
#[path = "../fuzz/seeds.rs"]
mod seeds;
