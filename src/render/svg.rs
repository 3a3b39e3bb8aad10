//! SVG drawn by vnet itself, no Graphviz needed: each namespace a box
//! listing its interfaces and addresses, each bridge a switch listing its
//! ports, each veth pair a curve from one interface to the other, laid out
//! in columns (`layout`). Monospace text, so sizes are known without fonts.

use std::fmt::Write;

use super::graph::{Drift, EdgeKind, GKind, Graph, Row};
use super::layout::{self, Placed};
use super::style;

const FONT: &str = "ui-monospace, SFMono-Regular, Menlo, Consolas, 'DejaVu Sans Mono', 'Liberation Mono', monospace";
/// Width of one character at 12px, a little more than monospace fonts use.
const CHAR_W: f64 = 7.4;
const LINE_H: f64 = 16.0;
const PAD: f64 = 12.0;
const MARGIN: f64 = 24.0;
const TITLE_H: f64 = 34.0;
const MIN_W: f64 = 120.0;

/// What one box shows, measured.
struct Card {
    title: String,
    sub: Vec<String>,
    rows: Vec<Row>,
    name_w: usize,
    header_h: f64,
}

fn chars(s: &str) -> usize {
    // Wide (CJK) characters take two cells.
    s.chars()
        .map(|c| if (c as u32) >= 0x1100 { 2 } else { 1 })
        .sum()
}

fn row_lines(r: &Row) -> usize {
    r.addrs.len().max(1)
}

impl Card {
    fn new(g: &Graph, id: &str) -> Card {
        let n = g.node(id).expect("node of the graph");
        let mut sub = vec![n.kind.word()];
        sub.extend(n.detail.iter().cloned());
        if n.drift != Drift::None {
            sub.push(format!("({})", n.drift.word()));
        }
        let rows = g.rows(id);
        let name_w = rows.iter().map(|r| chars(&r.name)).max().unwrap_or(0);
        let header_h = 10.0 + 17.0 + sub.len() as f64 * 15.0 + 4.0;
        Card {
            title: n.label.clone(),
            sub,
            rows,
            name_w,
            header_h,
        }
    }

    fn size(&self) -> (f64, f64) {
        let title = chars(&self.title) as f64 * 8.2;
        let sub = self.sub.iter().map(|s| chars(s)).max().unwrap_or(0) as f64 * 6.8;
        let rows = self
            .rows
            .iter()
            .map(|r| {
                let addr = r.addrs.iter().map(|a| chars(a)).max().unwrap_or(0);
                (self.name_w + if addr > 0 { 2 + addr } else { 0 }) as f64 * CHAR_W
            })
            .fold(0.0, f64::max);
        let w = (title.max(sub).max(rows) + 2.0 * PAD).max(MIN_W).ceil();
        let body: f64 = self
            .rows
            .iter()
            .map(|r| row_lines(r) as f64 * LINE_H + 6.0)
            .sum();
        let h = (self.header_h + body + if self.rows.is_empty() { 4.0 } else { 8.0 }).ceil();
        (w, h)
    }
}

pub fn render(g: &Graph) -> String {
    let mut cards: Vec<Card> = g.nodes.iter().map(|n| Card::new(g, &n.id)).collect();
    let sizes: Vec<(f64, f64)> = cards.iter().map(Card::size).collect();
    let index = |id: &str| g.nodes.iter().position(|n| n.id == id);
    let pairs = layout_edges(g, &index);
    let (mut placed, lw, lh) = layout::layout(&sizes, &pairs);
    for p in placed.iter_mut() {
        p.x += MARGIN;
        p.y += MARGIN + TITLE_H;
    }
    // Rows face their edges: sorted by where the other end sits.
    for (i, card) in cards.iter_mut().enumerate() {
        let id = &g.nodes[i].id;
        let target = |r: &Row| -> f64 {
            g.edges
                .iter()
                .find_map(|e| {
                    let other = if e.a.node == *id && row_name(&e.a.iface, e.kind) == r.name {
                        &e.b
                    } else if e.b.node == *id && row_name(&e.b.iface, e.kind) == r.name {
                        &e.a
                    } else {
                        return None;
                    };
                    let o = index(&other.node)?;
                    Some(placed[o].y + placed[o].h / 2.0)
                })
                .unwrap_or(f64::MAX)
        };
        card.rows.sort_by(|a, b| target(a).total_cmp(&target(b)));
    }
    let legend = g.live || g.edges.iter().any(|e| e.drift != Drift::None);
    let notes_h = g.notes.len() as f64 * LINE_H + if g.notes.is_empty() { 0.0 } else { 12.0 };
    let legend_h = if legend { 28.0 } else { 0.0 };
    let title_w = chars(&g.title) as f64 * 8.8;
    let notes_w = g.notes.iter().map(|n| chars(n)).max().unwrap_or(0) as f64 * CHAR_W;
    let width = (lw
        .max(title_w)
        .max(notes_w)
        .max(if legend { 560.0 } else { 0.0 })
        + 2.0 * MARGIN)
        .ceil();
    let height =
        (lh + TITLE_H + 2.0 * MARGIN + legend_h + notes_h + if lh > 0.0 { 12.0 } else { 0.0 })
            .ceil();

    let mut out = String::new();
    let _ = writeln!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" font-family="{FONT}" font-size="12">"#
    );
    let _ = writeln!(out, "<title>{}</title>", esc(&g.title));
    out.push_str("<style>.addr{fill:#555}.sub{fill:#555;font-size:11px}.name{font-weight:bold;font-size:13px}.edge{fill:none}</style>\n");
    let _ = writeln!(
        out,
        r##"<rect width="{width}" height="{height}" fill="#ffffff"/>"##
    );
    let _ = writeln!(
        out,
        r#"<text x="{MARGIN}" y="{}" font-size="15" font-weight="bold">{}</text>"#,
        MARGIN + 12.0,
        esc(&g.title)
    );

    // Where each interface row sits: (node index, row name) → (y, left x, right x).
    let anchor = |i: usize, row: &str| -> (f64, f64, f64) {
        let p = &placed[i];
        let c = &cards[i];
        if row.is_empty() {
            return (p.y + 10.0 + 8.5, p.x, p.x + p.w);
        }
        let mut y = p.y + c.header_h + 4.0;
        for r in &c.rows {
            let h = row_lines(r) as f64 * LINE_H + 6.0;
            if r.name == row {
                return (y + 3.0 + LINE_H / 2.0, p.x, p.x + p.w);
            }
            y += h;
        }
        (p.y + p.h / 2.0, p.x, p.x + p.w)
    };

    out.push_str("<g class=\"edges\">\n");
    let mut ports = Vec::new();
    for e in &g.edges {
        let (Some(ia), Some(ib)) = (index(&e.a.node), index(&e.b.node)) else {
            continue;
        };
        let (ya, la, ra) = anchor(ia, &row_name(&e.a.iface, e.kind));
        let (yb, lb, rb) = anchor(ib, &row_name(&e.b.iface, e.kind));
        let (ca, cb) = (center_x(&placed[ia]), center_x(&placed[ib]));
        // Leave each box on the side facing the other; same column: both on the right.
        let (xa, sa, xb, sb) = if (ca - cb).abs() < 1.0 {
            (ra, 1.0, rb, 1.0)
        } else if ca < cb {
            (ra, 1.0, lb, -1.0)
        } else {
            (la, -1.0, rb, 1.0)
        };
        let bend = ((xb - xa).abs() / 2.0).max(40.0)
            + if sa == sb {
                20.0 + (yb - ya).abs() * 0.15
            } else {
                0.0
            };
        let (color, meaning) = style::edge_color(e);
        let dash = if e.kind == EdgeKind::Contains {
            r#" stroke-dasharray="2 4""#
        } else if style::dashed(e) {
            r#" stroke-dasharray="7 5""#
        } else {
            ""
        };
        let width = if e.kind == EdgeKind::Contains {
            1.5
        } else {
            2.2
        };
        let class = match (e.kind, e.state) {
            (EdgeKind::Contains, _) => "edge contains".to_string(),
            (_, s) => format!("edge veth {}", s.word().replace(' ', "-")),
        };
        let mut tip = match e.kind {
            EdgeKind::Veth => format!(
                "{}:{} — {}:{}",
                e.a.node,
                e.a.iface,
                e.b.node,
                if e.b.iface.is_empty() {
                    "?"
                } else {
                    &e.b.iface
                }
            ),
            EdgeKind::Contains => format!("{} lives in {}", e.b.node, e.a.node),
        };
        tip.push_str(&format!(" ({meaning})"));
        let _ = writeln!(
            out,
            r#"<path class="{class}" d="M{xa:.1},{ya:.1} C{:.1},{ya:.1} {:.1},{yb:.1} {xb:.1},{yb:.1}" stroke="{color}" stroke-width="{width}"{dash}><title>{}</title></path>"#,
            xa + sa * bend,
            xb + sb * bend,
            esc(&tip)
        );
        if e.kind == EdgeKind::Veth {
            ports.push((xa, ya, color));
            if !e.b.iface.is_empty() {
                ports.push((xb, yb, color));
            }
        }
    }
    out.push_str("</g>\n");

    for (i, n) in g.nodes.iter().enumerate() {
        let p = &placed[i];
        let c = &cards[i];
        let (fill, stroke) = style::node_colors(&n.kind);
        let kind = match n.kind {
            GKind::Host => "host",
            GKind::Netns { router: true } => "netns router",
            GKind::Netns { router: false } => "netns",
            GKind::Bridge { .. } => "bridge",
            GKind::Unknown => "unknown",
        };
        let _ = writeln!(out, r#"<g class="node {kind}" data-name="{}">"#, esc(&n.id));
        let dash = if matches!(n.kind, GKind::Host) || n.drift == Drift::NotInKernel {
            r#" stroke-dasharray="6 4""#
        } else {
            ""
        };
        let (rx, sw) = match n.kind {
            GKind::Bridge { .. } => (2.0, 1.6),
            GKind::Netns { router: true } => (10.0, 2.6),
            _ => (8.0, 1.4),
        };
        let _ = writeln!(
            out,
            r#"<rect class="box" x="{:.1}" y="{:.1}" width="{:.1}" height="{:.1}" rx="{rx}" fill="{fill}" stroke="{stroke}" stroke-width="{sw}"{dash}/>"#,
            p.x, p.y, p.w, p.h
        );
        if let GKind::Bridge { .. } = n.kind {
            // A switch: a band of port slots along the top.
            let _ = writeln!(
                out,
                r#"<rect x="{:.1}" y="{:.1}" width="{:.1}" height="5" fill="{stroke}"/>"#,
                p.x, p.y, p.w
            );
        }
        let mut y = p.y + 10.0 + 13.0;
        let _ = writeln!(
            out,
            r#"<text class="name" x="{:.1}" y="{y:.1}">{}</text>"#,
            p.x + PAD,
            esc(&c.title)
        );
        if matches!(n.kind, GKind::Netns { router: true }) {
            // A router mark: two crossing arrows.
            let (cx, cy) = (p.x + p.w - 16.0, p.y + 16.0);
            let _ = writeln!(
                out,
                r#"<g class="router-mark" stroke="{stroke}" stroke-width="1.6" fill="none"><circle cx="{cx:.1}" cy="{cy:.1}" r="9"/><path d="M{:.1},{:.1} h10 m-3,-3 l3,3 l-3,3 M{:.1},{:.1} h-10 m3,-3 l-3,3 l3,3"/></g>"#,
                cx - 5.0,
                cy - 3.0,
                cx + 5.0,
                cy + 3.0
            );
        }
        for s in &c.sub {
            y += 15.0;
            let _ = writeln!(
                out,
                r#"<text class="sub" x="{:.1}" y="{y:.1}">{}</text>"#,
                p.x + PAD,
                esc(s)
            );
        }
        if !c.rows.is_empty() {
            let ly = p.y + c.header_h;
            let _ = writeln!(
                out,
                r#"<line x1="{:.1}" y1="{ly:.1}" x2="{:.1}" y2="{ly:.1}" stroke="{stroke}" stroke-opacity="0.35"/>"#,
                p.x + 6.0,
                p.x + p.w - 6.0
            );
        }
        let mut ry = p.y + c.header_h + 4.0;
        for r in &c.rows {
            let _ = write!(out, r#"<g class="iface" data-name="{}">"#, esc(&r.name));
            let ty = ry + 3.0 + 12.0;
            let _ = write!(
                out,
                r#"<text x="{:.1}" y="{ty:.1}">{}</text>"#,
                p.x + PAD,
                esc(&r.name)
            );
            for (k, a) in r.addrs.iter().enumerate() {
                let ax = p.x + PAD + (c.name_w + 2) as f64 * CHAR_W;
                let _ = write!(
                    out,
                    r#"<text class="addr" x="{ax:.1}" y="{:.1}">{}</text>"#,
                    ty + k as f64 * LINE_H,
                    esc(a)
                );
            }
            out.push_str("</g>\n");
            ry += row_lines(r) as f64 * LINE_H + 6.0;
        }
        out.push_str("</g>\n");
    }
    for (x, y, color) in ports {
        let _ = writeln!(
            out,
            r##"<circle class="port" cx="{x:.1}" cy="{y:.1}" r="4" fill="{color}" stroke="#ffffff" stroke-width="1.2"/>"##
        );
    }

    let mut by = MARGIN + TITLE_H + lh + if lh > 0.0 { 12.0 } else { 0.0 };
    if legend {
        let drift = g.edges.iter().any(|e| e.drift != Drift::None)
            || g.nodes.iter().any(|n| n.drift != Drift::None);
        let mut items: Vec<(&str, &str, bool)> = Vec::new();
        if g.live {
            items.extend([
                ("#2a9d3a", "up", false),
                ("#d62728", "down", false),
                ("#e08a00", "peer missing", true),
            ]);
        }
        if drift {
            items.extend([
                ("#9a9a9a", "not in kernel", true),
                ("#8e44ad", "not in file", false),
            ]);
        }
        let mut x = MARGIN;
        let _ = write!(out, r#"<g class="legend">"#);
        for (color, word, dashed) in &items {
            let dash = if *dashed {
                r#" stroke-dasharray="7 5""#
            } else {
                ""
            };
            let _ = write!(
                out,
                r#"<line x1="{x:.1}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="{color}" stroke-width="2.2"{dash}/><text x="{:.1}" y="{:.1}">{word}</text>"#,
                by + 10.0,
                x + 26.0,
                by + 10.0,
                x + 32.0,
                by + 14.0
            );
            x += 32.0 + chars(word) as f64 * CHAR_W + 22.0;
        }
        out.push_str("</g>\n");
        by += legend_h;
    }
    if !g.notes.is_empty() {
        out.push_str(r#"<g class="notes">"#);
        for (k, n) in g.notes.iter().enumerate() {
            let _ = write!(
                out,
                r#"<text x="{MARGIN}" y="{:.1}" xml:space="preserve">{}</text>"#,
                by + 12.0 + k as f64 * LINE_H,
                esc(n)
            );
        }
        out.push_str("</g>\n");
    }
    out.push_str("</svg>\n");
    out
}

/// The edges the layout follows: every veth pair, and a namespace's link to
/// the bridges inside it only where that namespace is part of the topology
/// itself; one that only holds bridges (the host, usually) hangs off the
/// first, instead of pulling every bridge into the middle.
fn layout_edges(g: &Graph, index: &dyn Fn(&str) -> Option<usize>) -> Vec<(usize, usize)> {
    let veth_nodes: std::collections::BTreeSet<&str> = g
        .edges
        .iter()
        .filter(|e| e.kind == EdgeKind::Veth)
        .flat_map(|e| [e.a.node.as_str(), e.b.node.as_str()])
        .collect();
    let mut hung = std::collections::BTreeSet::new();
    g.edges
        .iter()
        .filter(|e| {
            e.kind == EdgeKind::Veth
                || veth_nodes.contains(e.a.node.as_str())
                || hung.insert(e.a.node.clone())
        })
        .filter_map(|e| Some((index(&e.a.node)?, index(&e.b.node)?)))
        .collect()
}

fn center_x(p: &Placed) -> f64 {
    p.x + p.w / 2.0
}

/// The row an edge end attaches to (a bridge's row in its namespace is marked).
fn row_name(iface: &str, kind: EdgeKind) -> String {
    match kind {
        EdgeKind::Contains if !iface.is_empty() => format!("{iface} (bridge)"),
        _ => iface.to_string(),
    }
}

fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // XML 1.0 cannot carry most control characters at all.
            c if c.is_control() => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}
