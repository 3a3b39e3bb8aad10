//! `vnet graph` of lab files: dot and mermaid as golden snapshots, SVG read
//! back as XML (every node and interface named, no two boxes overlapping),
//! the layout tried on random labs of up to 50 nodes. No root needed.

use std::process::Command;

use proptest::prelude::*;
use vnet::model::{Lab, parse_lab};
use vnet::render::graph::Graph;
use vnet::render::{dot, mermaid, svg};

const EXAMPLES: [&str; 3] = ["seed-veth", "seed-bridge", "router"];

fn example(name: &str) -> Lab {
    let path = format!("{}/examples/{name}.yaml", env!("CARGO_MANIFEST_DIR"));
    parse_lab(&path, &std::fs::read_to_string(&path).unwrap()).unwrap()
}

#[test]
fn dot_of_the_examples() {
    for name in EXAMPLES {
        let g = Graph::from_lab(&example(name));
        insta::assert_snapshot!(format!("dot_{name}"), dot::render(&g));
    }
}

#[test]
fn mermaid_of_the_examples() {
    for name in EXAMPLES {
        let g = Graph::from_lab(&example(name));
        insta::assert_snapshot!(format!("mermaid_{name}"), mermaid::render(&g));
    }
}

/// A node box as drawn: (name, x, y, w, h).
type Drawn = (String, f64, f64, f64, f64);

/// The node boxes and every text of an SVG, read as XML.
fn read_svg(text: &str) -> (Vec<Drawn>, Vec<String>) {
    let doc = roxmltree::Document::parse(text).unwrap_or_else(|e| panic!("not XML: {e}\n{text}"));
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "svg");
    let num = |n: roxmltree::Node, a: &str| -> f64 { n.attribute(a).unwrap().parse().unwrap() };
    let mut boxes = Vec::new();
    for g in root.descendants().filter(|n| {
        n.has_tag_name("g")
            && n.attribute("class")
                .is_some_and(|c| c.split(' ').next() == Some("node"))
    }) {
        let rect = g
            .children()
            .find(|c| c.has_tag_name("rect") && c.attribute("class") == Some("box"))
            .expect("a node has its box");
        boxes.push((
            g.attribute("data-name").unwrap().to_string(),
            num(rect, "x"),
            num(rect, "y"),
            num(rect, "width"),
            num(rect, "height"),
        ));
    }
    let texts = root
        .descendants()
        .filter(|n| n.has_tag_name("text"))
        .filter_map(|n| n.text().map(str::to_string))
        .collect();
    (boxes, texts)
}

fn assert_no_overlap(boxes: &[Drawn]) {
    for (i, a) in boxes.iter().enumerate() {
        for b in &boxes[i + 1..] {
            let overlap = a.1 < b.1 + b.3 && b.1 < a.1 + a.3 && a.2 < b.2 + b.4 && b.2 < a.2 + a.4;
            assert!(!overlap, "{} and {} overlap: {a:?} {b:?}", a.0, b.0);
        }
    }
}

/// Every node, interface and address of the lab is written in the picture.
fn assert_all_named(lab: &Lab, texts: &[String], boxes: &[Drawn]) {
    for n in &lab.nodes {
        assert!(boxes.iter().any(|b| b.0 == n.name), "no box for {}", n.name);
        assert!(texts.contains(&n.name), "{} not written", n.name);
    }
    for l in &lab.links {
        for e in &l.ends {
            assert!(texts.contains(&e.interface), "{} not written", e.interface);
            for ip in &e.ips {
                assert!(
                    texts.iter().any(|t| *t == ip.to_string()),
                    "{ip} not written"
                );
            }
        }
    }
}

#[test]
fn svg_of_the_examples_names_everything_and_overlaps_nothing() {
    for name in EXAMPLES {
        let lab = example(name);
        let text = svg::render(&Graph::from_lab(&lab));
        let (boxes, texts) = read_svg(&text);
        assert_all_named(&lab, &texts, &boxes);
        assert_no_overlap(&boxes);
    }
}

#[test]
fn the_seed_bridge_svg_shows_the_host_and_the_router_is_marked() {
    let (boxes, texts) = read_svg(&svg::render(&Graph::from_lab(&example("seed-bridge"))));
    assert!(
        boxes.iter().any(|b| b.0 == "host"),
        "the host namespace is drawn"
    );
    assert!(texts.iter().any(|t| t == "br0 (bridge)"));
    let router = svg::render(&Graph::from_lab(&example("router")));
    assert!(router.contains(r#"class="node netns router" data-name="r1" data-node="r1""#));
    // What `vnet serve`'s page finds things by: nodes, pairs and their state.
    let seed = svg::render(&Graph::from_lab(&example("seed-bridge")));
    assert!(
        seed.contains(r#"data-link="ns1:veth0--br0:br0-veth0" data-state="declared""#),
        "{seed}"
    );
    assert!(seed.contains(r#"data-node="br0""#));
    assert!(seed.contains(r#"data-iface="ns2:veth1""#));
    assert!(seed.contains(r#"data-end="ns1:veth0""#));
    assert!(router.contains("router (forwarding)"));
}

#[test]
fn the_committed_readme_picture_is_current() {
    let path = format!("{}/docs/seed-bridge.svg", env!("CARGO_MANIFEST_DIR"));
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    let now = svg::render(&Graph::from_lab(&example("seed-bridge")));
    assert_eq!(
        committed, now,
        "docs/seed-bridge.svg is stale: vnet graph examples/seed-bridge.yaml -o docs/seed-bridge.svg"
    );
}

#[test]
fn the_command_picks_the_format_from_the_file_name() {
    let dir = std::env::temp_dir().join(format!("vnet-graph-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for (file, starts) in [
        ("g.dot", "// vnet lab"),
        ("g.mmd", "%% vnet lab"),
        ("g.svg", "<svg"),
    ] {
        let out = dir.join(file);
        let st = Command::new(env!("CARGO_BIN_EXE_vnet"))
            .args(["graph", "examples/router.yaml", "-o", out.to_str().unwrap()])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .unwrap();
        assert!(st.success());
        let text = std::fs::read_to_string(&out).unwrap();
        assert!(text.starts_with(starts), "{file}: {text}");
    }
    let out = Command::new(env!("CARGO_BIN_EXE_vnet"))
        .args(["graph"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let _ = std::fs::remove_dir_all(&dir);
}

/// A random lab: `n` namespaces and bridges joined by random veth pairs.
fn random_lab(kinds: &[bool], pairs: &[(usize, usize)], forward: &[bool]) -> String {
    let mut y = String::from("name: rnd\nnodes:\n");
    for (i, bridge) in kinds.iter().enumerate() {
        if *bridge {
            y.push_str(&format!("  b{i}: {{ kind: bridge }}\n"));
        } else if forward[i % forward.len()] {
            y.push_str(&format!("  n{i}: {{ forward: true }}\n"));
        } else {
            y.push_str(&format!("  n{i}: {{}}\n"));
        }
    }
    let name = |i: usize| {
        if kinds[i] {
            format!("b{i}")
        } else {
            format!("n{i}")
        }
    };
    let mut links = String::new();
    for (k, (a, b)) in pairs.iter().enumerate() {
        let (a, b) = (a % kinds.len(), b % kinds.len());
        if a == b && kinds[a] {
            continue;
        }
        let ip = if kinds[a] {
            String::new()
        } else {
            format!(", ip: 10.{}.{}.1/16", k / 200, k % 200 + 1)
        };
        links.push_str(&format!(
            "  - endpoints: [{{ node: {}, interface: e{k}a{ip} }}, \"{}:e{k}b\"]\n",
            name(a),
            name(b)
        ));
    }
    if !links.is_empty() {
        y.push_str("links:\n");
        y.push_str(&links);
    }
    y
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]
    #[test]
    fn random_labs_up_to_50_nodes_never_overlap(
        kinds in prop::collection::vec(prop::bool::weighted(0.2), 1..50),
        pairs in prop::collection::vec((0usize..50, 0usize..50), 0..70),
        forward in prop::collection::vec(any::<bool>(), 1..4),
    ) {
        let text = random_lab(&kinds, &pairs, &forward);
        let lab = parse_lab("rnd.yaml", &text).unwrap_or_else(|e| panic!("{e:?}\n{text}"));
        let svg = svg::render(&Graph::from_lab(&lab));
        let (boxes, texts) = read_svg(&svg);
        assert_all_named(&lab, &texts, &boxes);
        assert_no_overlap(&boxes);
        // dot and mermaid name every node too.
        let d = dot::render(&Graph::from_lab(&lab));
        let m = mermaid::render(&Graph::from_lab(&lab));
        for n in &lab.nodes {
            let quoted = format!("\"{}\"", n.name);
            let bold = format!("<b>{}</b>", n.name);
            prop_assert!(d.contains(&quoted), "{} missing in dot", n.name);
            prop_assert!(m.contains(&bold), "{} missing in mermaid", n.name);
        }
    }
}
