//! Socket plumbing shared by the ICMP prober and the packet capture (kernel
//! side): sockets, buffer sizes, receiving with the kernel's timestamp, and
//! one epoll set to wait on many sockets at once. All through nix's safe
//! calls (and `kernel::sys` for what nix lacks).

use std::io::IoSliceMut;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd, RawFd};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use nix::errno::Errno;
use nix::sys::epoll::{Epoll, EpollCreateFlags, EpollEvent, EpollFlags, EpollTimeout};
use nix::sys::resource::{Resource, getrlimit, setrlimit};
use nix::sys::socket::{
    AddressFamily, ControlMessageOwned, MsgFlags, SockFlag, SockProtocol, SockType,
    SockaddrStorage, recvmsg, setsockopt, sockopt,
};

use crate::kernel::KernelError;

/// Raise the soft limit on open files to the hard one: a large matrix
/// holds a raw socket per node and family besides a netlink socket and a
/// namespace fd per node.
pub fn raise_nofile() {
    if let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE)
        && soft < hard
    {
        let _ = setrlimit(Resource::RLIMIT_NOFILE, hard, hard);
    }
}

/// Wall-clock nanoseconds, the clock of SO_TIMESTAMPNS.
pub fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

/// A non-blocking socket (closed on exec) in the calling thread's namespace.
pub fn socket(
    domain: AddressFamily,
    ty: SockType,
    protocol: Option<SockProtocol>,
) -> Result<OwnedFd, KernelError> {
    let flags = SockFlag::SOCK_NONBLOCK | SockFlag::SOCK_CLOEXEC;
    Ok(nix::sys::socket::socket(domain, ty, flags, protocol)?)
}

/// Large buffers (forced past the sysctl limit when allowed) and kernel
/// receive timestamps.
pub fn tune(fd: BorrowedFd, rcvbuf: usize, sndbuf: usize) -> Result<(), KernelError> {
    if setsockopt(&fd, sockopt::RcvBufForce, &rcvbuf).is_err() {
        setsockopt(&fd, sockopt::RcvBuf, &rcvbuf)?;
    }
    if setsockopt(&fd, sockopt::SndBufForce, &sndbuf).is_err() {
        setsockopt(&fd, sockopt::SndBuf, &sndbuf)?;
    }
    Ok(setsockopt(&fd, sockopt::ReceiveTimestampns, &true)?)
}

/// One datagram: its length (possibly more than was kept), the sender's
/// address, the kernel's receive time and the IPv6 hop limit.
pub struct Datagram {
    pub len: usize,
    pub truncated: bool,
    pub from: Option<SockaddrStorage>,
    pub ts_ns: Option<u64>,
    pub hop_limit: Option<u8>,
}

/// Room for the control messages asked for (a timespec and a hop limit),
/// aligned for the cmsghdr structures the kernel writes into it.
#[repr(C, align(8))]
struct ControlBuf([u8; 256]);

/// Receive one datagram without blocking; None when nothing is queued.
pub fn recv(fd: RawFd, buf: &mut [u8]) -> Result<Option<Datagram>, KernelError> {
    let kept = buf.len();
    let mut control = ControlBuf([0; 256]);
    let mut iov = [IoSliceMut::new(buf)];
    let msg = loop {
        match recvmsg::<SockaddrStorage>(
            fd,
            &mut iov,
            Some(&mut control.0),
            MsgFlags::MSG_DONTWAIT | MsgFlags::MSG_TRUNC,
        ) {
            Ok(m) => break m,
            Err(Errno::EINTR) => continue,
            Err(Errno::EAGAIN) => return Ok(None),
            Err(e) => return Err(e.into()),
        }
    };
    let mut ts_ns = None;
    let mut hop_limit = None;
    if let Ok(cmsgs) = msg.cmsgs() {
        for c in cmsgs {
            match c {
                ControlMessageOwned::ScmTimestampns(ts) => {
                    ts_ns = Some(ts.tv_sec() as u64 * 1_000_000_000 + ts.tv_nsec() as u64);
                }
                ControlMessageOwned::Ipv6HopLimit(v) => hop_limit = u8::try_from(v).ok(),
                _ => {}
            }
        }
    }
    Ok(Some(Datagram {
        len: msg.bytes,
        truncated: msg.bytes > kept,
        from: msg.address,
        ts_ns,
        hop_limit,
    }))
}

/// An epoll set; each fd is registered with a token returned when ready.
pub struct Poller {
    ep: Epoll,
    events: Vec<EpollEvent>,
}

impl Poller {
    pub fn new() -> Result<Poller, KernelError> {
        Ok(Poller {
            ep: Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC)?,
            events: vec![EpollEvent::empty(); 256],
        })
    }

    pub fn add(&self, fd: impl AsFd, token: u64) -> Result<(), KernelError> {
        Ok(self
            .ep
            .add(fd, EpollEvent::new(EpollFlags::EPOLLIN, token))?)
    }

    /// Tokens of the ready fds, waiting at most `timeout`.
    pub fn wait(&mut self, timeout: Duration, ready: &mut Vec<u64>) -> Result<(), KernelError> {
        ready.clear();
        let ms = timeout.as_micros().div_ceil(1000).min(i32::MAX as u128) as i32;
        let timeout = EpollTimeout::try_from(ms).unwrap_or(EpollTimeout::MAX);
        let n = match self.ep.wait(&mut self.events, timeout) {
            Ok(n) => n,
            Err(Errno::EINTR) => return Ok(()),
            Err(e) => return Err(e.into()),
        };
        ready.extend(self.events[..n].iter().map(|e| e.data()));
        Ok(())
    }
}
