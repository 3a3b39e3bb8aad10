//! The netfilter hooks the probe passes (pure), in order, each with the
//! packet as that hook sees it: the sender's output, a router's forward,
//! the receiver's input; a bridge's own hooks (nftables `bridge` family);
//! the ip hooks br_netfilter sends bridged frames through when
//! `bridge-nf-call-iptables` (`ip6tables`) is on; netdev ingress and
//! egress; and for IPv4 the ARP request of each hop (`arp` family, and
//! `bridge-nf-call-arptables`).

use std::net::{IpAddr, Ipv4Addr};

use crate::doctor::case::{Ctx, Direction};
use crate::doctor::netfilter::Packet;
use crate::doctor::way::{Crossing, Leg, Way};
use crate::model::nft;
use crate::probe::path::Point;

/// One hook the probe passes.
pub struct Pass {
    pub ns: String,
    pub families: Vec<u8>,
    pub hook: u32,
    /// The device of a netdev hook.
    pub dev: Option<String>,
    pub pkt: Packet,
    /// The rule id a drop here is reported under.
    pub id: &'static str,
    pub dir: Direction,
    /// The bridge, for br_netfilter and bridge-family passes.
    pub bridge: Option<String>,
    /// What the packet is, in words: "the echo request", "the ARP request for …".
    pub what: String,
}

fn ifc(p: &Point) -> (&str, u32) {
    (p.iface.as_str(), p.ifindex)
}

/// Collects the passes of one packet.
struct Passes<'a> {
    out: &'a mut Vec<Pass>,
    dir: Direction,
    what: String,
}

impl Passes<'_> {
    #[allow(clippy::too_many_arguments)]
    fn add(
        &mut self,
        ns: &str,
        families: &[u8],
        hook: u32,
        dev: Option<&str>,
        pkt: Packet,
        id: &'static str,
        bridge: Option<&str>,
    ) {
        self.out.push(Pass {
            ns: ns.to_string(),
            families: families.to_vec(),
            hook,
            dev: dev.map(str::to_string),
            pkt,
            id,
            dir: self.dir,
            bridge: bridge.map(str::to_string),
            what: self.what.clone(),
        });
    }

    /// netdev egress on `p` (in its namespace).
    fn egress(&mut self, p: &Point, pkt: &Packet) {
        let pkt = pkt.clone().via(None, Some(ifc(p)));
        self.add(
            &p.ns,
            &[nft::NETDEV],
            nft::NETDEV_EGRESS,
            Some(&p.iface),
            pkt,
            "filter.netdev",
            None,
        );
    }

    fn ingress(&mut self, p: &Point, pkt: &Packet) {
        let pkt = pkt.clone().via(Some(ifc(p)), None);
        self.add(
            &p.ns,
            &[nft::NETDEV],
            nft::NETDEV_INGRESS,
            Some(&p.iface),
            pkt,
            "filter.netdev",
            None,
        );
    }

    /// A bridge's own hooks, and netdev on its ports, for one crossing.
    fn bridge(&mut self, cx: &Ctx, leg: &Leg, k: usize, pkt: &Packet) {
        let c = &leg.crossings[k];
        self.bridge_family(c, pkt);
        // br_netfilter: bridged IP through the ip hooks, with the bridge as
        // both devices; ARP through the arp family's forward hook.
        let key = match pkt.nfproto {
            nft::IPV4 => "net.bridge.bridge-nf-call-iptables",
            nft::IPV6 => "net.bridge.bridge-nf-call-ip6tables",
            _ => "net.bridge.bridge-nf-call-arptables",
        };
        if cx.snap.sysctl(&c.ns, key) == Some(1) {
            self.br_netfilter(cx, c, pkt);
        }
    }

    /// The nftables bridge family's hooks on one crossing, between netdev
    /// ingress on the port in and egress on the port out.
    fn bridge_family(&mut self, c: &Crossing, pkt: &Packet) {
        let pin = Some(ifc(&c.in_port));
        let pout = c.out_port.as_ref().map(ifc);
        let br = Some(c.bridge.as_str());
        let mut bp = pkt.clone().via(pin, pout);
        bp.nfproto = nft::BRIDGE;
        bp.ibr = Some(c.bridge.clone());
        let mut pre = bp.clone();
        pre.oif = None;
        self.ingress(&c.in_port, pkt);
        self.add(
            &c.ns,
            &[nft::BRIDGE],
            nft::PREROUTING,
            None,
            pre,
            "filter.bridge",
            br,
        );
        if let Some(po) = &c.out_port {
            bp.obr = Some(c.bridge.clone());
            self.add(
                &c.ns,
                &[nft::BRIDGE],
                nft::FORWARD,
                None,
                bp.clone(),
                "filter.bridge",
                br,
            );
            self.add(
                &c.ns,
                &[nft::BRIDGE],
                nft::POSTROUTING,
                None,
                bp,
                "filter.bridge",
                br,
            );
            self.egress(po, pkt);
        }
    }

    /// The hooks br_netfilter passes a bridged packet through (when its
    /// sysctl is on).
    fn br_netfilter(&mut self, cx: &Ctx, c: &Crossing, pkt: &Packet) {
        let pin = Some(ifc(&c.in_port));
        let pout = c.out_port.as_ref().map(ifc);
        let br = Some(c.bridge.as_str());
        if pkt.nfproto == nft::ARP {
            if pout.is_some() {
                self.add(
                    &c.ns,
                    &[nft::ARP],
                    nft::ARP_FORWARD,
                    None,
                    pkt.clone().via(pin, pout),
                    "filter.arp",
                    br,
                );
            }
            return;
        }
        let Some(b) = cx.snap.get(&c.ns).and_then(|n| n.link(&c.bridge)) else {
            return;
        };
        let bi = Some((b.name.as_str(), b.index));
        let fams = ip_families(pkt);
        self.add(
            &c.ns,
            &fams,
            nft::PREROUTING,
            None,
            pkt.clone().via(bi, None),
            "filter.br-netfilter",
            br,
        );
        if pout.is_some() {
            self.add(
                &c.ns,
                &fams,
                nft::FORWARD,
                None,
                pkt.clone().via(bi, bi),
                "filter.br-netfilter",
                br,
            );
            self.add(
                &c.ns,
                &fams,
                nft::POSTROUTING,
                None,
                pkt.clone().via(None, bi),
                "filter.br-netfilter",
                br,
            );
        }
    }
}

fn ip_families(pkt: &Packet) -> Vec<u8> {
    if pkt.nfproto == nft::IPV6 {
        vec![nft::IPV6, nft::INET]
    } else {
        vec![nft::IPV4, nft::INET]
    }
}

/// Every hook the probe (and, for IPv4, each hop's ARP request) passes,
/// there and back.
pub fn passes(cx: &Ctx) -> Vec<Pass> {
    let mut out = Vec::new();
    for (way, dir) in cx.ways() {
        echo(cx, way, dir, &mut out);
        for leg in &way.legs {
            if let (Some(IpAddr::V4(s)), IpAddr::V4(t)) = (leg.source, leg.next_hop) {
                arp(cx, leg, s, t, dir, &mut out);
            }
        }
    }
    out
}

fn echo(cx: &Ctx, way: &Way, dir: Direction, out: &mut Vec<Pass>) {
    let (Some(src), Some(dst)) = (way.src, way.dst) else {
        return;
    };
    let pkt = first_packet(cx, src, dst, dir);
    let ip = ip_families(&pkt);
    let mut p = Passes {
        out,
        dir,
        what: cx.case.what(dir),
    };
    let last = way.legs.len().saturating_sub(1);
    for (i, leg) in way.legs.iter().enumerate() {
        let out_if = leg.out.as_ref().map(ifc);
        if i == 0 {
            for hook in [nft::OUTPUT, nft::POSTROUTING] {
                p.add(
                    &leg.from,
                    &ip,
                    hook,
                    None,
                    pkt.clone().via(None, out_if),
                    "filter.output",
                    None,
                );
            }
        } else {
            let in_if = way.legs[i - 1].arrive.as_ref().map(ifc);
            let id = "filter.forward";
            p.add(
                &leg.from,
                &ip,
                nft::PREROUTING,
                None,
                pkt.clone().via(in_if, None),
                id,
                None,
            );
            p.add(
                &leg.from,
                &ip,
                nft::FORWARD,
                None,
                pkt.clone().via(in_if, out_if),
                id,
                None,
            );
            p.add(
                &leg.from,
                &ip,
                nft::POSTROUTING,
                None,
                pkt.clone().via(None, out_if),
                id,
                None,
            );
        }
        if let Some(o) = &leg.out {
            p.egress(o, &pkt);
        }
        for k in 0..leg.crossings.len() {
            p.bridge(cx, leg, k, &pkt);
        }
        let (Some(to), Some(a)) = (&leg.to, &leg.arrive) else {
            continue;
        };
        p.ingress(a, &pkt);
        if i == last && way.delivered_in() == Some(to.as_str()) {
            let in_if = Some(ifc(a));
            p.add(
                to,
                &ip,
                nft::PREROUTING,
                None,
                pkt.clone().via(in_if, None),
                "filter.input",
                None,
            );
            p.add(
                to,
                &ip,
                nft::INPUT,
                None,
                pkt.clone().via(in_if, None),
                "filter.input",
                None,
            );
        }
    }
}

/// The packet that goes this way: the echo request (reply), or with a
/// service its first packet (TCP SYN, the UDP datagram) and the answer,
/// from the probe's own source port when it had one.
pub fn first_packet(cx: &Ctx, src: IpAddr, dst: IpAddr, dir: Direction) -> Packet {
    let reply = dir == Direction::Back;
    let Some(svc) = cx.case.service else {
        return Packet::echo(src, dst, reply, cx.case.size);
    };
    let ephemeral = cx
        .probe
        .service
        .as_ref()
        .and_then(|s| s.local)
        .map_or(40_000, |a| a.port());
    let ports = if reply {
        (svc.port, ephemeral)
    } else {
        (ephemeral, svc.port)
    };
    Packet::service(src, dst, svc.proto.number(), ports, reply)
}

/// The ARP request of one hop: asked by the sender, answered by the next hop.
fn arp(
    cx: &Ctx,
    leg: &Leg,
    sender: Ipv4Addr,
    target: Ipv4Addr,
    dir: Direction,
    out: &mut Vec<Pass>,
) {
    let pkt = Packet::arp(sender, target);
    let mut p = Passes {
        out,
        dir,
        what: format!("the ARP request for {target}"),
    };
    if let Some(o) = &leg.out {
        p.add(
            &leg.from,
            &[nft::ARP],
            nft::ARP_OUT,
            None,
            pkt.clone().via(None, Some(ifc(o))),
            "filter.arp",
            None,
        );
        p.egress(o, &pkt);
    }
    for k in 0..leg.crossings.len() {
        p.bridge(cx, leg, k, &pkt);
    }
    if let (Some(to), Some(a)) = (&leg.to, &leg.arrive) {
        p.ingress(a, &pkt);
        p.add(
            to,
            &[nft::ARP],
            nft::ARP_IN,
            None,
            pkt.clone().via(Some(ifc(a)), None),
            "filter.arp",
            None,
        );
    }
}
