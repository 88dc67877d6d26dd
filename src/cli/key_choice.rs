//! `--kid` on `sign`, `mint` and `cookie`: which key signs, and the refusal to sign
//! anything that key's limits (`;paths=`, `;hosts=`) would make keyhole deny as
//! `key-out-of-scope`. Refusals are usage errors (exit 2) naming the key, its limits
//! and the value outside them.

use keyhole::canonical::{CanonicalPath, Scope};
use keyhole::config::Config;
use keyhole::decision::Deny;
use keyhole::host::Host;
use keyhole::key_limits::KeyLimits;
use keyhole::keys::Key;

/// The signed-URL / cookie key named by `--kid`, or the first key of the ring.
pub fn ring_key<'c>(config: &'c Config, kid: Option<&str>) -> Result<&'c Key, String> {
    match kid {
        None => Ok(config.keys.signing_key()),
        Some(kid) => config.keys.find(kid).ok_or_else(|| {
            let known: Vec<&str> = config.keys.kids().map(|kid| kid.as_str()).collect();
            format!(
                "--kid `{kid}` is not a key of KEYHOLE_KEYS (configured: {})",
                known.join(", ")
            )
        }),
    }
}

/// What a credential grants, for the check against the key's limits.
pub enum Target<'a> {
    /// One path.
    Path(&'a CanonicalPath),
    /// Every path below a prefix.
    Scope(&'a Scope),
}

/// Refuses a grant outside `limits`: a path or scope outside every prefix, or a
/// bound host the key may not be used on.
pub fn check(
    kid: &str,
    limits: &KeyLimits,
    target: Target<'_>,
    host: Option<&Host>,
) -> Result<(), String> {
    let (inside, what) = match target {
        Target::Path(path) => (limits.permits_path(path), format!("PATH {path}")),
        Target::Scope(scope) => (limits.permits_scope(scope), format!("scope {scope}")),
    };
    if !inside {
        return Err(refusal(kid, limits, &what));
    }
    if let Some(host) = host.filter(|host| !limits.permits_host(Some(host))) {
        return Err(refusal(kid, limits, &format!("--host {host}")));
    }
    Ok(())
}

fn refusal(kid: &str, limits: &KeyLimits, what: &str) -> String {
    format!(
        concat!(
            "--kid {kid}: {what} is outside the key's limits ({limits}); keyhole would ",
            "deny it as {deny}. Sign with the key of the application that owns it"
        ),
        kid = kid,
        what = what,
        limits = limits,
        deny = Deny::KeyOutOfScope
    )
}
