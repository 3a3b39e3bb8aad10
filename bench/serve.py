#!/usr/bin/env python3
"""bench/serve.py [NODES] : `vnet serve`'s figures and docs/serve-*.png.

In a throwaway network and mount namespace (the host's network is never
touched), with target/release/vnet:
  1. the seed's bridge lab served: screenshots of the page, of a ping's walk,
     and of the doctor's verdict after `ip link set br0-veth1 down`; how long
     the page took to show that link down (one reading, not a test);
  2. a NODES-node lab (default 1000, bench/star.py NODES NODES/20): the
     server's RSS, its CPU over 10 s idle (no page open), the page's render
     time in headless Chromium, CPU and RSS over 10 s with the page open
     (counters every second), and CPU over 10 s after the page closed.
Needs root, unshare, iproute2, chromium and chromedriver."""
import base64
import json
import os
import subprocess
import sys
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VNET = os.path.join(ROOT, "target/release/vnet")
NODES = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
TICK = os.sysconf("SC_CLK_TCK")

if os.environ.get("VNET_BENCH_INSIDE") != "1":
    if os.geteuid() != 0:
        sys.exit("bench/serve.py builds networks (in a sandbox of its own) and needs root")
    env = dict(os.environ, VNET_BENCH_INSIDE="1")
    sys.exit(subprocess.call(["unshare", "--net", "--mount", "--propagation", "private",
                              sys.executable, *sys.argv], env=env))

subprocess.run("mount -t tmpfs -o mode=755 tmpfs /run && mkdir -p /run/netns /run/lock "
               "&& ip link set lo up", shell=True, check=True)
procs = []


def start(args, **kw):
    p = subprocess.Popen(args, **kw)
    procs.append(p)
    return p


def http(method, url, body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=120) as r:
        return json.loads(r.read() or b"null")


class Browser:
    def __init__(self, port=9515):
        self.base = f"http://127.0.0.1:{port}"
        self.driver = start(["chromedriver", f"--port={port}", "--silent"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(200):
            try:
                http("GET", f"{self.base}/status")
                break
            except OSError:
                time.sleep(0.05)
        caps = {"capabilities": {"alwaysMatch": {"goog:chromeOptions": {
            "binary": "/usr/bin/chromium",
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--window-size=1500,900", "--user-data-dir=/run/chromium-bench"]}}}}
        self.sid = http("POST", f"{self.base}/session", caps)["value"]["sessionId"]
        self.s = f"{self.base}/session/{self.sid}"

    def open(self, url):
        http("POST", f"{self.s}/url", {"url": url})

    def js(self, script):
        return http("POST", f"{self.s}/execute/sync", {"script": script, "args": []})["value"]

    def wait(self, script, deadline=120):
        t = time.time()
        while time.time() - t < deadline:
            if self.js(script):
                return time.time() - t
            time.sleep(0.02)
        raise SystemExit(f"not seen within {deadline} s: {script}")

    def shot(self, path):
        png = http("GET", f"{self.s}/screenshot")["value"]
        with open(path, "wb") as f:
            f.write(base64.b64decode(png))
        print(f"wrote {os.path.relpath(path, ROOT)}")

    def close(self):
        http("DELETE", self.s)
        self.driver.kill()
        self.driver.wait()


def cpu_ticks(pid):
    # utime + stime of the whole process (every thread), in clock ticks.
    f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return int(f[11]) + int(f[12])


def rss_mib(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def cpu_percent(pid, secs=10):
    a = cpu_ticks(pid)
    time.sleep(secs)
    return (cpu_ticks(pid) - a) / TICK / secs * 100


def serve(args, port):
    p = start([VNET, "serve", *args, "--listen", f"127.0.0.1:{port}"],
              stdout=subprocess.PIPE, text=True)
    p.stdout.readline()
    return p


def vnet(*args):
    subprocess.run([VNET, *args], check=True, stdout=subprocess.DEVNULL)


figures = []
try:
    # 1. The seed's lab: the pictures.
    vnet("up", os.path.join(ROOT, "examples/seed-bridge.yaml"))
    s = serve(["seed-bridge"], 8047)
    b = Browser()
    b.open("http://127.0.0.1:8047/")
    b.wait("return document.querySelectorAll('[data-node]').length >= 3 && "
           "document.querySelector('#conn').dataset.conn === 'live'")
    # Some traffic, so the links show their rates.
    ping = start(["ip", "netns", "exec", "ns1", "ping", "-i", "0.1", "-q", "192.168.1.2"],
                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(2.5)
    b.shot(os.path.join(ROOT, "docs/serve-seed.png"))
    ping.kill()
    ping.wait()
    b.js("window.vnet.pick('ns1'); window.vnet.pick('ns2'); return true")
    b.wait("return document.body.dataset.trace === 'answered'")
    b.shot(os.path.join(ROOT, "docs/serve-trace.png"))
    t0 = time.time()
    subprocess.run(["ip", "link", "set", "br0-veth1", "down"], check=True)
    b.wait("return document.querySelector('path[data-link=\"ns2:veth1--br0:br0-veth1\"]')"
           ".dataset.state === 'down'")
    shown = time.time() - t0
    figures.append(("seed lab: `ip link set br0-veth1 down` → drawn down on the page "
                    "(one reading, WebDriver polling every 20 ms)", f"{shown * 1000:.0f} ms"))
    b.js("document.querySelector('#run-matrix').click(); return true")
    b.wait("return document.body.dataset.matrix === 'done'")
    b.js("window.vnet.pick('ns1'); window.vnet.pick('ns2'); return true")
    b.wait("return document.body.dataset.doctor === 'done' || document.body.dataset.doctor === 'error'")
    b.shot(os.path.join(ROOT, "docs/serve-doctor.png"))
    b.close()
    s.kill()
    s.wait()
    vnet("down", "seed-bridge")

    # 2. A large lab: memory, CPU, render time.
    lab = subprocess.run([sys.executable, os.path.join(ROOT, "bench/star.py"), str(NODES),
                          str(max(1, NODES // 20))], check=True, capture_output=True,
                         text=True).stdout
    with open("/run/big.yaml", "w") as f:
        f.write(lab)
    t = time.time()
    vnet("up", "-q", "/run/big.yaml")
    figures.append((f"{NODES}-node lab: vnet up", f"{time.time() - t:.1f} s"))
    name = f"star{NODES}"
    t = time.time()
    s = serve([name], 8048)
    figures.append((f"{NODES}-node lab: vnet serve start (kernel read, SVG drawn, listening)",
                    f"{time.time() - t:.2f} s"))
    time.sleep(1)
    figures.append(("server RSS, started, no page open", f"{rss_mib(s.pid):.1f} MiB"))
    figures.append(("server CPU over 10 s, no page open",
                    f"{cpu_percent(s.pid):.2f} %"))
    b = Browser(9516)
    t = time.time()
    b.open("http://127.0.0.1:8048/")
    b.wait(f"return document.body.dataset.loaded === '1' && "
           f"document.querySelectorAll('[data-node]').length >= {NODES}")
    figures.append((f"{NODES}-node lab: page loaded and drawn in headless Chromium "
                    "(navigate → every node in the DOM)", f"{time.time() - t:.2f} s"))
    svg_bytes = len(urllib.request.urlopen("http://127.0.0.1:8048/api/graph.svg").read())
    figures.append(("its SVG", f"{svg_bytes / 1024:.0f} KiB"))
    b.wait("return document.querySelector('#conn').dataset.conn === 'live'")
    figures.append(("server CPU over 10 s, one page open (counters of every interface each second)",
                    f"{cpu_percent(s.pid):.1f} %"))
    figures.append(("server RSS, one page open", f"{rss_mib(s.pid):.1f} MiB"))
    b.shot(os.path.join(ROOT, "docs/serve-1000.png"))
    b.close()
    time.sleep(1)
    figures.append(("server CPU over 10 s after the page closed", f"{cpu_percent(s.pid):.2f} %"))
    figures.append(("server RSS after the page closed", f"{rss_mib(s.pid):.1f} MiB"))
    s.kill()
    s.wait()
    vnet("down", name)
finally:
    for p in procs:
        if p.poll() is None:
            p.kill()
            p.wait()

print(f"\nkernel {os.uname().release}, {os.cpu_count()} cores, release build, {time.strftime('%F')}")
print("| what | figure |\n|---|---|")
for k, v in figures:
    print(f"| {k} | {v} |")
