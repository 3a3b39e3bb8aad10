//! A plan as the iproute2 commands that do the same: `vnet up --dry-run`.
//! The script runs by itself (as root) and builds the same network, marks
//! included, so vnet recognises the result as the lab's.

use super::Plan;
use super::action::{Action, LinkSet, VethEnd};
use crate::model::Netns;
use crate::model::conditions::{Conditions, Percent, Via};
use crate::model::loss::{MODULUS, chain_name};
use crate::model::mechanism::{QdiscStep, ROOT, loss_step, qdisc_steps};

/// A word as the shell reads it back unchanged: interface names may hold
/// characters a shell would act on (`$`, `;`, quotes…), and a dry-run
/// script must build the lab, not run whatever a name says.
pub fn q(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.,:/@%+=-".contains(c));
    if plain {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', "'\\''"))
    }
}

/// A route as `ip route` words, its device name quoted.
fn route_words(r: &crate::model::route::Route) -> String {
    let mut out = if r.is_default() {
        "default".to_string()
    } else {
        r.dst.to_string()
    };
    if let Some(via) = r.via {
        out.push_str(&format!(" via {via}"));
    }
    if let Some(dev) = &r.dev {
        out.push_str(&format!(" dev {}", q(dev)));
    }
    if let Some(m) = r.metric {
        out.push_str(&format!(" metric {m}"));
    }
    out
}

/// `ip` with the namespace option when the object is not in the host.
fn ip(ns: &Netns) -> String {
    match ns {
        Netns::Host => "ip".to_string(),
        Netns::Named(n) => format!("ip -n {n}"),
    }
}

fn sysctl(ns: &Netns, key: &str, value: &str) -> String {
    match ns {
        Netns::Host => format!("sysctl -qw {}", q(&format!("{key}={value}"))),
        Netns::Named(n) => format!(
            "ip netns exec {n} sysctl -qw {}",
            q(&format!("{key}={value}"))
        ),
    }
}

/// The main commands of one action (ownership marks excluded).
pub fn commands(action: &Action) -> Vec<String> {
    match action {
        Action::AddNetns { ns, early_sysctls } => {
            let named = Netns::Named(ns.clone());
            let mut out = vec![format!("ip netns add {ns}")];
            out.extend(early_sysctls.iter().map(|(k, v)| sysctl(&named, k, v)));
            out.push(format!("ip -n {ns} link set lo up"));
            out
        }
        Action::DelNetns { ns } => vec![format!("ip netns del {ns}")],
        Action::DelLink { ns, name } => vec![format!("{} link del dev {}", ip(ns), q(name))],
        Action::AddBridge {
            ns,
            name,
            stp,
            vlan_filtering,
            mtu,
            mac,
        } => {
            let mut cmd = format!("{} link add {}", ip(ns), q(name));
            if let Some(m) = mtu {
                cmd.push_str(&format!(" mtu {m}"));
            }
            if let Some(m) = mac {
                cmd.push_str(&format!(" address {}", m.0));
            }
            cmd.push_str(" type bridge");
            if *stp {
                cmd.push_str(" stp_state 1");
            }
            if *vlan_filtering {
                cmd.push_str(" vlan_filtering 1");
            }
            vec![cmd]
        }
        Action::AddVeth { a, b } => vec![add_veth(a, b)],
        Action::AddVxlan {
            ns,
            name,
            vni,
            remote,
            local,
            port,
            underlay,
            mtu,
            mac,
        } => {
            // Made from the host namespace and placed in the node's: the
            // tunnel's socket stays on the underlay.
            let mut cmd = format!("ip link add {}", q(name));
            if let Netns::Named(n) = ns {
                cmd.push_str(&format!(" netns {n}"));
            }
            if let Some(m) = mtu {
                cmd.push_str(&format!(" mtu {m}"));
            }
            if let Some(m) = mac {
                cmd.push_str(&format!(" address {}", m.0));
            }
            cmd.push_str(&format!(
                " type vxlan id {vni} remote {remote} local {local} dstport {port}"
            ));
            if let Some(d) = underlay {
                cmd.push_str(&format!(" dev {}", q(d)));
            }
            cmd.push_str(" learning");
            vec![cmd]
        }
        Action::SetLink { ns, name, set } => {
            let words = link_set_words(set);
            if words.is_empty() {
                vec![]
            } else {
                vec![format!(
                    "{} link set dev {} {}",
                    ip(ns),
                    q(name),
                    words.join(" ")
                )]
            }
        }
        Action::SetBridge {
            ns,
            name,
            stp,
            vlan_filtering,
        } => vec![format!(
            "{} link set dev {} type bridge stp_state {} vlan_filtering {}",
            ip(ns),
            q(name),
            u8::from(*stp),
            u8::from(*vlan_filtering)
        )],
        Action::SetSysctl { ns, key, value } => vec![sysctl(ns, key, value)],
        Action::DelAddr { ns, dev, addr } => {
            vec![format!("{} addr del {addr} dev {}", ip(ns), q(dev))]
        }
        Action::AddAddr { ns, dev, addr } => {
            let nodad = if addr.addr().is_ipv6() { " nodad" } else { "" };
            vec![format!("{} addr add {addr} dev {}{nodad}", ip(ns), q(dev))]
        }
        Action::DelRoute { ns, route } => {
            vec![format!("{} route del {}", ip(ns), route_words(route))]
        }
        Action::AddRoute { ns, route } => {
            vec![format!(
                "{} route add {} proto static",
                ip(ns),
                route_words(route)
            )]
        }
        Action::SetConditions {
            ns,
            dev,
            from,
            to,
            via,
            mtu,
            table,
        } => condition_commands(ns, dev, from, to, *via, *mtu, table),
    }
}

/// `tc` with the namespace option when the object is not in the host.
fn tc(ns: &Netns) -> String {
    match ns {
        Netns::Host => "tc".to_string(),
        Netns::Named(n) => format!("tc -n {n}"),
    }
}

/// One `nft` command (nft has no namespace option: `ip netns exec`).
fn nft(ns: &Netns, command: &str) -> String {
    match ns {
        Netns::Host => format!("nft {}", q(command)),
        Netns::Named(n) => format!("ip netns exec {n} nft {}", q(command)),
    }
}

/// netem's words for a set of conditions, in tc's order.
pub fn netem_words(c: &Conditions) -> String {
    let mut w = vec!["netem".to_string()];
    if let Some(d) = c.delay {
        w.push(format!("delay {d}"));
        if let Some(j) = c.jitter {
            w.push(j.to_string());
        }
    }
    if let Some(p) = c.loss {
        w.push(format!("loss {p}"));
    }
    if let Some(p) = c.duplicate {
        w.push(format!("duplicate {p}"));
    }
    if let Some(p) = c.corrupt {
        w.push(format!("corrupt {p}"));
    }
    if let Some(r) = c.rate {
        w.push(format!("rate {r}"));
    }
    if let Some(l) = c.limit {
        w.push(format!("limit {l}"));
    }
    w.join(" ")
}

fn parent_words(parent: u32) -> String {
    if parent == ROOT {
        "root".to_string()
    } else {
        format!("parent {:x}:{:x}", parent >> 16, parent & 0xffff)
    }
}

/// The `tc` and `nft` commands that change an interface's conditions as
/// vnet does: the same qdisc steps, the same loss rule.
fn condition_commands(
    ns: &Netns,
    dev: &str,
    from: &Conditions,
    to: &Conditions,
    via: Via,
    mtu: u32,
    table: &str,
) -> Vec<String> {
    let d = q(dev);
    let mut out: Vec<String> = qdisc_steps(from, to, via, mtu)
        .iter()
        .map(|step| {
            let what = match step {
                QdiscStep::Netem(c) => format!("replace dev {d} root {}", netem_words(c)),
                QdiscStep::Tbf { rate, burst, limit } => format!(
                    "replace dev {d} root handle 1: tbf rate {rate} burst {burst} limit {limit}"
                ),
                QdiscStep::Pfifo { parent, limit } => {
                    format!(
                        "replace dev {d} {} pfifo limit {limit}",
                        parent_words(*parent)
                    )
                }
                QdiscStep::Bfifo { parent, limit } => {
                    format!(
                        "replace dev {d} {} bfifo limit {limit}",
                        parent_words(*parent)
                    )
                }
                QdiscStep::DeleteRoot => format!("del dev {d} root"),
            };
            format!("{} qdisc {what}", tc(ns))
        })
        .collect();
    if let Some((was, now)) = loss_step(from, to, via) {
        out.extend(loss_commands(ns, dev, table, was, now));
    }
    out
}

/// The nftables commands for one interface's loss rule (`model::loss`).
fn loss_commands(
    ns: &Netns,
    dev: &str,
    table: &str,
    from: Option<Percent>,
    to: Option<Percent>,
) -> Vec<String> {
    let chain = chain_name(dev);
    let spec = format!("netdev {table} {chain}");
    // Lost packets go to `lo` (silently), not `drop` (see `model::loss`).
    let rule = |p: Percent| {
        let pick = if p.0 < MODULUS {
            format!("numgen random mod {MODULUS} < {} ", p.0)
        } else {
            String::new()
        };
        nft(ns, &format!("add rule {spec} {pick}counter fwd to \"lo\""))
    };
    match (from, to) {
        (None, Some(p)) => vec![
            nft(ns, &format!("add table netdev {table}")),
            nft(
                ns,
                &format!(
                    "add chain {spec} {{ type filter hook egress device \"{dev}\" priority 0; policy accept; }}"
                ),
            ),
            nft(ns, &format!("flush chain {spec}")),
            rule(p),
        ],
        (Some(_), Some(p)) => vec![nft(ns, &format!("flush chain {spec}")), rule(p)],
        (Some(_), None) => vec![
            nft(ns, &format!("flush chain {spec}")),
            nft(ns, &format!("delete chain {spec}")),
        ],
        (None, None) => Vec::new(),
    }
}

/// Created from the host side when one end is there (as the seed does);
/// the other end is placed straight into its namespace.
fn add_veth(a: &VethEnd, b: &VethEnd) -> String {
    let (main, peer) = if b.ns.is_host() && !a.ns.is_host() {
        (b, a)
    } else {
        (a, b)
    };
    let mut cmd = format!("{} link add {}", ip(&main.ns), q(&main.name));
    end_opts(&mut cmd, main);
    cmd.push_str(&format!(" type veth peer name {}", q(&peer.name)));
    if peer.ns != main.ns {
        match &peer.ns {
            Netns::Named(n) => cmd.push_str(&format!(" netns {n}")),
            // From inside a namespace, the host is reached through pid 1's.
            Netns::Host => cmd.push_str(" netns 1"),
        }
    }
    end_opts(&mut cmd, peer);
    cmd
}

fn end_opts(cmd: &mut String, end: &VethEnd) {
    if let Some(m) = end.mtu {
        cmd.push_str(&format!(" mtu {m}"));
    }
    if let Some(m) = end.mac {
        cmd.push_str(&format!(" address {}", m.0));
    }
}

fn link_set_words(set: &LinkSet) -> Vec<String> {
    let mut w = Vec::new();
    match &set.master {
        Some(Some(m)) => w.push(format!("master {}", q(m))),
        Some(None) => w.push("nomaster".to_string()),
        None => {}
    }
    if let Some(m) = set.mtu {
        w.push(format!("mtu {m}"));
    }
    if let Some(m) = set.mac {
        w.push(format!("address {}", m.0));
    }
    if set.no_link_local {
        w.push("addrgenmode none".to_string());
    }
    match set.up {
        Some(true) => w.push("up".to_string()),
        Some(false) => w.push("down".to_string()),
        None => {}
    }
    w
}

/// Marks that let vnet recognise what a plan built: the lab's device group
/// on every interface it creates, its alias on host interfaces and on each
/// namespace's `lo`. One line per object.
pub(super) fn marks(plan: &Plan) -> Vec<String> {
    let alias = crate::model::owner::mark(&plan.lab);
    // (namespace, interface) → (group, alias), in plan order.
    let mut order: Vec<(Netns, String)> = Vec::new();
    let mut marks: std::collections::HashMap<(Netns, String), (Option<u32>, Option<String>)> =
        std::collections::HashMap::new();
    let mut note = |ns: &Netns, name: &str, group: Option<u32>, alias: Option<String>| {
        let key = (ns.clone(), name.to_string());
        let e = marks.entry(key.clone()).or_insert_with(|| {
            order.push(key);
            (None, None)
        });
        e.0 = e.0.or(group);
        e.1 = e.1.take().or(alias);
    };
    for a in &plan.actions {
        match a {
            Action::AddNetns { ns, .. } => {
                note(&Netns::Named(ns.clone()), "lo", None, Some(alias.clone()))
            }
            Action::AddBridge { ns, name, .. } | Action::AddVxlan { ns, name, .. } => {
                note(ns, name, Some(plan.group), None)
            }
            Action::AddVeth { a, b } => {
                note(&a.ns, &a.name, Some(plan.group), None);
                note(&b.ns, &b.name, Some(plan.group), None);
            }
            Action::SetLink { ns, name, set } if set.alias.is_some() || set.group.is_some() => {
                note(ns, name, set.group, set.alias.clone())
            }
            _ => {}
        }
    }
    order
        .into_iter()
        .map(|key| {
            let (group, alias) = &marks[&key];
            let mut cmd = format!("{} link set dev {}", ip(&key.0), q(&key.1));
            if let Some(g) = group {
                cmd.push_str(&format!(" group {g}"));
            }
            if let Some(a) = alias {
                cmd.push_str(&format!(" alias {a}"));
            }
            cmd
        })
        .collect()
}

/// The whole plan as a shell script.
pub fn render(plan: &Plan) -> String {
    let mut out = String::new();
    out.push_str("#!/bin/sh\n");
    out.push_str(&format!(
        "# vnet plan for lab {}: the iproute2 commands that `vnet up` would run (as root).\n",
        plan.lab
    ));
    out.push_str("set -e\n");
    if plan.actions.is_empty() {
        out.push_str("# nothing to do: the kernel already matches the lab file\n");
        return out;
    }
    for a in &plan.actions {
        for c in commands(a) {
            out.push_str(&c);
            out.push('\n');
        }
    }
    let marks = marks(plan);
    if !marks.is_empty() {
        out.push_str(&format!(
            "# ownership marks: `vnet status` and `vnet down {}` recognise what this built\n",
            plan.lab
        ));
        for m in marks {
            out.push_str(&m);
            out.push('\n');
        }
    }
    out
}

/// An `ip -batch` file that builds the same network (see `batch`).
pub fn render_batch(plan: &Plan) -> Result<String, super::BatchError> {
    super::batch::render(plan)
}
