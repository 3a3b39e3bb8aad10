//! A `Lab` written back as a lab file that reads as if written by hand:
//! the brief endpoint form when a link has no options, flow maps for short
//! nodes, comments on top. Written by hand rather than by a serializer so
//! the layout is fully ours; every result must parse back to the same lab
//! (tested).

use std::fmt::Write;

use ipnet::IpNet;

use super::conditions::{Conditions, Param};
use super::lab::{Endpoint, Lab, Link, NodeKind};

/// Longest line before a node's options go on lines of their own.
const FLOW_WIDTH: usize = 78;

/// The lab file text. `comments` go first, each line prefixed with `# `.
pub fn lab_yaml(lab: &Lab, comments: &[String]) -> String {
    let mut out = String::new();
    for c in comments {
        for line in c.lines() {
            if line.is_empty() {
                out.push_str("#\n");
            } else {
                let _ = writeln!(out, "# {}", line.replace(['\r'], ""));
            }
        }
    }
    let _ = writeln!(out, "name: {}", scalar(&lab.name));
    if lab.ipv6_link_local {
        out.push_str("ipv6_link_local: true\n");
    }
    if lab.nodes.is_empty() {
        out.push_str("nodes: {}\n");
    } else {
        out.push_str("nodes:\n");
        for n in &lab.nodes {
            node(&mut out, &n.name, &n.kind);
        }
    }
    if !lab.links.is_empty() {
        out.push_str("links:\n");
        for l in &lab.links {
            link(&mut out, l);
        }
    }
    if !lab.expect.is_empty() {
        out.push_str("expect:\n");
        for e in &lab.expect {
            let _ = writeln!(
                out,
                "  - {{ from: {}, to: {}, reach: {} }}",
                scalar(&e.from),
                scalar(&e.to),
                e.reach
            );
        }
    }
    out
}

fn node(out: &mut String, name: &str, kind: &NodeKind) {
    let opts = node_options(kind);
    let key = scalar(name);
    let flow = if opts.is_empty() {
        "{}".to_string()
    } else {
        format!(
            "{{ {} }}",
            opts.iter()
                .map(|(k, v)| format!("{k}: {v}"))
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    if 2 + key.len() + 2 + flow.len() <= FLOW_WIDTH {
        let _ = writeln!(out, "  {key}: {flow}");
    } else {
        let _ = writeln!(out, "  {key}:");
        for (k, v) in opts {
            let _ = writeln!(out, "    {k}: {v}");
        }
    }
}

/// A node's options as (key, flow value), in the order the README lists them.
fn node_options(kind: &NodeKind) -> Vec<(&'static str, String)> {
    let mut o = Vec::new();
    match kind {
        NodeKind::Netns(n) => {
            // An external node keeps its reference (resolved again on `up`).
            if let Some(r) = &n.external {
                let v = match r {
                    super::external::Reference::Pid(p) => p.to_string(),
                    _ => scalar(&r.value()),
                };
                o.push((r.key(), v));
            }
            if n.forward {
                o.push(("forward", "true".to_string()));
            }
            if !n.routes.is_empty() {
                let rs: Vec<String> = n.routes.iter().map(|r| quoted(&r.to_string())).collect();
                o.push(("routes", format!("[{}]", rs.join(", "))));
            }
            if !n.sysctls.is_empty() {
                let kv: Vec<String> = n
                    .sysctls
                    .iter()
                    .map(|(k, v)| format!("{}: {}", scalar(k), scalar(v)))
                    .collect();
                o.push(("sysctls", format!("{{ {} }}", kv.join(", "))));
            }
        }
        NodeKind::Bridge(b) => {
            o.push(("kind", "bridge".to_string()));
            if let Some(ns) = &b.inside {
                o.push(("in", scalar(ns)));
            }
            if !b.ips.is_empty() {
                o.push(("ip", ips(&b.ips)));
            }
            if b.stp {
                o.push(("stp", "true".to_string()));
            }
            if b.vlan_filtering {
                o.push(("vlan_filtering", "true".to_string()));
            }
            if let Some(m) = b.mtu {
                o.push(("mtu", m.to_string()));
            }
            if let Some(m) = b.mac {
                o.push(("mac", quoted(&m.to_string())));
            }
        }
    }
    o
}

fn link(out: &mut String, l: &Link) {
    let [a, b] = &l.ends;
    if plain(a) && plain(b) {
        let _ = writeln!(out, "  - endpoints: [{}, {}]", brief(a), brief(b));
    } else {
        out.push_str("  - endpoints:\n");
        for e in [a, b] {
            let _ = writeln!(out, "      - {}", endpoint_map(e));
        }
    }
    if !l.conditions.is_empty() {
        let _ = writeln!(out, "    conditions: {}", conditions(&l.conditions));
    }
}

fn plain(e: &Endpoint) -> bool {
    e.ips.is_empty() && e.mac.is_none() && e.mtu.is_none() && e.conditions.is_empty()
}

/// `{ delay: 20ms, loss: "1%" }`, keys in the README's order.
pub fn conditions(c: &Conditions) -> String {
    let parts: Vec<String> = c
        .params()
        .into_iter()
        .filter_map(|p| {
            let v = c.get(p)?;
            Some(match p {
                Param::Limit => format!("{}: {v}", p.name()),
                _ => format!("{}: {}", p.name(), scalar(&v)),
            })
        })
        .collect();
    format!("{{ {} }}", parts.join(", "))
}

fn brief(e: &Endpoint) -> String {
    quoted(&format!("{}:{}", e.node, e.interface))
}

fn endpoint_map(e: &Endpoint) -> String {
    let mut parts = vec![
        format!("node: {}", scalar(&e.node)),
        format!("interface: {}", scalar(&e.interface)),
    ];
    if !e.ips.is_empty() {
        parts.push(format!("ip: {}", ips(&e.ips)));
    }
    if let Some(m) = e.mtu {
        parts.push(format!("mtu: {m}"));
    }
    if let Some(m) = e.mac {
        parts.push(format!("mac: {}", quoted(&m.to_string())));
    }
    if !e.conditions.is_empty() {
        parts.push(format!("conditions: {}", conditions(&e.conditions)));
    }
    format!("{{ {} }}", parts.join(", "))
}

fn ips(ips: &[IpNet]) -> String {
    match ips {
        [one] => scalar(&one.to_string()),
        many => format!(
            "[{}]",
            many.iter()
                .map(|i| scalar(&i.to_string()))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// A YAML scalar, plain when that cannot be misread (in block or flow
/// context), double-quoted otherwise.
pub fn scalar(s: &str) -> String {
    if is_plain(s) {
        s.to_string()
    } else {
        quoted(s)
    }
}

fn is_plain(s: &str) -> bool {
    let Some(first) = s.chars().next() else {
        return false;
    };
    if !(first.is_ascii_alphanumeric() || first == '_' || first == '.' || first == '/') {
        return false;
    }
    if !s
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-' | '/' | ':'))
    {
        return false;
    }
    // A colon ending the text, or before a space, would start a map.
    if s.ends_with(':') {
        return false;
    }
    // Words YAML reads as something other than a string.
    let lower = s.to_ascii_lowercase();
    if matches!(
        lower.as_str(),
        "true" | "false" | "yes" | "no" | "on" | "off" | "y" | "n" | "null" | "~"
    ) || lower.starts_with(".nan")
        || lower.starts_with(".inf")
    {
        return false;
    }
    // Anything that looks like a number (incl. 1_000, 0x1f, 1e5, 1:20 sexagesimal).
    let digits_only = s
        .chars()
        .all(|c| c.is_ascii_digit() || matches!(c, '.' | '_' | ':' | '-' | '+' | 'e' | 'E'));
    if first.is_ascii_digit() && (digits_only || lower.starts_with("0x") || lower.starts_with("0o"))
    {
        // Addresses like 10.0.0.1/24 contain '/' and are not numbers.
        return s.contains('/');
    }
    true
}

/// A double-quoted YAML string.
pub fn quoted(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::parse_lab;

    fn round_trip(text: &str) {
        let lab = parse_lab("in.yaml", text).unwrap();
        let written = lab_yaml(&lab, &["a comment".to_string()]);
        let back = parse_lab("out.yaml", &written).unwrap_or_else(|e| panic!("{e:?}\n{written}"));
        assert_eq!(lab, back, "{written}");
    }

    #[test]
    fn examples_round_trip() {
        for f in ["seed-veth", "seed-bridge", "router"] {
            let text = std::fs::read_to_string(format!(
                "{}/examples/{f}.yaml",
                env!("CARGO_MANIFEST_DIR")
            ))
            .unwrap();
            round_trip(&text);
        }
    }

    #[test]
    fn reads_like_a_hand_written_file() {
        let lab = parse_lab(
            "t.yaml",
            "name: t\nnodes:\n  ns1: {}\n  br0: { kind: bridge }\nlinks:\n  - endpoints: [\"ns1:veth0\", \"br0:p0\"]\n  - endpoints: [{node: ns1, interface: v1, ip: 10.0.0.1/24}, \"host:h1\"]\n",
        )
        .unwrap();
        let y = lab_yaml(&lab, &[]);
        assert_eq!(
            y,
            "name: t\nnodes:\n  ns1: {}\n  br0: { kind: bridge }\nlinks:\n  - endpoints: [\"ns1:veth0\", \"br0:p0\"]\n  - endpoints:\n      - { node: ns1, interface: v1, ip: 10.0.0.1/24 }\n      - { node: host, interface: h1 }\n"
        );
    }

    #[test]
    fn conditions_are_written_back_where_they_were() {
        let text = "name: t\nnodes:\n  a: {}\n  b: {}\nlinks:\n  - endpoints: [\"a:e0\", {node: b, interface: e0, conditions: {loss: 20%}}]\n    conditions: { delay: 20ms, jitter: 5ms, rate: 1.5mbit, limit: 100, corrupt: 0.1%, duplicate: 1% }\n";
        round_trip(text);
        let lab = parse_lab("in.yaml", text).unwrap();
        let y = lab_yaml(&lab, &[]);
        assert!(
            y.contains("    conditions: { delay: 20ms, jitter: 5ms, rate: 1.5mbit, corrupt: \"0.1%\", duplicate: \"1%\", limit: 100 }\n"),
            "{y}"
        );
        assert!(
            y.contains("{ node: b, interface: e0, conditions: { loss: \"20%\" } }"),
            "{y}"
        );
    }

    #[test]
    fn odd_names_are_quoted() {
        round_trip(
            "name: t\nnodes:\n  \"true\": {}\n  \"1\": { sysctls: { net.ipv4.conf.all.rp_filter: 0 } }\n  br: { kind: bridge, in: \"true\", ip: [\"fe80::1/64\", 10.1.0.1/16], stp: true, mtu: 9000, mac: \"02:00:00:00:00:01\" }\nlinks:\n  - endpoints: [\"true:a#b\", {node: \"1\", interface: \"x'\\\"y\", mtu: 1400, mac: \"02:00:00:00:00:02\", ip: \"2001:db8::1/64\"}]\n  - endpoints: [\"br:p1\", \"1:on\"]\n",
        );
        assert_eq!(scalar("10.0.0.1/24"), "10.0.0.1/24");
        assert_eq!(scalar("2001:db8::1/64"), "2001:db8::1/64");
        assert_eq!(scalar("1"), "\"1\"");
        assert_eq!(scalar("no"), "\"no\"");
        assert_eq!(scalar("a b"), "\"a b\"");
    }
}
