//! Graphviz `dot` text: for people who render elsewhere (`dot -Tpng`).

use std::fmt::Write;

use super::graph::{Drift, EdgeKind, GKind, GNode, Graph, State};
use super::style;

pub fn render(g: &Graph) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "// {}: namespaces are boxes, bridges are switches, each veth pair is one edge.",
        one_line(&g.title)
    );
    let _ = writeln!(out, "graph {} {{", q(&g.title));
    let mut graph_attrs = vec![
        "rankdir=LR".to_string(),
        "fontname=\"monospace\"".into(),
        "nodesep=0.5".into(),
        "ranksep=1.3".into(),
    ];
    if !g.notes.is_empty() {
        let mut label = String::new();
        for n in &g.notes {
            label.push_str(&esc(n));
            label.push_str("\\l");
        }
        graph_attrs.push(format!("label=\"{label}\""));
        graph_attrs.push("labelloc=b".into());
        graph_attrs.push("labeljust=l".into());
    }
    let _ = writeln!(out, "  graph [{}];", graph_attrs.join(", "));
    out.push_str("  node [fontname=\"monospace\", fontsize=11];\n");
    out.push_str("  edge [fontname=\"monospace\", fontsize=9];\n");
    for n in &g.nodes {
        let _ = writeln!(out, "  {} [{}];", q(&n.id), node_attrs(n).join(", "));
    }
    for e in &g.edges {
        let (color, _) = style::edge_color(e);
        let mut attrs = vec![format!("color=\"{color}\"")];
        match e.kind {
            EdgeKind::Veth => {
                attrs.push(format!(
                    "taillabel=\"{}\"",
                    end_label(&e.a.iface, &with_cond(&e.a.addrs, &e.a.cond))
                ));
                attrs.push(format!(
                    "headlabel=\"{}\"",
                    end_label(&e.b.iface, &with_cond(&e.b.addrs, &e.b.cond))
                ));
                let mut words = Vec::new();
                if e.state != State::Declared && e.state != State::Up {
                    words.push(e.state.word());
                }
                if e.drift != Drift::None {
                    words.push(e.drift.word());
                }
                if !words.is_empty() {
                    attrs.push(format!("label=\"{}\"", words.join(", ")));
                }
                if g.live {
                    attrs.push("penwidth=2".into());
                }
            }
            EdgeKind::Contains => {
                attrs.push("style=dotted".into());
                attrs.push("label=\"in\"".into());
            }
        }
        if style::dashed(e) {
            attrs.push("style=dashed".into());
        }
        let _ = writeln!(
            out,
            "  {} -- {} [{}];",
            q(&e.a.node),
            q(&e.b.node),
            attrs.join(", ")
        );
    }
    out.push_str("}\n");
    out
}

fn node_attrs(n: &GNode) -> Vec<String> {
    let (fill, stroke) = style::node_colors(&n.kind);
    let mut label = esc(&n.label);
    label.push_str("\\n");
    label.push_str(&esc(&n.kind.word()));
    for d in &n.detail {
        label.push_str("\\n");
        label.push_str(&esc(d));
    }
    for r in &n.devices {
        label.push_str("\\n");
        label.push_str(&end_label(&r.name, &r.addrs).replace("\\n", " "));
    }
    if n.drift != Drift::None {
        label.push_str(&format!("\\n({})", n.drift.word()));
    }
    let (shape, mut style) = match &n.kind {
        GKind::Host => ("box", "rounded,filled,dashed".to_string()),
        GKind::Netns { router: false } => ("box", "rounded,filled".to_string()),
        GKind::Netns { router: true } => ("box", "rounded,filled,bold".to_string()),
        GKind::Bridge { .. } => ("hexagon", "filled".to_string()),
        GKind::Unknown => ("plaintext", String::new()),
    };
    if n.drift == Drift::NotInKernel {
        style.push_str(",dashed");
    }
    let mut attrs = vec![format!("shape={shape}")];
    if !style.is_empty() {
        attrs.push(format!("style=\"{style}\""));
        attrs.push(format!("fillcolor=\"{fill}\""));
    }
    attrs.push(format!("color=\"{stroke}\""));
    if matches!(n.kind, GKind::Netns { router: true }) {
        attrs.push("peripheries=2".into());
    }
    attrs.push(format!("label=\"{label}\""));
    attrs
}

/// An end's addresses, then its egress conditions (as "→ rate 10mbit").
fn with_cond(addrs: &[String], cond: &str) -> Vec<String> {
    let mut v = addrs.to_vec();
    if !cond.is_empty() {
        v.push(format!("→ {cond}"));
    }
    v
}

fn end_label(iface: &str, addrs: &[String]) -> String {
    let mut s = esc(iface);
    for a in addrs {
        s.push_str("\\n");
        s.push_str(&esc(a));
    }
    s
}

/// A quoted dot ID.
fn q(s: &str) -> String {
    format!("\"{}\"", esc(s))
}

fn esc(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

fn one_line(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}
