//! Kernel drop reasons (SKB_DROP_REASON_*) in plain words (pure), and which
//! rules they are evidence for.

/// "by netfilter", "by the reverse path filter", …: who dropped it.
pub fn by(reason: &str) -> &'static str {
    match reason {
        "NETFILTER_DROP" => "by netfilter",
        "IP_RPFILTER" => "by the reverse path filter (rp_filter)",
        "IP_INNOROUTES" | "IP_OUTNOROUTES" => "for want of a route",
        "IP_INADDRERRORS" => "as not forwardable (forwarding off, or a bad address)",
        "NEIGH_FAILED" | "NEIGH_QUEUEFULL" | "NEIGH_CREATEFAIL" | "NEIGH_DEAD" => {
            "because the next hop's MAC address could not be resolved (ARP/NDP)"
        }
        "QDISC_DROP" | "QDISC_OVERLIMIT" | "QDISC_CONGESTED" => "by a queueing discipline",
        "BRIDGE_INGRESS_STP_STATE" => "by the bridge, because of its port's STP state",
        "PKT_TOO_BIG" => "as larger than the MTU",
        "OTHERHOST" => "as addressed to another host's MAC",
        "IPV6DISABLED" => "because IPv6 is disabled",
        "NO_SOCKET" => "with no socket to take it",
        "IP_LOCAL_SOURCE" | "IP_INVALID_SOURCE" => "for its source address",
        "DEV_READY" => "because the interface was not ready (down)",
        "TC_INGRESS" | "TC_EGRESS" => "by a tc filter",
        "UNHANDLED_PROTO" => "as a protocol nobody handles",
        _ => "by the kernel",
    }
}

/// The rule families a reason is evidence for (`filter.` matches every
/// filter rule).
pub fn supports(reason: &str) -> &'static [&'static str] {
    match reason {
        "NETFILTER_DROP" => &["filter."],
        "IP_RPFILTER" => &["route.rp-filter"],
        "IP_INNOROUTES" | "IP_OUTNOROUTES" => &["route.", "addr.", "link."],
        "IP_INADDRERRORS" => &["route.forwarding-off"],
        "NEIGH_FAILED" | "NEIGH_QUEUEFULL" | "NEIGH_CREATEFAIL" | "NEIGH_DEAD" => {
            &["neigh.", "addr.", "link.", "bridge.", "route.gateway"]
        }
        "QDISC_DROP" | "QDISC_OVERLIMIT" | "QDISC_CONGESTED" => &["queue."],
        "BRIDGE_INGRESS_STP_STATE" => &["bridge.stp-state"],
        "PKT_TOO_BIG" => &["size."],
        "OTHERHOST" => &["addr.duplicate-mac", "neigh.wrong-permanent"],
        "IPV6DISABLED" => &["addr."],
        "DEV_READY" => &["link."],
        _ => &[],
    }
}

/// Whether a rule id names the kernel's own decision at a hop (the route
/// or bridge decision asked of it): any drop there is that decision's.
pub fn decision(id: &str) -> bool {
    matches!(
        id,
        "route.policy"
            | "route.specific"
            | "route.local"
            | "route.loop"
            | "bridge.fdb"
            | "bridge.port-flag"
    )
}

/// Whether a drop with this reason is telling on its own (a cause when no
/// rule explains it), rather than routine noise such as NOT_SPECIFIED.
pub fn telling(reason: &str) -> bool {
    !matches!(reason, "NOT_SPECIFIED" | "" | "NO_SOCKET" | "SOCKET_FILTER")
}
