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
    /// Starts chromedriver and opens a headless Chromium session.
    pub async fn start() -> Browser {
        let driver_bin = find("chromedriver");
        let chromium = find("chromium");
        let port = super::free_port();
        let driver = Command::new(driver_bin)
            .arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let start = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(15),
                "chromedriver did not start"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let profile = tempfile::tempdir().unwrap();
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
            format!("--user-data-dir={}", profile.path().display()),
        ]);
        let mut capabilities = serde_json::Map::new();
        capabilities.insert(
            "goog:chromeOptions".into(),
            serde_json::json!({ "binary": chromium, "args": args }),
        );
        let mut driver = driver;
        let client = match ClientBuilder::new(HttpConnector::new())
            .capabilities(capabilities)
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
        {
            Ok(client) => client,
            Err(error) => {
                let _ = driver.kill();
                let _ = driver.wait();
                panic!("cannot open a Chromium session: {error}");
            }
        };
        Browser {
            client,
            driver,
            _profile: profile,
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
