//! `keyhole demo`: nginx (a child process, with the shipped files) and keyhole (in
//! this process) on localhost, serving a generated gallery whose `<img>` tags carry
//! freshly signed URLs, plus one deliberately broken link. Ctrl-C stops both.

use std::sync::Arc;

use keyhole::authorize::Authorizer;
use keyhole::clock::SystemClock;
use keyhole::config::{Listen, LogFormat};
use keyhole::keys::{Key, KeyId, KeyRing, Secret};
use keyhole::server::{self, Limits, Listener, State};
use keyhole::verify::Policy;
use keyhole_support::gallery::write_gallery;
use keyhole_support::nginx::{self, Layout, Stack, Upstream};

use super::values::{self, Span};
use super::{CliError, Printed};

/// Options of `keyhole demo`.
#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// Port for nginx on 127.0.0.1.
    #[arg(long, default_value_t = 8080)]
    port: u16,
    /// Lifetime of the gallery's signed URLs.
    #[arg(long, default_value = "1h", value_parser = values::span)]
    ttl: Span,
}

/// Runs the demo until Ctrl-C; `say` prints each line of its banner as it is ready.
pub fn run(args: &DemoArgs, say: &mut dyn FnMut(&str)) -> Result<Printed, CliError> {
    keyhole::app::init_tracing("info", LogFormat::Text);
    run_inner(args, say).map_err(CliError::Demo)?;
    Ok(Printed::line("stopped nginx and keyhole"))
}

fn run_inner(args: &DemoArgs, say: &mut dyn FnMut(&str)) -> Result<(), String> {
    nginx::find_nginx().map_err(|e| e.to_string())?;
    let dir = keyhole_support::scratch_dir("keyhole-demo-").map_err(|e| e.to_string())?;
    let key = Key::new(
        KeyId::parse("demo").map_err(|e| e.to_string())?,
        Secret::generate().map_err(|e| e.to_string())?,
    )
    .map_err(|e| e.to_string())?;
    let keys = Arc::new(KeyRing::new(vec![key]).map_err(|e| e.to_string())?);
    let root = dir.path().join("www");
    write_gallery(&root, &keys, args.ttl.seconds)?;

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    runtime.block_on(async {
        let loopback = Listen::Tcp(([127, 0, 0, 1], 0).into());
        let listener = Listener::bind(&loopback, 0o660)
            .await
            .map_err(|e| e.to_string())?;
        let keyhole_addr = listener.local_addr();
        let upstream = Upstream::Tcp(
            keyhole_addr
                .parse()
                .map_err(|_| "keyhole address".to_string())?,
        );
        let state = State::new(
            Authorizer::new(keys, Policy::default()),
            Arc::new(SystemClock),
        );
        let limits = Limits {
            header_timeout: std::time::Duration::from_secs(10),
            max_connections: 1024,
            max_head_bytes: keyhole::config::DEFAULT_MAX_HEAD_BYTES,
            workers: 1,
        };
        let server = tokio::spawn(server::serve(
            listener,
            state,
            limits,
            keyhole::app::shutdown_signal(),
        ));
        let layout = Layout {
            dir: dir.path().join("nginx"),
            port: args.port,
            keyhole: upstream,
            more_keyholes: Vec::new(),
            root: root.clone(),
            decision_cache: false,
            error_log_level: None,
        };
        let port = args.port;
        let stack = Stack::start(layout, "")
            .map_err(|e| format!("{e}\n(is port {port} free? choose another with --port)"))?;
        say(&format!(
            "keyhole  listening on {keyhole_addr} (key id `demo`, generated for this run)"
        ));
        say(&format!(
            "nginx    pid {} serving {}",
            stack.pid(),
            root.display()
        ));
        say(&format!("logs     {}", stack.layout.access_log().display()));
        say("");
        say(&format!("open     http://127.0.0.1:{port}/"));
        say(&format!(
            concat!(
                "         the gallery's images carry signed URLs valid for {ttl}; ",
                "one link is broken on purpose"
            ),
            ttl = args.ttl
        ));
        say("stop     Ctrl-C");
        let _ = server.await;
        drop(stack);
        Ok(())
    })
}
