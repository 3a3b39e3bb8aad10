//! Socket plumbing shared by the ICMP prober and the packet capture (kernel
//! side): socket options, receiving with the kernel's timestamp, and one
//! epoll set to wait on many sockets at once.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::kernel::KernelError;

/// Die quietly on a closed stdout (`vnet ping --all | head`), like other
/// command-line tools, instead of failing to print.
pub fn default_sigpipe() {
    // SAFETY: restoring the default disposition of one signal.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

/// Raise the soft limit on open files to the hard one: a large matrix
/// holds a raw socket per node and family besides a netlink socket and a
/// namespace fd per node.
pub fn raise_nofile() {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: reading and writing this process's own limit.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 && lim.rlim_cur < lim.rlim_max {
            lim.rlim_cur = lim.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
}

/// Wall-clock nanoseconds, the clock of SO_TIMESTAMPNS.
pub fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

pub fn socket(domain: i32, ty: i32, protocol: i32) -> Result<OwnedFd, KernelError> {
    // SAFETY: plain socket(2); the fd is owned below.
    let fd = unsafe {
        libc::socket(
            domain,
            ty | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            protocol,
        )
    };
    if fd < 0 {
        return Err(KernelError::last());
    }
    // SAFETY: fd was just returned by socket.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

pub fn setsockopt<T>(fd: RawFd, level: i32, name: i32, value: &T) -> Result<(), KernelError> {
    // SAFETY: value points to a T of the given size.
    let r = unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            value as *const T as *const libc::c_void,
            std::mem::size_of::<T>() as libc::socklen_t,
        )
    };
    if r != 0 {
        return Err(KernelError::last());
    }
    Ok(())
}

/// Large buffers (forced past the sysctl limit when allowed) and kernel
/// receive timestamps.
pub fn tune(fd: RawFd, rcvbuf: i32, sndbuf: i32) -> Result<(), KernelError> {
    if setsockopt(fd, libc::SOL_SOCKET, libc::SO_RCVBUFFORCE, &rcvbuf).is_err() {
        setsockopt(fd, libc::SOL_SOCKET, libc::SO_RCVBUF, &rcvbuf)?;
    }
    if setsockopt(fd, libc::SOL_SOCKET, libc::SO_SNDBUFFORCE, &sndbuf).is_err() {
        setsockopt(fd, libc::SOL_SOCKET, libc::SO_SNDBUF, &sndbuf)?;
    }
    setsockopt(fd, libc::SOL_SOCKET, libc::SO_TIMESTAMPNS, &1i32)
}

/// One datagram: its length (possibly more than was kept), the sender's
/// address bytes, the kernel's receive time and the IPv6 hop limit.
pub struct Datagram {
    pub len: usize,
    pub truncated: bool,
    pub from: libc::sockaddr_storage,
    pub ts_ns: Option<u64>,
    pub hop_limit: Option<u8>,
}

/// Receive one datagram without blocking; None when nothing is queued.
pub fn recv(fd: RawFd, buf: &mut [u8]) -> Result<Option<Datagram>, KernelError> {
    // SAFETY: zeroed plain-old-data structures for recvmsg.
    let mut from: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr() as *mut libc::c_void,
        iov_len: buf.len(),
    };
    let mut control = [0u64; 32];
    // SAFETY: zeroed msghdr, filled in below.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_name = &mut from as *mut _ as *mut libc::c_void;
    msg.msg_namelen = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr() as *mut libc::c_void;
    msg.msg_controllen = std::mem::size_of_val(&control);
    let n = loop {
        // SAFETY: msg points at live buffers of the stated sizes.
        let n = unsafe { libc::recvmsg(fd, &mut msg, libc::MSG_DONTWAIT | libc::MSG_TRUNC) };
        if n >= 0 {
            break n as usize;
        }
        let e = std::io::Error::last_os_error();
        match e.raw_os_error() {
            Some(libc::EINTR) => continue,
            Some(libc::EAGAIN) => return Ok(None),
            _ => return Err(e.into()),
        }
    };
    let mut ts_ns = None;
    let mut hop_limit = None;
    // SAFETY: walking the control messages recvmsg filled in.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(&msg);
        while !c.is_null() {
            let h = &*c;
            if h.cmsg_level == libc::SOL_SOCKET && h.cmsg_type == libc::SO_TIMESTAMPNS {
                let ts = std::ptr::read_unaligned(libc::CMSG_DATA(c) as *const libc::timespec);
                ts_ns = Some(ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64);
            } else if h.cmsg_level == libc::IPPROTO_IPV6 && h.cmsg_type == libc::IPV6_HOPLIMIT {
                let v = std::ptr::read_unaligned(libc::CMSG_DATA(c) as *const i32);
                hop_limit = u8::try_from(v).ok();
            }
            c = libc::CMSG_NXTHDR(&msg, c);
        }
    }
    Ok(Some(Datagram {
        len: n,
        truncated: n > buf.len(),
        from,
        ts_ns,
        hop_limit,
    }))
}

/// An epoll set; each fd is registered with a token returned when ready.
pub struct Poller {
    ep: OwnedFd,
    events: Vec<libc::epoll_event>,
}

impl Poller {
    pub fn new() -> Result<Poller, KernelError> {
        // SAFETY: epoll_create1 with a valid flag.
        let fd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        if fd < 0 {
            return Err(KernelError::last());
        }
        Ok(Poller {
            // SAFETY: fd was just returned by epoll_create1.
            ep: unsafe { OwnedFd::from_raw_fd(fd) },
            events: vec![libc::epoll_event { events: 0, u64: 0 }; 256],
        })
    }

    pub fn add(&self, fd: RawFd, token: u64) -> Result<(), KernelError> {
        let mut ev = libc::epoll_event {
            events: libc::EPOLLIN as u32,
            u64: token,
        };
        // SAFETY: registering a live fd with a valid event.
        if unsafe { libc::epoll_ctl(self.ep.as_raw_fd(), libc::EPOLL_CTL_ADD, fd, &mut ev) } != 0 {
            return Err(KernelError::last());
        }
        Ok(())
    }

    /// Tokens of the ready fds, waiting at most `timeout`.
    pub fn wait(&mut self, timeout: Duration, ready: &mut Vec<u64>) -> Result<(), KernelError> {
        ready.clear();
        let ms = timeout.as_micros().div_ceil(1000).min(i32::MAX as u128) as i32;
        // SAFETY: the events buffer has the stated capacity.
        let n = unsafe {
            libc::epoll_wait(
                self.ep.as_raw_fd(),
                self.events.as_mut_ptr(),
                self.events.len() as i32,
                ms,
            )
        };
        if n < 0 {
            let e = KernelError::last();
            return if e.is(libc::EINTR) { Ok(()) } else { Err(e) };
        }
        ready.extend(self.events[..n as usize].iter().map(|e| e.u64));
        Ok(())
    }
}
