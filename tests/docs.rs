//! The docs against the code. The lists come from the code, so a variable, a reason
//! code or a command added later fails here until its doc names it:
//!
//! - every `KEYHOLE_*` variable keyhole reads (`config::KNOWN_VARIABLES`) has a row in
//!   docs/configuration.md;
//! - every reason code (`Deny::ALL`) has a row in docs/reason-codes.md, and every row
//!   there is a code;
//! - every command of `keyhole --help` has exactly one row in the README's commands
//!   table, naming its arguments and every flag of `keyhole COMMAND --help`;
//! - every credential name is listed where the docs list them.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::process::Command;

use keyhole::config::KNOWN_VARIABLES;
use keyhole::decision::Deny;

const BIN: &str = env!("CARGO_BIN_EXE_keyhole");

fn doc(path: &str) -> String {
    let full = format!("{}/{path}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{full}: {e}"))
}

/// The text from the line `heading` to the next heading of the same or a higher level.
fn section<'a>(text: &'a str, heading: &str) -> &'a str {
    let level = heading.bytes().take_while(|b| *b == b'#').count();
    let start = text
        .find(&format!("\n{heading}\n"))
        .unwrap_or_else(|| panic!("no heading `{heading}`"))
        + 1;
    let body = &text[start + heading.len()..];
    let end = body
        .match_indices("\n#")
        .find(|(at, _)| {
            let hashes = body[at + 1..].bytes().take_while(|b| *b == b'#').count();
            hashes <= level && body[at + 1 + hashes..].starts_with(' ')
        })
        .map_or(body.len(), |(at, _)| at);
    &text[start..start + heading.len() + end]
}

/// The first cell of each row of the Markdown table(s) in `text`, without backticks.
fn first_cells(text: &str) -> Vec<(String, &str)> {
    text.lines()
        .filter(|line| line.starts_with("| `"))
        .map(|line| {
            let cell = line.trim_start_matches("| ").split(" |").next().unwrap();
            (cell.trim_matches('`').to_owned(), line)
        })
        .collect()
}

#[test]
fn every_variable_keyhole_reads_has_a_row_in_configuration_md() {
    let text = doc("docs/configuration.md");
    let rows: Vec<String> = first_cells(&text).into_iter().map(|(v, _)| v).collect();
    let missing: Vec<&str> = KNOWN_VARIABLES
        .iter()
        .copied()
        .filter(|variable| !rows.iter().any(|row| row == variable))
        .collect();
    assert!(
        missing.is_empty(),
        "docs/configuration.md has no row for {missing:?}"
    );
    let unknown: Vec<&String> = rows
        .iter()
        .filter(|row| !KNOWN_VARIABLES.contains(&row.as_str()))
        .collect();
    assert!(
        unknown.is_empty(),
        "docs/configuration.md documents variables keyhole does not read: {unknown:?}"
    );
}

#[test]
fn every_reason_code_has_a_row_in_reason_codes_md() {
    let text = doc("docs/reason-codes.md");
    let rows: Vec<String> = first_cells(&text).into_iter().map(|(c, _)| c).collect();
    let missing: Vec<&str> = Deny::ALL
        .iter()
        .map(|reason| reason.code())
        .filter(|code| !rows.iter().any(|row| row == code))
        .collect();
    assert!(
        missing.is_empty(),
        "docs/reason-codes.md has no row for {missing:?}"
    );
    let unknown: Vec<&String> = rows
        .iter()
        .filter(|row| !Deny::ALL.iter().any(|reason| reason.code() == row.as_str()))
        .collect();
    assert!(
        unknown.is_empty(),
        "docs/reason-codes.md documents codes that are not in Deny::ALL: {unknown:?}"
    );
}

/// Every credential name keyhole sends in `X-Keyhole-Credential` and the metrics'
/// `credential` label. The match has no wildcard: a new kind fails to compile here.
fn credential_names() -> Vec<&'static str> {
    use keyhole::decision::Credential;
    let all = [Credential::SignedUrl, Credential::Jwt, Credential::Cookie];
    for credential in all {
        match credential {
            Credential::SignedUrl | Credential::Jwt | Credential::Cookie => {}
        }
    }
    all.iter().map(|credential| credential.name()).collect()
}

#[test]
fn every_credential_name_is_in_the_docs_that_list_them() {
    let places = [
        ("docs/nginx.md", "`X-Keyhole-Credential` ("),
        ("docs/reason-codes.md", "`X-Keyhole-Credential` ("),
        ("docs/operations.md", "| `keyhole_decisions_total` |"),
    ];
    let mut missing = Vec::new();
    for (path, marker) in places {
        let text = doc(path);
        let at = text
            .find(marker)
            .unwrap_or_else(|| panic!("{path}: no `{marker}`"));
        // A table row is one line; a sentence's list runs to its closing parenthesis.
        let end = if marker.starts_with('|') { '\n' } else { ')' };
        let listed = &text[at..at + text[at..].find(end).unwrap_or(text.len() - at)];
        for name in credential_names() {
            if !listed.contains(&format!("`{name}`")) {
                missing.push(format!("{path} does not list `{name}` at `{marker}`"));
            }
        }
    }
    assert!(missing.is_empty(), "{}", missing.join("\n"));
}

fn help(args: &[&str]) -> String {
    let output = Command::new(BIN).args(args).arg("--help").output().unwrap();
    assert!(output.status.success(), "keyhole {args:?} --help");
    String::from_utf8(output.stdout).unwrap()
}

/// The entries of one `Name:` block of clap's help (`Commands:`, `Options:`, …): the
/// lines indented under it, up to the next blank line.
fn help_block<'a>(help: &'a str, name: &str) -> Vec<&'a str> {
    help.lines()
        .skip_while(|line| *line != name)
        .skip(1)
        .take_while(|line| !line.is_empty())
        .collect()
}

/// Whether `row` names `word` as a whole word (`--ip` is not found in `--ipv6`).
fn names(row: &str, word: &str) -> bool {
    row.match_indices(word).any(|(at, _)| {
        let before = row[..at].chars().next_back();
        let after = row[at + word.len()..].chars().next();
        let joins = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric() || c == '-');
        !joins(before) && !joins(after)
    })
}

#[test]
fn every_command_has_one_row_in_the_readme_naming_its_arguments_and_flags() {
    let readme = doc("README.md");
    let rows: Vec<(String, &str)> = first_cells(section(&readme, "## Commands"))
        .into_iter()
        .map(|(_, line)| {
            // The cell's code span: `keyhole serve` (default), `keyhole sign PATH …`.
            let command = line
                .trim_start_matches("| `")
                .split('`')
                .next()
                .unwrap()
                .strip_prefix("keyhole ")
                .unwrap_or_else(|| panic!("README commands row not `keyhole …`: {line}"))
                .split(' ')
                .next()
                .unwrap()
                .to_owned();
            (command, line)
        })
        .collect();
    let commands: Vec<String> = help_block(&help(&[]), "Commands:")
        .iter()
        .filter_map(|line| line.split_whitespace().next())
        .filter(|name| *name != "help")
        .map(str::to_owned)
        .collect();
    assert!(commands.len() >= 10, "{commands:?}");
    let mut problems = Vec::new();
    for command in &commands {
        let matching: Vec<&str> = rows
            .iter()
            .filter(|(name, _)| name == command)
            .map(|(_, line)| *line)
            .collect();
        let [row] = matching[..] else {
            problems.push(format!(
                "`keyhole {command}` has {} rows in the README's commands table",
                matching.len()
            ));
            continue;
        };
        let command_help = help(&[command]);
        let arguments = help_block(&command_help, "Arguments:");
        let options = help_block(&command_help, "Options:");
        let mut words = Vec::new();
        for line in arguments {
            let name = line.split_whitespace().next().unwrap_or("");
            words.push(name.trim_matches(['<', '>', '[', ']', '.']).to_owned());
        }
        for line in options {
            let flag = line
                .split_whitespace()
                .map(|word| word.trim_end_matches(','))
                .find(|word| word.starts_with("--"));
            if let Some(flag) = flag.filter(|flag| *flag != "--help") {
                words.push(flag.to_owned());
            }
        }
        for word in words {
            if !names(row, &word) {
                problems.push(format!(
                    "the README's row for `keyhole {command}` does not name {word}"
                ));
            }
        }
    }
    for (name, line) in &rows {
        if !commands.contains(name) {
            problems.push(format!("the README lists a command keyhole lacks: {line}"));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
