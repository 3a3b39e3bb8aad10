//! ICMP and ICMPv6 echo from inside a namespace (kernel side). A raw socket
//! is opened by a thread that entered the source namespace (new namespaces
//! forbid unprivileged ICMP datagram sockets), and stays bound to that
//! namespace after the thread leaves; the kernel lets it see only echo
//! replies and the errors that quote a request.

use std::net::{IpAddr, Ipv6Addr, SocketAddrV4, SocketAddrV6};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::socket::{
    AddressFamily, MsgFlags, SockProtocol, SockType, SockaddrIn, SockaddrIn6, sendto, setsockopt,
    sockopt,
};
use serde::Serialize;

use super::sock::{self, Poller};
use super::wire::{self, IcmpError, Received};
use crate::kernel::{KernelError, netns, sys};

pub struct IcmpSocket {
    fd: OwnedFd,
    pub v6: bool,
}

impl IcmpSocket {
    /// A raw ICMP (or ICMPv6) socket in the calling thread's namespace.
    pub fn open(v6: bool) -> Result<IcmpSocket, KernelError> {
        let fd = if v6 {
            sock::socket(
                AddressFamily::Inet6,
                SockType::Raw,
                Some(SockProtocol::IcmpV6),
            )?
        } else {
            sock::socket(AddressFamily::Inet, SockType::Raw, Some(SockProtocol::Icmp))?
        };
        if v6 {
            // struct icmp6_filter: a set bit blocks that type.
            let mut filter = [u32::MAX; 8];
            for t in [
                wire::ICMP6_ECHO_REPLY,
                wire::ICMP6_DEST_UNREACH,
                wire::ICMP6_PACKET_TOO_BIG,
                wire::ICMP6_TIME_EXCEEDED,
            ] {
                filter[usize::from(t >> 5)] &= !(1u32 << (t & 31));
            }
            sys::set_icmp6_filter(fd.as_fd(), &filter)?;
            setsockopt(&fd, sockopt::Ipv6RecvHopLimit, &true)?;
        } else {
            // A set bit filters that type out.
            let pass = (1u32 << wire::ICMP_ECHO_REPLY)
                | (1u32 << wire::ICMP_DEST_UNREACH)
                | (1u32 << wire::ICMP_TIME_EXCEEDED);
            sys::set_icmp_filter(fd.as_fd(), !pass)?;
        }
        sock::tune(fd.as_fd(), 8 << 20, 4 << 20)?;
        Ok(IcmpSocket { fd, v6 })
    }

    /// The same, opened from inside the namespace behind `ns`.
    pub fn open_in(ns: BorrowedFd, v6: bool) -> Result<IcmpSocket, KernelError> {
        netns::within(ns, || IcmpSocket::open(v6))?
    }

    pub fn raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    pub fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// Send one echo request; an error is the kernel's refusal (no route…).
    pub fn send_echo(
        &self,
        dst: IpAddr,
        id: u16,
        seq: u16,
        size: usize,
    ) -> Result<u64, KernelError> {
        let stamp = sock::now_ns();
        let pkt = wire::echo_request(self.v6, id, seq, size, stamp);
        loop {
            let sent = match dst {
                IpAddr::V4(a) => sendto(
                    self.raw_fd(),
                    &pkt,
                    &SockaddrIn::from(SocketAddrV4::new(a, 0)),
                    MsgFlags::empty(),
                ),
                IpAddr::V6(a) => sendto(
                    self.raw_fd(),
                    &pkt,
                    &SockaddrIn6::from(SocketAddrV6::new(a, 0, 0, 0)),
                    MsgFlags::empty(),
                ),
            };
            match sent {
                Ok(_) => return Ok(stamp),
                Err(Errno::EINTR) => continue,
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// The next echo reply or error queued, with the kernel's receive time;
    /// None when nothing (more) is queued.
    pub fn recv(&self, buf: &mut [u8]) -> Result<Option<(Received, u64)>, KernelError> {
        loop {
            let Some(d) = sock::recv(self.raw_fd(), buf)? else {
                return Ok(None);
            };
            let data = &buf[..d.len.min(buf.len())];
            let ts = d.ts_ns.unwrap_or_else(sock::now_ns);
            let parsed = if self.v6 {
                // An AF_INET6 socket reports sockaddr_in6 senders.
                let from = d
                    .from
                    .as_ref()
                    .and_then(|a| a.as_sockaddr_in6())
                    .map_or(Ipv6Addr::UNSPECIFIED, |a| a.ip());
                wire::parse_icmp6(data, from, d.hop_limit)
            } else {
                wire::parse_icmp4(data)
            };
            if let Some(r) = parsed {
                return Ok(Some((r, ts)));
            }
        }
    }
}

/// An ICMP identifier for this run: different for concurrent vnets.
pub fn run_id() -> u16 {
    let t = sock::now_ns();
    (std::process::id() as u16) ^ ((t >> 16) as u16) ^ (t as u16)
}

/// Options of `vnet ping SRC DST`.
#[derive(Clone, Debug)]
pub struct PingOptions {
    pub count: u32,
    pub interval: Duration,
    pub timeout: Duration,
    pub size: usize,
}

/// What happened to one probe, as it happens.
#[derive(Clone, Debug, Serialize)]
#[serde(tag = "event", rename_all = "kebab-case")]
pub enum PingEvent {
    Reply {
        seq: u16,
        from: IpAddr,
        bytes: usize,
        ttl: Option<u8>,
        rtt_ms: f64,
    },
    Error {
        seq: u16,
        #[serde(flatten)]
        error: IcmpError,
    },
    Lost {
        seq: u16,
    },
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct PingStats {
    pub sent: u32,
    pub received: u32,
    pub errors: u32,
    pub rtts_ms: Vec<f64>,
    pub elapsed_ms: f64,
    /// The kernel refused to send (no route, …): why, and nothing more was sent.
    pub refused: Option<String>,
}

/// Ping `dst` through `sock`: `count` probes `interval` apart, each waited
/// for at most `timeout`; events are reported as they happen.
pub fn ping(
    sock: &IcmpSocket,
    dst: IpAddr,
    opts: &PingOptions,
    mut on: impl FnMut(&PingEvent),
) -> Result<PingStats, KernelError> {
    let id = run_id();
    let start = Instant::now();
    let mut poller = Poller::new()?;
    poller.add(sock.as_fd(), 0)?;
    let mut stats = PingStats::default();
    // seq → (sent at ns, deadline); removed when answered or lost.
    let mut pending: Vec<(u16, u64, Instant)> = Vec::new();
    let mut next_send = Instant::now();
    let mut seq: u16 = 0;
    let mut buf = vec![0u8; 65_536];
    let mut ready = Vec::new();
    loop {
        let now = Instant::now();
        if stats.sent < opts.count && now >= next_send {
            seq = seq.wrapping_add(1);
            match sock.send_echo(dst, id, seq, opts.size) {
                Ok(t) => {
                    stats.sent += 1;
                    pending.push((seq, t, now + opts.timeout));
                }
                Err(e) => {
                    stats.refused = Some(why_not_sent(&e));
                    break;
                }
            }
            next_send = now + opts.interval;
        }
        // Probes past their deadline are lost.
        let now = Instant::now();
        pending.retain(|(s, _, deadline)| {
            if now >= *deadline {
                on(&PingEvent::Lost { seq: *s });
                false
            } else {
                true
            }
        });
        if stats.sent >= opts.count && pending.is_empty() {
            break;
        }
        let mut wake = pending
            .iter()
            .map(|p| p.2)
            .min()
            .unwrap_or(now + opts.interval);
        if stats.sent < opts.count {
            wake = wake.min(next_send);
        }
        poller.wait(wake.saturating_duration_since(now), &mut ready)?;
        if ready.is_empty() {
            continue;
        }
        while let Some((r, ts)) = sock.recv(&mut buf)? {
            match r {
                Received::Reply {
                    from,
                    id: rid,
                    seq: s,
                    ttl,
                    len,
                } if rid == id => {
                    if let Some(i) = pending.iter().position(|p| p.0 == s) {
                        let (_, sent, _) = pending.remove(i);
                        let rtt = ts.saturating_sub(sent) as f64 / 1e6;
                        stats.received += 1;
                        stats.rtts_ms.push(rtt);
                        on(&PingEvent::Reply {
                            seq: s,
                            from,
                            bytes: len,
                            ttl,
                            rtt_ms: rtt,
                        });
                    }
                }
                Received::Error {
                    id: rid,
                    seq: s,
                    error,
                    ..
                } if rid == id => {
                    if let Some(i) = pending.iter().position(|p| p.0 == s) {
                        pending.remove(i);
                        stats.errors += 1;
                        on(&PingEvent::Error { seq: s, error });
                    }
                }
                _ => {}
            }
        }
    }
    stats.elapsed_ms = start.elapsed().as_secs_f64() * 1e3;
    Ok(stats)
}

/// A send refused by the kernel, in words.
pub fn why_not_sent(e: &KernelError) -> String {
    match e.errno {
        libc::ENETUNREACH => "no route to the network (network unreachable)".into(),
        libc::EHOSTUNREACH => "no route to the host (host unreachable)".into(),
        libc::EPERM => format!("refused by a firewall rule ({e})"),
        libc::EADDRNOTAVAIL => {
            format!("no address to send from ({e}); for IPv6: is it disabled in the namespace?")
        }
        libc::EACCES => format!("not allowed to send there: a broadcast address? ({e})"),
        libc::EINVAL => format!("the kernel refused it ({e}): a blackhole route?"),
        _ => e.to_string(),
    }
}
