//! Lab file text → validated `Lab`, or every problem found, each with its span.
//! Pure: no kernel, no root.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::sync::Arc;

use ipnet::IpNet;

use super::conditions::{Conditions, Param};
use super::diag::{LabFileError, Problem};
use super::error::ValueError;
use super::external::Reference;
use super::lab::{
    BridgeNode, Endpoint, Expectation, HOST, Lab, Link, Mac, NetnsNode, Node, NodeKind, Places,
};
use super::names;
use super::raw::{At, RawConditions, RawEndpoint, RawLab, RawNode, Span, Syntax, with_syntax};
use super::route::Route;

mod hosts;

/// Ports a Linux bridge accepts (BR_MAX_PORTS - 1).
pub const MAX_BRIDGE_PORTS: usize = 1023;

/// Lab files larger than this are refused before parsing.
pub const MAX_FILE_BYTES: usize = 16 << 20;

/// Parse and validate a lab file. `path` is only used in messages.
pub fn parse_lab(path: &str, text: &str) -> Result<Lab, LabFileError> {
    let fail = |problems: Vec<Problem>| LabFileError {
        path: path.to_string(),
        text: Arc::from(text),
        problems,
    };
    if text.len() > MAX_FILE_BYTES {
        return Err(fail(vec![
            Problem::new(
                format!(
                    "the file is {} bytes; lab files are limited to {MAX_FILE_BYTES}",
                    text.len()
                ),
                Span::default(),
            )
            .hint("split the lab, or generate it with fewer, larger links"),
        ]));
    }
    if let Some(at) = text.find('\0') {
        return Err(fail(vec![
            Problem::new("the file contains a NUL byte", Span { offset: at, len: 1 })
                .hint("lab files are UTF-8 text"),
        ]));
    }
    let raw: RawLab = if is_toml(path) {
        match with_syntax(Syntax::Toml, || toml::from_str(text)) {
            Ok(raw) => raw,
            Err(e) => return Err(fail(vec![toml_problem(&e, text)])),
        }
    } else {
        match with_syntax(Syntax::Yaml, || serde_saphyr::from_str(text)) {
            Ok(raw) => raw,
            Err(e) => return Err(fail(vec![yaml_problem(&e, text)])),
        }
    };
    let mut v = Validator::default();
    let lab = v.lab(raw, text);
    if v.problems.is_empty() {
        Ok(lab)
    } else {
        v.problems.sort_by_key(|p| p.span.offset);
        Err(fail(v.problems))
    }
}

/// Lab files are YAML; a `.toml` file is read as TOML, with the same keys.
pub fn is_toml(path: &str) -> bool {
    path.ends_with(".toml")
}

fn toml_problem(e: &toml::de::Error, text: &str) -> Problem {
    let span = match e.span() {
        Some(r) => Span {
            offset: r.start,
            len: r.end.saturating_sub(r.start),
        },
        None => Span {
            offset: text.len(),
            len: 0,
        },
    };
    let message = e.message().trim().to_string();
    let p = Problem::new(message.clone(), span);
    if message.contains("unknown field") {
        p.hint("check the spelling; the lab file reference is in the README")
    } else {
        p
    }
}

fn yaml_problem(e: &serde_saphyr::Error, text: &str) -> Problem {
    let inner = e.without_snippet();
    let span = match inner.location() {
        Some(loc) => {
            let s = Span::of(&loc);
            if s.offset == 0 && s.len == 0 && loc.line() > 1 {
                // Reader-style locations carry no byte offset: rebuild it from line/column.
                offset_of(text, loc.line() as usize, loc.column() as usize)
            } else {
                s
            }
        }
        None => Span {
            offset: text.len(),
            len: 0,
        },
    };
    let mut message = inner.to_string();
    // The crate appends its own position; ours is shown by the renderer.
    if let Some(cut) = message.find(" at line ") {
        message.truncate(cut);
    }
    // Advice meant for programmers using the crate, not for a lab's author.
    if let Some(cut) = message.find(", set DuplicateKeyPolicy") {
        message.truncate(cut);
    }
    if let Some(what) = message.strip_prefix("budget breached: ") {
        let what = what.split(" (defined").next().unwrap_or(what);
        message = format!(
            "the file expands to more YAML than a lab file can hold ({what}; every use of an alias counts again)"
        );
    }
    let hint = if message.contains("unknown field") {
        Some("check the spelling; the lab file reference is in the README".to_string())
    } else if message.contains("duplicate") {
        Some("each key may appear once in a map".to_string())
    } else if message.contains("expected mapping") {
        Some("this place takes a map (`key: value` lines, or `{ key: value }`)".to_string())
    } else if message.contains("expected sequence") {
        Some("this place takes a list (`- item` lines, or `[a, b]`)".to_string())
    } else if message.to_lowercase().contains("budget") || message.contains("alias") {
        Some("the file is too deeply nested or expands too much to be a lab file".to_string())
    } else {
        None
    };
    let p = Problem::new(message, span).label("here");
    match hint {
        Some(h) => p.hint(h),
        None => p,
    }
}

fn offset_of(text: &str, line: usize, col: usize) -> Span {
    let mut offset = 0;
    for (i, l) in text.split_inclusive('\n').enumerate() {
        if i + 1 == line {
            let col_off: usize = l
                .chars()
                .take(col.saturating_sub(1))
                .map(char::len_utf8)
                .sum();
            return Span {
                offset: offset + col_off,
                len: 1,
            };
        }
        offset += l.len();
    }
    Span {
        offset: text.len(),
        len: 0,
    }
}

#[derive(Default)]
struct Validator {
    problems: Vec<Problem>,
}

/// Where each interface name is taken, per namespace, to refuse duplicates.
#[derive(Default)]
struct Taken(HashMap<(String, String), Span>);

impl Validator {
    fn problem(&mut self, p: Problem) {
        self.problems.push(p);
    }

    fn lab(&mut self, raw: RawLab, text: &str) -> Lab {
        let name = match &raw.name {
            Some(n) => {
                if let Err(m) = names::check_lab_name(&n.value) {
                    self.problem(Problem::new(m.to_string(), n.span).hint(
                        "the lab name marks everything the lab owns; e.g. `name: seed-bridge`",
                    ));
                }
                n.value.clone()
            }
            None => {
                self.problem(
                    Problem::new("the lab has no `name`", Span { offset: 0, len: 0 })
                        .label("expected `name:` in this file")
                        .hint("add a line like `name: my-lab` (a-z, 0-9, '-')"),
                );
                String::new()
            }
        };
        let ipv6_link_local = raw.ipv6_link_local.as_ref().is_some_and(|b| b.value);

        let mut nodes = Vec::new();
        let mut node_spans: BTreeMap<String, Span> = BTreeMap::new();
        if let Some(map) = &raw.nodes {
            for (key, node) in &map.value.0 {
                if let Some(n) = self.node(key, node) {
                    node_spans.insert(n.name.clone(), key.span);
                    nodes.push(n);
                }
            }
        }
        let mut lab = Lab {
            name,
            nodes,
            links: Vec::new(),
            expect: Vec::new(),
            ipv6_link_local,
            index: Default::default(),
            hosts: Default::default(),
        };
        self.bridge_homes(&lab, &raw);
        self.external_targets(&lab, &raw);

        let mut taken = Taken::default();
        for (n, _) in lab.bridges() {
            let ns = lab.namespace_of(n).name().to_string();
            let span = node_spans.get(n).copied().unwrap_or_default();
            taken.0.insert((ns, n.to_string()), span);
        }
        let mut addrs: HashMap<IpAddr, Span> = HashMap::new();
        for (_, b) in raw_bridges(&raw) {
            if let Some(ip) = &b.ip {
                for item in ip.items() {
                    self.unique_addr(&item, &mut addrs, text);
                }
            }
        }
        let mut link_spans = Vec::new();
        if let Some(links) = &raw.links {
            for link in &links.value {
                if let Some(l) = self.link(&lab, link, &mut taken, &mut addrs, text) {
                    lab.links.push(l);
                    link_spans.push(link.span);
                }
            }
        }
        self.hosts(&raw, &mut lab, &link_spans);
        self.routes_name_devices(&lab, &raw, &taken);
        self.bridge_port_limits(&lab, &node_spans);
        if let Some(expect) = &raw.expect {
            for e in &expect.value {
                for n in [&e.value.from, &e.value.to] {
                    if n.value != HOST && lab.node(&n.value).is_none() {
                        self.problem(
                            Problem::new(
                                format!("`{}` is not a node of this lab", n.value),
                                n.span,
                            )
                            .hint(known_nodes_hint(&lab)),
                        );
                    }
                }
                lab.expect.push(Expectation {
                    from: e.value.from.value.clone(),
                    to: e.value.to.value.clone(),
                    reach: e.value.reach,
                });
            }
        }
        lab
    }

    fn node(&mut self, key: &At<String>, node: &At<RawNode>) -> Option<Node> {
        let name = &key.value;
        if let Some(why) = names::reserved_node_name(name) {
            self.problem(
                Problem::new(
                    format!("`{}` is a reserved name", names::printable(name)),
                    key.span,
                )
                .hint(why),
            );
            return None;
        }
        let n = &node.value;
        let kind = n.kind.as_ref().map(|k| k.value.as_str()).unwrap_or("netns");
        let kind = match kind {
            "netns" => NodeKind::Netns(self.netns_node(key, n)),
            "bridge" => NodeKind::Bridge(self.bridge_node(key, n)),
            other => {
                let span = n.kind.as_ref().map(|k| k.span).unwrap_or(key.span);
                self.problem(
                    Problem::new(
                        format!("unknown node kind `{}`", names::printable(other)),
                        span,
                    )
                    .hint("a node is `kind: netns` (the default) or `kind: bridge`"),
                );
                return None;
            }
        };
        Some(Node {
            name: name.clone(),
            kind,
        })
    }

    fn netns_node(&mut self, key: &At<String>, n: &RawNode) -> NetnsNode {
        let name = &key.value;
        if let Err(m) = names::check_netns_name(name) {
            self.problem(
                Problem::new(m.to_string(), key.span)
                    .hint("a netns node's name is its namespace's name under /run/netns"),
            );
        }
        for (opt, present) in [
            ("in", n.inside.as_ref().map(|x| x.span)),
            ("ip", n.ip.as_ref().map(|x| x.span)),
            ("stp", n.stp.as_ref().map(|x| x.span)),
            ("vlan_filtering", n.vlan_filtering.as_ref().map(|x| x.span)),
            ("mtu", n.mtu.as_ref().map(|x| x.span)),
            ("mac", n.mac.as_ref().map(|x| x.span)),
        ] {
            if let Some(span) = present {
                self.problem(
                    Problem::new(format!("`{opt}` is a bridge option; `{name}` is a netns node"), span)
                        .hint("for a bridge write `kind: bridge`; addresses of a namespace go on its link endpoints (`ip:`)".to_string()),
                );
            }
        }
        let mut ns = NetnsNode {
            forward: n.forward.as_ref().is_some_and(|f| f.value),
            ..NetnsNode::default()
        };
        if let Some(routes) = &n.routes {
            for r in &routes.value {
                if let Some(route) = self.route(r) {
                    ns.routes.push(route);
                }
            }
        }
        if let Some(sysctls) = &n.sysctls {
            for (k, v) in &sysctls.value.0 {
                self.sysctl(k, v);
                ns.sysctls.insert(k.value.clone(), v.value.clone());
            }
        }
        ns.workload = Box::new(self.workload(n));
        ns.external = self.external(key, n);
        ns
    }

    fn workload(&mut self, n: &RawNode) -> super::workload::Workload {
        super::validate_workload::workload(n, &mut self.problems)
    }

    /// `netns:`, `pid:` or `container:` (one of them): a namespace that
    /// exists already. vnet adds its interfaces, addresses and routes there
    /// and nothing else, so the options that change the namespace itself
    /// are refused.
    fn external(&mut self, key: &At<String>, n: &RawNode) -> Option<Reference> {
        let mut given: Vec<(Span, Result<Reference, String>)> = Vec::new();
        if let Some(v) = &n.netns {
            given.push((v.span, Reference::netns(&v.value)));
        }
        if let Some(v) = &n.pid {
            let r = if v.value == 0 {
                Err("pid 0 is not a process".to_string())
            } else {
                Ok(Reference::Pid(v.value))
            };
            given.push((v.span, r));
        }
        if let Some(v) = &n.container {
            given.push((v.span, Reference::container(&v.value)));
        }
        let (first_span, first) = given.first().cloned()?;
        for (span, _) in given.iter().skip(1) {
            self.problem(
                Problem::new(
                    format!(
                        "`{}` names its namespace twice: `netns`, `pid` and `container` exclude each other",
                        key.value
                    ),
                    *span,
                )
                .hint("keep one of them"),
            );
        }
        for (opt, present) in [
            ("forward", n.forward.as_ref().map(|x| x.span)),
            ("sysctls", n.sysctls.as_ref().map(|x| x.span)),
            ("files", n.files.as_ref().map(|x| x.span)),
            ("dirs", n.dirs.as_ref().map(|x| x.span)),
            ("exec", n.exec.as_ref().map(|x| x.span)),
            ("run", n.run.as_ref().map(|x| x.span)),
            ("ready", n.ready.as_ref().map(|x| x.span)),
        ] {
            if let Some(span) = present {
                self.problem(
                    Problem::new(
                        format!("`{opt}` would change the namespace of external node `{}`", key.value),
                        span,
                    )
                    .hint("vnet adds only its own interfaces, addresses and routes to a namespace it did not make; set sysctls there yourself"),
                );
            }
        }
        match first {
            Ok(r) => Some(r),
            Err(why) => {
                self.problem(
                    Problem::new(why, first_span)
                        .hint("e.g. `netns: red`, `netns: /proc/1234/ns/net`, `pid: 1234` or `container: web`"),
                );
                None
            }
        }
    }

    fn route(&mut self, r: &At<String>) -> Option<Route> {
        match r.value.parse::<Route>() {
            Ok(route) => Some(route),
            Err(e) => {
                let span = word_span(r, e.word);
                self.problem(
                    Problem::new(format!("bad route: {}", e.message), span).hint(
                        "routes are written as for `ip route add`, e.g. \"default via 10.0.1.1\" or \"10.0.2.0/24 via 10.0.1.254\"",
                    ),
                );
                None
            }
        }
    }

    /// A per-namespace key, and a short plain value.
    fn sysctl(&mut self, k: &At<String>, v: &At<String>) {
        if let Err(m) = check_sysctl(&k.value) {
            self.problem(Problem::new(m.to_string(), k.span).hint(
                "only per-namespace keys under net. can be set, e.g. net.ipv4.conf.all.rp_filter",
            ));
        }
        if v.value.len() > 256 || v.value.chars().any(|c| c.is_control()) {
            self.problem(Problem::new(
                "a sysctl value must be short, plain text",
                v.span,
            ));
        }
    }

    fn bridge_node(&mut self, key: &At<String>, n: &RawNode) -> BridgeNode {
        let name = &key.value;
        if let Err(m) = names::check_ifname(name) {
            self.problem(
                Problem::new(m.to_string(), key.span)
                    .hint("a bridge node's name is its interface name"),
            );
        }
        for (opt, present) in [
            ("forward", n.forward.as_ref().map(|x| x.span)),
            ("routes", n.routes.as_ref().map(|x| x.span)),
            ("sysctls", n.sysctls.as_ref().map(|x| x.span)),
            ("files", n.files.as_ref().map(|x| x.span)),
            ("dirs", n.dirs.as_ref().map(|x| x.span)),
            ("exec", n.exec.as_ref().map(|x| x.span)),
            ("run", n.run.as_ref().map(|x| x.span)),
            ("ready", n.ready.as_ref().map(|x| x.span)),
            ("user", n.user.as_ref().map(|x| x.span)),
            ("env", n.env.as_ref().map(|x| x.span)),
            ("netns", n.netns.as_ref().map(|x| x.span)),
            ("pid", n.pid.as_ref().map(|x| x.span)),
            ("container", n.container.as_ref().map(|x| x.span)),
        ] {
            if let Some(span) = present {
                self.problem(
                    Problem::new(
                        format!("`{opt}` is a netns option; `{name}` is a bridge"),
                        span,
                    )
                    .hint("put routing options on the netns node the bridge lives in"),
                );
            }
        }
        let mut b = BridgeNode {
            inside: n.inside.as_ref().map(|i| i.value.clone()),
            stp: n.stp.as_ref().is_some_and(|x| x.value),
            vlan_filtering: n.vlan_filtering.as_ref().is_some_and(|x| x.value),
            mtu: n.mtu.as_ref().and_then(|m| self.mtu(m)),
            mac: n.mac.as_ref().and_then(|m| self.mac(m)),
            ips: Vec::new(),
        };
        if let Some(ip) = &n.ip {
            b.ips = self.ips(ip);
        }
        b
    }

    /// `netns: NAME` joins a namespace the lab does not make: not one of
    /// its own nodes (it would be made, then joined, then removed).
    fn external_targets(&mut self, lab: &Lab, raw: &RawLab) {
        let Some(map) = &raw.nodes else { return };
        for (_, node) in &map.value.0 {
            let Some(target) = &node.value.netns else {
                continue;
            };
            if let Some(n) = lab.node(&target.value)
                && lab.external(&n.name).is_none()
            {
                self.problem(
                    Problem::new(
                        format!(
                            "`{}` is a node this lab makes, not an existing namespace",
                            target.value
                        ),
                        target.span,
                    )
                    .hint("link the two nodes instead, or give a namespace made outside the lab"),
                );
            }
        }
    }

    /// `in:` must name a netns node of the lab.
    fn bridge_homes(&mut self, lab: &Lab, raw: &RawLab) {
        for (name, node) in raw_bridges(raw) {
            let Some(inside) = &node.inside else { continue };
            match lab.node(&inside.value).map(|n| &n.kind) {
                Some(NodeKind::Netns(_)) => {}
                _ if inside.value == HOST => {}
                Some(NodeKind::Bridge(_)) => self.problem(
                    Problem::new(
                        format!(
                            "bridge `{name}` cannot live inside bridge `{}`",
                            inside.value
                        ),
                        inside.span,
                    )
                    .hint("`in:` names a netns node"),
                ),
                None => self.problem(
                    Problem::new(
                        format!(
                            "bridge `{name}` is placed in `{}`, which is not a node of this lab",
                            inside.value
                        ),
                        inside.span,
                    )
                    .hint(known_nodes_hint(lab)),
                ),
            }
        }
    }

    fn link(
        &mut self,
        lab: &Lab,
        link: &At<super::raw::RawLink>,
        taken: &mut Taken,
        addrs: &mut HashMap<IpAddr, Span>,
        text: &str,
    ) -> Option<Link> {
        let eps = &link.value.endpoints;
        if eps.value.len() != 2 {
            self.problem(
                Problem::new(
                    format!(
                        "a link has exactly two endpoints; this one has {}",
                        eps.value.len()
                    ),
                    eps.span,
                )
                .hint(
                    "each link is one veth pair: `endpoints: [\"ns1:veth0\", \"br0:br0-veth0\"]`",
                ),
            );
            return None;
        }
        let link_mtu = link.value.mtu.as_ref().and_then(|m| self.mtu(m));
        let (conditions, places) = self.conditions(link.value.conditions.as_ref());
        let mut ends = Vec::new();
        for ep in &eps.value {
            ends.push(self.endpoint(lab, ep, link_mtu, taken, addrs, text)?);
        }
        let [a, b]: [Endpoint; 2] = ends.try_into().ok()?;
        if a.node == b.node && is_bridge(lab, &a.node) {
            self.problem(
                Problem::new(format!("both ends of this link are ports of bridge `{}`", a.node), eps.span)
                    .hint("a veth pair with both ends on one bridge makes a loop; connect the bridge to another node"),
            );
            return None;
        }
        let link = Link {
            ends: [a, b],
            conditions,
            places,
        };
        self.condition_combinations(&link);
        Some(link)
    }

    /// `conditions:` of a link or an endpoint: every key known, every
    /// value in range, each refused at its own place.
    fn conditions(&mut self, raw: Option<&At<RawConditions>>) -> (Conditions, Places) {
        let mut c = Conditions::default();
        let mut places = Places::default();
        let Some(raw) = raw else {
            return (c, places);
        };
        for (key, value) in &raw.value.0 {
            let Some(param) = Param::from_name(&key.value) else {
                self.problem(
                    Problem::new(
                        format!("`{}` is not a condition", names::printable(&key.value)),
                        key.span,
                    )
                    .hint(format!("the conditions are: {}", Param::NAMES.join(", "))),
                );
                continue;
            };
            if places.get(param).is_some() {
                self.problem(
                    Problem::new(format!("`{}` is given twice", param.name()), key.span)
                        .hint("each condition may appear once per link or endpoint"),
                );
                continue;
            }
            if let Err(r) = c.set(param, &value.value.0) {
                self.problem(Problem::new(r.message, value.span).hint(r.hint));
                continue;
            }
            // The key and its value, for refusals that point at both.
            let whole = if value.span.offset >= key.span.offset {
                Span {
                    offset: key.span.offset,
                    len: value.span.offset + value.span.len - key.span.offset,
                }
            } else {
                key.span
            };
            places.0.push((param, whole));
        }
        (c, places)
    }

    /// Each end's egress (the link's keys with the end's over them) must
    /// make sense as a whole: jitter needs a delay.
    fn condition_combinations(&mut self, link: &Link) {
        let mut seen: Vec<Span> = Vec::new();
        for i in 0..2 {
            for (param, r) in link.egress(i).combination_problems() {
                let span = link.place(i, param).unwrap_or_default();
                if seen.contains(&span) {
                    continue;
                }
                seen.push(span);
                self.problem(Problem::new(r.message, span).hint(r.hint));
            }
        }
    }

    fn endpoint(
        &mut self,
        lab: &Lab,
        ep: &At<RawEndpoint>,
        link_mtu: Option<u32>,
        taken: &mut Taken,
        addrs: &mut HashMap<IpAddr, Span>,
        text: &str,
    ) -> Option<Endpoint> {
        let raw = &ep.value;
        let (node, iface) = self.endpoint_names(ep, text)?;
        let known = node.value == HOST || lab.node(&node.value).is_some();
        if !known {
            self.problem(
                Problem::new(
                    format!(
                        "`{}` is not a node of this lab",
                        names::printable(&node.value)
                    ),
                    node.span,
                )
                .hint(known_nodes_hint(lab)),
            );
        }
        if let Err(m) = names::check_ifname(&iface.value) {
            self.problem(Problem::new(m.to_string(), iface.span).hint("rename the interface"));
        } else if known {
            self.take_name(lab, &node.value, &iface, taken, text);
        }
        let ips = raw.ip.as_ref().map(|ip| self.ips(ip)).unwrap_or_default();
        if let Some(ip) = &raw.ip {
            if is_bridge(lab, &node.value) {
                self.problem(
                    Problem::new("an address on a bridge port is never used by the kernel", ip.span)
                        .hint(format!("put the address on the bridge node itself: `{}: {{ kind: bridge, ip: … }}`", node.value)),
                );
            }
            for item in ip.items() {
                self.unique_addr(&item, addrs, text);
            }
        }
        let mtu = raw.mtu.as_ref().and_then(|m| self.mtu(m)).or(link_mtu);
        let mac = raw.mac.as_ref().and_then(|m| self.mac(m));
        let (conditions, places) = self.conditions(raw.conditions.as_ref());
        Some(Endpoint {
            node: node.value,
            interface: iface.value,
            ips,
            mac,
            mtu,
            conditions,
            places,
        })
    }

    /// The node and interface of an endpoint, from "node:interface" (each
    /// with its own span) or from `{ node, interface }`.
    fn endpoint_names(
        &mut self,
        ep: &At<RawEndpoint>,
        text: &str,
    ) -> Option<(At<String>, At<String>)> {
        let raw = &ep.value;
        if let Some(brief) = &raw.brief {
            let inner = inner_span(ep.span, brief, text);
            return match brief.split_once(':') {
                Some((n, i)) => Some((
                    At::new(
                        n.to_string(),
                        Span {
                            offset: inner.offset,
                            len: n.len(),
                        },
                    ),
                    At::new(
                        i.to_string(),
                        Span {
                            offset: inner.offset + n.len() + 1,
                            len: i.len(),
                        },
                    ),
                )),
                None => {
                    self.problem(
                        Problem::new(
                            format!(
                                "`{}` is not of the form node:interface",
                                names::printable(brief)
                            ),
                            ep.span,
                        )
                        .hint("write \"ns1:veth0\", or a map { node: ns1, interface: veth0 }"),
                    );
                    None
                }
            };
        }
        let Some(node) = raw.node.clone() else {
            self.problem(
                Problem::new("this endpoint has no `node`", ep.span).hint("add `node: NAME`"),
            );
            return None;
        };
        let Some(iface) = raw.interface.clone() else {
            self.problem(
                Problem::new("this endpoint has no `interface`", ep.span)
                    .hint("add `interface: NAME`, the name the veth end gets"),
            );
            return None;
        };
        Some((node, iface))
    }

    /// Interface names are unique within a namespace: the first use takes
    /// the name, a second is refused with the line of the first.
    fn take_name(
        &mut self,
        lab: &Lab,
        node: &str,
        iface: &At<String>,
        taken: &mut Taken,
        text: &str,
    ) {
        let ns = lab.namespace_of(node).name().to_string();
        let key = (ns.clone(), iface.value.clone());
        if let Some(first) = taken.0.get(&key) {
            let (line, _) = line_of(text, first.offset);
            self.problem(
                Problem::new(
                    format!(
                        "interface `{}` is already used in namespace `{ns}` (line {line})",
                        iface.value
                    ),
                    iface.span,
                )
                .hint("interface names are unique within a namespace; pick another name"),
            );
        } else {
            taken.0.insert(key, iface.span);
        }
    }

    /// A Linux bridge takes at most 1023 ports ("Exchange full" at the next).
    fn bridge_port_limits(&mut self, lab: &Lab, spans: &BTreeMap<String, Span>) {
        let mut ports: BTreeMap<&str, usize> = BTreeMap::new();
        for l in &lab.links {
            for e in &l.ends {
                if is_bridge(lab, &e.node) {
                    *ports.entry(e.node.as_str()).or_default() += 1;
                }
            }
        }
        for (bridge, n) in ports {
            if n > MAX_BRIDGE_PORTS {
                self.problem(
                    Problem::new(
                        format!("bridge `{bridge}` has {n} ports; a Linux bridge holds at most {MAX_BRIDGE_PORTS}"),
                        spans.get(bridge).copied().unwrap_or_default(),
                    )
                    .hint("spread the ports over several bridges joined by a trunk bridge (see bench/star.py)"),
                );
            }
        }
    }

    /// Routes that name a device must name one the lab puts in that namespace.
    fn routes_name_devices(&mut self, lab: &Lab, raw: &RawLab, taken: &Taken) {
        let Some(nodes) = &raw.nodes else { return };
        for (key, node) in &nodes.value.0 {
            let Some(routes) = &node.value.routes else {
                continue;
            };
            if !matches!(
                lab.node(&key.value).map(|n| &n.kind),
                Some(NodeKind::Netns(_))
            ) {
                continue;
            }
            for r in &routes.value {
                let Ok(route) = r.value.parse::<Route>() else {
                    continue;
                };
                if let Some(dev) = &route.dev
                    && !taken.0.contains_key(&(key.value.clone(), dev.clone()))
                {
                    self.problem(
                        Problem::new(
                            format!("`{dev}` is not an interface of `{}`", key.value),
                            r.span,
                        )
                        .hint(
                            "a route's dev must be one of the node's own link endpoints or bridges",
                        ),
                    );
                }
                if let Some(via) = route.via
                    && route.dev.is_none()
                    && !is_link_local(via)
                    && !connected(lab, &key.value)
                        .iter()
                        .any(|net| net.contains(&via))
                {
                    self.problem(
                        Problem::new(
                            format!(
                                "gateway {via} is not on a subnet `{}` is connected to",
                                key.value
                            ),
                            r.span,
                        )
                        .hint(
                            "give the node an address in the gateway's subnet, or fix the gateway",
                        ),
                    );
                }
            }
        }
    }

    fn ips(&mut self, ip: &At<super::raw::OneOrMany>) -> Vec<IpNet> {
        let mut out = Vec::new();
        for item in ip.items() {
            match parse_cidr(&item.value) {
                Ok(net) => out.push(net),
                Err(m) => self.problem(
                    Problem::new(m.to_string(), item.span)
                        .hint("write an address with its prefix length, e.g. 192.168.1.1/24 or 2001:db8::1/64"),
                ),
            }
        }
        out
    }

    fn unique_addr(&mut self, item: &At<String>, addrs: &mut HashMap<IpAddr, Span>, text: &str) {
        let Ok(net) = parse_cidr(&item.value) else {
            return;
        };
        if let Some(first) = addrs.get(&net.addr()) {
            let (line, _) = line_of(text, first.offset);
            self.problem(
                Problem::new(
                    format!("address {} is used twice in this lab", net.addr()),
                    item.span,
                )
                .label("second use")
                .hint(format!(
                    "the first use is on line {line}; give each interface its own address"
                )),
            );
        } else {
            addrs.insert(net.addr(), item.span);
        }
    }

    fn mtu(&mut self, m: &At<u32>) -> Option<u32> {
        if (68..=65535).contains(&m.value) {
            Some(m.value)
        } else {
            self.problem(
                Problem::new(format!("MTU {} is out of range", m.value), m.span)
                    .hint("an MTU is between 68 and 65535 (1500 is Ethernet's)"),
            );
            None
        }
    }

    fn mac(&mut self, m: &At<String>) -> Option<Mac> {
        match m.value.parse::<Mac>() {
            Ok(mac) => Some(mac),
            Err(e) => {
                self.problem(
                    Problem::new(format!("bad MAC address: {e}"), m.span)
                        .hint("e.g. 02:00:00:00:00:01"),
                );
                None
            }
        }
    }
}

/// An address with prefix; refuses network-only forms that cannot be an interface address.
pub fn parse_cidr(s: &str) -> Result<IpNet, ValueError> {
    let net: IpNet = s.trim().parse().map_err(|_| {
        if s.contains('/') {
            ValueError::NotCidr(names::printable(s))
        } else {
            ValueError::NoPrefix(names::printable(s))
        }
    })?;
    let addr = net.addr();
    if addr.is_unspecified() || addr.is_multicast() {
        return Err(ValueError::NotInterfaceAddr(addr));
    }
    if let IpNet::V4(v4) = net
        && v4.prefix_len() < 31
        && (v4.addr() == v4.network() || v4.addr() == v4.broadcast())
    {
        return Err(ValueError::SubnetEdge {
            addr: v4.addr().into(),
            which: if v4.addr() == v4.network() {
                "network"
            } else {
                "broadcast"
            },
            net: v4.trunc().into(),
        });
    }
    Ok(net)
}

fn check_sysctl(key: &str) -> Result<(), ValueError> {
    if !key.starts_with("net.") {
        return Err(ValueError::NotNamespaceSysctl(names::printable(key)));
    }
    if key.split('.').any(|part| part.is_empty() || part == "..")
        || key
            .chars()
            .any(|c| c == '/' || c.is_whitespace() || c.is_control())
    {
        return Err(ValueError::NotSysctlKey(names::printable(key)));
    }
    Ok(())
}

fn is_link_local(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(a) => a.is_link_local(),
        IpAddr::V6(a) => a.segments()[0] & 0xffc0 == 0xfe80,
    }
}

/// The subnets a netns node has addresses in (its endpoints and the bridges
/// that live inside it).
fn connected(lab: &Lab, node: &str) -> Vec<IpNet> {
    let mut nets: Vec<IpNet> = lab
        .links
        .iter()
        .flat_map(|l| l.ends.iter())
        .filter(|e| e.node == node)
        .flat_map(|e| e.ips.iter().copied())
        .collect();
    for (_, b) in lab.bridges() {
        if b.inside.as_deref() == Some(node) {
            nets.extend(b.ips.iter().copied());
        }
    }
    nets.iter().map(IpNet::trunc).collect()
}

fn is_bridge(lab: &Lab, node: &str) -> bool {
    matches!(lab.node(node).map(|n| &n.kind), Some(NodeKind::Bridge(_)))
}

fn raw_bridges(raw: &RawLab) -> Vec<(&str, &RawNode)> {
    raw.nodes
        .as_ref()
        .map(|m| {
            m.value
                .0
                .iter()
                .filter(|(_, n)| n.value.kind.as_ref().is_some_and(|k| k.value == "bridge"))
                .map(|(k, n)| (k.value.as_str(), &n.value))
                .collect()
        })
        .unwrap_or_default()
}

fn known_nodes_hint(lab: &Lab) -> String {
    let mut names: Vec<&str> = lab.nodes.iter().map(|n| n.name.as_str()).collect();
    names.push(HOST);
    format!("the nodes are: {}", names.join(", "))
}

/// The span of a string's content, inside its quotes if it was quoted.
fn inner_span(span: Span, content: &str, text: &str) -> Span {
    let raw = text.get(span.offset..span.offset + span.len).unwrap_or("");
    match raw.find(content) {
        Some(at) => Span {
            offset: span.offset + at,
            len: content.len(),
        },
        None => span,
    }
}

fn word_span(r: &At<String>, word: Option<(usize, usize)>) -> Span {
    match word {
        Some((at, len)) if r.span.len >= r.value.len() => {
            let quote = usize::from(r.span.len > r.value.len());
            Span {
                offset: r.span.offset + quote + at,
                len,
            }
        }
        _ => r.span,
    }
}

fn line_of(text: &str, offset: usize) -> (usize, usize) {
    let before = text.get(..offset).unwrap_or(text);
    (before.matches('\n').count() + 1, 0)
}
