#!/usr/bin/env python3
"""keyhole's load harness: every mode side by side in one run, over loopback, with wrk.

Starts (all on 127.0.0.1, free ports, stopped by pid at the end, pass or fail):
  - a front nginx with one server block per mode, all serving the same 500 files;
  - two separate no-op nginx servers (`return 204`, 1 worker and one per CPU) used as
    auth upstreams with the keepalive settings of keyhole-upstream.conf;
  - keyhole (release build) on TCP and on a Unix socket with its default threads, and
    on TCP with one thread per CPU.
Each mode is driven by wrk with a Lua script that rotates over 500 distinct URLs.

Usage: bench/run.py [--duration 10] [--connections 64] [--threads 1] [--files 500]
Prints a Markdown table (requests/s, p50, p99, ratio to the no-auth baseline) and
keyhole's peak RSS under 256 connections.
"""

import argparse
import base64
import hashlib
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KEY_LINE = "k1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8"
# The Ed25519 mode (issue 15): keyhole holds only the public line of this seed; the URLs
# are signed with the seed line. The seed is the test vectors' (bytes 0x00..0x1f).
ED25519_SEED_LINE = "ed1:ed25519-seed:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8"
ED25519_PUBLIC_LINE = "ed1:ed25519:A6EHv_POEL4dcN0Y50vAmWfk1jCbpQ1fHdyGZBJVMbg"
KEY_B64 = KEY_LINE.split(":", 1)[1]
SECURE_LINK_SECRET = "bench-secret"
NJS_MODULE = "/usr/lib/nginx/modules/ngx_http_js_module.so"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, timeout=10):
    end = time.time() + timeout
    while time.time() < end:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"nothing listening on {port}")


def wait_unix(path, timeout=10):
    end = time.time() + timeout
    while time.time() < end:
        if os.path.exists(path):
            return
        time.sleep(0.05)
    raise SystemExit(f"no socket at {path}")


def find_nginx():
    for candidate in [shutil.which("nginx"), "/usr/sbin/nginx"]:
        if candidate and os.path.exists(candidate):
            return candidate
    raise SystemExit("nginx not found: sudo apt-get install -y nginx-light")


NJS_SCRIPT = r"""
// A hand-written HMAC-SHA256 check of keyhole's v1 format (path mode, default fields
// only): what a team would write instead of a sidecar. Not security-equivalent to
// keyhole (no canonical-path rules), only a cost baseline.
var crypto = require('crypto');
var KEY = Buffer.from('%KEY%', 'base64url');
function check(r) {
    var uri = r.variables.request_uri;
    var q = uri.indexOf('?');
    if (q < 0) { r.return(403); return; }
    var path = decodeURIComponent(uri.slice(0, q));
    var params = {};
    uri.slice(q + 1).split('&').forEach(function (item) {
        var i = item.indexOf('=');
        params[item.slice(0, i)] = item.slice(i + 1);
    });
    if (!params.kh_exp || Number(params.kh_exp) < Date.now() / 1000) { r.return(403); return; }
    var s = 'keyhole-url-v1\nkid:' + params.kh_kid + '\npath:' + path + '\nexp:' + params.kh_exp +
        '\nnbf:\nip:\nmethods:GET,HEAD\nbind-query:0\nquery:';
    var mac = crypto.createHmac('sha256', KEY).update(s).digest('base64url');
    r.return(mac === params.kh_sig ? 204 : 403);
}
export default { check };
"""

WRK_LUA = r"""
local urls = {}
local i = 0
init = function(args)
  for line in io.lines(args[1]) do urls[#urls + 1] = line end
end
request = function()
  i = i % #urls + 1
  return wrk.format("GET", urls[i])
end
"""


def noop_name(workers):
    return f"auth_request, no-op nginx upstream, {workers} worker{'s' if workers > 1 else ''} (TCP, keepalive)"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=int, default=10, help="seconds per mode and round")
    parser.add_argument("--rounds", type=int, default=3,
                        help="rounds over all modes, interleaved so that background noise hits every mode alike; "
                             "the table shows each mode's median round")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--threads", type=int, default=1, help="wrk threads")
    parser.add_argument("--files", type=int, default=500)
    parser.add_argument("--nginx-workers", type=int, default=1)
    parser.add_argument(
        "--only",
        help="mode names (a part of a name is enough), separated by commas, or by | when "
        "a name itself holds a comma: --only 'no-op nginx upstream|keyhole, signed URL, TCP'",
    )
    parser.add_argument("--no-module", action="store_true",
                        help="skip the ngx_http_keyhole_module row (which builds it with scripts/build-nginx-module)")
    parser.add_argument("--keyhole-threads", type=int, default=0,
                        help="KEYHOLE_WORKER_THREADS for keyhole (0: its default, one per CPU less one, at least one)")
    args = parser.parse_args()
    for tool in ["wrk"]:
        if not shutil.which(tool):
            raise SystemExit(f"{tool} not found: sudo apt-get install -y wrk")
    has_njs = os.path.exists(NJS_MODULE)
    if not has_njs:
        print("note: njs module missing (sudo apt-get install -y libnginx-mod-http-js); skipping the njs row", file=sys.stderr)

    subprocess.run(["cargo", "build", "--release", "--locked", "--quiet"], cwd=ROOT, check=True)
    keyhole_bin = os.path.join(ROOT, "target", "release", "keyhole")
    nginx = find_nginx()
    work = tempfile.mkdtemp(prefix="keyhole-bench-")
    # nginx workers run as an unprivileged user when started as root.
    os.chmod(work, 0o755)
    procs = []

    def start(cmd, env=None, log=None):
        out = open(log, "w") if log else subprocess.DEVNULL
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=out)
        procs.append(proc)
        return proc

    try:
        www = os.path.join(work, "www", "protected", "f")
        os.makedirs(www)
        body = os.urandom(1024)
        for n in range(args.files):
            with open(os.path.join(www, f"img-{n}.bin"), "wb") as f:
                f.write(body)

        # JWT keys: HS256 inline, ES256 as a JWKS file (from an openssl key).
        ec_pem = os.path.join(work, "ec.pem")
        subprocess.run(["openssl", "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
                        "-out", ec_pem], check=True, capture_output=True)
        der = subprocess.run(["openssl", "pkey", "-in", ec_pem, "-pubout", "-outform", "DER"],
                             check=True, capture_output=True).stdout
        b64 = lambda raw: base64.urlsafe_b64encode(raw).decode().rstrip("=")
        jwks = os.path.join(work, "jwks.json")
        with open(jwks, "w") as f:
            f.write('{"keys":[{"kty":"EC","crv":"P-256","x":"%s","y":"%s","kid":"e1","alg":"ES256"}]}'
                    % (b64(der[-64:-32]), b64(der[-32:])))

        # keyhole: TCP and Unix socket.
        kh_port = free_port()
        kh_sock = os.path.join(work, "keyhole.sock")
        base_env = {"PATH": os.environ.get("PATH", ""), "KEYHOLE_KEYS": f"{KEY_LINE},{ED25519_PUBLIC_LINE}",
                    "KEYHOLE_LOG": "warn",
                    "KEYHOLE_ADMIN_LISTEN": "off", "KEYHOLE_SOCKET_MODE": "0666",
                    "KEYHOLE_JWT_KEYS": f"j1:HS256:{KEY_B64}", "KEYHOLE_JWKS_FILE": jwks,
                    "KEYHOLE_JWT_MAX_LIFETIME": "1h"}
        if args.keyhole_threads:
            base_env["KEYHOLE_WORKER_THREADS"] = str(args.keyhole_threads)
        kh_tcp = start([keyhole_bin, "serve"], dict(base_env, KEYHOLE_LISTEN=f"127.0.0.1:{kh_port}"), os.path.join(work, "keyhole-tcp.log"))
        kh_unix = start([keyhole_bin, "serve"], dict(base_env, KEYHOLE_LISTEN=f"unix:{kh_sock}"), os.path.join(work, "keyhole-unix.log"))
        # The same over TCP with one worker thread per CPU, side by side with the default
        # (one per CPU less one, at least one), as the no-op upstream runs with one
        # worker and with one per CPU.
        kh_cpus_port = free_port()
        kh_cpus = start([keyhole_bin, "serve"], dict(base_env, KEYHOLE_LISTEN=f"127.0.0.1:{kh_cpus_port}",
                                                     KEYHOLE_WORKER_THREADS=str(os.cpu_count() or 1)),
                        os.path.join(work, "keyhole-cpus.log"))
        wait_port(kh_cpus_port)
        wait_port(kh_port)
        wait_unix(kh_sock)

        # The no-op upstreams: their own nginx processes, like a sidecar. One with a
        # single worker, one with a worker per CPU (as many as keyhole's runtime
        # threads): the ratios are taken against the faster of the two.
        noop_ports = {}
        noop_procs = {}
        for workers in sorted({1, os.cpu_count() or 1}):
            noop_port = free_port()
            noop_dir = os.path.join(work, f"noop-{workers}")
            os.makedirs(os.path.join(noop_dir, "logs"))
            with open(os.path.join(noop_dir, "nginx.conf"), "w") as f:
                f.write(f"""daemon off; master_process on; worker_processes {workers}; pid {noop_dir}/nginx.pid;
error_log {noop_dir}/logs/error.log warn;
events {{ worker_connections 4096; }}
http {{ access_log off; keepalive_requests 100000;
  server {{ listen 127.0.0.1:{noop_port}; location / {{ return 204; }} }} }}
""")
            noop_procs[workers] = start([nginx, "-p", noop_dir, "-c", os.path.join(noop_dir, "nginx.conf")])
            wait_port(noop_port)
            noop_ports[workers] = noop_port

        # The front nginx: one server block per mode.
        front = os.path.join(work, "front")
        os.makedirs(os.path.join(front, "logs"))
        with open(os.path.join(ROOT, "nginx", "keyhole.conf")) as f:
            auth_conf = f.read()
        with open(os.path.join(front, "keyhole.conf"), "w") as f:
            f.write(auth_conf)
        with open(os.path.join(front, "keyhole-unix.conf"), "w") as f:
            f.write(auth_conf.replace("http://keyhole/auth", "http://keyhole_unix/auth"))
        with open(os.path.join(front, "keyhole-cpus.conf"), "w") as f:
            f.write(auth_conf.replace("http://keyhole/auth", "http://keyhole_cpus/auth"))
        with open(os.path.join(ROOT, "nginx", "keyhole-cached.conf")) as f:
            cached_conf = f.read()
        with open(os.path.join(front, "keyhole-cached.conf"), "w") as f:
            f.write(cached_conf)
        with open(os.path.join(ROOT, "nginx", "keyhole-cache-path.conf")) as f:
            cache_path = f.read().replace("/var/cache/nginx/keyhole", os.path.join(front, "cache"))
        with open(os.path.join(front, "bench.js"), "w") as f:
            f.write(NJS_SCRIPT.replace("%KEY%", KEY_B64))
        with open(os.path.join(ROOT, "nginx", "keyhole-upstream.conf")) as f:
            upstream = f.read().replace("server 127.0.0.1:9181;", f"server 127.0.0.1:{kh_port};")
        upstream_unix = upstream.replace("upstream keyhole", "upstream keyhole_unix").replace(
            f"server 127.0.0.1:{kh_port};", f"server unix:{kh_sock};")
        upstream_unix += upstream.replace("upstream keyhole", "upstream keyhole_cpus").replace(
            f"server 127.0.0.1:{kh_port};", f"server 127.0.0.1:{kh_cpus_port};")
        root = os.path.join(work, "www")
        modes = {}

        def server(name, body_conf):
            port = free_port()
            modes[name] = port
            return f"""  server {{ listen 127.0.0.1:{port}; root {root}; access_log off; log_not_found off;
{body_conf}
  }}
"""
        proxy_headers = """proxy_http_version 1.1; proxy_set_header Connection "";
      proxy_pass_request_body off; proxy_pass_request_headers off; proxy_set_header Content-Length "";
      proxy_set_header X-Original-URI $request_uri; proxy_set_header X-Original-Method $request_method;
      proxy_set_header X-Real-IP $remote_addr;"""
        servers = ""
        servers += server("nginx static, no auth", "    location /protected/ { }")
        servers += server("nginx secure_link (MD5, in process)", f"""    location /protected/ {{
      secure_link $arg_md5,$arg_expires; secure_link_md5 "$secure_link_expires$uri {SECURE_LINK_SECRET}";
      if ($secure_link = "") {{ return 403; }} if ($secure_link = "0") {{ return 410; }} }}""")
        servers += server("auth_request, internal return 204", """    location = /_auth { internal; return 204; }
    location /protected/ { auth_request /_auth; }""")
        noop_upstreams = ""
        for workers, noop_port in noop_ports.items():
            # The same keepalive settings as keyhole's upstream (keyhole-upstream.conf).
            noop_upstreams += upstream.replace("upstream keyhole", f"upstream noop{workers}").replace(
                f"server 127.0.0.1:{kh_port};", f"server 127.0.0.1:{noop_port};")
            servers += server(noop_name(workers), f"""    location = /_auth {{ internal; proxy_pass http://noop{workers}/; {proxy_headers} }}
    location /protected/ {{ auth_request /_auth; }}""")
        if has_njs:
            servers += server("auth_request, njs HMAC-SHA256", """    location = /_auth { internal; js_content bench.check; }
    location /protected/ { auth_request /_auth; }""")
        servers += server("keyhole, signed URL, TCP", f"""    include {front}/keyhole.conf;
    location /protected/ {{ auth_request /_keyhole/auth; }}""")
        servers += server("keyhole, signed URL, Unix socket", f"""    include {front}/keyhole-unix.conf;
    location /protected/ {{ auth_request /_keyhole/auth; }}""")
        servers += server("keyhole, signed URL, TCP, a thread per CPU", f"""    include {front}/keyhole-cpus.conf;
    location /protected/ {{ auth_request /_keyhole/auth; }}""")
        servers += server("keyhole, signed URL, TCP, nginx decision cache", f"""    include {front}/keyhole-cached.conf;
    location /protected/ {{ auth_request /_keyhole/auth; }}""")
        # ngx_http_keyhole_module: signed URLs decided inside nginx (docs/nginx-module.md).
        module_so = None
        if not args.no_module:
            built = subprocess.run([os.path.join(ROOT, "scripts", "build-nginx-module")],
                                   capture_output=True, text=True)
            if built.returncode == 0:
                module_so = built.stdout.strip().splitlines()[-1]
            else:
                print("note: scripts/build-nginx-module failed; skipping the module row:\n" + built.stderr[-2000:],
                      file=sys.stderr)
        if module_so:
            module_keys = os.path.join(work, "module.keys")
            with open(module_keys, "w") as f:
                f.write(KEY_LINE + "\n")
            servers += server("keyhole module, signed URL (in process)", f"""    keyhole_keys_file {module_keys};
    location /protected/ {{ keyhole on; }}""")
            # HMAC JWTs without a use limit, decided in nginx (keyhole_jwt_keys_file).
            module_jwt_keys = os.path.join(work, "module-jwt.keys")
            with open(module_jwt_keys, "w") as f:
                f.write(f"j1:HS256:{KEY_B64}\n")
            servers += server("keyhole module, JWT HS256 (in process)", f"""    keyhole_keys_file {module_keys};
    keyhole_jwt_keys_file {module_jwt_keys}; keyhole_jwt_max_lifetime 1h;
    location /protected/ {{ keyhole on; }}""")
        load_njs = f"load_module {NJS_MODULE};" if has_njs else ""
        if module_so:
            load_njs += f"\nload_module {module_so};"
        js_import = f"js_import bench from {front}/bench.js;" if has_njs else ""
        with open(os.path.join(front, "nginx.conf"), "w") as f:
            f.write(f"""{load_njs}
daemon off; master_process on; worker_processes {args.nginx_workers}; pid {front}/nginx.pid;
error_log {front}/logs/error.log warn;
events {{ worker_connections 4096; }}
http {{ access_log off; keepalive_requests 100000; {js_import}
{noop_upstreams}
{upstream}
{upstream_unix}
{cache_path}
{servers}
}}
""")
        start([nginx, "-p", front, "-c", os.path.join(front, "nginx.conf")])
        for port in modes.values():
            wait_port(port)

        # URL lists: 500 distinct files, each URL signed for an hour.
        exp = int(time.time()) + 3600
        paths = [f"/protected/f/img-{n}.bin" for n in range(args.files)]
        lists = {}
        plain = os.path.join(work, "plain.txt")
        with open(plain, "w") as f:
            f.write("\n".join(paths) + "\n")
        secure = os.path.join(work, "secure_link.txt")
        with open(secure, "w") as f:
            for p in paths:
                digest = hashlib.md5(f"{exp}{p} {SECURE_LINK_SECRET}".encode()).digest()
                md5 = base64.urlsafe_b64encode(digest).decode().rstrip("=")
                f.write(f"{p}?md5={md5}&expires={exp}\n")
        signed = os.path.join(work, "signed.txt")
        urls = each_path(keyhole_bin, ["sign", "--ttl", "1h"], paths, dict(base_env))
        with open(signed, "w") as f:
            f.write(urls)
        # The same files signed with the Ed25519 seed, decided by the same keyhole (which
        # holds the public line only), side by side with the HMAC mode.
        ed_path = os.path.join(work, "signed-ed25519.txt")
        urls = each_path(keyhole_bin, ["sign", "--ttl", "1h"], paths,
                         dict(base_env, KEYHOLE_KEYS=ED25519_SEED_LINE))
        with open(ed_path, "w") as f:
            f.write(urls)
        modes["keyhole, signed URL Ed25519, TCP"] = modes["keyhole, signed URL, TCP"]
        lists["keyhole, signed URL Ed25519, TCP"] = ed_path
        for alg, extra in [("HS256", []), ("ES256", ["--key-file", ec_pem, "--kid", "e1", "--alg", "ES256"])]:
            path = os.path.join(work, f"jwt-{alg}.txt")
            out = each_path(keyhole_bin, ["mint", "--ttl", "1h", *extra], paths, dict(base_env))
            with open(path, "w") as f:
                f.write(out)
            name = f"keyhole, JWT {alg}, TCP"
            modes[name] = modes["keyhole, signed URL, TCP"]
            lists[name] = path
            if alg == "HS256" and "keyhole module, JWT HS256 (in process)" in modes:
                lists["keyhole module, JWT HS256 (in process)"] = path
        for name in modes:
            if name in lists:
                continue
            if name.startswith("nginx static") or name.startswith("auth_request, internal") or "no-op" in name:
                lists[name] = plain
            elif "secure_link" in name:
                lists[name] = secure
            else:
                lists[name] = signed
        lua = os.path.join(work, "rotate.lua")
        with open(lua, "w") as f:
            f.write(WRK_LUA)

        # Sanity: every mode answers 200 for its first URL and 403 for a tampered one.
        for name, port in modes.items():
            with open(lists[name]) as f:
                first = f.readline().strip()
            status = http_status(port, first)
            if status != 200:
                raise SystemExit(f"{name}: expected 200 for {first}, got {status}")
            if lists[name] in (signed, ed_path):
                tampered = first[:-1] + ("A" if first[-1] != "A" else "B")
                if http_status(port, tampered) != 403:
                    raise SystemExit(f"{name}: a tampered URL was not denied")

        wanted = args.only.split("|" if args.only and "|" in args.only else ",") if args.only else []
        selected = [m for m in modes if not wanted or any(o.strip() in m for o in wanted)]
        rounds = {name: [] for name in selected}

        def auth_pids(name):
            # The processes that answer a mode's auth subrequests, for their CPU time.
            if name.startswith("keyhole module"):
                return []  # no auth upstream: nginx decides
            if name.startswith("keyhole"):
                return [kh_unix.pid if "Unix" in name else kh_cpus.pid if "a thread per CPU" in name else kh_tcp.pid]
            for workers, proc in noop_procs.items():
                if name == noop_name(workers):
                    return [proc.pid] + children(proc.pid)
            return []

        for round_number in range(args.rounds):
            for name in selected:
                pids = auth_pids(name)
                before = cpu_seconds(pids)
                run = wrk(modes[name], lists[name], lua, args)
                spent = cpu_seconds(pids) - before
                # CPU time of the auth upstream per request, in microseconds.
                run = run + ((spent / (run[0] * args.duration) * 1e6) if pids else None,)
                rounds[name].append(run)
                print(f"  round {round_number + 1}: {name}: {run[0]:.0f} req/s", file=sys.stderr)
        # Each mode's median round (by requests/s), with that round's latencies.
        results = {name: sorted(runs)[len(runs) // 2] for name, runs in rounds.items()}

        # keyhole's peak memory with 256 connections.
        peak_name = "keyhole, signed URL, TCP"
        wrk(modes[peak_name], signed, lua, argparse.Namespace(duration=5, connections=256, threads=args.threads))
        # VmHWM is the process's peak resident set since start: every round above included.
        peak = vm_hwm(kh_tcp.pid)

        print()
        print(f"wrk -t{args.threads} -c{args.connections} -d{args.duration}s x {args.rounds} interleaved rounds "
              f"(median shown), {args.files} rotating URLs, nginx {args.nginx_workers} worker(s), "
              f"{os.cpu_count()} CPUs; command: bench/run.py --duration {args.duration} --rounds {args.rounds} "
              f"--connections {args.connections} --threads {args.threads}")
        print()
        print("| mode | requests/s | p50 | p99 | ratio to no auth | auth upstream CPU per request |")
        print("|---|---:|---:|---:|---:|---:|")
        base = results.get("nginx static, no auth", (None,))[0]
        for name in selected:
            rps, p50, p99, cpu = results[name]
            ratio = f"{rps / base:.2f}" if base else "-"
            cpu = f"{cpu:.1f} µs" if cpu is not None else "-"
            print(f"| {name} | {rps:,.0f} | {p50} | {p99} | {ratio} | {cpu} |")
        noops = [results[n][0] for n in (noop_name(w) for w in noop_ports) if n in results]
        noop = max(noops) if noops else None
        tcp = results.get("keyhole, signed URL, TCP", (None,))[0]
        unix = results.get("keyhole, signed URL, Unix socket", (None,))[0]
        print()
        if noop and tcp:
            print(f"keyhole TCP / fastest no-op upstream TCP = {tcp / noop:.3f} (target >= 0.95)")
        # The same ratio inside each round (modes of one round run back to back, so a
        # machine that slows down for a while slows both sides of a round's ratio alike),
        # and keyhole's CPU per request against that round's faster no-op's.
        noop_names = [noop_name(w) for w in noop_ports if noop_name(w) in rounds]

        def spread(values):
            values = sorted(values)
            return f"median {values[len(values) // 2]:.3f} (min {values[0]:.3f}, max {values[-1]:.3f})"

        for tcp_name in ["keyhole, signed URL, TCP", "keyhole, signed URL, TCP, a thread per CPU"]:
            if not noop_names or tcp_name not in rounds:
                continue
            speed, cpu = [], []
            for r in range(args.rounds):
                fastest = max((rounds[n][r] for n in noop_names), key=lambda run: run[0])
                mine = rounds[tcp_name][r]
                speed.append(mine[0] / fastest[0])
                if mine[3] and fastest[3]:
                    cpu.append(mine[3] / fastest[3])
            print(f"per round, {tcp_name} / that round's faster no-op: {spread(speed)} (target >= 0.95)")
            if cpu:
                print(f"per round, {tcp_name}: CPU per request / that no-op's: {spread(cpu)} (target <= 1.1)")
        if noop and unix:
            print(f"keyhole Unix / fastest no-op upstream TCP = {unix / noop:.3f} (target >= 1.0)")
        ret = results.get("auth_request, internal return 204", (None,))[0]
        cached = results.get("keyhole, signed URL, TCP, nginx decision cache", (None,))[0]
        if ret and cached:
            print(f"keyhole with decision cache / internal return 204 = {cached / ret:.3f} (target >= 0.9)")
        print(f"keyhole peak RSS (VmHWM) after 256 connections: {peak / 1024:.1f} MiB (target <= 20 MiB)")
    finally:
        for proc in procs:
            try:
                proc.send_signal(signal.SIGTERM)
            except ProcessLookupError:
                pass
        for proc in procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
        shutil.rmtree(work, ignore_errors=True)


def http_status(port, target):
    with socket.create_connection(("127.0.0.1", port), 5) as s:
        s.sendall(f"GET {target} HTTP/1.1\r\nHost: b\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    return int(data.split(b" ", 2)[1])


def wrk(port, urls, lua, args):
    out = subprocess.run(
        ["wrk", f"-t{args.threads}", f"-c{args.connections}", f"-d{args.duration}s", "--latency",
         "-s", lua, f"http://127.0.0.1:{port}", "--", urls],
        check=True, capture_output=True, text=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p50 = re.search(r"^\s+50%\s+(\S+)", out, re.M).group(1)
    p99 = re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1)
    if re.search(r"Non-2xx or 3xx responses: (\d+)", out):
        raise SystemExit(f"non-2xx responses on port {port}:\n{out}")
    return rps, p50, p99


def children(pid):
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(c) for c in f.read().split()]
    except OSError:
        return []


def each_path(keyhole_bin, command, paths, env):
    """`keyhole COMMAND... PATH` for every path, four at a time; the lines it printed."""
    script = 'for p in "$@"; do "$0" %s "$p"; done' % " ".join(shlex.quote(a) for a in command)
    done = subprocess.run(["xargs", "-P", "4", "-n", "25", "sh", "-c", script, keyhole_bin],
                          input="\n".join(paths) + "\n", env=env, check=True, capture_output=True, text=True)
    return done.stdout


def cpu_seconds(pids):
    # User and system time of the processes (all their threads), from /proc.
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def vm_hwm(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


if __name__ == "__main__":
    # SIGTERM (and SIGINT) unwind through main's `finally`, which stops every server.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    main()
