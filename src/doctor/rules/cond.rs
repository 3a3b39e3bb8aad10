//! Link conditions on the way (pure): a loss, a delay longer than the
//! doctor waited, or corruption set on an interface the probe leaves by
//! explains a lost probe; when the path works, the conditions on it are
//! worth a note (a ping may still fail now and then, or come back late).

use crate::doctor::case::Ctx;
use crate::doctor::finding::Finding;
use crate::doctor::snapshot::place;
use crate::model::conditions::Conditions;
use crate::model::owner;
use crate::probe::path::Point;

/// Every interface the probe leaves by, there and back, with its
/// conditions, once each.
fn egresses<'a>(cx: &'a Ctx) -> Vec<(&'a Point, Conditions)> {
    let mut out: Vec<(&Point, Conditions)> = Vec::new();
    for (way, _) in cx.ways() {
        for leg in &way.legs {
            let outs = leg
                .out
                .iter()
                .chain(leg.crossings.iter().filter_map(|c| c.out_port.as_ref()));
            for p in outs {
                if out
                    .iter()
                    .any(|(q, _)| q.ns == p.ns && q.ifindex == p.ifindex)
                {
                    continue;
                }
                let Some(l) = cx.snap.link(&p.ns, p.ifindex) else {
                    continue;
                };
                if !l.conditions.is_empty() {
                    out.push((p, l.conditions));
                }
            }
        }
    }
    out
}

/// The lab an interface is part of, from its namespace's mark (or its own
/// in the host).
fn lab_of(cx: &Ctx, p: &Point) -> Option<String> {
    let ns = cx.snap.get(&p.ns)?;
    let alias = if p.ns == crate::model::lab::HOST {
        ns.link_by_index(p.ifindex)?.alias.as_deref()
    } else {
        ns.lo()?.alias.as_deref()
    };
    alias.and_then(owner::lab_of_mark).map(str::to_string)
}

/// The fixes: clear it live, or (for a lab) change the lab file.
fn fixes(cx: &Ctx, f: Finding, p: &Point, key: &str) -> Finding {
    let here = place(&p.ns, &p.iface);
    let f = f.fix(
        "remove the conditions from the interface",
        vec![format!("vnet impair {here} --clear")],
    );
    match lab_of(cx, p) {
        Some(lab) => f.fix(
            format!(
                "or, if lab {lab}'s file sets it, take `{key}` out of {here}'s conditions there and run `vnet up` on the file (`vnet status {lab}` names it)"
            ),
            vec![format!("vnet status {lab}")],
        ),
        None => f,
    }
}

pub fn conditions(cx: &Ctx) -> Vec<Finding> {
    if cx.probe.answered {
        return Vec::new();
    }
    let mut out = Vec::new();
    let mut delay_us: u64 = 0;
    let mut delayed: Vec<String> = Vec::new();
    for (p, c) in egresses(cx) {
        let here = place(&p.ns, &p.iface);
        if let Some(loss) = c.loss {
            let mut f = Finding::new("cond.loss", format!("loss {loss} set on {here}'s egress"))
                .at(&p.ns)
                .evidence(format!("{here}: conditions {c}"));
            if loss.0 < 1_000_000 {
                f = f.guess().evidence(format!(
                    "it drops {loss} of the packets at random: this probe may have been one of them (`vnet ping -c 100` shows the share)"
                ));
            } else {
                f = f.evidence("it drops every packet sent out of it");
            }
            out.push(fixes(cx, f, p, "loss"));
        }
        if let Some(corrupt) = c.corrupt {
            let f = Finding::new(
                "cond.corrupt",
                format!("corrupt {corrupt} set on {here}'s egress"),
            )
            .at(&p.ns)
            .guess()
            .evidence(format!(
                "{here}: conditions {c}; a corrupted packet fails its checksum and is dropped"
            ));
            out.push(fixes(cx, f, p, "corrupt"));
        }
        if let Some(d) = c.delay {
            delay_us += d.0 + c.jitter.map_or(0, |j| j.0);
            delayed.push(format!("{here}: {c}"));
        }
    }
    let waited_us = (cx.probe.timeout_ms * 1000.0) as u64;
    if delay_us > 0 && waited_us > 0 && delay_us >= waited_us {
        let mut f = Finding::new(
            "cond.delay",
            format!(
                "the delays set on the way add up to {} ms, more than the {} ms the doctor waited",
                delay_us / 1000,
                waited_us / 1000
            ),
        );
        for d in &delayed {
            f = f.evidence(d.clone());
        }
        f = f.fix(
            "wait longer for the reply",
            vec![format!(
                "vnet doctor {} {} -W {}",
                cx.case.src,
                cx.case.dst_arg,
                (delay_us / 1_000_000) + 2
            )],
        );
        out.push(f);
    }
    out
}

/// The conditions on a working path, in words (for the verdict's notes).
pub fn on_the_way(cx: &Ctx) -> Vec<String> {
    egresses(cx)
        .into_iter()
        .map(|(p, c)| {
            let mut line = format!("{}'s egress: {c}", place(&p.ns, &p.iface));
            if c.loss.is_some() || c.corrupt.is_some() {
                line.push_str(" (some packets are lost: a single ping may fail)");
            } else if c.delay.is_some() || c.rate.is_some() {
                line.push_str(" (slower than the bare link)");
            }
            line
        })
        .collect()
}
