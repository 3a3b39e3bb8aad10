#!/usr/bin/env python3
"""One measurement, run inside a fresh sandbox by scale.py:
scale_run.py METHOD N WORKDIR VNET [LAB_SUFFIX] [KEY=VALUE…]  →  one JSON line
{up, down, rss_kib, extra}. KEY=VALUE pairs go to vnet's environment (the
ablation knobs: VNET_THREADS, VNET_WINDOW, VNET_DOWN_ONE_BY_ONE)."""
import glob
import json
import os
import subprocess
import sys
import time

method, n, work, vnet = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
suffix = sys.argv[5] if len(sys.argv) > 5 else ""
env = " ".join(sys.argv[6:])
ref = f"{work}/ref{n}"


def run(cmd):
    """Run a command; return (seconds, peak RSS in KiB of its largest process).
    GNU time does the measuring: a child forked from this Python process would
    count Python's own pages as its peak."""
    rss_file = f"/tmp/rss.{os.getpid()}"
    t = time.monotonic()
    p = subprocess.run(["/usr/bin/time", "-f", "%M", "-o", rss_file, "sh", "-c", cmd],
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    dt = time.monotonic() - t
    if p.returncode != 0:
        raise SystemExit(f"`{cmd}` failed: {p.stderr.decode()}")
    return dt, int(open(rss_file).read().split()[-1])


def forwarding_wait(bridges):
    """Seconds until every port of the bridges is forwarding (3 in sysfs)."""
    t = time.monotonic()
    while True:
        states = []
        for b in bridges:
            states += glob.glob(f"/sys/class/net/{b}/brif/*/state")
        ok = len(states) >= n and all(open(s).read().strip() == "3" for s in states)
        if ok:
            return time.monotonic() - t
        if time.monotonic() - t > 120:
            raise SystemExit("ports never reached forwarding")
        time.sleep(0.001)


def gone_wait():
    """Seconds until the network is gone: only `lo` left in the sandbox's
    namespace. A command returning is not the kernel done: namespaces
    unmounted are cleaned up later, deleting their veths (and the host ends)
    in a deferred batch. Every method is timed to this point alike."""
    t = time.monotonic()
    while len(os.listdir("/sys/class/net")) > 1 or os.listdir("/run/netns"):
        if time.monotonic() - t > 120:
            raise SystemExit("the network never went away")
        time.sleep(0.001)
    return time.monotonic() - t


bridges = ["br0"] if n <= 1000 else [f"br{b}" for b in range(-(-n // 1000))]
up_cmd, down_cmd = {
    "vnet": (f"env {env} {vnet} up -q {work}/star{n}{suffix}.yaml", f"env {env} {vnet} down -q star{n}"),
    "floor": (f"{work}/floor up {n} --noipv6", f"{work}/floor down {n}"),
    "batch": (f"bash {ref}/batch_up.sh", f"bash {ref}/batch_down.sh"),
    "naive": (f"bash {ref}/naive_up.sh", f"bash {ref}/naive_down.sh"),
}[method]

up, rss_up = run(up_cmd)
up += forwarding_wait(bridges)
extra = {}
if method == "vnet":
    extra["reconcile"], _ = run(up_cmd)
down, rss_down = run(down_cmd)
extra["down_return"] = down
down += gone_wait()
if method == "vnet":
    # The kernel's deferred namespace cleanup must not slow the next build.
    t, _ = run(up_cmd)
    extra["up_after_down"] = t + forwarding_wait(bridges)
    run(down_cmd)
    gone_wait()
print(json.dumps({"up": up, "down": down, "rss_kib": max(rss_up, rss_down), "extra": extra}))
