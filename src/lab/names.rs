//! Names of one running copy of a lab (pure). The kernel names in a lab file
//! are global: two tests bringing up the same file at once would fight over
//! `ns1` and `br0`. So each copy gets a tag of its own (this process's id
//! and a counter) and the lab's global names are made unique with it:
//! - the lab: `NAME-PID-N` (what `vnet status`/`vnet down` take);
//! - each namespace: `LAB-PID-N.NODE` (`ip netns` shows whose it is);
//! - each interface in the host namespace (bridges there, veth ends there):
//!   `PID-N-IFACE`, or `PID-N-I` where that passes 15 bytes.
//!
//! Interfaces inside the lab's namespaces keep their names (they are the
//! namespace's own), and so do routes and sysctls. The caller keeps the
//! names of the file: [`Names`] maps them to the kernel's and back.

use std::collections::{BTreeSet, HashMap};

use crate::model::lab::{HOST, Lab, NodeKind};
use crate::model::names::{IFNAME_MAX, LAB_NAME_MAX, NETNS_NAME_MAX};

/// What makes one copy's names unique: this process and a counter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Tag {
    pub pid: u32,
    pub n: u64,
}

impl Tag {
    fn text(self) -> String {
        format!("{}-{}", base36(u64::from(self.pid)), base36(self.n))
    }
}

fn base36(mut v: u64) -> String {
    const DIGITS: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut out = Vec::new();
    loop {
        out.push(DIGITS[(v % 36) as usize]);
        v /= 36;
        if v == 0 {
            break;
        }
    }
    out.reverse();
    String::from_utf8(out).unwrap_or_default()
}

/// The file's names and the kernel's, both ways.
#[derive(Clone, Debug, Default)]
pub(super) struct Names {
    /// Node (as in the file) → its kernel name: the namespace of a netns
    /// node, the interface of a bridge.
    pub nodes: HashMap<String, String>,
    /// Interface in the host namespace (as in the file) → kernel name.
    pub host_ifaces: HashMap<String, String>,
    /// Kernel name of a node → the node in the file.
    pub back: HashMap<String, String>,
}

impl Names {
    /// The names of a lab kept as written.
    pub(super) fn exact(lab: &Lab) -> Names {
        let mut n = Names::default();
        for node in &lab.nodes {
            n.add_node(&node.name, &node.name);
        }
        for l in &lab.links {
            for e in &l.ends {
                if lab.namespace_of(&e.node).is_host() {
                    n.host_ifaces
                        .insert(e.interface.clone(), e.interface.clone());
                }
            }
        }
        n
    }

    fn add_node(&mut self, file: &str, kernel: &str) {
        self.nodes.insert(file.to_string(), kernel.to_string());
        self.back.insert(kernel.to_string(), file.to_string());
    }

    /// A node's kernel name (`host` stays `host`).
    pub(super) fn node(&self, file: &str) -> Option<&str> {
        if file == HOST {
            return Some(HOST);
        }
        self.nodes.get(file).map(String::as_str)
    }

    /// A kernel name as the file calls it (unknown names unchanged).
    pub(super) fn file_name<'a>(&'a self, kernel: &'a str) -> &'a str {
        self.back.get(kernel).map_or(kernel, String::as_str)
    }
}

/// The lab with every global name made unique by `tag`, and the map.
pub(super) fn tagged(lab: &Lab, tag: Tag) -> (Lab, Names) {
    let t = tag.text();
    let mut names = Names::default();
    // The lab: as much of its name as fits before the tag.
    let room = LAB_NAME_MAX - t.len() - 1;
    let base: &str = lab.name[..lab.name.len().min(room)].trim_end_matches('-');
    let lab_name = format!("{base}-{t}");
    // Namespaces: the lab's name, a dot, the node's (by number when long).
    for (i, (node, _)) in lab.netns_nodes().enumerate() {
        let mut ns = format!("{lab_name}.{node}");
        if ns.len() > NETNS_NAME_MAX {
            ns = format!("{lab_name}.{i}");
        }
        names.add_node(node, &ns);
    }
    // Host interfaces: the tag, then the name when it fits, else a number.
    let mut host: Vec<&str> = Vec::new();
    for (b, spec) in lab.bridges() {
        if spec.inside.is_none() {
            host.push(b);
        }
    }
    for l in &lab.links {
        for e in &l.ends {
            if lab.namespace_of(&e.node).is_host() {
                host.push(&e.interface);
            }
        }
    }
    let mut taken = BTreeSet::new();
    for (i, iface) in host.iter().enumerate() {
        if names.host_ifaces.contains_key(*iface) {
            continue;
        }
        let mut name = format!("{t}-{iface}");
        let mut k = i;
        while name.len() > IFNAME_MAX || taken.contains(&name) {
            name = format!("{t}-{k}");
            k += host.len();
        }
        taken.insert(name.clone());
        names.host_ifaces.insert(iface.to_string(), name);
    }
    for (b, spec) in lab.bridges() {
        match &spec.inside {
            None => {
                let k = names.host_ifaces[b].clone();
                names.add_node(b, &k);
            }
            Some(_) => names.add_node(b, b),
        }
    }

    let mut out = lab.clone();
    out.name = lab_name;
    for node in &mut out.nodes {
        if let NodeKind::Bridge(b) = &mut node.kind
            && let Some(ns) = &mut b.inside
            && let Some(k) = names.node(ns)
        {
            *ns = k.to_string();
        }
        if let Some(k) = names.node(&node.name) {
            node.name = k.to_string();
        }
    }
    for (l, orig) in out.links.iter_mut().zip(&lab.links) {
        for (e, o) in l.ends.iter_mut().zip(&orig.ends) {
            if lab.namespace_of(&o.node).is_host()
                && let Some(k) = names.host_ifaces.get(&o.interface)
            {
                e.interface = k.clone();
            }
            if let Some(k) = names.node(&o.node) {
                e.node = k.to_string();
            }
        }
    }
    for x in &mut out.expect {
        for n in [&mut x.from, &mut x.to] {
            if let Some(k) = names.node(n) {
                *n = k.to_string();
            }
        }
    }
    out.index = Default::default();
    (out, names)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::net::desired;
    use crate::model::{Netns, parse_lab};

    const SEED: &str = "name: seed-bridge\nnodes:\n  ns1: {}\n  ns2: {}\n  br0: { kind: bridge }\nlinks:\n  - endpoints: [\"ns1:veth0\", \"br0:br0-veth0\"]\n  - endpoints: [\"ns2:veth1\", \"br0:br0-veth1\"]\n  - endpoints: [\"ns2:v2\", \"host:vh0\"]\nexpect:\n  - { from: ns1, to: ns2, reach: true }\n";

    #[test]
    fn every_global_name_is_tagged_and_the_rest_kept() {
        let lab = parse_lab("t.yaml", SEED).unwrap();
        let tag = Tag {
            pid: 4_194_303,
            n: 37,
        };
        let (t, names) = tagged(&lab, tag);
        assert_eq!(t.name, "seed-bridge-2hwcf-11");
        assert_eq!(names.node("ns1"), Some("seed-bridge-2hwcf-11.ns1"));
        assert_eq!(names.node("br0"), Some("2hwcf-11-br0"));
        assert_eq!(names.file_name("seed-bridge-2hwcf-11.ns2"), "ns2");
        let net = desired(&t);
        let host = net.ns(&Netns::Host).unwrap();
        let mut hosts: Vec<&String> = host.links.keys().collect();
        hosts.sort();
        // br0-veth0 does not fit after the tag: numbered instead.
        assert!(
            hosts
                .iter()
                .all(|h| h.starts_with("2hwcf-11-") && h.len() <= 15)
        );
        assert_eq!(hosts.len(), 4);
        assert!(host.links.contains_key("2hwcf-11-vh0"));
        let ns1 = net
            .ns(&Netns::Named("seed-bridge-2hwcf-11.ns1".into()))
            .unwrap();
        assert!(ns1.links.contains_key("veth0"));
        assert_eq!(t.expect[0].to, "seed-bridge-2hwcf-11.ns2");
        // And the result is a lab file like any other.
        let text = crate::model::write::lab_yaml(&t, &[]);
        assert_eq!(parse_lab("t.yaml", &text).unwrap(), t);
    }

    #[test]
    fn two_copies_share_no_global_name() {
        let lab = parse_lab("t.yaml", SEED).unwrap();
        let (a, _) = tagged(&lab, Tag { pid: 7, n: 0 });
        let (b, _) = tagged(&lab, Tag { pid: 7, n: 1 });
        let global = |l: &Lab| -> BTreeSet<String> {
            let net = desired(l);
            let mut s: BTreeSet<String> = net.named().map(str::to_string).collect();
            s.extend(net.ns(&Netns::Host).unwrap().links.keys().cloned());
            s.insert(l.name.clone());
            s
        };
        assert!(global(&a).is_disjoint(&global(&b)));
    }

    #[test]
    fn long_names_are_cut_to_fit() {
        let long = "a".repeat(32);
        let text = format!("name: {long}\nnodes:\n  {}: {{}}\n", "n".repeat(64));
        let lab = parse_lab("t.yaml", &text).unwrap();
        let (t, _) = tagged(
            &lab,
            Tag {
                pid: 99_999,
                n: 999,
            },
        );
        assert!(t.name.len() <= LAB_NAME_MAX);
        assert!(parse_lab("t.yaml", &crate::model::write::lab_yaml(&t, &[])).is_ok());
    }
}
