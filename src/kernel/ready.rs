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
use std::io;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::time::{Duration, Instant};

use netlink_packet_core::{NetlinkMessage, NetlinkPayload, Nla};
use netlink_packet_route::link::{LinkAttribute, LinkFlags, LinkMessage, LinkProtoInfoBridge};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};

use super::error::KernelError;
use super::netns;
use super::observe;
use super::session::Session;
use crate::model::Netns;
use crate::model::live::OperState;

const SOL_NETLINK: libc::c_int = 270;
const NETLINK_ADD_MEMBERSHIP: libc::c_int = 1;
const RTNLGRP_LINK: libc::c_int = 1;
const RTM_NEWLINK: u16 = 16;
const RTM_DELLINK: u16 = 17;
const IFLA_BRPORT_STATE: u16 = 1;
const BR_STATE_FORWARDING: u8 = 3;
const RCVBUF: libc::c_int = 64 << 20;

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

pub type Want = BTreeSet<(Netns, String, Need)>;

pub struct Watch {
    /// One subscribed socket per watched namespace.
    socks: Vec<(Netns, OwnedFd)>,
}

fn setopt(fd: i32, level: libc::c_int, opt: libc::c_int, v: libc::c_int) -> io::Result<()> {
    // SAFETY: setsockopt with an int option on a socket we own.
    let r = unsafe {
        libc::setsockopt(
            fd,
            level,
            opt,
            &v as *const libc::c_int as *const libc::c_void,
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// A socket in the calling thread's namespace, subscribed to link events.
pub(crate) fn subscribe() -> Result<OwnedFd, KernelError> {
    // SAFETY: plain socket(2); the fd is owned below.
    let raw = unsafe {
        libc::socket(
            libc::AF_NETLINK,
            libc::SOCK_RAW | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK,
            libc::NETLINK_ROUTE,
        )
    };
    if raw < 0 {
        return Err(KernelError::last());
    }
    // SAFETY: raw is a fresh socket fd.
    let fd = unsafe { OwnedFd::from_raw_fd(raw) };
    // Bound first, so the socket has a port id of its own: events the kernel
    // sends by itself carry port id 0 and skip port-0 sockets. (Binding with
    // no groups after subscribing would also clear the subscription.)
    // SAFETY: zeroed sockaddr_nl with the family set asks for autobind.
    let mut sa: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
    sa.nl_family = libc::AF_NETLINK as libc::sa_family_t;
    // SAFETY: bind with a valid sockaddr_nl of the right size.
    let r = unsafe {
        libc::bind(
            raw,
            &sa as *const libc::sockaddr_nl as *const libc::sockaddr,
            std::mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t,
        )
    };
    if r != 0 {
        return Err(KernelError::last());
    }
    // FORCE passes rmem_max but needs CAP_NET_ADMIN over the host's user
    // namespace; inside a user namespace take what rmem_max allows: an
    // overflow is caught (ENOBUFS) and the state read once instead.
    if setopt(raw, libc::SOL_SOCKET, libc::SO_RCVBUFFORCE, RCVBUF).is_err() {
        setopt(raw, libc::SOL_SOCKET, libc::SO_RCVBUF, RCVBUF)?;
    }
    setopt(raw, SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, RTNLGRP_LINK)?;
    Ok(fd)
}

impl Watch {
    /// Subscribe to link events in each of `spaces`.
    pub fn start(session: &Session, spaces: &BTreeSet<Netns>) -> Result<Watch, KernelError> {
        let list: Vec<&Netns> = spaces.iter().collect();
        let opened = netns::parallel(&list, |ns| -> Result<OwnedFd, KernelError> {
            match ns {
                Netns::Host => netns::within(session.host.fd.as_fd(), subscribe)?,
                Netns::Named(n) => match session.named.get(n) {
                    Some(h) => netns::within(h.fd.as_fd(), subscribe)?,
                    None => Err(KernelError::from_errno(libc::ENOENT)),
                },
            }
        });
        let mut socks = Vec::with_capacity(list.len());
        for (ns, fd) in list.into_iter().zip(opened) {
            socks.push(((*ns).clone(), fd?));
        }
        Ok(Watch { socks })
    }

    /// Wait until every (namespace, interface) reached its need, or the
    /// deadline passes; returns what is still missing.
    pub fn wait(
        &mut self,
        session: &mut Session,
        mut want: Want,
        timeout: Duration,
    ) -> Result<Vec<(Netns, String, Need)>, KernelError> {
        let deadline = Instant::now() + timeout;
        let mut buf = vec![0u8; 256 << 10];
        let mut pfds: Vec<libc::pollfd> = self
            .socks
            .iter()
            .map(|(_, fd)| libc::pollfd {
                fd: fd.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            })
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
            // SAFETY: poll on our own pollfd array.
            let r = unsafe { libc::poll(pfds.as_mut_ptr(), pfds.len() as libc::nfds_t, ms) };
            if r < 0 {
                let e = io::Error::last_os_error();
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(e.into());
            }
            if r == 0 && !first {
                break;
            }
            first = false;
            let mut lost = Vec::new();
            for (i, p) in pfds.iter_mut().enumerate() {
                if p.revents == 0 {
                    continue;
                }
                p.revents = 0;
                let ns = &self.socks[i].0;
                let r = drain(p.fd, &mut buf, |m| {
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
pub fn sync(session: &mut Session, ifaces: &[(Netns, String)], want: &mut Want) {
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

/// Read every queued event of one socket without waiting, handing each link
/// message (new or deleted) to `each`.
pub(crate) fn drain(
    fd: i32,
    buf: &mut [u8],
    mut each: impl FnMut(&RouteNetlinkMessage),
) -> io::Result<()> {
    loop {
        // SAFETY: recv into our buffer without blocking.
        let n = unsafe {
            libc::recv(
                fd,
                buf.as_mut_ptr() as *mut libc::c_void,
                buf.len(),
                libc::MSG_DONTWAIT,
            )
        };
        if n < 0 {
            let e = io::Error::last_os_error();
            match e.kind() {
                io::ErrorKind::WouldBlock => return Ok(()),
                io::ErrorKind::Interrupted => continue,
                _ => return Err(e),
            }
        }
        let n = n as usize;
        let mut off = 0;
        while off + 16 <= n {
            let len = u32::from_ne_bytes(buf[off..off + 4].try_into().unwrap()) as usize;
            if len < 16 || off + len > n {
                break;
            }
            let ty = u16::from_ne_bytes(buf[off + 4..off + 6].try_into().unwrap());
            if (ty == RTM_NEWLINK || ty == RTM_DELLINK)
                && let Ok(NetlinkMessage {
                    payload: NetlinkPayload::InnerMessage(m),
                    ..
                }) = NetlinkMessage::<RouteNetlinkMessage>::deserialize(&buf[off..off + len])
            {
                each(&m);
            }
            off += (len + 3) & !3;
        }
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
pub fn spaces(want: &Want) -> BTreeSet<Netns> {
    want.iter().map(|(ns, _, _)| ns.clone()).collect()
}
