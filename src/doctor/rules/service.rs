//! A service that does not answer (pure): who listens on the port where the
//! connection lands — nobody; only on loopback or another address; in
//! another namespace; a full accept queue — and address translation
//! (DNAT, redirect, SNAT, masquerade) that sends it elsewhere. Only when
//! the probe of `DST:tcp/PORT` (`udp/PORT`) failed.

use std::net::IpAddr;

use crate::doctor::case::{Ctx, Direction};
use crate::doctor::cmd;
use crate::doctor::finding::Finding;
use crate::doctor::netfilter::{Translation, translate};
use crate::kernel::sockdiag::Listener;
use crate::model::nft::{self, family_name, hook_name};
use crate::probe::service::{Seen, Service, ServiceSeen};

use super::hooks::passes;

/// The service asked about, what the probe saw (when it failed), and the
/// address tried.
fn failed<'a>(cx: &'a Ctx) -> Option<(Service, &'a ServiceSeen, IpAddr)> {
    let seen = cx.probe.service.as_ref()?;
    if seen.ok() {
        return None;
    }
    Some((cx.case.service?, seen, cx.case.dst?))
}

/// What nobody listening looks like: a reset (TCP), port unreachable (UDP).
fn refused_like(seen: &Seen) -> bool {
    match seen {
        Seen::Reset => true,
        Seen::Icmp {
            icmp_type,
            icmp_code,
            ..
        } => (*icmp_type == 3 && *icmp_code == 3) || (*icmp_type == 1 && *icmp_code == 4),
        _ => false,
    }
}

fn of<'a>(cx: &'a Ctx, ns: &str, svc: Service) -> Vec<&'a Listener> {
    cx.snap
        .listeners
        .get(ns)
        .map(|l| {
            l.sockets
                .iter()
                .filter(|s| s.proto == svc.proto && s.port == svc.port)
                .collect()
        })
        .unwrap_or_default()
}

/// "ss -ltnp 'sport = :8080'" in the namespace: finds the server's process.
fn find_server(ns: &str, svc: Service) -> String {
    let flags = match svc.proto {
        crate::probe::service::Proto::Tcp => "-ltnp",
        crate::probe::service::Proto::Udp => "-lunp",
    };
    cmd::exec(ns, &format!("ss {flags} 'sport = :{}'", svc.port))
}

/// Who listens where the connection lands.
pub fn listeners(cx: &Ctx) -> Vec<Finding> {
    let Some((svc, seen, ip)) = failed(cx) else {
        return Vec::new();
    };
    // The way must get there; else the path's own rules say why.
    let Some(ns) = cx.fwd.delivered_in().map(str::to_string) else {
        return Vec::new();
    };
    // Translated elsewhere: the nat rule says where.
    if translations(cx).iter().any(|(_, t)| t.redirects()) {
        return Vec::new();
    }
    let here = of(cx, &ns, svc);
    let evidence_seen = format!("the probe: {}", seen.text());
    if here.iter().any(|l| l.takes(ip)) {
        let full: Vec<&&Listener> = here.iter().filter(|l| l.queue_full()).collect();
        let Some(l) = full.first() else {
            return Vec::new();
        };
        let mut f = Finding::new(
            "service.backlog-full",
            format!(
                "the server on {svc} in {ns} does not accept connections: its accept queue is full ({} waiting, backlog {}), so new ones are dropped",
                l.rqueue, l.backlog
            ),
        )
        .at(&ns)
        .evidence(format!(
            "{ns}: {} {} listens with {} connections not yet accepted (backlog {})",
            svc.proto.name(),
            l.place(),
            l.rqueue,
            l.backlog
        ))
        .evidence(evidence_seen);
        if let Some(o) = cx.snap.listeners.get(&ns).and_then(|x| x.overflows)
            && o > 0
        {
            f = f.evidence(format!("{ns}: TcpExt ListenOverflows = {o}"));
        }
        return vec![f.fix(
            "make the server accept its connections (is it stuck?), or give it a bigger backlog",
            vec![
                find_server(&ns, svc),
                cmd::sysctl(&ns, "net.core.somaxconn", "4096"),
            ],
        )];
    }
    let mut f = if let Some(l) = here.first() {
        let which = if l.addr.is_loopback() {
            format!("only on {} (loopback)", l.place())
        } else if l.v6only && ip.is_ipv4() {
            format!("only on {} for IPv6 (IPV6_V6ONLY)", l.place())
        } else {
            format!("only on {}", l.place())
        };
        let any = if ip.is_ipv4() { "0.0.0.0" } else { "[::]" };
        let at = match ip {
            IpAddr::V6(a) => format!("[{a}]:{}", svc.port),
            IpAddr::V4(a) => format!("{a}:{}", svc.port),
        };
        Finding::new(
            "service.wrong-address",
            format!(
                "a server listens on {svc} in {ns}, but {which}: connections to {ip} do not reach it"
            ),
        )
        .evidence(format!(
            "{ns}: {} listeners on port {}: {}",
            svc.proto.name(),
            svc.port,
            here.iter().map(|l| l.place()).collect::<Vec<_>>().join(", ")
        ))
        .fix(
            format!(
                "restart the server bound to {any}:{} (every address) or {at}",
                svc.port
            ),
            vec![find_server(&ns, svc)],
        )
    } else {
        let elsewhere: Vec<String> = cx
            .snap
            .listeners
            .keys()
            .filter(|n| **n != ns && !of(cx, n, svc).is_empty())
            .cloned()
            .collect();
        match elsewhere.as_slice() {
            [] => Finding::new(
                "service.no-listener",
                format!("nothing listens on {svc} in {ns}"),
            )
            .evidence(format!(
                "{ns}: no {} socket bound to port {} (sock_diag)",
                svc.proto.name(),
                svc.port
            ))
            .fix(
                format!(
                    "start the server in {ns}, listening on {}:{}",
                    if ip.is_ipv4() { "0.0.0.0" } else { "[::]" },
                    svc.port
                ),
                vec![cmd::exec(&ns, "SERVER …")],
            ),
            others => {
                let l = of(cx, &others[0], svc);
                let mut f = Finding::new(
                    "service.other-namespace",
                    format!(
                        "a server listens on {svc} in {}, not {ns}",
                        others.join(" and ")
                    ),
                )
                .evidence(format!(
                    "{ns}: no {} socket bound to port {} (sock_diag)",
                    svc.proto.name(),
                    svc.port
                ));
                for o in others {
                    f = f.at(o);
                }
                f.evidence(format!(
                    "{}: {} {} listens",
                    others[0],
                    svc.proto.name(),
                    l.first().map(|l| l.place()).unwrap_or_default()
                ))
                .fix(
                    format!("stop it in {} and start it in {ns}", others[0]),
                    vec![find_server(&others[0], svc), cmd::exec(&ns, "SERVER …")],
                )
            }
        }
    };
    f = f.at(&ns).evidence(evidence_seen);
    // A timeout is not what a missing listener looks like: something else
    // may drop it first.
    if !refused_like(&seen.seen) {
        f = f.secondary();
    }
    vec![f]
}

/// Every translation on the way there (destination: output of SRC,
/// prerouting of each namespace after) and back (source: postrouting).
fn translations(cx: &Ctx) -> Vec<(String, Translation)> {
    let mut out: Vec<(String, Translation)> = Vec::new();
    for pass in passes(cx) {
        let dnat_hook = pass.dir == Direction::There
            && matches!(pass.hook, nft::OUTPUT | nft::PREROUTING)
            && matches!(pass.id, "filter.output" | "filter.forward" | "filter.input");
        let snat_hook = pass.dir == Direction::There
            && pass.hook == nft::POSTROUTING
            && matches!(pass.id, "filter.output" | "filter.forward");
        if !(dnat_hook || snat_hook) {
            continue;
        }
        let Some(rs) = cx.snap.detail(&pass.ns).and_then(|d| d.nft.as_ref()) else {
            continue;
        };
        if let Some(t) = translate(rs, &pass.families, pass.hook, &pass.pkt)
            && !out
                .iter()
                .any(|(n, x)| *n == pass.ns && x.rule.handle == t.rule.handle)
        {
            out.push((pass.ns.clone(), t));
        }
    }
    out
}

/// Where a translated address leads: who holds it, who listens.
fn lands(cx: &Ctx, ns: &str, t: &Translation, svc: Service) -> String {
    let port = t.port.unwrap_or(svc.port);
    let new = crate::probe::service::Service {
        proto: svc.proto,
        port,
    };
    let (holder, ip) = match t.addr {
        Some(a) => (cx.topo.owners(a).first().map(|s| s.to_string()), Some(a)),
        None => (Some(ns.to_string()), None),
    };
    match (holder, ip) {
        (None, Some(a)) => format!("no namespace holds {a}"),
        (Some(h), ip) => {
            let ls = of(cx, &h, new);
            if ls.iter().any(|l| ip.is_none_or(|a| l.takes(a))) {
                format!("{h} holds it, and a server listens on {new} there")
            } else {
                format!("{h} holds it, and nothing listens on {new} there")
            }
        }
        (None, None) => String::new(),
    }
}

/// DNAT, redirect, SNAT, masquerade on the way.
pub fn nat(cx: &Ctx) -> Vec<Finding> {
    let Some((svc, seen, ip)) = failed(cx) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (ns, t) in translations(cx) {
        let c = &t.chain;
        let hook = c.hook.as_ref().map_or("?", |h| hook_name(c.family, h.num));
        let table = format!("table {} {}", family_name(c.family), c.table);
        let r = &t.rule;
        let del = if c.looks_like_iptables() {
            let tool = if c.family == nft::IPV6 {
                "ip6tables"
            } else {
                "iptables"
            };
            cmd::exec(
                &ns,
                &format!("{tool} -t nat -D {} {}", cmd::dev(&r.chain), r.position),
            )
        } else {
            cmd::exec(
                &ns,
                &format!(
                    "nft delete rule {} {} {} handle {}",
                    family_name(c.family),
                    c.table,
                    r.chain,
                    r.handle
                ),
            )
        };
        let evidence = format!(
            "{ns}: rule {} of chain {} of {table} (hook {hook}, handle {}): {}",
            r.position, r.chain, r.handle, r.text
        );
        let f = if t.redirects() {
            let land = lands(cx, &ns, &t, svc);
            Finding::new(
                "nat.dnat",
                format!(
                    "{ns} translates the connection to {ip} {svc} ({}) and sends it to {} instead{}",
                    t.kind,
                    t.to_words(),
                    if land.is_empty() {
                        String::new()
                    } else {
                        format!(": {land}")
                    }
                ),
            )
        } else {
            Finding::new(
                "nat.snat",
                format!(
                    "{ns} rewrites the source of the connection ({}) to {}: answers go there, not to {}",
                    t.kind,
                    t.to_words(),
                    cx.case.src
                ),
            )
            .guess()
            .secondary()
        };
        out.push(
            f.at(&ns)
                .evidence(evidence)
                .evidence(format!("the probe: {}", seen.text()))
                .fix("delete the translation rule", vec![del]),
        );
    }
    out
}
