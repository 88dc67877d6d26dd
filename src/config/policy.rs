//! The time rules every credential shares: `KEYHOLE_LEEWAY`, `KEYHOLE_MAX_LIFETIME`
//! and `KEYHOLE_DECISION_CACHE_MAX`.

use super::table::{DECISION_CACHE_MAX, LEEWAY, MAX_LIFETIME};
use super::{RawConfig, parse_seconds};
use crate::verify::Policy;

/// The largest leeway accepted, in seconds: a larger one outlives short credentials.
const MAX_LEEWAY: u64 = 300;

/// The leeway alone, `None` when it does not parse (reported). The JWT area needs it
/// even when another time rule is wrong.
pub(super) fn leeway(
    raw: &RawConfig,
    report: &mut impl FnMut(&'static str, String),
) -> Option<u64> {
    parse_seconds(raw.leeway.as_deref(), const { LEEWAY.default_seconds() })
        .map_err(|message| report(LEEWAY.name, message))
        .ok()
}

/// The three rules, given the leeway [`leeway`] read.
pub(super) fn validate(
    raw: &RawConfig,
    leeway: Option<u64>,
    report: &mut impl FnMut(&'static str, String),
) -> Option<Policy> {
    let max_lifetime = parse_seconds(
        raw.max_lifetime.as_deref(),
        const { MAX_LIFETIME.default_seconds() },
    )
    .map_err(|message| report(MAX_LIFETIME.name, message))
    .ok();
    let max_cache = parse_seconds(
        raw.decision_cache_max.as_deref(),
        const { DECISION_CACHE_MAX.default_seconds() },
    )
    .map_err(|message| report(DECISION_CACHE_MAX.name, message))
    .ok();
    if max_lifetime == Some(0) {
        report(MAX_LIFETIME.name, "must be greater than zero".into());
    }
    if leeway.is_some_and(|leeway| leeway > MAX_LEEWAY) {
        report(
            LEEWAY.name,
            "must be at most 5m (a larger leeway outlives short credentials)".into(),
        );
    }
    Some(Policy {
        leeway: leeway?,
        max_lifetime: max_lifetime?,
        max_cache: max_cache?,
    })
}
