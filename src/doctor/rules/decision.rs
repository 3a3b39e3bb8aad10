//! The kernel's routing decisions along the way (pure): when the kernel's
//! own walk (the route it says it picks at each namespace, for the probe's
//! packet as it is there) does not reach the destination, name the hop, the
//! decision and the state behind it — a policy rule that sends the packet
//! to another table, a route more specific than the connected subnet, a
//! route into `lo` or a local route for a remote address, routes that send
//! it round between two routers — with its fix.

use std::net::IpAddr;

use crate::doctor::ask::{
    self, Hop, WalkEnd, Walked, answer_text, deciding_rule, refusing_action, route_text,
    route_with_table, rule_text, table_name,
};
use crate::doctor::case::{Ctx, Direction};
use crate::doctor::cmd;
use crate::doctor::code::Code;
use crate::doctor::finding::Finding;
use crate::model::fib::{
    RT_TABLE_DEFAULT, RT_TABLE_LOCAL, RT_TABLE_MAIN, RTN_UNICAST, RouteAnswer, RuleEntry,
};
use crate::model::live::LiveRoute;

/// Why a hop's decision is odd.
enum Odd<'a> {
    /// A policy rule chose another table (or refuses itself).
    Policy(&'a RuleEntry),
    /// The route matched is more specific than a connected route that
    /// would have taken the packet elsewhere.
    Specific(&'a LiveRoute),
}

pub fn routes(cx: &Ctx) -> Vec<Finding> {
    let a = &cx.snap.asked;
    let mut out = Vec::new();
    for (w, dir) in [(&a.there, Direction::There), (&a.back, Direction::Back)] {
        if w.hops.is_empty() || w.delivered() || w.end == WalkEnd::Unasked {
            continue;
        }
        if dir == Direction::Back && !a.there.delivered() {
            continue;
        }
        if let Some(f) = judge(cx, w, dir) {
            out.push(f);
        }
    }
    out
}

fn odd<'a>(cx: &'a Ctx, hop: &Hop) -> Option<Odd<'a>> {
    let a = &hop.answer;
    if let Some(rules) = cx.snap.asked.rules.get(&hop.ns)
        && let Some(r) = deciding_rule(rules, a)
        && (refusing_action(r.action)
            || !matches!(r.table, RT_TABLE_MAIN | RT_TABLE_LOCAL | RT_TABLE_DEFAULT))
    {
        return Some(Odd::Policy(r));
    }
    shadowed(cx, &hop.ns, a).map(Odd::Specific)
}

/// The connected route (no gateway) of the answer's table that also holds
/// DST but leads elsewhere, which the matched, longer prefix overrides.
fn shadowed<'a>(cx: &'a Ctx, ns: &str, a: &RouteAnswer) -> Option<&'a LiveRoute> {
    let dst = a.query.dst?;
    let m = a.matched?;
    let n = cx.snap.get(ns)?;
    n.routes
        .iter()
        .filter(|r| {
            r.table == a.table
                && r.kind == RTN_UNICAST
                && r.via.is_none()
                && r.dev.is_some()
                && r.dst.addr().is_ipv4() == dst.is_ipv4()
                && r.dst.contains(&dst)
                && r.dst.prefix_len() < m.prefix_len()
                && (r.dev != a.oif || a.gateway.is_some())
        })
        .max_by_key(|r| r.dst.prefix_len())
}

fn end_words(cx: &Ctx, w: &Walked) -> String {
    match &w.end {
        WalkEnd::Swallowed { ns } => {
            format!("{ns} takes it in as its own, and nothing there answers for it")
        }
        WalkEnd::Refused { ns, errno } => {
            let kind = w
                .hops
                .last()
                .filter(|h| h.answer.answered_route().is_some())
                .and_then(|h| ask::kind_word(h.answer.kind));
            match kind {
                Some(k) => {
                    let an = if k.starts_with('u') { "an" } else { "a" };
                    format!("{ns} refuses it: {an} {k} route")
                }
                None if *errno != 0 => format!("{ns} refuses it ({})", ask::errno_words(*errno)),
                None => format!("{ns} refuses it"),
            }
        }
        WalkEnd::NoNeighbour { ns } => {
            let nh = w
                .hops
                .last()
                .and_then(|h| h.next_hop)
                .map(|h| h.to_string())
                .unwrap_or_default();
            format!("nobody on {ns}'s link holds {nh}")
        }
        WalkEnd::Loop { ns } => format!("it comes back to {ns}: a loop"),
        WalkEnd::Lost { ns } => format!("the walk cannot follow it past {ns}"),
        WalkEnd::Delivered { ns } => format!("it is delivered in {ns}"),
        WalkEnd::Unasked => {
            let _ = cx;
            "the kernel was not asked".into()
        }
    }
}

fn walk_words(w: &Walked) -> String {
    let mut v: Vec<String> = w.hops.iter().map(|h| h.ns.clone()).collect();
    if let WalkEnd::Loop { ns } = &w.end {
        v.push(ns.clone());
    }
    format!("the kernel's walk: {}", v.join(" → "))
}

fn judge(cx: &Ctx, w: &Walked, dir: Direction) -> Option<Finding> {
    let dst = w.hops.first()?.answer.query.dst?;
    let what = cx.case.what(dir);
    let first_odd = w
        .hops
        .iter()
        .enumerate()
        .find_map(|(i, h)| odd(cx, h).map(|o| (i, o)));
    let last = w.hops.len() - 1;
    let mut f = match (&w.end, first_odd) {
        (WalkEnd::Loop { ns }, odd) => looped(cx, w, ns, dst, &what, odd),
        (WalkEnd::Swallowed { .. }, odd) => swallowed(cx, w, dst, &what, odd.map(|o| o.1)),
        // A main-table gateway nobody holds is route.gateway's.
        (WalkEnd::NoNeighbour { .. }, Some((i, Odd::Specific(_)))) if i == last => return None,
        (_, Some((i, o))) => diverted(cx, w, i, o, dst, &what),
        _ => return None,
    }?;
    f = f.evidence(walk_words(w));
    for h in &w.hops {
        f = f.at(&h.ns);
    }
    Some(f)
}

/// Fix and words for an odd hop.
fn odd_fix(cx: &Ctx, h: &Hop, o: &Odd, f: Finding) -> Finding {
    let v6 = h.answer.query.dst.is_some_and(|d| d.is_ipv6());
    let ipf = if v6 { "-6 " } else { "" };
    match o {
        Odd::Policy(r) => {
            let mut f = f
                .evidence(format!("{}: ip {ipf}rule: {}", h.ns, rule_text(r)))
                .fix(
                    format!(
                        "remove rule {} (or make it match only what it is meant for)",
                        r.priority
                    ),
                    vec![cmd::ip(
                        &h.ns,
                        &format!("{ipf}rule del priority {}", r.priority),
                    )],
                );
            if !refusing_action(r.action) {
                f = f.fix(
                    format!("or change what table {} does with it", table_name(r.table)),
                    vec![cmd::ip(
                        &h.ns,
                        &format!(
                            "{ipf}route del {}",
                            route_with_table(cx.snap, &h.ns, &h.answer)
                        ),
                    )],
                );
            }
            f
        }
        Odd::Specific(c) => {
            let dev = c
                .dev
                .and_then(|i| cx.snap.link(&h.ns, i))
                .map(|l| l.name.clone())
                .unwrap_or_default();
            f.evidence(format!(
                "{}: the connected route {} dev {dev} holds {} too, but the kernel prefers the longer prefix {}",
                h.ns,
                c.dst.trunc(),
                h.answer.query.dst.map(|d| d.to_string()).unwrap_or_default(),
                h.answer.matched.map(|m| m.to_string()).unwrap_or_default()
            ))
            .fix(
                format!("remove the more specific route, so {} dev {dev} takes it", c.dst.trunc()),
                vec![cmd::ip(
                    &h.ns,
                    &format!("{ipf}route del {}", route_with_table(cx.snap, &h.ns, &h.answer)),
                )],
            )
        }
    }
}

fn decision_words(cx: &Ctx, h: &Hop, o: &Odd) -> String {
    let route = route_text(cx.snap, &h.ns, &h.answer);
    match o {
        Odd::Policy(r) if refusing_action(r.action) => {
            format!(
                "rule {} (`{}`) refuses it in {}",
                r.priority,
                rule_text(r),
                h.ns
            )
        }
        Odd::Policy(r) => format!(
            "in {}, rule {} (`{}`) sends it to table {}, where the kernel picks `{route}`",
            h.ns,
            r.priority,
            rule_text(r),
            table_name(r.table)
        ),
        Odd::Specific(c) => format!(
            "in {}, the more specific route `{route}` overrides the connected subnet {}",
            h.ns,
            c.dst.trunc()
        ),
    }
}

/// An odd decision that sends the packet somewhere it does not arrive.
fn diverted(cx: &Ctx, w: &Walked, i: usize, o: Odd, dst: IpAddr, what: &str) -> Option<Finding> {
    let h = &w.hops[i];
    let id = match o {
        Odd::Policy(_) => "route.policy",
        Odd::Specific(_) => "route.specific",
    };
    let cause = format!(
        "{}: {what} to {dst} does not get there — {}",
        decision_words(cx, h, &o),
        end_words(cx, w)
    );
    let mut f = Finding::new(id, cause).evidence(answer_text(cx.snap, &h.ns, &h.answer));
    if let Some(last) = w.hops.last().filter(|l| l.ns != h.ns) {
        f = f.evidence(answer_text(cx.snap, &last.ns, &last.answer));
    }
    if matches!(w.end, WalkEnd::Refused { .. }) && w.hops.len() == i + 1 {
        f = f.code(Code::NullRouted);
    }
    Some(odd_fix(cx, h, &o, f))
}

/// The last hop takes the packet in though it does not hold DST: a local
/// route for a remote address, or a route into lo.
fn swallowed(cx: &Ctx, w: &Walked, dst: IpAddr, what: &str, odd: Option<Odd>) -> Option<Finding> {
    let h = w.hops.last()?;
    let route = route_text(cx.snap, &h.ns, &h.answer);
    let owners = cx.topo.owners(dst);
    let held = if owners.is_empty() {
        String::new()
    } else {
        format!(", though {} holds it", owners.join(" and "))
    };
    let how = if route.starts_with("local ") {
        "takes it for one of its own addresses"
    } else {
        "sends it into lo, where nothing answers for it"
    };
    let mut f = Finding::new(
        "route.local",
        format!(
            "{} {how}: the kernel picks `{route}` (table {}) for {what} to {dst}{held}",
            h.ns,
            table_name(h.answer.table)
        ),
    )
    .evidence(answer_text(cx.snap, &h.ns, &h.answer));
    let v6 = dst.is_ipv6();
    let ipf = if v6 { "-6 " } else { "" };
    match &odd {
        Some(o @ Odd::Policy(_)) => f = odd_fix(cx, h, o, f),
        Some(Odd::Specific(c)) => {
            f = f.evidence(format!(
                "{}: the connected route {} holds {dst} too, but the kernel prefers the longer prefix",
                h.ns,
                c.dst.trunc()
            ));
        }
        None => {}
    }
    if !matches!(odd, Some(Odd::Policy(_))) {
        f = f.fix(
            "remove the route that keeps it",
            vec![cmd::ip(
                &h.ns,
                &format!(
                    "{ipf}route del {}",
                    route_with_table(cx.snap, &h.ns, &h.answer)
                ),
            )],
        );
    }
    Some(f)
}

/// Routes that send the packet round: name each router's route on the
/// cycle, and fix the one that sends it back where it came from.
fn looped(
    cx: &Ctx,
    w: &Walked,
    back_to: &str,
    dst: IpAddr,
    what: &str,
    odd: Option<(usize, Odd)>,
) -> Option<Finding> {
    let start = w.hops.iter().position(|h| h.ns == back_to)?;
    let cycle = &w.hops[start..];
    let parts: Vec<String> = cycle
        .iter()
        .map(|h| {
            let to = h
                .arrive
                .as_ref()
                .map(|(n, _)| n.clone())
                .unwrap_or_else(|| "?".into());
            format!(
                "{} sends it to {to} (`{}`)",
                h.ns,
                route_text(cx.snap, &h.ns, &h.answer)
            )
        })
        .collect();
    let names: Vec<&str> = cycle.iter().map(|h| h.ns.as_str()).collect();
    let mut f = Finding::new(
        "route.loop",
        format!(
            "the routes of {} send {what} to {dst} round in a loop: {}",
            names.join(" and "),
            parts.join(", ")
        ),
    );
    for h in cycle {
        f = f.evidence(answer_text(cx.snap, &h.ns, &h.answer));
    }
    // The one to fix: an odd decision on the cycle, else the router that
    // sends it back out of the interface it came in by.
    if let Some((i, o)) = odd.filter(|(i, _)| *i >= start) {
        return Some(odd_fix(cx, &w.hops[i], &o, f));
    }
    let culprit = cycle
        .iter()
        .find(|h| h.answer.query.iif.is_some() && h.answer.query.iif == h.answer.oif)
        .or(cycle.last())?;
    let ipf = if dst.is_ipv6() { "-6 " } else { "" };
    let prefix = match culprit.answer.matched {
        Some(m) if m.prefix_len() == 0 => "default".to_string(),
        Some(m) => m.trunc().to_string(),
        None => dst.to_string(),
    };
    let table = if matches!(culprit.answer.table, RT_TABLE_MAIN | 0) {
        String::new()
    } else {
        format!(" table {}", table_name(culprit.answer.table))
    };
    f = f.evidence(format!(
        "{} sends it back out of the interface it came in by",
        culprit.ns
    ));
    match toward(cx, culprit, dst) {
        Some((gw, dev)) => Some(f.fix(
            format!("point {}'s route at {gw}, towards {dst}", culprit.ns),
            vec![cmd::ip(
                &culprit.ns,
                &format!(
                    "{ipf}route replace {prefix} via {gw} dev {}{table}",
                    cmd::dev(&dev)
                ),
            )],
        )),
        None => Some(f.fix(
            format!("remove {}'s route that sends it back", culprit.ns),
            vec![cmd::ip(
                &culprit.ns,
                &format!(
                    "{ipf}route del {}",
                    route_with_table(cx.snap, &culprit.ns, &culprit.answer)
                ),
            )],
        )),
    }
}

/// A neighbour of `h`'s namespace, on another link than the one the route
/// uses, that holds DST or a connected subnet with it: its address there.
fn toward(cx: &Ctx, h: &Hop, dst: IpAddr) -> Option<(IpAddr, String)> {
    let n = cx.snap.get(&h.ns)?;
    for l in n
        .links
        .iter()
        .filter(|l| Some(l.index) != h.answer.oif && l.name != "lo")
    {
        if cx.snap.bridge_of(&h.ns, l).is_some() {
            continue;
        }
        let seg = cx.snap.l2_segment(&h.ns, l.index);
        for (ons, ol) in cx.snap.endpoints(&seg) {
            if ons == h.ns {
                continue;
            }
            let Some(on) = cx.snap.get(&ons) else {
                continue;
            };
            let reaches = crate::probe::path::holds(on, dst)
                || on.routes.iter().any(|r| {
                    r.table == RT_TABLE_MAIN
                        && r.via.is_none()
                        && r.kind == RTN_UNICAST
                        && r.dst.prefix_len() > 0
                        && r.dst.contains(&dst)
                });
            if !reaches {
                continue;
            }
            let gw = ol.addrs.iter().find(|a| {
                a.net.addr().is_ipv4() == dst.is_ipv4()
                    && l.addrs.iter().any(|m| m.net.trunc() == a.net.trunc())
            })?;
            return Some((gw.net.addr(), l.name.clone()));
        }
    }
    None
}
