//! `vnet up`, `down`, `status`, `exec` against the real kernel, each test in
//! its own sandbox; results checked as iproute2 sees them and with pings.

#[macro_use]
mod sandbox;

fn ifindex(sb: &sandbox::Sandbox, ns: &str, name: &str) -> u64 {
    sb.link(ns, name)["ifindex"].as_u64().expect("ifindex")
}

fn master(sb: &sandbox::Sandbox, ns: &str, name: &str) -> Option<String> {
    sb.link(ns, name)["master"].as_str().map(str::to_string)
}

fn seed_bridge_comes_up_and_pings() {
    let sb = sandbox::Sandbox::new();
    let out = sb.vnet("up examples/seed-bridge.yaml").ok();
    assert!(out.stdout.contains("seed-bridge: up in"), "{}", out.stdout);
    assert_eq!(sb.netns(), ["ns1", "ns2"]);
    assert_eq!(sb.addrs("ns1", "veth0"), ["192.168.1.1/24"]);
    assert_eq!(sb.addrs("ns2", "veth1"), ["192.168.1.2/24"]);
    let veth0 = sb.link("ns1", "veth0");
    assert!(
        veth0["flags"].as_array().unwrap().iter().any(|f| f == "UP"),
        "{veth0}"
    );
    assert_eq!(veth0["operstate"], "UP");
    assert_eq!(master(&sb, "", "br0-veth0").as_deref(), Some("br0"));
    assert_eq!(master(&sb, "", "br0-veth1").as_deref(), Some("br0"));
    // `up` returned when the network works: the first ping answers.
    assert!(sb.pings("ns1", "192.168.1.2"));
    assert!(sb.pings("ns2", "192.168.1.1"));
    // lo is up in every lab namespace.
    assert!(
        sb.link("ns1", "lo")["flags"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f == "UP")
    );
}

fn second_up_changes_nothing() {
    let sb = sandbox::Sandbox::new();
    sb.vnet("up examples/seed-bridge.yaml").ok();
    let before: Vec<u64> = ["br0", "br0-veth0", "br0-veth1"]
        .iter()
        .map(|n| ifindex(&sb, "", n))
        .collect();
    let v0 = ifindex(&sb, "ns1", "veth0");
    let out = sb.vnet("up examples/seed-bridge.yaml").ok();
    assert!(out.stdout.contains("nothing to do"), "{}", out.stdout);
    let after: Vec<u64> = ["br0", "br0-veth0", "br0-veth1"]
        .iter()
        .map(|n| ifindex(&sb, "", n))
        .collect();
    assert_eq!(before, after);
    assert_eq!(v0, ifindex(&sb, "ns1", "veth0"));
    let dry = sb.vnet("up --dry-run examples/seed-bridge.yaml").ok();
    assert!(dry.stdout.contains("nothing to do"), "{}", dry.stdout);
}

fn up_reconciles_manual_changes_in_place() {
    let sb = sandbox::Sandbox::new();
    sb.vnet("up examples/seed-bridge.yaml").ok();
    let idx = ifindex(&sb, "", "br0-veth1");
    sb.sh(
        "ip -n ns1 addr del 192.168.1.1/24 dev veth0 && ip -n ns1 addr add 10.9.9.9/24 dev veth0 \
         && ip link set br0-veth1 nomaster && ip link set br0-veth0 mtu 1400 && ip -n ns2 link set veth1 down",
    )
    .ok();
    assert!(!sb.pings("ns1", "192.168.1.2"));
    let out = sb.vnet("up examples/seed-bridge.yaml").ok();
    assert!(out.stdout.contains("0 created"), "{}", out.stdout);
    assert_eq!(sb.addrs("ns1", "veth0"), ["192.168.1.1/24"]);
    assert_eq!(master(&sb, "", "br0-veth1").as_deref(), Some("br0"));
    assert_eq!(sb.link("", "br0-veth0")["mtu"], 1500);
    assert_eq!(
        idx,
        ifindex(&sb, "", "br0-veth1"),
        "corrected in place, not re-created"
    );
    assert!(sb.pings("ns1", "192.168.1.2"));
}

fn up_removes_what_the_file_no_longer_declares() {
    let sb = sandbox::Sandbox::new();
    sb.vnet("up examples/seed-bridge.yaml").ok();
    sb.sh("mkdir -p /run/t && cat > /run/t/lab.yaml <<'EOF'
name: seed-bridge
nodes:
  ns1: {}
  br0: { kind: bridge }
links:
  - endpoints: [\"ns1:veth0\", \"br0:br0-veth0\"]
EOF")
        .ok();
    let out = sb.vnet("up /run/t/lab.yaml").ok();
    assert!(out.stdout.contains("removed"), "{}", out.stdout);
    assert_eq!(sb.netns(), ["ns1"]);
    assert_eq!(sb.links(""), ["br0", "br0-veth0", "lo"]);
}

fn down_removes_the_lab_and_nothing_else() {
    let sb = sandbox::Sandbox::new();
    sb.sh("ip netns add other && ip link add keepme type bridge && ip link add br1-veth0 type veth peer name x0")
        .ok();
    sb.vnet("up examples/seed-bridge.yaml").ok();
    let out = sb.vnet("down seed-bridge").ok();
    assert!(out.stdout.contains("2 namespaces"), "{}", out.stdout);
    assert_eq!(sb.netns(), ["other"]);
    assert_eq!(sb.links(""), ["br1-veth0", "keepme", "lo", "x0"]);
    // Nothing of vnet's own is left either.
    assert_eq!(sb.sh("ls -A /run/vnet").ok().stdout.trim(), "");
    // A second down finds nothing and still succeeds.
    assert!(
        sb.vnet("down seed-bridge")
            .ok()
            .stdout
            .contains("nothing to remove")
    );
}

fn down_works_without_the_state_record_or_the_file() {
    let sb = sandbox::Sandbox::new();
    sb.sh("mkdir -p /run/t && cp examples/seed-veth.yaml /run/t/lab.yaml")
        .ok();
    sb.vnet("up /run/t/lab.yaml").ok();
    sb.sh("rm -f /run/t/lab.yaml /run/vnet/*.json").ok();
    sb.vnet("down seed-veth").ok();
    assert!(sb.netns().is_empty());
    assert_eq!(sb.links(""), ["lo"]);
}

fn refuses_names_held_by_others_before_changing_anything() {
    let sb = sandbox::Sandbox::new();
    sb.sh("ip link add br0 type bridge").ok();
    let out = sb.vnet("up examples/seed-bridge.yaml").expect(1);
    assert!(
        out.stderr.contains("interface br0 in the host namespace"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("not managed by vnet"), "{}", out.stderr);
    assert!(sb.netns().is_empty(), "nothing was created");
    assert_eq!(sb.links(""), ["br0", "lo"]);

    let sb = sandbox::Sandbox::new();
    sb.sh("ip netns add ns2").ok();
    let out = sb.vnet("up examples/seed-bridge.yaml").expect(1);
    assert!(out.stderr.contains("namespace ns2"), "{}", out.stderr);
    assert_eq!(sb.netns(), ["ns2"]);
    assert_eq!(sb.links(""), ["lo"]);
    // down of the lab must not touch the foreign namespace either.
    sb.vnet("down seed-bridge").ok();
    assert_eq!(sb.netns(), ["ns2"]);
}

fn a_failing_step_rolls_back_everything() {
    let sb = sandbox::Sandbox::new();
    // Count the kernel operations of a full bring-up, then fail at several.
    sb.vnet("up examples/router.yaml").ok();
    sb.vnet("down router").ok();
    for k in [1, 2, 4, 6, 9, 12, 15] {
        let out = sb.sh_env(
            "\"$VNET\" up examples/router.yaml",
            &[("VNET_FAULT_AT", &k.to_string())],
        );
        assert_eq!(out.code, 1, "k={k}: {}\n{}", out.stdout, out.stderr);
        assert!(
            out.stderr.contains("fault injected"),
            "k={k}: {}",
            out.stderr
        );
        assert!(
            out.stderr.contains("step:"),
            "k={k}: names the step: {}",
            out.stderr
        );
        assert!(out.stderr.contains("rolled back"), "k={k}: {}", out.stderr);
        assert!(sb.netns().is_empty(), "k={k}: {:?}", sb.netns());
        assert_eq!(sb.links(""), ["lo"], "k={k}");
        assert_eq!(sb.sh("ls -A /run/vnet").ok().stdout.trim(), "", "k={k}");
    }
}

fn dry_run_is_a_script_that_builds_the_same_network() {
    let sb = sandbox::Sandbox::new();
    let script = sb
        .vnet("up --dry-run examples/seed-bridge.yaml")
        .ok()
        .stdout;
    assert!(script.contains("ip netns add ns1"));
    assert!(script.contains("ip link add br0 type bridge"));
    assert!(script.contains("master br0"));
    sb.sh(&format!(
        "mkdir -p /run/t && cat > /run/t/plan.sh <<'EOF'\n{script}EOF\nsh /run/t/plan.sh"
    ))
    .ok();
    assert_eq!(sb.netns(), ["ns1", "ns2"]);
    assert_eq!(sb.addrs("ns1", "veth0"), ["192.168.1.1/24"]);
    assert_eq!(master(&sb, "", "br0-veth1").as_deref(), Some("br0"));
    assert!(sb.pings("ns1", "192.168.1.2"));
    // The script's marks make its result the lab's: vnet sees nothing to do.
    assert!(
        sb.vnet("up examples/seed-bridge.yaml")
            .ok()
            .stdout
            .contains("nothing to do")
    );
    sb.vnet("down seed-bridge").ok();
    assert!(sb.netns().is_empty());
}

fn seed_veth_and_router_labs_forward() {
    let sb = sandbox::Sandbox::new();
    sb.vnet("up examples/seed-veth.yaml").ok();
    assert!(sb.pings("ns1", "192.168.1.2"));
    sb.vnet("up examples/router.yaml").ok();
    assert!(sb.pings("h1", "10.0.2.2"));
    assert!(sb.pings("h2", "2001:db8:1::2"));
    assert_eq!(
        sb.sh("ip netns exec r1 cat /proc/sys/net/ipv4/ip_forward")
            .ok()
            .stdout
            .trim(),
        "1"
    );
    let routes = sb.ip_json("-n h1 route show default");
    assert_eq!(routes[0]["gateway"], "10.0.1.1");
}

fn status_shows_the_lab_and_its_drift() {
    let sb = sandbox::Sandbox::new();
    sb.vnet("up examples/seed-bridge.yaml").ok();
    let list = sb.vnet("status").ok().stdout;
    assert!(list.contains("seed-bridge"), "{list}");
    let s = sb.vnet("status seed-bridge --json").ok().stdout;
    let v: serde_json::Value = serde_json::from_str(&s).unwrap();
    assert_eq!(v["drift"].as_array().unwrap().len(), 0, "{s}");
    let ns1 = v["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["name"] == "ns1")
        .unwrap();
    assert_eq!(ns1["interfaces"][0]["peer"], "host:br0-veth0");
    sb.sh("ip -n ns1 link set veth0 down").ok();
    let text = sb.vnet("status seed-bridge").ok().stdout;
    assert!(text.contains("ip -n ns1 link set dev veth0 up"), "{text}");
}

fn exec_runs_inside_the_node_and_passes_the_exit_code() {
    let sb = sandbox::Sandbox::new();
    sb.vnet("up examples/seed-veth.yaml").ok();
    let out = sb.vnet("exec ns1 -- ip -j addr show dev veth0").ok();
    assert!(out.stdout.contains("192.168.1.1"), "{}", out.stdout);
    assert_eq!(sb.vnet("exec ns1 -- sh -c 'exit 7'").code, 7);
    assert_eq!(sb.vnet("exec nosuch -- true").code, 2);
}

fn without_privilege_nothing_changes() {
    let sb = sandbox::Sandbox::new();
    let out = sb.sh("$NOBODY \"$VNET\" up examples/seed-bridge.yaml");
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(out.stderr.contains("needs root"), "{}", out.stderr);
    assert_eq!(
        out.stderr.trim().lines().count(),
        1,
        "one line: {}",
        out.stderr
    );
    assert!(sb.netns().is_empty());
    // The dry run needs no privilege.
    sb.sh("$NOBODY \"$VNET\" up --dry-run examples/seed-bridge.yaml")
        .ok();
}

fn two_ups_of_one_lab_at_once_never_mix() {
    let sb = sandbox::Sandbox::new();
    let out = sb.sh(
        "\"$VNET\" up examples/seed-bridge.yaml & \"$VNET\" up examples/seed-bridge.yaml; wait $!",
    );
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert_eq!(sb.netns(), ["ns1", "ns2"]);
    assert!(
        sb.vnet("up examples/seed-bridge.yaml")
            .ok()
            .stdout
            .contains("nothing to do")
    );
    assert!(sb.pings("ns1", "192.168.1.2"));
}

/// A 200-node star, for tests that need `up` to take a while.
fn big_lab(sb: &sandbox::Sandbox) {
    sb.sh("mkdir -p /run/t && python3 bench/star.py 200 > /run/t/big.yaml")
        .ok();
}

fn sigterm_during_up_rolls_back() {
    let sb = sandbox::Sandbox::new();
    big_lab(&sb);
    let out = sb.sh("\"$VNET\" up /run/t/big.yaml & pid=$!; sleep 0.15; kill -TERM $pid; wait $pid; echo \"rc=$?\"");
    let finished = out.stdout.contains("rc=0");
    if finished {
        // It won the race: then it is complete.
        assert_eq!(sb.netns().len(), 200);
    } else {
        assert!(out.stdout.contains("rc=1"), "{}{}", out.stdout, out.stderr);
        assert!(out.stderr.contains("interrupted"), "{}", out.stderr);
        assert!(sb.netns().is_empty(), "rolled back: {:?}", sb.netns().len());
        assert_eq!(sb.links(""), ["lo"]);
    }
}

fn after_kill_9_down_removes_every_piece() {
    let sb = sandbox::Sandbox::new();
    big_lab(&sb);
    for delay in ["0.05", "0.2", "0.4"] {
        sb.sh(&format!("\"$VNET\" up /run/t/big.yaml >/dev/null 2>&1 & pid=$!; sleep {delay}; kill -KILL $pid; wait $pid; true"))
            .ok();
        sb.vnet("down star200").ok();
        assert!(
            sb.netns().is_empty(),
            "delay {delay}: {} namespaces left",
            sb.netns().len()
        );
        assert_eq!(sb.links(""), ["lo"], "delay {delay}");
        assert_eq!(
            sb.sh("ls -A /run/vnet").ok().stdout.trim(),
            "",
            "delay {delay}"
        );
        // Nothing mounted is left under /run/netns either.
        assert_eq!(
            sb.sh("grep -c /run/netns/ /proc/self/mountinfo || true")
                .ok()
                .stdout
                .trim(),
            "0"
        );
    }
}

fn dry_run_scripts_quote_names_the_shell_would_act_on() {
    let sb = sandbox::Sandbox::new();
    sb.sh(
        "mkdir -p /run/t && cat > /run/t/odd.yaml <<'EOF'
name: odd
nodes:
  a: {}
  b: {}
links:
  - endpoints: [{ node: a, interface: \"e;touch>f\", ip: 10.0.0.1/24 }, { node: b, interface: \"$(id)'x\", ip: 10.0.0.2/24 }]
EOF",
    )
    .ok();
    let script = sb.vnet("up --dry-run /run/t/odd.yaml").ok().stdout;
    assert!(script.contains("'e;touch>f'"), "{script}");
    sb.sh(&format!(
        "cd /run/t && cat > plan.sh <<'EOF'\n{script}EOF\nsh plan.sh"
    ))
    .ok();
    assert!(
        sb.sh("test ! -e /run/t/f").code == 0,
        "the name ran as a command"
    );
    assert_eq!(sb.links("a"), ["e;touch>f", "lo"]);
    assert_eq!(sb.links("b"), ["$(id)'x", "lo"]);
    assert!(
        sb.vnet("up /run/t/odd.yaml")
            .ok()
            .stdout
            .contains("nothing to do")
    );
    assert!(sb.pings("a", "10.0.0.2"));
}

fn bridges_in_namespaces_and_host_ends_answer_at_once() {
    let sb = sandbox::Sandbox::new();
    sb.sh(
        "mkdir -p /run/t && cat > /run/t/inns.yaml <<'EOF'
name: inns
nodes:
  sw: {}
  a: {}
  b: {}
  br0: { kind: bridge, in: sw, ip: 10.1.0.254/24 }
links:
  - endpoints: [{node: a, interface: e0, ip: 10.1.0.1/24}, \"br0:p-a\"]
  - endpoints: [{node: b, interface: e0, ip: 10.1.0.2/24}, \"br0:p-b\"]
  - endpoints: [{node: host, interface: vh-a, ip: 10.2.0.1/30}, {node: a, interface: e1, ip: 10.2.0.2/30}]
EOF",
    )
    .ok();
    sb.vnet("up /run/t/inns.yaml").ok();
    // The bridge's own address answers the moment `up` returns.
    assert!(sb.pings("b", "10.1.0.254"));
    assert!(sb.pings("a", "10.1.0.2"));
    assert!(sb.sh("ping -c1 -W2 10.2.0.2").code == 0, "host to a");
    assert_eq!(master(&sb, "sw", "p-a").as_deref(), Some("br0"));
    assert!(sb.link("", "vh-a")["ifalias"].as_str() == Some("vnet:inns"));
    sb.vnet("down inns").ok();
    assert_eq!(sb.links(""), ["lo"]);
    assert!(sb.netns().is_empty());
}

fn main() -> std::process::ExitCode {
    sandbox::harness::run(vec![
        kernel!(seed_bridge_comes_up_and_pings),
        kernel!(second_up_changes_nothing),
        kernel!(up_reconciles_manual_changes_in_place),
        kernel!(up_removes_what_the_file_no_longer_declares),
        kernel!(down_removes_the_lab_and_nothing_else),
        kernel!(down_works_without_the_state_record_or_the_file),
        kernel!(refuses_names_held_by_others_before_changing_anything),
        kernel!(a_failing_step_rolls_back_everything),
        kernel!(dry_run_is_a_script_that_builds_the_same_network),
        kernel!(seed_veth_and_router_labs_forward),
        kernel!(status_shows_the_lab_and_its_drift),
        kernel!(exec_runs_inside_the_node_and_passes_the_exit_code),
        kernel!(without_privilege_nothing_changes),
        kernel!(two_ups_of_one_lab_at_once_never_mix),
        kernel!(sigterm_during_up_rolls_back),
        kernel!(after_kill_9_down_removes_every_piece),
        kernel!(dry_run_scripts_quote_names_the_shell_would_act_on),
        kernel!(bridges_in_namespaces_and_host_ends_answer_at_once),
    ])
}
