//! `vnet doctor SRC DST [--json] [-s BYTES] [-4|-6] [-W S]`.

use std::time::Duration;

use clap::Args as ClapArgs;

use super::ping::parse_secs;
use super::{USAGE, signals};
use crate::doctor::run::{self, Options};
use crate::probe::ProbeError;
use crate::probe::target::Family;
use crate::probe::world;

/// Exit code: ran, but could not tell (also when the run itself failed).
pub(crate) const UNKNOWN: i32 = 3;

#[derive(ClapArgs)]
#[command(
    after_help = "Exit codes: 0 the path works, 1 a cause was found, 2 bad usage (unknown node, …), 3 could not tell.\n\nIt changes nothing in the network: it reads the kernel's state, sends one echo request, and records the kernel's drops in a tracefs instance of its own, removed afterwards (also on Ctrl-C)."
)]
pub struct Args {
    /// The node to send from: a namespace name, or `host`
    pub src: String,
    /// The node (its address on a subnet SRC is on, else its first) or the IP address; `DST:tcp/PORT` or `DST:udp/PORT` asks about a service there (`[fd00::2]:tcp/80` for an IPv6 address)
    pub dst: String,
    /// Seconds to wait for the reply
    #[arg(short = 'W', long, value_parser = parse_secs, default_value = "1")]
    pub timeout: Duration,
    /// Payload bytes of the probe [default: an unusual size between 64 and 1087, so the kernel's records of it stand out]
    #[arg(short = 's', long)]
    pub size: Option<usize>,
    /// IPv4 only (when DST is a node)
    #[arg(short = '4', conflicts_with = "ipv6")]
    pub ipv4: bool,
    /// IPv6 only (when DST is a node)
    #[arg(short = '6')]
    pub ipv6: bool,
    /// The verdict as JSON: status, causes with fixes and evidence, the ways
    #[arg(long)]
    pub json: bool,
}

fn report(e: &ProbeError) -> i32 {
    super::error(e);
    match e {
        ProbeError::Usage(_) => USAGE,
        _ => UNKNOWN,
    }
}

pub(crate) fn run(a: Args) -> i32 {
    if a.timeout.is_zero() {
        super::error("-W: the timeout must be above 0");
        return USAGE;
    }
    if a.size.is_some_and(|s| s > 65_000) {
        super::error("-s: at most 65000 bytes of payload");
        return USAGE;
    }
    if let Err(e) = world::require_privilege("doctor") {
        return report(&e);
    }
    // Ctrl-C only raises a flag: the run stops at its next step and the
    // tracefs instance is removed on the way out.
    signals::catch();
    let opts = Options {
        family: match (a.ipv4, a.ipv6) {
            (true, _) => Some(Family::V4),
            (_, true) => Some(Family::V6),
            _ => None,
        },
        size: a.size,
        timeout: a.timeout,
        cancelled: signals::cancelled,
        intended: intended(),
    };
    let v = match run::run(&a.src, &a.dst, &opts) {
        Ok(v) => v,
        Err(e) => {
            if signals::cancelled() {
                super::error("interrupted; nothing was changed");
                return 130;
            }
            return report(&e);
        }
    };
    if a.json {
        crate::outln!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
    } else {
        crate::out!("{}", crate::render::doctor::render(&v));
    }
    v.status.exit_code()
}

fn intended() -> Vec<crate::doctor::snapshot::Intended> {
    crate::engine::record::intended()
}
