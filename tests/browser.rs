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
    keyhole_support::gallery::write_gallery(env.stack.root(), &env.keys, 600).unwrap();
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

fn svg(width: u32) -> Vec<u8> {
    format!("<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"20\"><rect width=\"{width}\" height=\"20\" fill=\"teal\"/></svg>").into_bytes()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_exchange_sets_a_cookie_that_opens_clean_urls_until_revoked() {
    let env = Env::start();
    env.put("protected/u1/a.svg", &svg(100));
    env.put("protected/u1/b.svg", &svg(110));
    env.put(
        "protected/u1/welcome.html",
        b"<!doctype html><title>welcome</title>signed in",
    );
    env.put("protected/u2/c.svg", &svg(120));
    let gallery = "<!doctype html><meta name=referrer content=no-referrer><title>gallery</title>\
        <img alt=a src=/protected/u1/a.svg><img alt=b src=/protected/u1/b.svg>\
        <img alt=c src=/protected/u2/c.svg>";
    env.put("gallery.html", gallery.as_bytes());
    let base = format!("http://localhost:{}", env.port);
    env.put(
        "cross.html",
        format!(
            "<!doctype html><title>other site</title><img alt=a src={base}/protected/u1/a.svg>"
        )
        .as_bytes(),
    );

    let browser = Browser::start().await;
    // Before the exchange: no image loads from a clean URL.
    let before = browser.image_widths(&format!("{base}/gallery.html")).await;
    assert_eq!(before, [("a".into(), 0), ("b".into(), 0), ("c".into(), 0)]);

    // Follow an exchange link, as a user clicking it would.
    let url = env.sign_with("/protected/u1/welcome.html", |g| {
        g.scope = common::scope("/protected/u1/")
    });
    let query = url.split_once('?').unwrap().1;
    let link = format!("{base}/_keyhole/session?return_to=/protected/u1/welcome.html&{query}");
    env.remember_secrets(format!("GET {link} HTTP/1.1").as_bytes());
    browser.client.goto(&link).await.unwrap();
    let landed = browser.client.current_url().await.unwrap();
    assert_eq!(landed.path(), "/protected/u1/welcome.html");
    assert_eq!(
        landed.query(),
        None,
        "the credential must not stay in the address bar"
    );

    // The cookie, as the browser stored it.
    let cookies = browser.client.get_all_cookies().await.unwrap();
    let cookie = cookies
        .iter()
        .find(|c| c.name() == "__Host-keyhole")
        .expect("cookie set");
    assert_eq!(cookie.http_only(), Some(true));
    assert_eq!(cookie.secure(), Some(true));
    assert_eq!(cookie.path(), Some("/"));
    assert_eq!(cookie.same_site(), Some(cookie::SameSite::Lax));
    assert!(
        cookie.domain().is_none_or(|d| d == "localhost"),
        "{:?}",
        cookie.domain()
    );
    let value = cookie.value().to_owned();
    env.remember_secrets(format!("Cookie: x={value}").as_bytes());
    // HttpOnly: scripts cannot read it.
    let visible = browser
        .client
        .execute("return document.cookie", vec![])
        .await
        .unwrap();
    assert!(
        !visible.as_str().unwrap_or_default().contains("keyhole"),
        "{visible}"
    );

    // Clean URLs under the scope load; beside it, not.
    let after = browser.image_widths(&format!("{base}/gallery.html")).await;
    assert_eq!(
        after,
        [("a".into(), 100), ("b".into(), 110), ("c".into(), 0)]
    );

    // Another site (127.0.0.1 is not localhost's site) embedding the same image: none.
    let cross = browser
        .image_widths(&format!("http://127.0.0.1:{}/cross.html", env.port))
        .await;
    assert_eq!(cross, [("a".into(), 0)]);

    // Revoke the session: the images stop loading.
    let sid = value.split('.').nth(4).unwrap().to_owned();
    env.revoke_sid(&sid);
    let revoked = browser
        .image_widths(&format!("{base}/gallery.html?after-revoke"))
        .await;
    browser.stop().await;
    assert_eq!(revoked, [("a".into(), 0), ("b".into(), 0), ("c".into(), 0)]);
}
