//! Browser behaviour in real headless Chromium against nginx + keyhole.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::Env;
use common::browser::Browser;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gallery_of_signed_urls_decodes_and_a_tampered_one_does_not() {
    let env = Env::start();
    keyhole::demo::write_gallery(env.stack.root(), &env.keys, 600).unwrap();
    // The page's signed URLs, one a line, for the harness's log check.
    let page = std::fs::read_to_string(env.stack.root().join("index.html")).unwrap();
    env.remember_secrets(page.replace("&amp;", "&").replace('"', "\n").as_bytes());

    let browser = Browser::start().await;
    let widths = browser
        .image_widths(&format!("http://127.0.0.1:{}/", env.port))
        .await;
    browser.stop().await;
    assert_eq!(widths.len(), 7, "{widths:?}");
    for (alt, width) in &widths[..6] {
        assert_eq!(*width, 240, "{alt} did not decode");
    }
    assert_eq!(widths[6], ("tampered".to_owned(), 0));
}
