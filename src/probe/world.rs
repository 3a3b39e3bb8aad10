//! Live state for the probes (kernel side): the host and the named
//! namespaces read over netlink, each with its socket and namespace fd, and
//! the veth pairs between them worked out (asking the kernel for namespace
//! ids where interface indexes alone are ambiguous).

use std::collections::{BTreeMap, HashMap};
use std::os::fd::{AsFd, BorrowedFd};

use netlink_packet_route::RouteNetlinkMessage;
use netlink_packet_route::nsid::{NsidAttribute, NsidMessage};

use super::ProbeError;
use super::path::{Key, Topology, veth_peers};
use super::target;
use crate::kernel::netlink::NlSocket;
use crate::kernel::netns;
use crate::kernel::session::{Opened, Session};
use crate::kernel::sysctl;
use crate::model::lab::HOST;
use crate::model::live::LiveNs;

const FORWARDING: [&str; 2] = ["net.ipv4.ip_forward", "net.ipv6.conf.all.forwarding"];

const CAP_NET_ADMIN: u32 = 12;
const CAP_NET_RAW: u32 = 13;
const CAP_SYS_ADMIN: u32 = 21;

/// None when allowed to probe; otherwise the missing capability.
pub fn missing_privilege() -> Option<&'static str> {
    let caps = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("CapEff:"))
                .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        })
        .unwrap_or(0);
    [
        (CAP_NET_RAW, "CAP_NET_RAW"),
        (CAP_SYS_ADMIN, "CAP_SYS_ADMIN"),
        (CAP_NET_ADMIN, "CAP_NET_ADMIN"),
    ]
    .into_iter()
    .find(|(bit, _)| caps & (1 << bit) == 0)
    .map(|(_, name)| name)
}

pub fn require_privilege(command: &str) -> Result<(), ProbeError> {
    match missing_privilege() {
        None => Ok(()),
        Some(cap) => Err(ProbeError::NotPrivileged(format!(
            "`vnet {command}` sends and listens from inside namespaces with raw sockets and needs root ({cap} is missing); run it with sudo: sudo vnet {command} …"
        ))),
    }
}

pub struct World {
    pub session: Session,
    /// "host" and the named namespaces read, by name.
    pub ns: BTreeMap<String, LiveNs>,
    pub peers: HashMap<Key, Key>,
}

impl World {
    /// Read the host and the named namespaces `names` (None: all of them).
    /// A name that is not a namespace is a usage error naming the known ones.
    pub fn read(names: Option<&[String]>) -> Result<World, ProbeError> {
        super::sock::raise_nofile();
        let mut session =
            Session::new().map_err(|e| ProbeError::kernel("open a netlink socket", e))?;
        let mut all = netns::list_named();
        // External nodes of the labs that are up (joined by reference);
        // "all of them" means those that can be joined now.
        let external = crate::kernel::external::known_names();
        let mut joinable = all.clone();
        for n in &external {
            if matches!(crate::kernel::external::open_known(n), Some(Ok(_))) {
                joinable.push(n.clone());
            }
        }
        joinable.sort();
        joinable.dedup();
        all.extend(external);
        all.sort();
        all.dedup();
        let wanted: Vec<String> = match names {
            None => joinable,
            Some(n) => {
                let mut v: Vec<String> = n.iter().filter(|x| *x != HOST).cloned().collect();
                v.sort();
                v.dedup();
                v
            }
        };
        for n in &wanted {
            if !all.contains(n) {
                return Err(ProbeError::Usage(target::unknown_node(n, &known(&all))));
            }
        }
        let opened = session
            .open_named(&wanted)
            .map_err(|e| ProbeError::kernel("open the namespaces", e))?;
        for (n, state) in &opened {
            if !matches!(state, Opened::Ready) {
                return Err(ProbeError::Usage(target::unknown_node(n, &known(&all))));
            }
        }
        let sysctls: BTreeMap<String, Vec<String>> = wanted
            .iter()
            .map(|n| {
                (
                    n.clone(),
                    FORWARDING.iter().map(|s| s.to_string()).collect(),
                )
            })
            .collect();
        let (mut host, named) = session
            .observe(&sysctls)
            .map_err(|e| ProbeError::kernel("read the namespaces", e))?;
        for k in FORWARDING {
            if let Ok(v) = sysctl::read(k) {
                host.sysctls.insert(k.to_string(), v);
            }
        }
        let mut ns = named;
        ns.insert(HOST.to_string(), host);
        let mut w = World {
            session,
            ns,
            peers: HashMap::new(),
        };
        w.pair_veths();
        Ok(w)
    }

    /// Every node name: `host` and the named namespaces read.
    pub fn nodes(&self) -> Vec<String> {
        let mut v: Vec<String> = vec![HOST.to_string()];
        v.extend(self.ns.keys().filter(|k| *k != HOST).cloned());
        v
    }

    pub fn get(&self, node: &str) -> Option<&LiveNs> {
        self.ns.get(node)
    }

    /// The namespace fd of a node.
    pub fn fd(&self, node: &str) -> Option<BorrowedFd<'_>> {
        if node == HOST {
            Some(self.session.host.fd.as_fd())
        } else {
            self.session.named.get(node).map(|h| h.fd.as_fd())
        }
    }

    /// The netlink socket of a node.
    pub fn sock(&mut self, node: &str) -> Option<&mut NlSocket> {
        if node == HOST {
            Some(&mut self.session.host.sock)
        } else {
            self.session.named.get_mut(node).map(|h| &mut h.sock)
        }
    }

    pub fn topology(&self) -> Topology<'_> {
        let all: Vec<&LiveNs> = self.ns.values().collect();
        Topology::new(&all, self.peers.clone())
    }

    /// Pair the veth ends; where indexes are ambiguous, ask the namespace
    /// holding one end which id it gives each candidate namespace.
    fn pair_veths(&mut self) {
        let all: Vec<&LiveNs> = self.ns.values().collect();
        let mut known: HashMap<(String, i32), String> = HashMap::new();
        let (peers, ambiguous) = veth_peers(&all, &known);
        if ambiguous.is_empty() {
            self.peers = peers;
            return;
        }
        for a in &ambiguous {
            if known.contains_key(&(a.ns.clone(), a.nsid)) {
                continue;
            }
            for (cand, _) in &a.candidates {
                let Some(fd) = self.fd(cand).map(|f| std::os::fd::AsRawFd::as_raw_fd(&f)) else {
                    continue;
                };
                let mut m = NsidMessage::default();
                m.attributes.push(NsidAttribute::Fd(fd as u32));
                let Some(sock) = self.sock(&a.ns) else { break };
                let Ok(answers) = sock.exchange(vec![RouteNetlinkMessage::GetNsId(m)]) else {
                    continue;
                };
                let id = answers
                    .into_iter()
                    .flat_map(|(_, msgs)| msgs)
                    .find_map(|m| match m {
                        RouteNetlinkMessage::NewNsId(n) => {
                            n.attributes.iter().find_map(|x| match x {
                                NsidAttribute::Id(i) => Some(*i),
                                _ => None,
                            })
                        }
                        _ => None,
                    });
                if id == Some(a.nsid) {
                    known.insert((a.ns.clone(), a.nsid), cand.clone());
                    break;
                }
            }
        }
        let all: Vec<&LiveNs> = self.ns.values().collect();
        self.peers = veth_peers(&all, &known).0;
    }
}

fn known(named: &[String]) -> Vec<String> {
    let mut v = vec![HOST.to_string()];
    v.extend(named.iter().cloned());
    v
}
