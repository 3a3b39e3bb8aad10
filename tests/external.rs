//! External nodes (issue 18): a lab joined to namespaces it did not make —
//! a process's (`pid:`), a hand-made named one (`netns: NAME`), one given by
//! path, a container's (`container:`, through a fake Docker API socket) —
//! each checked with `ip -j` before and after, real pings, and the process
//! killed mid-lab. Processes are started here and ended by their PID.

#[macro_use]
mod sandbox;

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixListener;

use sandbox::Sandbox;

/// A `sleep` in a network namespace of its own (`unshare -n`), ended by
/// its PID when dropped.
struct Sleeper<'a> {
    sb: &'a Sandbox,
    pid: u32,
}

impl<'a> Sleeper<'a> {
    fn start(sb: &'a Sandbox) -> Sleeper<'a> {
        let out = sb
            .sh("unshare -n sleep 600 </dev/null >/dev/null 2>&1 & echo $!")
            .ok();
        let pid: u32 = out.stdout.trim().parse().expect("a pid");
        // Wait until unshare has exec'd sleep in its new namespace.
        sb.sh(&format!(
            "i=0; while [ \"$(readlink /proc/{pid}/ns/net)\" = \"$(readlink /proc/self/ns/net)\" ] && [ $i -lt 200 ]; do sleep 0.01; i=$((i+1)); done"
        ))
        .ok();
        Sleeper { sb, pid }
    }

    fn alive(&self) -> bool {
        self.sb.sh(&format!("kill -0 {}", self.pid)).code == 0
    }

    /// End it and wait until it has gone.
    fn kill(&self) {
        self.sb
            .sh(&format!(
                "kill -9 {p}; i=0; while [ -e /proc/{p}/ns/net ] && [ $i -lt 500 ]; do sleep 0.01; i=$((i+1)); done",
                p = self.pid
            ))
            .ok();
    }
}

impl Drop for Sleeper<'_> {
    fn drop(&mut self) {
        let _ = self
            .sb
            .sh(&format!("kill -9 {} 2>/dev/null; true", self.pid));
    }
}

/// `ip -j link`, `addr` and `route` of a namespace, as one text.
fn snapshot(sb: &Sandbox, enter: &str) -> String {
    ["link", "addr", "route"]
        .iter()
        .map(|what| sb.sh(&format!("{enter} ip -j {what}")).ok().stdout)
        .collect::<Vec<_>>()
        .join("\n")
}

fn write_lab(sb: &Sandbox, path: &str, text: &str) {
    sb.sh(&format!("cat > {path} <<'EOF'\n{text}EOF")).ok();
}

/// A namespace made by hand with an interface, an address and a route of
/// its own.
fn hand_made(sb: &Sandbox, name: &str) {
    sb.sh(&format!(
        "ip netns add {name} && ip -n {name} link add own0 type veth peer name own1 \
         && ip -n {name} link set own0 addrgenmode none && ip -n {name} link set own1 addrgenmode none \
         && ip -n {name} link set own0 up && ip -n {name} link set own1 up \
         && ip -n {name} addr add 10.99.0.1/24 dev own0 \
         && ip -n {name} route add 10.98.0.0/24 via 10.99.0.2"
    ))
    .ok();
}

fn lab_text(pid: u32) -> String {
    format!(
        "name: ext\nnodes:\n  app: {{ pid: {pid} }}\n  red: {{ netns: red }}\n  side: {{ netns: /run/netns/blue, routes: [\"10.77.0.0/24 via 10.0.0.1\"] }}\n  ns1: {{}}\n  br0: {{ kind: bridge }}\nlinks:\n  - endpoints: [{{ node: app, interface: eth1, ip: 10.0.0.10/24 }}, \"br0:p-app\"]\n  - endpoints: [{{ node: red, interface: eth1, ip: 10.0.0.11/24 }}, \"br0:p-red\"]\n  - endpoints: [{{ node: side, interface: eth1, ip: 10.0.0.12/24 }}, \"br0:p-side\"]\n  - endpoints: [{{ node: ns1, interface: eth1, ip: 10.0.0.1/24 }}, \"br0:p-ns1\"]\n"
    )
}

fn a_process_a_hand_made_namespace_a_path_and_a_vnet_namespace_ping_all_pairs() {
    let sb = Sandbox::new();
    let app = Sleeper::start(&sb);
    hand_made(&sb, "red");
    sb.sh("ip netns add blue").ok();
    let enter_app = format!("nsenter -t {} -n", app.pid);
    let before = [
        snapshot(&sb, &enter_app),
        snapshot(&sb, "ip netns exec red"),
        snapshot(&sb, "ip netns exec blue"),
    ];
    write_lab(&sb, "/run/ext.yaml", &lab_text(app.pid));
    sb.vnet("up /run/ext.yaml").ok();
    // vnet made only ns1 under /run/netns; the others are as they were.
    assert_eq!(sb.netns(), ["blue", "ns1", "red"]);
    assert_eq!(sb.addrs("red", "eth1"), ["10.0.0.11/24"]);
    assert_eq!(sb.addrs("red", "own0"), ["10.99.0.1/24"]);
    assert!(
        sb.sh("ip -n blue route show 10.77.0.0/24")
            .ok()
            .stdout
            .contains("via 10.0.0.1")
    );
    // iputils' view, independent of vnet: the process's namespace answers.
    assert!(
        sb.sh(&format!("{enter_app} ping -c1 -W2 10.0.0.1")).code == 0,
        "app to ns1"
    );
    assert!(sb.pings("red", "10.0.0.10"), "red to app");
    let all = sb.vnet("ping --all /run/ext.yaml --json").ok();
    let j: serde_json::Value = serde_json::from_str(&all.stdout).expect("json");
    assert_eq!(j["node_pairs"], 12, "{}", all.stdout);
    assert_eq!(j["reachable_pairs"], 12, "{}", all.stdout);
    // status, graph, export show them as external, with their reference.
    let status = sb.vnet("status ext").ok();
    assert!(
        status.stdout.contains(&format!("app (pid {})", app.pid)),
        "{}",
        status.stdout
    );
    assert!(
        status.stdout.contains("side (netns /run/netns/blue)"),
        "{}",
        status.stdout
    );
    let graph = sb.vnet("graph --live ext").ok();
    assert!(graph.stdout.contains("external: pid"), "{}", graph.stdout);
    let export = sb.vnet("export ext").ok();
    assert!(
        export.stdout.contains(&format!("pid: {}", app.pid)),
        "{}",
        export.stdout
    );
    assert!(!export.stdout.contains("own0"), "{}", export.stdout);
    // exec enters the process's namespace.
    let exec = sb.vnet("exec app -- ip -j addr show dev eth1").ok();
    assert!(exec.stdout.contains("10.0.0.10"), "{}", exec.stdout);
    // A second up changes nothing.
    let again = sb.vnet("up /run/ext.yaml").ok();
    assert!(again.stdout.contains("nothing to do"), "{}", again.stdout);

    let down = sb.vnet("down ext").ok();
    assert!(
        down.stdout
            .contains("3 interfaces removed from external nodes"),
        "{}",
        down.stdout
    );
    assert!(app.alive(), "the process keeps running");
    let after = [
        snapshot(&sb, &enter_app),
        snapshot(&sb, "ip netns exec red"),
        snapshot(&sb, "ip netns exec blue"),
    ];
    assert_eq!(
        before, after,
        "external namespaces are left exactly as they were"
    );
    assert_eq!(sb.netns(), ["blue", "red"]);
    assert_eq!(sb.links(""), ["lo"]);
}

fn a_killed_process_is_reported_by_status_down_and_up() {
    let sb = Sandbox::new();
    let app = Sleeper::start(&sb);
    write_lab(
        &sb,
        "/run/k.yaml",
        &format!(
            "name: k\nnodes:\n  app: {{ pid: {} }}\n  ns1: {{}}\nlinks:\n  - endpoints: [{{ node: app, interface: eth1, ip: 10.0.0.10/24 }}, {{ node: ns1, interface: eth1, ip: 10.0.0.1/24 }}]\n",
            app.pid
        ),
    );
    sb.vnet("up /run/k.yaml").ok();
    assert!(sb.pings("ns1", "10.0.0.10"));
    app.kill();
    let status = sb.vnet("status k").ok();
    assert!(
        status
            .stdout
            .contains(&format!("node app (pid {}): gone", app.pid)),
        "{}",
        status.stdout
    );
    let up = sb.vnet("up /run/k.yaml");
    assert_ne!(up.code, 0, "{}", up.stdout);
    assert!(
        up.stderr.contains(&format!("node app (pid {})", app.pid))
            && up.stderr.contains("no process"),
        "{}",
        up.stderr
    );
    let down = sb.vnet("down k").ok();
    assert!(
        down.stdout
            .contains(&format!("external node app (pid {})", app.pid)),
        "{}",
        down.stdout
    );
    assert!(sb.netns().is_empty());
    assert_eq!(sb.links(""), ["lo"]);
}

fn names_held_in_an_external_namespace_are_refused_before_any_change() {
    let sb = Sandbox::new();
    hand_made(&sb, "red");
    let before = snapshot(&sb, "ip netns exec red");
    write_lab(
        &sb,
        "/run/c.yaml",
        "name: c\nnodes:\n  red: { netns: red }\n  ns1: {}\nlinks:\n  - endpoints: [\"red:own0\", \"ns1:eth1\"]\n",
    );
    let up = sb.vnet("up /run/c.yaml");
    assert_ne!(up.code, 0);
    assert!(
        up.stderr.contains("interface own0 in red") && up.stderr.contains("not managed by vnet"),
        "{}",
        up.stderr
    );
    assert_eq!(before, snapshot(&sb, "ip netns exec red"));
    assert_eq!(sb.netns(), ["red"]);
    assert_eq!(sb.links(""), ["lo"]);
}

/// A fake Docker API on a unix socket (outside the sandbox, linked in at
/// /run/docker.sock): `web` runs as `pid`, `old` is stopped, anything else
/// is unknown.
fn fake_docker(dir: &std::path::Path, pid: u32) -> std::path::PathBuf {
    let path = dir.join("docker.sock");
    let listener = UnixListener::bind(&path).expect("bind the fake socket");
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut c) = conn else { continue };
            let mut line = String::new();
            let mut r = BufReader::new(c.try_clone().expect("clone"));
            if r.read_line(&mut line).is_err() {
                continue;
            }
            loop {
                let mut h = String::new();
                if r.read_line(&mut h).is_err() || h == "\r\n" || h.is_empty() {
                    break;
                }
            }
            let (code, body) = if line.starts_with("GET /containers/web/json ") {
                (
                    "200 OK",
                    format!("{{\"Id\":\"abc\",\"State\":{{\"Running\":true,\"Pid\":{pid}}}}}"),
                )
            } else if line.starts_with("GET /containers/old/json ") {
                (
                    "200 OK",
                    "{\"State\":{\"Running\":false,\"Pid\":0}}".to_string(),
                )
            } else {
                (
                    "404 Not Found",
                    "{\"message\":\"No such container\"}".to_string(),
                )
            };
            let _ = write!(
                c,
                "HTTP/1.1 {code}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    path
}

fn containers_are_found_through_the_runtime_socket_or_named_missing() {
    let sb = Sandbox::new();
    let web = Sleeper::start(&sb);
    let lab = |c: &str| {
        format!(
            "name: d\nnodes:\n  web: {{ container: {c} }}\n  ns1: {{}}\nlinks:\n  - endpoints: [{{ node: web, interface: eth1, ip: 10.0.0.10/24 }}, {{ node: ns1, interface: eth1, ip: 10.0.0.1/24 }}]\n"
        )
    };
    write_lab(&sb, "/run/d.yaml", &lab("web"));
    // No runtime: the error names every socket looked for.
    let none = sb.vnet("up /run/d.yaml");
    assert_ne!(none.code, 0);
    for s in [
        "/run/docker.sock",
        "/var/run/docker.sock",
        "/run/podman/podman.sock",
    ] {
        assert!(none.stderr.contains(s), "{s}: {}", none.stderr);
    }
    assert!(sb.netns().is_empty(), "nothing was made");

    let dir = std::env::temp_dir().join(format!("vnet-fake-docker-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let sock = fake_docker(&dir, web.pid);
    sb.sh(&format!("ln -s {} /run/docker.sock", sock.display()))
        .ok();
    sb.vnet("up /run/d.yaml").ok();
    assert!(sb.pings("ns1", "10.0.0.10"));
    let status = sb.vnet("status d").ok();
    assert!(
        status.stdout.contains("web (container web)"),
        "{}",
        status.stdout
    );
    sb.vnet("down d").ok();
    assert!(web.alive());

    write_lab(&sb, "/run/d.yaml", &lab("old"));
    let stopped = sb.vnet("up /run/d.yaml");
    assert!(
        stopped.stderr.contains("container old is not running"),
        "{}",
        stopped.stderr
    );
    write_lab(&sb, "/run/d.yaml", &lab("nope"));
    let unknown = sb.vnet("up /run/d.yaml");
    assert!(
        unknown.stderr.contains("no container nope"),
        "{}",
        unknown.stderr
    );
    let _ = std::fs::remove_dir_all(&dir);
}

fn rootless_mode_refuses_namespaces_it_does_not_own_and_says_why() {
    let sb = Sandbox::new();
    let app = Sleeper::start(&sb);
    write_lab(
        &sb,
        "/run/r.yaml",
        &format!(
            "name: r\nnodes:\n  app: {{ pid: {} }}\n  ns1: {{}}\nlinks:\n  - endpoints: [\"app:eth1\", \"ns1:eth1\"]\n",
            app.pid
        ),
    );
    sb.sh("chmod 644 /run/r.yaml").ok();
    let up = sb.vnet_as_user("up /run/r.yaml");
    assert_ne!(up.code, 0, "{}", up.stdout);
    assert!(up.stderr.contains("rootless mode"), "{}", up.stderr);
    assert!(up.stderr.contains("node app"), "{}", up.stderr);
    assert!(app.alive());
}

fn external_keys_are_checked_with_line_and_column() {
    let dir = std::env::temp_dir().join(format!("vnet-ext-validate-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let f = dir.join("v.yaml");
    std::fs::write(
        &f,
        "name: v\nnodes:\n  a: { pid: 12, container: web }\n  b: { netns: red, forward: true }\n  c: { netns: \"a/b\" }\n  d: {}\n  e: { netns: d }\n",
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_vnet"))
        .arg("validate")
        .arg(&f)
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("exclude each other") && err.contains("v.yaml:3:"),
        "{err}"
    );
    assert!(
        err.contains("`forward` would change the namespace"),
        "{err}"
    );
    assert!(err.contains("absolute path"), "{err}");
    assert!(err.contains("`d` is a node this lab makes"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

fn a_namespace_made_again_is_found_again_by_its_path() {
    let sb = Sandbox::new();
    sb.sh("ip netns add blue").ok();
    write_lab(
        &sb,
        "/run/p.yaml",
        "name: p\nnodes:\n  side: { netns: /run/netns/blue }\n  ns1: {}\nlinks:\n  - endpoints: [{ node: side, interface: eth1, ip: 10.0.0.12/24 }, { node: ns1, interface: eth1, ip: 10.0.0.1/24 }]\n",
    );
    sb.vnet("up /run/p.yaml").ok();
    assert!(sb.pings("blue", "10.0.0.1"));
    // The namespace is deleted and made again under the same path.
    sb.sh("ip netns del blue && ip netns add blue").ok();
    assert!(!sb.pings("blue", "10.0.0.1"));
    let again = sb.vnet("up /run/p.yaml").ok();
    assert!(!again.stdout.contains("nothing to do"), "{}", again.stdout);
    assert!(sb.pings("blue", "10.0.0.1"), "rebuilt in the new namespace");
    sb.vnet("down p").ok();
    assert_eq!(sb.links("blue"), ["lo"]);
    assert_eq!(sb.netns(), ["blue"]);
}

fn main() -> std::process::ExitCode {
    sandbox::harness::run(vec![
        plain!(external_keys_are_checked_with_line_and_column),
        kernel_with!(
            a_process_a_hand_made_namespace_a_path_and_a_vnet_namespace_ping_all_pairs,
            "ping"
        ),
        kernel_with!(a_killed_process_is_reported_by_status_down_and_up, "ping"),
        kernel!(names_held_in_an_external_namespace_are_refused_before_any_change),
        kernel_with!(
            containers_are_found_through_the_runtime_socket_or_named_missing,
            "ping"
        ),
        kernel!(rootless_mode_refuses_namespaces_it_does_not_own_and_says_why),
        kernel_with!(a_namespace_made_again_is_found_again_by_its_path, "ping"),
    ])
}
