//! What the doctor read from the kernel (pure data): every namespace's
//! links, addresses and routes, how veths pair up, and for the namespaces
//! on the way the details the rules look at — sysctls, neighbours, qdiscs,
//! counters before and after the probe, the nftables ruleset.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;

use ipnet::IpNet;
use serde::Serialize;

use crate::kernel::sockdiag::Listener;
use crate::model::lab::Mac;
use crate::model::live::{LinkStats, LiveLink, LiveNeigh, LiveNs, LiveQdisc};
use crate::model::nft::Ruleset;
use crate::probe::path::{Key, Topology};

/// Namespace-wide sysctls the rules read (per interface values come with
/// the link dump).
pub const SYSCTLS: &[&str] = &[
    "net.ipv4.ip_forward",
    "net.ipv6.conf.all.forwarding",
    "net.ipv4.conf.all.rp_filter",
    "net.ipv4.conf.all.arp_ignore",
    "net.ipv4.conf.all.arp_filter",
    "net.ipv4.icmp_echo_ignore_all",
    "net.ipv6.icmp.echo_ignore_all",
    "net.bridge.bridge-nf-call-iptables",
    "net.bridge.bridge-nf-call-ip6tables",
    "net.bridge.bridge-nf-call-arptables",
];

#[derive(Clone, Debug, Default, Serialize)]
pub struct Detail {
    pub neigh: Vec<LiveNeigh>,
    pub qdiscs_before: Vec<LiveQdisc>,
    pub qdiscs: Vec<LiveQdisc>,
    /// Link counters by ifindex, before and after the probe.
    pub stats_before: BTreeMap<u32, LinkStats>,
    pub stats_after: BTreeMap<u32, LinkStats>,
    /// None: it could not be read (the notes say why).
    pub nft: Option<Ruleset>,
    /// iptables-legacy tables present (their rules are not readable here).
    pub legacy_tables: Vec<String>,
}

#[derive(Clone, Debug, Default)]
pub struct Snapshot {
    pub ns: BTreeMap<String, LiveNs>,
    pub peers: HashMap<Key, Key>,
    pub detail: BTreeMap<String, Detail>,
    /// With a service: the listening sockets of every namespace.
    pub listeners: BTreeMap<String, Listeners>,
    /// What the lab files of labs that are up say each node's interfaces
    /// are (to give back what a move took away).
    pub intended: Vec<Intended>,
    /// What the kernel said it decides for the probe, hop by hop.
    pub asked: super::ask::Asked,
}

/// One interface as a lab file wants it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Intended {
    pub node: String,
    pub iface: String,
    pub addrs: Vec<IpNet>,
}

/// One namespace's listening sockets and accept queue overflows.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Listeners {
    pub sockets: Vec<Listener>,
    /// TcpExt ListenOverflows (None: not read).
    pub overflows: Option<u64>,
}

impl Snapshot {
    pub fn topology(&self) -> Topology<'_> {
        let all: Vec<&LiveNs> = self.ns.values().collect();
        Topology::new(&all, self.peers.clone())
    }

    pub fn get(&self, ns: &str) -> Option<&LiveNs> {
        self.ns.get(ns)
    }

    pub fn link(&self, ns: &str, index: u32) -> Option<&LiveLink> {
        self.ns.get(ns)?.link_by_index(index)
    }

    pub fn detail(&self, ns: &str) -> Option<&Detail> {
        self.detail.get(ns)
    }

    /// A namespace-wide sysctl as a number, when it was read.
    pub fn sysctl(&self, ns: &str, key: &str) -> Option<i64> {
        self.ns.get(ns)?.sysctls.get(key)?.trim().parse().ok()
    }

    /// The other end of a veth.
    pub fn peer(&self, ns: &str, index: u32) -> Option<(&str, &LiveLink)> {
        let (pns, pi) = self.peers.get(&(ns.to_string(), index))?;
        let n = self.ns.get(pns)?;
        Some((n.ns.as_str(), n.link_by_index(*pi)?))
    }

    /// The bridge a link is a port of.
    pub fn bridge_of(&self, ns: &str, l: &LiveLink) -> Option<&LiveLink> {
        let m = self.link(ns, l.master?)?;
        (m.kind.as_deref() == Some("bridge")).then_some(m)
    }

    /// Every interface one frame sent out of (ns, index) can reach at layer
    /// 2, the interface itself included: across veth pairs, and into a
    /// bridge (the bridge device and all its ports).
    pub fn l2_segment(&self, ns: &str, index: u32) -> Vec<Key> {
        let mut out: Vec<Key> = Vec::new();
        let mut todo: Vec<Key> = vec![(ns.to_string(), index)];
        while let Some(k) = todo.pop() {
            if out.contains(&k) || out.len() > 4096 {
                continue;
            }
            let Some(n) = self.ns.get(&k.0) else { continue };
            let Some(l) = n.link_by_index(k.1) else {
                continue;
            };
            out.push(k.clone());
            if let Some(p) = self.peers.get(&k) {
                todo.push(p.clone());
            }
            let bridge = if l.kind.as_deref() == Some("bridge") {
                Some(l.index)
            } else {
                self.bridge_of(&k.0, l).map(|b| b.index)
            };
            if let Some(b) = bridge {
                todo.push((k.0.clone(), b));
                for p in n.links.iter().filter(|p| p.master == Some(b)) {
                    todo.push((k.0.clone(), p.index));
                }
            }
        }
        out
    }

    /// The interfaces of a segment that speak IP for themselves: not ports
    /// of a bridge (the bridge device itself is one).
    pub fn endpoints(&self, seg: &[Key]) -> Vec<(String, LiveLink)> {
        seg.iter()
            .filter_map(|(ns, i)| {
                let l = self.link(ns, *i)?;
                (self.bridge_of(ns, l).is_none()).then(|| (ns.clone(), l.clone()))
            })
            .collect()
    }

    /// Whether any namespace holds `ip`.
    pub fn held(&self, ip: IpAddr) -> bool {
        self.ns.values().any(|n| {
            n.links
                .iter()
                .any(|l| l.addrs.iter().any(|a| a.net.addr() == ip))
        })
    }

    /// A free address in `net` to suggest: `prefer`'s host part when free,
    /// else the first free one.
    pub fn free_addr(&self, net: IpNet, prefer: Option<IpAddr>) -> Option<IpNet> {
        let net = net.trunc();
        let pick = |ip: IpAddr| {
            (net.contains(&ip) && ip != net.network() && !self.held(ip))
                .then(|| IpNet::new(ip, net.prefix_len()).ok())
                .flatten()
        };
        if let Some(p) = prefer.and_then(|p| with_host_of(net, p)).and_then(pick) {
            return Some(p);
        }
        net.hosts().take(4096).find_map(pick)
    }

    /// A locally administered MAC derived from a name, not used anywhere.
    pub fn free_mac(&self, seed: &str) -> Mac {
        let used = |m: &Mac| {
            self.ns
                .values()
                .any(|n| n.links.iter().any(|l| l.mac.as_ref() == Some(m)))
        };
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in seed.bytes() {
            h = (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3);
        }
        for _ in 0..64 {
            let b = h.to_be_bytes();
            let m = Mac([0x02, b[1], b[2], b[3], b[4], b[5]]);
            if !used(&m) {
                return m;
            }
            h = h.wrapping_mul(0x100_0000_01b3).wrapping_add(1);
        }
        Mac([0x02, 0, 0, 0, 0, 0x01])
    }
}

/// `ip` moved into `net`: the network part of `net`, the host part of `ip`.
pub fn with_host_of(net: IpNet, ip: IpAddr) -> Option<IpAddr> {
    match (net, ip) {
        (IpNet::V4(n), IpAddr::V4(a)) => {
            let mask = u32::from(n.netmask());
            Some(IpAddr::V4(
                (u32::from(n.network()) | (u32::from(a) & !mask)).into(),
            ))
        }
        (IpNet::V6(n), IpAddr::V6(a)) => {
            let mask = u128::from(n.netmask());
            Some(IpAddr::V6(
                (u128::from(n.network()) | (u128::from(a) & !mask)).into(),
            ))
        }
        _ => None,
    }
}

/// "ns:iface" for messages.
pub fn place(ns: &str, iface: &str) -> String {
    format!("{ns}:{iface}")
}
