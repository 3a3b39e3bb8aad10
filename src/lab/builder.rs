//! A lab in code: [`Builder`] writes the lab file it stands for and reads
//! it back like any other, so a built lab and a file mean the same model
//! and are checked by the same rules, with the same messages.

use std::fmt::Write;

use super::error::Result;
use super::spec::Lab;
use crate::model::write::{quoted, scalar};

/// One end of a link: `"node:interface"`, with addresses and an MTU.
///
/// ```
/// let end = vnet::End::new("h1:eth0").ip("10.0.0.1/24").ip("2001:db8::1/64");
/// # let _ = end;
/// ```
#[derive(Clone, Debug)]
pub struct End {
    at: String,
    ips: Vec<String>,
    mtu: Option<u32>,
}

impl End {
    /// `"node:interface"` (the node `host` is the namespace vnet runs in).
    pub fn new(at: &str) -> End {
        End {
            at: at.to_string(),
            ips: Vec::new(),
            mtu: None,
        }
    }

    /// An address of this end, in CIDR form (`10.0.0.1/24`).
    pub fn ip(mut self, cidr: &str) -> End {
        self.ips.push(cidr.to_string());
        self
    }

    pub fn mtu(mut self, mtu: u32) -> End {
        self.mtu = Some(mtu);
        self
    }

    fn yaml(&self) -> String {
        let (node, iface) = self.at.split_once(':').unwrap_or((&self.at, ""));
        let mut s = format!("{{ node: {}, interface: {}", scalar(node), scalar(iface));
        if !self.ips.is_empty() {
            let ips: Vec<String> = self.ips.iter().map(|i| scalar(i)).collect();
            let _ = write!(s, ", ip: [{}]", ips.join(", "));
        }
        if let Some(m) = self.mtu {
            let _ = write!(s, ", mtu: {m}");
        }
        s.push_str(" }");
        s
    }
}

impl From<&str> for End {
    fn from(at: &str) -> End {
        End::new(at)
    }
}

/// Nodes, bridges, links with addresses, routes: a topology in code.
///
/// ```
/// let lab = vnet::Lab::builder("pair")
///     .node("h1")
///     .node("h2")
///     .link(
///         vnet::End::new("h1:eth0").ip("10.0.0.1/24"),
///         vnet::End::new("h2:eth0").ip("10.0.0.2/24"),
///     )
///     .build()?;
/// assert_eq!(lab.name(), "pair");
/// # Ok::<(), vnet::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct Builder {
    name: String,
    /// Node name → its options, in the order given.
    nodes: Vec<(String, NodeOpts)>,
    links: Vec<(End, End, Option<String>)>,
    expect: Vec<(String, String, bool)>,
}

#[derive(Clone, Debug, Default)]
struct NodeOpts {
    bridge: bool,
    forward: bool,
    inside: Option<String>,
    ips: Vec<String>,
    routes: Vec<String>,
    sysctls: Vec<(String, String)>,
}

impl Builder {
    pub(super) fn new(name: &str) -> Builder {
        Builder {
            name: name.to_string(),
            nodes: Vec::new(),
            links: Vec::new(),
            expect: Vec::new(),
        }
    }

    fn opts(&mut self, node: &str) -> &mut NodeOpts {
        let i = match self.nodes.iter().position(|(n, _)| n == node) {
            Some(i) => i,
            None => {
                self.nodes.push((node.to_string(), NodeOpts::default()));
                self.nodes.len() - 1
            }
        };
        &mut self.nodes[i].1
    }

    /// A network namespace (a host).
    pub fn node(mut self, name: &str) -> Builder {
        self.opts(name);
        self
    }

    /// A network namespace that forwards IPv4 and IPv6 (a router).
    pub fn router(mut self, name: &str) -> Builder {
        self.opts(name).forward = true;
        self
    }

    /// A Linux bridge in the host namespace.
    pub fn bridge(mut self, name: &str) -> Builder {
        self.opts(name).bridge = true;
        self
    }

    /// A Linux bridge inside the namespace of node `inside`.
    pub fn bridge_in(mut self, name: &str, inside: &str) -> Builder {
        let o = self.opts(name);
        o.bridge = true;
        o.inside = Some(inside.to_string());
        self
    }

    /// An address on a bridge itself (CIDR).
    pub fn bridge_ip(mut self, bridge: &str, cidr: &str) -> Builder {
        self.opts(bridge).ips.push(cidr.to_string());
        self
    }

    /// A veth pair between two ends: `"node:interface"` or an [`End`].
    pub fn link(mut self, a: impl Into<End>, b: impl Into<End>) -> Builder {
        self.links.push((a.into(), b.into(), None));
        self
    }

    /// A veth pair with link conditions on both ends' egress, written as in
    /// a lab file: `"delay: 20ms, loss: 1%"`.
    pub fn link_with(mut self, a: impl Into<End>, b: impl Into<End>, conditions: &str) -> Builder {
        self.links
            .push((a.into(), b.into(), Some(conditions.to_string())));
        self
    }

    /// A route of `node`, iproute2-style: `"default via 10.0.1.1"`.
    pub fn route(mut self, node: &str, route: &str) -> Builder {
        self.opts(node).routes.push(route.to_string());
        self
    }

    /// A sysctl of `node`'s namespace: `("net.ipv4.conf.all.rp_filter", "0")`.
    pub fn sysctl(mut self, node: &str, key: &str, value: &str) -> Builder {
        self.opts(node)
            .sysctls
            .push((key.to_string(), value.to_string()));
        self
    }

    /// A pair that must (or must not) reach the other, for
    /// [`Matrix::ok`](super::Matrix::ok).
    pub fn expect(mut self, from: &str, to: &str, reach: bool) -> Builder {
        self.expect.push((from.to_string(), to.to_string(), reach));
        self
    }

    /// The lab file this builder stands for.
    pub fn yaml(&self) -> String {
        let mut out = format!("name: {}\n", scalar(&self.name));
        out.push_str(if self.nodes.is_empty() {
            "nodes: {}\n"
        } else {
            "nodes:\n"
        });
        for (name, o) in &self.nodes {
            let mut kv: Vec<String> = Vec::new();
            if o.bridge {
                kv.push("kind: bridge".into());
            }
            if let Some(i) = &o.inside {
                kv.push(format!("in: {}", scalar(i)));
            }
            if o.forward {
                kv.push("forward: true".into());
            }
            if !o.ips.is_empty() {
                let ips: Vec<String> = o.ips.iter().map(|i| scalar(i)).collect();
                kv.push(format!("ip: [{}]", ips.join(", ")));
            }
            if !o.routes.is_empty() {
                let r: Vec<String> = o.routes.iter().map(|r| quoted(r)).collect();
                kv.push(format!("routes: [{}]", r.join(", ")));
            }
            if !o.sysctls.is_empty() {
                let s: Vec<String> = o
                    .sysctls
                    .iter()
                    .map(|(k, v)| format!("{}: {}", quoted(k), quoted(v)))
                    .collect();
                kv.push(format!("sysctls: {{ {} }}", s.join(", ")));
            }
            let _ = writeln!(out, "  {}: {{ {} }}", scalar(name), kv.join(", "));
        }
        if !self.links.is_empty() {
            out.push_str("links:\n");
        }
        for (a, b, cond) in &self.links {
            let _ = writeln!(out, "  - endpoints: [{}, {}]", a.yaml(), b.yaml());
            if let Some(c) = cond {
                let _ = writeln!(out, "    conditions: {{ {c} }}");
            }
        }
        if !self.expect.is_empty() {
            out.push_str("expect:\n");
        }
        for (from, to, reach) in &self.expect {
            let _ = writeln!(
                out,
                "  - {{ from: {}, to: {}, reach: {reach} }}",
                scalar(from),
                scalar(to)
            );
        }
        out
    }

    /// The lab, checked as a lab file would be (problems point into
    /// [`yaml`](Builder::yaml)'s text, named `builder:NAME`).
    pub fn build(&self) -> Result<Lab> {
        Lab::parse(&format!("builder:{}", self.name), &self.yaml())
    }
}
