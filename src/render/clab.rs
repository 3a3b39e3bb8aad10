//! A lab as a containerlab topology that clabernetes also accepts: every
//! node `kind: linux` with an image that has iproute2, its addresses,
//! routes and sysctls as `exec:` lines; a vnet bridge as a `linux` switch
//! node that makes its own bridge and enslaves its ports; veth links only,
//! in the brief `"node:iface"` form; names valid in Kubernetes. `vnet
//! import` reads such a file back (the exec lines are the ip commands they
//! look like; a switch node becomes a bridge again). Pure.

use std::collections::{BTreeMap, BTreeSet};

use ipnet::IpNet;

use crate::model::lab::{HOST, Lab, NodeKind};
use crate::model::net::FORWARD_SYSCTLS;

/// A small image with iproute2 (and tc, ping): the default `--image`.
pub const DEFAULT_IMAGE: &str = "ghcr.io/hellt/network-multitool";

/// The comment that records a node renamed for Kubernetes, so that
/// `vnet import` gives it its name back: `# vnet-name: CLAB ORIGINAL`.
pub const RENAME_MARK: &str = "# vnet-name:";

/// What the export made, and what it could not carry over.
#[derive(Clone, Debug, Default)]
pub struct ClabExport {
    pub text: String,
    /// (name in the topology, name in the lab) of renamed nodes.
    pub renamed: Vec<(String, String)>,
    /// What the topology does not hold (link conditions, links to the host).
    pub notes: Vec<String>,
}

/// Whether a name is a Kubernetes DNS label that also starts with a letter
/// (RFC 1035: clabernetes makes services and deployments of node names).
pub fn is_k8s_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.starts_with(|c: char| c.is_ascii_lowercase())
        && s.ends_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

/// A Kubernetes-valid name for `s`, not among `taken`.
fn k8s_name(s: &str, taken: &BTreeSet<String>) -> String {
    let mut out = String::new();
    for c in s.chars() {
        let c = c.to_ascii_lowercase();
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            out.push(c);
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    let mut out = out.trim_matches('-').to_string();
    if !out.starts_with(|c: char| c.is_ascii_lowercase()) {
        out = format!("n-{out}");
    }
    out.truncate(50);
    let out = out.trim_end_matches('-').to_string();
    if !taken.contains(&out) {
        return out;
    }
    (2..)
        .map(|i| format!("{out}-{i}"))
        .find(|c| !taken.contains(c))
        .unwrap_or(out)
}

fn q(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_default()
}

fn addr_cmd(a: &IpNet, dev: &str) -> String {
    format!("ip addr add {a} dev {dev}")
}

/// The lab as a containerlab topology. Nodes on several `hosts:` become
/// one topology: spreading it over machines is clabernetes' job.
pub fn export(lab: &Lab, image: &str) -> ClabExport {
    let mut out = ClabExport::default();
    // Kubernetes names for the nodes, file order; unchanged where valid.
    let mut taken: BTreeSet<String> = lab
        .nodes
        .iter()
        .filter(|n| is_k8s_name(&n.name))
        .map(|n| n.name.clone())
        .collect();
    let mut name: BTreeMap<&str, String> = BTreeMap::new();
    for n in &lab.nodes {
        if is_k8s_name(&n.name) {
            name.insert(&n.name, n.name.clone());
        } else {
            let new = k8s_name(&n.name, &taken);
            taken.insert(new.clone());
            out.renamed.push((new.clone(), n.name.clone()));
            name.insert(&n.name, new);
        }
    }
    // Where each node's interfaces are in the topology: a bridge placed
    // `in:` a node is made inside that node; its ports are that node's.
    let home = |node: &str| -> String {
        match lab.node(node).map(|n| &n.kind) {
            Some(NodeKind::Bridge(b)) => match &b.inside {
                Some(inside) if inside != HOST => name
                    .get(inside.as_str())
                    .cloned()
                    .unwrap_or_else(|| inside.clone()),
                _ => name.get(node).cloned().unwrap_or_default(),
            },
            _ => name.get(node).cloned().unwrap_or_default(),
        }
    };
    let mut exec: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for n in &lab.nodes {
        let e = exec.entry(home(&n.name)).or_default();
        match &n.kind {
            NodeKind::Bridge(b) => {
                let mut add = format!("ip link add {} type bridge", n.name);
                if let Some(m) = b.mtu {
                    add.push_str(&format!(" mtu {m}"));
                }
                if b.stp {
                    add.push_str(" stp_state 1");
                }
                e.push(add);
                if let Some(mac) = b.mac {
                    e.push(format!("ip link set dev {} address {mac}", n.name));
                }
                e.push(format!("ip link set dev {} up", n.name));
                for a in &b.ips {
                    e.push(addr_cmd(a, &n.name));
                }
            }
            NodeKind::Netns(ns) => {
                let fwd = if ns.forward { "1" } else { "0" };
                for k in FORWARD_SYSCTLS {
                    if ns.forward && !ns.sysctls.contains_key(k) {
                        e.push(format!("sysctl -w {k}={fwd}"));
                    }
                }
                for (k, v) in &ns.sysctls {
                    e.push(format!("sysctl -w {k}={v}"));
                }
            }
        }
    }
    let mut links = Vec::new();
    for l in &lab.links {
        let mut ends = Vec::new();
        let mut to_host = false;
        for e in &l.ends {
            if e.node == HOST {
                to_host = true;
                continue;
            }
            let node = home(&e.node);
            let cmds = exec.entry(node.clone()).or_default();
            if let Some(m) = e.mtu {
                cmds.push(format!("ip link set dev {} mtu {m}", e.interface));
            }
            if let Some(mac) = e.mac {
                cmds.push(format!("ip link set dev {} address {mac}", e.interface));
            }
            if let Some(NodeKind::Bridge(_)) = lab.node(&e.node).map(|n| &n.kind) {
                cmds.push(format!("ip link set dev {} master {}", e.interface, e.node));
            }
            for a in &e.ips {
                cmds.push(addr_cmd(a, &e.interface));
            }
            ends.push(format!("{node}:{}", e.interface));
        }
        if to_host {
            out.notes.push(format!(
                "link {}:{} — {}:{}: a link to the host namespace has no place in a clabernetes topology; left out",
                l.ends[0].node, l.ends[0].interface, l.ends[1].node, l.ends[1].interface
            ));
            continue;
        }
        if !l.conditions.is_empty() || l.ends.iter().any(|e| !e.conditions.is_empty()) {
            out.notes.push(format!(
                "link {}:{} — {}:{}: link conditions are not exported (add `tc` lines to exec, or containerlab's `tools netem`)",
                l.ends[0].node, l.ends[0].interface, l.ends[1].node, l.ends[1].interface
            ));
        }
        links.push(ends);
    }
    // Routes last: their gateways need the addresses.
    for (node, ns) in lab.netns_nodes() {
        let cmds = exec.entry(home(node)).or_default();
        for r in &ns.routes {
            let fam = if r.dst.addr().is_ipv6() || r.via.is_some_and(|v| v.is_ipv6()) {
                "ip -6"
            } else {
                "ip"
            };
            cmds.push(format!("{fam} route add {r}"));
        }
    }

    let mut t = String::new();
    t.push_str(&format!(
        "# containerlab topology exported by `vnet export --format clab` from lab {}.\n",
        lab.name
    ));
    t.push_str(
        "# Every node is `kind: linux`; a vnet bridge is a switch node that makes its own\n",
    );
    t.push_str("# bridge. Deploy with `containerlab deploy -t FILE`, or run it on Kubernetes\n");
    t.push_str("# with clabernetes; `vnet import FILE` gives the lab back.\n");
    for (new, old) in &out.renamed {
        t.push_str(&format!("{RENAME_MARK} {new} {old}\n"));
    }
    for n in &out.notes {
        t.push_str(&format!("# not exported: {n}\n"));
    }
    t.push_str(&format!("name: {}\n", q(&lab.name)));
    t.push_str("topology:\n  nodes:\n");
    for n in &lab.nodes {
        // A bridge placed in a node is part of that node.
        if let NodeKind::Bridge(b) = &n.kind
            && b.inside.as_deref().is_some_and(|i| i != HOST)
        {
            continue;
        }
        let me = &name[n.name.as_str()];
        t.push_str(&format!("    {}:\n", q(me)));
        t.push_str("      kind: linux\n");
        t.push_str(&format!("      image: {}\n", q(image)));
        if let Some(cmds) = exec.get(me)
            && !cmds.is_empty()
        {
            t.push_str("      exec:\n");
            for c in cmds {
                t.push_str(&format!("        - {}\n", q(c)));
            }
        }
    }
    if links.is_empty() {
        t.push_str("  links: []\n");
    } else {
        t.push_str("  links:\n");
        for ends in &links {
            let ends: Vec<String> = ends.iter().map(|e| q(e)).collect();
            t.push_str(&format!("    - endpoints: [{}]\n", ends.join(", ")));
        }
    }
    out.text = t;
    out
}

/// What keeps a topology from deploying under clabernetes: every node
/// `kind: linux` with an image, Kubernetes-valid names, and links that are
/// veth pairs between two nodes of the file written `"node:iface"`.
pub fn check(text: &str) -> Vec<String> {
    let mut bad = Vec::new();
    let v: serde_json::Value = match serde_saphyr::from_str(text) {
        Ok(v) => v,
        Err(e) => return vec![format!("not YAML: {e}")],
    };
    match v["name"].as_str() {
        Some(n) if is_k8s_name(n) => {}
        other => bad.push(format!("topology name {other:?} is not a Kubernetes name")),
    }
    let Some(nodes) = v["topology"]["nodes"].as_object() else {
        bad.push("no topology.nodes".into());
        return bad;
    };
    for (n, node) in nodes {
        if !is_k8s_name(n) {
            bad.push(format!("node name {n:?} is not a Kubernetes name"));
        }
        if node["kind"] != "linux" {
            bad.push(format!("node {n}: kind {} (only linux)", node["kind"]));
        }
        if node["image"].as_str().is_none_or(str::is_empty) {
            bad.push(format!("node {n}: no image"));
        }
        for c in node["exec"].as_array().into_iter().flatten() {
            if c.as_str().is_none() {
                bad.push(format!("node {n}: exec line {c} is not text"));
            }
        }
    }
    for l in v["topology"]["links"].as_array().into_iter().flatten() {
        if let Some(t) = l.get("type")
            && t != "veth"
        {
            bad.push(format!("link of type {t}: only veth links"));
        }
        let ends: Vec<&str> = l["endpoints"]
            .as_array()
            .map(|a| a.iter().filter_map(|e| e.as_str()).collect())
            .unwrap_or_default();
        if ends.len() != 2 {
            bad.push(format!("link {l}: not two \"node:iface\" endpoints"));
            continue;
        }
        for e in ends {
            match e.split_once(':') {
                Some((node, iface)) if nodes.contains_key(node) && !iface.is_empty() => {}
                _ => bad.push(format!(
                    "endpoint {e:?}: not \"node:iface\" with a node of the file (host, macvlan and mgmt-net ends are refused)"
                )),
            }
        }
    }
    bad
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::parse_lab;

    #[test]
    fn names_become_kubernetes_names_without_clashes() {
        let taken: BTreeSet<String> = ["ns-1".to_string()].into();
        assert_eq!(k8s_name("NS_1", &taken), "ns-1-2");
        assert_eq!(k8s_name("1st", &BTreeSet::new()), "n-1st");
        assert!(is_k8s_name("r1"));
        assert!(!is_k8s_name("R1"));
        assert!(!is_k8s_name("a_b"));
        assert!(!is_k8s_name("1a"));
    }

    #[test]
    fn a_bridge_lab_exports_within_the_constraints() {
        let lab = parse_lab(
            "t.yaml",
            "name: t\nnodes:\n  Ns_1: { routes: [\"default via 10.0.0.254\"] }\n  ns2: { forward: true }\n  br0: { kind: bridge, ip: 10.0.0.254/24 }\nlinks:\n  - endpoints: [{ node: Ns_1, interface: eth0, ip: 10.0.0.1/24 }, \"br0:p1\"]\n  - endpoints: [{ node: ns2, interface: eth0, ip: 10.0.0.2/24 }, \"br0:p2\"]\n",
        )
        .unwrap();
        let e = export(&lab, DEFAULT_IMAGE);
        assert_eq!(check(&e.text), Vec::<String>::new(), "{}", e.text);
        assert_eq!(e.renamed, vec![("ns-1".to_string(), "Ns_1".to_string())]);
        assert!(e.text.contains("\"ip link add br0 type bridge\""));
        assert!(e.text.contains("\"ip link set dev p1 master br0\""));
        assert!(e.text.contains("\"ip route add default via 10.0.0.254\""));
        assert!(e.text.contains("\"sysctl -w net.ipv4.ip_forward=1\""));
        assert!(e.text.contains("endpoints: [\"ns-1:eth0\", \"br0:p1\"]"));
    }

    #[test]
    fn the_check_refuses_what_clabernetes_refuses() {
        let text = "name: T\ntopology:\n  nodes:\n    a: { kind: bridge }\n    b: { kind: linux }\n  links:\n    - endpoints: [\"b:eth0\", \"host:veth9\"]\n    - type: macvlan\n      endpoint: { node: b, interface: eth1 }\n";
        let bad = check(text);
        assert!(bad.iter().any(|b| b.contains("topology name")), "{bad:?}");
        assert!(bad.iter().any(|b| b.contains("node a: kind")), "{bad:?}");
        assert!(
            bad.iter().any(|b| b.contains("node b: no image")),
            "{bad:?}"
        );
        assert!(bad.iter().any(|b| b.contains("\"host:veth9\"")), "{bad:?}");
        assert!(bad.iter().any(|b| b.contains("only veth")), "{bad:?}");
    }
}
