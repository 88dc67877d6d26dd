//! The demo gallery: SVG images below `/protected/gallery/`, a page whose `<img>` tags
//! carry freshly signed URLs (and one tampered URL), and a cookie-exchange link to a
//! page of clean URLs. `keyhole demo`, `keyhole gallery` and the browser test write it.

use std::path::Path;

use keyhole_core::canonical::{CanonicalPath, Scope};
use keyhole_core::clock::{Clock, SystemClock};
use keyhole_core::keys::KeyRing;
use keyhole_core::verify::signed_url::{self, UrlGrant};

/// The gallery's images: a name and a fill colour each.
const COLOURS: [(&str, &str); 6] = [
    ("sunrise", "#f4a261"),
    ("sea", "#2a9d8f"),
    ("night", "#264653"),
    ("sand", "#e9c46a"),
    ("coral", "#e76f51"),
    ("leaf", "#8ab17d"),
];

/// Writes the demo gallery below `root`: SVG images under `protected/gallery/`, an
/// `index.html` whose `<img>` tags carry URLs signed with `keys` for `ttl` seconds (and
/// one tampered URL) plus a cookie-exchange link, and `protected/gallery/index.html`,
/// the page that link leads to, whose images have clean URLs.
pub fn write_gallery(root: &Path, keys: &KeyRing, ttl: u64) -> Result<(), String> {
    let gallery = root.join("protected").join("gallery");
    std::fs::create_dir_all(&gallery).map_err(|e| e.to_string())?;
    let now = SystemClock.now();
    let mut figures = String::new();
    let mut clean = String::new();
    let mut last_url = String::new();
    for (name, colour) in COLOURS {
        let svg = format!(
            concat!(
                "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"240\" height=\"160\">",
                "<rect width=\"240\" height=\"160\" fill=\"{colour}\"/>",
                "<text x=\"20\" y=\"90\" font-size=\"28\" fill=\"white\">{name}</text></svg>\n"
            ),
            colour = colour,
            name = name
        );
        std::fs::write(gallery.join(format!("{name}.svg")), svg).map_err(|e| e.to_string())?;
        let path = CanonicalPath::parse(format!("/protected/gallery/{name}.svg").as_bytes())
            .map_err(|r| r.to_string())?;
        let grant = UrlGrant::new(path, now.plus(ttl));
        let url = signed_url::sign(&grant, keys.signing_key()).map_err(|e| e.to_string())?;
        last_url.clone_from(&url);
        clean.push_str(&figure(&format!("{name}.svg"), name, name));
        figures.push_str(&figure(&html_escape(&url), name, name));
    }
    // The last image's URL with one signature character changed: keyhole denies it.
    let mut broken = last_url;
    let flipped = if broken.ends_with('A') { 'E' } else { 'A' };
    broken.pop();
    broken.push(flipped);
    figures.push_str(&figure(
        &html_escape(&broken),
        "tampered",
        "tampered signature: denied",
    ));
    // A link that trades a scope-signed URL for a cookie and lands on a page of clean
    // URLs (`/_keyhole/session`, docs/cookies.md).
    let scope = Scope::parse(b"/protected/gallery/").map_err(|r| r.to_string())?;
    let landing =
        CanonicalPath::parse(b"/protected/gallery/index.html").map_err(|r| r.to_string())?;
    let mut grant = UrlGrant::new(landing, now.plus(ttl));
    grant.scope = Some(scope);
    let scope_url = signed_url::sign(&grant, keys.signing_key()).map_err(|e| e.to_string())?;
    let query = scope_url.split_once('?').map_or("", |(_, query)| query);
    let exchange = format!("/_keyhole/session?return_to=/protected/gallery/index.html&{query}");
    let public_page = page(
        "keyhole demo gallery",
        concat!(
            "Every image below /protected/ is served by nginx only after keyhole ",
            "answered 204 for its signed URL."
        ),
        &format!(
            concat!(
                "<p><a href=\"{exchange}\">Sign in with a cookie</a>: ",
                "the same images from clean URLs.</p>\n{figures}"
            ),
            exchange = html_escape(&exchange),
            figures = figures
        ),
    );
    std::fs::write(root.join("index.html"), public_page).map_err(|e| e.to_string())?;
    let protected_page = page(
        "keyhole demo: cookie gallery",
        concat!(
            "These images have clean URLs: keyhole allowed each one for the ",
            "__Host-keyhole cookie the exchange set."
        ),
        &clean,
    );
    std::fs::write(gallery.join("index.html"), protected_page).map_err(|e| e.to_string())
}

/// One `<figure>`: an image (its `src` already escaped) and a caption.
fn figure(src: &str, alt: &str, caption: &str) -> String {
    format!(
        "<figure><img src=\"{src}\" alt=\"{alt}\"><figcaption>{caption}</figcaption></figure>\n"
    )
}

fn page(title: &str, intro: &str, body: &str) -> String {
    format!(
        concat!(
            "<!doctype html>\n<html><head><meta charset=\"utf-8\">",
            "<meta name=\"referrer\" content=\"no-referrer\"><title>{title}</title>\n",
            "<style>body{{font-family:sans-serif}} figure{{display:inline-block;margin:8px}}",
            "</style></head>\n<body><h1>{title}</h1>\n<p>{intro}</p>\n{body}</body></html>\n"
        ),
        title = title,
        intro = intro,
        body = body
    )
}

fn html_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('"', "&quot;")
        .replace('<', "&lt;")
}
