//! The sandbox's state as iproute2 and the kernel report it, in one
//! `nsenter`: named namespaces and their interfaces, the host's interfaces,
//! vnet's files, and mounts. Leaks and look-alikes are judged on this, not
//! on anything vnet says about itself.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::sandbox::Sandbox;

/// One interface, as `ip -j -d addr show` gives it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Iface {
    pub index: u64,
    pub kind: String,
    pub master: Option<String>,
    pub up: bool,
    /// LOWER_UP: the link has carrier.
    pub carrier: bool,
    pub operstate: String,
    pub mtu: u64,
    pub mac: String,
    pub group: String,
    pub alias: String,
    /// Addresses other than IPv6 link-local, sorted.
    pub addrs: Vec<String>,
}

impl Iface {
    /// What must hold again after the lab is rebuilt: not the index or the
    /// MAC, which the kernel picks each time, nor the operstate, which the
    /// kernel's linkwatch settles up to a second later. Carrier counts,
    /// except on a bridge without an address: nothing waits on it (its
    /// ports forward either way), so `up` does not either.
    pub fn shape(&self) -> String {
        let carrier = if self.kind == "bridge" && self.addrs.is_empty() {
            "-".to_string()
        } else {
            self.carrier.to_string()
        };
        format!(
            "{} master={} up={} carrier={carrier} mtu={} group={} alias={} addrs={}",
            self.kind,
            self.master.as_deref().unwrap_or("-"),
            self.up,
            self.mtu,
            self.group,
            self.alias,
            self.addrs.join(",")
        )
    }
}

pub type Ifaces = BTreeMap<String, Iface>;

#[derive(Clone, Debug)]
pub struct State {
    /// Entries under /run/netns that `ip netns` lists.
    pub netns: Vec<String>,
    pub host: Ifaces,
    /// Interfaces of each named namespace (None: not a namespace).
    pub spaces: BTreeMap<String, Option<Ifaces>>,
    /// Everything in /run/vnet.
    pub files: Vec<String>,
    /// Mounts below /run/netns/ (namespaces) and in total.
    pub netns_mounts: u64,
    pub mounts: u64,
}

const SCRIPT: &str = r#"
json() { out=$("$@" 2>/dev/null); [ -n "$out" ] && printf '%s' "$out" || printf 'null'; }
printf '{"netns":'; json ip -j netns list
printf ',"host":'; json ip -j -d addr show
printf ',"spaces":{'
sep=''
for n in $(ls -A /run/netns 2>/dev/null); do
  printf '%s"%s":' "$sep" "$n"; json ip -n "$n" -j -d addr show; sep=','
done
printf '},"files":['
sep=''
for f in $(ls -A /run/vnet 2>/dev/null); do printf '%s"%s"' "$sep" "$f"; sep=','; done
printf '],"netns_mounts":%s' "$(grep -c ' /run/netns/' /proc/self/mountinfo)"
printf ',"mounts":%s}' "$(wc -l < /proc/self/mountinfo)"
"#;

pub fn read(sb: &Sandbox) -> State {
    let out = sb.sh(SCRIPT).ok();
    let v: Value =
        serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("state: {e}: {}", out.stdout));
    let mut netns: Vec<String> = v["netns"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|n| n["name"].as_str().map(str::to_string))
        .collect();
    netns.sort();
    let spaces = v["spaces"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(n, x)| (n.clone(), x.as_array().map(|_| ifaces(x))))
        .collect();
    State {
        netns,
        host: ifaces(&v["host"]),
        spaces,
        files: v["files"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|f| f.as_str().map(str::to_string))
            .collect(),
        netns_mounts: v["netns_mounts"].as_u64().unwrap_or(u64::MAX),
        mounts: v["mounts"].as_u64().unwrap_or(u64::MAX),
    }
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

pub fn ifaces(v: &Value) -> Ifaces {
    let mut out = Ifaces::new();
    for l in v.as_array().into_iter().flatten() {
        let Some(name) = l["ifname"].as_str() else {
            continue;
        };
        let mut addrs: Vec<String> = l["addr_info"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|a| !(a["family"] == "inet6" && a["scope"] == "link"))
            .map(|a| format!("{}/{}", text(&a["local"]), a["prefixlen"]))
            .collect();
        addrs.sort();
        out.insert(
            name.to_string(),
            Iface {
                index: l["ifindex"].as_u64().unwrap_or(0),
                kind: text(&l["linkinfo"]["info_kind"]),
                master: l["master"].as_str().map(str::to_string),
                up: l["flags"]
                    .as_array()
                    .is_some_and(|f| f.iter().any(|x| x == "UP")),
                carrier: l["flags"]
                    .as_array()
                    .is_some_and(|f| f.iter().any(|x| x == "LOWER_UP")),
                operstate: text(&l["operstate"]),
                mtu: l["mtu"].as_u64().unwrap_or(0),
                mac: text(&l["address"]),
                group: text(&l["group"]),
                alias: text(&l["ifalias"]),
                addrs,
            },
        );
    }
    out
}

impl State {
    /// What differs from "vnet never ran" (`base`: the sandbox before): each
    /// leftover in words; empty when nothing leaked.
    pub fn leaks(&self, base: &State) -> Vec<String> {
        let mut out = Vec::new();
        for n in &self.netns {
            if !base.netns.contains(n) {
                out.push(format!("namespace {n}"));
            }
        }
        for n in self.spaces.keys() {
            if !base.spaces.contains_key(n) && !self.netns.contains(n) {
                out.push(format!("file /run/netns/{n}"));
            }
        }
        for (name, i) in &self.host {
            match base.host.get(name) {
                None => out.push(format!("host interface {name} ({})", i.kind)),
                Some(b) if b.index != i.index => {
                    out.push(format!("host interface {name} was replaced"))
                }
                _ => {}
            }
        }
        for name in base.host.keys() {
            if !self.host.contains_key(name) {
                out.push(format!("host interface {name} is gone"));
            }
        }
        for f in &self.files {
            if !base.files.contains(f) {
                out.push(format!("file /run/vnet/{f}"));
            }
        }
        if self.netns_mounts != base.netns_mounts {
            out.push(format!(
                "{} mounts under /run/netns/ (before: {})",
                self.netns_mounts, base.netns_mounts
            ));
        }
        if self.mounts != base.mounts {
            out.push(format!(
                "{} mounts in all (before: {})",
                self.mounts, base.mounts
            ));
        }
        out
    }

    /// The network's shape: every namespace with its interfaces, and the
    /// host's, without what the kernel picks anew each time.
    pub fn shape(&self) -> BTreeMap<String, Vec<String>> {
        let mut out = BTreeMap::new();
        let list = |ifs: &Ifaces| -> Vec<String> {
            ifs.iter()
                .map(|(n, i)| format!("{n}: {}", i.shape()))
                .collect()
        };
        out.insert("(host)".to_string(), list(&self.host));
        for (n, ifs) in &self.spaces {
            out.insert(
                n.clone(),
                ifs.as_ref()
                    .map(list)
                    .unwrap_or_else(|| vec!["not a namespace".into()]),
            );
        }
        out
    }
}

/// Where two shapes differ, in words (empty when they are the same).
pub fn differences(
    want: &BTreeMap<String, Vec<String>>,
    got: &BTreeMap<String, Vec<String>>,
) -> Vec<String> {
    let mut out = Vec::new();
    for (ns, w) in want {
        match got.get(ns) {
            None => out.push(format!("{ns}: missing")),
            Some(g) if g != w => {
                for x in w.iter().filter(|x| !g.contains(x)) {
                    out.push(format!("{ns}: missing {x}"));
                }
                for x in g.iter().filter(|x| !w.contains(x)) {
                    out.push(format!("{ns}: unexpected {x}"));
                }
            }
            _ => {}
        }
    }
    for ns in got.keys().filter(|n| !want.contains_key(*n)) {
        out.push(format!("{ns}: unexpected namespace"));
    }
    out
}
