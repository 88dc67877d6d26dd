//! The remote JWKS (`KEYHOLE_JWKS_URL`): fetched at start, refreshed on an interval,
//! refetched when a token names an unknown `kid` (at most once per refetch interval, so
//! a flood of random key ids is not a flood of fetches), and the last good set kept
//! when a fetch fails. The verifier only reads [`RemoteKeys`]; all IO lives here.
//!
//! Plain `http://` only: keyhole carries no TLS client. Serve the JWKS from a local
//! endpoint (or a sidecar that mirrors the identity provider's HTTPS JWKS).

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Limited};
use hyper_util::rt::TokioIo;

use crate::verify::jwt::keys::parse_jwks;
use crate::verify::jwt::{JwtKey, RemoteKeys};

/// Largest JWKS document read.
pub const MAX_JWKS_BYTES: usize = 256 * 1024;

/// How long one fetch may take, connection included. A request that triggered an
/// unknown-kid refetch waits for it, so this stays below nginx's 5 s
/// `proxy_read_timeout` in the shipped `keyhole.conf`.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(3);

/// An `http://host[:port]/path` URL, checked at start.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JwksUrl {
    /// `host:port` to connect to.
    authority: String,
    /// The `Host` header value.
    host: String,
    /// The request target (`/path?query`).
    target: String,
}

impl JwksUrl {
    /// Parses a plain-HTTP URL; the message says what is wrong.
    pub fn parse(text: &str) -> Result<Self, String> {
        let Some(rest) = text.strip_prefix("http://") else {
            return Err(format!(
                "must be a plain http:// URL (keyhole has no TLS client; mirror an https JWKS locally or use KEYHOLE_JWKS_FILE), got `{text}`"
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
            return Err(format!("must be `http://host[:port]/path`, got `{text}`"));
        }
        let has_port = match host.rfind(':') {
            Some(at) => host
                .get(at + 1..)
                .is_some_and(|p| !p.contains(']') && p.parse::<u16>().is_ok()),
            None => false,
        };
        let authority = if has_port {
            host.to_owned()
        } else {
            format!("{host}:80")
        };
        Ok(JwksUrl {
            authority,
            host: host.to_owned(),
            target: target.to_owned(),
        })
    }
}

impl std::fmt::Display for JwksUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "http://{}{}", self.host, self.target)
    }
}

/// Why a fetch failed. The last good set stays in use.
#[derive(Debug, thiserror::Error)]
pub enum JwksError {
    #[error("cannot connect: {0}")]
    Connect(std::io::Error),
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
    /// A source writing into `keys`.
    pub fn new(
        url: JwksUrl,
        keys: Arc<RemoteKeys>,
        local_kids: Vec<String>,
        refresh: Duration,
        refetch_interval: Duration,
    ) -> Self {
        JwksSource {
            url,
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

    async fn download(&self) -> Result<String, JwksError> {
        let stream = tokio::net::TcpStream::connect(&self.url.authority)
            .await
            .map_err(JwksError::Connect)?;
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| JwksError::Http(e.to_string()))?;
        let driver = tokio::spawn(connection);
        let request = hyper::Request::get(self.url.target.as_str())
            .header(hyper::header::HOST, self.url.host.as_str())
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
        String::from_utf8(body.to_vec()).map_err(|_| JwksError::Utf8)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let url = JwksUrl::parse("http://127.0.0.1:8080/.well-known/jwks.json").unwrap();
        assert_eq!(url.authority, "127.0.0.1:8080");
        assert_eq!(url.target, "/.well-known/jwks.json");
        assert_eq!(
            JwksUrl::parse("http://idp.internal").unwrap().authority,
            "idp.internal:80"
        );
        assert_eq!(
            JwksUrl::parse("http://[::1]:9/k").unwrap().authority,
            "[::1]:9"
        );
        assert!(JwksUrl::parse("https://idp.example/jwks").is_err());
        assert!(JwksUrl::parse("http:///x").is_err());
        assert!(JwksUrl::parse("http://a b/").is_err());
    }
}
