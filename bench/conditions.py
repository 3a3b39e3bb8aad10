#!/usr/bin/env python3
"""Link conditions benchmark, in one run:

1. `up` time of an N-node star (bench/star.py) without conditions and the
   same star with `loss` and `rate` on every link (both ends: 2N qdiscs and
   2N loss rules), each measured like bench/scale.py measures (a fresh
   throwaway sandbox per run, `up` until every bridge port forwards), runs
   alternated, medians compared;
2. with --rates, TCP goodput through a rate-limited veth pair measured by
   iperf3 and by `vnet perf` (10 s each per rate, no seconds omitted) for
   500kbit … 1gbit.

usage: bench/conditions.py [--n 1000] [--runs 3] [--conditions "loss: 1%, rate: 100mbit"] [--rates]
Needs root, `cargo build --release`, and ../shared/bench/sandbox.sh
(VNET_BENCH_REF) as bench/scale.py does; iperf3 for --rates.
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
if not os.path.exists(REF):
    REF = "/work/shared/bench"
VNET = os.environ.get("VNET_BIN", os.path.join(REPO, "target", "release", "vnet"))
SANDBOX = os.path.join(REF, "sandbox.sh")

RATES_SCRIPT = r"""
set -e
V="$1"; shift
cd "$REPO"
"$V" up -q examples/seed-veth.yaml
port=5201
for r in "$@"; do
  "$V" impair ns1:veth0 --rate "$r" >/dev/null
  ip netns exec ns2 iperf3 -s -1 -D -p $port
  for i in $(seq 100); do ip netns exec ns2 ss -ltnH | grep -q ":$port " && break; sleep 0.05; done
  ip netns exec ns1 iperf3 -c 192.168.1.2 -p $port -t 10 -J > /tmp/iperf-$port.json
  "$V" perf ns1 ns2 -t 10 --json > /tmp/perf-$port.json
  python3 -c "import json,sys; d=json.load(open('/tmp/iperf-$port.json')); p=json.load(open('/tmp/perf-$port.json')); print(json.dumps({'rate': '$r', 'bps': d['end']['sum_received']['bits_per_second'], 'perf': p['bits_per_second']}))"
  port=$((port + 1))
done
"""

UNITS = {"kbit": 1e3, "mbit": 1e6, "gbit": 1e9}


def bits(rate):
    for u, m in UNITS.items():
        if rate.endswith(u):
            return float(rate[: -len(u)]) * m
    raise SystemExit(f"unknown unit in {rate}")


def one_up(n, work, suffix):
    """One fresh-sandbox measurement by bench/scale_run.py: {up, down, extra}."""
    out = subprocess.run(
        [SANDBOX, sys.executable, os.path.join(HERE, "scale_run.py"), "vnet", str(n), work, VNET, suffix],
        text=True, capture_output=True,
    )
    if out.returncode != 0:
        raise SystemExit(f"N={n}{suffix} failed:\n{out.stdout}\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def stars(args):
    work = tempfile.mkdtemp(prefix="vnet-cond-", dir=os.path.join(REPO, "target"))
    n = args.n
    plain = subprocess.run([sys.executable, os.path.join(HERE, "star.py"), str(n)],
                           text=True, capture_output=True, check=True).stdout
    with open(f"{work}/star{n}.yaml", "w") as f:
        f.write(plain)
    cond = []
    for line in plain.splitlines():
        cond.append(line)
        if line.startswith("  - endpoints:"):
            cond.append(f"    conditions: {{ {args.conditions} }}")
    with open(f"{work}/star{n}-cond.yaml", "w") as f:
        f.write("\n".join(cond) + "\n")
    runs = {"": [], "-cond": []}
    for i in range(args.runs):
        for suffix in ("", "-cond"):
            r = one_up(n, work, suffix)
            runs[suffix].append(r)
            print(f"# run {i + 1} star{n}{suffix}: up {r['up']:.3f} s, reconcile {r['extra']['reconcile']:.3f} s",
                  file=sys.stderr, flush=True)
    med = {k: statistics.median(r["up"] for r in v) for k, v in runs.items()}
    rec = {k: statistics.median(r["extra"]["reconcile"] for r in v) for k, v in runs.items()}
    print(f"| {n}-node star ({args.runs} runs, medians) | up s | nothing-to-do `up` s |")
    print("|---|---:|---:|")
    print(f"| without conditions | {med['']:.3f} | {rec['']:.3f} |")
    print(f"| `{args.conditions}` on every link (both ends) | {med['-cond']:.3f} | {rec['-cond']:.3f} |")
    print(f"| ratio | **{med['-cond'] / med['']:.2f}×** | {rec['-cond'] / rec['']:.2f}× |")


def rates(args):
    wanted = args.rate_list.split(",")
    out = subprocess.run(
        [SANDBOX, "sh", "-c", f"export REPO={REPO}; " + RATES_SCRIPT, "sh", VNET, *wanted],
        text=True, capture_output=True,
    )
    if out.returncode != 0:
        raise SystemExit(f"rates failed:\n{out.stdout}\n{out.stderr}")
    print()
    print("| rate | iperf3 TCP goodput (10 s) | of the rate | `vnet perf` (10 s) |")
    print("|---|---:|---:|---:|")
    for line in out.stdout.splitlines():
        if not line.startswith("{"):
            continue
        r = json.loads(line)
        print(f"| {r['rate']} | {r['bps'] / 1e6:.3f} Mbit/s | {100 * r['bps'] / bits(r['rate']):.1f}% "
              f"| {r['perf'] / 1e6:.3f} Mbit/s |")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--conditions", default="loss: 1%, rate: 100mbit")
    ap.add_argument("--rates", action="store_true", help="also measure goodput per rate with iperf3")
    ap.add_argument("--rate-list", default="500kbit,1mbit,10mbit,100mbit,1gbit")
    ap.add_argument("--no-star", action="store_true")
    args = ap.parse_args()
    if not os.path.exists(VNET):
        raise SystemExit(f"{VNET} is missing: run `cargo build --release` first")
    if not args.no_star:
        stars(args)
    if args.rates:
        rates(args)


if __name__ == "__main__":
    main()
