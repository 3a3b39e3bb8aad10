//! The doctor's verdict as text (pure): the cause first, in plain words,
//! then the commands that fix it, then the evidence; the way the probe
//! takes; what could not be checked.

use std::fmt::Write as _;

use crate::doctor::finding::Finding;
use crate::doctor::verdict::{Status, Verdict};
use crate::probe::path::{Dir, End, Path};

/// "ns1:veth0 → host:br0-veth0 → \[br0\] → host:br0-veth1 → ns2:veth1 —
/// delivered in ns2".
pub fn way(p: &Path) -> String {
    let mut parts: Vec<String> = Vec::new();
    for (i, x) in p.points.iter().enumerate() {
        parts.push(format!("{}:{}", x.ns, x.iface));
        // In on a bridge port, then out of another port: through the bridge.
        if let (Some(b), Some(next)) = (&x.bridge, p.points.get(i + 1))
            && x.dir == Dir::In
            && next.bridge.as_ref() == Some(b)
        {
            parts.push(format!("[{b}]"));
        }
    }
    if parts.is_empty() {
        parts.push("(no interface)".into());
    }
    let end = match &p.end {
        End::Delivered { ns } => format!("delivered in {ns}"),
        End::NoRoute { ns } => format!("{ns} has no route"),
        End::Refused { ns, route } => format!("{ns} has a {route} route"),
        End::NotForwarding { ns } => format!("{ns} does not forward"),
        End::Unknown { why, .. } => why.clone(),
        End::Loop => "routes loop".into(),
    };
    format!("{} — {end}", parts.join(" → "))
}

/// Link conditions on the way, when there are any.
fn conditions(out: &mut String, v: &Verdict) {
    if v.conditions.is_empty() {
        return;
    }
    let _ = writeln!(out, "link conditions on the way:");
    for c in &v.conditions {
        let _ = writeln!(out, "  {c}");
    }
}

fn secs(ms: f64) -> String {
    crate::probe::outcome::secs(std::time::Duration::from_secs_f64(ms / 1e3))
}

pub fn render(v: &Verdict) -> String {
    let mut out = String::new();
    let c = &v.case;
    let dst = match (c.dst, &c.dst_node) {
        (Some(ip), Some(n)) => format!("{ip} ({n})"),
        (Some(ip), None) => ip.to_string(),
        (None, Some(n)) => n.clone(),
        (None, None) => c.dst_arg.clone(),
    };
    let dst = match c.service {
        Some(svc) => format!("{dst} {svc}"),
        None => dst,
    };
    let _ = writeln!(
        out,
        "doctor {} → {dst}: {} [{}]",
        c.src,
        headline(v),
        v.code
    );
    if v.status == Status::Works {
        if let Some(s) = &v.probe.service {
            let _ = writeln!(out, "probe: {}", s.text());
        } else if let Some(rtt) = v.probe.rtt_ms {
            let _ = writeln!(out, "reply after {rtt:.3} ms ({} bytes of payload)", c.size);
        }
        let _ = writeln!(out, "way there: {}", way(&v.there.path));
        if !v.back.path.points.is_empty() {
            let _ = writeln!(out, "way back:  {}", way(&v.back.path));
        }
        conditions(&mut out, v);
        return out;
    }
    let n = v.causes.len();
    for (i, f) in v.causes.iter().enumerate() {
        cause(&mut out, f, i, n);
    }
    if v.status == Status::Unknown {
        let _ = writeln!(
            out,
            "\ncould not tell why: no rule found a cause on the way, and the kernel recorded no drop of the probe"
        );
        if !v.looked.is_empty() {
            let _ = writeln!(out, "looked at:");
            for l in &v.looked {
                let _ = writeln!(out, "  {l}");
            }
        }
    }
    seen(&mut out, v);
    if c.dst.is_some() {
        let _ = writeln!(out, "\nway there: {}", way(&v.there.path));
        if !v.back.path.points.is_empty() || !matches!(v.back.path.end, End::Loop) {
            let _ = writeln!(out, "way back:  {}", way(&v.back.path));
        }
    }
    conditions(&mut out, v);
    if !v.unchecked.is_empty() {
        let _ = writeln!(out, "not checked:");
        for u in &v.unchecked {
            let _ = writeln!(out, "  {u}");
        }
    }
    let _ = writeln!(
        out,
        "{} rules over {} in {}",
        v.rules,
        v.namespaces.join(", "),
        super::elapsed::elapsed(std::time::Duration::from_secs_f64(
            v.elapsed_ms.max(0.0) / 1e3
        ))
    );
    out
}

/// What became of the probe, in a few words.
fn headline(v: &Verdict) -> String {
    let c = &v.case;
    if let Some(s) = &v.probe.service {
        return match (v.status, &s.seen) {
            (Status::Works, crate::probe::service::Seen::Sent) => {
                "the service takes it (no error came back)".to_string()
            }
            (Status::Works, _) => "the service answers".to_string(),
            _ => {
                let t = s.text();
                let why = t.split_once(": ").map_or(t.as_str(), |(_, w)| w);
                format!("it does not answer: {why}")
            }
        };
    }
    match v.status {
        Status::Works => "the path works".to_string(),
        _ => match (&v.probe.error, &v.not_from_dst, c.dst) {
            (_, Some(why), _) => format!("no reply from it: {why}"),
            (Some(e), _, _) => format!("no reply: {e}"),
            (None, _, None) => format!(
                "{} has no usable {} address to probe",
                c.dst_node.as_deref().unwrap_or(&c.dst_arg),
                if c.v6 { "IPv6" } else { "IPv4" }
            ),
            (None, _, Some(_)) => format!("no reply within {}", secs(v.probe.timeout_ms)),
        },
    }
}

/// Cause `i` of `n`: the cause, its fixes (commands aligned, each with
/// what it does) and its evidence.
fn cause(out: &mut String, f: &Finding, i: usize, n: usize) {
    let label = match (n, f.guess) {
        (1, false) => "cause".to_string(),
        (1, true) => "cause (a guess)".to_string(),
        (_, false) => format!("cause {} of {n}", i + 1),
        (_, true) => format!("cause {} of {n} (a guess)", i + 1),
    };
    let _ = writeln!(out, "\n{label}: {}   [{}]", f.cause, f.id);
    let width = f
        .fixes
        .iter()
        .flat_map(|x| x.commands.iter())
        .map(|c| c.chars().count())
        .max()
        .unwrap_or(0);
    for (k, fix) in f.fixes.iter().enumerate() {
        for (j, cmd) in fix.commands.iter().enumerate() {
            let lead = match (k, j) {
                (0, 0) => "  fix: ",
                (_, 0) => "  or:  ",
                _ => "       ",
            };
            if j == 0 {
                let pad = width - cmd.chars().count();
                let _ = writeln!(out, "{lead}{cmd}{}   # {}", " ".repeat(pad), fix.what);
            } else {
                let _ = writeln!(out, "{lead}{cmd}");
            }
        }
    }
    if !f.evidence.is_empty() {
        let _ = writeln!(out, "  evidence:");
        for e in &f.evidence {
            let _ = writeln!(out, "    {e}");
        }
    }
}

/// What was seen of the probe: the walk, the kernel's drops not tied to a
/// cause, the counters that moved.
fn seen(out: &mut String, v: &Verdict) {
    let mut more: Vec<String> = Vec::new();
    if let Some(w) = &v.probe.walk {
        more.push(format!("walk: {w}"));
    }
    for d in &v.drops {
        more.push(format!("kernel: {d}"));
    }
    for c in &v.counters {
        more.push(format!("counters: {c}"));
    }
    if !more.is_empty() {
        let _ = writeln!(out, "\nseen:");
        for m in more {
            let _ = writeln!(out, "  {m}");
        }
    }
}
