//! The packet walk, pure: frames captured on the interfaces along the way
//! become a time-ordered list of steps — where each frame was seen (which
//! namespace, interface, direction), what it was, and what each bridge did
//! with it (forwarded to one port, flooded to all, kept for itself) — and,
//! when the probe was lost, where it was last seen and expected next.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::net::IpAddr;

use serde::Serialize;

use super::path::{Dir, Path, Point, Topology};
use super::wire::{self, Frame, What};

/// An interface listened on.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Tap {
    pub ns: String,
    pub iface: String,
    pub ifindex: u32,
    /// The bridge this interface is a port of.
    pub port_of: Option<String>,
    /// This interface is a bridge.
    pub is_bridge: bool,
    /// The tap on the other end of this veth, when listened on too.
    pub peer: Option<usize>,
}

/// One frame as a tap saw it.
#[derive(Clone, Debug)]
pub struct Seen {
    pub tap: usize,
    pub ts_ns: u64,
    pub dir: Dir,
    pub data: Vec<u8>,
    pub orig_len: usize,
}

/// What the walk looks for: frames of the probe and of the address
/// resolution it needs.
#[derive(Clone, Debug)]
pub struct Probe {
    pub id: u16,
    pub seq: u16,
    /// Addresses whose ARP/NDP belongs to the walk (the ends and next hops).
    pub addrs: Vec<IpAddr>,
    pub sent_ns: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct BridgeAction {
    pub bridge: String,
    /// "forwarded", "flooded", "kept" (delivered to the bridge itself only),
    /// or "dropped".
    pub action: &'static str,
    /// Ports it left by.
    pub to: Vec<String>,
    /// Also handed to the bridge's own stack (broadcasts, its own address).
    pub local: bool,
}

impl BridgeAction {
    pub fn describe(&self) -> String {
        let ports = if self.to.len() > 4 {
            format!("{} ports ({}, …)", self.to.len(), self.to[..3].join(", "))
        } else {
            self.to.join(", ")
        };
        let mut s = match self.action {
            "forwarded" => format!("{} forwarded it to {ports}", self.bridge),
            "flooded" => format!("{} flooded it to {ports}", self.bridge),
            "kept" => format!("{} sent it to no port, only up to itself", self.bridge),
            _ => format!("{} dropped it (sent it to no port)", self.bridge),
        };
        if self.local && self.action != "kept" {
            s.push_str(" and to itself");
        }
        s
    }
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Step {
    /// Milliseconds since the probe was sent.
    pub t_ms: f64,
    pub ns: String,
    pub iface: String,
    pub dir: Dir,
    pub kind: &'static str,
    pub summary: String,
    pub frame: Frame,
    /// Copies of one frame (same bytes) share a number.
    pub packet: usize,
    pub bridge: Option<BridgeAction>,
    /// Index into the captured frames.
    #[serde(skip)]
    pub seen: usize,
}

/// The frames of the walk, in time order.
pub fn steps(taps: &[Tap], seen: &[Seen], probe: &Probe) -> Vec<Step> {
    let mut order: Vec<usize> = (0..seen.len()).collect();
    order.sort_by_key(|&i| (seen[i].ts_ns, i));
    let mut out: Vec<Step> = Vec::new();
    // Frame bytes → (packet number, last time seen).
    let mut packets: HashMap<&[u8], (usize, u64)> = HashMap::new();
    let mut next_packet = 1;
    for i in order {
        let s = &seen[i];
        let Some(tap) = taps.get(s.tap) else { continue };
        let Some(frame) = wire::decode(&s.data) else {
            continue;
        };
        if !relevant(&frame.what, probe) {
            continue;
        }
        let packet = match packets.get(s.data.as_slice()) {
            Some((n, last)) if s.ts_ns.saturating_sub(*last) < 100_000_000 => *n,
            _ => {
                next_packet += 1;
                next_packet - 1
            }
        };
        packets.insert(&s.data, (packet, s.ts_ns));
        out.push(Step {
            t_ms: (s.ts_ns as f64 - probe.sent_ns as f64) / 1e6,
            ns: tap.ns.clone(),
            iface: tap.iface.clone(),
            dir: s.dir,
            kind: frame.what.kind(),
            summary: frame.what.summary(),
            frame,
            packet,
            bridge: None,
            seen: i,
        });
    }
    classify_bridges(taps, seen, &mut out);
    out
}

fn relevant(w: &What, p: &Probe) -> bool {
    let ours = |ip: IpAddr| p.addrs.contains(&ip);
    match w {
        What::ArpRequest {
            sender_ip,
            target_ip,
            ..
        }
        | What::ArpReply {
            sender_ip,
            target_ip,
            ..
        } => ours(IpAddr::V4(*sender_ip)) && ours(IpAddr::V4(*target_ip)),
        What::EchoRequest { id, seq, .. }
        | What::EchoReply { id, seq, .. }
        | What::IcmpError { id, seq, .. } => *id == p.id && *seq == p.seq,
        What::NeighborSolicit { target, .. } | What::NeighborAdvert { target, .. } => {
            ours(IpAddr::V6(*target))
        }
        _ => false,
    }
}

/// For each frame entering a bridge (in on a port, or out of the bridge
/// device itself), which ports the same frame then left by.
fn classify_bridges(taps: &[Tap], seen: &[Seen], steps: &mut [Step]) {
    for i in 0..steps.len() {
        let tap = &taps[seen[steps[i].seen].tap];
        let (bridge, in_port) = match (&tap.port_of, tap.is_bridge, steps[i].dir) {
            (Some(b), _, Dir::In) => (b.clone(), Some(tap.iface.clone())),
            (None, true, Dir::Out) => (tap.iface.clone(), None),
            _ => continue,
        };
        let packet = steps[i].packet;
        let ns = tap.ns.clone();
        let mut to = Vec::new();
        let mut local = false;
        for s in &steps[i + 1..] {
            if s.packet != packet || s.ns != ns {
                continue;
            }
            let t = &taps[seen[s.seen].tap];
            if t.port_of.as_deref() == Some(bridge.as_str())
                && s.dir == Dir::Out
                && in_port.as_deref() != Some(t.iface.as_str())
                && !to.contains(&t.iface)
            {
                to.push(t.iface.clone());
            }
            if t.is_bridge && t.iface == bridge && s.dir == Dir::In {
                local = true;
            }
        }
        let group = steps[i].frame.dst_mac.0[0] & 1 == 1;
        let action = match to.len() {
            0 if local => "kept",
            0 => "dropped",
            1 if !group => "forwarded",
            _ => "flooded",
        };
        steps[i].bridge = Some(BridgeAction {
            bridge,
            action,
            to,
            local,
        });
    }
}

/// Where a lost probe was last seen, and where it was expected next.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Loss {
    /// What was lost: "the echo request", "the ARP request for 192.168.1.2", …
    pub what: String,
    pub last_seen: Option<Point>,
    pub expected_next: Option<Point>,
    /// Why, from live state, when something on the way explains it.
    pub hint: Option<String>,
    pub text: String,
}

fn at(steps: &[Step], pt: &Point, pred: &dyn Fn(&Step) -> bool) -> bool {
    steps
        .iter()
        .any(|s| s.ns == pt.ns && s.iface == pt.iface && s.dir == pt.dir && pred(s))
}

/// How far along `path` frames matching `pred` were seen: the index of the
/// furthest point reached.
fn furthest(steps: &[Step], path: &[Point], pred: &dyn Fn(&Step) -> bool) -> Option<usize> {
    (0..path.len()).rev().find(|&i| at(steps, &path[i], pred))
}

fn place(p: &Point) -> String {
    format!("{} ({}, {})", p.iface, p.ns, p.dir.as_str())
}

/// Explain a probe that got no reply: follow the request (or, when it never
/// left, its address resolution) along the expected path, then the reply
/// along the way back.
pub fn explain(steps: &[Step], forward: &Path, back: &Path, topo: &Topology, dst: IpAddr) -> Loss {
    let resolution = if dst.is_ipv4() {
        "arp-request"
    } else {
        "neighbor-solicit"
    };
    let lost = if steps.iter().any(is("echo-request")) {
        request_lost(steps, forward, back)
    } else {
        resolution_lost(steps, forward, dst, resolution)
    };
    let (what, path, kind) = match lost {
        Lost::Follow { what, path, kind } => (what, path, kind),
        Lost::Explained(loss) => return loss,
    };
    // Address resolution only crosses the first hop: it ends where the
    // next hop takes the frame in (an interface that is not a bridge port).
    let points: &[Point] = if kind == resolution {
        first_hop(&path.points)
    } else {
        &path.points
    };
    let i = furthest(steps, points, &is(kind));
    let last_seen = i.map(|i| points[i].clone());
    let expected_next = match i {
        Some(i) => points.get(i + 1).cloned(),
        None => points.first().cloned(),
    };
    if kind == resolution
        && let Some(l) = &last_seen
        && expected_next.is_none()
        && l.dir == Dir::In
    {
        let hint = topo.hint(&l.ns, l.ifindex);
        let mut text = format!(
            "{what} reached {} in {}, but no answer came back",
            l.iface, l.ns
        );
        if let Some(h) = &hint {
            let _ = write!(text, ": {h}");
        }
        return Loss {
            what,
            last_seen,
            expected_next: None,
            hint,
            text,
        };
    }
    let hint = expected_next
        .as_ref()
        .and_then(|p| topo.hint(&p.ns, p.ifindex))
        .or_else(|| last_seen.as_ref().and_then(|p| topo.hint(&p.ns, p.ifindex)));
    let mut text = where_lost(&what, &last_seen, &expected_next, path, topo);
    if let Some(h) = &hint {
        let _ = write!(text, ": {h}");
    }
    Loss {
        what,
        last_seen,
        expected_next,
        hint,
        text,
    }
}

/// Steps of frames of kind `k`.
fn is(k: &'static str) -> impl Fn(&Step) -> bool {
    move |s: &Step| s.kind == k
}

/// Which frame to follow along which way, or a loss already explained.
enum Lost<'p> {
    Follow {
        what: String,
        path: &'p Path,
        kind: &'static str,
    },
    Explained(Loss),
}

/// The echo request was seen: follow it, or, when it arrived, the reply.
fn request_lost<'p>(steps: &[Step], forward: &'p Path, back: &'p Path) -> Lost<'p> {
    let reached = forward
        .points
        .last()
        .is_some_and(|last| at(steps, last, &is("echo-request")));
    if !(reached && forward.delivered()) {
        return Lost::Follow {
            what: "the echo request".into(),
            path: forward,
            kind: "echo-request",
        };
    }
    if steps.iter().any(is("echo-reply")) {
        return Lost::Follow {
            what: "the echo reply".into(),
            path: back,
            kind: "echo-reply",
        };
    }
    let ns = forward.points.last().map_or("", |p| p.ns.as_str());
    let text = format!(
        "the echo request reached {ns}, but no reply was seen leaving it (a firewall, or rp_filter dropping it there?)"
    );
    Lost::Explained(Loss {
        what: "the echo reply".into(),
        last_seen: forward.points.last().cloned(),
        expected_next: back.points.first().cloned(),
        hint: None,
        text,
    })
}

/// The echo request was never seen: follow the address resolution of the
/// first hop, unless it was answered (then the request never left).
fn resolution_lost<'p>(
    steps: &[Step],
    forward: &'p Path,
    dst: IpAddr,
    resolution: &'static str,
) -> Lost<'p> {
    let target = forward.segments.first().map_or(dst, |s| s.next_hop);
    let name = if dst.is_ipv4() { "ARP" } else { "NDP" };
    let answered = steps
        .iter()
        .any(|s| matches!(s.kind, "arp-reply" | "neighbor-advert"));
    if answered {
        // Resolved, yet the request never showed: it never left the source.
        return Lost::Explained(Loss {
            what: "the echo request".into(),
            last_seen: None,
            expected_next: forward.points.first().cloned(),
            hint: None,
            text: format!(
                "{target} was resolved, but the echo request was never seen leaving {} (a firewall in the source?)",
                forward
                    .points
                    .first()
                    .map_or("the source", |p| p.ns.as_str())
            ),
        });
    }
    Lost::Follow {
        what: format!("the {name} request for {target}"),
        path: forward,
        kind: resolution,
    }
}

/// The points up to where the next hop takes the frame in.
fn first_hop(points: &[Point]) -> &[Point] {
    let end = points
        .iter()
        .position(|p| p.dir == Dir::In && p.bridge.is_none())
        .map_or(points.len(), |k| k + 1);
    &points[..end]
}

/// Where `what` was last seen and where it was expected next, in words.
fn where_lost(
    what: &str,
    last_seen: &Option<Point>,
    expected_next: &Option<Point>,
    path: &Path,
    topo: &Topology,
) -> String {
    let mut text = String::new();
    match (last_seen, expected_next) {
        (Some(l), Some(n)) => {
            let into = topo
                .bridge_of(&l.ns, l.ifindex)
                .filter(|_| l.dir == Dir::In)
                .map(|b| format!(" into bridge {}", b.name))
                .unwrap_or_default();
            let _ = write!(
                text,
                "{what} was last seen on {}{into}; never seen on {}, where it was expected next",
                place(l),
                place(n)
            );
        }
        (Some(l), None) => {
            let _ = write!(
                text,
                "{what} was last seen on {}, the end of the known way; {}",
                place(l),
                end_text(path)
            );
        }
        (None, Some(n)) => {
            let _ = write!(
                text,
                "{what} was never seen, not even on {}, where it should have left",
                place(n)
            );
        }
        (None, None) => {
            let _ = write!(text, "{what} was never seen; {}", end_text(path));
        }
    }
    text
}

fn end_text(p: &Path) -> String {
    use super::path::End;
    match &p.end {
        End::Delivered { ns } => format!("it should have been delivered in {ns}"),
        End::NoRoute { ns } => format!("{ns} has no route to the destination"),
        End::Refused { ns, route } => format!("{ns} has a {route} route for it"),
        End::NotForwarding { ns } => format!("{ns} does not forward (forwarding is off)"),
        End::Unknown { why, .. } => why.clone(),
        End::Loop => "the routes loop".into(),
    }
}

/// The walk as a Mermaid sequence diagram: one participant per namespace
/// (bridges stand for themselves), one arrow per hop of each frame.
pub fn mermaid(taps: &[Tap], seen: &[Seen], steps: &[Step]) -> String {
    let who = |s: &Step| -> String {
        let t = &taps[seen[s.seen].tap];
        match (&t.port_of, t.is_bridge) {
            (Some(b), _) => b.clone(),
            (None, true) => t.iface.clone(),
            _ => t.ns.clone(),
        }
    };
    let id = |name: &str| -> String {
        name.chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect()
    };
    let text = |s: &str| -> String { s.replace(" > ", " → ").replace(';', ",").replace('#', "") };
    let mut out = String::from("sequenceDiagram\n");
    let mut participants: Vec<String> = Vec::new();
    for s in steps {
        let p = who(s);
        if !participants.contains(&p) {
            let t = &taps[seen[s.seen].tap];
            let label = if t.port_of.is_some() || t.is_bridge {
                format!("{p} (bridge in {})", t.ns)
            } else {
                p.clone()
            };
            let _ = writeln!(out, "    participant {} as {}", id(&p), text(&label));
            participants.push(p);
        }
    }
    for (i, s) in steps.iter().enumerate() {
        if let Some(b) = &s.bridge {
            let _ = writeln!(
                out,
                "    Note over {}: {}",
                id(&b.bridge),
                text(&b.describe())
            );
        }
        if s.dir != Dir::Out {
            continue;
        }
        // The same frame arriving at the other end of the veth: an arrow.
        let Some(peer) = taps[seen[s.seen].tap].peer else {
            continue;
        };
        let Some(next) = steps[i + 1..]
            .iter()
            .find(|n| n.packet == s.packet && n.dir == Dir::In && seen[n.seen].tap == peer)
        else {
            continue;
        };
        let _ = writeln!(
            out,
            "    {}->>{}: {} ({} → {})",
            id(&who(s)),
            id(&who(next)),
            text(&s.summary),
            s.iface,
            next.iface
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::lab::Mac;
    use crate::probe::path::tests::{seed_bridge, topo};
    use crate::probe::wire::tests::{A, B, arp_frame, echo_frame};

    fn taps() -> Vec<Tap> {
        let t = |ns: &str,
                 iface: &str,
                 ifindex: u32,
                 port_of: Option<&str>,
                 is_bridge: bool,
                 peer: Option<usize>| Tap {
            ns: ns.into(),
            iface: iface.into(),
            ifindex,
            port_of: port_of.map(str::to_string),
            is_bridge,
            peer,
        };
        vec![
            t("ns1", "veth0", 2, None, false, Some(1)),
            t("host", "br0-veth0", 11, Some("br0"), false, Some(0)),
            t("host", "br0-veth1", 12, Some("br0"), false, Some(3)),
            t("ns2", "veth1", 2, None, false, Some(2)),
            t("host", "br0", 10, None, true, None),
            t("host", "br0-veth3", 13, Some("br0"), false, None),
        ]
    }

    fn probe() -> Probe {
        Probe {
            id: 7,
            seq: 1,
            addrs: vec![
                "192.168.1.1".parse().unwrap(),
                "192.168.1.2".parse().unwrap(),
            ],
            sent_ns: 1_000,
        }
    }

    /// The seed's ping picture, as the taps see it: ARP flooded, the reply
    /// and the echo forwarded.
    fn seed_ping(lost_at_br0_veth1: bool) -> Vec<Seen> {
        let req = arp_frame(1, A, [192, 168, 1, 1], Mac([0; 6]), [192, 168, 1, 2]);
        let rep = arp_frame(2, B, [192, 168, 1, 2], A, [192, 168, 1, 1]);
        let echo = echo_frame(A, B, [192, 168, 1, 1], [192, 168, 1, 2], false, 7, 1);
        let pong = echo_frame(B, A, [192, 168, 1, 2], [192, 168, 1, 1], true, 7, 1);
        let noise = echo_frame(A, B, [192, 168, 1, 1], [192, 168, 1, 2], false, 9, 1);
        let mut t = 1_000u64;
        let mut out = Vec::new();
        let mut see = |tap: usize, dir: Dir, data: &Vec<u8>| {
            t += 10_000;
            out.push(Seen {
                tap,
                ts_ns: t,
                dir,
                data: data.clone(),
                orig_len: data.len(),
            });
        };
        see(0, Dir::Out, &noise);
        see(0, Dir::Out, &req);
        see(1, Dir::In, &req);
        see(4, Dir::In, &req);
        see(5, Dir::Out, &req);
        if lost_at_br0_veth1 {
            return out;
        }
        see(2, Dir::Out, &req);
        see(3, Dir::In, &req);
        see(3, Dir::Out, &rep);
        see(2, Dir::In, &rep);
        see(1, Dir::Out, &rep);
        see(0, Dir::In, &rep);
        see(0, Dir::Out, &echo);
        see(1, Dir::In, &echo);
        see(2, Dir::Out, &echo);
        see(3, Dir::In, &echo);
        see(3, Dir::Out, &pong);
        see(2, Dir::In, &pong);
        see(1, Dir::Out, &pong);
        see(0, Dir::In, &pong);
        // Taps are read one after another: give them out of order.
        out.reverse();
        out
    }

    #[test]
    fn the_walk_is_time_ordered_and_knows_flooding_from_forwarding() {
        let seen = seed_ping(false);
        let s = steps(&taps(), &seen, &probe());
        assert_eq!(
            s.len(),
            18,
            "the other probe's echo is not part of the walk"
        );
        let line: Vec<String> = s
            .iter()
            .map(|x| format!("{} {} {}", x.kind, x.iface, x.dir.as_str()))
            .collect();
        assert_eq!(line[0], "arp-request veth0 out");
        assert_eq!(line[5], "arp-request veth1 in");
        assert_eq!(line[6], "arp-reply veth1 out");
        assert_eq!(line[17], "echo-reply veth0 in");
        assert!(s.windows(2).all(|w| w[0].t_ms <= w[1].t_ms));
        // The broadcast went to every port and to the bridge itself.
        let b = s[1].bridge.as_ref().unwrap();
        assert_eq!(b.action, "flooded");
        assert_eq!(b.to, ["br0-veth3", "br0-veth1"]);
        assert!(b.local);
        // The unicast reply went to one port.
        let b = s[7].bridge.as_ref().unwrap();
        assert_eq!(
            (b.action, b.to.as_slice()),
            ("forwarded", &["br0-veth0".to_string()][..])
        );
        // All copies of one frame share a packet number; the four frames differ.
        assert_eq!(s[0].packet, s[5].packet);
        let mut packets: Vec<usize> = s.iter().map(|x| x.packet).collect();
        packets.dedup();
        assert_eq!(packets.len(), 4);
        let m = mermaid(&taps(), &seen, &s);
        assert!(m.starts_with("sequenceDiagram\n"));
        assert!(m.contains("participant br0 as br0 (bridge in host)"), "{m}");
        assert!(
            m.contains("ns1->>br0: ARP who-has 192.168.1.2 tell 192.168.1.1 (veth0 → br0-veth0)"),
            "{m}"
        );
        assert!(m.contains("br0->>ns2: ICMP echo request"), "{m}");
        assert!(
            m.contains("Note over br0: br0 flooded it to br0-veth3, br0-veth1 and to itself"),
            "{m}"
        );
    }

    #[test]
    fn a_lost_probe_names_where_it_was_last_seen() {
        let mut all = seed_bridge();
        all[0].links[3].admin_up = false; // br0-veth1
        let t = topo(&all);
        let dst: IpAddr = "192.168.1.2".parse().unwrap();
        let fwd = t.path("ns1", dst);
        let back = t.path("ns2", "192.168.1.1".parse().unwrap());
        let seen = seed_ping(true);
        let s = steps(&taps(), &seen, &probe());
        assert_eq!(s.len(), 4);
        let b = s[1].bridge.as_ref().unwrap();
        assert_eq!(b.to, ["br0-veth3"]);
        let loss = explain(&s, &fwd, &back, &t, dst);
        assert_eq!(loss.what, "the ARP request for 192.168.1.2");
        assert_eq!(loss.last_seen.as_ref().unwrap().iface, "br0-veth0");
        assert_eq!(loss.expected_next.as_ref().unwrap().iface, "br0-veth1");
        assert_eq!(
            loss.text,
            "the ARP request for 192.168.1.2 was last seen on br0-veth0 (host, in) into bridge br0; never seen on br0-veth1 (host, out), where it was expected next: host:br0-veth1 is down (administratively)"
        );
        // Nothing seen at all: it never left.
        let loss = explain(&[], &fwd, &back, &t, dst);
        assert!(
            loss.text
                .contains("never seen, not even on veth0 (ns1, out)"),
            "{}",
            loss.text
        );
    }
}
