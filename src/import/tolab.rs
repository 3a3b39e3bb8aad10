//! The simulated network → the lab that builds it. What a lab cannot say
//! (an interface left down, an address on a bridge port, a route in the
//! host namespace, a dummy device …) becomes a note on the line that made it.

use std::collections::{BTreeMap, BTreeSet};

use ipnet::IpNet;

use super::world::{HOST_NS, Kind, Line, World};
use super::{Note, NoteKind};
use crate::model::lab::{BridgeNode, Endpoint, HOST, Lab, Link, NetnsNode, Node, NodeKind};
use crate::model::names;
use crate::model::net::{FORWARD_SYSCTLS, NO_DAD};

pub struct Converted {
    pub lab: Lab,
    pub notes: Vec<Note>,
}

/// Options that are facts about the source, not about the network.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// Keep IPv6 link-local addresses (`ipv6_link_local: true`).
    pub ipv6_link_local: bool,
    /// Interfaces left down are reported (a script chose that; the kernel's
    /// live state of a hand-built network is not worth a note per interface).
    pub report_down: bool,
}

struct Conv<'a> {
    w: &'a World,
    notes: Vec<Note>,
    /// Namespaces that become netns nodes (and the host).
    ns_ok: BTreeSet<usize>,
    /// Bridge interface id → node name.
    bridges: BTreeMap<usize, String>,
    /// Node names taken.
    taken: BTreeSet<String>,
    /// Addresses given out, and to which interface (a lab uses each once).
    used: BTreeMap<std::net::IpAddr, String>,
    opts: Options,
}

pub fn to_lab(w: &World, name: &str, opts: Options) -> Converted {
    let mut c = Conv {
        w,
        notes: Vec::new(),
        ns_ok: BTreeSet::from([HOST_NS]),
        bridges: BTreeMap::new(),
        taken: BTreeSet::new(),
        used: BTreeMap::new(),
        opts,
    };
    let mut nodes = c.namespaces();
    nodes.extend(c.bridge_nodes());
    let links = c.links();
    c.routes(&mut nodes, &links);
    c.others();
    c.host_leftovers();
    let lab = Lab {
        name: name.to_string(),
        nodes,
        links,
        expect: Vec::new(),
        ipv6_link_local: c.opts.ipv6_link_local,
        index: Default::default(),
        hosts: Default::default(),
    };
    let mut notes = c.notes;
    notes.sort_by_key(|n| n.line);
    Converted { lab, notes }
}

impl Conv<'_> {
    fn note(&mut self, line: Line, what: String, reason: impl Into<String>, kind: NoteKind) {
        self.notes.push(Note {
            line,
            command: what,
            reason: reason.into(),
            kind,
        });
    }

    fn namespaces(&mut self) -> Vec<Node> {
        let mut out = Vec::new();
        for (i, ns) in self.w.namespaces.iter().enumerate().skip(1) {
            if !ns.alive {
                continue;
            }
            let bad = names::reserved_node_name(&ns.name)
                .map(str::to_string)
                .or_else(|| {
                    names::check_netns_name(&ns.name)
                        .err()
                        .map(|e| e.to_string())
                });
            if let Some(why) = bad {
                self.note(
                    ns.line,
                    format!("namespace {}", names::printable(&ns.name)),
                    why.to_string(),
                    NoteKind::NotRepresented,
                );
                continue;
            }
            self.ns_ok.insert(i);
            self.taken.insert(ns.name.clone());
            let node = self.netns_node(i);
            out.push(Node {
                name: ns.name.clone(),
                kind: NodeKind::Netns(node),
            });
        }
        out
    }

    fn netns_node(&mut self, i: usize) -> NetnsNode {
        let ns = &self.w.namespaces[i];
        let mut node = NetnsNode::default();
        let mut sysctls: BTreeMap<String, (String, Line)> = ns.sysctls.clone();
        let has_v6 = self.w.alive_in(i).any(|id| {
            self.w.ifaces[id]
                .addrs
                .iter()
                .any(|(a, _)| matches!(a, IpNet::V6(_)))
        }) || ns.routes.iter().any(|(r, _)| r.is_ipv6());
        // IPv6 quiet where nothing uses it (and on where something does) is
        // what vnet does by itself (addrgenmode none on such interfaces).
        let vnet_default = if has_v6 { "0" } else { "1" };
        for k in [
            "net.ipv6.conf.all.disable_ipv6",
            "net.ipv6.conf.default.disable_ipv6",
        ] {
            if sysctls.get(k).is_some_and(|(v, _)| v == vnet_default) {
                sysctls.remove(k);
            }
        }
        // vnet turns DAD off by itself where interfaces keep link-local addresses.
        if sysctls.get(NO_DAD).is_some_and(|(v, _)| v == "0") {
            sysctls.remove(NO_DAD);
        }
        // Forwarding off is every new namespace's default.
        for k in FORWARD_SYSCTLS {
            if sysctls.get(k).is_some_and(|(v, _)| v == "0") {
                sysctls.remove(k);
            }
        }
        let on = |k: &str| sysctls.get(k).is_some_and(|(v, _)| v == "1");
        if FORWARD_SYSCTLS.iter().all(|k| on(k)) {
            node.forward = true;
            for k in FORWARD_SYSCTLS {
                sysctls.remove(k);
            }
        }
        for (k, (v, line)) in sysctls {
            let plain = |s: &str| {
                !s.chars()
                    .any(|c| c.is_control() || c.is_whitespace() || c == '/')
            };
            if !k.starts_with("net.")
                || !plain(&k)
                || k.split('.').any(str::is_empty)
                || v.len() > 256
                || v.chars().any(char::is_control)
            {
                self.note(
                    line,
                    format!("sysctl {k}={v}"),
                    "not a per-namespace network setting a lab can hold (net.* keys, short values)",
                    NoteKind::NotRepresented,
                );
                continue;
            }
            node.sysctls.insert(k, v);
        }
        node
    }

    /// Routes, once it is known which interfaces made it into the lab.
    fn routes(&mut self, nodes: &mut [Node], links: &[Link]) {
        let mut present: BTreeSet<(String, String)> = BTreeSet::new();
        for id in self.bridges.keys() {
            let i = &self.w.ifaces[*id];
            present.insert((self.w.ns_name(i.ns).to_string(), i.name.clone()));
        }
        let home = |node: &str| -> String {
            self.bridges
                .iter()
                .find(|(_, n)| *n == node)
                .map_or(node.to_string(), |(id, _)| {
                    self.w.ns_name(self.w.ifaces[*id].ns).to_string()
                })
        };
        for l in links {
            for e in &l.ends {
                present.insert((home(&e.node), e.interface.clone()));
            }
        }
        for node in nodes.iter_mut() {
            let NodeKind::Netns(ns) = &mut node.kind else {
                continue;
            };
            let Some(i) = self.w.ns_index(&node.name) else {
                continue;
            };
            for (r, line) in self.w.namespaces[i].routes.clone() {
                if let Some(dev) = &r.dev
                    && !present.contains(&(node.name.clone(), dev.clone()))
                {
                    self.note(
                        line,
                        format!("route {r} in {}", node.name),
                        format!("{dev} is not an interface the lab makes"),
                        NoteKind::NotRepresented,
                    );
                    continue;
                }
                ns.routes.push(r);
            }
        }
    }

    fn bridge_nodes(&mut self) -> Vec<Node> {
        let mut out = Vec::new();
        for (id, i) in self.w.ifaces.iter().enumerate() {
            let Kind::Bridge {
                stp,
                vlan_filtering,
            } = i.kind
            else {
                continue;
            };
            if !i.alive || !self.ns_ok.contains(&i.ns) {
                continue;
            }
            let why = if self.taken.contains(&i.name) {
                Some(format!(
                    "its name is taken by another node; a lab names bridges and namespaces alike (rename one: `ip link set {} name …`)",
                    i.name
                ))
            } else {
                names::check_ifname(&i.name).err().map(|e| e.to_string())
            };
            if let Some(why) = why {
                self.note(
                    i.line,
                    format!("bridge {} in {}", i.name, self.w.ns_name(i.ns)),
                    why,
                    NoteKind::NotRepresented,
                );
                continue;
            }
            self.down_note(id);
            self.taken.insert(i.name.clone());
            self.bridges.insert(id, i.name.clone());
            out.push(Node {
                name: i.name.clone(),
                kind: NodeKind::Bridge(BridgeNode {
                    inside: (i.ns != HOST_NS).then(|| self.w.ns_name(i.ns).to_string()),
                    ips: self.unique_addrs(id),
                    stp,
                    vlan_filtering,
                    mtu: i.mtu,
                    mac: i.mac,
                }),
            });
        }
        out
    }

    /// An interface's addresses, less those already given to another
    /// (the kernel allows it; a lab file refuses it).
    fn unique_addrs(&mut self, id: usize) -> Vec<IpNet> {
        let i = &self.w.ifaces[id];
        let who = format!("{} in {}", i.name, self.w.ns_name(i.ns));
        let mut out = Vec::new();
        for (a, line) in i.addrs.clone() {
            if let Err(why) = crate::model::validate::parse_cidr(&a.to_string()) {
                self.note(
                    line,
                    format!("address {a} on {who}"),
                    why.to_string(),
                    NoteKind::NotRepresented,
                );
                continue;
            }
            match self.used.get(&a.addr()) {
                Some(first) => {
                    let first = first.clone();
                    self.note(
                        line,
                        format!("address {a} on {who}"),
                        format!(
                            "{} is already on {first}; a lab gives each address to one interface",
                            a.addr()
                        ),
                        NoteKind::NotRepresented,
                    );
                }
                None => {
                    self.used.insert(a.addr(), who.clone());
                    out.push(a);
                }
            }
        }
        out
    }

    fn down_note(&mut self, id: usize) {
        let i = &self.w.ifaces[id];
        if !i.up && self.opts.report_down {
            self.note(
                i.line,
                format!("{} in {}", i.name, self.w.ns_name(i.ns)),
                "is left down; vnet brings every interface it makes up",
                NoteKind::Differs,
            );
        }
    }

    /// The node a veth end belongs to: its bridge, or its namespace.
    fn end_node(&self, id: usize) -> Result<String, super::world::Refused> {
        let i = &self.w.ifaces[id];
        if !self.ns_ok.contains(&i.ns) {
            return Err(super::world::Refused(format!(
                "namespace {} is not part of the lab",
                self.w.ns_name(i.ns)
            )));
        }
        match i.master {
            Some(m) => self.bridges.get(&m).cloned().ok_or_else(|| {
                super::world::Refused(format!(
                    "its master {} is not part of the lab",
                    self.w.ifaces[m].name
                ))
            }),
            None if i.ns == HOST_NS => Ok(HOST.to_string()),
            None => Ok(self.w.ns_name(i.ns).to_string()),
        }
    }

    fn links(&mut self) -> Vec<Link> {
        let mut out = Vec::new();
        for id in 0..self.w.ifaces.len() {
            let i = &self.w.ifaces[id];
            let Kind::Veth { peer } = i.kind else {
                continue;
            };
            if !i.alive || peer < id {
                continue;
            }
            let what = format!(
                "veth pair {} ({}) — {} ({})",
                i.name,
                self.w.ns_name(i.ns),
                self.w.ifaces[peer].name,
                self.w.ns_name(self.w.ifaces[peer].ns)
            );
            let ends = [id, peer].map(|e| self.end_node(e));
            let [a, b] = match ends {
                [Ok(a), Ok(b)] => [a, b],
                [Err(why), _] | [_, Err(why)] => {
                    self.note(i.line, what, why.0, NoteKind::NotRepresented);
                    continue;
                }
            };
            if a == b && self.bridges.values().any(|x| *x == a) {
                self.note(
                    i.line,
                    what,
                    format!("both ends are ports of bridge {a}; vnet refuses such loops"),
                    NoteKind::NotRepresented,
                );
                continue;
            }
            if let Some(bad) = [id, peer]
                .iter()
                .find_map(|e| names::check_ifname(&self.w.ifaces[*e].name).err())
            {
                self.note(i.line, what, bad.to_string(), NoteKind::NotRepresented);
                continue;
            }
            let mut eps = [self.endpoint(id, a), self.endpoint(peer, b)];
            for e in [id, peer] {
                self.down_note(e);
            }
            // The namespace end first, as people write it.
            if self.bridges.values().any(|x| *x == eps[0].node)
                && !self.bridges.values().any(|x| *x == eps[1].node)
            {
                eps.swap(0, 1);
            }
            out.push(link_of(eps));
        }
        out
    }

    fn endpoint(&mut self, id: usize, node: String) -> Endpoint {
        let i = &self.w.ifaces[id];
        let on_bridge = self.bridges.values().any(|b| *b == node) && i.master.is_some();
        let mut ips = Vec::new();
        if on_bridge {
            for (a, line) in &i.addrs {
                self.note(
                    *line,
                    format!("address {a} on {}", i.name),
                    format!("{} is a port of bridge {node}; the kernel never uses an address there (put it on the bridge)", i.name),
                    NoteKind::NotRepresented,
                );
            }
        } else {
            ips = self.unique_addrs(id);
        }
        let i = &self.w.ifaces[id];
        Endpoint {
            node,
            interface: i.name.clone(),
            ips,
            mac: i.mac,
            mtu: i.mtu,
            conditions: i.conditions,
            places: Default::default(),
        }
    }

    /// Devices vnet does not make; those a command made were noted with it.
    fn others(&mut self) {
        for i in &self.w.ifaces {
            if let (true, 0, Kind::Other(kind)) = (i.alive, i.line, &i.kind) {
                self.notes.push(Note {
                    line: i.line,
                    command: format!("{kind} interface {} in {}", i.name, self.w.ns_name(i.ns)),
                    reason: "vnet makes veth pairs and bridges only".into(),
                    kind: NoteKind::NotRepresented,
                });
            }
        }
    }

    /// Routes and sysctls of the host are not the lab's to set.
    fn host_leftovers(&mut self) {
        let host = &self.w.namespaces[HOST_NS];
        for (r, line) in host.routes.clone() {
            self.note(
                line,
                format!("route {r} in the host namespace"),
                "a lab sets routes in its own namespaces only",
                NoteKind::NotRepresented,
            );
        }
        for (k, (v, line)) in host.sysctls.clone() {
            self.note(
                line,
                format!("sysctl {k}={v} in the host namespace"),
                "a lab changes no setting of the host",
                NoteKind::NotRepresented,
            );
        }
    }
}

/// A lab name from a file name: `seed-bridge.sh` → `seed-bridge`.
/// A link of two ends; conditions the same on both ends are written once,
/// on the link (as a person would).
fn link_of(mut ends: [Endpoint; 2]) -> Link {
    let mut conditions = crate::model::conditions::Conditions::default();
    if ends[0].conditions == ends[1].conditions {
        conditions = std::mem::take(&mut ends[0].conditions);
        ends[1].conditions = Default::default();
    }
    Link {
        ends,
        conditions,
        places: Default::default(),
    }
}

pub fn lab_name_from_path(path: &str) -> String {
    let file = std::path::Path::new(path)
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut stem = file.as_str();
    for ext in [
        ".yml", ".yaml", ".sh", ".bash", ".batch", ".ip", ".txt", ".clab",
    ] {
        if let Some(s) = stem.strip_suffix(ext) {
            stem = s;
        }
    }
    sanitize_lab_name(stem)
}

/// Any text → an acceptable lab name (a-z, 0-9, '-', at most 32).
pub fn sanitize_lab_name(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        let c = c.to_ascii_lowercase();
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            out.push(c);
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    let out: String = out
        .trim_matches('-')
        .chars()
        .take(names::LAB_NAME_MAX)
        .collect();
    let out = out.trim_end_matches('-').to_string();
    if out.is_empty() {
        "imported".to_string()
    } else {
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_from_paths() {
        assert_eq!(lab_name_from_path("/x/seed-bridge.sh"), "seed-bridge");
        assert_eq!(lab_name_from_path("My Lab.clab.yml"), "my-lab");
        assert_eq!(lab_name_from_path("___"), "imported");
        assert_eq!(sanitize_lab_name(&"a".repeat(40)).len(), 32);
    }
}
