//! `keyhole_keys_file PATH`: the same format as the service's `KEYHOLE_KEYS_FILE`,
//! parsed by the same function ([`KeyRing::parse`]); `keyhole_jwt_keys_file PATH`: the
//! same format as `KEYHOLE_JWT_KEYS_FILE` (`kid:HS256:secret`), parsed by the service's
//! [`parse_hmac_keys`]. When the file is refused, the
//! line at fault is found by parsing ever longer prefixes of the file with that same
//! function: the first prefix that fails ends at the line to blame. Messages carry the
//! path, the line number and keyhole-core's reason; never the line's text (it holds a
//! secret).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use keyhole_core::keys::{KeyError, KeyRing};
use keyhole_core::verify::jwt::keys::{JwtKey, JwtKeyError, check_unique, parse_hmac_keys};

/// Why a key file was refused.
#[derive(Debug, thiserror::Error)]
pub enum KeyFileError {
    /// The file could not be read.
    #[error("cannot read keyhole key file \"{path}\": {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The operating system's reason.
        source: std::io::Error,
    },
    /// The file is not UTF-8.
    #[error("keyhole key file \"{path}\" is not UTF-8 text")]
    NotText {
        /// The file.
        path: PathBuf,
    },
    /// A line is refused by keyhole-core's key parser.
    #[error(
        "keyhole key file \"{path}\", line {line}: {reason} (fix the entry; see docs/configuration.md, KEYHOLE_KEYS_FILE)"
    )]
    Entry {
        /// The file.
        path: PathBuf,
        /// The line, counted from 1.
        line: usize,
        /// keyhole-core's reason.
        reason: KeyError,
    },
    /// The file holds no key.
    #[error(
        "keyhole key file \"{path}\" holds no key (one `kid:secret` per line; `keyhole keygen` makes one)"
    )]
    Empty {
        /// The file.
        path: PathBuf,
    },
    /// A line is refused by keyhole-core's JWT key parser.
    #[error(
        "keyhole JWT key file \"{path}\", line {line}: {reason} (fix the entry; see docs/configuration.md, KEYHOLE_JWT_KEYS_FILE)"
    )]
    JwtEntry {
        /// The file.
        path: PathBuf,
        /// The line, counted from 1 (0: across lines, such as a key id listed twice).
        line: usize,
        /// keyhole-core's reason.
        reason: JwtKeyError,
    },
    /// The JWT key file holds no key.
    #[error("keyhole JWT key file \"{path}\" holds no key (one `kid:HS256:secret` per line)")]
    JwtEmpty {
        /// The file.
        path: PathBuf,
    },
}

/// Reads and parses a key file.
pub fn load(path: &Path) -> Result<Arc<KeyRing>, KeyFileError> {
    parse(&read_text(path)?, path).map(Arc::new)
}

/// Reads and parses a JWT key file.
pub fn load_jwt(path: &Path) -> Result<Arc<Vec<JwtKey>>, KeyFileError> {
    parse_jwt(&read_text(path)?, path).map(Arc::new)
}

fn read_text(path: &Path) -> Result<String, KeyFileError> {
    let bytes = std::fs::read(path).map_err(|source| KeyFileError::Read {
        path: path.to_owned(),
        source,
    })?;
    String::from_utf8(bytes).map_err(|_| KeyFileError::NotText {
        path: path.to_owned(),
    })
}

/// Parses JWT key-file text (HMAC keys, unique key ids); `path` names it in errors.
pub fn parse_jwt(text: &str, path: &Path) -> Result<Vec<JwtKey>, KeyFileError> {
    let error = |line, reason| KeyFileError::JwtEntry {
        path: path.to_owned(),
        line,
        reason,
    };
    let keys = parse_hmac_keys(text).map_err(|reason| {
        error(
            blame_with(text, |prefix| parse_hmac_keys(prefix).is_ok()),
            reason,
        )
    })?;
    if keys.is_empty() {
        return Err(KeyFileError::JwtEmpty {
            path: path.to_owned(),
        });
    }
    check_unique(&keys).map_err(|reason| {
        let line = blame_with(text, |prefix| {
            parse_hmac_keys(prefix).is_ok_and(|keys| check_unique(&keys).is_ok())
        });
        error(line, reason)
    })?;
    Ok(keys)
}

/// Parses key-file text; `path` names it in errors.
pub fn parse(text: &str, path: &Path) -> Result<KeyRing, KeyFileError> {
    match KeyRing::parse(text) {
        Ok(ring) => Ok(ring),
        Err(KeyError::Empty) => Err(KeyFileError::Empty {
            path: path.to_owned(),
        }),
        Err(reason) => Err(KeyFileError::Entry {
            path: path.to_owned(),
            line: blame(text),
            reason,
        }),
    }
}

/// The first line whose prefix of the file keyhole-core refuses (an empty prefix is
/// not a fault here). Entries may also be separated by commas inside a line; the
/// line holding the bad entry is blamed.
fn blame(text: &str) -> usize {
    blame_with(text, |prefix| {
        matches!(KeyRing::parse(prefix), Ok(_) | Err(KeyError::Empty))
    })
}

/// The first line whose prefix of the file `accepts` refuses.
fn blame_with(text: &str, accepts: impl Fn(&str) -> bool) -> usize {
    let mut end = 0;
    for (index, line) in text.split_inclusive('\n').enumerate() {
        end += line.len();
        if !accepts(text.get(..end).unwrap_or(text)) {
            return index + 1;
        }
    }
    text.lines().count().max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8";

    fn error(text: &str) -> String {
        parse(text, Path::new("/etc/k.keys"))
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn a_good_file_parses_like_the_service() {
        let text = format!("# rotated\nk2:{SECRET}\n\nk1:{SECRET}\n");
        let ring = parse(&text, Path::new("k")).unwrap();
        let kids: Vec<_> = ring.kids().map(|k| k.as_str().to_owned()).collect();
        assert_eq!(kids, ["k2", "k1"]);
    }

    #[test]
    fn errors_name_file_and_line_but_never_the_secret() {
        let short = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYX";
        let message = error(&format!("k1:{SECRET}\n# c\nk2:{short}\n"));
        assert!(message.contains("\"/etc/k.keys\", line 3"), "{message}");
        assert!(
            !message.contains(short) && !message.contains(SECRET),
            "{message}"
        );
        let message = error(&format!("k1:{SECRET}\nk1:{SECRET}\n"));
        assert!(
            message.contains("line 2") && message.contains("listed twice"),
            "{message}"
        );
        assert!(error("nocolon\n").contains("line 1"));
        assert!(error("# only a comment\n").contains("holds no key"));
    }

    #[test]
    fn jwt_key_files_parse_like_the_service_and_blame_a_line() {
        let path = Path::new("/etc/jwt.keys");
        let keys = parse_jwt(&format!("# c\nh1:HS256:{SECRET}\n"), path).unwrap();
        assert_eq!(keys.len(), 1);
        let short = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYX";
        let message = parse_jwt(&format!("h1:HS256:{SECRET}\nh2:HS256:{short}\n"), path)
            .unwrap_err()
            .to_string();
        assert!(message.contains("\"/etc/jwt.keys\", line 2"), "{message}");
        assert!(
            !message.contains(short) && !message.contains(SECRET),
            "{message}"
        );
        let message = parse_jwt(&format!("h1:HS256:{SECRET}\nh1:HS256:{SECRET}\n"), path)
            .unwrap_err()
            .to_string();
        assert!(
            message.contains("line 2") && message.contains("twice"),
            "{message}"
        );
        let message = parse_jwt(&format!("r1:RS256:{SECRET}\n"), path)
            .unwrap_err()
            .to_string();
        assert!(message.contains("line 1"), "{message}");
        assert!(
            parse_jwt("\n", path)
                .unwrap_err()
                .to_string()
                .contains("holds no key")
        );
    }
}
