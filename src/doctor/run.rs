//! One doctor run (kernel side): read the namespaces, work out the way there
//! and back, take the counters, open a tracefs instance recording drops,
//! send the probe (the packet walk of `vnet trace`), read the records and
//! the namespaces on the way, and hand everything to the pure rules and
//! verdict.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use std::net::IpAddr;

use ipnet::IpNet;

use super::ask::WalkEnd;
use super::case::{Case, Ctx, Probe};
use super::drops::{self, Record};
use super::finding::Finding;
use super::gather;
use super::rules;
use super::snapshot::Snapshot;
use super::verdict::{self, Verdict};
use super::way::Way;
use crate::kernel::profile;
use crate::kernel::tracefs::{self, Instance};
use crate::model::live::LiveNs;
use crate::probe::ProbeError;
use crate::probe::service::{self, Seen, split_target};
use crate::probe::target::Family;
use crate::probe::trace::{self, TraceOptions};
use crate::probe::world::World;

pub struct Options {
    pub family: Option<Family>,
    /// Payload bytes; None picks an unusual size (see `marker_size`).
    pub size: Option<usize>,
    pub timeout: Duration,
    /// Asked between steps: a true answer stops the run (Ctrl-C).
    pub cancelled: fn() -> bool,
    /// The interfaces the lab files of labs that are up describe.
    pub intended: Vec<super::snapshot::Intended>,
}

/// A payload size other traffic is unlikely to have, so the kernel's
/// records of the probe can be told apart by length alone: 64 to 1087 bytes
/// (small enough for any IPv6 link), different for each run.
pub fn marker_size() -> usize {
    let t = crate::probe::sock::now_ns();
    let x = (t ^ (t >> 17) ^ u64::from(std::process::id()).wrapping_mul(0x9e37_79b9)) as usize;
    64 + x % 1024
}

/// Why `ip` is not an address one node answers for, seen from `src`.
fn not_unicast(src: &LiveNs, ip: IpAddr) -> Option<String> {
    if ip.is_unspecified() {
        return Some("the unspecified address".into());
    }
    if ip.is_multicast() {
        return Some("a multicast address".into());
    }
    if let IpAddr::V4(v4) = ip {
        if v4.is_broadcast() {
            return Some("the broadcast address".into());
        }
        for a in src.links.iter().flat_map(|l| l.addrs.iter()) {
            if let IpNet::V4(n) = a.net
                && n.prefix_len() < 31
                && n.broadcast() == v4
            {
                return Some(format!("the broadcast address of {}", n.trunc()));
            }
        }
    }
    None
}

fn interrupted() -> ProbeError {
    ProbeError::Failed("interrupted".into())
}

pub fn run(src: &str, dst_arg: &str, opts: &Options) -> Result<Verdict, ProbeError> {
    let start = Instant::now();
    let (dst, service) = split_target(dst_arg).map_err(ProbeError::Usage)?;
    let mut world = World::read(None)?;
    profile::mark("doctor: namespaces read");
    let (dst_ip, dst_node) = trace::resolve(&world, src, &dst, opts.family)?;
    refuse_non_unicast(&world, src, dst_ip)?;
    let mut case = case_of(src, dst_arg, dst_ip, dst_node, opts);
    case.service = service;
    // The namespaces worth reading closely.
    let (fwd0, back0) = planned_ways(&world, src, dst_ip);
    let nss = namespaces_to_read(&world, &case, &fwd0, &back0);
    let mut unchecked: Vec<String> = Vec::new();
    let before = counters_before(&mut world, &nss, &mut unchecked);
    profile::mark("doctor: counters before");
    if (opts.cancelled)() {
        return Err(interrupted());
    }

    // The kernel's drop records, while the probe is in flight.
    let instance = match dst_ip {
        Some(_) => record_drops(&case, &mut unchecked),
        None => None,
    };
    profile::mark("doctor: tracefs instance");
    let report = match dst_ip {
        Some(ip) => Some(send_probe(&mut world, &case, ip, opts)?),
        None => None,
    };
    profile::mark("doctor: probe");
    let events = match instance {
        Some(inst) => read_records(inst, &mut unchecked),
        None => Vec::new(),
    };
    if (opts.cancelled)() {
        return Err(interrupted());
    }

    profile::mark("doctor: drop records");
    // The service: a real connection (or datagram) from SRC, then who
    // listens where.
    let seen = match (service, dst_ip) {
        (Some(svc), Some(ip)) => {
            let fd = world
                .fd(src)
                .ok_or_else(|| ProbeError::Usage(format!("unknown node `{src}`")))?;
            Some(service::probe(fd, ip, svc, opts.timeout)?)
        }
        _ => None,
    };
    let listeners = match service {
        Some(_) => gather::listeners(&world, &mut unchecked),
        None => BTreeMap::new(),
    };
    profile::mark("doctor: service probe");
    // The namespaces on the way, after the probe.
    gather::refresh(&mut world, &nss, &mut unchecked);
    let detail = gather::details(&mut world, &nss, before, &mut unchecked);
    let (fwd, back, mut probe) = match &report {
        Some(r) => seen_ways(r, dst_ip),
        None => (fwd0, back0, Probe::default()),
    };
    if let Some(s) = seen {
        probe.answered = matches!(s.seen, Seen::Connected | Seen::Answered);
        probe.service = Some(s);
    }
    profile::mark("doctor: namespaces on the way");
    let mut snap = Snapshot {
        ns: world.ns.clone(),
        peers: world.peers.clone(),
        detail,
        listeners,
        intended: opts.intended.clone(),
        asked: Default::default(),
    };
    // The kernel's own decisions for the probe, hop by hop, when it failed.
    // A reply that came back is checked against the kernel's walk: a
    // namespace on the way that takes DST for itself answered instead.
    let swallowed = probe.answered
        && case.service.is_none()
        && gather::walk_there(&mut world, &snap, &case, fwd.src)
            .is_some_and(|w| matches!(w.end, WalkEnd::Swallowed { .. }));
    if !probe.answered || swallowed {
        snap.asked = gather::ask(&mut world, &snap, &case, fwd.src, &mut unchecked);
        profile::mark("doctor: the kernel asked");
    }
    let mut dropped = drops::correlate(&events, case.packet_len() as u32, &fwd, &back);
    // With a service, an echo that came back says nothing of the service:
    // its records (the reply taken by vnet's raw socket, not by a ping
    // socket: NO_SOCKET) are not evidence.
    if case.service.is_some() && probe.rtt_ms.is_some() {
        dropped.clear();
    }
    let judged = judge(&Ctx {
        snap: &snap,
        topo: snap.topology(),
        case: &case,
        probe: &probe,
        fwd: &fwd,
        back: &back,
        drops: &dropped,
    });
    profile::mark("doctor: rules");
    let counters = moved(&snap, &nss);
    Ok(Verdict {
        schema_version: verdict::SCHEMA_VERSION,
        code: verdict::code_of(judged.status, &judged.causes, &fwd),
        status: judged.status,
        case,
        probe,
        causes: judged.causes,
        drops: judged.loose,
        counters,
        unchecked,
        conditions: judged.conditions,
        not_from_dst: judged.not_from_dst,
        there: fwd,
        back,
        namespaces: nss,
        rules: rules::RULES.len(),
        elapsed_ms: start.elapsed().as_secs_f64() * 1e3,
        looked: if judged.status == verdict::Status::Unknown {
            snap.asked.looked.clone()
        } else {
            Vec::new()
        },
    })
}

/// The doctor follows one unicast ping: a broadcast or multicast DST is
/// bad usage.
fn refuse_non_unicast(world: &World, src: &str, dst_ip: Option<IpAddr>) -> Result<(), ProbeError> {
    if let Some(ip) = dst_ip
        && let Some(why) = world.get(src).and_then(|n| not_unicast(n, ip))
    {
        return Err(ProbeError::Usage(format!(
            "{ip} is {why}: the doctor follows one unicast ping; give an address of one node"
        )));
    }
    Ok(())
}

fn case_of(
    src: &str,
    dst: &str,
    dst_ip: Option<IpAddr>,
    dst_node: Option<String>,
    opts: &Options,
) -> Case {
    let v6 = match (opts.family, dst_ip) {
        (Some(Family::V6), _) => true,
        (_, Some(ip)) => ip.is_ipv6(),
        _ => false,
    };
    Case {
        src: src.to_string(),
        dst_arg: dst.to_string(),
        dst_node,
        dst: dst_ip,
        v6,
        size: opts.size.unwrap_or_else(marker_size),
        service: None,
    }
}

/// The way there and back as live state tells before the probe.
fn planned_ways(world: &World, src: &str, dst_ip: Option<IpAddr>) -> (Way, Way) {
    match dst_ip {
        Some(ip) => {
            let (f, b) = trace::ways(world, src, ip);
            (Way::new(f, Some(ip)), Way::new(b, None))
        }
        None => (Way::none(), Way::none()),
    }
}

/// SRC, DST, the namespaces on both ways and those holding DST's address:
/// each once, in that order, and only those that exist.
fn namespaces_to_read(world: &World, case: &Case, fwd: &Way, back: &Way) -> Vec<String> {
    let mut nss: Vec<String> = vec![case.src.clone()];
    nss.extend(case.dst_node.iter().cloned());
    nss.extend(fwd.namespaces());
    nss.extend(back.namespaces());
    if let Some(ip) = case.dst {
        nss.extend(world.topology().owners(ip).into_iter().map(str::to_string));
    }
    let mut uniq: Vec<String> = Vec::new();
    for n in nss {
        if !uniq.contains(&n) && world.get(&n).is_some() {
            uniq.push(n);
        }
    }
    uniq
}

fn counters_before(
    world: &mut World,
    nss: &[String],
    unchecked: &mut Vec<String>,
) -> BTreeMap<String, gather::Counters> {
    let mut before = BTreeMap::new();
    for n in nss {
        match gather::counters(world, n) {
            Ok(c) => {
                before.insert(n.clone(), c);
            }
            Err(e) => unchecked.push(format!("{n}: counters before the probe: {e}")),
        }
    }
    before
}

/// A tracefs instance recording the kernel's drops of packets of the
/// probe's protocol and where packets of its length were queued and
/// received (None, noted, when tracefs cannot be used).
fn record_drops(case: &Case, unchecked: &mut Vec<String>) -> Option<Instance> {
    let l3 = case.packet_len() as u32;
    let proto = if case.v6 { 0x86dd } else { 0x0800 };
    let lens = format!("len == {l3} || len == {}", l3 + 14);
    let events = [
        tracefs::Event {
            name: "skb/kfree_skb",
            filter: Some(format!("protocol == {proto}")),
        },
        tracefs::Event {
            name: "net/net_dev_queue",
            filter: Some(lens.clone()),
        },
        tracefs::Event {
            name: "net/netif_receive_skb",
            filter: Some(lens),
        },
    ];
    match Instance::start(&events) {
        Ok(i) => Some(i),
        Err(why) => {
            unchecked.push(format!(
                "where the kernel dropped the probe (tracefs skb:kfree_skb): {why}"
            ));
            None
        }
    }
}

/// The probe: the packet walk of `vnet trace`.
fn send_probe(
    world: &mut World,
    case: &Case,
    ip: IpAddr,
    opts: &Options,
) -> Result<trace::TraceReport, ProbeError> {
    let t = TraceOptions {
        timeout: opts.timeout,
        family: opts.family,
        size: case.size,
        cancelled: opts.cancelled,
    };
    trace::trace_world(world, &case.src, ip, case.dst_node.clone(), &t)
}

/// The records the instance took; dropping it removes the instance (and a
/// mount vnet made).
fn read_records(inst: Instance, unchecked: &mut Vec<String>) -> Vec<Record> {
    let names = inst
        .format("skb/kfree_skb")
        .map(|f| drops::reason_names(&f))
        .unwrap_or_default();
    match inst.read() {
        Ok(text) => text
            .lines()
            .filter_map(|l| drops::parse_line(l, &names))
            .collect(),
        Err(e) => {
            unchecked.push(format!("the kernel's drop records: {e}"));
            Vec::new()
        }
    }
}

/// The ways the probe took, and what became of it.
fn seen_ways(r: &trace::TraceReport, dst_ip: Option<IpAddr>) -> (Way, Way, Probe) {
    let fwd = Way::new(r.path.clone(), dst_ip);
    let back_dst = fwd.src;
    let back = Way::new(r.back.clone(), back_dst);
    let probe = Probe {
        sent: r.refused.is_none(),
        answered: r.answered,
        rtt_ms: r.rtt_ms,
        refused: r.refused,
        error: r.error.clone(),
        walk: r.loss.as_ref().map(|l| l.text.clone()),
        timeout_ms: r.timeout_ms,
        service: None,
    };
    (fwd, back, probe)
}

/// The rules' findings weighed into a verdict.
struct Judged {
    status: verdict::Status,
    causes: Vec<Finding>,
    /// Drop records not tied to a cause.
    loose: Vec<String>,
    /// Link conditions on the way, in words.
    conditions: Vec<String>,
    not_from_dst: Option<String>,
}

fn judge(cx: &Ctx) -> Judged {
    // A reply from DST needs no rules.
    let findings = if cx.probe.answered && verdict::reply_from_dst(cx).is_ok() {
        Vec::new()
    } else {
        rules::run(cx)
    };
    let (mut status, causes, loose) = verdict::decide(cx, findings);
    // UDP says nothing when it works: no error, no cause, and a socket
    // there to take it is as far as anyone can tell.
    if status == verdict::Status::Unknown
        && cx
            .probe
            .service
            .as_ref()
            .is_some_and(|s| s.seen == Seen::Sent)
    {
        status = verdict::Status::Works;
    }
    let not_from_dst = if cx.probe.answered {
        verdict::reply_from_dst(cx).err()
    } else {
        None
    };
    Judged {
        status,
        causes,
        loose,
        conditions: rules::cond::on_the_way(cx),
        not_from_dst,
    }
}

/// Drop and error counters that went up during the probe, on the
/// namespaces read.
fn moved(snap: &Snapshot, nss: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    for ns in nss {
        let (Some(d), Some(live)) = (snap.detail(ns), snap.get(ns)) else {
            continue;
        };
        for (idx, after) in &d.stats_after {
            let Some(before) = d.stats_before.get(idx) else {
                continue;
            };
            let name = live.name_of(*idx).unwrap_or("?");
            let delta = |a: u64, b: u64| a.saturating_sub(b);
            let parts: Vec<String> = [
                ("rx_dropped", delta(after.rx_dropped, before.rx_dropped)),
                ("tx_dropped", delta(after.tx_dropped, before.tx_dropped)),
                ("rx_errors", delta(after.rx_errors, before.rx_errors)),
                ("tx_errors", delta(after.tx_errors, before.tx_errors)),
            ]
            .iter()
            .filter(|(_, d)| *d > 0)
            .map(|(k, d)| format!("{k} +{d}"))
            .collect();
            if !parts.is_empty() {
                out.push(format!("{ns}:{name}: {}", parts.join(", ")));
            }
        }
    }
    out
}
