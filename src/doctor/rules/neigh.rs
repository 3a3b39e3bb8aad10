//! Neighbours (ARP/NDP): NOARP on an interface that must resolve or answer,
//! arp_ignore / arp_filter settings that keep the next hop silent, a
//! permanent entry with a wrong MAC, and resolution that got no answer.

use std::net::IpAddr;

use crate::doctor::case::Ctx;
use crate::doctor::cmd;
use crate::doctor::finding::Finding;
use crate::doctor::snapshot::place;
use crate::doctor::way::Leg;
use crate::model::live::{NUD_FAILED, NUD_INCOMPLETE, NUD_NOARP, NUD_PERMANENT};
use crate::probe::path::{Lookup, lookup};

fn probe_failed(cx: &Ctx) -> bool {
    !cx.probe.answered
}

/// Every leg of both ways.
fn legs<'a>(cx: &'a Ctx) -> impl Iterator<Item = &'a Leg> {
    cx.fwd.legs.iter().chain(cx.back.legs.iter())
}

pub fn noarp(cx: &Ctx) -> Vec<Finding> {
    let mut out: Vec<Finding> = Vec::new();
    if !probe_failed(cx) {
        return out;
    }
    for leg in legs(cx).filter(|l| l.next_hop.is_ipv4()) {
        for (p, role) in [(&leg.out, "sends"), (&leg.arrive, "must answer ARP")] {
            let Some(p) = p else { continue };
            let Some(l) = cx.snap.link(&p.ns, p.ifindex) else {
                continue;
            };
            if !l.noarp
                || out
                    .iter()
                    .any(|f| f.ns == [p.ns.clone()] && f.cause.contains(&place(&p.ns, &l.name)))
            {
                continue;
            }
            let here = place(&p.ns, &l.name);
            out.push(
                Finding::new(
                    "neigh.noarp",
                    format!(
                        "{here} has ARP turned off (NOARP), yet it {role} for {}: {}",
                        leg.next_hop,
                        if role == "sends" {
                            "its frames go out without the next hop's MAC"
                        } else {
                            "it ignores ARP requests"
                        }
                    ),
                )
                .at(&p.ns)
                .evidence(format!("{here}: flags include NOARP"))
                .fix(
                    format!("turn ARP on for {}", l.name),
                    vec![cmd::ip(
                        &p.ns,
                        &format!("link set dev {} arp on", cmd::dev(&l.name)),
                    )],
                ),
            );
        }
    }
    out
}

fn conf_all(cx: &Ctx, ns: &str, key: &str) -> i64 {
    cx.snap
        .sysctl(ns, &format!("net.ipv4.conf.all.{key}"))
        .unwrap_or(0)
}

/// Whether arp_ignore mode `mode` stops an answer for `target` asked by
/// `sender`, arriving on an interface holding `here`.
fn ignores(mode: i64, target: IpAddr, sender: Option<IpAddr>, here: &[ipnet::IpNet]) -> bool {
    let on_iface = here.iter().any(|n| n.addr() == target);
    match mode {
        1 => !on_iface,
        2 => {
            !on_iface
                || sender
                    .is_some_and(|s| !here.iter().any(|n| n.addr() == target && n.contains(&s)))
        }
        8 => true,
        _ => false,
    }
}

pub fn arp_settings(cx: &Ctx) -> Vec<Finding> {
    let mut out: Vec<Finding> = Vec::new();
    if !probe_failed(cx) {
        return out;
    }
    for leg in legs(cx).filter(|l| l.next_hop.is_ipv4()) {
        let (Some(to), Some(a)) = (&leg.to, &leg.arrive) else {
            continue;
        };
        let Some(l) = cx.snap.link(to, a.ifindex) else {
            continue;
        };
        let here = place(to, &l.name);
        let all = conf_all(cx, to, "arp_ignore");
        let own = i64::from(l.conf.arp_ignore.unwrap_or(0));
        let mode = all.max(own);
        let nets: Vec<ipnet::IpNet> = l.addrs.iter().map(|x| x.net).collect();
        if ignores(mode, leg.next_hop, leg.source, &nets)
            && !out.iter().any(|f| f.cause.contains(&here))
        {
            let mut cmds = Vec::new();
            if all == mode {
                cmds.push(cmd::sysctl(to, "net.ipv4.conf.all.arp_ignore", "0"));
            }
            if own == mode {
                cmds.push(cmd::sysctl(
                    to,
                    &format!("net.ipv4.conf.{}.arp_ignore", l.name),
                    "0",
                ));
            }
            let what = match mode {
                8 => "never answer ARP".to_string(),
                1 => format!(
                    "answer only for addresses on the receiving interface, and {} is not on {}",
                    leg.next_hop, l.name
                ),
                _ => format!(
                    "answer only when the sender is on the target's subnet, and {} is not",
                    leg.source.map_or("it".into(), |s| s.to_string())
                ),
            };
            out.push(
                Finding::new(
                    "neigh.arp-ignore",
                    format!("{to} does not answer ARP for {} on {}: arp_ignore is {mode} ({what})", leg.next_hop, l.name),
                )
                .at(to)
                .evidence(format!("{to}: net.ipv4.conf.all.arp_ignore = {all}, net.ipv4.conf.{}.arp_ignore = {own}", l.name))
                .fix("answer ARP again", cmds),
            );
        }
        // arp_filter: answer only if the route back to the sender leaves
        // by the interface the request came in on.
        let af_all = conf_all(cx, to, "arp_filter");
        let af_own = i64::from(l.conf.arp_filter.unwrap_or(0));
        if (af_all != 0 || af_own != 0)
            && let Some(sender) = leg.source
            && let Some(n) = cx.snap.get(to)
            && let Lookup::Via { dev, .. } = lookup(n, sender)
            && dev != l.index
        {
            let by = n.name_of(dev).unwrap_or("another interface");
            let mut cmds = Vec::new();
            if af_all != 0 {
                cmds.push(cmd::sysctl(to, "net.ipv4.conf.all.arp_filter", "0"));
            }
            if af_own != 0 {
                cmds.push(cmd::sysctl(
                    to,
                    &format!("net.ipv4.conf.{}.arp_filter", l.name),
                    "0",
                ));
            }
            out.push(
                Finding::new(
                    "neigh.arp-filter",
                    format!(
                        "{to} does not answer ARP from {sender} on {}: arp_filter is on, and its route back to {sender} leaves by {by}",
                        l.name
                    ),
                )
                .at(to)
                .evidence(format!(
                    "{to}: net.ipv4.conf.all.arp_filter = {af_all}, net.ipv4.conf.{}.arp_filter = {af_own}",
                    l.name
                ))
                .evidence(format!("{to}: route to {sender} via {by}"))
                .fix("turn arp_filter off", cmds),
            );
        }
    }
    out
}

pub fn wrong_permanent(cx: &Ctx) -> Vec<Finding> {
    let mut out = Vec::new();
    for leg in legs(cx) {
        let (Some(o), Some(a)) = (&leg.out, &leg.arrive) else {
            continue;
        };
        let Some(d) = cx.snap.detail(&leg.from) else {
            continue;
        };
        let Some(right) = cx.snap.link(&a.ns, a.ifindex).and_then(|l| l.mac) else {
            continue;
        };
        for e in d
            .neigh
            .iter()
            .filter(|e| e.ip == leg.next_hop && e.ifindex == o.ifindex)
        {
            let Some(mac) = e.lladdr else { continue };
            if e.state & (NUD_PERMANENT | NUD_NOARP) == 0 || mac == right {
                continue;
            }
            let name = o.iface.as_str();
            out.push(
                Finding::new(
                    "neigh.wrong-permanent",
                    format!(
                        "{} has a permanent neighbour entry for {} with MAC {mac}, but {} ({}) has MAC {right}: frames go to a MAC nobody on the link has",
                        leg.from,
                        leg.next_hop,
                        leg.next_hop,
                        place(&a.ns, &a.iface)
                    ),
                )
                .at(&leg.from)
                .evidence(format!(
                    "{}: {} lladdr {mac} PERMANENT on {name}",
                    leg.from, leg.next_hop
                ))
                .evidence(format!("{}: link/ether {right}", place(&a.ns, &a.iface)))
                .fix(
                    "delete the entry (ARP then finds the right MAC)",
                    vec![cmd::ip(
                        &leg.from,
                        &format!("neigh del {} dev {}", leg.next_hop, cmd::dev(name)),
                    )],
                )
                .fix(
                    "or make it right",
                    vec![cmd::ip(
                        &leg.from,
                        &format!(
                            "neigh replace {} lladdr {right} dev {} nud permanent",
                            leg.next_hop,
                            cmd::dev(name)
                        ),
                    )],
                ),
            );
        }
    }
    out
}

/// Resolution of a next hop that got no answer: a symptom, named when
/// nothing explains it.
pub fn failed_resolution(cx: &Ctx, leg: &Leg) -> Option<Finding> {
    let o = leg.out.as_ref()?;
    let d = cx.snap.detail(&leg.from)?;
    let e = d.neigh.iter().find(|e| {
        e.ip == leg.next_hop
            && e.ifindex == o.ifindex
            && e.state & (NUD_FAILED | NUD_INCOMPLETE) != 0
    })?;
    let proto = if leg.next_hop.is_ipv4() { "ARP" } else { "NDP" };
    let mut f = Finding::new(
        "neigh.failed",
        format!(
            "{}'s {proto} request for {} on {} got no answer",
            leg.from, leg.next_hop, o.iface
        ),
    )
    .secondary()
    .at(&leg.from)
    .evidence(format!(
        "{}: neighbour {} on {} is {}",
        leg.from,
        leg.next_hop,
        o.iface,
        if e.state & NUD_FAILED != 0 {
            "FAILED"
        } else {
            "INCOMPLETE"
        }
    ));
    if let Some(to) = &leg.to {
        f = f.at(to);
    }
    for owner in cx.topo.owners(leg.next_hop) {
        f = f.at(owner);
    }
    Some(f)
}

pub fn failed(cx: &Ctx) -> Vec<Finding> {
    if cx.probe.answered {
        return Vec::new();
    }
    legs(cx)
        .filter_map(|l| failed_resolution(cx, l))
        .take(1)
        .collect()
}
