//! `vnet logs NODE [-f] [--since DURATION]`: what a node's `exec:` and
//! `run:` commands printed.

use clap::Args as ClapArgs;

use super::{FAILED, OK, USAGE};
use crate::engine::workload;
use crate::model::names;
use crate::model::workload::parse_duration;

#[derive(ClapArgs)]
pub struct Args {
    /// The node
    pub node: String,
    /// The lab (default: the lab that has a log for this node)
    #[arg(long)]
    pub lab: Option<String>,
    /// Keep printing what is appended, until interrupted or the lab goes down
    #[arg(long, short)]
    pub follow: bool,
    /// Only lines from this long ago on (30s, 5m, 1h)
    #[arg(long)]
    pub since: Option<String>,
}

pub(crate) fn run(a: Args) -> i32 {
    if let Err(e) = names::check_netns_name(&a.node) {
        super::error(format!(
            "`{}` is not a node name: {e}",
            names::printable(&a.node)
        ));
        return USAGE;
    }
    let since = match a.since.as_deref().map(parse_duration) {
        None => None,
        Some(Some(d)) => Some(d),
        Some(None) => {
            super::error("--since takes a duration like 30s, 5m or 1h");
            return USAGE;
        }
    };
    let lab = match a.lab.clone().or_else(|| workload::lab_of_node(&a.node)) {
        Some(l) => l,
        None => {
            super::error(format!(
                "no log for node {}: no lab running here gave it `exec:` or `run:` commands (`vnet status` lists the labs)",
                a.node
            ));
            return FAILED;
        }
    };
    match workload::read_log(&lab, &a.node, since) {
        Ok(lines) => {
            for l in lines {
                crate::outln!("{l}");
            }
        }
        Err(e) => {
            super::error(format!("no log for node {} in lab {lab}: {e}", a.node));
            return FAILED;
        }
    }
    if a.follow {
        let Some(path) = workload::log_path(&lab, &a.node) else {
            return FAILED;
        };
        let r = crate::engine::logs::follow(&path, |line| {
            crate::outln!("{line}");
            super::out::open()
        });
        if let Err(e) = r {
            super::error(format!("cannot follow {}: {e}", path.display()));
            return FAILED;
        }
    }
    OK
}
