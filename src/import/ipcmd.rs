//! One `ip` command (its words after `ip`) applied to the simulated kernel,
//! with iproute2's spelling: abbreviations (`ip a`, `ip l s`), global options
//! (`-n NS`, `-4`, `-6`), and the keywords people use for namespaces, veth
//! pairs, bridges, addresses and routes. Words it does not know are never
//! guessed at: the command is reported, or applied without them and the
//! rest reported.

use std::net::IpAddr;

use ipnet::IpNet;

use super::world::{HOST_NS, Line, NewIface, World};
use crate::model::lab::Mac;
use crate::model::route::Route;

/// What became of one command.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    Done,
    /// Applied, but these words were left out (with why).
    Partial(Vec<String>),
    /// Only shows state; nothing to build.
    ReadOnly(String),
    /// Cannot be represented in a lab file; not applied.
    Unsupported(String),
    /// Would fail when the script runs (and so changes nothing).
    Failed(String),
    /// `ip netns exec NS CMD…`: the caller runs CMD in NS.
    Exec {
        ns: usize,
        words: Vec<String>,
    },
}

/// iproute2 accepts any prefix of a keyword (`matches()`).
fn matches(word: &str, full: &str) -> bool {
    !word.is_empty() && full.starts_with(word)
}

/// The object names iproute2 knows, in the order it tries them.
const OBJECTS: &[&str] = &[
    "address",
    "addrlabel",
    "maddress",
    "route",
    "rule",
    "neighbor",
    "neighbour",
    "ntable",
    "ntbl",
    "link",
    "l2tp",
    "fou",
    "ila",
    "macsec",
    "tunnel",
    "tuntap",
    "tap",
    "token",
    "tcpmetrics",
    "tcp_metrics",
    "monitor",
    "xfrm",
    "mroute",
    "mrule",
    "netns",
    "netconf",
    "vrf",
    "sr",
    "nexthop",
    "mptcp",
    "ioam",
    "help",
    "stats",
];

struct Ip<'a> {
    w: &'a mut World,
    ns: usize,
    /// From `-4` / `-6` / `-f`.
    family: Option<u8>,
    line: Line,
}

/// Run `ip ARGS…` in namespace `ns`.
pub fn run(w: &mut World, ns: usize, args: &[String], line: Line) -> Outcome {
    let mut ip = Ip {
        w,
        ns,
        family: None,
        line,
    };
    let mut i = 0;
    while let Some(opt) = args.get(i).filter(|a| a.starts_with('-') && a.len() > 1) {
        let o = opt.trim_start_matches('-');
        let value = args.get(i + 1);
        match o {
            "n" | "netns" => {
                let Some(name) = value else {
                    return Outcome::Failed("`-n` needs a namespace name".into());
                };
                match ip.w.ns_index(name) {
                    Some(n) => ip.ns = n,
                    None => {
                        return Outcome::Failed(format!("there is no namespace {name}"));
                    }
                }
                i += 2;
                continue;
            }
            "4" => ip.family = Some(4),
            "6" => ip.family = Some(6),
            "f" | "family" => {
                ip.family = match value.map(String::as_str) {
                    Some("inet") => Some(4),
                    Some("inet6") => Some(6),
                    _ => {
                        return Outcome::Unsupported(format!(
                            "address family `{}` is not one vnet uses",
                            value.map_or("", |v| v.as_str())
                        ));
                    }
                };
                i += 2;
                continue;
            }
            "d" | "details" | "s" | "stats" | "statistics" | "j" | "json" | "p" | "pretty"
            | "c" | "color" | "colour" | "br" | "brief" | "o" | "oneline" | "h" | "human"
            | "human-readable" | "r" | "resolve" | "t" | "timestamp" | "ts" | "tshort"
            | "force" | "N" | "Numeric" => {}
            _ if o.starts_with("color=") || o.starts_with("c=") => {}
            "V" | "Version" => return Outcome::ReadOnly("prints the version".into()),
            "b" | "batch" => {
                return Outcome::Unsupported(
                    "runs another batch file; import that file itself".into(),
                );
            }
            "a" | "all" => {
                return Outcome::Unsupported("`-all` runs over every namespace".into());
            }
            _ => return Outcome::Unsupported(format!("unknown option `{opt}`")),
        }
        i += 1;
    }
    let Some(obj) = args.get(i) else {
        return Outcome::ReadOnly("prints usage".into());
    };
    let Some(object) = OBJECTS.iter().find(|o| matches(obj, o)) else {
        return Outcome::Failed(format!("`{obj}` is not an ip object"));
    };
    let rest = &args[i + 1..];
    match *object {
        "netns" => ip.netns(rest),
        "link" => ip.link(rest),
        "address" => ip.address(rest),
        "route" => ip.route(rest),
        other => {
            let verb = rest.first().map_or("show", |s| s.as_str());
            if ["show", "list", "lst", "get"]
                .iter()
                .any(|v| matches(verb, v))
                || other == "monitor"
            {
                Outcome::ReadOnly("shows state".into())
            } else {
                Outcome::Unsupported(format!("`ip {other}` is not part of a vnet lab"))
            }
        }
    }
}

fn verb<'v>(rest: &'v [String], verbs: &[&'static str]) -> (Option<&'static str>, &'v [String]) {
    match rest.first() {
        None => (Some(verbs[0]), rest),
        Some(v) => (
            verbs.iter().copied().find(|full| matches(v, full)),
            &rest[1..],
        ),
    }
}

fn shows() -> Outcome {
    Outcome::ReadOnly("shows state".into())
}

impl Ip<'_> {
    fn dev(&self, name: &str) -> Result<usize, Outcome> {
        self.w.dev(self.ns, name).map_err(|e| Outcome::Failed(e.0))
    }

    fn netns(&mut self, rest: &[String]) -> Outcome {
        let (v, args) = verb(
            rest,
            &[
                "list", "list-id", "monitor", "add", "attach", "set", "delete", "identify", "pids",
                "exec",
            ],
        );
        let name = args.first();
        match v {
            Some("list" | "list-id" | "monitor" | "identify" | "pids") => shows(),
            Some("add") => {
                let Some(name) = name else {
                    return Outcome::Failed("`ip netns add` needs a name".into());
                };
                if let Err(m) = crate::model::names::check_netns_name(name) {
                    return Outcome::Unsupported(m.to_string());
                }
                match self.w.ns_add(name, self.line) {
                    Ok(_) => extra(&args[1..]),
                    Err(m) => Outcome::Failed(m.0),
                }
            }
            Some("delete") => match name {
                Some(n) => match self.w.ns_del(n) {
                    Ok(()) => Outcome::Done,
                    Err(m) => Outcome::Failed(m.0),
                },
                None => Outcome::Failed("`ip netns del` needs a name".into()),
            },
            Some("exec") => {
                let Some(name) = name else {
                    return Outcome::Failed("`ip netns exec` needs a name".into());
                };
                let Some(ns) = self.w.ns_index(name) else {
                    return Outcome::Failed(format!("there is no namespace {name}"));
                };
                if args.len() < 2 {
                    return Outcome::Failed("`ip netns exec` needs a command".into());
                }
                Outcome::Exec {
                    ns,
                    words: args[1..].to_vec(),
                }
            }
            Some(other) => {
                Outcome::Unsupported(format!("`ip netns {other}` is not part of a vnet lab"))
            }
            None => Outcome::Failed(format!("`{}` is not an ip netns command", rest[0])),
        }
    }

    fn link(&mut self, rest: &[String]) -> Outcome {
        let (v, args) = verb(
            rest,
            &[
                "show", "add", "set", "change", "replace", "delete", "list", "lst", "xstats",
                "afstats", "property",
            ],
        );
        match v {
            Some("show" | "list" | "lst" | "xstats" | "afstats") => shows(),
            Some("add") => self.link_add(args),
            Some("set" | "change") => self.link_set(args),
            Some("delete") => {
                let mut name = None;
                let mut i = 0;
                while i < args.len() {
                    match args[i].as_str() {
                        "dev" => {
                            name = args.get(i + 1);
                            i += 2;
                        }
                        "type" => i += 2,
                        _ => {
                            name = name.or(Some(&args[i]));
                            i += 1;
                        }
                    }
                }
                let Some(name) = name else {
                    return Outcome::Failed("`ip link del` needs a device".into());
                };
                match self.dev(name) {
                    Ok(id) => {
                        self.w.del(id);
                        Outcome::Done
                    }
                    Err(o) => o,
                }
            }
            Some(other) => {
                Outcome::Unsupported(format!("`ip link {other}` is not part of a vnet lab"))
            }
            None => Outcome::Failed(format!("`{}` is not an ip link command", rest[0])),
        }
    }

    /// `ip link add [name] NAME [mtu N] [address MAC] [netns NS] [up] type veth|bridge …`.
    fn link_add(&mut self, args: &[String]) -> Outcome {
        let ty_at = args.iter().position(|a| a == "type");
        let (head, tail) = match ty_at {
            Some(at) => (&args[..at], &args[at + 1..]),
            None => (args, &args[args.len()..]),
        };
        let mut left = Vec::new();
        let mut main = match self.iface_opts(head, &mut left) {
            Ok(o) => o,
            Err(o) => return o,
        };
        if main.new.name.is_empty() {
            return Outcome::Failed("`ip link add` needs a name".into());
        }
        let Some(kind) = tail.first() else {
            return Outcome::Failed("`ip link add` needs `type KIND`".into());
        };
        let id = match kind.as_str() {
            "veth" => {
                let mut peer_args = &tail[1..];
                if peer_args.first().map(String::as_str) == Some("peer") {
                    peer_args = &peer_args[1..];
                } else if !peer_args.is_empty() {
                    left.push(format!("veth options `{}`", peer_args.join(" ")));
                    peer_args = &[];
                }
                let mut peer = match self.iface_opts(peer_args, &mut left) {
                    Ok(o) => o,
                    Err(o) => return o,
                };
                if peer.new.name.is_empty() {
                    // The kernel names an unnamed peer vethN; a lab must name it.
                    return Outcome::Unsupported(
                        "the peer has no name (add `peer name NAME`)".into(),
                    );
                }
                if peer.up || peer.master.is_some() {
                    left.push("`up`/`master` on the peer".into());
                    peer.up = false;
                }
                match self.w.add_veth(self.ns, &main.new, &peer.new, self.line) {
                    Ok(id) => id,
                    Err(m) => return Outcome::Failed(m.0),
                }
            }
            "bridge" => {
                let mut stp = false;
                let mut vlan = false;
                let opts = &tail[1..];
                let mut i = 0;
                while i < opts.len() {
                    let value = opts.get(i + 1).map(String::as_str);
                    match (opts[i].as_str(), value) {
                        ("stp_state", Some(v)) => stp = v != "0",
                        ("vlan_filtering", Some(v)) => vlan = v != "0",
                        (k, Some(v)) => left.push(format!("bridge option `{k} {v}`")),
                        (k, None) => left.push(format!("bridge option `{k}`")),
                    }
                    i += 2;
                }
                match self.w.add_bridge(self.ns, &main.new, stp, vlan, self.line) {
                    Ok(id) => id,
                    Err(m) => return Outcome::Failed(m.0),
                }
            }
            other => {
                return match self.w.add_other(self.ns, &main.new, other, self.line) {
                    Ok(_) => Outcome::Unsupported(format!(
                        "vnet makes veth pairs and bridges, not `{other}` interfaces"
                    )),
                    Err(m) => Outcome::Failed(m.0),
                };
            }
        };
        if let Some(m) = main.master.take()
            && let Err(o) = self.master(id, &m)
        {
            return o;
        }
        if main.up {
            self.w.set_up(id, true);
        }
        done(left)
    }

    fn master(&mut self, id: usize, name: &str) -> Result<(), Outcome> {
        let ns = self.w.ifaces[id].ns;
        let m = self.w.dev(ns, name).map_err(|e| Outcome::Failed(e.0))?;
        self.w
            .set_master(id, Some(m))
            .map_err(|e| Outcome::Failed(e.0))
    }

    /// The words that describe one new interface (iproute2's iplink_parse).
    fn iface_opts(&mut self, args: &[String], left: &mut Vec<String>) -> Result<Opts, Outcome> {
        let mut o = Opts::default();
        let mut i = 0;
        while i < args.len() {
            let word = args[i].as_str();
            let value = args.get(i + 1).map(String::as_str);
            let need = |v: Option<&str>| {
                v.map(str::to_string)
                    .ok_or_else(|| Outcome::Failed(format!("`{word}` needs a value")))
            };
            match word {
                "name" | "dev" => o.new.name = need(value)?,
                "mtu" => {
                    let v = need(value)?;
                    o.new.mtu = Some(parse_mtu(&v)?);
                }
                "address" => {
                    let v = need(value)?;
                    o.new.mac = Some(
                        v.parse::<Mac>()
                            .map_err(|e| Outcome::Failed(format!("bad MAC `{v}`: {e}")))?,
                    );
                }
                "netns" => {
                    let v = need(value)?;
                    o.new.ns = Some(self.netns_arg(&v)?);
                }
                "master" => o.master = Some(need(value)?),
                "up" => {
                    o.up = true;
                    i += 1;
                    continue;
                }
                "group" | "alias" => {
                    need(value)?;
                    left.push(format!(
                        "`{word} {}` (vnet sets its own ownership marks)",
                        value.unwrap_or("")
                    ));
                }
                "txqueuelen" | "txqlen" | "qlen" | "numtxqueues" | "numrxqueues" | "broadcast"
                | "brd" | "link" | "index" => {
                    left.push(format!("`{word} {}`", value.unwrap_or("")));
                }
                _ if o.new.name.is_empty() => {
                    o.new.name = word.to_string();
                    i += 1;
                    continue;
                }
                _ => {
                    left.push(format!("`{word}`"));
                    i += 1;
                    continue;
                }
            }
            i += 2;
        }
        Ok(o)
    }

    /// `netns NS`: a name under /run/netns, or pid 1 (the host, from inside a namespace).
    fn netns_arg(&self, v: &str) -> Result<usize, Outcome> {
        if v == "1" {
            return Ok(HOST_NS);
        }
        if let Some(n) = self.w.ns_index(v) {
            return Ok(n);
        }
        if v.chars().all(|c| c.is_ascii_digit()) {
            return Err(Outcome::Unsupported(format!(
                "`netns {v}` names a process; a lab names its namespaces"
            )));
        }
        Err(Outcome::Failed(format!("there is no namespace {v}")))
    }

    /// `ip link set [dev] NAME up|down|master BR|nomaster|netns NS|mtu N|address MAC|name NEW …`.
    fn link_set(&mut self, args: &[String]) -> Outcome {
        let mut i = 0;
        let name = match args.first().map(String::as_str) {
            Some("dev") => {
                i = 2;
                args.get(1)
            }
            Some("group") => {
                return Outcome::Unsupported("`ip link set group` changes devices by group".into());
            }
            Some(_) => {
                i = 1;
                args.first()
            }
            None => None,
        };
        let Some(name) = name else {
            return Outcome::Failed("`ip link set` needs a device".into());
        };
        let id = match self.dev(name) {
            Ok(id) => id,
            Err(o) => {
                if name == "lo" {
                    // Every namespace's loopback; vnet always brings it up.
                    return lo_only(&args[i..]);
                }
                return o;
            }
        };
        let mut left = Vec::new();
        while i < args.len() {
            match self.link_setting(id, &args[i..], &mut left) {
                Ok(step) => i += step,
                Err(o) => return o,
            }
        }
        done(left)
    }

    /// Apply the setting `args` start with to interface `id`: how many
    /// words it took, or the outcome that ends the command. What a lab
    /// cannot say goes to `left`.
    fn link_setting(
        &mut self,
        id: usize,
        args: &[String],
        left: &mut Vec<String>,
    ) -> Result<usize, Outcome> {
        let word = args[0].as_str();
        let value = args.get(1).map(String::as_str);
        let step = match (word, value) {
            ("up", _) => {
                self.w.set_up(id, true);
                1
            }
            ("down", _) => {
                self.w.set_up(id, false);
                1
            }
            ("nomaster", _) => {
                let _ = self.w.set_master(id, None);
                1
            }
            ("master", Some(m)) => {
                self.master(id, m)?;
                2
            }
            ("netns", Some(n)) => {
                let to = self.netns_arg(n)?;
                self.w.move_to(id, to).map_err(|e| Outcome::Failed(e.0))?;
                2
            }
            ("mtu", Some(v)) => {
                self.w.ifaces[id].mtu = Some(parse_mtu(v)?);
                2
            }
            ("address", Some(v)) => {
                match v.parse::<Mac>() {
                    Ok(m) => self.w.ifaces[id].mac = Some(m),
                    Err(e) => return Err(Outcome::Failed(format!("bad MAC `{v}`: {e}"))),
                }
                2
            }
            ("name", Some(v)) => {
                self.w.rename(id, v).map_err(|e| Outcome::Failed(e.0))?;
                2
            }
            ("addrgenmode", Some(v)) => {
                // vnet's own choice for interfaces without IPv6 addresses.
                if v != "none" {
                    left.push(format!("`addrgenmode {v}`"));
                }
                2
            }
            ("alias" | "group", Some(v)) => {
                left.push(format!("`{word} {v}` (vnet sets its own ownership marks)"));
                2
            }
            ("type", Some("bridge")) => 2 + self.bridge_options(id, &args[2..], left),
            (w, Some(v))
                if !matches!(
                    w,
                    "arp"
                        | "multicast"
                        | "allmulticast"
                        | "promisc"
                        | "dynamic"
                        | "trailers"
                        | "carrier"
                ) =>
            {
                left.push(format!("`{w} {v}`"));
                2
            }
            (w, v) => {
                left.push(format!(
                    "`{w}{}`",
                    v.map(|v| format!(" {v}")).unwrap_or_default()
                ));
                if v.is_some() { 2 } else { 1 }
            }
        };
        Ok(step)
    }

    /// `type bridge KEY VALUE …`: STP and VLAN filtering are kept, the rest
    /// goes to `left`. Returns the words taken.
    fn bridge_options(&mut self, id: usize, opts: &[String], left: &mut Vec<String>) -> usize {
        let mut j = 0;
        while j + 1 < opts.len() {
            let on = opts[j + 1] != "0";
            match (&mut self.w.ifaces[id].kind, opts[j].as_str()) {
                (super::world::Kind::Bridge { stp, .. }, "stp_state") => *stp = on,
                (super::world::Kind::Bridge { vlan_filtering, .. }, "vlan_filtering") => {
                    *vlan_filtering = on
                }
                _ => left.push(format!("`{} {}`", opts[j], opts[j + 1])),
            }
            j += 2;
        }
        j
    }

    fn address(&mut self, rest: &[String]) -> Outcome {
        let (v, args) = verb(
            rest,
            &[
                "show", "add", "change", "replace", "delete", "list", "lst", "flush", "save",
                "showdump", "restore",
            ],
        );
        match v {
            Some("show" | "list" | "lst" | "showdump" | "save") => shows(),
            Some(verb @ ("add" | "change" | "replace" | "delete")) => {
                self.address_change(verb, args)
            }
            Some("flush") => self.address_flush(args),
            Some(other) => {
                Outcome::Unsupported(format!("`ip address {other}` is not part of a vnet lab"))
            }
            None => Outcome::Failed(format!("`{}` is not an ip address command", rest[0])),
        }
    }

    /// `ip address add|change|replace|delete ADDR dev IFNAME …`.
    fn address_change(&mut self, verb: &str, args: &[String]) -> Outcome {
        let AddrWords { local, dev, left } = AddrWords::read(args);
        let Some(local) = local else {
            return Outcome::Failed("no address given".into());
        };
        let Some(dev) = dev else {
            return Outcome::Failed("`dev IFNAME` is required".into());
        };
        let net = match parse_addr(&local) {
            Ok(n) => n,
            Err(m) => return Outcome::Failed(m.0),
        };
        if dev == "lo" && self.w.find(self.ns, "lo").is_none() {
            return Outcome::Unsupported("vnet puts no addresses on lo".into());
        }
        let id = match self.dev(&dev) {
            Ok(id) => id,
            Err(o) => return o,
        };
        let r = match verb {
            "add" => self.w.addr_add(id, net, self.line),
            "delete" => self.w.addr_del(id, net),
            _ => {
                let _ = self.w.addr_del(id, net);
                self.w.addr_add(id, net, self.line)
            }
        };
        match r {
            Ok(()) => done(left),
            Err(m) => Outcome::Failed(m.0),
        }
    }

    /// `ip address flush [dev] IFNAME`.
    fn address_flush(&mut self, args: &[String]) -> Outcome {
        let dev = match args {
            [d, name, ..] if d == "dev" => name,
            [name] => name,
            _ => {
                return Outcome::Unsupported(
                    "`ip addr flush` with a filter other than a device".into(),
                );
            }
        };
        match self.dev(dev) {
            Ok(id) => {
                self.w.ifaces[id].addrs.clear();
                Outcome::Done
            }
            Err(o) => o,
        }
    }

    fn route(&mut self, rest: &[String]) -> Outcome {
        let (v, args) = verb(
            rest,
            &[
                "show", "add", "change", "replace", "prepend", "append", "test", "delete", "list",
                "lst", "flush", "get", "save", "restore", "showdump",
            ],
        );
        match v {
            Some("show" | "list" | "lst" | "get" | "save" | "showdump") => shows(),
            Some(verb @ ("add" | "change" | "replace" | "delete" | "append")) => {
                let route = match self.parse_route(args) {
                    Ok(r) => r,
                    Err(o) => return o,
                };
                let r = match verb {
                    "add" | "append" => self.w.route_add(self.ns, route, self.line),
                    "delete" => self.w.route_del(self.ns, &route),
                    _ => self.w.route_replace(self.ns, route, self.line),
                };
                match r {
                    Ok(()) => Outcome::Done,
                    Err(m) => Outcome::Failed(m.0),
                }
            }
            Some(other) => {
                Outcome::Unsupported(format!("`ip route {other}` is not part of a vnet lab"))
            }
            None => Outcome::Failed(format!("`{}` is not an ip route command", rest[0])),
        }
    }

    fn parse_route(&self, args: &[String]) -> Result<Route, Outcome> {
        let mut r = RouteWords::default();
        let mut i = 0;
        while i < args.len() {
            i += r.take(args[i].as_str(), args.get(i + 1).map(String::as_str))?;
        }
        r.route(self.family)
    }
}

/// The words of an `ip address` change: the address, the device, and
/// what a lab cannot say.
struct AddrWords {
    local: Option<String>,
    dev: Option<String>,
    left: Vec<String>,
}

impl AddrWords {
    fn read(args: &[String]) -> AddrWords {
        let mut a = AddrWords {
            local: None,
            dev: None,
            left: Vec::new(),
        };
        let mut i = 0;
        while i < args.len() {
            i += a.take(args[i].as_str(), args.get(i + 1).map(String::as_str));
        }
        a
    }

    /// Read `word` (and its `value`): how many words it took.
    fn take(&mut self, word: &str, value: Option<&str>) -> usize {
        match (word, value) {
            ("dev", Some(d)) => self.dev = Some(d.to_string()),
            ("local", Some(a)) => self.local = Some(a.to_string()),
            ("broadcast" | "brd", Some("+" | "-")) => {}
            ("valid_lft" | "preferred_lft", Some("forever")) => {}
            ("scope", Some("global" | "universe" | "0")) => {}
            ("nodad", _) => return 1,
            ("noprefixroute" | "home" | "mngtmpaddr" | "autojoin", _) => {
                self.left.push(format!("`{word}`"));
                return 1;
            }
            (
                "peer" | "label" | "broadcast" | "brd" | "anycast" | "scope" | "valid_lft"
                | "preferred_lft" | "metric" | "proto",
                Some(v),
            ) => self.left.push(format!("`{word} {v}`")),
            (w, _) if self.local.is_none() => {
                self.local = Some(w.to_string());
                return 1;
            }
            (w, _) => {
                self.left.push(format!("`{w}`"));
                return 1;
            }
        }
        2
    }
}

/// The words of an `ip route` command, as far as read.
#[derive(Default)]
struct RouteWords {
    dst: Option<IpNet>,
    default: bool,
    via: Option<IpAddr>,
    dev: Option<String>,
    metric: Option<u32>,
}

impl RouteWords {
    /// Read `word` (and its `value`): how many words it took.
    fn take(&mut self, word: &str, value: Option<&str>) -> Result<usize, Outcome> {
        match (word, value) {
            ("via", Some(fam @ ("inet" | "inet6"))) => {
                let _ = fam;
                return Ok(1);
            }
            ("via" | "gw", Some(g)) => {
                self.via = Some(
                    g.parse()
                        .map_err(|_| Outcome::Failed(format!("`{g}` is not an address")))?,
                )
            }
            ("dev" | "oif", Some(d)) => self.dev = Some(d.to_string()),
            ("metric" | "priority" | "preference", Some(m)) => {
                self.metric = Some(
                    m.parse::<u32>()
                        .map_err(|_| Outcome::Failed(format!("`{m}` is not a metric")))?,
                )
            }
            ("proto" | "protocol", Some("static" | "boot" | "4" | "3")) => {}
            ("table", Some("main" | "254")) => {}
            ("scope", Some("global" | "universe" | "link")) => {}
            ("to", Some(_)) => return Ok(1),
            ("unicast", _) => return Ok(1),
            (
                "blackhole" | "unreachable" | "prohibit" | "local" | "broadcast" | "throw" | "nat"
                | "anycast" | "multicast",
                _,
            ) => {
                return Err(Outcome::Unsupported(format!(
                    "`{word}` routes are not part of a vnet lab"
                )));
            }
            (
                "src" | "table" | "proto" | "protocol" | "scope" | "mtu" | "advmss" | "nexthop"
                | "realm" | "realms" | "tos" | "dsfield" | "onlink" | "encap" | "nhid" | "pref"
                | "expires" | "initcwnd" | "initrwnd" | "features" | "quickack" | "congctl"
                | "window" | "rtt" | "rttvar" | "hoplimit" | "ssthresh" | "cwnd" | "reordering"
                | "fastopen_no_cookie" | "lock" | "ttl-propagate",
                _,
            ) => {
                return Err(Outcome::Unsupported(format!(
                    "`{word}` in a route is not something a lab file can say (routes take via, dev, metric)"
                )));
            }
            ("default" | "all" | "any", _) if self.dst.is_none() && !self.default => {
                self.default = true;
                return Ok(1);
            }
            (w, _) if self.dst.is_none() && !self.default => {
                self.dst = Some(destination(w)?);
                return Ok(1);
            }
            (w, _) => {
                return Err(Outcome::Unsupported(format!(
                    "`{w}` in a route is not understood"
                )));
            }
        }
        Ok(2)
    }

    /// The route the words make: a default destination when none was
    /// given, of the family of the gateway or of `-4`/`-6`.
    fn route(self, family: Option<u8>) -> Result<Route, Outcome> {
        let RouteWords {
            dst,
            default,
            via,
            dev,
            metric,
        } = self;
        let v6 = match (dst, via, family) {
            (Some(d), _, _) => matches!(d, IpNet::V6(_)),
            (None, Some(g), _) => g.is_ipv6(),
            (None, None, f) => f == Some(6),
        };
        let dst = match dst {
            Some(d) => d,
            None if default || via.is_some() || dev.is_some() => {
                if v6 {
                    "::/0".parse().expect("valid")
                } else {
                    "0.0.0.0/0".parse().expect("valid")
                }
            }
            None => return Err(Outcome::Failed("no destination given".into())),
        };
        if via.is_none() && dev.is_none() {
            return Err(Outcome::Failed("a route needs `via` or `dev`".into()));
        }
        if let Some(g) = via
            && g.is_ipv6() != matches!(dst, IpNet::V6(_))
        {
            return Err(Outcome::Failed(
                "the gateway and the destination are of different families".into(),
            ));
        }
        Ok(Route {
            dst,
            via,
            dev,
            metric,
        })
    }
}

/// A route's destination: a prefix (its host bits cleared) or an address.
fn destination(w: &str) -> Result<IpNet, Outcome> {
    match w.parse::<IpNet>() {
        Ok(n) => Ok(n.trunc()),
        Err(_) => match w.parse::<IpAddr>() {
            Ok(a) => Ok(IpNet::from(a)),
            Err(_) => Err(Outcome::Failed(format!("`{w}` is not a destination"))),
        },
    }
}

#[derive(Default)]
struct Opts {
    new: NewIface,
    master: Option<String>,
    up: bool,
}

fn done(left: Vec<String>) -> Outcome {
    if left.is_empty() {
        Outcome::Done
    } else {
        Outcome::Partial(left)
    }
}

fn extra(words: &[String]) -> Outcome {
    if words.is_empty() {
        Outcome::Done
    } else {
        Outcome::Partial(vec![format!("`{}`", words.join(" "))])
    }
}

/// `ip link set lo up` (and the like): vnet brings every namespace's lo up,
/// and marks it as the lab's itself.
fn lo_only(args: &[String]) -> Outcome {
    let mut left = Vec::new();
    let mut i = 0;
    while i < args.len() {
        match (args[i].as_str(), args.get(i + 1)) {
            ("up", _) => i += 1,
            (w @ ("alias" | "group"), Some(v)) => {
                left.push(format!("`{w} {v}` (vnet sets its own ownership marks)"));
                i += 2;
            }
            _ => {
                return Outcome::Unsupported(
                    "vnet keeps lo up and otherwise leaves it alone".into(),
                );
            }
        }
    }
    done(left)
}

fn parse_mtu(v: &str) -> Result<u32, Outcome> {
    match v.parse::<u32>() {
        Ok(m) if (68..=65535).contains(&m) => Ok(m),
        _ => Err(Outcome::Failed(format!("`{v}` is not an MTU (68–65535)"))),
    }
}

/// An address as `ip addr add` takes it: without a prefix it is a host address.
fn parse_addr(s: &str) -> Result<IpNet, super::world::Refused> {
    if let Ok(n) = s.parse::<IpNet>() {
        return Ok(n);
    }
    match s.parse::<IpAddr>() {
        Ok(a) => Ok(IpNet::from(a)),
        Err(_) => Err(super::world::Refused(format!("`{s}` is not an address"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_string).collect()
    }

    #[test]
    fn builds_the_seed_pieces() {
        let mut world = World::new();
        assert_eq!(run(&mut world, 0, &w("netns add ns1"), 1), Outcome::Done);
        assert_eq!(
            run(
                &mut world,
                0,
                &w("link add veth0 type veth peer name veth1 netns ns1"),
                2
            ),
            Outcome::Done
        );
        assert_eq!(
            run(&mut world, 0, &w("l a br0 type bridge"), 3),
            Outcome::Done
        );
        assert_eq!(
            run(&mut world, 0, &w("link set veth0 master br0 up"), 4),
            Outcome::Done
        );
        assert_eq!(
            run(&mut world, 0, &w("-n ns1 a add 10.0.0.1/24 dev veth1"), 5),
            Outcome::Done
        );
        assert_eq!(
            run(&mut world, 0, &w("-n ns1 r add default via 10.0.0.254"), 6),
            Outcome::Done
        );
        assert!(matches!(
            run(&mut world, 0, &w("link show"), 7),
            Outcome::ReadOnly(_)
        ));
        assert!(matches!(
            run(&mut world, 0, &w("link set nope up"), 8),
            Outcome::Failed(_)
        ));
        assert!(matches!(
            run(&mut world, 0, &w("link add d0 type dummy"), 9),
            Outcome::Unsupported(_)
        ));
        assert!(matches!(
            run(&mut world, 0, &w("netns exec ns1 ip a"), 10),
            Outcome::Exec { .. }
        ));
        let ns1 = world.ns_index("ns1").unwrap();
        let v1 = world.find(ns1, "veth1").unwrap();
        assert_eq!(world.ifaces[v1].addrs.len(), 1);
        assert_eq!(
            world.namespaces[ns1].routes[0].0.to_string(),
            "default via 10.0.0.254"
        );
        let v0 = world.find(0, "veth0").unwrap();
        assert!(world.ifaces[v0].up);
    }

    #[test]
    fn ipv6_default_routes_follow_the_family() {
        let mut world = World::new();
        run(&mut world, 0, &w("link add a type veth peer name b"), 1);
        assert_eq!(
            run(&mut world, 0, &w("-6 route add default dev a"), 2),
            Outcome::Done
        );
        assert_eq!(world.namespaces[0].routes[0].0.dst.to_string(), "::/0");
    }
}
