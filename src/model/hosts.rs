//! One lab over several hosts: which host each node lives on, and the VXLAN
//! tunnels that carry the links between hosts. Pure: every host computes the
//! same tunnels (VNI, port, ends) from the same file, without talking.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use super::lab::{Lab, Link, NodeKind};

/// The IANA port for VXLAN.
pub const VXLAN_PORT: u16 = 4789;

/// Bytes VXLAN adds to each frame over an IPv4 underlay (outer IPv4 20 +
/// UDP 8 + VXLAN 8 + inner Ethernet 14).
pub const OVERHEAD_V4: u32 = 50;
/// Over an IPv6 underlay (outer IPv6 header is 40 bytes).
pub const OVERHEAD_V6: u32 = 70;

/// VNIs are 24 bits.
pub const VNI_LIMIT: u32 = 1 << 24;

/// One machine of a lab, as the `hosts:` list names it.
#[derive(Clone, Debug, PartialEq)]
pub struct Host {
    pub name: String,
    /// Its underlay address: where the other hosts send its tunnels.
    pub address: IpAddr,
    /// The underlay interface tunnels leave by (None: the kernel's route).
    pub interface: Option<String>,
    /// The lowest VNI used by tunnels this host is the first end of.
    pub vni_base: u32,
    /// The UDP port of tunnels this host is the first end of.
    pub port: u16,
    /// The underlay MTU (default 1500).
    pub mtu: u32,
}

impl Host {
    /// What VXLAN costs on this host's underlay.
    pub fn overhead(&self) -> u32 {
        match self.address {
            IpAddr::V4(_) => OVERHEAD_V4,
            IpAddr::V6(_) => OVERHEAD_V6,
        }
    }

    /// The largest MTU an interface of a tunnel from this host can have.
    pub fn inner_mtu(&self) -> u32 {
        self.mtu.saturating_sub(self.overhead())
    }
}

/// The lab's hosts, where each node was placed, and which host this run
/// builds (None: the whole lab, on one machine).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Hosts {
    pub list: Vec<Host>,
    /// `host:` as written on nodes; the others live on the first host.
    pub placement: BTreeMap<String, String>,
    /// The host whose part is built (set by `up --host`, or found by address).
    pub here: Option<String>,
}

/// One link between two hosts, as a VXLAN tunnel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tunnel {
    /// Index into `Lab::links`.
    pub link: usize,
    pub vni: u32,
    pub port: u16,
    /// The host of each end of the link.
    pub hosts: [String; 2],
}

impl Hosts {
    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    pub fn get(&self, name: &str) -> Option<&Host> {
        self.list.iter().find(|h| h.name == name)
    }

    fn position(&self, name: &str) -> usize {
        self.list
            .iter()
            .position(|h| h.name == name)
            .unwrap_or(usize::MAX)
    }
}

/// The host a node lives on: its `host:`, else (a bridge placed `in:` a
/// node) that node's host, else the first host. None when the lab has no
/// hosts.
pub fn host_of<'a>(lab: &'a Lab, node: &str) -> Option<&'a str> {
    let first = lab.hosts.list.first()?;
    if let Some(h) = lab.hosts.placement.get(node) {
        return Some(h.as_str());
    }
    if let Some(NodeKind::Bridge(b)) = lab.node(node).map(|n| &n.kind)
        && let Some(inside) = &b.inside
        && inside != node
        && let Some(h) = lab.hosts.placement.get(inside)
    {
        return Some(h.as_str());
    }
    Some(first.name.as_str())
}

/// Whether a node is built by this run: always, unless the lab is split
/// and the node lives on another host.
pub fn is_local(lab: &Lab, node: &str) -> bool {
    match &lab.hosts.here {
        None => true,
        Some(here) => host_of(lab, node).is_none_or(|h| h == here),
    }
}

/// The link as text that does not depend on the order of its ends:
/// "a:eth0 -- b:eth0" with the ends sorted.
pub fn link_text(link: &Link) -> String {
    let mut ends: Vec<String> = link
        .ends
        .iter()
        .map(|e| format!("{}:{}", e.node, e.interface))
        .collect();
    ends.sort();
    ends.join(" -- ")
}

/// FNV-1a (32 bits) folded into 24.
pub fn fnv24(parts: &[&str]) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for (i, p) in parts.iter().enumerate() {
        if i > 0 {
            h ^= 0;
            h = h.wrapping_mul(0x0100_0193);
        }
        for b in p.bytes() {
            h ^= u32::from(b);
            h = h.wrapping_mul(0x0100_0193);
        }
    }
    (h >> 24) ^ (h & 0x00ff_ffff)
}

/// Every link whose ends are on two hosts, with its VNI and port. The VNI
/// is a hash of the lab's name and the link, placed at or above the first
/// host's `vni_base`; links whose VNIs collide take the next free one, in
/// the order of their text, so every host settles the same way.
pub fn tunnels(lab: &Lab) -> Vec<Tunnel> {
    if lab.hosts.list.len() < 2 {
        return Vec::new();
    }
    let mut crossing: Vec<(String, usize, [String; 2])> = Vec::new();
    for (i, link) in lab.links.iter().enumerate() {
        let a = host_of(lab, &link.ends[0].node).unwrap_or_default();
        let b = host_of(lab, &link.ends[1].node).unwrap_or_default();
        if a != b {
            crossing.push((link_text(link), i, [a.to_string(), b.to_string()]));
        }
    }
    crossing.sort();
    let mut used: BTreeSet<u32> = BTreeSet::new();
    let mut out = Vec::new();
    for (text, link, hosts) in crossing {
        // The tunnel's settings come from whichever of its hosts is listed
        // first: both ends read the same list.
        let first = if lab.hosts.position(&hosts[0]) <= lab.hosts.position(&hosts[1]) {
            &hosts[0]
        } else {
            &hosts[1]
        };
        let (base, port) = lab
            .hosts
            .get(first)
            .map(|h| (h.vni_base, h.port))
            .unwrap_or((1, VXLAN_PORT));
        let base = base.clamp(1, VNI_LIMIT - 1);
        let room = VNI_LIMIT - base;
        let mut vni = base + fnv24(&[&lab.name, &text]) % room;
        while used.contains(&vni) {
            vni = if vni + 1 >= VNI_LIMIT { base } else { vni + 1 };
        }
        used.insert(vni);
        out.push(Tunnel {
            link,
            vni,
            port,
            hosts,
        });
    }
    out.sort_by_key(|t| t.link);
    out
}

/// Links in the same layer-2 segment as a tunnel (the tunnelled link
/// itself, and every link of a bridge that has a tunnelled port), each
/// with the largest MTU the tunnels of its segment carry.
pub fn segment_mtus(lab: &Lab, tunnels: &[Tunnel]) -> BTreeMap<usize, u32> {
    let inner = |t: &Tunnel| {
        t.hosts
            .iter()
            .filter_map(|h| lab.hosts.get(h))
            .map(Host::inner_mtu)
            .min()
            .unwrap_or(1500)
    };
    let is_bridge =
        |node: &str| matches!(lab.node(node).map(|n| &n.kind), Some(NodeKind::Bridge(_)));
    // Each bridge's smallest tunnel MTU.
    let mut bridge: BTreeMap<&str, u32> = BTreeMap::new();
    let mut out: BTreeMap<usize, u32> = BTreeMap::new();
    for t in tunnels {
        let m = inner(t);
        out.insert(t.link, m);
        for e in &lab.links[t.link].ends {
            if is_bridge(&e.node) {
                let v = bridge.entry(e.node.as_str()).or_insert(m);
                *v = (*v).min(m);
            }
        }
    }
    for (i, link) in lab.links.iter().enumerate() {
        for e in &link.ends {
            if let Some(m) = bridge.get(e.node.as_str()) {
                let v = out.entry(i).or_insert(*m);
                *v = (*v).min(*m);
            }
        }
    }
    out
}

/// The tunnel of a link, if it crosses hosts.
pub fn tunnel_of(tunnels: &[Tunnel], link: usize) -> Option<&Tunnel> {
    tunnels
        .binary_search_by_key(&link, |t| t.link)
        .ok()
        .map(|i| &tunnels[i])
}

/// The lab's nodes on a host, in file order.
pub fn nodes_on<'a>(lab: &'a Lab, host: &str) -> Vec<&'a str> {
    lab.nodes
        .iter()
        .filter(|n| host_of(lab, &n.name) == Some(host))
        .map(|n| n.name.as_str())
        .collect()
}

/// The host whose underlay address is among `local` (the addresses this
/// machine holds); None when none or several match.
pub fn host_by_address<'a>(lab: &'a Lab, local: &[IpAddr]) -> Option<&'a str> {
    let mut found = lab.hosts.list.iter().filter(|h| local.contains(&h.address));
    let first = found.next()?;
    match found.next() {
        Some(_) => None,
        None => Some(first.name.as_str()),
    }
}

/// The addresses the file gives each node on another host than `here`
/// (link ends and bridge addresses), in file order: what `ping --all`
/// aims at beyond this host.
pub fn remote_addresses(lab: &Lab) -> Vec<(String, Vec<IpAddr>)> {
    if lab.hosts.here.is_none() {
        return Vec::new();
    }
    let mut out = Vec::new();
    for n in &lab.nodes {
        if is_local(lab, &n.name) {
            continue;
        }
        let mut addrs: Vec<IpAddr> = Vec::new();
        if let NodeKind::Bridge(b) = &n.kind {
            addrs.extend(b.ips.iter().map(|a| a.addr()));
        }
        for l in &lab.links {
            for e in &l.ends {
                if e.node == n.name {
                    addrs.extend(e.ips.iter().map(|a| a.addr()));
                }
            }
        }
        if !addrs.is_empty() {
            out.push((n.name.clone(), addrs));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::parse_lab;

    const TWO: &str = "name: split
hosts:
  - { name: a, address: 192.0.2.1 }
  - { name: b, address: 192.0.2.2 }
nodes:
  n1: {}
  n2: { host: b }
  n3: { host: b }
  br0: { kind: bridge }
links:
  - endpoints: [\"n1:eth0\", \"n2:eth0\"]
  - endpoints: [\"n1:eth1\", \"br0:p1\"]
  - endpoints: [\"n3:eth0\", \"br0:p3\"]
";

    #[test]
    fn placement_defaults_to_first_host() {
        let lab = parse_lab("t.yaml", TWO).unwrap();
        assert_eq!(host_of(&lab, "n1"), Some("a"));
        assert_eq!(host_of(&lab, "br0"), Some("a"));
        assert_eq!(host_of(&lab, "n2"), Some("b"));
        assert_eq!(nodes_on(&lab, "b"), vec!["n2", "n3"]);
    }

    #[test]
    fn tunnels_are_the_crossing_links_with_stable_vnis() {
        let lab = parse_lab("t.yaml", TWO).unwrap();
        let t = tunnels(&lab);
        assert_eq!(t.iter().map(|t| t.link).collect::<Vec<_>>(), vec![0, 2]);
        assert_ne!(t[0].vni, t[1].vni);
        assert!(t.iter().all(|t| t.vni >= 1 && t.vni < VNI_LIMIT));
        assert_eq!(t[0].port, VXLAN_PORT);
        // The same on a second reading, and when the ends are swapped.
        let swapped = TWO.replace("[\"n1:eth0\", \"n2:eth0\"]", "[\"n2:eth0\", \"n1:eth0\"]");
        let again = parse_lab("t.yaml", &swapped).unwrap();
        assert_eq!(tunnels(&again)[0].vni, t[0].vni);
        // Another lab name gives other VNIs.
        let other = parse_lab("t.yaml", &TWO.replace("name: split", "name: other")).unwrap();
        assert_ne!(tunnels(&other)[0].vni, t[0].vni);
    }

    #[test]
    fn colliding_vnis_are_moved_deterministically() {
        // A base just below the limit leaves room for one VNI only.
        let text = TWO.replace(
            "{ name: a, address: 192.0.2.1 }",
            "{ name: a, address: 192.0.2.1, vni_base: 16777214 }",
        );
        let lab = parse_lab("t.yaml", &text).unwrap();
        let t = tunnels(&lab);
        assert_eq!(t.len(), 2);
        let vnis: BTreeSet<u32> = t.iter().map(|t| t.vni).collect();
        assert_eq!(vnis.len(), 2);
        assert!(vnis.iter().all(|v| *v >= 16777214 && *v < VNI_LIMIT));
    }

    #[test]
    fn tunnelled_segments_get_the_underlay_mtu_less_overhead() {
        let lab = parse_lab("t.yaml", TWO).unwrap();
        // p2p link and both bridge links (the bridge has a remote port).
        for l in &lab.links {
            for e in &l.ends {
                assert_eq!(e.mtu, Some(1450), "{}:{}", e.node, e.interface);
            }
        }
    }

    #[test]
    fn local_part_follows_here() {
        let mut lab = parse_lab("t.yaml", TWO).unwrap();
        lab.hosts.here = Some("b".into());
        assert!(is_local(&lab, "n2"));
        assert!(!is_local(&lab, "n1"));
        assert!(!is_local(&lab, "br0"));
        let local: Vec<IpAddr> = vec!["192.0.2.2".parse().unwrap()];
        assert_eq!(host_by_address(&lab, &local), Some("b"));
    }

    fn problems(text: &str) -> Vec<String> {
        match parse_lab("t.yaml", text) {
            Ok(_) => Vec::new(),
            Err(e) => e.plain_lines(),
        }
    }

    #[test]
    fn bad_hosts_are_refused_at_their_place() {
        let unknown = problems(&TWO.replace("n2: { host: b }", "n2: { host: zz }"));
        assert!(
            unknown
                .iter()
                .any(|l| l.starts_with("t.yaml:7:15:")
                    && l.contains("`zz` is not a host of this lab")),
            "{unknown:?}"
        );
        let dup = problems(&TWO.replace("192.0.2.2", "192.0.2.1"));
        assert!(
            dup.iter()
                .any(|l| l.contains("address 192.0.2.1 is given to two hosts")),
            "{dup:?}"
        );
        let mtu = problems(&TWO.replace(
            "[\"n1:eth0\", \"n2:eth0\"]",
            "[{ node: n1, interface: eth0, mtu: 1500 }, \"n2:eth0\"]",
        ));
        assert!(
            mtu.iter()
                .any(|l| l.contains("MTU 1500 on n1:eth0 is more than the tunnel")),
            "{mtu:?}"
        );
        let nohosts = problems("name: x\nnodes:\n  a: { host: h1 }\n");
        assert!(
            nohosts
                .iter()
                .any(|l| l.contains("the lab has no `hosts:`")),
            "{nohosts:?}"
        );
        let addr = problems(&TWO.replace("192.0.2.2", "10.0.0.0/8"));
        assert!(
            addr.iter()
                .any(|l| l.contains("is not a host's underlay address")),
            "{addr:?}"
        );
    }

    #[test]
    fn an_ipv6_underlay_costs_seventy_bytes() {
        let lab = parse_lab(
            "t.yaml",
            &TWO.replace("192.0.2.1", "2001:db8::1")
                .replace("192.0.2.2", "2001:db8::2"),
        )
        .unwrap();
        assert_eq!(lab.links[0].ends[0].mtu, Some(1430));
    }
}
