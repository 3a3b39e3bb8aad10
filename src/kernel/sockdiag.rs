//! Who listens, over sock_diag netlink (NETLINK_SOCK_DIAG, inet_diag): the
//! TCP sockets in LISTEN and the bound, unconnected UDP sockets of a
//! namespace, IPv4 and IPv6, with their accept queue (current and backlog).
//! What `ss -ltun` shows, read without `ss`. Parsing is pure and
//! unit-tested; only `read_in` touches the kernel.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::BorrowedFd;

use netlink_packet_core::NetlinkSerializable;
use netlink_sys::protocols::NETLINK_SOCK_DIAG;
use serde::Serialize;

use super::error::KernelError;
use super::netlink::transport::Transport;
use super::netns;

/// SOCK_DIAG_BY_FAMILY.
const SOCK_DIAG_BY_FAMILY: u16 = 20;
/// TCP_LISTEN and TCP_CLOSE (an unconnected UDP socket) as idiag_states bits.
const TCP_LISTEN: u8 = 10;
const TCP_CLOSE: u8 = 7;
/// INET_DIAG_SKV6ONLY: an IPv6 socket that takes no IPv4.
const INET_DIAG_SKV6ONLY: u16 = 11;
/// struct inet_diag_msg.
const MSG_LEN: usize = 72;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Proto {
    Tcp,
    Udp,
}

impl Proto {
    pub fn number(self) -> u8 {
        match self {
            Proto::Tcp => 6,
            Proto::Udp => 17,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
        }
    }
}

/// One listening (TCP) or bound (UDP) socket.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Listener {
    pub proto: Proto,
    pub addr: IpAddr,
    pub port: u16,
    /// Bound to one interface (SO_BINDTODEVICE), by index; 0: any.
    pub ifindex: u32,
    /// An IPv6 socket that takes no IPv4 (IPV6_V6ONLY).
    pub v6only: bool,
    /// TCP: connections waiting to be accepted; UDP: bytes queued.
    pub rqueue: u32,
    /// TCP: the backlog (the most that can wait).
    pub backlog: u32,
}

impl Listener {
    /// Whether a connection to `ip` reaches this socket (by address alone).
    pub fn takes(&self, ip: IpAddr) -> bool {
        if self.addr == ip {
            return true;
        }
        match (self.addr, ip) {
            (IpAddr::V4(a), IpAddr::V4(_)) => a.is_unspecified(),
            (IpAddr::V6(a), IpAddr::V6(_)) => a.is_unspecified(),
            (IpAddr::V6(a), IpAddr::V4(v4)) => {
                (a.is_unspecified() && !self.v6only) || a == v4.to_ipv6_mapped()
            }
            _ => false,
        }
    }

    /// "127.0.0.1:8080", "[::1]:8080".
    pub fn place(&self) -> String {
        match self.addr {
            IpAddr::V4(a) => format!("{a}:{}", self.port),
            IpAddr::V6(a) => format!("[{a}]:{}", self.port),
        }
    }

    /// The accept queue is full: new connections are dropped.
    pub fn queue_full(&self) -> bool {
        self.proto == Proto::Tcp && self.rqueue > 0 && self.rqueue >= self.backlog
    }
}

/// struct inet_diag_req_v2 for one family and protocol.
struct Request {
    family: u8,
    proto: u8,
    states: u32,
}

impl NetlinkSerializable for Request {
    fn message_type(&self) -> u16 {
        SOCK_DIAG_BY_FAMILY
    }

    fn buffer_len(&self) -> usize {
        56
    }

    fn serialize(&self, b: &mut [u8]) {
        b[..56].fill(0);
        b[0] = self.family;
        b[1] = self.proto;
        b[4..8].copy_from_slice(&self.states.to_ne_bytes());
    }
}

/// Every TCP listener and bound UDP socket of the namespace behind `ns`.
pub(crate) fn read_in(ns: BorrowedFd) -> Result<Vec<Listener>, KernelError> {
    let mut t = netns::within(ns, || Transport::open(NETLINK_SOCK_DIAG))??;
    let mut out = Vec::new();
    for proto in [Proto::Tcp, Proto::Udp] {
        let states = match proto {
            Proto::Tcp => 1 << TCP_LISTEN,
            Proto::Udp => 1 << TCP_CLOSE,
        };
        for family in [libc::AF_INET as u8, libc::AF_INET6 as u8] {
            let seq = t.start_dump(Request {
                family,
                proto: proto.number(),
                states,
            })?;
            let dumped = t.read_dump(seq, |m| {
                if m.kind == SOCK_DIAG_BY_FAMILY
                    && let Some(l) = parse(proto, m.payload())
                {
                    out.push(l);
                }
            });
            match dumped {
                Ok(()) => {}
                // No IPv6 or no udp_diag in this kernel: nothing of that kind.
                Err(e) if e.is(libc::ENOENT) || e.is(libc::EAFNOSUPPORT) => {}
                Err(e) => return Err(e),
            }
        }
    }
    Ok(out)
}

/// One struct inet_diag_msg and its attributes.
pub(crate) fn parse(proto: Proto, b: &[u8]) -> Option<Listener> {
    if b.len() < MSG_LEN {
        return None;
    }
    let family = b[0];
    let sport = u16::from_be_bytes([b[4], b[5]]);
    let src = &b[8..24];
    let addr = if family == libc::AF_INET as u8 {
        IpAddr::V4(Ipv4Addr::new(src[0], src[1], src[2], src[3]))
    } else if family == libc::AF_INET6 as u8 {
        IpAddr::V6(Ipv6Addr::from(<[u8; 16]>::try_from(src).ok()?))
    } else {
        return None;
    };
    let u32_at = |o: usize| u32::from_ne_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]]);
    let ifindex = u32_at(40);
    let (rqueue, backlog) = (u32_at(56), u32_at(60));
    let v6only = super::nft::attrs(&b[MSG_LEN..])
        .iter()
        .any(|(t, v)| *t == INET_DIAG_SKV6ONLY && v.first() == Some(&1));
    Some(Listener {
        proto,
        addr,
        port: sport,
        ifindex,
        v6only,
        rqueue,
        backlog,
    })
}

/// TcpExt's ListenOverflows and ListenDrops from /proc/net/netstat (of the
/// reading thread's namespace), as `(overflows, drops)`.
pub(crate) fn listen_overflows(netstat: &str) -> Option<(u64, u64)> {
    let mut lines = netstat.lines();
    while let Some(head) = lines.next() {
        let vals = lines.next()?;
        if !head.starts_with("TcpExt:") {
            continue;
        }
        let keys: Vec<&str> = head.split_whitespace().collect();
        let nums: Vec<&str> = vals.split_whitespace().collect();
        let get = |k: &str| {
            keys.iter()
                .position(|x| *x == k)
                .and_then(|i| nums.get(i)?.parse().ok())
        };
        return Some((get("ListenOverflows")?, get("ListenDrops").unwrap_or(0)));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(family: u8, port: u16, addr: &[u8], rq: u32, wq: u32, v6only: bool) -> Vec<u8> {
        let mut b = vec![0u8; MSG_LEN];
        b[0] = family;
        b[1] = TCP_LISTEN;
        b[4..6].copy_from_slice(&port.to_be_bytes());
        b[8..8 + addr.len()].copy_from_slice(addr);
        b[56..60].copy_from_slice(&rq.to_ne_bytes());
        b[60..64].copy_from_slice(&wq.to_ne_bytes());
        if v6only {
            b.extend_from_slice(&5u16.to_ne_bytes());
            b.extend_from_slice(&INET_DIAG_SKV6ONLY.to_ne_bytes());
            b.extend_from_slice(&[1, 0, 0, 0]);
        }
        b
    }

    #[test]
    fn listeners_are_parsed_and_know_what_they_take() {
        let l = parse(Proto::Tcp, &msg(2, 8080, &[127, 0, 0, 1], 0, 128, false)).unwrap();
        assert_eq!(l.place(), "127.0.0.1:8080");
        assert!(l.takes("127.0.0.1".parse().unwrap()));
        assert!(!l.takes("192.168.1.2".parse().unwrap()));
        let any = parse(Proto::Tcp, &msg(2, 80, &[0; 4], 3, 3, false)).unwrap();
        assert!(any.takes("192.168.1.2".parse().unwrap()));
        assert!(any.queue_full());
        let v6 = parse(Proto::Udp, &msg(10, 53, &[0; 16], 0, 0, false)).unwrap();
        assert!(v6.takes("10.0.0.1".parse().unwrap()));
        assert!(v6.takes("fd00::1".parse().unwrap()));
        let only = parse(Proto::Udp, &msg(10, 53, &[0; 16], 0, 0, true)).unwrap();
        assert!(only.v6only);
        assert!(!only.takes("10.0.0.1".parse().unwrap()));
        assert!(parse(Proto::Tcp, &[1, 2, 3]).is_none());
        assert!(parse(Proto::Tcp, &msg(7, 1, &[0; 4], 0, 0, false)).is_none());
    }

    #[test]
    fn listen_overflows_come_from_tcpext() {
        let s = "TcpExt: SyncookiesSent ListenOverflows ListenDrops\nTcpExt: 0 7 9\nIpExt: A\nIpExt: 1\n";
        assert_eq!(listen_overflows(s), Some((7, 9)));
        assert_eq!(listen_overflows("IpExt: A\nIpExt: 1\n"), None);
    }
}
