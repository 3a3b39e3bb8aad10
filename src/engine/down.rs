//! `vnet down`: remove everything carrying the lab's mark, and nothing else.
//! Works from the kernel's marks alone, so a lost or stale state record, or a
//! crash in the middle of `up`, changes nothing.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use super::lock::{LabLock, Wait};
use super::{EngineError, Hooks, record, scan};
use crate::kernel::msg::{self, Dev};
use crate::kernel::netns;
use crate::kernel::released;
use crate::kernel::session::Session;
use crate::kernel::{KernelError, fault, profile};
use crate::model::live::LiveLink;
use crate::model::owner;

/// From this many namespaces on, `down` waits for the kernel's teardown.
/// The wait costs ~50-100 ms whatever the size; the teardown left running
/// costs the next `up` ~0.15 ms a namespace (measured at 100 and 1000 with
/// bench/scale.py): they break even near 500.
const SETTLE_FROM: usize = 500;

#[derive(Debug, Default)]
pub struct DownReport {
    pub namespaces: usize,
    pub interfaces: usize,
    /// Interfaces removed from external nodes' namespaces.
    pub external_interfaces: usize,
    /// External nodes whose namespace had gone (with what was said of it).
    pub gone: Vec<String>,
    pub elapsed: Duration,
    /// Processes that were running inside the lab's namespaces.
    pub ended: Vec<super::workload::Ended>,
}

/// Host interfaces that are the lab's: marked, or carrying its group under a
/// name its journal lists (made before the mark could be set).
fn host_links_of(lab: &str, links: &[LiveLink], journal: &BTreeSet<String>) -> Vec<LiveLink> {
    let mark = owner::mark(lab);
    let group = owner::group(lab);
    links
        .iter()
        .filter(|l| {
            l.alias.as_deref() == Some(mark.as_str())
                || (l.group == group && journal.contains(&l.name))
        })
        .cloned()
        .collect()
}

pub fn down(lab: &str, hooks: &Hooks, wait: bool) -> Result<DownReport, EngineError> {
    down_with(lab, hooks, wait, super::workload::GRACE)
}

/// `down`, giving processes inside the lab `grace` between SIGTERM and
/// SIGKILL.
pub fn down_with(
    lab: &str,
    hooks: &Hooks,
    wait: bool,
    grace: Duration,
) -> Result<DownReport, EngineError> {
    let started = Instant::now();
    super::require_privilege("down")?;
    let lock = LabLock::acquire(
        lab,
        if wait {
            Wait::Yes(hooks.waiting_for_lock)
        } else {
            Wait::No
        },
    )?;
    // Holding the lock: a temporary record file is a killed writer's.
    record::remove_stale_temporaries(lab);
    let journal = record::load(lab).map(|r| r.journal).unwrap_or_default();
    profile::mark("down: locked");

    let mut session = Session::new().map_err(|e| EngineError::kernel("open netlink", e))?;
    let marks =
        scan::namespaces(&mut session).map_err(|e| EngineError::kernel("scan /run/netns", e))?;
    let ours: Vec<String> = marks
        .iter()
        .filter(|m| m.lab.as_deref() == Some(lab))
        .map(|m| m.name.clone())
        .collect();
    // Stale mount points of this lab's interrupted runs.
    let stale: Vec<String> = marks
        .iter()
        .filter(|m| m.stale && journal.contains(&m.name))
        .map(|m| m.name.clone())
        .collect();
    // Our sockets in other namespaces are not needed; holding the lab's
    // namespaces open would keep them alive after they are unmounted.
    session.named.clear();
    profile::mark("down: scanned namespaces");

    let host_links = session
        .refresh_links(&crate::model::Netns::Host)
        .map_err(|e| EngineError::kernel("read host interfaces", e))?;
    let doomed = host_links_of(lab, &host_links, &journal);
    (hooks.plan_size)((doomed.len() + ours.len() + stale.len()) as u64);

    profile::mark("down: read host links");
    let mut left = Vec::new();
    // What runs inside ends before its namespaces go: a process left there
    // would keep a namespace alive after its name is gone. Then the nodes'
    // mount namespaces are unpinned.
    let ended = super::workload::end_processes(&ours, grace);
    left.extend(super::workload::remove(lab, &ours));
    profile::mark("down: ended processes");
    // Namespaces first: unmounting is cheap, and the kernel then unregisters
    // each namespace's interfaces (and their veth peers in the host) in one
    // deferred batch. Deleting the host group afterwards waits only for what
    // that batch has not reached yet, instead of doing all of it in our call.
    for name in ours.iter().chain(&stale) {
        if let Err(e) = fault::check().and_then(|()| netns::remove(name)) {
            left.push(format!("namespace {name}: {e}"));
        }
        (hooks.progress)(1);
    }
    profile::mark("down: removed namespaces");
    // External nodes keep their namespace: only the lab's interfaces and
    // routes leave it.
    let outside = super::external::remove(lab, &mut left);
    if !doomed.is_empty() {
        delete_host_links(&mut session, lab, &host_links, &doomed, &mut left, hooks);
    }
    profile::mark("down: deleted host links");
    let table_removed = remove_host_loss_table(&session, lab, &mut left);
    profile::mark("down: removed the host's loss table");
    // Return when the kernel is done, not merely told: its deferred teardown
    // of many namespaces would otherwise slow whatever comes next.
    if ours.len() >= SETTLE_FROM {
        let _ = released::wait(Duration::from_secs(30));
    }
    profile::mark("down: namespaces released");
    // Check the result on the kernel's word.
    let after = session
        .refresh_links(&crate::model::Netns::Host)
        .map_err(|e| EngineError::kernel("read host interfaces", e))?;
    for l in host_links_of(lab, &after, &journal) {
        left.push(format!("interface {} in the host namespace", l.name));
    }
    if table_removed {
        left.extend(host_loss_table_left(&session, lab));
    }
    let present: BTreeSet<String> = netns::list_named().into_iter().collect();
    for n in ours.iter().chain(&stale) {
        if present.contains(n) {
            left.push(format!("namespace {n}"));
        }
    }
    left.sort();
    left.dedup();
    if !left.is_empty() {
        return Err(EngineError::Leftovers(left));
    }
    let _ = record::remove(lab);
    lock.remove();
    Ok(DownReport {
        namespaces: ours.len(),
        interfaces: doomed.len(),
        external_interfaces: outside.interfaces,
        gone: outside.gone,
        elapsed: started.elapsed(),
        ended,
    })
}

/// The lab's loss rules in the host (its namespaces took theirs along):
/// false when the table could not be removed (said in `left`).
fn remove_host_loss_table(session: &Session, lab: &str, left: &mut Vec<String>) -> bool {
    let table = crate::model::conditions::loss_table(Some(lab));
    match crate::kernel::cond::remove_table(&session.host.fd, &table) {
        Ok(_) => true,
        Err(e) => {
            left.push(format!(
                "nftables table netdev {table} in the host namespace: {e}"
            ));
            false
        }
    }
}

/// The lab's loss table, if the host still holds it (checked on the
/// kernel's word).
fn host_loss_table_left(session: &Session, lab: &str) -> Option<String> {
    let table = crate::model::conditions::loss_table(Some(lab));
    let rs = crate::kernel::nft::read_in(std::os::fd::AsFd::as_fd(&session.host.fd)).ok()?;
    rs.tables
        .iter()
        .any(|t| t.name == table)
        .then(|| format!("nftables table netdev {table} in the host namespace"))
}

/// One request for the whole device group when every member is the lab's
/// (the kernel then unregisters them as one batch), else one per interface.
fn delete_host_links(
    session: &mut Session,
    lab: &str,
    all: &[LiveLink],
    doomed: &[LiveLink],
    left: &mut Vec<String>,
    hooks: &Hooks,
) {
    let group = owner::group(lab);
    let names: BTreeSet<&str> = doomed.iter().map(|l| l.name.as_str()).collect();
    let group_is_ours = all
        .iter()
        .filter(|l| l.group == group)
        .all(|l| names.contains(l.name.as_str()));
    let sock = &mut session.host.sock;
    // VNET_DOWN_ONE_BY_ONE=1: benchmarks measure what the group delete buys.
    let by_group = std::env::var_os("VNET_DOWN_ONE_BY_ONE").is_none();
    if by_group && group_is_ours && doomed.iter().all(|l| l.group == group) {
        let r = fault::check().and_then(|()| sock.request(msg::del_group(group), 0));
        match r {
            // ENODEV: no member left, all gone with their namespaces.
            Ok(()) => {
                (hooks.progress)(doomed.len() as u64);
                return;
            }
            Err(e) if e.is(libc::ENODEV) => {
                (hooks.progress)(doomed.len() as u64);
                return;
            }
            // Some kinds cannot be deleted by group; fall back to one by one.
            Err(e) if e.is(libc::EOPNOTSUPP) => {}
            Err(e) => {
                left.push(format!("interfaces of group {group}: {e}"));
                return;
            }
        }
    }
    let mut seqs = std::collections::HashMap::new();
    for l in doomed {
        if let Err(e) = fault::check() {
            left.push(format!("interface {}: {e}", l.name));
            continue;
        }
        seqs.insert(
            sock.queue(msg::del_link(&Dev::Index(l.index)), 0),
            l.name.clone(),
        );
    }
    let progress = hooks.progress;
    let r = sock.collect(|seq, r| {
        progress(1);
        if let (Some(n), Err(e)) = (seqs.get(&seq), r) {
            // ENODEV: gone already, with its veth peer.
            if !e.is(libc::ENODEV) {
                left.push(format!("interface {n}: {e}"));
            }
        }
    });
    if let Err(e) = r {
        left.push(format!("host interfaces: {}", KernelError::from(e)));
    }
}
