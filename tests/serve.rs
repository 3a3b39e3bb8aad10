//! `vnet serve` in a real browser: headless Chromium driven over
//! chromedriver's WebDriver API, all inside the sandbox and on its
//! loopback. The server, chromedriver and curl run in the sandbox's
//! network namespace; the test talks to them through `curl` run there.
//! Every check polls the page's DOM up to a generous deadline: nothing
//! here measures time.

mod sandbox;

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use sandbox::Sandbox;
use serde_json::{Value, json};

const DEADLINE: Duration = Duration::from_secs(40);

/// A process started in the sandbox, killed by its PID when dropped.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `vnet serve ARGS` on 127.0.0.1:PORT; its token, when it printed one.
fn serve(sb: &Sandbox, port: u16, args: &str) -> (Proc, Option<String>) {
    let mut c = sb.command(&format!(
        "exec \"$VNET\" serve {args} --listen 127.0.0.1:{port}"
    ));
    c.stdout(Stdio::piped()).stderr(Stdio::inherit());
    let mut child = c.spawn().expect("vnet serve starts");
    let out = child.stdout.take().expect("piped");
    let mut lines = BufReader::new(out).lines();
    let mut token = None;
    // It prints its address once listening, then the token or read-only.
    for _ in 0..2 {
        let Some(Ok(line)) = lines.next() else {
            let _ = child.kill();
            let _ = child.wait();
            panic!("vnet serve {args} did not start");
        };
        if let Some(t) = line.split("X-Vnet-Token: ").nth(1) {
            token = Some(t.trim().to_string());
        }
    }
    // Keep reading, so the server never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    (Proc(child), token)
}

/// curl in the sandbox: (status, body).
fn curl(
    sb: &Sandbox,
    method: &str,
    url: &str,
    headers: &[&str],
    body: Option<&str>,
) -> (u16, String) {
    let mut script = format!("curl -s -S -X {method} -w '\\n%{{http_code}}'");
    for h in headers {
        script.push_str(&format!(" -H '{h}'"));
    }
    if body.is_some() {
        script.push_str(" -H 'Content-Type: application/json' --data-binary @-");
    }
    script.push_str(&format!(" '{url}'"));
    let mut c = sb.command(&script);
    c.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = c.spawn().expect("curl runs");
    if let Some(b) = body {
        child
            .stdin
            .take()
            .expect("piped")
            .write_all(b.as_bytes())
            .expect("write body");
    } else {
        drop(child.stdin.take());
    }
    let o = child.wait_with_output().expect("curl ends");
    let text = String::from_utf8_lossy(&o.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", &text));
    (code.trim().parse().unwrap_or(0), body.to_string())
}

/// A WebDriver session of headless Chromium, through chromedriver.
struct Browser<'a> {
    sb: &'a Sandbox,
    base: String,
    session: String,
    _driver: Proc,
}

impl<'a> Browser<'a> {
    fn start(sb: &'a Sandbox, port: u16) -> Browser<'a> {
        let mut c = sb.command(&format!("exec chromedriver --port={port} --silent"));
        c.stdout(Stdio::null()).stderr(Stdio::null());
        let driver = Proc(c.spawn().expect("chromedriver starts"));
        let base = format!("http://127.0.0.1:{port}");
        let start = Instant::now();
        while curl(sb, "GET", &format!("{base}/status"), &[], None).0 != 200 {
            assert!(start.elapsed() < DEADLINE, "chromedriver did not answer");
            std::thread::sleep(Duration::from_millis(100));
        }
        // A profile of its own: tests run side by side, and /tmp is shared.
        let profile = format!(
            "{}/chromium-{port}-{}",
            env!("CARGO_TARGET_TMPDIR"),
            std::process::id()
        );
        let caps = json!({"capabilities": {"alwaysMatch": {"goog:chromeOptions": {
            "binary": "/usr/bin/chromium",
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                     "--disable-dev-shm-usage", "--window-size=1400,900",
                     format!("--user-data-dir={profile}")]
        }}}});
        let (code, body) = curl(
            sb,
            "POST",
            &format!("{base}/session"),
            &[],
            Some(&caps.to_string()),
        );
        assert_eq!(code, 200, "new session: {body}");
        let v: Value = serde_json::from_str(&body).expect("JSON");
        let session = v["value"]["sessionId"]
            .as_str()
            .expect("session id")
            .to_string();
        Browser {
            sb,
            base,
            session,
            _driver: driver,
        }
    }

    fn open(&self, url: &str) {
        let (code, body) = curl(
            self.sb,
            "POST",
            &format!("{}/session/{}/url", self.base, self.session),
            &[],
            Some(&json!({ "url": url }).to_string()),
        );
        assert_eq!(code, 200, "navigate: {body}");
    }

    /// Run `script` (a function body) in the page; its return value.
    fn js(&self, script: &str) -> Value {
        let (code, body) = curl(
            self.sb,
            "POST",
            &format!("{}/session/{}/execute/sync", self.base, self.session),
            &[],
            Some(&json!({ "script": script, "args": [] }).to_string()),
        );
        assert_eq!(code, 200, "script {script}: {body}");
        serde_json::from_str::<Value>(&body).expect("JSON")["value"].clone()
    }

    /// Poll `script` until it returns true; panic with `what` and the last
    /// value of `show` after the deadline.
    fn wait_for(&self, what: &str, script: &str, show: &str) {
        let start = Instant::now();
        loop {
            if self.js(script) == Value::Bool(true) {
                return;
            }
            if start.elapsed() > DEADLINE {
                panic!("{what}: not seen on the page; it shows {}", self.js(show));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Browser<'_> {
    fn drop(&mut self) {
        let _ = curl(
            self.sb,
            "DELETE",
            &format!("{}/session/{}", self.base, self.session),
            &[],
            None,
        );
    }
}

const NODES: &str =
    "return [...document.querySelectorAll('[data-node]')].map(e => e.dataset.node).sort()";

fn seed_page_shows_nodes_link_state_and_a_pings_walk() {
    let sb = Sandbox::new();
    sb.vnet("up examples/seed-bridge.yaml").ok();
    let (_server, _) = serve(&sb, 8047, "seed-bridge");
    let b = Browser::start(&sb, 9515);
    b.open("http://127.0.0.1:8047/");
    b.wait_for(
        "ns1, ns2 and br0 drawn",
        &format!("const n = (() => {{ {NODES} }})(); return ['ns1','ns2','br0'].every(x => n.includes(x))"),
        NODES,
    );
    let link = "ns2:veth1--br0:br0-veth1";
    let state = format!(
        "return document.querySelector('path[data-link=\"{link}\"]')?.dataset.state ?? null"
    );
    assert_eq!(b.js(&state), json!("up"));
    b.wait_for(
        "the events stream open",
        "return document.querySelector('#conn').dataset.conn === 'live'",
        "document.querySelector('#conn').textContent",
    );

    // A ping's walk, frame by frame, in order: ARP (if any) before the echo
    // request, the request before the reply.
    b.js("window.vnet.pick('ns1'); window.vnet.pick('ns2'); return true");
    b.wait_for(
        "the trace answered and animated",
        "return document.body.dataset.trace === 'answered'",
        "[document.body.dataset.trace, document.querySelector('#trace-out').textContent]",
    );
    let pkts = b.js("return [...document.querySelectorAll('svg .pkt')].map(e => [Number(e.dataset.step), e.dataset.kind])");
    let pkts = pkts.as_array().expect("list").clone();
    assert!(pkts.len() >= 4, "packets drawn: {pkts:?}");
    let steps: Vec<i64> = pkts.iter().map(|p| p[0].as_i64().unwrap()).collect();
    assert!(
        steps.windows(2).all(|w| w[0] < w[1]),
        "steps in order: {steps:?}"
    );
    let kinds: Vec<&str> = pkts.iter().map(|p| p[1].as_str().unwrap()).collect();
    let first = |k: &str| kinds.iter().position(|x| *x == k);
    let (req, rep) = (first("echo-request"), first("echo-reply"));
    assert!(
        req.is_some() && rep.is_some() && req < rep,
        "kinds: {kinds:?}"
    );
    if let Some(arp) = first("arp-request") {
        assert!(Some(arp) < req, "ARP before the echo request: {kinds:?}");
    }
    let listed = b.js("return document.querySelectorAll('#trace-out li').length");
    assert!(listed.as_u64().unwrap() as usize >= pkts.len(), "{listed}");

    // A port goes down: the page shows it, from the kernel's event.
    sb.sh("ip link set br0-veth1 down").ok();
    b.wait_for(
        "the link drawn down",
        &format!(
            "return document.querySelector('path[data-link=\"{link}\"]')?.dataset.state === 'down'"
        ),
        &state,
    );
    // And back up.
    sb.sh("ip link set br0-veth1 up").ok();
    b.wait_for(
        "the link drawn up again",
        &format!(
            "return document.querySelector('path[data-link=\"{link}\"]')?.dataset.state === 'up'"
        ),
        &state,
    );
    // Down again: the trace fails and, where the doctor may run (tracefs
    // needs the host's root), its verdict is drawn on the picture.
    sb.sh("ip link set br0-veth1 down").ok();
    b.wait_for(
        "the link drawn down",
        &format!(
            "return document.querySelector('path[data-link=\"{link}\"]')?.dataset.state === 'down'"
        ),
        &state,
    );
    b.js("window.vnet.pick('ns1'); window.vnet.pick('ns2'); return true");
    b.wait_for(
        "the trace failed",
        "return document.body.dataset.trace === 'failed'",
        "[document.body.dataset.trace, document.querySelector('#trace-out').textContent]",
    );
    if sb.mode() == sandbox::Mode::Root {
        b.wait_for(
            "the doctor's verdict on the picture",
            "return document.body.dataset.doctor === 'done' && !!document.querySelector('svg g.verdict-mark')",
            "[document.body.dataset.doctor, document.querySelector('#doctor-out').textContent]",
        );
        let code = b.js("return document.querySelector('svg g.verdict-mark').dataset.code");
        assert_ne!(code, json!("DELIVERED"), "{code}");
        let text = b.js("return document.querySelector('#doctor-out').textContent");
        assert!(text.as_str().unwrap().contains("br0-veth1"), "{text}");
    }
}

/// Three namespaces on one bridge; ns3's port down: the matrix marks
/// exactly ns1↔ns3 and ns2↔ns3, in the table and on the picture.
fn matrix_marks_exactly_the_failing_pairs() {
    let sb = Sandbox::new();
    sb.sh("cat > /tmp/three.yaml <<'EOF'
name: three
nodes:
  ns1: {}
  ns2: {}
  ns3: {}
  br0: { kind: bridge }
links:
  - endpoints: [{ node: ns1, interface: e0, ip: 10.9.0.1/24 }, br0:p1]
  - endpoints: [{ node: ns2, interface: e0, ip: 10.9.0.2/24 }, br0:p2]
  - endpoints: [{ node: ns3, interface: e0, ip: 10.9.0.3/24 }, br0:p3]
EOF
\"$VNET\" up /tmp/three.yaml >/dev/null && ip link set p3 down")
        .ok();
    // Without a lab: every namespace on the (sandbox's) machine.
    let (_server, _) = serve(&sb, 8048, "");
    let b = Browser::start(&sb, 9516);
    b.open("http://127.0.0.1:8048/");
    b.wait_for(
        "three namespaces drawn",
        &format!("const n = (() => {{ {NODES} }})(); return ['ns1','ns2','ns3','br0'].every(x => n.includes(x))"),
        NODES,
    );
    b.js("document.querySelector('#run-matrix').click(); return true");
    b.wait_for(
        "the matrix done",
        "return document.body.dataset.matrix === 'done'",
        "document.querySelector('#matrix-out').textContent",
    );
    let cells = b.js("return [...document.querySelectorAll('#matrix-out td.fail')].map(e => e.dataset.pair).sort()");
    let lines = b.js("return [...document.querySelectorAll('svg line.fail-pair')].map(e => e.dataset.pair).sort()");
    let want = json!(["ns1→ns3", "ns2→ns3", "ns3→ns1", "ns3→ns2"]);
    assert_eq!(cells, want);
    assert_eq!(lines, want);
    let ok = b.js("return [...document.querySelectorAll('#matrix-out td.ok')].map(e => e.dataset.pair).sort()");
    assert_eq!(ok, json!(["ns1→ns2", "ns2→ns1"]));
}

/// Changes need --allow-changes and the token; another Origin is refused.
fn changes_need_the_token_and_the_own_origin() {
    let sb = Sandbox::new();
    sb.vnet("up examples/seed-bridge.yaml").ok();
    let (server, token) = serve(&sb, 8049, "seed-bridge --allow-changes");
    let token = token.expect("a token printed");
    let url = "http://127.0.0.1:8049";
    let down = r#"{"node":"host","iface":"br0-veth1","up":false}"#;
    let admin_up = |sb: &Sandbox| {
        sb.link("", "br0-veth1")["flags"]
            .as_array()
            .is_some_and(|f| f.iter().any(|x| x == "UP"))
    };
    let (code, body) = curl(&sb, "POST", &format!("{url}/api/link"), &[], Some(down));
    assert_eq!(code, 403, "{body}");
    let (code, _) = curl(
        &sb,
        "POST",
        &format!("{url}/api/link"),
        &["X-Vnet-Token: wrong"],
        Some(down),
    );
    assert_eq!(code, 403);
    assert!(admin_up(&sb), "refused requests changed nothing");
    let with = format!("X-Vnet-Token: {token}");
    let evil = "Origin: http://evil.example";
    let (code, _) = curl(
        &sb,
        "POST",
        &format!("{url}/api/link"),
        &[&with, evil],
        Some(down),
    );
    assert_eq!(code, 403, "another origin, even with the token");
    let (code, _) = curl(&sb, "GET", &format!("{url}/api/state"), &[evil], None);
    assert_eq!(code, 403, "another origin reads nothing either");
    let (code, _) = curl(
        &sb,
        "GET",
        &format!("{url}/api/state"),
        &["Host: rebind.example:8049"],
        None,
    );
    assert_eq!(code, 403, "a foreign Host on a loopback server");
    assert!(admin_up(&sb));
    let own = format!("Origin: {url}");
    let (code, body) = curl(
        &sb,
        "POST",
        &format!("{url}/api/link"),
        &[&with, &own],
        Some(down),
    );
    assert_eq!(code, 200, "{body}");
    assert!(!admin_up(&sb), "with the token the link went down");
    // The API answers as the command line's --json does.
    let (code, body) = curl(&sb, "POST", &format!("{url}/api/matrix"), &[], Some("{}"));
    assert_eq!(code, 200, "{body}");
    let m: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(m["nodes"], json!(["ns1", "ns2"]));
    assert_eq!(m["reachable_pairs"], json!(0));
    let (code, body) = curl(
        &sb,
        "POST",
        &format!("{url}/api/trace"),
        &[],
        Some(r#"{"src":"ns1","dst":"nosuch"}"#),
    );
    assert_eq!(code, 400, "{body}");
    drop(server);
    // Read-only: even the right token changes nothing.
    let (_ro, none) = serve(&sb, 8050, "seed-bridge");
    assert!(none.is_none());
    let up = r#"{"node":"host","iface":"br0-veth1","up":true}"#;
    let (code, body) = curl(
        &sb,
        "POST",
        "http://127.0.0.1:8050/api/link",
        &[&with],
        Some(up),
    );
    assert_eq!(code, 403, "{body}");
    assert!(body.contains("--allow-changes"), "{body}");
    assert!(!admin_up(&sb));
}

fn main() -> std::process::ExitCode {
    sandbox::harness::run(vec![
        kernel_with!(
            seed_page_shows_nodes_link_state_and_a_pings_walk,
            "chromium",
            "chromedriver",
            "curl"
        ),
        kernel_with!(
            matrix_marks_exactly_the_failing_pairs,
            "chromium",
            "chromedriver",
            "curl"
        ),
        kernel_with!(changes_need_the_token_and_the_own_origin, "curl"),
    ])
}
