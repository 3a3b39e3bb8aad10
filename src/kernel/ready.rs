//! Wait until the network works, on the kernel's word: a command finishing is
//! not the network forwarding. The kernel brings carrier up and bridge ports
//! to `forwarding` asynchronously (linkwatch), and until then a veth drops
//! what it is given. A socket subscribed to link events is opened in each
//! namespace that has something to wait for, before anything comes up.
//!
//! Why not one socket listening to every namespace (NETLINK_LISTEN_ALL_NSID):
//! the kernel then looks up the sender's namespace id for each event by a
//! linear scan of the host's id table, which at thousands of namespaces
//! costs more than the build itself.

use std::collections::BTreeSet;
use std::os::fd::AsFd;
use std::time::{Duration, Instant};

use netlink_packet_core::Nla;
use netlink_packet_route::link::{LinkAttribute, LinkFlags, LinkMessage, LinkProtoInfoBridge};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};

use super::error::KernelError;
use super::netlink::LinkEvents;
use super::netns;
use super::observe;
use super::session::Session;
use crate::model::Netns;
use crate::model::live::OperState;

const IFLA_BRPORT_STATE: u16 = 1;
const BR_STATE_FORWARDING: u8 = 3;

/// What an interface must reach.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Need {
    /// Carrier on and operationally up.
    Up,
    /// Up with carrier: enough for a bridge that came up after its ports.
    Carrier,
    /// A bridge port in the forwarding state.
    Forwarding,
}

pub(crate) type Want = BTreeSet<(Netns, String, Need)>;

pub(crate) struct Watch {
    /// One subscribed socket per watched namespace.
    socks: Vec<(Netns, LinkEvents)>,
}

impl Watch {
    /// Subscribe to link events in each of `spaces`.
    pub(crate) fn start(session: &Session, spaces: &BTreeSet<Netns>) -> Result<Watch, KernelError> {
        let list: Vec<&Netns> = spaces.iter().collect();
        let opened = netns::parallel(&list, |ns| -> Result<LinkEvents, KernelError> {
            match ns {
                Netns::Host => netns::within(session.host.fd.as_fd(), LinkEvents::subscribe)?,
                Netns::Named(n) => match session.named.get(n) {
                    Some(h) => netns::within(h.fd.as_fd(), LinkEvents::subscribe)?,
                    None => Err(KernelError::from_errno(libc::ENOENT)),
                },
            }
        });
        let mut socks = Vec::with_capacity(list.len());
        for (ns, events) in list.into_iter().zip(opened) {
            socks.push(((*ns).clone(), events?));
        }
        Ok(Watch { socks })
    }

    /// Wait until every (namespace, interface) reached its need, or the
    /// deadline passes; returns what is still missing.
    pub(crate) fn wait(
        &mut self,
        session: &mut Session,
        mut want: Want,
        timeout: Duration,
    ) -> Result<Vec<(Netns, String, Need)>, KernelError> {
        let deadline = Instant::now() + timeout;
        let mut pfds: Vec<PollFd> = self
            .socks
            .iter()
            .map(|(_, events)| PollFd::new(events.as_fd(), PollFlags::POLLIN))
            .collect();
        // Events that happened during the build are queued already; the
        // first pass reads them without waiting.
        let mut first = true;
        while !want.is_empty() {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            let ms = if first {
                0
            } else {
                left.as_millis().min(i32::MAX as u128) as i32
            };
            let r = match poll(
                &mut pfds,
                PollTimeout::try_from(ms).unwrap_or(PollTimeout::MAX),
            ) {
                Ok(r) => r,
                Err(Errno::EINTR) => continue,
                Err(e) => return Err(e.into()),
            };
            if r == 0 && !first {
                break;
            }
            first = false;
            let mut lost = Vec::new();
            for (p, (ns, events)) in pfds.iter().zip(&self.socks) {
                if p.revents().is_none_or(|r| r.is_empty()) {
                    continue;
                }
                let r = events.drain(|m| {
                    if let RouteNetlinkMessage::NewLink(l) = m {
                        settle(&mut want, ns, l);
                    }
                });
                match r {
                    Ok(()) => {}
                    Err(e) if e.raw_os_error() == Some(libc::ENOBUFS) => lost.push(ns.clone()),
                    Err(e) => return Err(e.into()),
                }
            }
            // Events were dropped (the queue overflowed): read the state once.
            for ns in lost {
                resync(session, &ns, &mut want)?;
            }
        }
        Ok(want.into_iter().collect())
    }
}

/// Have the kernel finish its pending link work for `ifaces` now, and settle
/// `want` from the answers. Carrier, operational state, the queue discipline
/// and a bridge port's move to forwarding all wait for the kernel's linkwatch
/// worker, which, once new events stop, works through its backlog a hundred
/// interfaces a second: seconds at a thousand interfaces. A single-interface
/// RTM_GETLINK runs that interface's pending work first (rtnl_getlink syncs
/// linkwatch), so asking is enough. Ports are asked before their bridge,
/// whose carrier follows its ports. Best effort: the events stay the truth.
pub(crate) fn sync(session: &mut Session, ifaces: &[(Netns, String)], want: &mut Want) {
    let mut asked: BTreeSet<Netns> = BTreeSet::new();
    for (ns, name) in ifaces {
        let Some(h) = session.handle(ns) else {
            continue;
        };
        let mut m = LinkMessage::default();
        m.attributes.push(LinkAttribute::IfName(name.clone()));
        h.sock.queue(RouteNetlinkMessage::GetLink(m), 0);
        asked.insert(ns.clone());
    }
    for ns in asked {
        let Some(h) = session.handle(&ns) else {
            continue;
        };
        let _ = h.sock.replies_each(|r| {
            if let RouteNetlinkMessage::NewLink(l) = r {
                settle(want, &ns, &l);
            }
        });
    }
}

/// Settle from the current state of `ns` (links and bridge ports), read as
/// a stream so that thousands of links cost no memory.
fn resync(session: &mut Session, ns: &Netns, want: &mut Want) -> Result<(), KernelError> {
    let Some(h) = session.handle(ns) else {
        return Ok(());
    };
    let seq = h.sock.start_dump(observe::link_dump_request())?;
    h.sock.read_dump_each(seq, |m| {
        if let RouteNetlinkMessage::NewLink(l) = m {
            settle(want, ns, &l);
        }
    })?;
    let mut bridge_req = LinkMessage::default();
    bridge_req.header.interface_family = AddressFamily::Bridge;
    let seq = h
        .sock
        .start_dump(RouteNetlinkMessage::GetLink(bridge_req))?;
    h.sock.read_dump_each(seq, |m| {
        if let RouteNetlinkMessage::NewLink(l) = m {
            settle(want, ns, &l);
        }
    })?;
    Ok(())
}

/// Remove from `want` what this link message shows as reached.
fn settle(want: &mut Want, ns: &Netns, l: &LinkMessage) {
    let Some(name) = l.attributes.iter().find_map(|a| match a {
        LinkAttribute::IfName(n) => Some(n.as_str()),
        _ => None,
    }) else {
        return;
    };
    let key = |need| (ns.clone(), name.to_string(), need);
    if l.header.interface_family == AddressFamily::Bridge {
        // AF_BRIDGE messages carry the port state in IFLA_PROTINFO.
        let forwarding = l.attributes.iter().any(|a| match a {
            LinkAttribute::ProtoInfoBridge(v) => v.iter().any(|p| match p {
                LinkProtoInfoBridge::Other(nla) if nla.kind() == IFLA_BRPORT_STATE => {
                    let mut b = [0u8; 1];
                    nla.emit_value(&mut b);
                    b[0] == BR_STATE_FORWARDING
                }
                _ => false,
            }),
            _ => false,
        });
        if forwarding {
            want.remove(&key(Need::Forwarding));
        }
        return;
    }
    let live = observe::link(l);
    let carrier = live.lower_up && l.header.flags.contains(LinkFlags::Up);
    if carrier {
        want.remove(&key(Need::Carrier));
    }
    if carrier && live.oper == OperState::Up {
        want.remove(&key(Need::Up));
    }
    if live.port_state == Some(BR_STATE_FORWARDING) {
        want.remove(&key(Need::Forwarding));
    }
}

/// Namespaces to watch for a set of wants.
pub(crate) fn spaces(want: &Want) -> BTreeSet<Netns> {
    want.iter().map(|(ns, _, _)| ns.clone()).collect()
}
