//! `vnet doctor` naming the kernel's own decision where the probe stops,
//! each fault built in its own sandbox with iproute2 and `bridge`: policy
//! rules and their tables, routes more specific than the connected subnet,
//! routes into lo, routes that loop between two routers, forwarding
//! database entries on the wrong port, and each bridge port flag that stops
//! forwarding or flooding. Each must be named alone (its rule id) with its
//! fix; networks with harmless rules and flags must work with no cause.

#[macro_use]
mod sandbox;

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use serde_json::Value;

const SEED: &str =
    "sudo() { \"$@\"; }\n. tests/fixtures/seed-bridge.sh\n. tests/fixtures/settle-bridge.sh";
const ROUTED: &str = ". tests/fixtures/routed.sh";
/// ns1 — r1 — r2 — ns2: two routers in a row.
const TWO_ROUTERS: &str = "for n in ns1 r1 r2 ns2; do ip netns add $n; ip -n $n link set lo up; done
ip link add eth0 netns ns1 type veth peer name eth1 netns r1
ip link add eth2 netns r1 type veth peer name eth1 netns r2
ip link add eth0 netns ns2 type veth peer name eth2 netns r2
ip -n ns1 addr add 10.0.1.2/24 dev eth0
ip -n r1 addr add 10.0.1.1/24 dev eth1
ip -n r1 addr add 10.0.12.1/24 dev eth2
ip -n r2 addr add 10.0.12.2/24 dev eth1
ip -n r2 addr add 10.0.2.1/24 dev eth2
ip -n ns2 addr add 10.0.2.2/24 dev eth0
for x in ns1:eth0 r1:eth1 r1:eth2 r2:eth1 r2:eth2 ns2:eth0; do ip -n ${x%%:*} link set ${x#*:} up; done
ip -n ns1 route add default via 10.0.1.1
ip -n ns2 route add default via 10.0.2.1
ip -n r1 route add 10.0.2.0/24 via 10.0.12.2
ip -n r2 route add 10.0.1.0/24 via 10.0.12.1
ip netns exec r1 sysctl -qw net.ipv4.ip_forward=1
ip netns exec r2 sysctl -qw net.ipv4.ip_forward=1";
/// The seed's bridge with a third host, ns3 (192.168.1.3), on br0-veth3.
const BRIDGE3: &str = "sudo() { \"$@\"; }
. tests/fixtures/seed-bridge.sh
ip netns add ns3
ip link add veth3 netns ns3 type veth peer name br0-veth3
ip link set br0-veth3 master br0 up
ip -n ns3 addr add 192.168.1.3/24 dev veth3
ip -n ns3 link set veth3 up
. tests/fixtures/settle-bridge.sh";
/// ns2's MAC, for commands that name it.
const NS2_MAC: &str = "$(ip netns exec ns2 cat /sys/class/net/veth1/address)";

struct Fault {
    name: &'static str,
    net: &'static str,
    brk: &'static str,
    args: &'static str,
    id: &'static str,
    fix: &'static str,
}

const FAULTS: &[Fault] = &[
    Fault {
        name: "a policy rule on the router sends the probe to a table with an unreachable route",
        net: ROUTED,
        brk: "ip -n r1 rule add iif eth1 lookup 100 pref 100
ip -n r1 route add unreachable 10.0.2.0/24 table 100",
        args: "ns1 ns2",
        id: "route.policy",
        fix: "ip -n r1 rule del priority 100",
    },
    Fault {
        name: "a policy rule on the sender sends the probe to a table that puts it on the wrong link",
        net: ROUTED,
        brk: "ip -n ns1 rule add to 10.0.2.0/24 lookup 200 pref 50
ip -n ns1 route add 10.0.2.0/24 dev eth0 table 200",
        args: "ns1 ns2",
        id: "route.policy",
        fix: "ip -n ns1 rule del priority 50",
    },
    Fault {
        name: "a prohibit rule by source on the router",
        net: ROUTED,
        brk: "ip -n r1 rule add from 10.0.1.2 prohibit pref 10",
        args: "ns1 ns2",
        id: "route.policy",
        fix: "ip -n r1 rule del priority 10",
    },
    Fault {
        name: "a host route more specific than the router's connected subnet sends the probe back",
        net: ROUTED,
        brk: "ip -n r1 route add 10.0.2.2/32 via 10.0.1.2",
        args: "ns1 ns2",
        id: "route.specific",
        fix: "ip -n r1 route del 10.0.2.2 via 10.0.1.2 dev eth1",
    },
    Fault {
        name: "a route into lo on the router",
        net: ROUTED,
        brk: "ip -n r1 route add 10.0.2.2/32 dev lo",
        args: "ns1 ns2",
        id: "route.local",
        fix: "ip -n r1 route del 10.0.2.2 dev lo",
    },
    Fault {
        name: "a route into lo on the sender",
        net: SEED,
        brk: "ip -n ns1 link set lo up && ip -n ns1 route add 192.168.1.2/32 dev lo",
        args: "ns1 ns2",
        id: "route.local",
        fix: "ip -n ns1 route del 192.168.1.2 dev lo",
    },
    Fault {
        name: "routes that loop between two routers",
        net: TWO_ROUTERS,
        brk: "ip -n r2 route add 10.0.2.0/25 via 10.0.12.1",
        args: "ns1 ns2",
        id: "route.loop",
        fix: "ip -n r2 route del 10.0.2.0/25 via 10.0.12.1 dev eth1",
    },
    Fault {
        name: "a static sticky forwarding-database entry sends ns2's MAC to the wrong port",
        net: BRIDGE3,
        brk: "bridge fdb replace $(ip netns exec ns2 cat /sys/class/net/veth1/address) dev br0-veth3 master static sticky",
        args: "ns1 ns2",
        id: "bridge.fdb",
        fix: "bridge fdb del",
    },
    Fault {
        name: "two isolated bridge ports",
        net: SEED,
        brk: "bridge link set dev br0-veth0 isolated on && bridge link set dev br0-veth1 isolated on",
        args: "ns1 ns2",
        id: "bridge.port-flag",
        fix: "isolated off",
    },
    Fault {
        name: "broadcast flooding off on the destination's port (ARP never reaches it)",
        net: SEED,
        brk: "bridge link set dev br0-veth1 bcast_flood off",
        args: "ns1 ns2",
        id: "bridge.port-flag",
        fix: "bridge link set dev br0-veth1 bcast_flood on",
    },
    Fault {
        name: "learning and unknown-unicast flooding off on the destination's port",
        net: SEED,
        brk: "bridge link set dev br0-veth1 learning off flood off
bridge fdb del $(ip netns exec ns2 cat /sys/class/net/veth1/address) dev br0-veth1 master || true",
        args: "ns1 ns2",
        id: "bridge.port-flag",
        fix: "bridge link set dev br0-veth1 flood on",
    },
    Fault {
        name: "the source's bridge port locked",
        net: SEED,
        brk: "bridge link set dev br0-veth0 locked on
bridge fdb del $(ip netns exec ns1 cat /sys/class/net/veth0/address) dev br0-veth0 master || true",
        args: "ns1 ns2",
        id: "bridge.port-flag",
        fix: "bridge link set dev br0-veth0 locked off",
    },
];

fn json(out: &sandbox::Out) -> Value {
    serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}):\n{}\n{}", out.stdout, out.stderr))
}

/// A probe size no other doctor of this run uses (tests/doctor.rs uses
/// 100 and up; the kernel's drop records are machine-wide).
fn size_arg() -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    format!("-s {}", 700 + 3 * NEXT.fetch_add(1, Ordering::Relaxed))
}

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

fn diagnose(sb: &sandbox::Sandbox, args: &str) -> (i32, Value, f64, sandbox::Out) {
    let t = Instant::now();
    let out = sb.vnet(&format!("doctor -W 0.5 --json {} {args}", size_arg()));
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
        assert!(errors.is_empty(), "doctor {args}: {errors:?}");
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
    let show = std::env::var_os("VNET_DOCTOR_SHOW").is_some();
    if wrong.is_empty() && !show {
        eprintln!("ok: {} → {} in {secs:.2} s", f.name, f.id);
        return None;
    }
    let text = sb.vnet(&format!("doctor -W 0.5 {} {}", size_arg(), f.args));
    if wrong.is_empty() {
        eprintln!("ok: {} → {}\n{}", f.name, f.id, text.stdout);
        return None;
    }
    Some(format!(
        "{}: {}\n--- stderr\n{}--- text of a second run\n{}",
        f.name,
        wrong.join("; "),
        out.stderr,
        text.stdout
    ))
}

fn each_kernel_decision_is_named_with_its_fix_and_nothing_else() {
    let next = AtomicUsize::new(0);
    let failures = Mutex::new(Vec::new());
    let only = std::env::var("VNET_FAULT").ok();
    std::thread::scope(|s| {
        for _ in 0..6 {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(f) = FAULTS.get(i) else { break };
                    if only.as_deref().is_some_and(|o| !f.name.contains(o)) {
                        continue;
                    }
                    if let Some(e) = check(f) {
                        failures.lock().unwrap().push(e);
                    }
                }
            });
        }
    });
    let failures = failures.into_inner().unwrap();
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

fn harmless_rules_and_flags_name_no_cause() {
    for (net, change, args) in [
        (
            ROUTED,
            "ip -n r1 rule add iif eth1 lookup 100 pref 100
ip -n r1 route add 10.0.2.0/24 dev eth2 table 100",
            "ns1 ns2",
        ),
        (
            SEED,
            "bridge link set dev br0-veth1 mcast_flood off && bridge link set dev br0-veth0 isolated on",
            "ns1 ns2",
        ),
        (
            TWO_ROUTERS,
            "ip -n r2 route add 10.0.2.2/32 dev eth2",
            "ns1 ns2",
        ),
        (
            BRIDGE3,
            &*format!("bridge fdb replace {NS2_MAC} dev br0-veth1 master static"),
            "ns1 ns2",
        ),
    ] {
        let sb = sandbox::Sandbox::new();
        sb.sh(net).ok();
        sb.sh(change).ok();
        let (code, v, secs, out) = diagnose(&sb, args);
        assert_eq!(code, 0, "{change}: {}\n{}", out.stdout, out.stderr);
        assert_eq!(v["status"], "works");
        assert!(ids(&v).is_empty());
        assert!(secs < 5.0);
    }
}

fn main() -> std::process::ExitCode {
    sandbox::harness::run(vec![
        kernel!(each_kernel_decision_is_named_with_its_fix_and_nothing_else),
        kernel!(harmless_rules_and_flags_name_no_cause),
    ])
}
