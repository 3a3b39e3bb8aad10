//! What the kernel holds, as read by `kernel::observe`: plain data, so the
//! planner, status, doctor and diagrams can work on it without root.

use std::collections::BTreeMap;
use std::net::IpAddr;

use ipnet::IpNet;
use serde::Serialize;

use super::conditions::Conditions;
use super::lab::{Mac, Netns};

#[derive(Clone, Debug, Default, Serialize)]
pub struct LiveNs {
    pub ns: String,
    /// Interfaces by ifindex order.
    pub links: Vec<LiveLink>,
    pub routes: Vec<LiveRoute>,
    /// Sysctls that were asked for, by dotted key.
    pub sysctls: BTreeMap<String, String>,
    /// Queueing disciplines, when they were read.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub qdiscs: Vec<LiveQdisc>,
}

/// A VXLAN device's tunnel, as the kernel reports it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct LiveTunnel {
    pub vni: u32,
    pub remote: Option<std::net::IpAddr>,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct LiveLink {
    pub index: u32,
    pub name: String,
    /// IFLA_INFO_KIND: "veth", "bridge", … (None for lo and physical devices).
    pub kind: Option<String>,
    pub master: Option<u32>,
    pub mtu: u32,
    #[serde(serialize_with = "ser_mac")]
    pub mac: Option<Mac>,
    pub admin_up: bool,
    pub lower_up: bool,
    pub oper: OperState,
    pub noarp: bool,
    pub alias: Option<String>,
    pub group: u32,
    /// For veths: the peer's ifindex and the netnsid it lives in, as seen
    /// from this namespace (None: same namespace).
    pub peer: Option<LivePeer>,
    pub addrs: Vec<LiveAddr>,
    pub bridge: Option<BridgeInfo>,
    /// Bridge port state (BR_STATE_*) when this link is a bridge port.
    pub port_state: Option<u8>,
    /// IPv6 address generation mode (IN6_ADDR_GEN_MODE_*), when reported.
    pub addr_gen_mode: Option<u8>,
    /// The interface's IPv4/IPv6 settings, as the kernel reports them.
    pub conf: IfConf,
    pub stats: LinkStats,
    /// Conditions on its egress (read from its root qdisc and the loss
    /// rules of vnet's nftables table), when they were read.
    #[serde(skip_serializing_if = "Conditions::is_empty")]
    pub conditions: Conditions,
    /// A root qdisc that is not one of vnet's conditions (made by hand).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub other_qdisc: Option<String>,
    /// For VXLAN devices: the tunnel's VNI and far end.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tunnel: Option<LiveTunnel>,
}

/// Per-interface settings (net.ipv4.conf.IF.* and net.ipv6.conf.IF.*),
/// read from the link dump rather than /proc/sys (which is slow to walk
/// across many namespaces).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct IfConf {
    pub ipv4_forwarding: Option<i32>,
    pub rp_filter: Option<i32>,
    pub arp_ignore: Option<i32>,
    pub arp_filter: Option<i32>,
    pub arp_announce: Option<i32>,
    pub proxy_arp: Option<i32>,
    pub accept_local: Option<i32>,
    pub ipv6_forwarding: Option<i32>,
    pub ipv6_disabled: Option<i32>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct LivePeer {
    pub index: u32,
    pub netnsid: Option<i32>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct BridgeInfo {
    pub stp: bool,
    pub vlan_filtering: bool,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct LinkStats {
    pub rx_packets: u64,
    pub tx_packets: u64,
    pub rx_dropped: u64,
    pub tx_dropped: u64,
    pub rx_errors: u64,
    pub tx_errors: u64,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OperState {
    #[default]
    Unknown,
    NotPresent,
    Down,
    LowerLayerDown,
    Testing,
    Dormant,
    Up,
}

impl OperState {
    pub fn from_kernel(v: u8) -> OperState {
        match v {
            1 => OperState::NotPresent,
            2 => OperState::Down,
            3 => OperState::LowerLayerDown,
            4 => OperState::Testing,
            5 => OperState::Dormant,
            6 => OperState::Up,
            _ => OperState::Unknown,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            OperState::Unknown => "UNKNOWN",
            OperState::NotPresent => "NOTPRESENT",
            OperState::Down => "DOWN",
            OperState::LowerLayerDown => "LOWERLAYERDOWN",
            OperState::Testing => "TESTING",
            OperState::Dormant => "DORMANT",
            OperState::Up => "UP",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LiveAddr {
    #[serde(serialize_with = "ser_display")]
    pub net: IpNet,
    /// RT_SCOPE_*: 0 universe, 253 link, 254 host.
    pub scope: u8,
    pub tentative: bool,
    pub dadfailed: bool,
    pub permanent: bool,
}

impl LiveAddr {
    /// IPv6 link-local: made by the kernel when an interface comes up, so
    /// never something a lab declares or removes.
    pub fn is_kernel_made(&self) -> bool {
        matches!(self.net, IpNet::V6(n) if n.addr().segments()[0] & 0xffc0 == 0xfe80)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LiveRoute {
    #[serde(serialize_with = "ser_display")]
    pub dst: IpNet,
    pub via: Option<IpAddr>,
    pub dev: Option<u32>,
    pub metric: Option<u32>,
    pub table: u32,
    /// RTPROT_*: 2 kernel, 3 boot, 4 static, …
    pub protocol: u8,
    pub scope: u8,
    /// RTN_*: 1 unicast, 2 local, 3 broadcast, 6 blackhole, 7 unreachable, 8 prohibit …
    pub kind: u8,
    pub prefsrc: Option<IpAddr>,
}

/// A neighbour (ARP/NDP) entry of a namespace.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LiveNeigh {
    pub ifindex: u32,
    #[serde(serialize_with = "ser_display")]
    pub ip: IpAddr,
    #[serde(serialize_with = "ser_mac")]
    pub lladdr: Option<Mac>,
    /// NUD_* bits: 0x01 incomplete, 0x02 reachable, 0x04 stale, 0x20 failed,
    /// 0x40 noarp, 0x80 permanent, …
    pub state: u16,
}

pub const NUD_INCOMPLETE: u16 = 0x01;
pub const NUD_FAILED: u16 = 0x20;
pub const NUD_NOARP: u16 = 0x40;
pub const NUD_PERMANENT: u16 = 0x80;

/// A queueing discipline on an interface, with its counters.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct LiveQdisc {
    pub ifindex: u32,
    pub kind: String,
    pub handle: u32,
    pub parent: u32,
    pub packets: u64,
    pub drops: u64,
    pub overlimits: u64,
    /// The packet (or byte, for bfifo) limit of a fifo qdisc.
    pub limit: Option<u32>,
    /// What a netem, tbf or pfifo qdisc stands for as conditions.
    #[serde(skip_serializing_if = "Conditions::is_empty")]
    pub conditions: Conditions,
}

impl LiveQdisc {
    /// TC_H_ROOT: attached at the interface's root (egress).
    pub fn is_root(&self) -> bool {
        self.parent == 0xffff_ffff
    }
}

pub const RT_TABLE_MAIN: u32 = 254;
pub const RTPROT_KERNEL: u8 = 2;
pub const RTPROT_BOOT: u8 = 3;
pub const RTPROT_STATIC: u8 = 4;
pub const RTN_UNICAST: u8 = 1;

impl LiveRoute {
    /// A route someone added (not one the kernel derives from an address).
    pub fn is_user_route(&self) -> bool {
        self.table == RT_TABLE_MAIN
            && self.kind == RTN_UNICAST
            && matches!(self.protocol, RTPROT_BOOT | RTPROT_STATIC)
    }
}

impl LiveNs {
    pub fn link(&self, name: &str) -> Option<&LiveLink> {
        self.links.iter().find(|l| l.name == name)
    }

    pub fn link_by_index(&self, index: u32) -> Option<&LiveLink> {
        self.links.iter().find(|l| l.index == index)
    }

    pub fn name_of(&self, index: u32) -> Option<&str> {
        self.link_by_index(index).map(|l| l.name.as_str())
    }

    pub fn netns(&self) -> Netns {
        Netns::from_node_name(&self.ns)
    }

    pub fn lo(&self) -> Option<&LiveLink> {
        self.links.iter().find(|l| l.name == "lo")
    }

    /// Namespace-wide sysctls the kernel mirrors onto every interface, read
    /// from `lo`: writing them propagates to each existing interface.
    pub fn mirrored_sysctl(&self, key: &str) -> Option<String> {
        let c = self.lo()?.conf;
        let v = match key {
            "net.ipv4.ip_forward" | "net.ipv4.conf.all.forwarding" => c.ipv4_forwarding?,
            "net.ipv6.conf.all.forwarding" => c.ipv6_forwarding?,
            "net.ipv6.conf.all.disable_ipv6" | "net.ipv6.conf.default.disable_ipv6" => {
                c.ipv6_disabled?
            }
            _ => return None,
        };
        Some(v.to_string())
    }
}

fn ser_display<S: serde::Serializer, T: std::fmt::Display>(v: &T, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(v)
}

fn ser_mac<S: serde::Serializer>(v: &Option<Mac>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(m) => s.collect_str(m),
        None => s.serialize_none(),
    }
}
