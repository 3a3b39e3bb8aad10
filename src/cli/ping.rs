//! `vnet ping SRC DST` and `vnet ping --all [LAB]`.

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::time::Duration;

use clap::Args as ClapArgs;
use serde::Serialize;

use super::{FAILED, OK, USAGE, load};
use crate::engine::{record, scan};
use crate::kernel::netns;
use crate::kernel::session::Session;
use crate::model::lab::{Expectation, HOST};
use crate::probe::ProbeError;
use crate::probe::icmp::{self, IcmpSocket, PingEvent, PingOptions, PingStats};
use crate::probe::matrix::{self, MatrixOptions};
use crate::probe::outcome::{self, MatrixJson, secs};
use crate::probe::stats::{self, RttSummary};
use crate::probe::target::{self, Dest, Family};
use crate::probe::trace::family_note;
use crate::probe::world::{self, World};

#[derive(ClapArgs)]
#[command(
    after_help = "Exit codes: 0 a reply came (with --all: every pair answered, or the expectations held), 1 none did, 2 bad usage (unknown node, …)."
)]
pub struct Args {
    /// The node to ping from: a namespace name, or `host`
    #[arg(required_unless_present = "all")]
    pub src: Option<String>,
    /// The node (its address on a subnet SRC is on, else its first) or the IP address to ping
    #[arg(required_unless_present = "all")]
    pub dst: Option<String>,
    /// Every node pings every address of every other node: the nodes of LAB (a lab file or name), or with no LAB every named namespace
    #[arg(long, value_name = "LAB", num_args = 0..=1, default_missing_value = "", conflicts_with_all = ["src", "dst"])]
    pub all: Option<String>,
    /// Echo requests to send [default: 3]; with --all, per pair and address [default: 1], and each pair's loss is shown
    #[arg(short = 'c', long)]
    pub count: Option<u32>,
    /// Seconds between requests [default: 1]
    #[arg(short = 'i', long, value_parser = parse_secs, conflicts_with = "all")]
    pub interval: Option<Duration>,
    /// Seconds to wait for each reply
    #[arg(short = 'W', long, value_parser = parse_secs, default_value = "1")]
    pub timeout: Duration,
    /// Payload bytes per request [default: 56]
    #[arg(short = 's', long, conflicts_with = "all")]
    pub size: Option<usize>,
    /// IPv4 only (when DST is a node)
    #[arg(short = '4', conflicts_with = "ipv6")]
    pub ipv4: bool,
    /// IPv6 only (when DST is a node)
    #[arg(short = '6')]
    pub ipv6: bool,
    /// With --all: pairs that must (or must not) reach each other, a YAML list of `{ from, to, reach }`; the exit code says whether they held
    #[arg(long, value_name = "FILE", requires = "all")]
    pub expect: Option<String>,
    /// With --all: use at most N neighbour (ARP/NDP) entries at once
    #[arg(long, value_name = "N", requires = "all")]
    pub max_neigh: Option<usize>,
    /// With --all: probe the service tcp/PORT instead of pinging (a TCP connection per pair); each failed pair gets the doctor's disposition code
    #[arg(long, value_name = "PORT", requires = "all", conflicts_with_all = ["udp", "expect", "count"])]
    pub tcp: Option<u16>,
    /// With --all: probe the service udp/PORT (a datagram per pair, and any ICMP error it draws)
    #[arg(long, value_name = "PORT", requires = "all", conflicts_with_all = ["expect", "count"])]
    pub udp: Option<u16>,
    /// With --all on a lab split over hosts: this host's name (default: the host whose underlay address is on this machine); its nodes ping every address of the lab, those on other hosts included
    #[arg(long, value_name = "NAME", requires = "all")]
    pub host: Option<String>,
    /// Machine-readable output
    #[arg(long)]
    pub json: bool,
}

/// Seconds: `1`, `0.2`, `1.5s`, `200ms`.
pub(crate) fn parse_secs(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    let (num, scale) = if let Some(v) = t.strip_suffix("ms") {
        (v, 1e-3)
    } else if let Some(v) = t.strip_suffix('s') {
        (v, 1.0)
    } else {
        (t, 1.0)
    };
    let v: f64 = num
        .trim()
        .parse()
        .map_err(|_| format!("`{s}` is not a duration (seconds: 1, 0.5, 200ms)"))?;
    let v = v * scale;
    if !(0.0..=3600.0).contains(&v) {
        return Err(format!("`{s}`: between 0 and 3600 seconds"));
    }
    Ok(Duration::from_secs_f64(v))
}

fn family(a: &Args) -> Option<Family> {
    match (a.ipv4, a.ipv6) {
        (true, _) => Some(Family::V4),
        (_, true) => Some(Family::V6),
        _ => None,
    }
}

/// Print a probe error; its exit code.
pub(crate) fn report(e: &ProbeError) -> i32 {
    super::error(e);
    match e {
        ProbeError::Usage(_) => USAGE,
        _ => FAILED,
    }
}

pub(crate) fn run(a: Args) -> i32 {
    if a.timeout.is_zero() {
        super::error("-W: the timeout must be above 0");
        return USAGE;
    }
    if a.count == Some(0) {
        super::error("-c: send at least one request");
        return USAGE;
    }
    if let Some(lab) = &a.all {
        return all(&a, lab);
    }
    let (Some(src), Some(dst)) = (&a.src, &a.dst) else {
        super::error("give SRC and DST, or --all");
        return USAGE;
    };
    let opts = PingOptions {
        count: a.count.unwrap_or(3),
        interval: a.interval.unwrap_or(Duration::from_secs(1)),
        timeout: a.timeout,
        size: a.size.unwrap_or(56),
    };
    if opts.interval < Duration::from_millis(1) {
        super::error("-i: the interval is at least 0.001 s");
        return USAGE;
    }
    if opts.size > 65_000 {
        super::error("-s: at most 65000 bytes of payload");
        return USAGE;
    }
    if let Err(e) = world::require_privilege("ping") {
        return report(&e);
    }
    match single(src, dst, family(&a), &opts, a.json) {
        Ok(code) => code,
        Err(e) => report(&e),
    }
}

#[derive(Serialize)]
struct PingJson<'a> {
    src: &'a str,
    dst: IpAddr,
    dst_node: Option<&'a str>,
    events: Vec<PingEvent>,
    stats: &'a PingStats,
    loss_percent: f64,
    rtt_min_ms: Option<f64>,
    rtt_avg_ms: Option<f64>,
    rtt_max_ms: Option<f64>,
    rtt_mdev_ms: Option<f64>,
}

fn single(
    src: &str,
    dst: &str,
    fam: Option<Family>,
    opts: &PingOptions,
    json: bool,
) -> Result<i32, ProbeError> {
    let dest = target::parse_dest(dst);
    let mut names = vec![src.to_string()];
    if let Dest::Node(n) = &dest {
        names.push(n.clone());
    }
    let world = World::read(Some(&names))?;
    let Some(src_ns) = world.get(src) else {
        return Err(ProbeError::Usage(target::unknown_node(src, &world.nodes())));
    };
    let (ip, node) = match &dest {
        Dest::Addr(ip) => (*ip, None),
        Dest::Node(n) => {
            let d = world
                .get(n)
                .ok_or_else(|| ProbeError::Usage(target::unknown_node(n, &world.nodes())))?;
            match target::pick_addr(src_ns, d, fam) {
                Some(ip) => (ip, Some(n.as_str())),
                None => {
                    return Err(ProbeError::Failed(format!(
                        "node {n} has no address to ping{}",
                        family_note(fam)
                    )));
                }
            }
        }
    };
    if fam.is_some_and(|f| !f.matches(&ip)) {
        return Err(ProbeError::Usage(format!(
            "{ip} is not an address of the family asked for"
        )));
    }
    let fd = world
        .fd(src)
        .ok_or_else(|| ProbeError::Failed(format!("namespace {src} went away")))?;
    let sock = IcmpSocket::open_in(fd, ip.is_ipv6())
        .map_err(|e| ProbeError::kernel(format!("open a raw ICMP socket in {src}"), e))?;
    if !json {
        let name = node.map(|n| format!(" ({n})")).unwrap_or_default();
        crate::outln!("PING {ip}{name} from {src}: {} data bytes", opts.size);
    }
    let mut events = Vec::new();
    let timeout = opts.timeout;
    let stats = icmp::ping(&sock, ip, opts, |e| {
        if !json {
            match e {
                PingEvent::Reply {
                    seq,
                    from,
                    bytes,
                    ttl,
                    rtt_ms,
                } => {
                    let ttl = ttl.map(|t| format!(" ttl={t}")).unwrap_or_default();
                    crate::outln!(
                        "{bytes} bytes from {from}: icmp_seq={seq}{ttl} time={rtt_ms:.3} ms"
                    );
                }
                PingEvent::Error { seq, error } => {
                    crate::outln!("From {} icmp_seq={seq} {}", error.from, error.what);
                }
                PingEvent::Lost { seq } => {
                    crate::outln!("no reply to icmp_seq={seq} within {}", secs(timeout));
                }
            }
        }
        events.push(e.clone());
    })
    .map_err(|e| ProbeError::kernel("ping", e))?;
    let loss = stats::loss_percent(u64::from(stats.sent), u64::from(stats.received));
    let rtt = RttSummary::of(&stats.rtts_ms);
    if json {
        let j = PingJson {
            src,
            dst: ip,
            dst_node: node,
            events,
            stats: &stats,
            loss_percent: loss,
            rtt_min_ms: rtt.map(|r| r.min),
            rtt_avg_ms: rtt.map(|r| r.avg),
            rtt_max_ms: rtt.map(|r| r.max),
            rtt_mdev_ms: rtt.map(|r| r.mdev),
        };
        crate::outln!("{}", serde_json::to_string_pretty(&j).unwrap_or_default());
    } else {
        if let Some(why) = &stats.refused {
            super::error(format!("{src} cannot send to {ip}: {why}"));
        }
        crate::outln!();
        crate::outln!("--- {src} → {ip} ping statistics ---");
        let errors = if stats.errors > 0 {
            format!(", +{} errors", stats.errors)
        } else {
            String::new()
        };
        crate::outln!(
            "{} packets transmitted, {} received{errors}, {}% packet loss, time {:.0}ms",
            stats.sent,
            stats.received,
            stats::g(loss),
            stats.elapsed_ms
        );
        if let Some(r) = rtt {
            crate::outln!("{}", r.line());
        }
    }
    Ok(if stats.received > 0 { OK } else { FAILED })
}

/// The nodes of `--all LAB` and the expectations that come with them.
type Remote = Vec<(String, Vec<std::net::IpAddr>)>;

/// A split lab's nodes on this host, and the addresses of those on others.
fn split(lab: &mut crate::model::Lab, host: Option<&str>) -> Result<(Vec<String>, Remote), i32> {
    if let Err(e) = crate::engine::hosts::choose(lab, host, true) {
        super::error(e);
        return Err(USAGE);
    }
    let nodes = lab
        .netns_nodes()
        .filter(|(n, _)| crate::model::hosts::is_local(lab, n))
        .map(|(n, _)| n.to_string())
        .collect();
    Ok((nodes, crate::model::hosts::remote_addresses(lab)))
}

fn lab_nodes(
    lab: &str,
    host: Option<&str>,
) -> Result<(String, Vec<String>, Vec<Expectation>, Remote), i32> {
    if lab.is_empty() {
        return Ok((
            "every named namespace".into(),
            netns::list_named(),
            Vec::new(),
            Vec::new(),
        ));
    }
    // A file's nodes are its namespaces; a name's are those carrying its mark.
    if let load::LabArg::File(mut l) = load::lab_arg(lab)? {
        let (nodes, remote) = split(&mut l.lab, host)?;
        let mut present: BTreeSet<String> = netns::list_named().into_iter().collect();
        present.extend(crate::kernel::external::known_names());
        let missing: Vec<&str> = nodes
            .iter()
            .filter(|n| !present.contains(*n))
            .map(String::as_str)
            .collect();
        if !missing.is_empty() {
            super::error(format!(
                "lab {} is not up: no namespace {} (run: sudo vnet up {lab})",
                l.lab.name,
                missing.join(", ")
            ));
            return Err(FAILED);
        }
        let expect = local_expectations(&l.lab);
        return Ok((format!("lab {}", l.lab.name), nodes, expect, remote));
    }
    let mut session = match Session::new() {
        Ok(s) => s,
        Err(e) => {
            super::error(format!("open netlink: {e}"));
            return Err(FAILED);
        }
    };
    let marks = match scan::namespaces(&mut session) {
        Ok(m) => m,
        Err(e) => {
            super::error(format!("scan /run/netns: {e}"));
            return Err(FAILED);
        }
    };
    let mut nodes: Vec<String> = marks
        .iter()
        .filter(|m| m.lab.as_deref() == Some(lab))
        .map(|m| m.name.clone())
        .collect();
    // Its external nodes, from its record.
    nodes.extend(
        record::load(lab)
            .into_iter()
            .flat_map(|r| r.external.into_keys()),
    );
    if nodes.is_empty() {
        let labs: BTreeSet<&str> = marks.iter().filter_map(|m| m.lab.as_deref()).collect();
        super::error(format!(
            "no lab named {lab} is up (labs up: {})",
            if labs.is_empty() {
                "none".to_string()
            } else {
                labs.into_iter().collect::<Vec<_>>().join(", ")
            }
        ));
        return Err(USAGE);
    }
    // The recorded file's order and expectations, when vnet brought the lab up.
    let rec = record::load(lab);
    let recorded = rec.as_ref().and_then(|r| {
        let mut l =
            crate::model::parse_lab(r.file.as_deref().unwrap_or("recorded"), r.text.as_deref()?)
                .ok()?;
        l.hosts.here = r.host.clone();
        Some(l)
    });
    let remote = recorded
        .as_ref()
        .map(crate::model::hosts::remote_addresses)
        .unwrap_or_default();
    let order: Vec<&str> = recorded
        .as_ref()
        .map(|l| l.netns_nodes().map(|(n, _)| n).collect())
        .unwrap_or_default();
    nodes.sort_by(|a, b| {
        let pos = |n: &str| order.iter().position(|o| *o == n).unwrap_or(usize::MAX);
        pos(a).cmp(&pos(b)).then_with(|| target::natural_cmp(a, b))
    });
    let expect = recorded
        .as_ref()
        .map(local_expectations)
        .unwrap_or_default();
    Ok((format!("lab {lab}"), nodes, expect, remote))
}

/// Expectations between nodes of this host (a split lab's others are
/// checked from the host their source is on).
fn local_expectations(lab: &crate::model::Lab) -> Vec<Expectation> {
    lab.expect
        .iter()
        .filter(|e| {
            [&e.from, &e.to]
                .iter()
                .all(|n| *n == HOST || crate::model::hosts::is_local(lab, n))
        })
        .cloned()
        .collect()
}

fn all(a: &Args, lab: &str) -> i32 {
    if let Err(e) = world::require_privilege("ping --all") {
        return report(&e);
    }
    let (what, mut nodes, mut expect, remote) = match lab_nodes(lab, a.host.as_deref()) {
        Ok(x) => x,
        Err(code) => return code,
    };
    if let Some(path) = &a.expect {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) => {
                super::error(format!("cannot read {path}: {e}"));
                return USAGE;
            }
        };
        match outcome::parse_expect(&text) {
            Ok(e) => expect.extend(e),
            Err(e) => {
                super::error(format!("{path}: {e}"));
                return USAGE;
            }
        }
    }
    // `host` takes part only when an expectation names it.
    if expect.iter().any(|e| e.from == HOST || e.to == HOST) && !nodes.iter().any(|n| n == HOST) {
        nodes.insert(0, HOST.to_string());
    }
    for e in &expect {
        for n in [&e.from, &e.to] {
            if !nodes.contains(n) {
                super::error(format!(
                    "expectation {} → {}: {}",
                    e.from,
                    e.to,
                    target::unknown_node(n, &nodes)
                ));
                return USAGE;
            }
        }
    }
    if nodes.len() + remote.len() < 2 {
        super::error(format!(
            "{what} has {} node{}: nothing to ping",
            nodes.len(),
            if nodes.len() == 1 { "" } else { "s" }
        ));
        return FAILED;
    }
    if let Some(svc) = service(a) {
        return service_matrix(a, &nodes, svc);
    }
    let mut world = match World::read(Some(&nodes)) {
        Ok(w) => w,
        Err(e) => return report(&e),
    };
    // A lab's external nodes are probed at the lab's addresses only.
    if let Some(name) = what.strip_prefix("lab ") {
        crate::engine::external::lab_addresses_only(name, &mut world.ns);
    }
    let opts = MatrixOptions {
        timeout: a.timeout,
        max_neigh: a.max_neigh,
        count: a.count.unwrap_or(1),
    };
    let mut m = if nodes.len() > 1 {
        match matrix::run(&mut world, &nodes, &opts) {
            Ok(m) => m,
            Err(e) => return report(&e),
        }
    } else {
        crate::probe::outcome::MatrixReport {
            nodes: nodes.clone(),
            count: opts.count.max(1),
            ..Default::default()
        }
    };
    if !remote.is_empty() {
        match crate::probe::remote::run(&world, &nodes, &remote, opts.count, a.timeout) {
            Ok(pairs) => {
                m.nodes.extend(remote.iter().map(|(n, _)| n.clone()));
                m.pairs.extend(pairs);
            }
            Err(e) => return report(&e),
        }
    }
    let checked = outcome::check(&expect, &m);
    let ok = if expect.is_empty() {
        m.all_answered()
    } else {
        checked.iter().all(|c| c.held)
    };
    if a.json {
        let j = MatrixJson::new(&m, &checked, ok);
        crate::outln!("{}", serde_json::to_string_pretty(&j).unwrap_or_default());
    } else {
        crate::out!("{}", crate::render::matrix::render(&m, &checked, a.timeout));
    }
    if ok { OK } else { FAILED }
}

/// `--tcp PORT` / `--udp PORT`.
fn service(a: &Args) -> Option<crate::probe::service::Service> {
    use crate::probe::service::{Proto, Service};
    match (a.tcp, a.udp) {
        (Some(port), _) => Some(Service {
            proto: Proto::Tcp,
            port,
        }),
        (_, Some(port)) => Some(Service {
            proto: Proto::Udp,
            port,
        }),
        _ => None,
    }
}

/// The matrix of a service: each pair's disposition code.
fn service_matrix(a: &Args, nodes: &[String], svc: crate::probe::service::Service) -> i32 {
    if svc.port == 0 {
        super::error("--tcp/--udp: a port is a number from 1 to 65535");
        return USAGE;
    }
    super::signals::catch();
    let m = match crate::doctor::matrix::run(
        nodes,
        svc,
        family(a),
        a.timeout,
        super::signals::cancelled,
    ) {
        Ok(m) => m,
        Err(e) => {
            if super::signals::cancelled() {
                super::error("interrupted");
                return 130;
            }
            return report(&e);
        }
    };
    if a.json {
        crate::outln!("{}", serde_json::to_string_pretty(&m).unwrap_or_default());
    } else {
        crate::out!("{}", crate::doctor::matrix::render(&m));
    }
    if m.delivered() == m.pairs.len() {
        OK
    } else {
        FAILED
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_like_ping() {
        assert_eq!(parse_secs("1").unwrap(), Duration::from_secs(1));
        assert_eq!(parse_secs("0.2").unwrap(), Duration::from_millis(200));
        assert_eq!(parse_secs("200ms").unwrap(), Duration::from_millis(200));
        assert_eq!(parse_secs("1.5s").unwrap(), Duration::from_millis(1500));
        assert!(parse_secs("-1").is_err());
        assert!(parse_secs("soon").is_err());
        assert!(parse_secs("1e9").is_err());
    }
}
