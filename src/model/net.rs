//! The network a lab describes, in the kernel's terms: per namespace, the
//! interfaces with their kind, master, addresses and state, the routes and
//! the sysctls. `desired(&lab)` builds it; the planner compares it with what
//! the kernel holds (`live`).

use std::collections::{BTreeMap, BTreeSet};

use ipnet::IpNet;

use super::conditions::Conditions;
use super::hosts;
use super::lab::{Lab, Mac, Netns, NodeKind};
use super::route::Route;

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Net {
    /// Namespaces the lab uses. Named ones are created and owned by the lab;
    /// `Netns::Host` appears when the lab puts something there.
    pub namespaces: BTreeMap<Netns, NsSpec>,
    /// Named namespaces the lab joins but did not make (external nodes),
    /// by node name: never created nor removed, and only the lab's own
    /// interfaces, addresses and routes are changed inside them.
    pub external: BTreeMap<String, super::external::Reference>,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct NsSpec {
    pub links: BTreeMap<String, Iface>,
    pub routes: BTreeSet<Route>,
    pub sysctls: BTreeMap<String, String>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Iface {
    pub name: String,
    pub kind: IfaceKind,
    pub master: Option<String>,
    pub addrs: BTreeSet<IpNet>,
    pub mtu: Option<u32>,
    pub mac: Option<Mac>,
    /// Let the kernel make an IPv6 link-local address (addrgenmode eui64).
    /// Off for interfaces without IPv6 addresses: with no address at all an
    /// interface sends no DAD, router solicitation or MLD report, so a big
    /// lab does not flood itself (and no sysctl needs writing).
    pub ipv6_link_local: bool,
    /// Conditions on the interface's egress (veth ends only).
    pub conditions: Conditions,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IfaceKind {
    Veth {
        peer_ns: Netns,
        peer: String,
    },
    Bridge {
        stp: bool,
        vlan_filtering: bool,
    },
    /// This host's end of a link to a node on another host.
    Vxlan(Vxlan),
}

/// A VXLAN tunnel end: created in the host namespace (its UDP socket stays
/// there, on the underlay) and then placed where the link's end lives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Vxlan {
    pub vni: u32,
    /// The far host's underlay address.
    pub remote: std::net::IpAddr,
    /// This host's underlay address.
    pub local: std::net::IpAddr,
    pub port: u16,
    /// The underlay interface, when the file names one.
    pub underlay: Option<String>,
    /// The far host (for messages).
    pub far_host: String,
}

impl IfaceKind {
    pub fn name(&self) -> &'static str {
        match self {
            IfaceKind::Veth { .. } => "veth",
            IfaceKind::Bridge { .. } => "bridge",
            IfaceKind::Vxlan(_) => "vxlan",
        }
    }
}

/// Turns duplicate address detection off for interfaces created afterwards.
/// Set in lab namespaces whose interfaces keep IPv6 link-local addresses:
/// while its link-local address is tentative (a second or more) a router
/// sends no neighbour solicitation for what it forwards, so the network would
/// not work when `up` returns. Lab addresses are the file's, not negotiated.
pub const NO_DAD: &str = "net.ipv6.conf.default.accept_dad";

/// Sysctls that must be written before the namespace's first interface.
pub const EARLY_SYSCTLS: [&str; 1] = [NO_DAD];

/// Sysctls that `forward: true` stands for.
pub const FORWARD_SYSCTLS: [&str; 2] = ["net.ipv4.ip_forward", "net.ipv6.conf.all.forwarding"];

impl Net {
    pub fn ns(&self, ns: &Netns) -> Option<&NsSpec> {
        self.namespaces.get(ns)
    }

    pub fn iface(&self, ns: &Netns, name: &str) -> Option<&Iface> {
        self.namespaces.get(ns).and_then(|n| n.links.get(name))
    }

    /// Whether `ns` is an external node's namespace.
    pub fn is_external(&self, ns: &Netns) -> bool {
        matches!(ns, Netns::Named(n) if self.external.contains_key(n))
    }

    /// Named namespaces, in name order.
    pub fn named(&self) -> impl Iterator<Item = &str> {
        self.namespaces.keys().filter_map(|ns| match ns {
            Netns::Named(n) => Some(n.as_str()),
            Netns::Host => None,
        })
    }

    /// Each veth pair once, as (namespace, name) of its two ends, in a stable order.
    pub fn veth_pairs(&self) -> Vec<((Netns, String), (Netns, String))> {
        let mut out = Vec::new();
        for (ns, spec) in &self.namespaces {
            for (name, iface) in &spec.links {
                if let IfaceKind::Veth { peer_ns, peer } = &iface.kind {
                    let a = (ns.clone(), name.clone());
                    let b = (peer_ns.clone(), peer.clone());
                    if a < b {
                        out.push((a, b));
                    }
                }
            }
        }
        out
    }
}

/// The kernel network a lab stands for.
pub fn desired(lab: &Lab) -> Net {
    let mut net = Net::default();
    let tunnels = hosts::tunnels(lab);
    let split = lab.hosts.here.is_some();
    for (name, node) in lab.netns_nodes() {
        if split && !hosts::is_local(lab, name) {
            continue;
        }
        let spec = net
            .namespaces
            .entry(Netns::Named(name.to_string()))
            .or_default();
        spec.routes = node.routes.iter().cloned().collect();
        if let Some(r) = &node.external {
            // Its sysctls are its owner's: none are written, forwarding
            // included.
            net.external.insert(name.to_string(), r.clone());
            continue;
        }
        for (k, v) in &node.sysctls {
            spec.sysctls.insert(k.clone(), v.clone());
        }
        let fwd = if node.forward { "1" } else { "0" };
        for key in FORWARD_SYSCTLS {
            spec.sysctls
                .entry(key.to_string())
                .or_insert_with(|| fwd.to_string());
        }
    }
    for (name, b) in lab.bridges() {
        if split && !hosts::is_local(lab, name) {
            continue;
        }
        let ns = lab.namespace_of(name);
        let spec = net.namespaces.entry(ns).or_default();
        let v6 = b.ips.iter().any(|a| matches!(a, IpNet::V6(_)));
        spec.links.insert(
            name.to_string(),
            Iface {
                name: name.to_string(),
                kind: IfaceKind::Bridge {
                    stp: b.stp,
                    vlan_filtering: b.vlan_filtering,
                },
                master: None,
                addrs: b.ips.iter().copied().collect(),
                mtu: b.mtu,
                mac: b.mac,
                ipv6_link_local: lab.ipv6_link_local || v6,
                conditions: Conditions::default(),
            },
        );
    }
    for (index, link) in lab.links.iter().enumerate() {
        for (i, (me, peer)) in [
            (&link.ends[0], &link.ends[1]),
            (&link.ends[1], &link.ends[0]),
        ]
        .into_iter()
        .enumerate()
        {
            if split && !hosts::is_local(lab, &me.node) {
                continue;
            }
            let kind = match tunnel_end(lab, &tunnels, index, i) {
                Some(vx) if split => IfaceKind::Vxlan(vx),
                _ => IfaceKind::Veth {
                    peer_ns: lab.namespace_of(&peer.node),
                    peer: peer.interface.clone(),
                },
            };
            let ns = lab.namespace_of(&me.node);
            let master = match lab.node(&me.node).map(|n| &n.kind) {
                Some(NodeKind::Bridge(_)) => Some(me.node.clone()),
                _ => None,
            };
            let v6 = me.ips.iter().any(|a| matches!(a, IpNet::V6(_)));
            let spec = net.namespaces.entry(ns).or_default();
            spec.links.insert(
                me.interface.clone(),
                Iface {
                    name: me.interface.clone(),
                    kind,
                    master,
                    addrs: me.ips.iter().copied().collect(),
                    mtu: me.mtu,
                    mac: me.mac,
                    ipv6_link_local: lab.ipv6_link_local || v6,
                    conditions: link.egress(i),
                },
            );
        }
    }
    for (ns, spec) in net.namespaces.iter_mut() {
        let external = matches!(ns, Netns::Named(n) if net.external.contains_key(n));
        if !ns.is_host() && !external && spec.links.values().any(|i| i.ipv6_link_local) {
            spec.sysctls
                .entry(NO_DAD.to_string())
                .or_insert_with(|| "0".into());
        }
    }
    net
}

/// End `end` of link `link` as a tunnel end, when the link crosses hosts.
fn tunnel_end(lab: &Lab, tunnels: &[hosts::Tunnel], link: usize, end: usize) -> Option<Vxlan> {
    let t = hosts::tunnel_of(tunnels, link)?;
    let me = lab.hosts.get(&t.hosts[end])?;
    let far = lab.hosts.get(&t.hosts[1 - end])?;
    Some(Vxlan {
        vni: t.vni,
        remote: far.address,
        local: me.address,
        port: t.port,
        underlay: me.interface.clone(),
        far_host: far.name.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::parse_lab;

    #[test]
    fn seed_bridge_becomes_two_namespaces_and_host_ports() {
        let lab = parse_lab(
            "t.yaml",
            "name: t\nnodes:\n  ns1: {}\n  ns2: {}\n  br0: { kind: bridge }\nlinks:\n  - endpoints: [\"ns1:veth0\", \"br0:br0-veth0\"]\n  - endpoints: [\"ns2:veth1\", \"br0:br0-veth1\"]\n",
        )
        .unwrap();
        let net = desired(&lab);
        let host = net.ns(&Netns::Host).unwrap();
        assert_eq!(host.links.len(), 3);
        assert_eq!(host.links["br0-veth0"].master.as_deref(), Some("br0"));
        let ns1 = net.ns(&Netns::Named("ns1".into())).unwrap();
        assert_eq!(
            ns1.links["veth0"].kind,
            IfaceKind::Veth {
                peer_ns: Netns::Host,
                peer: "br0-veth0".into()
            }
        );
        assert_eq!(ns1.sysctls["net.ipv4.ip_forward"], "0");
        assert_eq!(net.veth_pairs().len(), 2);
    }

    #[test]
    fn a_host_part_has_its_nodes_and_tunnel_ends() {
        let text = "name: split\nhosts:\n  - { name: a, address: 192.0.2.1 }\n  - { name: b, address: 192.0.2.2, interface: eth9 }\nnodes:\n  n1: {}\n  n2: { host: b }\n  br0: { kind: bridge }\nlinks:\n  - endpoints: [\"n1:eth0\", \"n2:eth0\"]\n  - endpoints: [\"n2:eth1\", \"br0:p2\"]\n";
        let mut lab = parse_lab("t.yaml", text).unwrap();
        lab.hosts.here = Some("b".into());
        let net = desired(&lab);
        assert_eq!(net.named().collect::<Vec<_>>(), vec!["n2"]);
        assert!(net.ns(&Netns::Host).is_none());
        let n2 = net.ns(&Netns::Named("n2".into())).unwrap();
        let IfaceKind::Vxlan(vx) = &n2.links["eth0"].kind else {
            panic!("eth0 is not a tunnel end")
        };
        assert_eq!(vx.remote.to_string(), "192.0.2.1");
        assert_eq!(vx.local.to_string(), "192.0.2.2");
        assert_eq!(vx.underlay.as_deref(), Some("eth9"));
        assert_eq!(n2.links["eth0"].mtu, Some(1450));
        assert!(matches!(n2.links["eth1"].kind, IfaceKind::Vxlan(_)));
        lab.hosts.here = Some("a".into());
        let net = desired(&lab);
        let host = net.ns(&Netns::Host).unwrap();
        assert!(matches!(host.links["p2"].kind, IfaceKind::Vxlan(_)));
        assert_eq!(host.links["p2"].master.as_deref(), Some("br0"));
        let IfaceKind::Vxlan(back) =
            &net.ns(&Netns::Named("n1".into())).unwrap().links["eth0"].kind
        else {
            panic!()
        };
        assert_eq!(back.vni, vx.vni);
    }
}
