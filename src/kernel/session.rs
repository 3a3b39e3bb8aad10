//! A connection to the kernel for one lab: the host's socket, one socket per
//! lab namespace (opened from inside it), and what is known of interface
//! indexes, so requests can name interfaces without asking again.

use std::collections::{BTreeMap, HashMap};
use std::os::fd::{AsRawFd, RawFd};

use netlink_packet_route::RouteNetlinkMessage;
use netlink_packet_route::link::{LinkAttribute, LinkExtentMask, LinkMessage};

use super::error::KernelError;
use super::netns::{self, Found, NsHandle};
use super::observe;
use super::sysctl;
use crate::model::Netns;
use crate::model::live::{LiveLink, LiveNs};

pub struct Session {
    pub host: NsHandle,
    pub named: BTreeMap<String, NsHandle>,
    /// Known interface indexes.
    pub index: HashMap<(Netns, String), u32>,
    /// Next index vnet assigns in a lab namespace (only vnet adds interfaces there).
    pub next_index: HashMap<String, u32>,
    /// External nodes (namespaces vnet joined but did not make), by node
    /// name: their identity when joined, or why they could not be.
    pub external: BTreeMap<String, Result<super::external::NsId, super::external::JoinError>>,
}

/// What was found at a namespace name.
pub enum Opened {
    Absent,
    /// A leftover file that is not a namespace (an interrupted creation).
    Stale,
    Ready,
}

impl Session {
    pub fn new() -> Result<Session, KernelError> {
        Ok(Session {
            host: netns::host()?,
            named: BTreeMap::new(),
            index: HashMap::new(),
            next_index: HashMap::new(),
            external: BTreeMap::new(),
        })
    }

    /// Open the named namespaces that exist, in parallel; each gets its socket.
    pub fn open_named(
        &mut self,
        names: &[String],
    ) -> Result<BTreeMap<String, Opened>, KernelError> {
        let results = netns::parallel(
            names,
            |name| -> Result<(Opened, Option<NsHandle>), KernelError> {
                match netns::open_named(name)? {
                    // An external node of a lab that is up is not under
                    // /run/netns: found by its recorded reference.
                    Found::Absent => match super::external::open_known(name) {
                        Some(Ok(j)) => Ok((Opened::Ready, Some(netns::attach(j.fd)?))),
                        _ => Ok((Opened::Absent, None)),
                    },
                    Found::Stale => Ok((Opened::Stale, None)),
                    Found::Namespace(fd) => Ok((Opened::Ready, Some(netns::attach(fd)?))),
                }
            },
        );
        let mut out = BTreeMap::new();
        for (name, r) in names.iter().zip(results) {
            let (state, handle) = r?;
            if let Some(h) = handle {
                self.named.insert(name.clone(), h);
            }
            out.insert(name.clone(), state);
        }
        Ok(out)
    }

    /// Join external node `name` by its reference, opening its socket; the
    /// outcome is kept in `external`.
    pub fn join_external(&mut self, name: &str, r: &crate::model::external::Reference) {
        use super::external::JoinError;
        let joined = super::external::open(r).and_then(|j| {
            let id = j.id;
            netns::attach(j.fd)
                .map(|h| (h, id))
                .map_err(|e| {
                    JoinError::Refused(match super::userns::uid() {
                        Some(uid) if e.is(libc::EPERM) => format!(
                            "enter {r}: {e}: rootless mode (uid {uid}) can join only namespaces made inside its own user namespace; run vnet as root (sudo) to join it"
                        ),
                        _ => format!("enter {r}: {e}"),
                    })
                })
        });
        let outcome = match joined {
            Ok((h, id)) => {
                self.named.insert(name.to_string(), h);
                Ok(id)
            }
            Err(e) => {
                self.named.remove(name);
                Err(e)
            }
        };
        self.external.insert(name.to_string(), outcome);
    }

    pub fn handle(&mut self, ns: &Netns) -> Option<&mut NsHandle> {
        match ns {
            Netns::Host => Some(&mut self.host),
            Netns::Named(n) => self.named.get_mut(n),
        }
    }

    pub fn ns_fd(&self, ns: &Netns) -> Option<RawFd> {
        match ns {
            Netns::Host => Some(self.host.fd.as_raw_fd()),
            Netns::Named(n) => self.named.get(n).map(|h| h.fd.as_raw_fd()),
        }
    }

    /// Read the host and every open lab namespace: links, addresses, routes,
    /// and the sysctls asked for. Dumps go out on every socket before any is read.
    pub fn observe(
        &mut self,
        sysctls: &BTreeMap<String, Vec<String>>,
    ) -> Result<(LiveNs, BTreeMap<String, LiveNs>), KernelError> {
        let mut all: Vec<(String, &mut NsHandle)> = Vec::new();
        all.push(("host".to_string(), &mut self.host));
        for (n, h) in self.named.iter_mut() {
            all.push((n.clone(), h));
        }
        let mut lives: Vec<LiveNs> = all
            .iter()
            .map(|(n, _)| LiveNs {
                ns: n.clone(),
                ..LiveNs::default()
            })
            .collect();
        // The kernel fills a dump in the context of the reader's recvmsg, so
        // reading on one thread per core spreads that work over the cores.
        let mut pairs: Vec<(&mut NsHandle, &mut LiveNs)> = all
            .into_iter()
            .map(|(_, h)| h)
            .zip(lives.iter_mut())
            .collect();
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let chunk = pairs.len().div_ceil(cores).max(1);
        std::thread::scope(|s| {
            let parts: Vec<_> = pairs
                .chunks_mut(chunk)
                .map(|part| s.spawn(move || dump_all(part)))
                .collect();
            parts.into_iter().try_for_each(|p| {
                p.join()
                    .unwrap_or_else(|_| Err(KernelError::from_errno(libc::EIO)))
            })
        })?;
        let mut lives = lives.into_iter();
        let host = lives.next().unwrap_or_default();
        let mut named: BTreeMap<String, LiveNs> = lives.map(|l| (l.ns.clone(), l)).collect();
        super::profile::mark("dumped");
        // Mirrored sysctls come from the dump; any other is read from
        // /proc/sys inside its namespace (slow across many namespaces).
        let mut other: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (n, keys) in sysctls {
            let Some(live) = named.get_mut(n) else {
                continue;
            };
            for k in keys {
                match live.mirrored_sysctl(k) {
                    Some(v) => {
                        live.sysctls.insert(k.clone(), v);
                    }
                    None => other.entry(n.clone()).or_default().push(k.clone()),
                }
            }
        }
        let sysctls = &other;
        // Sysctls are read from inside each namespace, on worker threads.
        let wanted: Vec<(&String, &NsHandle, &Vec<String>)> = self
            .named
            .iter()
            .filter_map(|(n, h)| sysctls.get(n).map(|keys| (n, h, keys)))
            .collect();
        let values = netns::parallel(&wanted, |(_, h, keys)| {
            netns::within(std::os::fd::AsFd::as_fd(&h.fd), || {
                keys.iter()
                    .filter_map(|k| sysctl::read(k).ok().map(|v| (k.clone(), v)))
                    .collect::<BTreeMap<String, String>>()
            })
        });
        for ((n, _, _), v) in wanted.iter().zip(values) {
            if let (Some(live), Ok(v)) = (named.get_mut(*n), v) {
                live.sysctls.extend(v);
            }
        }
        self.learn(&Netns::Host, &host.links);
        for (n, live) in &named {
            self.learn(&Netns::Named(n.clone()), &live.links);
        }
        Ok((host, named))
    }

    /// Remember the indexes of `links` in `ns`.
    pub fn learn(&mut self, ns: &Netns, links: &[LiveLink]) {
        for l in links {
            self.index.insert((ns.clone(), l.name.clone()), l.index);
        }
        if let Netns::Named(n) = ns {
            let top = links.iter().map(|l| l.index).max().unwrap_or(1);
            let next = self.next_index.entry(n.clone()).or_insert(top + 1);
            *next = (*next).max(top + 1);
        }
    }

    /// A fresh index for a new interface in a lab namespace (0, the
    /// kernel's choice, in an external one: others add interfaces there).
    pub fn assign_index(&mut self, ns: &str) -> u32 {
        if self.external.contains_key(ns) {
            return 0;
        }
        let next = self.next_index.entry(ns.to_string()).or_insert(2);
        let i = *next;
        *next += 1;
        i
    }

    /// Read the links of `ns` again, learning their indexes.
    pub fn refresh_links(&mut self, ns: &Netns) -> Result<Vec<LiveLink>, KernelError> {
        let Some(h) = self.handle(ns) else {
            return Ok(Vec::new());
        };
        let mut links = Vec::new();
        let seq = h.sock.start_dump(observe::link_dump_request())?;
        h.sock.read_dump_each(seq, |m| {
            if let RouteNetlinkMessage::NewLink(l) = m {
                links.push(observe::link(&l));
            }
        })?;
        self.learn(ns, &links);
        Ok(links)
    }

    /// Learn the indexes of a few interfaces of `ns` by name (one request
    /// each, all in flight at once), without reading every link.
    pub fn resolve(&mut self, ns: &Netns, names: &[String]) -> Result<(), KernelError> {
        let Some(h) = self.handle(ns) else {
            return Ok(());
        };
        let asks = names
            .iter()
            .map(|n| {
                let mut m = LinkMessage::default();
                m.attributes.push(LinkAttribute::IfName(n.clone()));
                m.attributes
                    .push(LinkAttribute::ExtMask(vec![LinkExtentMask::SkipStats]));
                RouteNetlinkMessage::GetLink(m)
            })
            .collect();
        let mut links = Vec::new();
        for (_, replies) in h.sock.exchange(asks)? {
            for r in replies {
                if let RouteNetlinkMessage::NewLink(l) = r {
                    links.push(observe::link(&l));
                }
            }
        }
        self.learn(ns, &links);
        Ok(())
    }
}

/// Links, addresses, routes and qdiscs of each namespace in `part`: each kind of
/// dump goes out on every socket before any is read.
fn dump_all(part: &mut [(&mut NsHandle, &mut LiveNs)]) -> Result<(), KernelError> {
    let requests = [
        observe::link_dump_request as fn() -> _,
        observe::addr_dump_request,
        observe::route_dump_request,
        super::tc::dump_request,
    ];
    for req in requests {
        let mut seqs = Vec::with_capacity(part.len());
        for (h, _) in part.iter_mut() {
            seqs.push(h.sock.start_dump(req())?);
        }
        for ((h, live), seq) in part.iter_mut().zip(seqs) {
            h.sock.read_dump_each(seq, |m| observe::add(live, m))?;
        }
    }
    Ok(())
}
