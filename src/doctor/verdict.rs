//! The verdict (pure): did the path work; if not, the causes the rules
//! found — symptoms left out when a cause explains them — with the kernel's
//! drop records attached as evidence to the cause they support, and drops
//! no rule explains named on their own.

use serde::Serialize;

use super::case::{Case, Ctx, Probe};
use super::code::Code;
use super::drops::Drop;
use super::finding::Finding;
use super::reasons;
use super::way::Way;
use crate::model::live::NUD_PERMANENT;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    /// The reply came back from the destination asked for.
    Works,
    /// Something on the way explains why not.
    Found,
    /// The probe failed and nothing explains it.
    Unknown,
}

impl Status {
    pub fn exit_code(self) -> i32 {
        match self {
            Status::Works => 0,
            Status::Found => 1,
            Status::Unknown => 3,
        }
    }
}

/// The version of the JSON shape (docs/doctor.schema.json): raised when a
/// field changes meaning or goes; new fields keep it.
pub const SCHEMA_VERSION: u32 = 1;

#[derive(Clone, Debug, Serialize)]
pub struct Verdict {
    pub schema_version: u32,
    /// The disposition: DELIVERED, or the first cause's code.
    pub code: Code,
    pub status: Status,
    pub case: Case,
    pub probe: Probe,
    pub causes: Vec<Finding>,
    /// Kernel drop records not tied to a cause, in words.
    pub drops: Vec<String>,
    /// Counters that moved during the probe (drops, errors), in words.
    pub counters: Vec<String>,
    /// What could not be checked, and why.
    pub unchecked: Vec<String>,
    /// Link conditions on the way (delay, loss, rate …), in words.
    pub conditions: Vec<String>,
    /// Why a reply does not count (it came from somewhere else).
    pub not_from_dst: Option<String>,
    pub there: Way,
    pub back: Way,
    pub namespaces: Vec<String>,
    pub rules: usize,
    pub elapsed_ms: f64,
    /// When it could not tell: what the kernel was asked about the probe.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub looked: Vec<String>,
}

/// The verdict's disposition code.
pub fn code_of(status: Status, causes: &[Finding], fwd: &Way) -> Code {
    match status {
        Status::Works => Code::Delivered,
        Status::Found => causes.first().map_or(Code::Unknown, |c| c.code),
        Status::Unknown if fwd.path.end == crate::probe::path::End::Loop && fwd.dst.is_some() => {
            Code::Loop
        }
        Status::Unknown => Code::Unknown,
    }
}

/// Whether the reply came from the destination asked for, and if not, why.
pub fn reply_from_dst(cx: &Ctx) -> Result<(), String> {
    let Some(d) = &cx.case.dst_node else {
        return Ok(());
    };
    let Some(ip) = cx.case.dst else {
        return Err(format!("{d} has no address to ping"));
    };
    // The kernel's walk ends in a namespace that takes DST for itself.
    if let super::ask::WalkEnd::Swallowed { ns } = &cx.snap.asked.there.end
        && ns != d
    {
        return Err(format!(
            "the reply came from {ns}, which takes {ip} for itself (a local route, or a route into lo), not from {d}"
        ));
    }
    match cx.fwd.delivered_in() {
        Some(x) if x != d => {
            return Err(format!(
                "the reply came from {x}, which holds {ip} too, not from {d}"
            ));
        }
        _ => {}
    }
    // Two holders on one link: the MAC the source resolved says which answered.
    let Some(leg) = cx.fwd.legs.first() else {
        return Ok(());
    };
    let Some(entry) = cx.snap.detail(&cx.case.src).and_then(|dt| {
        dt.neigh
            .iter()
            .find(|e| e.ip == leg.next_hop && e.state & NUD_PERMANENT == 0)
    }) else {
        return Ok(());
    };
    let Some(mac) = entry.lladdr else {
        return Ok(());
    };
    if leg.next_hop != ip {
        return Ok(());
    }
    let dst_macs: Vec<_> = cx
        .snap
        .get(d)
        .map(|n| {
            n.links
                .iter()
                .filter(|l| l.addrs.iter().any(|a| a.net.addr() == ip))
                .filter_map(|l| l.mac)
                .collect()
        })
        .unwrap_or_default();
    if dst_macs.is_empty() || dst_macs.contains(&mac) {
        return Ok(());
    }
    let other = cx
        .snap
        .ns
        .iter()
        .find(|(n, ns)| *n != d && ns.links.iter().any(|l| l.mac == Some(mac)))
        .map(|(n, _)| n.clone());
    Err(match other {
        Some(o) => format!("the reply came from {o} (MAC {mac}), not from {d}"),
        None => format!("the reply came from MAC {mac}, which is not {d}'s"),
    })
}

/// Causes from findings: symptoms dropped when a cause in the same
/// namespaces explains them; drop records attached where they belong.
pub fn decide(cx: &Ctx, findings: Vec<Finding>) -> (Status, Vec<Finding>, Vec<String>) {
    let reply_ok = reply_from_dst(cx);
    if cx.probe.answered && reply_ok.is_ok() {
        return (Status::Works, Vec::new(), Vec::new());
    }
    let primary: Vec<&Finding> = findings.iter().filter(|f| !f.secondary).collect();
    let mut causes: Vec<Finding> = Vec::new();
    for f in &findings {
        let explained = f.secondary
            && primary
                .iter()
                .any(|p| p.ns.iter().any(|n| f.ns.contains(n)) || f.id == "neigh.failed");
        let dup = causes.iter().any(|c| c.id == f.id && c.cause == f.cause);
        if !explained && !dup {
            causes.push(f.clone());
        }
    }
    // Only one symptom of the same kind is worth saying.
    let mut loose: Vec<String> = Vec::new();
    for d in cx.drops {
        if !attach(&mut causes, d) {
            if reasons::telling(&d.reason) {
                causes.push(drop_cause(d));
            } else {
                loose.push(d.text());
            }
        }
    }
    let status = if causes.is_empty() {
        Status::Unknown
    } else {
        Status::Found
    };
    (status, causes, loose)
}

/// How a filter rule words a drop it could not evaluate for sure.
pub const POSSIBLE: &str = "the drop is possible, not certain";

/// Tie a drop record to the causes it supports — those in the namespace
/// it happened in first, else any of the kind its reason points at; a
/// routine drop (NOT_SPECIFIED) only to causes in its namespace. False
/// when none takes it.
fn attach(causes: &mut [Finding], d: &Drop) -> bool {
    let supports = reasons::supports(&d.reason);
    let fits = |c: &Finding| supports.iter().any(|s| c.id.starts_with(s));
    let telling = reasons::telling(&d.reason);
    let mut take: Vec<usize> = causes
        .iter()
        .enumerate()
        .filter(|(_, c)| c.ns.contains(&d.ns) && (fits(c) || !telling || reasons::decision(c.id)))
        .map(|(i, _)| i)
        .collect();
    if take.is_empty() && telling {
        take = causes
            .iter()
            .enumerate()
            .filter(|(_, c)| fits(c))
            .map(|(i, _)| i)
            .collect();
    }
    let line = format!("kernel: {}", d.text());
    for &i in &take {
        let c = &mut causes[i];
        if !c.evidence.contains(&line) {
            c.evidence.push(line.clone());
        }
        // The kernel saw netfilter drop it there: no longer a guess.
        if c.id.starts_with("filter.") && d.reason == "NETFILTER_DROP" && c.ns.contains(&d.ns) {
            c.guess = false;
            for e in c.evidence.iter_mut() {
                if let Some(head) = e.strip_suffix(POSSIBLE) {
                    *e = format!("{head}the kernel's record below confirms it");
                }
            }
        }
    }
    !take.is_empty()
}

fn drop_cause(d: &Drop) -> Finding {
    let mut f = Finding::new(
        "kernel.drop",
        format!(
            "{} is dropped in {} {}",
            d.dir.packet(),
            d.ns,
            reasons::by(&d.reason)
        ),
    )
    .at(&d.ns)
    .evidence(format!("kernel: {}", d.text()));
    if d.location == "ipt_do_table" || d.location == "ip6t_do_table" {
        f = f.evidence(
            "ipt_do_table is iptables-legacy: its rules live outside nftables, where vnet cannot read them (iptables-legacy -L -v -n shows them)",
        );
    }
    f
}
