//! What the kernel answers when asked about one packet (plain data, pure):
//! the route it picks (RTM_GETROUTE, as `ip route get` asks), the policy
//! rules it consults, the bridge forwarding database and the flags of each
//! bridge port. The kernel room fills these; the doctor reads them.

use std::net::IpAddr;

use ipnet::IpNet;

use crate::model::lab::Mac;

/// RTN_* route types (linux/rtnetlink.h).
pub const RTN_UNICAST: u8 = 1;
pub const RTN_LOCAL: u8 = 2;
pub const RTN_BROADCAST: u8 = 3;
pub const RTN_BLACKHOLE: u8 = 6;
pub const RTN_UNREACHABLE: u8 = 7;
pub const RTN_PROHIBIT: u8 = 8;

/// Routing tables with names (linux/rtnetlink.h).
pub const RT_TABLE_DEFAULT: u32 = 253;
pub const RT_TABLE_MAIN: u32 = 254;
pub const RT_TABLE_LOCAL: u32 = 255;

/// FR_ACT_* rule actions (linux/fib_rules.h).
pub const FR_ACT_TO_TBL: u8 = 1;
pub const FR_ACT_GOTO: u8 = 2;
pub const FR_ACT_NOP: u8 = 3;
pub const FR_ACT_BLACKHOLE: u8 = 6;
pub const FR_ACT_UNREACHABLE: u8 = 7;
pub const FR_ACT_PROHIBIT: u8 = 8;

/// The question: one packet as it is at one namespace.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RouteQuery {
    pub dst: Option<IpAddr>,
    pub src: Option<IpAddr>,
    /// The interface it arrived on (a forwarded packet), by index and name.
    pub iif: Option<u32>,
    pub iif_name: Option<String>,
    pub mark: u32,
    /// IP protocol number (1 ICMP, 58 ICMPv6, 6 TCP, 17 UDP).
    pub proto: u8,
}

/// The kernel's answer to a route query.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RouteAnswer {
    pub query: RouteQuery,
    /// The errno of a refusal (ENETUNREACH, EHOSTUNREACH, EACCES, EINVAL…).
    pub errno: Option<i32>,
    /// The route's type (RTN_*).
    pub kind: u8,
    pub table: u32,
    pub oif: Option<u32>,
    pub gateway: Option<IpAddr>,
    pub prefsrc: Option<IpAddr>,
    /// The route entry that matched (asked with RTM_F_FIB_MATCH): its
    /// prefix; None when the kernel did not say.
    pub matched: Option<IpNet>,
    /// The matched entry's metric.
    pub metric: Option<u32>,
}

impl RouteAnswer {
    /// Whether the kernel named the route (a table) with its answer.
    pub fn answered_route(&self) -> Option<u32> {
        (self.table != 0).then_some(self.table)
    }
}

/// One policy routing rule (`ip rule`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RuleEntry {
    pub priority: u32,
    pub v6: bool,
    /// FR_ACT_*.
    pub action: u8,
    pub table: u32,
    pub src: Option<IpNet>,
    pub dst: Option<IpNet>,
    pub iif: Option<String>,
    pub oif: Option<String>,
    pub fwmark: Option<u32>,
    pub fwmask: Option<u32>,
    pub ipproto: Option<u8>,
    pub invert: bool,
    /// Selectors vnet does not evaluate (ports, uid range, tos…).
    pub unevaluated: bool,
}

/// NUD_* and NTF_* values a forwarding database entry carries.
pub const NUD_PERMANENT: u16 = 0x80;
pub const NUD_NOARP: u16 = 0x40;
pub const NTF_SELF: u8 = 0x02;
pub const NTF_MASTER: u8 = 0x04;
pub const NTF_EXT_LEARNED: u8 = 0x10;
pub const NTF_STICKY: u8 = 0x40;

/// One bridge forwarding database entry (`bridge fdb`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FdbEntry {
    pub mac: Mac,
    /// The port it sends the MAC to.
    pub port: u32,
    /// The bridge it belongs to.
    pub bridge: Option<u32>,
    pub state: u16,
    pub flags: u8,
    pub vlan: Option<u16>,
    /// Seconds since it was last refreshed (learned entries).
    pub age_s: Option<u64>,
}

impl FdbEntry {
    /// `static`, `permanent`, `sticky`, `extern_learn` or `learned`, as
    /// `bridge fdb` says it.
    pub fn kind(&self) -> &'static str {
        if self.flags & NTF_STICKY != 0 {
            "sticky"
        } else if self.flags & NTF_EXT_LEARNED != 0 {
            "extern_learn"
        } else if self.state & NUD_NOARP != 0 && self.state & NUD_PERMANENT == 0 {
            "static"
        } else if self.state & NUD_PERMANENT != 0 {
            "permanent"
        } else {
            "learned"
        }
    }

    /// Whether the kernel keeps it whatever is learned (not aged out, not
    /// moved by a frame from elsewhere).
    pub fn fixed(&self) -> bool {
        self.kind() != "learned"
    }
}

/// A bridge port's flags that decide forwarding and flooding
/// (`bridge -d link`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PortFlags {
    pub learning: bool,
    pub unicast_flood: bool,
    pub mcast_flood: bool,
    pub bcast_flood: bool,
    pub isolated: bool,
    pub neigh_suppress: bool,
    pub locked: bool,
    pub mab: bool,
    pub hairpin: bool,
    pub proxy_arp: bool,
}

impl Default for PortFlags {
    /// What `ip link set … master` gives a new port.
    fn default() -> PortFlags {
        PortFlags {
            learning: true,
            unicast_flood: true,
            mcast_flood: true,
            bcast_flood: true,
            isolated: false,
            neigh_suppress: false,
            locked: false,
            mab: false,
            hairpin: false,
            proxy_arp: false,
        }
    }
}
