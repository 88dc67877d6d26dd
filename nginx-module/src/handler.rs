//! The module's request handler without nginx: the values nginx holds for a request
//! (the same ones the shipped `keyhole.conf` sends the sidecar: `$request_uri`,
//! `$request_method`, `$remote_addr`, `$http_cookie`, `$http_sec_fetch_site`,
//! `$http_referer`, `$host`) in, a [`Verdict`] out. It builds keyhole-core's request with
//! keyhole-core's parser and asks [`keyhole_core::stateless::decide`]: nothing about a
//! format or a rule is decided here. The access-phase handler (`ffi`) and the fuzz
//! target both call [`decide`].
//!
//! It allocates only what keyhole-core's parser does (the query's parameter list and
//! the decoded path); the verdict borrows from the inputs.

use keyhole_core::clock::UnixTime;
use keyhole_core::decision::Deny;
use keyhole_core::request::{HeaderField, NginxHeaders};
use keyhole_core::stateless::{self, Stateless, Tokens};

use crate::settings::Settings;

/// A request's values as nginx holds them; an empty header value counts as not sent
/// (nginx's `proxy_set_header` drops an empty header, so the sidecar never sees it).
#[derive(Clone, Copy, Debug, Default)]
pub struct Inputs<'a> {
    /// `$request_uri`: the raw request target.
    pub uri: &'a [u8],
    /// `$request_method`.
    pub method: &'a [u8],
    /// `$remote_addr`.
    pub client: &'a [u8],
    /// `$http_cookie`.
    pub cookie: &'a [u8],
    /// `$http_sec_fetch_site`.
    pub fetch_site: &'a [u8],
    /// `$http_referer`.
    pub referer: &'a [u8],
    /// `$host`: the virtual host (the sidecar's `X-Original-Host`), for host-bound
    /// URLs and keys limited to hosts.
    pub host: &'a [u8],
}

/// What nginx does next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Allowed here: the next access handler runs (the sidecar's auth location
    /// answers 204 at once, `$keyhole_outcome` being `allow`).
    Allow,
    /// Denied here, with this status; nothing else runs.
    Deny(u16),
    /// The sidecar decides (`auth_request` in the same location).
    Handover,
}

/// The module's answer about one request, and what its variables say.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Verdict<'a> {
    /// What nginx does.
    pub action: Action,
    /// `$keyhole_reason`: `ok`, a reason code, or empty on a handover.
    pub reason: &'static str,
    /// `$keyhole_credential`: `signed-url`, `cookie`, `jwt`, or empty.
    pub credential: &'static str,
    /// `$keyhole_kid`: the signed URL's key id on an allow.
    pub kid: Option<&'a str>,
}

impl Verdict<'_> {
    /// `$keyhole_outcome`: `allow`, `deny` or `sidecar`.
    pub fn outcome(&self) -> &'static str {
        match self.action {
            Action::Allow => "allow",
            Action::Deny(_) => "deny",
            Action::Handover => "sidecar",
        }
    }

    /// A denial for `reason` with the configured status.
    pub fn deny(settings: &Settings, reason: &'static str, credential: &'static str) -> Self {
        Verdict {
            action: Action::Deny(settings.deny_status),
            reason,
            credential,
            kid: None,
        }
    }
}

fn field(value: &[u8]) -> HeaderField<'_> {
    if value.is_empty() {
        HeaderField::Missing
    } else {
        HeaderField::One(value)
    }
}

/// Decides one request at `now`.
pub fn decide<'a>(settings: &Settings, inputs: &Inputs<'a>, now: UnixTime) -> Verdict<'a> {
    let headers = NginxHeaders {
        original_uri: field(inputs.uri),
        original_method: field(inputs.method),
        real_ip: field(inputs.client),
        cookie: field(inputs.cookie),
        fetch_site: field(inputs.fetch_site),
        referer: field(inputs.referer),
        host: field(inputs.host),
    };
    let request = match headers.parse() {
        Ok(request) => request,
        Err(reason) => return Verdict::deny(settings, reason.code(), ""),
    };
    let tokens = match (&settings.jwt, settings.jwt_param.as_deref()) {
        (Some(verifier), _) => Tokens::Decide(verifier),
        (None, Some(param)) => Tokens::HandOn(param),
        (None, None) => Tokens::Off,
    };
    let verdict = stateless::decide(
        &request,
        &settings.keys,
        &settings.policy,
        &settings.cookies,
        tokens,
        now,
    );
    match verdict {
        Stateless::Allow { grant, kid } => Verdict {
            action: Action::Allow,
            reason: "ok",
            credential: grant.credential.name(),
            kid,
        },
        Stateless::Deny { reason, credential } => {
            Verdict::deny(settings, reason.code(), credential.map_or("", |c| c.name()))
        }
        Stateless::NeedsService(credential) if settings.sidecar => Verdict {
            action: Action::Handover,
            reason: "",
            credential: credential.name(),
            kid: None,
        },
        Stateless::NeedsService(credential) => {
            Verdict::deny(settings, Deny::NeedsSidecar.code(), credential.name())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use keyhole_core::canonical::CanonicalPath;
    use keyhole_core::keys::KeyRing;
    use keyhole_core::verify::signed_url::{UrlGrant, sign};
    use std::sync::Arc;

    const NOW: UnixTime = UnixTime(1_800_000_000);

    fn settings(sidecar: bool) -> Settings {
        let mut directives = crate::settings::Directives {
            enable: Some(true),
            keys: Some(Arc::new(
                KeyRing::parse("k1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8").unwrap(),
            )),
            sidecar: Some(sidecar),
            deny_status: Some(404),
            ..Default::default()
        };
        directives.merge(&Default::default()).unwrap();
        (*directives.resolved.unwrap()).clone()
    }

    fn inputs(uri: &str) -> Inputs<'_> {
        Inputs {
            uri: uri.as_bytes(),
            method: b"GET",
            client: b"10.0.0.1",
            ..Inputs::default()
        }
    }

    #[test]
    fn a_signed_url_is_allowed_with_its_kid_and_a_tampered_one_denied() {
        let settings = settings(false);
        let grant = UrlGrant::new(CanonicalPath::parse(b"/a/b.jpg").unwrap(), NOW.plus(60));
        let url = sign(&grant, settings.keys.signing_key()).unwrap();
        let verdict = decide(&settings, &inputs(&url), NOW);
        assert_eq!((verdict.action, verdict.kid), (Action::Allow, Some("k1")));
        assert_eq!(verdict.credential, "signed-url");
        let tampered = url.replace("b.jpg", "c.jpg");
        let verdict = decide(&settings, &inputs(&tampered), NOW);
        assert_eq!(
            (verdict.action, verdict.reason),
            (Action::Deny(404), "bad-signature")
        );
    }

    #[test]
    fn a_token_goes_to_the_sidecar_only_when_there_is_one() {
        let verdict = decide(&settings(true), &inputs("/a/b.jpg?token=x"), NOW);
        assert_eq!(
            (verdict.action, verdict.outcome()),
            (Action::Handover, "sidecar")
        );
        let verdict = decide(&settings(false), &inputs("/a/b.jpg?token=x"), NOW);
        assert_eq!(
            (verdict.action, verdict.reason),
            (Action::Deny(404), "needs-sidecar")
        );
    }

    #[test]
    fn what_nginx_did_not_send_is_a_denial_not_a_guess() {
        let verdict = decide(&settings(true), &Inputs::default(), NOW);
        assert_eq!(verdict.reason, "missing-header");
        let mut bad = inputs("/a/../b?kh_sig=x");
        assert_eq!(decide(&settings(true), &bad, NOW).reason, "path-traversal");
        bad.client = b"not-an-ip";
        assert_eq!(decide(&settings(true), &bad, NOW).reason, "bad-header");
    }
}
