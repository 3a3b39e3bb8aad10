//! The kernel read for pictures and exports: every namespace on the machine
//! (or some of them), or one lab's, with the same observer `status` uses.

use std::collections::{BTreeMap, BTreeSet};

use super::status::peer_of;
use super::{EngineError, observe_lab, record, scan};
use crate::kernel::session::Session;
use crate::model::live::{LiveLink, LiveNs};
use crate::model::net::{FORWARD_SYSCTLS, desired};
use crate::model::{Lab, owner};
use crate::plan;

pub struct View {
    /// The host namespace (for a lab: only the lab's interfaces).
    pub host: LiveNs,
    pub named: Vec<LiveNs>,
    /// The lab file, when the view is a lab's and its file is known.
    pub lab: Option<Lab>,
    /// iproute2 commands that would bring the kernel back to the file.
    pub drift: Option<Vec<String>>,
    /// Every namespace read, unfiltered, to find veth peers in.
    all: Vec<LiveNs>,
}

impl View {
    /// The namespaces of the view, host first.
    pub fn namespaces(&self) -> Vec<&LiveNs> {
        std::iter::once(&self.host)
            .chain(self.named.iter())
            .collect()
    }

    /// A veth's other end as "namespace:interface", or why it is not known.
    pub fn peer(&self, l: &LiveLink, ns: &LiveNs) -> Option<String> {
        let all: Vec<&LiveNs> = self.all.iter().collect();
        peer_of(l, ns, &all)
    }

    /// The host interfaces in the view, by name.
    pub fn host_names(&self) -> BTreeSet<String> {
        self.host.links.iter().map(|l| l.name.clone()).collect()
    }
}

/// Reading other namespaces means entering them.
fn may_read() -> Result<(), EngineError> {
    match super::privilege::missing() {
        None => Ok(()),
        Some(missing) => Err(EngineError::CannotRead { missing }),
    }
}

/// Every named namespace (or only those in `only`), and the host.
pub fn machine(only: &[String]) -> Result<View, EngineError> {
    may_read()?;
    let mut session = Session::new().map_err(|e| EngineError::kernel("open netlink", e))?;
    let marks =
        scan::namespaces(&mut session).map_err(|e| EngineError::kernel("scan /run/netns", e))?;
    if !only.is_empty() {
        let known: BTreeSet<&str> = marks
            .iter()
            .filter(|m| !m.stale)
            .map(|m| m.name.as_str())
            .collect();
        let missing: Vec<String> = only
            .iter()
            .filter(|n| !known.contains(n.as_str()))
            .cloned()
            .collect();
        if !missing.is_empty() {
            return Err(EngineError::NoSuchNamespace(missing));
        }
    }
    let sysctls: BTreeMap<String, Vec<String>> = session
        .named
        .keys()
        .map(|n| {
            (
                n.clone(),
                FORWARD_SYSCTLS.iter().map(|k| k.to_string()).collect(),
            )
        })
        .collect();
    let (mut host, mut named) = session
        .observe(&sysctls)
        .map_err(|e| EngineError::kernel("read the kernel's state", e))?;
    super::read_conditions(&session, &mut host, &mut named, None)?;
    let mut all = vec![host.clone()];
    all.extend(named.values().cloned());
    let named = named
        .into_values()
        .filter(|n| only.is_empty() || only.contains(&n.ns))
        .collect();
    Ok(View {
        host,
        named,
        lab: None,
        drift: None,
        all,
    })
}

/// One lab as the kernel holds it, found by its marks; `file` is its lab
/// file if given, else the one its state record keeps.
pub fn lab(name: &str, file: Option<Lab>) -> Result<View, EngineError> {
    may_read()?;
    let rec = record::load(name);
    let lab = file.or_else(|| {
        let r = rec.as_ref()?;
        crate::model::parse_lab(r.file.as_deref().unwrap_or("recorded"), r.text.as_deref()?).ok()
    });
    let net = lab.as_ref().map(desired).unwrap_or_default();
    let mut session = Session::new().map_err(|e| EngineError::kernel("open netlink", e))?;
    let journal = rec.as_ref().map(|r| r.journal.clone()).unwrap_or_default();
    let (observed, _) = observe_lab(&mut session, name, &net, journal)?;
    let mark = owner::mark(name);
    let mut host = observed.host.clone();
    host.links
        .retain(|l| l.alias.as_deref() == Some(mark.as_str()));
    let mut named: Vec<LiveNs> = observed
        .named
        .values()
        .filter(|l| plan::diff::netns_owner(l) == Some(name))
        .cloned()
        .collect();
    // External nodes that could be joined, with all they hold (the lab's
    // interfaces and their own).
    named.extend(
        net.external
            .keys()
            .filter_map(|n| observed.named.get(n))
            .cloned(),
    );
    if named.is_empty() && host.links.is_empty() && rec.is_none() {
        return Err(EngineError::NoSuchLab(name.to_string()));
    }
    let drift = lab.as_ref().map(|l| {
        let p = plan::plan(&l.name, &net, &observed);
        let mut lines: Vec<String> = p.actions.iter().flat_map(plan::script::commands).collect();
        for c in &p.conflicts {
            lines.push(format!("# conflict: {} — owned by {}", c.object, c.owner));
        }
        lines
    });
    let mut all = vec![observed.host.clone()];
    all.extend(observed.named.values().cloned());
    Ok(View {
        host,
        named,
        lab,
        drift,
        all,
    })
}
