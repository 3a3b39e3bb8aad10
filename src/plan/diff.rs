//! Plan = what the lab wants minus what the kernel has, as ordered actions.
//! Only objects the lab owns are changed or removed; a name held by anything
//! else is a conflict, reported before anything changes.

use std::collections::{BTreeMap, BTreeSet};

use ipnet::IpNet;

use super::action::{Action, LinkSet, MacText, VethEnd};
use super::{Conflict, Plan};
use crate::model::Netns;
use crate::model::conditions::{Support, loss_table};
use crate::model::live::{LiveLink, LiveNs, LiveRoute};
use crate::model::net::{EARLY_SYSCTLS, Iface, IfaceKind, Net};
use crate::model::owner;
use crate::model::route::Route;

/// What the planner knows of the kernel.
#[derive(Debug, Default)]
pub struct Observed {
    /// The host namespace (always read).
    pub host: LiveNs,
    /// Named namespaces that exist: every one the lab wants, and every one
    /// marked as the lab's.
    pub named: BTreeMap<String, LiveNs>,
    /// Names the lab may have created in a run that did not finish (from its
    /// journal): host interfaces carrying the lab's group are its own.
    pub journal: BTreeSet<String>,
    /// What the kernel offers for link conditions.
    pub support: Support,
}

/// Who holds a namespace, from the alias on its `lo`.
pub fn netns_owner(live: &LiveNs) -> Option<&str> {
    live.lo()
        .and_then(|lo| lo.alias.as_deref())
        .and_then(owner::lab_of_mark)
}

/// Whether the lab owns an interface it finds.
fn link_is_ours(lab: &str, ns: &Netns, link: &LiveLink, journal: &BTreeSet<String>) -> bool {
    let marked = link.alias.as_deref().and_then(owner::lab_of_mark) == Some(lab);
    let grouped = link.group == owner::group(lab);
    match ns {
        Netns::Host => marked || (grouped && journal.contains(&link.name)),
        // Inside the lab's own namespace, the group set at creation suffices.
        Netns::Named(_) => marked || grouped,
    }
}

pub fn plan(lab: &str, desired: &Net, observed: &Observed) -> Plan {
    let mut p = Planner {
        lab,
        group: owner::group(lab),
        desired,
        observed,
        actions: Vec::new(),
        conflicts: Vec::new(),
        fresh: BTreeSet::new(),
    };
    p.namespaces();
    p.links();
    p.namespace_contents();
    p.removals();
    let mut actions = p.actions;
    // Stable sort keeps each stage in the order it was planned.
    actions.sort_by_key(Action::stage);
    Plan {
        lab: lab.to_string(),
        group: p.group,
        actions,
        conflicts: p.conflicts,
    }
}

struct Planner<'a> {
    lab: &'a str,
    group: u32,
    desired: &'a Net,
    observed: &'a Observed,
    actions: Vec<Action>,
    conflicts: Vec<Conflict>,
    /// Namespaces this plan creates: everything in them is new.
    fresh: BTreeSet<String>,
}

impl Planner<'_> {
    fn live(&self, ns: &Netns) -> Option<&LiveNs> {
        match ns {
            Netns::Host => Some(&self.observed.host),
            Netns::Named(n) => self.observed.named.get(n),
        }
    }

    fn ours(&self, ns: &Netns, link: &LiveLink) -> bool {
        link_is_ours(self.lab, ns, link, &self.observed.journal)
    }

    fn namespaces(&mut self) {
        for name in self.desired.named() {
            // An external node's namespace exists already and is not ours:
            // it is joined, never created (resolved before planning).
            if self.desired.external.contains_key(name) {
                continue;
            }
            match self.observed.named.get(name) {
                None => {
                    let spec = &self.desired.namespaces[&Netns::Named(name.to_string())];
                    let early_sysctls = EARLY_SYSCTLS
                        .iter()
                        .filter_map(|k| spec.sysctls.get(*k).map(|v| (k.to_string(), v.clone())))
                        .collect();
                    self.fresh.insert(name.to_string());
                    self.actions.push(Action::AddNetns {
                        ns: name.to_string(),
                        early_sysctls,
                    });
                }
                Some(live) => match netns_owner(live) {
                    Some(l) if l == self.lab => {}
                    Some(other) => self.conflicts.push(Conflict {
                        object: format!("namespace {name}"),
                        owner: format!("lab {other}"),
                        hint: format!("bring that lab down first (`vnet down {other}`), or rename the node"),
                    }),
                    None => self.conflicts.push(Conflict {
                        object: format!("namespace {name}"),
                        owner: "not managed by vnet (made by `ip netns add` or another tool)".into(),
                        hint: format!(
                            "rename the node, or remove the namespace yourself if it is not needed (`ip netns del {name}`)"
                        ),
                    }),
                },
            }
        }
    }

    /// Creates or corrects every desired interface.
    fn links(&mut self) {
        // Bridges first: veth ends are enslaved to them.
        for (ns, spec) in &self.desired.namespaces {
            for iface in spec.links.values() {
                if let IfaceKind::Bridge {
                    stp,
                    vlan_filtering,
                } = iface.kind
                {
                    match self.existing(ns, &iface.name) {
                        Existing::Absent => self.actions.push(Action::AddBridge {
                            ns: ns.clone(),
                            name: iface.name.clone(),
                            stp,
                            vlan_filtering,
                            mtu: iface.mtu,
                            mac: iface.mac.map(MacText),
                        }),
                        Existing::Ours(live) if live.kind.as_deref() == Some("bridge") => {
                            let b = live.bridge.unwrap_or_default();
                            if b.stp != stp || b.vlan_filtering != vlan_filtering {
                                self.actions.push(Action::SetBridge {
                                    ns: ns.clone(),
                                    name: iface.name.clone(),
                                    stp,
                                    vlan_filtering,
                                });
                            }
                        }
                        Existing::Ours(_) => {
                            self.actions.push(Action::DelLink {
                                ns: ns.clone(),
                                name: iface.name.clone(),
                            });
                            self.actions.push(Action::AddBridge {
                                ns: ns.clone(),
                                name: iface.name.clone(),
                                stp,
                                vlan_filtering,
                                mtu: iface.mtu,
                                mac: iface.mac.map(MacText),
                            });
                        }
                        Existing::Foreign(why) => self.conflicts.push(why),
                        Existing::NoNamespace => {}
                    }
                }
            }
        }
        self.tunnels();
        for ((ans, aname), (bns, bname)) in self.desired.veth_pairs() {
            let a = self.existing(&ans, &aname);
            let b = self.existing(&bns, &bname);
            let mut recreate = false;
            match (&a, &b) {
                (Existing::Foreign(why), _) | (_, Existing::Foreign(why)) => {
                    self.conflicts.push(why.clone());
                    continue;
                }
                (Existing::Ours(la), Existing::Ours(lb)) => {
                    if !is_pair(la, lb) {
                        recreate = true;
                        self.del_link(&ans, &aname);
                        self.del_link(&bns, &bname);
                    }
                }
                (Existing::Ours(_), _) => {
                    recreate = true;
                    self.del_link(&ans, &aname);
                }
                (_, Existing::Ours(_)) => {
                    recreate = true;
                    self.del_link(&bns, &bname);
                }
                _ => recreate = true,
            }
            if recreate {
                let da = &self.desired.namespaces[&ans].links[&aname];
                let db = &self.desired.namespaces[&bns].links[&bname];
                self.actions.push(Action::AddVeth {
                    a: veth_end(&ans, da),
                    b: veth_end(&bns, db),
                });
            }
        }
        // Attributes, addresses and state of every desired interface.
        for (ns, spec) in &self.desired.namespaces {
            for iface in spec.links.values() {
                let live = match self.existing(ns, &iface.name) {
                    Existing::Ours(l) if !self.recreated(ns, &iface.name) => Some(*l),
                    Existing::Foreign(_) | Existing::NoNamespace => continue,
                    _ => None,
                };
                self.link_state(ns, iface, live);
            }
        }
    }

    /// Tunnel ends to other hosts: made when missing, made again when the
    /// name holds something else of the lab's.
    fn tunnels(&mut self) {
        for (ns, spec) in &self.desired.namespaces {
            for iface in spec.links.values() {
                let IfaceKind::Vxlan(vx) = &iface.kind else {
                    continue;
                };
                let add = Action::AddVxlan {
                    ns: ns.clone(),
                    name: iface.name.clone(),
                    vni: vx.vni,
                    remote: vx.remote,
                    local: vx.local,
                    port: vx.port,
                    underlay: vx.underlay.clone(),
                    mtu: iface.mtu,
                    mac: iface.mac.map(MacText),
                };
                match self.existing(ns, &iface.name) {
                    Existing::Absent => self.actions.push(add),
                    Existing::Ours(live) if live.kind.as_deref() == Some("vxlan") => {}
                    Existing::Ours(_) => {
                        self.del_link(ns, &iface.name);
                        self.actions.push(add);
                    }
                    Existing::Foreign(why) => self.conflicts.push(why),
                    Existing::NoNamespace => {}
                }
            }
        }
    }

    fn recreated(&self, ns: &Netns, name: &str) -> bool {
        self.actions.iter().any(|a| match a {
            Action::AddVeth { a, b } => {
                (a.ns == *ns && a.name == name) || (b.ns == *ns && b.name == name)
            }
            Action::AddBridge { ns: n, name: x, .. } | Action::AddVxlan { ns: n, name: x, .. } => {
                n == ns && x == name
            }
            _ => false,
        })
    }

    fn del_link(&mut self, ns: &Netns, name: &str) {
        self.actions.push(Action::DelLink {
            ns: ns.clone(),
            name: name.to_string(),
        });
    }

    /// Brings one interface to its desired master, mtu, mac, marks, state
    /// and addresses. `live` is None when it is being created.
    fn link_state(&mut self, ns: &Netns, iface: &Iface, live: Option<LiveLink>) {
        let mut set = LinkSet::default();
        let live_ns = self.live(ns);
        let live_master = live
            .as_ref()
            .and_then(|l| l.master)
            .and_then(|m| live_ns.and_then(|n| n.name_of(m)).map(str::to_string));
        if (live.is_none() || live_master != iface.master)
            && (iface.master.is_some() || live_master.is_some())
        {
            set.master = Some(iface.master.clone());
        }
        if let Some(l) = &live {
            let want_mtu = iface.mtu.or(match iface.kind {
                IfaceKind::Veth { .. } | IfaceKind::Vxlan(_) => Some(1500),
                IfaceKind::Bridge { .. } => None,
            });
            if let Some(m) = want_mtu
                && l.mtu != m
            {
                set.mtu = Some(m);
            }
            if let Some(mac) = iface.mac
                && l.mac != Some(mac)
            {
                set.mac = Some(MacText(mac));
            }
        } else if let IfaceKind::Bridge { .. } = iface.kind {
            // mtu and mac of a new bridge are in its creation request.
        } else {
            // mtu and mac of a new veth end are in its creation request.
        }
        // Marked where others' interfaces live too: the host, and the
        // namespaces of external nodes.
        if ns.is_host() || self.desired.is_external(ns) {
            let mark = owner::mark(self.lab);
            if live.as_ref().and_then(|l| l.alias.as_deref()) != Some(mark.as_str()) {
                set.alias = Some(mark);
            }
            if live.as_ref().is_some_and(|l| l.group != self.group) {
                set.group = Some(self.group);
            }
        }
        if !iface.ipv6_link_local {
            let mode = live.as_ref().and_then(|l| l.addr_gen_mode);
            if live.is_none() || mode.is_some_and(|m| m != 1) {
                set.no_link_local = true;
            }
        }
        if live.as_ref().is_none_or(|l| !l.admin_up) {
            set.up = Some(true);
            set.after_ports = matches!(iface.kind, IfaceKind::Bridge { .. });
        }
        if !set.is_empty() {
            self.actions.push(Action::SetLink {
                ns: ns.clone(),
                name: iface.name.clone(),
                set,
            });
        }
        let have: BTreeSet<IpNet> = live
            .as_ref()
            .map(|l| {
                l.addrs
                    .iter()
                    .filter(|a| !a.is_kernel_made())
                    .map(|a| a.net)
                    .collect()
            })
            .unwrap_or_default();
        for addr in have.difference(&iface.addrs) {
            self.actions.push(Action::DelAddr {
                ns: ns.clone(),
                dev: iface.name.clone(),
                addr: *addr,
            });
        }
        for addr in iface.addrs.difference(&have) {
            self.actions.push(Action::AddAddr {
                ns: ns.clone(),
                dev: iface.name.clone(),
                addr: *addr,
            });
        }
        self.conditions(ns, iface, live.as_ref());
    }

    /// The interface's egress conditions, changed in place when they
    /// differ from the file's (beyond the kernel's rounding).
    fn conditions(&mut self, ns: &Netns, iface: &Iface, live: Option<&LiveLink>) {
        let via = self.observed.support.via();
        let from = live.map(|l| l.conditions).unwrap_or_default();
        if iface.conditions.matches(&from, via) {
            return;
        }
        let mtu = iface
            .mtu
            .or(live.map(|l| l.mtu).filter(|m| *m > 0))
            .unwrap_or(1500);
        self.actions.push(Action::SetConditions {
            ns: ns.clone(),
            dev: iface.name.clone(),
            from,
            to: iface.conditions,
            via,
            mtu,
            table: loss_table(Some(self.lab)),
        });
    }

    /// lo, sysctls and routes of each lab namespace.
    fn namespace_contents(&mut self) {
        for (ns, spec) in &self.desired.namespaces {
            let Netns::Named(name) = ns else { continue };
            if self.desired.external.contains_key(name) {
                self.external_routes(ns, spec);
                continue;
            }
            let fresh = self.fresh.contains(name);
            let live = self.observed.named.get(name);
            if !fresh && live.is_none_or(|l| netns_owner(l) != Some(self.lab)) {
                continue;
            }
            if let Some(lo) = live.and_then(LiveNs::lo)
                && !lo.admin_up
            {
                self.actions.push(Action::SetLink {
                    ns: ns.clone(),
                    name: "lo".into(),
                    set: LinkSet {
                        up: Some(true),
                        ..LinkSet::default()
                    },
                });
            }
            for (key, value) in &spec.sysctls {
                let current = live.and_then(|l| l.sysctls.get(key));
                let default_ok = fresh && is_netns_default(key, value);
                let set_early = fresh && EARLY_SYSCTLS.contains(&key.as_str());
                if default_ok || set_early || current.is_some_and(|c| c.trim() == value.trim()) {
                    continue;
                }
                self.actions.push(Action::SetSysctl {
                    ns: ns.clone(),
                    key: key.clone(),
                    value: value.clone(),
                });
            }
            let have: Vec<&LiveRoute> = live
                .map(|l| l.routes.iter().filter(|r| r.is_user_route()).collect())
                .unwrap_or_default();
            let live_ns = live;
            let matches = |want: &Route, got: &LiveRoute| {
                let dev = got.dev.and_then(|d| live_ns.and_then(|l| l.name_of(d)));
                want.dst == got.dst
                    && want.via == got.via
                    && (want.dev.is_none() || want.dev.as_deref() == dev)
                    && want.metric.unwrap_or(0) == route_metric(got)
            };
            for got in &have {
                if !spec.routes.iter().any(|w| matches(w, got)) {
                    let dev = got.dev.and_then(|d| live_ns.and_then(|l| l.name_of(d)));
                    self.actions.push(Action::DelRoute {
                        ns: ns.clone(),
                        route: Route {
                            dst: got.dst,
                            via: got.via,
                            dev: dev.map(str::to_string),
                            metric: got.metric,
                        },
                    });
                }
            }
            for want in &spec.routes {
                if !have.iter().any(|got| matches(want, got)) {
                    self.actions.push(Action::AddRoute {
                        ns: ns.clone(),
                        route: want.clone(),
                    });
                }
            }
        }
    }

    /// Routes of an external node: the file's are added; a route is removed
    /// only when it goes through one of the lab's interfaces there and the
    /// file no longer declares it. Its other routes, `lo` and sysctls are
    /// its owner's and never touched.
    fn external_routes(&mut self, ns: &Netns, spec: &crate::model::net::NsSpec) {
        let Some(live) = self.live(ns) else {
            // Not resolved (a dry run): everything the file says is new.
            for want in &spec.routes {
                self.actions.push(Action::AddRoute {
                    ns: ns.clone(),
                    route: want.clone(),
                });
            }
            return;
        };
        let dev_of = |got: &LiveRoute| got.dev.and_then(|d| live.name_of(d));
        let matches = |want: &Route, got: &LiveRoute| {
            want.dst == got.dst
                && want.via == got.via
                && (want.dev.is_none() || want.dev.as_deref() == dev_of(got))
                && want.metric.unwrap_or(0) == route_metric(got)
        };
        let mut actions = Vec::new();
        for got in live.routes.iter().filter(|r| r.is_user_route()) {
            let ours = got
                .dev
                .and_then(|d| live.link_by_index(d))
                .is_some_and(|l| self.ours(ns, l));
            if ours && !spec.routes.iter().any(|w| matches(w, got)) {
                actions.push(Action::DelRoute {
                    ns: ns.clone(),
                    route: Route {
                        dst: got.dst,
                        via: got.via,
                        dev: dev_of(got).map(str::to_string),
                        metric: got.metric,
                    },
                });
            }
        }
        for want in &spec.routes {
            if !live
                .routes
                .iter()
                .filter(|r| r.is_user_route())
                .any(|got| matches(want, got))
            {
                actions.push(Action::AddRoute {
                    ns: ns.clone(),
                    route: want.clone(),
                });
            }
        }
        self.actions.extend(actions);
    }

    /// Whatever the lab owns that the file no longer declares.
    fn removals(&mut self) {
        let owned_named: Vec<String> = self
            .observed
            .named
            .iter()
            .filter(|(_, l)| netns_owner(l) == Some(self.lab))
            .map(|(n, _)| n.clone())
            .collect();
        for name in &owned_named {
            if !self
                .desired
                .namespaces
                .contains_key(&Netns::Named(name.clone()))
            {
                self.actions.push(Action::DelNetns { ns: name.clone() });
            }
        }
        let mut spaces: Vec<Netns> = vec![Netns::Host];
        spaces.extend(
            owned_named
                .iter()
                .filter(|n| {
                    self.desired
                        .namespaces
                        .contains_key(&Netns::Named((*n).clone()))
                })
                .map(|n| Netns::Named(n.clone())),
        );
        // External nodes' namespaces hold the lab's interfaces too.
        spaces.extend(
            self.desired
                .external
                .keys()
                .filter(|n| !owned_named.contains(n))
                .map(|n| Netns::Named(n.clone())),
        );
        let mut doomed: Vec<(Netns, LiveLink)> = Vec::new();
        for ns in spaces {
            let Some(live) = self.live(&ns) else { continue };
            for link in &live.links {
                if link.name == "lo" || !self.ours(&ns, link) {
                    continue;
                }
                let wanted = self.desired.iface(&ns, &link.name).is_some();
                let already = self.actions.iter().any(|a| {
                    matches!(a, Action::DelLink { ns: n, name } if *n == ns && *name == link.name)
                });
                if !wanted && !already {
                    doomed.push((ns.clone(), link.clone()));
                }
            }
        }
        // A veth pair goes with one request: skip an end whose peer is doomed too.
        let mut skip: BTreeSet<(Netns, String)> = BTreeSet::new();
        for (i, (ns, l)) in doomed.iter().enumerate() {
            if skip.contains(&(ns.clone(), l.name.clone())) {
                continue;
            }
            for (ns2, l2) in doomed.iter().skip(i + 1) {
                if ns2 != ns && is_pair(l, l2) {
                    skip.insert((ns2.clone(), l2.name.clone()));
                }
            }
            self.actions.push(Action::DelLink {
                ns: ns.clone(),
                name: l.name.clone(),
            });
        }
    }

    fn existing(&self, ns: &Netns, name: &str) -> Existing {
        let Some(live) = self.live(ns) else {
            return match ns {
                Netns::Named(n) if self.fresh.contains(n) => Existing::Absent,
                // Not resolved (a plan without the kernel): assumed empty.
                Netns::Named(n) if self.desired.external.contains_key(n) => Existing::Absent,
                _ => Existing::NoNamespace,
            };
        };
        if let Netns::Named(n) = ns
            && netns_owner(live) != Some(self.lab)
            && !self.fresh.contains(n)
            && !self.desired.external.contains_key(n)
        {
            // Reported once as a namespace conflict.
            return Existing::NoNamespace;
        }
        match live.link(name) {
            None => Existing::Absent,
            Some(l) if self.ours(ns, l) => Existing::Ours(Box::new(l.clone())),
            Some(l) => {
                let holder = match l.alias.as_deref().and_then(owner::lab_of_mark) {
                    Some(other) => format!("lab {other}"),
                    None => "not managed by vnet".to_string(),
                };
                Existing::Foreign(Conflict {
                    object: format!(
                        "interface {name} in {}{}",
                        if ns.is_host() { "the host namespace" } else { ns.name() },
                        l.kind.as_ref().map(|k| format!(" ({k})")).unwrap_or_default()
                    ),
                    owner: holder,
                    hint: "rename the interface in the lab file, or remove that interface yourself if it is not needed".into(),
                })
            }
        }
    }
}

enum Existing {
    Absent,
    Ours(Box<LiveLink>),
    Foreign(Conflict),
    /// The namespace does not exist and is not being created.
    NoNamespace,
}

/// Two veth ends that point at each other across namespaces.
fn is_pair(a: &LiveLink, b: &LiveLink) -> bool {
    a.kind.as_deref() == Some("veth")
        && b.kind.as_deref() == Some("veth")
        && a.peer.is_some_and(|p| p.index == b.index)
        && b.peer.is_some_and(|p| p.index == a.index)
}

fn veth_end(ns: &Netns, iface: &Iface) -> VethEnd {
    VethEnd {
        ns: ns.clone(),
        name: iface.name.clone(),
        mtu: iface.mtu,
        mac: iface.mac.map(MacText),
    }
}

/// IPv6 routes report the kernel's default metric 1024 when none was given.
fn route_metric(r: &LiveRoute) -> u32 {
    match (r.metric, r.dst) {
        (Some(1024), IpNet::V6(_)) => 0,
        (Some(m), _) => m,
        (None, _) => 0,
    }
}

/// Values a new namespace already has, so a fresh build writes nothing.
fn is_netns_default(key: &str, value: &str) -> bool {
    matches!(
        (key, value),
        ("net.ipv4.ip_forward", "0") | ("net.ipv6.conf.all.forwarding", "0")
    )
}
