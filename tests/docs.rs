//! The docs against the code. The lists come from the code, so a variable, a reason
//! code or a command added later fails here until its doc names it:
//!
//! - every `KEYHOLE_*` variable keyhole reads (`config::KNOWN_VARIABLES`) has a row in
//!   docs/configuration.md;
//! - every reason code (`Deny::ALL`) has a row in docs/reason-codes.md, and every row
//!   there is a code;
//! - every command of `keyhole --help` has exactly one row in the README's commands
//!   table, naming its arguments and every flag of `keyhole COMMAND --help`;
//! - every credential name is listed where the docs list them;
//! - the worked examples of docs/signed-urls.md, docs/jwt.md and docs/cookies.md,
//!   which a developer checks a signer against, are recomputed here (HMAC-SHA256 of
//!   the text shown) and allowed by keyhole's verifier at the time they state, and
//!   docs/cookies.md's `return_to` rules hold at the exchange.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::process::Command;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use keyhole::canonical::CanonicalPath;
use keyhole::clock::UnixTime;
use keyhole::config::{Config, KNOWN_VARIABLES};
use keyhole::decision::{Decision, Deny};
use keyhole::request::{HeaderField, NginxHeaders, Target};
use keyhole::verify::jwt;
use keyhole::verify::signed_url::{SignedUrl, string_to_sign};

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

/// The contents of every fenced code block, in order, without the final newline.
fn code_blocks(text: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current: Option<Vec<&str>> = None;
    for line in text.lines() {
        if line.starts_with("```") {
            match current.take() {
                Some(lines) => blocks.push(lines.join("\n")),
                None => current = Some(Vec::new()),
            }
        } else if let Some(lines) = current.as_mut() {
            lines.push(line);
        }
    }
    assert!(current.is_none(), "an unclosed code block");
    blocks
}

/// The inline code right after the first `marker` (a line break counts as a space).
fn code_after(text: &str, marker: &str) -> String {
    let text = text.replace('\n', " ");
    let rest = &text[text.find(marker).unwrap_or_else(|| panic!("no `{marker}`"))..];
    let open = rest.find('`').unwrap() + 1;
    let len = rest[open..].find('`').unwrap();
    rest[open..open + len].to_owned()
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

/// The time and client the worked examples are checked at, as the docs state them.
const NOW: u64 = 1_800_000_000;
const CLIENT: &str = "203.0.113.7";

fn base64url(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn hmac_sha256(secret_base64url: &str, message: &str) -> String {
    let secret = URL_SAFE_NO_PAD.decode(secret_base64url).unwrap();
    let mut mac = Hmac::<Sha256>::new_from_slice(&secret).unwrap();
    mac.update(message.as_bytes());
    base64url(&mac.finalize().into_bytes())
}

fn config(vars: &[(&str, String)]) -> Config {
    Config::from_vars(vars.iter().map(|(k, v)| ((*k).to_owned(), v.clone()))).unwrap()
}

fn credential_allowed(decision: &Decision) -> &'static str {
    match decision {
        Decision::Allow(grant) => grant.credential.name(),
        Decision::Deny(reason) => panic!("denied as {reason}"),
    }
}

#[test]
fn the_signed_url_worked_examples_verify() {
    let text = doc("docs/signed-urls.md");
    let examples = section(&text, "## Worked examples");
    assert!(examples.contains(&NOW.to_string()) && examples.contains(CLIENT));
    let kid = code_after(examples, "key id ");
    let secret = code_after(examples, "secret ");
    let config = config(&[("KEYHOLE_KEYS", format!("{kid}:{secret}"))]);
    let authorizer = keyhole::app::authorizer(&config);
    let blocks = code_blocks(examples);
    let mut checked = 0;
    for pair in blocks.windows(2) {
        let [signed_text, url] = pair else { continue };
        if !signed_text.starts_with("keyhole-url-v1\n") {
            continue;
        }
        // The signature a signer computes from the text shown is the one in the URL.
        let signature = hmac_sha256(&secret, signed_text);
        assert!(
            url.ends_with(&format!("&kh_sig={signature}")),
            "{url}: HMAC of the text shown is {signature}"
        );
        assert!(examples.contains(&format!("`{signature}`")), "{signature}");
        // keyhole reads the URL into exactly the text shown, and allows it.
        let target = Target::parse(url.as_bytes()).unwrap();
        let path = CanonicalPath::parse(target.raw_path).unwrap();
        let parsed = SignedUrl::parse(&target.params).unwrap();
        assert_eq!(&string_to_sign(&parsed.fields(&path)), signed_text, "{url}");
        let mut headers = NginxHeaders::new(url.as_bytes(), b"GET", CLIENT.as_bytes());
        // A host-bound example is sent to its own host.
        let host = url
            .split('&')
            .find_map(|item| item.strip_prefix("kh_host="));
        if let Some(host) = host {
            headers.host = keyhole::request::HeaderField::One(host.as_bytes());
        }
        assert_eq!(
            credential_allowed(&authorizer.decide(&headers, UnixTime(NOW))),
            "signed-url",
            "{url}"
        );
        checked += 1;
    }
    assert!(checked >= 3, "{checked} worked examples");

    // The denials the page names for the second example.
    let bound = blocks.iter().find(|b| b.contains("&kh_q=1&")).unwrap();
    let deny = |url: &str, method: &[u8], client: &str, now: u64| {
        let headers = NginxHeaders::new(url.as_bytes(), method, client.as_bytes());
        authorizer.decide(&headers, UnixTime(now)).code()
    };
    let altered = bound.replace("&h=50&", "&h=60&");
    for (what, code, expected) in [
        (
            "HEAD",
            deny(bound, b"HEAD", CLIENT, NOW),
            "method-not-allowed",
        ),
        (
            "from `198.51.100.1`",
            deny(bound, b"GET", "198.51.100.1", NOW),
            "ip-mismatch",
        ),
        (
            "with `&h=60`",
            deny(&altered, b"GET", CLIENT, NOW),
            "bad-signature",
        ),
        (
            "before `1799999910`",
            deny(bound, b"GET", CLIENT, 1_799_999_909),
            "not-yet-valid",
        ),
    ] {
        assert_eq!(code, expected, "{what}");
        assert!(examples.replace('\n', " ").contains(what), "{what}");
    }
}

#[test]
fn the_jwt_worked_example_verifies_and_is_what_keyhole_mint_writes() {
    let text = doc("docs/jwt.md");
    let example = section(&text, "## Worked example");
    assert!(example.contains(&NOW.to_string()));
    let kid = code_after(example, "key id ");
    let secret = code_after(example, "secret ");
    let [header, claims, signing_input, url] = &code_blocks(example)[..] else {
        panic!("expected the header, claims, signing input and URL blocks");
    };
    assert_eq!(
        signing_input,
        &format!(
            "{}.{}",
            base64url(header.as_bytes()),
            base64url(claims.as_bytes())
        )
    );
    let signature = hmac_sha256(&secret, signing_input);
    assert!(example.contains(&format!("`{signature}`")), "{signature}");
    let token = format!("{signing_input}.{signature}");
    let claims: serde_json::Value = serde_json::from_str(claims).unwrap();
    let path_text = claims["kh_path"].as_str().unwrap();
    assert_eq!(url, &format!("{path_text}?token={token}"));

    // `keyhole mint` writes this very token (header and claims in this order).
    let alg = jwt::parse_algorithm("HS256").unwrap();
    let key = jwt::encoding_key(alg, secret.as_bytes()).unwrap();
    let grant = jwt::TokenGrant {
        path: CanonicalPath::parse(path_text.as_bytes()).unwrap(),
        scope: None,
        iat: UnixTime(claims["iat"].as_u64().unwrap()),
        exp: UnixTime(claims["exp"].as_u64().unwrap()),
        audience: claims["aud"].as_str().unwrap().to_owned(),
        once: false,
        ip: None,
        methods: None,
        uses: None,
    };
    assert_eq!(jwt::mint(&grant, &kid, alg, &key).unwrap(), token);

    let config = config(&[
        ("KEYHOLE_KEYS", format!("k1:{secret}")),
        ("KEYHOLE_JWT_KEYS", format!("{kid}:HS256:{secret}")),
    ]);
    let headers = NginxHeaders::new(url.as_bytes(), b"GET", CLIENT.as_bytes());
    assert_eq!(
        credential_allowed(&keyhole::app::authorizer(&config).decide(&headers, UnixTime(NOW))),
        "jwt"
    );
}

#[test]
fn the_cookie_worked_example_verifies() {
    let text = doc("docs/cookies.md");
    let start = text.find("**Worked example**").unwrap();
    let example = &text[start..];
    let example = &example[..example.find("\n## ").unwrap()];
    let kid = code_after(example, "key is ");
    let secret = code_after(example, "secret ");
    let now = code_after(example, "checked at ");
    let client = code_after(example, "request from ");
    let blocks = code_blocks(example);
    let [signed_text, value, ..] = &blocks[..] else {
        panic!("expected the signed text and the cookie value");
    };
    assert!(signed_text.starts_with("keyhole-cookie-v2\n"));
    let signature = hmac_sha256(&secret, signed_text);
    assert!(value.ends_with(&format!(".{signature}")), "{value}");
    let config = config(&[("KEYHOLE_KEYS", format!("{kid}:{secret}"))]);
    let cookie = format!("__Host-keyhole={value}");
    let mut headers = NginxHeaders::new(b"/photos/u1/a.jpg", b"HEAD", client.as_bytes());
    headers.cookie = HeaderField::One(cookie.as_bytes());
    let now = UnixTime(now.parse().unwrap());
    assert_eq!(
        credential_allowed(&keyhole::app::authorizer(&config).decide(&headers, now)),
        "cookie"
    );
}

/// docs/cookies.md on `return_to`: written as a path in a URL and read raw, not signed
/// (added after signing), and under `kh_q=1` part of the bound query of a URL the
/// exchange refuses after checking its signature.
#[test]
fn the_exchange_reads_return_to_as_cookies_md_says() {
    use keyhole::canonical::Scope;
    use keyhole::verify::signed_url::{UrlGrant, sign};
    let text = doc("docs/cookies.md");
    for claim in [
        "`return_to=/photos/u1/caf%C3%A9.jpg`",
        "(`%2F` is `bad-return-to`)",
        "may be added to an exchange link after signing",
        "signed without the `return_to` it arrives with is `bad-signature`",
    ] {
        assert!(text.replace('\n', " ").contains(claim), "{claim}");
    }
    let config = config(&[(
        "KEYHOLE_KEYS",
        "k1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8".to_owned(),
    )]);
    let authorizer = keyhole::app::authorizer(&config);
    let signed = |query: Option<&str>| {
        let mut grant = UrlGrant::new(
            CanonicalPath::parse(b"/photos/u1/a.jpg").unwrap(),
            UnixTime(NOW + 600),
        );
        grant.scope = Some(Scope::parse(b"/photos/u1/").unwrap());
        grant.query = query.map(str::to_owned);
        let url = sign(&grant, config.keys.signing_key()).unwrap();
        format!("/_keyhole/session?{}", url.split_once('?').unwrap().1)
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let exchange = |link: String| {
        let headers = NginxHeaders::new(link.as_bytes(), b"GET", CLIENT.as_bytes());
        let request = headers.parse().unwrap();
        runtime
            .block_on(authorizer.exchange(&request, UnixTime(NOW)))
            .map(|exchange| exchange.location)
            .map_err(Deny::code)
    };
    let unbound = signed(None);
    assert_eq!(
        exchange(format!("{unbound}&return_to=/photos/u1/caf%C3%A9.jpg")),
        Ok("/photos/u1/caf%C3%A9.jpg".to_owned())
    );
    assert_eq!(
        exchange(format!("{unbound}&return_to=/photos/u1%2Fa.jpg")),
        Err("bad-return-to")
    );
    let bound_without = signed(Some(""));
    assert_eq!(
        exchange(bound_without.replace("?", "?return_to=/photos/u1/a.jpg&")),
        Err("bad-signature")
    );
    let bound_with = signed(Some("return_to=/photos/u1/a.jpg"));
    assert_eq!(exchange(bound_with), Err("not-exchangeable"));
}
