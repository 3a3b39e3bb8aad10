//! The lab file as written: every value keeps where it came from, so that
//! validation can underline the exact text it refuses.
//!
//! Only shapes are checked here (types, unknown keys); meaning is checked in
//! `validate`.

use std::fmt;

use serde::Deserialize;
use serde::de::{self, MapAccess, SeqAccess, Visitor};
use serde_saphyr::{Location, Spanned};

/// A span inside the lab file: byte offset and length.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Span {
    pub offset: usize,
    pub len: usize,
}

impl Span {
    pub fn of(loc: &Location) -> Span {
        let span = loc.span();
        Span {
            offset: span.byte_offset().unwrap_or(0) as usize,
            len: span.byte_len().unwrap_or(0) as usize,
        }
    }
}

/// A value with the span it was read from.
#[derive(Clone, Debug, PartialEq)]
pub struct At<T> {
    pub value: T,
    pub span: Span,
}

impl<T> At<T> {
    pub fn new(value: T, span: Span) -> Self {
        At { value, span }
    }
}

/// Which parser feeds the raw structs: each has its own way of reporting
/// where a value came from.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Syntax {
    Yaml,
    Toml,
}

thread_local! {
    static SYNTAX: std::cell::Cell<Syntax> = const { std::cell::Cell::new(Syntax::Yaml) };
}

/// Run `f` with `At` reading spans the way `syntax`'s parser gives them.
pub fn with_syntax<R>(syntax: Syntax, f: impl FnOnce() -> R) -> R {
    let before = SYNTAX.with(|s| s.replace(syntax));
    let r = f();
    SYNTAX.with(|s| s.set(before));
    r
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for At<T> {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match SYNTAX.with(|s| s.get()) {
            Syntax::Yaml => {
                let s = Spanned::<T>::deserialize(d)?;
                Ok(At {
                    span: Span::of(&s.referenced),
                    value: s.value,
                })
            }
            Syntax::Toml => {
                let s = serde_spanned::Spanned::<T>::deserialize(d)?;
                let r = s.span();
                Ok(At {
                    span: Span {
                        offset: r.start,
                        len: r.end.saturating_sub(r.start),
                    },
                    value: s.into_inner(),
                })
            }
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLab {
    pub name: Option<At<String>>,
    #[serde(default)]
    pub nodes: Option<At<NodeMap>>,
    #[serde(default)]
    pub links: Option<At<Vec<At<RawLink>>>>,
    #[serde(default)]
    pub expect: Option<At<Vec<At<RawExpect>>>>,
    /// Keep the kernel's IPv6 link-local addresses on interfaces that have no
    /// IPv6 address in the file (off by default: they flood big labs).
    pub ipv6_link_local: Option<At<bool>>,
    /// The machines a lab is split over (see `model::hosts`).
    pub hosts: Option<At<Vec<At<RawHost>>>>,
}

/// One entry of `hosts:`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawHost {
    pub name: At<String>,
    pub address: At<String>,
    pub interface: Option<At<String>>,
    pub vni_base: Option<At<u32>>,
    pub port: Option<At<u16>>,
    pub mtu: Option<At<u32>>,
}

/// `nodes:` keeps file order and the span of each name.
#[derive(Debug, Default)]
pub struct NodeMap(pub Vec<(At<String>, At<RawNode>)>);

impl<'de> Deserialize<'de> for NodeMap {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = NodeMap;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a map of node names to node options")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<NodeMap, A::Error> {
                let mut out = Vec::new();
                while let Some(key) = map.next_key::<At<String>>()? {
                    let node = map.next_value::<At<Option<RawNode>>>()?;
                    let value = node.value.unwrap_or_default();
                    out.push((key, At::new(value, node.span)));
                }
                Ok(NodeMap(out))
            }
            fn visit_unit<E: de::Error>(self) -> Result<NodeMap, E> {
                Ok(NodeMap::default())
            }
        }
        d.deserialize_map(V)
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawNode {
    pub kind: Option<At<String>>,
    /// Bridges only: the netns node the bridge lives in (default: host).
    #[serde(rename = "in")]
    pub inside: Option<At<String>>,
    pub ip: Option<At<OneOrMany>>,
    pub stp: Option<At<bool>>,
    pub vlan_filtering: Option<At<bool>>,
    pub mtu: Option<At<u32>>,
    pub mac: Option<At<String>>,
    pub forward: Option<At<bool>>,
    pub routes: Option<At<Vec<At<String>>>>,
    pub sysctls: Option<At<SysctlMap>>,
    /// The `hosts:` entry the node lives on (default: the first).
    pub host: Option<At<String>>,
    /// Workloads (netns nodes): see `model::workload`.
    pub files: Option<At<FileMap>>,
    pub dirs: Option<At<DirMap>>,
    pub exec: Option<At<Vec<At<RawCommand>>>>,
    pub run: Option<At<Vec<At<RawCommand>>>>,
    pub ready: Option<At<RawReady>>,
    pub user: Option<At<String>>,
    pub env: Option<At<SysctlMap>>,
    /// External nodes: a namespace name under /run/netns or a path.
    pub netns: Option<At<String>>,
    /// External nodes: a process's network namespace.
    pub pid: Option<At<u32>>,
    /// External nodes: a Docker or Podman container.
    pub container: Option<At<String>>,
}

/// `sysctls:` values may be written as numbers or strings.
#[derive(Debug, Default)]
pub struct SysctlMap(pub Vec<(At<String>, At<String>)>);

impl<'de> Deserialize<'de> for SysctlMap {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = SysctlMap;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a map of sysctl keys to values")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<SysctlMap, A::Error> {
                let mut out = Vec::new();
                while let Some(key) = map.next_key::<At<String>>()? {
                    let value = map.next_value::<At<Scalar>>()?;
                    out.push((key, At::new(value.value.0, value.span)));
                }
                Ok(SysctlMap(out))
            }
        }
        d.deserialize_map(V)
    }
}

/// A scalar read as text whatever its YAML type (`1`, `"1"`, `true`).
#[derive(Debug)]
pub struct Scalar(pub String);

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Scalar;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a number or a string")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Scalar, E> {
                Ok(Scalar(if v { "1" } else { "0" }.to_string()))
            }
        }
        d.deserialize_any(V)
    }
}

/// `ip:` is one string or a list of strings. Each item keeps its own span;
/// a lone string takes the span of the whole value (filled in by `At`).
#[derive(Debug, Default)]
pub struct OneOrMany(pub Vec<At<String>>);

impl<'de> Deserialize<'de> for OneOrMany {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = OneOrMany;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an address like 10.0.0.1/24, or a list of them")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<OneOrMany, E> {
                Ok(OneOrMany(vec![At::new(v.to_string(), Span::default())]))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<OneOrMany, A::Error> {
                let mut out = Vec::new();
                while let Some(item) = seq.next_element::<At<String>>()? {
                    out.push(item);
                }
                Ok(OneOrMany(out))
            }
        }
        d.deserialize_any(V)
    }
}

impl At<OneOrMany> {
    /// The items, each with a real span.
    pub fn items(&self) -> Vec<At<String>> {
        self.value
            .0
            .iter()
            .map(|item| {
                let span = if item.span == Span::default() {
                    self.span
                } else {
                    item.span
                };
                At::new(item.value.clone(), span)
            })
            .collect()
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLink {
    pub endpoints: At<Vec<At<RawEndpoint>>>,
    pub mtu: Option<At<u32>>,
    /// Both directions: each end's egress.
    pub conditions: Option<At<RawConditions>>,
}

/// An endpoint: `{ node: ns1, interface: veth0, ip: … }` or the brief `"ns1:veth0"`.
#[derive(Debug, Default)]
pub struct RawEndpoint {
    pub node: Option<At<String>>,
    pub interface: Option<At<String>>,
    pub ip: Option<At<OneOrMany>>,
    pub mac: Option<At<String>>,
    pub mtu: Option<At<u32>>,
    /// This end's egress only; its keys override the link's.
    pub conditions: Option<At<RawConditions>>,
    /// Set when written in the brief form.
    pub brief: Option<String>,
}

impl<'de> Deserialize<'de> for RawEndpoint {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawEndpoint;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str(
                    "\"node:interface\" or a map with node, interface, ip, mac, mtu, conditions",
                )
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<RawEndpoint, E> {
                Ok(RawEndpoint {
                    brief: Some(v.to_string()),
                    ..RawEndpoint::default()
                })
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawEndpoint, A::Error> {
                let mut ep = RawEndpoint::default();
                while let Some(key) = map.next_key::<String>()? {
                    match key.as_str() {
                        "node" => ep.node = Some(map.next_value()?),
                        "interface" => ep.interface = Some(map.next_value()?),
                        "ip" => ep.ip = Some(map.next_value()?),
                        "mac" => ep.mac = Some(map.next_value()?),
                        "mtu" => ep.mtu = Some(map.next_value()?),
                        "conditions" => ep.conditions = Some(map.next_value()?),
                        other => {
                            return Err(de::Error::unknown_field(
                                other,
                                &["node", "interface", "ip", "mac", "mtu", "conditions"],
                            ));
                        }
                    }
                }
                Ok(ep)
            }
        }
        d.deserialize_any(V)
    }
}

/// `conditions:` as written: each key with its value as text (numbers
/// too), in file order. Keys and values are checked in `validate`, which
/// can then point at the exact key or value it refuses.
#[derive(Debug, Default)]
pub struct RawConditions(pub Vec<(At<String>, At<Word>)>);

impl<'de> Deserialize<'de> for RawConditions {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawConditions;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a map of conditions, e.g. { delay: 20ms, loss: 1%, rate: 10mbit }")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawConditions, A::Error> {
                let mut out = Vec::new();
                while let Some(key) = map.next_key::<At<String>>()? {
                    out.push((key, map.next_value::<At<Word>>()?));
                }
                Ok(RawConditions(out))
            }
            fn visit_unit<E: de::Error>(self) -> Result<RawConditions, E> {
                Ok(RawConditions::default())
            }
        }
        d.deserialize_map(V)
    }
}

/// A scalar kept as text, numbers included (`limit: 100`, `loss: 0.5`),
/// so validation can say what is wrong with it in the file's terms.
#[derive(Debug)]
pub struct Word(pub String);

impl<'de> Deserialize<'de> for Word {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Word;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a value like 20ms, 1% or 10mbit")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Word, E> {
                Ok(Word(v.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Word, E> {
                Ok(Word(v.to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Word, E> {
                Ok(Word(v.to_string()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Word, E> {
                Ok(Word(v.to_string()))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Word, E> {
                Ok(Word(v.to_string()))
            }
        }
        d.deserialize_any(V)
    }
}

/// One expectation for `vnet ping --all`: `{ from: ns1, to: ns2, reach: true }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawExpect {
    pub from: At<String>,
    pub to: At<String>,
    #[serde(default = "yes")]
    pub reach: bool,
}

fn yes() -> bool {
    true
}

/// `files:` — absolute path → content, or `{ from: PATH }`.
#[derive(Debug, Default)]
pub struct FileMap(pub Vec<(At<String>, At<RawFile>)>);

#[derive(Debug)]
pub enum RawFile {
    Content(String),
    From(At<String>),
}

impl<'de> Deserialize<'de> for FileMap {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = FileMap;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a map of absolute paths to contents or { from: PATH }")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<FileMap, A::Error> {
                let mut out = Vec::new();
                while let Some(key) = map.next_key::<At<String>>()? {
                    out.push((key, map.next_value::<At<RawFile>>()?));
                }
                Ok(FileMap(out))
            }
            fn visit_unit<E: de::Error>(self) -> Result<FileMap, E> {
                Ok(FileMap::default())
            }
        }
        d.deserialize_map(V)
    }
}

impl<'de> Deserialize<'de> for RawFile {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawFile;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("the file's content as a string, or { from: PATH }")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<RawFile, E> {
                Ok(RawFile::Content(v.to_string()))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawFile, A::Error> {
                let mut from = None;
                while let Some(key) = map.next_key::<String>()? {
                    match key.as_str() {
                        "from" => from = Some(map.next_value::<At<String>>()?),
                        other => return Err(de::Error::unknown_field(other, &["from"])),
                    }
                }
                from.map(RawFile::From)
                    .ok_or_else(|| de::Error::missing_field("from"))
            }
        }
        d.deserialize_any(V)
    }
}

/// `dirs:` — path → `{ owner, group, mode }` (or `{}`).
#[derive(Debug, Default)]
pub struct DirMap(pub Vec<(At<String>, At<RawDir>)>);

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDir {
    pub owner: Option<At<Scalar>>,
    pub group: Option<At<Scalar>>,
    pub mode: Option<At<Scalar>>,
}

impl<'de> Deserialize<'de> for DirMap {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = DirMap;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a map of absolute paths to { owner, group, mode } (or {})")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<DirMap, A::Error> {
                let mut out = Vec::new();
                while let Some(key) = map.next_key::<At<String>>()? {
                    let dir = map.next_value::<At<Option<RawDir>>>()?;
                    out.push((key, At::new(dir.value.unwrap_or_default(), dir.span)));
                }
                Ok(DirMap(out))
            }
            fn visit_unit<E: de::Error>(self) -> Result<DirMap, E> {
                Ok(DirMap::default())
            }
        }
        d.deserialize_map(V)
    }
}

/// A command: a string for `/bin/sh -c`, or an argv list.
#[derive(Debug)]
pub enum RawCommand {
    Shell(String),
    Argv(Vec<String>),
}

impl<'de> Deserialize<'de> for RawCommand {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawCommand;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a command: a string (run by /bin/sh -c) or a list [program, args…]")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<RawCommand, E> {
                Ok(RawCommand::Shell(v.to_string()))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<RawCommand, A::Error> {
                let mut out = Vec::new();
                while let Some(item) = seq.next_element::<Scalar>()? {
                    out.push(item.0);
                }
                Ok(RawCommand::Argv(out))
            }
        }
        d.deserialize_any(V)
    }
}

/// `ready:` — `{ exec: CMD }` or `{ tcp: PORT }`, with an optional `timeout:`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawReady {
    pub exec: Option<At<RawCommand>>,
    pub tcp: Option<At<u32>>,
    pub timeout: Option<At<Word>>,
}
