//! The kernel's own decisions along the way (pure): a walk that follows the
//! routes the kernel says it picks at each namespace (RTM_GETROUTE with the
//! probe's fields, asked through a closure), the policy rule that chose
//! each, the layer-2 crossings between hops, and the words for routes and
//! rules. The kernel side (`gather::ask`) fills `Asked`; the rules in
//! `rules::decision` and `rules::port` read it.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::IpAddr;

use super::snapshot::Snapshot;
use crate::model::fib::{
    FR_ACT_BLACKHOLE, FR_ACT_PROHIBIT, FR_ACT_TO_TBL, FR_ACT_UNREACHABLE, FdbEntry, PortFlags,
    RT_TABLE_DEFAULT, RT_TABLE_LOCAL, RT_TABLE_MAIN, RTN_BLACKHOLE, RTN_LOCAL, RTN_PROHIBIT,
    RTN_UNICAST, RTN_UNREACHABLE, RouteAnswer, RouteQuery, RuleEntry,
};
use crate::probe::path::Key;

/// What the kernel was asked, and what it said.
#[derive(Clone, Debug, Default)]
pub struct Asked {
    /// The kernel's walk there (from SRC to DST) and back.
    pub there: Walked,
    pub back: Walked,
    /// Policy rules of the namespaces that have more than the default three.
    pub rules: BTreeMap<String, Vec<RuleEntry>>,
    /// Bridge forwarding databases, by namespace.
    pub fdb: BTreeMap<String, Vec<FdbEntry>>,
    /// Bridge ports' flags, by namespace and ifindex.
    pub ports: BTreeMap<String, BTreeMap<u32, PortFlags>>,
    /// What was asked, in words ("could not tell" lists it).
    pub looked: Vec<String>,
}

/// One namespace of the kernel's walk: the route it picks, and where that
/// sends the packet.
#[derive(Clone, Debug)]
pub struct Hop {
    pub ns: String,
    pub answer: RouteAnswer,
    /// The address the packet is sent to on the link (gateway or DST).
    pub next_hop: Option<IpAddr>,
    /// The interface where the next namespace takes it in.
    pub arrive: Option<Key>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum WalkEnd {
    /// Not asked (no address, no kernel answers).
    #[default]
    Unasked,
    /// Taken in by a namespace holding the address.
    Delivered { ns: String },
    /// Taken in by a namespace that does not hold it (a local route, lo).
    Swallowed { ns: String },
    /// The kernel refuses it (its errno) or no route there.
    Refused { ns: String, errno: i32 },
    /// Nobody on the link holds the next hop.
    NoNeighbour { ns: String },
    /// It comes back to a namespace it passed.
    Loop { ns: String },
    /// The walk cannot follow (unknown interface, too long).
    Lost { ns: String },
}

#[derive(Clone, Debug, Default)]
pub struct Walked {
    pub hops: Vec<Hop>,
    pub end: WalkEnd,
}

impl Walked {
    pub fn delivered(&self) -> bool {
        matches!(self.end, WalkEnd::Delivered { .. })
    }
}

const MAX_HOPS: usize = 16;

/// Follow the kernel's answers from `from` towards `dst`: at the first
/// namespace as a locally sent packet, at each next one as a packet that
/// arrived on the interface it arrived on, with the source it carries.
pub fn walk(
    snap: &Snapshot,
    from: &str,
    dst: IpAddr,
    src: Option<IpAddr>,
    proto: u8,
    ask: &mut dyn FnMut(&str, &RouteQuery) -> Option<RouteAnswer>,
) -> Walked {
    let mut w = Walked::default();
    let mut cur = from.to_string();
    let mut iif: Option<u32> = None;
    let mut src = src;
    let mut seen: Vec<String> = Vec::new();
    loop {
        let again = seen.contains(&cur);
        if w.hops.len() >= MAX_HOPS {
            w.end = WalkEnd::Lost { ns: cur };
            return w;
        }
        seen.push(cur.clone());
        let q = RouteQuery {
            dst: Some(dst),
            src: if iif.is_some() { src } else { None },
            iif,
            iif_name: iif.and_then(|i| snap.link(&cur, i)).map(|l| l.name.clone()),
            mark: 0,
            proto,
        };
        let Some(mut answer) = ask(&cur, &q) else {
            if again {
                w.end = WalkEnd::Loop { ns: cur };
            }
            return w;
        };
        // Back where it passed: a loop, unless the kernel refuses it there
        // (a host that does not forward sends nothing round).
        if again && answer.errno.is_none() {
            w.end = WalkEnd::Loop { ns: cur };
            return w;
        }
        if src.is_none() {
            src = answer.prefsrc;
        }
        // Until a namespace has rules of its own the kernel keeps local
        // routes in its main table and says so: name the table they were
        // added to.
        if answer.kind == RTN_LOCAL
            && answer.table == RT_TABLE_MAIN
            && snap.get(&cur).is_some_and(|n| {
                n.routes
                    .iter()
                    .any(|r| r.table == RT_TABLE_LOCAL && Some(r.dst) == answer.matched)
            })
        {
            answer.table = RT_TABLE_LOCAL;
        }
        let held = snap
            .get(&cur)
            .is_some_and(|n| crate::probe::path::holds(n, dst));
        let mut hop = Hop {
            ns: cur.clone(),
            answer,
            next_hop: None,
            arrive: None,
        };
        let a = &hop.answer;
        if let Some(e) = a.errno {
            w.end = WalkEnd::Refused {
                ns: cur.clone(),
                errno: e,
            };
            w.hops.push(hop);
            return w;
        }
        let via_lo = a
            .oif
            .and_then(|i| snap.link(&cur, i))
            .is_some_and(|l| l.name == "lo");
        if a.kind == RTN_LOCAL || via_lo {
            w.end = if held && a.kind == RTN_LOCAL {
                WalkEnd::Delivered { ns: cur.clone() }
            } else {
                WalkEnd::Swallowed { ns: cur.clone() }
            };
            w.hops.push(hop);
            return w;
        }
        if a.kind != RTN_UNICAST {
            w.end = WalkEnd::Refused {
                ns: cur.clone(),
                errno: 0,
            };
            w.hops.push(hop);
            return w;
        }
        let Some(oif) = a.oif else {
            w.end = WalkEnd::Lost { ns: cur.clone() };
            w.hops.push(hop);
            return w;
        };
        let next_hop = a.gateway.unwrap_or(dst);
        hop.next_hop = Some(next_hop);
        let arrive = holder_on_link(snap, &cur, oif, next_hop);
        hop.arrive = arrive.clone();
        w.hops.push(hop);
        match arrive {
            Some((ns, i)) => {
                cur = ns;
                iif = Some(i);
            }
            None => {
                w.end = WalkEnd::NoNeighbour { ns: cur };
                return w;
            }
        }
    }
}

/// The interface on the link behind (ns, oif) that holds `ip`, other than
/// the sender's own.
pub fn holder_on_link(snap: &Snapshot, ns: &str, oif: u32, ip: IpAddr) -> Option<Key> {
    let seg = snap.l2_segment(ns, oif);
    snap.endpoints(&seg)
        .into_iter()
        .filter(|(n, l)| !(n == ns && l.index == oif))
        .find(|(_, l)| l.addrs.iter().any(|a| a.net.addr() == ip))
        .map(|(n, l)| (n, l.index))
}

/// The interfaces a frame crosses from `from` to `to` at layer 2 (both
/// included): veth pairs, and into and out of bridges.
pub fn l2_route(snap: &Snapshot, from: &Key, to: &Key) -> Option<Vec<Key>> {
    let mut parent: HashMap<Key, Key> = HashMap::new();
    let mut todo: VecDeque<Key> = VecDeque::from([from.clone()]);
    let mut seen: Vec<Key> = vec![from.clone()];
    while let Some(k) = todo.pop_front() {
        if &k == to {
            let mut out = vec![k.clone()];
            let mut c = k;
            while let Some(p) = parent.get(&c) {
                out.push(p.clone());
                c = p.clone();
            }
            out.reverse();
            return Some(out);
        }
        if seen.len() > 4096 {
            return None;
        }
        let Some(l) = snap.link(&k.0, k.1) else {
            continue;
        };
        let mut next: Vec<Key> = Vec::new();
        if let Some(p) = snap.peers.get(&k) {
            next.push(p.clone());
        }
        if l.kind.as_deref() == Some("bridge") {
            if let Some(n) = snap.get(&k.0) {
                next.extend(
                    n.links
                        .iter()
                        .filter(|p| p.master == Some(l.index))
                        .map(|p| (k.0.clone(), p.index)),
                );
            }
        } else if let Some(b) = snap.bridge_of(&k.0, l) {
            next.push((k.0.clone(), b.index));
        }
        for n in next {
            if !seen.contains(&n) {
                seen.push(n.clone());
                parent.insert(n.clone(), k.clone());
                todo.push_back(n);
            }
        }
    }
    None
}

/// A bridge crossed: in which namespace, which bridge, the port the frame
/// enters by and the one it should leave by (None: for the bridge itself).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Crossing {
    pub ns: String,
    pub bridge: u32,
    pub in_port: u32,
    pub out_port: Option<u32>,
}

/// The bridges crossed on an l2 route.
pub fn crossings(snap: &Snapshot, route: &[Key]) -> Vec<Crossing> {
    let mut out = Vec::new();
    for (i, k) in route.iter().enumerate() {
        let Some(l) = snap.link(&k.0, k.1) else {
            continue;
        };
        if l.kind.as_deref() != Some("bridge") || i == 0 {
            continue;
        }
        let in_port = &route[i - 1];
        if in_port.0 != k.0 {
            continue;
        }
        let out_port = route.get(i + 1).filter(|n| n.0 == k.0).map(|n| n.1);
        out.push(Crossing {
            ns: k.0.clone(),
            bridge: k.1,
            in_port: in_port.1,
            out_port,
        });
    }
    out
}

/// Whether a policy rule matches the packet of `q` (selectors vnet cannot
/// evaluate never match).
pub fn rule_matches(r: &RuleEntry, q: &RouteQuery) -> bool {
    let Some(dst) = q.dst else { return false };
    if r.v6 != dst.is_ipv6() || r.unevaluated {
        return false;
    }
    let src_ok = r
        .src
        .is_none_or(|n| q.src.map_or(n.prefix_len() == 0, |s| n.contains(&s)));
    let dst_ok = r.dst.is_none_or(|n| n.contains(&dst));
    // A packet sent locally comes "from lo".
    let iif_ok = r.iif.as_deref().is_none_or(|i| match &q.iif_name {
        Some(n) => n == i,
        None => i == "lo",
    });
    let oif_ok = r.oif.is_none();
    let mark_ok = r.fwmark.is_none_or(|m| {
        let mask = r.fwmask.unwrap_or(u32::MAX);
        q.mark & mask == m
    });
    let proto_ok = r.ipproto.is_none_or(|p| p == q.proto);
    (src_ok && dst_ok && iif_ok && oif_ok && mark_ok && proto_ok) != r.invert
}

/// The rule that decided the answer: the first matching one that refuses,
/// or that looks up the table the answer came from.
pub fn deciding_rule<'a>(rules: &'a [RuleEntry], a: &RouteAnswer) -> Option<&'a RuleEntry> {
    rules.iter().find(|r| {
        rule_matches(r, &a.query)
            && (refusing_action(r.action)
                || (r.action == FR_ACT_TO_TBL && r.table == a.table && a.table != 0))
    })
}

pub fn refusing_action(action: u8) -> bool {
    matches!(
        action,
        FR_ACT_BLACKHOLE | FR_ACT_UNREACHABLE | FR_ACT_PROHIBIT
    )
}

/// Whether a namespace has rules beyond the default three (local, main,
/// default), i.e. rules worth reading.
pub fn has_own_rules(rules: &[RuleEntry]) -> bool {
    rules.iter().any(|r| {
        !(r.action == FR_ACT_TO_TBL
            && r.src.is_none()
            && r.dst.is_none()
            && r.iif.is_none()
            && r.oif.is_none()
            && r.fwmark.is_none()
            && r.ipproto.is_none()
            && !r.invert
            && matches!(r.table, RT_TABLE_LOCAL | RT_TABLE_MAIN | RT_TABLE_DEFAULT))
    })
}

pub fn table_name(t: u32) -> String {
    match t {
        RT_TABLE_MAIN => "main".into(),
        RT_TABLE_LOCAL => "local".into(),
        RT_TABLE_DEFAULT => "default".into(),
        t => t.to_string(),
    }
}

pub fn kind_word(kind: u8) -> Option<&'static str> {
    match kind {
        RTN_UNICAST => None,
        RTN_LOCAL => Some("local"),
        RTN_BLACKHOLE => Some("blackhole"),
        RTN_UNREACHABLE => Some("unreachable"),
        RTN_PROHIBIT => Some("prohibit"),
        3 => Some("broadcast"),
        _ => Some("other"),
    }
}

/// The route entry an answer matched, as `ip route` writes it (without
/// the table): `10.0.2.0/24 via 10.0.1.3 dev eth1`, `unreachable 10.0.2.0/24`.
pub fn route_text(snap: &Snapshot, ns: &str, a: &RouteAnswer) -> String {
    let mut s = String::new();
    if let Some(k) = kind_word(a.kind) {
        s.push_str(k);
        s.push(' ');
    }
    match a.matched {
        Some(n) if n.prefix_len() == 0 => s.push_str("default"),
        Some(n) if n.prefix_len() == if n.addr().is_ipv4() { 32 } else { 128 } => {
            s.push_str(&n.addr().to_string())
        }
        Some(n) => s.push_str(&n.trunc().to_string()),
        None => s.push_str(&a.query.dst.map(|d| d.to_string()).unwrap_or_default()),
    }
    if a.kind == RTN_UNICAST || a.kind == RTN_LOCAL {
        if let Some(g) = a.gateway {
            s.push_str(&format!(" via {g}"));
        }
        if let Some(l) = a.oif.and_then(|i| snap.link(ns, i)) {
            s.push_str(&format!(" dev {}", l.name));
        }
    }
    s
}

/// The route with its table when it is not main: for `ip route del`.
pub fn route_with_table(snap: &Snapshot, ns: &str, a: &RouteAnswer) -> String {
    let r = route_text(snap, ns, a);
    if a.table == RT_TABLE_MAIN || a.table == 0 {
        r
    } else {
        format!("{r} table {}", table_name(a.table))
    }
}

/// A rule as `ip rule` shows it: `100: from all iif eth1 lookup 100`.
pub fn rule_text(r: &RuleEntry) -> String {
    let mut s = format!("{}: ", r.priority);
    if r.invert {
        s.push_str("not ");
    }
    match r.src {
        Some(n) => s.push_str(&format!("from {}", n.trunc())),
        None => s.push_str("from all"),
    }
    if let Some(n) = r.dst {
        s.push_str(&format!(" to {}", n.trunc()));
    }
    if let Some(m) = r.fwmark {
        match r.fwmask {
            Some(k) if k != u32::MAX => s.push_str(&format!(" fwmark {m:#x}/{k:#x}")),
            _ => s.push_str(&format!(" fwmark {m:#x}")),
        }
    }
    if let Some(i) = &r.iif {
        s.push_str(&format!(" iif {i}"));
    }
    if let Some(o) = &r.oif {
        s.push_str(&format!(" oif {o}"));
    }
    if let Some(p) = r.ipproto {
        s.push_str(&format!(" ipproto {p}"));
    }
    match r.action {
        FR_ACT_TO_TBL => s.push_str(&format!(" lookup {}", table_name(r.table))),
        FR_ACT_BLACKHOLE => s.push_str(" blackhole"),
        FR_ACT_UNREACHABLE => s.push_str(" unreachable"),
        FR_ACT_PROHIBIT => s.push_str(" prohibit"),
        a => s.push_str(&format!(" action {a}")),
    }
    s
}

/// What the kernel said about a query, in words.
pub fn answer_text(snap: &Snapshot, ns: &str, a: &RouteAnswer) -> String {
    let q = &a.query;
    let mut ask = format!(
        "{ns}: ip route get {}",
        q.dst.map(|d| d.to_string()).unwrap_or_default()
    );
    if let Some(s) = q.src {
        ask.push_str(&format!(" from {s}"));
    }
    if let Some(i) = &q.iif_name {
        ask.push_str(&format!(" iif {i}"));
    }
    if q.mark != 0 {
        ask.push_str(&format!(" mark {:#x}", q.mark));
    }
    match a.errno {
        Some(e) => format!(
            "{ask} → {} (matched: {} in table {})",
            errno_words(e),
            route_text(snap, ns, a),
            table_name(a.table)
        ),
        None => format!(
            "{ask} → {} (table {})",
            route_text(snap, ns, a),
            table_name(a.table)
        ),
    }
}

/// An errno in words: "Network is unreachable".
pub fn errno_words(e: i32) -> String {
    let t = std::io::Error::from_raw_os_error(e).to_string();
    t.split(" (os error").next().unwrap_or(&t).to_string()
}

/// A refusal the kernel gives no route for (an unreachable, prohibit or
/// blackhole route answers only with its errno): the table the rules send
/// the packet to and the route there that refuses it, from the routes read.
pub fn explain_refusal(
    snap: &Snapshot,
    ns: &str,
    rules: Option<&[RuleEntry]>,
    a: &mut RouteAnswer,
) {
    let (Some(dst), None) = (a.query.dst, a.answered_route()) else {
        return;
    };
    let Some(n) = snap.get(ns) else { return };
    let defaults = [RT_TABLE_LOCAL, RT_TABLE_MAIN, RT_TABLE_DEFAULT];
    let tables: Vec<u32> = match rules {
        Some(rs) => {
            let mut v = Vec::new();
            for r in rs.iter().filter(|r| rule_matches(r, &a.query)) {
                if refusing_action(r.action) {
                    return;
                }
                if r.action == FR_ACT_TO_TBL {
                    v.push(r.table);
                }
            }
            v
        }
        None => defaults.to_vec(),
    };
    for t in tables {
        let best = n
            .routes
            .iter()
            .filter(|r| {
                r.table == t && r.dst.addr().is_ipv4() == dst.is_ipv4() && r.dst.contains(&dst)
            })
            .max_by_key(|r| (r.dst.prefix_len(), u32::MAX - r.metric.unwrap_or(0)));
        if let Some(r) = best {
            a.table = t;
            a.kind = r.kind;
            a.matched = Some(r.dst);
            a.gateway = r.via;
            a.oif = r.dev;
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(priority: u32, table: u32) -> RuleEntry {
        RuleEntry {
            priority,
            action: FR_ACT_TO_TBL,
            table,
            ..RuleEntry::default()
        }
    }

    #[test]
    fn rules_match_the_probe_as_the_kernel_does() {
        let dst: IpAddr = "10.0.2.2".parse().unwrap();
        let local = RouteQuery {
            dst: Some(dst),
            proto: 1,
            ..RouteQuery::default()
        };
        let forwarded = RouteQuery {
            src: Some("10.0.1.2".parse().unwrap()),
            iif: Some(2),
            iif_name: Some("eth1".into()),
            ..local.clone()
        };
        let mut by_iif = rule(100, 100);
        by_iif.iif = Some("eth1".into());
        assert!(!rule_matches(&by_iif, &local));
        assert!(rule_matches(&by_iif, &forwarded));
        let mut from_lo = rule(5, 5);
        from_lo.iif = Some("lo".into());
        assert!(rule_matches(&from_lo, &local));
        let mut marked = rule(7, 7);
        marked.fwmark = Some(1);
        assert!(!rule_matches(&marked, &forwarded));
        let mut icmp = rule(8, 8);
        icmp.ipproto = Some(1);
        assert!(rule_matches(&icmp, &local));
        let mut to = rule(50, 200);
        to.dst = Some("10.0.2.0/24".parse().unwrap());
        assert_eq!(rule_text(&to), "50: from all to 10.0.2.0/24 lookup 200");
        let rules = vec![
            rule(0, RT_TABLE_LOCAL),
            to.clone(),
            rule(32766, RT_TABLE_MAIN),
        ];
        assert!(has_own_rules(&rules));
        assert!(!has_own_rules(&[
            rule(0, RT_TABLE_LOCAL),
            rule(32766, RT_TABLE_MAIN)
        ]));
        let a = RouteAnswer {
            query: local,
            table: 200,
            ..RouteAnswer::default()
        };
        assert_eq!(deciding_rule(&rules, &a).map(|r| r.priority), Some(50));
        let mut refuse = rule(10, 0);
        refuse.action = FR_ACT_PROHIBIT;
        refuse.src = Some("10.0.1.2/32".parse().unwrap());
        assert_eq!(rule_text(&refuse), "10: from 10.0.1.2/32 prohibit");
        assert!(rule_matches(&refuse, &forwarded));
    }
}
