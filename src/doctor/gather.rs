//! Reading the namespaces on the way (kernel side): counters before and
//! after the probe (links and qdiscs, over rtnetlink), neighbours, the
//! sysctls the rules look at (/proc/sys from inside each namespace), the
//! nftables ruleset (nfnetlink), and whether iptables-legacy holds tables
//! there. Nothing is changed; what cannot be read is noted, not fatal.

use std::collections::BTreeMap;

use netlink_packet_route::RouteNetlinkMessage;

use std::net::IpAddr;

use super::ask::{Asked, WalkEnd, explain_refusal, has_own_rules, walk};
use super::case::Case;
use super::snapshot::{Detail, Listeners, SYSCTLS, Snapshot};
use crate::kernel::ask as kask;
use crate::kernel::{KernelError, netns, nft, observe, sockdiag, sysctl, tc};
use crate::model::fib::{RouteAnswer, RouteQuery};
use crate::model::live::{LinkStats, LiveQdisc};
use crate::probe::neigh;
use crate::probe::world::World;

#[derive(Clone, Debug, Default)]
pub struct Counters {
    pub stats: BTreeMap<u32, LinkStats>,
    pub qdiscs: Vec<LiveQdisc>,
}

/// Link and qdisc counters of one namespace.
pub fn counters(world: &mut World, ns: &str) -> Result<Counters, KernelError> {
    let Some(sock) = world.sock(ns) else {
        return Ok(Counters::default());
    };
    let mut stats = BTreeMap::new();
    for m in sock.dump(observe::link_dump_with_stats())? {
        if let RouteNetlinkMessage::NewLink(l) = m {
            let l = observe::link(&l);
            stats.insert(l.index, l.stats);
        }
    }
    let qdiscs = tc::dump(sock)?;
    Ok(Counters { stats, qdiscs })
}

/// Read links, addresses and routes of `nss` again: state read before the
/// probe may have moved while it flew (a bridge port the kernel enables a
/// moment after its carrier came up), and the verdict is about now.
pub fn refresh(world: &mut World, nss: &[String], notes: &mut Vec<String>) {
    for ns in nss {
        let Some(sock) = world.sock(ns) else { continue };
        match observe::read_ns(sock, ns) {
            Ok(mut fresh) => {
                if let Some(old) = world.ns.get_mut(ns) {
                    fresh.sysctls = std::mem::take(&mut old.sysctls);
                    *old = fresh;
                }
            }
            Err(e) => notes.push(format!("{ns}: reading it again after the probe: {e}")),
        }
    }
}

/// Everything the rules read about `nss`, with the counters from before
/// the probe; sysctls go into the world's namespaces.
pub fn details(
    world: &mut World,
    nss: &[String],
    mut before: BTreeMap<String, Counters>,
    notes: &mut Vec<String>,
) -> BTreeMap<String, Detail> {
    let mut out = BTreeMap::new();
    for ns in nss {
        let mut d = Detail::default();
        let b = before.remove(ns).unwrap_or_default();
        d.stats_before = b.stats;
        d.qdiscs_before = b.qdiscs;
        match counters(world, ns) {
            Ok(c) => {
                d.stats_after = c.stats;
                d.qdiscs = c.qdiscs;
            }
            Err(e) => notes.push(format!("{ns}: counters and qdiscs: {e}")),
        }
        if let Some(sock) = world.sock(ns) {
            match neigh::dump_live(sock) {
                Ok(n) => d.neigh = n,
                Err(e) => notes.push(format!("{ns}: neighbour table: {e}")),
            }
        }
        let Some(fd) = world.fd(ns) else {
            out.insert(ns.clone(), d);
            continue;
        };
        // /proc/sys and /proc/net show the reading thread's namespace.
        let read = netns::within(fd, || {
            let values: BTreeMap<String, String> = SYSCTLS
                .iter()
                .filter_map(|k| sysctl::read(k).ok().map(|v| (k.to_string(), v)))
                .collect();
            let legacy: Vec<String> = ["ip_tables_names", "ip6_tables_names", "arp_tables_names"]
                .iter()
                .filter_map(|f| std::fs::read_to_string(format!("/proc/thread-self/net/{f}")).ok())
                .flat_map(|s| s.lines().map(str::to_string).collect::<Vec<_>>())
                .filter(|l| !l.trim().is_empty())
                .collect();
            (values, legacy)
        });
        match read {
            Ok((values, legacy)) => {
                if let Some(live) = world.ns.get_mut(ns) {
                    live.sysctls.extend(values);
                }
                if !legacy.is_empty() {
                    notes.push(format!(
                        "{ns}: iptables-legacy tables ({}) hold rules vnet cannot read; a drop there shows as NETFILTER_DROP at ipt_do_table",
                        legacy.join(", ")
                    ));
                }
                d.legacy_tables = legacy;
            }
            Err(e) => notes.push(format!("{ns}: sysctls: {e}")),
        }
        ruleset_and_conditions(world, ns, &mut d, notes);
        out.insert(ns.clone(), d);
    }
    out
}

/// The namespace's nftables ruleset into `d`, less vnet's loss rules:
/// those are link conditions, put with the qdiscs' onto each link.
fn ruleset_and_conditions(world: &mut World, ns: &str, d: &mut Detail, notes: &mut Vec<String>) {
    let mut losses = BTreeMap::new();
    match world.fd(ns).map(nft::read_in) {
        Some(Ok(rs)) => {
            let (rest, found) = crate::model::loss::split(rs);
            d.nft = Some(rest);
            losses = found;
        }
        Some(Err(e)) => notes.push(format!("{ns}: nftables ruleset: {e}")),
        None => {}
    }
    if let Some(live) = world.ns.get_mut(ns) {
        live.qdiscs = d.qdiscs.clone();
        crate::kernel::cond::attach(live, &losses);
    }
}

/// The listening sockets of every namespace (sock_diag), and each one's
/// accept queue overflows (/proc/net/netstat from inside it).
pub fn listeners(world: &World, notes: &mut Vec<String>) -> BTreeMap<String, Listeners> {
    let mut out = BTreeMap::new();
    for ns in world.nodes() {
        let Some(fd) = world.fd(&ns) else { continue };
        let sockets = match sockdiag::read_in(fd) {
            Ok(s) => s,
            Err(e) => {
                notes.push(format!("{ns}: listening sockets (sock_diag): {e}"));
                continue;
            }
        };
        let overflows = netns::within(fd, || {
            std::fs::read_to_string("/proc/thread-self/net/netstat")
                .ok()
                .and_then(|s| sockdiag::listen_overflows(&s))
                .map(|(o, _)| o)
        })
        .ok()
        .flatten();
        out.insert(ns, Listeners { sockets, overflows });
    }
    out
}

/// The probe's IP protocol number.
fn proto_of(case: &Case, dst: IpAddr) -> u8 {
    match case.service {
        Some(s) => match s.proto {
            crate::probe::service::Proto::Tcp => 6,
            crate::probe::service::Proto::Udp => 17,
        },
        None if dst.is_ipv6() => 58,
        None => 1,
    }
}

/// Only the kernel's walk there (a few route lookups): whether a reply
/// that came back can have come from DST.
pub fn walk_there(
    world: &mut World,
    snap: &Snapshot,
    case: &Case,
    src_ip: Option<IpAddr>,
) -> Option<super::ask::Walked> {
    let dst = case.dst?;
    let proto = proto_of(case, dst);
    let mut oracle = |ns: &str, q: &RouteQuery| -> Option<RouteAnswer> {
        kask::route_get(world.sock(ns)?, q).ok()
    };
    Some(walk(snap, &case.src, dst, src_ip, proto, &mut oracle))
}

/// Ask the kernel what it decides for the probe (RTM_GETROUTE hop by hop
/// with the probe's fields, the policy rules of the namespaces on that walk,
/// the forwarding database and port flags of every bridge), there and,
/// when it gets there, back.
pub fn ask(
    world: &mut World,
    snap: &Snapshot,
    case: &Case,
    src_ip: Option<IpAddr>,
    notes: &mut Vec<String>,
) -> Asked {
    let mut a = Asked::default();
    let Some(dst) = case.dst else { return a };
    let proto = proto_of(case, dst);
    let mut failed: Vec<String> = Vec::new();
    let mut oracle = |ns: &str, q: &RouteQuery| -> Option<RouteAnswer> {
        let sock = world.sock(ns)?;
        match kask::route_get(sock, q) {
            Ok(r) => Some(r),
            Err(e) => {
                failed.push(format!("{ns}: the route the kernel picks: {e}"));
                None
            }
        }
    };
    a.there = walk(snap, &case.src, dst, src_ip, proto, &mut oracle);
    let src_back = src_ip.or_else(|| a.there.hops.first().and_then(|h| h.answer.prefsrc));
    if let (WalkEnd::Delivered { ns }, Some(back_dst)) = (&a.there.end, src_back) {
        let ns = ns.clone();
        a.back = walk(snap, &ns, back_dst, Some(dst), proto, &mut oracle);
    }
    notes.extend(failed);
    // Rules of the namespaces the walks passed.
    let mut walked: Vec<String> = Vec::new();
    for h in a.there.hops.iter().chain(a.back.hops.iter()) {
        if !walked.contains(&h.ns) {
            walked.push(h.ns.clone());
        }
    }
    for ns in &walked {
        let Some(sock) = world.sock(ns) else { continue };
        match kask::rules(sock) {
            Ok(r) if has_own_rules(&r) => {
                a.rules.insert(ns.clone(), r);
            }
            Ok(_) => {}
            Err(e) => notes.push(format!("{ns}: policy rules: {e}")),
        }
    }
    for w in [&mut a.there, &mut a.back] {
        for h in w.hops.iter_mut().filter(|h| h.answer.errno.is_some()) {
            let rules = a.rules.get(&h.ns).map(Vec::as_slice);
            explain_refusal(snap, &h.ns, rules, &mut h.answer);
        }
    }
    // Bridges: their forwarding database and their ports' flags.
    let bridged: Vec<String> = snap
        .ns
        .values()
        .filter(|n| n.links.iter().any(|l| l.kind.as_deref() == Some("bridge")))
        .map(|n| n.ns.clone())
        .collect();
    for ns in &bridged {
        let Some(sock) = world.sock(ns) else { continue };
        match kask::fdb(sock) {
            Ok(f) => {
                a.fdb.insert(ns.clone(), f);
            }
            Err(e) => notes.push(format!("{ns}: bridge forwarding database: {e}")),
        }
        match kask::port_flags(sock) {
            Ok(p) => {
                a.ports.insert(ns.clone(), p);
            }
            Err(e) => notes.push(format!("{ns}: bridge port flags: {e}")),
        }
    }
    a.looked.push(format!(
        "the route the kernel picks for the probe (ip route get with its source, iif and protocol) in {}",
        if walked.is_empty() { "no namespace".to_string() } else { walked.join(", ") }
    ));
    if !walked.is_empty() {
        a.looked.push(format!(
            "the policy rules (ip rule) of {}",
            walked.join(", ")
        ));
    }
    if !bridged.is_empty() {
        a.looked.push(format!(
            "the forwarding database and port flags of the bridges in {}",
            bridged.join(", ")
        ));
    }
    a
}
