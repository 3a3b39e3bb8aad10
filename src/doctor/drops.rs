//! The kernel's own drop records, read from a tracefs instance (pure): the
//! text of `skb:kfree_skb`, `net:net_dev_queue` and `net:netif_receive_skb`
//! events is parsed, the probe's packets are followed by their buffer
//! address from interface to interface along the expected way, and each
//! drop is tied to the place it happened: the namespace, the interface the
//! packet was last seen on, and the one it was due at next.
//!
//! The probe is told apart from other traffic by its length (the doctor
//! sends an unusual payload size) and by the interfaces it crosses, from the
//! first, in exactly the order the way predicts.

use std::collections::HashMap;

use serde::Serialize;

use super::case::Direction;
use super::way::Way;
use crate::probe::path::{Dir, Point};

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// Handed to an interface to send (net_dev_queue).
    Queue { dev: String, skb: String, len: u32 },
    /// Received by an interface (netif_receive_skb).
    Receive { dev: String, skb: String, len: u32 },
    /// Freed as dropped (kfree_skb).
    Free {
        skb: String,
        protocol: u32,
        location: String,
        reason: String,
    },
}

/// An event and when it happened (seconds on the trace clock).
#[derive(Clone, Debug, PartialEq)]
pub struct Record {
    pub ts: f64,
    pub event: Event,
}

/// A drop comes right after the packet's last event (the same call chain:
/// a hook, a queue, a peer's MTU check); later, its buffer may be another
/// packet's.
const DROP_WINDOW: f64 = 0.02;

/// The drop reason names from the kfree_skb event's format file:
/// `__print_symbolic(REC->reason, { 2, "NOT_SPECIFIED" }, …)`.
pub fn reason_names(format: &str) -> HashMap<u32, String> {
    let mut out = HashMap::new();
    let Some(start) = format.find("__print_symbolic(REC->reason") else {
        return out;
    };
    let mut rest = &format[start..];
    while let Some(open) = rest.find('{') {
        rest = &rest[open + 1..];
        let Some(close) = rest.find('}') else { break };
        let item = &rest[..close];
        if let Some((num, name)) = item.split_once(',')
            && let Ok(n) = num.trim().parse::<u32>()
        {
            out.insert(n, name.trim().trim_matches('"').to_string());
        }
        rest = &rest[close + 1..];
    }
    out
}

fn field<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    text.split_whitespace()
        .find_map(|w| w.strip_prefix(key)?.strip_prefix('='))
}

/// One line of trace text, when it is one of the three events.
pub fn parse_line(line: &str, reasons: &HashMap<u32, String>) -> Option<Record> {
    let event = parse_event(line, reasons)?;
    // "… [000] ..s1.   266.102171: netif_receive_skb: …"
    let ts = line
        .split(": ")
        .next()
        .and_then(|head| head.split_whitespace().last())
        .and_then(|t| t.parse().ok())
        .unwrap_or(0.0);
    Some(Record { ts, event })
}

fn parse_event(line: &str, reasons: &HashMap<u32, String>) -> Option<Event> {
    for (name, kind) in [
        (" net_dev_queue: ", 0),
        (" netif_receive_skb: ", 1),
        (" kfree_skb: ", 2),
    ] {
        let Some(at) = line.find(name) else { continue };
        let rest = &line[at + name.len()..];
        let skb = field(rest, "skbaddr")?.to_string();
        return Some(match kind {
            0 | 1 => {
                let dev = field(rest, "dev")?.to_string();
                let len = field(rest, "len")?.parse().ok()?;
                if kind == 0 {
                    Event::Queue { dev, skb, len }
                } else {
                    Event::Receive { dev, skb, len }
                }
            }
            _ => {
                let location = field(rest, "location")
                    .map(|l| l.split('+').next().unwrap_or(l).to_string())
                    .unwrap_or_default();
                let reason = rest
                    .split("reason: ")
                    .nth(1)
                    .map(|r| r.trim().to_string())
                    .unwrap_or_default();
                // Older kernels print the number; the format file names it.
                let reason = match reason.parse::<u32>() {
                    Ok(n) => reasons.get(&n).cloned().unwrap_or(reason),
                    Err(_) => reason,
                };
                Event::Free {
                    skb,
                    protocol: field(rest, "protocol")?.parse().ok()?,
                    location,
                    reason,
                }
            }
        });
    }
    None
}

/// A drop of the probe, tied to its place.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Drop {
    pub dir: Direction,
    /// The namespace it happened in.
    pub ns: String,
    /// Where the packet was last seen, and where it was due next.
    pub after: Point,
    pub next: Option<Point>,
    /// SKB_DROP_REASON_* without the prefix, e.g. NETFILTER_DROP.
    pub reason: String,
    /// The kernel function that dropped it, e.g. nft_do_chain.
    pub location: String,
}

impl Drop {
    /// "the echo request was dropped in host by netfilter (NETFILTER_DROP at
    /// nft_do_chain) while br0 bridged it from br0-veth0 to br0-veth1".
    pub fn text(&self) -> String {
        let by = super::reasons::by(&self.reason);
        let what = format!("{} ({} at {})", by, self.reason, self.location);
        let place = match (&self.after.bridge, self.after.dir, &self.next) {
            (Some(b), Dir::In, Some(n)) if n.bridge.as_ref() == Some(b) => format!(
                "while {b} bridged it from {} to {}",
                self.after.iface, n.iface
            ),
            (Some(b), Dir::In, _) => format!("after it entered bridge {b} on {}", self.after.iface),
            (_, Dir::In, _) => format!("after it arrived on {}", self.after.iface),
            (_, Dir::Out, Some(n)) => format!(
                "after it left {}, before it reached {}:{}",
                self.after.iface, n.ns, n.iface
            ),
            (_, Dir::Out, None) => format!("after it left {}", self.after.iface),
        };
        format!(
            "{} was dropped in {} {what} {place}",
            self.dir.packet(),
            self.ns
        )
    }
}

/// Follow the probe's packets (IP length `l3_len`) through the events and
/// return where each was dropped.
pub fn correlate(records: &[Record], l3_len: u32, fwd: &Way, back: &Way) -> Vec<Drop> {
    let ways = [(fwd, Direction::There), (back, Direction::Back)];
    let lens = [l3_len, l3_len + 14];
    // Buffer address → (which way, index of the last point matched, when).
    let mut chains: HashMap<&str, (usize, usize, f64)> = HashMap::new();
    let mut out = Vec::new();
    let matches = |p: &Point, dev: &str, dir: Dir| p.iface == dev && p.dir == dir;
    for Record { ts, event: e } in records {
        let (dev, skb, len, dir) = match e {
            Event::Queue { dev, skb, len } => (dev, skb, len, Dir::Out),
            Event::Receive { dev, skb, len } => (dev, skb, len, Dir::In),
            Event::Free {
                skb,
                location,
                reason,
                ..
            } => {
                if let Some((w, i, last)) = chains.remove(skb.as_str())
                    && ts - last <= DROP_WINDOW
                {
                    let (way, d) = ways[w];
                    let pts = &way.path.points;
                    if let Some(after) = pts.get(i) {
                        out.push(Drop {
                            dir: d,
                            ns: after.ns.clone(),
                            after: after.clone(),
                            next: pts.get(i + 1).cloned(),
                            reason: reason.clone(),
                            location: location.clone(),
                        });
                    }
                }
                continue;
            }
        };
        if !lens.contains(len) {
            continue;
        }
        // Interface names repeat across namespaces (eth0 everywhere), and
        // events do not say which namespace: a packet is followed only from
        // where its way starts, one expected interface after the other. An
        // event elsewhere means it left the way (a flood copy, another
        // namespace's eth0): it is no longer ours to blame.
        if let Some((w, i, _)) = chains.get(skb.as_str()).copied() {
            let pts = &ways[w].0.path.points;
            if pts.get(i + 1).is_some_and(|p| matches(p, dev, dir)) {
                chains.insert(skb.as_str(), (w, i + 1, *ts));
            } else {
                chains.remove(skb.as_str());
            }
            continue;
        }
        let start = ways.iter().enumerate().find_map(|(w, (way, _))| {
            way.path
                .points
                .first()
                .filter(|p| matches(p, dev, dir))
                .map(|_| (w, 0, *ts))
        });
        if let Some(s) = start {
            chains.insert(skb.as_str(), s);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::path::tests::{seed_bridge, topo};
    use std::net::IpAddr;

    const FORMAT: &str = r#"print fmt: "skbaddr=%p rx_sk=%p protocol=%u location=%pS reason: %s", REC->skbaddr, REC->rx_sk, REC->protocol, REC->location, __print_symbolic(REC->reason, { 2, "NOT_SPECIFIED" }, { 3, "NO_SOCKET" }, { 12, "NETFILTER_DROP" }, { 128, "MAX" })"#;

    /// Trace text from a real run: the seed's bridge network with
    /// `iptables -P FORWARD DROP` and br_netfilter; a 61-byte payload
    /// (89 bytes of IP), other traffic around it.
    const TRACE: &str = "# tracer: nop
    kworker/u8:0-12      [000] b....   266.098123: net_dev_queue: dev=br0-veth65 skbaddr=00000000385f6483 len=86
            ping-12329   [000] bN...   266.102167: net_dev_queue: dev=veth0 skbaddr=00000000109f6db9 len=42
            ping-12329   [000] .Ns1.   266.102171: netif_receive_skb: dev=br0-veth0 skbaddr=00000000109f6db9 len=28
            ping-12329   [000] bNs1.   266.102190: net_dev_queue: dev=veth0 skbaddr=00000000385f6483 len=103
            ping-12329   [000] .Ns1.   266.102191: netif_receive_skb: dev=br0-veth0 skbaddr=00000000385f6483 len=89
            ping-12329   [000] .Ns1.   266.102195: kfree_skb: skbaddr=00000000385f6483 rx_sk=0000000000000000 protocol=2048 location=nft_do_chain+0x5ad/0x610 reason: NETFILTER_DROP
     kworker/0:1-11      [000] b....   266.102371: net_dev_queue: dev=br0-veth118 skbaddr=00000000385f6483 len=90
     kworker/0:1-11      [000] ..s1.   266.102373: kfree_skb: skbaddr=00000000ee936b8a rx_sk=0000000000000000 protocol=2048 location=veth_xmit+0x1/0x2 reason: 2
";

    #[test]
    fn reason_names_come_from_the_format_file() {
        let r = reason_names(FORMAT);
        assert_eq!(r.get(&12).map(String::as_str), Some("NETFILTER_DROP"));
        assert_eq!(r.get(&128).map(String::as_str), Some("MAX"));
        assert!(reason_names("nonsense {").is_empty());
        let e = parse_line(TRACE.lines().last().unwrap(), &r).unwrap();
        assert!(matches!(e.event, Event::Free { ref reason, .. } if reason == "NOT_SPECIFIED"));
        assert_eq!(e.ts, 266.102373);
        assert_eq!(parse_line("garbage net_dev_queue: dev=", &r), None);
    }

    #[test]
    fn a_drop_is_tied_to_the_bridge_it_happened_in() {
        let all = seed_bridge();
        let t = topo(&all);
        let dst: IpAddr = "192.168.1.2".parse().unwrap();
        let fwd = Way::new(t.path("ns1", dst), Some(dst));
        let src: IpAddr = "192.168.1.1".parse().unwrap();
        let back = Way::new(t.path("ns2", src), Some(src));
        let r = reason_names(FORMAT);
        let events: Vec<Record> = TRACE.lines().filter_map(|l| parse_line(l, &r)).collect();
        assert_eq!(events.len(), 8);
        let drops = correlate(&events, 89, &fwd, &back);
        assert_eq!(drops.len(), 1, "{drops:?}");
        let d = &drops[0];
        assert_eq!(d.ns, "host");
        assert_eq!(d.reason, "NETFILTER_DROP");
        assert_eq!(d.location, "nft_do_chain");
        assert_eq!(
            d.text(),
            "the echo request was dropped in host by netfilter (NETFILTER_DROP at nft_do_chain) while br0 bridged it from br0-veth0 to br0-veth1"
        );
        // Another size: nothing of it is ours.
        assert!(correlate(&events, 90, &fwd, &back).is_empty());
    }

    #[test]
    fn a_packet_that_leaves_the_way_is_not_blamed_on_it() {
        let all = seed_bridge();
        let t = topo(&all);
        let dst: IpAddr = "192.168.1.2".parse().unwrap();
        let fwd = Way::new(t.path("ns1", dst), Some(dst));
        let back = Way::none();
        let r = reason_names(FORMAT);
        // Flooded to br0-veth3 (off the way) and dropped in ns3 as OTHERHOST;
        // ns3's interface is named like ns2's.
        let trace = "\
 x-1 [000] ..... 1.000001: net_dev_queue: dev=veth0 skbaddr=0000000000000001 len=103
 x-1 [000] ..... 1.000002: netif_receive_skb: dev=br0-veth0 skbaddr=0000000000000001 len=89
 x-1 [000] ..... 1.000003: net_dev_queue: dev=br0-veth3 skbaddr=0000000000000001 len=103
 x-1 [000] ..... 1.000004: netif_receive_skb: dev=veth1 skbaddr=0000000000000001 len=89
 x-1 [000] ..... 1.000005: kfree_skb: skbaddr=0000000000000001 rx_sk=0000000000000000 protocol=2048 location=ip_rcv_core+0x1/0x2 reason: OTHERHOST
 x-1 [000] ..... 1.000006: netif_receive_skb: dev=veth1 skbaddr=0000000000000002 len=89
 x-1 [000] ..... 1.000007: kfree_skb: skbaddr=0000000000000002 rx_sk=0000000000000000 protocol=2048 location=ip_rcv_core+0x1/0x2 reason: OTHERHOST
";
        let events: Vec<Record> = trace.lines().filter_map(|l| parse_line(l, &r)).collect();
        assert_eq!(events.len(), 7);
        assert!(correlate(&events, 89, &fwd, &back).is_empty());
    }

    #[test]
    fn a_buffer_freed_long_after_delivery_is_someone_else_s() {
        let all = seed_bridge();
        let t = topo(&all);
        let dst: IpAddr = "192.168.1.2".parse().unwrap();
        let fwd = Way::new(t.path("ns1", dst), Some(dst));
        let r = reason_names(FORMAT);
        let walk = |free_at: &str| {
            format!(
                "\
 x-1 [000] ..... 1.000001: net_dev_queue: dev=veth0 skbaddr=01 len=103
 x-1 [000] ..... 1.000002: netif_receive_skb: dev=br0-veth0 skbaddr=01 len=89
 x-1 [000] ..... 1.000003: net_dev_queue: dev=br0-veth1 skbaddr=01 len=103
 x-1 [000] ..... 1.000004: netif_receive_skb: dev=veth1 skbaddr=01 len=89
 x-1 [000] ..... {free_at}: kfree_skb: skbaddr=01 rx_sk=00 protocol=2048 location=nft_do_chain+0x1/0x2 reason: NETFILTER_DROP
"
            )
        };
        let drops = |text: String| {
            let events: Vec<Record> = text.lines().filter_map(|l| parse_line(l, &r)).collect();
            correlate(&events, 89, &fwd, &Way::none())
        };
        // Right after it arrived: ns2's input hook dropped it.
        let d = drops(walk("1.000005"));
        assert_eq!(d.len(), 1);
        assert_eq!(
            (d[0].ns.as_str(), d[0].after.iface.as_str()),
            ("ns2", "veth1")
        );
        // Half a second later the buffer holds another packet.
        assert!(drops(walk("1.500000")).is_empty());
    }
}
