#!/usr/bin/env python3
"""Rootless benchmark: the N-node star of bench/star.py (the same network as
../shared/bench/gen.sh builds) brought up and down by vnet as root and by
vnet rootless (as uid 65534, in namespaces its holder keeps), one run each,
each in a fresh throwaway sandbox (../shared/bench/sandbox.sh: network +
mount + pid namespace), and the ratio rootless / root printed.

"Up" ends when every port of br0 forwards (vnet's `up` waits for that; the
ports' state is then read once from the lab's own sysfs, through nsenter
for the holder's namespaces). As root, "down" ends when the network is gone
(only `lo` left, /run/netns empty), as in bench/scale.py; rootless, when
`down` has returned, which is after the holder and its namespaces ended.
Rootless "up" includes starting the holder, as a user's first command does.

usage: bench/rootless.py [--sizes 300,1000]   (as root: it makes sandboxes)
"""
import argparse
import glob
import json
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
REF = os.environ.get("VNET_BENCH_REF", os.path.join(REPO, "..", "shared", "bench"))
VNET = os.environ.get("VNET_BIN", os.path.join(REPO, "target", "release", "vnet"))
SANDBOX = os.path.join(REF, "sandbox.sh")
USER = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
        "env", "HOME=/tmp/home", "XDG_RUNTIME_DIR=/tmp/xdg"]


def timed(cmd):
    t = time.monotonic()
    p = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    dt = time.monotonic() - t
    if p.returncode != 0:
        raise SystemExit(f"`{' '.join(cmd)}` failed: {p.stderr}")
    return dt


def ports_forwarding(n, prefix):
    """Whether every port of br0 forwards, read from sysfs (the holder's,
    through `prefix`, when rootless)."""
    out = subprocess.run(prefix + ["sh", "-c", "cat /sys/class/net/br0/brif/*/state"],
                         capture_output=True, text=True).stdout.split()
    return len(out) >= n and all(s == "3" for s in out)


def until(check, what):
    t = time.monotonic()
    while not check():
        if time.monotonic() - t > 120:
            raise SystemExit(f"{what} never happened")
        time.sleep(0.001)
    return time.monotonic() - t


def inside(mode, n, lab):
    """One measurement in this sandbox; prints one JSON line."""
    os.makedirs("/tmp/xdg", mode=0o700, exist_ok=True)
    os.chown("/tmp/xdg", 65534, 65534)
    os.chmod(lab, 0o644)
    prefix = USER if mode == "rootless" else []
    up = timed(prefix + [VNET, "up", "-q", lab])
    if mode == "rootless":
        pid = open("/tmp/xdg/vnet/holder.pid").read().strip()
        look = ["nsenter", "-t", pid, "-m", "-n", "-U", "--preserve-credentials"]
    else:
        look = []
    up += until(lambda: ports_forwarding(n, look), "forwarding")
    down = timed(prefix + [VNET, "down", "-q", f"star{n}"])
    if mode == "root":
        down += until(lambda: len(os.listdir("/sys/class/net")) == 1 and not os.listdir("/run/netns"),
                      "the network going")
    else:
        left = glob.glob("/tmp/xdg/vnet/holder.pid")
        if left:
            raise SystemExit("the holder outlived `down`")
    print(json.dumps({"up": up, "down": down}))


def one_run(mode, n, work):
    out = subprocess.run([SANDBOX, sys.executable, os.path.abspath(__file__), "--inside", mode, str(n),
                          f"{work}/star{n}.yaml"], text=True, capture_output=True)
    if out.returncode != 0:
        raise SystemExit(f"{mode} N={n} failed:\n{out.stdout}\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="300,1000")
    ap.add_argument("--inside", nargs=3, metavar=("MODE", "N", "LAB"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.inside:
        mode, n, lab = args.inside
        return inside(mode, int(n), lab)
    if not os.path.exists(VNET):
        raise SystemExit(f"{VNET} is missing: run `cargo build --release` first")
    work = tempfile.mkdtemp(prefix="vnet-bench-rootless-", dir=os.path.join(REPO, "target"))
    os.chmod(work, 0o755)
    rows = []
    for n in [int(s) for s in args.sizes.split(",")]:
        subprocess.run(f"python3 {HERE}/star.py {n} > {work}/star{n}.yaml", shell=True, check=True)
        root = one_run("root", n, work)
        rootless = one_run("rootless", n, work)
        print(f"# N={n} root {root} rootless {rootless}", file=sys.stderr, flush=True)
        rows.append((n, root, rootless))
    print("| N | root up s | rootless up s | up ratio | root down s | rootless down s | down ratio |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for n, r, u in rows:
        print(f"| {n} | {r['up']:.3f} | {u['up']:.3f} | {u['up'] / r['up']:.2f}× "
              f"| {r['down']:.3f} | {u['down']:.3f} | {u['down'] / r['down']:.2f}× |")


if __name__ == "__main__":
    main()
