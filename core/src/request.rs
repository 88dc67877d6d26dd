//! nginx's subrequest headers turned into a typed [`AuthRequest`]: the method, the
//! canonical path, the query split into parameters, and the client address.
//!
//! This is the edge where raw bytes become types (parse, don't validate). The server
//! hands over each header as [`HeaderField`]; nothing here knows HTTP beyond that.

use std::net::IpAddr;

use crate::canonical::CanonicalPath;
use crate::decision::Deny;
use crate::host::Host;

/// Longest `X-Original-URI` read, in bytes (nginx's default `large_client_header_buffers`
/// refuses longer request lines anyway).
pub(crate) const MAX_URI_LEN: usize = 8192;

/// Most query parameters read; more is a denial, not a truncation.
pub const MAX_PARAMS: usize = 100;

/// Longest method name accepted.
const MAX_METHOD_LEN: usize = 16;

/// How one header arrived.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HeaderField<'a> {
    /// Not sent.
    Missing,
    /// Sent exactly once, with these bytes.
    One(&'a [u8]),
    /// Sent more than once: always a denial, never "pick one".
    Duplicated,
}

/// The headers nginx's `keyhole.conf` sets on the auth subrequest.
#[derive(Clone, Copy, Debug)]
pub struct NginxHeaders<'a> {
    /// `X-Original-URI`: nginx's raw `$request_uri`.
    pub original_uri: HeaderField<'a>,
    /// `X-Original-Method`: nginx's `$request_method`.
    pub original_method: HeaderField<'a>,
    /// `X-Real-IP`: nginx's `$remote_addr`.
    pub real_ip: HeaderField<'a>,
    /// `Cookie`: the client's cookies (nginx's `$http_cookie`), read only when the
    /// URL carries no credential.
    pub cookie: HeaderField<'a>,
    /// `Sec-Fetch-Site`: where the browser says the request comes from.
    pub fetch_site: HeaderField<'a>,
    /// `Referer`: consulted only to match a cross-site request against the allow-list.
    pub referer: HeaderField<'a>,
    /// `X-Original-Host`: nginx's `$host`, the virtual host the request was sent to.
    /// Optional: only keys limited to hosts and host-bound URLs need it, and they deny
    /// without it (`missing-header`).
    pub host: HeaderField<'a>,
}

/// One `name=value` query parameter, still percent-encoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Param<'a> {
    /// Text before the first `=`.
    pub name: &'a str,
    /// Text after the first `=` (empty when there is no `=`).
    pub value: &'a str,
    /// The whole `name=value` item as sent.
    pub raw: &'a str,
}

/// A request nginx asked about, after every header passed its rules.
#[derive(Clone, Debug)]
pub struct AuthRequest<'a> {
    /// The request method (`GET`, `HEAD`, …), upper-case letters only.
    pub method: &'a str,
    /// The decoded path nginx will serve.
    pub path: CanonicalPath,
    /// The query parameters in the order sent.
    pub params: Vec<Param<'a>>,
    /// The client address, IPv4-mapped IPv6 folded to IPv4.
    pub client_ip: IpAddr,
    /// The `Cookie` header, if sent.
    pub cookie: Option<&'a [u8]>,
    /// The `Sec-Fetch-Site` header, if sent.
    pub fetch_site: Option<&'a [u8]>,
    /// The `Referer` header, if sent.
    pub referer: Option<&'a [u8]>,
    /// The virtual host (`X-Original-Host`), if sent; one that does not parse as a
    /// host is `bad-header`.
    pub host: Option<Host>,
}

/// The request target split at the first `?`, with its parameters parsed.
#[derive(Clone, Debug)]
pub struct Target<'a> {
    /// The raw path (before `?`).
    pub raw_path: &'a [u8],
    /// The query parameters.
    pub params: Vec<Param<'a>>,
}

impl<'a> NginxHeaders<'a> {
    /// The three headers every request carries, each sent once; no browser headers.
    pub fn new(uri: &'a [u8], method: &'a [u8], real_ip: &'a [u8]) -> Self {
        NginxHeaders {
            original_uri: HeaderField::One(uri),
            original_method: HeaderField::One(method),
            real_ip: HeaderField::One(real_ip),
            cookie: HeaderField::Missing,
            fetch_site: HeaderField::Missing,
            referer: HeaderField::Missing,
            host: HeaderField::Missing,
        }
    }

    /// Checks every header and builds the request, or names the first rule broken.
    pub fn parse(&self) -> Result<AuthRequest<'a>, Deny> {
        let uri = single(self.original_uri)?;
        let method = parse_method(single(self.original_method)?)?;
        let client_ip = parse_ip(single(self.real_ip)?)?;
        let target = Target::parse(uri)?;
        let path = CanonicalPath::parse(target.raw_path)?;
        Ok(AuthRequest {
            method,
            path,
            params: target.params,
            client_ip,
            cookie: optional(self.cookie)?,
            fetch_site: optional(self.fetch_site)?,
            referer: optional(self.referer)?,
            host: optional(self.host)?
                .map(|raw| Host::from_bytes(raw).map_err(|_| Deny::BadHeader))
                .transpose()?,
        })
    }
}

fn optional(field: HeaderField<'_>) -> Result<Option<&[u8]>, Deny> {
    match field {
        HeaderField::Missing => Ok(None),
        HeaderField::Duplicated => Err(Deny::DuplicateHeader),
        HeaderField::One(value) => Ok(Some(value)),
    }
}

fn single(field: HeaderField<'_>) -> Result<&[u8], Deny> {
    match field {
        HeaderField::Missing => Err(Deny::MissingHeader),
        HeaderField::Duplicated => Err(Deny::DuplicateHeader),
        HeaderField::One(value) => Ok(value),
    }
}

fn parse_method(raw: &[u8]) -> Result<&str, Deny> {
    if raw.is_empty() || raw.len() > MAX_METHOD_LEN || !raw.iter().all(u8::is_ascii_uppercase) {
        return Err(Deny::BadHeader);
    }
    std::str::from_utf8(raw).map_err(|_| Deny::BadHeader)
}

fn parse_ip(raw: &[u8]) -> Result<IpAddr, Deny> {
    let text = std::str::from_utf8(raw).map_err(|_| Deny::BadHeader)?;
    let ip: IpAddr = text.parse().map_err(|_| Deny::BadHeader)?;
    Ok(ip.to_canonical())
}

impl<'a> Target<'a> {
    /// Splits a raw request target (`/path?query`) and parses its query.
    ///
    /// The query must be visible ASCII without `#`; items are separated by `&` and
    /// none may be empty.
    pub fn parse(uri: &'a [u8]) -> Result<Self, Deny> {
        if uri.len() > MAX_URI_LEN {
            return Err(Deny::UriTooLong);
        }
        let (raw_path, raw_query) = match uri.iter().position(|&b| b == b'?') {
            Some(at) => (uri.get(..at).unwrap_or_default(), uri.get(at + 1..)),
            None => (uri, None),
        };
        let params = match raw_query {
            None | Some(b"") => Vec::new(),
            Some(query) => parse_query(query)?,
        };
        Ok(Target { raw_path, params })
    }
}

fn parse_query(query: &[u8]) -> Result<Vec<Param<'_>>, Deny> {
    if !query.iter().all(|&b| b.is_ascii_graphic() && b != b'#') {
        return Err(Deny::Malformed);
    }
    let text = std::str::from_utf8(query).map_err(|_| Deny::Malformed)?;
    let items = query.iter().filter(|&&b| b == b'&').count() + 1;
    if items > MAX_PARAMS {
        return Err(Deny::TooManyParams);
    }
    let mut params = Vec::with_capacity(items);
    for raw in text.split('&') {
        if raw.is_empty() {
            return Err(Deny::Malformed);
        }
        let (name, value) = raw.split_once('=').unwrap_or((raw, ""));
        params.push(Param { name, value, raw });
    }
    Ok(params)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers<'a>(uri: &'a [u8], method: &'a [u8], ip: &'a [u8]) -> NginxHeaders<'a> {
        NginxHeaders::new(uri, method, ip)
    }

    #[test]
    fn parses_a_plain_request() {
        let request = headers(b"/a/b.jpg?x=1&kh_v=1&flag", b"GET", b"::ffff:10.0.0.1").parse();
        let request = request.unwrap();
        assert_eq!(request.method, "GET");
        assert_eq!(request.path.as_str(), "/a/b.jpg");
        assert_eq!(request.client_ip, "10.0.0.1".parse::<IpAddr>().unwrap());
        let names: Vec<_> = request.params.iter().map(|p| (p.name, p.value)).collect();
        assert_eq!(names, [("x", "1"), ("kh_v", "1"), ("flag", "")]);
    }

    #[test]
    fn missing_duplicated_and_bad_headers_deny() {
        let mut h = headers(b"/a", b"GET", b"127.0.0.1");
        h.real_ip = HeaderField::Missing;
        assert_eq!(h.parse().unwrap_err(), Deny::MissingHeader);
        h.real_ip = HeaderField::Duplicated;
        assert_eq!(h.parse().unwrap_err(), Deny::DuplicateHeader);
        assert_eq!(
            headers(b"/a", b"get", b"127.0.0.1").parse().unwrap_err(),
            Deny::BadHeader
        );
        assert_eq!(
            headers(b"/a", b"", b"127.0.0.1").parse().unwrap_err(),
            Deny::BadHeader
        );
        assert_eq!(
            headers(b"/a", b"GET", b"localhost").parse().unwrap_err(),
            Deny::BadHeader
        );
        assert_eq!(
            headers(b"/a", b"GET", b"1.2.3.4 ").parse().unwrap_err(),
            Deny::BadHeader
        );
    }

    #[test]
    fn the_host_is_optional_and_strict() {
        let mut h = headers(b"/a", b"GET", b"127.0.0.1");
        assert_eq!(h.parse().unwrap().host, None);
        h.host = HeaderField::One(b"IMG.example.com.");
        assert_eq!(h.parse().unwrap().host.unwrap().as_str(), "img.example.com");
        h.host = HeaderField::Duplicated;
        assert_eq!(h.parse().unwrap_err(), Deny::DuplicateHeader);
        for bad in [
            &b"img.example.com:8080"[..],
            b"",
            b"b\xc3\xbccher.example",
            b"a..b",
        ] {
            h.host = HeaderField::One(bad);
            assert_eq!(h.parse().unwrap_err(), Deny::BadHeader);
        }
    }

    #[test]
    fn query_limits_and_shapes() {
        let many = format!("/a?{}", vec!["x=1"; MAX_PARAMS + 1].join("&"));
        let h = headers(many.as_bytes(), b"GET", b"127.0.0.1");
        assert_eq!(h.parse().unwrap_err(), Deny::TooManyParams);
        let ok = format!("/a?{}", vec!["x=1"; MAX_PARAMS].join("&"));
        assert!(headers(ok.as_bytes(), b"GET", b"127.0.0.1").parse().is_ok());
        for bad in [
            &b"/a?x=1&&y"[..],
            b"/a?x=1&",
            b"/a?x=\x01",
            b"/a?x y",
            b"/a?x#y",
            b"/a?\xc3\xa9",
        ] {
            assert_eq!(
                headers(bad, b"GET", b"127.0.0.1").parse().unwrap_err(),
                Deny::Malformed
            );
        }
        let long = vec![b'a'; MAX_URI_LEN + 1];
        assert_eq!(
            headers(&long, b"GET", b"127.0.0.1").parse().unwrap_err(),
            Deny::UriTooLong
        );
        assert!(
            headers(b"/a?", b"GET", b"127.0.0.1")
                .parse()
                .unwrap()
                .params
                .is_empty()
        );
    }
}
