//! The few system calls that no safe API of std, nix or netlink-sys covers,
//! each behind a safe wrapper with its safety argument written once, here.
//! This is the only module allowed to hold `unsafe` (the crate root denies
//! it everywhere else); everything else reaches the kernel through those
//! crates' safe functions or through these.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::sync::atomic::{AtomicBool, Ordering};

use nix::sys::signal::{SaFlags, SigAction, SigHandler, SigSet, Signal, sigaction};

/// SOL_RAW: the level of raw IPv4 sockets' own options.
const SOL_RAW: libc::c_int = 255;
/// ICMP_FILTER (linux/icmp.h) at SOL_RAW; ICMP6_FILTER
/// (linux/icmpv6.h) at IPPROTO_ICMPV6. Neither is in nix or libc.
const ICMP_FILTER: libc::c_int = 1;
const ICMP6_FILTER: libc::c_int = 1;

fn result(r: libc::c_int) -> io::Result<()> {
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Set an option whose value is plain bytes the kernel copies in.
fn set_option_bytes(
    fd: BorrowedFd,
    level: libc::c_int,
    name: libc::c_int,
    value: &[u8],
) -> io::Result<()> {
    // SAFETY: `value` is a live, initialised buffer of exactly the length
    // passed; setsockopt only reads it (copy_from_user) and keeps no
    // pointer. `fd` is borrowed, so it stays open for the call. The two
    // callers pass options whose value holds no pointers (ICMP filters).
    result(unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            level,
            name,
            value.as_ptr().cast(),
            value.len() as libc::socklen_t,
        )
    })
}

/// Read an option whose value is plain bytes the kernel copies out (such
/// as `struct tcp_info`); returns how many bytes it wrote into `buf`.
pub(crate) fn get_option_bytes(
    fd: BorrowedFd,
    level: libc::c_int,
    name: libc::c_int,
    buf: &mut [u8],
) -> io::Result<usize> {
    let mut len = buf.len() as libc::socklen_t;
    // SAFETY: `buf` is a live, writable buffer of `len` bytes; getsockopt
    // writes at most `len` bytes into it (copy_to_user, truncated to the
    // length given) and stores the length it wrote back in `len`, a live
    // local. `fd` is borrowed, so it stays open for the call.
    result(unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            level,
            name,
            buf.as_mut_ptr().cast(),
            &mut len,
        )
    })?;
    Ok((len as usize).min(buf.len()))
}

/// ICMP_FILTER of a raw IPv4 ICMP socket: a set bit `1 << type` drops
/// that ICMP type before it is queued.
pub(crate) fn set_icmp_filter(fd: BorrowedFd, blocked: u32) -> io::Result<()> {
    set_option_bytes(fd, SOL_RAW, ICMP_FILTER, &blocked.to_ne_bytes())
}

/// ICMP6_FILTER of a raw ICMPv6 socket (struct icmp6_filter: 256 bits, a
/// set bit blocks that type).
pub(crate) fn set_icmp6_filter(fd: BorrowedFd, blocked: &[u32; 8]) -> io::Result<()> {
    let mut bytes = [0u8; 32];
    for (chunk, word) in bytes.chunks_exact_mut(4).zip(blocked) {
        chunk.copy_from_slice(&word.to_ne_bytes());
    }
    set_option_bytes(fd, libc::IPPROTO_ICMPV6, ICMP6_FILTER, &bytes)
}

/// Bind an AF_PACKET socket to one interface, receiving `protocol` (an
/// ETH_P_* number in host order). nix can read a `sockaddr_ll` but offers
/// no safe way to build one.
pub(crate) fn bind_packet(fd: BorrowedFd, protocol: u16, ifindex: u32) -> io::Result<()> {
    let sll = libc::sockaddr_ll {
        sll_family: libc::AF_PACKET as libc::c_ushort,
        sll_protocol: protocol.to_be(),
        sll_ifindex: ifindex as libc::c_int,
        sll_hatype: 0,
        sll_pkttype: 0,
        sll_halen: 0,
        sll_addr: [0; 8],
    };
    // SAFETY: `sll` is a fully initialised sockaddr_ll and the length passed
    // is its size; bind only reads it. `fd` is borrowed, so open.
    result(unsafe {
        libc::bind(
            fd.as_raw_fd(),
            (&raw const sll).cast(),
            std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
        )
    })
}

/// Raised by SIGINT, SIGTERM or SIGHUP once [`raise_on_termination`] ran.
pub(crate) static TERMINATION: AtomicBool = AtomicBool::new(false);

extern "C" fn on_termination(_: libc::c_int) {
    TERMINATION.store(true, Ordering::SeqCst);
}

/// Make SIGINT, SIGTERM and SIGHUP only raise [`TERMINATION`], so that an
/// operation can stop at its next step and roll back instead of dying.
pub(crate) fn raise_on_termination() {
    let action = SigAction::new(
        SigHandler::Handler(on_termination),
        SaFlags::empty(),
        SigSet::empty(),
    );
    for s in [Signal::SIGINT, Signal::SIGTERM, Signal::SIGHUP] {
        // SAFETY: the handler only stores to an atomic, which is
        // async-signal-safe, and touches nothing else of the program.
        let _ = unsafe { sigaction(s, &action) };
    }
}

/// pidfd_open(2): a descriptor of process `pid` that polls readable once
/// the process has ended, so that a process which is not our child (the
/// rootless holder) can be waited for without polling /proc. nix has no
/// wrapper for it.
pub(crate) fn pidfd_open(pid: i32) -> io::Result<std::os::fd::OwnedFd> {
    use std::os::fd::FromRawFd;
    // SAFETY: pidfd_open takes a pid and a flags word (both plain integers)
    // and returns a new descriptor or -1 with errno set; it touches no
    // memory of ours.
    let r = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `r` is a descriptor the kernel just opened for us and that
    // nothing else owns; OwnedFd closes it once.
    Ok(unsafe { std::os::fd::OwnedFd::from_raw_fd(r as libc::c_int) })
}

/// Send `signal` to the process a pidfd names (pidfd_send_signal(2)).
/// A process that has already exited answers ESRCH, never another process.
pub(crate) fn pidfd_send_signal(fd: BorrowedFd, signal: libc::c_int) -> io::Result<()> {
    // SAFETY: the fd is borrowed (open for the call); the siginfo pointer
    // is null, which the call accepts (a plain kill-like signal).
    let r = unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            fd.as_raw_fd(),
            signal,
            std::ptr::null::<libc::siginfo_t>(),
            0u32,
        )
    };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// Make the process `cmd` starts the leader of a new session (setsid(2)
/// between fork and exec), so it is detached from vnet's terminal and
/// process group. std offers no safe way to run code in the child.
pub(crate) fn new_session(cmd: &mut std::process::Command) {
    use std::os::unix::process::CommandExt;
    // SAFETY: the closure runs in the forked child before exec and calls
    // only setsid, which is async-signal-safe; it allocates nothing and
    // touches no lock.
    unsafe {
        cmd.pre_exec(|| {
            libc::setsid();
            Ok(())
        });
    }
}

/// Keep glibc's allocator to `n` arenas (a long-running server with a few
/// threads otherwise holds freed memory in an arena per thread), and give
/// back what the heap holds free: `vnet serve` stays small. No-ops where
/// the C library is not glibc.
pub(crate) fn limit_malloc_arenas(n: i32) {
    #[cfg(target_env = "gnu")]
    // SAFETY: mallopt only sets an allocator parameter; M_ARENA_MAX takes
    // any positive count and is read at the next arena creation.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, n);
    }
    #[cfg(not(target_env = "gnu"))]
    let _ = n;
}

/// Return free heap memory to the kernel (glibc's malloc_trim).
pub(crate) fn trim_heap() {
    #[cfg(target_env = "gnu")]
    // SAFETY: malloc_trim takes the allocator's own locks and only releases
    // pages no allocation uses; it has no pointer arguments.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// ioctl(2) requests on namespace files (linux/nsfs.h): `_IO(0xb7, N)`.
pub(crate) const NS_GET_USERNS: libc::c_ulong = 0xb701;
pub(crate) const NS_GET_PARENT: libc::c_ulong = 0xb702;
pub(crate) const NS_GET_NSTYPE: libc::c_ulong = 0xb703;

/// NS_GET_USERNS or NS_GET_PARENT: a new descriptor of the user namespace
/// that owns namespace `fd`, or of a user namespace's parent. nix has no
/// wrapper for the nsfs ioctls.
pub(crate) fn ns_related(
    fd: BorrowedFd,
    request: libc::c_ulong,
) -> io::Result<std::os::fd::OwnedFd> {
    use std::os::fd::FromRawFd;
    // SAFETY: both requests take no argument and return a new descriptor
    // or -1 with errno set; the kernel touches no memory of ours. `fd` is
    // borrowed, so it stays open for the call.
    let r = unsafe { libc::ioctl(fd.as_raw_fd(), request as _) };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `r` is a descriptor the kernel just opened for us and that
    // nothing else owns; OwnedFd closes it once.
    Ok(unsafe { std::os::fd::OwnedFd::from_raw_fd(r) })
}

/// NS_GET_NSTYPE: the CLONE_NEW* flag of namespace `fd`.
pub(crate) fn ns_type(fd: BorrowedFd) -> io::Result<libc::c_int> {
    // SAFETY: the request takes no argument and returns the type or -1
    // with errno set; `fd` is borrowed, so it stays open for the call.
    let r = unsafe { libc::ioctl(fd.as_raw_fd(), NS_GET_NSTYPE as _) };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}
