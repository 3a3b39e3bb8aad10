//! An nftables ruleset as the kernel reports it over nfnetlink: tables,
//! chains (with their hook and policy) and rules as lists of expressions.
//! Plain data (pure), so the doctor can evaluate it without root; iptables-nft
//! rules are nftables rules too and appear here as such.

use serde::Serialize;

/// NFPROTO_* families.
pub const INET: u8 = 1;
pub const IPV4: u8 = 2;
pub const ARP: u8 = 3;
pub const NETDEV: u8 = 5;
pub const BRIDGE: u8 = 7;
pub const IPV6: u8 = 10;

/// NF_INET_* hooks (the bridge family numbers its hooks the same way).
pub const PREROUTING: u32 = 0;
pub const INPUT: u32 = 1;
pub const FORWARD: u32 = 2;
pub const OUTPUT: u32 = 3;
pub const POSTROUTING: u32 = 4;
/// NF_NETDEV_* hooks.
pub const NETDEV_INGRESS: u32 = 0;
pub const NETDEV_EGRESS: u32 = 1;
/// NF_ARP_* hooks.
pub const ARP_IN: u32 = 0;
pub const ARP_OUT: u32 = 1;
pub const ARP_FORWARD: u32 = 2;

/// Verdict codes: netfilter's (NF_DROP, NF_ACCEPT) and nftables' own.
pub const NF_DROP: i32 = 0;
pub const NF_ACCEPT: i32 = 1;
pub const NFT_CONTINUE: i32 = -1;
pub const NFT_BREAK: i32 = -2;
pub const NFT_JUMP: i32 = -3;
pub const NFT_GOTO: i32 = -4;
pub const NFT_RETURN: i32 = -5;

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Ruleset {
    pub tables: Vec<Table>,
    pub chains: Vec<Chain>,
    pub rules: Vec<Rule>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Table {
    pub family: u8,
    pub name: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Chain {
    pub family: u8,
    pub table: String,
    pub name: String,
    /// Base chains hook into the stack; others are only jumped to.
    pub hook: Option<Hook>,
    /// A base chain's policy: NF_ACCEPT or NF_DROP.
    pub policy: Option<i32>,
    /// "filter", "nat", "route".
    pub kind: Option<String>,
    /// Packets counted by the base chain (iptables-nft keeps these for the policy).
    pub packets: Option<u64>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Hook {
    pub num: u32,
    pub priority: i32,
    /// The device of a netdev-family chain.
    pub dev: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Rule {
    pub family: u8,
    pub table: String,
    pub chain: String,
    pub handle: u64,
    pub exprs: Vec<Expr>,
}

/// The expressions the doctor understands; anything else is `Other` and
/// makes a rule's match unknown (never assumed).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "expr", rename_all = "lowercase")]
pub enum Expr {
    Immediate {
        dreg: u32,
        data: Data,
    },
    Cmp {
        sreg: u32,
        op: u32,
        data: Vec<u8>,
    },
    /// Load a meta key into `dreg` (None: it sets the key instead).
    Meta {
        dreg: Option<u32>,
        key: u32,
    },
    Payload {
        dreg: Option<u32>,
        base: u32,
        offset: u32,
        len: u32,
    },
    Ct {
        dreg: Option<u32>,
        key: u32,
    },
    Bitwise {
        sreg: u32,
        dreg: u32,
        len: u32,
        op: u32,
        mask: Vec<u8>,
        xor: Vec<u8>,
    },
    Lookup {
        sreg: u32,
        set: String,
        inverted: bool,
    },
    Counter {
        packets: u64,
        bytes: u64,
    },
    /// `reject`: NFT_REJECT_ICMP_UNREACH (0, with an ICMP code),
    /// NFT_REJECT_TCP_RST (1), NFT_REJECT_ICMPX_UNREACH (2, with an icmpx code).
    Reject {
        kind: u32,
        code: u8,
    },
    /// An iptables target (`-j NAME`) run through the xtables compat
    /// layer (REJECT, DNAT, SNAT, MASQUERADE …): its revision and options.
    Target {
        name: String,
        rev: u32,
        info: Vec<u8>,
    },
    /// `snat` (kind 0) or `dnat` (kind 1) to the address (and port) held in
    /// the registers named.
    Nat {
        kind: u32,
        family: u8,
        reg_addr: Option<u32>,
        reg_proto: Option<u32>,
    },
    /// `redirect`: DNAT to the receiving interface's own address.
    Redirect {
        reg_proto: Option<u32>,
    },
    /// `masquerade`: SNAT to the outgoing interface's address.
    Masquerade,
    /// An iptables extension (`-m NAME`) run through the xtables compat
    /// layer: its revision and its binary options.
    Match {
        name: String,
        rev: u32,
        info: Vec<u8>,
    },
    Other {
        name: String,
    },
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Data {
    Value(Vec<u8>),
    Verdict { code: i32, chain: Option<String> },
}

pub fn family_name(f: u8) -> &'static str {
    match f {
        INET => "inet",
        IPV4 => "ip",
        ARP => "arp",
        NETDEV => "netdev",
        BRIDGE => "bridge",
        IPV6 => "ip6",
        _ => "unknown",
    }
}

pub fn hook_name(family: u8, hook: u32) -> &'static str {
    match (family, hook) {
        (NETDEV, NETDEV_INGRESS) => "ingress",
        (NETDEV, NETDEV_EGRESS) => "egress",
        (ARP, ARP_IN) => "input",
        (ARP, ARP_OUT) => "output",
        (ARP, ARP_FORWARD) => "forward",
        (_, PREROUTING) => "prerouting",
        (_, INPUT) => "input",
        (_, FORWARD) => "forward",
        (_, OUTPUT) => "output",
        (_, POSTROUTING) => "postrouting",
        (_, 5) => "ingress",
        _ => "unknown",
    }
}

impl Ruleset {
    pub fn chain(&self, family: u8, table: &str, name: &str) -> Option<&Chain> {
        self.chains
            .iter()
            .find(|c| c.family == family && c.table == table && c.name == name)
    }

    /// A chain's rules, in order.
    pub fn rules_of<'a>(&'a self, c: &'a Chain) -> impl Iterator<Item = &'a Rule> {
        self.rules
            .iter()
            .filter(move |r| r.family == c.family && r.table == c.table && r.chain == c.name)
    }

    pub fn is_empty(&self) -> bool {
        self.tables.is_empty()
    }
}

impl Chain {
    /// Made by iptables-nft (or looks like it): an upper-case chain of a
    /// table iptables uses. Fixes are then given as iptables commands.
    pub fn looks_like_iptables(&self) -> bool {
        matches!(self.family, IPV4 | IPV6 | ARP | BRIDGE)
            && matches!(
                self.table.as_str(),
                "filter" | "nat" | "mangle" | "raw" | "security" | "broute"
            )
            && self
                .name
                .chars()
                .all(|c| c.is_ascii_uppercase() || c == '-' || c == '_' || c.is_ascii_digit())
    }
}
