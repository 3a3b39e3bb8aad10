//! Queueing: a qdisc on an interface the probe leaves by that dropped
//! packets while the probe was sent (its drop counter went up), or that
//! drops everything (a fifo with limit 0).

use crate::doctor::case::Ctx;
use crate::doctor::cmd;
use crate::doctor::finding::Finding;
use crate::doctor::snapshot::place;
use crate::model::live::LiveQdisc;

fn parent_words(q: &LiveQdisc) -> String {
    if q.is_root() {
        "root".into()
    } else {
        format!("parent {:x}:{:x}", q.parent >> 16, q.parent & 0xffff)
    }
}

pub fn drops(cx: &Ctx) -> Vec<Finding> {
    let mut out: Vec<Finding> = Vec::new();
    for (way, _) in cx.ways() {
        for leg in &way.legs {
            let outs = leg
                .out
                .iter()
                .chain(leg.crossings.iter().filter_map(|c| c.out_port.as_ref()));
            for p in outs {
                let Some(d) = cx.snap.detail(&p.ns) else {
                    continue;
                };
                for q in d.qdiscs.iter().filter(|q| q.ifindex == p.ifindex) {
                    let before = d
                        .qdiscs_before
                        .iter()
                        .find(|b| {
                            b.ifindex == q.ifindex && b.handle == q.handle && b.parent == q.parent
                        })
                        .map_or(q.drops, |b| b.drops);
                    let delta = q.drops.saturating_sub(before);
                    let zero = q.limit == Some(0);
                    if delta == 0 && !zero {
                        continue;
                    }
                    let here = place(&p.ns, &p.iface);
                    if out.iter().any(|f| f.cause.contains(&here)) {
                        continue;
                    }
                    let why = if zero {
                        format!(
                            "its limit is 0, so it drops every packet ({delta} while the probe was sent)"
                        )
                    } else {
                        format!(
                            "it dropped {delta} packet{} while the probe was sent",
                            if delta == 1 { "" } else { "s" }
                        )
                    };
                    let mut f = Finding::new(
                        "queue.drops",
                        format!("the {} qdisc on {here} drops packets: {why}", q.kind),
                    )
                    .at(&p.ns)
                    .evidence(format!(
                        "{here}: qdisc {} {:x}: {}{}, {} packets sent, {} dropped",
                        q.kind,
                        q.handle >> 16,
                        parent_words(q),
                        q.limit.map(|l| format!(" limit {l}")).unwrap_or_default(),
                        q.packets,
                        q.drops
                    ));
                    let del = if q.is_root() {
                        format!("qdisc del dev {} root", cmd::dev(&p.iface))
                    } else {
                        format!("qdisc del dev {} {}", cmd::dev(&p.iface), parent_words(q))
                    };
                    f = f.fix(
                        "remove it (the default qdisc comes back)",
                        vec![cmd::tc(&p.ns, &del)],
                    );
                    out.push(f);
                }
            }
        }
    }
    out
}
