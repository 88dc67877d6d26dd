//! Each reference signer is a package of its ecosystem, checked the way a user installs
//! it: the Python one with pip (its `keyhole-sign` console script), the Node one with
//! `npm pack` + `npm install` (`require`, `import`, its bin), the PHP one with Composer
//! (PSR-4 autoload, `vendor/bin/keyhole-sign`), the Go one by its module path from
//! another module; and the Python command line keeps its rules on argparse.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::KEY_LINE;
use common::signers::*;
use serde_json::Value;

/// The first signing vector: (path, exp, url), signed at the vectors' `now`.
fn first_vector() -> (String, u64, u64, String) {
    let vectors = load_vectors(&vectors_path());
    let case = &vectors["signing"][0];
    assert!(case["input"].as_object().unwrap().len() == 2, "{case}");
    (
        case["input"]["path"].as_str().unwrap().to_owned(),
        vectors["now"].as_u64().unwrap(),
        case["input"]["exp"].as_u64().unwrap(),
        case["url"].as_str().unwrap().to_owned(),
    )
}

/// Runs a packaging step; a failure shows its output and `hint`.
fn run_step(command: &mut Command, hint: &str) -> Output {
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("cannot run {command:?}: {e}; {hint}"));
    assert!(
        output.status.success(),
        "{command:?}: exit {}\n{}{}\n{hint}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// Runs `program [leading] --vectors` and `--cookie-vectors` on both vector files.
fn check_installed_self_checks(
    program: &Path,
    leading: &[&str],
    env: &[(&str, &Path)],
    what: &str,
) {
    for (mode, file) in [
        ("--vectors", vectors_path()),
        ("--cookie-vectors", cookie_vectors_path()),
    ] {
        let mut command = Command::new(program);
        command.args(leading).arg(mode).arg(&file);
        for (name, value) in env {
            command.env(name, value);
        }
        let output = command
            .output()
            .unwrap_or_else(|e| panic!("{what}: cannot run {}: {e}", program.display()));
        assert_self_check(&output, 10, &format!("{what} {mode}"));
    }
}

/// `pip install clients/python` (from a copy: pip builds in the source folder) gives
/// the `keyhole_sign` module, the `keyhole-sign` console script and `python3 -m
/// keyhole_sign`, all passing the vectors, and no runtime dependency outside extras.
#[test]
fn python_package_installs_with_pip_and_runs_as_keyhole_sign() {
    require_runtime(&PYTHON);
    let work = tempfile::Builder::new()
        .prefix("keyhole-pip-")
        .tempdir()
        .unwrap();
    let source = work.path().join("source");
    std::fs::create_dir(&source).unwrap();
    for entry in std::fs::read_dir(clients_dir().join("python")).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_file() {
            std::fs::copy(entry.path(), source.join(entry.file_name())).unwrap();
        }
    }
    let site = work.path().join("site");
    run_step(
        Command::new("python3")
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
            ])
            .args(["--no-deps", "--target"])
            .arg(&site)
            .arg(&source)
            .env("PIP_BREAK_SYSTEM_PACKAGES", "1"),
        "needs python3 with pip and access to PyPI for the build backend \
         (apt-get install python3-pip)",
    );
    let env = [("PYTHONPATH", site.as_path())];
    check_installed_self_checks(&site.join("bin/keyhole-sign"), &[], &env, "keyhole-sign");
    check_installed_self_checks(
        Path::new("python3"),
        &["-m", "keyhole_sign"],
        &env,
        "python3 -m keyhole_sign",
    );
    let (path, now, exp, url) = first_vector();
    let script = format!(
        "import importlib.metadata as m, keyhole_sign as k\n\
         print(k.__file__.startswith({site:?}))\n\
         print(m.version('keyhole-sign'), m.requires('keyhole-sign'))\n\
         print(k.sign_url({KEY_LINE:?}, {path:?}, exp={exp}, now={now}))",
        site = site.to_str().unwrap()
    );
    let output = run_step(
        Command::new("python3")
            .args(["-c", &script])
            .env("PYTHONPATH", &site)
            .current_dir(work.path()),
        "",
    );
    let lines: Vec<String> = String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    assert_eq!(lines[0], "True", "keyhole_sign imported from elsewhere");
    // Two optional extras (PyJWT for --jwt, cryptography for Ed25519 keys), no runtime
    // requirement.
    assert_eq!(
        lines[1],
        "0.1.0 ['PyJWT>=2; extra == \"jwt\"', 'cryptography>=3.1; extra == \"ed25519\"']"
    );
    assert_eq!(lines[2], url);
}

/// `npm pack` + `npm install` of the tarball give a package that `require` and `import`
/// resolve by name (with its types), and a `keyhole-sign` bin passing the vectors.
#[test]
fn node_package_packs_and_installs_with_npm() {
    require_runtime(&NODE);
    let work = tempfile::Builder::new()
        .prefix("keyhole-npm-")
        .tempdir()
        .unwrap();
    let hint = "needs npm (apt-get install npm)";
    let packed = run_step(
        Command::new("npm")
            .args(["pack", "--silent", "--pack-destination"])
            .arg(work.path())
            .current_dir(clients_dir().join("node")),
        hint,
    );
    let tarball = work
        .path()
        .join(String::from_utf8(packed.stdout).unwrap().trim());
    let app = work.path().join("app");
    run_step(
        Command::new("npm")
            .args([
                "install",
                "--silent",
                "--offline",
                "--no-audit",
                "--no-fund",
            ])
            .arg("--prefix")
            .arg(&app)
            .arg(&tarball),
        hint,
    );
    let installed = app.join("node_modules/keyhole-sign");
    let mut files: Vec<String> = std::fs::read_dir(&installed)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    files.sort();
    assert_eq!(
        files,
        ["README.md", "index.d.ts", "keyhole-sign.js", "package.json"]
    );
    check_installed_self_checks(
        &app.join("node_modules/.bin/keyhole-sign"),
        &[],
        &[],
        "npm bin keyhole-sign",
    );
    let (path, now, exp, url) = first_vector();
    let call = format!("signUrl({KEY_LINE:?}, {path:?}, {{ exp: {exp}, now: {now} }})");
    let scripts = [
        (
            "commonjs",
            format!("const {{ signUrl }} = require(\"keyhole-sign\"); console.log({call});"),
        ),
        (
            "module",
            format!("import {{ signUrl }} from \"keyhole-sign\"; console.log({call});"),
        ),
    ];
    for (kind, script) in scripts {
        let output = run_step(
            Command::new("node")
                .arg(format!("--input-type={kind}"))
                .args(["-e", &script])
                .current_dir(&app),
            "",
        );
        assert_eq!(
            String::from_utf8(output.stdout).unwrap().trim_end(),
            url,
            "{kind}"
        );
    }
    let manifest: Value =
        serde_json::from_str(&std::fs::read_to_string(installed.join("package.json")).unwrap())
            .unwrap();
    assert_eq!(manifest["exports"]["."]["types"], "./index.d.ts");
    assert_eq!(manifest["types"], "./index.d.ts");
}

/// Composer validates `composer.json`, installs the package from a path repository
/// (Packagist off: nothing is downloaded) into another project, autoloads
/// `Keyhole\KeyholeSign` and `Keyhole\KeyholeSignError` (PSR-4), and links
/// `vendor/bin/keyhole-sign`, which passes the vectors.
#[test]
fn php_package_installs_with_composer_and_autoloads_psr4() {
    require_runtime(&PHP);
    let hint = "needs Composer (apt-get install -y composer)";
    let work = tempfile::Builder::new()
        .prefix("keyhole-composer-")
        .tempdir()
        .unwrap();
    let composer = |args: &[&str]| {
        let mut command = Command::new("composer");
        command
            .args(args)
            .args(["--no-interaction", "--no-ansi"])
            .env("COMPOSER_HOME", work.path().join("home"))
            .env("COMPOSER_ALLOW_SUPERUSER", "1");
        command
    };
    run_step(
        composer(&["validate", "--strict"]).current_dir(clients_dir().join("php")),
        hint,
    );
    let app = work.path().join("app");
    std::fs::create_dir(&app).unwrap();
    let project = serde_json::json!({
        "repositories": [
            { "type": "path", "url": clients_dir().join("php"), "options": { "symlink": false } },
            { "packagist.org": false }
        ],
        "require": { "keyhole-auth/keyhole-sign": "*@dev" }
    });
    std::fs::write(app.join("composer.json"), project.to_string()).unwrap();
    run_step(
        composer(&["install", "--no-progress"]).current_dir(&app),
        hint,
    );
    check_installed_self_checks(
        &app.join("vendor/bin/keyhole-sign"),
        &[],
        &[],
        "vendor/bin/keyhole-sign",
    );
    let (path, now, exp, url) = first_vector();
    let script = format!(
        "require 'vendor/autoload.php';\n\
         echo \\Keyhole\\KeyholeSign::signUrl('{KEY_LINE}', '{path}', ['exp' => {exp}, 'now' => {now}]), \"\\n\";\n\
         try {{ \\Keyhole\\KeyholeSign::signUrl('{KEY_LINE}', '/a/../b', ['exp' => {exp}, 'now' => {now}]); }}\n\
         catch (\\Keyhole\\KeyholeSignError $e) {{ echo \"refused\\n\"; }}"
    );
    let output = run_step(
        Command::new("php").args(["-r", &script]).current_dir(&app),
        "",
    );
    assert_eq!(
        String::from_utf8(output.stdout).unwrap(),
        format!("{url}\nrefused\n")
    );
}

/// The Go package is importable by its module path: another module requires
/// `github.com/keyhole-auth/keyhole/clients/go` (a `replace` directive points at this
/// checkout, as the README says; nothing is downloaded), signs a vector with the
/// `keyhole` package and builds the `cmd/keyhole-sign` command, which passes the vectors.
#[test]
fn go_module_is_importable_by_its_path() {
    require_runtime(&GO);
    let module = "github.com/keyhole-auth/keyhole/clients/go";
    let app = tempfile::Builder::new()
        .prefix("keyhole-go-app-")
        .tempdir()
        .unwrap();
    std::fs::write(
        app.path().join("go.mod"),
        "module example.com/app\n\ngo 1.19\n",
    )
    .unwrap();
    run_step(
        go_cache(
            Command::new("go")
                .args(["mod", "edit"])
                .arg(format!("-require={module}@v0.0.0"))
                .arg(format!(
                    "-replace={module}={}",
                    clients_dir().join("go").display()
                ))
                .current_dir(app.path()),
        ),
        "",
    );
    let (path, now, exp, url) = first_vector();
    let program = format!(
        "package main\n\n\
         import (\n\t\"fmt\"\n\t\"time\"\n\n\t\"{module}/keyhole\"\n)\n\n\
         func main() {{\n\
         \turl, err := keyhole.SignURL({KEY_LINE:?}, {path:?}, keyhole.URLOptions{{\n\
         \t\tExpires: time.Unix({exp}, 0), Now: time.Unix({now}, 0)}})\n\
         \tif err != nil {{\n\t\tpanic(err)\n\t}}\n\
         \tfmt.Println(url)\n}}\n"
    );
    std::fs::write(app.path().join("main.go"), program).unwrap();
    let output = run_step(
        go_cache(
            Command::new("go")
                .args(["run", "-buildvcs=false", "."])
                .env("GOFLAGS", "-mod=mod")
                .env("GOPROXY", "off")
                .current_dir(app.path()),
        ),
        "",
    );
    assert_eq!(
        String::from_utf8(output.stdout).unwrap(),
        format!("{url}\n")
    );
    // The command builds from the other module by its package path too (its import of
    // the library goes through the module path).
    let binary = app.path().join("keyhole-sign");
    run_step(
        go_cache(
            Command::new("go")
                .args(["build", "-buildvcs=false", "-o"])
                .arg(&binary)
                .arg(format!("{module}/cmd/keyhole-sign"))
                .env("GOFLAGS", "-mod=mod")
                .env("GOPROXY", "off")
                .current_dir(app.path()),
        ),
        "",
    );
    check_installed_self_checks(&binary, &[], &[], "go build .../cmd/keyhole-sign");
}

/// The Python command line moved from a hand-written parser to argparse and kept its
/// rules: an option takes the next argument whatever it looks like (a session id or a
/// bound query may start with `-`), `--` is not the end of the options, options are
/// never abbreviated, a missing value is a refusal; argparse added only `--help`.
#[test]
fn python_command_line_keeps_its_rules_on_argparse() {
    let runner = Runner::prepare(&PYTHON);
    let now = ["--now", "1800000000"];
    let cookie = runner.sign(
        &[
            &[
                "--cookie",
                "--exp",
                "1800000600",
                "--sid",
                "-abc",
                "--value",
            ],
            &now[..],
            &["/u1/"],
        ]
        .concat(),
    );
    assert!(cookie.contains(".1800000600.-abc."), "{cookie}");
    let url = runner.sign(
        &[
            &now[..],
            &["--exp", "1800000600", "--query", "--a", "/a/b.jpg"],
        ]
        .concat(),
    );
    assert!(url.starts_with("/a/b.jpg?--a&kh_v=1&"), "{url}");
    for refused in [
        &["--exp", "1800000600", "--", "/a/b.jpg"][..],
        &["--ex", "1800000600", "/a/b.jpg"],
        &["--exp", "1800000600", "--window"],
        &["--exp", "1800000600", "/a/b.jpg", "/a/c.jpg"],
        &["--exp", "soon", "/a/b.jpg"],
    ] {
        runner.assert_refuses(&[&now[..], refused].concat());
    }
    let help = runner.run(&["--help"]);
    assert_eq!(help.status.code(), Some(0));
    assert!(
        String::from_utf8_lossy(&help.stdout).starts_with("usage: keyhole-sign [--exp N"),
        "{}",
        String::from_utf8_lossy(&help.stdout)
    );
}
