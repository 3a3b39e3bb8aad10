//! Addressing: a missing address, two ends of a link on different subnets
//! or with a prefix too narrow, an address held twice, a MAC shared on one
//! link, an IPv6 address that failed (or is still in) duplicate detection.

use std::net::IpAddr;

use ipnet::IpNet;

use crate::doctor::case::Ctx;
use crate::doctor::cmd;
use crate::doctor::finding::Finding;
use crate::doctor::snapshot::place;
use crate::model::live::{LiveAddr, LiveLink, LiveNs};

fn fam(cx: &Ctx, a: &IpAddr) -> bool {
    a.is_ipv6() == cx.case.v6
}

/// Addresses of the probe's family a link can use (global or link scope
/// for IPv4, global for IPv6), including tentative or failed ones.
fn addrs<'a>(cx: &'a Ctx, l: &'a LiveLink) -> impl Iterator<Item = &'a LiveAddr> {
    l.addrs
        .iter()
        .filter(move |a| fam(cx, &a.net.addr()) && !a.is_kernel_made() && a.scope != 254)
}

/// Interfaces of `a` and `b` that share one layer-2 link.
fn shared(cx: &Ctx, a: &str, b: &str) -> Vec<(LiveLink, LiveLink)> {
    let mut out = Vec::new();
    let Some(an) = cx.snap.get(a) else {
        return out;
    };
    for la in an.links.iter().filter(|l| l.name != "lo") {
        for (ns, lb) in cx.snap.endpoints(&cx.snap.l2_segment(a, la.index)) {
            if ns == b && !(a == b && lb.index == la.index) {
                out.push((la.clone(), lb));
            }
        }
    }
    out
}

fn failed(cx: &Ctx) -> bool {
    !cx.probe.answered
        || cx.fwd.delivered_in() != cx.case.dst_node.as_deref().or(cx.fwd.delivered_in())
}

/// No address where one is needed.
pub fn missing(cx: &Ctx) -> Vec<Finding> {
    let mut out = Vec::new();
    let family = if cx.case.v6 { "IPv6" } else { "IPv4" };
    // The destination node has interfaces, but no address to reach it by.
    if let (Some(d), None) = (&cx.case.dst_node, cx.case.dst)
        && let Some(dn) = cx.snap.get(d)
    {
        let pairs = shared(cx, &cx.case.src, d);
        for (s, t) in &pairs {
            if addrs(cx, t).next().is_some() {
                continue;
            }
            out.push(missing_on_link(cx, d, s, t, family));
        }
        if pairs.is_empty() && dn.links.iter().any(|l| l.name != "lo") {
            out.extend(no_usable_addr(cx, d, dn, family));
        }
    }
    out.extend(src_without_addr(cx, family));
    out.extend(held_by_nobody(cx, family));
    out
}

/// `t`, the interface of `d` on the link SRC reaches by `s`, has no address.
fn missing_on_link(cx: &Ctx, d: &str, s: &LiveLink, t: &LiveLink, family: &str) -> Finding {
    let src = &cx.case.src;
    let net = addrs(cx, s).find(|a| !a.dadfailed).map(|a| a.net);
    let example = net.and_then(|n| cx.snap.free_addr(n, None));
    let mut f = Finding::new(
        "addr.missing",
        format!(
            "{} has no {family} address: {d} cannot be reached on the link it shares with {src}",
            place(d, &t.name)
        ),
    )
    .at(d)
    .evidence(format!("{}: no {family} address", place(d, &t.name)));
    if let Some(n) = net {
        f = f.evidence(format!("{}: {n}", place(src, &s.name)));
    }
    let what = match (&example, net) {
        (Some(e), Some(n)) => {
            format!("give it an address in {} ({} is free)", n.trunc(), e.addr())
        }
        _ => "give it an address".to_string(),
    };
    let addr = example.map_or("ADDRESS/PREFIX".to_string(), |e| e.to_string());
    f.fix(
        what,
        vec![cmd::ip(
            d,
            &format!("addr add {addr} dev {}", cmd::dev(&t.name)),
        )],
    )
}

/// `d` shares no link with SRC and has no address to reach it by (unless
/// a tentative or failed one, which have rules of their own).
fn no_usable_addr(cx: &Ctx, d: &str, dn: &LiveNs, family: &str) -> Option<Finding> {
    let mut f = Finding::new(
        "addr.missing",
        format!("{d} has no usable {family} address to reach it by"),
    )
    .at(d);
    for l in dn.links.iter().filter(|l| l.name != "lo") {
        f = f.evidence(format!(
            "{}: {}",
            place(d, &l.name),
            describe_addrs(cx, l, family)
        ));
    }
    // Tentative and failed addresses have rules of their own.
    let dad = dn
        .links
        .iter()
        .any(|l| addrs(cx, l).any(|a| a.tentative || a.dadfailed));
    (!dad).then_some(f)
}

/// The source has no address of the family on any interface.
fn src_without_addr(cx: &Ctx, family: &str) -> Option<Finding> {
    let src = &cx.case.src;
    let sn = cx.snap.get(src)?;
    let none = cx.case.dst.is_some()
        && sn
            .links
            .iter()
            .filter(|l| l.name != "lo")
            .all(|l| addrs(cx, l).next().is_none())
        && sn.links.iter().any(|l| l.name != "lo")
        && !cx.probe.answered;
    none.then(|| {
        Finding::new(
            "addr.missing",
            format!("{src} has no {family} address on any interface: it has nothing to send from"),
        )
        .at(src)
        .evidence(format!("{src}: no {family} address besides lo"))
    })
}

/// An address nobody holds; someone on the way's last link without an
/// address may be meant.
fn held_by_nobody(cx: &Ctx, family: &str) -> Option<Finding> {
    let dst = cx.case.dst?;
    if cx.case.dst_node.is_some() || dst.is_loopback() || cx.snap.held(dst) || cx.probe.answered {
        return None;
    }
    let mut f = Finding::new(
        "addr.missing",
        format!("no namespace vnet can see holds {dst}"),
    )
    .at(&cx.case.src);
    if let Some(out_pt) = cx.fwd.legs.last().and_then(|l| l.out.as_ref()) {
        for (ns, l) in cx
            .snap
            .endpoints(&cx.snap.l2_segment(&out_pt.ns, out_pt.ifindex))
        {
            if ns != out_pt.ns && addrs(cx, &l).next().is_none() {
                f = f
                    .guess()
                    .at(&ns)
                    .evidence(format!(
                        "{} on the same link has no {family} address: was {dst} meant for it?",
                        place(&ns, &l.name)
                    ))
                    .fix(
                        format!("give {} the address", l.name),
                        vec![cmd::ip(
                            &ns,
                            &format!(
                                "addr add {dst}/{} dev {}",
                                prefix_near(cx, dst),
                                cmd::dev(&l.name)
                            ),
                        )],
                    );
            }
        }
    }
    Some(f)
}

/// The prefix length of the sender's address on the subnet of `dst`.
fn prefix_near(cx: &Ctx, dst: IpAddr) -> u8 {
    cx.snap
        .get(&cx.case.src)
        .and_then(|n| {
            n.links
                .iter()
                .flat_map(|l| l.addrs.iter())
                .find(|a| a.net.contains(&dst))
                .map(|a| a.net.prefix_len())
        })
        .unwrap_or(if dst.is_ipv4() { 24 } else { 64 })
}

fn describe_addrs(cx: &Ctx, l: &LiveLink, family: &str) -> String {
    let v: Vec<String> = addrs(cx, l).map(|a| a.net.to_string()).collect();
    if v.is_empty() {
        format!("no {family} address")
    } else {
        v.join(", ")
    }
}

/// Pairs of interfaces that must talk on one link: the source and the
/// destination, each leg's two ends, and where a way stops for want of a
/// route, its interfaces and their neighbours on the link.
fn talking(cx: &Ctx) -> Vec<((String, LiveLink), (String, LiveLink))> {
    let mut out: Vec<((String, LiveLink), (String, LiveLink))> = Vec::new();
    let mut add = |a: (String, LiveLink), b: (String, LiveLink)| {
        let dup = out.iter().any(|(x, y)| {
            (x.0 == a.0 && x.1.index == a.1.index && y.0 == b.0 && y.1.index == b.1.index)
                || (x.0 == b.0 && x.1.index == b.1.index && y.0 == a.0 && y.1.index == a.1.index)
        });
        if !dup {
            out.push((a, b));
        }
    };
    let dst_nodes: Vec<String> = match (&cx.case.dst_node, cx.case.dst) {
        (Some(d), _) => vec![d.clone()],
        (None, Some(ip)) => cx.topo.owners(ip).iter().map(|s| s.to_string()).collect(),
        _ => Vec::new(),
    };
    for d in &dst_nodes {
        for (s, t) in shared(cx, &cx.case.src, d) {
            add((cx.case.src.clone(), s), (d.clone(), t));
        }
    }
    for (way, _) in cx.ways() {
        for leg in &way.legs {
            let (Some(o), Some(a)) = (&leg.out, &leg.arrive) else {
                continue;
            };
            if let (Some(lo), Some(la)) = (
                cx.snap.link(&o.ns, o.ifindex),
                cx.snap.link(&a.ns, a.ifindex),
            ) {
                add((o.ns.clone(), lo.clone()), (a.ns.clone(), la.clone()));
            }
        }
        if let crate::probe::path::End::NoRoute { ns } = &way.path.end
            && let Some(n) = cx.snap.get(ns)
        {
            for l in n.links.iter().filter(|l| l.name != "lo") {
                for (pns, pl) in cx.snap.endpoints(&cx.snap.l2_segment(ns, l.index)) {
                    if !(pns == *ns && pl.index == l.index) {
                        add((ns.clone(), l.clone()), (pns, pl));
                    }
                }
            }
        }
    }
    out
}

/// Two ends of a link on different subnets, or one with a prefix too narrow.
pub fn subnet(cx: &Ctx) -> Vec<Finding> {
    let mut out: Vec<Finding> = Vec::new();
    if !failed(cx) {
        return out;
    }
    for ((an, a), (bn, b)) in talking(cx) {
        let aa: Vec<IpNet> = addrs(cx, &a)
            .filter(|x| !x.dadfailed)
            .map(|x| x.net)
            .collect();
        let ba: Vec<IpNet> = addrs(cx, &b)
            .filter(|x| !x.dadfailed)
            .map(|x| x.net)
            .collect();
        if aa.is_empty() || ba.is_empty() {
            continue;
        }
        let both = aa.iter().any(|x| {
            ba.iter()
                .any(|y| x.contains(&y.addr()) && y.contains(&x.addr()))
        });
        if both {
            continue;
        }
        // One way only: the side that does not see the other is too narrow.
        let narrow = |mine: &[IpNet], theirs: &[IpNet]| -> Option<(IpNet, IpNet)> {
            mine.iter().find_map(|m| {
                theirs
                    .iter()
                    .find(|t| t.contains(&m.addr()) && !m.contains(&t.addr()))
                    .map(|t| (*m, *t))
            })
        };
        let (a_place, b_place) = (place(&an, &a.name), place(&bn, &b.name));
        // The same interface seen from several neighbours: said once.
        let push = |f: Finding, out: &mut Vec<Finding>| {
            if !out.iter().any(|x| x.id == f.id && x.fixes == f.fixes) {
                out.push(f);
            }
        };
        if let Some((m, t)) = narrow(&aa, &ba) {
            push(prefix_finding(&an, &a, m, &bn, t), &mut out);
            continue;
        }
        if let Some((m, t)) = narrow(&ba, &aa) {
            push(prefix_finding(&bn, &b, m, &an, t), &mut out);
            continue;
        }
        // Neither sees the other: change the destination side's address.
        let (fix_ns, fix_l, keep_net, keep_place) = if bn != cx.case.src {
            (&bn, &b, aa[0], &a_place)
        } else {
            (&an, &a, ba[0], &b_place)
        };
        let fix_place = place(fix_ns, &fix_l.name);
        let wrong = if fix_ns == &bn { ba[0] } else { aa[0] };
        let new = cx.snap.free_addr(keep_net, Some(wrong.addr()));
        let mut f = Finding::new(
            "addr.wrong-subnet",
            format!(
                "{a_place} ({}) and {b_place} ({}) share a link but not a subnet: neither has a route to the other",
                list(&aa),
                list(&ba)
            ),
        )
        .at(&an)
        .at(&bn)
        .evidence(format!("{a_place}: {}", list(&aa)))
        .evidence(format!("{b_place}: {}", list(&ba)))
        .evidence("both are on one layer-2 link (veth/bridge)");
        if let Some(n) = new {
            f = f.fix(
                format!(
                    "put {fix_place} on {keep_place}'s subnet {}",
                    keep_net.trunc()
                ),
                vec![
                    cmd::ip(
                        fix_ns,
                        &format!("addr del {wrong} dev {}", cmd::dev(&fix_l.name)),
                    ),
                    cmd::ip(
                        fix_ns,
                        &format!("addr add {n} dev {}", cmd::dev(&fix_l.name)),
                    ),
                ],
            );
        }
        push(f, &mut out);
    }
    out
}

fn list(v: &[IpNet]) -> String {
    v.iter()
        .map(|n| n.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

fn prefix_finding(ns: &str, l: &LiveLink, mine: IpNet, other_ns: &str, theirs: IpNet) -> Finding {
    let wider = IpNet::new(mine.addr(), theirs.prefix_len()).unwrap_or(mine);
    Finding::new(
        "addr.prefix",
        format!(
            "{} has {mine}: its prefix is too narrow to include {} ({}), so {ns} has no route back on this link",
            place(ns, &l.name),
            theirs.addr(),
            other_ns
        ),
    )
    .at(ns)
    .at(other_ns)
    .evidence(format!("{}: {mine}", place(ns, &l.name)))
    .evidence(format!("{}'s address on the same link: {theirs}", other_ns))
    .fix(
        format!("give it the link's prefix /{}", theirs.prefix_len()),
        vec![
            cmd::ip(ns, &format!("addr del {mine} dev {}", cmd::dev(&l.name))),
            cmd::ip(ns, &format!("addr add {wider} dev {}", cmd::dev(&l.name))),
        ],
    )
}

/// The probed address held twice: by the source itself, or by two
/// namespaces on one link.
pub fn duplicate_ip(cx: &Ctx) -> Vec<Finding> {
    let Some(dst) = cx.case.dst else {
        return Vec::new();
    };
    let holders = holders(cx, dst);
    if holders.len() < 2 {
        return Vec::new();
    }
    if let Some(f) = given_src_address(cx, dst, &holders) {
        return vec![f];
    }
    held_twice_on_a_link(cx, dst, &holders)
}

/// (namespace, interface, address) of each interface holding `dst`
/// (loopbacks and failed addresses aside).
type Holder = (String, LiveLink, IpNet);

fn holders(cx: &Ctx, dst: IpAddr) -> Vec<Holder> {
    cx.snap
        .ns
        .iter()
        .flat_map(|(ns, n)| {
            n.links
                .iter()
                .filter(|l| l.name != "lo")
                .flat_map(move |l| {
                    l.addrs
                        .iter()
                        .filter(move |a| a.net.addr() == dst && !a.dadfailed)
                        .map(move |a| (ns.clone(), l.clone(), a.net))
                })
        })
        .collect()
}

/// The destination node was given the source's own address.
fn given_src_address(cx: &Ctx, dst: IpAddr, holders: &[Holder]) -> Option<Finding> {
    let src = &cx.case.src;
    let d = cx.case.dst_node.as_ref().filter(|d| *d != src)?;
    if !holders.iter().any(|h| &h.0 == src) {
        return None;
    }
    let (_, dl, dnet) = holders.iter().find(|h| &h.0 == d)?;
    let new = cx.snap.free_addr(*dnet, None);
    let mut f = Finding::new(
        "addr.duplicate-ip",
        format!(
            "{d} has {dst}, which is also {src}'s own address: {src}'s packets to it never leave {src}"
        ),
    )
    .at(d)
    .at(src)
    .evidence(format!("{}: {dnet}", place(d, &dl.name)));
    for (ns, l, net) in holders.iter().filter(|h| &h.0 == src) {
        f = f.evidence(format!("{}: {net}", place(ns, &l.name)));
    }
    if cx.probe.answered {
        f = f.evidence(format!(
            "the reply came from {src} itself (delivered locally)"
        ));
    }
    if let Some(n) = new {
        f = f.fix(
            format!("give {d} an address of its own"),
            vec![
                cmd::ip(d, &format!("addr del {dnet} dev {}", cmd::dev(&dl.name))),
                cmd::ip(d, &format!("addr add {n} dev {}", cmd::dev(&dl.name))),
            ],
        );
    }
    Some(f)
}

/// Two holders on one link; the fix renumbers the one that is not the
/// destination asked for.
fn held_twice_on_a_link(cx: &Ctx, dst: IpAddr, holders: &[Holder]) -> Vec<Finding> {
    let mut out = Vec::new();
    for (i, (ans, al, _)) in holders.iter().enumerate() {
        let seg = cx.snap.l2_segment(ans, al.index);
        for (bns, bl, bnet) in &holders[i + 1..] {
            if !seg.contains(&(bns.clone(), bl.index)) {
                continue;
            }
            let (fns, fl, fnet) = if cx.case.dst_node.as_deref() == Some(bns.as_str()) {
                let a = holders
                    .iter()
                    .find(|h| h.0 == *ans && h.1.index == al.index);
                match a {
                    Some(h) => (h.0.clone(), h.1.clone(), h.2),
                    None => continue,
                }
            } else {
                (bns.clone(), bl.clone(), *bnet)
            };
            let mut f = Finding::new(
                "addr.duplicate-ip",
                format!(
                    "{dst} is held by both {} and {} on one link: whichever answers ARP first gets the traffic",
                    place(ans, &al.name),
                    place(bns, &bl.name)
                ),
            )
            .at(ans)
            .at(bns);
            if let Some(n) = cx.snap.free_addr(fnet, None) {
                f = f.fix(
                    format!("renumber {}", place(&fns, &fl.name)),
                    vec![
                        cmd::ip(&fns, &format!("addr del {fnet} dev {}", cmd::dev(&fl.name))),
                        cmd::ip(&fns, &format!("addr add {n} dev {}", cmd::dev(&fl.name))),
                    ],
                );
            }
            out.push(f);
        }
    }
    out
}

/// Two interfaces on one link with one MAC address.
pub fn duplicate_mac(cx: &Ctx) -> Vec<Finding> {
    let mut out: Vec<Finding> = Vec::new();
    if !failed(cx) {
        return out;
    }
    let mut segs: Vec<Vec<(String, u32)>> = Vec::new();
    for (way, _) in cx.ways() {
        for leg in &way.legs {
            if let Some(o) = &leg.out {
                let s = cx.snap.l2_segment(&o.ns, o.ifindex);
                if !segs.iter().any(|x| x.contains(&(o.ns.clone(), o.ifindex))) {
                    segs.push(s);
                }
            }
        }
    }
    for seg in segs {
        let members: Vec<(String, LiveLink)> = seg
            .iter()
            .filter_map(|(ns, i)| Some((ns.clone(), cx.snap.link(ns, *i)?.clone())))
            .collect();
        for (i, (an, a)) in members.iter().enumerate() {
            for (bn, b) in &members[i + 1..] {
                let (Some(ma), Some(mb)) = (a.mac, b.mac) else {
                    continue;
                };
                if ma != mb || ma.0 == [0; 6] {
                    continue;
                }
                // A bridge takes a port's MAC: that is how bridges are.
                let related = an == bn && (a.master == Some(b.index) || b.master == Some(a.index));
                if related {
                    continue;
                }
                // Change the one further from the source.
                let (fns, fl) = if *an == cx.case.src { (bn, b) } else { (an, a) };
                let (fns, fl) = if *bn != cx.case.src {
                    (bn, b)
                } else {
                    (fns, fl)
                };
                let new = cx.snap.free_mac(&format!("{fns}/{}", fl.name));
                let f = Finding::new(
                    "addr.duplicate-mac",
                    format!(
                        "{} and {} on one link share the MAC address {ma}: frames for one reach the other, or go nowhere",
                        place(an, &a.name),
                        place(bn, &b.name)
                    ),
                )
                .at(an)
                .at(bn)
                .evidence(format!("{}: link/ether {ma}", place(an, &a.name)))
                .evidence(format!("{}: link/ether {mb}", place(bn, &b.name)))
                .fix(
                    format!("give {} a MAC of its own", place(fns, &fl.name)),
                    vec![cmd::ip(
                        fns,
                        &format!("link set dev {} address {new}", cmd::dev(&fl.name)),
                    )],
                );
                if !out.iter().any(|x| x.cause == f.cause) {
                    out.push(f);
                }
            }
        }
    }
    out
}

/// IPv6 addresses on the way (or the destination's) that failed duplicate
/// address detection, or are still tentative.
pub fn dad(cx: &Ctx) -> Vec<Finding> {
    let mut out = Vec::new();
    if !cx.case.v6 || !failed(cx) {
        return out;
    }
    let mut seen: Vec<(String, u32)> = Vec::new();
    for (ns, i) in dad_links(cx) {
        if seen.contains(&(ns.clone(), i)) {
            continue;
        }
        seen.push((ns.clone(), i));
        let Some(l) = cx.snap.link(&ns, i) else {
            continue;
        };
        for a in addrs(cx, l) {
            if a.dadfailed {
                out.push(dad_failed(cx, &ns, l, a));
            } else if a.tentative {
                out.push(tentative(&ns, l, a));
            }
        }
    }
    out
}

/// The interfaces on the ways, then those of the source and the
/// destination, as (namespace, ifindex).
fn dad_links(cx: &Ctx) -> Vec<(String, u32)> {
    let mut links: Vec<(String, u32)> = Vec::new();
    for (way, _) in cx.ways() {
        for p in &way.path.points {
            links.push((p.ns.clone(), p.ifindex));
        }
    }
    for ns in [Some(&cx.case.src), cx.case.dst_node.as_ref()]
        .into_iter()
        .flatten()
    {
        if let Some(n) = cx.snap.get(ns) {
            links.extend(
                n.links
                    .iter()
                    .filter(|l| l.name != "lo")
                    .map(|l| (ns.clone(), l.index)),
            );
        }
    }
    links.dedup();
    links
}

/// Address `a` of `l` in `ns` failed duplicate detection: who has it too,
/// and a free one instead.
fn dad_failed(cx: &Ctx, ns: &str, l: &LiveLink, a: &LiveAddr) -> Finding {
    let here = place(ns, &l.name);
    let i = l.index;
    let others: Vec<String> = cx
        .snap
        .l2_segment(ns, i)
        .iter()
        .filter(|(on, oi)| !(on == ns && *oi == i))
        .filter_map(|(on, oi)| {
            let ol = cx.snap.link(on, *oi)?;
            ol.addrs
                .iter()
                .any(|x| x.net.addr() == a.net.addr() && !x.dadfailed)
                .then(|| place(on, &ol.name))
        })
        .collect();
    let who = if others.is_empty() {
        "another host on the link answered for it".to_string()
    } else {
        format!("{} already has it", others.join(", "))
    };
    let f = Finding::new(
        "addr.dadfailed",
        format!(
            "{here}'s address {} failed duplicate address detection ({who}): the kernel does not use it",
            a.net
        ),
    )
    .at(ns)
    .evidence(format!("{here}: {} dadfailed tentative", a.net));
    let new = cx.snap.free_addr(a.net, None);
    let mut cmds = vec![cmd::ip(
        ns,
        &format!("addr del {} dev {}", a.net, cmd::dev(&l.name)),
    )];
    if let Some(n) = new {
        cmds.push(cmd::ip(
            ns,
            &format!("addr add {n} dev {}", cmd::dev(&l.name)),
        ));
    }
    f.fix("replace it with a free address", cmds)
}

/// Address `a` of `l` in `ns` is still in duplicate detection.
fn tentative(ns: &str, l: &LiveLink, a: &LiveAddr) -> Finding {
    let here = place(ns, &l.name);
    Finding::new(
        "addr.tentative",
        format!(
            "{here}'s address {} is still tentative (duplicate address detection is running): it cannot be used yet",
            a.net
        ),
    )
    .at(ns)
    .evidence(format!("{here}: {} tentative", a.net))
    .fix(
        "wait for duplicate detection to end, or add the address without it",
        vec![
            cmd::ip(ns, &format!("addr del {} dev {}", a.net, cmd::dev(&l.name))),
            cmd::ip(ns, &format!("addr add {} dev {} nodad", a.net, cmd::dev(&l.name))),
        ],
    )
}
