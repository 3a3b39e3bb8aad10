//! `vnet status`: labs as the kernel holds them, read live, with the drift
//! from the lab file when it is known.

use std::collections::BTreeMap;

use serde::Serialize;

use super::{EngineError, observe_lab, record, scan};
use crate::kernel::session::Session;
use crate::model::live::{LiveLink, LiveNs};
use crate::model::net::desired;
use crate::model::{Lab, Netns, owner};
use crate::plan;

#[derive(Debug, Serialize)]
pub struct LabSummary {
    pub name: String,
    pub namespaces: usize,
    pub host_interfaces: usize,
    /// From the state record: up, building, failed; "unrecorded" without one.
    pub state: String,
    pub file: Option<String>,
}

/// Every lab present in the kernel or with a state record.
pub fn list() -> Result<Vec<LabSummary>, EngineError> {
    super::require_privilege("status")?;
    let mut session = Session::new().map_err(|e| EngineError::kernel("open netlink", e))?;
    let marks =
        scan::namespaces(&mut session).map_err(|e| EngineError::kernel("scan /run/netns", e))?;
    session.named.clear();
    let host = session
        .refresh_links(&Netns::Host)
        .map_err(|e| EngineError::kernel("read host interfaces", e))?;
    let host_ns = LiveNs {
        ns: "host".into(),
        links: host,
        ..LiveNs::default()
    };
    let mut labs = scan::labs(&marks, &host_ns);
    for name in record::labs() {
        labs.entry(name).or_default();
    }
    Ok(labs
        .into_iter()
        .map(|(name, (ns, ifs))| {
            let rec = record::load(&name);
            LabSummary {
                namespaces: ns.len(),
                host_interfaces: ifs.len(),
                state: rec
                    .as_ref()
                    .map_or("unrecorded".into(), |r| r.state.clone()),
                file: rec.and_then(|r| r.file),
                name,
            }
        })
        .collect())
}

#[derive(Debug, Serialize)]
pub struct LabStatus {
    pub name: String,
    pub file: Option<String>,
    pub state: String,
    pub nodes: Vec<NodeStatus>,
    /// iproute2 commands that would bring the kernel back to the file.
    pub drift: Vec<String>,
    /// Whether drift could be computed (the lab file is known).
    pub drift_known: bool,
    /// The nodes' `run:` processes.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub processes: Vec<super::workload::ProcStatus>,
}

#[derive(Debug, Serialize)]
pub struct NodeStatus {
    pub name: String,
    pub kind: &'static str,
    pub interfaces: Vec<IfaceStatus>,
    /// An external node's reference (`pid 1234`, `container web`, …).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    /// An external node whose namespace cannot be joined: "gone: why".
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct IfaceStatus {
    pub name: String,
    pub kind: String,
    pub state: String,
    pub admin_up: bool,
    pub mtu: u32,
    pub mac: Option<String>,
    pub addresses: Vec<String>,
    pub master: Option<String>,
    /// "namespace:interface" of a veth's other end.
    pub peer: Option<String>,
    /// Conditions on its egress, as the kernel holds them.
    pub conditions: crate::model::conditions::Conditions,
}

/// One lab in detail. `lab` is its file, if given; else the recorded one.
pub fn show(name: &str, lab: Option<Lab>) -> Result<LabStatus, EngineError> {
    super::require_privilege("status")?;
    let rec = record::load(name);
    let lab = lab.or_else(|| {
        let r = rec.as_ref()?;
        crate::model::parse_lab(r.file.as_deref().unwrap_or("recorded"), r.text.as_deref()?).ok()
    });
    // A split lab: the part this machine holds, as recorded by `up`.
    let lab = lab.map(|mut l| {
        if l.hosts.here.is_none() && !l.hosts.is_empty() {
            l.hosts.here = rec.as_ref().and_then(|r| r.host.clone());
        }
        l
    });
    let net = lab.as_ref().map(desired).unwrap_or_default();
    let mut session = Session::new().map_err(|e| EngineError::kernel("open netlink", e))?;
    let journal = rec.as_ref().map(|r| r.journal.clone()).unwrap_or_default();
    let (observed, _) = observe_lab(&mut session, name, &net, journal)?;
    let mark = owner::mark(name);
    let owned: BTreeMap<&String, &LiveNs> = observed
        .named
        .iter()
        .filter(|(_, l)| plan::diff::netns_owner(l) == Some(name))
        .collect();
    let host_ours: Vec<&LiveLink> = observed
        .host
        .links
        .iter()
        .filter(|l| l.alias.as_deref() == Some(mark.as_str()))
        .collect();
    let every: Vec<&LiveNs> = std::iter::once(&observed.host)
        .chain(observed.named.values())
        .collect();
    let external: Vec<NodeStatus> = net
        .external
        .iter()
        .map(|(n, r)| NodeStatus {
            name: n.clone(),
            kind: "external",
            interfaces: observed
                .named
                .get(n)
                .map(|live| {
                    live.links
                        .iter()
                        .filter(|l| {
                            l.alias.as_deref() == Some(mark.as_str())
                                || l.group == owner::group(name)
                        })
                        .map(|l| iface(l, live, &every))
                        .collect()
                })
                .unwrap_or_default(),
            reference: Some(r.to_string()),
            problem: super::external::state(&session, n),
        })
        .collect();
    if owned.is_empty() && host_ours.is_empty() && rec.is_none() {
        return Err(EngineError::NoSuchLab(name.to_string()));
    }
    let all: Vec<&LiveNs> = std::iter::once(&observed.host)
        .chain(owned.values().copied())
        .chain(net.external.keys().filter_map(|n| observed.named.get(n)))
        .collect();
    let mut nodes = Vec::new();
    if !host_ours.is_empty() {
        nodes.push(NodeStatus {
            name: "host".into(),
            kind: "host",
            interfaces: host_ours
                .iter()
                .map(|l| iface(l, &observed.host, &all))
                .collect(),
            reference: None,
            problem: None,
        });
    }
    for (n, live) in &owned {
        nodes.push(NodeStatus {
            name: (*n).clone(),
            kind: "netns",
            interfaces: live
                .links
                .iter()
                .filter(|l| l.name != "lo")
                .map(|l| iface(l, live, &all))
                .collect(),
            reference: None,
            problem: None,
        });
    }
    nodes.extend(external);
    let (drift, drift_known) = match &lab {
        Some(l) => {
            let p = plan::plan(&l.name, &net, &observed);
            let mut lines: Vec<String> =
                p.actions.iter().flat_map(plan::script::commands).collect();
            for c in &p.conflicts {
                lines.push(format!("# conflict: {} — owned by {}", c.object, c.owner));
            }
            (lines, true)
        }
        None => (Vec::new(), false),
    };
    Ok(LabStatus {
        name: name.to_string(),
        file: rec.as_ref().and_then(|r| r.file.clone()),
        state: rec.map_or("unrecorded".into(), |r| r.state),
        nodes,
        drift,
        drift_known,
        processes: super::workload::status(name),
    })
}

fn iface(l: &LiveLink, ns: &LiveNs, all: &[&LiveNs]) -> IfaceStatus {
    IfaceStatus {
        name: l.name.clone(),
        kind: l.kind.clone().unwrap_or_else(|| "device".into()),
        state: l.oper.as_str().to_string(),
        admin_up: l.admin_up,
        mtu: l.mtu,
        mac: l.mac.map(|m| m.to_string()),
        addresses: l.addrs.iter().map(|a| a.net.to_string()).collect(),
        master: l.master.and_then(|m| ns.name_of(m)).map(str::to_string),
        peer: peer_of(l, ns, all),
        conditions: l.conditions,
    }
}

/// A veth's other end: the one link, in another namespace, that points back.
pub fn peer_of(l: &LiveLink, ns: &LiveNs, all: &[&LiveNs]) -> Option<String> {
    let p = l.peer?;
    if p.netnsid.is_none() {
        return ns.name_of(p.index).map(|n| format!("{}:{n}", ns.ns));
    }
    let mut found = all
        .iter()
        .filter(|other| other.ns != ns.ns)
        .filter_map(|other| {
            other
                .link_by_index(p.index)
                .filter(|x| x.peer.is_some_and(|pp| pp.index == l.index))
                .map(|x| format!("{}:{}", other.ns, x.name))
        });
    let first = found.next();
    match (first, found.next()) {
        (Some(f), None) => Some(f),
        (Some(_), Some(_)) => Some(format!("ambiguous (ifindex {})", p.index)),
        (None, _) => Some(format!("ifindex {} in another namespace", p.index)),
    }
}
