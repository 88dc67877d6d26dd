//! `keyhole demo`: nginx (a child process, with the shipped files) and keyhole (in
//! this process) on localhost, serving a generated gallery whose `<img>` tags carry
//! freshly signed URLs, plus one deliberately broken link. Ctrl-C stops both.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use crate::authorize::Authorizer;
use crate::canonical::{CanonicalPath, Scope};
use crate::clock::{Clock, SystemClock};
use crate::config::Listen;
use crate::keys::{Key, KeyId, KeyRing, Secret};
use crate::nginx::{Layout, Stack};
use crate::verify::Policy;
use crate::verify::signed_url::{self, UrlGrant};

/// Options of `keyhole demo`.
#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// Port for nginx on 127.0.0.1.
    #[arg(long, default_value_t = 8080)]
    port: u16,
    /// Lifetime of the gallery's signed URLs.
    #[arg(long, default_value = "1h")]
    ttl: String,
}

const COLOURS: [(&str, &str); 6] = [
    ("sunrise", "#f4a261"),
    ("sea", "#2a9d8f"),
    ("night", "#264653"),
    ("sand", "#e9c46a"),
    ("coral", "#e76f51"),
    ("leaf", "#8ab17d"),
];

/// Runs the demo until Ctrl-C.
pub fn run(args: &DemoArgs) -> ExitCode {
    crate::cli::init_tracing("info", crate::config::LogFormat::Text);
    match run_inner(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("keyhole demo: {message}");
            ExitCode::from(crate::cli::EXIT_USAGE)
        }
    }
}

fn run_inner(args: &DemoArgs) -> Result<(), String> {
    crate::nginx::find_nginx().map_err(|e| e.to_string())?;
    let ttl = crate::config::parse_seconds(Some(&args.ttl), 0)?;
    let dir = tempfile::Builder::new()
        .prefix("keyhole-demo-")
        .tempdir()
        .map_err(|e| e.to_string())?;
    let key = Key::new(
        KeyId::parse("demo").map_err(|e| e.to_string())?,
        Secret::generate().map_err(|e| e.to_string())?,
    )
    .map_err(|e| e.to_string())?;
    let keys = Arc::new(KeyRing::new(vec![key]).map_err(|e| e.to_string())?);
    let root = dir.path().join("www");
    write_gallery(&root, &keys, ttl)?;

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    runtime.block_on(async {
        let listener = crate::server::Listener::bind(&Listen::Tcp(([127, 0, 0, 1], 0).into()), 0o660)
            .await
            .map_err(|e| e.to_string())?;
        let keyhole_addr = listener.local_addr();
        let keyhole = Listen::Tcp(keyhole_addr.parse().map_err(|_| "keyhole address".to_string())?);
        let state = crate::server::State::new(
            Authorizer::new(keys, Policy::default()),
            Arc::new(SystemClock),
        );
        let limits = crate::server::Limits {
            header_timeout: std::time::Duration::from_secs(10),
            max_connections: 1024,
            max_head_bytes: crate::config::DEFAULT_MAX_HEAD_BYTES,
        };
        let server = tokio::spawn(crate::server::serve(
            listener,
            state,
            limits,
            crate::cli::shutdown_signal(),
        ));
        let layout = Layout { dir: dir.path().join("nginx"), port: args.port, keyhole, more_keyholes: Vec::new(), root: root.clone(), decision_cache: false, error_log_level: None };
        let stack = Stack::start(layout, "").map_err(|e| {
            format!("{e}\n(is port {} free? choose another with --port)", args.port)
        })?;
        println!("keyhole  listening on {keyhole_addr} (key id `demo`, generated for this run)");
        println!("nginx    pid {} serving {}", stack.pid(), root.display());
        println!("logs     {}", stack.layout.access_log().display());
        println!();
        println!("open     http://127.0.0.1:{}/", args.port);
        println!("         the gallery's images carry signed URLs valid for {}; one link is broken on purpose", args.ttl);
        println!("stop     Ctrl-C");
        let _ = server.await;
        drop(stack);
        println!("stopped nginx and keyhole");
        Ok(())
    })
}

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
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"240\" height=\"160\"><rect width=\"240\" height=\"160\" fill=\"{colour}\"/><text x=\"20\" y=\"90\" font-size=\"28\" fill=\"white\">{name}</text></svg>\n"
        );
        std::fs::write(gallery.join(format!("{name}.svg")), svg).map_err(|e| e.to_string())?;
        let path = CanonicalPath::parse(format!("/protected/gallery/{name}.svg").as_bytes())
            .map_err(|r| r.to_string())?;
        let grant = UrlGrant::new(path, now.plus(ttl));
        let url = signed_url::sign(&grant, keys.signing_key()).map_err(|e| e.to_string())?;
        last_url.clone_from(&url);
        clean.push_str(&format!(
            "<figure><img src=\"{name}.svg\" alt=\"{name}\"><figcaption>{name}</figcaption></figure>\n"
        ));
        figures.push_str(&format!(
            "<figure><img src=\"{}\" alt=\"{name}\"><figcaption>{name}</figcaption></figure>\n",
            html_escape(&url)
        ));
    }
    // The last image's URL with one signature character changed: keyhole denies it.
    let mut broken = last_url;
    let flipped = if broken.ends_with('A') { 'E' } else { 'A' };
    broken.pop();
    broken.push(flipped);
    figures.push_str(&format!(
        "<figure><img src=\"{}\" alt=\"tampered\"><figcaption>tampered signature: denied</figcaption></figure>\n",
        html_escape(&broken)
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
        "Every image below /protected/ is served by nginx only after keyhole answered 204 for its signed URL.",
        &format!(
            "<p><a href=\"{}\">Sign in with a cookie</a>: the same images from clean URLs.</p>\n{figures}",
            html_escape(&exchange)
        ),
    );
    std::fs::write(root.join("index.html"), public_page).map_err(|e| e.to_string())?;
    let protected_page = page(
        "keyhole demo: cookie gallery",
        "These images have clean URLs: keyhole allowed each one for the __Host-keyhole cookie the exchange set.",
        &clean,
    );
    std::fs::write(gallery.join("index.html"), protected_page).map_err(|e| e.to_string())
}

fn page(title: &str, intro: &str, body: &str) -> String {
    format!(
        "<!doctype html>\n<html><head><meta charset=\"utf-8\"><meta name=\"referrer\" content=\"no-referrer\"><title>{title}</title>\n<style>body{{font-family:sans-serif}} figure{{display:inline-block;margin:8px}}</style></head>\n<body><h1>{title}</h1>\n<p>{intro}</p>\n{body}</body></html>\n"
    )
}

fn html_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('"', "&quot;")
        .replace('<', "&lt;")
}
