//! The picture of a network, before it is drawn: namespaces (the host's
//! too) and bridges as nodes, each veth pair as one edge between the two
//! interfaces, a dotted edge from a namespace to each bridge living in it.
//! Built from a lab file or from the live kernel; the dot, mermaid and SVG
//! renderers all draw this one model.

use std::collections::{BTreeMap, BTreeSet};

use crate::model::lab::{HOST, Lab, NodeKind};
use crate::model::live::{LiveLink, LiveNs, OperState};

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Graph {
    pub title: String,
    pub nodes: Vec<GNode>,
    pub edges: Vec<Edge>,
    /// Lines shown under the picture (a lab's drift from its file).
    pub notes: Vec<String>,
    /// Drawn from the kernel: edges carry states.
    pub live: bool,
}

#[derive(Clone, Debug, PartialEq)]
pub struct GNode {
    /// Unique within the graph.
    pub id: String,
    pub label: String,
    pub kind: GKind,
    /// Extra lines: a bridge's addresses, a namespace's routes, its state.
    pub detail: Vec<String>,
    /// Interfaces that are not veth ends or bridges (lo excluded): shown, not joined.
    pub devices: Vec<Row>,
    pub drift: Drift,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GKind {
    Host,
    Netns {
        router: bool,
    },
    Bridge {
        home: String,
    },
    /// A veth's other end that could not be found.
    Unknown,
}

impl GKind {
    pub fn word(&self) -> String {
        match self {
            GKind::Host => "host namespace".into(),
            GKind::Netns { router: false } => "namespace".into(),
            GKind::Netns { router: true } => "router (forwarding)".into(),
            GKind::Bridge { home } if home == HOST => "bridge".into(),
            GKind::Bridge { home } => format!("bridge in {home}"),
            GKind::Unknown => "peer not found".into(),
        }
    }
}

/// An interface line inside a node.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    pub name: String,
    pub addrs: Vec<String>,
}

/// One end of an edge: the interface `iface` of node `node` (empty: the node itself).
#[derive(Clone, Debug, PartialEq)]
pub struct End {
    pub node: String,
    pub iface: String,
    pub addrs: Vec<String>,
    /// Link conditions on this end's egress, in words ("" when none).
    pub cond: String,
    /// The namespace the interface lives in, when read from the kernel
    /// (a bridge port's is the bridge's home, not the bridge's id).
    pub ns: String,
}

/// Conditions as an edge end shows them: nothing when there are none.
fn cond_words(c: &crate::model::conditions::Conditions) -> String {
    if c.is_empty() {
        String::new()
    } else {
        c.to_string()
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Edge {
    pub a: End,
    pub b: End,
    pub kind: EdgeKind,
    pub state: State,
    pub drift: Drift,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EdgeKind {
    /// A veth pair.
    Veth,
    /// A bridge living in a namespace (`a` is the namespace, `b` the bridge).
    Contains,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    /// From a file: no state.
    Declared,
    Up,
    Down,
    MissingPeer,
}

impl Edge {
    /// The edge's name in pictures and events: `NODE:IFACE--NODE:IFACE`.
    pub fn key(&self) -> String {
        format!(
            "{}:{}--{}:{}",
            self.a.node, self.a.iface, self.b.node, self.b.iface
        )
    }
}

impl State {
    /// The state as an attribute value: `up`, `down`, `peer-missing`, `declared`.
    pub fn attr(self) -> &'static str {
        match self {
            State::Declared => "declared",
            State::Up => "up",
            State::Down => "down",
            State::MissingPeer => "peer-missing",
        }
    }

    pub fn word(self) -> &'static str {
        match self {
            State::Declared => "",
            State::Up => "up",
            State::Down => "down",
            State::MissingPeer => "peer missing",
        }
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Drift {
    #[default]
    None,
    /// In the lab file, not in the kernel.
    NotInKernel,
    /// In the kernel, not in the lab file.
    NotInFile,
}

impl Drift {
    pub fn word(self) -> &'static str {
        match self {
            Drift::None => "",
            Drift::NotInKernel => "not in kernel",
            Drift::NotInFile => "not in file",
        }
    }
}

impl GNode {
    fn new(id: &str, kind: GKind) -> GNode {
        GNode {
            id: id.to_string(),
            label: id.to_string(),
            kind,
            detail: Vec::new(),
            devices: Vec::new(),
            drift: Drift::None,
        }
    }
}

impl Graph {
    pub fn node(&self, id: &str) -> Option<&GNode> {
        self.nodes.iter().find(|n| n.id == id)
    }

    /// The picture of a lab file.
    pub fn from_lab(lab: &Lab) -> Graph {
        let mut g = Graph {
            title: format!("vnet lab {}", lab.name),
            ..Graph::default()
        };
        for n in &lab.nodes {
            let mut node = match &n.kind {
                NodeKind::Netns(ns) => {
                    let mut node = GNode::new(&n.name, GKind::Netns { router: ns.forward });
                    node.detail = ns.routes.iter().map(|r| format!("route {r}")).collect();
                    // An external node: joined, not made by the lab.
                    if let Some(r) = &ns.external {
                        node.detail.insert(0, format!("external: {r}"));
                    }
                    node
                }
                NodeKind::Bridge(b) => {
                    let home = b.inside.clone().unwrap_or_else(|| HOST.to_string());
                    let mut node = GNode::new(&n.name, GKind::Bridge { home });
                    node.detail = b.ips.iter().map(ToString::to_string).collect();
                    node
                }
            };
            node.label = n.name.clone();
            g.nodes.push(node);
        }
        let uses_host = lab
            .links
            .iter()
            .any(|l| l.ends.iter().any(|e| e.node == HOST))
            || lab
                .bridges()
                .any(|(_, b)| b.inside.as_deref().unwrap_or(HOST) == HOST);
        if uses_host {
            g.nodes.push(GNode::new(HOST, GKind::Host));
        }
        for l in &lab.links {
            let [a, b] = &l.ends;
            let end = |e: &crate::model::lab::Endpoint, i: usize| End {
                node: e.node.clone(),
                iface: e.interface.clone(),
                addrs: e.ips.iter().map(ToString::to_string).collect(),
                cond: cond_words(&l.egress(i)),
                ns: String::new(),
            };
            g.edges.push(Edge {
                a: end(a, 0),
                b: end(b, 1),
                kind: EdgeKind::Veth,
                state: State::Declared,
                drift: Drift::None,
            });
        }
        for (name, b) in lab.bridges() {
            let home = b.inside.clone().unwrap_or_else(|| HOST.to_string());
            g.edges.push(contains(&home, name, State::Declared));
        }
        g
    }

    /// The picture of live namespaces (`all[0]` is the host). `peer` names
    /// a veth's other end as "namespace:interface", or says why it cannot.
    pub fn from_live(
        title: &str,
        all: &[&LiveNs],
        peer: &dyn Fn(&LiveLink, &LiveNs) -> Option<String>,
    ) -> Graph {
        let mut g = Graph {
            title: title.to_string(),
            live: true,
            ..Graph::default()
        };
        let ids = BridgeIds::new(all);
        for ns in all {
            let Some(node) = live_node(ns) else {
                continue;
            };
            g.nodes.push(node);
            g.add_live_bridges(ns, &ids);
        }
        let mut pairs = Pairs {
            all,
            peer,
            ids: &ids,
            bridge_ids: g
                .nodes
                .iter()
                .filter(|n| matches!(n.kind, GKind::Bridge { .. }))
                .map(|n| n.id.clone())
                .collect(),
            done: BTreeSet::new(),
            stubs: 0,
        };
        for ns in all {
            for l in &ns.links {
                pairs.add(&mut g, ns, l);
            }
        }
        g
    }

    /// The bridges in `ns`, each with its edge from `ns`.
    fn add_live_bridges(&mut self, ns: &LiveNs, ids: &BridgeIds) {
        for l in ns.links.iter().filter(|l| is_bridge(l)) {
            let id = ids.id(&ns.ns, &l.name);
            let mut b = GNode::new(
                &id,
                GKind::Bridge {
                    home: ns.ns.clone(),
                },
            );
            b.label = l.name.clone();
            b.detail = addrs(l);
            if !l.admin_up {
                b.detail.push("(down)".into());
            }
            self.nodes.push(b);
            self.edges
                .push(contains(&ns.ns, &id, link_state(l, Some(l))));
        }
    }

    /// Mark what differs from the lab file `file`: its nodes and pairs the
    /// kernel lacks are added as such, and the kernel's extra pairs marked.
    pub fn overlay_file(&mut self, file: &Graph) {
        for n in &file.nodes {
            // An external node is drawn as such, with what it holds.
            if let Some(x) = n.detail.iter().find(|d| d.starts_with("external: "))
                && let Some(live) = self.nodes.iter_mut().find(|m| m.id == n.id)
                && !live.detail.contains(x)
            {
                live.detail.insert(0, x.clone());
            }
            if self.node(&n.id).is_none() {
                let mut n = n.clone();
                n.drift = Drift::NotInKernel;
                self.nodes.push(n);
            }
        }
        let key = |e: &Edge| {
            let mut k = [
                (e.a.node.clone(), e.a.iface.clone()),
                (e.b.node.clone(), e.b.iface.clone()),
            ];
            k.sort();
            k
        };
        let file_keys: BTreeSet<_> = file
            .edges
            .iter()
            .filter(|e| e.kind == EdgeKind::Veth)
            .map(key)
            .collect();
        let live_keys: BTreeSet<_> = self
            .edges
            .iter()
            .filter(|e| e.kind == EdgeKind::Veth)
            .map(key)
            .collect();
        for e in self.edges.iter_mut().filter(|e| e.kind == EdgeKind::Veth) {
            if !file_keys.contains(&key(e)) && e.state != State::MissingPeer {
                e.drift = Drift::NotInFile;
            }
        }
        for e in file.edges.iter().filter(|e| e.kind == EdgeKind::Veth) {
            if !live_keys.contains(&key(e)) {
                let mut e = e.clone();
                e.drift = Drift::NotInKernel;
                self.edges.push(e);
            }
        }
    }

    /// A live lab's picture against its file `lab`: what differs marked,
    /// and `drift` (the commands that would undo it) listed under it.
    pub fn mark_drift(&mut self, lab: Option<&Lab>, drift: Option<&[String]>) {
        if let Some(lab) = lab {
            self.overlay_file(&Graph::from_lab(lab));
        }
        self.notes = match drift {
            None => vec![
                "drift: unknown (no lab file recorded; pass the file: vnet graph --live LAB.yaml)"
                    .into(),
            ],
            Some([]) => vec!["drift: none — the kernel matches the lab file".into()],
            Some(d) => std::iter::once(format!(
                "drift: {} change(s) would bring it back (vnet up):",
                d.len()
            ))
            .chain(d.iter().map(|l| format!("  {l}")))
            .collect(),
        };
    }

    /// Every interface row a node shows: its edge ends, then its devices.
    pub fn rows(&self, id: &str) -> Vec<Row> {
        let mut rows: Vec<Row> = Vec::new();
        for e in &self.edges {
            for end in [&e.a, &e.b] {
                if end.node == id
                    && !end.iface.is_empty()
                    && !rows.iter().any(|r| r.name == end.iface)
                {
                    let name = if e.kind == EdgeKind::Contains {
                        format!("{} (bridge)", end.iface)
                    } else {
                        end.iface.clone()
                    };
                    rows.push(Row {
                        name,
                        addrs: end.addrs.clone(),
                    });
                }
            }
        }
        if let Some(n) = self.node(id) {
            rows.extend(n.devices.iter().cloned());
        }
        rows
    }
}

/// A live namespace as a node, with its routes; None for a host that has
/// only its loopback.
fn live_node(ns: &LiveNs) -> Option<GNode> {
    let kind = if ns.ns == HOST {
        GKind::Host
    } else {
        GKind::Netns {
            router: ns
                .sysctls
                .get("net.ipv4.ip_forward")
                .is_some_and(|v| v == "1"),
        }
    };
    if kind == GKind::Host && ns.links.iter().all(|l| l.name == "lo") {
        return None;
    }
    let mut node = GNode::new(&ns.ns, kind);
    for r in ns.routes.iter().filter(|r| r.is_user_route()) {
        let mut text = if r.dst.prefix_len() == 0 {
            "default".to_string()
        } else {
            r.dst.to_string()
        };
        if let Some(v) = r.via {
            text.push_str(&format!(" via {v}"));
        }
        if r.via.is_none()
            && let Some(d) = r.dev.and_then(|d| ns.name_of(d))
        {
            text.push_str(&format!(" dev {d}"));
        }
        node.detail.push(format!("route {text}"));
    }
    Some(node)
}

/// Bridge ids: the name, or name@namespace when two namespaces share it
/// (or it is a namespace's name, or the host's).
struct BridgeIds<'a> {
    /// How many namespaces have a bridge of each name.
    seen: BTreeMap<String, usize>,
    ns_names: BTreeSet<&'a str>,
}

impl<'a> BridgeIds<'a> {
    fn new(all: &[&'a LiveNs]) -> BridgeIds<'a> {
        let mut seen: BTreeMap<String, usize> = BTreeMap::new();
        for ns in all {
            for l in ns.links.iter().filter(|l| is_bridge(l)) {
                *seen.entry(l.name.clone()).or_default() += 1;
            }
        }
        BridgeIds {
            seen,
            ns_names: all.iter().map(|n| n.ns.as_str()).collect(),
        }
    }

    fn id(&self, ns: &str, name: &str) -> String {
        if self.seen.get(name).copied().unwrap_or(0) > 1
            || self.ns_names.contains(name)
            || name == HOST
        {
            format!("{name}@{ns}")
        } else {
            name.to_string()
        }
    }

    /// The node interface `l` of `ns` hangs on: its bridge, or its namespace.
    fn owner(&self, ns: &LiveNs, l: &LiveLink) -> String {
        l.master
            .and_then(|m| ns.link_by_index(m))
            .filter(|m| is_bridge(m))
            .map(|m| self.id(&ns.ns, &m.name))
            .unwrap_or_else(|| ns.ns.clone())
    }
}

/// Turning live interfaces into edges (veth pairs, each once) and device rows.
struct Pairs<'a> {
    all: &'a [&'a LiveNs],
    peer: &'a dyn Fn(&LiveLink, &LiveNs) -> Option<String>,
    ids: &'a BridgeIds<'a>,
    bridge_ids: BTreeSet<String>,
    /// (namespace, interface) already drawn as a pair end.
    done: BTreeSet<(String, String)>,
    /// Peers not found so far, each drawn as a stub node.
    stubs: usize,
}

impl<'a> Pairs<'a> {
    fn add(&mut self, g: &mut Graph, ns: &LiveNs, l: &LiveLink) {
        if l.name == "lo" || is_bridge(l) {
            return;
        }
        let owner = self.ids.owner(ns, l);
        if l.kind.as_deref() != Some("veth") {
            if let Some(n) = g.nodes.iter_mut().find(|n| n.id == owner) {
                let mut name = l.name.clone();
                if let Some(k) = &l.kind {
                    name.push_str(&format!(" ({k})"));
                }
                n.devices.push(Row {
                    name,
                    addrs: addrs(l),
                });
            }
            return;
        }
        let me = (ns.ns.clone(), l.name.clone());
        if self.done.contains(&me) {
            return;
        }
        self.done.insert(me);
        let a = End {
            node: owner,
            iface: l.name.clone(),
            addrs: addrs(l),
            cond: cond_words(&l.conditions),
            ns: ns.ns.clone(),
        };
        match self.find_peer(ns, l) {
            Some((other, pl)) => {
                self.done.insert((other.ns.clone(), pl.name.clone()));
                let b = End {
                    node: self.ids.owner(other, pl),
                    iface: pl.name.clone(),
                    addrs: addrs(pl),
                    cond: cond_words(&pl.conditions),
                    ns: other.ns.clone(),
                };
                // The namespace end first, as a lab file writes it.
                let a_on_bridge = self.bridge_ids.contains(&a.node);
                let (a, b) = if a_on_bridge && !self.bridge_ids.contains(&b.node) {
                    (b, a)
                } else {
                    (a, b)
                };
                g.edges.push(Edge {
                    a,
                    b,
                    kind: EdgeKind::Veth,
                    state: link_state(l, Some(pl)),
                    drift: Drift::None,
                });
            }
            None => self.add_stub(g, a, ns, l),
        }
    }

    /// The other end of veth `l` of `ns`, when it is among the namespaces.
    fn find_peer(&self, ns: &LiveNs, l: &LiveLink) -> Option<(&'a LiveNs, &'a LiveLink)> {
        let p = (self.peer)(l, ns)?;
        let (pns, pname) = p.split_once(':')?;
        let other: &'a LiveNs = self.all.iter().find(|x| x.ns == pns)?;
        let pl = other.link(pname)?;
        Some((other, pl))
    }

    /// A veth whose peer is not found: an edge to a "?" node saying why.
    fn add_stub(&mut self, g: &mut Graph, a: End, ns: &LiveNs, l: &LiveLink) {
        self.stubs += 1;
        let id = format!("?{}", self.stubs);
        let mut stub = GNode::new(&id, GKind::Unknown);
        stub.label = "?".into();
        stub.detail = vec![(self.peer)(l, ns).unwrap_or_else(|| "no peer".into())];
        g.nodes.push(stub);
        g.edges.push(Edge {
            a,
            b: End {
                node: id,
                iface: String::new(),
                addrs: Vec::new(),
                cond: String::new(),
                ns: String::new(),
            },
            kind: EdgeKind::Veth,
            state: State::MissingPeer,
            drift: Drift::None,
        });
    }
}

fn contains(home: &str, bridge: &str, state: State) -> Edge {
    Edge {
        a: End {
            node: home.to_string(),
            iface: bridge.to_string(),
            addrs: Vec::new(),
            cond: String::new(),
            ns: String::new(),
        },
        b: End {
            node: bridge.to_string(),
            iface: String::new(),
            addrs: Vec::new(),
            cond: String::new(),
            ns: String::new(),
        },
        kind: EdgeKind::Contains,
        state,
        drift: Drift::None,
    }
}

fn is_bridge(l: &LiveLink) -> bool {
    l.kind.as_deref() == Some("bridge")
}

fn addrs(l: &LiveLink) -> Vec<String> {
    l.addrs
        .iter()
        .filter(|a| !a.is_kernel_made())
        .map(|a| a.net.to_string())
        .collect()
}

/// Up when both ends are up and have carrier.
fn link_state(a: &LiveLink, b: Option<&LiveLink>) -> State {
    let up = |l: &LiveLink| l.admin_up && (l.oper == OperState::Up || l.lower_up);
    match b {
        Some(b) if up(a) && up(b) => State::Up,
        Some(_) => State::Down,
        None => State::MissingPeer,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::parse_lab;

    #[test]
    fn each_end_shows_the_conditions_on_its_egress() {
        let lab = parse_lab(
            "t.yaml",
            "name: t\nnodes: {a: {}, b: {}}\nlinks:\n  - endpoints: [{node: a, interface: e0, conditions: {loss: 5%}}, \"b:e0\"]\n    conditions: { rate: 1mbit }\n",
        )
        .unwrap();
        let g = Graph::from_lab(&lab);
        assert_eq!(g.edges[0].a.cond, "loss 5% rate 1mbit");
        assert_eq!(g.edges[0].b.cond, "rate 1mbit");
    }

    #[test]
    fn seed_bridge_is_three_boxes_two_pairs_and_a_home() {
        let lab = parse_lab(
            "t.yaml",
            "name: t\nnodes:\n  ns1: {}\n  ns2: {}\n  br0: { kind: bridge }\nlinks:\n  - endpoints: [{node: ns1, interface: veth0, ip: 10.0.0.1/24}, \"br0:p0\"]\n  - endpoints: [\"ns2:veth1\", \"br0:p1\"]\n",
        )
        .unwrap();
        let g = Graph::from_lab(&lab);
        let ids: Vec<&str> = g.nodes.iter().map(|n| n.id.as_str()).collect();
        assert_eq!(ids, ["ns1", "ns2", "br0", "host"]);
        assert_eq!(g.edges.len(), 3);
        assert_eq!(g.edges[0].a.addrs, ["10.0.0.1/24"]);
        assert_eq!(g.edges[2].kind, EdgeKind::Contains);
        let br_rows: Vec<String> = g.rows("br0").into_iter().map(|r| r.name).collect();
        assert_eq!(br_rows, ["p0", "p1"]);
        assert_eq!(g.rows("host")[0].name, "br0 (bridge)");
    }

    fn link(index: u32, name: &str, kind: &str, up: bool) -> LiveLink {
        LiveLink {
            index,
            name: name.into(),
            kind: Some(kind.into()).filter(|k: &String| !k.is_empty()),
            admin_up: up,
            lower_up: up,
            oper: if up { OperState::Up } else { OperState::Down },
            ..LiveLink::default()
        }
    }

    #[test]
    fn live_edges_carry_state_and_missing_peers_become_stubs() {
        let mut host = LiveNs {
            ns: HOST.into(),
            ..LiveNs::default()
        };
        host.links.push(link(1, "lo", "", true));
        host.links.push(link(2, "br0", "bridge", true));
        let mut port = link(3, "p0", "veth", true);
        port.master = Some(2);
        host.links.push(port);
        host.links.push(link(4, "lonely", "veth", false));
        let mut ns1 = LiveNs {
            ns: "ns1".into(),
            ..LiveNs::default()
        };
        ns1.links.push(link(2, "veth0", "veth", true));
        ns1.sysctls.insert("net.ipv4.ip_forward".into(), "1".into());
        let peer = |l: &LiveLink, ns: &LiveNs| match (ns.ns.as_str(), l.name.as_str()) {
            ("host", "p0") => Some("ns1:veth0".to_string()),
            ("ns1", "veth0") => Some("host:p0".to_string()),
            _ => Some("ifindex 9 in another namespace".to_string()),
        };
        let g = Graph::from_live("t", &[&host, &ns1], &peer);
        let veth: Vec<&Edge> = g
            .edges
            .iter()
            .filter(|e| e.kind == EdgeKind::Veth)
            .collect();
        assert_eq!(veth.len(), 2, "{:?}", g.edges);
        assert_eq!(
            (veth[0].a.node.as_str(), veth[0].b.node.as_str()),
            ("ns1", "br0")
        );
        assert_eq!(veth[0].state, State::Up);
        assert_eq!(veth[1].state, State::MissingPeer);
        assert_eq!(g.node("ns1").unwrap().kind, GKind::Netns { router: true });
        assert!(g.node("?1").is_some());
        // Against a file that has another pair: the kernel's extra is marked, the missing added.
        let lab = crate::model::parse_lab(
            "t.yaml",
            "name: t\nnodes:\n  ns1: {}\n  br0: { kind: bridge }\nlinks:\n  - endpoints: [\"ns1:x\", \"br0:y\"]\n",
        )
        .unwrap();
        let mut g = g;
        g.overlay_file(&Graph::from_lab(&lab));
        assert!(
            g.edges
                .iter()
                .any(|e| e.drift == Drift::NotInKernel && e.a.iface == "x")
        );
        assert!(
            g.edges
                .iter()
                .any(|e| e.drift == Drift::NotInFile && e.a.iface == "veth0")
        );
    }
}
