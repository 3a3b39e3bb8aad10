//! `vnet doctor SRC DST:tcp/PORT` (`udp/PORT`) against real services, each
//! in its own sandbox: the seed's bridge network with a small server in a
//! namespace — this test binary itself, started again inside it as a
//! listener (`VNET_TEST_LISTEN`) — broken in exactly one way. The doctor
//! must name that cause alone, with its code and fix; healthy services
//! are DELIVERED. Every `--json` verdict is checked against
//! docs/doctor.schema.json.

#[macro_use]
mod sandbox;

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;

const SEED: &str =
    "sudo() { \"$@\"; }\n. tests/fixtures/seed-bridge.sh\n. tests/fixtures/settle-bridge.sh";

/// A server: `PROTO:ADDR:PORT` in namespace NS (backlog 1 and never
/// accepting, with `stuck`).
struct Server {
    ns: &'static str,
    spec: &'static str,
}

struct Case {
    name: &'static str,
    servers: &'static [Server],
    /// The one change that breaks it ("" for none).
    brk: &'static str,
    args: &'static str,
    /// The only cause expected ("" for none: it works).
    id: &'static str,
    code: &'static str,
    /// A fix command (or the cause) must contain this.
    fix: &'static str,
}

const TCP_ANY: &[Server] = &[Server {
    ns: "ns2",
    spec: "tcp:0.0.0.0:8080",
}];
const UDP_ANY: &[Server] = &[Server {
    ns: "ns2",
    spec: "udp:0.0.0.0:5353",
}];

const CASES: &[Case] = &[
    Case {
        name: "healthy TCP service",
        servers: TCP_ANY,
        brk: "",
        args: "ns1 ns2:tcp/8080",
        id: "",
        code: "DELIVERED",
        fix: "",
    },
    Case {
        name: "healthy UDP service",
        servers: UDP_ANY,
        brk: "",
        args: "ns1 ns2:udp/5353",
        id: "",
        code: "DELIVERED",
        fix: "",
    },
    Case {
        name: "healthy TCP service, by address",
        servers: TCP_ANY,
        brk: "",
        args: "ns1 192.168.1.2:tcp/8080",
        id: "",
        code: "DELIVERED",
        fix: "",
    },
    Case {
        name: "nothing listens",
        servers: &[],
        brk: "",
        args: "ns1 ns2:tcp/8080",
        id: "service.no-listener",
        code: "NO_LISTENER",
        fix: "ip netns exec ns2 SERVER",
    },
    Case {
        name: "nothing listens (UDP)",
        servers: &[],
        brk: "",
        args: "ns1 ns2:udp/5353",
        id: "service.no-listener",
        code: "NO_LISTENER",
        fix: "ip netns exec ns2 SERVER",
    },
    Case {
        name: "a server bound to loopback only",
        servers: &[Server {
            ns: "ns2",
            spec: "tcp:127.0.0.1:8080",
        }],
        brk: "",
        args: "ns1 ns2:tcp/8080",
        id: "service.wrong-address",
        code: "NO_LISTENER",
        fix: "ip netns exec ns2 ss -ltnp 'sport = :8080'",
    },
    Case {
        name: "the server runs in the other namespace",
        servers: &[Server {
            ns: "ns1",
            spec: "tcp:0.0.0.0:8080",
        }],
        brk: "",
        args: "ns1 ns2:tcp/8080",
        id: "service.other-namespace",
        code: "NO_LISTENER",
        fix: "a server listens on tcp/8080 in ns1, not ns2",
    },
    Case {
        name: "a full accept queue",
        servers: &[Server {
            ns: "ns2",
            spec: "stuck:0.0.0.0:8080",
        }],
        brk: "",
        args: "ns1 ns2:tcp/8080",
        id: "service.backlog-full",
        code: "NO_LISTENER",
        fix: "net.core.somaxconn",
    },
    Case {
        name: "an nftables drop on the port",
        servers: TCP_ANY,
        brk: "ip netns exec ns2 nft add table inet f
ip netns exec ns2 nft add chain inet f input '{ type filter hook input priority 0; }'
ip netns exec ns2 nft add rule inet f input tcp dport 8080 drop",
        args: "ns1 ns2:tcp/8080",
        id: "filter.input",
        code: "DENIED_IN",
        fix: "ip netns exec ns2 nft delete rule inet f input handle",
    },
    Case {
        name: "an iptables REJECT with tcp-reset",
        servers: TCP_ANY,
        brk: "ip netns exec ns2 iptables -A INPUT -p tcp --dport 8080 -j REJECT --reject-with tcp-reset",
        args: "ns1 ns2:tcp/8080",
        id: "filter.input",
        code: "REJECTED",
        fix: "ip netns exec ns2 iptables -D INPUT 1",
    },
    Case {
        name: "an nftables reject (icmp port-unreachable) of UDP",
        servers: UDP_ANY,
        brk: "ip netns exec ns2 nft add table inet f
ip netns exec ns2 nft add chain inet f input '{ type filter hook input priority 0; }'
ip netns exec ns2 nft add rule inet f input udp dport 5353 reject",
        args: "ns1 ns2:udp/5353",
        id: "filter.input",
        code: "REJECTED",
        fix: "ip netns exec ns2 nft delete rule inet f input handle",
    },
    Case {
        name: "an iptables output drop of the port",
        servers: TCP_ANY,
        brk: "ip netns exec ns1 iptables -A OUTPUT -p tcp --dport 8080 -j DROP",
        args: "ns1 ns2:tcp/8080",
        id: "filter.output",
        code: "DENIED_OUT",
        fix: "ip netns exec ns1 iptables -D OUTPUT 1",
    },
    Case {
        name: "a DNAT that sends it elsewhere",
        servers: TCP_ANY,
        brk: "ip netns exec ns1 nft add table ip n
ip netns exec ns1 nft add chain ip n out '{ type nat hook output priority -100; }'
ip netns exec ns1 nft add rule ip n out tcp dport 8080 dnat to 192.168.1.3",
        args: "ns1 ns2:tcp/8080",
        id: "nat.dnat",
        code: "TRANSLATED",
        fix: "ip netns exec ns1 nft delete rule ip n out handle",
    },
    Case {
        name: "an iptables DNAT to another port",
        servers: TCP_ANY,
        brk: "ip netns exec ns2 iptables -t nat -A PREROUTING -p tcp --dport 8080 -j DNAT --to-destination 192.168.1.2:9090",
        args: "ns1 ns2:tcp/8080",
        id: "nat.dnat",
        code: "TRANSLATED",
        fix: "ip netns exec ns2 iptables -t nat -D PREROUTING 1",
    },
    Case {
        name: "the server's interface moved to another namespace",
        servers: TCP_ANY,
        brk: "ip netns add ns3 && ip -n ns2 link set veth1 netns ns3",
        args: "ns1 ns2:tcp/8080",
        id: "link.moved",
        code: "LINK_DOWN",
        fix: "ip -n ns3 link set dev veth1 netns ns2",
    },
];

/// The JSON Schema the doctor's output is held to.
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

/// Errors of `v` against the schema, in words (empty: valid).
fn invalid(v: &Value) -> Vec<String> {
    schema()
        .iter_errors(v)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect()
}

/// Start each server and wait until it is bound; their pids.
fn start(sb: &sandbox::Sandbox, servers: &[Server]) -> Result<Vec<String>, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut pids = Vec::new();
    for (i, s) in servers.iter().enumerate() {
        let ready = format!("/run/listener-{i}");
        let out = sb.sh(&format!(
            "ip -n {ns} link set lo up
ip netns exec {ns} env VNET_TEST_LISTEN={spec} VNET_TEST_READY={ready} {exe} >/dev/null 2>&1 &
echo $!
for i in $(seq 200); do [ -e {ready} ] && break; sleep 0.02; done
[ -e {ready} ] || {{ echo 'the listener did not start' >&2; exit 1; }}",
            ns = s.ns,
            spec = s.spec,
            exe = exe.display()
        ));
        if out.code != 0 {
            return Err(out.stderr);
        }
        pids.push(out.stdout.trim().to_string());
    }
    Ok(pids)
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

fn check(c: &Case) -> Option<String> {
    let sb = sandbox::Sandbox::new();
    let built = sb.sh(SEED);
    if built.code != 0 {
        return Some(format!("{}: building failed: {}", c.name, built.stderr));
    }
    let pids = match start(&sb, c.servers) {
        Ok(p) => p,
        Err(e) => return Some(format!("{}: {e}", c.name)),
    };
    if c.servers.iter().any(|s| s.spec.starts_with("stuck")) {
        // Fill the accept queue (backlog 1) with connections never accepted.
        sb.sh("for i in 1 2 3; do \"$VNET\" doctor -W 0.3 ns1 ns2:tcp/8080 >/dev/null 2>&1; done");
    }
    if !c.brk.is_empty() {
        let broke = sb.sh(c.brk);
        if broke.code != 0 {
            return Some(format!("{}: breaking failed: {}", c.name, broke.stderr));
        }
    }
    let t = Instant::now();
    let out = sb.vnet(&format!("doctor -W 0.5 --json {}", c.args));
    let secs = t.elapsed().as_secs_f64();
    let v: Value = serde_json::from_str(&out.stdout).unwrap_or(Value::Null);
    let mut wrong = invalid(&v);
    let want_code = if c.id.is_empty() { 0 } else { 1 };
    if out.code != want_code {
        wrong.push(format!("exit {}, expected {want_code}", out.code));
    }
    if v["code"] != c.code {
        wrong.push(format!("code {}, expected {}", v["code"], c.code));
    }
    let got = ids(&v);
    let want: Vec<&str> = if c.id.is_empty() { vec![] } else { vec![c.id] };
    if got != want {
        wrong.push(format!("causes {got:?}, expected {want:?}"));
    }
    if !c.fix.is_empty() {
        let fx = fixes(&v);
        let cause = v["causes"][0]["cause"].as_str().unwrap_or("");
        if !fx.iter().any(|x| x.contains(c.fix)) && !cause.contains(c.fix) {
            wrong.push(format!("no fix containing `{}` in {fx:?}", c.fix));
        }
    }
    if secs >= 5.0 {
        wrong.push(format!("took {secs:.2} s"));
    }
    let text = sb.vnet(&format!("doctor -W 0.5 {}", c.args));
    if !text.stdout.contains(&format!("[{}]", c.code)) {
        wrong.push(format!("the text lacks [{}]", c.code));
    }
    for p in pids {
        sb.sh(&format!("kill {p}"));
    }
    if wrong.is_empty() {
        eprintln!("ok: {} → {} in {secs:.2} s", c.name, c.code);
        if std::env::var_os("VNET_DOCTOR_SHOW").is_some() {
            eprintln!("=== {}\n{}", c.name, text.stdout);
        }
        None
    } else {
        Some(format!(
            "{}: {}\n--- text\n{}{}",
            c.name,
            wrong.join("; "),
            text.stdout,
            text.stderr
        ))
    }
}

fn every_service_fault_is_named_with_its_code_and_fix() {
    let next = AtomicUsize::new(0);
    let failures = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..6 {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(c) = CASES.get(i) else { break };
                    if let Some(e) = check(c) {
                        failures.lock().unwrap().push(e);
                    }
                }
            });
        }
    });
    let failures = failures.into_inner().unwrap();
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// The matrix of a service: every pair's code.
fn ping_all_tcp_gives_each_failed_pair_its_code() {
    let sb = sandbox::Sandbox::new();
    sb.sh(SEED).ok();
    let pids = start(&sb, TCP_ANY).unwrap();
    let out = sb.vnet("ping --all --tcp 8080 --json").expect(1);
    let v: Value = serde_json::from_str(&out.stdout).unwrap();
    let pairs = v["pairs"].as_array().unwrap();
    let pair = |from: &str, to: &str| {
        pairs
            .iter()
            .find(|p| p["from"] == from && p["to"] == to)
            .cloned()
            .unwrap_or(Value::Null)
    };
    assert_eq!(pair("ns1", "ns2")["code"], "DELIVERED", "{}", out.stdout);
    assert_eq!(pair("ns2", "ns1")["code"], "NO_LISTENER", "{}", out.stdout);
    let text = sb.vnet("ping --all --tcp 8080").expect(1);
    assert!(text.stdout.contains("NO_LISTENER"), "{}", text.stdout);
    for p in pids {
        sb.sh(&format!("kill {p}"));
    }
}

/// A lab brought up from a file: the moved interface's address comes back
/// from it.
fn a_moved_interface_is_restored_from_the_lab_file() {
    let sb = sandbox::Sandbox::new();
    sb.sh("mkdir -p /run/t && cat > /run/t/two.yaml <<'EOF'
name: two
nodes:
  a: {}
  b: {}
links:
  - endpoints: [{ node: a, interface: eth0, ip: 10.9.0.1/24 }, { node: b, interface: eth0, ip: 10.9.0.2/24 }]
EOF")
        .ok();
    sb.vnet("up /run/t/two.yaml").ok();
    sb.sh("ip netns add elsewhere && ip -n b link set eth0 netns elsewhere")
        .ok();
    let out = sb.vnet("doctor -W 0.5 --json a b").expect(1);
    let v: Value = serde_json::from_str(&out.stdout).unwrap();
    assert!(invalid(&v).is_empty(), "{:?}", invalid(&v));
    assert_eq!(ids(&v), ["link.moved"], "{}", out.stdout);
    assert_eq!(v["code"], "LINK_DOWN");
    let fx = fixes(&v);
    assert!(
        fx.iter()
            .any(|c| c == "ip -n elsewhere link set dev eth0 netns b"),
        "{fx:?}"
    );
    assert!(
        fx.iter()
            .any(|c| c == "ip -n b addr add 10.9.0.2/24 dev eth0"),
        "{fx:?}"
    );
    let cause = v["causes"][0]["cause"].as_str().unwrap_or("");
    assert!(cause.contains("is now in elsewhere"), "{cause}");
    assert!(cause.contains("its peer a:eth0"), "{cause}");
}

fn usage_errors_of_a_service_target() {
    let sb = sandbox::Sandbox::new();
    sb.sh(SEED).ok();
    // trace's JSON carries the schema's version and validates too.
    let out = sb.vnet("trace -W 0.5 --json ns1 ns2").ok();
    let v: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(v["schema_version"], 1);
    let mut s: Value = serde_json::from_str(include_str!("../docs/doctor.schema.json")).unwrap();
    let o = s.as_object_mut().unwrap();
    for k in ["required", "properties", "additionalProperties", "type"] {
        o.remove(k);
    }
    o.insert("$ref".into(), Value::from("#/$defs/trace"));
    let trace = jsonschema::validator_for(&s).unwrap();
    let errors: Vec<String> = trace.iter_errors(&v).map(|e| e.to_string()).collect();
    assert!(errors.is_empty(), "{errors:?}");
    for bad in ["ns2:tcp/0", "ns2:sctp/80", "ns2:tcp/x", ":tcp/80"] {
        let out = sb.vnet(&format!("doctor ns1 {bad}")).expect(2);
        assert!(!out.stderr.is_empty());
    }
}

/// The listener mode of this binary: bind, say so, serve a while.
fn listen(spec: &str) {
    let mut parts = spec.splitn(2, ':');
    let kind = parts.next().unwrap_or("");
    let addr = parts.next().unwrap_or("");
    let ready = std::env::var("VNET_TEST_READY").unwrap_or_default();
    let until = Instant::now() + Duration::from_secs(60);
    match kind {
        "tcp" => {
            let l = std::net::TcpListener::bind(addr).expect("bind");
            std::fs::write(&ready, b"").ok();
            l.set_nonblocking(true).ok();
            while Instant::now() < until {
                match l.accept() {
                    Ok((c, _)) => drop(c),
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        }
        "udp" => {
            let s = std::net::UdpSocket::bind(addr).expect("bind");
            std::fs::write(&ready, b"").ok();
            s.set_read_timeout(Some(Duration::from_millis(100))).ok();
            let mut buf = [0u8; 512];
            while Instant::now() < until {
                let _ = s.recv_from(&mut buf);
            }
        }
        "stuck" => {
            use nix::sys::socket::{
                AddressFamily, Backlog, SockFlag, SockType, SockaddrIn, bind, listen, socket,
            };
            let fd = socket(
                AddressFamily::Inet,
                SockType::Stream,
                SockFlag::empty(),
                None,
            )
            .expect("socket");
            let a: SockaddrIn = addr.parse::<std::net::SocketAddrV4>().unwrap().into();
            bind(std::os::fd::AsRawFd::as_raw_fd(&fd), &a).expect("bind");
            listen(&fd, Backlog::new(0).unwrap()).expect("listen");
            std::fs::write(&ready, b"").ok();
            std::thread::sleep(until - Instant::now());
        }
        _ => panic!("VNET_TEST_LISTEN={spec}"),
    }
}

fn main() -> std::process::ExitCode {
    if let Ok(spec) = std::env::var("VNET_TEST_LISTEN") {
        listen(&spec);
        return std::process::ExitCode::SUCCESS;
    }
    sandbox::harness::run(vec![
        kernel!(every_service_fault_is_named_with_its_code_and_fix),
        kernel!(ping_all_tcp_gives_each_failed_pair_its_code),
        kernel!(a_moved_interface_is_restored_from_the_lab_file),
        kernel!(usage_errors_of_a_service_target),
    ])
}
