//! A way (there, or back) cut into legs (pure): one per layer-3 hop, from
//! the interface a namespace sends on to the interface where the next
//! namespace takes the packet in, with the bridges crossed in between.

use std::net::IpAddr;

use serde::Serialize;

use crate::probe::path::{Dir, End, Path, Point};

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Crossing {
    pub ns: String,
    pub bridge: String,
    pub in_port: Point,
    /// None: the bridge has no port leading on.
    pub out_port: Option<Point>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Leg {
    pub from: String,
    pub source: Option<IpAddr>,
    pub next_hop: IpAddr,
    pub to: Option<String>,
    /// The interface `from` sends on.
    pub out: Option<Point>,
    /// The interface where `to` takes the packet in.
    pub arrive: Option<Point>,
    pub crossings: Vec<Crossing>,
    pub points: Vec<Point>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Way {
    pub path: Path,
    pub legs: Vec<Leg>,
    /// The address the packets of this way are sent to.
    pub dst: Option<IpAddr>,
    /// Their source address.
    pub src: Option<IpAddr>,
}

impl Way {
    pub fn new(path: Path, dst: Option<IpAddr>) -> Way {
        let mut legs = Vec::new();
        let mut pts = path.points.iter().peekable();
        for seg in &path.segments {
            let mut points = Vec::new();
            while let Some(p) = pts.peek() {
                // A new leg starts at an outgoing interface of the next sender.
                if !points.is_empty() && p.dir == Dir::Out && p.bridge.is_none() {
                    break;
                }
                let p = pts.next().cloned().unwrap_or_else(unreachable_point);
                let arrival = p.dir == Dir::In && p.bridge.is_none();
                points.push(p);
                if arrival {
                    break;
                }
            }
            let out = points
                .first()
                .filter(|p| p.dir == Dir::Out && p.bridge.is_none())
                .cloned();
            let arrive = points
                .last()
                .filter(|p| p.dir == Dir::In && p.bridge.is_none())
                .cloned();
            let mut crossings = Vec::new();
            for (i, p) in points.iter().enumerate() {
                if p.dir != Dir::In {
                    continue;
                }
                let Some(b) = &p.bridge else { continue };
                let out_port = points
                    .get(i + 1)
                    .filter(|n| n.dir == Dir::Out && n.bridge.as_ref() == Some(b) && n.ns == p.ns)
                    .cloned();
                crossings.push(Crossing {
                    ns: p.ns.clone(),
                    bridge: b.clone(),
                    in_port: p.clone(),
                    out_port,
                });
            }
            legs.push(Leg {
                from: seg.from.clone(),
                source: seg.source,
                next_hop: seg.next_hop,
                to: seg.to.clone(),
                out,
                arrive,
                crossings,
                points,
            });
        }
        let src = path.segments.first().and_then(|s| s.source);
        Way {
            path,
            legs,
            dst,
            src,
        }
    }

    /// No way at all (nothing to send to).
    pub fn none() -> Way {
        Way::new(
            Path {
                points: Vec::new(),
                segments: Vec::new(),
                end: End::Loop,
            },
            None,
        )
    }

    /// The namespace the packets are delivered in, when the way gets there.
    pub fn delivered_in(&self) -> Option<&str> {
        match &self.path.end {
            End::Delivered { ns } => Some(ns),
            _ => None,
        }
    }

    /// Every namespace on the way.
    pub fn namespaces(&self) -> Vec<String> {
        let mut v: Vec<String> = Vec::new();
        let mut add = |n: &str| {
            if !v.iter().any(|x| x == n) {
                v.push(n.to_string());
            }
        };
        for l in &self.legs {
            add(&l.from);
            for p in &l.points {
                add(&p.ns);
            }
            if let Some(t) = &l.to {
                add(t);
            }
        }
        match &self.path.end {
            End::Delivered { ns }
            | End::NoRoute { ns }
            | End::Refused { ns, .. }
            | End::NotForwarding { ns }
            | End::Unknown { ns, .. } => add(ns),
            End::Loop => {}
        }
        v
    }
}

fn unreachable_point() -> Point {
    Point {
        ns: String::new(),
        iface: String::new(),
        ifindex: 0,
        dir: Dir::In,
        bridge: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::path::tests::{seed_bridge, topo};

    #[test]
    fn a_bridged_way_is_one_leg_with_one_crossing() {
        let all = seed_bridge();
        let t = topo(&all);
        let dst: IpAddr = "192.168.1.2".parse().unwrap();
        let w = Way::new(t.path("ns1", dst), Some(dst));
        assert_eq!(w.legs.len(), 1);
        let l = &w.legs[0];
        assert_eq!(l.out.as_ref().unwrap().iface, "veth0");
        assert_eq!(l.arrive.as_ref().unwrap().iface, "veth1");
        assert_eq!(l.crossings.len(), 1);
        let c = &l.crossings[0];
        assert_eq!(
            (c.bridge.as_str(), c.in_port.iface.as_str()),
            ("br0", "br0-veth0")
        );
        assert_eq!(c.out_port.as_ref().unwrap().iface, "br0-veth1");
        assert_eq!(w.delivered_in(), Some("ns2"));
        assert_eq!(w.namespaces(), ["ns1", "host", "ns2"]);
        assert_eq!(w.src, Some("192.168.1.1".parse().unwrap()));
    }
}
