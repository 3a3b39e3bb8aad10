//! Which namespaces and interfaces a packet can cross on its way from a node
//! to an address, found from live state only (pure): routes pick the next
//! hop and the outgoing interface, a veth leads to its peer in another
//! namespace, a bridge forwards to the port behind which the next hop lives,
//! and a forwarding namespace looks the destination up again.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::IpAddr;
use std::rc::Rc;

use serde::Serialize;

use crate::model::live::{LiveLink, LiveNs, RT_TABLE_MAIN};

/// An interface in a namespace: (namespace name, ifindex).
pub type Key = (String, u32);

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Dir {
    In,
    Out,
}

impl Dir {
    pub fn as_str(self) -> &'static str {
        match self {
            Dir::In => "in",
            Dir::Out => "out",
        }
    }
}

/// A place a frame is seen: an interface of a namespace, in one direction.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct Point {
    pub ns: String,
    pub iface: String,
    pub ifindex: u32,
    pub dir: Dir,
    /// The bridge this interface is a port of.
    pub bridge: Option<String>,
}

/// One layer-3 hop: `from` sends to `next_hop`, which lives in `to`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Segment {
    pub from: String,
    /// The address `from` sends with on this hop.
    pub source: Option<IpAddr>,
    pub next_hop: IpAddr,
    pub to: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "end", rename_all = "kebab-case")]
pub enum End {
    Delivered {
        ns: String,
    },
    NoRoute {
        ns: String,
    },
    /// A blackhole, unreachable or prohibit route.
    Refused {
        ns: String,
        route: String,
    },
    NotForwarding {
        ns: String,
    },
    /// The way cannot be followed further (unknown peer, no port leads on…).
    Unknown {
        ns: String,
        why: String,
    },
    Loop,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Path {
    pub points: Vec<Point>,
    pub segments: Vec<Segment>,
    pub end: End,
}

impl Path {
    pub fn delivered(&self) -> bool {
        matches!(self.end, End::Delivered { .. })
    }

    /// The neighbour entries the hops of this path make: the sender's entry
    /// for its next hop, and the next hop's entry for the sender.
    pub fn neigh_keys(&self) -> Vec<(String, IpAddr)> {
        let mut out = Vec::new();
        for s in &self.segments {
            out.push((s.from.clone(), s.next_hop));
            if let (Some(to), Some(src)) = (&s.to, s.source) {
                out.push((to.clone(), src));
            }
        }
        out
    }
}

/// What a route lookup in one namespace gives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Lookup {
    Local,
    Via {
        dev: u32,
        gateway: Option<IpAddr>,
        prefsrc: Option<IpAddr>,
    },
    Refused(u8),
    NoRoute,
}

/// The main-table route the kernel would pick for `dst`: longest prefix,
/// lowest metric first.
pub fn best_route(ns: &LiveNs, dst: IpAddr) -> Option<&crate::model::live::LiveRoute> {
    let mut best: Option<(u8, u32, &crate::model::live::LiveRoute)> = None;
    for r in &ns.routes {
        if r.table != RT_TABLE_MAIN || r.dst.addr().is_ipv4() != dst.is_ipv4() {
            continue;
        }
        if !r.dst.contains(&dst) {
            continue;
        }
        let score = (r.dst.prefix_len(), r.metric.unwrap_or(0));
        let better = match best {
            None => true,
            Some((len, metric, _)) => score.0 > len || (score.0 == len && score.1 < metric),
        };
        if better {
            best = Some((score.0, score.1, r));
        }
    }
    best.map(|(_, _, r)| r)
}

/// Longest-prefix match over the main table, lowest metric first.
pub fn lookup(ns: &LiveNs, dst: IpAddr) -> Lookup {
    if dst.is_loopback() || holds(ns, dst) {
        return Lookup::Local;
    }
    let Some(r) = best_route(ns, dst) else {
        return Lookup::NoRoute;
    };
    match r.kind {
        1 => {}
        k => return Lookup::Refused(k),
    }
    let dev = r.dev.or_else(|| {
        let gw = r.via?;
        ns.links
            .iter()
            .find(|l| l.addrs.iter().any(|a| a.net.contains(&gw)))
            .map(|l| l.index)
    });
    match dev {
        Some(dev) => Lookup::Via {
            dev,
            gateway: r.via,
            prefsrc: r.prefsrc,
        },
        None => Lookup::NoRoute,
    }
}

/// Whether `ns` holds `ip` on any interface.
pub fn holds(ns: &LiveNs, ip: IpAddr) -> bool {
    ns.links
        .iter()
        .any(|l| l.addrs.iter().any(|a| a.net.addr() == ip))
}

/// The address a namespace sends from towards `next_hop` through `dev`.
pub fn source_for(ns: &LiveNs, dev: u32, next_hop: IpAddr) -> Option<IpAddr> {
    let same = |a: &IpAddr| a.is_ipv4() == next_hop.is_ipv4();
    let on_dev: Vec<IpAddr> = ns
        .link_by_index(dev)
        .map(|l| {
            l.addrs
                .iter()
                .filter(|a| !a.tentative && !a.dadfailed)
                .map(|a| a.net.addr())
                .filter(same)
                .collect()
        })
        .unwrap_or_default();
    if let Some(l) = ns.link_by_index(dev)
        && let Some(a) = l.addrs.iter().find(|a| a.net.contains(&next_hop))
    {
        return Some(a.net.addr());
    }
    on_dev.first().copied().or_else(|| {
        ns.links
            .iter()
            .filter(|l| l.name != "lo")
            .flat_map(|l| l.addrs.iter())
            .filter(|a| a.scope == 0)
            .map(|a| a.net.addr())
            .find(same)
    })
}

/// A veth whose other end could not be told apart from others by the
/// interface indexes alone: `ns` sees the peer's namespace as `nsid`, and
/// each candidate namespace holds a matching interface.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ambiguous {
    pub ns: String,
    pub ifindex: u32,
    pub nsid: i32,
    pub candidates: Vec<Key>,
}

/// Pair veth ends across namespaces. Each end names its peer by ifindex and
/// by the id its own namespace gives the peer's namespace; an end is paired
/// with the one interface elsewhere that has that index and points back.
/// `known` settles ambiguous cases: (namespace, nsid) → namespace name.
pub fn veth_peers(
    all: &[&LiveNs],
    known: &HashMap<(String, i32), String>,
) -> (HashMap<Key, Key>, Vec<Ambiguous>) {
    let mut by_pair: HashMap<(u32, u32), Vec<&str>> = HashMap::new();
    for ns in all {
        for l in &ns.links {
            if let Some(p) = l.peer {
                by_pair
                    .entry((l.index, p.index))
                    .or_default()
                    .push(ns.ns.as_str());
            }
        }
    }
    let mut peers = HashMap::new();
    let mut ambiguous = Vec::new();
    for ns in all {
        for l in &ns.links {
            let Some(p) = l.peer else { continue };
            let candidates: Vec<&str> = by_pair
                .get(&(p.index, l.index))
                .map(|v| {
                    v.iter()
                        .copied()
                        .filter(|c| match p.netnsid {
                            None => *c == ns.ns,
                            Some(_) => *c != ns.ns,
                        })
                        .collect()
                })
                .unwrap_or_default();
            let chosen = match (candidates.as_slice(), p.netnsid) {
                ([one], _) => Some(one.to_string()),
                ([], _) => None,
                (_, Some(id)) => match known.get(&(ns.ns.clone(), id)) {
                    Some(n) if candidates.contains(&n.as_str()) => Some(n.clone()),
                    _ => {
                        ambiguous.push(Ambiguous {
                            ns: ns.ns.clone(),
                            ifindex: l.index,
                            nsid: id,
                            candidates: candidates
                                .iter()
                                .map(|c| (c.to_string(), p.index))
                                .collect(),
                        });
                        None
                    }
                },
                _ => None,
            };
            if let Some(c) = chosen {
                peers.insert((ns.ns.clone(), l.index), (c, p.index));
            }
        }
    }
    (peers, ambiguous)
}

/// Address → the ports of one bridge it lies behind.
type Behind = HashMap<IpAddr, Vec<u32>>;

/// The namespaces read from the kernel, and how their veths pair up.
pub struct Topology<'a> {
    pub ns: BTreeMap<&'a str, &'a LiveNs>,
    /// namespace → ifindex → the other end.
    peers: HashMap<String, HashMap<u32, Key>>,
    /// Per bridge (namespace, ifindex): address → the ports it lies behind.
    behind: RefCell<HashMap<Key, Rc<Behind>>>,
}

const MAX_HOPS: usize = 32;
const MAX_BRIDGE_DEPTH: usize = 8;

struct Walk {
    points: Vec<Point>,
}

impl<'a> Topology<'a> {
    pub fn new(all: &[&'a LiveNs], peers: HashMap<Key, Key>) -> Topology<'a> {
        let mut by_ns: HashMap<String, HashMap<u32, Key>> = HashMap::new();
        for ((ns, i), p) in peers {
            by_ns.entry(ns).or_default().insert(i, p);
        }
        Topology {
            ns: all.iter().map(|n| (n.ns.as_str(), *n)).collect(),
            peers: by_ns,
            behind: RefCell::new(HashMap::new()),
        }
    }

    pub fn get(&self, ns: &str) -> Option<&'a LiveNs> {
        self.ns.get(ns).copied()
    }

    pub fn link(&self, ns: &str, index: u32) -> Option<&'a LiveLink> {
        self.get(ns)?.link_by_index(index)
    }

    /// A veth's other end.
    pub fn peer(&self, ns: &str, index: u32) -> Option<(&'a LiveNs, &'a LiveLink)> {
        let (pns, pi) = self.peers.get(ns)?.get(&index)?;
        let n = self.get(pns)?;
        Some((n, n.link_by_index(*pi)?))
    }

    /// Namespaces holding `ip`.
    pub fn owners(&self, ip: IpAddr) -> Vec<&'a str> {
        self.ns
            .values()
            .filter(|n| holds(n, ip))
            .map(|n| n.ns.as_str())
            .collect()
    }

    /// Whether `ns` forwards packets of `dst`'s family, when known.
    pub fn forwards(&self, ns: &str, dst: IpAddr) -> Option<bool> {
        let key = if dst.is_ipv4() {
            "net.ipv4.ip_forward"
        } else {
            "net.ipv6.conf.all.forwarding"
        };
        self.get(ns)?.sysctls.get(key).map(|v| v.trim() != "0")
    }

    /// The way from `src` to `dst`, as far as live state tells.
    pub fn path(&self, src: &str, dst: IpAddr) -> Path {
        let mut w = Walk { points: Vec::new() };
        let mut segments = Vec::new();
        let mut cur = src.to_string();
        let mut seen: HashSet<String> = HashSet::new();
        let end = loop {
            let Some(ns) = self.get(&cur) else {
                break End::Unknown {
                    ns: cur.clone(),
                    why: format!("namespace {cur} was not read"),
                };
            };
            if !seen.insert(cur.clone()) || segments.len() >= MAX_HOPS {
                break End::Loop;
            }
            if !segments.is_empty() && !holds(ns, dst) && self.forwards(&cur, dst) == Some(false) {
                break End::NotForwarding { ns: cur.clone() };
            }
            let (dev, gateway, prefsrc) = match lookup(ns, dst) {
                Lookup::Local => break End::Delivered { ns: cur.clone() },
                Lookup::NoRoute => break End::NoRoute { ns: cur.clone() },
                Lookup::Refused(k) => {
                    break End::Refused {
                        ns: cur.clone(),
                        route: route_kind(k).to_string(),
                    };
                }
                Lookup::Via {
                    dev,
                    gateway,
                    prefsrc,
                } => (dev, gateway, prefsrc),
            };
            let next_hop = gateway.unwrap_or(dst);
            let source = prefsrc.or_else(|| source_for(ns, dev, next_hop));
            let Some(link) = ns.link_by_index(dev) else {
                break End::Unknown {
                    ns: cur.clone(),
                    why: format!("the route to {dst} names ifindex {dev}, which is gone"),
                };
            };
            match self.send(&mut w, ns, link, next_hop) {
                Ok(arrived) => {
                    segments.push(Segment {
                        from: cur.clone(),
                        source,
                        next_hop,
                        to: Some(arrived.clone()),
                    });
                    cur = arrived;
                }
                Err(end) => {
                    segments.push(Segment {
                        from: cur.clone(),
                        source,
                        next_hop,
                        to: None,
                    });
                    break end;
                }
            }
        };
        Path {
            points: w.points,
            segments,
            end,
        }
    }

    fn point(ns: &LiveNs, link: &LiveLink, dir: Dir) -> Point {
        Point {
            ns: ns.ns.clone(),
            iface: link.name.clone(),
            ifindex: link.index,
            dir,
            bridge: link
                .master
                .and_then(|m| ns.link_by_index(m))
                .filter(|b| b.kind.as_deref() == Some("bridge"))
                .map(|b| b.name.clone()),
        }
    }

    /// A frame for `next_hop` leaves `link`; returns the namespace holding
    /// the next hop.
    fn send(
        &self,
        w: &mut Walk,
        ns: &'a LiveNs,
        link: &'a LiveLink,
        next_hop: IpAddr,
    ) -> Result<String, End> {
        w.points.push(Self::point(ns, link, Dir::Out));
        match link.kind.as_deref() {
            Some("bridge") => self.through_bridge(w, ns, link, None, next_hop, 0),
            Some("veth") => match self.peer(&ns.ns, link.index) {
                Some((pns, plink)) => self.arrive(w, pns, plink, next_hop, 0),
                None => Err(End::Unknown {
                    ns: ns.ns.clone(),
                    why: format!(
                        "the other end of {} is in a namespace vnet cannot see (not under /run/netns)",
                        link.name
                    ),
                }),
            },
            Some("vxlan") => Err(tunnel_end(ns, link)),
            _ if link.name == "lo" => Err(End::Unknown {
                ns: ns.ns.clone(),
                why: "the route points at lo".into(),
            }),
            other => Err(End::Unknown {
                ns: ns.ns.clone(),
                why: format!(
                    "{} is a {} interface: where it leads is beyond what vnet can follow",
                    link.name,
                    other.unwrap_or("physical")
                ),
            }),
        }
    }

    /// A frame enters `link` in `ns`.
    fn arrive(
        &self,
        w: &mut Walk,
        ns: &'a LiveNs,
        link: &'a LiveLink,
        next_hop: IpAddr,
        depth: usize,
    ) -> Result<String, End> {
        w.points.push(Self::point(ns, link, Dir::In));
        if let Some(m) = link.master
            && let Some(br) = ns.link_by_index(m)
            && br.kind.as_deref() == Some("bridge")
        {
            return self.through_bridge(w, ns, br, Some(link), next_hop, depth + 1);
        }
        if holds(ns, next_hop) {
            Ok(ns.ns.clone())
        } else {
            Err(End::Unknown {
                ns: ns.ns.clone(),
                why: format!(
                    "{} in {} does not hold {next_hop}: nothing there answers for it",
                    link.name, ns.ns
                ),
            })
        }
    }

    /// A bridge forwards a frame for `next_hop` that came in on `from`
    /// (None: sent by the bridge device itself).
    fn through_bridge(
        &self,
        w: &mut Walk,
        ns: &'a LiveNs,
        br: &'a LiveLink,
        from: Option<&'a LiveLink>,
        next_hop: IpAddr,
        depth: usize,
    ) -> Result<String, End> {
        if from.is_some() && br.addrs.iter().any(|a| a.net.addr() == next_hop) {
            w.points.push(Self::point(ns, br, Dir::In));
            return Ok(ns.ns.clone());
        }
        if depth > MAX_BRIDGE_DEPTH {
            return Err(End::Loop);
        }
        let table = self.behind(ns, br);
        let port = table.get(&next_hop).and_then(|ps| {
            ps.iter()
                .copied()
                .find(|p| from.is_none_or(|f| f.index != *p))
        });
        if let Some(port) = port.and_then(|p| ns.link_by_index(p)) {
            w.points.push(Self::point(ns, port, Dir::Out));
            if port.kind.as_deref() == Some("vxlan") {
                return Err(tunnel_end(ns, port));
            }
            return match self.peer(&ns.ns, port.index) {
                Some((pns, plink)) => self.arrive(w, pns, plink, next_hop, depth),
                None => Err(End::Unknown {
                    ns: ns.ns.clone(),
                    why: format!("the other end of {} cannot be seen", port.name),
                }),
            };
        }
        Err(End::Unknown {
            ns: ns.ns.clone(),
            why: format!(
                "no port of bridge {} leads to {next_hop}: it would flood the frame to every port",
                br.name
            ),
        })
    }

    /// Which addresses lie behind each port of bridge `br` (computed once).
    fn behind(&self, ns: &LiveNs, br: &LiveLink) -> Rc<Behind> {
        let key = (ns.ns.clone(), br.index);
        if let Some(t) = self.behind.borrow().get(&key) {
            return t.clone();
        }
        let mut table: Behind = HashMap::new();
        for port in ports(ns, br.index) {
            let mut addrs = Vec::new();
            self.addrs_behind(ns, port, 0, &mut addrs);
            for a in addrs {
                let e = table.entry(a).or_default();
                if !e.contains(&port.index) {
                    e.push(port.index);
                }
            }
        }
        let t = Rc::new(table);
        self.behind.borrow_mut().insert(key, t.clone());
        t
    }

    /// Addresses a frame sent out of bridge port `port` can reach at layer 2.
    fn addrs_behind(&self, ns: &LiveNs, port: &LiveLink, depth: usize, out: &mut Vec<IpAddr>) {
        if depth > MAX_BRIDGE_DEPTH {
            return;
        }
        let Some((pns, plink)) = self.peer(&ns.ns, port.index) else {
            return;
        };
        if let Some(m) = plink.master
            && let Some(br) = pns.link_by_index(m)
            && br.kind.as_deref() == Some("bridge")
        {
            out.extend(br.addrs.iter().map(|a| a.net.addr()));
            for p in ports(pns, br.index).filter(|p| p.index != plink.index) {
                self.addrs_behind(pns, p, depth + 1, out);
            }
            return;
        }
        out.extend(
            pns.links
                .iter()
                .flat_map(|l| l.addrs.iter())
                .map(|a| a.net.addr()),
        );
    }

    /// Where to listen for a trace: every point of the paths, and for each
    /// bridge on them the bridge itself and all its ports (to see flooding).
    pub fn capture_set(&self, paths: &[&Path]) -> Vec<(String, u32)> {
        let mut out: Vec<(String, u32)> = Vec::new();
        let add = |k: (String, u32), out: &mut Vec<(String, u32)>| {
            if !out.contains(&k) {
                out.push(k);
            }
        };
        for p in paths {
            for pt in &p.points {
                add((pt.ns.clone(), pt.ifindex), &mut out);
                let Some(ns) = self.get(&pt.ns) else { continue };
                let Some(link) = ns.link_by_index(pt.ifindex) else {
                    continue;
                };
                let bridge = if link.kind.as_deref() == Some("bridge") {
                    Some(link)
                } else {
                    link.master.and_then(|m| ns.link_by_index(m))
                };
                if let Some(br) = bridge.filter(|b| b.kind.as_deref() == Some("bridge")) {
                    add((pt.ns.clone(), br.index), &mut out);
                    for port in ports(ns, br.index) {
                        add((pt.ns.clone(), port.index), &mut out);
                    }
                }
            }
        }
        out
    }

    /// The bridge `link` is a port of, if any.
    pub fn bridge_of(&self, ns: &str, index: u32) -> Option<&'a LiveLink> {
        let n = self.get(ns)?;
        let l = n.link_by_index(index)?;
        let m = n.link_by_index(l.master?)?;
        (m.kind.as_deref() == Some("bridge")).then_some(m)
    }

    /// Why a point may not pass frames, from its live state.
    pub fn hint(&self, ns: &str, index: u32) -> Option<String> {
        let l = self.link(ns, index)?;
        if !l.admin_up {
            return Some(format!("{ns}:{} is down (administratively)", l.name));
        }
        if !l.lower_up {
            return Some(format!(
                "{ns}:{} has no carrier (its other end is down)",
                l.name
            ));
        }
        if let Some(s) = l.port_state
            && s != 3
        {
            return Some(format!(
                "{ns}:{} is a bridge port in state {}, not forwarding",
                l.name,
                port_state(s)
            ));
        }
        None
    }
}

/// Ports of the bridge with index `bridge`, in index order.
pub fn ports(ns: &LiveNs, bridge: u32) -> impl Iterator<Item = &LiveLink> {
    ns.links.iter().filter(move |l| l.master == Some(bridge))
}

pub fn route_kind(k: u8) -> &'static str {
    match k {
        2 => "local",
        3 => "broadcast",
        6 => "blackhole",
        7 => "unreachable",
        8 => "prohibit",
        9 => "throw",
        _ => "special",
    }
}

pub fn port_state(s: u8) -> &'static str {
    match s {
        0 => "disabled",
        1 => "listening",
        2 => "learning",
        3 => "forwarding",
        4 => "blocking",
        _ => "unknown",
    }
}

/// Where a walk stops at a VXLAN device: the rest of the way is on the
/// host at the tunnel's far end (`vnet trace` there follows it on).
pub const TUNNEL_END: &str = "the way leaves this host through VXLAN tunnel";

fn tunnel_end(ns: &LiveNs, link: &LiveLink) -> End {
    let (vni, remote) = link
        .tunnel
        .map(|t| {
            (
                t.vni.to_string(),
                t.remote
                    .map_or("its far end".to_string(), |r| r.to_string()),
            )
        })
        .unwrap_or_else(|| ("?".into(), "its far end".into()));
    End::Unknown {
        ns: ns.ns.clone(),
        why: format!(
            "{TUNNEL_END} {} (VNI {vni}); the rest is on the host at {remote}",
            link.name
        ),
    }
}

#[cfg(test)]
pub mod tests {
    use super::*;
    use crate::model::live::{LiveAddr, LivePeer, LiveRoute};
    use ipnet::IpNet;

    pub fn addr(cidr: &str) -> LiveAddr {
        LiveAddr {
            net: cidr.parse().unwrap(),
            scope: 0,
            tentative: false,
            dadfailed: false,
            permanent: true,
        }
    }

    pub fn link(index: u32, name: &str, kind: &str) -> LiveLink {
        LiveLink {
            index,
            name: name.into(),
            kind: Some(kind.into()).filter(|k: &String| !k.is_empty()),
            admin_up: true,
            lower_up: true,
            ..LiveLink::default()
        }
    }

    pub fn connected(cidr: &str, dev: u32) -> LiveRoute {
        let n: IpNet = cidr.parse().unwrap();
        LiveRoute {
            dst: n.trunc(),
            via: None,
            dev: Some(dev),
            metric: None,
            table: RT_TABLE_MAIN,
            protocol: 2,
            scope: 253,
            kind: 1,
            prefsrc: Some(n.addr()),
        }
    }

    pub fn via(dst: &str, gw: &str) -> LiveRoute {
        LiveRoute {
            dst: dst.parse().unwrap(),
            via: Some(gw.parse().unwrap()),
            dev: None,
            metric: None,
            table: RT_TABLE_MAIN,
            protocol: 4,
            scope: 0,
            kind: 1,
            prefsrc: None,
        }
    }

    /// A veth end in `ns` (index `i`) whose peer is index `pi` elsewhere.
    pub fn veth(i: u32, name: &str, pi: u32) -> LiveLink {
        let mut l = link(i, name, "veth");
        l.peer = Some(LivePeer {
            index: pi,
            netnsid: Some(0),
        });
        l
    }

    /// ns1 [veth0 .1] — br0-veth0 [br0] br0-veth1 — [veth1 .2] ns2, and a
    /// third node ns3 on the bridge.
    pub fn seed_bridge() -> Vec<LiveNs> {
        let mut ns1 = LiveNs {
            ns: "ns1".into(),
            ..Default::default()
        };
        let mut v0 = veth(2, "veth0", 11);
        v0.addrs.push(addr("192.168.1.1/24"));
        ns1.links = vec![link(1, "lo", ""), v0];
        ns1.routes = vec![connected("192.168.1.1/24", 2)];
        let mut ns2 = LiveNs {
            ns: "ns2".into(),
            ..Default::default()
        };
        let mut v1 = veth(2, "veth1", 12);
        v1.addrs.push(addr("192.168.1.2/24"));
        ns2.links = vec![link(1, "lo", ""), v1];
        ns2.routes = vec![connected("192.168.1.2/24", 2)];
        let mut ns3 = LiveNs {
            ns: "ns3".into(),
            ..Default::default()
        };
        let mut v3 = veth(2, "veth3", 13);
        v3.addrs.push(addr("192.168.1.3/24"));
        ns3.links = vec![link(1, "lo", ""), v3];
        ns3.routes = vec![connected("192.168.1.3/24", 2)];
        let mut host = LiveNs {
            ns: "host".into(),
            ..Default::default()
        };
        let mut p0 = veth(11, "br0-veth0", 2);
        p0.master = Some(10);
        p0.port_state = Some(3);
        let mut p1 = veth(12, "br0-veth1", 2);
        p1.master = Some(10);
        p1.port_state = Some(3);
        let mut p3 = veth(13, "br0-veth3", 2);
        p3.master = Some(10);
        p3.port_state = Some(3);
        host.links = vec![link(1, "lo", ""), link(10, "br0", "bridge"), p0, p1, p3];
        vec![host, ns1, ns2, ns3]
    }

    pub fn topo(all: &[LiveNs]) -> Topology<'_> {
        let refs: Vec<&LiveNs> = all.iter().collect();
        let (peers, amb) = veth_peers(&refs, &HashMap::new());
        assert!(amb.is_empty(), "{amb:?}");
        Topology::new(&refs, peers)
    }

    fn names(p: &Path) -> Vec<String> {
        p.points
            .iter()
            .map(|x| format!("{}:{}:{}", x.ns, x.iface, x.dir.as_str()))
            .collect()
    }

    #[test]
    fn through_a_bridge_to_the_port_that_leads_on() {
        let all = seed_bridge();
        let t = topo(&all);
        let p = t.path("ns1", "192.168.1.2".parse().unwrap());
        assert_eq!(
            names(&p),
            [
                "ns1:veth0:out",
                "host:br0-veth0:in",
                "host:br0-veth1:out",
                "ns2:veth1:in"
            ]
        );
        assert_eq!(p.end, End::Delivered { ns: "ns2".into() });
        assert_eq!(
            p.neigh_keys(),
            [
                ("ns1".to_string(), "192.168.1.2".parse().unwrap()),
                ("ns2".to_string(), "192.168.1.1".parse().unwrap())
            ]
        );
        let back = t.path("ns2", "192.168.1.1".parse().unwrap());
        assert_eq!(back.points.len(), 4);
        // Listen on the path and on every port of the bridge, and the bridge.
        let cap = t.capture_set(&[&p, &back]);
        assert_eq!(cap.len(), 6, "{cap:?}");
        assert!(cap.contains(&("host".into(), 13)));
        assert!(cap.contains(&("host".into(), 10)));
    }

    #[test]
    fn unknown_addresses_and_missing_routes_say_where_they_stop() {
        let all = seed_bridge();
        let t = topo(&all);
        let p = t.path("ns1", "192.168.1.99".parse().unwrap());
        assert!(
            matches!(p.end, End::Unknown { ref why, .. } if why.contains("no port of bridge br0"))
        );
        assert_eq!(names(&p)[..2], ["ns1:veth0:out", "host:br0-veth0:in"]);
        let p = t.path("ns1", "10.9.9.9".parse().unwrap());
        assert_eq!(p.end, End::NoRoute { ns: "ns1".into() });
        assert!(p.points.is_empty());
        let p = t.path("ns1", "192.168.1.1".parse().unwrap());
        assert_eq!(p.end, End::Delivered { ns: "ns1".into() });
    }

    #[test]
    fn through_a_router_and_its_forwarding() {
        // h1 [eth0 10.0.1.2] — [eth1 10.0.1.1] r1 [eth2 10.0.2.1] — [eth0 10.0.2.2] h2
        let mk = |name: &str| LiveNs {
            ns: name.into(),
            ..Default::default()
        };
        let mut h1 = mk("h1");
        let mut e = veth(2, "eth0", 2);
        e.addrs.push(addr("10.0.1.2/24"));
        h1.links = vec![e];
        h1.routes = vec![connected("10.0.1.2/24", 2), via("0.0.0.0/0", "10.0.1.1")];
        let mut r1 = mk("r1");
        let mut e1 = veth(2, "eth1", 2);
        e1.addrs.push(addr("10.0.1.1/24"));
        let mut e2 = veth(3, "eth2", 3);
        e2.addrs.push(addr("10.0.2.1/24"));
        r1.links = vec![e1, e2];
        r1.routes = vec![connected("10.0.1.1/24", 2), connected("10.0.2.1/24", 3)];
        r1.sysctls.insert("net.ipv4.ip_forward".into(), "1".into());
        let mut h2 = mk("h2");
        let mut e = veth(3, "eth0", 3);
        e.addrs.push(addr("10.0.2.2/24"));
        h2.links = vec![e];
        h2.routes = vec![connected("10.0.2.2/24", 3), via("0.0.0.0/0", "10.0.2.1")];
        let mut all = vec![h1, r1, h2];
        {
            let t = topo(&all);
            let p = t.path("h1", "10.0.2.2".parse().unwrap());
            assert_eq!(
                names(&p),
                ["h1:eth0:out", "r1:eth1:in", "r1:eth2:out", "h2:eth0:in"]
            );
            assert!(p.delivered());
            assert_eq!(p.segments.len(), 2);
            assert_eq!(p.neigh_keys().len(), 4);
        }
        all[1]
            .sysctls
            .insert("net.ipv4.ip_forward".into(), "0".into());
        let t = topo(&all);
        let p = t.path("h1", "10.0.2.2".parse().unwrap());
        assert_eq!(p.end, End::NotForwarding { ns: "r1".into() });
    }

    #[test]
    fn veth_ends_with_equal_indexes_are_told_apart_by_namespace_ids() {
        // Two vnet-made pairs: a:veth0(2) <-> b:veth1(2) and c:veth0(2) <-> d:veth1(2).
        let mk = |name: &str| LiveNs {
            ns: name.into(),
            links: vec![veth(2, "veth", 2)],
            ..Default::default()
        };
        let all = [mk("a"), mk("b"), mk("c"), mk("d")];
        let refs: Vec<&LiveNs> = all.iter().collect();
        let (peers, amb) = veth_peers(&refs, &HashMap::new());
        assert!(peers.is_empty());
        assert_eq!(amb.len(), 4);
        assert_eq!(amb[0].candidates.len(), 3);
        let known: HashMap<(String, i32), String> = [
            (("a".to_string(), 0), "b".to_string()),
            (("b".to_string(), 0), "a".to_string()),
        ]
        .into();
        let (peers, amb) = veth_peers(&refs, &known);
        assert_eq!(peers.get(&("a".into(), 2)), Some(&("b".into(), 2)));
        assert_eq!(amb.len(), 2);
    }

    #[test]
    fn hints_name_down_links_and_blocked_ports() {
        let mut all = seed_bridge();
        all[0].links[3].admin_up = false;
        all[0].links[2].port_state = Some(4);
        let t = topo(&all);
        assert_eq!(
            t.hint("host", 12).unwrap(),
            "host:br0-veth1 is down (administratively)"
        );
        assert!(t.hint("host", 11).unwrap().contains("blocking"));
        assert_eq!(t.hint("host", 13), None);
    }
}
