//! `vnet ping`, `vnet ping --all` and `vnet trace` against real networks,
//! each test in its own sandbox; traffic only between the test's own
//! namespaces. Results are checked against real packets: replies counted,
//! frames captured, pcapng files read back with tshark.

#[macro_use]
mod sandbox;

use std::time::Instant;

use serde_json::Value;

fn json(out: &sandbox::Out) -> Value {
    serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}):\n{}\n{}", out.stdout, out.stderr))
}

/// An N-node star: n1..nN, each `eth0` with 10.0.(i/256).(i%256)/16, on bridge br0.
fn star(n: usize, name: &str) -> String {
    let mut s = format!("name: {name}\nnodes:\n  br0: {{ kind: bridge }}\n");
    for i in 1..=n {
        s.push_str(&format!("  n{i}: {{}}\n"));
    }
    s.push_str("links:\n");
    for i in 1..=n {
        s.push_str(&format!(
            "  - endpoints: [{{ node: n{i}, interface: eth0, ip: 10.0.{}.{}/16 }}, \"br0:br0-n{i}\"]\n",
            i / 256,
            i % 256
        ));
    }
    s
}

fn write(sb: &sandbox::Sandbox, path: &str, text: &str) {
    sb.sh(&format!(
        "mkdir -p \"$(dirname {path})\" && cat > {path} <<'EOF'\n{text}EOF"
    ))
    .ok();
}

/// One of the seed's networks, built with the seed's own commands
/// (`sudo` is the identity: tests run as root).
fn seed_by_hand(sb: &sandbox::Sandbox, script: &str) {
    sb.sh(&format!(
        "sudo() {{ \"$@\"; }}\n. tests/fixtures/{script}.sh"
    ))
    .ok();
}

/// Two replies from ns1 to ns2 and back, as the output says them.
fn pings_both_ways(sb: &sandbox::Sandbox) {
    let out = sb.vnet("ping -c 2 -i 0.2 ns1 ns2").ok();
    assert!(
        out.stdout
            .starts_with("PING 192.168.1.2 (ns2) from ns1: 56 data bytes\n"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout
            .contains("64 bytes from 192.168.1.2: icmp_seq=1 ttl=64 time="),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout
            .contains("2 packets transmitted, 2 received, 0% packet loss"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("rtt min/avg/max/mdev = "),
        "{}",
        out.stdout
    );
    let out = sb.vnet("ping -c 1 --json ns2 192.168.1.1").ok();
    let j = json(&out);
    assert_eq!(j["stats"]["received"], 1, "{j}");
    assert_eq!(j["events"][0]["event"], "reply");
    assert_eq!(j["events"][0]["from"], "192.168.1.1");
    assert!(j["rtt_avg_ms"].as_f64().unwrap() > 0.0);
}

fn ping_across_the_seed_labs_built_by_vnet() {
    let sb = sandbox::Sandbox::new();
    for lab in ["seed-veth", "seed-bridge"] {
        sb.vnet(&format!("up examples/{lab}.yaml")).ok();
        pings_both_ways(&sb);
        // The answer is the network's: take ns2's end down and it fails.
        sb.sh("ip -n ns2 link set veth1 down").ok();
        let out = sb.vnet("ping -c 1 -W 0.3 ns1 ns2").expect(1);
        assert!(
            out.stdout.contains("1 packets transmitted, 0 received"),
            "{lab}: {}",
            out.stdout
        );
        assert!(!sb.pings("ns1", "192.168.1.2"), "iputils agrees");
        sb.vnet(&format!("down {lab}")).ok();
    }
}

fn ping_across_the_seed_networks_typed_by_hand() {
    for script in ["seed-veth", "seed-bridge"] {
        let sb = sandbox::Sandbox::new();
        seed_by_hand(&sb, script);
        pings_both_ways(&sb);
        // host is a node too, with the interfaces the seed left there.
        let out = sb.vnet("ping -c 1 host ns1").expect(1);
        assert!(out.stderr.contains("no route"), "{script}: {}", out.stderr);
    }
}

fn ping_fails_fast_and_says_why() {
    let sb = sandbox::Sandbox::new();
    sb.vnet("up examples/seed-bridge.yaml").ok();
    // No route: refused at once.
    let t = Instant::now();
    let out = sb.vnet("ping ns1 10.9.9.9").expect(1);
    assert!(t.elapsed().as_secs_f64() < 1.0, "{:?}", t.elapsed());
    assert!(
        out.stderr
            .contains("ns1 cannot send to 10.9.9.9: no route to the network"),
        "{}",
        out.stderr
    );
    // On the subnet but nobody there: each probe waits its timeout, no more.
    let t = Instant::now();
    let out = sb
        .vnet("ping -c 2 -i 0.2 -W 0.3 ns1 192.168.1.99")
        .expect(1);
    assert!(t.elapsed().as_secs_f64() < 2.0, "{:?}", t.elapsed());
    assert!(
        out.stdout
            .contains("2 packets transmitted, 0 received, 100% packet loss"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("no reply to icmp_seq=2 within 0.3 s"));
    // Bad usage: exit 2, with what to do.
    let out = sb.vnet("ping ns1 nsx").expect(2);
    assert!(
        out.stderr.contains(
            "unknown node `nsx`: no namespace of that name (known nodes: host, ns1, ns2)"
        ),
        "{}",
        out.stderr
    );
    sb.vnet("ping nsx ns1").expect(2);
    sb.vnet("ping ns1").expect(2);
    sb.vnet("ping -c 0 ns1 ns2").expect(2);
    sb.vnet("ping -W soon ns1 ns2").expect(2);
    sb.vnet("ping -6 ns1 ns2").expect(1);
    sb.vnet("ping --all -c 0").expect(2);
    // No root, no probe.
    let out = sb.sh("$NOBODY \"$VNET\" ping ns1 ns2");
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(out.stderr.contains("needs root"), "{}", out.stderr);
}

/// Wait until IPv6 duplicate address detection is over in every namespace
/// (a router with a tentative link-local address cannot solicit neighbours
/// for the packets it forwards).
fn ipv6_settled(sb: &sandbox::Sandbox, nss: &[&str]) {
    for _ in 0..50 {
        let busy = nss.iter().any(|ns| {
            !sb.sh(&format!("ip -n {ns} -6 addr show tentative"))
                .ok()
                .stdout
                .trim()
                .is_empty()
        });
        if !busy {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

fn ping_and_trace_ipv6_through_a_router() {
    let sb = sandbox::Sandbox::new();
    sb.vnet("up examples/router.yaml").ok();
    ipv6_settled(&sb, &["h1", "h2", "r1"]);
    let out = sb.vnet("ping -6 -c 1 h1 h2").ok();
    assert!(
        out.stdout
            .contains("64 bytes from 2001:db8:2::2: icmp_seq=1 ttl=63"),
        "{}",
        out.stdout
    );
    // Without a shared subnet, the first address; -4 and -6 choose.
    let out = sb.vnet("ping -c 1 h1 h2").ok();
    assert!(
        out.stdout.starts_with("PING 10.0.2.2 (h2)"),
        "{}",
        out.stdout
    );
    let out = sb.vnet("ping -c 1 h1 r1").ok();
    assert!(
        out.stdout.starts_with("PING 10.0.1.1 (r1)"),
        "{}",
        out.stdout
    );
    let out = sb.vnet("trace -6 --json h1 h2").ok();
    let j = json(&out);
    assert_eq!(j["answered"], true);
    let walk: Vec<String> = j["frames"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["kind"] == "echo-request")
        .map(|f| {
            format!(
                "{}:{}:{}",
                f["ns"].as_str().unwrap(),
                f["iface"].as_str().unwrap(),
                f["dir"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(
        walk,
        ["h1:eth0:out", "r1:eth1:in", "r1:eth2:out", "h2:eth0:in"]
    );
    // The router forwards: the hop limit drops by one on the way.
    let hops: Vec<u64> = j["frames"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["kind"] == "echo-request")
        .map(|f| f["frame"]["what"]["ttl"].as_u64().unwrap())
        .collect();
    assert_eq!(hops, [64, 64, 63, 63]);
    // Every pair of the lab, both families.
    let out = sb.vnet("ping --all router").ok();
    assert!(
        out.stdout
            .contains("6/6 pairs reachable (16/16 addresses answered)"),
        "{}",
        out.stdout
    );
    // A router that stops forwarding is named.
    sb.sh("ip netns exec r1 sysctl -qw net.ipv4.ip_forward=0")
        .ok();
    let out = sb.vnet("trace h1 h2").expect(1);
    assert!(
        out.stdout
            .contains("the echo request was last seen on eth1 (r1, in), the end of the known way; r1 does not forward"),
        "{}",
        out.stdout
    );
}

fn the_matrix_of_twenty_nodes_shows_the_one_that_is_down() {
    let sb = sandbox::Sandbox::new();
    write(&sb, "/run/t/star20.yaml", &star(20, "star20"));
    sb.vnet("up /run/t/star20.yaml").ok();
    let out = sb.vnet("ping --all /run/t/star20.yaml").ok();
    assert!(
        out.stdout.contains("380/380 pairs reachable"),
        "{}",
        out.stdout
    );
    assert!(!out.stdout.contains("waves"), "{}", out.stdout);
    sb.sh("ip -n n7 link set eth0 down").ok();
    let t = Instant::now();
    let out = sb.vnet("ping --all star20 --json").expect(1);
    // One timeout for all the failing pairs, not one per pair.
    assert!(t.elapsed().as_secs_f64() < 3.0, "{:?}", t.elapsed());
    let j = json(&out);
    let pairs = j["pairs"].as_array().unwrap();
    assert_eq!(pairs.len(), 380);
    for p in pairs {
        let involves = p["from"] == "n7" || p["to"] == "n7";
        assert_eq!(p["reachable"], !involves, "{p}");
        if involves {
            assert!(p["error"].is_string(), "{p}");
        } else {
            assert!(p["rtt_ms"].as_f64().unwrap() > 0.0, "{p}");
        }
    }
    assert_eq!(j["reachable_pairs"], 342);
    assert_eq!(j["ok"], false);
    // The table: n7's row and column are ✗, everything else ✓.
    let out = sb.vnet("ping --all star20").expect(1);
    let rows: Vec<&str> = out.stdout.lines().skip(1).take(20).collect();
    for (i, row) in rows.iter().enumerate() {
        let cells: Vec<&str> = row.split_whitespace().collect();
        assert_eq!(cells[0], format!("n{}", i + 1), "{row}");
        for (k, c) in cells[1..].iter().enumerate() {
            let expected = if i == k {
                "-"
            } else if i == 6 || k == 6 {
                "✗"
            } else {
                "✓"
            };
            assert_eq!(*c, expected, "row {row}");
        }
    }
    assert!(
        out.stdout.contains("342/380 pairs reachable"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout
            .contains("✗ n7 → n1 10.0.0.1: n7 cannot send: no route to the network"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout
            .contains("✗ n1 → n7 10.0.0.7: no reply within 1 s"),
        "{}",
        out.stdout
    );
}

fn expectations_decide_the_exit_code() {
    let sb = sandbox::Sandbox::new();
    // ns3 has a link to the bridge but its address is on another subnet.
    write(
        &sb,
        "/run/t/lab.yaml",
        "name: expect
nodes:
  ns1: {}
  ns2: {}
  ns3: {}
  br0: { kind: bridge }
links:
  - endpoints: [{ node: ns1, interface: eth0, ip: 10.1.0.1/24 }, \"br0:p1\"]
  - endpoints: [{ node: ns2, interface: eth0, ip: 10.1.0.2/24 }, \"br0:p2\"]
  - endpoints: [{ node: ns3, interface: eth0, ip: 10.2.0.3/24 }, \"br0:p3\"]
expect:
  - { from: ns1, to: ns2, reach: true }
  - { from: ns2, to: ns1 }
  - { from: ns1, to: ns3, reach: false }
",
    );
    sb.vnet("up /run/t/lab.yaml").ok();
    // Not every pair answers, but the file's expectations hold: exit 0.
    let out = sb.vnet("ping --all /run/t/lab.yaml").ok();
    assert!(out.stdout.contains("2/6 pairs reachable"), "{}", out.stdout);
    assert!(
        out.stdout.contains("expectations: 3/3 held"),
        "{}",
        out.stdout
    );
    // The recorded file's expectations apply when the lab is named.
    let out = sb.vnet("ping --all expect --json").ok();
    assert_eq!(json(&out)["expectations"].as_array().unwrap().len(), 3);
    // A wrong expectation fails the run and says which.
    write(
        &sb,
        "/run/t/wrong.yaml",
        "- { from: ns3, to: ns2, reach: true }\n",
    );
    let out = sb
        .vnet("ping --all /run/t/lab.yaml --expect /run/t/wrong.yaml")
        .expect(1);
    assert!(
        out.stdout.contains("expectations: 3/4 held"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout
            .contains("✗ ns3 → ns2: expected reachable, but no reply"),
        "{}",
        out.stdout
    );
    // Without a lab every named namespace takes part.
    // `host` takes part when an expectation names it (it has no route here).
    write(
        &sb,
        "/run/t/ok.yaml",
        "expect:\n  - { from: ns2, to: ns1 }\n  - { from: host, to: ns1, reach: false }\n",
    );
    let out = sb.vnet("ping --all --expect /run/t/ok.yaml").ok();
    assert!(out.stdout.starts_with("      host  ns1"), "{}", out.stdout);
    sb.vnet("ping --all").expect(1);
    // Unknown nodes and bad files are usage errors.
    write(&sb, "/run/t/bad.yaml", "- { from: ns1, to: ns9 }\n");
    let out = sb.vnet("ping --all --expect /run/t/bad.yaml").expect(2);
    assert!(out.stderr.contains("unknown node `ns9`"), "{}", out.stderr);
    write(&sb, "/run/t/typo.yaml", "- { from: ns1, too: ns2 }\n");
    sb.vnet("ping --all --expect /run/t/typo.yaml").expect(2);
    sb.vnet("ping --all nolab").expect(2);
}

fn the_matrix_runs_in_waves_and_leaves_the_neighbour_tables_as_found() {
    let sb = sandbox::Sandbox::new();
    write(&sb, "/run/t/star20.yaml", &star(20, "star20"));
    sb.vnet("up /run/t/star20.yaml").ok();
    // A static entry that is not ours to remove.
    sb.sh("ip -n n1 neigh add 10.0.9.9 lladdr 02:00:00:00:00:09 dev eth0")
        .ok();
    let out = sb.vnet("ping --all star20 --max-neigh 40 --json").ok();
    let j = json(&out);
    assert_eq!(j["reachable_pairs"], 380);
    let waves = j["waves"].as_u64().unwrap();
    // 190 pairs, each making two entries: 20 pairs a wave at most.
    assert!(waves >= 10, "{waves}");
    assert!(j["neigh_peak"].as_u64().unwrap() <= 40, "{j}");
    assert!(j["neigh_peak"].as_u64().unwrap() > 0, "{j}");
    assert_eq!(j["table_fulls"], 0);
    // The entries the run made are gone; the static one stays.
    for n in 1..=20 {
        let neigh = sb.sh(&format!("ip -n n{n} neigh show")).ok().stdout;
        let expected = if n == 1 {
            "10.0.9.9 dev eth0 lladdr 02:00:00:00:00:09 PERMANENT"
        } else {
            ""
        };
        assert_eq!(neigh.trim(), expected, "n{n}");
    }
    let out = sb.vnet("ping --all star20 --max-neigh 40").ok();
    assert!(out.stdout.contains("run in "), "{}", out.stdout);
    assert!(
        out.stdout
            .contains(" waves: the kernel's neighbour (ARP/NDP) table is shared")
    );
    // A cap too small for a single pair is refused, not overrun.
    let out = sb.vnet("ping --all star20 --max-neigh 1").expect(1);
    assert!(out.stderr.contains("no room left"), "{}", out.stderr);
}

fn forty_nodes_need_waves_on_default_settings_and_never_fill_the_table() {
    let sb = sandbox::Sandbox::new();
    write(&sb, "/run/t/star40.yaml", &star(40, "star40"));
    sb.vnet("up /run/t/star40.yaml").ok();
    let out = sb.vnet("ping --all star40 --json").ok();
    let j = json(&out);
    assert_eq!(j["reachable_pairs"], 1560);
    assert_eq!(
        j["table_fulls"], 0,
        "the kernel never reported the table full"
    );
    // 1560 entries are needed; a wave may use at most half of what is free.
    let limit = j["neigh_limit"].as_u64().unwrap();
    let peak = j["neigh_peak"].as_u64().unwrap();
    assert!(peak <= limit / 2, "peak {peak} of {limit}");
    if limit < 3000 {
        assert!(j["waves"].as_u64().unwrap() >= 2, "{j}");
    }
}

/// (kind, interface, direction) of the walk's frames, in order.
fn walk(j: &Value) -> Vec<(String, String, String)> {
    j["frames"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["kind"].as_str().unwrap().to_string(),
                f["iface"].as_str().unwrap().to_string(),
                f["dir"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn positions(w: &[(String, String, String)], kind: &str, hops: &[(&str, &str)]) -> Vec<usize> {
    hops.iter()
        .map(|(iface, dir)| {
            w.iter()
                .position(|(k, i, d)| k == kind && i == iface && d == dir)
                .unwrap_or_else(|| panic!("no {kind} on {iface} {dir} in {w:?}"))
        })
        .collect()
}

fn increasing(v: &[usize]) -> bool {
    v.windows(2).all(|w| w[0] < w[1])
}

/// Interfaces (name, flags, mtu, master, MAC, promiscuity) and addresses
/// of the sandbox and of ns1 and ns2.
fn state(sb: &sandbox::Sandbox) -> Vec<String> {
    let mut out = Vec::new();
    for ns in ["", "-n ns1", "-n ns2"] {
        for l in sb.ip_json(&format!("{ns} -d link")).as_array().unwrap() {
            out.push(format!(
                "{ns} {} {} {} {} {} {}",
                l["ifname"], l["flags"], l["mtu"], l["master"], l["address"], l["promiscuity"]
            ));
        }
        // Addresses only: a bridge's operstate settles on its own after `up`.
        for l in sb.ip_json(&format!("{ns} addr")).as_array().unwrap() {
            out.push(format!("{ns} {} {}", l["ifname"], l["addr_info"]));
        }
    }
    out
}

fn trace_on_the_seed_bridge_shows_arp_and_icmp_in_order() {
    let sb = sandbox::Sandbox::new();
    sb.vnet("up examples/seed-bridge.yaml").ok();
    sb.sh("mkdir -p /run/t").ok();
    let before = state(&sb);
    let out = sb
        .vnet("trace ns1 ns2 --json --pcap /run/t/walk.pcapng")
        .ok();
    let j = json(&out);
    assert_eq!(j["answered"], true);
    let w = walk(&j);
    let there = [
        ("veth0", "out"),
        ("br0-veth0", "in"),
        ("br0-veth1", "out"),
        ("veth1", "in"),
    ];
    let back = [
        ("veth1", "out"),
        ("br0-veth1", "in"),
        ("br0-veth0", "out"),
        ("veth0", "in"),
    ];
    let arp = positions(&w, "arp-request", &there);
    let arp_reply = positions(&w, "arp-reply", &back);
    let req = positions(&w, "echo-request", &there);
    let rep = positions(&w, "echo-reply", &back);
    for p in [&arp, &arp_reply, &req, &rep] {
        assert!(increasing(p), "{p:?} in {w:?}");
    }
    assert!(
        arp[3] < arp_reply[0] && arp_reply[3] < req[0] && req[3] < rep[0],
        "{w:?}"
    );
    // The broadcast was flooded (to ns2's port and to br0 itself); the
    // unicast echo request was forwarded to one port.
    let frames = j["frames"].as_array().unwrap();
    let flood = &frames[arp[1]]["bridge"];
    assert_eq!(flood["action"], "flooded", "{flood}");
    assert_eq!(flood["to"][0], "br0-veth1");
    assert_eq!(flood["local"], true);
    let fwd = &frames[req[1]]["bridge"];
    assert_eq!(fwd["action"], "forwarded", "{fwd}");
    assert_eq!(frames[arp[0]]["frame"]["dst_mac"], "ff:ff:ff:ff:ff:ff");
    assert_eq!(
        frames[arp[0]]["summary"],
        "ARP who-has 192.168.1.2 tell 192.168.1.1"
    );
    // Times grow along the walk.
    let t: Vec<f64> = frames.iter().map(|f| f["t_ms"].as_f64().unwrap()).collect();
    assert!(t.windows(2).all(|w| w[0] <= w[1]), "{t:?}");
    // tshark reads the same frames, on interfaces named with their namespace.
    let tshark = sb
        .sh("tshark -r /run/t/walk.pcapng -T fields -e frame.interface_name -e frame.interface_description -e _ws.col.Protocol 2>/dev/null")
        .ok()
        .stdout;
    let lines: Vec<&str> = tshark.lines().collect();
    assert_eq!(lines.len(), frames.len(), "{tshark}");
    assert_eq!(lines[0], "veth0\tveth0 in namespace ns1\tARP", "{tshark}");
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("br0-veth1\tbr0-veth1 in namespace host\tICMP"))
    );
    // Nothing in the network changed (links, addresses).
    let after = state(&sb);
    for (b, a) in before.iter().zip(&after) {
        assert_eq!(b, a);
    }
    assert_eq!(before.len(), after.len());
    // With the neighbour known, the walk starts with the echo request, and says why.
    let out = sb.vnet("trace ns1 ns2").ok();
    assert!(
        out.stdout
            .contains("note: ns1 already had 192.168.1.2 in its neighbour table"),
        "{}",
        out.stdout
    );
    let out = sb.vnet("trace ns1 ns2 --mermaid").ok();
    assert!(
        out.stdout.starts_with("sequenceDiagram\n"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout
            .contains("participant br0 as br0 (bridge in host)")
    );
    assert!(
        out.stdout
            .contains("ns1->>br0: ICMP echo request 192.168.1.1 → 192.168.1.2")
    );
    assert!(out.stdout.contains("br0->>ns2: ICMP echo request"));
    assert!(out.stdout.contains("ns2->>br0: ICMP echo reply"));
}

fn trace_on_the_hand_typed_seed_names_the_hop_where_the_probe_stopped() {
    let sb = sandbox::Sandbox::new();
    seed_by_hand(&sb, "seed-bridge");
    sb.sh("mkdir -p /run/t").ok();
    let out = sb.vnet("trace ns1 ns2").ok();
    assert!(
        out.stdout
            .contains("way there: ns1:veth0 → host:br0-veth0 → [br0] → host:br0-veth1 → ns2:veth1 — delivered in ns2"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("reply from 192.168.1.2 after"));
    sb.sh("ip link set br0-veth1 down && ip -n ns1 neigh flush all")
        .ok();
    let out = sb.vnet("trace ns1 ns2 --pcap /run/t/lost.pcapng").expect(1);
    assert!(
        out.stdout.contains(
            "the ARP request for 192.168.1.2 was last seen on br0-veth0 (host, in) into bridge br0; never seen on br0-veth1 (host, out), where it was expected next: host:br0-veth1 is down (administratively)"
        ),
        "{}",
        out.stdout
    );
    let n = sb
        .sh("tshark -r /run/t/lost.pcapng 2>/dev/null | wc -l")
        .ok()
        .stdout;
    let frames = out.stdout.lines().filter(|l| l.contains(" ms  ")).count();
    assert_eq!(n.trim().parse::<usize>().unwrap(), frames, "{}", out.stdout);
    assert!(
        out.stdout.contains(&format!(
            "wrote {frames} frames on 5 interfaces to /run/t/lost.pcapng"
        )),
        "{}",
        out.stdout
    );
    // Unknown nodes are usage errors.
    let out = sb.vnet("trace ns1 nope").expect(2);
    assert!(
        out.stderr.contains("known nodes: host, ns1, ns2"),
        "{}",
        out.stderr
    );
}

fn main() -> std::process::ExitCode {
    sandbox::harness::run(vec![
        kernel!(ping_across_the_seed_labs_built_by_vnet),
        kernel!(ping_across_the_seed_networks_typed_by_hand),
        kernel!(ping_fails_fast_and_says_why),
        kernel!(ping_and_trace_ipv6_through_a_router),
        kernel!(the_matrix_of_twenty_nodes_shows_the_one_that_is_down),
        kernel!(expectations_decide_the_exit_code),
        kernel!(the_matrix_runs_in_waves_and_leaves_the_neighbour_tables_as_found),
        kernel!(forty_nodes_need_waves_on_default_settings_and_never_fill_the_table),
        kernel!(trace_on_the_seed_bridge_shows_arp_and_icmp_in_order),
        kernel!(trace_on_the_hand_typed_seed_names_the_hop_where_the_probe_stopped),
    ])
}
