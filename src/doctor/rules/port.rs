//! The bridges' decisions on each hop of the kernel's walk (pure): the
//! forwarding database entry for the frame's destination MAC (a static or
//! learned entry on the wrong port), and the ports' flags that stop it
//! being forwarded or flooded — isolated pairs, a locked port, broadcast
//! (ARP) or multicast (NDP) flooding off where the next hop still has to
//! be resolved, unknown unicast flooding off where the bridge never learned
//! the MAC (learning off).

use crate::doctor::ask::{Crossing, Hop, crossings, l2_route};
use crate::doctor::case::{Ctx, Direction};
use crate::doctor::cmd;
use crate::doctor::finding::Finding;
use crate::doctor::snapshot::place;
use crate::model::fib::{FdbEntry, PortFlags};
use crate::model::live::{NUD_NOARP, NUD_PERMANENT};

/// NUD states in which a neighbour entry has a usable MAC.
const NUD_VALID: u16 = 0x02 | 0x04 | 0x08 | 0x10 | NUD_NOARP | NUD_PERMANENT;

pub fn bridges(cx: &Ctx) -> Vec<Finding> {
    let a = &cx.snap.asked;
    let mut out: Vec<Finding> = Vec::new();
    for (w, dir) in [(&a.there, Direction::There), (&a.back, Direction::Back)] {
        // What stops the packets there stops their answers too: once.
        if dir == Direction::Back && !out.is_empty() {
            break;
        }
        for h in &w.hops {
            let (Some(oif), Some(to)) = (h.answer.oif, &h.arrive) else {
                continue;
            };
            let from = (h.ns.clone(), oif);
            let Some(route) = l2_route(cx.snap, &from, to) else {
                continue;
            };
            for c in crossings(cx.snap, &route) {
                for f in crossing(cx, h, &from, to, &c, dir) {
                    if !out.iter().any(|x| x.cause == f.cause) {
                        out.push(f);
                    }
                }
            }
        }
    }
    out
}

struct Names {
    br: String,
    inp: String,
    out: Option<String>,
}

fn crossing(
    cx: &Ctx,
    h: &Hop,
    from: &(String, u32),
    to: &(String, u32),
    c: &Crossing,
    dir: Direction,
) -> Vec<Finding> {
    let mut out = Vec::new();
    let snap = cx.snap;
    let name = |i: u32| {
        snap.link(&c.ns, i)
            .map(|l| l.name.clone())
            .unwrap_or_default()
    };
    let n = Names {
        br: name(c.bridge),
        inp: name(c.in_port),
        out: c.out_port.map(name),
    };
    let none = PortFlags::default();
    let ports = snap.asked.ports.get(&c.ns);
    let inf = ports.and_then(|p| p.get(&c.in_port)).unwrap_or(&none);
    let outf = c
        .out_port
        .and_then(|o| ports.and_then(|p| p.get(&o)))
        .unwrap_or(&none);
    let fdb: Vec<&FdbEntry> = snap
        .asked
        .fdb
        .get(&c.ns)
        .map(|v| {
            v.iter()
                .filter(|e| {
                    e.bridge == Some(c.bridge)
                        || snap.link(&c.ns, e.port).and_then(|l| l.master) == Some(c.bridge)
                })
                .collect()
        })
        .unwrap_or_default();
    let (Some(src_mac), Some(dst_mac)) = (
        snap.link(&from.0, from.1).and_then(|l| l.mac),
        snap.link(&to.0, to.1).and_then(|l| l.mac),
    ) else {
        return out;
    };
    let what = cx.case.what(dir);
    let to_place = place(
        &to.0,
        &snap
            .link(&to.0, to.1)
            .map(|l| l.name.clone())
            .unwrap_or_default(),
    );
    let from_place = place(
        &from.0,
        &snap
            .link(&from.0, from.1)
            .map(|l| l.name.clone())
            .unwrap_or_default(),
    );
    let hop_words = format!(
        "bridge {} in {} takes {what} from {from_place} in by {}",
        n.br, c.ns, n.inp
    );
    let nh = h.next_hop.map(|x| x.to_string()).unwrap_or_default();
    let resolved = snap
        .detail(&h.ns)
        .and_then(|d| {
            d.neigh
                .iter()
                .find(|e| Some(e.ip) == h.next_hop && Some(e.ifindex) == h.answer.oif)
        })
        .map(|e| e.state & NUD_VALID != 0);
    let flags_line = |port: &str, f: &PortFlags| {
        format!(
            "{}: bridge port {port}: learning {}, flood {}, mcast_flood {}, bcast_flood {}, isolated {}, neigh_suppress {}, locked {}",
            c.ns,
            on(f.learning),
            on(f.unicast_flood),
            on(f.mcast_flood),
            on(f.bcast_flood),
            on(f.isolated),
            on(f.neigh_suppress),
            on(f.locked)
        )
    };
    let set = |port: &str, flag: &str, v: &str| {
        cmd::bridge(
            &c.ns,
            &format!("link set dev {} {flag} {v}", cmd::dev(port)),
        )
    };

    // Isolated ports forward only to ports that are not.
    if let Some(o) = &n.out
        && inf.isolated
        && outf.isolated
    {
        out.push(
            Finding::new(
                "bridge.port-flag",
                format!(
                    "{hop_words} but does not forward it to {o}, towards {to_place}: both ports are isolated, and isolated ports never talk to each other"
                ),
            )
            .at(&c.ns)
            .evidence(flags_line(&n.inp, inf))
            .evidence(flags_line(o, outf))
            .fix(format!("let {o} talk to every port"), vec![set(o, "isolated", "off")])
            .fix(format!("or {}", n.inp), vec![set(&n.inp, "isolated", "off")]),
        );
    }
    // A locked port takes frames only from MACs the FDB puts on it.
    if inf.locked && !fdb.iter().any(|e| e.mac == src_mac && e.port == c.in_port) {
        out.push(
            Finding::new(
                "bridge.port-flag",
                format!(
                    "{hop_words}, a locked port: it drops every frame from {src_mac} ({from_place}), because no forwarding-database entry puts that MAC on {}",
                    n.inp
                ),
            )
            .at(&c.ns)
            .evidence(flags_line(&n.inp, inf))
            .fix(
                format!("allow {src_mac} on {}", n.inp),
                vec![cmd::bridge(
                    &c.ns,
                    &format!("fdb replace {src_mac} dev {} master static", cmd::dev(&n.inp)),
                )],
            )
            .fix(format!("or unlock {}", n.inp), vec![set(&n.inp, "locked", "off")]),
        );
    }
    // The FDB entry for the destination MAC.
    let dup = snap
        .ns
        .values()
        .flat_map(|n| n.links.iter())
        .filter(|l| l.mac == Some(dst_mac))
        .count()
        > 1;
    let right = c.out_port.unwrap_or(c.bridge);
    if !dup && let Some(e) = fdb.iter().find(|e| e.mac == dst_mac && e.port != right) {
        let wrong = name(e.port);
        let kind = e.kind();
        let age = match (kind, e.age_s) {
            ("learned", Some(s)) => format!(", refreshed {s} s ago"),
            _ => String::new(),
        };
        let target = n.out.clone().unwrap_or_else(|| format!("{} itself", n.br));
        let mut f = Finding::new(
            "bridge.fdb",
            format!(
                "{hop_words} and sends it to {wrong}, not {target}: its forwarding database has a {kind} entry putting {dst_mac} ({to_place}) behind {wrong}"
            ),
        )
        .at(&c.ns)
        .evidence(format!(
            "{}: bridge fdb: {dst_mac} dev {wrong} master {} {kind}{age}",
            c.ns, n.br
        ))
        .fix(
            format!("remove the entry that sends {dst_mac} to {wrong}"),
            vec![cmd::bridge(
                &c.ns,
                &format!("fdb del {dst_mac} dev {} master", cmd::dev(&wrong)),
            )],
        );
        if e.fixed()
            && let Some(o) = &n.out
        {
            f = f.fix(
                format!("or put it on {o}, where {to_place} is"),
                vec![cmd::bridge(
                    &c.ns,
                    &format!("fdb replace {dst_mac} dev {} master static", cmd::dev(o)),
                )],
            );
        }
        out.push(f);
        return out;
    }
    let Some(o) = &n.out else { return out };
    // The next hop unresolved: its ARP request (broadcast) or neighbour
    // solicitation (multicast) has to be flooded to the out port.
    if resolved != Some(true) {
        let v6 = h.next_hop.is_some_and(|x| x.is_ipv6());
        let (flag, blocked, req) = if v6 {
            (
                "mcast_flood",
                !outf.mcast_flood,
                "neighbour solicitations (multicast)",
            )
        } else {
            (
                "bcast_flood",
                !outf.bcast_flood,
                "ARP requests (broadcasts)",
            )
        };
        if blocked {
            out.push(
                Finding::new(
                    "bridge.port-flag",
                    format!(
                        "{hop_words}, but {from_place}'s {req} for {nh} never leave by {o}, towards {to_place}: {o} has {flag} off, so {nh} is never resolved"
                    ),
                )
                .at(&c.ns)
                .at(&h.ns)
                .evidence(format!("{}: the neighbour entry for {nh} is not resolved (ARP/NDP got no answer)", h.ns))
                .evidence(flags_line(o, outf))
                .fix(format!("flood {flag_what} to {o} again", flag_what = if v6 { "multicast" } else { "broadcasts" }), vec![set(o, flag, "on")]),
            );
        }
        // The answer comes back to the requester's MAC: known only if the
        // bridge learned it on the in port, else flooded there.
        if !inf.learning && !inf.unicast_flood && !fdb.iter().any(|e| e.mac == src_mac) {
            out.push(
                Finding::new(
                    "bridge.port-flag",
                    format!(
                        "{hop_words}, but never learns {src_mac} there (learning off) and does not flood unknown unicast to it (flood off): the answer to {from_place}'s ARP for {nh} cannot come back"
                    ),
                )
                .at(&c.ns)
                .at(&h.ns)
                .evidence(flags_line(&n.inp, inf))
                .fix(format!("let {} learn", n.inp), vec![set(&n.inp, "learning", "on")])
                .fix(format!("or flood unknown unicast to {}", n.inp), vec![set(&n.inp, "flood", "on")]),
            );
        }
        return out;
    }
    // Resolved: the frame goes to the MAC; unknown to the FDB, it must be
    // flooded.
    if !outf.unicast_flood && !fdb.iter().any(|e| e.mac == dst_mac) {
        let why = if outf.learning {
            format!("it has no entry for {dst_mac}")
        } else {
            format!("{o} has learning off, so it never learns {dst_mac}")
        };
        let mut f = Finding::new(
            "bridge.port-flag",
            format!(
                "{hop_words}, but does not know where {dst_mac} ({to_place}) is — {why} — and {o} has flood off, so the frame never leaves by it"
            ),
        )
        .at(&c.ns)
        .evidence(flags_line(o, outf))
        .fix(format!("flood unknown unicast to {o}"), vec![set(o, "flood", "on")]);
        if !outf.learning {
            f = f.fix(format!("or let {o} learn"), vec![set(o, "learning", "on")]);
        }
        f = f.fix(
            format!("or tell {} where {dst_mac} is", n.br),
            vec![cmd::bridge(
                &c.ns,
                &format!("fdb replace {dst_mac} dev {} master static", cmd::dev(o)),
            )],
        );
        out.push(f);
    }
    out
}

fn on(b: bool) -> &'static str {
    if b { "on" } else { "off" }
}
