//! Workloads in nodes (`files:`, `dirs:`, `exec:`, `run:`, `ready:`,
//! `vnet logs`, `down` ending what runs inside), each test in its own
//! sandbox; results read from inside and outside the nodes.

#[macro_use]
mod sandbox;

use sandbox::Sandbox;

/// Write `text` as /run/t/NAME.yaml in the sandbox (plus any extra shell).
fn lab(sb: &Sandbox, name: &str, text: &str) -> String {
    sb.sh(&format!(
        "mkdir -p /run/t && cat > /run/t/{name}.yaml <<'EOF'\n{text}\nEOF"
    ))
    .ok();
    format!("/run/t/{name}.yaml")
}

/// The `run:` processes `status --json` lists: (node, pid, state, exit).
fn procs(sb: &Sandbox, lab: &str) -> Vec<(String, u64, String, Option<String>)> {
    let out = sb.vnet(&format!("status --json {lab}")).ok();
    let v: serde_json::Value = serde_json::from_str(&out.stdout).expect("json");
    v["processes"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|p| {
                    (
                        p["node"].as_str().unwrap_or_default().to_string(),
                        p["pid"].as_u64().unwrap_or_default(),
                        p["state"].as_str().unwrap_or_default().to_string(),
                        p["exit"].as_str().map(str::to_string),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Whether process `pid` is gone (a zombie waiting for init is gone:
/// it holds no namespace).
fn gone(sb: &Sandbox, pid: impl std::fmt::Display) -> bool {
    sb.sh(&format!(
        "! test -e /proc/{pid} || grep -q '^[0-9]* (.*) Z' /proc/{pid}/stat"
    ))
    .code
        == 0
}

/// Wait (bounded by attempts, not by a clock) until `cond` holds.
fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    for _ in 0..200 {
        if cond() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    panic!("never: {what}");
}

fn files_and_dirs_are_the_nodes_own() {
    let sb = Sandbox::new();
    sb.sh("mkdir -p /run/t/conf && echo from-a-dir > /run/t/conf/a.txt")
        .ok();
    let before = sb.sh("sha256sum /etc/hostname /etc/passwd").ok().stdout;
    let f = lab(
        &sb,
        "wf",
        r#"name: wf
nodes:
  wf1:
    files:
      /etc/hostname: "wf1-inside\n"
      /etc/vnet-wf-new.conf: "made inside\n"
      /opt/vnet-wf/conf: { from: conf }
    dirs:
      /var/lib/vnet-wf: { owner: nobody, mode: "0750" }
    exec: ["cat /etc/hostname /etc/vnet-wf-new.conf"]"#,
    );
    sb.vnet(&format!("up {f}")).ok();
    let inside = sb
        .vnet("exec wf1 -- cat /etc/hostname /etc/vnet-wf-new.conf /opt/vnet-wf/conf/a.txt")
        .ok();
    assert_eq!(inside.stdout, "wf1-inside\nmade inside\nfrom-a-dir\n");
    // Read-only inside: the node cannot write through to anything.
    let w = sb.vnet("exec wf1 -- sh -c 'echo x > /etc/hostname'");
    assert_ne!(w.code, 0, "{}", w.stderr);
    assert!(w.stderr.contains("Read-only"), "{}", w.stderr);
    let dir = sb.vnet("exec wf1 -- stat -f -c %T /var/lib/vnet-wf").ok();
    assert_eq!(dir.stdout.trim(), "tmpfs");
    let owner = sb.vnet("exec wf1 -- stat -c '%U %a' /var/lib/vnet-wf").ok();
    assert_eq!(owner.stdout.trim(), "nobody 750");
    // /etc is shown as the host's (an entry is still there) plus the new file.
    sb.vnet("exec wf1 -- test -s /etc/passwd").ok();
    // Outside: the host's files are byte-identical, the new paths absent.
    assert_eq!(
        sb.sh("sha256sum /etc/hostname /etc/passwd").ok().stdout,
        before
    );
    sb.sh(
        "test ! -e /etc/vnet-wf-new.conf && test ! -e /opt/vnet-wf && test ! -e /var/lib/vnet-wf",
    )
    .ok();
    let logs = sb.vnet("logs wf1").ok();
    assert!(logs.stdout.contains("wf1-inside"), "{}", logs.stdout);
    sb.vnet("down wf").ok();
    assert!(sb.netns().is_empty());
    assert_eq!(
        sb.sh("sha256sum /etc/hostname /etc/passwd").ok().stdout,
        before
    );
}

fn a_failing_exec_rolls_the_lab_back() {
    let sb = Sandbox::new();
    let f = lab(
        &sb,
        "wx",
        "name: wx\nnodes:\n  wx1:\n    files:\n      /etc/hostname: \"x\\n\"\n    exec:\n      - \"echo about to fail\"\n      - \"echo last words; exit 3\"\n  wx2: {}\nlinks:\n  - endpoints: [\"wx1:eth0\", \"wx2:eth0\"]",
    );
    let out = sb.vnet(&format!("up {f}")).expect(1);
    assert!(out.stderr.contains("exit code 3"), "{}", out.stderr);
    assert!(out.stderr.contains("last words"), "{}", out.stderr);
    assert!(out.stderr.contains("rolled back"), "{}", out.stderr);
    assert!(sb.netns().is_empty(), "{:?}", sb.netns());
    sb.sh("test ! -e /run/vnet/mnt/wx1").ok();
}

fn a_killed_daemon_shows_exited_and_comes_back_on_up() {
    let sb = Sandbox::new();
    let f = lab(
        &sb,
        "wk",
        "name: wk\nnodes:\n  wk1:\n    run: [\"sleep 4701\"]",
    );
    sb.vnet(&format!("up {f}")).ok();
    let p = procs(&sb, "wk");
    assert_eq!(p.len(), 1, "{p:?}");
    assert_eq!(p[0].2, "running");
    let pid = p[0].1;
    // Killed by hand (this test started it: its pid is the lab's record).
    sb.sh(&format!("kill -9 {pid}")).ok();
    eventually("the daemon shows as exited", || {
        procs(&sb, "wk")[0].2 == "exited"
    });
    assert_eq!(procs(&sb, "wk")[0].3.as_deref(), Some("137"));
    let up = sb.vnet(&format!("up {f}")).ok();
    assert!(up.stdout.contains("1 process(es) started"), "{}", up.stdout);
    let p = procs(&sb, "wk");
    assert_eq!(p[0].2, "running");
    assert_ne!(p[0].1, pid);
    // A second `up` keeps it.
    let up = sb.vnet(&format!("up {f}")).ok();
    assert!(up.stdout.contains("1 kept running"), "{}", up.stdout);
    sb.vnet("down wk").ok();
}

fn down_ends_everything_inside_the_lab() {
    let sb = Sandbox::new();
    let f = lab(
        &sb,
        "wd",
        "name: wd\nnodes:\n  wd1:\n    exec: [\"sleep 4702 >/dev/null 2>&1 &\"]\n    run: [\"sleep 4703\"]\n  wd2: {}\nlinks:\n  - endpoints: [\"wd1:eth0\", \"wd2:eth0\"]",
    );
    sb.vnet(&format!("up {f}")).ok();
    // One started by a person, in the background, through the CLI.
    sb.sh("setsid \"$VNET\" exec wd2 -- sleep 4704 </dev/null >/dev/null 2>&1 &")
        .ok();
    eventually("the exec'd sleep runs", || {
        sb.sh("pgrep -f '^sleep 4704$' >/dev/null").code == 0
    });
    let pids = sb.sh("pgrep -f '^sleep 470[234]$'").ok().stdout;
    assert_eq!(pids.lines().count(), 3, "{pids}");
    let down = sb.vnet("down --grace 2 wd").ok();
    assert!(down.stdout.contains("ended sleep"), "{}", down.stdout);
    for pid in pids.lines() {
        assert!(gone(&sb, pid), "{pid} is left");
    }
    assert!(sb.netns().is_empty());
}

fn a_tcp_ready_check_waits_for_the_listener() {
    if !std::path::Path::new("/usr/bin/python3").exists() {
        return;
    }
    let sb = Sandbox::new();
    let f = lab(
        &sb,
        "wr",
        "name: wr\nnodes:\n  wr1:\n    run: [\"sleep 0.3; exec python3 -m http.server -b 127.0.0.1 8471\"]\n    ready: { tcp: 8471, timeout: 30s }",
    );
    let up = sb.vnet(&format!("up {f}")).ok();
    assert!(up.stdout.contains("1 node(s) ready"), "{}", up.stdout);
    sb.vnet(
        "exec wr1 -- python3 -c 'import socket; socket.create_connection((\"127.0.0.1\", 8471))'",
    )
    .ok();
    sb.vnet("down wr").ok();
}

/// Validation needs no kernel, but the sandbox gives the test a /run/t.
fn bad_workload_keys_are_refused_at_their_place() {
    let sb = Sandbox::new();
    let f = lab(
        &sb,
        "wv",
        "name: wv\nnodes:\n  wv1:\n    files:\n      etc/x: hi\n      /etc/y: { from: nowhere }\n    dirs:\n      /var/z: { mode: \"9\" }\n    ready: { timeout: 5s }",
    );
    let out = sb.vnet(&format!("validate {f}")).expect(2);
    assert!(out.stderr.contains("absolute"), "{}", out.stderr);
    assert!(out.stderr.contains("octal"), "{}", out.stderr);
    assert!(out.stderr.contains("one check"), "{}", out.stderr);
    assert!(out.stderr.contains(":5:"), "{}", out.stderr);
    let fixed = lab(
        &sb,
        "wv2",
        "name: wv2\nnodes:\n  wv1:\n    files:\n      /etc/y: { from: nowhere }",
    );
    let out = sb.vnet(&format!("validate {fixed}")).expect(2);
    assert!(out.stderr.contains("does not exist"), "{}", out.stderr);
}

fn frr_ospf_converges_and_pings_end_to_end() {
    let sb = Sandbox::new();
    let before = sb.sh("cd /etc/frr && sha256sum *").ok().stdout;
    let up = sb.vnet("up examples/frr-ospf.yaml").ok();
    assert!(up.stdout.contains("2 node(s) ready"), "{}", up.stdout);
    // Converged when `up` returned: every pair answers at once.
    let all = sb.vnet("ping --all").ok();
    assert!(
        all.stdout.contains("20/20 pairs reachable"),
        "{}",
        all.stdout
    );
    let n = sb
        .vnet("exec r2 -- vtysh -c 'show ip ospf neighbor'")
        .ok()
        .stdout;
    assert_eq!(n.matches("Full").count(), 2, "{n}");
    let logs = sb.vnet("logs r1").ok().stdout;
    assert!(logs.contains("zebra") && logs.contains("ospfd"), "{logs}");
    let routes = sb.ip_json("-n r1 route show 10.0.2.0/24");
    assert_eq!(routes[0]["protocol"], "ospf", "{routes}");
    assert_eq!(sb.sh("cd /etc/frr && sha256sum *").ok().stdout, before);
    let pids: Vec<u64> = procs(&sb, "frr-ospf").iter().map(|p| p.1).collect();
    assert_eq!(pids.len(), 6, "{pids:?}");
    let down = sb.vnet("down frr-ospf").ok();
    assert!(down.stdout.contains("ended zebra"), "{}", down.stdout);
    for pid in pids {
        assert!(gone(&sb, pid), "{pid} is left");
    }
    assert!(sb.netns().is_empty());
}

fn main() -> std::process::ExitCode {
    sandbox::harness::run(vec![
        kernel!(files_and_dirs_are_the_nodes_own),
        kernel!(a_failing_exec_rolls_the_lab_back),
        kernel!(a_killed_daemon_shows_exited_and_comes_back_on_up),
        kernel!(down_ends_everything_inside_the_lab),
        kernel!(a_tcp_ready_check_waits_for_the_listener),
        kernel!(bad_workload_keys_are_refused_at_their_place),
        kernel_with!(
            frr_ospf_converges_and_pings_end_to_end,
            "/usr/lib/frr/zebra",
            "/usr/lib/frr/ospfd",
            "vtysh"
        ),
    ])
}
