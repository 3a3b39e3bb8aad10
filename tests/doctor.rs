//! `vnet doctor` against real networks, each in its own sandbox: the seed's
//! bridge network and a routed one (ns1 — r1 — ns2), built with iproute2,
//! each broken in exactly one way with ip, sysctl, tc, nft or iptables. The
//! doctor must name that cause (its rule id) and its fix, and nothing else;
//! on the healthy networks it must say the path works. The faults run in
//! parallel sandboxes, so the whole file takes seconds, not minutes.

#[macro_use]
mod sandbox;

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use serde_json::Value;

/// The seed's second network, typed as the seed types it (`sudo` is the
/// identity: tests run as root).
const SEED: &str =
    "sudo() { \"$@\"; }\n. tests/fixtures/seed-bridge.sh\n. tests/fixtures/settle-bridge.sh";
const ROUTED: &str = ". tests/fixtures/routed.sh";
/// The routed network with a second link between ns1 and r1 that r1 uses
/// to send back to ns1: an asymmetric path, fine until rp_filter is strict.
const ASYM: &str = ". tests/fixtures/routed.sh
ip link add eth1 netns ns1 type veth peer name eth3 netns r1
ip -n ns1 addr add 10.0.3.2/24 dev eth1
ip -n r1 addr add 10.0.3.1/24 dev eth3
ip -n ns1 link set eth1 up
ip -n r1 link set eth3 up
ip -n r1 route add 10.0.1.2/32 via 10.0.3.2 dev eth3";
/// The seed's bridge network with IPv6: ns1 fd00::1, and ns3 on the bridge
/// already holding fd00::2; ns2's end is up, without an address yet.
const BRIDGE6: &str = "sudo() { \"$@\"; }
. tests/fixtures/seed-bridge.sh
ip netns add ns3
ip link add veth3 netns ns3 type veth peer name br0-veth3
ip link set br0-veth3 master br0 up
ip -n ns1 addr add fd00::1/64 dev veth0 nodad
ip -n ns3 addr add fd00::2/64 dev veth3 nodad
ip -n ns3 link set veth3 up
. tests/fixtures/settle-bridge.sh";

struct Fault {
    name: &'static str,
    net: &'static str,
    /// The one change that breaks it.
    brk: &'static str,
    /// `vnet doctor` arguments.
    args: &'static str,
    /// The only cause expected.
    id: &'static str,
    /// A fix command must contain this.
    fix: &'static str,
}

const FAULTS: &[Fault] = &[
    Fault {
        name: "veth end in a namespace down",
        net: SEED,
        brk: "ip -n ns2 link set veth1 down",
        args: "ns1 ns2",
        id: "link.down",
        fix: "ip -n ns2 link set dev veth1 up",
    },
    Fault {
        name: "the source's veth end down",
        net: SEED,
        brk: "ip -n ns1 link set veth0 down",
        args: "ns1 ns2",
        id: "link.down",
        fix: "ip -n ns1 link set dev veth0 up",
    },
    Fault {
        name: "bridge port down",
        net: SEED,
        brk: "ip link set br0-veth1 down",
        args: "ns1 ns2",
        id: "link.down",
        fix: "ip link set dev br0-veth1 up",
    },
    Fault {
        name: "bridge down",
        net: SEED,
        brk: "ip link set br0 down",
        args: "ns1 ns2",
        id: "link.down",
        fix: "ip link set dev br0 up",
    },
    Fault {
        name: "lo down (as ip netns add leaves it), pinging one's own address",
        net: SEED,
        brk: "true",
        args: "ns1 ns1",
        id: "link.down",
        fix: "ip -n ns1 link set dev lo up",
    },
    Fault {
        name: "veth end left in the wrong namespace",
        net: "ip link add br0 type bridge && ip link set br0 up
ip link add veth0 type veth peer name br0-veth0
ip link add veth1 type veth peer name br0-veth1
ip link set br0-veth0 master br0 up && ip link set br0-veth1 master br0 up
ip netns add ns1 && ip netns add ns2
ip link set veth0 netns ns1",
        brk: "ip -n ns1 addr add 192.168.1.1/24 dev veth0 && ip -n ns1 link set veth0 up
ip addr add 192.168.1.2/24 dev veth1 && ip link set veth1 up",
        args: "ns1 ns2",
        id: "link.wrong-ns",
        fix: "ip link set dev veth1 netns ns2",
    },
    Fault {
        name: "port not enslaved to the bridge",
        net: SEED,
        brk: "ip link set br0-veth1 nomaster",
        args: "ns1 ns2",
        id: "bridge.not-enslaved",
        fix: "ip link set dev br0-veth1 master br0",
    },
    Fault {
        name: "bridge port disabled",
        net: SEED,
        brk: "bridge link set dev br0-veth1 state 0",
        args: "ns1 ns2",
        id: "bridge.stp-state",
        fix: "bridge link set dev br0-veth1 state 3",
    },
    Fault {
        name: "STP still listening on a port",
        net: SEED,
        brk: "ip link set dev br0 type bridge stp_state 1
ip link set br0-veth1 down && ip link set br0-veth1 up",
        args: "ns1 ns2",
        id: "bridge.stp-state",
        fix: "ip link set dev br0 type bridge stp_state 0",
    },
    Fault {
        name: "missing address",
        net: SEED,
        brk: "ip -n ns2 addr flush dev veth1",
        args: "ns1 ns2",
        id: "addr.missing",
        fix: "ip -n ns2 addr add 192.168.1.",
    },
    Fault {
        name: "address in another subnet",
        net: SEED,
        brk: "ip -n ns2 addr flush dev veth1 && ip -n ns2 addr add 192.168.2.2/24 dev veth1",
        args: "ns1 ns2",
        id: "addr.wrong-subnet",
        fix: "ip -n ns2 addr add 192.168.1.2/24 dev veth1",
    },
    Fault {
        name: "a /32 prefix",
        net: SEED,
        brk: "ip -n ns2 addr flush dev veth1 && ip -n ns2 addr add 192.168.1.2/32 dev veth1",
        args: "ns1 ns2",
        id: "addr.prefix",
        fix: "ip -n ns2 addr add 192.168.1.2/24 dev veth1",
    },
    Fault {
        name: "duplicate IP (the source's own)",
        net: SEED,
        brk: "ip -n ns2 addr flush dev veth1 && ip -n ns2 addr add 192.168.1.1/24 dev veth1",
        args: "ns1 ns2",
        id: "addr.duplicate-ip",
        fix: "ip -n ns2 addr del 192.168.1.1/24 dev veth1",
    },
    Fault {
        name: "duplicate MAC",
        net: SEED,
        brk: "ip -n ns2 link set dev veth1 address $(ip -n ns1 link show veth0 | awk '/link.ether/ {print $2}')",
        args: "ns1 ns2",
        id: "addr.duplicate-mac",
        fix: "ip -n ns2 link set dev veth1 address 02:",
    },
    Fault {
        name: "IPv6 address still tentative",
        net: BRIDGE6,
        brk: "ip netns exec ns2 sysctl -qw net.ipv6.conf.veth1.dad_transmits=200
ip -n ns2 link set veth1 up && ip -n ns2 addr add fd00::5/64 dev veth1",
        args: "-6 ns1 ns2",
        id: "addr.tentative",
        fix: "ip -n ns2 addr add fd00::5/64 dev veth1 nodad",
    },
    Fault {
        name: "IPv6 duplicate address detection failed",
        net: BRIDGE6,
        brk: "ip -n ns2 link set veth1 up && ip -n ns2 addr add fd00::2/64 dev veth1
for i in $(seq 50); do ip -n ns2 -6 addr show dadfailed | grep -q fd00::2 && break; sleep 0.1; done",
        args: "-6 ns1 ns2",
        id: "addr.dadfailed",
        fix: "ip -n ns2 addr del fd00::2/64 dev veth1",
    },
    Fault {
        name: "NOARP on the destination",
        net: SEED,
        brk: "ip -n ns2 link set dev veth1 arp off",
        args: "ns1 ns2",
        id: "neigh.noarp",
        fix: "ip -n ns2 link set dev veth1 arp on",
    },
    Fault {
        name: "arp_ignore",
        net: SEED,
        brk: "ip netns exec ns2 sysctl -qw net.ipv4.conf.all.arp_ignore=8",
        args: "ns1 ns2",
        id: "neigh.arp-ignore",
        fix: "ip netns exec ns2 sysctl -w net.ipv4.conf.all.arp_ignore=0",
    },
    Fault {
        name: "wrong permanent neighbour entry",
        net: SEED,
        brk: "ip -n ns1 neigh add 192.168.1.2 lladdr 02:00:00:00:00:99 dev veth0 nud permanent",
        args: "ns1 ns2",
        id: "neigh.wrong-permanent",
        fix: "ip -n ns1 neigh del 192.168.1.2 dev veth0",
    },
    Fault {
        name: "no route",
        net: ROUTED,
        brk: "ip -n ns1 route del default",
        args: "ns1 ns2",
        id: "route.no-route",
        fix: "ip -n ns1 route add default via 10.0.1.1",
    },
    Fault {
        name: "no return route",
        net: ROUTED,
        brk: "ip -n ns2 route del default",
        args: "ns1 ns2",
        id: "route.no-return",
        fix: "ip -n ns2 route add default via 10.0.2.1",
    },
    Fault {
        name: "a gateway that does not answer",
        net: ROUTED,
        brk: "ip -n ns1 route replace default via 10.0.1.99",
        args: "ns1 ns2",
        id: "route.gateway",
        fix: "ip -n ns1 route replace default via 10.0.1.1",
    },
    Fault {
        name: "a blackhole route",
        net: ROUTED,
        brk: "ip -n ns1 route add blackhole 10.0.2.0/24",
        args: "ns1 ns2",
        id: "route.refused",
        fix: "ip -n ns1 route del blackhole 10.0.2.0/24",
    },
    Fault {
        name: "IPv4 forwarding off",
        net: ROUTED,
        brk: "ip netns exec r1 sysctl -qw net.ipv4.ip_forward=0",
        args: "ns1 ns2",
        id: "route.forwarding-off",
        fix: "ip netns exec r1 sysctl -w net.ipv4.ip_forward=1",
    },
    Fault {
        name: "IPv6 forwarding off",
        net: ROUTED,
        brk: "ip netns exec r1 sysctl -qw net.ipv6.conf.all.forwarding=0",
        args: "-6 ns1 ns2",
        id: "route.forwarding-off",
        fix: "ip netns exec r1 sysctl -w net.ipv6.conf.all.forwarding=1",
    },
    Fault {
        name: "rp_filter on an asymmetric path",
        net: ASYM,
        brk: "ip netns exec r1 sysctl -qw net.ipv4.conf.all.rp_filter=1",
        args: "ns1 ns2",
        id: "route.rp-filter",
        fix: "ip netns exec r1 sysctl -w net.ipv4.conf.all.rp_filter=2",
    },
    Fault {
        name: "FORWARD policy drop with br_netfilter",
        net: SEED,
        brk: "iptables -P FORWARD DROP",
        args: "ns1 ns2",
        id: "filter.br-netfilter",
        fix: "sysctl -w net.bridge.bridge-nf-call-iptables=0",
    },
    Fault {
        name: "FORWARD policy drop on a router",
        net: ROUTED,
        brk: "ip netns exec r1 iptables -P FORWARD DROP",
        args: "ns1 ns2",
        id: "filter.forward",
        fix: "ip netns exec r1 iptables -I FORWARD -i eth1 -o eth2 -j ACCEPT",
    },
    Fault {
        name: "INPUT drop (nftables)",
        net: SEED,
        brk: "ip netns exec ns2 nft add table inet f
ip netns exec ns2 nft add chain inet f input_filter '{ type filter hook input priority 0; policy drop; }'",
        args: "ns1 ns2",
        id: "filter.input",
        fix: "ip netns exec ns2 nft insert rule inet f input_filter iifname veth1 meta l4proto icmp accept",
    },
    Fault {
        name: "OUTPUT drop rule (iptables)",
        net: SEED,
        brk: "ip netns exec ns1 iptables -A OUTPUT -p icmp -j DROP",
        args: "ns1 ns2",
        id: "filter.output",
        fix: "ip netns exec ns1 iptables -D OUTPUT 1",
    },
    Fault {
        name: "nftables bridge family drop",
        net: SEED,
        brk: "nft add table bridge f
nft add chain bridge f forward_filter '{ type filter hook forward priority 0; policy drop; }'",
        args: "ns1 ns2",
        id: "filter.bridge",
        fix: "nft insert rule bridge f forward_filter meta ibrname br0 accept",
    },
    Fault {
        name: "ARP dropped by an arp family chain",
        net: SEED,
        brk: "ip netns exec ns2 nft add table arp f
ip netns exec ns2 nft add chain arp f arp_in '{ type filter hook input priority 0; policy drop; }'",
        args: "ns1 ns2",
        id: "filter.arp",
        fix: "ip netns exec ns2 nft insert rule arp f arp_in iifname veth1 accept",
    },
    Fault {
        name: "ARP dropped at a bridge's ingress (netdev family)",
        net: SEED,
        brk: "nft add table netdev f
nft add chain netdev f ing '{ type filter hook ingress device br0-veth0 priority 0; }'
nft add rule netdev f ing ether type arp drop",
        args: "ns1 ns2",
        id: "filter.netdev",
        fix: "nft delete rule netdev f ing handle",
    },
    Fault {
        name: "icmp_echo_ignore_all",
        net: SEED,
        brk: "ip netns exec ns2 sysctl -qw net.ipv4.icmp_echo_ignore_all=1",
        args: "ns1 ns2",
        id: "filter.icmp-echo-ignore",
        fix: "ip netns exec ns2 sysctl -w net.ipv4.icmp_echo_ignore_all=0",
    },
    Fault {
        name: "MTU mismatch for a big probe",
        net: SEED,
        brk: "ip -n ns2 link set dev veth1 mtu 1400",
        args: "-s 1450 ns1 ns2",
        id: "size.mtu",
        fix: "ip -n ns2 link set dev veth1 mtu 1500",
    },
    Fault {
        name: "a qdisc that drops everything",
        net: SEED,
        brk: "tc -n ns1 qdisc add dev veth0 root pfifo limit 0",
        args: "ns1 ns2",
        id: "queue.drops",
        fix: "tc -n ns1 qdisc del dev veth0 root",
    },
];

fn json(out: &sandbox::Out) -> Value {
    serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}):\n{}\n{}", out.stdout, out.stderr))
}

/// A probe size no other doctor of this test run uses: the sandboxes run
/// the same networks with the same names at the same time, and the kernel's
/// drop records (machine-wide) are told apart by the probe's length.
fn size_arg(args: &str) -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    if args.contains("-s ") {
        return String::new();
    }
    format!("-s {}", 100 + 3 * NEXT.fetch_add(1, Ordering::Relaxed))
}

/// The JSON Schema every verdict is held to.
fn schema() -> &'static jsonschema::Validator {
    static V: std::sync::OnceLock<jsonschema::Validator> = std::sync::OnceLock::new();
    V.get_or_init(|| {
        let text = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/docs/doctor.schema.json"
        ))
        .expect("docs/doctor.schema.json");
        let s: Value = serde_json::from_str(&text).expect("the schema is JSON");
        jsonschema::validator_for(&s).expect("the schema is a JSON Schema")
    })
}

/// `vnet doctor --json ARGS` with a short timeout: exit code, verdict, seconds.
fn diagnose(sb: &sandbox::Sandbox, args: &str) -> (i32, Value, f64, sandbox::Out) {
    let t = Instant::now();
    let out = sb.vnet(&format!("doctor -W 0.5 --json {} {args}", size_arg(args)));
    let secs = t.elapsed().as_secs_f64();
    let v = if out.stdout.trim_start().starts_with('{') {
        json(&out)
    } else {
        Value::Null
    };
    if !v.is_null() {
        let errors: Vec<String> = schema()
            .iter_errors(&v)
            .map(|e| format!("{e} at {}", e.instance_path()))
            .collect();
        assert!(
            errors.is_empty(),
            "doctor {args}: not valid against docs/doctor.schema.json: {errors:?}"
        );
    }
    (out.code, v, secs, out)
}

fn ids(v: &Value) -> Vec<String> {
    v["causes"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|c| c["id"].as_str().unwrap_or("?").to_string())
                .collect()
        })
        .unwrap_or_default()
}

fn fixes(v: &Value) -> Vec<String> {
    let mut out = Vec::new();
    for c in v["causes"].as_array().into_iter().flatten() {
        for f in c["fixes"].as_array().into_iter().flatten() {
            for cmd in f["commands"].as_array().into_iter().flatten() {
                out.push(cmd.as_str().unwrap_or("").to_string());
            }
        }
    }
    out
}

/// One fault: build, break, diagnose; None when all is as expected.
fn check(f: &Fault) -> Option<String> {
    let sb = sandbox::Sandbox::new();
    let built = sb.sh(f.net);
    if built.code != 0 {
        return Some(format!("{}: building failed: {}", f.name, built.stderr));
    }
    let broke = sb.sh(f.brk);
    if broke.code != 0 {
        return Some(format!("{}: breaking failed: {}", f.name, broke.stderr));
    }
    let (code, v, secs, out) = diagnose(&sb, f.args);
    let got = ids(&v);
    let fx = fixes(&v);
    let mut wrong = Vec::new();
    if code != 1 || v["status"] != "found" {
        wrong.push(format!("exit {code}, status {}", v["status"]));
    }
    if got != [f.id] {
        wrong.push(format!("causes {got:?}, expected [{}]", f.id));
    }
    if !fx.iter().any(|c| c.contains(f.fix)) {
        wrong.push(format!("no fix containing `{}` in {fx:?}", f.fix));
    }
    if secs >= 5.0 {
        wrong.push(format!("took {secs:.2} s"));
    }
    if wrong.is_empty() {
        eprintln!("ok: {} → {} in {secs:.2} s", f.name, f.id);
        // VNET_DOCTOR_SHOW=1: the text a user would read, for review.
        if std::env::var_os("VNET_DOCTOR_SHOW").is_some() {
            let text = sb.vnet(&format!("doctor -W 0.5 {} {}", size_arg(f.args), f.args));
            eprintln!("=== {}\n{}", f.name, text.stdout);
        }
        None
    } else {
        let text = sb.vnet(&format!("doctor -W 0.5 {} {}", size_arg(f.args), f.args));
        let causes: Vec<String> = v["causes"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|c| format!("{}: {} {}", c["id"], c["cause"], c["evidence"]))
            .collect();
        Some(format!(
            "{}: {}\n--- causes\n{}\n--- stderr\n{}--- text of a second run\n{}",
            f.name,
            wrong.join("; "),
            causes.join("\n"),
            out.stderr,
            text.stdout
        ))
    }
}

fn every_fault_is_named_with_its_fix_and_nothing_else() {
    // Mostly waiting (for a reply that does not come): many at once.
    let next = AtomicUsize::new(0);
    let failures = Mutex::new(Vec::new());
    let t = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..8 {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(f) = FAULTS.get(i) else { break };
                    if let Some(e) = check(f) {
                        failures.lock().unwrap().push(e);
                    }
                }
            });
        }
    });
    let failures = failures.into_inner().unwrap();
    let distinct: std::collections::BTreeSet<&str> = FAULTS.iter().map(|f| f.id).collect();
    eprintln!(
        "{} faults ({} rule ids) diagnosed in {:.1} s",
        FAULTS.len(),
        distinct.len(),
        t.elapsed().as_secs_f64()
    );
    assert!(distinct.len() >= 12);
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

fn healthy_networks_work_and_name_no_cause() {
    for (net, args, way) in [
        (
            SEED,
            "ns1 ns2",
            "ns1:veth0 → host:br0-veth0 → [br0] → host:br0-veth1 → ns2:veth1 — delivered in ns2",
        ),
        (
            ROUTED,
            "ns1 ns2",
            "ns1:eth0 → r1:eth1 → r1:eth2 → ns2:eth0 — delivered in ns2",
        ),
        (
            ROUTED,
            "-6 ns1 ns2",
            "ns1:eth0 → r1:eth1 → r1:eth2 → ns2:eth0 — delivered in ns2",
        ),
        (
            ASYM,
            "ns1 10.0.2.2",
            "ns1:eth0 → r1:eth1 → r1:eth2 → ns2:eth0 — delivered in ns2",
        ),
    ] {
        let sb = sandbox::Sandbox::new();
        sb.sh(net).ok();
        let (code, v, secs, out) = diagnose(&sb, args);
        assert_eq!(code, 0, "{args}: {}\n{}", out.stdout, out.stderr);
        assert_eq!(v["status"], "works");
        assert!(ids(&v).is_empty());
        assert!(secs < 5.0);
        let text = sb.vnet(&format!("doctor {args}")).ok();
        assert!(
            text.stdout
                .contains(": the path works [DELIVERED]\nreply after "),
            "{}",
            text.stdout
        );
        assert!(text.stdout.contains(way), "{}", text.stdout);
        assert!(!text.stdout.contains("cause"), "{}", text.stdout);
    }
}

/// The "done when": the seed's second network typed by hand, then
/// what a Docker install leaves behind.
fn docker_s_forward_drop_with_br_netfilter_is_named_with_kernel_evidence() {
    let sb = sandbox::Sandbox::new();
    sb.sh(SEED).ok();
    sb.sh("iptables -P FORWARD DROP").ok();
    let t = Instant::now();
    let out = sb.vnet("doctor ns1 ns2").expect(1);
    assert!(t.elapsed().as_secs_f64() < 5.0);
    let s = &out.stdout;
    let first = s.lines().nth(2).unwrap_or("");
    assert!(
        first.starts_with("cause: br_netfilter sends frames bridged by br0 in host through the iptables hooks, where chain FORWARD of table ip filter drops the echo request"),
        "{s}"
    );
    assert!(first.contains("its policy is drop"), "{s}");
    assert!(
        s.contains("  fix: sysctl -w net.bridge.bridge-nf-call-iptables=0"),
        "{s}"
    );
    assert!(
        s.contains("  or:  iptables -I FORWARD -i br0 -o br0 -j ACCEPT"),
        "{s}"
    );
    assert!(
        s.contains("kernel: the echo request was dropped in host by netfilter (NETFILTER_DROP at nft_do_chain) while br0 bridged it from br0-veth0 to br0-veth1"),
        "{s}"
    );
    assert!(
        s.contains("host: net.bridge.bridge-nf-call-iptables = 1"),
        "{s}"
    );
    // Either fix, applied, makes the path work.
    sb.sh("sysctl -qw net.bridge.bridge-nf-call-iptables=0")
        .ok();
    sb.vnet("doctor ns1 ns2").ok();
    sb.sh("sysctl -qw net.bridge.bridge-nf-call-iptables=1 && iptables -I FORWARD -i br0 -o br0 -j ACCEPT")
        .ok();
    sb.vnet("doctor ns1 ns2").ok();
}

fn several_faults_are_each_listed() {
    let sb = sandbox::Sandbox::new();
    sb.sh(ROUTED).ok();
    sb.sh("ip netns exec r1 sysctl -qw net.ipv4.ip_forward=0 && ip -n ns2 route del default")
        .ok();
    let (code, v, _, out) = diagnose(&sb, "ns1 ns2");
    assert_eq!(code, 1, "{}", out.stdout);
    let got = ids(&v);
    assert_eq!(
        got,
        ["route.forwarding-off", "route.no-return"],
        "{}",
        out.stdout
    );
}

fn usage_errors_and_what_cannot_be_known() {
    let sb = sandbox::Sandbox::new();
    sb.sh(SEED).ok();
    let out = sb.vnet("doctor ns1 nsx").expect(2);
    assert!(out.stderr.contains("unknown node `nsx`"), "{}", out.stderr);
    sb.vnet("doctor ns1").expect(2);
    sb.vnet("doctor -s 70000 ns1 ns2").expect(2);
    for not_one in ["192.168.1.255", "255.255.255.255", "224.0.0.1", "0.0.0.0"] {
        let out = sb.vnet(&format!("doctor ns1 {not_one}")).expect(2);
        assert!(out.stderr.contains("one unicast ping"), "{}", out.stderr);
    }
    // Nobody holds the address: said plainly.
    let (code, v, _, out) = diagnose(&sb, "ns1 192.168.1.77");
    assert_eq!(code, 1, "{}", out.stdout);
    assert_eq!(ids(&v), ["addr.missing"], "{}", out.stdout);
    // No root, no doctor.
    let out = sb.sh("$NOBODY \"$VNET\" doctor ns1 ns2");
    assert_eq!(out.code, 3, "{}", out.stderr);
    assert!(out.stderr.contains("needs root"), "{}", out.stderr);
}

/// Ctrl-C during the probe: the run stops, its tracefs instance and the
/// mount it made for it are gone, and the network is as it was.
fn ctrl_c_leaves_no_tracefs_instance_behind() {
    let sb = sandbox::Sandbox::new();
    sb.sh(SEED).ok();
    sb.sh("ip -n ns2 link set veth1 down").ok();
    let before = sb.sh("ip -j link show; ip -n ns1 -j link show").ok().stdout;
    let out = sb
        .sh("\"$VNET\" doctor -W 10 ns1 ns2 & pid=$!
sleep 0.7
kill -INT $pid
wait $pid; echo \"exit=$?\"
mkdir -p /run/tt && mount -t tracefs tracefs /run/tt
ns=$(stat -L -c %i /proc/self/ns/pid)
ls /run/tt/instances | grep \"^vnet-$ns-$pid-\" || echo \"no instance\"
ls -d /run/vnet-tracefs-$pid-* 2>/dev/null || echo \"no mount point\"
umount /run/tt")
        .ok();
    assert!(
        out.stdout.contains("exit=130"),
        "{}\n{}",
        out.stdout,
        out.stderr
    );
    assert!(out.stdout.contains("no instance"), "{}", out.stdout);
    assert!(out.stdout.contains("no mount point"), "{}", out.stdout);
    let after = sb.sh("ip -j link show; ip -n ns1 -j link show").ok().stdout;
    assert_eq!(
        strip_stats(&before),
        strip_stats(&after),
        "the doctor changed nothing"
    );
}

/// Interface listings without the counters (the probe moves them).
fn strip_stats(s: &str) -> String {
    s.lines()
        .flat_map(|l| serde_json::from_str::<Value>(l).ok())
        .flat_map(|v| v.as_array().cloned().unwrap_or_default())
        .map(|mut l| {
            if let Some(o) = l.as_object_mut() {
                o.remove("stats64");
                o.remove("stats");
            }
            l.to_string()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Without tracefs (here: nowhere to mount it), the doctor says what it
/// could not check and still names the cause from the state it read.
fn without_tracefs_it_says_so_and_still_names_the_cause() {
    let sb = sandbox::Sandbox::new();
    sb.sh(SEED).ok();
    sb.sh("iptables -P FORWARD DROP && mount -o remount,bind,ro /run")
        .ok();
    let out = sb.vnet("doctor -W 0.5 ns1 ns2").expect(1);
    assert!(
        out.stdout.contains("[filter.br-netfilter]"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains(
            "not checked:\n  where the kernel dropped the probe (tracefs skb:kfree_skb): "
        ),
        "{}",
        out.stdout
    );
    assert!(!out.stdout.contains("kernel: "), "{}", out.stdout);
}

/// A bridge of 100 ports, one end down after a first ping: the probe,
/// flooded to the 98 other namespaces (their interfaces all named eth0),
/// is blamed on none of them, and the verdict stays fast.
fn a_big_bridge_floods_the_probe_yet_one_cause_is_named_fast() {
    let sb = sandbox::Sandbox::new();
    let mut lab = String::from("name: star\nnodes:\n  br0: { kind: bridge }\n");
    for i in 1..=100 {
        lab.push_str(&format!("  n{i}: {{}}\n"));
    }
    lab.push_str("links:\n");
    for i in 1..=100 {
        lab.push_str(&format!(
            "  - endpoints: [{{ node: n{i}, interface: eth0, ip: 10.0.0.{i}/16 }}, \"br0:br0-n{i}\"]\n"
        ));
    }
    sb.sh(&format!(
        "mkdir -p /run/t && cat > /run/t/star.yaml <<'EOF'\n{lab}EOF"
    ))
    .ok();
    sb.vnet("up /run/t/star.yaml").ok();
    let (code, v, secs, out) = diagnose(&sb, "n1 n50");
    assert_eq!(code, 0, "{}", out.stdout);
    assert!(secs < 5.0, "{secs}");
    sb.sh("ip -n n50 link set eth0 down").ok();
    let (code, v2, secs, out) = diagnose(&sb, "n1 n50");
    assert_eq!(code, 1, "{}", out.stdout);
    assert_eq!(ids(&v2), ["link.down"], "{}", out.stdout);
    assert!(secs < 5.0, "{secs}");
    assert_eq!(v["status"], "works");
}

fn main() -> std::process::ExitCode {
    sandbox::harness::run(vec![
        kernel!(every_fault_is_named_with_its_fix_and_nothing_else),
        kernel!(healthy_networks_work_and_name_no_cause),
        host_root!(
            docker_s_forward_drop_with_br_netfilter_is_named_with_kernel_evidence,
            "the kernel's drop evidence comes from tracefs, which a user namespace cannot mount"
        ),
        kernel!(several_faults_are_each_listed),
        kernel!(usage_errors_and_what_cannot_be_known),
        host_root!(
            ctrl_c_leaves_no_tracefs_instance_behind,
            "it mounts tracefs to look for the doctor's instance, which a user namespace cannot"
        ),
        kernel!(without_tracefs_it_says_so_and_still_names_the_cause),
        kernel!(a_big_bridge_floods_the_probe_yet_one_cause_is_named_fast),
    ])
}
