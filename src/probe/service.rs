//! A service probe: one real connection from a socket inside SRC's
//! namespace to DST:PORT. TCP: a non-blocking connect with a timeout, told
//! apart as connected, reset (RST), an ICMP error, or no answer. UDP: one
//! datagram, and any ICMP error it draws (port unreachable …). ICMP errors
//! are read from the socket's error queue (IP_RECVERR / IPV6_RECVERR), so
//! a reject with icmp port-unreachable is never mistaken for a reset.
//! Targets `DST:tcp/PORT` are parsed here too (pure).

use std::net::{IpAddr, SocketAddr};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::socket::{
    AddressFamily, ControlMessageOwned, MsgFlags, SockType, SockaddrStorage, connect, getsockname,
    getsockopt, recvmsg, send, setsockopt, sockopt,
};
use serde::Serialize;

use super::ProbeError;
use super::sock;
use super::wire;
use crate::kernel::netns;
pub use crate::kernel::sockdiag::Proto;

/// A port of a protocol: `tcp/8080`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Service {
    pub proto: Proto,
    pub port: u16,
}

impl std::fmt::Display for Service {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        write!(f, "{}/{}", self.proto.name(), self.port)
    }
}

/// `tcp/8080`, `udp/53`.
pub fn parse_service(s: &str) -> Result<Service, String> {
    let (p, port) = s
        .split_once('/')
        .ok_or_else(|| format!("`{s}`: a service is PROTO/PORT, e.g. tcp/8080 or udp/53"))?;
    let proto = match p.to_ascii_lowercase().as_str() {
        "tcp" => Proto::Tcp,
        "udp" => Proto::Udp,
        _ => return Err(format!("`{p}`: the protocol is tcp or udp")),
    };
    let port: u16 = port
        .parse()
        .ok()
        .filter(|p| *p > 0)
        .ok_or_else(|| format!("`{port}`: a port is a number from 1 to 65535"))?;
    Ok(Service { proto, port })
}

/// `DST:tcp/PORT` → (DST, the service); a DST without `:PROTO/PORT` has
/// none. An IPv6 DST with a service is written in brackets:
/// `[fd00::2]:tcp/80`.
pub fn split_target(t: &str) -> Result<(String, Option<Service>), String> {
    let Some((dst, svc)) = t.rsplit_once(':') else {
        return Ok((t.to_string(), None));
    };
    if !svc.contains('/') {
        // A bare IPv6 address (fd00::2): no service.
        return Ok((t.to_string(), None));
    }
    let dst = dst
        .strip_prefix('[')
        .and_then(|d| d.strip_suffix(']'))
        .unwrap_or(dst);
    if dst.is_empty() {
        return Err(format!("`{t}`: name a node or an address before `:{svc}`"));
    }
    Ok((dst.to_string(), Some(parse_service(svc)?)))
}

/// What the probe saw.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "seen", rename_all = "kebab-case")]
pub enum Seen {
    /// TCP: the handshake completed.
    Connected,
    /// UDP: an answer came back.
    Answered,
    /// UDP: sent, and no error came back (delivered, or silently dropped).
    Sent,
    /// TCP: a reset came back (nothing listens, or a reject with tcp-reset).
    Reset,
    /// An ICMP error came back.
    Icmp {
        icmp_type: u8,
        icmp_code: u8,
        from: Option<IpAddr>,
        text: String,
    },
    /// TCP: no answer within the timeout.
    Timeout,
    /// The kernel refused to send (a local route or filter): its errno.
    NotSent { errno: i32, text: String },
}

#[derive(Clone, Debug, Serialize)]
pub struct ServiceSeen {
    pub service: Service,
    pub dst: IpAddr,
    /// The socket's own address, once it had one.
    pub local: Option<SocketAddr>,
    #[serde(flatten)]
    pub seen: Seen,
    pub ms: f64,
}

impl ServiceSeen {
    /// The service answered (TCP connected, UDP answered or no error).
    pub fn ok(&self) -> bool {
        matches!(self.seen, Seen::Connected | Seen::Answered | Seen::Sent)
    }

    /// In words: "connected in 0.2 ms", "a TCP reset (RST) came back".
    pub fn text(&self) -> String {
        let to = format!("{} to {}", self.service, self.dst);
        match &self.seen {
            Seen::Connected => format!("{to}: connected in {:.1} ms", self.ms),
            Seen::Answered => format!("{to}: an answer came back in {:.1} ms", self.ms),
            Seen::Sent => format!(
                "{to}: sent; no ICMP error came back in {:.1} s (UDP says no more)",
                self.ms / 1e3
            ),
            Seen::Reset => format!("{to}: refused — a TCP reset (RST) came back"),
            Seen::Icmp { text, from, .. } => match from {
                Some(f) => format!("{to}: an ICMP error came back from {f}: {text}"),
                None => format!("{to}: an ICMP error came back: {text}"),
            },
            Seen::Timeout => format!("{to}: no answer in {:.1} s", self.ms / 1e3),
            Seen::NotSent { text, .. } => format!("{to}: not sent — {text}"),
        }
    }
}

/// One connection (TCP) or datagram (UDP) from inside `ns` to
/// `dst`:`service.port`, waiting at most `timeout`.
pub fn probe(
    ns: BorrowedFd,
    dst: IpAddr,
    service: Service,
    timeout: Duration,
) -> Result<ServiceSeen, ProbeError> {
    let v6 = dst.is_ipv6();
    let family = if v6 {
        AddressFamily::Inet6
    } else {
        AddressFamily::Inet
    };
    let ty = match service.proto {
        Proto::Tcp => SockType::Stream,
        Proto::Udp => SockType::Datagram,
    };
    let fd = netns::within(ns, || sock::socket(family, ty, None))
        .map_err(|e| ProbeError::kernel("entering the source's namespace", e))?
        .map_err(|e| ProbeError::kernel("opening the probe's socket", e))?;
    let recverr = if v6 {
        setsockopt(&fd, sockopt::Ipv6RecvErr, &true)
    } else {
        setsockopt(&fd, sockopt::Ipv4RecvErr, &true)
    };
    recverr.map_err(|e| ProbeError::kernel("asking for ICMP errors (IP_RECVERR)", e.into()))?;
    let start = Instant::now();
    let addr = SockaddrStorage::from(SocketAddr::new(dst, service.port));
    let seen = match service.proto {
        Proto::Tcp => tcp(&fd, &addr, timeout, v6),
        Proto::Udp => udp(&fd, &addr, timeout, v6),
    };
    let local = getsockname::<SockaddrStorage>(std::os::fd::AsRawFd::as_raw_fd(&fd))
        .ok()
        .and_then(|s| {
            s.as_sockaddr_in()
                .map(|a| SocketAddr::from(std::net::SocketAddrV4::from(*a)))
                .or_else(|| {
                    s.as_sockaddr_in6()
                        .map(|a| SocketAddr::from(std::net::SocketAddrV6::from(*a)))
                })
        })
        .filter(|a| !a.ip().is_unspecified());
    Ok(ServiceSeen {
        service,
        dst,
        local,
        seen,
        ms: start.elapsed().as_secs_f64() * 1e3,
    })
}

fn not_sent(e: Errno) -> Seen {
    Seen::NotSent {
        errno: e as i32,
        text: format!("{} ({})", e.desc(), e),
    }
}

/// Wait for `flags` on `fd` at most `timeout`; false when it timed out.
fn wait(fd: &OwnedFd, flags: PollFlags, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let ms = PollTimeout::try_from(left.as_millis().min(60_000) as i32 + 1)
            .unwrap_or(PollTimeout::MAX);
        let mut fds = [PollFd::new(fd.as_fd(), flags)];
        match poll(&mut fds, ms) {
            Ok(0) if Instant::now() >= deadline => return false,
            Ok(0) | Err(Errno::EINTR) => continue,
            Ok(_) => return true,
            Err(_) => return false,
        }
    }
}

fn tcp(fd: &OwnedFd, addr: &SockaddrStorage, timeout: Duration, v6: bool) -> Seen {
    use std::os::fd::AsRawFd;
    match connect(fd.as_raw_fd(), addr) {
        Ok(()) => return Seen::Connected,
        Err(Errno::EINPROGRESS) => {}
        Err(e) => return icmp_error(fd, v6).unwrap_or_else(|| not_sent(e)),
    }
    if !wait(fd, PollFlags::POLLOUT, timeout) {
        return icmp_error(fd, v6).unwrap_or(Seen::Timeout);
    }
    match getsockopt(fd, sockopt::SocketError) {
        Ok(0) => Seen::Connected,
        Ok(e) => {
            let e = Errno::from_raw(e);
            icmp_error(fd, v6).unwrap_or(match e {
                Errno::ECONNREFUSED => Seen::Reset,
                Errno::ETIMEDOUT => Seen::Timeout,
                e => not_sent(e),
            })
        }
        Err(e) => not_sent(e),
    }
}

fn udp(fd: &OwnedFd, addr: &SockaddrStorage, timeout: Duration, v6: bool) -> Seen {
    use std::os::fd::AsRawFd;
    if let Err(e) = connect(fd.as_raw_fd(), addr) {
        return not_sent(e);
    }
    if let Err(e) = send(fd.as_raw_fd(), b"vnet doctor\n", MsgFlags::empty()) {
        return icmp_error(fd, v6).unwrap_or_else(|| not_sent(e));
    }
    if !wait(fd, PollFlags::POLLIN, timeout) {
        return icmp_error(fd, v6).unwrap_or(Seen::Sent);
    }
    if let Some(s) = icmp_error(fd, v6) {
        return s;
    }
    let mut buf = [0u8; 64];
    match nix::sys::socket::recv(fd.as_raw_fd(), &mut buf, MsgFlags::MSG_DONTWAIT) {
        Ok(_) => Seen::Answered,
        Err(Errno::ECONNREFUSED) => Seen::Icmp {
            icmp_type: if v6 { 1 } else { 3 },
            icmp_code: if v6 { 4 } else { 3 },
            from: None,
            text: "port unreachable".into(),
        },
        Err(_) => Seen::Sent,
    }
}

/// The first ICMP error on the socket's error queue.
fn icmp_error(fd: &OwnedFd, v6: bool) -> Option<Seen> {
    use std::os::fd::AsRawFd;
    let mut data = [0u8; 256];
    let mut iov = [std::io::IoSliceMut::new(&mut data)];
    let mut cmsg = nix::cmsg_space!(libc::sock_extended_err, libc::sockaddr_in6);
    let msg = recvmsg::<()>(
        fd.as_raw_fd(),
        &mut iov,
        Some(&mut cmsg),
        MsgFlags::MSG_ERRQUEUE | MsgFlags::MSG_DONTWAIT,
    )
    .ok()?;
    for c in msg.cmsgs().ok()? {
        let (ee, from) = match c {
            ControlMessageOwned::Ipv4RecvErr(ee, a) => (
                ee,
                a.map(|a| IpAddr::V4(std::net::Ipv4Addr::from(u32::from_be(a.sin_addr.s_addr)))),
            ),
            ControlMessageOwned::Ipv6RecvErr(ee, a) => (
                ee,
                a.map(|a| IpAddr::from(a.sin6_addr.s6_addr))
                    .map(|ip| match ip {
                        IpAddr::V6(x) => x.to_ipv4_mapped().map_or(ip, IpAddr::V4),
                        ip => ip,
                    }),
            ),
            _ => continue,
        };
        // SO_EE_ORIGIN_ICMP (2), SO_EE_ORIGIN_ICMP6 (3); local errors are not ICMP.
        if ee.ee_origin != 2 && ee.ee_origin != 3 {
            continue;
        }
        return Some(Seen::Icmp {
            icmp_type: ee.ee_type,
            icmp_code: ee.ee_code,
            from,
            text: wire::icmp_error_words(v6 || ee.ee_origin == 3, ee.ee_type, ee.ee_code),
        });
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_with_a_service() {
        let (d, s) = split_target("ns2:tcp/8080").unwrap();
        assert_eq!(d, "ns2");
        assert_eq!(
            s,
            Some(Service {
                proto: Proto::Tcp,
                port: 8080
            })
        );
        assert_eq!(s.unwrap().to_string(), "tcp/8080");
        let (d, s) = split_target("192.168.1.2:UDP/53").unwrap();
        assert_eq!((d.as_str(), s.unwrap().proto), ("192.168.1.2", Proto::Udp));
        let (d, s) = split_target("[fd00::2]:tcp/80").unwrap();
        assert_eq!((d.as_str(), s.unwrap().port), ("fd00::2", 80));
        assert_eq!(split_target("fd00::2").unwrap(), ("fd00::2".into(), None));
        assert_eq!(split_target("ns2").unwrap(), ("ns2".into(), None));
        assert!(split_target("ns2:tcp/0").is_err());
        assert!(split_target("ns2:tcp/99999").is_err());
        assert!(split_target("ns2:sctp/80").is_err());
        assert!(split_target(":tcp/80").is_err());
        assert!(parse_service("tcp").is_err());
    }
}
