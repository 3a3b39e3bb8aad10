//! What the page shows, read from the kernel: the picture (`vnet graph
//! --live`'s, drawn by the one SVG renderer), each veth pair's state, where
//! each kernel interface sits on the picture, and the nodes a matrix pings.
//! Two reads are compared to say what changed: a link's state alone, or
//! the drawing itself (a new interface, an address, drift).

use std::collections::BTreeMap;

use serde::Serialize;

use crate::engine::live;
use crate::model::Lab;
use crate::model::lab::HOST;
use crate::probe::target::natural_cmp;
use crate::render::graph::{EdgeKind, Graph, State};
use crate::render::svg;

/// What `vnet serve` shows: every namespace, or one lab.
#[derive(Clone, Debug)]
pub enum Target {
    Machine,
    Lab { name: String, file: Option<Lab> },
}

/// Where a kernel interface is drawn: the graph node (a bridge port sits on
/// its bridge) and the veth pair it is an end of.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Place {
    pub node: String,
    pub iface: String,
    pub link: Option<String>,
}

#[derive(Clone, Debug)]
pub struct Snapshot {
    pub graph: Graph,
    pub svg: String,
    /// Veth pairs by `data-link` key, with their `data-state`.
    pub links: BTreeMap<String, &'static str>,
    /// `NS:IFACE` (the kernel's names) → where it is drawn.
    pub places: BTreeMap<String, Place>,
    /// The namespaces a matrix pings, in the lab file's order.
    pub nodes: Vec<String>,
    pub title: String,
}

impl Snapshot {
    /// Whether the drawing differs, not only the links' states.
    pub fn same_drawing(&self, other: &Snapshot) -> bool {
        shape(&self.graph) == shape(&other.graph)
    }

    /// Links whose state changed from `before`.
    pub fn changed_links(&self, before: &Snapshot) -> Vec<(String, &'static str)> {
        self.links
            .iter()
            .filter(|(k, v)| before.links.get(*k) != Some(v))
            .map(|(k, v)| (k.clone(), *v))
            .collect()
    }
}

/// The graph with every state forgotten: its drawing apart from colours.
fn shape(g: &Graph) -> Graph {
    let mut g = g.clone();
    for e in g.edges.iter_mut() {
        e.state = State::Declared;
    }
    g
}

/// Read the kernel (blocking: run it off the server's thread).
pub fn read(target: &Target) -> Result<Snapshot, String> {
    let (graph, nodes) = match target {
        Target::Machine => {
            let v = live::machine(&[]).map_err(|e| e.to_string())?;
            let g = Graph::from_live(
                "vnet: every namespace on this machine (live)",
                &v.namespaces(),
                &|l, ns| v.peer(l, ns),
            );
            let mut nodes: Vec<String> = v.named.iter().map(|n| n.ns.clone()).collect();
            nodes.sort_by(|a, b| natural_cmp(a, b));
            (g, nodes)
        }
        Target::Lab { name, file } => {
            let v = live::lab(name, file.clone()).map_err(|e| e.to_string())?;
            let mut g = Graph::from_live(
                &format!("vnet lab {name} (live)"),
                &v.namespaces(),
                &|l, ns| v.peer(l, ns),
            );
            g.mark_drift(v.lab.as_ref(), v.drift.as_deref());
            let order: Vec<&str> = v
                .lab
                .as_ref()
                .map(|l| l.netns_nodes().map(|(n, _)| n).collect())
                .unwrap_or_default();
            let mut nodes: Vec<String> = v.named.iter().map(|n| n.ns.clone()).collect();
            nodes.sort_by(|a, b| {
                let pos = |n: &str| order.iter().position(|o| *o == n).unwrap_or(usize::MAX);
                pos(a).cmp(&pos(b)).then_with(|| natural_cmp(a, b))
            });
            (g, nodes)
        }
    };
    Ok(snapshot(graph, nodes))
}

/// A snapshot of a graph already built (pure).
pub fn snapshot(graph: Graph, nodes: Vec<String>) -> Snapshot {
    let mut links = BTreeMap::new();
    let mut places = BTreeMap::new();
    for e in graph.edges.iter().filter(|e| e.kind == EdgeKind::Veth) {
        let key = e.key();
        links.insert(key.clone(), e.state.attr());
        for end in [&e.a, &e.b] {
            if end.ns.is_empty() || end.iface.is_empty() {
                continue;
            }
            places.insert(
                format!("{}:{}", end.ns, end.iface),
                Place {
                    node: end.node.clone(),
                    iface: end.iface.clone(),
                    link: Some(key.clone()),
                },
            );
        }
    }
    // A namespace's own interfaces that are no veth end (a bridge, a
    // device) sit on the namespace's node.
    for n in &graph.nodes {
        for r in graph.rows(&n.id) {
            let iface = r.name.split(" (").next().unwrap_or(&r.name).to_string();
            let ns = if n.id == HOST { HOST } else { &n.id };
            places
                .entry(format!("{ns}:{iface}"))
                .or_insert_with(|| Place {
                    node: n.id.clone(),
                    iface: r.name.clone(),
                    link: None,
                });
        }
    }
    let svg = svg::render(&graph);
    Snapshot {
        title: graph.title.clone(),
        graph,
        svg,
        links,
        places,
        nodes,
    }
}
