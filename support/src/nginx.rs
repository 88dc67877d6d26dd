//! The shipped nginx files, embedded, and an nginx child process that runs them.
//!
//! `keyhole demo` and the end-to-end tests both start nginx through [`Stack`], with
//! the files from `nginx/` changed only in ports and paths ([`render`] checks that
//! each substitution found its anchor, so an edit to a shipped file cannot silently
//! stop the tests from using it).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use std::net::SocketAddr;

/// `nginx/keyhole-upstream.conf`, as shipped.
pub const UPSTREAM_CONF: &str = include_str!("../../nginx/keyhole-upstream.conf");
/// `nginx/keyhole.conf`, as shipped.
pub const AUTH_CONF: &str = include_str!("../../nginx/keyhole.conf");
/// `nginx/keyhole-log.conf`, as shipped.
pub const LOG_CONF: &str = include_str!("../../nginx/keyhole-log.conf");
/// `nginx/example-site.conf`, as shipped.
pub const SITE_CONF: &str = include_str!("../../nginx/example-site.conf");
/// `nginx/keyhole-cached.conf`, as shipped (the optional decision cache).
pub const CACHED_AUTH_CONF: &str = include_str!("../../nginx/keyhole-cached.conf");
/// `nginx/keyhole-cache-path.conf`, as shipped.
pub const CACHE_PATH_CONF: &str = include_str!("../../nginx/keyhole-cache-path.conf");
/// `nginx/keyhole-module.conf`, as shipped (with ngx_http_keyhole_module).
pub const MODULE_AUTH_CONF: &str = include_str!("../../nginx/keyhole-module.conf");

/// Why nginx could not be prepared or started.
#[derive(Debug, thiserror::Error)]
pub enum NginxError {
    #[error(
        "nginx was not found on PATH or in /usr/sbin; install it with \
         `sudo apt-get install -y nginx-light` (Debian/Ubuntu)"
    )]
    NotFound,
    #[error(
        "the shipped file {file} no longer contains `{anchor}`, which the test and demo \
         set-up replaces"
    )]
    MissingAnchor {
        file: &'static str,
        anchor: &'static str,
    },
    #[error("cannot write nginx files under {dir}: {source}")]
    Write {
        dir: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot start {nginx}: {source}")]
    Spawn {
        nginx: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "nginx did not start listening on 127.0.0.1:{port} within {seconds}s; its error log:\n{log}"
    )]
    NotListening {
        port: u16,
        seconds: u64,
        log: String,
    },
}

/// Where a keyhole instance listens, as nginx's `upstream` block names it (the
/// service's `KEYHOLE_LISTEN`, without depending on the service's crate).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Upstream {
    /// `server HOST:PORT;`
    Tcp(SocketAddr),
    /// `server unix:PATH;`
    Unix(PathBuf),
}

/// Where the rendered files and the served folder live.
#[derive(Clone, Debug)]
pub struct Layout {
    /// Folder for `nginx.conf`, the included files, logs, pid and temp folders.
    pub dir: PathBuf,
    /// Port nginx listens on (127.0.0.1).
    pub port: u16,
    /// Where keyhole listens.
    pub keyhole: Upstream,
    /// Further keyhole instances in the same upstream (several instances sharing a
    /// Redis store); usually empty.
    pub more_keyholes: Vec<Upstream>,
    /// The document root (`/protected/` lies below it).
    pub root: PathBuf,
    /// Use the optional decision cache (`keyhole-cached.conf`) instead of `keyhole.conf`.
    pub decision_cache: bool,
    /// A level for every `error_log … crit;` of the shipped files instead of `crit`
    /// (`Some("warn")`): tests use it to prove that a hostile run writes no credential
    /// to nginx's error log at the level operators commonly choose.
    pub error_log_level: Option<&'static str>,
}

/// ngx_http_keyhole_module in front of the sidecar: the built `.so`
/// (scripts/build-nginx-module) and the `http`-level directives (key file, sidecar).
#[derive(Clone, Debug)]
pub struct Module {
    /// The module's shared object.
    pub so: PathBuf,
    /// Directives for the `http` block (`keyhole_keys_file …; keyhole_sidecar on;`).
    pub http: String,
    /// Tests only: run nginx under libfaketime frozen at this time (`FAKETIME`
    /// syntax, `2027-01-15 08:00:00`), for vectors written for a fixed clock.
    pub faketime: Option<String>,
    /// Run a master process with one worker (`master_process on`): a reload
    /// (SIGHUP) needs one; the one-process mode stops serving after SIGHUP.
    pub master: bool,
}

impl Layout {
    /// The folder holding the included `keyhole*.conf` files.
    pub fn conf_dir(&self) -> PathBuf {
        self.dir.join("conf")
    }

    /// nginx's access log (written with the shipped `keyhole` log format).
    pub fn access_log(&self) -> PathBuf {
        self.dir.join("logs").join("keyhole-access.log")
    }

    /// nginx's main error log (start-up problems).
    pub fn error_log(&self) -> PathBuf {
        self.dir.join("logs").join("error.log")
    }

    /// The example site's error log (`error_log` in the shipped server and auth
    /// location).
    pub fn site_error_log(&self) -> PathBuf {
        self.dir.join("logs").join("keyhole-error.log")
    }
}

fn replace(
    text: &str,
    file: &'static str,
    anchor: &'static str,
    with: &str,
) -> Result<String, NginxError> {
    if !text.contains(anchor) {
        return Err(NginxError::MissingAnchor { file, anchor });
    }
    Ok(text.replace(anchor, with))
}

/// Writes `nginx.conf` and the shipped files (ports and paths replaced) under
/// `layout.dir`; `extra_http` is appended inside the `http` block (tests add
/// diagnostic servers there).
pub fn render(layout: &Layout, extra_http: &str) -> Result<PathBuf, NginxError> {
    let write_error = |source| NginxError::Write {
        dir: layout.dir.clone(),
        source,
    };
    let conf_dir = layout.conf_dir();
    for sub in [
        conf_dir.clone(),
        layout.dir.join("logs"),
        layout.dir.join("tmp"),
    ] {
        std::fs::create_dir_all(sub).map_err(write_error)?;
    }
    let servers: Vec<String> = std::iter::once(&layout.keyhole)
        .chain(&layout.more_keyholes)
        .map(|listen| match listen {
            Upstream::Tcp(addr) => format!("server {addr};"),
            Upstream::Unix(path) => format!("server unix:{};", path.display()),
        })
        .collect();
    let upstream = replace(
        UPSTREAM_CONF,
        "keyhole-upstream.conf",
        "server 127.0.0.1:9181;",
        &servers.join("\n    "),
    )?;
    // Every `error_log … crit;` of the shipped files, at the layout's level instead.
    let with_level = |text: &str, file: &'static str| match layout.error_log_level {
        Some(level) => replace(
            text,
            file,
            "keyhole-error.log crit;",
            &format!("keyhole-error.log {level};"),
        ),
        None => Ok(text.to_owned()),
    };
    let site_conf = with_level(SITE_CONF, "example-site.conf")?;
    let site_source = if layout.decision_cache {
        replace(
            &site_conf,
            "example-site.conf",
            "include /etc/nginx/keyhole/keyhole.conf;",
            "include /etc/nginx/keyhole/keyhole-cached.conf;",
        )?
    } else {
        site_conf
    };
    let cache_path = replace(
        CACHE_PATH_CONF,
        "keyhole-cache-path.conf",
        "/var/cache/nginx/keyhole",
        &layout.dir.join("cache").display().to_string(),
    )?;
    let mut site = replace(
        &site_source,
        "example-site.conf",
        "listen 8080;",
        &format!("listen 127.0.0.1:{};", layout.port),
    )?;
    site = replace(
        &site,
        "example-site.conf",
        "root /srv/keyhole/www;",
        &format!("root {};", layout.root.display()),
    )?;
    site = replace(
        &site,
        "example-site.conf",
        "/var/log/nginx/keyhole-access.log",
        &layout.access_log().display().to_string(),
    )?;
    let site_error_log = layout.site_error_log().display().to_string();
    let error_log = "/var/log/nginx/keyhole-error.log";
    let auth = with_level(AUTH_CONF, "keyhole.conf")?;
    let auth = replace(&auth, "keyhole.conf", error_log, &site_error_log)?;
    let cached_auth = with_level(CACHED_AUTH_CONF, "keyhole-cached.conf")?;
    let cached_auth = replace(
        &cached_auth,
        "keyhole-cached.conf",
        error_log,
        &site_error_log,
    )?;
    site = replace(
        &site,
        "example-site.conf",
        "/var/log/nginx/keyhole-error.log",
        &site_error_log,
    )?;

    site = replace(
        &site,
        "example-site.conf",
        "/etc/nginx/keyhole/",
        &format!("{}/", conf_dir.display()),
    )?;
    let files = [
        ("keyhole-upstream.conf", upstream.as_str()),
        ("keyhole.conf", auth.as_str()),
        ("keyhole-log.conf", LOG_CONF),
        ("example-site.conf", site.as_str()),
        ("keyhole-cached.conf", cached_auth.as_str()),
        ("keyhole-cache-path.conf", cache_path.as_str()),
    ];
    for (name, text) in files {
        std::fs::write(conf_dir.join(name), text).map_err(write_error)?;
    }
    let dir = layout.dir.display();
    let tmp = layout.dir.join("tmp");
    let tmp = tmp.display();
    let main = format!(
        "# Written by keyhole for a local nginx; the included files are the shipped ones.
daemon off;
master_process off;
worker_processes 1;
pid {dir}/nginx.pid;
error_log {error_log} info;
events {{ worker_connections 1024; }}
http {{
    default_type application/octet-stream;
    types {{ image/svg+xml svg; image/png png; text/html html; }}
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    access_log off;
    include {conf}/keyhole-log.conf;
    include {conf}/keyhole-upstream.conf;
{cache_include}
    include {conf}/example-site.conf;
{extra_http}
}}
",
        error_log = layout.error_log().display(),
        conf = conf_dir.display(),
        cache_include = if layout.decision_cache {
            format!(
                "    include {}/keyhole-cache-path.conf;",
                conf_dir.display()
            )
        } else {
            String::new()
        },
    );
    let path = layout.dir.join("nginx.conf");
    std::fs::write(&path, main).map_err(write_error)?;
    Ok(path)
}

/// [`render`], then what an operator changes to use the module: `load_module` at the
/// top of `nginx.conf`, the module's directives in `http`, `keyhole-module.conf`
/// included instead of `keyhole.conf`, and `keyhole on;` next to the protected
/// location's `auth_request`.
pub fn render_module(
    layout: &Layout,
    extra_http: &str,
    module: &Module,
) -> Result<PathBuf, NginxError> {
    let write_error = |source| NginxError::Write {
        dir: layout.dir.clone(),
        source,
    };
    let http = format!("{}\n{extra_http}", module.http);
    let conf = render(layout, &http)?;
    let conf_dir = layout.conf_dir();
    let auth = replace(
        MODULE_AUTH_CONF,
        "keyhole-module.conf",
        "/var/log/nginx/keyhole-error.log",
        &layout.site_error_log().display().to_string(),
    )?;
    let site_path = conf_dir.join("example-site.conf");
    let site = std::fs::read_to_string(&site_path).map_err(write_error)?;
    let site = replace(
        &site,
        "example-site.conf",
        "/keyhole.conf;",
        "/keyhole-module.conf;",
    )?;
    let site = replace(
        &site,
        "example-site.conf",
        "auth_request /_keyhole/auth;",
        "keyhole on;\n        auth_request /_keyhole/auth;",
    )?;
    std::fs::write(conf_dir.join("keyhole-module.conf"), auth).map_err(write_error)?;
    std::fs::write(&site_path, site).map_err(write_error)?;
    let main = std::fs::read_to_string(&conf).map_err(write_error)?;
    let mut main = format!("load_module {};\n{main}", module.so.display());
    if module.master {
        main = replace(
            &main,
            "nginx.conf",
            "master_process off;",
            "master_process on;",
        )?;
    }
    std::fs::write(&conf, main).map_err(write_error)?;
    Ok(conf)
}

/// Finds the nginx binary: `$PATH`, then `/usr/sbin/nginx`.
pub fn find_nginx() -> Result<PathBuf, NginxError> {
    let from_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("nginx"))
            .find(|candidate| candidate.is_file())
    });
    from_path
        .or_else(|| Some(PathBuf::from("/usr/sbin/nginx")).filter(|p| p.is_file()))
        .ok_or(NginxError::NotFound)
}

/// A running nginx child process; dropping it stops the process by its pid.
#[derive(Debug)]
pub struct Stack {
    child: Child,
    /// The layout it was started with.
    pub layout: Layout,
}

impl Stack {
    /// Renders the files and starts nginx in the foreground (one process, no
    /// master), then waits until it accepts connections.
    pub fn start(layout: Layout, extra_http: &str) -> Result<Stack, NginxError> {
        let conf = render(&layout, extra_http)?;
        Stack::run(layout, &conf, None)
    }

    /// [`Stack::start`] with ngx_http_keyhole_module loaded ([`render_module`]).
    pub fn start_module(
        layout: Layout,
        extra_http: &str,
        module: &Module,
    ) -> Result<Stack, NginxError> {
        let conf = render_module(&layout, extra_http, module)?;
        Stack::run(layout, &conf, module.faketime.as_deref())
    }

    /// Starts nginx on a rendered `nginx.conf`, under libfaketime when `faketime` is set.
    fn run(layout: Layout, conf: &Path, faketime: Option<&str>) -> Result<Stack, NginxError> {
        let nginx = find_nginx()?;
        let child = Command::new(&nginx)
            .arg("-p")
            .arg(&layout.dir)
            .arg("-c")
            .arg(conf)
            .envs(faketime_env(faketime))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|source| NginxError::Spawn {
                nginx: nginx.clone(),
                source,
            })?;
        let stack = Stack { child, layout };
        stack.wait_listening(Duration::from_secs(10))?;
        Ok(stack)
    }

    fn wait_listening(&self, limit: Duration) -> Result<(), NginxError> {
        let start = Instant::now();
        while start.elapsed() < limit {
            if std::net::TcpStream::connect(("127.0.0.1", self.layout.port)).is_ok() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Err(NginxError::NotListening {
            port: self.layout.port,
            seconds: limit.as_secs(),
            log: std::fs::read_to_string(self.layout.error_log()).unwrap_or_default(),
        })
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Re-reads the configuration and the files it names (SIGHUP; `nginx -s reload`
    /// sends the same signal to a master).
    pub fn reload(&self) -> Result<(), std::io::Error> {
        let status = Command::new("kill")
            .arg("-HUP")
            .arg(self.pid().to_string())
            .status()?;
        if status.success() {
            Ok(())
        } else {
            Err(std::io::Error::other("kill -HUP failed"))
        }
    }

    /// Stops nginx and waits for it: SIGTERM first (a master stops its workers),
    /// then SIGKILL after two seconds.
    pub fn stop(&mut self) {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.pid().to_string())
            .status();
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(2) {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// The document root.
    pub fn root(&self) -> &Path {
        &self.layout.root
    }
}

/// `LD_PRELOAD` and `FAKETIME` for libfaketime (Debian's `faketime` package).
fn faketime_env(at: Option<&str>) -> Vec<(String, String)> {
    let Some(at) = at else {
        return Vec::new();
    };
    let lib = ["x86_64-linux-gnu", "aarch64-linux-gnu"]
        .iter()
        .map(|arch| format!("/usr/lib/{arch}/faketime/libfaketime.so.1"))
        .find(|path| Path::new(path).is_file())
        .unwrap_or_default();
    vec![
        ("LD_PRELOAD".to_owned(), lib),
        ("FAKETIME".to_owned(), at.to_owned()),
    ]
}

impl Drop for Stack {
    fn drop(&mut self) {
        self.stop();
    }
}
