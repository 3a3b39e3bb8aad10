#!/usr/bin/env python3
"""Scale benchmark: an N-node star (N namespaces, each with one veth to bridge
br0 in the host namespace, one IPv4 address each, all links up) brought up and
torn down by vnet and, in the same run, by the reference builds of
../shared/bench (the seed-style one-`ip`-per-step script, the fastest
`ip -batch` form, and the C floor with pipelined netlink). Every measurement
runs in a fresh throwaway sandbox (network + mount + pid namespace).

"Up" ends when every bridge port forwards, and "down" when the network is
gone (only `lo` left, /run/netns empty), for every method alike: vnet's own
`up` and `down` wait for that; the others are followed by the same check.
The table also shows when each down command returned.

usage: bench/scale.py [--sizes 10,100,1000] [--runs 3] [--big 4000] [--skip-naive-at 1000]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
REF = os.environ.get("VNET_BENCH_REF", os.path.join(REPO, "..", "shared", "bench"))
VNET = os.environ.get("VNET_BIN", os.path.join(REPO, "target", "release", "vnet"))
SANDBOX = os.path.join(REF, "sandbox.sh")


def sh(cmd, **kw):
    return subprocess.run(cmd, shell=True, check=True, text=True, capture_output=True, **kw)


def one_run(method, n, work, suffix="", env=()):
    """Run one up/down measurement of METHOD at size N in a fresh sandbox."""
    out = subprocess.run(
        [SANDBOX, sys.executable, os.path.join(HERE, "scale_run.py"), method, str(n), work, VNET, suffix, *env],
        text=True, capture_output=True,
    )
    if out.returncode != 0:
        raise SystemExit(f"{method} N={n} failed:\n{out.stdout}\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="10,100,1000")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--big", type=int, default=4000, help="also a vnet-only lab of this size over several bridges (0: skip)")
    ap.add_argument("--methods", default="vnet,floor,batch,naive")
    ap.add_argument("--ablation", type=int, default=0, metavar="N",
                    help="also measure vnet at size N with each design choice turned off")
    args = ap.parse_args()
    if not os.path.exists(VNET):
        raise SystemExit(f"{VNET} is missing: run `cargo build --release` first")
    work = tempfile.mkdtemp(prefix="vnet-bench-", dir=REPO + "/target")
    sh(f"gcc -O2 -o {work}/floor {REF}/floor.c")
    sizes = [int(s) for s in args.sizes.split(",")]
    methods = args.methods.split(",")
    rows = []
    for n in sizes:
        sh(f"bash {REF}/gen.sh {n} {work}/ref{n}")
        sh(f"python3 {HERE}/star.py {n} > {work}/star{n}.yaml")
        results = {}
        for m in methods:
            runs = [one_run(m, n, work) for _ in range(args.runs)]
            results[m] = {
                "up": statistics.median(r["up"] for r in runs),
                "down": statistics.median(r["down"] for r in runs),
                "down_return": statistics.median(r["extra"]["down_return"] for r in runs),
                "rss": max(r["rss_kib"] for r in runs) / 1024,
                "extra": {k: statistics.median(r["extra"][k] for r in runs) for k in runs[0].get("extra", {})},
            }
            print(f"# N={n} {m}: " + json.dumps(results[m]), file=sys.stderr, flush=True)
        rows.append((n, results))

    print("| N | method | up s | down s (until gone) | down command returns s | peak RSS MiB | vnet up speed-up | vnet down speed-up |")
    print("|---:|---|---:|---:|---:|---:|---:|---:|")
    for n, results in rows:
        v = results.get("vnet")
        for m, r in results.items():
            su = f"{r['up'] / v['up']:.1f}×" if v and m != "vnet" else ""
            sd = f"{r['down'] / v['down']:.1f}×" if v and m != "vnet" else ""
            print(f"| {n} | {m} | {r['up']:.3f} | {r['down']:.3f} | {r['down_return']:.3f} | {r['rss']:.1f} | {su} | {sd} |")
    print()
    for n, results in rows:
        v = results.get("vnet")
        if not v:
            continue
        e = v["extra"]
        print(f"- N={n}: vnet up {v['up'] * 1000 / n:.2f} ms/node; reconcile with nothing to do {e.get('reconcile', 0):.3f} s; "
              f"up right after down {e.get('up_after_down', 0):.3f} s (fresh sandbox: {v['up']:.3f} s)")
    if args.ablation:
        n = args.ablation
        sh(f"python3 {HERE}/star.py {n} > {work}/star{n}.yaml")
        sh(f"python3 {HERE}/star.py {n} | sed 's/^name: .*/&\\nipv6_link_local: true/' > {work}/star{n}-ll.yaml")
        variants = [
            ("as built", "", ()),
            ("one thread for namespaces (VNET_THREADS=1)", "", ("VNET_THREADS=1",)),
            ("no pipelining (VNET_WINDOW=1)", "", ("VNET_WINDOW=1",)),
            ("teardown one interface at a time (VNET_DOWN_ONE_BY_ONE=1)", "", ("VNET_DOWN_ONE_BY_ONE=1",)),
            ("IPv6 link-local kept on every interface", "-ll", ()),
        ]
        print()
        print(f"What each design choice buys, vnet at N={n} (median of {args.runs}):")
        print()
        print("| variant | up s | down s |")
        print("|---|---:|---:|")
        for name, suffix, env in variants:
            runs = [one_run("vnet", n, work, suffix, env) for _ in range(args.runs)]
            up = statistics.median(r["up"] for r in runs)
            down = statistics.median(r["down"] for r in runs)
            print(f"| {name} | {up:.3f} | {down:.3f} |", flush=True)
    if args.big:
        sh(f"python3 {HERE}/star.py {args.big} > {work}/star{args.big}.yaml")
        runs = [one_run("vnet", args.big, work) for _ in range(args.runs)]
        up = statistics.median(r["up"] for r in runs)
        down = statistics.median(r["down"] for r in runs)
        rss = max(r["rss_kib"] for r in runs) / 1024
        bridges = -(-args.big // 1000)
        print(f"- N={args.big} (vnet, {bridges} bridges joined by a trunk bridge): up {up:.3f} s "
              f"({up * 1000 / args.big:.2f} ms/node), down {down:.3f} s, peak RSS {rss:.1f} MiB")


if __name__ == "__main__":
    main()
