//! `keyhole_keys_file PATH`: the same format as the service's `KEYHOLE_KEYS_FILE`,
//! parsed by the same function ([`KeyRing::parse`]). When the file is refused, the
//! line at fault is found by parsing ever longer prefixes of the file with that same
//! function: the first prefix that fails ends at the line to blame. Messages carry the
//! path, the line number and keyhole-core's reason; never the line's text (it holds a
//! secret).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use keyhole_core::keys::{KeyError, KeyRing};

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
}

/// Reads and parses a key file.
pub fn load(path: &Path) -> Result<Arc<KeyRing>, KeyFileError> {
    let bytes = std::fs::read(path).map_err(|source| KeyFileError::Read {
        path: path.to_owned(),
        source,
    })?;
    let text = String::from_utf8(bytes).map_err(|_| KeyFileError::NotText {
        path: path.to_owned(),
    })?;
    parse(&text, path).map(Arc::new)
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
    let mut end = 0;
    for (index, line) in text.split_inclusive('\n').enumerate() {
        end += line.len();
        let prefix = text.get(..end).unwrap_or(text);
        match KeyRing::parse(prefix) {
            Ok(_) | Err(KeyError::Empty) => {}
            Err(_) => return index + 1,
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
}
