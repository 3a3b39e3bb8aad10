//! Containerlab topologies (`*.clab.yml`), the part that maps onto plain
//! namespaces: `linux` nodes (the image is ignored), `bridge` nodes, links
//! between `node:interface` endpoints (`host:ifname` is the host), and the
//! nodes' `exec` lines that are `ip`/`sysctl` commands.

use std::fmt;

use serde::Deserialize;
use serde::de::{self, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_saphyr::Spanned;

use super::shell::Shell;
use super::world::{HOST_NS, Line, NewIface, World};
use super::{Note, NoteKind};

type S<T> = Spanned<T>;

fn line_of<T>(s: &S<T>) -> Line {
    s.referenced.line() as Line
}

#[derive(Debug, Default)]
struct File {
    name: Option<S<String>>,
    nodes: Vec<(S<String>, ClabNode)>,
    links: Vec<S<ClabLink>>,
    default_kind: Option<S<String>>,
    has_topology: bool,
}

#[derive(Debug, Default)]
struct ClabNode {
    kind: Option<S<String>>,
    image: Option<S<String>>,
    exec: Vec<S<String>>,
    /// Keys vnet does not use, with their lines.
    ignored: Vec<(String, Line)>,
}

#[derive(Debug, Default)]
struct ClabLink {
    ty: Option<String>,
    endpoints: Vec<S<ClabEnd>>,
    /// `type: host` links: the one container end and the host's interface name.
    endpoint: Option<S<ClabEnd>>,
    host_interface: Option<String>,
    mtu: Option<u32>,
}

#[derive(Debug, Default)]
struct ClabEnd {
    node: String,
    interface: String,
    mac: Option<String>,
}

/// Import a containerlab file into the simulated kernel. A file that is not
/// YAML, or not a topology, is an error naming the line.
pub fn load(
    path: &str,
    text: &str,
    w: &mut World,
    notes: &mut Vec<Note>,
) -> Result<Option<String>, super::Error> {
    let mut file: File =
        serde_saphyr::from_str(text).map_err(|e| super::Error::Clab(yaml_error(path, &e)))?;
    restore_names(&mut file, text);
    if !file.has_topology {
        return Err(super::Error::Clab(format!(
            "{path}:1:1: no `topology:` here; a containerlab file has `topology: {{ nodes: …, links: … }}`"
        )));
    }
    let mut places = Places(Vec::new());
    for (name, node) in &file.nodes {
        if let Some(i) = switch_bridge(name, node) {
            // A switch node (as `vnet export --format clab` writes a vnet
            // bridge): the bridge itself, in the host.
            let add = &node.exec[i];
            Shell::new(w, notes).script(&add.value, line_of(add), HOST_NS);
            if let Some(id) = w.find(HOST_NS, &name.value) {
                places.0.push((name.value.clone(), Place::Bridge(id)));
                continue;
            }
        }
        if let Some(p) = add_node(name, node, file.default_kind.as_ref(), w, notes) {
            places.0.push((name.value.clone(), p));
        }
    }
    for link in &file.links {
        add_link(link, &places, w, notes);
    }
    // Containerlab runs `exec` inside each node once its links are up.
    for (name, node) in &file.nodes {
        let ns = match places.get(&name.value) {
            Some(Place::Ns(ns)) => *ns,
            // A switch node's other lines (up, addresses, ports) act on
            // the bridge and its ports, in the host.
            Some(Place::Bridge(_)) => HOST_NS,
            None => continue,
        };
        let made = switch_bridge(name, node);
        for (i, cmd) in node.exec.iter().enumerate() {
            if made == Some(i) {
                continue;
            }
            Shell::new(w, notes).script(&cmd.value, line_of(cmd), ns);
        }
    }
    Ok(file.name.map(|n| n.value))
}

/// Names `vnet export --format clab` changed for Kubernetes, back to the
/// lab's (from its `# vnet-name: CLAB ORIGINAL` comments).
fn restore_names(file: &mut File, text: &str) {
    let mark = crate::render::clab::RENAME_MARK;
    let map: Vec<(String, String)> = text
        .lines()
        .filter_map(|l| l.trim().strip_prefix(mark))
        .filter_map(|rest| {
            let mut w = rest.split_whitespace();
            Some((w.next()?.to_string(), w.next()?.to_string()))
        })
        .collect();
    if map.is_empty() {
        return;
    }
    let back = |n: &str| map.iter().find(|(c, _)| c == n).map(|(_, o)| o.clone());
    for (name, _) in file.nodes.iter_mut() {
        if let Some(o) = back(&name.value) {
            name.value = o;
        }
    }
    for link in file.links.iter_mut() {
        for e in link
            .value
            .endpoints
            .iter_mut()
            .chain(link.value.endpoint.as_mut())
        {
            if let Some(o) = back(&e.value.node) {
                e.value.node = o;
            }
        }
    }
}

/// The `ip link add NAME type bridge …` line of a `linux` node named NAME:
/// such a node is a switch, and becomes a vnet bridge.
fn switch_bridge(name: &S<String>, node: &ClabNode) -> Option<usize> {
    if node.kind.as_ref().is_some_and(|k| k.value != "linux") {
        return None;
    }
    node.exec.iter().position(|c| {
        let w: Vec<&str> = c.value.split_whitespace().collect();
        w.len() >= 6
            && w[..3] == ["ip", "link", "add"]
            && w[3] == name.value
            && w.windows(2).any(|p| p == ["type", "bridge"])
    })
}

fn note(notes: &mut Vec<Note>, line: Line, command: String, reason: String, kind: NoteKind) {
    notes.push(Note {
        line,
        command,
        reason,
        kind,
    })
}

/// What a node became: a namespace (linux) or a bridge interface in the host.
enum Place {
    Ns(usize),
    Bridge(usize),
}

/// Node name → its place.
struct Places(Vec<(String, Place)>);

impl Places {
    fn get(&self, node: &str) -> Option<&Place> {
        self.0.iter().find(|(n, _)| n == node).map(|(_, p)| p)
    }
}

/// A `linux` node as a namespace, a `bridge` node as a bridge in the host;
/// other kinds, and what vnet ignores, become notes.
fn add_node(
    name: &S<String>,
    node: &ClabNode,
    default_kind: Option<&S<String>>,
    w: &mut World,
    notes: &mut Vec<Note>,
) -> Option<Place> {
    let line = line_of(name);
    let kind = node
        .kind
        .as_ref()
        .or(default_kind)
        .map(|k| k.value.as_str())
        .unwrap_or("");
    for (k, l) in &node.ignored {
        note(
            notes,
            *l,
            format!("{}: {k}", name.value),
            "ignored: a vnet node is a plain namespace".into(),
            NoteKind::NotRepresented,
        );
    }
    let failed = |notes: &mut Vec<Note>, m: String| {
        note(
            notes,
            line,
            format!("node {}", name.value),
            m,
            NoteKind::WouldFail,
        )
    };
    match kind {
        "linux" => {
            if let Some(img) = &node.image {
                note(
                    notes,
                    line_of(img),
                    format!("{}: image {}", name.value, img.value),
                    "image ignored: vnet runs no containers; the node is a plain namespace".into(),
                    NoteKind::NotRepresented,
                );
            }
            match w.ns_add(&name.value, line) {
                Ok(ns) => return Some(Place::Ns(ns)),
                Err(m) => failed(notes, m.0),
            }
        }
        "bridge" => {
            let new = NewIface {
                name: name.value.clone(),
                ..NewIface::default()
            };
            match w.add_bridge(HOST_NS, &new, false, false, line) {
                Ok(id) => {
                    w.set_up(id, true);
                    return Some(Place::Bridge(id));
                }
                Err(m) => failed(notes, m.0),
            }
        }
        "" => note(
            notes,
            line,
            format!("node {}", name.value),
            "has no kind (and there is no `defaults: {{ kind: … }}`)".into(),
            NoteKind::NotRepresented,
        ),
        other => note(
            notes,
            line,
            format!("node {} (kind {other})", name.value),
            "vnet represents `linux` nodes (as namespaces) and `bridge` nodes only".into(),
            NoteKind::NotRepresented,
        ),
    }
    None
}

/// A veth link as a pair between its two ends (a bridge end becomes a
/// port of that bridge); what is not a veth pair becomes a note.
fn add_link(link: &S<ClabLink>, places: &Places, w: &mut World, notes: &mut Vec<Note>) {
    let line = line_of(link);
    let l = &link.value;
    let ends = link_ends(l);
    let what = format!(
        "link {}",
        ends.iter()
            .map(|e| format!("{}:{}", e.node, e.interface))
            .collect::<Vec<_>>()
            .join(" — ")
    );
    if let Some(t) = l.ty.as_deref().filter(|t| !matches!(*t, "veth" | "host")) {
        note(
            notes,
            line,
            what,
            format!("`type: {t}` links are not veth pairs"),
            NoteKind::NotRepresented,
        );
        return;
    }
    if ends.len() != 2 {
        note(
            notes,
            line,
            what,
            format!("a link has two endpoints; this one has {}", ends.len()),
            NoteKind::NotRepresented,
        );
        return;
    }
    let (news, master) = match new_ifaces(&ends, places, l.mtu) {
        Ok(x) => x,
        Err(why) => {
            note(notes, line, what, why.0, NoteKind::NotRepresented);
            return;
        }
    };
    match w.add_veth(HOST_NS, &news[0], &news[1], line) {
        Ok(a) => {
            let b = w.peer(a).unwrap_or(a);
            for (id, m) in [(a, master[0]), (b, master[1])] {
                if let Some(m) = m
                    && let Err(e) = w.set_master(id, Some(m))
                {
                    note(notes, line, what.clone(), e.0, NoteKind::WouldFail);
                }
                w.set_up(id, true);
            }
        }
        Err(m) => note(notes, line, what, m.0, NoteKind::WouldFail),
    }
}

/// A link's ends; a `type: host` link's are its one endpoint and the
/// host's interface.
fn link_ends(l: &ClabLink) -> Vec<ClabEnd> {
    if l.ty.as_deref() == Some("host")
        && let (Some(e), Some(h)) = (&l.endpoint, &l.host_interface)
    {
        return vec![
            e.value.clone_end(),
            ClabEnd {
                node: "host".into(),
                interface: h.clone(),
                mac: None,
            },
        ];
    }
    l.endpoints.iter().map(|e| e.value.clone_end()).collect()
}

/// Each end as a new veth end in its namespace, and the bridge it is to be
/// a port of; or why the link cannot be made (the last end's reason).
fn new_ifaces(
    ends: &[ClabEnd],
    places: &Places,
    mtu: Option<u32>,
) -> Result<(Vec<NewIface>, Vec<Option<usize>>), super::world::Refused> {
    let mut news = Vec::new();
    let mut master = Vec::new();
    let mut bad = None;
    for e in ends {
        let mac = match e.mac.as_deref().map(str::parse) {
            Some(Ok(m)) => Some(m),
            Some(Err(m)) => {
                bad = Some(format!("bad MAC on {}: {m}", e.interface));
                None
            }
            None => None,
        };
        let (ns, br) = match (e.node.as_str(), places.get(&e.node)) {
            ("host", _) => (HOST_NS, None),
            (_, Some(Place::Ns(ns))) => (*ns, None),
            (_, Some(Place::Bridge(b))) => (HOST_NS, Some(*b)),
            (n, None) => {
                bad = Some(format!("`{n}` is not a node vnet represents"));
                (HOST_NS, None)
            }
        };
        news.push(NewIface {
            name: e.interface.clone(),
            mtu,
            mac,
            ns: Some(ns),
        });
        master.push(br);
    }
    match bad {
        Some(why) => Err(super::world::Refused(why)),
        None => Ok((news, master)),
    }
}

impl ClabEnd {
    fn clone_end(&self) -> ClabEnd {
        ClabEnd {
            node: self.node.clone(),
            interface: self.interface.clone(),
            mac: self.mac.clone(),
        }
    }
}

fn yaml_error(path: &str, e: &serde_saphyr::Error) -> String {
    let inner = e.without_snippet();
    let mut message = inner.to_string();
    if let Some(cut) = message.find(" at line ") {
        message.truncate(cut);
    }
    match inner.location() {
        Some(loc) => format!("{path}:{}:{}: {message}", loc.line(), loc.column()),
        None => format!("{path}: {message}"),
    }
}

// The shapes are read by hand so that unknown keys are listed (and
// reported) instead of refused: containerlab files carry many settings
// that have no meaning for namespaces.

impl<'de> Deserialize<'de> for File {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = File;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a containerlab topology: name, topology")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<File, A::Error> {
                let mut file = File::default();
                while let Some(key) = map.next_key::<String>()? {
                    match key.as_str() {
                        "name" => file.name = Some(map.next_value()?),
                        "topology" => {
                            let t: Topology = map.next_value()?;
                            file.has_topology = true;
                            file.nodes = t.nodes;
                            file.links = t.links;
                            file.default_kind = t.default_kind;
                        }
                        _ => {
                            map.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                Ok(file)
            }
        }
        d.deserialize_map(V)
    }
}

#[derive(Default)]
struct Topology {
    nodes: Vec<(S<String>, ClabNode)>,
    links: Vec<S<ClabLink>>,
    default_kind: Option<S<String>>,
}

impl<'de> Deserialize<'de> for Topology {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Topology;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a map with nodes and links")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Topology, A::Error> {
                let mut t = Topology::default();
                while let Some(key) = map.next_key::<String>()? {
                    match key.as_str() {
                        "nodes" => {
                            t.nodes = map
                                .next_value::<Option<NodeMap>>()?
                                .map(|n| n.0)
                                .unwrap_or_default()
                        }
                        "links" => {
                            t.links = map
                                .next_value::<Option<Vec<S<ClabLink>>>>()?
                                .unwrap_or_default()
                        }
                        "defaults" => {
                            let n: Option<ClabNode> = map.next_value()?;
                            t.default_kind = n.and_then(|n| n.kind);
                        }
                        _ => {
                            map.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                Ok(t)
            }
        }
        d.deserialize_map(V)
    }
}

struct NodeMap(Vec<(S<String>, ClabNode)>);

impl<'de> Deserialize<'de> for NodeMap {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = NodeMap;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a map of node names to nodes")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<NodeMap, A::Error> {
                let mut out = Vec::new();
                while let Some(key) = map.next_key::<S<String>>()? {
                    let node: Option<ClabNode> = map.next_value()?;
                    out.push((key, node.unwrap_or_default()));
                }
                Ok(NodeMap(out))
            }
        }
        d.deserialize_map(V)
    }
}

impl<'de> Deserialize<'de> for ClabNode {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = ClabNode;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a node: kind, image, exec, …")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<ClabNode, A::Error> {
                let mut n = ClabNode::default();
                while let Some(key) = map.next_key::<S<String>>()? {
                    match key.value.as_str() {
                        "kind" => n.kind = Some(map.next_value()?),
                        "image" => n.image = Some(map.next_value()?),
                        "exec" => {
                            n.exec = map
                                .next_value::<Option<Vec<S<String>>>>()?
                                .unwrap_or_default()
                        }
                        // Labels and groups describe, they do not build.
                        "labels" | "group" => {
                            map.next_value::<IgnoredAny>()?;
                        }
                        _ => {
                            map.next_value::<IgnoredAny>()?;
                            n.ignored.push((key.value.clone(), line_of(&key)));
                        }
                    }
                }
                Ok(n)
            }
        }
        d.deserialize_map(V)
    }
}

impl<'de> Deserialize<'de> for ClabLink {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = ClabLink;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a link: endpoints: [\"node:iface\", \"node:iface\"]")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<ClabLink, A::Error> {
                let mut l = ClabLink::default();
                while let Some(key) = map.next_key::<String>()? {
                    match key.as_str() {
                        "endpoints" => l.endpoints = map.next_value()?,
                        "endpoint" => l.endpoint = Some(map.next_value()?),
                        "type" => l.ty = Some(map.next_value()?),
                        "host-interface" => l.host_interface = Some(map.next_value()?),
                        "mtu" => l.mtu = Some(map.next_value()?),
                        _ => {
                            map.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                Ok(l)
            }
        }
        d.deserialize_map(V)
    }
}

impl<'de> Deserialize<'de> for ClabEnd {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = ClabEnd;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("\"node:interface\" or { node, interface }")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<ClabEnd, E> {
                match v.split_once(':') {
                    Some((n, i)) => Ok(ClabEnd {
                        node: n.to_string(),
                        interface: i.to_string(),
                        mac: None,
                    }),
                    None => Err(E::custom(format!(
                        "`{v}` is not of the form node:interface"
                    ))),
                }
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<ClabEnd, A::Error> {
                let mut e = ClabEnd::default();
                while let Some(key) = map.next_key::<String>()? {
                    match key.as_str() {
                        "node" => e.node = map.next_value()?,
                        "interface" => e.interface = map.next_value()?,
                        "mac" => e.mac = Some(map.next_value()?),
                        _ => {
                            map.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                Ok(e)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, _: A) -> Result<ClabEnd, A::Error> {
                Err(de::Error::custom(
                    "an endpoint is \"node:interface\" or { node, interface }",
                ))
            }
        }
        d.deserialize_any(V)
    }
}
