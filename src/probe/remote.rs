//! `ping --all` over a lab split across hosts: after the local matrix, each
//! local node pings every address of the nodes on the other hosts (through
//! the tunnels). The far nodes cannot be read from here, so their addresses
//! come from the lab file, and they are destinations only.

use std::net::IpAddr;
use std::time::Duration;

use super::ProbeError;
use super::icmp::{self, IcmpSocket, PingEvent, PingOptions};
use super::outcome::{PairResult, secs};
use super::stats::{self, RttSummary};
use super::world::World;

/// Ping each of `targets` (node on another host, its addresses) from each
/// of `sources` (local nodes), `count` echo requests per address.
pub fn run(
    world: &World,
    sources: &[String],
    targets: &[(String, Vec<IpAddr>)],
    count: u32,
    timeout: Duration,
) -> Result<Vec<PairResult>, ProbeError> {
    let mut out = Vec::new();
    let opts = PingOptions {
        count: count.max(1),
        interval: Duration::from_millis(10),
        timeout,
        size: 56,
    };
    for src in sources {
        let Some(fd) = world.fd(src) else { continue };
        let mut socks: [Option<IcmpSocket>; 2] = [None, None];
        for (dst, addrs) in targets {
            for addr in addrs {
                let v6 = addr.is_ipv6();
                let slot = &mut socks[usize::from(v6)];
                if slot.is_none() {
                    *slot = Some(IcmpSocket::open_in(fd, v6).map_err(|e| {
                        ProbeError::kernel(format!("open a raw ICMP socket in {src}"), e)
                    })?);
                }
                let sock = slot.as_ref().expect("opened above");
                let mut error: Option<String> = None;
                let stats = icmp::ping(sock, *addr, &opts, |ev| {
                    if let PingEvent::Error { error: e, .. } = ev {
                        error.get_or_insert_with(|| format!("{e:?}"));
                    }
                })
                .map_err(|e| ProbeError::kernel(format!("ping {addr} from {src}"), e))?;
                let reachable = stats.received > 0;
                out.push(PairResult {
                    from: src.clone(),
                    to: dst.clone(),
                    address: *addr,
                    reachable,
                    rtt_ms: RttSummary::of(&stats.rtts_ms).map(|s| s.avg),
                    error: if reachable {
                        None
                    } else {
                        Some(stats.refused.clone().or(error).unwrap_or_else(|| {
                            format!("no reply within {} (through the tunnel)", secs(timeout))
                        }))
                    },
                    sent: stats.sent,
                    received: stats.received,
                    loss: stats::loss_percent(u64::from(stats.sent), u64::from(stats.received)),
                });
            }
        }
    }
    Ok(out)
}
