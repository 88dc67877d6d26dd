#!/usr/bin/env python3
"""The cost of the shared store's topologies and of KEYHOLE_STORE_WAIT_REPLICAS,
side by side in one run.

Starts, on free loopback ports in a temporary folder: one redis-server with one
replica, the same with three redis-sentinel processes in front, and a Redis Cluster
of 3 masters and 3 replicas (redis-cli --cluster create). Then runs
`examples/store_bench.rs` (the real RedisStore, single-use records by concurrent
tasks) against each, with WAIT_REPLICAS 0 and 1, in alternating rounds, and prints
the median of each. Every server is stopped by its pid at the end.

    cargo build --release --example store_bench
    python3 bench/store.py [--seconds 5] [--rounds 3] [--concurrency 32]
"""

import argparse
import os
import socket
import statistics
import subprocess
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCH = os.path.join(ROOT, "target", "release", "examples", "store_bench")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cli(port, *args):
    return subprocess.run(["redis-cli", "-p", str(port), "--raw", *args],
                          capture_output=True, text=True, check=True).stdout


def wait(what, check, limit=30):
    start = time.time()
    while time.time() - start < limit:
        try:
            if check():
                return
        except subprocess.CalledProcessError:
            pass
        time.sleep(0.1)
    raise SystemExit(f"timed out waiting until {what}")


class Servers:
    def __init__(self, folder):
        self.folder, self.children = folder, []

    def redis(self, *extra):
        port = free_port()
        folder = tempfile.mkdtemp(dir=self.folder)
        self.children.append(subprocess.Popen(
            ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", folder, *extra],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        wait("redis answers", lambda: cli(port, "PING").strip() == "PONG")
        return port

    def sentinel(self, master):
        port = free_port()
        folder = tempfile.mkdtemp(dir=self.folder)
        config = os.path.join(folder, "sentinel.conf")
        with open(config, "w") as f:
            f.write(f"port {port}\nbind 127.0.0.1\ndir {folder}\n"
                    f"sentinel monitor bench 127.0.0.1 {master} 2\n")
        self.children.append(subprocess.Popen(["redis-sentinel", config],
                                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        wait("sentinel answers", lambda: cli(port, "PING").strip() == "PONG")
        return port

    def stop(self):
        for child in self.children:
            child.kill()
            child.wait()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="keyhole-store-bench-") as folder:
        servers = Servers(folder)
        try:
            master = servers.redis()
            replica = servers.redis("--replicaof", "127.0.0.1", str(master))
            wait("replica in sync", lambda: "master_link_status:up" in cli(replica, "INFO", "replication"))
            sentinels = [servers.sentinel(master) for _ in range(3)]
            wait("sentinels know the replica", lambda: all(
                "num-slaves\n1" in cli(s, "SENTINEL", "MASTER", "bench") for s in sentinels))
            nodes = [servers.redis("--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
                                   "--cluster-port", str(free_port()))
                     for _ in range(6)]
            subprocess.run(["redis-cli", "--cluster", "create", *[f"127.0.0.1:{p}" for p in nodes],
                            "--cluster-replicas", "1", "--cluster-yes"],
                           capture_output=True, check=True)
            wait("cluster ok", lambda: all("cluster_state:ok" in cli(p, "CLUSTER", "INFO") for p in nodes))
            # Replicas attached and synced before measuring WAIT.
            wait("cluster replicas in sync", lambda: sum(
                "master_link_status:up" in cli(p, "INFO", "replication") for p in nodes) == 3)
            single = f"redis://127.0.0.1:{master}"
            sentinel = "redis+sentinel://" + ",".join(f"127.0.0.1:{p}" for p in sentinels) + "/bench"
            cluster = f"redis+cluster://127.0.0.1:{nodes[0]},127.0.0.1:{nodes[1]}"
            configs = [
                ("single node (redis://)", single, 0),
                ("single node, WAIT_REPLICAS=1", single, 1),
                ("Sentinel (redis+sentinel://)", sentinel, 0),
                ("Sentinel, WAIT_REPLICAS=1", sentinel, 1),
                ("Cluster 3+3 (redis+cluster://)", cluster, 0),
                ("Cluster 3+3, WAIT_REPLICAS=1", cluster, 1),
            ]
            results = {name: [] for name, _, _ in configs}
            for _ in range(args.rounds):
                for name, url, wait_replicas in configs:
                    run = subprocess.run([BENCH, url, str(wait_replicas), str(args.seconds), str(args.concurrency)],
                                         capture_output=True, text=True)
                    if run.returncode != 0:
                        raise SystemExit(f"{name}: {run.stderr}")
                    line = run.stdout.strip()
                    parts = line.replace(",", "").split()
                    results[name].append((float(parts[0]), int(parts[3]), int(parts[6]), int(parts[8])))
            print(f"| store | uses/s | p50 µs | p99 µs | errors |  ({args.concurrency} concurrent, "
                  f"median of {args.rounds} x {args.seconds} s)")
            print("|---|---|---|---|---|")
            for name, _, _ in configs:
                runs = results[name]
                print(f"| {name} | {statistics.median(r[0] for r in runs):.0f} | "
                      f"{statistics.median(r[1] for r in runs):.0f} | {statistics.median(r[2] for r in runs):.0f} | "
                      f"{sum(r[3] for r in runs)} |")
        finally:
            servers.stop()


if __name__ == "__main__":
    main()
