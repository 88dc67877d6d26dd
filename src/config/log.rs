//! Logging: `KEYHOLE_LOG` (a `tracing` filter, passed on as written),
//! `KEYHOLE_LOG_FORMAT` and `KEYHOLE_AUDIT` (allows logged with who opened what).

use super::RawConfig;
use super::table::{AUDIT, LOG, LOG_FORMAT};

/// Log line format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// The filter directive and the format; `None` when the format is unknown (reported).
pub(super) fn validate(
    raw: &RawConfig,
    report: &mut impl FnMut(&'static str, String),
) -> Option<(String, LogFormat)> {
    let format = match raw
        .log_format
        .as_deref()
        .unwrap_or(const { LOG_FORMAT.default_text() })
    {
        "text" => Some(LogFormat::Text),
        "json" => Some(LogFormat::Json),
        other => {
            report(
                LOG_FORMAT.name,
                format!("must be `text` or `json`, got `{other}`"),
            );
            None
        }
    };
    let filter = raw
        .log
        .clone()
        .unwrap_or_else(|| const { LOG.default_text() }.to_owned());
    Some((filter, format?))
}

/// `KEYHOLE_AUDIT`: `on` or `off`; `None` when it is neither (reported).
pub(super) fn audit(
    raw: &RawConfig,
    report: &mut impl FnMut(&'static str, String),
) -> Option<bool> {
    match raw
        .audit
        .as_deref()
        .unwrap_or(const { AUDIT.default_text() })
    {
        "on" => Some(true),
        "off" => Some(false),
        other => {
            report(AUDIT.name, format!("must be `on` or `off`, got `{other}`"));
            None
        }
    }
}
