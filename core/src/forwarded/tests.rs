use super::*;

fn loopback() -> TrustedProxies {
    TrustedProxies::loopback()
}

fn peer() -> Peer {
    Peer::Tcp("127.0.0.1".parse().unwrap())
}

fn forward_auth<'a>(uri: &'a [u8], xff: &'a [u8]) -> ForwardAuthHeaders<'a> {
    ForwardAuthHeaders {
        method: HeaderField::One(b"GET"),
        proto: HeaderField::One(b"https"),
        host: HeaderField::One(b"files.example"),
        uri: HeaderField::One(uri),
        forwarded_for: HeaderField::One(xff),
        cookie: HeaderField::Missing,
        fetch_site: HeaderField::Missing,
        referer: HeaderField::Missing,
    }
}

fn client(headers: &ForwardAuthHeaders<'_>, trusted: &TrustedProxies) -> Result<IpAddr, Deny> {
    let mapped = headers.map(peer(), trusted)?;
    Ok(mapped.headers.parse()?.client_ip)
}

#[test]
fn forward_auth_maps_into_the_one_request_model() {
    let headers = forward_auth(b"/a/b.png?x=1", b"203.0.113.7");
    let mapped = headers.map(peer(), &loopback()).unwrap();
    assert_eq!(mapped.host, "files.example");
    let request = mapped.headers.parse().unwrap();
    assert_eq!(request.method, "GET");
    assert_eq!(request.path.as_str(), "/a/b.png");
    assert_eq!(request.params.len(), 1);
    assert_eq!(request.client_ip, "203.0.113.7".parse::<IpAddr>().unwrap());
}

#[test]
fn the_client_is_the_right_most_untrusted_address() {
    let trusted = TrustedProxies::parse("127.0.0.0/8, 10.0.0.0/8").unwrap();
    // A client that wrote its own X-Forwarded-For: the proxies appended the real peer.
    let headers = forward_auth(b"/a", b"198.51.100.1, 203.0.113.7, 10.0.0.2");
    assert_eq!(
        client(&headers, &trusted).unwrap(),
        "203.0.113.7".parse::<IpAddr>().unwrap()
    );
    // Every address trusted: the left-most is the client.
    let headers = forward_auth(b"/a", b"10.1.1.1,10.0.0.2");
    assert_eq!(
        client(&headers, &trusted).unwrap(),
        "10.1.1.1".parse::<IpAddr>().unwrap()
    );
    // IPv6 and IPv4-mapped addresses.
    let headers = forward_auth(b"/a", b"2001:db8::1, ::ffff:10.0.0.9");
    assert_eq!(
        client(&headers, &trusted).unwrap(),
        "2001:db8::1".parse::<IpAddr>().unwrap()
    );
}

#[test]
fn an_untrusted_or_unknown_peer_is_denied() {
    let headers = forward_auth(b"/a", b"203.0.113.7");
    let stranger = Peer::Tcp("192.0.2.1".parse().unwrap());
    assert_eq!(
        headers.map(stranger, &loopback()).unwrap_err(),
        Deny::UntrustedProxy
    );
    assert_eq!(
        headers.map(Peer::Unknown, &loopback()).unwrap_err(),
        Deny::UntrustedProxy
    );
    let none = TrustedProxies::parse("").unwrap();
    assert_eq!(
        headers.map(peer(), &none).unwrap_err(),
        Deny::UntrustedProxy
    );
    assert!(headers.map(Peer::Local, &none).is_ok());
    // An IPv4-mapped loopback peer is loopback.
    let mapped = Peer::Tcp("::ffff:127.0.0.1".parse().unwrap());
    assert!(headers.map(mapped, &loopback()).is_ok());
}

#[test]
fn malformed_forwarded_for_is_denied() {
    for bad in [
        &b""[..],
        b",",
        b"203.0.113.7,",
        b",203.0.113.7",
        b"203.0.113.7,,10.0.0.1",
        b"unknown",
        b"203.0.113.7:1234",
        b"[2001:db8::1]",
        b"203.0.113.7 10.0.0.1",
        b"_hidden",
        b"\xff",
    ] {
        let headers = forward_auth(b"/a", bad);
        assert_eq!(
            client(&headers, &loopback()).unwrap_err(),
            Deny::BadForwardedFor,
            "{bad:?}"
        );
    }
    let many = vec!["10.0.0.1"; MAX_HOPS + 1].join(",");
    let headers = forward_auth(b"/a", many.as_bytes());
    assert_eq!(
        client(&headers, &loopback()).unwrap_err(),
        Deny::TooManyHops
    );
    let most = vec!["10.0.0.1"; MAX_HOPS].join(", ");
    assert!(client(&forward_auth(b"/a", most.as_bytes()), &loopback()).is_ok());
}

#[test]
fn missing_duplicated_and_bad_forwarding_headers_deny() {
    let base = forward_auth(b"/a", b"203.0.113.7");
    type Pick = for<'x> fn(&'x mut ForwardAuthHeaders<'static>) -> &'x mut HeaderField<'static>;
    let fields: [Pick; 5] = [
        |h| &mut h.method,
        |h| &mut h.proto,
        |h| &mut h.host,
        |h| &mut h.uri,
        |h| &mut h.forwarded_for,
    ];
    for field in fields {
        let mut headers = base;
        *field(&mut headers) = HeaderField::Missing;
        assert_eq!(
            client(&headers, &loopback()).unwrap_err(),
            Deny::MissingHeader
        );
        *field(&mut headers) = HeaderField::Duplicated;
        assert_eq!(
            client(&headers, &loopback()).unwrap_err(),
            Deny::DuplicateHeader
        );
    }
    let mut headers = base;
    headers.cookie = HeaderField::Duplicated;
    assert_eq!(
        client(&headers, &loopback()).unwrap_err(),
        Deny::DuplicateHeader
    );
    for proto in [&b"ftp"[..], b"HTTPS", b"", b"https "] {
        let mut headers = base;
        headers.proto = HeaderField::One(proto);
        assert_eq!(client(&headers, &loopback()).unwrap_err(), Deny::BadHeader);
    }
    for host in [&b""[..], b"a b", b"a/b", b"a@b", b"a\r", b"h\xc3\xa9"] {
        let mut headers = base;
        headers.host = HeaderField::One(host);
        assert_eq!(client(&headers, &loopback()).unwrap_err(), Deny::BadHeader);
    }
    let long = vec![b'a'; MAX_HOST_LEN + 1];
    let mut headers = base;
    headers.host = HeaderField::One(&long);
    assert_eq!(client(&headers, &loopback()).unwrap_err(), Deny::BadHeader);
    for host in [&b"[::1]:8443"[..], b"127.0.0.1:80", b"Files.Example"] {
        let mut headers = base;
        headers.host = HeaderField::One(host);
        assert!(client(&headers, &loopback()).is_ok());
    }
    let mut headers = base;
    headers.method = HeaderField::One(b"get");
    assert_eq!(client(&headers, &loopback()).unwrap_err(), Deny::BadHeader);
    // The target goes through the same path rules as /auth.
    let headers = forward_auth(b"/a/../b", b"203.0.113.7");
    assert_eq!(
        client(&headers, &loopback()).unwrap_err(),
        Deny::PathTraversal
    );
}

fn ext_authz<'a>(target: &'a [u8]) -> ExtAuthzRequest<'a> {
    ExtAuthzRequest {
        method: b"HEAD",
        target,
        host: HeaderField::One(b"files.example:8080"),
        forwarded_for: HeaderField::One(b"203.0.113.7"),
        cookie: HeaderField::Missing,
        fetch_site: HeaderField::Missing,
        referer: HeaderField::Missing,
    }
}

#[test]
fn ext_authz_maps_method_target_and_host() {
    let mapped = ext_authz(b"/a.png?kh_v=1")
        .map(peer(), &loopback())
        .unwrap();
    // The port is removed: the host compares as nginx's `$host` does.
    assert_eq!(mapped.host, "files.example");
    let request = mapped.headers.parse().unwrap();
    assert_eq!(request.host.unwrap().as_str(), "files.example");
    assert_eq!(request.method, "HEAD");
    assert_eq!(request.path.as_str(), "/a.png");
    let mut request = ext_authz(b"/a.png");
    request.host = HeaderField::Missing;
    assert_eq!(
        request.map(peer(), &loopback()).unwrap_err(),
        Deny::MissingHeader
    );
    let mut request = ext_authz(b"/a.png");
    request.forwarded_for = HeaderField::Duplicated;
    assert_eq!(
        request.map(peer(), &loopback()).unwrap_err(),
        Deny::DuplicateHeader
    );
    let stranger = Peer::Tcp("192.0.2.1".parse().unwrap());
    assert_eq!(
        ext_authz(b"/a").map(stranger, &loopback()).unwrap_err(),
        Deny::UntrustedProxy
    );
}

fn ingress<'a>(url: &'a [u8]) -> IngressHeaders<'a> {
    IngressHeaders {
        original_url: HeaderField::One(url),
        original_method: HeaderField::One(b"GET"),
        sent_from: HeaderField::One(INGRESS_SENT_FROM),
        real_ip: HeaderField::One(b"203.0.113.7"),
        cookie: HeaderField::Missing,
        fetch_site: HeaderField::Missing,
        referer: HeaderField::Missing,
    }
}

#[test]
fn ingress_maps_the_full_url() {
    let mapped = ingress(b"https://files.example/a/b.png?x=1").map().unwrap();
    assert_eq!(mapped.host, "files.example");
    let request = mapped.headers.parse().unwrap();
    assert_eq!(request.path.as_str(), "/a/b.png");
    assert_eq!(request.params.len(), 1);
    let mapped = ingress(b"http://[::1]:8080/a").map().unwrap();
    assert_eq!(mapped.host, "[::1]");
    assert_eq!(
        mapped.headers.parse().unwrap().host.unwrap().as_str(),
        "[::1]"
    );
    for bad in [
        &b"/a/b.png"[..],
        b"ftp://files.example/a",
        b"https://files.example",
        b"https:///a",
        b"https://user@files.example/a",
        b"https://files.example?x/a",
        b"HTTPS://files.example/a",
    ] {
        assert_eq!(ingress(bad).map().unwrap_err(), Deny::BadHeader, "{bad:?}");
    }
    let mut headers = ingress(b"https://files.example/a");
    headers.sent_from = HeaderField::One(b"someone-else");
    assert_eq!(headers.map().unwrap_err(), Deny::BadHeader);
    headers.sent_from = HeaderField::Missing;
    assert_eq!(headers.map().unwrap_err(), Deny::MissingHeader);
    let mut headers = ingress(b"https://files.example/a");
    headers.original_url = HeaderField::Duplicated;
    assert_eq!(headers.map().unwrap_err(), Deny::DuplicateHeader);
    let mut headers = ingress(b"https://files.example/a");
    headers.real_ip = HeaderField::Duplicated;
    assert_eq!(
        headers.map().unwrap().headers.parse().unwrap_err(),
        Deny::DuplicateHeader
    );
}

#[test]
fn trusted_proxies_parse() {
    let trusted = TrustedProxies::parse("10.0.0.0/8 192.0.2.5,fd00::/8").unwrap();
    assert!(trusted.contains("10.200.0.1".parse().unwrap()));
    assert!(trusted.contains("192.0.2.5".parse().unwrap()));
    assert!(!trusted.contains("192.0.2.6".parse().unwrap()));
    assert!(trusted.contains("fd00::1".parse().unwrap()));
    assert!(trusted.contains("::ffff:10.0.0.1".parse().unwrap()));
    assert!(TrustedProxies::parse("10.0.0.0/33").is_err());
    assert!(TrustedProxies::parse("localhost").is_err());
    assert!(loopback().contains("127.9.9.9".parse().unwrap()));
    assert!(loopback().contains("::1".parse().unwrap()));
    assert!(!loopback().contains("10.0.0.1".parse().unwrap()));
}
