//! rtnetlink requests, one builder per kind of change. Interfaces are named
//! by index when it is known, else by name (the kernel resolves it).

use std::net::IpAddr;
use std::os::fd::RawFd;

use ipnet::IpNet;
use netlink_packet_route::address::{AddressAttribute, AddressFlags, AddressMessage};
use netlink_packet_route::link::{
    AfSpecInet6, AfSpecUnspec, BridgeStpState, In6AddrGenMode, InfoBridge, InfoData, InfoKind,
    InfoVeth, InfoVxlan, LinkAttribute, LinkFlags, LinkInfo, LinkMessage,
};
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteHeader, RouteMessage, RouteProtocol, RouteScope, RouteType,
};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};

use crate::model::lab::Mac;

pub(crate) const NLM_F_CREATE: u16 = 0x400;
pub(crate) const NLM_F_EXCL: u16 = 0x200;

/// How a request names its interface.
#[derive(Clone, Debug)]
pub(crate) enum Dev {
    Index(u32),
    Name(String),
}

fn target(m: &mut LinkMessage, dev: &Dev) {
    match dev {
        Dev::Index(i) => m.header.index = *i,
        Dev::Name(n) => m.attributes.push(LinkAttribute::IfName(n.clone())),
    }
}

/// The options shared by every interface vnet creates.
pub(crate) struct NewIface<'a> {
    pub name: &'a str,
    /// 0: the kernel picks.
    pub index: u32,
    pub group: u32,
    pub mtu: Option<u32>,
    pub mac: Option<Mac>,
    pub up: bool,
}

fn new_iface(n: &NewIface) -> LinkMessage {
    let mut m = LinkMessage::default();
    m.header.index = n.index;
    if n.up {
        m.header.flags = LinkFlags::Up;
        m.header.change_mask = LinkFlags::Up;
    }
    m.attributes.push(LinkAttribute::IfName(n.name.to_string()));
    m.attributes.push(LinkAttribute::Group(n.group));
    if let Some(mtu) = n.mtu {
        m.attributes.push(LinkAttribute::Mtu(mtu));
    }
    if let Some(mac) = n.mac {
        m.attributes.push(LinkAttribute::Address(mac.0.to_vec()));
    }
    m
}

pub(crate) fn new_bridge(n: &NewIface, stp: bool, vlan_filtering: bool) -> RouteNetlinkMessage {
    let mut m = new_iface(n);
    let mut data = vec![InfoBridge::StpState(BridgeStpState::from(u32::from(stp)))];
    if vlan_filtering {
        data.push(InfoBridge::VlanFiltering(true));
    }
    m.attributes.push(LinkAttribute::LinkInfo(vec![
        LinkInfo::Kind(InfoKind::Bridge),
        LinkInfo::Data(InfoData::Bridge(data)),
    ]));
    RouteNetlinkMessage::NewLink(m)
}

/// One veth pair in one request: `main` where the request is sent, `peer`
/// placed straight into the namespace behind `peer_ns` (None: same one).
pub(crate) fn new_veth(
    main: &NewIface,
    peer: &NewIface,
    peer_ns: Option<RawFd>,
) -> RouteNetlinkMessage {
    let mut m = new_iface(main);
    let mut p = new_iface(peer);
    if let Some(fd) = peer_ns {
        p.attributes.push(LinkAttribute::NetNsFd(fd));
    }
    m.attributes.push(LinkAttribute::LinkInfo(vec![
        LinkInfo::Kind(InfoKind::Veth),
        LinkInfo::Data(InfoData::Veth(InfoVeth::Peer(p))),
    ]));
    RouteNetlinkMessage::NewLink(m)
}

/// What a VXLAN tunnel end needs besides its name and marks.
pub(crate) struct NewVxlan<'a> {
    pub vni: u32,
    pub remote: IpAddr,
    pub local: IpAddr,
    pub port: u16,
    /// Index of the underlay interface, in the namespace the request is sent to.
    pub underlay: Option<u32>,
    /// Where the device goes once made (None: where the request is sent);
    /// its UDP socket stays in the sending namespace.
    pub into: Option<RawFd>,
    pub iface: NewIface<'a>,
}

/// A VXLAN device, learning on, unicast to one remote.
pub(crate) fn new_vxlan(v: &NewVxlan) -> RouteNetlinkMessage {
    let mut m = new_iface(&v.iface);
    if let Some(fd) = v.into {
        m.attributes.push(LinkAttribute::NetNsFd(fd));
    }
    let mut data = vec![InfoVxlan::Id(v.vni)];
    match v.remote {
        IpAddr::V4(a) => data.push(InfoVxlan::Group(a)),
        IpAddr::V6(a) => data.push(InfoVxlan::Group6(a)),
    }
    match v.local {
        IpAddr::V4(a) => data.push(InfoVxlan::Local(a)),
        IpAddr::V6(a) => data.push(InfoVxlan::Local6(a)),
    }
    if let Some(i) = v.underlay {
        data.push(InfoVxlan::Link(i));
    }
    data.push(InfoVxlan::Port(v.port));
    data.push(InfoVxlan::Learning(true));
    m.attributes.push(LinkAttribute::LinkInfo(vec![
        LinkInfo::Kind(InfoKind::Vxlan),
        LinkInfo::Data(InfoData::Vxlan(data)),
    ]));
    RouteNetlinkMessage::NewLink(m)
}

pub(crate) fn set_bridge(dev: &Dev, stp: bool, vlan_filtering: bool) -> RouteNetlinkMessage {
    let mut m = LinkMessage::default();
    target(&mut m, dev);
    m.attributes.push(LinkAttribute::LinkInfo(vec![
        LinkInfo::Kind(InfoKind::Bridge),
        LinkInfo::Data(InfoData::Bridge(vec![
            InfoBridge::StpState(BridgeStpState::from(u32::from(stp))),
            InfoBridge::VlanFiltering(vlan_filtering),
        ])),
    ]));
    RouteNetlinkMessage::NewLink(m)
}

/// Changes to an existing interface, all in one RTM_SETLINK.
#[derive(Default)]
pub(crate) struct SetIface {
    /// Some(0) releases from the master.
    pub master: Option<u32>,
    pub mtu: Option<u32>,
    pub mac: Option<Mac>,
    pub up: Option<bool>,
    pub alias: Option<String>,
    pub group: Option<u32>,
    pub no_link_local: bool,
}

pub(crate) fn set_link(dev: &Dev, s: &SetIface) -> RouteNetlinkMessage {
    let mut m = LinkMessage::default();
    target(&mut m, dev);
    if let Some(master) = s.master {
        m.attributes.push(LinkAttribute::Controller(master));
    }
    if let Some(mtu) = s.mtu {
        m.attributes.push(LinkAttribute::Mtu(mtu));
    }
    if let Some(mac) = s.mac {
        m.attributes.push(LinkAttribute::Address(mac.0.to_vec()));
    }
    if let Some(alias) = &s.alias {
        m.attributes.push(LinkAttribute::IfAlias(alias.clone()));
    }
    if let Some(g) = s.group {
        m.attributes.push(LinkAttribute::Group(g));
    }
    if s.no_link_local {
        m.attributes
            .push(LinkAttribute::AfSpecUnspec(vec![AfSpecUnspec::Inet6(
                vec![AfSpecInet6::AddrGenMode(In6AddrGenMode::None)],
            )]));
    }
    if let Some(up) = s.up {
        m.header.change_mask = LinkFlags::Up;
        if up {
            m.header.flags = LinkFlags::Up;
        }
    }
    RouteNetlinkMessage::SetLink(m)
}

pub(crate) fn del_link(dev: &Dev) -> RouteNetlinkMessage {
    let mut m = LinkMessage::default();
    target(&mut m, dev);
    RouteNetlinkMessage::DelLink(m)
}

/// Delete every interface of a device group in one request.
pub(crate) fn del_group(group: u32) -> RouteNetlinkMessage {
    let mut m = LinkMessage::default();
    m.attributes.push(LinkAttribute::Group(group));
    RouteNetlinkMessage::DelLink(m)
}

fn family(ip: &IpAddr) -> AddressFamily {
    match ip {
        IpAddr::V4(_) => AddressFamily::Inet,
        IpAddr::V6(_) => AddressFamily::Inet6,
    }
}

fn address(index: u32, net: &IpNet) -> AddressMessage {
    let mut m = AddressMessage::default();
    let ip = net.addr();
    m.header.family = family(&ip);
    m.header.prefix_len = net.prefix_len();
    m.header.index = index;
    m.attributes.push(AddressAttribute::Local(ip));
    m.attributes.push(AddressAttribute::Address(ip));
    m
}

/// IPv6 addresses skip duplicate detection: the lab file is the authority,
/// and a tentative address would not answer for a second or two.
pub(crate) fn add_addr(index: u32, net: &IpNet) -> RouteNetlinkMessage {
    let mut m = address(index, net);
    if let IpNet::V4(v4) = net {
        if v4.prefix_len() < 31 {
            m.attributes
                .push(AddressAttribute::Broadcast(v4.broadcast()));
        }
    } else {
        m.attributes
            .push(AddressAttribute::Flags(AddressFlags::Nodad));
    }
    RouteNetlinkMessage::NewAddress(m)
}

pub(crate) fn del_addr(index: u32, net: &IpNet) -> RouteNetlinkMessage {
    RouteNetlinkMessage::DelAddress(address(index, net))
}

fn route_addr(ip: IpAddr) -> RouteAddress {
    match ip {
        IpAddr::V4(a) => RouteAddress::Inet(a),
        IpAddr::V6(a) => RouteAddress::Inet6(a),
    }
}

/// A main-table route; `dev` is the outgoing interface's index, if named.
pub(crate) fn route(
    dst: &IpNet,
    via: Option<IpAddr>,
    dev: Option<u32>,
    metric: Option<u32>,
) -> RouteMessage {
    let mut m = RouteMessage::default();
    m.header.address_family = family(&dst.addr());
    m.header.destination_prefix_length = dst.prefix_len();
    m.header.table = RouteHeader::RT_TABLE_MAIN;
    m.header.protocol = RouteProtocol::Static;
    m.header.scope = if via.is_some() {
        RouteScope::Universe
    } else {
        RouteScope::Link
    };
    m.header.kind = RouteType::Unicast;
    if dst.prefix_len() > 0 {
        m.attributes
            .push(RouteAttribute::Destination(route_addr(dst.network())));
    }
    if let Some(g) = via {
        m.attributes.push(RouteAttribute::Gateway(route_addr(g)));
    }
    if let Some(i) = dev {
        m.attributes.push(RouteAttribute::Oif(i));
    }
    if let Some(p) = metric {
        m.attributes.push(RouteAttribute::Priority(p));
    }
    m
}
