//! `vnet impair NODE:IFACE`: change one interface's egress conditions live,
//! keeping the parameters not given. Works on any namespace: a lab's (its
//! lock is taken, its loss table used, so `status` shows the change as
//! drift and the next `up` undoes it) or one made by hand.

use std::collections::BTreeMap;
use std::sync::atomic::AtomicBool;

use serde::Serialize;

use super::lock::{LabLock, Wait};
use super::{EngineError, Hooks};
use crate::kernel::apply::{ApplyError, Executor};
use crate::kernel::netns::{self, Found};
use crate::kernel::session::Session;
use crate::kernel::{cond, features, observe, tc};
use crate::model::conditions::{Conditions, Via, loss_table};
use crate::model::live::{LiveLink, LiveNs};
use crate::model::{Netns, names, owner};
use crate::plan::{Action, Plan};

#[derive(Clone, Debug, Default)]
pub struct ImpairRequest {
    /// A named namespace, or `host`.
    pub node: String,
    pub iface: String,
    /// The parameters given; the others keep their value.
    pub set: Conditions,
    /// Parameters given as zero (`--loss 0%`): removed.
    pub unset: Vec<crate::model::conditions::Param>,
    /// Remove every condition first.
    pub clear: bool,
}

#[derive(Clone, Debug, Serialize)]
pub struct ImpairReport {
    pub node: String,
    pub interface: String,
    /// The lab that owns the interface, if any.
    pub lab: Option<String>,
    pub before: Conditions,
    /// As read back from the kernel afterwards.
    pub after: Conditions,
    /// How this kernel makes them.
    pub via: Via,
    pub changed: bool,
}

fn refused(m: impl Into<String>) -> EngineError {
    EngineError::Refused(m.into())
}

/// The interface's namespace, as the session's host or one named handle.
fn open(session: &mut Session, node: &str) -> Result<Netns, EngineError> {
    if node == crate::model::lab::HOST {
        return Ok(Netns::Host);
    }
    if names::check_netns_name(node).is_err() {
        return Err(refused(format!(
            "`{}` is not a namespace name",
            names::printable(node)
        )));
    }
    match netns::open_named(node).map_err(|e| EngineError::kernel("open the namespace", e))? {
        Found::Namespace(fd) => {
            let h = netns::attach(fd).map_err(|e| EngineError::kernel("enter the namespace", e))?;
            session.named.insert(node.to_string(), h);
            Ok(Netns::Named(node.to_string()))
        }
        // An external node of a lab that is up, by its reference.
        Found::Absent if crate::kernel::external::known().contains_key(node) => {
            match crate::kernel::external::open_known(node) {
                Some(Ok(j)) => {
                    let h = netns::attach(j.fd)
                        .map_err(|e| EngineError::kernel("enter the namespace", e))?;
                    session.named.insert(node.to_string(), h);
                    Ok(Netns::Named(node.to_string()))
                }
                Some(Err(e)) => Err(refused(format!("external node {node}: {e}"))),
                None => Err(refused(format!("no node named {node}"))),
            }
        }
        _ => Err(refused(format!(
            "no namespace named {node} under /run/netns (`ip netns list` shows what there is; `host` is vnet's own)"
        ))),
    }
}

/// Links and qdiscs of the namespace, with each link's conditions.
fn read(session: &mut Session, ns: &Netns, table: Option<&str>) -> Result<LiveNs, EngineError> {
    let h = session
        .handle(ns)
        .ok_or_else(|| refused("namespace not open"))?;
    let mut live = LiveNs {
        ns: ns.name().to_string(),
        ..LiveNs::default()
    };
    for req in [observe::link_dump_request(), tc::dump_request()] {
        let msgs = h
            .sock
            .dump(req)
            .map_err(|e| EngineError::kernel("read the namespace's interfaces", e))?;
        for m in msgs {
            observe::add(&mut live, m);
        }
    }
    let losses = match table {
        Some(t) => cond::read_losses(std::os::fd::AsFd::as_fd(&h.fd), Some(t))
            .map_err(|e| EngineError::kernel("read the loss rules (nftables)", e))?,
        None => BTreeMap::new(),
    };
    cond::attach(&mut live, &losses);
    Ok(live)
}

/// The lab an interface belongs to: its namespace's mark, or in the host
/// its own.
fn owner_of(ns: &Netns, live: &LiveNs, iface: &str) -> Option<String> {
    let alias = match ns {
        Netns::Host => live.link(iface)?.alias.as_deref(),
        Netns::Named(_) => live.lo()?.alias.as_deref(),
    };
    alias.and_then(owner::lab_of_mark).map(str::to_string)
}

pub fn impair(req: &ImpairRequest, hooks: &Hooks) -> Result<ImpairReport, EngineError> {
    super::require_privilege("impair")?;
    let mut session = Session::new().map_err(|e| EngineError::kernel("open netlink", e))?;
    let ns = open(&mut session, &req.node)?;
    let first = read(&mut session, &ns, None)?;
    let link = first
        .link(&req.iface)
        .ok_or_else(|| no_such_interface(&ns, &first, &req.iface))?;
    let lab = owner_of(&ns, &first, &link.name);
    // A lab's interface changes under the lab's lock, like `up`.
    let _lock = match &lab {
        Some(l) => Some(LabLock::acquire(l, Wait::Yes(hooks.waiting_for_lock))?),
        None => None,
    };
    let table = loss_table(lab.as_deref());
    let live = read(&mut session, &ns, Some(&table))?;
    let link = live
        .link(&req.iface)
        .cloned()
        .ok_or_else(|| refused(format!("interface {} went away", req.iface)))?;
    let before = link.conditions;
    let after = wanted(req, &before)?;
    let via = features::support().via();
    refuse_foreign_qdisc(req, &ns, &link, &before, &after, via)?;
    let changed = !after.matches(&before, via);
    if changed {
        let change = Action::SetConditions {
            ns: ns.clone(),
            dev: req.iface.clone(),
            from: before,
            to: after,
            via,
            mtu: link.mtu.max(68),
            table: table.clone(),
        };
        session.learn(&ns, &live.links);
        apply(&mut session, lab.as_deref(), change, hooks)?;
    }
    // What the kernel holds now, read back (not what was asked).
    let now = read(&mut session, &ns, Some(&table))?;
    let after_live = now
        .link(&req.iface)
        .map(|l| l.conditions)
        .unwrap_or_default();
    Ok(ImpairReport {
        node: req.node.clone(),
        interface: req.iface.clone(),
        lab,
        before,
        after: after_live,
        via,
        changed,
    })
}

/// "no interface X in namespace N; it has: a, b".
fn no_such_interface(ns: &Netns, live: &LiveNs, iface: &str) -> EngineError {
    let mut have: Vec<&str> = live
        .links
        .iter()
        .map(|l| l.name.as_str())
        .filter(|n| *n != "lo")
        .collect();
    have.sort();
    refused(format!(
        "no interface {} in {}{}",
        names::printable(iface),
        if ns.is_host() {
            "the host namespace".to_string()
        } else {
            format!("namespace {ns}")
        },
        if have.is_empty() {
            String::new()
        } else {
            format!("; it has: {}", have.join(", "))
        }
    ))
}

/// The conditions asked for: what is set (nothing with --clear), the
/// parameters given over it, those given as zero removed; refused when
/// the combination makes no sense or this kernel cannot make it.
fn wanted(req: &ImpairRequest, before: &Conditions) -> Result<Conditions, EngineError> {
    let base = if req.clear {
        Conditions::default()
    } else {
        *before
    };
    let after = req
        .unset
        .iter()
        .fold(base.overlaid(&req.set), |c, p| c.without(*p));
    if let Some((_, r)) = after.combination_problems().into_iter().next() {
        return Err(refused(format!("{}\n  hint: {}", r.message, r.hint)));
    }
    let missing = features::support().missing(&after);
    if !missing.is_empty() {
        return Err(EngineError::Unsupported(
            missing
                .into_iter()
                .map(|(param, missing)| super::cond::Unsupported {
                    place: format!("{}:{}", req.node, req.iface),
                    param,
                    value: after.get(param).unwrap_or_default(),
                    missing,
                    span: None,
                })
                .collect(),
        ));
    }
    Ok(after)
}

/// A root qdisc vnet did not make (htb by hand, say) is not replaced.
fn refuse_foreign_qdisc(
    req: &ImpairRequest,
    ns: &Netns,
    link: &LiveLink,
    before: &Conditions,
    after: &Conditions,
    via: Via,
) -> Result<(), EngineError> {
    let Some(kind) = &link.other_qdisc else {
        return Ok(());
    };
    if crate::model::mechanism::qdisc_steps(before, after, via, link.mtu).is_empty() {
        return Ok(());
    }
    Err(refused(format!(
        "{}:{} has a {kind} qdisc at its root that vnet did not make; remove it first (tc{} qdisc del dev {} root), or leave out the parameters that need a qdisc",
        req.node,
        req.iface,
        match ns {
            Netns::Host => String::new(),
            Netns::Named(n) => format!(" -n {n}"),
        },
        req.iface
    )))
}

/// Carry out the change with the executor `up` uses.
fn apply(
    session: &mut Session,
    lab: Option<&str>,
    change: Action,
    hooks: &Hooks,
) -> Result<(), EngineError> {
    let plan = Plan {
        lab: lab.unwrap_or_default().to_string(),
        group: 0,
        actions: vec![change],
        conflicts: Vec::new(),
    };
    let cancel = AtomicBool::new(false);
    let mut exec = Executor::new(session, &plan.lab, hooks.progress, &cancel);
    exec.apply(&plan, &mut |_, _| Ok(())).map_err(|e| match e {
        ApplyError::Step(s) => EngineError::kernel(
            &format!(
                "{} (as: {})",
                s.action.object(),
                crate::plan::script::commands(&s.action).join("; ")
            ),
            s.error,
        ),
        ApplyError::Cancelled => refused("interrupted"),
    })
}

/// Set interface `iface` of `node` up or down (`vnet serve --allow-changes`):
/// one RTM_SETLINK, as `ip link set IFACE up|down` would send.
pub fn set_link_up(node: &str, iface: &str, up: bool) -> Result<(), EngineError> {
    super::require_privilege("serve --allow-changes")?;
    let mut session = Session::new().map_err(|e| EngineError::kernel("open netlink", e))?;
    let ns = open(&mut session, node)?;
    let live = read(&mut session, &ns, None)?;
    let link = live
        .link(iface)
        .ok_or_else(|| no_such_interface(&ns, &live, iface))?;
    let msg = crate::kernel::msg::set_link(
        &crate::kernel::msg::Dev::Index(link.index),
        &crate::kernel::msg::SetIface {
            up: Some(up),
            ..Default::default()
        },
    );
    let h = session
        .handle(&ns)
        .ok_or_else(|| refused("namespace not open"))?;
    h.sock.request(msg, 0).map_err(|e| {
        EngineError::kernel(
            &format!("set {node}:{iface} {}", if up { "up" } else { "down" }),
            e,
        )
    })
}
