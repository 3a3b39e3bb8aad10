//! `vnet perf`, and the loss figures of `vnet ping`, against real links:
//! two namespaces joined by a veth, built here with `ip`, limited with
//! `tc ... tbf` and made lossy with an nftables `numgen` rule (this
//! kernel has no netem). Rates are held to iperf3's on the same link,
//! losses to the nft rule's own drop counter.

mod sandbox;

use serde_json::Value;

fn json(out: &sandbox::Out) -> Value {
    serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}):\n{}\n{}", out.stdout, out.stderr))
}

/// ns1 (veth1, 10.0.0.1) — ns2 (veth2, 10.0.0.2); with `third`, also
/// ns3 (veth3, 10.0.1.3) on ns1's veth13 (10.0.1.1), not routed to ns2.
fn nodes(sb: &sandbox::Sandbox, third: bool) {
    sb.sh("set -e
         ip netns add ns1; ip netns add ns2
         ip link add veth1 netns ns1 type veth peer name veth2 netns ns2
         ip -n ns1 addr add 10.0.0.1/24 dev veth1
         ip -n ns2 addr add 10.0.0.2/24 dev veth2
         for n in ns1 ns2; do ip -n $n link set lo up; done
         ip -n ns1 link set veth1 up; ip -n ns2 link set veth2 up")
        .ok();
    if third {
        sb.sh("set -e
             ip netns add ns3
             ip link add veth13 netns ns1 type veth peer name veth3 netns ns3
             ip -n ns1 addr add 10.0.1.1/24 dev veth13
             ip -n ns3 addr add 10.0.1.3/24 dev veth3
             ip -n ns3 link set lo up
             ip -n ns1 link set veth13 up; ip -n ns3 link set veth3 up")
            .ok();
    }
}

/// A token bucket on one namespace's egress: the only limit on the link.
fn limit(sb: &sandbox::Sandbox, ns: &str, dev: &str, rate: &str) {
    sb.sh(&format!(
        "ip netns exec {ns} tc qdisc replace dev {dev} root tbf rate {rate} burst 32kbit latency 400ms"
    ))
    .ok();
}

/// Drop `percent` % of the packets `what` matches on `dev`'s egress, at
/// random, counting what it drops.
fn lossy(sb: &sandbox::Sandbox, ns: &str, dev: &str, what: &str, percent: u32) {
    sb.sh(&format!(
        "set -e
         ip netns exec {ns} nft add table netdev loss
         ip netns exec {ns} nft add chain netdev loss out '{{ type filter hook egress device {dev} priority 0; }}'
         ip netns exec {ns} nft add rule netdev loss out '{what} numgen random mod 100 < {percent} counter drop'"
    ))
    .ok();
}

/// Packets the loss rule dropped so far.
fn dropped(sb: &sandbox::Sandbox, ns: &str) -> u64 {
    let j = json(
        &sb.sh(&format!("ip netns exec {ns} nft -j list table netdev loss"))
            .ok(),
    );
    j["nftables"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|o| o["rule"]["expr"].as_array())
        .flatten()
        .find_map(|e| e["counter"]["packets"].as_u64())
        .unwrap_or_else(|| panic!("no counter in {j}"))
}

/// iperf3's goodput (its receiver's bits per second) from ns1 to ns2.
fn iperf3(sb: &sandbox::Sandbox, secs: u32, extra: &str) -> f64 {
    // iperf3 says nothing when it listens: wait for the socket (bounded),
    // and for the one-off server to exit after its test.
    let out = sb
        .sh(&format!(
            "ip netns exec ns2 iperf3 -s -1 -p 5201 >/dev/null 2>&1 &
             for i in $(seq 200); do
               ip netns exec ns2 ss -Hltn 'sport = :5201' | grep -q . && break; sleep 0.05
             done
             ip netns exec ns1 iperf3 -J -c 10.0.0.2 -p 5201 -t {secs} {extra}
             code=$?; wait; exit $code"
        ))
        .ok();
    json(&out)["end"]["sum_received"]["bits_per_second"]
        .as_f64()
        .unwrap_or_else(|| panic!("no receiver rate: {}", out.stdout))
}

fn vnet_perf(sb: &sandbox::Sandbox, args: &str) -> Value {
    json(&sb.vnet(&format!("perf {args} --json")).ok())
}

fn mbit(bps: f64) -> String {
    format!("{:.2} Mbit/s", bps / 1e6)
}

fn tcp_goodput_agrees_with_iperf3_at_1_10_and_100_mbit() {
    let sb = sandbox::Sandbox::new();
    nodes(&sb, false);
    for (rate, bps, secs) in [
        ("10mbit", 10e6, 5),
        ("1mbit", 1e6, 8),
        ("100mbit", 100e6, 5),
    ] {
        limit(&sb, "ns1", "veth1", rate);
        // 1 Mbit/s through a 4 KB bucket loses often: a longer run evens it out.
        let theirs = iperf3(&sb, secs, "");
        let j = vnet_perf(&sb, &format!("ns1 ns2 -t {secs}"));
        let ours = j["bits_per_second"].as_f64().unwrap();
        eprintln!(
            "tbf {rate}: vnet perf {}, iperf3 {}",
            mbit(ours),
            mbit(theirs)
        );
        assert!(
            (ours - theirs).abs() <= 0.1 * theirs,
            "{rate}: vnet perf {} vs iperf3 {}",
            mbit(ours),
            mbit(theirs)
        );
        // Goodput is the rate less the headers the bucket counts (~5%),
        // and less what TCP loses in the bucket's drops.
        assert!(
            ours <= bps && ours >= 0.8 * bps,
            "{rate}: goodput {}",
            mbit(ours)
        );
        assert_eq!(j["protocol"], "tcp");
        assert_eq!(j["receiver"]["bits_per_second"], j["bits_per_second"]);
        assert!(j["sender"]["retransmits"].as_u64().is_some(), "{j}");
        let intervals = j["intervals"].as_array().unwrap();
        assert_eq!(intervals.len(), secs as usize, "{j}");
        let sum: u64 = intervals
            .iter()
            .map(|i| i["receiver"]["bytes"].as_u64().unwrap())
            .sum();
        assert_eq!(sum, j["receiver"]["bytes"].as_u64().unwrap());
        assert!(
            intervals
                .iter()
                .all(|i| i["bits_per_second"].as_f64() > Some(0.0))
        );
    }
}

fn tcp_text_has_interval_lines_and_both_totals() {
    let sb = sandbox::Sandbox::new();
    nodes(&sb, false);
    limit(&sb, "ns1", "veth1", "10mbit");
    let out = sb.vnet("perf ns1 ns2 -t 2").ok();
    let s = &out.stdout;
    assert!(
        s.starts_with("ns1 (10.0.0.1 port ") && s.contains("connected to ns2 (10.0.0.2 port "),
        "{s}"
    );
    assert!(s.contains("\n0.00-1.00  sec  "), "{s}");
    assert!(s.contains("\n1.00-2.00  sec  "), "{s}");
    assert!(s.contains("Mbits/sec"), "{s}");
    assert!(
        s.contains("sender (ns1)") && s.contains("receiver (ns2)"),
        "{s}"
    );
    assert!(s.contains("goodput ") && s.contains(" (ns1 → ns2)"), "{s}");
}

fn reverse_measures_the_other_direction() {
    let sb = sandbox::Sandbox::new();
    nodes(&sb, false);
    // Only ns1 → ns2 is limited.
    limit(&sb, "ns1", "veth1", "10mbit");
    let fwd = vnet_perf(&sb, "ns1 ns2 -t 2");
    let rev = vnet_perf(&sb, "ns1 ns2 -t 2 --reverse");
    let back = vnet_perf(&sb, "ns2 ns1 -t 2");
    let (f, r, b) = (
        fwd["bits_per_second"].as_f64().unwrap(),
        rev["bits_per_second"].as_f64().unwrap(),
        back["bits_per_second"].as_f64().unwrap(),
    );
    eprintln!(
        "ns1→ns2 {}, --reverse {}, ns2→ns1 {}",
        mbit(f),
        mbit(r),
        mbit(b)
    );
    assert!((8.5e6..=10e6).contains(&f), "{}", mbit(f));
    assert!(r > 5.0 * f, "--reverse is the unlimited way: {}", mbit(r));
    assert!(b > 5.0 * f, "{}", mbit(b));
    assert_eq!(rev["reverse"], true);
    assert_eq!(rev["sender_node"], "ns2");
    assert_eq!(rev["receiver_node"], "ns1");
    // SRC still connects: the client's address is ns1's.
    assert!(
        rev["connection"]["local"]
            .as_str()
            .unwrap()
            .starts_with("10.0.0.1:"),
        "{rev}"
    );
    // UDP the other way too: ns2 sends at 20 Mbit/s through no limit.
    let u = vnet_perf(&sb, "ns1 ns2 -t 1 -u -b 20mbit -R");
    assert_eq!(u["receiver"]["lost"], 0, "{u}");
    let got = u["bits_per_second"].as_f64().unwrap();
    assert!((got - 20e6).abs() < 2e6, "{}", mbit(got));
}

fn udp_loss_matches_the_drops_of_a_20_percent_rule() {
    let sb = sandbox::Sandbox::new();
    nodes(&sb, false);
    // Data datagrams only (1448 bytes + 8): the end markers are left alone,
    // so the rule's counter is exactly the data lost.
    lossy(&sb, "ns1", "veth1", "udp length > 100", 20);
    let j = vnet_perf(&sb, "ns1 ns2 -t 4 --udp --rate 5mbit");
    let r = &j["receiver"];
    let s = &j["sender"];
    let loss = r["loss_percent"].as_f64().unwrap();
    let lost = r["lost"].as_u64().unwrap();
    let drops = dropped(&sb, "ns1");
    eprintln!(
        "udp 5mbit, nft 20%: sent {}, received {}, lost {lost} ({loss:.2}%), nft dropped {drops}, jitter {} ms, goodput {}",
        s["datagrams"],
        r["datagrams"],
        r["jitter_ms"],
        mbit(j["bits_per_second"].as_f64().unwrap())
    );
    assert!((17.0..=23.0).contains(&loss), "{loss}% of {j}");
    assert_eq!(lost, drops, "every datagram lost is one the rule dropped");
    assert_eq!(
        s["datagrams"].as_u64().unwrap(),
        r["datagrams"].as_u64().unwrap() + lost
    );
    // 5 Mbit/s asked for: ~1726 datagrams of 1448 bytes in 4 s.
    let sent = s["datagrams"].as_u64().unwrap();
    assert!((1700..=1750).contains(&sent), "{sent}");
    let jitter = r["jitter_ms"].as_f64().unwrap();
    assert!(jitter.is_finite() && jitter >= 0.0, "{jitter}");
    assert_eq!(r["out_of_order"], 0, "a veth keeps order");
    let intervals = j["intervals"].as_array().unwrap();
    assert_eq!(intervals.len(), 4);
    let per_interval: u64 = intervals
        .iter()
        .map(|i| i["receiver"]["lost"].as_u64().unwrap())
        .sum();
    // Interval loss is counted from gaps: a loss at the very end has no
    // later datagram to show it.
    assert!(
        per_interval <= lost && lost - per_interval <= 5,
        "{per_interval} vs {lost}"
    );
    // The text says it as iperf3 does.
    let out = sb.vnet("perf ns1 ns2 -t 1 -u -b 5M").ok();
    assert!(
        out.stdout.contains("Jitter    Lost/Total Datagrams"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("receiver (ns2)"), "{}", out.stdout);
}

fn perf_fails_cleanly_and_runs_side_by_side() {
    let sb = sandbox::Sandbox::new();
    nodes(&sb, false);
    // Two runs at once between the same nodes: each on its own port.
    let out = sb
        .sh("\"$VNET\" perf ns1 ns2 -t 1 --json > /tmp/a.json & \
             \"$VNET\" perf ns1 ns2 -t 1 --json > /tmp/b.json; b=$?; wait $!; a=$?; \
             echo $a $b; cat /tmp/a.json; echo; cat /tmp/b.json")
        .ok();
    assert!(out.stdout.starts_with("0 0\n"), "{}", out.stdout);
    let ports: Vec<&str> = out
        .stdout
        .lines()
        .filter(|l| l.contains("\"remote\""))
        .collect();
    assert_eq!(ports.len(), 2, "{}", out.stdout);
    assert_ne!(ports[0], ports[1]);
    // DST as an address: the node holding it serves.
    let j = vnet_perf(&sb, "ns1 10.0.0.2 -t 0.5");
    assert_eq!(j["dst"], "ns2");
    // Bad usage: exit 2, saying what is wrong.
    let out = sb.vnet("perf ns1 nsx").expect(2);
    assert!(out.stderr.contains("unknown node `nsx`"), "{}", out.stderr);
    let out = sb.vnet("perf ns1 10.9.9.9").expect(2);
    assert!(
        out.stderr.contains("no node has the address 10.9.9.9"),
        "{}",
        out.stderr
    );
    sb.vnet("perf ns1 ns2 --rate 5mbit").expect(2);
    sb.vnet("perf ns1 ns2 -u --rate 5mbps").expect(2);
    sb.vnet("perf ns1 ns2 -t 0").expect(2);
    // No root, no run.
    let out = sb.sh("$NOBODY \"$VNET\" perf ns1 ns2");
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(out.stderr.contains("needs root"), "{}", out.stderr);
    // A port already taken in ns2 (by iperf3).
    let out = sb.sh(
        "ip netns exec ns2 iperf3 -s -1 -p 5301 >/dev/null 2>&1 & pid=$!
         for i in $(seq 200); do
           ip netns exec ns2 ss -Hltn 'sport = :5301' | grep -q . && break; sleep 0.05
         done
         \"$VNET\" perf ns1 ns2 -t 1 --port 5301; code=$?
         kill $pid; wait $pid; exit $code",
    );
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains("port 5301 is taken in ns2"),
        "{}",
        out.stderr
    );
    // SYNs dropped on the way: the client gives up, the server stops, the
    // run ends with what to do.
    sb.sh("ip netns exec ns2 nft add table inet fw
         ip netns exec ns2 nft add chain inet fw in '{ type filter hook input priority 0; }'
         ip netns exec ns2 nft add rule inet fw in 'tcp flags & (syn | ack) == syn' drop")
        .ok();
    let out = sb.vnet("perf ns1 ns2 -t 1").expect(1);
    assert!(
        out.stderr.contains("ns1 cannot connect to 10.0.0.2:")
            && out.stderr.contains("no answer within 3 s"),
        "{}",
        out.stderr
    );
    assert!(
        sb.sh("ip netns exec ns2 ss -Hltn")
            .ok()
            .stdout
            .trim()
            .is_empty(),
        "nothing left listening"
    );
}

/// `N packets transmitted, M received, X% packet loss, time T` → (N, M, X).
fn transmitted(stdout: &str) -> (u64, u64, f64) {
    let line = stdout
        .lines()
        .find(|l| l.contains("packets transmitted"))
        .unwrap_or_else(|| panic!("no statistics line: {stdout}"));
    let words: Vec<&str> = line.split([' ', ',']).filter(|w| !w.is_empty()).collect();
    let loss = words
        .iter()
        .find(|w| w.ends_with('%'))
        .and_then(|w| w.trim_end_matches('%').parse().ok())
        .unwrap_or_else(|| panic!("{line}"));
    (words[0].parse().unwrap(), words[3].parse().unwrap(), loss)
}

/// `rtt min/avg/max/mdev = a/b/c/d ms` → [a, b, c, d].
fn rtt(stdout: &str) -> Vec<f64> {
    let line = stdout
        .lines()
        .find(|l| l.starts_with("rtt min/avg/max/mdev = "))
        .unwrap_or_else(|| panic!("no rtt line: {stdout}"));
    line.trim_start_matches("rtt min/avg/max/mdev = ")
        .trim_end_matches(" ms")
        .split('/')
        .map(|v| v.parse().unwrap())
        .collect()
}

fn ping_says_loss_and_mdev_as_iputils_does() {
    let sb = sandbox::Sandbox::new();
    nodes(&sb, false);
    lossy(&sb, "ns1", "veth1", "icmp type echo-request", 20);
    let out = sb.vnet("ping -c 50 -i 0.01 -W 0.5 ns1 ns2").ok();
    let drops = dropped(&sb, "ns1");
    let (sent, received, loss) = transmitted(&out.stdout);
    eprintln!(
        "vnet ping -c 50 over 20% loss: {received}/{sent}, {loss}% loss, nft dropped {drops}"
    );
    assert_eq!((sent, received), (50, 50 - drops), "{}", out.stdout);
    assert!((loss - 2.0 * drops as f64).abs() < 1e-9, "{}", out.stdout);
    let r = rtt(&out.stdout);
    assert!(r[0] <= r[1] && r[1] <= r[2] && r[3] >= 0.0, "{r:?}");
    // iputils' own lines have the same shape.
    let theirs = sb.sh("ip netns exec ns2 ping -c 3 -i 0.01 10.0.0.1").ok();
    assert_eq!(transmitted(&theirs.stdout).0, 3, "{}", theirs.stdout);
    assert_eq!(rtt(&theirs.stdout).len(), 4, "{}", theirs.stdout);
    // --json carries them.
    let j = json(&sb.vnet("ping -c 20 -i 0.01 -W 0.5 --json ns1 ns2").ok());
    let received = j["stats"]["received"].as_u64().unwrap();
    assert_eq!(j["stats"]["sent"], 20);
    assert_eq!(
        j["loss_percent"].as_f64().unwrap(),
        100.0 * (20 - received) as f64 / 20.0
    );
    assert!(j["rtt_mdev_ms"].as_f64().unwrap() >= 0.0, "{j}");
}

fn ping_all_count_gives_each_pairs_loss() {
    let sb = sandbox::Sandbox::new();
    nodes(&sb, true);
    // ns1's requests to ns2 and its replies to ns2's: both ways lossy.
    lossy(
        &sb,
        "ns1",
        "veth1",
        "icmp type { echo-request, echo-reply }",
        40,
    );
    let j = json(&sb.vnet("ping --all --count 20 -W 0.5 --json").ok_or_any());
    let drops = dropped(&sb, "ns1");
    let pair = |from: &str, to: &str| -> Value {
        j["pairs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["from"] == from && p["to"] == to)
            .cloned()
            .unwrap_or_else(|| panic!("no pair {from} → {to}: {j}"))
    };
    let (a, b) = (pair("ns1", "ns2"), pair("ns2", "ns1"));
    let lost = |p: &Value| p["sent"].as_u64().unwrap() - p["received"].as_u64().unwrap();
    eprintln!(
        "ping --all --count 20 over 40% loss: ns1→ns2 {}/20 ({}%), ns2→ns1 {}/20 ({}%), nft dropped {drops}",
        a["received"], a["loss"], b["received"], b["loss"]
    );
    assert_eq!(
        (a["sent"].as_u64(), b["sent"].as_u64()),
        (Some(20), Some(20))
    );
    assert_eq!(
        lost(&a) + lost(&b),
        drops,
        "each loss is one the rule dropped"
    );
    for p in [&a, &b] {
        let l = p["loss"].as_f64().unwrap();
        assert_eq!(l, 100.0 * lost(p) as f64 / 20.0);
        assert!(l > 0.0 && l < 100.0, "{p}");
        assert_eq!(p["reachable"], true);
    }
    let clean = pair("ns1", "ns3");
    assert_eq!(
        (clean["sent"].as_u64(), clean["received"].as_u64()),
        (Some(20), Some(20))
    );
    assert_eq!(clean["loss"], 0.0);
    // In the table: the lossy cells say their loss, the clean ones ✓.
    let out = sb.vnet("ping --all --count 20 -W 0.5");
    let s = &out.stdout;
    let row = |n: &str| -> Vec<String> {
        s.lines()
            .find(|l| l.starts_with(n))
            .unwrap_or_else(|| panic!("no row {n}: {s}"))
            .split_whitespace()
            .map(str::to_string)
            .collect()
    };
    let r1 = row("ns1");
    assert!(r1[2].ends_with('%'), "ns1 → ns2 shows its loss: {s}");
    assert_eq!(r1[3], "✓", "{s}");
    // ns1's other address (10.0.1.1) is not routed from ns2: `~`, and
    // the loss of the one that answers is listed below.
    assert_eq!(row("ns2")[1], "~", "{s}");
    assert!(s.contains("~ ns2 → ns1 10.0.0.1: "), "{s}");
    assert!(s.contains("requests lost ("), "{s}");
    assert!(s.contains("20 requests per address"), "{s}");
}

trait OkOrAny {
    fn ok_or_any(self) -> sandbox::Out;
}

impl OkOrAny for sandbox::Out {
    /// The matrix exits 1 when a pair fails (ns2 and ns3 have no route to
    /// each other): its output is what is checked.
    fn ok_or_any(self) -> sandbox::Out {
        assert!(self.code == 0 || self.code == 1, "{}", self.stderr);
        self
    }
}

fn main() -> std::process::ExitCode {
    sandbox::harness::run(vec![
        kernel_with!(
            tcp_goodput_agrees_with_iperf3_at_1_10_and_100_mbit,
            "iperf3",
            "tc"
        ),
        kernel_with!(tcp_text_has_interval_lines_and_both_totals, "tc"),
        kernel_with!(reverse_measures_the_other_direction, "tc"),
        kernel_with!(udp_loss_matches_the_drops_of_a_20_percent_rule, "nft"),
        kernel_with!(perf_fails_cleanly_and_runs_side_by_side, "iperf3", "nft"),
        kernel_with!(ping_says_loss_and_mdev_as_iputils_does, "nft"),
        kernel_with!(ping_all_count_gives_each_pairs_loss, "nft"),
    ])
}
