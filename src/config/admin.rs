//! The admin listener: `KEYHOLE_ADMIN_LISTEN` and the admin token
//! (`KEYHOLE_ADMIN_TOKEN` or `KEYHOLE_ADMIN_TOKEN_FILE`). A listener beyond loopback
//! needs a token.

use std::net::SocketAddr;
use std::path::Path;

use super::RawConfig;
use super::table::{ADMIN_LISTEN, ADMIN_TOKEN, ADMIN_TOKEN_FILE};
use crate::admin::AdminToken;

/// The admin listener and its token, each `None` when off or unset.
pub(super) struct Admin {
    pub(super) listen: Option<SocketAddr>,
    pub(super) token: Option<AdminToken>,
}

/// Both variables, then the loopback rule.
pub(super) fn validate(
    raw: &RawConfig,
    report: &mut impl FnMut(&'static str, String),
) -> Option<Admin> {
    let listen = parse_admin_listen(raw.admin_listen.as_deref())
        .map_err(|message| report(ADMIN_LISTEN.name, message))
        .ok();
    let token = load_admin_token(
        raw.admin_token.as_deref(),
        raw.admin_token_file.as_deref(),
        report,
    );
    if let (Some(Some(addr)), Some(None)) = (listen, &token) {
        if !addr.ip().is_loopback() {
            report(
                ADMIN_LISTEN.name,
                format!(
                    "`{addr}` is not a loopback address and no admin token is set: set KEYHOLE_ADMIN_TOKEN_FILE (or KEYHOLE_ADMIN_TOKEN), or listen on 127.0.0.1 or [::1]"
                ),
            );
        }
    }
    Some(Admin {
        listen: listen?,
        token: token?,
    })
}

/// `KEYHOLE_ADMIN_LISTEN`: an IP `HOST:PORT`, or `off`.
pub fn parse_admin_listen(text: Option<&str>) -> Result<Option<SocketAddr>, String> {
    match text.unwrap_or(const { ADMIN_LISTEN.default_text() }) {
        "off" => Ok(None),
        text => text.parse().map(Some).map_err(|_| {
            format!(
                "must be `HOST:PORT` with an IP address (`127.0.0.1:9182`) or `off`, got `{text}`"
            )
        }),
    }
}

/// The admin address from the process environment alone (for `keyhole health`,
/// which must work without keys).
pub fn admin_listen_from_env() -> Result<Option<SocketAddr>, String> {
    parse_admin_listen(std::env::var(ADMIN_LISTEN.name).ok().as_deref())
}

/// `KEYHOLE_ADMIN_TOKEN` or `KEYHOLE_ADMIN_TOKEN_FILE`: `Some(None)` when neither is
/// set, `None` when either is wrong (reported, never echoed).
pub(super) fn load_admin_token(
    inline: Option<&str>,
    file: Option<&Path>,
    report: &mut impl FnMut(&'static str, String),
) -> Option<Option<AdminToken>> {
    match (inline, file) {
        (None, None) => Some(None),
        (Some(_), Some(_)) => {
            report(
                ADMIN_TOKEN.name,
                "set either KEYHOLE_ADMIN_TOKEN or KEYHOLE_ADMIN_TOKEN_FILE, not both".into(),
            );
            None
        }
        (Some(text), None) => AdminToken::parse(text)
            .map(Some)
            .map_err(|error| report(ADMIN_TOKEN.name, error.to_string()))
            .ok(),
        (None, Some(path)) => match std::fs::read_to_string(path) {
            Ok(text) => AdminToken::parse_file(&text)
                .map(Some)
                .map_err(|error| {
                    report(
                        ADMIN_TOKEN_FILE.name,
                        format!("{}: {error}", path.display()),
                    )
                })
                .ok(),
            Err(error) => {
                report(
                    ADMIN_TOKEN_FILE.name,
                    format!("cannot read {}: {error}", path.display()),
                );
                None
            }
        },
    }
}
