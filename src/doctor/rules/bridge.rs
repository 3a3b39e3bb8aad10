//! Bridges: the veth end that leads on is not a port of the bridge, and
//! ports on the way that do not forward (their STP state).

use crate::doctor::case::Ctx;
use crate::doctor::cmd;
use crate::doctor::finding::Finding;
use crate::doctor::snapshot::place;
use crate::probe::path::{Point, port_state};

/// A way that stops inside a bridge because no port leads to the next hop,
/// while the interface that does lead there sits unenslaved beside it.
pub fn not_enslaved(cx: &Ctx) -> Vec<Finding> {
    let mut out: Vec<Finding> = Vec::new();
    for (way, _) in cx.ways() {
        let Some(leg) = way.legs.last().filter(|l| l.to.is_none()) else {
            continue;
        };
        let Some(c) = leg.crossings.last().filter(|c| c.out_port.is_none()) else {
            continue;
        };
        let Some(bn) = cx.snap.get(&c.ns) else {
            continue;
        };
        let Some(br) = bn.link(&c.bridge) else {
            continue;
        };
        // Who holds the next hop, and where their veth's other end is.
        for (ons, on) in &cx.snap.ns {
            for l in on
                .links
                .iter()
                .filter(|l| l.addrs.iter().any(|a| a.net.addr() == leg.next_hop))
            {
                let Some((pns, pl)) = cx.snap.peer(ons, l.index) else {
                    continue;
                };
                if pns != c.ns
                    || pl.master == Some(br.index)
                    || pl.kind.as_deref() == Some("bridge")
                {
                    continue;
                }
                let now = match pl.master.and_then(|m| bn.link_by_index(m)) {
                    Some(m) => format!("a port of {} instead", m.name),
                    None => "a port of no bridge".to_string(),
                };
                let f = Finding::new(
                    "bridge.not-enslaved",
                    format!(
                        "{} is not a port of bridge {}: {} ({}) is behind it, so frames for it never leave the bridge",
                        place(pns, &pl.name),
                        br.name,
                        place(ons, &l.name),
                        leg.next_hop
                    ),
                )
                .at(pns)
                .at(ons)
                .evidence(format!("{}: {now}", place(pns, &pl.name)))
                .evidence(format!(
                    "bridge {}'s ports: {}",
                    place(&c.ns, &br.name),
                    port_names(bn, br.index)
                ))
                .fix(
                    format!("make {} a port of {}", pl.name, br.name),
                    vec![cmd::ip(
                        pns,
                        &format!("link set dev {} master {}", cmd::dev(&pl.name), cmd::dev(&br.name)),
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

fn port_names(ns: &crate::model::live::LiveNs, bridge: u32) -> String {
    let v: Vec<&str> = crate::probe::path::ports(ns, bridge)
        .map(|p| p.name.as_str())
        .collect();
    if v.is_empty() {
        "none".into()
    } else {
        v.join(", ")
    }
}

/// Ports on the way that are up, on an up bridge, yet not forwarding.
pub fn stp_state(cx: &Ctx) -> Vec<Finding> {
    let mut seen: Vec<(String, u32)> = Vec::new();
    let mut out = Vec::new();
    for (way, _) in cx.ways() {
        let ports: Vec<&Point> = way
            .legs
            .iter()
            .flat_map(|l| l.crossings.iter())
            .flat_map(|c| std::iter::once(&c.in_port).chain(c.out_port.as_ref()))
            .collect();
        for p in ports {
            if seen.contains(&(p.ns.clone(), p.ifindex)) {
                continue;
            }
            seen.push((p.ns.clone(), p.ifindex));
            let Some(l) = cx.snap.link(&p.ns, p.ifindex) else {
                continue;
            };
            let Some(br) = cx.snap.bridge_of(&p.ns, l) else {
                continue;
            };
            let Some(state) = l.port_state.filter(|s| *s != 3) else {
                continue;
            };
            // Down ports and bridges are disabled by the kernel: the link
            // rule names them.
            if !l.admin_up || !l.lower_up || !br.admin_up {
                continue;
            }
            let stp = br.bridge.is_some_and(|b| b.stp);
            let name = place(&p.ns, &l.name);
            let sname = port_state(state);
            let mut f = Finding::new(
                "bridge.stp-state",
                format!(
                    "{name}, a port of bridge {}, is in STP state {sname}: it passes no frames",
                    br.name
                ),
            )
            .at(&p.ns)
            .evidence(format!(
                "{name}: bridge port state {sname} ({state}); STP on {}: {}",
                br.name,
                if stp { "yes" } else { "no" }
            ));
            // `ip link … type bridge_slave state` is accepted but not
            // applied by every iproute2; `bridge link` is.
            let set = cmd::exec(
                &p.ns,
                &format!("bridge link set dev {} state 3", cmd::dev(&l.name)),
            );
            let stp_off = cmd::ip(
                &p.ns,
                &format!(
                    "link set dev {} type bridge stp_state 0",
                    cmd::dev(&br.name)
                ),
            );
            f = match (stp, state) {
                (true, 1 | 2) => f
                    .evidence("STP moves a new port through listening and learning to forwarding (twice the forward delay, 30 s by default)")
                    .fix("wait for STP to finish, or turn STP off", vec![stp_off]),
                (true, _) => f
                    .evidence("with STP on, a blocking port means STP found a loop through it")
                    .fix("turn STP off (after removing the loop)", vec![stp_off]),
                (false, _) => f.fix(
                    format!("set {} forwarding", l.name),
                    vec![set],
                ),
            };
            out.push(f);
        }
    }
    out
}
