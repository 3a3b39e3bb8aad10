//! The checks along the path (pure): each a small named rule reading the
//! snapshot and the ways, returning findings with their evidence and fixes.
//! A rule never sends, never changes anything, and never imports the kernel.

pub mod addr;
pub mod bridge;
pub mod cond;
pub mod decision;
pub mod filter;
pub mod hooks;
pub mod link;
pub mod neigh;
pub mod port;
pub mod queue;
pub mod route;
pub mod service;
pub mod size;

use super::case::Ctx;
use super::finding::Finding;

pub struct Rule {
    /// The ids of the findings it can report.
    pub ids: &'static [&'static str],
    pub about: &'static str,
    pub check: fn(&Ctx) -> Vec<Finding>,
}

/// Every rule, in the order their findings are listed.
pub const RULES: &[Rule] = &[
    Rule {
        ids: &["link.down", "link.no-carrier"],
        about: "an interface on the way (either veth end, a bridge port, the bridge) is down",
        check: link::down,
    },
    Rule {
        ids: &["link.wrong-ns", "link.moved", "link.none"],
        about: "the destination has no interface: a veth end never moved into it, or moved out of it into another namespace",
        check: link::placement,
    },
    Rule {
        ids: &["bridge.not-enslaved"],
        about: "the veth end that leads on is not a port of the bridge",
        check: bridge::not_enslaved,
    },
    Rule {
        ids: &["bridge.stp-state"],
        about: "a bridge port on the way is not forwarding (STP: listening, learning, blocking, disabled)",
        check: bridge::stp_state,
    },
    Rule {
        ids: &["addr.missing"],
        about: "an interface on the way has no address of the family, or nobody holds the destination",
        check: addr::missing,
    },
    Rule {
        ids: &["addr.wrong-subnet", "addr.prefix"],
        about: "two ends of one link are not on one subnet, or one's prefix is too narrow (/32)",
        check: addr::subnet,
    },
    Rule {
        ids: &["addr.duplicate-ip"],
        about: "the address is held twice: by the source itself, or twice on one link",
        check: addr::duplicate_ip,
    },
    Rule {
        ids: &["addr.duplicate-mac"],
        about: "two interfaces on one link share a MAC address",
        check: addr::duplicate_mac,
    },
    Rule {
        ids: &["addr.dadfailed", "addr.tentative"],
        about: "an IPv6 address failed duplicate address detection, or is still tentative",
        check: addr::dad,
    },
    Rule {
        ids: &["neigh.noarp"],
        about: "an interface that must resolve or answer ARP has NOARP set",
        check: neigh::noarp,
    },
    Rule {
        ids: &["neigh.arp-ignore", "neigh.arp-filter"],
        about: "arp_ignore or arp_filter stop the next hop answering ARP",
        check: neigh::arp_settings,
    },
    Rule {
        ids: &["neigh.wrong-permanent"],
        about: "a permanent neighbour entry gives the next hop a wrong MAC",
        check: neigh::wrong_permanent,
    },
    Rule {
        ids: &["neigh.failed"],
        about: "ARP/NDP for the next hop got no answer",
        check: neigh::failed,
    },
    Rule {
        ids: &["route.refused"],
        about: "a blackhole, unreachable or prohibit route",
        check: route::refused,
    },
    Rule {
        ids: &["route.gateway"],
        about: "the route's gateway is not there to answer",
        check: route::gateway,
    },
    Rule {
        ids: &["route.forwarding-off"],
        about: "a namespace on the way does not forward (IPv4, IPv6, or on its interface)",
        check: route::forwarding,
    },
    Rule {
        ids: &["route.rp-filter"],
        about: "rp_filter drops packets arriving on another interface than the route back",
        check: route::rp_filter,
    },
    Rule {
        ids: &[
            "route.policy",
            "route.specific",
            "route.local",
            "route.loop",
        ],
        about: "the route the kernel picks on the way (asked with the probe's fields) leads elsewhere: a policy rule and its table, a route more specific than the connected subnet, a route into lo, routes in a loop",
        check: decision::routes,
    },
    Rule {
        ids: &["bridge.fdb", "bridge.port-flag"],
        about: "a bridge on the way sends the frame to the wrong port (its forwarding database) or its ports' flags stop it (isolated, locked, flood, bcast_flood, learning)",
        check: port::bridges,
    },
    Rule {
        ids: &["route.no-route", "route.no-return"],
        about: "no route to the destination, or none back to the source",
        check: route::missing,
    },
    Rule {
        ids: &[
            "filter.input",
            "filter.output",
            "filter.forward",
            "filter.br-netfilter",
            "filter.bridge",
            "filter.netdev",
            "filter.arp",
        ],
        about: "an nftables or iptables chain on the way drops the probe",
        check: filter::netfilter,
    },
    Rule {
        ids: &["nat.dnat", "nat.snat"],
        about: "address translation on the way (DNAT, redirect, SNAT, masquerade) sends the connection elsewhere",
        check: service::nat,
    },
    Rule {
        ids: &[
            "service.no-listener",
            "service.wrong-address",
            "service.other-namespace",
            "service.backlog-full",
        ],
        about: "nothing listens on the port where the connection lands, only on another address (127.0.0.1), in another namespace, or its accept queue is full",
        check: service::listeners,
    },
    Rule {
        ids: &["filter.icmp-echo-ignore"],
        about: "the destination ignores echo requests (icmp_echo_ignore_all)",
        check: filter::echo_ignore,
    },
    Rule {
        ids: &["size.mtu"],
        about: "an interface on the way has a smaller MTU than the probe needs",
        check: size::mtu,
    },
    Rule {
        ids: &["cond.loss", "cond.corrupt", "cond.delay"],
        about: "link conditions on the way (loss, corruption, a delay longer than the wait) explain a lost probe",
        check: cond::conditions,
    },
    Rule {
        ids: &["queue.drops"],
        about: "a queueing discipline on the way drops packets",
        check: queue::drops,
    },
];

/// Every rule's findings, in rule order; what the main table's view of
/// the way blames on a namespace that a routing decision the kernel named
/// sent the probe into (forwarding off there, no route, an unresolved
/// gateway) is that decision's consequence, and left out.
pub fn run(cx: &Ctx) -> Vec<Finding> {
    let all: Vec<Finding> = RULES.iter().flat_map(|r| (r.check)(cx)).collect();
    let decided: Vec<&Finding> = all
        .iter()
        .filter(|f| f.id.starts_with("route.") && super::reasons::decision(f.id))
        .collect();
    if decided.is_empty() {
        return all;
    }
    let consequence = |f: &Finding| {
        matches!(
            f.id,
            "route.forwarding-off"
                | "route.no-route"
                | "route.no-return"
                | "route.gateway"
                | "route.refused"
                | "route.rp-filter"
                | "neigh.failed"
        ) && decided
            .iter()
            .any(|d| f.ns.iter().all(|n| d.ns.contains(n)))
    };
    all.iter().filter(|f| !consequence(f)).cloned().collect()
}
