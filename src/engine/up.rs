//! `vnet up`: read the kernel, plan the difference, apply it, wait until the
//! network forwards. Refuses before changing anything when a name is held by
//! something the lab does not own; rolls back what it made on failure.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use super::lock::{LabLock, Wait};
use super::record::{self, Record};
use super::{EngineError, Hooks, observe_lab};
use crate::kernel::apply::Executor;
use crate::kernel::ready::{self, Need, Want, Watch};
use crate::kernel::session::Session;
use crate::kernel::{netns, profile};
use crate::model::net::{IfaceKind, Net, desired};
use crate::model::{Lab, Netns};
use crate::plan::{self, Action, Counts, Plan, Stage};

pub struct UpOptions {
    pub wait_for_lock: bool,
    /// How long to wait for carrier and forwarding after the changes.
    pub ready_timeout: Duration,
    /// Absolute path and text of the lab file, kept in the state record.
    pub file: Option<String>,
    pub text: Option<String>,
    /// The process the lab lives as long as (the library's labs).
    pub owner: Option<record::Owner>,
}

impl Default for UpOptions {
    fn default() -> Self {
        UpOptions {
            wait_for_lock: true,
            ready_timeout: Duration::from_secs(15),
            file: None,
            text: None,
            owner: None,
        }
    }
}

#[derive(Debug)]
pub struct UpReport {
    pub plan: Plan,
    pub counts: Counts,
    pub elapsed: Duration,
    /// Interfaces that had not reached carrier/forwarding by the deadline.
    pub not_ready: Vec<(Netns, String, Need)>,
    pub namespaces: usize,
    pub interfaces: usize,
    /// What the nodes' workloads did (`exec:`, `run:`, `ready:`).
    pub work: super::workload::WorkReport,
}

/// Workload options of `up_with`.
#[derive(Clone, Debug)]
pub struct WorkOptions {
    /// Wait for the nodes' `ready:` checks.
    pub wait_ready: bool,
}

impl Default for WorkOptions {
    fn default() -> Self {
        WorkOptions { wait_ready: true }
    }
}

/// The plan `up` would carry out, read against the live kernel (needs root).
pub fn plan_live(lab: &Lab) -> Result<Plan, EngineError> {
    let net = desired(lab);
    let mut session = Session::new().map_err(|e| EngineError::kernel("open netlink", e))?;
    let journal = record::load(&lab.name)
        .map(|r| r.journal)
        .unwrap_or_default();
    let observed = observe_lab(&mut session, &lab.name, &net, journal)?;
    refuse_unsupported(lab, &observed.0)?;
    Ok(plan::plan(&lab.name, &net, &observed.0))
}

/// The plan against an empty kernel: what a first `up` does (no root
/// needed; conditions are planned for this kernel when it can be probed).
pub fn plan_fresh(lab: &Lab) -> Plan {
    plan::plan(&lab.name, &desired(lab), &fresh_observation(lab))
}

fn fresh_observation(lab: &Lab) -> plan::Observed {
    let wanted = lab
        .links
        .iter()
        .any(|l| (0..2).any(|i| !l.egress(i).is_empty()));
    plan::Observed {
        support: if wanted {
            crate::kernel::features::support()
        } else {
            Default::default()
        },
        ..plan::Observed::default()
    }
}

/// What `up` would refuse on this kernel before changing anything (for
/// a dry run without root).
pub fn check_fresh(lab: &Lab) -> Result<(), EngineError> {
    refuse_unsupported(lab, &fresh_observation(lab))
}

/// Conditions the kernel cannot make stop the run before any change.
fn refuse_unsupported(lab: &Lab, observed: &plan::Observed) -> Result<(), EngineError> {
    let list = super::cond::unsupported(lab, &observed.support);
    if list.is_empty() {
        Ok(())
    } else {
        Err(EngineError::Unsupported(list))
    }
}

/// A lab that names the real host's interfaces in its host namespace
/// cannot be built where the host namespace is not the real one (rootless
/// mode): refused before any change, with the reason.
fn refuse_real_host(lab: &Lab) -> Result<(), EngineError> {
    let in_host = lab
        .links
        .iter()
        .flat_map(|l| &l.ends)
        .filter(|e| lab.namespace_of(&e.node).is_host())
        .map(|e| e.interface.as_str())
        .chain(
            lab.bridges()
                .filter(|(_, b)| b.inside.is_none())
                .map(|(name, _)| name),
        );
    match crate::kernel::userns::needs_real_host(in_host) {
        Some(why) => Err(EngineError::Refused(why)),
        None => Ok(()),
    }
}

pub fn up(
    lab: &Lab,
    opts: &UpOptions,
    hooks: &Hooks,
    cancel: &AtomicBool,
) -> Result<UpReport, EngineError> {
    up_with(lab, opts, &WorkOptions::default(), hooks, cancel)
}

/// `up`, then the nodes' workloads (see engine::workload). A failing
/// `exec:` of a lab this run created takes the whole lab down again.
pub fn up_with(
    lab: &Lab,
    opts: &UpOptions,
    work: &WorkOptions,
    hooks: &Hooks,
    cancel: &AtomicBool,
) -> Result<UpReport, EngineError> {
    let fresh = record::load(&lab.name).is_none();
    let base = opts
        .file
        .as_deref()
        .and_then(|f| std::path::Path::new(f).parent().map(|p| p.to_path_buf()));
    let lock_wait = opts.wait_for_lock;
    let mut report = up_network(lab, opts, hooks, cancel)?;
    let any = lab.netns_nodes().any(|(_, n)| !n.workload.is_empty());
    if !any {
        return Ok(report);
    }
    // Holding the lab's lock while the workloads start.
    let lock = LabLock::acquire(
        &lab.name,
        if lock_wait {
            Wait::Yes(hooks.waiting_for_lock)
        } else {
            Wait::No
        },
    )?;
    match super::workload::start(lab, base.as_deref(), work.wait_ready) {
        Ok(w) => {
            report.work = w;
            Ok(report)
        }
        Err(f) if f.roll_back && fresh => {
            drop(lock);
            let why = match super::down::down(&lab.name, hooks, true) {
                Ok(_) => "rolled back: nothing of this run is left".to_string(),
                Err(e) => format!("rollback: {e}"),
            };
            Err(EngineError::Refused(format!("{}\n{why}", f.error)))
        }
        Err(f) => Err(f.error),
    }
}

fn up_network(
    lab: &Lab,
    opts: &UpOptions,
    hooks: &Hooks,
    cancel: &AtomicBool,
) -> Result<UpReport, EngineError> {
    let started = Instant::now();
    profile::mark("start");
    super::require_privilege("up")?;
    let wait = if opts.wait_for_lock {
        Wait::Yes(hooks.waiting_for_lock)
    } else {
        Wait::No
    };
    let lock = LabLock::acquire(&lab.name, wait)?;
    // Holding the lock, no other writer of the record runs: a temporary
    // record file is what a killed vnet left.
    record::remove_stale_temporaries(&lab.name);
    let result = up_locked(lab, opts, hooks, cancel, started);
    // A failed run with no record on disk made nothing that lasts (the
    // record is written before the first change and kept unless the
    // rollback removed everything): its lock file goes too, so a refused
    // or rolled-back first `up` leaves /run/vnet as it found it.
    if result.is_err() && record::load(&lab.name).is_none() {
        lock.remove();
    }
    result
}

fn up_locked(
    lab: &Lab,
    opts: &UpOptions,
    hooks: &Hooks,
    cancel: &AtomicBool,
    started: Instant,
) -> Result<UpReport, EngineError> {
    netns::prepare_run_dir().map_err(|e| EngineError::kernel("prepare /run/netns", e))?;

    let net = desired(lab);
    let mut session = Session::new().map_err(|e| EngineError::kernel("open netlink", e))?;
    let previous = record::load(&lab.name);
    let mut journal = previous
        .as_ref()
        .map(|r| r.journal.clone())
        .unwrap_or_default();
    profile::mark("parsed, locked");
    let (observed, stale) = observe_lab(&mut session, &lab.name, &net, journal.clone())?;
    profile::mark("observed");
    refuse_unsupported(lab, &observed)?;
    refuse_real_host(lab)?;
    super::external::refuse_missing(&session, &net)?;

    // A mount point left by an interrupted run of this lab is removed; any
    // other stale file under /run/netns is not ours to touch.
    let mut conflicts = Vec::new();
    for name in &stale {
        if journal.contains(name) {
            netns::remove(name)
                .map_err(|e| EngineError::kernel("remove a stale /run/netns entry", e))?;
        } else {
            conflicts.push(plan::Conflict {
                object: format!("/run/netns/{name}"),
                owner: "a file that is not a namespace (left by an interrupted `ip netns add`?)"
                    .into(),
                hint: format!("remove it if nothing uses it: rm /run/netns/{name}"),
            });
        }
    }
    let plan = plan::plan(&lab.name, &net, &observed);
    conflicts.extend(plan.conflicts.iter().cloned());
    if !conflicts.is_empty() {
        return Err(EngineError::Conflicts(conflicts));
    }
    let counts = plan.counts();
    profile::mark("planned");
    let (namespaces, interfaces) = size(&net);
    if plan.is_empty() {
        ensure_record(lab, opts, &journal, &session)?;
        profile::mark("record kept");
        return Ok(UpReport {
            plan,
            counts,
            elapsed: started.elapsed(),
            not_ready: Vec::new(),
            namespaces,
            interfaces,
            work: Default::default(),
        });
    }

    // The journal names everything this run may create, before it exists.
    for a in &plan.actions {
        journal.extend(created_names(a));
    }
    let mut rec = Record {
        lab: lab.name.clone(),
        file: opts.file.clone(),
        text: opts.text.clone(),
        state: "building".into(),
        pid: std::process::id(),
        journal: journal.clone(),
        owner: opts.owner.clone(),
        host: lab.hosts.here.clone(),
        external: super::external::entries(lab, Some(&session)),
    };
    record::save(&rec).map_err(|e| EngineError::Io("write the state record".into(), e))?;

    (hooks.plan_size)(operations(&plan));
    let want = readiness(&net, &plan);
    let mut watch: Option<Watch> = None;
    let mut exec = Executor::new(&mut session, &lab.name, hooks.progress, cancel);
    let result = exec.apply(&plan, &mut |stage, session| {
        profile::mark(&format!("before stage {stage:?}"));
        // Subscribed before anything comes up, so no transition is missed.
        if stage >= Stage::Links && watch.is_none() && !want.is_empty() {
            watch = Some(Watch::start(session, &ready::spaces(&want))?);
        }
        Ok(())
    });
    if let Err(e) = result {
        let mut left = exec.rollback();
        if previous.is_none() {
            left.extend(roll_back_host_loss_table(&session, &lab.name, &plan));
        }
        if previous.is_none() && left.is_empty() {
            let _ = record::remove(&lab.name);
        } else {
            rec.state = "failed".into();
            let _ = record::save(&rec);
        }
        return Err(EngineError::Apply {
            error: Box::new(e),
            left,
            fresh: previous.is_none(),
        });
    }
    drop(exec);
    profile::mark("applied");

    let mut want = want;
    if !want.is_empty() {
        ready::sync(&mut session, &sync_order(&net, &plan), &mut want);
        profile::mark("synced");
    }
    let not_ready = match (&mut watch, want.is_empty()) {
        (Some(w), false) => w
            .wait(&mut session, want, opts.ready_timeout)
            .map_err(|e| EngineError::kernel("wait for carrier", e))?,
        _ => Vec::new(),
    };
    profile::mark("ready");
    rec.state = "up".into();
    // Keep only what exists now: the journal is for runs in progress.
    rec.journal = journal;
    record::save(&rec).map_err(|e| EngineError::Io("write the state record".into(), e))?;
    Ok(UpReport {
        plan,
        counts,
        elapsed: started.elapsed(),
        not_ready,
        namespaces,
        interfaces,
        work: Default::default(),
    })
}

/// A fresh lab's loss table in the host holds only this run's rules: a
/// rollback removes it. What could not be removed, if anything.
fn roll_back_host_loss_table(session: &Session, lab: &str, plan: &Plan) -> Option<String> {
    let host_loss = plan.actions.iter().any(
        |a| matches!(a, Action::SetConditions { ns: Netns::Host, to, .. } if to.loss.is_some()),
    );
    if !host_loss {
        return None;
    }
    let table = crate::model::conditions::loss_table(Some(lab));
    crate::kernel::cond::remove_table(&session.host.fd, &table)
        .err()
        .map(|e| format!("nftables table netdev {table} in the host namespace: {e}"))
}

fn ensure_record(
    lab: &Lab,
    opts: &UpOptions,
    journal: &BTreeSet<String>,
    session: &Session,
) -> Result<(), EngineError> {
    let rec = Record {
        lab: lab.name.clone(),
        file: opts.file.clone(),
        text: opts.text.clone(),
        state: "up".into(),
        pid: std::process::id(),
        journal: journal.clone(),
        owner: opts.owner.clone(),
        host: lab.hosts.here.clone(),
        external: super::external::entries(lab, Some(session)),
    };
    record::save(&rec).map_err(|e| EngineError::Io("write the state record".into(), e))
}

fn size(net: &Net) -> (usize, usize) {
    let namespaces = net.named().count();
    let interfaces = net.namespaces.values().map(|s| s.links.len()).sum();
    (namespaces, interfaces)
}

/// Names an action creates that crash recovery may have to find unmarked.
fn created_names(a: &Action) -> Vec<String> {
    match a {
        Action::AddNetns { ns, .. } => vec![ns.clone()],
        Action::AddBridge {
            ns: Netns::Host,
            name,
            ..
        } => vec![name.clone()],
        Action::AddVxlan {
            ns: Netns::Host,
            name,
            ..
        } => vec![name.clone()],
        Action::AddVeth { a, b } => [a, b]
            .iter()
            .filter(|e| e.ns.is_host())
            .map(|e| e.name.clone())
            .collect(),
        _ => Vec::new(),
    }
}

/// Kernel operations a plan takes (for the progress bar).
fn operations(plan: &Plan) -> u64 {
    plan.actions.len() as u64
}

/// What must be up, and which bridge ports must forward, before `up` returns
/// (a bridge opened after its ports has carrier at once: carrier suffices):
/// every interface this run brought up or enslaved. For a veth with one end
/// in the host, only that end is watched: both ends get carrier in one call
/// and the kernel's linkwatch handles them in that order, so the host end
/// being up means its peer is too (and one socket then covers a whole star).
/// Every interface the plan brings up, bridges last in each namespace (a
/// bridge's carrier follows its ports).
fn sync_order(net: &Net, plan: &Plan) -> Vec<(Netns, String)> {
    let mut ports = Vec::new();
    let mut bridges = Vec::new();
    for a in &plan.actions {
        let Action::SetLink { ns, name, set } = a else {
            continue;
        };
        if set.up != Some(true) {
            continue;
        }
        match net.iface(ns, name).map(|i| &i.kind) {
            Some(IfaceKind::Bridge { .. }) => bridges.push((ns.clone(), name.clone())),
            _ => ports.push((ns.clone(), name.clone())),
        }
    }
    ports.extend(bridges);
    ports
}

fn readiness(net: &Net, plan: &Plan) -> Want {
    let stp: BTreeMap<(Netns, String), bool> = net
        .namespaces
        .iter()
        .flat_map(|(ns, spec)| {
            spec.links.values().filter_map(move |i| match i.kind {
                IfaceKind::Bridge { stp, .. } => Some(((ns.clone(), i.name.clone()), stp)),
                _ => None,
            })
        })
        .collect();
    let brought_up: BTreeSet<(&Netns, &str)> = plan
        .actions
        .iter()
        .filter_map(|a| match a {
            Action::SetLink { ns, name, set } if set.up == Some(true) => Some((ns, name.as_str())),
            _ => None,
        })
        .collect();
    let mut want = BTreeSet::new();
    for a in &plan.actions {
        let Action::SetLink { ns, name, set } = a else {
            continue;
        };
        let Some(iface) = net.iface(ns, name) else {
            continue;
        };
        if set.up != Some(true) && set.master.is_none() {
            continue;
        }
        match &iface.kind {
            IfaceKind::Veth { peer_ns, peer } => {
                // A veth has carrier only when its peer is up too.
                let inferred = peer_ns.is_host()
                    && !ns.is_host()
                    && brought_up.contains(&(ns, name.as_str()))
                    && brought_up.contains(&(peer_ns, peer.as_str()));
                if net.iface(peer_ns, peer).is_some() && !inferred {
                    want.insert((ns.clone(), name.clone(), Need::Up));
                }
                if let Some(m) = &iface.master
                    && stp.get(&(ns.clone(), m.clone())) == Some(&false)
                {
                    want.insert((ns.clone(), name.clone(), Need::Forwarding));
                }
            }
            IfaceKind::Bridge { stp, .. } => {
                let has_port = net.namespaces[ns]
                    .links
                    .values()
                    .any(|l| l.master.as_deref() == Some(name));
                // With STP the ports learn for twice the forward delay first.
                if has_port && !iface.addrs.is_empty() && !stp {
                    want.insert((ns.clone(), name.clone(), Need::Carrier));
                }
            }
            // A tunnel end has carrier once up; as a bridge port it must
            // forward before the network is ready.
            IfaceKind::Vxlan(_) => {
                if let Some(m) = &iface.master
                    && stp.get(&(ns.clone(), m.clone())) == Some(&false)
                {
                    want.insert((ns.clone(), name.clone(), Need::Forwarding));
                }
            }
        }
    }
    want
}
