//! Routing: no route there or back, a refusing route (blackhole,
//! unreachable, prohibit), a gateway nobody holds, a router that does not
//! forward, and rp_filter dropping packets that came in by another
//! interface than the route back.

use std::net::IpAddr;

use ipnet::IpNet;

use crate::doctor::case::{Ctx, Direction};
use crate::doctor::cmd;
use crate::doctor::finding::Finding;
use crate::doctor::snapshot::place;
use crate::doctor::way::Way;
use crate::probe::path::{End, Lookup, best_route, lookup, route_kind};

fn forwarding_key(v6: bool) -> &'static str {
    if v6 {
        "net.ipv6.conf.all.forwarding"
    } else {
        "net.ipv4.ip_forward"
    }
}

/// A router `ns` could use to reach `dst`: a namespace on one of its links,
/// on the same subnet, that forwards and has a way on. (gateway, via what)
fn gateway_for(cx: &Ctx, ns: &str, dst: IpAddr) -> Option<(IpAddr, String)> {
    let n = cx.snap.get(ns)?;
    for l in n.links.iter().filter(|l| l.name != "lo" && l.admin_up) {
        for a in l
            .addrs
            .iter()
            .filter(|a| a.net.addr().is_ipv4() == dst.is_ipv4())
        {
            for (gns, gl) in cx.snap.endpoints(&cx.snap.l2_segment(ns, l.index)) {
                if gns == ns {
                    continue;
                }
                let Some(g) = cx.snap.get(&gns) else { continue };
                let forwards = cx.snap.sysctl(&gns, forwarding_key(dst.is_ipv6())) == Some(1);
                let reaches = !matches!(lookup(g, dst), Lookup::NoRoute | Lookup::Refused(_));
                if !(forwards && reaches) {
                    continue;
                }
                if let Some(ga) = gl
                    .addrs
                    .iter()
                    .find(|x| a.net.contains(&x.net.addr()) && !x.dadfailed && !x.is_kernel_made())
                {
                    return Some((
                        ga.net.addr(),
                        format!("{} ({})", place(&gns, &gl.name), gns),
                    ));
                }
            }
        }
    }
    None
}

/// The subnet `dst` is on, as its holder has it (or the address alone).
fn dst_net(cx: &Ctx, dst: IpAddr) -> IpNet {
    cx.snap
        .ns
        .values()
        .flat_map(|n| n.links.iter().flat_map(|l| l.addrs.iter()))
        .find(|a| a.net.addr() == dst)
        .map(|a| a.net.trunc())
        .unwrap_or_else(|| IpNet::from(dst))
}

fn has_default(cx: &Ctx, ns: &str, v6: bool) -> bool {
    cx.snap.get(ns).is_some_and(|n| {
        n.routes
            .iter()
            .any(|r| r.dst.prefix_len() == 0 && r.dst.addr().is_ipv6() == v6 && r.table == 254)
    })
}

fn route_fix(cx: &Ctx, ns: &str, dst: IpAddr, f: Finding) -> Finding {
    match gateway_for(cx, ns, dst) {
        Some((gw, who)) => {
            let target = if has_default(cx, ns, dst.is_ipv6()) {
                dst_net(cx, dst).to_string()
            } else {
                "default".to_string()
            };
            f.evidence(format!("{who} forwards and can reach {dst}"))
                .fix(
                    format!("route through {who}"),
                    vec![cmd::ip(ns, &format!("route add {target} via {gw}"))],
                )
        }
        None => f.fix(
            "add a route through a router on one of its links",
            vec![cmd::ip(
                ns,
                &format!("route add {} via GATEWAY", dst_net(cx, dst)),
            )],
        ),
    }
}

/// No route to the destination, or none back: secondary, since a link
/// that is down or an address on the wrong subnet removes routes too.
pub fn missing(cx: &Ctx) -> Vec<Finding> {
    let mut out = Vec::new();
    for (way, dir) in cx.ways() {
        let End::NoRoute { ns } = &way.path.end else {
            continue;
        };
        let Some(dst) = way.dst else { continue };
        let (id, cause) = match dir {
            Direction::There => ("route.no-route", format!("{ns} has no route to {dst}")),
            Direction::Back => (
                "route.no-return",
                format!("{ns} has no route back to {dst}: the reply cannot leave"),
            ),
        };
        let routes: Vec<String> = cx
            .snap
            .get(ns)
            .map(|n| {
                n.routes
                    .iter()
                    .filter(|r| {
                        r.table == 254 && r.dst.addr().is_ipv4() == dst.is_ipv4() && r.kind == 1
                    })
                    .map(|r| {
                        let via = r.via.map(|v| format!(" via {v}")).unwrap_or_default();
                        let dev = r
                            .dev
                            .and_then(|d| n.name_of(d))
                            .map(|d| format!(" dev {d}"))
                            .unwrap_or_default();
                        format!("{}{via}{dev}", r.dst)
                    })
                    .collect()
            })
            .unwrap_or_default();
        let mut f = Finding::new(id, cause).secondary().at(ns).evidence(format!(
            "{ns}'s routes: {}",
            if routes.is_empty() {
                "none".to_string()
            } else {
                routes.join("; ")
            }
        ));
        if dir == Direction::There && cx.probe.refused == Some(libc::ENETUNREACH) {
            f = f.evidence("the kernel refused to send: network unreachable");
        }
        out.push(route_fix(cx, ns, dst, f));
    }
    out
}

/// Blackhole, unreachable and prohibit routes.
pub fn refused(cx: &Ctx) -> Vec<Finding> {
    let mut out = Vec::new();
    for (way, _) in cx.ways() {
        let End::Refused { ns, route } = &way.path.end else {
            continue;
        };
        let Some(dst) = way.dst else { continue };
        let Some(r) = cx.snap.get(ns).and_then(|n| best_route(n, dst)) else {
            continue;
        };
        let kind = route_kind(r.kind);
        out.push(
            Finding::new(
                "route.refused",
                format!(
                    "{ns} has a {route} route for {} that covers {dst}: it refuses to send there",
                    r.dst
                ),
            )
            .at(ns)
            .evidence(format!("{ns}: {kind} {}", r.dst))
            .fix(
                "delete the route",
                vec![cmd::ip(ns, &format!("route del {kind} {}", r.dst))],
            ),
        );
    }
    out
}

/// A way that stops at a gateway nobody on the link holds.
pub fn gateway(cx: &Ctx) -> Vec<Finding> {
    let mut out = Vec::new();
    for (way, _) in cx.ways() {
        let Some(leg) = way.legs.last().filter(|l| l.to.is_none()) else {
            continue;
        };
        let Some(dst) = way.dst else { continue };
        if leg.next_hop == dst {
            continue;
        }
        // Someone on the link holds the gateway: other rules say why it is not reached.
        let seg = leg
            .out
            .as_ref()
            .map(|p| cx.snap.l2_segment(&p.ns, p.ifindex))
            .unwrap_or_default();
        if cx
            .topo
            .owners(leg.next_hop)
            .iter()
            .any(|o| seg.iter().any(|(n, _)| n == o))
        {
            continue;
        }
        let ns = &leg.from;
        let Some(r) = cx.snap.get(ns).and_then(|n| best_route(n, dst)) else {
            continue;
        };
        let on = leg
            .out
            .as_ref()
            .map(|p| place(&p.ns, &p.iface))
            .unwrap_or_default();
        let mut f = Finding::new(
            "route.gateway",
            format!(
                "{ns}'s route to {dst} goes via {}, which nobody on {on}'s link holds: nothing answers for the gateway",
                leg.next_hop
            ),
        )
        .at(ns)
        .evidence(format!("{ns}: {} via {}", r.dst, leg.next_hop));
        let target = if r.dst.prefix_len() == 0 {
            "default".to_string()
        } else {
            r.dst.to_string()
        };
        match gateway_for(cx, ns, dst) {
            Some((gw, who)) => {
                f = f
                    .evidence(format!("{who} forwards and can reach {dst}"))
                    .fix(
                        format!("route through {who}"),
                        vec![cmd::ip(ns, &format!("route replace {target} via {gw}"))],
                    );
            }
            None => {
                f = f.guess();
            }
        }
        out.push(f);
    }
    out
}

fn in_iface<'a>(way: &'a Way, ns: &str) -> Option<&'a crate::probe::path::Point> {
    way.legs
        .iter()
        .filter_map(|l| l.arrive.as_ref())
        .find(|p| p.ns == ns)
}

/// A router on the way that does not forward: the family's switch, or
/// IPv4 forwarding off on the interface the packets come in on.
pub fn forwarding(cx: &Ctx) -> Vec<Finding> {
    let mut out: Vec<Finding> = Vec::new();
    for (way, dir) in cx.ways() {
        let Some(dst) = way.dst else { continue };
        let v6 = dst.is_ipv6();
        if let End::NotForwarding { ns } = &way.path.end {
            let key = forwarding_key(v6);
            if out
                .iter()
                .any(|f| f.ns.contains(ns) && f.cause.contains(key))
            {
                continue;
            }
            let arrived = in_iface(way, ns)
                .map(|p| format!(" coming in on {}", p.iface))
                .unwrap_or_default();
            out.push(
                Finding::new(
                    "route.forwarding-off",
                    format!(
                        "{ns} does not forward {} packets ({key} = 0): {}{arrived} is dropped there",
                        if v6 { "IPv6" } else { "IPv4" },
                        dir.packet()
                    ),
                )
                .at(ns)
                .evidence(format!("{ns}: {key} = 0"))
                .evidence(format!("{ns} is a router on the way to {dst}"))
                .fix("turn forwarding on", vec![cmd::sysctl(ns, key, "1")]),
            );
            continue;
        }
        if v6 {
            continue;
        }
        // Forwarded legs: IPv4 forwarding is also per incoming interface.
        for w in way.legs.windows(2) {
            let (Some(a), ns) = (&w[0].arrive, &w[1].from) else {
                continue;
            };
            let Some(l) = cx.snap.link(ns, a.ifindex) else {
                continue;
            };
            if l.conf.ipv4_forwarding == Some(0)
                && cx.snap.sysctl(ns, "net.ipv4.ip_forward") == Some(1)
            {
                let key = format!("net.ipv4.conf.{}.forwarding", l.name);
                if out.iter().any(|f| f.cause.contains(&key)) {
                    continue;
                }
                out.push(
                    Finding::new(
                        "route.forwarding-off",
                        format!(
                            "{ns} does not forward what comes in on {} ({key} = 0)",
                            l.name
                        ),
                    )
                    .at(ns)
                    .evidence(format!("{ns}: net.ipv4.ip_forward = 1, but {key} = 0"))
                    .fix(
                        "turn forwarding on for the interface",
                        vec![cmd::sysctl(ns, &key, "1")],
                    ),
                );
            }
        }
    }
    out
}

/// rp_filter: strict (1) drops a packet whose source is routed back by
/// another interface than it came in on; loose (2) one whose source has no
/// route at all (that is the missing route's rule).
pub fn rp_filter(cx: &Ctx) -> Vec<Finding> {
    let mut out: Vec<Finding> = Vec::new();
    for (way, dir) in cx.ways() {
        let Some(src) = way.src.filter(|s| s.is_ipv4()) else {
            continue;
        };
        for leg in &way.legs {
            let (Some(to), Some(a)) = (&leg.to, &leg.arrive) else {
                continue;
            };
            let Some(n) = cx.snap.get(to) else { continue };
            let Some(l) = n.link_by_index(a.ifindex) else {
                continue;
            };
            let all = cx
                .snap
                .sysctl(to, "net.ipv4.conf.all.rp_filter")
                .unwrap_or(0);
            let own = i64::from(l.conf.rp_filter.unwrap_or(0));
            let mode = all.max(own);
            if mode != 1 {
                continue;
            }
            let Lookup::Via { dev, .. } = lookup(n, src) else {
                continue;
            };
            if dev == l.index {
                continue;
            }
            let by = n.name_of(dev).unwrap_or("another interface");
            let mut cmds = Vec::new();
            if all == 1 {
                cmds.push(cmd::sysctl(to, "net.ipv4.conf.all.rp_filter", "2"));
            }
            if own == 1 {
                cmds.push(cmd::sysctl(
                    to,
                    &format!("net.ipv4.conf.{}.rp_filter", l.name),
                    "2",
                ));
            }
            let f = Finding::new(
                "route.rp-filter",
                format!(
                    "{to} drops what comes from {src} on {} ({}, and ARP from it too): rp_filter is strict (1) and {to}'s route back to {src} leaves by {by}",
                    l.name,
                    dir.packet()
                ),
            )
            .at(to)
            .evidence(format!(
                "{to}: net.ipv4.conf.all.rp_filter = {all}, net.ipv4.conf.{}.rp_filter = {own} (the larger applies)",
                l.name
            ))
            .evidence(format!("{to}: route to {src} via {by}, not {}", l.name))
            .fix("make the reverse path filter loose (2)", cmds);
            if !out.iter().any(|x| x.cause == f.cause) {
                out.push(f);
            }
        }
    }
    out
}
