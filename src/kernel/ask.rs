//! Asking the kernel what it would do with one packet (kernel side): the
//! route it picks (RTM_GETROUTE with the packet's fields, as `ip route get
//! DST from SRC iif DEV mark M ipproto P` does, with and without
//! RTM_F_FIB_MATCH), the policy rules (RTM_GETRULE), a bridge's forwarding
//! database (RTM_GETNEIGH, AF_BRIDGE) and its ports' flags (the link dump's
//! IFLA_BRPORT_*). Nothing is changed.

use std::collections::BTreeMap;
use std::net::IpAddr;

use ipnet::IpNet;
use netlink_packet_route::link::{InfoBridgePort, InfoPortData, LinkAttribute, LinkInfo};
use netlink_packet_route::neighbour::{NeighbourAttribute, NeighbourMessage};
use netlink_packet_route::route::{RouteAddress, RouteAttribute, RouteFlags, RouteMessage};
use netlink_packet_route::rule::{RuleAttribute, RuleFlags, RuleMessage};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};

use super::error::KernelError;
use super::netlink::NlSocket;
use super::observe;
use crate::model::fib::{FdbEntry, PortFlags, RouteAnswer, RouteQuery, RuleEntry};
use crate::model::lab::Mac;

fn route_addr(ip: IpAddr) -> RouteAddress {
    match ip {
        IpAddr::V4(a) => RouteAddress::Inet(a),
        IpAddr::V6(a) => RouteAddress::Inet6(a),
    }
}

fn from_route_addr(a: &RouteAddress) -> Option<IpAddr> {
    match a {
        RouteAddress::Inet(v4) => Some(IpAddr::V4(*v4)),
        RouteAddress::Inet6(v6) => Some(IpAddr::V6(*v6)),
        _ => None,
    }
}

fn get_route(q: &RouteQuery, dst: IpAddr, fib_match: bool) -> RouteNetlinkMessage {
    let mut m = RouteMessage::default();
    let v4 = dst.is_ipv4();
    m.header.address_family = if v4 {
        AddressFamily::Inet
    } else {
        AddressFamily::Inet6
    };
    let full = if v4 { 32 } else { 128 };
    m.header.destination_prefix_length = full;
    // Without LOOKUP_TABLE the kernel reports every answer as table main.
    m.header.flags = RouteFlags::LookupTable;
    if fib_match {
        m.header.flags |= RouteFlags::FibMatch;
    }
    m.attributes
        .push(RouteAttribute::Destination(route_addr(dst)));
    if let Some(s) = q.src.filter(|s| s.is_ipv4() == v4) {
        m.header.source_prefix_length = full;
        m.attributes.push(RouteAttribute::Source(route_addr(s)));
    }
    if let Some(i) = q.iif {
        m.attributes.push(RouteAttribute::Iif(i));
    }
    if q.mark != 0 {
        m.attributes.push(RouteAttribute::Mark(q.mark));
    }
    if q.proto != 0 {
        m.attributes.push(RouteAttribute::IpProto(q.proto));
    }
    RouteNetlinkMessage::GetRoute(m)
}

/// The route the kernel picks for `q` (resolved), and the entry that
/// matched (RTM_F_FIB_MATCH): both asked at once.
pub(crate) fn route_get(sock: &mut NlSocket, q: &RouteQuery) -> Result<RouteAnswer, KernelError> {
    let mut a = RouteAnswer {
        query: q.clone(),
        ..RouteAnswer::default()
    };
    let Some(dst) = q.dst else { return Ok(a) };
    let answers = sock.exchange(vec![get_route(q, dst, false), get_route(q, dst, true)])?;
    let mut it = answers.into_iter();
    if let Some((res, msgs)) = it.next() {
        match res {
            Err(e) => a.errno = Some(e.errno),
            Ok(()) => {
                for m in msgs {
                    if let RouteNetlinkMessage::NewRoute(r) = m {
                        a.kind = u8::from(r.header.kind);
                        a.table = u32::from(r.header.table);
                        for at in &r.attributes {
                            match at {
                                RouteAttribute::Table(t) => a.table = *t,
                                RouteAttribute::Oif(i) => a.oif = Some(*i),
                                RouteAttribute::Gateway(g) => a.gateway = from_route_addr(g),
                                RouteAttribute::PrefSource(s) => a.prefsrc = from_route_addr(s),
                                _ => {}
                            }
                        }
                    }
                }
            }
        }
    }
    // The matched entry: its prefix, table and type (also for a refusal
    // by a blackhole, unreachable or prohibit route, which only the fib
    // match shows).
    if let Some((Ok(()), msgs)) = it.next() {
        for m in msgs {
            if let RouteNetlinkMessage::NewRoute(r) = m {
                let mut dst_addr = None;
                let mut table = u32::from(r.header.table);
                for at in &r.attributes {
                    match at {
                        RouteAttribute::Destination(d) => dst_addr = from_route_addr(d),
                        RouteAttribute::Table(t) => table = *t,
                        RouteAttribute::Priority(p) => a.metric = Some(*p),
                        RouteAttribute::Oif(i) if a.oif.is_none() => a.oif = Some(*i),
                        RouteAttribute::Gateway(g) if a.gateway.is_none() => {
                            a.gateway = from_route_addr(g)
                        }
                        _ => {}
                    }
                }
                let any = if dst.is_ipv4() {
                    IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED)
                } else {
                    IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED)
                };
                a.matched =
                    IpNet::new(dst_addr.unwrap_or(any), r.header.destination_prefix_length).ok();
                // The matched entry's table is the one it sits in (the
                // resolved answer says main for a local route).
                a.table = table;
                if a.errno.is_some() || a.kind == 0 {
                    a.kind = u8::from(r.header.kind);
                }
            }
        }
    }
    Ok(a)
}

/// The policy rules of both families, in priority order.
pub(crate) fn rules(sock: &mut NlSocket) -> Result<Vec<RuleEntry>, KernelError> {
    let mut out = Vec::new();
    for fam in [AddressFamily::Inet, AddressFamily::Inet6] {
        let mut m = RuleMessage::default();
        m.header.family = fam;
        for msg in sock.dump(RouteNetlinkMessage::GetRule(m))? {
            let RouteNetlinkMessage::NewRule(r) = msg else {
                continue;
            };
            let v6 = r.header.family == AddressFamily::Inet6;
            let mut e = RuleEntry {
                v6,
                action: u8::from(r.header.action),
                table: u32::from(r.header.table),
                invert: r.header.flags.contains(RuleFlags::Invert),
                unevaluated: r.header.tos != 0,
                ..RuleEntry::default()
            };
            let mut src = None;
            let mut dst = None;
            for a in &r.attributes {
                match a {
                    RuleAttribute::Priority(p) => e.priority = *p,
                    RuleAttribute::Table(t) => e.table = *t,
                    RuleAttribute::Source(s) => src = Some(*s),
                    RuleAttribute::Destination(d) => dst = Some(*d),
                    RuleAttribute::Iifname(n) => e.iif = Some(n.clone()),
                    RuleAttribute::Oifname(n) => e.oif = Some(n.clone()),
                    RuleAttribute::FwMark(v) => e.fwmark = Some(*v),
                    RuleAttribute::FwMask(v) => e.fwmask = Some(*v),
                    RuleAttribute::IpProtocol(p) => {
                        e.ipproto = u8::try_from(i32::from(*p)).ok();
                    }
                    RuleAttribute::SourcePortRange(_)
                    | RuleAttribute::DestinationPortRange(_)
                    | RuleAttribute::UidRange(_)
                    | RuleAttribute::Goto(_)
                    | RuleAttribute::SuppressIfGroup(_)
                    | RuleAttribute::TunId(_) => e.unevaluated = true,
                    // u32::MAX is "none".
                    RuleAttribute::SuppressPrefixLen(v) if *v != u32::MAX => e.unevaluated = true,
                    _ => {}
                }
            }
            e.src = src.and_then(|s| IpNet::new(s, r.header.src_len).ok());
            e.dst = dst.and_then(|d| IpNet::new(d, r.header.dst_len).ok());
            out.push(e);
        }
    }
    out.sort_by_key(|r| (r.v6, r.priority));
    Ok(out)
}

/// The bridge forwarding database of the namespace (`bridge fdb show`):
/// the entries bridges keep (NTF_MASTER), not the ports' own lists.
pub(crate) fn fdb(sock: &mut NlSocket) -> Result<Vec<FdbEntry>, KernelError> {
    let mut m = NeighbourMessage::default();
    m.header.family = AddressFamily::Bridge;
    let mut out = Vec::new();
    for msg in sock.dump(RouteNetlinkMessage::GetNeighbour(m))? {
        let RouteNetlinkMessage::NewNeighbour(n) = msg else {
            continue;
        };
        let mut mac = None;
        let mut bridge = None;
        let mut vlan = None;
        let mut age_s = None;
        for a in &n.attributes {
            match a {
                NeighbourAttribute::LinkLayerAddress(b) if b.len() == 6 => {
                    let mut m6 = [0u8; 6];
                    m6.copy_from_slice(b);
                    mac = Some(Mac(m6));
                }
                NeighbourAttribute::Controller(c) => bridge = Some(*c),
                NeighbourAttribute::Vlan(v) => vlan = Some(*v),
                // Centiseconds (USER_HZ) since it was last refreshed.
                NeighbourAttribute::CacheInfo(c) => age_s = Some(u64::from(c.updated) / 100),
                _ => {}
            }
        }
        let Some(mac) = mac else { continue };
        let flags = n.header.flags.bits();
        if flags & crate::model::fib::NTF_MASTER == 0 && bridge.is_none() {
            continue;
        }
        out.push(FdbEntry {
            mac,
            port: n.header.ifindex,
            bridge,
            state: u16::from(n.header.state),
            flags,
            vlan,
            age_s,
        });
    }
    Ok(out)
}

/// Each bridge port's flags, by ifindex.
pub(crate) fn port_flags(sock: &mut NlSocket) -> Result<BTreeMap<u32, PortFlags>, KernelError> {
    let mut out = BTreeMap::new();
    for msg in sock.dump(observe::link_dump_request())? {
        let RouteNetlinkMessage::NewLink(l) = msg else {
            continue;
        };
        for a in &l.attributes {
            let LinkAttribute::LinkInfo(infos) = a else {
                continue;
            };
            for i in infos {
                let LinkInfo::PortData(InfoPortData::BridgePort(opts)) = i else {
                    continue;
                };
                let mut f = PortFlags::default();
                for o in opts {
                    match o {
                        InfoBridgePort::Learning(v) => f.learning = *v,
                        InfoBridgePort::UnicastFlood(v) => f.unicast_flood = *v,
                        InfoBridgePort::MulticastFlood(v) => f.mcast_flood = *v,
                        InfoBridgePort::BroadcastFlood(v) => f.bcast_flood = *v,
                        InfoBridgePort::Isolated(v) => f.isolated = *v,
                        InfoBridgePort::NeighSupress(v) => f.neigh_suppress = *v,
                        InfoBridgePort::Locked(v) => f.locked = *v,
                        InfoBridgePort::Mab(v) => f.mab = *v,
                        InfoBridgePort::HairpinMode(v) => f.hairpin = *v,
                        InfoBridgePort::ProxyARP(v) => f.proxy_arp = *v,
                        _ => {}
                    }
                }
                out.insert(l.header.index, f);
            }
        }
    }
    Ok(out)
}
