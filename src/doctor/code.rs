//! Disposition codes (pure): one stable word per verdict and per cause,
//! for scripts and for people who know Batfish's (DELIVERED, DENIED_IN,
//! NO_ROUTE, NULL_ROUTED, NEIGHBOR_UNREACHABLE, LOOP …). Rule ids say
//! exactly what was found; the code says what kind of failure it is.
//! docs/doctor.md has the table; a test holds it to `TABLE`.

use serde::Serialize;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Code {
    Delivered,
    NoListener,
    DeniedIn,
    DeniedOut,
    DeniedForward,
    Rejected,
    Translated,
    NoRoute,
    NullRouted,
    NeighborUnreachable,
    LinkDown,
    Mtu,
    Loop,
    Impaired,
    Unknown,
}

impl Code {
    pub fn as_str(self) -> &'static str {
        match self {
            Code::Delivered => "DELIVERED",
            Code::NoListener => "NO_LISTENER",
            Code::DeniedIn => "DENIED_IN",
            Code::DeniedOut => "DENIED_OUT",
            Code::DeniedForward => "DENIED_FORWARD",
            Code::Rejected => "REJECTED",
            Code::Translated => "TRANSLATED",
            Code::NoRoute => "NO_ROUTE",
            Code::NullRouted => "NULL_ROUTED",
            Code::NeighborUnreachable => "NEIGHBOR_UNREACHABLE",
            Code::LinkDown => "LINK_DOWN",
            Code::Mtu => "MTU",
            Code::Loop => "LOOP",
            Code::Impaired => "IMPAIRED",
            Code::Unknown => "UNKNOWN",
        }
    }
}

impl std::fmt::Display for Code {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Every code with what it means (the docs' table holds the same).
pub const TABLE: &[(Code, &str)] = &[
    (
        Code::Delivered,
        "the probe arrived and was answered: the echo reply came back, the TCP connection was made, the UDP datagram drew no error",
    ),
    (
        Code::NoListener,
        "the packet arrived, but no socket takes it: nothing listens on the port, a listener is bound to another address (127.0.0.1) or sits in another namespace, or its accept queue is full",
    ),
    (
        Code::DeniedIn,
        "a filter on the receiving side drops it (input hook, netdev ingress, rp_filter, echo ignored)",
    ),
    (
        Code::DeniedOut,
        "a filter on the sending side drops it (output and postrouting hooks)",
    ),
    (
        Code::DeniedForward,
        "a filter in a namespace or bridge in between drops it (forward hook, br_netfilter, bridge family)",
    ),
    (
        Code::Rejected,
        "a filter rule rejects it and says so: a TCP reset or an ICMP unreachable came back",
    ),
    (
        Code::Translated,
        "address translation (DNAT, redirect, SNAT, masquerade) sends it somewhere else than asked",
    ),
    (
        Code::NoRoute,
        "a namespace on the way has no route for it (there or back), no address to send from, or does not forward",
    ),
    (
        Code::NullRouted,
        "a blackhole, unreachable or prohibit route swallows it",
    ),
    (
        Code::NeighborUnreachable,
        "the next hop's MAC address cannot be resolved: ARP/NDP unanswered, wrong subnet, duplicate or wrong addresses",
    ),
    (
        Code::LinkDown,
        "an interface on the way is down, has no carrier, is missing, in another namespace, or off its bridge",
    ),
    (Code::Mtu, "the packet is bigger than an MTU on the way"),
    (Code::Loop, "routes send it round in a loop"),
    (
        Code::Impaired,
        "link conditions or a queueing discipline on the way lose it (loss, corruption, delay, drops)",
    ),
    (Code::Unknown, "it failed and no rule explains why"),
];

/// The code of a rule's finding, by its id.
pub fn of_rule(id: &str) -> Code {
    let family = id.split('.').next().unwrap_or("");
    match (family, id) {
        (_, "filter.output") => Code::DeniedOut,
        (_, "filter.forward" | "filter.br-netfilter" | "filter.bridge") => Code::DeniedForward,
        (_, "filter.arp") => Code::NeighborUnreachable,
        (_, "filter.reject") => Code::Rejected,
        ("filter", _) => Code::DeniedIn,
        (_, "route.refused") => Code::NullRouted,
        (_, "route.gateway") => Code::NeighborUnreachable,
        (_, "route.rp-filter") => Code::DeniedIn,
        (_, "route.loop") => Code::Loop,
        ("route", _) => Code::NoRoute,
        (_, "addr.missing") => Code::NoRoute,
        ("addr" | "neigh", _) => Code::NeighborUnreachable,
        ("link" | "bridge", _) => Code::LinkDown,
        ("size", _) => Code::Mtu,
        ("cond" | "queue", _) => Code::Impaired,
        ("service", _) => Code::NoListener,
        ("nat", _) => Code::Translated,
        _ => Code::Unknown,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_rule_id_has_a_code_and_every_code_a_meaning() {
        for r in crate::doctor::rules::RULES {
            for id in r.ids {
                assert_ne!(of_rule(id), Code::Unknown, "{id}");
            }
        }
        assert_eq!(of_rule("filter.input"), Code::DeniedIn);
        assert_eq!(of_rule("route.refused"), Code::NullRouted);
        assert_eq!(of_rule("kernel.drop"), Code::Unknown);
        let json = serde_json::to_string(&Code::NeighborUnreachable).unwrap();
        assert_eq!(json, "\"NEIGHBOR_UNREACHABLE\"");
        for (c, _) in TABLE {
            assert_eq!(serde_json::to_string(c).unwrap(), format!("\"{c}\""));
        }
        assert_eq!(TABLE.len(), 15);
    }

    /// docs/doctor.md's table of codes names every code, with the same meaning.
    #[test]
    fn the_docs_table_matches() {
        let docs = include_str!("../../docs/doctor.md");
        for (c, meaning) in TABLE {
            let row = format!("| `{c}` | {meaning} |");
            assert!(docs.contains(&row), "docs/doctor.md lacks the row:\n{row}");
        }
    }
}
