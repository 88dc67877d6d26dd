//! Real headless Chromium driven over WebDriver (fantoccini + Debian's chromedriver),
//! started on a free loopback port with an empty profile and stopped by pid on drop.
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder};
use hyper_util::client::legacy::connect::HttpConnector;

/// Whether chromedriver on `port` answers `GET /status` with `"ready": true`.
fn driver_ready(port: u16) -> bool {
    use std::io::{Read, Write};
    let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let request =
        format!("GET /status HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n");
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut reply = String::new();
    let _ = stream.read_to_string(&mut reply);
    reply.starts_with("HTTP/1.1 200") && reply.replace(' ', "").contains("\"ready\":true")
}

/// A chromedriver process and a WebDriver session on it.
pub struct Browser {
    pub client: Client,
    driver: Child,
    _profile: tempfile::TempDir,
}

fn find(name: &str) -> String {
    for dir in ["/usr/bin", "/usr/lib/chromium", "/usr/local/bin"] {
        let path = format!("{dir}/{name}");
        if std::path::Path::new(&path).is_file() {
            return path;
        }
    }
    panic!(
        "{name} not found: install it with `sudo apt-get install -y chromium chromium-driver` (scripts/install-test-deps does)"
    );
}

impl Browser {
    /// Starts chromedriver and opens a headless Chromium session. Starting the
    /// browser is the harness, not what is tested: a driver that dies or drops the
    /// session request is replaced (three tries, each on a fresh port and profile),
    /// and the panic quotes every try's error and the tail of chromedriver's log.
    pub async fn start() -> Browser {
        let mut failures = Vec::new();
        for attempt in 1..=3 {
            match Self::try_start().await {
                Ok(browser) => return browser,
                Err(failure) => {
                    eprintln!("chromedriver try {attempt} failed: {failure}");
                    failures.push(format!("try {attempt}: {failure}"));
                }
            }
        }
        panic!("cannot open a Chromium session:\n{}", failures.join("\n"));
    }

    async fn try_start() -> Result<Browser, String> {
        let driver_bin = find("chromedriver");
        let chromium = find("chromium");
        let port = super::free_port();
        let profile = tempfile::tempdir().unwrap();
        let log = profile.path().join("chromedriver.log");
        let user_data = profile.path().join("profile");
        let mut driver = Command::new(driver_bin)
            .arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1")
            .arg(format!("--log-path={}", log.display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let fail = |driver: &mut Child, what: String| {
            let _ = driver.kill();
            let _ = driver.wait();
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            let tail: Vec<&str> = text.lines().rev().take(15).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            format!("{what}; chromedriver log ends:\n{}", tail.join("\n"))
        };
        let start = Instant::now();
        while !driver_ready(port) {
            if let Ok(Some(status)) = driver.try_wait() {
                return Err(fail(&mut driver, format!("chromedriver exited: {status}")));
            }
            if start.elapsed() > Duration::from_secs(15) {
                return Err(fail(&mut driver, "chromedriver not ready in 15 s".into()));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let args = serde_json::json!([
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            format!("--user-data-dir={}", user_data.display()),
        ]);
        let mut capabilities = serde_json::Map::new();
        capabilities.insert(
            "goog:chromeOptions".into(),
            serde_json::json!({ "binary": chromium, "args": args }),
        );
        match ClientBuilder::new(HttpConnector::new())
            .capabilities(capabilities)
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
        {
            Ok(client) => Ok(Browser {
                client,
                driver,
                _profile: profile,
            }),
            Err(error) => Err(fail(&mut driver, error.to_string())),
        }
    }

    /// Loads `url` and waits until every image finished loading (or failed); returns
    /// each `<img>`'s `alt` and `naturalWidth` (0 = not decoded).
    pub async fn image_widths(&self, url: &str) -> Vec<(String, u64)> {
        self.client.goto(url).await.unwrap();
        let script = r#"
            const done = arguments[arguments.length - 1];
            const images = Array.from(document.images);
            Promise.all(images.map(img => img.complete ? null :
                new Promise(r => { img.onload = r; img.onerror = r; })))
              .then(() => done(images.map(img => [img.alt, img.naturalWidth])));
        "#;
        let value = self.client.execute_async(script, vec![]).await.unwrap();
        serde_json::from_value(value).unwrap()
    }

    /// Ends the session and stops chromedriver (Chromium exits with it).
    pub async fn stop(mut self) {
        let _ = self.client.clone().close().await;
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
