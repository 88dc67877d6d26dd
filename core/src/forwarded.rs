//! The other proxies' auth dialects mapped into the one request model: Traefik's and
//! Caddy's forward-auth (`X-Forwarded-*`), Envoy's `ext_authz` HTTP service (the
//! original method and path after a prefix) and ingress-nginx's `auth-url`
//! (`X-Original-URL`) each become the same [`NginxHeaders`] that `/auth` parses, so
//! every route goes through the same [`NginxHeaders::parse`] and the same authorizer.
//!
//! Mapping only picks bytes out of the headers (nothing is copied or decoded here);
//! the rules for the path, the query, the method and the address stay in `request`.
//! The client address of the `X-Forwarded-For` dialects is chosen here, against the
//! [`TrustedProxies`]: the peer must be a trusted proxy, and the client is the
//! right-most address that is not one.

use std::net::IpAddr;

use ipnet::IpNet;

use crate::decision::Deny;
use crate::request::{HeaderField, NginxHeaders};

/// Most `X-Forwarded-For` addresses read; more is a denial (`too-many-hops`).
pub const MAX_HOPS: usize = 16;

/// Longest host (`X-Forwarded-Host`, `Host`, the authority of `X-Original-URL`) read:
/// a 253-byte DNS name, a colon and a port.
const MAX_HOST_LEN: usize = 260;

/// The proxies whose `X-Forwarded-*` headers keyhole believes
/// (`KEYHOLE_TRUSTED_PROXIES`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrustedProxies {
    /// The networks, as configured.
    nets: Vec<IpNet>,
}

impl TrustedProxies {
    /// Loopback only (`127.0.0.0/8`, `::1/128`): the default.
    pub fn loopback() -> Self {
        TrustedProxies {
            nets: vec![
                IpNet::V4(ipnet::Ipv4Net::new_assert(
                    std::net::Ipv4Addr::new(127, 0, 0, 0),
                    8,
                )),
                IpNet::V6(ipnet::Ipv6Net::new_assert(
                    std::net::Ipv6Addr::LOCALHOST,
                    128,
                )),
            ],
        }
    }

    /// Parses a comma- or space-separated list of CIDRs or bare addresses (a bare
    /// address is a /32 or /128). The empty list trusts no proxy.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut nets = Vec::new();
        for item in text.split([',', ' ']).filter(|item| !item.is_empty()) {
            let net = match item.parse::<IpNet>() {
                Ok(net) => net,
                Err(_) => match item.parse::<IpAddr>() {
                    Ok(ip) => IpNet::from(ip),
                    Err(_) => {
                        return Err(format!(
                            "`{item}` is not a CIDR (`10.0.0.0/8`, `fd00::/8`) or an IP address"
                        ));
                    }
                },
            };
            nets.push(net.trunc());
        }
        Ok(TrustedProxies { nets })
    }

    /// Whether `ip` (IPv4-mapped IPv6 folded to IPv4) lies in a trusted network.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.nets.iter().any(|net| net.contains(&ip))
    }

    /// The networks, for logs and docs.
    pub fn nets(&self) -> &[IpNet] {
        &self.nets
    }
}

/// Who sent the request to keyhole.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Peer {
    /// A TCP peer at this address.
    Tcp(IpAddr),
    /// A peer on the Unix socket: a local process allowed by the socket's file mode
    /// (`KEYHOLE_SOCKET_MODE`), trusted like a loopback proxy.
    Local,
    /// Not known: never trusted.
    Unknown,
}

impl Peer {
    fn is_trusted(self, trusted: &TrustedProxies) -> bool {
        match self {
            Peer::Tcp(ip) => trusted.contains(ip),
            Peer::Local => true,
            Peer::Unknown => false,
        }
    }
}

/// A dialect's request, mapped: the headers `/auth` parses, and the host the client
/// asked for.
#[derive(Clone, Copy, Debug)]
pub struct Forwarded<'a> {
    /// What [`NginxHeaders::parse`] turns into the request.
    pub headers: NginxHeaders<'a>,
    /// The host the client asked for, without its port (also in `headers.host`, where
    /// the request's host rule checks it).
    pub host: &'a str,
}

/// The headers Traefik's `forwardAuth`, Caddy's `forward_auth` and the oauth2-proxy /
/// Authelia style of proxies send to `/forward-auth`.
#[derive(Clone, Copy, Debug)]
pub struct ForwardAuthHeaders<'a> {
    /// `X-Forwarded-Method`: the client's method.
    pub method: HeaderField<'a>,
    /// `X-Forwarded-Proto`: `http` or `https`.
    pub proto: HeaderField<'a>,
    /// `X-Forwarded-Host`: the host the client asked for.
    pub host: HeaderField<'a>,
    /// `X-Forwarded-Uri`: the raw request target (path and query).
    pub uri: HeaderField<'a>,
    /// `X-Forwarded-For`: the client address, then each proxy's peer appended.
    pub forwarded_for: HeaderField<'a>,
    /// `Cookie`, copied from the client.
    pub cookie: HeaderField<'a>,
    /// `Sec-Fetch-Site`, copied from the client.
    pub fetch_site: HeaderField<'a>,
    /// `Referer`, copied from the client.
    pub referer: HeaderField<'a>,
}

impl<'a> ForwardAuthHeaders<'a> {
    /// Checks the forwarding headers and the peer, and maps them into the request
    /// model. `X-Original-*` is never read on this route.
    pub fn map(&self, peer: Peer, trusted: &TrustedProxies) -> Result<Forwarded<'a>, Deny> {
        if !peer.is_trusted(trusted) {
            return Err(Deny::UntrustedProxy);
        }
        let method = single(self.method)?;
        let uri = single(self.uri)?;
        parse_proto(single(self.proto)?)?;
        let host = parse_host(single(self.host)?)?;
        let client = client_address(single(self.forwarded_for)?, trusted)?;
        Ok(Forwarded {
            headers: NginxHeaders {
                original_uri: HeaderField::One(uri),
                original_method: HeaderField::One(method),
                real_ip: HeaderField::One(client),
                cookie: self.cookie,
                fetch_site: self.fetch_site,
                referer: self.referer,
                host: HeaderField::One(host.as_bytes()),
            },
            host,
        })
    }
}

/// What Envoy's `ext_authz` HTTP service sends to `/ext-authz/…`: the original method
/// as the check request's method, the original path and query after the
/// `path_prefix`, the original `Host`, and the headers `allowed_headers` lets through.
#[derive(Clone, Copy, Debug)]
pub struct ExtAuthzRequest<'a> {
    /// The check request's method: the client's.
    pub method: &'a [u8],
    /// The check request's target with the prefix (`/ext-authz`) removed: the
    /// client's path and query.
    pub target: &'a [u8],
    /// `Host` (Envoy always sends the client's `:authority`).
    pub host: HeaderField<'a>,
    /// `X-Forwarded-For`: Envoy appends the downstream address
    /// (`use_remote_address: true`); `allowed_headers` must let it through.
    pub forwarded_for: HeaderField<'a>,
    /// `Cookie`, through `allowed_headers`.
    pub cookie: HeaderField<'a>,
    /// `Sec-Fetch-Site`, through `allowed_headers`.
    pub fetch_site: HeaderField<'a>,
    /// `Referer`, through `allowed_headers`.
    pub referer: HeaderField<'a>,
}

impl<'a> ExtAuthzRequest<'a> {
    /// Checks the peer and the headers and maps them into the request model.
    pub fn map(&self, peer: Peer, trusted: &TrustedProxies) -> Result<Forwarded<'a>, Deny> {
        if !peer.is_trusted(trusted) {
            return Err(Deny::UntrustedProxy);
        }
        let host = parse_host(single(self.host)?)?;
        let client = client_address(single(self.forwarded_for)?, trusted)?;
        Ok(Forwarded {
            headers: NginxHeaders {
                original_uri: HeaderField::One(self.target),
                original_method: HeaderField::One(self.method),
                real_ip: HeaderField::One(client),
                cookie: self.cookie,
                fetch_site: self.fetch_site,
                referer: self.referer,
                host: HeaderField::One(host.as_bytes()),
            },
            host,
        })
    }
}

/// The value ingress-nginx's template writes into `X-Sent-From`.
pub const INGRESS_SENT_FROM: &[u8] = b"nginx-ingress-controller";

/// The headers ingress-nginx's auth location (annotation `auth-url`) sets on its
/// subrequest to `/ingress-auth`. ingress-nginx also passes every client header on;
/// only these are read, and `X-Original-URI` (which a client can send itself) never is.
#[derive(Clone, Copy, Debug)]
pub struct IngressHeaders<'a> {
    /// `X-Original-URL`: `$scheme://$http_host$request_uri`.
    pub original_url: HeaderField<'a>,
    /// `X-Original-Method`: `$request_method`.
    pub original_method: HeaderField<'a>,
    /// `X-Sent-From`: `nginx-ingress-controller`.
    pub sent_from: HeaderField<'a>,
    /// `X-Real-IP`: `$remote_addr`, set by the template (the client's own is replaced).
    pub real_ip: HeaderField<'a>,
    /// `Cookie`, passed on from the client.
    pub cookie: HeaderField<'a>,
    /// `Sec-Fetch-Site`, passed on from the client.
    pub fetch_site: HeaderField<'a>,
    /// `Referer`, passed on from the client.
    pub referer: HeaderField<'a>,
}

impl<'a> IngressHeaders<'a> {
    /// Checks the headers and maps them into the request model. ingress-nginx sets
    /// `X-Real-IP` itself, so the peer is not consulted: the NetworkPolicy in front
    /// of keyhole decides who may call it (docs/proxies.md).
    pub fn map(&self) -> Result<Forwarded<'a>, Deny> {
        if single(self.sent_from)? != INGRESS_SENT_FROM {
            return Err(Deny::BadHeader);
        }
        let (host, uri) = split_url(single(self.original_url)?)?;
        Ok(Forwarded {
            headers: NginxHeaders {
                original_uri: HeaderField::One(uri),
                original_method: self.original_method,
                real_ip: self.real_ip,
                cookie: self.cookie,
                fetch_site: self.fetch_site,
                referer: self.referer,
                host: HeaderField::One(host.as_bytes()),
            },
            host,
        })
    }
}

fn single(field: HeaderField<'_>) -> Result<&[u8], Deny> {
    match field {
        HeaderField::Missing => Err(Deny::MissingHeader),
        HeaderField::Duplicated => Err(Deny::DuplicateHeader),
        HeaderField::One(value) => Ok(value),
    }
}

fn parse_proto(raw: &[u8]) -> Result<(), Deny> {
    match raw {
        b"http" | b"https" => Ok(()),
        _ => Err(Deny::BadHeader),
    }
}

/// A host name, an IPv4 address or a bracketed IPv6 address, with an optional port
/// (letters, digits, `-`, `.`, `:`, `[` and `]` only, at most [`MAX_HOST_LEN`] bytes),
/// returned without its port: the host as nginx's `$host` holds it, which
/// `request` then parses by the one host rule (`crate::host`).
fn parse_host(raw: &[u8]) -> Result<&str, Deny> {
    let allowed = |b: &u8| b.is_ascii_alphanumeric() || b"-.:[]".contains(b);
    if raw.is_empty() || raw.len() > MAX_HOST_LEN || !raw.iter().all(allowed) {
        return Err(Deny::BadHeader);
    }
    let text = std::str::from_utf8(raw).map_err(|_| Deny::BadHeader)?;
    let (host, port) = if text.starts_with('[') {
        // `[v6]` or `[v6]:port`: the brackets stay, the host rule checks the address.
        let close = text.find(']').ok_or(Deny::BadHeader)?;
        let (host, after) = text.split_at(close + 1);
        match after {
            "" => (host, None),
            _ => (host, Some(after.strip_prefix(':').ok_or(Deny::BadHeader)?)),
        }
    } else {
        match text.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (text, None),
        }
    };
    if let Some(port) = port {
        let digits = !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit());
        if !digits || port.parse::<u16>().is_err() {
            return Err(Deny::BadHeader);
        }
    }
    if host.is_empty() {
        return Err(Deny::BadHeader);
    }
    Ok(host)
}

/// `http://host/target` or `https://host/target` into the host and the target
/// (which starts at the first `/` after the scheme).
fn split_url(raw: &[u8]) -> Result<(&str, &[u8]), Deny> {
    let rest = raw
        .strip_prefix(b"https://")
        .or_else(|| raw.strip_prefix(b"http://"))
        .ok_or(Deny::BadHeader)?;
    let slash = rest
        .iter()
        .position(|&b| b == b'/')
        .ok_or(Deny::BadHeader)?;
    let (host, target) = rest.split_at(slash);
    Ok((parse_host(host)?, target))
}

/// The client in `X-Forwarded-For`: the right-most address that is not a trusted
/// proxy, or the left-most one when every address is trusted (a client on the
/// proxies' own network). Returned as the bytes of that item, for `request` to parse.
fn client_address<'a>(raw: &'a [u8], trusted: &TrustedProxies) -> Result<&'a [u8], Deny> {
    let items = raw.iter().filter(|&&b| b == b',').count() + 1;
    if items > MAX_HOPS {
        return Err(Deny::TooManyHops);
    }
    let text = std::str::from_utf8(raw).map_err(|_| Deny::BadForwardedFor)?;
    let mut hops = Vec::with_capacity(items);
    for item in text.split(',') {
        let item = item.trim_matches([' ', '\t']);
        let ip: IpAddr = item.parse().map_err(|_| Deny::BadForwardedFor)?;
        hops.push((item, ip));
    }
    let client = hops
        .iter()
        .rev()
        .find(|(_, ip)| !trusted.contains(*ip))
        .or_else(|| hops.first())
        .ok_or(Deny::BadForwardedFor)?;
    Ok(client.0.as_bytes())
}

#[cfg(test)]
mod tests;
