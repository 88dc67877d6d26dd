//! The auth routes for proxies other than a hand-written nginx, each answering exactly
//! like `/auth` (204 or 403, empty body, `X-Keyhole-Reason`):
//!
//! - `/forward-auth`: Traefik `forwardAuth`, Caddy `forward_auth` and the oauth2-proxy /
//!   Authelia style (`X-Forwarded-Method`, `-Proto`, `-Host`, `-Uri`, `-For`).
//! - `/ext-authz/…`: Envoy's `ext_authz` HTTP service with `path_prefix: /ext-authz`
//!   (the original method, and the original path and query after the prefix).
//! - `/ingress-auth`: ingress-nginx's `auth-url` subrequest (`X-Original-URL`,
//!   `X-Original-Method`, `X-Sent-From`, `X-Real-IP`).
//!
//! Each maps its headers into the one request model (`keyhole_core::forwarded`) and
//! hands it to the same decision as `/auth`. No route reads another's dialect: the
//! forward-auth routes never read `X-Original-*`, and `/auth` never reads
//! `X-Forwarded-*`.

use std::sync::Arc;

use warp::Filter;
use warp::http::{HeaderMap, Method};

use super::{Routes, State, decide_mapped, field, reply_audited};
use crate::forwarded::{ExtAuthzRequest, ForwardAuthHeaders, IngressHeaders, Peer};

/// The path prefix Envoy's `http_service.path_prefix` must name.
pub const EXT_AUTHZ_PREFIX: &str = "/ext-authz";

/// `/forward-auth`, `/ext-authz/…` and `/ingress-auth`, any method each.
pub(super) fn routes(state: Arc<State>) -> Routes {
    let peer =
        warp::ext::optional::<Peer>().map(|peer: Option<Peer>| peer.unwrap_or(Peer::Unknown));
    let forward_state = Arc::clone(&state);
    let forward_auth = warp::path!("forward-auth")
        .and(warp::header::headers_cloned())
        .and(peer)
        .then(move |headers: HeaderMap, peer: Peer| {
            let state = Arc::clone(&forward_state);
            async move {
                let mapped = forward_auth_headers(&headers).map(peer, &state.trusted_proxies);
                let (decision, audit) = decide_mapped(&state, mapped.map(|m| m.headers)).await;
                warp::Reply::into_response(reply_audited(&decision, &audit))
            }
        });
    let ingress_state = Arc::clone(&state);
    let ingress = warp::path!("ingress-auth")
        .and(warp::header::headers_cloned())
        .then(move |headers: HeaderMap| {
            let state = Arc::clone(&ingress_state);
            async move {
                let mapped = ingress_headers(&headers).map();
                let (decision, audit) = decide_mapped(&state, mapped.map(|m| m.headers)).await;
                warp::Reply::into_response(reply_audited(&decision, &audit))
            }
        });
    let query = warp::query::raw()
        .map(Some)
        .or(warp::any().map(|| None))
        .unify();
    let ext_authz = warp::path("ext-authz")
        .and(warp::method())
        .and(warp::path::full())
        .and(query)
        .and(warp::header::headers_cloned())
        .and(peer)
        .then(
            move |method: Method,
                  path: warp::path::FullPath,
                  query: Option<String>,
                  headers: HeaderMap,
                  peer: Peer| {
                let state = Arc::clone(&state);
                async move {
                    let target = ext_authz_target(path.as_str(), query.as_deref());
                    let request = ExtAuthzRequest {
                        method: method.as_str().as_bytes(),
                        target: target.as_bytes(),
                        host: field(&headers, "host"),
                        forwarded_for: field(&headers, "x-forwarded-for"),
                        cookie: field(&headers, "cookie"),
                        fetch_site: field(&headers, "sec-fetch-site"),
                        referer: field(&headers, "referer"),
                    };
                    let mapped = request.map(peer, &state.trusted_proxies);
                    let (decision, audit) = decide_mapped(&state, mapped.map(|m| m.headers)).await;
                    warp::Reply::into_response(reply_audited(&decision, &audit))
                }
            },
        );
    forward_auth
        .or(ingress)
        .unify()
        .or(ext_authz)
        .unify()
        .boxed()
}

/// The client's target: the check request's path after [`EXT_AUTHZ_PREFIX`], and its
/// query as sent.
fn ext_authz_target(path: &str, query: Option<&str>) -> String {
    let mut target = path
        .strip_prefix(EXT_AUTHZ_PREFIX)
        .unwrap_or(path)
        .to_owned();
    if let Some(query) = query {
        target.push('?');
        target.push_str(query);
    }
    target
}

fn forward_auth_headers(headers: &HeaderMap) -> ForwardAuthHeaders<'_> {
    ForwardAuthHeaders {
        method: field(headers, "x-forwarded-method"),
        proto: field(headers, "x-forwarded-proto"),
        host: field(headers, "x-forwarded-host"),
        uri: field(headers, "x-forwarded-uri"),
        forwarded_for: field(headers, "x-forwarded-for"),
        cookie: field(headers, "cookie"),
        fetch_site: field(headers, "sec-fetch-site"),
        referer: field(headers, "referer"),
    }
}

fn ingress_headers(headers: &HeaderMap) -> IngressHeaders<'_> {
    IngressHeaders {
        original_url: field(headers, "x-original-url"),
        original_method: field(headers, "x-original-method"),
        sent_from: field(headers, "x-sent-from"),
        real_ip: field(headers, "x-real-ip"),
        cookie: field(headers, "cookie"),
        fetch_site: field(headers, "sec-fetch-site"),
        referer: field(headers, "referer"),
    }
}
