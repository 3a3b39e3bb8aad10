//! SVG drawn by vnet itself, no Graphviz needed: each namespace a box
//! listing its interfaces and addresses, each bridge a switch listing its
//! ports, each veth pair a curve from one interface to the other, laid out
//! in columns (`layout`). Monospace text, so sizes are known without fonts.

use std::fmt::Write;

use super::graph::{Drift, Edge, EdgeKind, GKind, GNode, Graph, Row};
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
    let scene = Scene::new(g);
    let canvas = Canvas::measure(g, scene.w, scene.h);
    let mut out = String::new();
    draw_head(&mut out, g, &canvas);
    let ports = draw_edges(&mut out, &scene);
    for i in 0..g.nodes.len() {
        draw_node(&mut out, &g.nodes[i], &scene.placed[i], &scene.cards[i]);
    }
    draw_ports(&mut out, &ports);
    let mut y = MARGIN + TITLE_H + scene.h + if scene.h > 0.0 { 12.0 } else { 0.0 };
    if canvas.legend {
        draw_legend(&mut out, g, y);
        y += canvas.legend_h;
    }
    draw_notes(&mut out, g, y);
    out.push_str("</svg>\n");
    out
}

/// The boxes, measured and placed on the page.
struct Scene<'g> {
    g: &'g Graph,
    cards: Vec<Card>,
    placed: Vec<Placed>,
    /// Width and height of the laid out boxes.
    w: f64,
    h: f64,
}

impl<'g> Scene<'g> {
    fn new(g: &'g Graph) -> Scene<'g> {
        let mut cards: Vec<Card> = g.nodes.iter().map(|n| Card::new(g, &n.id)).collect();
        let sizes: Vec<(f64, f64)> = cards.iter().map(Card::size).collect();
        let pairs = layout_edges(g, &|id| index(g, id));
        let (mut placed, w, h) = layout::layout(&sizes, &pairs);
        for p in placed.iter_mut() {
            p.x += MARGIN;
            p.y += MARGIN + TITLE_H;
        }
        face_rows(g, &mut cards, &placed);
        Scene {
            g,
            cards,
            placed,
            w,
            h,
        }
    }

    /// Where an interface row of node `i` sits: (y, left x, right x).
    fn anchor(&self, i: usize, row: &str) -> (f64, f64, f64) {
        let p = &self.placed[i];
        let c = &self.cards[i];
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
    }
}

fn index(g: &Graph, id: &str) -> Option<usize> {
    g.nodes.iter().position(|n| n.id == id)
}

/// Rows face their edges: sorted by where the other end sits.
fn face_rows(g: &Graph, cards: &mut [Card], placed: &[Placed]) {
    for (i, card) in cards.iter_mut().enumerate() {
        let id = &g.nodes[i].id;
        let target = |r: &Row| other_end_y(g, placed, id, &r.name).unwrap_or(f64::MAX);
        card.rows.sort_by(|a, b| target(a).total_cmp(&target(b)));
    }
}

/// The middle height of the box at the other end of the first edge that
/// leaves row `row` of node `id`.
fn other_end_y(g: &Graph, placed: &[Placed], id: &str, row: &str) -> Option<f64> {
    g.edges.iter().find_map(|e| {
        let other = if e.a.node == id && row_name(&e.a.iface, e.kind) == row {
            &e.b
        } else if e.b.node == id && row_name(&e.b.iface, e.kind) == row {
            &e.a
        } else {
            return None;
        };
        let o = index(g, &other.node)?;
        Some(placed[o].y + placed[o].h / 2.0)
    })
}

/// The size of the page, and whether it has a legend.
struct Canvas {
    width: f64,
    height: f64,
    legend: bool,
    legend_h: f64,
}

impl Canvas {
    /// Around boxes that took `lw` × `lh`: the title, the legend, the notes.
    fn measure(g: &Graph, lw: f64, lh: f64) -> Canvas {
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
        Canvas {
            width,
            height,
            legend,
            legend_h,
        }
    }
}

/// The `<svg>` element, the style, the background and the title.
fn draw_head(out: &mut String, g: &Graph, c: &Canvas) {
    let (width, height) = (c.width, c.height);
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
}

/// A dot where a veth end leaves its box: (x, y, colour, `NODE:IFACE`).
type Port = (f64, f64, &'static str, String);

/// Every edge as a curve; returns the veth ends, drawn last over the boxes.
fn draw_edges(out: &mut String, scene: &Scene) -> Vec<Port> {
    out.push_str("<g class=\"edges\">\n");
    let mut ports = Vec::new();
    for e in &scene.g.edges {
        let (Some(ia), Some(ib)) = (index(scene.g, &e.a.node), index(scene.g, &e.b.node)) else {
            continue;
        };
        let (ya, la, ra) = scene.anchor(ia, &row_name(&e.a.iface, e.kind));
        let (yb, lb, rb) = scene.anchor(ib, &row_name(&e.b.iface, e.kind));
        let (ca, cb) = (center_x(&scene.placed[ia]), center_x(&scene.placed[ib]));
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
        let (class, width, dash) = edge_stroke(e);
        let tip = format!("{} ({meaning})", edge_tip(e));
        let data = edge_data(e);
        let _ = writeln!(
            out,
            r#"<path class="{class}"{data} d="M{xa:.1},{ya:.1} C{:.1},{ya:.1} {:.1},{yb:.1} {xb:.1},{yb:.1}" stroke="{color}" stroke-width="{width}"{dash}><title>{}</title></path>"#,
            xa + sa * bend,
            xb + sb * bend,
            esc(&tip)
        );
        if e.kind == EdgeKind::Veth {
            ports.push((xa, ya, color, format!("{}:{}", e.a.node, e.a.iface)));
            if !e.b.iface.is_empty() {
                ports.push((xb, yb, color, format!("{}:{}", e.b.node, e.b.iface)));
            }
        }
    }
    out.push_str("</g>\n");
    ports
}

/// What a page finds an edge by: a veth pair's `data-link` and
/// `data-state` (and `data-drift`), a bridge's home as `data-contains`.
fn edge_data(e: &Edge) -> String {
    let mut d = match e.kind {
        EdgeKind::Veth => format!(
            r#" data-link="{}" data-state="{}""#,
            esc(&e.key()),
            e.state.attr()
        ),
        EdgeKind::Contains => format!(r#" data-contains="{}:{}""#, esc(&e.a.node), esc(&e.b.node)),
    };
    if e.drift != Drift::None {
        d.push_str(&format!(
            r#" data-drift="{}""#,
            e.drift.word().replace(' ', "-")
        ));
    }
    d
}

/// An edge's class, stroke width and dash attribute.
fn edge_stroke(e: &Edge) -> (String, f64, &'static str) {
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
    (class, width, dash)
}

/// What hovering over an edge says it joins.
fn edge_tip(e: &Edge) -> String {
    let cond = |end: &crate::render::graph::End| {
        if end.cond.is_empty() {
            String::new()
        } else {
            format!("; {}:{} sends with {}", end.node, end.iface, end.cond)
        }
    };
    match e.kind {
        EdgeKind::Veth => format!(
            "{}:{} — {}:{}{}{}",
            e.a.node,
            e.a.iface,
            e.b.node,
            if e.b.iface.is_empty() {
                "?"
            } else {
                &e.b.iface
            },
            cond(&e.a),
            cond(&e.b)
        ),
        EdgeKind::Contains => format!("{} lives in {}", e.b.node, e.a.node),
    }
}

/// One node: its box, its header (name, kind, details) and its rows.
fn draw_node(out: &mut String, n: &GNode, p: &Placed, c: &Card) {
    let (fill, stroke) = style::node_colors(&n.kind);
    let kind = match n.kind {
        GKind::Host => "host",
        GKind::Netns { router: true } => "netns router",
        GKind::Netns { router: false } => "netns",
        GKind::Bridge { .. } => "bridge",
        GKind::Unknown => "unknown",
    };
    let _ = writeln!(
        out,
        r#"<g class="node {kind}" data-name="{0}" data-node="{0}">"#,
        esc(&n.id)
    );
    draw_box(out, n, p, fill, stroke);
    draw_header(out, n, p, c, stroke);
    draw_rows(out, &n.id, p, c);
    out.push_str("</g>\n");
}

/// The box: dashed for the host and for what the kernel lacks; a bridge
/// gets a band of port slots along the top.
fn draw_box(out: &mut String, n: &GNode, p: &Placed, fill: &str, stroke: &str) {
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
}

/// The name (with a router mark), the lines under it, and the rule above
/// the rows.
fn draw_header(out: &mut String, n: &GNode, p: &Placed, c: &Card, stroke: &str) {
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
}

/// One row per interface: its name, then its addresses in a column.
fn draw_rows(out: &mut String, node: &str, p: &Placed, c: &Card) {
    let mut ry = p.y + c.header_h + 4.0;
    for r in &c.rows {
        let _ = write!(
            out,
            r#"<g class="iface" data-name="{}" data-iface="{}:{}">"#,
            esc(&r.name),
            esc(node),
            esc(&r.name)
        );
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
}

fn draw_ports(out: &mut String, ports: &[Port]) {
    for (x, y, color, end) in ports {
        let _ = writeln!(
            out,
            r##"<circle class="port" data-end="{}" cx="{x:.1}" cy="{y:.1}" r="4" fill="{color}" stroke="#ffffff" stroke-width="1.2"/>"##,
            esc(end)
        );
    }
}

/// What the edge colours mean, at height `by`: state (live) and drift.
fn draw_legend(out: &mut String, g: &Graph, by: f64) {
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
}

/// The graph's notes (drift, unknowns), one line each, at height `by`.
fn draw_notes(out: &mut String, g: &Graph, by: f64) {
    if g.notes.is_empty() {
        return;
    }
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
