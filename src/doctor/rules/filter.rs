//! Filtering: every netfilter hook the probe passes on its way there and
//! back (`hooks`) is run with its namespace's ruleset, and a drop becomes a
//! cause with the chain, the rule, and the command that lets the probe
//! through; and the destination ignoring echo requests.

use super::hooks::{Pass, passes};
use crate::doctor::case::{Ctx, Direction};
use crate::doctor::cmd;
use crate::doctor::code::Code;
use crate::doctor::finding::Finding;
use crate::doctor::netfilter::{Blame, Outcome, Packet, judge};
use crate::doctor::snapshot::place;
use crate::model::nft::{self, Chain, family_name, hook_name};
use crate::probe::service::{Seen, Service};

/// "chain FORWARD of table ip filter".
fn chain_words(c: &Chain) -> String {
    format!(
        "chain {} of table {} {}",
        c.name,
        family_name(c.family),
        c.table
    )
}

/// "chain FORWARD of table ip filter (hook forward, priority 0)".
fn chain_hook_words(c: &Chain) -> String {
    match &c.hook {
        Some(h) => format!(
            "{} (hook {}, priority {})",
            chain_words(c),
            hook_name(c.family, h.num),
            h.priority
        ),
        None => chain_words(c),
    }
}

fn iface_words(p: &Packet) -> String {
    match (&p.iif, &p.oif) {
        (Some((i, _)), Some((o, _))) => format!("in {i}, out {o}"),
        (Some((i, _)), None) => format!("in {i}"),
        (None, Some((o, _))) => format!("out {o}"),
        (None, None) => String::new(),
    }
}

/// The command-line tool for a chain iptables made.
fn xtables(c: &Chain) -> &'static str {
    match c.family {
        nft::IPV6 => "ip6tables",
        nft::ARP => "arptables",
        nft::BRIDGE => "ebtables",
        _ => "iptables",
    }
}

/// nftables names: plain when they are plain.
fn nname(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c))
    {
        s.to_string()
    } else {
        crate::plan::script::q(&format!("\"{s}\""))
    }
}

/// The accept rule that lets the probe through this chain.
fn accept(pass: &Pass, c: &Chain, service: Option<Service>) -> (String, String) {
    let v6 = pass.pkt.nfproto == nft::IPV6;
    // The answer of a service goes back from its port: let the request in.
    let service = service.filter(|_| pass.dir == Direction::There);
    let iif = pass.pkt.iif.as_ref().map(|x| x.0.clone());
    let oif = pass.pkt.oif.as_ref().map(|x| x.0.clone());
    let what = match pass.id {
        "filter.br-netfilter" => format!(
            "or accept what {} bridges",
            pass.bridge.as_deref().unwrap_or("the bridge")
        ),
        "filter.arp" => "accept the ARP requests".to_string(),
        _ => match service {
            Some(svc) => format!("accept {svc}"),
            None => "accept the probe's packets".to_string(),
        },
    };
    if c.looks_like_iptables() {
        let mut m = Vec::new();
        if pass.id == "filter.bridge" {
            if let Some(b) = &pass.bridge {
                m.push(format!("--logical-in {}", cmd::dev(b)));
            }
        } else {
            if let Some(i) = &iif {
                m.push(format!("-i {}", cmd::dev(i)));
            }
            if let Some(o) = &oif {
                m.push(format!("-o {}", cmd::dev(o)));
            }
            if let Some(svc) = service {
                m.push(format!("-p {} --dport {}", svc.proto.name(), svc.port));
            } else if matches!(pass.id, "filter.input" | "filter.output") {
                m.push(if v6 {
                    "-p ipv6-icmp".into()
                } else {
                    "-p icmp".into()
                });
            }
        }
        let rule = format!(
            "{} -I {} {} -j ACCEPT",
            xtables(c),
            cmd::dev(&c.name),
            m.join(" ")
        );
        return (what, cmd::exec(&pass.ns, &rule.replace("  ", " ")));
    }
    let mut m = Vec::new();
    if pass.id == "filter.bridge" {
        if let Some(b) = &pass.bridge {
            m.push(format!("meta ibrname {}", nname(b)));
        }
    } else {
        if let Some(i) = &iif {
            m.push(format!("iifname {}", nname(i)));
        }
        if let Some(o) = &oif {
            m.push(format!("oifname {}", nname(o)));
        }
        if let Some(svc) = service {
            m.push(format!("{} dport {}", svc.proto.name(), svc.port));
        } else if matches!(pass.id, "filter.input" | "filter.output") {
            m.push(if v6 {
                "meta l4proto ipv6-icmp".into()
            } else {
                "meta l4proto icmp".into()
            });
        }
    }
    let rule = format!(
        "nft insert rule {} {} {} {} accept",
        family_name(c.family),
        nname(&c.table),
        nname(&c.name),
        m.join(" ")
    );
    (what, cmd::exec(&pass.ns, &rule.replace("  ", " ")))
}

fn finding(cx: &Ctx, pass: &Pass, blame: &Blame, certain: bool, unknown: &[String]) -> Finding {
    let c = &blame.chain;
    let ns = &pass.ns;
    let mut f = Finding::new(pass.id, cause(pass, blame)).at(ns);
    if let Some(with) = blame.rule.as_ref().and_then(|r| r.reject.as_ref()) {
        f = f.code(Code::Rejected);
        if let Some(s) = &cx.probe.service {
            let fits = match &s.seen {
                Seen::Reset => with.contains("tcp"),
                Seen::Icmp { .. } => !with.contains("tcp"),
                _ => false,
            };
            f = f.evidence(format!(
                "the probe: {}{}",
                s.text(),
                if fits {
                    " — the answer this rule sends"
                } else {
                    ""
                }
            ));
        }
    } else if let Some(s) = &cx.probe.service {
        f = f.evidence(format!("the probe: {}", s.text()));
    }
    if !certain {
        f = f.guess();
        for u in unknown {
            f = f.evidence(format!(
                "vnet cannot evaluate {u}: {}",
                crate::doctor::verdict::POSSIBLE
            ));
        }
    }
    if pass.id == "filter.br-netfilter" {
        let key = if pass.pkt.nfproto == nft::IPV6 {
            "net.bridge.bridge-nf-call-ip6tables"
        } else {
            "net.bridge.bridge-nf-call-iptables"
        };
        f = f
            .evidence(format!(
                "{ns}: {key} = 1 (br_netfilter is loaded and passes bridged frames to the ip hooks)"
            ))
            .fix(
                "stop passing bridged frames through iptables",
                vec![cmd::sysctl(ns, key, "0")],
            );
    }
    f = f.evidence(chain_evidence(pass, blame));
    if let Some(p) = c.packets.filter(|p| *p > 0 && blame.rule.is_none()) {
        f = f.evidence(format!(
            "{ns}: its policy has dropped {p} packet{} so far (chain counter)",
            if p == 1 { "" } else { "s" }
        ));
    }
    if !blame.via.is_empty() {
        f = f.evidence(format!(
            "reached through: {} → {}",
            c.name,
            blame.via.join(" → ")
        ));
    }
    let (what, command) = let_through(pass, blame, cx.case.service);
    f.fix(what, vec![command])
}

/// Which hook of which namespace drops what, and how.
fn cause(pass: &Pass, blame: &Blame) -> String {
    let c = &blame.chain;
    let ns = &pass.ns;
    let what = pass.what.as_str();
    let how = match &blame.rule {
        None => "its policy is drop and no rule accepts it".to_string(),
        Some(r) => {
            let does = match &r.reject {
                Some(with) => format!("rejects it with {with}"),
                None => "drops it".to_string(),
            };
            if r.chain == c.name {
                format!("rule {} {does} ({})", r.position, r.text)
            } else {
                format!(
                    "rule {} of chain {}, jumped to from it, {does} ({})",
                    r.position, r.chain, r.text
                )
            }
        }
    };
    let chain = chain_words(c);
    let drops = if blame.rule.as_ref().is_some_and(|r| r.reject.is_some()) {
        "rejects"
    } else {
        "drops"
    };
    match pass.id {
        "filter.br-netfilter" => format!(
            "br_netfilter sends frames bridged by {} in {ns} through the {} hooks, where {chain} drops {what}: {how}",
            pass.bridge.as_deref().unwrap_or("the bridge"),
            if pass.pkt.nfproto == nft::IPV6 {
                "ip6tables"
            } else {
                "iptables"
            },
        ),
        "filter.bridge" => format!(
            "the nftables bridge family drops {what} bridged by {} in {ns}: in {chain}, {how}",
            pass.bridge.as_deref().unwrap_or("the bridge"),
        ),
        "filter.forward" => format!("{ns}'s forward filter {drops} {what}: in {chain}, {how}"),
        "filter.input" => format!("{ns}'s input filter {drops} {what}: in {chain}, {how}"),
        "filter.output" => format!("{ns}'s output filter {drops} {what}: in {chain}, {how}"),
        "filter.netdev" => format!(
            "a netdev filter on {} drops {what}: in {chain}, {how}",
            place(ns, pass.dev.as_deref().unwrap_or("?")),
        ),
        _ => format!("an ARP filter in {ns} drops {what}: in {chain}, {how}"),
    }
}

/// The chain, its policy, and the rule that matched the packet.
fn chain_evidence(pass: &Pass, blame: &Blame) -> String {
    let c = &blame.chain;
    let what = pass.what.as_str();
    let policy = match c.policy {
        Some(nft::NF_DROP) => "drop",
        _ => "accept",
    };
    let verdict = match &blame.rule {
        None => format!("no rule in it accepts {what} ({})", iface_words(&pass.pkt)),
        Some(r) => format!(
            "rule {} of chain {} (handle {}) matches {what} ({}): {}",
            r.position,
            r.chain,
            r.handle,
            iface_words(&pass.pkt),
            r.text
        ),
    };
    format!(
        "{}: {}: policy {policy}; {verdict}",
        pass.ns,
        chain_hook_words(c)
    )
}

/// The fix: an accept rule before a dropping policy, else deleting the
/// rule that drops (with the tool that made it).
fn let_through(pass: &Pass, blame: &Blame, service: Option<Service>) -> (String, String) {
    let c = &blame.chain;
    let ns = &pass.ns;
    match &blame.rule {
        None => accept(pass, c, service),
        Some(r) => {
            let del = if c.looks_like_iptables() {
                cmd::exec(
                    ns,
                    &format!("{} -D {} {}", xtables(c), cmd::dev(&r.chain), r.position),
                )
            } else {
                cmd::exec(
                    ns,
                    &format!(
                        "nft delete rule {} {} {} handle {}",
                        family_name(c.family),
                        nname(&c.table),
                        nname(&r.chain),
                        r.handle
                    ),
                )
            };
            ("delete the rule".to_string(), del)
        }
    }
}

/// (namespace, family, table, chain, rule handle; None: the policy).
type ChainKey = (String, u8, String, String, Option<u64>);

pub fn netfilter(cx: &Ctx) -> Vec<Finding> {
    let mut out: Vec<Finding> = Vec::new();
    // (namespace, family, table, chain, rule) → the finding that names it.
    let mut blamed: Vec<(ChainKey, usize)> = Vec::new();
    for pass in passes(cx) {
        let Some(rs) = cx.snap.detail(&pass.ns).and_then(|d| d.nft.as_ref()) else {
            continue;
        };
        let Outcome::Drop {
            blame,
            certain,
            unknown,
        } = judge(
            rs,
            &pass.families,
            pass.hook,
            pass.dev.as_deref(),
            &pass.pkt,
        )
        else {
            continue;
        };
        let key = (
            pass.ns.clone(),
            blame.chain.family,
            blame.chain.table.clone(),
            blame.chain.name.clone(),
            blame.rule.as_ref().map(|r| r.handle),
        );
        if let Some((_, i)) = blamed.iter().find(|(k, _)| *k == key) {
            // The same chain drops the other way too: one cause, and its
            // fix lets both ways through.
            if blame.rule.is_none() {
                let (_, command) = accept(&pass, &blame.chain, cx.case.service);
                let f = &mut out[*i];
                let line = format!(
                    "it would drop {} too ({})",
                    pass.what,
                    iface_words(&pass.pkt)
                );
                if let Some(fix) = f
                    .fixes
                    .iter_mut()
                    .find(|x| !x.commands.iter().any(|c| c.contains("sysctl")))
                    && !fix.commands.contains(&command)
                {
                    fix.commands.push(command);
                    f.evidence.push(line);
                }
            }
            continue;
        }
        blamed.push((key, out.len()));
        out.push(finding(cx, &pass, &blame, certain, &unknown));
    }
    out
}

/// The destination ignores echo requests altogether.
pub fn echo_ignore(cx: &Ctx) -> Vec<Finding> {
    if cx.probe.answered || cx.case.service.is_some() {
        return Vec::new();
    }
    let Some(ns) = cx.fwd.delivered_in() else {
        return Vec::new();
    };
    let key = if cx.case.v6 {
        "net.ipv6.icmp.echo_ignore_all"
    } else {
        "net.ipv4.icmp_echo_ignore_all"
    };
    if cx.snap.sysctl(ns, key) != Some(1) {
        return Vec::new();
    }
    vec![
        Finding::new(
            "filter.icmp-echo-ignore",
            format!("{ns} ignores every echo request ({key} = 1): it never replies to a ping"),
        )
        .at(ns)
        .evidence(format!("{ns}: {key} = 1"))
        .fix("answer pings again", vec![cmd::sysctl(ns, key, "0")]),
    ]
}
