//! Size: an interface on the way whose MTU is smaller than the packets the
//! probe needs to pass whole — a mismatch on one link (a bridge cannot
//! fragment; a veth drops what its peer's MTU does not fit), or a router
//! sending on a link smaller than the one they came in on.

use crate::doctor::case::Ctx;
use crate::doctor::cmd;
use crate::doctor::finding::Finding;
use crate::doctor::snapshot::place;

pub fn mtu(cx: &Ctx) -> Vec<Finding> {
    let mut out: Vec<Finding> = Vec::new();
    if cx.probe.answered {
        return out;
    }
    let len = cx.case.packet_len() as u32;
    for (way, dir) in cx.ways() {
        for leg in &way.legs {
            let Some(o) = &leg.out else { continue };
            let Some(sender) = cx.snap.link(&o.ns, o.ifindex) else {
                continue;
            };
            // What leaves whole: the sender fragments to its own MTU.
            let sent = len.min(sender.mtu);
            // Every interface the frame crosses on this link (bridge
            // devices forward by their ports' MTU, not their own).
            let small: Vec<(String, String, u32)> = leg
                .points
                .iter()
                .filter_map(|p| {
                    let l = cx.snap.link(&p.ns, p.ifindex)?;
                    (l.mtu < sent && l.kind.as_deref() != Some("bridge"))
                        .then(|| (p.ns.clone(), l.name.clone(), l.mtu))
                })
                .collect();
            for (ns, name, m) in small {
                let here = place(&ns, &name);
                if out.iter().any(|f| f.cause.contains(&here)) {
                    continue;
                }
                let how = if sent == len {
                    format!(
                        "{} is {len} bytes of IP; {} (MTU {}) sends it whole",
                        dir.packet(),
                        place(&o.ns, &o.iface),
                        sender.mtu
                    )
                } else {
                    format!(
                        "{} is {len} bytes of IP; {} (MTU {}) sends it in {sent}-byte fragments",
                        dir.packet(),
                        place(&o.ns, &o.iface),
                        sender.mtu
                    )
                };
                let mut f = Finding::new(
                    "size.mtu",
                    format!("{how}, but {here} on the way has MTU {m}: it is dropped there"),
                );
                // The drop is recorded where the frame was last seen: any
                // namespace of this leg.
                for p in &leg.points {
                    f = f.at(&p.ns);
                }
                out.push(
                    f.at(&ns)
                        .at(&o.ns)
                        .evidence(format!("{}: mtu {}", place(&o.ns, &o.iface), sender.mtu))
                        .evidence(format!("{here}: mtu {m}"))
                        .evidence(format!(
                            "probe: {} bytes of payload, {len} bytes of IP",
                            cx.case.size
                        ))
                        .fix(
                            format!("give {name} the link's MTU"),
                            vec![cmd::ip(
                                &ns,
                                &format!("link set dev {} mtu {}", cmd::dev(&name), sender.mtu),
                            )],
                        ),
                );
            }
        }
    }
    out
}
