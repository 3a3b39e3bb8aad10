//! One doctor run (kernel side): read the namespaces, work out the way there
//! and back, take the counters, open a tracefs instance recording drops,
//! send the probe (the packet walk of `vnet trace`), read the records and
//! the namespaces on the way, and hand everything to the pure rules and
//! verdict.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use std::net::IpAddr;

use ipnet::IpNet;

use super::case::{Case, Ctx, Probe};
use super::drops::{self, Record};
use super::gather;
use super::rules;
use super::snapshot::Snapshot;
use super::verdict::{self, Verdict};
use super::way::Way;
use crate::kernel::profile;
use crate::kernel::tracefs::{self, Instance};
use crate::model::live::LiveNs;
use crate::probe::ProbeError;
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

pub fn run(src: &str, dst: &str, opts: &Options) -> Result<Verdict, ProbeError> {
    let start = Instant::now();
    let mut world = World::read(None)?;
    profile::mark("doctor: namespaces read");
    let (dst_ip, dst_node) = trace::resolve(&world, src, dst, opts.family)?;
    if let Some(ip) = dst_ip
        && let Some(why) = world.get(src).and_then(|n| not_unicast(n, ip))
    {
        return Err(ProbeError::Usage(format!(
            "{ip} is {why}: the doctor follows one unicast ping; give an address of one node"
        )));
    }
    let v6 = match (opts.family, dst_ip) {
        (Some(Family::V6), _) => true,
        (_, Some(ip)) => ip.is_ipv6(),
        _ => false,
    };
    let size = opts.size.unwrap_or_else(marker_size);
    let case = Case {
        src: src.to_string(),
        dst_arg: dst.to_string(),
        dst_node: dst_node.clone(),
        dst: dst_ip,
        v6,
        size,
    };
    // The namespaces worth reading closely.
    let (fwd0, back0) = match dst_ip {
        Some(ip) => {
            let (f, b) = trace::ways(&world, src, ip);
            (Way::new(f, Some(ip)), Way::new(b, None))
        }
        None => (Way::none(), Way::none()),
    };
    let mut nss: Vec<String> = vec![src.to_string()];
    nss.extend(dst_node.iter().cloned());
    nss.extend(fwd0.namespaces());
    nss.extend(back0.namespaces());
    if let Some(ip) = dst_ip {
        nss.extend(world.topology().owners(ip).into_iter().map(str::to_string));
    }
    let mut uniq: Vec<String> = Vec::new();
    for n in nss {
        if !uniq.contains(&n) && world.get(&n).is_some() {
            uniq.push(n);
        }
    }
    let nss = uniq;
    let mut unchecked: Vec<String> = Vec::new();
    let mut before = BTreeMap::new();
    for n in &nss {
        match gather::counters(&mut world, n) {
            Ok(c) => {
                before.insert(n.clone(), c);
            }
            Err(e) => unchecked.push(format!("{n}: counters before the probe: {e}")),
        }
    }
    profile::mark("doctor: counters before");
    if (opts.cancelled)() {
        return Err(interrupted());
    }

    // The kernel's drop records, while the probe is in flight.
    let l3 = case.packet_len() as u32;
    let proto = if v6 { 0x86dd } else { 0x0800 };
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
    let instance = match dst_ip {
        Some(_) => match Instance::start(&events) {
            Ok(i) => Some(i),
            Err(why) => {
                unchecked.push(format!(
                    "where the kernel dropped the probe (tracefs skb:kfree_skb): {why}"
                ));
                None
            }
        },
        None => None,
    };

    profile::mark("doctor: tracefs instance");
    // The probe.
    let report = match dst_ip {
        Some(ip) => {
            let t = TraceOptions {
                timeout: opts.timeout,
                family: opts.family,
                size,
                cancelled: opts.cancelled,
            };
            Some(trace::trace_world(
                &mut world,
                src,
                ip,
                dst_node.clone(),
                &t,
            )?)
        }
        None => None,
    };
    profile::mark("doctor: probe");
    let mut events: Vec<Record> = Vec::new();
    if let Some(inst) = instance {
        let names = inst
            .format("skb/kfree_skb")
            .map(|f| drops::reason_names(&f))
            .unwrap_or_default();
        match inst.read() {
            Ok(text) => {
                events = text
                    .lines()
                    .filter_map(|l| drops::parse_line(l, &names))
                    .collect()
            }
            Err(e) => unchecked.push(format!("the kernel's drop records: {e}")),
        }
        // Dropping it removes the instance (and a mount vnet made).
        drop(inst);
    }
    if (opts.cancelled)() {
        return Err(interrupted());
    }

    profile::mark("doctor: drop records");
    // The namespaces on the way, after the probe.
    gather::refresh(&mut world, &nss, &mut unchecked);
    let detail = gather::details(&mut world, &nss, before, &mut unchecked);
    let (fwd, back, probe) = match &report {
        Some(r) => {
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
            };
            (fwd, back, probe)
        }
        None => (fwd0, back0, Probe::default()),
    };
    profile::mark("doctor: namespaces on the way");
    let snap = Snapshot {
        ns: world.ns.clone(),
        peers: world.peers.clone(),
        detail,
    };
    let dropped = drops::correlate(&events, l3, &fwd, &back);
    let cx = Ctx {
        snap: &snap,
        topo: snap.topology(),
        case: &case,
        probe: &probe,
        fwd: &fwd,
        back: &back,
        drops: &dropped,
    };
    let findings = if probe.answered && verdict::reply_from_dst(&cx).is_ok() {
        Vec::new()
    } else {
        rules::run(&cx)
    };
    let (status, causes, loose) = verdict::decide(&cx, findings);
    let conditions = rules::cond::on_the_way(&cx);
    let not_from_dst = if probe.answered {
        verdict::reply_from_dst(&cx).err()
    } else {
        None
    };
    profile::mark("doctor: rules");
    let counters = moved(&snap, &nss);
    let namespaces = nss;
    drop(cx);
    Ok(Verdict {
        status,
        case,
        probe,
        causes,
        drops: loose,
        counters,
        unchecked,
        conditions,
        not_from_dst,
        there: fwd,
        back,
        namespaces,
        rules: rules::RULES.len(),
        elapsed_ms: start.elapsed().as_secs_f64() * 1e3,
    })
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
