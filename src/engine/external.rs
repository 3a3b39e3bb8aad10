//! External nodes in the engine: joined (never created) by `up`, `status`
//! and the views; on `down`, only the lab's own interfaces and the routes
//! its file declared are removed from them, and a namespace that has gone
//! is reported, not an error. References are resolved on every run.

use std::collections::BTreeMap;

use netlink_packet_route::RouteNetlinkMessage;
use serde::{Deserialize, Serialize};

use super::{EngineError, record};
use crate::kernel::external::{self, JoinError, NsId};
use crate::kernel::msg::{self, Dev};
use crate::kernel::netns;
use crate::kernel::observe;
use crate::kernel::session::Session;
use crate::model::external::Reference;
use crate::model::live::LiveLink;
use crate::model::net::Net;
use crate::model::{Lab, owner};

/// What the state record keeps of an external node.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub reference: Reference,
    /// The namespace joined when the lab was last brought up.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ns: Option<NsId>,
}

/// Join every external node of `net` (the outcome is in `session.external`).
pub fn join(session: &mut Session, net: &Net) {
    for (name, r) in &net.external {
        session.join_external(name, r);
    }
    // Two nodes that are one namespace would share interface names
    // unchecked: the second is refused.
    let mut seen: BTreeMap<NsId, String> = BTreeMap::new();
    let names: Vec<String> = session.external.keys().cloned().collect();
    for n in names {
        let Some(Ok(id)) = session.external.get(&n).cloned() else {
            continue;
        };
        if let Some(first) = seen.get(&id) {
            let why = JoinError::Refused(format!(
                "it is the same namespace as node {first}; give each namespace one node"
            ));
            session.named.remove(&n);
            session.external.insert(n, Err(why));
        } else {
            seen.insert(id, n);
        }
    }
}

/// `up` cannot go on without every external node: each missing one is
/// named with its reference.
pub fn refuse_missing(session: &Session, net: &Net) -> Result<(), EngineError> {
    let missing: Vec<String> = net
        .external
        .iter()
        .filter_map(|(n, r)| match session.external.get(n) {
            Some(Err(e)) => Some(format!("  - node {n} ({r}): {e}")),
            _ => None,
        })
        .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(EngineError::Refused(format!(
            "refusing to change anything: {} external node{} cannot be joined:\n{}",
            missing.len(),
            if missing.len() == 1 { "" } else { "s" },
            missing.join("\n")
        )))
    }
}

/// The record's entries for `lab`'s external nodes (with the namespaces
/// `session` joined, when given).
pub fn entries(lab: &Lab, session: Option<&Session>) -> BTreeMap<String, Entry> {
    lab.netns_nodes()
        .filter_map(|(n, node)| {
            let r = node.external.clone()?;
            let ns = session
                .and_then(|s| s.external.get(n))
                .and_then(|o| o.as_ref().ok().copied());
            Some((n.to_string(), Entry { reference: r, ns }))
        })
        .collect()
}

/// The external nodes of every lab with a record: how the probes and
/// `exec` find nodes that are not under /run/netns.
pub fn recorded() -> BTreeMap<String, Reference> {
    let mut out = BTreeMap::new();
    for lab in record::labs() {
        if let Some(r) = record::load(&lab) {
            for (n, e) in r.external {
                out.entry(n).or_insert(e.reference);
            }
        }
    }
    out
}

/// Let the kernel edge find external nodes through the state records.
pub fn publish() {
    external::set_loader(recorded);
}

/// What `down` did in external namespaces.
#[derive(Debug, Default)]
pub struct Removed {
    pub interfaces: usize,
    /// External nodes whose namespace has gone (their interfaces with it).
    pub gone: Vec<String>,
}

/// Remove the lab's interfaces and declared routes from its external
/// nodes' namespaces; what could not be removed goes to `left`.
pub fn remove(lab: &str, left: &mut Vec<String>) -> Removed {
    let mut out = Removed::default();
    let Some(rec) = record::load(lab) else {
        return out;
    };
    let parsed = rec
        .text
        .as_deref()
        .and_then(|t| crate::model::parse_lab(rec.file.as_deref().unwrap_or("recorded"), t).ok());
    for (node, entry) in &rec.external {
        let joined = match external::open(&entry.reference) {
            Ok(j) => j,
            Err(e) if e.is_gone() => {
                out.gone.push(format!(
                    "node {node} ({}): {e}; its interfaces went with it",
                    entry.reference
                ));
                continue;
            }
            Err(e) => {
                left.push(format!("node {node} ({}): {e}", entry.reference));
                continue;
            }
        };
        let routes = parsed
            .as_ref()
            .and_then(|l| match l.node(node).map(|n| &n.kind) {
                Some(crate::model::lab::NodeKind::Netns(n)) => Some(n.routes.clone()),
                _ => None,
            })
            .unwrap_or_default();
        match clean(lab, joined.fd, &routes) {
            Ok((n, rest)) => {
                out.interfaces += n;
                for name in rest {
                    left.push(format!(
                        "interface {name} in node {node} ({})",
                        entry.reference
                    ));
                }
            }
            Err(e) => left.push(format!("node {node} ({}): {e}", entry.reference)),
        }
    }
    out
}

/// The lab's interfaces in a namespace: marked with its alias, or
/// carrying its group (set in the creation request).
fn ours(lab: &str, links: &[LiveLink]) -> Vec<LiveLink> {
    let mark = owner::mark(lab);
    let group = owner::group(lab);
    links
        .iter()
        .filter(|l| l.name != "lo")
        .filter(|l| l.alias.as_deref() == Some(mark.as_str()) || l.group == group)
        .cloned()
        .collect()
}

/// Delete the declared routes, then the lab's interfaces (their veth peers
/// go with them), in one namespace; returns how many interfaces went and
/// the names still there afterwards (on the kernel's word).
fn clean(
    lab: &str,
    fd: std::os::fd::OwnedFd,
    routes: &[crate::model::route::Route],
) -> Result<(usize, Vec<String>), crate::kernel::KernelError> {
    let mut h = netns::attach(fd)?;
    let links = read_links(&mut h)?;
    for r in routes {
        let dev = r
            .dev
            .as_ref()
            .and_then(|d| links.iter().find(|l| &l.name == d))
            .map(|l| l.index);
        if r.dev.is_some() && dev.is_none() {
            continue;
        }
        let m = msg::route(&r.dst, r.via, dev, r.metric);
        match h.sock.request(RouteNetlinkMessage::DelRoute(m), 0) {
            // ESRCH: not there (it went with an interface, or never was).
            Ok(()) => {}
            Err(e) if e.is(libc::ESRCH) || e.is(libc::ENODEV) => {}
            Err(e) => return Err(e),
        }
    }
    let doomed = ours(lab, &links);
    for l in &doomed {
        match h.sock.request(msg::del_link(&Dev::Index(l.index)), 0) {
            Ok(()) => {}
            // Gone already, with its veth peer.
            Err(e) if e.is(libc::ENODEV) => {}
            Err(e) => return Err(e),
        }
    }
    let rest = ours(lab, &read_links(&mut h)?)
        .into_iter()
        .map(|l| l.name)
        .collect();
    Ok((doomed.len(), rest))
}

fn read_links(h: &mut netns::NsHandle) -> Result<Vec<LiveLink>, crate::kernel::KernelError> {
    Ok(h.sock
        .dump(observe::link_dump_request())?
        .iter()
        .filter_map(|m| match m {
            RouteNetlinkMessage::NewLink(l) => Some(observe::link(l)),
            _ => None,
        })
        .collect())
}

/// How `status` shows an external node's namespace: None when joined.
pub fn state(session: &Session, node: &str) -> Option<String> {
    match session.external.get(node)? {
        Ok(_) => None,
        Err(e) if e.is_gone() => Some(format!("gone: {e}")),
        Err(e) => Some(format!("unreachable: {e}")),
    }
}

/// External nodes of the labs with a record: node → lab.
pub fn owners() -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for lab in record::labs() {
        if let Some(r) = record::load(&lab) {
            for n in r.external.into_keys() {
                out.entry(n).or_insert_with(|| lab.clone());
            }
        }
    }
    out
}

/// A lab's view of its external nodes: only the addresses on the lab's
/// own interfaces there are the lab's to probe (the namespace's own
/// addresses are its owner's, and the lab's nodes have no route to them).
pub fn lab_addresses_only(lab: &str, ns: &mut BTreeMap<String, crate::model::live::LiveNs>) {
    let mark = owner::mark(lab);
    let group = owner::group(lab);
    for (node, owner_lab) in owners() {
        if owner_lab != lab {
            continue;
        }
        if let Some(live) = ns.get_mut(&node) {
            for l in live.links.iter_mut() {
                let ours = l.alias.as_deref() == Some(mark.as_str()) || l.group == group;
                if !ours && l.name != "lo" {
                    l.addrs.clear();
                }
            }
        }
    }
}
