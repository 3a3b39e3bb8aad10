//! The planner without a kernel: plans are checked against a small
//! simulated kernel that carries out actions on `LiveNs` values. Applying a
//! plan and planning again must give nothing to do; foreign objects give
//! conflicts; drift gives exactly the corrections.

use proptest::prelude::*;
use vnet::model::conditions::{Percent, Rate, Support, Via};
use vnet::model::live::{LiveAddr, LiveLink, LiveNs, LivePeer, LiveRoute, OperState};
use vnet::model::net::desired;
use vnet::model::{Lab, Netns, owner, parse_lab};
use vnet::plan::{Action, Observed, plan};

/// A pretend kernel: the host and named namespaces.
#[derive(Default)]
struct Kernel {
    observed: Observed,
    next: u32,
}

impl Kernel {
    fn ns(&mut self, ns: &Netns) -> &mut LiveNs {
        match ns {
            Netns::Host => &mut self.observed.host,
            Netns::Named(n) => self.observed.named.get_mut(n).expect("namespace exists"),
        }
    }

    fn add_link(&mut self, ns: &Netns, name: &str, kind: &str, group: u32) -> u32 {
        self.next += 1;
        let index = self.next;
        self.ns(ns).links.push(LiveLink {
            index,
            name: name.to_string(),
            kind: Some(kind.to_string()),
            mtu: 1500,
            group,
            oper: OperState::Down,
            ..LiveLink::default()
        });
        index
    }

    fn link(&mut self, ns: &Netns, name: &str) -> &mut LiveLink {
        self.ns(ns)
            .links
            .iter_mut()
            .find(|l| l.name == name)
            .expect("link exists")
    }

    fn apply(&mut self, lab: &str, actions: &[Action]) {
        let group = owner::group(lab);
        for a in actions {
            match a {
                Action::AddNetns { ns, early_sysctls } => {
                    let mut live = LiveNs {
                        ns: ns.clone(),
                        ..LiveNs::default()
                    };
                    live.links.push(LiveLink {
                        index: 1,
                        name: "lo".into(),
                        admin_up: true,
                        alias: Some(owner::mark(lab)),
                        ..LiveLink::default()
                    });
                    for (k, v) in early_sysctls {
                        live.sysctls.insert(k.clone(), v.clone());
                    }
                    self.observed.named.insert(ns.clone(), live);
                }
                Action::DelNetns { ns } => {
                    self.observed.named.remove(ns);
                }
                Action::DelLink { ns, name } => {
                    let peer = self.ns(ns).link(name).and_then(|l| l.peer.map(|p| p.index));
                    self.ns(ns).links.retain(|l| l.name != *name);
                    if let Some(p) = peer {
                        for live in std::iter::once(&mut self.observed.host)
                            .chain(self.observed.named.values_mut())
                        {
                            live.links
                                .retain(|l| !(l.index == p && l.kind.as_deref() == Some("veth")));
                        }
                    }
                }
                Action::AddBridge { ns, name, mtu, .. } => {
                    self.add_link(ns, name, "bridge", group);
                    if let Some(m) = mtu {
                        self.link(ns, name).mtu = *m;
                    }
                    self.link(ns, name).bridge = Some(Default::default());
                }
                Action::AddVxlan { ns, name, mtu, .. } => {
                    self.add_link(ns, name, "vxlan", group);
                    if let Some(m) = mtu {
                        self.link(ns, name).mtu = *m;
                    }
                }
                Action::AddVeth { a, b } => {
                    let ia = self.add_link(&a.ns, &a.name, "veth", group);
                    let ib = self.add_link(&b.ns, &b.name, "veth", group);
                    let nsid = |x: &Netns, y: &Netns| if x == y { None } else { Some(0) };
                    self.link(&a.ns, &a.name).peer = Some(LivePeer {
                        index: ib,
                        netnsid: nsid(&a.ns, &b.ns),
                    });
                    self.link(&b.ns, &b.name).peer = Some(LivePeer {
                        index: ia,
                        netnsid: nsid(&a.ns, &b.ns),
                    });
                    for (end, i) in [(a, ia), (b, ib)] {
                        let _ = i;
                        if let Some(m) = end.mtu {
                            self.link(&end.ns, &end.name).mtu = m;
                        }
                        if let Some(mac) = end.mac {
                            self.link(&end.ns, &end.name).mac = Some(mac.0);
                        }
                    }
                }
                Action::SetLink { ns, name, set } => {
                    let master = match &set.master {
                        Some(Some(m)) => {
                            Some(Some(self.ns(ns).link(m).expect("master exists").index))
                        }
                        Some(None) => Some(None),
                        None => None,
                    };
                    let l = self.link(ns, name);
                    if let Some(m) = master {
                        l.master = m;
                    }
                    if let Some(m) = set.mtu {
                        l.mtu = m;
                    }
                    if let Some(m) = set.mac {
                        l.mac = Some(m.0);
                    }
                    if let Some(up) = set.up {
                        l.admin_up = up;
                    }
                    if let Some(a) = &set.alias {
                        l.alias = Some(a.clone());
                    }
                    if let Some(g) = set.group {
                        l.group = g;
                    }
                    if set.no_link_local {
                        l.addr_gen_mode = Some(1);
                    }
                }
                Action::SetBridge {
                    ns,
                    name,
                    stp,
                    vlan_filtering,
                } => {
                    self.link(ns, name).bridge = Some(vnet::model::live::BridgeInfo {
                        stp: *stp,
                        vlan_filtering: *vlan_filtering,
                    });
                }
                Action::SetSysctl { ns, key, value } => {
                    self.ns(ns).sysctls.insert(key.clone(), value.clone());
                }
                Action::AddAddr { ns, dev, addr } => self.link(ns, dev).addrs.push(LiveAddr {
                    net: *addr,
                    scope: 0,
                    tentative: false,
                    dadfailed: false,
                    permanent: true,
                }),
                Action::DelAddr { ns, dev, addr } => {
                    self.link(ns, dev).addrs.retain(|a| a.net != *addr)
                }
                Action::AddRoute { ns, route } => {
                    let dev = route
                        .dev
                        .as_ref()
                        .map(|d| self.ns(ns).link(d).expect("dev").index);
                    self.ns(ns).routes.push(LiveRoute {
                        dst: route.dst,
                        via: route.via,
                        dev: dev.or(Some(2)),
                        metric: route.metric,
                        table: 254,
                        protocol: 4,
                        scope: 0,
                        kind: 1,
                        prefsrc: None,
                    });
                }
                Action::DelRoute { ns, route } => self
                    .ns(ns)
                    .routes
                    .retain(|r| !(r.dst == route.dst && r.via == route.via)),
                // The kernel keeps rates in bytes per second.
                Action::SetConditions { ns, dev, to, .. } => {
                    let mut c = *to;
                    c.rate = c.rate.map(|r| Rate::from_bytes(r.bytes()));
                    self.link(ns, dev).conditions = c;
                }
            }
        }
        // Sysctls the kernel starts a namespace with.
        for live in self.observed.named.values_mut() {
            for (k, v) in [
                ("net.ipv4.ip_forward", "0"),
                ("net.ipv6.conf.all.forwarding", "0"),
            ] {
                live.sysctls
                    .entry(k.to_string())
                    .or_insert_with(|| v.to_string());
            }
        }
    }
}

fn lab(text: &str) -> Lab {
    parse_lab("t.yaml", text).unwrap_or_else(|e| panic!("{e:?}"))
}

fn example(name: &str) -> Lab {
    let path = format!("{}/examples/{name}.yaml", env!("CARGO_MANIFEST_DIR"));
    lab(&std::fs::read_to_string(path).unwrap())
}

fn converge(l: &Lab, k: &mut Kernel) -> usize {
    let net = desired(l);
    let p = plan(&l.name, &net, &k.observed);
    assert!(p.conflicts.is_empty(), "{:?}", p.conflicts);
    let n = p.actions.len();
    k.apply(&l.name, &p.actions);
    n
}

#[test]
fn applying_a_plan_leaves_nothing_to_do() {
    for name in ["seed-veth", "seed-bridge", "router"] {
        let l = example(name);
        let mut k = Kernel::default();
        assert!(converge(&l, &mut k) > 0);
        let again = plan(&l.name, &desired(&l), &k.observed);
        assert!(again.actions.is_empty(), "{name}: {:#?}", again.actions);
    }
}

#[test]
fn the_seed_plan_reads_like_the_seed() {
    let l = example("seed-bridge");
    let p = plan(&l.name, &desired(&l), &Observed::default());
    let script = vnet::plan::script::render(&p);
    let order: Vec<usize> = [
        "ip netns add ns1",
        "ip link add br0 type bridge",
        "ip link add br0-veth0 type veth peer name veth0 netns ns1",
        "ip link set dev br0-veth0 master br0",
        "ip -n ns1 addr add 192.168.1.1/24 dev veth0",
    ]
    .iter()
    .map(|c| {
        script
            .find(c)
            .unwrap_or_else(|| panic!("missing `{c}` in\n{script}"))
    })
    .collect();
    assert!(
        order.windows(2).all(|w| w[0] < w[1]),
        "out of order:\n{script}"
    );
    let c = p.counts();
    assert_eq!(c.created, 2 + 1 + 4, "2 namespaces, a bridge, 4 veth ends");
    assert_eq!(
        (c.changed, c.removed),
        (0, 0),
        "setting up new objects is not a change"
    );
}

#[test]
fn drift_is_corrected_and_nothing_else() {
    let l = example("seed-bridge");
    let mut k = Kernel::default();
    converge(&l, &mut k);
    let ns1 = Netns::Named("ns1".into());
    k.link(&ns1, "veth0").addrs.clear();
    k.link(&Netns::Host, "br0-veth1").master = None;
    let p = plan(&l.name, &desired(&l), &k.observed);
    let text: Vec<String> = p.actions.iter().map(|a| a.to_string()).collect();
    assert_eq!(
        text,
        [
            "ip link set dev br0-veth1 master br0",
            "ip -n ns1 addr add 192.168.1.1/24 dev veth0"
        ],
        "{text:#?}"
    );
    let c = p.counts();
    assert_eq!((c.created, c.changed, c.removed), (0, 2, 0));
}

#[test]
fn names_held_by_others_are_conflicts() {
    let l = example("seed-bridge");
    let mut k = Kernel::default();
    k.observed.host.links.push(LiveLink {
        index: 50,
        name: "br0".into(),
        kind: Some("bridge".into()),
        ..LiveLink::default()
    });
    k.observed.named.insert(
        "ns2".into(),
        LiveNs {
            ns: "ns2".into(),
            links: vec![LiveLink {
                index: 1,
                name: "lo".into(),
                alias: Some("vnet:other-lab".into()),
                ..LiveLink::default()
            }],
            ..LiveNs::default()
        },
    );
    let p = plan(&l.name, &desired(&l), &k.observed);
    let objects: Vec<&str> = p.conflicts.iter().map(|c| c.object.as_str()).collect();
    assert!(
        objects.iter().any(|o| o.contains("namespace ns2")),
        "{objects:?}"
    );
    assert!(
        objects.iter().any(|o| o.contains("interface br0")),
        "{objects:?}"
    );
    assert!(p.conflicts.iter().any(|c| c.owner == "lab other-lab"));
}

#[test]
fn what_the_file_drops_is_removed_and_foreign_objects_stay() {
    let l = example("seed-bridge");
    let mut k = Kernel::default();
    converge(&l, &mut k);
    // Someone attached their own interface to the lab's bridge.
    k.observed.host.links.push(LiveLink {
        index: 99,
        name: "mine".into(),
        kind: Some("veth".into()),
        master: Some(k.observed.host.link("br0").unwrap().index),
        ..LiveLink::default()
    });
    let smaller = lab(
        "name: seed-bridge\nnodes:\n  ns1: {}\n  br0: { kind: bridge }\nlinks:\n  - endpoints: [\"ns1:veth0\", \"br0:br0-veth0\"]\n",
    );
    let p = plan(&smaller.name, &desired(&smaller), &k.observed);
    let text: Vec<String> = p.actions.iter().map(|a| a.to_string()).collect();
    assert!(text.contains(&"ip netns del ns2".to_string()), "{text:#?}");
    assert!(
        text.contains(&"ip link del dev br0-veth1".to_string()),
        "{text:#?}"
    );
    assert!(
        !text.iter().any(|t| t.contains("mine")),
        "foreign interface untouched: {text:#?}"
    );
}

const SEED_WITH_LOSS: &str = "name: seed-bridge\nnodes:\n  ns1: {}\n  ns2: {}\n  br0: { kind: bridge }\nlinks:\n  - endpoints: [{node: ns1, interface: veth0, ip: 192.168.1.1/24, conditions: {loss: LOSS}}, \"br0:br0-veth0\"]\n    conditions: { rate: 10mbit }\n  - endpoints: [{node: ns2, interface: veth1, ip: 192.168.1.2/24}, \"br0:br0-veth1\"]\n";

fn no_netem() -> Support {
    Support {
        netem: false,
        tbf: true,
        nft_egress: true,
        probed: true,
    }
}

#[test]
fn a_changed_loss_is_one_change_in_place() {
    let ten = lab(&SEED_WITH_LOSS.replace("LOSS", "10%"));
    let mut k = Kernel::default();
    k.observed.support = no_netem();
    converge(&ten, &mut k);
    let ns1 = Netns::Named("ns1".into());
    assert_eq!(
        k.link(&ns1, "veth0").conditions.loss,
        Some(Percent(100_000))
    );
    // Both ends of the link have the rate; only ns1's end the loss.
    assert!(k.link(&Netns::Host, "br0-veth0").conditions.loss.is_none());
    assert!(k.link(&Netns::Host, "br0-veth0").conditions.rate.is_some());
    let twenty = lab(&SEED_WITH_LOSS.replace("LOSS", "20%"));
    let p = plan(&twenty.name, &desired(&twenty), &k.observed);
    assert_eq!(p.actions.len(), 1, "{:#?}", p.actions);
    let Action::SetConditions { from, to, via, .. } = &p.actions[0] else {
        panic!("{:#?}", p.actions);
    };
    assert_eq!(
        (from.loss, to.loss),
        (Some(Percent(100_000)), Some(Percent(200_000)))
    );
    assert_eq!(*via, Via::Shaper);
    let c = p.counts();
    assert_eq!((c.created, c.changed, c.removed), (0, 1, 0));
    // As commands: only the loss rule, in place (no qdisc, no interface).
    let text = p.actions[0].to_string();
    assert_eq!(
        text,
        "ip netns exec ns1 nft 'flush chain netdev vnet-seed-bridge veth0'\nip netns exec ns1 nft 'add rule netdev vnet-seed-bridge veth0 numgen random mod 1000000 < 200000 counter fwd to \"lo\"'"
    );
    k.apply(&twenty.name, &p.actions);
    assert!(
        plan(&twenty.name, &desired(&twenty), &k.observed)
            .actions
            .is_empty()
    );
}

#[test]
fn a_live_change_is_drift_and_up_brings_the_file_back() {
    let l = lab(&SEED_WITH_LOSS.replace("LOSS", "10%"));
    let mut k = Kernel::default();
    k.observed.support = no_netem();
    converge(&l, &mut k);
    // `vnet impair host:br0-veth1 --loss 50%` by hand:
    k.link(&Netns::Host, "br0-veth1").conditions.loss = Some(Percent(500_000));
    let p = plan(&l.name, &desired(&l), &k.observed);
    let text: Vec<String> = p.actions.iter().map(|a| a.to_string()).collect();
    assert_eq!(
        text,
        [
            "nft 'flush chain netdev vnet-seed-bridge br0-veth1'\nnft 'delete chain netdev vnet-seed-bridge br0-veth1'"
        ],
        "{text:#?}"
    );
}

#[test]
fn netem_carries_every_parameter_in_one_qdisc() {
    let l = lab(
        "name: t\nnodes: { a: {}, b: {} }\nlinks:\n  - endpoints: [\"a:e0\", \"b:e0\"]\n    conditions: { delay: 20ms, jitter: 5ms, loss: 1%, rate: 10mbit }\n",
    );
    let obs = Observed {
        support: Support {
            netem: true,
            tbf: true,
            nft_egress: true,
            probed: true,
        },
        ..Observed::default()
    };
    let p = plan(&l.name, &desired(&l), &obs);
    let script = vnet::plan::script::render(&p);
    assert!(
        script.contains(
            "tc -n a qdisc replace dev e0 root netem delay 20ms 5ms loss 1% rate 10mbit\n"
        ),
        "{script}"
    );
    assert!(!script.contains("nft"), "{script}");
}

fn arb_lab() -> impl Strategy<Value = String> {
    (
        1usize..6,
        0usize..3,
        proptest::collection::vec((0usize..8, 0usize..8, any::<bool>()), 0..8),
    )
        .prop_map(|(nns, nbr, links)| {
            let mut t = String::from("name: gen\nnodes:\n");
            let mut nodes = Vec::new();
            for i in 0..nns {
                t.push_str(&format!("  n{i}: {{ forward: {} }}\n", i % 2 == 0));
                nodes.push(format!("n{i}"));
            }
            for b in 0..nbr {
                t.push_str(&format!("  b{b}: {{ kind: bridge }}\n"));
                nodes.push(format!("b{b}"));
            }
            t.push_str("links:\n");
            for (k, (x, y, v6)) in links.iter().enumerate() {
                let (a, b) = (&nodes[x % nodes.len()], &nodes[y % nodes.len()]);
                if a == b {
                    continue;
                }
                let ip = if a.starts_with('b') {
                    String::new()
                } else if *v6 {
                    format!(", ip: 2001:db8:{k}::1/64")
                } else {
                    format!(", ip: 10.{k}.0.1/24")
                };
                t.push_str(&format!(
                    "  - endpoints: [{{ node: {a}, interface: e{k}a{ip} }}, \"{b}:e{k}b\"]\n"
                ));
                // Some links carry conditions: a loss and a rate that the
                // kernel rounds (1001 bit/s is kept as 125 bytes/s).
                match (x + y) % 3 {
                    0 => t.push_str(&format!(
                        "    conditions: {{ loss: {}%, rate: 1001kbit }}\n",
                        k + 1
                    )),
                    1 => t.push_str("    conditions: { limit: 30 }\n"),
                    _ => {}
                }
            }
            t
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// For any lab: plan, apply, plan again → nothing; and changing the lab
    /// to another one converges too (reconcile in both directions).
    #[test]
    fn plans_converge(first in arb_lab(), second in arb_lab()) {
        let (Ok(a), Ok(b)) = (parse_lab("a.yaml", &first), parse_lab("b.yaml", &second)) else {
            return Ok(());
        };
        let mut k = Kernel::default();
        k.observed.support = no_netem();
        converge(&a, &mut k);
        prop_assert!(plan(&a.name, &desired(&a), &k.observed).actions.is_empty());
        converge(&b, &mut k);
        let again = plan(&b.name, &desired(&b), &k.observed);
        prop_assert!(again.actions.is_empty(), "{:#?}", again.actions);
    }
}
