//! The pair of sockets a run goes over (kernel side): the server's opened
//! inside DST on the address the client aims at, the client's inside SRC.
//! Both are this process's, so the server's port (free, unless `--port`)
//! goes to the client directly, and the server accepts only the client's
//! own connection (another one to that port is closed).

use std::io::ErrorKind;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::os::fd::AsFd;
use std::time::{Duration, Instant};

use nix::sys::socket::{setsockopt, sockopt};

use super::report::HEADER_LEN;
use super::{Connection, Ends, PerfOptions};
use crate::kernel::{KernelError, netns, sockopt as kopt};
use crate::probe::ProbeError;
use crate::probe::icmp::why_not_sent;
use crate::probe::sock::Poller;

/// How long the client's connection may take, and the server's wait for it.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// UDP payload per datagram when not given: iperf3's.
pub const UDP_LENGTH: usize = 1448;
/// The UDP receiver's buffer: room for bursts at high rates.
const UDP_RCVBUF: usize = 4 << 20;

/// `f` on the calling thread inside the namespace `ns`.
fn inside<T>(
    ns: std::os::fd::BorrowedFd,
    f: impl FnOnce() -> std::io::Result<T>,
) -> Result<T, KernelError> {
    netns::within(ns, f)?.map_err(|e| {
        // std's connect_timeout says "timed out" without an errno.
        if e.raw_os_error().is_none() && e.kind() == ErrorKind::TimedOut {
            KernelError::from_errno(libc::ETIMEDOUT)
        } else {
            KernelError::from(e)
        }
    })
}

/// A bind refused, in words.
fn bind_error(e: KernelError, ends: &Ends, at: SocketAddr) -> ProbeError {
    match e.errno {
        libc::EADDRINUSE => ProbeError::Usage(format!(
            "port {} is taken in {}: leave --port out to use a free one",
            at.port(),
            ends.dst
        )),
        libc::EADDRNOTAVAIL => ProbeError::Usage(format!(
            "{} is not an address of {} (its interface down, or the address still tentative?)",
            at.ip(),
            ends.dst
        )),
        _ => ProbeError::kernel(format!("listen on {at} in {}", ends.dst), e),
    }
}

fn connect_error(e: KernelError, ends: &Ends, to: SocketAddr) -> ProbeError {
    let why = match e.errno {
        libc::ETIMEDOUT | libc::EAGAIN | libc::EINPROGRESS => format!(
            "no answer within {} s (packets dropped on the way? try: vnet doctor {} {})",
            CONNECT_TIMEOUT.as_secs(),
            ends.src,
            ends.dst
        ),
        libc::ECONNREFUSED => {
            "refused (a firewall rule rejecting it? the server was listening)".into()
        }
        _ => why_not_sent(&e),
    };
    ProbeError::Failed(format!(
        "{} cannot connect to {to} in {}: {why}",
        ends.src, ends.dst
    ))
}

/// A connected TCP pair: (client in SRC, server's end in DST).
pub fn tcp(
    ends: &Ends,
    port: Option<u16>,
) -> Result<(TcpStream, TcpStream, Connection), ProbeError> {
    let at = SocketAddr::new(ends.dst_addr, port.unwrap_or(0));
    let listener =
        inside(ends.dst_ns, || TcpListener::bind(at)).map_err(|e| bind_error(e, ends, at))?;
    let remote = listener
        .local_addr()
        .map_err(|e| ProbeError::kernel("read the server's port", e.into()))?;
    let client = inside(ends.src_ns, || {
        TcpStream::connect_timeout(&remote, CONNECT_TIMEOUT)
    })
    .map_err(|e| connect_error(e, ends, remote))?;
    let local = client
        .local_addr()
        .map_err(|e| ProbeError::kernel("read the client's address", e.into()))?;
    let server = accept_from(&listener, local)
        .map_err(|e| ProbeError::kernel(format!("accept the connection in {}", ends.dst), e))?;
    Ok((
        client,
        server,
        Connection {
            local,
            remote,
            length: None,
        },
    ))
}

/// The listener's connection from `peer`, waited for at most
/// `CONNECT_TIMEOUT` (the client is connected already: it is in the queue
/// or about to be).
fn accept_from(l: &TcpListener, peer: SocketAddr) -> Result<TcpStream, KernelError> {
    l.set_nonblocking(true)?;
    let mut poller = Poller::new()?;
    poller.add(l.as_fd(), 0)?;
    let deadline = Instant::now() + CONNECT_TIMEOUT;
    let mut ready = Vec::new();
    loop {
        match l.accept() {
            Ok((s, from)) if from.ip() == peer.ip() && from.port() == peer.port() => {
                s.set_nonblocking(false)?;
                return Ok(s);
            }
            // Someone else's: closed as it goes out of scope.
            Ok(_) => continue,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) if e.kind() == ErrorKind::WouldBlock => {}
            Err(e) => return Err(e.into()),
        }
        let now = Instant::now();
        if now >= deadline {
            return Err(KernelError::from_errno(libc::ETIMEDOUT));
        }
        poller.wait(deadline - now, &mut ready)?;
    }
}

/// A connected UDP pair: (client in SRC, server in DST), each connected to
/// the other, so each hears only its peer.
pub fn udp(
    ends: &Ends,
    opts: &PerfOptions,
) -> Result<(UdpSocket, UdpSocket, Connection), ProbeError> {
    let at = SocketAddr::new(ends.dst_addr, opts.port.unwrap_or(0));
    let server =
        inside(ends.dst_ns, || UdpSocket::bind(at)).map_err(|e| bind_error(e, ends, at))?;
    let remote = server
        .local_addr()
        .map_err(|e| ProbeError::kernel("read the server's port", e.into()))?;
    let any: IpAddr = if remote.is_ipv6() {
        Ipv6Addr::UNSPECIFIED.into()
    } else {
        Ipv4Addr::UNSPECIFIED.into()
    };
    let client = inside(ends.src_ns, || {
        let s = UdpSocket::bind(SocketAddr::new(any, 0))?;
        s.connect(remote)?;
        Ok(s)
    })
    .map_err(|e| connect_error(e, ends, remote))?;
    let local = client
        .local_addr()
        .map_err(|e| ProbeError::kernel("read the client's address", e.into()))?;
    server.connect(local).map_err(|e| {
        ProbeError::Failed(format!(
            "{} cannot send back to {}: {}",
            ends.dst,
            local.ip(),
            why_not_sent(&e.into())
        ))
    })?;
    let receiver = if opts.reverse { &client } else { &server };
    for s in [&client, &server] {
        // Forced past net.core.rmem_max when allowed (root), else as asked.
        let r = setsockopt(&s.as_fd(), sockopt::RcvBufForce, &UDP_RCVBUF);
        if r.is_err() && std::ptr::eq(s, receiver) {
            let _ = setsockopt(&s.as_fd(), sockopt::RcvBuf, &UDP_RCVBUF);
        }
    }
    let sender = if opts.reverse { &server } else { &client };
    let length = match opts.length {
        Some(l) => l,
        None => fitting_length(sender, remote.is_ipv6()),
    };
    Ok((
        client,
        server,
        Connection {
            local,
            remote,
            length: Some(length),
        },
    ))
}

/// UDP payload that fits the path's MTU, at most iperf3's 1448.
fn fitting_length(s: &UdpSocket, v6: bool) -> usize {
    let headers = if v6 { 48 } else { 28 };
    match kopt::path_mtu(s.as_fd(), v6) {
        Ok(mtu) if mtu as usize > headers + HEADER_LEN => UDP_LENGTH.min(mtu as usize - headers),
        _ => UDP_LENGTH,
    }
}
