//! One lab over several hosts. Each "host" is a network namespace with a
//! mount namespace of its own (its own /run, so its own /run/netns and
//! /run/vnet, as a separate machine has), plugged into an underlay bridge
//! in the sandbox; vnet runs inside it as it would on that machine.

#[macro_use]
mod sandbox;

use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};

use sandbox::{Out, Sandbox};

/// The hosts of one test: their holder processes (kept until the end) and
/// PIDs, to enter them with nsenter.
struct Machines<'a> {
    sb: &'a Sandbox,
    holders: Vec<Child>,
    pids: Vec<u32>,
}

/// Made inside a new network and mount namespace: a private /run (the
/// host's own /run/netns and vnet state) and a sysfs of its network.
const HOST_SETUP: &str = "mount -t tmpfs -o mode=755 tmpfs /run && mkdir -p /run/netns /run/lock && umount -l /sys 2>/dev/null; mount -t sysfs sysfs /sys && ip link set lo up && echo $$ && exec cat >/dev/null";

impl<'a> Machines<'a> {
    /// `n` hosts on underlay 10.99.0.0/24: host i (1-based) at 10.99.0.i.
    fn new(sb: &'a Sandbox, n: usize) -> Machines<'a> {
        sb.sh("ip link add ul type bridge && ip link set ul up")
            .ok();
        let mut m = Machines {
            sb,
            holders: Vec::new(),
            pids: Vec::new(),
        };
        for i in 1..=n {
            let mut c = sb.command(&format!(
                "exec unshare --net --mount --propagation private sh -c '{HOST_SETUP}'"
            ));
            c.stdin(Stdio::piped()).stdout(Stdio::piped());
            let mut child = c.spawn().expect("host holder starts");
            let mut line = String::new();
            BufReader::new(child.stdout.take().expect("piped"))
                .read_line(&mut line)
                .expect("host holder answers");
            let pid: u32 = line.trim().parse().expect("host holder pid");
            sb.sh(&format!(
                "ip link add u{i} type veth peer name eth0 netns {pid} && ip link set u{i} master ul up"
            ))
            .ok();
            m.holders.push(child);
            m.pids.push(pid);
            m.sh(i, &format!(
                "ip link set eth0 addrgenmode none && ip addr add 10.99.0.{i}/24 dev eth0 && ip link set eth0 up"
            ))
            .ok();
        }
        m
    }

    /// A script on host `i` (1-based).
    fn sh(&self, i: usize, script: &str) -> Out {
        let pid = self.pids[i - 1];
        let quoted = script.replace('\'', "'\\''");
        self.sb.sh(&format!(
            "nsenter -t {pid} -n -m -- sh -c 'cd \"$REPO\" && {{ {quoted}\n}}'"
        ))
    }

    fn vnet(&self, i: usize, args: &str) -> Out {
        self.sh(i, &format!("\"$VNET\" {args}"))
    }

    /// What host `i` holds: namespaces, and every interface with its
    /// addresses (`ip -j`), in and out of those namespaces.
    fn snapshot(&self, i: usize) -> String {
        self.sh(
            i,
            "ip -j netns list; ip -j addr; for n in $(ip netns list | cut -d' ' -f1); do ip -n $n -j addr; done",
        )
        .ok()
        .stdout
    }

    /// `ping` with the don't-fragment bit, `size` bytes of payload, from
    /// node `ns` on host `i`.
    fn ping_df(&self, i: usize, ns: &str, addr: &str, size: u32) -> Out {
        self.sh(
            i,
            &format!("ip netns exec {ns} ping -c1 -W2 -M do -s {size} {addr}"),
        )
    }
}

impl Drop for Machines<'_> {
    fn drop(&mut self) {
        for c in &mut self.holders {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn write_lab(name: &str, text: &str) -> String {
    let dir = std::env::temp_dir().join(format!("vnet-hosts-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

/// A point-to-point link across the hosts (a–b), and a bridge on h1 with
/// ports on both hosts (a and d on h1, c on h2); a routes between them.
const TWO: &str = "name: split
hosts:
  - { name: h1, address: 10.99.0.1 }
  - { name: h2, address: 10.99.0.2 }
nodes:
  a: { forward: true }
  b: { host: h2, routes: [\"default via 10.0.1.1\"] }
  c: { host: h2, routes: [\"default via 10.0.2.1\"] }
  d: { routes: [\"default via 10.0.2.1\"] }
  br0: { kind: bridge }
links:
  - endpoints: [{ node: a, interface: eth0, ip: 10.0.1.1/24 }, { node: b, interface: eth0, ip: 10.0.1.2/24 }]
  - endpoints: [{ node: a, interface: eth1, ip: 10.0.2.1/24 }, \"br0:p-a\"]
  - endpoints: [{ node: d, interface: eth0, ip: 10.0.2.4/24 }, \"br0:p-d\"]
  - endpoints: [{ node: c, interface: eth0, ip: 10.0.2.3/24 }, \"br0:p-c\"]
";

fn vxlan_id(link: &serde_json::Value) -> Option<u64> {
    let info = &link["linkinfo"];
    if info["info_kind"] != "vxlan" {
        return None;
    }
    info["info_data"]["id"].as_u64()
}

fn two_hosts_carry_full_size_packets_and_leave_nothing() {
    let sb = Sandbox::new();
    let m = Machines::new(&sb, 2);
    let file = write_lab("two.yaml", TWO);
    let before = [m.snapshot(1), m.snapshot(2)];

    m.vnet(1, &format!("up {file} --host h1 -q")).ok();
    // h2 finds itself by its underlay address.
    let up2 = m.vnet(2, &format!("up {file} -q")).ok();
    assert!(up2.stdout.contains("host h2"), "{}", up2.stdout);

    // Each host holds its own part only.
    let ns1 = m
        .sh(1, "ip netns list | cut -d' ' -f1 | sort | tr '\\n' ' '")
        .ok();
    assert_eq!(ns1.stdout.trim(), "a d");
    let ns2 = m
        .sh(2, "ip netns list | cut -d' ' -f1 | sort | tr '\\n' ' '")
        .ok();
    assert_eq!(ns2.stdout.trim(), "b c");

    // The p2p link is a VXLAN device as the node's own interface on both
    // sides, with one VNI; its MTU leaves room for the encapsulation.
    let la: serde_json::Value =
        serde_json::from_str(&m.sh(1, "ip -n a -j -d link show dev eth0").ok().stdout).unwrap();
    let lb: serde_json::Value =
        serde_json::from_str(&m.sh(2, "ip -n b -j -d link show dev eth0").ok().stdout).unwrap();
    let (va, vb) = (vxlan_id(&la[0]), vxlan_id(&lb[0]));
    assert!(va.is_some(), "{la}");
    assert_eq!(va, vb);
    assert_eq!(la[0]["mtu"], 1450);
    // The bridge's far port is a tunnel enslaved to it on h1.
    let port: serde_json::Value =
        serde_json::from_str(&m.sh(1, "ip -j -d link show dev p-c").ok().stdout).unwrap();
    assert!(vxlan_id(&port[0]).is_some(), "{port}");
    assert_eq!(port[0]["master"], "br0");

    // Full-size packets (MTU 1450 less 28 bytes of IPv4 and ICMP headers)
    // cross unfragmented, both ways, on both links; one byte more does not.
    m.ping_df(1, "a", "10.0.1.2", 1422).ok();
    m.ping_df(2, "b", "10.0.1.1", 1422).ok();
    m.ping_df(1, "d", "10.0.2.3", 1422).ok();
    m.ping_df(2, "c", "10.0.2.4", 1422).ok();
    assert_ne!(m.ping_df(1, "a", "10.0.1.2", 1423).code, 0);

    // ping --all from each host reaches every address of the lab.
    let p1 = m.vnet(1, &format!("ping --all {file} --host h1 --json"));
    let j1: serde_json::Value =
        serde_json::from_str(&p1.stdout).unwrap_or_else(|e| panic!("{e}: {p1:?}"));
    assert_eq!(j1["ok"], true, "{p1:?}");
    let p2 = m.vnet(2, &format!("ping --all {file} --json")).ok();
    let j2: serde_json::Value = serde_json::from_str(&p2.stdout).unwrap();
    assert_eq!(j2["ok"], true, "{}", p2.stdout);
    let remote_pairs = j2["pairs"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["to"] == "a" || p["to"] == "d")
        .count();
    assert!(remote_pairs >= 2, "{}", p2.stdout);

    // trace follows the way to the local tunnel end and names the host
    // the rest is on.
    let tr = m.vnet(1, "trace a 10.0.1.2");
    assert!(
        tr.stdout
            .contains("rest of the way is on host h2 of lab split"),
        "{tr:?}"
    );
    let tr = m.vnet(2, "trace c 10.0.2.4");
    assert!(
        tr.stdout
            .contains("rest of the way is on host h1 of lab split"),
        "{tr:?}"
    );

    // Status: the local part and each tunnel, answered.
    let st = m.vnet(1, "status split --json").ok();
    let s: serde_json::Value = serde_json::from_str(&st.stdout).unwrap();
    assert_eq!(s["host"], "h1");
    let tunnels = s["tunnels"].as_array().unwrap();
    assert_eq!(tunnels.len(), 2, "{}", st.stdout);
    assert!(
        tunnels.iter().all(|t| t["answers"] == true),
        "{}",
        st.stdout
    );
    assert_eq!(
        s["drift"].as_array().map(Vec::len),
        Some(0),
        "{}",
        st.stdout
    );

    // A second up on a host changes nothing.
    let again = m.vnet(1, &format!("up {file} --host h1")).ok();
    assert!(again.stdout.contains("nothing to do"), "{}", again.stdout);

    m.vnet(1, "down split --host h1 -q").ok();
    m.vnet(2, "down split -q").ok();
    assert_eq!(m.snapshot(1), before[0]);
    assert_eq!(m.snapshot(2), before[1]);
}

/// a (h1) — b (h2, a router) — c (h3): two tunnels in a row.
const THREE: &str = "name: chain
hosts:
  - { name: h1, address: 10.99.0.1 }
  - { name: h2, address: 10.99.0.2 }
  - { name: h3, address: 10.99.0.3 }
nodes:
  a: { routes: [\"default via 10.0.1.2\"] }
  b: { host: h2, forward: true }
  c: { host: h3, routes: [\"default via 10.0.3.2\"] }
links:
  - endpoints: [{ node: a, interface: eth0, ip: 10.0.1.1/24 }, { node: b, interface: eth0, ip: 10.0.1.2/24 }]
  - endpoints: [{ node: b, interface: eth1, ip: 10.0.3.2/24 }, { node: c, interface: eth0, ip: 10.0.3.1/24 }]
";

fn three_hosts_route_through_the_middle_one() {
    let sb = Sandbox::new();
    let m = Machines::new(&sb, 3);
    let file = write_lab("three.yaml", THREE);
    let before: Vec<String> = (1..=3).map(|i| m.snapshot(i)).collect();
    for i in 1..=3 {
        m.vnet(i, &format!("up {file} -q")).ok();
    }
    m.ping_df(1, "a", "10.0.3.1", 1422).ok();
    m.ping_df(3, "c", "10.0.1.1", 1422).ok();
    for i in 1..=3 {
        let p = m.vnet(i, &format!("ping --all {file} --json"));
        let j: serde_json::Value =
            serde_json::from_str(&p.stdout).unwrap_or_else(|e| panic!("{e}: {p:?}"));
        assert_eq!(j["ok"], true, "host {i}: {}", p.stdout);
    }
    for i in 1..=3 {
        m.vnet(i, "down chain -q").ok();
        assert_eq!(m.snapshot(i), before[i - 1], "host {i}");
    }
}

fn a_host_whose_part_is_down_does_not_answer() {
    let sb = Sandbox::new();
    let m = Machines::new(&sb, 2);
    let file = write_lab("half.yaml", TWO);
    m.vnet(1, &format!("up {file} -q")).ok();
    let st = m.vnet(1, "status split --json").ok();
    let s: serde_json::Value = serde_json::from_str(&st.stdout).unwrap();
    let tunnels = s["tunnels"].as_array().unwrap();
    // The p2p tunnel is checked through itself: no answer. The bridge port
    // has no address of its own: its check is the far host's underlay,
    // which answers (and says so).
    let p2p = tunnels.iter().find(|t| t["node"] == "a").unwrap();
    assert_eq!(p2p["answers"], false, "{}", st.stdout);
    assert_eq!(p2p["present"], true);
    let text = m.vnet(1, "status split").ok();
    assert!(text.stdout.contains("does not answer"), "{}", text.stdout);
    // ping --all says which remote addresses do not answer.
    let p = m.vnet(1, &format!("ping --all {file} --json --timeout 0.5"));
    assert_eq!(p.code, 1, "{p:?}");
    m.vnet(1, "down split -q").ok();
}

fn a_wrong_underlay_address_is_refused_before_any_change() {
    let sb = Sandbox::new();
    let m = Machines::new(&sb, 2);
    let file = write_lab(
        "wrong.yaml",
        &TWO.replace("address: 10.99.0.1", "address: 10.99.0.9"),
    );
    let before = m.snapshot(1);
    let named = m.vnet(1, &format!("up {file} --host h1")).expect(2);
    assert!(
        named.stderr.contains("10.99.0.9 is not on this machine"),
        "{}",
        named.stderr
    );
    let unnamed = m.vnet(1, &format!("up {file}")).expect(2);
    assert!(
        unnamed.stderr.contains("none of their underlay addresses"),
        "{}",
        unnamed.stderr
    );
    assert_eq!(m.snapshot(1), before);
    // The dry run shows the tunnel as the iproute2 line, without checking.
    let dry = m.vnet(1, &format!("up {file} --host h1 --dry-run")).ok();
    assert!(
        dry.stdout.contains("type vxlan id") && dry.stdout.contains("remote 10.99.0.2"),
        "{}",
        dry.stdout
    );
}

/// `vnet export --format clab` of a lab file, checked against what
/// clabernetes accepts, then `vnet import` of it: the lab that comes back.
fn clab_round_trip(file: &str, tag: &str) -> (String, vnet::model::Lab) {
    let dir = std::env::temp_dir().join(format!("vnet-clab-{}-{tag}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let topo = dir.join("lab.clab.yml");
    let back = dir.join("back.yaml");
    let vnet = env!("CARGO_BIN_EXE_vnet");
    let out = std::process::Command::new(vnet)
        .args(["export", file, "--format", "clab", "-o"])
        .arg(&topo)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{file}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&topo).unwrap();
    assert_eq!(
        vnet::render::clab::check(&text),
        Vec::<String>::new(),
        "{file}:\n{text}"
    );
    let out = std::process::Command::new(vnet)
        .arg("import")
        .arg(&topo)
        .arg("-o")
        .arg(&back)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{file}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let back_text = std::fs::read_to_string(&back).unwrap();
    let lab = vnet::model::parse_lab("back.yaml", &back_text)
        .unwrap_or_else(|e| panic!("{file}: {e:?}\n{back_text}"));
    (back.display().to_string(), lab)
}

fn examples() -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/examples"))
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.path().display().to_string())
        .filter(|p| p.ends_with(".yaml") || p.ends_with(".toml"))
        // Workloads (files, exec, run: FRR, say) are not part of a
        // containerlab topology's network; those labs are left out here.
        .filter(|p| {
            let t = std::fs::read_to_string(p).unwrap_or_default();
            !t.lines().any(|l| {
                let l = l.trim_start();
                ["run:", "exec:", "files:", "dirs:"]
                    .iter()
                    .any(|k| l.starts_with(k))
            })
        })
        .collect();
    v.sort();
    v
}

/// The lab as it should come back: conditions are not part of a
/// containerlab topology.
fn without_conditions(mut lab: vnet::model::Lab) -> vnet::model::Lab {
    for l in &mut lab.links {
        l.conditions = Default::default();
        for e in &mut l.ends {
            e.conditions = Default::default();
        }
    }
    lab
}

fn every_example_exports_for_clabernetes_and_comes_back() {
    let list = examples();
    assert!(list.len() >= 4, "{list:?}");
    for (i, f) in list.iter().enumerate() {
        let want = vnet::model::parse_lab(f, &std::fs::read_to_string(f).unwrap()).unwrap();
        let (_, got) = clab_round_trip(f, &i.to_string());
        assert_eq!(got, without_conditions(want), "{f}");
    }
}

/// Names Kubernetes refuses are changed in the topology and restored by
/// the import; a bridge placed in a node is made inside that node.
fn renamed_nodes_and_inner_bridges_come_back() {
    let file = write_lab(
        "names.yaml",
        "name: names
nodes:
  Router_1: { forward: true, sysctls: { net.ipv4.conf.all.rp_filter: 0 } }
  h1: { routes: [\"default via 10.0.0.1\"] }
  h2: { routes: [\"default via 10.0.0.1\"] }
  lan: { kind: bridge, in: Router_1, ip: 10.0.0.1/24 }
links:
  - endpoints: [{ node: h1, interface: eth0, ip: 10.0.0.2/24, mtu: 1400 }, \"lan:p1\"]
  - endpoints: [{ node: h2, interface: eth0, ip: 10.0.0.3/24 }, \"lan:p2\"]
",
    );
    let want = vnet::model::parse_lab(&file, &std::fs::read_to_string(&file).unwrap()).unwrap();
    let (_, got) = clab_round_trip(&file, "names");
    let names: Vec<&str> = got.nodes.iter().map(|n| n.name.as_str()).collect();
    assert!(names.contains(&"Router_1"), "{names:?}");
    assert_eq!(got.node("lan"), want.node("lan"));
    assert_eq!(got.links.len(), 2);
    for (g, w) in got.links.iter().zip(&want.links) {
        assert_eq!(g.ends[0], w.ends[0]);
    }
}

/// The round-tripped examples build networks that answer.
fn round_tripped_examples_come_up_and_answer() {
    for (i, f) in examples().iter().enumerate() {
        let (back, lab) = clab_round_trip(f, &format!("up{i}"));
        let sb = Sandbox::new();
        sb.vnet(&format!("up {back} -q")).ok();
        let p = sb.vnet(&format!("ping --all {back}"));
        assert_eq!(p.code, 0, "{f}: {p:?}");
        sb.vnet(&format!("down {} -q", lab.name)).ok();
        assert!(sb.netns().is_empty(), "{f}");
    }
}

fn main() -> std::process::ExitCode {
    sandbox::harness::run(vec![
        kernel_with!(two_hosts_carry_full_size_packets_and_leave_nothing, "ping"),
        kernel_with!(three_hosts_route_through_the_middle_one, "ping"),
        kernel_with!(a_host_whose_part_is_down_does_not_answer, "ping"),
        kernel!(a_wrong_underlay_address_is_refused_before_any_change),
        plain!(every_example_exports_for_clabernetes_and_comes_back),
        plain!(renamed_nodes_and_inner_bridges_come_back),
        kernel!(round_tripped_examples_come_up_and_answer),
    ])
}
