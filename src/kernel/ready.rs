//! Wait until the network works, on the kernel's word: a command finishing is
//! not the network forwarding. The kernel brings carrier up and bridge ports
//! to `forwarding` asynchronously (linkwatch), and until then a veth drops
//! what it is given. One host socket listens to link events of every lab
//! namespace (NETLINK_LISTEN_ALL_NSID), subscribed before anything is set up.

use std::collections::{BTreeSet, HashMap};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::{Duration, Instant};

use netlink_packet_core::{NetlinkMessage, NetlinkPayload};
use netlink_packet_route::link::{LinkAttribute, LinkFlags, LinkMessage};
use netlink_packet_route::nsid::{NsidAttribute, NsidMessage};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};

use super::error::KernelError;
use super::observe;
use super::session::Session;
use crate::model::Netns;

const SOL_NETLINK: libc::c_int = 270;
const NETLINK_ADD_MEMBERSHIP: libc::c_int = 1;
const NETLINK_LISTEN_ALL_NSID: libc::c_int = 8;
const RTNLGRP_LINK: libc::c_int = 1;
const RTM_NEWLINK: u16 = 16;
const IFLA_BRPORT_STATE: u16 = 1;
const BR_STATE_FORWARDING: u8 = 3;

/// What an interface must reach.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Need {
    /// Carrier on and operationally up.
    Up,
    /// A bridge port in the forwarding state.
    Forwarding,
}

pub struct Watch {
    fd: OwnedFd,
    /// netnsid (as the host sees it) → lab namespace.
    nsids: HashMap<i32, String>,
    buf: Vec<u8>,
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

impl Watch {
    /// Subscribe to link events in the host and in `namespaces` (giving each
    /// an id in the host's view if it has none).
    pub fn start(session: &mut Session, namespaces: &[String]) -> Result<Watch, KernelError> {
        // SAFETY: plain socket(2); the fd is owned below.
        let raw = unsafe {
            libc::socket(
                libc::AF_NETLINK,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                libc::NETLINK_ROUTE,
            )
        };
        if raw < 0 {
            return Err(KernelError::last());
        }
        // SAFETY: raw is a fresh socket fd.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        // Bound first, so the socket has a port id of its own: events the
        // kernel sends by itself carry port id 0 and skip port-0 sockets.
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
        // After bind: binding with no groups would clear the membership.
        setopt(raw, libc::SOL_SOCKET, libc::SO_RCVBUFFORCE, 32 << 20)?;
        setopt(raw, SOL_NETLINK, NETLINK_LISTEN_ALL_NSID, 1)?;
        setopt(raw, SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, RTNLGRP_LINK)?;

        let mut assign = Vec::new();
        let mut query = Vec::new();
        let mut names = Vec::new();
        for n in namespaces {
            let Some(fd) = session.ns_fd(&Netns::Named(n.clone())) else {
                continue;
            };
            let mut m = NsidMessage::default();
            m.attributes.push(NsidAttribute::Fd(fd as u32));
            m.attributes.push(NsidAttribute::Id(-1));
            assign.push(RouteNetlinkMessage::NewNsId(m));
            let mut q = NsidMessage::default();
            q.attributes.push(NsidAttribute::Fd(fd as u32));
            query.push(RouteNetlinkMessage::GetNsId(q));
            names.push(n.clone());
        }
        let sock = &mut session.host.sock;
        // EEXIST: the namespace already has an id, which is what we want.
        sock.exchange(assign)?;
        let answers = sock.exchange(query)?;
        let mut nsids = HashMap::new();
        for (name, (_, replies)) in names.into_iter().zip(answers) {
            for r in replies {
                if let RouteNetlinkMessage::NewNsId(m) = r {
                    for a in m.attributes {
                        if let NsidAttribute::Id(id) = a
                            && id >= 0
                        {
                            nsids.insert(id, name.clone());
                        }
                    }
                }
            }
        }
        Ok(Watch {
            fd,
            nsids,
            buf: vec![0u8; 1 << 20],
        })
    }

    /// Wait until every (namespace, interface) reached its need, or the
    /// deadline passes; returns what is still missing.
    pub fn wait(
        &mut self,
        session: &mut Session,
        mut want: BTreeSet<(Netns, String, Need)>,
        timeout: Duration,
    ) -> Result<Vec<(Netns, String, Need)>, KernelError> {
        let deadline = Instant::now() + timeout;
        // Whatever happened before the first read is in the socket already;
        // a dump is needed only if events were lost (ENOBUFS).
        while !want.is_empty() {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            let mut pfd = libc::pollfd {
                fd: self.fd.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: poll on one valid pollfd.
            let r =
                unsafe { libc::poll(&mut pfd, 1, left.as_millis().min(i32::MAX as u128) as i32) };
            if r < 0 {
                let e = io::Error::last_os_error();
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(e.into());
            }
            if r == 0 {
                break;
            }
            match self.read_events(|ns, link| settle(&mut want, ns, link)) {
                Ok(()) => {}
                Err(e) if e.raw_os_error() == Some(libc::ENOBUFS) => {
                    self.resync(session, &mut want)?;
                }
                Err(e) => return Err(e.into()),
            }
        }
        Ok(want.into_iter().collect())
    }

    /// Events were dropped: read the current state once instead.
    fn resync(
        &mut self,
        session: &mut Session,
        want: &mut BTreeSet<(Netns, String, Need)>,
    ) -> Result<(), KernelError> {
        let spaces: BTreeSet<Netns> = want.iter().map(|(ns, _, _)| ns.clone()).collect();
        for ns in spaces {
            let Some(h) = session.handle(&ns) else {
                continue;
            };
            let mut links = Vec::new();
            for m in h.sock.dump(observe::link_dump_request())? {
                if let RouteNetlinkMessage::NewLink(l) = m {
                    links.push(l);
                }
            }
            let mut bridge_req = LinkMessage::default();
            bridge_req.header.interface_family = AddressFamily::Bridge;
            for m in h.sock.dump(RouteNetlinkMessage::GetLink(bridge_req))? {
                if let RouteNetlinkMessage::NewLink(l) = m {
                    links.push(l);
                }
            }
            for l in links {
                settle(want, &ns, &l);
            }
        }
        Ok(())
    }

    /// Hand every pending link event to `each`, as it is read.
    fn read_events(&mut self, mut each: impl FnMut(&Netns, &LinkMessage)) -> io::Result<()> {
        loop {
            let mut cbuf = [0u8; 64];
            let mut iov = libc::iovec {
                iov_base: self.buf.as_mut_ptr() as *mut libc::c_void,
                iov_len: self.buf.len(),
            };
            // SAFETY: msghdr points at our buffers for the duration of the call.
            let mut mh: libc::msghdr = unsafe { std::mem::zeroed() };
            mh.msg_iov = &mut iov;
            mh.msg_iovlen = 1;
            mh.msg_control = cbuf.as_mut_ptr() as *mut libc::c_void;
            mh.msg_controllen = cbuf.len();
            // SAFETY: recvmsg on our socket without blocking.
            let n = unsafe { libc::recvmsg(self.fd.as_raw_fd(), &mut mh, libc::MSG_DONTWAIT) };
            if n < 0 {
                let e = io::Error::last_os_error();
                if e.kind() == io::ErrorKind::WouldBlock {
                    return Ok(());
                }
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(e);
            }
            let nsid = cmsg_nsid(&mh);
            let ns = match nsid {
                None => Some(Netns::Host),
                Some(id) => self.nsids.get(&id).map(|n| Netns::Named(n.clone())),
            };
            let Some(ns) = ns else { continue };
            let mut off = 0;
            let n = n as usize;
            while off + 16 <= n {
                let len = u32::from_ne_bytes(self.buf[off..off + 4].try_into().unwrap()) as usize;
                if len < 16 || off + len > n {
                    break;
                }
                let ty = u16::from_ne_bytes(self.buf[off + 4..off + 6].try_into().unwrap());
                if ty == RTM_NEWLINK
                    && let Ok(NetlinkMessage {
                        payload: NetlinkPayload::InnerMessage(RouteNetlinkMessage::NewLink(l)),
                        ..
                    }) = NetlinkMessage::<RouteNetlinkMessage>::deserialize(
                        &self.buf[off..off + len],
                    )
                {
                    each(&ns, &l);
                }
                off += (len + 3) & !3;
            }
        }
    }
}

fn cmsg_nsid(mh: &libc::msghdr) -> Option<i32> {
    // SAFETY: walking the control messages the kernel filled in.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(mh);
        while !c.is_null() {
            if (*c).cmsg_level == SOL_NETLINK && (*c).cmsg_type == NETLINK_LISTEN_ALL_NSID {
                let p = libc::CMSG_DATA(c) as *const i32;
                return Some(std::ptr::read_unaligned(p));
            }
            c = libc::CMSG_NXTHDR(mh, c);
        }
    }
    None
}

/// Remove from `want` what this link message shows as reached.
fn settle(want: &mut BTreeSet<(Netns, String, Need)>, ns: &Netns, l: &LinkMessage) {
    let Some(name) = l.attributes.iter().find_map(|a| match a {
        LinkAttribute::IfName(n) => Some(n.clone()),
        _ => None,
    }) else {
        return;
    };
    if l.header.interface_family == AddressFamily::Bridge {
        let forwarding = l.attributes.iter().any(|a| match a {
            LinkAttribute::ProtoInfoBridge(v) => v.iter().any(|p| match p {
                netlink_packet_route::link::LinkProtoInfoBridge::Other(nla) => {
                    use netlink_packet_core::Nla;
                    let mut b = [0u8; 1];
                    nla.kind() == IFLA_BRPORT_STATE && {
                        nla.emit_value(&mut b);
                        b[0] == BR_STATE_FORWARDING
                    }
                }
                _ => false,
            }),
            _ => false,
        });
        if forwarding {
            want.remove(&(ns.clone(), name, Need::Forwarding));
        }
        return;
    }
    let live = observe::link(l);
    if live.lower_up
        && l.header.flags.contains(LinkFlags::Up)
        && live.oper == crate::model::live::OperState::Up
    {
        want.remove(&(ns.clone(), name.clone(), Need::Up));
    }
    if live.port_state == Some(BR_STATE_FORWARDING) {
        want.remove(&(ns.clone(), name, Need::Forwarding));
    }
}
