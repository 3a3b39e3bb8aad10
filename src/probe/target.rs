//! Nodes and their addresses, pure: a node is a namespace (by its name, or
//! `host`); a destination is a node or an address.

use std::net::IpAddr;

use crate::model::live::LiveNs;

/// Address families a ping may be limited to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    V4,
    V6,
}

impl Family {
    pub fn matches(self, ip: &IpAddr) -> bool {
        match self {
            Family::V4 => ip.is_ipv4(),
            Family::V6 => ip.is_ipv6(),
        }
    }
}

/// The addresses a node answers on for others: global-scope addresses of
/// its interfaces other than `lo`, usable (not tentative, no failed DAD).
pub fn node_addrs(ns: &LiveNs) -> Vec<IpAddr> {
    let mut out = Vec::new();
    for l in ns.links.iter().filter(|l| l.name != "lo") {
        for a in &l.addrs {
            let ip = a.net.addr();
            if a.scope == 0
                && !a.tentative
                && !a.dadfailed
                && !ip.is_loopback()
                && !out.contains(&ip)
            {
                out.push(ip);
            }
        }
    }
    out
}

/// The address of `dst` to ping from `src`: one on a subnet `src` is
/// connected to, else the first global one; within a family if asked.
pub fn pick_addr(src: &LiveNs, dst: &LiveNs, family: Option<Family>) -> Option<IpAddr> {
    let candidates: Vec<IpAddr> = node_addrs(dst)
        .into_iter()
        .filter(|a| family.is_none_or(|f| f.matches(a)))
        .collect();
    let connected = candidates.iter().find(|a| {
        src.links
            .iter()
            .filter(|l| l.name != "lo")
            .flat_map(|l| l.addrs.iter())
            .any(|s| s.net.contains(*a))
    });
    connected.or(candidates.first()).copied()
}

/// The nodes holding `ip` on one of their interfaces: where a server for
/// that address has to run.
pub fn owners<'a>(
    nodes: impl IntoIterator<Item = (&'a str, &'a LiveNs)>,
    ip: IpAddr,
) -> Vec<String> {
    nodes
        .into_iter()
        .filter(|(_, ns)| {
            ns.links
                .iter()
                .flat_map(|l| l.addrs.iter())
                .any(|a| a.net.addr() == ip)
        })
        .map(|(n, _)| n.to_string())
        .collect()
}

/// Names in the order people count: `n2` before `n10`.
pub fn natural_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    fn chunks(s: &str) -> Vec<(bool, &str)> {
        let mut out = Vec::new();
        let mut start = 0;
        let b = s.as_bytes();
        for i in 1..=b.len() {
            if i == b.len() || b[i].is_ascii_digit() != b[start].is_ascii_digit() {
                out.push((b[start].is_ascii_digit(), &s[start..i]));
                start = i;
            }
        }
        out
    }
    let (x, y) = (chunks(a), chunks(b));
    for (p, q) in x.iter().zip(&y) {
        let o = match (p, q) {
            ((true, p), (true, q)) => {
                let (p, q) = (p.trim_start_matches('0'), q.trim_start_matches('0'));
                p.len().cmp(&q.len()).then_with(|| p.cmp(q))
            }
            ((_, p), (_, q)) => p.cmp(q),
        };
        if o.is_ne() {
            return o;
        }
    }
    x.len().cmp(&y.len()).then_with(|| a.cmp(b))
}

/// What the user named as a destination.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Dest {
    Addr(IpAddr),
    Node(String),
}

pub fn parse_dest(s: &str) -> Dest {
    match s.parse::<IpAddr>() {
        Ok(ip) => Dest::Addr(ip),
        Err(_) => Dest::Node(s.to_string()),
    }
}

/// "unknown node `x`; known nodes: host, ns1, ns2" with at most 30 named.
pub fn unknown_node(name: &str, known: &[String]) -> String {
    let mut list: Vec<&str> = known.iter().map(String::as_str).take(30).collect();
    if known.len() > 30 {
        list.push("…");
    }
    format!(
        "unknown node `{}`: no namespace of that name (known nodes: {})",
        crate::model::names::printable(name),
        list.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::path::tests::{addr, link};

    fn ns(name: &str, addrs: &[(&str, &str)]) -> LiveNs {
        let mut n = LiveNs {
            ns: name.into(),
            ..Default::default()
        };
        let mut lo = link(1, "lo", "");
        lo.addrs.push(addr("127.0.0.1/8"));
        n.links.push(lo);
        for (i, (ifname, a)) in addrs.iter().enumerate() {
            let mut l = link(2 + i as u32, ifname, "veth");
            let mut la = addr(a);
            if a.starts_with("fe80") {
                la.scope = 253;
            }
            l.addrs.push(la);
            n.links.push(l);
        }
        n
    }

    #[test]
    fn picks_the_address_on_a_shared_subnet() {
        let src = ns("a", &[("eth0", "10.0.2.5/24")]);
        let dst = ns(
            "b",
            &[
                ("eth0", "10.0.1.2/24"),
                ("eth1", "10.0.2.2/24"),
                ("eth2", "fe80::1/64"),
                ("eth3", "2001:db8::2/64"),
            ],
        );
        assert_eq!(
            node_addrs(&dst),
            ["10.0.1.2", "10.0.2.2", "2001:db8::2"]
                .map(|s| s.parse::<IpAddr>().unwrap())
                .to_vec(),
            "global addresses only, lo and link-local left out"
        );
        assert_eq!(
            pick_addr(&src, &dst, None),
            Some("10.0.2.2".parse().unwrap())
        );
        let far = ns("c", &[("eth0", "172.16.0.1/24")]);
        assert_eq!(
            pick_addr(&far, &dst, None),
            Some("10.0.1.2".parse().unwrap())
        );
        assert_eq!(
            pick_addr(&far, &dst, Some(Family::V6)),
            Some("2001:db8::2".parse().unwrap())
        );
        assert_eq!(pick_addr(&far, &ns("d", &[]), None), None);
    }

    #[test]
    fn an_address_leads_to_the_nodes_holding_it() {
        let a = ns("a", &[("eth0", "10.0.0.1/24")]);
        let b = ns("b", &[("eth0", "10.0.0.2/24"), ("eth1", "2001:db8::2/64")]);
        let c = ns("c", &[("eth0", "10.0.0.2/24")]);
        let all = [("a", &a), ("b", &b), ("c", &c)];
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert_eq!(owners(all, ip("10.0.0.1")), ["a"]);
        assert_eq!(owners(all, ip("2001:db8::2")), ["b"]);
        assert_eq!(owners(all, ip("10.0.0.2")), ["b", "c"]);
        assert!(owners(all, ip("10.0.0.9")).is_empty());
    }

    #[test]
    fn names_sort_as_people_count() {
        let mut v = vec!["n10", "n2", "n1", "host", "n02", "a", "n1b", ""];
        v.sort_by(|a, b| natural_cmp(a, b));
        assert_eq!(v, ["", "a", "host", "n1", "n1b", "n02", "n2", "n10"]);
    }

    #[test]
    fn destinations_are_addresses_or_nodes() {
        assert_eq!(
            parse_dest("10.0.0.1"),
            Dest::Addr("10.0.0.1".parse().unwrap())
        );
        assert_eq!(
            parse_dest("2001:db8::1"),
            Dest::Addr("2001:db8::1".parse().unwrap())
        );
        assert_eq!(parse_dest("ns1"), Dest::Node("ns1".into()));
        let m = unknown_node("nsx", &["host".into(), "ns1".into()]);
        assert!(m.contains("known nodes: host, ns1"), "{m}");
    }
}
