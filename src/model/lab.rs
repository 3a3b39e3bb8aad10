//! The validated lab: what the file means, with every name and address checked.

use std::collections::BTreeMap;
use std::fmt;

use ipnet::IpNet;

use super::conditions::{Conditions, Param};
use super::raw::Span;
use super::route::Route;

/// The namespace vnet runs in; it is never created or deleted by a lab.
pub const HOST: &str = "host";

#[derive(Clone, Debug, PartialEq)]
pub struct Lab {
    pub name: String,
    /// Nodes in file order (the implicit `host` node is not listed).
    pub nodes: Vec<Node>,
    pub links: Vec<Link>,
    pub expect: Vec<Expectation>,
    /// Keep IPv6 link-local addresses on interfaces without an IPv6 address.
    pub ipv6_link_local: bool,
    /// Node lookups by name, built on first use (labs have thousands of nodes).
    pub index: NodeIndex,
    /// The machines the lab is split over (empty: one machine).
    pub hosts: Box<super::hosts::Hosts>,
}

/// Where each node sits in `Lab::nodes`. A hint, checked on every use, so a
/// lab edited after the first lookup still answers right (by a scan).
#[derive(Default)]
pub struct NodeIndex(std::sync::OnceLock<std::collections::HashMap<String, usize>>);

impl Clone for NodeIndex {
    fn clone(&self) -> Self {
        NodeIndex::default()
    }
}

impl PartialEq for NodeIndex {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl fmt::Debug for NodeIndex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("NodeIndex")
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    pub name: String,
    pub kind: NodeKind,
}

#[derive(Clone, Debug, PartialEq)]
pub enum NodeKind {
    Netns(NetnsNode),
    Bridge(BridgeNode),
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct NetnsNode {
    pub forward: bool,
    pub routes: Vec<Route>,
    /// Keys in dotted form (`net.ipv4.conf.all.rp_filter`), values as written.
    pub sysctls: BTreeMap<String, String>,
    /// Files, directories, commands and daemons of this node.
    pub workload: Box<super::workload::Workload>,
    /// `netns:`, `pid:` or `container:`: a namespace vnet joins but did not
    /// make and never removes (see `model::external`).
    pub external: Option<super::external::Reference>,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct BridgeNode {
    /// The netns node holding the bridge; `None` is the host namespace.
    pub inside: Option<String>,
    pub ips: Vec<IpNet>,
    pub stp: bool,
    pub vlan_filtering: bool,
    pub mtu: Option<u32>,
    pub mac: Option<Mac>,
}

/// One veth pair.
#[derive(Clone, Debug, PartialEq)]
pub struct Link {
    pub ends: [Endpoint; 2],
    /// `conditions:` of the link: each end's egress.
    pub conditions: Conditions,
    pub places: Places,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Endpoint {
    pub node: String,
    pub interface: String,
    pub ips: Vec<IpNet>,
    pub mac: Option<Mac>,
    pub mtu: Option<u32>,
    /// `conditions:` of this end alone (over the link's).
    pub conditions: Conditions,
    pub places: Places,
}

impl Link {
    /// The conditions on the egress of end `i`: the link's, with the
    /// end's own keys over them.
    pub fn egress(&self, i: usize) -> Conditions {
        self.conditions.overlaid(&self.ends[i].conditions)
    }

    /// Where a condition of end `i` was written: the end's key, else the
    /// link's.
    pub fn place(&self, i: usize, p: Param) -> Option<Span> {
        self.ends[i].places.get(p).or_else(|| self.places.get(p))
    }
}

/// Where each condition key was written, for refusals made after
/// validation (a kernel without netem, say). Not part of what the lab
/// means: labs that differ only here are equal.
#[derive(Clone, Debug, Default)]
pub struct Places(pub Vec<(Param, Span)>);

impl Places {
    pub fn get(&self, p: Param) -> Option<Span> {
        self.0.iter().find(|(q, _)| *q == p).map(|(_, s)| *s)
    }
}

impl PartialEq for Places {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Expectation {
    pub from: String,
    pub to: String,
    pub reach: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Mac(pub [u8; 6]);

impl fmt::Display for Mac {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        let b = self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            b[0], b[1], b[2], b[3], b[4], b[5]
        )
    }
}

impl std::str::FromStr for Mac {
    type Err = super::error::ValueError;
    fn from_str(s: &str) -> Result<Mac, Self::Err> {
        let parts: Vec<&str> = s.split(':').collect();
        if parts.len() != 6 {
            return Err(Self::Err::MacShape);
        }
        let mut out = [0u8; 6];
        for (i, p) in parts.iter().enumerate() {
            if p.is_empty() || p.len() > 2 {
                return Err(Self::Err::MacByte(p.to_string()));
            }
            out[i] = u8::from_str_radix(p, 16).map_err(|_| Self::Err::MacByte(p.to_string()))?;
        }
        if out[0] & 1 == 1 {
            return Err(Self::Err::MacMulticast);
        }
        if out == [0; 6] {
            return Err(Self::Err::MacZero);
        }
        Ok(Mac(out))
    }
}

impl Lab {
    pub fn node(&self, name: &str) -> Option<&Node> {
        let index = self.index.0.get_or_init(|| {
            let mut m = std::collections::HashMap::with_capacity(self.nodes.len());
            for (i, n) in self.nodes.iter().enumerate() {
                m.entry(n.name.clone()).or_insert(i);
            }
            m
        });
        match index.get(name).and_then(|&i| self.nodes.get(i)) {
            Some(n) if n.name == name => Some(n),
            _ => self.nodes.iter().find(|n| n.name == name),
        }
    }

    /// The namespace an interface of `node` lives in: a netns node is its own
    /// namespace, a bridge lives where it was put, `host` is the host.
    pub fn namespace_of(&self, node: &str) -> Netns {
        match self.node(node).map(|n| &n.kind) {
            Some(NodeKind::Netns(_)) => Netns::Named(node.to_string()),
            Some(NodeKind::Bridge(b)) => match &b.inside {
                Some(ns) => Netns::from_node_name(ns),
                None => Netns::Host,
            },
            None => Netns::Host,
        }
    }

    pub fn netns_nodes(&self) -> impl Iterator<Item = (&str, &NetnsNode)> {
        self.nodes.iter().filter_map(|n| match &n.kind {
            NodeKind::Netns(ns) => Some((n.name.as_str(), ns)),
            _ => None,
        })
    }

    /// The reference of an external node (`netns:`, `pid:`, `container:`).
    pub fn external(&self, node: &str) -> Option<&super::external::Reference> {
        match self.node(node).map(|n| &n.kind) {
            Some(NodeKind::Netns(n)) => n.external.as_ref(),
            _ => None,
        }
    }

    pub fn bridges(&self) -> impl Iterator<Item = (&str, &BridgeNode)> {
        self.nodes.iter().filter_map(|n| match &n.kind {
            NodeKind::Bridge(b) => Some((n.name.as_str(), b)),
            _ => None,
        })
    }
}

/// A network namespace: the host's, or a named one under /run/netns.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Netns {
    Host,
    Named(String),
}

impl Netns {
    pub fn name(&self) -> &str {
        match self {
            Netns::Host => HOST,
            Netns::Named(n) => n,
        }
    }

    pub fn is_host(&self) -> bool {
        matches!(self, Netns::Host)
    }

    pub fn from_node_name(name: &str) -> Netns {
        if name == HOST {
            Netns::Host
        } else {
            Netns::Named(name.to_string())
        }
    }
}

impl serde::Serialize for Netns {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl fmt::Display for Netns {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(self.name())
    }
}
