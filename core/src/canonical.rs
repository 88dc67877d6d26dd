//! Canonical paths: the one set of rules that decides which request paths keyhole
//! accepts and what exact bytes a signature covers.
//!
//! A canonical path is a strict subset of what nginx accepts: percent-decoding it once
//! gives exactly nginx's `$uri`, with nothing for nginx's own normalisation (dot
//! segments, merged slashes) left to do. Anything that could be read two ways is
//! refused instead of repaired. Signing, minting and verifying all call
//! [`CanonicalPath::parse`] (or [`Scope::parse`]), so a signer can never sign a path
//! the verifier would read differently.

use std::fmt;
use std::fmt::Write as _;

use crate::decision::Deny;

/// Longest raw (still percent-encoded) path accepted, in bytes.
pub const MAX_RAW_PATH_LEN: usize = 2048;

/// A request path that passed every canonical-path rule: decoded once, valid UTF-8,
/// starting with `/`, no empty, dot or trailing-dot segments, no encoded slash, no
/// backslash, `;`, `%`, `?`, `#` or control character, not ending in `/`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct CanonicalPath(String);

/// A path prefix that grants every path below it. It follows the same rules as a
/// [`CanonicalPath`] but always ends in `/`, so `/a/b/` covers `/a/b/c` and never
/// `/a/bc`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Scope(String);

/// What the parsed path is allowed to end with.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Ending {
    /// A file: the last segment is non-empty.
    File,
    /// A scope: the path ends with `/` (the root `/` included).
    Slash,
}

impl CanonicalPath {
    /// Parses the raw path of a request target (the part of `$request_uri` before `?`).
    pub fn parse(raw: &[u8]) -> Result<Self, Deny> {
        decode(raw, Ending::File).map(CanonicalPath)
    }

    /// The decoded path, as nginx's `$uri` would hold it.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The path percent-encoded the way keyhole's signers write it into URLs.
    pub fn to_url_form(&self) -> String {
        encode(&self.0)
    }
}

impl Scope {
    /// Parses a raw (percent-encoded) path prefix; it must end with `/`.
    pub fn parse(raw: &[u8]) -> Result<Self, Deny> {
        decode(raw, Ending::Slash).map(Scope)
    }

    /// The decoded prefix.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether `path` lies below this prefix, on whole segments.
    pub fn contains(&self, path: &CanonicalPath) -> bool {
        path.0.starts_with(&self.0)
    }

    /// The prefix percent-encoded the way keyhole's signers write it into URLs.
    pub fn to_url_form(&self) -> String {
        encode(&self.0)
    }
}

impl fmt::Display for CanonicalPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Bytes that may stand unencoded in a canonical path: RFC 3986 `pchar` minus `;`
/// and `%` (which introduces an escape), plus the `/` separator.
fn is_raw_path_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric()
        || matches!(
            byte,
            b'/' | b'-'
                | b'.'
                | b'_'
                | b'~'
                | b'!'
                | b'$'
                | b'&'
                | b'\''
                | b'('
                | b')'
                | b'*'
                | b'+'
                | b','
                | b'='
                | b':'
                | b'@'
        )
}

fn hex_value(byte: u8) -> Option<u8> {
    match byte {
        b'0'..=b'9' => Some(byte - b'0'),
        b'a'..=b'f' => Some(byte - b'a' + 10),
        b'A'..=b'F' => Some(byte - b'A' + 10),
        _ => None,
    }
}

/// Decodes once and checks every rule; the single implementation behind both types.
fn decode(raw: &[u8], ending: Ending) -> Result<String, Deny> {
    if raw.len() > MAX_RAW_PATH_LEN {
        return Err(Deny::PathTooLong);
    }
    if raw.first() != Some(&b'/') {
        return Err(Deny::PathBadChar);
    }
    if !raw.contains(&b'%') {
        // Nothing to decode: the raw bytes are the path (the common case).
        if !raw.iter().all(|&b| is_raw_path_byte(b)) {
            return Err(Deny::PathBadChar);
        }
        let text = std::str::from_utf8(raw).map_err(|_| Deny::PathBadChar)?;
        check_segments(text, ending)?;
        return Ok(text.to_owned());
    }
    let mut decoded = Vec::with_capacity(raw.len());
    let mut bytes = raw.iter().copied();
    while let Some(byte) = bytes.next() {
        if byte == b'%' {
            let high = bytes.next().and_then(hex_value);
            let low = bytes.next().and_then(hex_value);
            let (Some(high), Some(low)) = (high, low) else {
                return Err(Deny::PathBadEscape);
            };
            let value = high * 16 + low;
            match value {
                b'/' => return Err(Deny::PathEncodedSlash),
                // A decoded `%` means the path was encoded twice (`%252e`).
                b'%' => return Err(Deny::PathBadEscape),
                b'\\' | b';' | b'?' | b'#' => return Err(Deny::PathBadChar),
                0x00..=0x1f | 0x7f => return Err(Deny::PathBadChar),
                _ => decoded.push(value),
            }
        } else if is_raw_path_byte(byte) {
            decoded.push(byte);
        } else {
            return Err(Deny::PathBadChar);
        }
    }
    let decoded = String::from_utf8(decoded).map_err(|_| Deny::PathBadUtf8)?;
    if !decoded.is_ascii() && decoded.chars().any(char::is_control) {
        return Err(Deny::PathBadChar);
    }
    check_segments(&decoded, ending)?;
    Ok(decoded)
}

fn check_segments(decoded: &str, ending: Ending) -> Result<(), Deny> {
    // The first split item is the empty string before the leading `/`.
    let mut segments = decoded.split('/').skip(1).peekable();
    while let Some(segment) = segments.next() {
        let last = segments.peek().is_none();
        if segment.is_empty() {
            match (last, ending) {
                (true, Ending::Slash) => return Ok(()),
                (true, Ending::File) => return Err(Deny::PathNotFile),
                (false, _) => return Err(Deny::PathEmptySegment),
            }
        }
        // `.`, `..` and `name.` (which some file systems and proxies trim) are refused.
        if segment.ends_with('.') {
            return Err(Deny::PathTraversal);
        }
    }
    match ending {
        Ending::File => Ok(()),
        Ending::Slash => Err(Deny::ScopeNotPrefix),
    }
}

/// Percent-encodes every byte outside the raw path set, with upper-case hex digits.
pub fn encode(decoded: &str) -> String {
    let mut out = String::with_capacity(decoded.len());
    for byte in decoded.bytes() {
        if is_raw_path_byte(byte) {
            out.push(char::from(byte));
        } else {
            // Writing to a String cannot fail.
            let _ = write!(out, "%{byte:02X}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(raw: &str) -> Result<String, Deny> {
        CanonicalPath::parse(raw.as_bytes()).map(|p| p.as_str().to_owned())
    }

    #[test]
    fn plain_paths_are_their_own_canonical_form() {
        assert_eq!(path("/a/b.jpg"), Ok("/a/b.jpg".into()));
        assert_eq!(path("/.well-known/x"), Ok("/.well-known/x".into()));
        assert_eq!(path("/a+b/c=d@e:f"), Ok("/a+b/c=d@e:f".into()));
    }

    #[test]
    fn percent_escapes_are_decoded_exactly_once() {
        assert_eq!(path("/caf%C3%A9.jpg"), Ok("/café.jpg".into()));
        assert_eq!(path("/a%20b"), Ok("/a b".into()));
        assert_eq!(path("/%41"), Ok("/A".into()));
        assert_eq!(path("/%252e%252e/x"), Err(Deny::PathBadEscape));
        assert_eq!(path("/a%25"), Err(Deny::PathBadEscape));
    }

    #[test]
    fn dot_segments_raw_or_encoded_are_traversal() {
        for raw in [
            "/a/../b",
            "/a/./b",
            "/..",
            "/a/..",
            "/%2e%2e/x",
            "/%2E%2E/x",
            "/.%2e/x",
            "/a.",
            "/a/b.jpg.",
            "/a./b",
        ] {
            assert_eq!(path(raw), Err(Deny::PathTraversal), "{raw}");
        }
    }

    #[test]
    fn separators_and_parameters_are_refused() {
        assert_eq!(path("/a%2Fb"), Err(Deny::PathEncodedSlash));
        assert_eq!(path("/a%2fb"), Err(Deny::PathEncodedSlash));
        assert_eq!(path("/..%2Fetc"), Err(Deny::PathEncodedSlash));
        assert_eq!(path("/a\\b"), Err(Deny::PathBadChar));
        assert_eq!(path("/a%5Cb"), Err(Deny::PathBadChar));
        assert_eq!(path("/a;x"), Err(Deny::PathBadChar));
        assert_eq!(path("/a%3Bx"), Err(Deny::PathBadChar));
        assert_eq!(path("/a#b"), Err(Deny::PathBadChar));
        assert_eq!(path("/a%23b"), Err(Deny::PathBadChar));
        assert_eq!(path("/a%3Fb"), Err(Deny::PathBadChar));
        assert_eq!(path("a/b"), Err(Deny::PathBadChar));
        assert_eq!(path(""), Err(Deny::PathBadChar));
    }

    #[test]
    fn empty_segments_and_trailing_slashes_are_refused() {
        assert_eq!(path("//a"), Err(Deny::PathEmptySegment));
        assert_eq!(path("/a//b"), Err(Deny::PathEmptySegment));
        assert_eq!(path("/a/"), Err(Deny::PathNotFile));
        assert_eq!(path("/"), Err(Deny::PathNotFile));
    }

    #[test]
    fn control_bytes_and_bad_utf8_are_refused() {
        assert_eq!(path("/a%00b"), Err(Deny::PathBadChar));
        assert_eq!(path("/a%0Ab"), Err(Deny::PathBadChar));
        assert_eq!(path("/a%7F"), Err(Deny::PathBadChar));
        assert_eq!(path("/a%C2%85"), Err(Deny::PathBadChar));
        assert_eq!(path("/a%C3"), Err(Deny::PathBadUtf8));
        assert_eq!(path("/a%FF"), Err(Deny::PathBadUtf8));
        assert_eq!(path("/a%zz"), Err(Deny::PathBadEscape));
        assert_eq!(path("/a%2"), Err(Deny::PathBadEscape));
        assert_eq!(
            CanonicalPath::parse(b"/caf\xc3\xa9"),
            Err(Deny::PathBadChar),
            "raw non-ASCII must be percent-encoded"
        );
        assert_eq!(path("/a b"), Err(Deny::PathBadChar));
    }

    #[test]
    fn overlong_paths_are_refused() {
        let long = format!("/{}", "a".repeat(MAX_RAW_PATH_LEN));
        assert_eq!(path(&long), Err(Deny::PathTooLong));
    }

    #[test]
    fn scopes_match_on_whole_segments() {
        let scope = Scope::parse(b"/u1/").unwrap();
        assert!(scope.contains(&CanonicalPath::parse(b"/u1/x.jpg").unwrap()));
        assert!(scope.contains(&CanonicalPath::parse(b"/u1/a/b").unwrap()));
        assert!(!scope.contains(&CanonicalPath::parse(b"/u10/x").unwrap()));
        assert!(!scope.contains(&CanonicalPath::parse(b"/u1").unwrap()));
        assert_eq!(Scope::parse(b"/u1"), Err(Deny::ScopeNotPrefix));
        assert_eq!(
            Scope::parse(b"/u1/../").map(|_| ()),
            Err(Deny::PathTraversal)
        );
        assert!(Scope::parse(b"/").is_ok());
    }

    #[test]
    fn encoding_round_trips_through_parse() {
        for decoded in ["/café/ü b.jpg", "/a+b/c'd(e)", "/日本/x"] {
            let encoded = encode(decoded);
            assert!(encoded.is_ascii());
            assert_eq!(path(&encoded), Ok(decoded.to_owned()));
        }
        assert_eq!(encode("/a b/é"), "/a%20b/%C3%A9");
    }
}
