//! Mermaid flowchart text: renders in GitHub READMEs and many wikis.

use std::collections::BTreeMap;
use std::fmt::Write;

use super::graph::{Drift, Edge, EdgeKind, GKind, GNode, Graph, State};
use super::style;

pub fn render(g: &Graph) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "%% {}: namespaces are boxes, bridges are switches, each veth pair is one edge.",
        plain(&g.title)
    );
    out.push_str("flowchart LR\n");
    let ids = ids(g);
    let id = |n: &str| ids.get(n).cloned().unwrap_or_else(|| "n_unknown".into());
    let mut classes: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for n in &g.nodes {
        let (open, close, class) = match &n.kind {
            GKind::Host => ("[[", "]]", "host"),
            GKind::Netns { router: false } => ("[", "]", "netns"),
            GKind::Netns { router: true } => ("([", "])", "router"),
            GKind::Bridge { .. } => ("{{", "}}", "bridge"),
            GKind::Unknown => ("[/", "/]", "unknown"),
        };
        let _ = writeln!(out, "  {}{open}\"{}\"{close}", id(&n.id), node_label(n));
        classes.entry(class).or_default().push(id(&n.id));
    }
    if !g.notes.is_empty() {
        let mut label = "<b>notes</b>".to_string();
        for n in &g.notes {
            label.push_str(&format!("<br/>{}", text(n)));
        }
        let _ = writeln!(out, "  n__notes[\"{label}\"]");
        classes.entry("note").or_default().push("n__notes".into());
    }
    let mut link_styles = Vec::new();
    for (i, e) in g.edges.iter().enumerate() {
        let line = if e.kind == EdgeKind::Contains || style::dashed(e) {
            "-.-"
        } else {
            "---"
        };
        let _ = writeln!(
            out,
            "  {} {line}|\"{}\"| {}",
            id(&e.a.node),
            text(edge_label(e).trim()),
            id(&e.b.node)
        );
        if g.live || e.drift != Drift::None {
            let (color, _) = style::edge_color(e);
            link_styles.push(format!("  linkStyle {i} stroke:{color},stroke-width:2px"));
        }
    }
    for (class, members) in &classes {
        class_def(&mut out, class, members);
    }
    for l in link_styles {
        out.push_str(&l);
        out.push('\n');
    }
    out
}

/// A node's name in bold, its kind, details, devices and drift.
fn node_label(n: &GNode) -> String {
    let mut label = format!("<b>{}</b><br/>{}", text(&n.label), text(&n.kind.word()));
    for d in &n.detail {
        label.push_str(&format!("<br/>{}", text(d)));
    }
    for r in &n.devices {
        label.push_str(&format!("<br/>{}", text(&row(&r.name, &r.addrs))));
    }
    if n.drift != Drift::None {
        label.push_str(&format!("<br/>({})", n.drift.word()));
    }
    label
}

/// A veth pair's two ends with their addresses, and its state and drift.
fn edge_label(e: &Edge) -> String {
    match e.kind {
        EdgeKind::Veth => {
            let mut l = format!(
                "{} — {}",
                row(&e.a.iface, &e.a.addrs),
                row(&e.b.iface, &e.b.addrs)
            );
            let mut words = Vec::new();
            if e.state != State::Declared && e.state != State::Up {
                words.push(e.state.word());
            }
            if e.drift != Drift::None {
                words.push(e.drift.word());
            }
            if !words.is_empty() {
                l.push_str(&format!(" ({})", words.join(", ")));
            }
            l
        }
        EdgeKind::Contains => "in".to_string(),
    }
}

/// The colours of one class of nodes, and its members.
fn class_def(out: &mut String, class: &str, members: &[String]) {
    let (fill, stroke) = match class {
        "host" => style::node_colors(&GKind::Host),
        "netns" => style::node_colors(&GKind::Netns { router: false }),
        "router" => style::node_colors(&GKind::Netns { router: true }),
        "bridge" => style::node_colors(&GKind::Bridge {
            home: String::new(),
        }),
        "unknown" => style::node_colors(&GKind::Unknown),
        _ => ("#ffffff", "#999999"),
    };
    let extra = match class {
        "host" => ",stroke-dasharray:4 3",
        "router" => ",stroke-width:2px",
        _ => "",
    };
    let _ = writeln!(out, "  classDef {class} fill:{fill},stroke:{stroke}{extra}");
    let _ = writeln!(out, "  class {} {class}", members.join(","));
}

/// Mermaid ids: `n_` and the name with anything unusual replaced, made unique.
fn ids(g: &Graph) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut used = std::collections::BTreeSet::new();
    for n in &g.nodes {
        let base: String = format!(
            "n_{}",
            n.id.chars()
                .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
                .collect::<String>()
        );
        let mut id = base.clone();
        let mut k = 1;
        while used.contains(&id) {
            k += 1;
            id = format!("{base}_{k}");
        }
        used.insert(id.clone());
        out.insert(n.id.clone(), id);
    }
    out
}

fn row(name: &str, addrs: &[String]) -> String {
    if addrs.is_empty() {
        name.to_string()
    } else {
        format!("{name} {}", addrs.join(", "))
    }
}

/// Text inside a quoted mermaid label (entity codes for what would break it).
fn text(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        match c {
            '"' => out.push_str("#quot;"),
            '<' => out.push_str("#lt;"),
            '>' => out.push_str("#gt;"),
            '#' => out.push_str("#35;"),
            '|' => out.push_str("#124;"),
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

fn plain(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}
