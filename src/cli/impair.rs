//! `vnet impair NODE:IFACE [--delay D] [--jitter J] [--loss P] [--rate R]
//! [--corrupt P] [--duplicate P] [--limit N] [--clear] [--json]`.

use clap::Args as ClapArgs;

use super::{FAILED, OK, USAGE};
use crate::engine::impair::{ImpairReport, ImpairRequest, impair};
use crate::engine::{EngineError, Hooks};
use crate::model::conditions::Param;

#[derive(ClapArgs)]
pub struct Args {
    /// The interface: NODE:IFACE, NODE a namespace under /run/netns or `host`
    pub target: String,
    /// Delay added to each packet, e.g. 20ms (needs netem)
    #[arg(long)]
    pub delay: Option<String>,
    /// Random variation of the delay, e.g. 5ms (needs netem)
    #[arg(long)]
    pub jitter: Option<String>,
    /// Share of packets dropped, e.g. 1% (0% removes it)
    #[arg(long)]
    pub loss: Option<String>,
    /// Rate limit in tc's units, e.g. 10mbit (1 kbit = 1000 bit/s; kbps = kilobytes/s)
    #[arg(long)]
    pub rate: Option<String>,
    /// Share of packets with a flipped bit, e.g. 0.1% (needs netem)
    #[arg(long)]
    pub corrupt: Option<String>,
    /// Share of packets sent twice, e.g. 1% (needs netem)
    #[arg(long)]
    pub duplicate: Option<String>,
    /// Queue length in packets
    #[arg(long)]
    pub limit: Option<String>,
    /// Remove every condition (then apply any given with it)
    #[arg(long)]
    pub clear: bool,
    /// Machine-readable output
    #[arg(long)]
    pub json: bool,
}

pub(crate) fn run(a: Args) -> i32 {
    let Some((node, iface)) = a.target.split_once(':') else {
        super::error(format!(
            "`{}` is not NODE:IFACE (e.g. ns1:veth0, or host:br0-veth0)",
            a.target
        ));
        return USAGE;
    };
    let mut req = ImpairRequest {
        node: node.to_string(),
        iface: iface.to_string(),
        clear: a.clear,
        ..ImpairRequest::default()
    };
    let given = [
        (Param::Delay, &a.delay),
        (Param::Jitter, &a.jitter),
        (Param::Loss, &a.loss),
        (Param::Rate, &a.rate),
        (Param::Corrupt, &a.corrupt),
        (Param::Duplicate, &a.duplicate),
        (Param::Limit, &a.limit),
    ];
    for (p, v) in given {
        let Some(v) = v else { continue };
        if let Err(r) = req.set.set(p, v) {
            super::error(format!("--{}: {}\n  hint: {}", p.name(), r.message, r.hint));
            return USAGE;
        }
        if req.set.get(p).is_none() {
            req.unset.push(p);
        }
    }
    if !a.clear && req.set.is_empty() && req.unset.is_empty() {
        super::error(
            "nothing to change: give --delay, --jitter, --loss, --rate, --corrupt, --duplicate, --limit or --clear",
        );
        return USAGE;
    }
    let waiting = |pid: Option<u32>| match pid {
        Some(p) => eprintln!("vnet: waiting for another vnet (pid {p}) working on this lab"),
        None => eprintln!("vnet: waiting for another vnet working on this lab"),
    };
    let hooks = Hooks {
        waiting_for_lock: &waiting,
        ..Hooks::silent()
    };
    match impair(&req, &hooks) {
        Ok(r) => {
            if a.json {
                crate::outln!("{}", serde_json::to_string_pretty(&r).unwrap_or_default());
            } else {
                crate::out!("{}", render(&r));
            }
            OK
        }
        Err(e @ (EngineError::Refused(_) | EngineError::Unsupported(_))) => {
            super::error(e);
            USAGE
        }
        Err(e) => {
            super::error(e);
            FAILED
        }
    }
}

fn render(r: &ImpairReport) -> String {
    let mut out = format!("{}:{}", r.node, r.interface);
    if let Some(l) = &r.lab {
        out.push_str(&format!(" (lab {l})"));
    }
    if r.changed {
        out.push_str(&format!(": {}\n  was: {}\n", r.after, r.before));
        if let Some(l) = &r.lab {
            out.push_str(&format!(
                "  `vnet status {l}` shows this as drift; `vnet up` brings back the lab file's conditions\n"
            ));
        }
    } else {
        out.push_str(&format!(": {} (unchanged)\n", r.after));
    }
    out
}
