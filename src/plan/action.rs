//! One step of a plan: a single change to the kernel, in the order it must
//! happen. Each step reads as the iproute2 command that does the same.

use std::fmt;

use ipnet::IpNet;
use serde::Serialize;

use crate::model::Netns;
use crate::model::conditions::{Conditions, Via};
use crate::model::lab::Mac;
use crate::model::route::Route;

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Action {
    /// Create a namespace (with `lo` up and the lab's mark on it);
    /// `early_sysctls` are written before any interface appears in it.
    AddNetns {
        ns: String,
        #[serde(skip_serializing_if = "Vec::is_empty")]
        early_sysctls: Vec<(String, String)>,
    },
    DelNetns {
        ns: String,
    },
    DelLink {
        ns: Netns,
        name: String,
    },
    AddBridge {
        ns: Netns,
        name: String,
        stp: bool,
        vlan_filtering: bool,
        mtu: Option<u32>,
        mac: Option<MacText>,
    },
    AddVeth {
        a: VethEnd,
        b: VethEnd,
    },
    /// A VXLAN tunnel end to another host: made in the host namespace (its
    /// UDP socket stays there, on the underlay), placed in `ns` as `name`.
    AddVxlan {
        ns: Netns,
        name: String,
        vni: u32,
        #[serde(serialize_with = "ser_display")]
        remote: std::net::IpAddr,
        #[serde(serialize_with = "ser_display")]
        local: std::net::IpAddr,
        port: u16,
        #[serde(skip_serializing_if = "Option::is_none")]
        underlay: Option<String>,
        mtu: Option<u32>,
        mac: Option<MacText>,
    },
    SetLink {
        ns: Netns,
        name: String,
        set: LinkSet,
    },
    SetBridge {
        ns: Netns,
        name: String,
        stp: bool,
        vlan_filtering: bool,
    },
    SetSysctl {
        ns: Netns,
        key: String,
        value: String,
    },
    DelAddr {
        ns: Netns,
        dev: String,
        #[serde(serialize_with = "ser_display")]
        addr: IpNet,
    },
    AddAddr {
        ns: Netns,
        dev: String,
        #[serde(serialize_with = "ser_display")]
        addr: IpNet,
    },
    DelRoute {
        ns: Netns,
        #[serde(serialize_with = "ser_display")]
        route: Route,
    },
    AddRoute {
        ns: Netns,
        #[serde(serialize_with = "ser_display")]
        route: Route,
    },
    /// Bring an interface's egress conditions from `from` (what the
    /// kernel holds) to `to`, changing only what differs.
    SetConditions {
        ns: Netns,
        dev: String,
        from: Conditions,
        to: Conditions,
        /// How this kernel makes them.
        via: Via,
        /// The interface's MTU: a tbf bucket must hold a whole packet.
        mtu: u32,
        /// The nftables table that holds the namespace's loss rules.
        table: String,
    },
}

/// A MAC kept as text in plans (plans are printed and serialized).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MacText(pub Mac);

impl Serialize for MacText {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&self.0)
    }
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct VethEnd {
    pub ns: Netns,
    pub name: String,
    pub mtu: Option<u32>,
    pub mac: Option<MacText>,
}

/// Changes to one existing interface, applied by one request.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct LinkSet {
    /// Some(None): release from its master.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub master: Option<Option<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mtu: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mac: Option<MacText>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub up: Option<bool>,
    /// The ownership alias (`vnet:LAB`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alias: Option<String>,
    /// The lab's device group.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group: Option<u32>,
    /// No IPv6 link-local address (addrgenmode none).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub no_link_local: bool,
    /// A bridge brought up after every other interface: it then opens with
    /// its ports forwarding and carrier on, and its queue works at once
    /// (opened without carrier, the kernel defers that by up to a second).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub after_ports: bool,
}

impl LinkSet {
    pub fn is_empty(&self) -> bool {
        *self == LinkSet::default()
    }
}

/// The order actions run in; the executor runs one stage at a time, and
/// within a stage sends everything before reading acknowledgements.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Stage {
    Namespaces,
    Removals,
    Bridges,
    Veths,
    Links,
    /// Bridges come up once their ports and the ports' peers are up.
    BridgesUp,
    Sysctls,
    Addresses,
    Routes,
    /// Conditions go on once the interfaces are up and addressed.
    Conditions,
    NamespaceRemovals,
}

impl Action {
    pub fn stage(&self) -> Stage {
        match self {
            Action::AddNetns { .. } => Stage::Namespaces,
            Action::DelLink { .. } => Stage::Removals,
            Action::AddBridge { .. } => Stage::Bridges,
            Action::AddVeth { .. } | Action::AddVxlan { .. } => Stage::Veths,
            Action::SetLink { set, .. } if set.after_ports => Stage::BridgesUp,
            Action::SetLink { .. } | Action::SetBridge { .. } => Stage::Links,
            Action::SetSysctl { .. } => Stage::Sysctls,
            Action::DelAddr { .. } | Action::AddAddr { .. } => Stage::Addresses,
            Action::DelRoute { .. } | Action::AddRoute { .. } => Stage::Routes,
            Action::SetConditions { .. } => Stage::Conditions,
            Action::DelNetns { .. } => Stage::NamespaceRemovals,
        }
    }

    /// Creates something (as opposed to changing or removing).
    pub fn creates(&self) -> bool {
        matches!(
            self,
            Action::AddNetns { .. }
                | Action::AddBridge { .. }
                | Action::AddVeth { .. }
                | Action::AddVxlan { .. }
        )
    }

    pub fn removes(&self) -> bool {
        matches!(self, Action::DelNetns { .. } | Action::DelLink { .. })
    }

    /// The namespace the action is carried out in.
    pub fn netns(&self) -> Netns {
        match self {
            Action::AddNetns { ns, .. } | Action::DelNetns { ns } => Netns::Named(ns.clone()),
            Action::AddVeth { a, b } => {
                if a.ns.is_host() {
                    b.ns.clone()
                } else {
                    a.ns.clone()
                }
            }
            Action::DelLink { ns, .. }
            | Action::AddVxlan { ns, .. }
            | Action::AddBridge { ns, .. }
            | Action::SetLink { ns, .. }
            | Action::SetBridge { ns, .. }
            | Action::SetSysctl { ns, .. }
            | Action::DelAddr { ns, .. }
            | Action::AddAddr { ns, .. }
            | Action::DelRoute { ns, .. }
            | Action::AddRoute { ns, .. }
            | Action::SetConditions { ns, .. } => ns.clone(),
        }
    }

    /// A short description of the object, for error messages: "veth pair
    /// veth0 (ns1) — br0-veth0 (host)".
    pub fn object(&self) -> String {
        match self {
            Action::AddNetns { ns, .. } | Action::DelNetns { ns } => format!("namespace {ns}"),
            Action::AddVeth { a, b } => {
                format!("veth pair {} ({}) — {} ({})", a.name, a.ns, b.name, b.ns)
            }
            Action::AddVxlan {
                ns, name, remote, ..
            } => format!("tunnel {name} in {ns} (VXLAN to {remote})"),
            Action::DelLink { ns, name }
            | Action::AddBridge { ns, name, .. }
            | Action::SetLink { ns, name, .. }
            | Action::SetBridge { ns, name, .. } => format!("interface {name} in {ns}"),
            Action::SetSysctl { ns, key, .. } => format!("sysctl {key} in {ns}"),
            Action::DelAddr { ns, dev, addr } | Action::AddAddr { ns, dev, addr } => {
                format!("address {addr} on {dev} in {ns}")
            }
            Action::DelRoute { ns, route } | Action::AddRoute { ns, route } => {
                format!("route {route} in {ns}")
            }
            Action::SetConditions { ns, dev, .. } => format!("conditions on {dev} in {ns}"),
        }
    }
}

impl fmt::Display for Action {
    /// The iproute2 command(s) that do the same, one per line.
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(&super::script::commands(self).join("\n"))
    }
}

fn ser_display<S: serde::Serializer, T: fmt::Display>(v: &T, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(v)
}
