//! The live kernel, as read by `kernel::observe`, → the simulated network,
//! so that `vnet export` writes its lab with the same conversion (and the
//! same notes) as `vnet import`. Pure: the reading is done by the caller.

use std::collections::{BTreeMap, BTreeSet};

use ipnet::IpNet;

use super::world::{HOST_NS, Iface, Kind, World};
use super::{Note, NoteKind};
use crate::model::live::{LiveLink, LiveNs, LiveRoute};
use crate::model::route::Route;

/// Which host interfaces belong to the export.
pub enum HostPart<'a> {
    /// Exactly these (a lab's own, by their marks).
    Named(&'a BTreeSet<String>),
    /// Those joined to the exported namespaces: veth ends whose peer is in
    /// one, the bridges they are ports of, and those bridges' other ports.
    Related,
}

pub struct FromLive {
    pub world: World,
    pub notes: Vec<Note>,
    /// Some exported interface relies on the kernel's IPv6 link-local address.
    pub link_local: bool,
}

/// `host` is the host namespace, `named` the namespaces to export; `peer`
/// names a veth's other end as "namespace:interface" (engine::status::peer_of).
pub fn world(
    host: &LiveNs,
    named: &[&LiveNs],
    part: HostPart,
    peer: &dyn Fn(&LiveLink, &LiveNs) -> Option<String>,
) -> FromLive {
    let named_set: BTreeSet<&str> = named.iter().map(|n| n.ns.as_str()).collect();
    let host_keep = host_links(host, &named_set, part, peer);
    let mut ex = Export {
        w: World::new(),
        notes: Vec::new(),
        ids: BTreeMap::new(),
        link_local: false,
    };
    let mut all: Vec<(usize, &LiveNs)> = vec![(HOST_NS, host)];
    for ns in named {
        match ex.w.ns_add(&ns.ns, 0) {
            Ok(i) => all.push((i, ns)),
            Err(m) => ex.note(
                format!("namespace {}", ns.ns),
                m.0,
                NoteKind::NotRepresented,
            ),
        }
    }
    for (nsi, live) in &all {
        for l in &live.links {
            if l.name == "lo" || (*nsi == HOST_NS && !host_keep.contains(&l.name)) {
                continue;
            }
            ex.add_iface(*nsi, live, l);
        }
    }
    // Peers and masters, now that every interface has an id.
    for (_, live) in &all {
        for l in &live.links {
            let Some(&id) = ex.ids.get(&(live.ns.clone(), l.index)) else {
                continue;
            };
            if let Some(m) = l.master {
                ex.set_master(live, l, id, m);
            }
            if matches!(ex.w.ifaces[id].kind, Kind::Veth { .. }) {
                ex.set_peer(&all, live, l, id, peer);
            }
        }
    }
    for (nsi, live) in &all {
        for (k, v) in &live.sysctls {
            ex.w.sysctl(*nsi, k, v, 0);
        }
        if *nsi == HOST_NS {
            continue;
        }
        for r in live.routes.iter().filter(|r| r.is_user_route()) {
            let route = route_of(live, r);
            if let Err(m) = ex.w.route_add(*nsi, route.clone(), 0) {
                ex.note(
                    format!("route {route} in {}", live.ns),
                    m.0,
                    NoteKind::NotRepresented,
                );
            }
        }
    }
    FromLive {
        world: ex.w,
        notes: ex.notes,
        link_local: ex.link_local,
    }
}

/// The simulated network being filled from live state.
struct Export {
    w: World,
    notes: Vec<Note>,
    /// (namespace name, ifindex) → interface id.
    ids: BTreeMap<(String, u32), usize>,
    link_local: bool,
}

impl Export {
    fn note(&mut self, command: String, reason: String, kind: NoteKind) {
        self.notes.push(Note {
            line: 0,
            command,
            reason,
            kind,
        })
    }

    /// Interface `l` of `live` (simulated namespace `nsi`), without its
    /// peer and master, and without the addresses the kernel made.
    fn add_iface(&mut self, nsi: usize, live: &LiveNs, l: &LiveLink) {
        let kind = match l.kind.as_deref() {
            Some("veth") => Kind::Veth { peer: usize::MAX },
            Some("bridge") => {
                let b = l.bridge.unwrap_or_default();
                Kind::Bridge {
                    stp: b.stp,
                    vlan_filtering: b.vlan_filtering,
                }
            }
            Some(k) => Kind::Other(k.to_string()),
            None => Kind::Other("device".to_string()),
        };
        let v6_global = l
            .addrs
            .iter()
            .any(|a| matches!(a.net, IpNet::V6(_)) && !a.is_kernel_made());
        if nsi != HOST_NS && !v6_global && l.addrs.iter().any(|a| a.is_kernel_made()) {
            self.link_local = true;
        }
        self.w.ifaces.push(Iface {
            ns: nsi,
            name: l.name.clone(),
            kind,
            master: None,
            up: l.admin_up,
            mtu: (l.mtu != 1500).then_some(l.mtu),
            mac: None,
            addrs: l
                .addrs
                .iter()
                .filter(|a| !a.is_kernel_made())
                .map(|a| (a.net, 0))
                .collect(),
            alive: true,
            line: 0,
            conditions: l.conditions,
        });
        self.ids
            .insert((live.ns.clone(), l.index), self.w.ifaces.len() - 1);
    }

    /// Interface `id` is a port of ifindex `m`: kept when that is an
    /// exported bridge.
    fn set_master(&mut self, live: &LiveNs, l: &LiveLink, id: usize, m: u32) {
        match self.ids.get(&(live.ns.clone(), m)) {
            Some(&mid) if matches!(self.w.ifaces[mid].kind, Kind::Bridge { .. }) => {
                self.w.ifaces[id].master = Some(mid)
            }
            _ => self.note(
                format!("{} in {}", l.name, live.ns),
                format!(
                    "its master (ifindex {m}) is not a bridge that is exported; exported without it"
                ),
                NoteKind::NotRepresented,
            ),
        }
    }

    /// Veth `id` joined to its peer, or left out when the peer is not
    /// exported.
    fn set_peer(
        &mut self,
        all: &[(usize, &LiveNs)],
        live: &LiveNs,
        l: &LiveLink,
        id: usize,
        peer: &dyn Fn(&LiveLink, &LiveNs) -> Option<String>,
    ) {
        let p = peer(l, live).and_then(|p| {
            let (ns, name) = p.split_once(':')?;
            let pl = all.iter().find(|(_, x)| x.ns == ns)?.1.link(name)?;
            self.ids.get(&(ns.to_string(), pl.index)).copied()
        });
        match p {
            Some(pid) => self.w.ifaces[id].kind = Kind::Veth { peer: pid },
            None => {
                self.w.ifaces[id].alive = false;
                let where_ = peer(l, live).unwrap_or_else(|| "unknown".into());
                self.note(
                    format!("veth {} in {}", l.name, live.ns),
                    format!(
                        "its peer ({where_}) is not exported; left out (export that namespace too)"
                    ),
                    NoteKind::NotRepresented,
                );
            }
        }
    }
}

/// A live route as a lab writes it: no device when the gateway picks it,
/// no metric when it is the kernel's default.
fn route_of(live: &LiveNs, r: &LiveRoute) -> Route {
    let dev = r.dev.and_then(|d| live.name_of(d)).map(str::to_string);
    // A gateway on a connected subnet picks its device by itself.
    let implied = r.via.is_some_and(|via| {
        r.dev
            .and_then(|d| live.link_by_index(d))
            .is_some_and(|l| l.addrs.iter().any(|a| a.net.contains(&via)))
    });
    let metric = r
        .metric
        .filter(|m| !(*m == 0 || (*m == 1024 && r.dst.addr().is_ipv6())));
    Route {
        dst: r.dst,
        via: r.via,
        dev: if implied { None } else { dev },
        metric,
    }
}

fn host_links(
    host: &LiveNs,
    named: &BTreeSet<&str>,
    part: HostPart,
    peer: &dyn Fn(&LiveLink, &LiveNs) -> Option<String>,
) -> BTreeSet<String> {
    match part {
        HostPart::Named(set) => set.clone(),
        HostPart::Related => {
            let peer_ns = |l: &LiveLink| -> Option<String> {
                peer(l, host).and_then(|p| p.split_once(':').map(|(ns, _)| ns.to_string()))
            };
            let mut keep: BTreeSet<String> = host
                .links
                .iter()
                .filter(|l| l.kind.as_deref() == Some("veth"))
                .filter(|l| peer_ns(l).is_some_and(|ns| named.contains(ns.as_str())))
                .map(|l| l.name.clone())
                .collect();
            // Bridges of kept ports, and host-to-host pairs on them, until nothing changes.
            loop {
                let before = keep.len();
                let masters: BTreeSet<u32> = host
                    .links
                    .iter()
                    .filter(|l| keep.contains(&l.name))
                    .filter_map(|l| l.master)
                    .collect();
                for l in &host.links {
                    if masters.contains(&l.index) {
                        keep.insert(l.name.clone());
                    }
                    let on_kept_bridge = l.master.is_some_and(|m| masters.contains(&m));
                    if on_kept_bridge && l.kind.as_deref() == Some("veth") {
                        keep.insert(l.name.clone());
                        if let Some(p) = peer(l, host)
                            && let Some(("host", name)) = p.split_once(':')
                        {
                            keep.insert(name.to_string());
                        }
                    }
                }
                if keep.len() == before {
                    break;
                }
            }
            keep
        }
    }
}
