//! `vnet perf SRC DST`: throughput between two nodes, no iperf3 needed.

use std::net::IpAddr;
use std::time::Duration;

use clap::Args as ClapArgs;
use serde::Serialize;

use super::ping::{parse_secs, report};
use super::{FAILED, OK, USAGE};
use crate::probe::ProbeError;
use crate::probe::perf::report::{HEADER_LEN, Protocol, parse_rate};
use crate::probe::perf::{self, Ends, PerfEvent, PerfOptions, PerfReport};
use crate::probe::target::{self, Dest, Family};
use crate::probe::trace::family_note;
use crate::probe::world::{self, World};
use crate::render::perf::{self as text, Names};

#[derive(ClapArgs)]
#[command(
    after_help = "The server runs in DST's namespace and the client in SRC's, as two threads of vnet: nothing to install, a free port each run.\n\nExit codes: 0 measured, 1 nothing got through (or the connection failed), 2 bad usage (unknown node, …)."
)]
pub struct Args {
    /// The node that connects (and sends, unless --reverse): a namespace name, or `host`
    pub src: String,
    /// The node that listens: a namespace name, `host`, or one of a node's addresses (by name: its address on a subnet SRC is on, else its first)
    pub dst: String,
    /// Seconds to measure
    #[arg(short = 't', long = "time", value_parser = parse_secs, default_value = "10")]
    pub time: Duration,
    /// Seconds between interval lines
    #[arg(short = 'i', long, value_parser = parse_secs, default_value = "1")]
    pub interval: Duration,
    /// UDP instead of TCP: datagrams at --rate; loss, jitter and order
    #[arg(short = 'u', long)]
    pub udp: bool,
    /// With --udp: the sending rate in bits per second (10mbit, 500kbit, 1gbit, or iperf3's 10M) [default: 1mbit]
    #[arg(short = 'b', long, value_parser = parse_rate, requires = "udp")]
    pub rate: Option<u64>,
    /// With --udp: payload bytes per datagram [default: what fits the path's MTU, at most 1448]
    #[arg(short = 'l', long, requires = "udp")]
    pub length: Option<usize>,
    /// DST sends, SRC receives (SRC still connects)
    #[arg(short = 'R', long)]
    pub reverse: bool,
    /// The server's port in DST [default: a free one]
    #[arg(short = 'p', long)]
    pub port: Option<u16>,
    /// IPv4 only (when DST is a node)
    #[arg(short = '4', conflicts_with = "ipv6")]
    pub ipv4: bool,
    /// IPv6 only (when DST is a node)
    #[arg(short = '6')]
    pub ipv6: bool,
    /// Machine-readable output: the intervals and the totals (`bits_per_second`: the goodput)
    #[arg(long)]
    pub json: bool,
}

#[derive(Serialize)]
struct PerfJson<'a> {
    src: &'a str,
    dst: &'a str,
    dst_addr: IpAddr,
    sender_node: &'a str,
    receiver_node: &'a str,
    #[serde(flatten)]
    report: &'a PerfReport,
}

/// Text out as it comes (interval lines during the run), through vnet's
/// one stdout writer: a reader gone (`| head`) ends the output, not the run.
fn out(text: &str) {
    use std::io::Write as _;
    let mut w = super::out::writer();
    let _ = w.write_all(text.as_bytes());
    let _ = w.flush();
}

fn usage(a: &Args) -> Option<String> {
    if a.time < Duration::from_millis(100) {
        return Some("-t: measure for at least 0.1 s".into());
    }
    if a.interval < Duration::from_millis(100) {
        return Some("-i: intervals of at least 0.1 s".into());
    }
    if let Some(l) = a.length.filter(|l| !(HEADER_LEN..=65_507).contains(l)) {
        return Some(format!(
            "-l {l}: between {HEADER_LEN} and 65507 bytes per datagram"
        ));
    }
    None
}

pub(crate) fn run(a: Args) -> i32 {
    if let Some(why) = usage(&a) {
        super::error(why);
        return USAGE;
    }
    if world::missing_privilege().is_some() {
        super::error(
            "`vnet perf` enters the nodes' namespaces (setns needs CAP_SYS_ADMIN) and needs root; run it with sudo: sudo vnet perf …",
        );
        return FAILED;
    }
    match measure(&a) {
        Ok(code) => code,
        Err(e) => report(&e),
    }
}

/// The node DST names (itself, or the one holding the address) and the
/// address to connect to.
fn resolve(world: &World, a: &Args) -> Result<(String, IpAddr), ProbeError> {
    let fam = match (a.ipv4, a.ipv6) {
        (true, _) => Some(Family::V4),
        (_, true) => Some(Family::V6),
        _ => None,
    };
    let src = world
        .get(&a.src)
        .ok_or_else(|| ProbeError::Usage(target::unknown_node(&a.src, &world.nodes())))?;
    match target::parse_dest(&a.dst) {
        Dest::Node(n) => {
            let d = world
                .get(&n)
                .ok_or_else(|| ProbeError::Usage(target::unknown_node(&n, &world.nodes())))?;
            let ip = target::pick_addr(src, d, fam).ok_or_else(|| {
                ProbeError::Failed(format!(
                    "node {n} has no address to connect to{}",
                    family_note(fam)
                ))
            })?;
            Ok((n, ip))
        }
        Dest::Addr(ip) => {
            let owners = target::owners(world.ns.iter().map(|(n, ns)| (n.as_str(), ns)), ip);
            match owners.as_slice() {
                [one] => Ok((one.clone(), ip)),
                [] => Err(ProbeError::Usage(format!(
                    "no node has the address {ip}: the server runs in DST's namespace, so DST is a node or one of its addresses"
                ))),
                many => Err(ProbeError::Usage(format!(
                    "{ip} is an address of several nodes ({}): name the node instead",
                    many.join(", ")
                ))),
            }
        }
    }
}

fn measure(a: &Args) -> Result<i32, ProbeError> {
    let names: Option<Vec<String>> = match target::parse_dest(&a.dst) {
        Dest::Node(n) => Some(vec![a.src.clone(), n]),
        // Whose address it is: every namespace is read.
        Dest::Addr(_) => None,
    };
    let world = World::read(names.as_deref())?;
    if world.get(&a.src).is_none() {
        return Err(ProbeError::Usage(target::unknown_node(
            &a.src,
            &world.nodes(),
        )));
    }
    let (dst, dst_addr) = resolve(&world, a)?;
    let gone = |n: &str| ProbeError::Failed(format!("namespace {n} went away"));
    let ends = Ends {
        src: &a.src,
        src_ns: world.fd(&a.src).ok_or_else(|| gone(&a.src))?,
        dst: &dst,
        dst_ns: world.fd(&dst).ok_or_else(|| gone(&dst))?,
        dst_addr,
    };
    let opts = PerfOptions {
        protocol: if a.udp { Protocol::Udp } else { Protocol::Tcp },
        duration: a.time,
        interval: a.interval,
        rate: a.rate.unwrap_or(1_000_000),
        length: a.length,
        reverse: a.reverse,
        port: a.port,
    };
    let names = Names {
        src: &a.src,
        dst: &dst,
        reverse: a.reverse,
    };
    let json = a.json;
    let r = perf::run(&ends, &opts, |e| {
        if json {
            return;
        }
        out(&match e {
            PerfEvent::Connected(c) => {
                text::header(c, opts.protocol, opts.duration.as_secs_f64(), &names)
            }
            PerfEvent::Interval(i) => text::interval(i, opts.protocol),
        });
    })?;
    let (sender_node, receiver_node) = if a.reverse {
        (dst.as_str(), a.src.as_str())
    } else {
        (a.src.as_str(), dst.as_str())
    };
    if json {
        let j = PerfJson {
            src: &a.src,
            dst: &dst,
            dst_addr,
            sender_node,
            receiver_node,
            report: &r,
        };
        out(&format!(
            "{}\n",
            serde_json::to_string_pretty(&j).unwrap_or_default()
        ));
    } else {
        out(&text::summary(&r, &names));
    }
    if r.receiver.bytes == 0 {
        super::error(format!(
            "nothing sent from {sender_node} arrived in {receiver_node}"
        ));
        return Ok(FAILED);
    }
    Ok(OK)
}
