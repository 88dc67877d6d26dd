//! One connection on the auth listener. The request nginx sends for every protected
//! file (`/auth`, HTTP/1.1, no body, headers that parse cleanly) is answered straight
//! from the connection's buffer: parsed by `httparse` (the parser hyper uses), its
//! headers read in place, one decision, one write. The first request that is anything
//! else (another path, a body, `Connection`, `Expect` or `Upgrade`, HTTP/1.0, a head
//! `httparse` refuses or one too large) hands the connection, with the bytes already
//! read, to hyper and the warp routes for the rest of its life, so every case this
//! module does not handle is answered exactly as before it existed.
//!
//! The limits are hyper's: a head must arrive within `KEYHOLE_HEADER_TIMEOUT` of the
//! connection waiting for it (idle keep-alive connections included), and may not
//! exceed `KEYHOLE_MAX_HEAD_BYTES` (hyper answers 431 for a larger one). On shutdown an
//! idle connection closes at once and a busy one after its answer.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::sync::watch;
use warp::http::StatusCode;

use super::{Limits, State, decide_mapped, reply_headers, reply_status};
use crate::audit::Audit;
use crate::decision::Decision;
use crate::request::{HeaderField, NginxHeaders};

/// Most header lines read in place; hyper's own default limit. A request with more is
/// handed to hyper, which refuses it.
const MAX_HEADERS: usize = 100;

/// How a connection left this module.
pub(super) enum Ended<S> {
    /// Closed: by the peer, on a timeout, an I/O error or shutdown.
    Closed,
    /// A request this module does not answer: hyper takes the connection, reading
    /// these bytes before the socket's.
    HandOff(Prefixed<S>),
}

/// Answers `/auth` requests on `stream` until the connection closes or a request needs
/// hyper. `stopping` turns true on shutdown.
pub(super) async fn serve<S>(
    mut stream: S,
    state: &State,
    limits: Limits,
    stopping: watch::Receiver<bool>,
) -> Ended<S>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let max_buf = limits.max_head_bytes.max(8192);
    let mut buf: Vec<u8> = Vec::with_capacity(4096);
    let mut out: Vec<u8> = Vec::with_capacity(256);
    // The header timeout runs from the last answer (or the accept). The timer is not
    // moved per request: when it fires early, it is set again from the last answer.
    let mut waiting_since = tokio::time::Instant::now();
    let deadline = tokio::time::sleep_until(waiting_since + limits.header_timeout);
    tokio::pin!(deadline);
    // One wait for shutdown for the whole connection, not one per read.
    let mut stop_seen = stopping.clone();
    let stop = async move {
        let _ = stop_seen.wait_for(|stop| *stop).await;
    };
    tokio::pin!(stop);
    loop {
        // A head, whole, from the buffer or the socket.
        let head = loop {
            match Head::parse(&buf) {
                Parsed::Auth(head) => break head,
                Parsed::Other => return Ended::HandOff(Prefixed::new(buf, stream)),
                Parsed::Partial if buf.len() >= max_buf => {
                    return Ended::HandOff(Prefixed::new(buf, stream));
                }
                Parsed::Partial => {}
            }
            if buf.capacity() - buf.len() < 1024 {
                buf.reserve(4096.min(max_buf + 1 - buf.len()).max(1024));
            }
            let read = tokio::select! {
                biased;
                read = stream.read_buf(&mut buf) => read,
                () = &mut deadline => {
                    let due = waiting_since + limits.header_timeout;
                    if due > tokio::time::Instant::now() {
                        deadline.as_mut().reset(due);
                        continue;
                    }
                    return Ended::Closed;
                }
                () = &mut stop => return Ended::Closed,
            };
            match read {
                Ok(0) | Err(_) => return Ended::Closed,
                Ok(_) => {}
            }
        };
        let (decision, audit) = decide_mapped(state, Ok(head.fields(&buf))).await;
        encode(&decision, &audit, &mut out);
        if stream.write_all(&out).await.is_err() || stream.flush().await.is_err() {
            return Ended::Closed;
        }
        buf.drain(..head.len);
        if *stopping.borrow() {
            return Ended::Closed;
        }
        waiting_since = tokio::time::Instant::now();
    }
}

/// Writes the reply to a decision as hyper writes [`super::reply_audited`]'s (less its
/// `date` header): the status line, the headers, and `content-length: 0` unless the
/// status is 204. `/auth` replies have an empty body.
fn encode(decision: &Decision, audit: &Audit, out: &mut Vec<u8>) {
    out.clear();
    let status = reply_status(decision);
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(status.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(status.canonical_reason().unwrap_or("").as_bytes());
    out.extend_from_slice(b"\r\n");
    reply_headers(decision, Some(audit), |name, value| {
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value);
        out.extend_from_slice(b"\r\n");
    });
    if status != StatusCode::NO_CONTENT {
        out.extend_from_slice(b"content-length: 0\r\n");
    }
    out.extend_from_slice(b"\r\n");
}

enum Parsed {
    /// An `/auth` request this module answers.
    Auth(Head),
    /// Not whole yet.
    Partial,
    /// Anything else: hyper's to answer.
    Other,
}

/// Where an `/auth` request's head lies in the buffer: its length, and each header the
/// decision reads, as a range of the buffer.
struct Head {
    len: usize,
    original_uri: Field,
    original_method: Field,
    real_ip: Field,
    cookie: Field,
    fetch_site: Field,
    referer: Field,
    host: Field,
}

/// One header the decision reads: absent, once (its value's range), or more than once.
#[derive(Clone, Copy)]
enum Field {
    Missing,
    One(usize, usize),
    Duplicated,
}

impl Field {
    fn add(self, range: (usize, usize)) -> Field {
        match self {
            Field::Missing => Field::One(range.0, range.1),
            Field::One(..) | Field::Duplicated => Field::Duplicated,
        }
    }

    fn read(self, buf: &[u8]) -> HeaderField<'_> {
        match self {
            Field::Missing => HeaderField::Missing,
            // The range was taken from this buffer; were it not, deny as for a
            // repeated header rather than read something else.
            Field::One(start, end) => buf
                .get(start..end)
                .map_or(HeaderField::Duplicated, HeaderField::One),
            Field::Duplicated => HeaderField::Duplicated,
        }
    }
}

impl Head {
    fn parse(buf: &[u8]) -> Parsed {
        if buf.is_empty() {
            return Parsed::Partial;
        }
        let mut lines = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut request = httparse::Request::new(&mut lines);
        let len = match request.parse(buf) {
            Ok(httparse::Status::Complete(len)) => len,
            Ok(httparse::Status::Partial) => return Parsed::Partial,
            Err(_) => return Parsed::Other,
        };
        if request.path != Some("/auth") || request.version != Some(1) {
            return Parsed::Other;
        }
        let mut head = Head {
            len,
            original_uri: Field::Missing,
            original_method: Field::Missing,
            real_ip: Field::Missing,
            cookie: Field::Missing,
            fetch_site: Field::Missing,
            referer: Field::Missing,
            host: Field::Missing,
        };
        let base = buf.as_ptr() as usize;
        for line in request.headers.iter() {
            let name = line.name.as_bytes();
            // The value's place in `buf`: httparse's slices point into it.
            let start = line.value.as_ptr() as usize - base;
            let range = (start, start + line.value.len());
            let slot = match name.len() {
                6 if name.eq_ignore_ascii_case(b"cookie") => &mut head.cookie,
                7 if name.eq_ignore_ascii_case(b"referer") => &mut head.referer,
                9 if name.eq_ignore_ascii_case(b"x-real-ip") => &mut head.real_ip,
                14 if name.eq_ignore_ascii_case(b"x-original-uri") => &mut head.original_uri,
                14 if name.eq_ignore_ascii_case(b"sec-fetch-site") => &mut head.fetch_site,
                15 if name.eq_ignore_ascii_case(b"x-original-host") => &mut head.host,
                17 if name.eq_ignore_ascii_case(b"x-original-method") => &mut head.original_method,
                // Framing and connection handling are hyper's: a body, a close, a
                // 100-continue or an upgrade go there.
                14 if name.eq_ignore_ascii_case(b"content-length") => {
                    if line.value != b"0" {
                        return Parsed::Other;
                    }
                    continue;
                }
                6 if name.eq_ignore_ascii_case(b"expect") => return Parsed::Other,
                7 if name.eq_ignore_ascii_case(b"upgrade") => return Parsed::Other,
                10 if name.eq_ignore_ascii_case(b"connection") => return Parsed::Other,
                17 if name.eq_ignore_ascii_case(b"transfer-encoding") => return Parsed::Other,
                _ => continue,
            };
            *slot = slot.add(range);
        }
        Parsed::Auth(head)
    }

    fn fields<'a>(&self, buf: &'a [u8]) -> NginxHeaders<'a> {
        NginxHeaders {
            original_uri: self.original_uri.read(buf),
            original_method: self.original_method.read(buf),
            real_ip: self.real_ip.read(buf),
            cookie: self.cookie.read(buf),
            fetch_site: self.fetch_site.read(buf),
            referer: self.referer.read(buf),
            host: self.host.read(buf),
        }
    }
}

/// A stream whose first bytes were already read: they are read again, then the
/// stream's. Writes go straight to the stream.
pub(super) struct Prefixed<S> {
    prefix: Vec<u8>,
    read: usize,
    stream: S,
}

impl<S> Prefixed<S> {
    pub(super) fn new(prefix: Vec<u8>, stream: S) -> Self {
        Prefixed {
            prefix,
            read: 0,
            stream,
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Prefixed<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        out: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let rest = this.prefix.get(this.read..).unwrap_or_default();
        if rest.is_empty() {
            return Pin::new(&mut this.stream).poll_read(cx, out);
        }
        let n = rest.len().min(out.remaining());
        out.put_slice(rest.get(..n).unwrap_or_default());
        this.read += n;
        if this.read == this.prefix.len() {
            this.prefix = Vec::new();
            this.read = 0;
        }
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Prefixed<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write(cx, data)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write_vectored(cx, data)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    fn fields(raw: &str) -> Option<Vec<String>> {
        let buf = raw.as_bytes();
        match Head::parse(buf) {
            Parsed::Auth(head) => {
                let nginx = head.fields(buf);
                let show = |field: HeaderField<'_>| match field {
                    HeaderField::Missing => "-".to_owned(),
                    HeaderField::One(value) => String::from_utf8_lossy(value).into_owned(),
                    HeaderField::Duplicated => "dup".to_owned(),
                };
                Some(vec![
                    show(nginx.original_uri),
                    show(nginx.original_method),
                    show(nginx.real_ip),
                    show(nginx.cookie),
                    show(nginx.fetch_site),
                    show(nginx.referer),
                    show(nginx.host),
                ])
            }
            Parsed::Partial => Some(vec!["partial".into()]),
            Parsed::Other => None,
        }
    }

    #[test]
    fn reads_nginx_s_headers_in_place_whatever_their_case() {
        let got = fields(
            "GET /auth HTTP/1.1\r\nHost: keyhole\r\nx-original-URI: /p/a?b\r\nX-Original-Method: GET\r\n\
             X-Real-IP: 10.0.0.1\r\nCookie: a=b\r\nSec-Fetch-Site: same-origin\r\nReferer: https://x/\r\n\
             X-Original-Host: Example.org\r\nContent-Length: 0\r\n\r\n",
        );
        assert_eq!(
            got.unwrap(),
            vec![
                "/p/a?b",
                "GET",
                "10.0.0.1",
                "a=b",
                "same-origin",
                "https://x/",
                "Example.org"
            ]
        );
    }

    #[test]
    fn a_repeated_header_is_duplicated_and_a_missing_one_missing() {
        let got = fields("GET /auth HTTP/1.1\r\nX-Original-URI: /a\r\nx-original-uri: /b\r\n\r\n")
            .unwrap();
        assert_eq!(got[0], "dup");
        assert_eq!(got[1], "-");
    }

    #[test]
    fn an_unfinished_head_waits_for_more() {
        assert_eq!(
            fields("GET /auth HTTP/1.1\r\nX-Original-URI: /a\r\n").unwrap(),
            vec!["partial"]
        );
        assert_eq!(fields("").unwrap(), vec!["partial"]);
    }

    #[test]
    fn everything_else_is_hyper_s() {
        for raw in [
            "GET /session HTTP/1.1\r\n\r\n",
            "GET /auth/ HTTP/1.1\r\n\r\n",
            "GET /auth?x=1 HTTP/1.1\r\n\r\n",
            "GET /Auth HTTP/1.1\r\n\r\n",
            "GET /auth HTTP/1.0\r\n\r\n",
            "GET /auth HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello",
            "GET /auth HTTP/1.1\r\nContent-Length: 00\r\n\r\n",
            "GET /auth HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            "GET /auth HTTP/1.1\r\nConnection: close\r\n\r\n",
            "GET /auth HTTP/1.1\r\nExpect: 100-continue\r\n\r\n",
            "GET /auth HTTP/1.1\r\nUpgrade: h2c\r\n\r\n",
            "GET /auth HTTP/1.1\r\nX-Original-URI: /a\x01b\r\n\r\n",
            "GET /auth HTTP/1.1\r\nBad Header: x\r\n\r\n",
            "GET /auth HTTP/1.1\r\n: x\r\n\r\n",
            "GET\x01 /auth HTTP/1.1\r\n\r\n",
        ] {
            assert!(fields(raw).is_none(), "{raw:?} should go to hyper");
        }
    }

    #[test]
    fn too_many_header_lines_go_to_hyper() {
        let mut raw = String::from("GET /auth HTTP/1.1\r\n");
        for n in 0..=MAX_HEADERS {
            raw.push_str(&format!("X-{n}: v\r\n"));
        }
        raw.push_str("\r\n");
        assert!(fields(&raw).is_none());
    }

    #[test]
    fn replies_are_written_as_hyper_writes_them() {
        let denial = Decision::Deny(crate::decision::Deny::Expired);
        let mut out = Vec::new();
        encode(&denial, &Audit::default(), &mut out);
        assert_eq!(
            String::from_utf8(out.clone()).unwrap(),
            "HTTP/1.1 403 Forbidden\r\nx-keyhole-reason: expired\r\nx-accel-expires: 0\r\n\
             content-length: 0\r\n\r\n"
        );
        // The same headers, in the same order, as the reply hyper writes.
        let hyper_reply = super::super::reply_audited(&denial, &Audit::default());
        let lines: Vec<String> = hyper_reply
            .headers()
            .iter()
            .map(|(name, value)| format!("{}: {}", name, value.to_str().unwrap()))
            .collect();
        assert_eq!(lines, ["x-keyhole-reason: expired", "x-accel-expires: 0"]);
    }

    #[test]
    fn an_allow_s_expiry_and_audit_headers_are_written_whole() {
        use crate::clock::UnixTime;
        use crate::decision::{Credential, Grant};
        let allow = |until: u64| {
            Decision::Allow(Grant {
                credential: Credential::SignedUrl,
                cacheable_until: Some(UnixTime(until)),
            })
        };
        let audit = Audit {
            key: Some("k1".into()),
            key_configured: true,
            subject: Some("user 42".into()),
            ..Audit::default()
        };
        let mut out = Vec::new();
        encode(&allow(1_767_225_600), &audit, &mut out);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "HTTP/1.1 204 No Content\r\nx-keyhole-reason: ok\r\n\
             x-keyhole-credential: signed-url\r\nx-accel-expires: @1767225600\r\n\
             x-keyhole-key: k1\r\nx-keyhole-subject: user%2042\r\n\r\n"
        );
        // The largest expiry still fits the value written on the stack.
        let mut out = Vec::new();
        encode(&allow(u64::MAX), &Audit::default(), &mut out);
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.contains("\r\nx-accel-expires: @18446744073709551615\r\n"),
            "{text}"
        );
    }

    /// The seven fields as comparable values.
    fn shown(nginx: &NginxHeaders<'_>) -> Vec<Option<Option<Vec<u8>>>> {
        let show = |field: &HeaderField<'_>| match field {
            HeaderField::Missing => None,
            HeaderField::One(value) => Some(Some(value.to_vec())),
            HeaderField::Duplicated => Some(None),
        };
        vec![
            show(&nginx.original_uri),
            show(&nginx.original_method),
            show(&nginx.real_ip),
            show(&nginx.cookie),
            show(&nginx.fetch_site),
            show(&nginx.referer),
            show(&nginx.host),
        ]
    }

    /// What hyper, configured as the auth listener configures it, hands the decision
    /// for `raw`: the fields `/auth` reads from its header map.
    async fn through_hyper(raw: Vec<u8>) -> Option<Vec<Option<Option<Vec<u8>>>>> {
        let (client, server) = tokio::io::duplex(64 * 1024);
        let (seen_tx, mut seen_rx) = tokio::sync::mpsc::unbounded_channel();
        let service = hyper::service::service_fn(move |request: hyper::Request<_>| {
            let _ = seen_tx.send(shown(&super::super::nginx_headers(request.headers())));
            async { Ok::<_, std::convert::Infallible>(hyper::Response::new(String::new())) }
        });
        let mut builder = hyper::server::conn::http1::Builder::new();
        builder.ignore_invalid_headers(true).max_buf_size(16384);
        let server =
            tokio::spawn(builder.serve_connection(hyper_util::rt::TokioIo::new(server), service));
        let (mut read_half, mut write_half) = tokio::io::split(client);
        write_half.write_all(&raw).await.unwrap();
        write_half.shutdown().await.unwrap();
        let mut sink = Vec::new();
        let _ = tokio::time::timeout(
            std::time::Duration::from_secs(5),
            read_half.read_to_end(&mut sink),
        )
        .await;
        let _ = server.await;
        seen_rx.recv().await
    }

    /// Differential: for heads built from nginx's request with random changes (name
    /// case, repeats, odd bytes and spaces in values, folded lines, extra headers),
    /// every head the in-place reader takes yields exactly the fields hyper yields.
    #[tokio::test]
    async fn every_head_read_in_place_reads_as_hyper_reads_it() {
        let names = [
            "X-Original-URI",
            "x-original-uri",
            "X-ORIGINAL-METHOD",
            "X-Real-IP",
            "Cookie",
            "cookie",
            "Sec-Fetch-Site",
            "Referer",
            "X-Original-Host",
            "Host",
            "X-Other",
            "Content-Length",
        ];
        let values: [&[u8]; 12] = [
            b"/protected/a.png?kh_sig=abc",
            b"",
            b"  spaced  ",
            b"\tTabbed\t",
            b"caf\xc3\xa9",
            b"\xff\xfe",
            b"a\x01b",
            b"0",
            b"GET",
            b"10.0.0.1",
            b"a=b; c=d",
            b"x\r\n folded",
        ];
        let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move |bound: usize| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            usize::try_from(state % bound as u64).unwrap()
        };
        let mut compared = 0;
        for _ in 0..1500 {
            let mut raw = b"GET /auth HTTP/1.1\r\n".to_vec();
            for _ in 0..next(7) {
                raw.extend_from_slice(names[next(names.len())].as_bytes());
                raw.extend_from_slice(if next(8) == 0 { b":" } else { b": " });
                raw.extend_from_slice(values[next(values.len())]);
                raw.extend_from_slice(b"\r\n");
            }
            raw.extend_from_slice(b"\r\n");
            let Parsed::Auth(head) = Head::parse(&raw) else {
                continue;
            };
            let mine = shown(&head.fields(&raw));
            let theirs = through_hyper(raw.clone()).await;
            assert_eq!(Some(mine), theirs, "{:?}", String::from_utf8_lossy(&raw));
            compared += 1;
        }
        assert!(compared > 300, "only {compared} heads compared");
    }

    /// hyper reads the bytes already taken first, whole and once, then the socket's,
    /// whatever the size of its reads.
    #[tokio::test]
    async fn a_handed_over_connection_reads_its_bytes_once_in_order() {
        for chunk in [1, 2, 3, 7, 4096] {
            let (mut client, server) = tokio::io::duplex(64);
            let mut prefixed = Prefixed::new(b"GET /a HTTP/1.1\r\n".to_vec(), server);
            client.write_all(b"Host: x\r\n\r\n").await.unwrap();
            drop(client);
            let mut got = Vec::new();
            let mut buf = vec![0u8; chunk];
            loop {
                let n = prefixed.read(&mut buf).await.unwrap();
                if n == 0 {
                    break;
                }
                got.extend_from_slice(&buf[..n]);
            }
            assert_eq!(
                got, b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n",
                "reads of {chunk}"
            );
        }
    }
}
