//! The remote JWKS (`KEYHOLE_JWKS_URL`): fetched at start, refreshed on an interval,
//! refetched when a token names an unknown `kid` (at most once per refetch interval, so
//! a flood of random key ids is not a flood of fetches), and the last good set kept
//! when a fetch fails. The verifier only reads [`RemoteKeys`]; all IO lives here.
//!
//! `https://` (rustls, the Web PKI roots plus `KEYHOLE_JWKS_CA_FILE`: [`tls`]) or plain
//! `http://` for a local endpoint. Every fetch is bounded: [`FETCH_TIMEOUT`] for the
//! whole of it (connection, handshake, redirects, body) and [`MAX_JWKS_BYTES`] of
//! body. Redirects are followed only to the same scheme, host and port, at most
//! [`MAX_REDIRECTS`] times: a JWKS that moves to another host is a failed fetch.

pub mod tls;

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Limited};
use hyper_util::rt::TokioIo;

use crate::verify::jwt::keys::parse_jwks;
use crate::verify::jwt::{JwtKey, RemoteKeys};

/// Largest JWKS document read.
pub const MAX_JWKS_BYTES: usize = 256 * 1024;

/// How long one fetch may take, connection, TLS handshake and redirects included. A
/// request that triggered an unknown-kid refetch waits for it, so this stays below
/// nginx's 5 s `proxy_read_timeout` in the shipped `keyhole.conf`.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(3);

/// Most redirects followed in one fetch (each to the same scheme, host and port).
pub const MAX_REDIRECTS: usize = 3;

/// An `http://` or `https://` `host[:port]/path` URL, checked at start.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JwksUrl {
    /// `https://`: fetched over TLS.
    tls: bool,
    /// `host:port` to connect to.
    authority: String,
    /// The `Host` header value.
    host: String,
    /// The name the server's certificate must carry (the host without port or
    /// brackets).
    server_name: String,
    /// The request target (`/path?query`).
    target: String,
}

impl JwksUrl {
    /// Parses an `http://` or `https://` URL; the message says what is wrong.
    pub fn parse(text: &str) -> Result<Self, String> {
        let (tls, rest, default_port) = if let Some(rest) = text.strip_prefix("https://") {
            (true, rest, 443)
        } else if let Some(rest) = text.strip_prefix("http://") {
            (false, rest, 80)
        } else {
            return Err(format!(
                "must be an https:// (or, for a local endpoint, http://) URL, got `{text}`"
            ));
        };
        let (host, target) = match rest.find('/') {
            Some(at) => (
                rest.get(..at).unwrap_or_default(),
                rest.get(at..).unwrap_or("/"),
            ),
            None => (rest, "/"),
        };
        let valid = !host.is_empty()
            && host.bytes().all(|b| {
                b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']')
            })
            && target.bytes().all(|b| b.is_ascii_graphic());
        if !valid {
            return Err(format!(
                "must be `https://host[:port]/path` (or http://), got `{text}`"
            ));
        }
        let port_at = host
            .rfind(':')
            .filter(|at| host.get(at + 1..).is_some_and(|p| !p.contains(']')));
        let (name, authority) = match port_at {
            Some(at) => {
                let port = host.get(at + 1..).unwrap_or_default();
                if port.parse::<u16>().is_err() {
                    return Err(format!("has a bad port `{port}`: `{text}`"));
                }
                (host.get(..at).unwrap_or_default(), host.to_owned())
            }
            None => (host, format!("{host}:{default_port}")),
        };
        let server_name = name
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        if server_name.is_empty() {
            return Err(format!("has no host: `{text}`"));
        }
        Ok(JwksUrl {
            tls,
            authority,
            host: host.to_owned(),
            server_name,
            target: target.to_owned(),
        })
    }

    /// Where a redirect from this URL to `location` leads, if it stays on the same
    /// scheme, host and port; the message names the refused location otherwise.
    fn follow(&self, location: &str) -> Result<JwksUrl, JwksError> {
        if location.starts_with('/') && !location.starts_with("//") {
            if !location.bytes().all(|b| b.is_ascii_graphic()) {
                return Err(JwksError::Redirect(format!("to `{location}`: not a path")));
            }
            return Ok(JwksUrl {
                target: location.to_owned(),
                ..self.clone()
            });
        }
        let next = JwksUrl::parse(location)
            .map_err(|_| JwksError::Redirect(format!("to `{location}`: not a URL")))?;
        let same = next.tls == self.tls
            && next.authority.eq_ignore_ascii_case(&self.authority)
            && next.server_name.eq_ignore_ascii_case(&self.server_name);
        if !same {
            return Err(JwksError::Redirect(format!(
                "to `{location}`: another scheme, host or port than `{self}`"
            )));
        }
        Ok(next)
    }
}

impl std::fmt::Display for JwksUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let scheme = if self.tls { "https" } else { "http" };
        write!(f, "{scheme}://{}{}", self.host, self.target)
    }
}

/// One answer: the document, or where it moved.
enum Answer {
    /// The body of a 200.
    Document(String),
    /// The `Location` of a 301, 302, 303, 307 or 308.
    Redirect(String),
}

/// Why a fetch failed. The last good set stays in use.
#[derive(Debug, thiserror::Error)]
pub enum JwksError {
    #[error("cannot connect: {0}")]
    Connect(std::io::Error),
    #[error("TLS: {0}")]
    Tls(String),
    #[error("redirect refused: {0}")]
    Redirect(String),
    #[error("HTTP error: {0}")]
    Http(String),
    #[error("status {0} (expected 200)")]
    Status(u16),
    #[error("the document is larger than {MAX_JWKS_BYTES} bytes or unreadable")]
    Body,
    #[error("timed out after {}s", FETCH_TIMEOUT.as_secs())]
    Timeout,
    #[error("the document is not UTF-8")]
    Utf8,
    #[error("{0}")]
    Keys(crate::verify::jwt::JwtKeyError),
    #[error("key id `{0}` is already configured locally")]
    LocalKid(String),
}

/// The fetcher and its rate limit.
#[derive(Debug)]
pub struct JwksSource {
    /// Where the document lives.
    url: JwksUrl,
    /// The TLS client for `https://` (and for redirects, which keep the scheme).
    tls: Arc<rustls::ClientConfig>,
    /// Where fetched keys go (shared with the verifier).
    keys: Arc<RemoteKeys>,
    /// Local key ids a remote set may not reuse.
    local_kids: Vec<String>,
    /// Time between scheduled refreshes.
    refresh: Duration,
    /// Least time between two fetches caused by unknown key ids.
    refetch_interval: Duration,
    /// When the last unknown-kid refetch started; the lock also makes concurrent
    /// unknown-kid requests wait for one fetch instead of each starting their own.
    last_refetch: tokio::sync::Mutex<Option<Instant>>,
    /// Fetches by result, exported as `keyhole_jwks_fetches_total`.
    pub fetches: crate::metrics::ResultCounter,
}

impl JwksSource {
    /// A source writing into `keys`, fetching `https://` URLs with `tls`.
    pub fn new(
        url: JwksUrl,
        tls: Arc<rustls::ClientConfig>,
        keys: Arc<RemoteKeys>,
        local_kids: Vec<String>,
        refresh: Duration,
        refetch_interval: Duration,
    ) -> Self {
        JwksSource {
            url,
            tls,
            keys,
            local_kids,
            refresh,
            refetch_interval,
            last_refetch: tokio::sync::Mutex::new(None),
            fetches: crate::metrics::ResultCounter::default(),
        }
    }

    /// The URL (for logs).
    pub fn url(&self) -> &JwksUrl {
        &self.url
    }

    /// Fetches now, replacing the keys on success; returns how many keys were loaded.
    pub async fn fetch(&self) -> Result<usize, JwksError> {
        let result = self.fetch_once().await;
        self.fetches.record(result.is_ok());
        result
    }

    async fn fetch_once(&self) -> Result<usize, JwksError> {
        let text = tokio::time::timeout(FETCH_TIMEOUT, self.download())
            .await
            .map_err(|_| JwksError::Timeout)??;
        let keys: Vec<JwtKey> = parse_jwks(&text).map_err(JwksError::Keys)?;
        crate::verify::jwt::keys::check_unique(&keys).map_err(JwksError::Keys)?;
        if let Some(key) = keys.iter().find(|key| self.local_kids.contains(&key.kid)) {
            return Err(JwksError::LocalKid(key.kid.clone()));
        }
        let count = keys.len();
        self.keys.replace(keys);
        Ok(count)
    }

    /// After a token named an unknown key id: fetches unless such a refetch started
    /// less than the refetch interval ago (scheduled refreshes do not count). Returns
    /// whether a fetch succeeded.
    pub async fn refetch_for_unknown_kid(&self) -> bool {
        let mut last = self.last_refetch.lock().await;
        if last.is_some_and(|at| at.elapsed() < self.refetch_interval) {
            return false;
        }
        *last = Some(Instant::now());
        match self.fetch().await {
            Ok(count) => {
                tracing::info!(url = %self.url, keys = count, "JWKS refetched for an unknown key id");
                true
            }
            Err(error) => {
                tracing::warn!(url = %self.url, %error, "JWKS refetch failed; keeping the last good set");
                false
            }
        }
    }

    /// Refreshes every `refresh` until the process ends.
    pub fn spawn_refresher(self: Arc<Self>) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(self.refresh).await;
                match self.fetch().await {
                    Ok(count) => tracing::debug!(url = %self.url, keys = count, "JWKS refreshed"),
                    Err(error) => {
                        tracing::warn!(url = %self.url, %error, "JWKS refresh failed; keeping the last good set")
                    }
                }
            }
        })
    }

    /// The document, following same-origin redirects.
    async fn download(&self) -> Result<String, JwksError> {
        let mut url = self.url.clone();
        for _ in 0..=MAX_REDIRECTS {
            match self.get(&url).await? {
                Answer::Document(text) => return Ok(text),
                Answer::Redirect(location) => url = url.follow(&location)?,
            }
        }
        Err(JwksError::Redirect(format!(
            "more than {MAX_REDIRECTS} redirects"
        )))
    }

    /// One GET of `url`, over TLS for `https://`.
    async fn get(&self, url: &JwksUrl) -> Result<Answer, JwksError> {
        let stream = tokio::net::TcpStream::connect(&url.authority)
            .await
            .map_err(JwksError::Connect)?;
        if !url.tls {
            return exchange(TokioIo::new(stream), url).await;
        }
        let name = rustls_pki_types::ServerName::try_from(url.server_name.clone())
            .map_err(|error| JwksError::Tls(error.to_string()))?;
        let stream = tokio_rustls::TlsConnector::from(Arc::clone(&self.tls))
            .connect(name, stream)
            .await
            .map_err(|error| JwksError::Tls(error.to_string()))?;
        exchange(TokioIo::new(stream), url).await
    }
}

/// Sends the GET over an open connection and reads the answer (a body of at most
/// [`MAX_JWKS_BYTES`]).
async fn exchange<T>(io: T, url: &JwksUrl) -> Result<Answer, JwksError>
where
    T: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (mut sender, connection) = hyper::client::conn::http1::handshake(io)
        .await
        .map_err(|e| JwksError::Http(e.to_string()))?;
    let driver = tokio::spawn(connection);
    let request = hyper::Request::get(url.target.as_str())
        .header(hyper::header::HOST, url.host.as_str())
        .header(
            hyper::header::ACCEPT,
            "application/jwk-set+json, application/json",
        )
        .header(hyper::header::CONNECTION, "close")
        .body(Empty::<Bytes>::new())
        .map_err(|e| JwksError::Http(e.to_string()))?;
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| JwksError::Http(e.to_string()))?;
    let status = response.status().as_u16();
    if matches!(status, 301 | 302 | 303 | 307 | 308) {
        driver.abort();
        let location = response
            .headers()
            .get(hyper::header::LOCATION)
            .and_then(|value| value.to_str().ok())
            .ok_or(JwksError::Status(status))?;
        return Ok(Answer::Redirect(location.to_owned()));
    }
    if status != 200 {
        driver.abort();
        return Err(JwksError::Status(status));
    }
    let body = Limited::new(response.into_body(), MAX_JWKS_BYTES)
        .collect()
        .await
        .map_err(|_| JwksError::Body)?
        .to_bytes();
    driver.abort();
    String::from_utf8(body.to_vec())
        .map(Answer::Document)
        .map_err(|_| JwksError::Utf8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let url = JwksUrl::parse("http://127.0.0.1:8080/.well-known/jwks.json").unwrap();
        assert_eq!(url.authority, "127.0.0.1:8080");
        assert_eq!(url.target, "/.well-known/jwks.json");
        assert!(!url.tls);
        assert_eq!(
            JwksUrl::parse("http://idp.internal").unwrap().authority,
            "idp.internal:80"
        );
        let url = JwksUrl::parse("http://[::1]:9/k").unwrap();
        assert_eq!(
            (url.authority.as_str(), url.server_name.as_str()),
            ("[::1]:9", "::1")
        );
        let url = JwksUrl::parse("https://idp.example/jwks").unwrap();
        assert!(url.tls);
        assert_eq!(url.authority, "idp.example:443");
        assert_eq!(url.server_name, "idp.example");
        assert_eq!(url.to_string(), "https://idp.example/jwks");
        assert!(JwksUrl::parse("ftp://idp.example/jwks").is_err());
        assert!(JwksUrl::parse("http:///x").is_err());
        assert!(JwksUrl::parse("http://a b/").is_err());
        assert!(JwksUrl::parse("https://idp.example:99999/").is_err());
    }

    #[test]
    fn redirects_stay_on_the_same_scheme_host_and_port() {
        let url = JwksUrl::parse("https://idp.example/jwks").unwrap();
        assert_eq!(url.follow("/v2/jwks").unwrap().target, "/v2/jwks");
        assert_eq!(
            url.follow("https://IDP.example:443/v2")
                .unwrap()
                .to_string(),
            "https://IDP.example:443/v2"
        );
        for refused in [
            "https://evil.example/jwks",
            "http://idp.example/jwks",
            "https://idp.example:8443/jwks",
            "//evil.example/jwks",
            "jwks.json",
        ] {
            assert!(
                matches!(url.follow(refused), Err(JwksError::Redirect(_))),
                "{refused}"
            );
        }
    }
}
