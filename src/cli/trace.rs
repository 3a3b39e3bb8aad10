//! `vnet trace SRC DST [--json] [--pcap FILE] [--mermaid]`.

use std::time::Duration;

use clap::Args as ClapArgs;

use super::ping::{parse_secs, report};
use super::{FAILED, OK, USAGE};
use crate::probe::path::Dir;
use crate::probe::target::Family;
use crate::probe::trace::{self, TraceOptions, TraceReport};
use crate::probe::world;
use crate::render::doctor::way;
use crate::render::table::table;

#[derive(ClapArgs)]
#[command(
    after_help = "Exit codes: 0 the reply came back, 1 it did not, 2 bad usage (unknown node, …)."
)]
pub struct Args {
    /// The node to send from: a namespace name, or `host`
    pub src: String,
    /// The node (its address on a subnet SRC is on, else its first) or the IP address
    pub dst: String,
    /// Seconds to wait for the reply
    #[arg(short = 'W', long, value_parser = parse_secs, default_value = "1")]
    pub timeout: Duration,
    /// IPv4 only (when DST is a node)
    #[arg(short = '4', conflicts_with = "ipv6")]
    pub ipv4: bool,
    /// IPv6 only (when DST is a node)
    #[arg(short = '6')]
    pub ipv6: bool,
    /// One JSON record per observed frame, with the way and the verdict
    #[arg(long, conflicts_with = "mermaid")]
    pub json: bool,
    /// Also write the frames as pcapng (Wireshark, tshark), interfaces named
    /// with their namespace
    #[arg(long, value_name = "FILE")]
    pub pcap: Option<std::path::PathBuf>,
    /// Print the walk as a Mermaid sequence diagram
    #[arg(long)]
    pub mermaid: bool,
}

pub(crate) fn run(a: Args) -> i32 {
    if a.timeout.is_zero() {
        super::error("-W: the timeout must be above 0");
        return USAGE;
    }
    if let Err(e) = world::require_privilege("trace") {
        return report(&e);
    }
    let opts = TraceOptions {
        timeout: a.timeout,
        family: match (a.ipv4, a.ipv6) {
            (true, _) => Some(Family::V4),
            (_, true) => Some(Family::V6),
            _ => None,
        },
        size: 56,
        cancelled: || false,
    };
    let r = match trace::trace(&a.src, &a.dst, &opts) {
        Ok(r) => r,
        Err(e) => return report(&e),
    };
    if a.json {
        // With `schema_version`: docs/doctor.schema.json, $defs/trace.
        let mut j = serde_json::json!({
            "schema_version": crate::doctor::verdict::SCHEMA_VERSION,
        });
        if let (Some(o), Ok(serde_json::Value::Object(r))) =
            (j.as_object_mut(), serde_json::to_value(&r))
        {
            o.extend(r);
        }
        crate::outln!("{}", serde_json::to_string_pretty(&j).unwrap_or_default());
    } else if a.mermaid {
        crate::out!("{}", r.mermaid());
    } else {
        crate::out!("{}", render(&r));
        if let Some(line) = far_host(&r) {
            crate::outln!("{line}");
        }
    }
    if let Some(path) = &a.pcap {
        if let Err(e) = std::fs::write(path, r.pcapng()) {
            super::error(format!("cannot write {}: {e}", path.display()));
            return FAILED;
        }
        if !a.json && !a.mermaid {
            crate::outln!(
                "wrote {} frames on {} interfaces to {}",
                r.frames.len(),
                r.taps.len(),
                path.display()
            );
        }
    }
    if r.answered { OK } else { FAILED }
}

/// When the way leaves through a tunnel of a split lab: which host the
/// rest of it is on, and how to follow it there.
fn far_host(r: &TraceReport) -> Option<String> {
    let crate::probe::path::End::Unknown { why, .. } = &r.path.end else {
        return None;
    };
    if !why.starts_with(crate::probe::path::TUNNEL_END) {
        return None;
    }
    let addr: std::net::IpAddr = why.rsplit(' ').next()?.parse().ok()?;
    let (lab, host) = crate::engine::hosts::host_at(addr)?;
    Some(format!(
        "the rest of the way is on host {host} of lab {lab} ({addr}): run `vnet trace` there, from the node at the tunnel's far end"
    ))
}

pub(crate) fn render(r: &TraceReport) -> String {
    let mut out = String::new();
    let name = r
        .dst_node
        .as_ref()
        .map(|n| format!(" ({n})"))
        .unwrap_or_default();
    let mut nss: Vec<&str> = Vec::new();
    for t in &r.taps {
        if !nss.contains(&t.ns.as_str()) {
            nss.push(&t.ns);
        }
    }
    out.push_str(&format!(
        "trace {} → {}{name}: listening on {} interface{} in {}\n",
        r.src,
        r.dst,
        r.taps.len(),
        if r.taps.len() == 1 { "" } else { "s" },
        nss.join(", ")
    ));
    out.push_str(&format!("way there: {}\n", way(&r.path)));
    if !r.back.points.is_empty() {
        out.push_str(&format!("way back:  {}\n", way(&r.back)));
    }
    if let Some(n) = &r.neighbour {
        out.push_str(&format!("note: {n}\n"));
    }
    // Copies a bridge flooded to ports off the way are summed up, not listed.
    let on_way = |s: &crate::probe::walk::Step| {
        r.path
            .points
            .iter()
            .chain(&r.back.points)
            .any(|p| p.ns == s.ns && p.iface == s.iface && p.dir == s.dir)
    };
    let off_way = |s: &&crate::probe::walk::Step| {
        let flood_copy = s.dir == Dir::Out
            && r.taps
                .iter()
                .any(|t| t.ns == s.ns && t.iface == s.iface && t.port_of.is_some());
        flood_copy && !on_way(s)
    };
    let hidden = r.frames.iter().filter(off_way).count();
    let rows: Vec<Vec<String>> = r
        .frames
        .iter()
        .filter(|s| !off_way(s))
        .map(|s| {
            vec![
                format!("{:.3} ms", s.t_ms),
                s.ns.clone(),
                s.iface.clone(),
                s.dir.as_str().to_string(),
                s.summary.clone(),
                format!("{} → {}", s.frame.src_mac, s.frame.dst_mac),
                s.bridge.as_ref().map(|b| b.describe()).unwrap_or_default(),
            ]
        })
        .collect();
    if rows.is_empty() {
        out.push_str("no frame of the probe was seen\n");
    } else {
        out.push_str(&table(
            &["TIME", "NODE", "INTERFACE", "DIR", "FRAME", "MAC", "BRIDGE"],
            &rows,
        ));
    }
    if hidden > 0 {
        out.push_str(&format!(
            "(and {hidden} copies flooded out of bridge ports off the way: --json and --pcap list every frame)\n"
        ));
    }
    match (r.answered, &r.rtt_ms) {
        (true, Some(rtt)) => out.push_str(&format!(
            "reply from {} after {rtt:.3} ms; {} frames seen\n",
            r.dst,
            r.frames.len()
        )),
        (true, None) => out.push_str("reply received\n"),
        (false, _) => {
            if let Some(e) = &r.error {
                out.push_str(&format!("no reply: {e}\n"));
            } else {
                out.push_str(&format!(
                    "no reply within {}\n",
                    crate::probe::outcome::secs(std::time::Duration::from_secs_f64(
                        r.timeout_ms / 1e3
                    ))
                ));
            }
            if let Some(l) = &r.loss {
                out.push_str(&format!("{}\n", l.text));
            }
        }
    }
    out
}
