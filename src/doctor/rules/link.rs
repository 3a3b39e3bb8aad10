//! Links: down at any hop (either veth end, a bridge port, the bridge
//! itself), no carrier, and a destination left without an interface because
//! its veth end sits in another namespace.

use std::net::IpAddr;

use crate::doctor::case::Ctx;
use crate::doctor::cmd;
use crate::doctor::finding::Finding;
use crate::doctor::snapshot::place;
use crate::model::live::LiveLink;
use crate::probe::path::{End, Key};

/// The interfaces whose state matters: every point of both ways, the
/// bridges of ports on them, the other ends of veths without carrier, and
/// — where a way stops for want of a route — the interfaces whose
/// connected route would have carried it, had they been up.
fn watched(cx: &Ctx) -> Vec<Key> {
    let mut out: Vec<Key> = Vec::new();
    let add = |k: Key, out: &mut Vec<Key>| {
        if !out.contains(&k) {
            out.push(k);
        }
    };
    // A ping to the source itself (its own address, or 127.0.0.1) goes
    // through lo — which `ip netns add` leaves down.
    let own =
        |d: std::net::IpAddr| d.is_loopback() || cx.topo.owners(d).contains(&cx.case.src.as_str());
    let to_self = cx.case.dst_node.as_deref() == Some(cx.case.src.as_str())
        || (cx.case.dst_node.is_none() && cx.case.dst.is_some_and(own));
    if to_self && let Some(lo) = cx.snap.get(&cx.case.src).and_then(|n| n.lo()) {
        add((cx.case.src.clone(), lo.index), &mut out);
    }
    for (way, _) in cx.ways() {
        for p in &way.path.points {
            add((p.ns.clone(), p.ifindex), &mut out);
            if let Some(l) = cx.snap.link(&p.ns, p.ifindex)
                && let Some(b) = cx.snap.bridge_of(&p.ns, l)
            {
                add((p.ns.clone(), b.index), &mut out);
            }
        }
        let stop = match &way.path.end {
            End::NoRoute { ns } | End::Unknown { ns, .. } => Some(ns),
            _ => None,
        };
        let target: Option<IpAddr> = way
            .legs
            .last()
            .filter(|l| l.to.is_none())
            .map(|l| l.next_hop)
            .or(way.dst);
        if let (Some(ns), Some(t)) = (stop, target)
            && let Some(n) = cx.snap.get(ns)
        {
            for l in n.links.iter().filter(|l| !l.admin_up) {
                if l.addrs.iter().any(|a| a.net.contains(&t)) {
                    add((ns.clone(), l.index), &mut out);
                }
            }
        }
    }
    // A veth without carrier: its other end is why.
    let mut i = 0;
    while i < out.len() {
        let (ns, idx) = out[i].clone();
        if let Some(l) = cx.snap.link(&ns, idx)
            && l.admin_up
            && !l.lower_up
            && let Some((pns, pl)) = cx.snap.peer(&ns, idx)
        {
            add((pns.to_string(), pl.index), &mut out);
        }
        i += 1;
    }
    out
}

fn is_bridge(l: &LiveLink) -> bool {
    l.kind.as_deref() == Some("bridge")
}

/// Down at any hop.
pub fn down(cx: &Ctx) -> Vec<Finding> {
    let mut out = Vec::new();
    for (ns, idx) in watched(cx) {
        let Some(l) = cx.snap.link(&ns, idx) else {
            continue;
        };
        let name = place(&ns, &l.name);
        let up = cmd::ip(&ns, &format!("link set dev {} up", cmd::dev(&l.name)));
        if !l.admin_up {
            let cause = if is_bridge(l) {
                format!("bridge {name} is down: it forwards nothing between its ports")
            } else if let Some(b) = cx.snap.bridge_of(&ns, l) {
                format!("{name}, a port of bridge {}, is down", b.name)
            } else {
                format!("{name} is down")
            };
            let mut f = Finding::new("link.down", cause)
                .at(&ns)
                .evidence(format!(
                    "{name}: administratively down (no UP flag), operational state {}",
                    l.oper.as_str()
                ))
                .fix(format!("bring {} up", l.name), vec![up]);
            if let Some((pns, pl)) = cx.snap.peer(&ns, idx) {
                f = f.at(pns).evidence(format!(
                    "its other end {} has no carrier while it is down",
                    place(pns, &pl.name)
                ));
            }
            out.push(f);
            continue;
        }
        if !l.lower_up && !is_bridge(l) {
            let peer = cx.snap.peer(&ns, idx);
            // The other end's own finding says it.
            if peer.is_some_and(|(_, pl)| !pl.admin_up) {
                continue;
            }
            let why = match peer {
                Some((pns, pl)) => format!(
                    "its other end {} is up but lower down",
                    place(pns, &pl.name)
                ),
                None => "its other end is in a namespace vnet cannot see, or gone".to_string(),
            };
            out.push(
                Finding::new("link.no-carrier", format!("{name} has no carrier: {why}"))
                    .at(&ns)
                    .evidence(format!(
                        "{name}: UP but without LOWER_UP, operational state {}",
                        l.oper.as_str()
                    )),
            );
        }
    }
    out
}

/// A destination node with no interface but lo, and a veth end that sits
/// next to its own other end instead (never moved into its namespace).
pub fn placement(cx: &Ctx) -> Vec<Finding> {
    let Some(d) = &cx.case.dst_node else {
        return Vec::new();
    };
    let Some(dn) = cx.snap.get(d) else {
        return Vec::new();
    };
    if dn.links.iter().any(|l| l.name != "lo") {
        return Vec::new();
    }
    // Candidates: veth ends whose other end is in the same namespace and a
    // bridge port there (or a veth pair with both ends in one namespace).
    let mut lost: Vec<(String, LiveLink, LiveLink)> = Vec::new();
    for (ns, n) in &cx.snap.ns {
        if ns == d {
            continue;
        }
        for l in n.links.iter().filter(|l| l.kind.as_deref() == Some("veth")) {
            if l.master.is_some() {
                continue;
            }
            let Some((pns, pl)) = cx.snap.peer(ns, l.index) else {
                continue;
            };
            // Both ends in one namespace, one a bridge port: a pair made
            // for a namespace that never got its end.
            if pns == ns && pl.master.is_some() {
                lost.push((ns.clone(), l.clone(), pl.clone()));
            }
        }
    }
    if lost.is_empty()
        && let Some(f) = moved(cx, d)
    {
        return vec![f];
    }
    if let [(ns, l, p)] = lost.as_slice() {
        let via = match cx.snap.bridge_of(ns, p) {
            Some(b) => format!("the other end of {}'s port {}", b.name, p.name),
            None => format!("the other end of {}", p.name),
        };
        let mut cmds = vec![cmd::ip(
            ns,
            &format!("link set dev {} netns {}", cmd::dev(&l.name), cmd::dev(d)),
        )];
        // Moving an interface drops its addresses: give them back there.
        for a in l.addrs.iter().filter(|a| !a.is_kernel_made()) {
            cmds.push(cmd::ip(
                d,
                &format!("addr add {} dev {}", a.net, cmd::dev(&l.name)),
            ));
        }
        cmds.push(cmd::ip(
            d,
            &format!("link set dev {} up", cmd::dev(&l.name)),
        ));
        let f = Finding::new(
            "link.wrong-ns",
            format!(
                "{d} has no interface but lo: {}, {via}, is still in {ns} — it was probably meant to be moved into {d}",
                l.name
            ),
        )
        .guess()
        .at(d)
        .at(ns)
        .evidence(format!("{d}: no interface besides lo"))
        .evidence(format!(
            "{}: a veth end in {ns}, next to its own other end {}",
            place(ns, &l.name),
            place(ns, &p.name)
        ))
        .fix(format!("move {} into {d}", l.name), cmds);
        return vec![f];
    }
    vec![
        Finding::new(
            "link.none",
            format!(
                "{d} has no interface but lo: nothing connects it to {}",
                cx.case.src
            ),
        )
        .at(d)
        .evidence(format!("{d}: no interface besides lo")),
    ]
}

/// A veth end sitting in another namespace than `d`, without an address,
/// its peer still on the side it came from: `d`'s interface, moved away
/// (a move takes the addresses with it). The lab file, when there is one,
/// says which interface it was and what its addresses were.
fn moved(cx: &Ctx, d: &str) -> Option<Finding> {
    let wanted: Vec<&crate::doctor::snapshot::Intended> =
        cx.snap.intended.iter().filter(|i| i.node == d).collect();
    let mut found: Vec<(String, LiveLink, String, LiveLink)> = Vec::new();
    for (ns, n) in &cx.snap.ns {
        if ns == d {
            continue;
        }
        for l in n.links.iter().filter(|l| l.kind.as_deref() == Some("veth")) {
            if l.master.is_some() || l.addrs.iter().any(|a| !a.is_kernel_made()) {
                continue;
            }
            let Some((pns, pl)) = cx.snap.peer(ns, l.index) else {
                continue;
            };
            if pns == ns {
                continue;
            }
            // With a lab file: only the interface it gives `d`.
            if !wanted.is_empty() && !wanted.iter().any(|w| w.iface == l.name) {
                continue;
            }
            found.push((ns.clone(), l.clone(), pns.to_string(), pl.clone()));
        }
    }
    let [(ns, l, pns, pl)] = found.as_slice() else {
        return None;
    };
    let mut cmds = vec![cmd::ip(
        ns,
        &format!("link set dev {} netns {}", cmd::dev(&l.name), cmd::dev(d)),
    )];
    let from_lab: Vec<String> = wanted
        .iter()
        .filter(|w| w.iface == l.name)
        .flat_map(|w| w.addrs.iter().map(|a| a.to_string()))
        .collect();
    // Without a lab file: the address asked for, when one was.
    let addrs = if from_lab.is_empty() {
        cx.case
            .dst
            .filter(|_| cx.case.dst_node.is_none())
            .map(|ip| {
                let plen = cx
                    .snap
                    .get(&cx.case.src)
                    .and_then(|n| {
                        n.links
                            .iter()
                            .flat_map(|x| x.addrs.iter())
                            .find(|a| a.net.contains(&ip))
                    })
                    .map_or(if ip.is_ipv4() { 24 } else { 64 }, |a| a.net.prefix_len());
                vec![format!("{ip}/{plen}")]
            })
            .unwrap_or_default()
    } else {
        from_lab
    };
    if addrs.is_empty() {
        cmds.push(cmd::ip(
            d,
            &format!("addr add ADDRESS/PREFIX dev {}", cmd::dev(&l.name)),
        ));
    }
    for a in &addrs {
        cmds.push(cmd::ip(
            d,
            &format!("addr add {a} dev {}", cmd::dev(&l.name)),
        ));
    }
    cmds.push(cmd::ip(
        d,
        &format!("link set dev {} up", cmd::dev(&l.name)),
    ));
    let side = match cx.snap.bridge_of(pns, pl) {
        Some(b) => format!("a port of {} there", b.name),
        None => "still where it was".to_string(),
    };
    let mut f = Finding::new(
        "link.moved",
        format!(
            "{d}'s interface {} is now in {ns}: it was moved out of {d}, and its addresses went with the move; its peer {} is still in {pns} ({side})",
            l.name,
            place(pns, &pl.name)
        ),
    )
    .at(d)
    .at(ns)
    .evidence(format!("{d}: no interface besides lo"))
    .evidence(format!(
        "{}: a veth without an address, {}, its peer {}",
        place(ns, &l.name),
        if l.admin_up { "up" } else { "down" },
        place(pns, &pl.name)
    ));
    if wanted.is_empty() {
        f = f.guess();
    } else {
        f = f.evidence(format!(
            "the lab file gives {d} the interface {}{}",
            l.name,
            if addrs.is_empty() {
                String::new()
            } else {
                format!(" with {}", addrs.join(", "))
            }
        ));
    }
    Some(f.fix(
        format!(
            "move {} back into {d} and give it its address again",
            l.name
        ),
        cmds,
    ))
}
