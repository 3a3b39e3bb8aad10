//! Read a namespace's links, addresses and routes over netlink into the
//! plain `model::live` terms. One dump of each per namespace.

use std::net::IpAddr;

use ipnet::IpNet;
use netlink_packet_route::address::{AddressAttribute, AddressFlags, AddressMessage};
use netlink_packet_route::link::{
    AfSpecInet, AfSpecInet6, AfSpecUnspec, InfoBridge, InfoBridgePort, InfoData, InfoPortData,
    InfoVeth, InfoVxlan, LinkAttribute, LinkExtentMask, LinkFlags, LinkInfo, LinkMessage,
};
use netlink_packet_route::route::{RouteAddress, RouteAttribute, RouteMessage};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};

use super::error::KernelError;
use super::netlink::NlSocket;
use crate::model::lab::Mac;
use crate::model::live::{
    BridgeInfo, LinkStats, LiveAddr, LiveLink, LiveNs, LivePeer, LiveRoute, OperState,
};

/// All links, without their statistics (less to send and to parse).
pub(crate) fn link_dump_request() -> RouteNetlinkMessage {
    let mut m = LinkMessage::default();
    m.attributes
        .push(LinkAttribute::ExtMask(vec![LinkExtentMask::SkipStats]));
    RouteNetlinkMessage::GetLink(m)
}

/// All links with their counters.
pub(crate) fn link_dump_with_stats() -> RouteNetlinkMessage {
    RouteNetlinkMessage::GetLink(LinkMessage::default())
}

pub(crate) fn addr_dump_request() -> RouteNetlinkMessage {
    RouteNetlinkMessage::GetAddress(AddressMessage::default())
}

pub(crate) fn route_dump_request() -> RouteNetlinkMessage {
    RouteNetlinkMessage::GetRoute(Default::default())
}

/// Everything about one namespace, read over its socket.
pub(crate) fn read_ns(sock: &mut NlSocket, ns: &str) -> Result<LiveNs, KernelError> {
    let links = sock.dump(link_dump_request())?;
    let addrs = sock.dump(addr_dump_request())?;
    let routes = sock.dump(route_dump_request())?;
    Ok(assemble(ns, links, addrs, routes))
}

/// Build a `LiveNs` from the three dumps.
pub(crate) fn assemble(
    ns: &str,
    links: Vec<RouteNetlinkMessage>,
    addrs: Vec<RouteNetlinkMessage>,
    routes: Vec<RouteNetlinkMessage>,
) -> LiveNs {
    let mut live = LiveNs {
        ns: ns.to_string(),
        ..LiveNs::default()
    };
    for m in links.into_iter().chain(addrs).chain(routes) {
        add(&mut live, m);
    }
    live
}

/// Fold one dumped object into `live` (links must come before addresses).
pub(crate) fn add(live: &mut LiveNs, m: RouteNetlinkMessage) {
    match m {
        RouteNetlinkMessage::NewLink(l) => {
            let l = link(&l);
            let at = live.links.partition_point(|x| x.index < l.index);
            live.links.insert(at, l);
        }
        RouteNetlinkMessage::NewAddress(a) => {
            if let Some((index, addr)) = address(&a)
                && let Ok(i) = live.links.binary_search_by_key(&index, |l| l.index)
            {
                live.links[i].addrs.push(addr);
            }
        }
        RouteNetlinkMessage::NewRoute(r) => {
            if let Some(r) = route(&r) {
                live.routes.push(r);
            }
        }
        RouteNetlinkMessage::NewQueueDiscipline(q) => live.qdiscs.push(super::tc::qdisc(&q)),
        _ => {}
    }
}

pub(crate) fn link(m: &LinkMessage) -> LiveLink {
    let flags = m.header.flags;
    let mut l = LiveLink {
        index: m.header.index,
        admin_up: flags.contains(LinkFlags::Up),
        lower_up: flags.contains(LinkFlags::LowerUp),
        noarp: flags.contains(LinkFlags::Noarp),
        ..LiveLink::default()
    };
    let mut peer_index = None;
    let mut peer_nsid = None;
    for a in &m.attributes {
        match a {
            LinkAttribute::IfName(n) => l.name = n.clone(),
            LinkAttribute::Mtu(v) => l.mtu = *v,
            LinkAttribute::Address(b) if b.len() == 6 => {
                let mut mac = [0u8; 6];
                mac.copy_from_slice(b);
                l.mac = Some(Mac(mac));
            }
            LinkAttribute::Controller(i) => l.master = Some(*i),
            LinkAttribute::IfAlias(s) => l.alias = Some(s.clone()).filter(|s| !s.is_empty()),
            LinkAttribute::Group(g) => l.group = *g,
            LinkAttribute::OperState(s) => l.oper = OperState::from_kernel(u8::from(*s)),
            LinkAttribute::Link(i) => peer_index = Some(*i),
            LinkAttribute::LinkNetNsId(id) => peer_nsid = Some(*id),
            LinkAttribute::LinkInfo(infos) => {
                for info in infos {
                    match info {
                        LinkInfo::Kind(k) => l.kind = Some(k.to_string()),
                        LinkInfo::Data(InfoData::Bridge(opts)) => {
                            let mut b = BridgeInfo::default();
                            for o in opts {
                                match o {
                                    InfoBridge::StpState(s) => b.stp = u32::from(*s) != 0,
                                    InfoBridge::VlanFiltering(v) => b.vlan_filtering = *v,
                                    _ => {}
                                }
                            }
                            l.bridge = Some(b);
                        }
                        LinkInfo::Data(InfoData::Veth(InfoVeth::Peer(_))) => {}
                        LinkInfo::Data(InfoData::Vxlan(opts)) => {
                            let mut t = crate::model::live::LiveTunnel::default();
                            for o in opts {
                                match o {
                                    InfoVxlan::Id(v) => t.vni = *v,
                                    InfoVxlan::Group(a) => t.remote = Some((*a).into()),
                                    InfoVxlan::Group6(a) => t.remote = Some((*a).into()),
                                    _ => {}
                                }
                            }
                            l.tunnel = Some(t);
                        }
                        LinkInfo::PortData(InfoPortData::BridgePort(opts)) => {
                            for o in opts {
                                if let InfoBridgePort::State(s) = o {
                                    l.port_state = Some(u8::from(*s));
                                }
                            }
                        }
                        _ => {}
                    }
                }
            }
            LinkAttribute::AfSpecUnspec(specs) => {
                for s in specs {
                    match s {
                        AfSpecUnspec::Inet6(v6) => {
                            for x in v6 {
                                match x {
                                    AfSpecInet6::AddrGenMode(mode) => {
                                        l.addr_gen_mode = Some(u8::from(mode));
                                    }
                                    AfSpecInet6::DevConf(c) => {
                                        l.conf.ipv6_forwarding = Some(c.forwarding);
                                        l.conf.ipv6_disabled = Some(c.disable_ipv6);
                                    }
                                    _ => {}
                                }
                            }
                        }
                        AfSpecUnspec::Inet(v4) => {
                            for x in v4 {
                                if let AfSpecInet::DevConf(c) = x {
                                    l.conf.ipv4_forwarding = Some(c.forwarding);
                                    l.conf.rp_filter = Some(c.rp_filter);
                                    l.conf.arp_ignore = Some(c.arp_ignore);
                                    l.conf.arp_filter = Some(c.arpfilter);
                                    l.conf.arp_announce = Some(c.arp_announce);
                                    l.conf.proxy_arp = Some(c.proxy_arp);
                                    l.conf.accept_local = Some(c.accept_local);
                                }
                            }
                        }
                        _ => {}
                    }
                }
            }
            LinkAttribute::Stats64(s) => {
                l.stats = LinkStats {
                    rx_packets: s.rx_packets,
                    tx_packets: s.tx_packets,
                    rx_dropped: s.rx_dropped,
                    tx_dropped: s.tx_dropped,
                    rx_errors: s.rx_errors,
                    tx_errors: s.tx_errors,
                };
            }
            _ => {}
        }
    }
    if l.kind.as_deref() == Some("veth")
        && let Some(index) = peer_index
    {
        l.peer = Some(LivePeer {
            index,
            netnsid: peer_nsid,
        });
    }
    l
}

fn address(m: &AddressMessage) -> Option<(u32, LiveAddr)> {
    let mut local = None;
    let mut address = None;
    let mut flags = AddressFlags::empty();
    for a in &m.attributes {
        match a {
            AddressAttribute::Local(ip) => local = Some(*ip),
            AddressAttribute::Address(ip) => address = Some(*ip),
            AddressAttribute::Flags(f) => flags = *f,
            _ => {}
        }
    }
    // For IPv4, IFA_LOCAL is the interface's own address (IFA_ADDRESS may be a peer).
    let ip: IpAddr = local.or(address)?;
    let net = IpNet::new(ip, m.header.prefix_len).ok()?;
    Some((
        m.header.index,
        LiveAddr {
            net,
            scope: u8::from(m.header.scope),
            tentative: flags.contains(AddressFlags::Tentative),
            dadfailed: flags.contains(AddressFlags::Dadfailed),
            permanent: flags.contains(AddressFlags::Permanent),
        },
    ))
}

fn route_addr(a: &RouteAddress) -> Option<IpAddr> {
    match a {
        RouteAddress::Inet(v4) => Some(IpAddr::V4(*v4)),
        RouteAddress::Inet6(v6) => Some(IpAddr::V6(*v6)),
        _ => None,
    }
}

fn route(m: &RouteMessage) -> Option<LiveRoute> {
    let family = m.header.address_family;
    let mut dst = None;
    let mut r = LiveRoute {
        dst: match family {
            AddressFamily::Inet => "0.0.0.0/0".parse().ok()?,
            AddressFamily::Inet6 => "::/0".parse().ok()?,
            _ => return None,
        },
        via: None,
        dev: None,
        metric: None,
        table: u32::from(m.header.table),
        protocol: u8::from(m.header.protocol),
        scope: u8::from(m.header.scope),
        kind: u8::from(m.header.kind),
        prefsrc: None,
    };
    for a in &m.attributes {
        match a {
            RouteAttribute::Destination(d) => dst = route_addr(d),
            RouteAttribute::Gateway(g) => r.via = route_addr(g),
            RouteAttribute::Oif(i) => r.dev = Some(*i),
            RouteAttribute::Priority(p) => r.metric = Some(*p),
            RouteAttribute::Table(t) => r.table = *t,
            RouteAttribute::PrefSource(s) => r.prefsrc = route_addr(s),
            _ => {}
        }
    }
    if let Some(d) = dst {
        r.dst = IpNet::new(d, m.header.destination_prefix_length).ok()?;
    }
    Some(r)
}
