//! The rules and the verdict on snapshots made by hand (no root): the
//! seed's bridge network and a routed one, each broken in data the way the
//! kernel shows the fault.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;

use super::case::{Case, Ctx, Probe};
use super::netfilter::tests::{chain, rule, verdict};
use super::rules;
use super::snapshot::{Detail, Snapshot};
use super::verdict::{Status, decide};
use super::way::Way;
use crate::model::live::{LiveNs, LiveQdisc};
use crate::model::nft::{self, Ruleset, Table};
use crate::probe::path::tests::{addr, connected, seed_bridge, veth, via};
use crate::probe::path::veth_peers;

fn snapshot(all: Vec<LiveNs>) -> Snapshot {
    let refs: Vec<&LiveNs> = all.iter().collect();
    let peers = veth_peers(&refs, &HashMap::new()).0;
    let detail: BTreeMap<String, Detail> = all
        .iter()
        .map(|n| {
            (
                n.ns.clone(),
                Detail {
                    nft: Some(Ruleset::default()),
                    ..Detail::default()
                },
            )
        })
        .collect();
    Snapshot {
        ns: all.into_iter().map(|n| (n.ns.clone(), n)).collect(),
        peers,
        detail,
        ..Snapshot::default()
    }
}

/// The verdict's status and cause ids for a probe from `src` to node `dst`.
fn diagnose(
    s: &Snapshot,
    src: &str,
    dst: &str,
    answered: bool,
    size: usize,
) -> (Status, Vec<&'static str>) {
    let topo = s.topology();
    let dn = s.get(dst).unwrap();
    let ip = crate::probe::target::pick_addr(s.get(src).unwrap(), dn, None);
    let (fwd, back) = match ip {
        Some(ip) => {
            let f = Way::new(topo.path(src, ip), Some(ip));
            let back_src = f.src;
            let b = match (f.delivered_in(), back_src) {
                (Some(ns), Some(bs)) => Way::new(topo.path(ns, bs), Some(bs)),
                (None, Some(bs)) => match topo.owners(ip).first() {
                    Some(o) => Way::new(topo.path(o, bs), Some(bs)),
                    None => Way::none(),
                },
                _ => Way::none(),
            };
            (f, b)
        }
        None => (Way::none(), Way::none()),
    };
    let case = Case {
        src: src.into(),
        dst_arg: dst.into(),
        dst_node: Some(dst.into()),
        dst: ip,
        v6: false,
        size,
        service: None,
    };
    let probe = Probe {
        sent: true,
        answered,
        ..Probe::default()
    };
    let cx = Ctx {
        snap: s,
        topo,
        case: &case,
        probe: &probe,
        fwd: &fwd,
        back: &back,
        drops: &[],
    };
    let (status, causes, _) = decide(&cx, rules::run(&cx));
    (status, causes.iter().map(|f| f.id).collect())
}

fn seed() -> Vec<LiveNs> {
    let mut all = seed_bridge();
    for n in &mut all {
        for l in &mut n.links {
            l.mtu = 1500;
        }
    }
    all
}

/// ns1 [eth0 10.0.1.2] — [eth1 10.0.1.1] r1 [eth2 10.0.2.1] — [eth0 10.0.2.2] ns2
fn routed() -> Vec<LiveNs> {
    let mk = |name: &str| LiveNs {
        ns: name.into(),
        ..Default::default()
    };
    let mut ns1 = mk("ns1");
    let mut e = veth(2, "eth0", 2);
    e.addrs.push(addr("10.0.1.2/24"));
    ns1.links = vec![e];
    ns1.routes = vec![connected("10.0.1.2/24", 2), via("0.0.0.0/0", "10.0.1.1")];
    let mut r1 = mk("r1");
    let mut e1 = veth(2, "eth1", 2);
    e1.addrs.push(addr("10.0.1.1/24"));
    let mut e2 = veth(3, "eth2", 3);
    e2.addrs.push(addr("10.0.2.1/24"));
    r1.links = vec![e1, e2];
    r1.routes = vec![connected("10.0.1.1/24", 2), connected("10.0.2.1/24", 3)];
    r1.sysctls.insert("net.ipv4.ip_forward".into(), "1".into());
    let mut ns2 = mk("ns2");
    let mut e = veth(3, "eth0", 3);
    e.addrs.push(addr("10.0.2.2/24"));
    ns2.links = vec![e];
    ns2.routes = vec![connected("10.0.2.2/24", 3), via("0.0.0.0/0", "10.0.2.1")];
    let mut all = vec![ns1, r1, ns2];
    for n in &mut all {
        for l in &mut n.links {
            l.mtu = 1500;
        }
    }
    all
}

#[test]
fn a_healthy_path_names_no_cause() {
    let s = snapshot(seed());
    assert_eq!(
        diagnose(&s, "ns1", "ns2", true, 56),
        (Status::Works, vec![])
    );
    let s = snapshot(routed());
    assert_eq!(
        diagnose(&s, "ns1", "ns2", true, 56),
        (Status::Works, vec![])
    );
    // Nothing wrong in the state, yet no reply: the doctor cannot tell.
    assert_eq!(
        diagnose(&s, "ns1", "ns2", false, 56),
        (Status::Unknown, vec![])
    );
}

#[test]
fn down_links_are_named_where_they_are_and_explain_the_routes_they_take() {
    // ns2's end down: its peer loses carrier, its connected route goes.
    let mut all = seed();
    all[2].links[1].admin_up = false;
    all[2].routes.clear();
    all[0].links[3].lower_up = false;
    let s = snapshot(all);
    assert_eq!(
        diagnose(&s, "ns1", "ns2", false, 56),
        (Status::Found, vec!["link.down"])
    );
    // The bridge down: its ports are disabled, which is not another cause.
    let mut all = seed();
    all[0].links[1].admin_up = false;
    for p in &mut all[0].links[2..] {
        p.port_state = Some(0);
    }
    let s = snapshot(all);
    assert_eq!(diagnose(&s, "ns1", "ns2", false, 56).1, ["link.down"]);
}

#[test]
fn a_blocking_port_a_narrow_prefix_and_arp_ignore() {
    let mut all = seed();
    all[0].links[3].port_state = Some(4);
    let s = snapshot(all);
    assert_eq!(
        diagnose(&s, "ns1", "ns2", false, 56).1,
        ["bridge.stp-state"]
    );

    let mut all = seed();
    all[2].links[1].addrs = vec![addr("192.168.1.2/32")];
    all[2].routes.clear();
    let s = snapshot(all);
    assert_eq!(diagnose(&s, "ns1", "ns2", false, 56).1, ["addr.prefix"]);

    let mut all = seed();
    all[2]
        .sysctls
        .insert("net.ipv4.conf.all.arp_ignore".into(), "8".into());
    let s = snapshot(all);
    assert_eq!(
        diagnose(&s, "ns1", "ns2", false, 56).1,
        ["neigh.arp-ignore"]
    );

    let mut all = seed();
    all[2]
        .sysctls
        .insert("net.ipv4.icmp_echo_ignore_all".into(), "1".into());
    let s = snapshot(all);
    assert_eq!(
        diagnose(&s, "ns1", "ns2", false, 56).1,
        ["filter.icmp-echo-ignore"]
    );
}

#[test]
fn br_netfilter_with_a_forward_policy_drop() {
    let mut all = seed();
    all[0]
        .sysctls
        .insert("net.bridge.bridge-nf-call-iptables".into(), "1".into());
    let mut s = snapshot(all.clone());
    let fwd = chain(
        nft::IPV4,
        "filter",
        "FORWARD",
        Some(nft::FORWARD),
        nft::NF_DROP,
    );
    s.detail.get_mut("host").unwrap().nft = Some(Ruleset {
        tables: vec![Table {
            family: nft::IPV4,
            name: "filter".into(),
        }],
        chains: vec![fwd.clone()],
        rules: vec![],
    });
    assert_eq!(
        diagnose(&s, "ns1", "ns2", false, 56).1,
        ["filter.br-netfilter"]
    );
    // With an accept rule for what br0 bridges, nothing to say.
    let mut e = super::netfilter::tests::iifname("br0");
    e.push(verdict(nft::NF_ACCEPT, None));
    if let Some(rs) = s.detail.get_mut("host").unwrap().nft.as_mut() {
        rs.rules.push(rule(&fwd, 9, e));
    }
    assert_eq!(diagnose(&s, "ns1", "ns2", false, 56).1, Vec::<&str>::new());
    // br_netfilter off: the ip hooks never see bridged frames.
    all[0]
        .sysctls
        .insert("net.bridge.bridge-nf-call-iptables".into(), "0".into());
    let mut s2 = snapshot(all);
    s2.detail.get_mut("host").unwrap().nft = Some(Ruleset {
        tables: vec![],
        chains: vec![fwd],
        rules: vec![],
    });
    assert_eq!(diagnose(&s2, "ns1", "ns2", false, 56).1, Vec::<&str>::new());
}

#[test]
fn routers_that_do_not_forward_and_routes_that_are_missing() {
    let mut all = routed();
    all[1]
        .sysctls
        .insert("net.ipv4.ip_forward".into(), "0".into());
    let s = snapshot(all);
    assert_eq!(
        diagnose(&s, "ns1", "ns2", false, 56).1,
        ["route.forwarding-off"]
    );

    let mut all = routed();
    all[2].routes.retain(|r| r.via.is_none());
    all[1]
        .sysctls
        .insert("net.ipv4.ip_forward".into(), "1".into());
    let s = snapshot(all);
    assert_eq!(diagnose(&s, "ns1", "ns2", false, 56).1, ["route.no-return"]);
}

#[test]
fn queues_and_sizes() {
    let mut s = snapshot(seed());
    s.detail.get_mut("ns1").unwrap().qdiscs = vec![LiveQdisc {
        ifindex: 2,
        kind: "pfifo".into(),
        handle: 0x8001_0000,
        parent: 0xffff_ffff,
        limit: Some(0),
        ..LiveQdisc::default()
    }];
    assert_eq!(diagnose(&s, "ns1", "ns2", false, 56).1, ["queue.drops"]);

    let mut all = seed();
    all[2].links[1].mtu = 1400;
    let s = snapshot(all);
    assert_eq!(diagnose(&s, "ns1", "ns2", false, 1450).1, ["size.mtu"]);
    assert_eq!(diagnose(&s, "ns1", "ns2", false, 56).1, Vec::<&str>::new());
}

#[test]
fn a_veth_whose_other_end_is_gone_has_no_carrier() {
    // ns2 is not under /run/netns: br0-veth1's other end cannot be seen.
    let mut all = seed();
    all.retain(|n| n.ns != "ns2");
    all[0].links[3].lower_up = false;
    let s = snapshot(all);
    let topo = s.topology();
    let ip: IpAddr = "192.168.1.3".parse().unwrap();
    let fwd = Way::new(topo.path("host", ip), Some(ip));
    let case = Case {
        src: "ns1".into(),
        dst_arg: "ns3".into(),
        dst_node: None,
        dst: Some(ip),
        v6: false,
        size: 56,
        service: None,
    };
    let probe = Probe::default();
    let mut back = Way::none();
    // A way that crosses the port without carrier.
    let p = topo.path("ns1", "192.168.1.3".parse().unwrap());
    assert!(p.delivered());
    back.path.points.push(crate::probe::path::Point {
        ns: "host".into(),
        iface: "br0-veth1".into(),
        ifindex: 12,
        dir: crate::probe::path::Dir::Out,
        bridge: Some("br0".into()),
    });
    let cx = Ctx {
        snap: &s,
        topo,
        case: &case,
        probe: &probe,
        fwd: &fwd,
        back: &back,
        drops: &[],
    };
    let f = rules::link::down(&cx);
    assert_eq!(f.len(), 1, "{f:?}");
    assert_eq!(f[0].id, "link.no-carrier");
    assert!(
        f[0].cause.contains("namespace vnet cannot see"),
        "{}",
        f[0].cause
    );
}

#[test]
fn unanswered_arp_is_named_only_when_nothing_explains_it() {
    use crate::model::live::{LiveNeigh, NUD_INCOMPLETE};
    let mut s = snapshot(seed());
    s.detail.get_mut("ns1").unwrap().neigh = vec![LiveNeigh {
        ifindex: 2,
        ip: "192.168.1.2".parse().unwrap(),
        lladdr: None,
        state: NUD_INCOMPLETE,
    }];
    assert_eq!(
        diagnose(&s, "ns1", "ns2", false, 56),
        (Status::Found, vec!["neigh.failed"])
    );
    // With a cause on the way, the symptom is left out.
    s.ns.get_mut("ns2").unwrap().links[1].noarp = true;
    assert_eq!(diagnose(&s, "ns1", "ns2", false, 56).1, ["neigh.noarp"]);
}
