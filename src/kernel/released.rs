//! Wait until the kernel has finished destroying the namespaces released so
//! far. Unmounting a namespace only queues it: the kernel tears namespaces
//! down later, in batches, on one ordered work queue, and that work competes
//! with the next `vnet up` (about 150 ms at a thousand namespaces) unless
//! `down` waits for it.
//!
//! The kernel sends no event when a namespace is gone, so vnet releases a
//! marker of its own after the lab's: a throwaway namespace holding one end
//! of a veth pair whose other end is in the host. The queue is ordered, so
//! when the host end disappears (an RTM_DELLINK event), every namespace
//! released before the marker has been torn down.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::time::{Duration, Instant};

use netlink_packet_core::{NetlinkMessage, NetlinkPayload};
use netlink_packet_route::RouteNetlinkMessage;
use netlink_packet_route::link::LinkAttribute;
use nix::sched::{CloneFlags, unshare};

use super::error::KernelError;
use super::msg::{self, NewIface};
use super::netlink::NlSocket;
use super::ready;

const RTM_DELLINK: u16 = 17;

/// Wait (at most `timeout`) until every namespace released before this call
/// is destroyed. Ok(false): the marker could not be made or did not go in
/// time; nothing is wrong with the lab, the kernel is only still busy.
pub fn wait(host: BorrowedFd, timeout: Duration) -> Result<bool, KernelError> {
    let name = format!("vnsync{}", std::process::id());
    let events = ready::subscribe()?;
    let host_fd = host.as_raw_fd();
    let made = std::thread::scope(|s| {
        s.spawn(|| release_marker(host_fd, &name))
            .join()
            .unwrap_or_else(|_| Err(KernelError::from_errno(libc::EIO)))
    });
    if made.is_err() {
        return Ok(false);
    }
    let deadline = Instant::now() + timeout;
    let mut buf = vec![0u8; 64 << 10];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(false);
        }
        let mut pfd = libc::pollfd {
            fd: events.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        let ms = left.as_millis().min(i32::MAX as u128) as i32;
        // SAFETY: poll on one pollfd we own.
        let r = unsafe { libc::poll(&mut pfd, 1, ms) };
        if r < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e.into());
        }
        match deleted(events.as_fd(), &mut buf, &name) {
            Ok(true) => return Ok(true),
            Ok(false) => {}
            // The queue overflowed: events were lost, ours among them maybe.
            Err(e) if e.raw_os_error() == Some(libc::ENOBUFS) => {
                return Ok(!host_has(&name));
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// On a thread of its own (which then ends, dropping its namespace): enter
/// a new namespace and make the veth pair, its far end in the host.
fn release_marker(host: i32, name: &str) -> Result<(), KernelError> {
    unshare(CloneFlags::CLONE_NEWNET)?;
    let mut sock = NlSocket::open()?;
    let here = NewIface {
        name: "sync0",
        index: 0,
        group: 0,
        mtu: None,
        mac: None,
        up: false,
    };
    let far = NewIface { name, ..here };
    sock.request(
        msg::new_veth(&here, &far, Some(host)),
        msg::NLM_F_CREATE | msg::NLM_F_EXCL,
    )
}

/// Whether the queued events of `fd` include the deletion of `name`.
fn deleted(fd: BorrowedFd, buf: &mut [u8], name: &str) -> io::Result<bool> {
    let mut seen = false;
    loop {
        // SAFETY: recv into our own buffer without blocking.
        let n = unsafe {
            libc::recv(
                fd.as_raw_fd(),
                buf.as_mut_ptr() as *mut libc::c_void,
                buf.len(),
                libc::MSG_DONTWAIT,
            )
        };
        if n < 0 {
            let e = io::Error::last_os_error();
            match e.kind() {
                io::ErrorKind::WouldBlock => return Ok(seen),
                io::ErrorKind::Interrupted => continue,
                _ => return Err(e),
            }
        }
        let n = n as usize;
        let mut off = 0;
        while off + 16 <= n {
            let len = u32::from_ne_bytes([buf[off], buf[off + 1], buf[off + 2], buf[off + 3]]);
            let len = len as usize;
            if len < 16 || off + len > n {
                break;
            }
            let ty = u16::from_ne_bytes([buf[off + 4], buf[off + 5]]);
            if ty == RTM_DELLINK
                && let Ok(NetlinkMessage {
                    payload: NetlinkPayload::InnerMessage(RouteNetlinkMessage::DelLink(l)),
                    ..
                }) = NetlinkMessage::<RouteNetlinkMessage>::deserialize(&buf[off..off + len])
                && l.attributes
                    .iter()
                    .any(|a| matches!(a, LinkAttribute::IfName(n) if n == name))
            {
                seen = true;
            }
            off += (len + 3) & !3;
        }
    }
}

/// Whether the host still has an interface `name`, asked of the kernel.
fn host_has(name: &str) -> bool {
    let Ok(mut sock) = NlSocket::open() else {
        return true;
    };
    let mut m = netlink_packet_route::link::LinkMessage::default();
    m.attributes.push(LinkAttribute::IfName(name.to_string()));
    sock.queue(RouteNetlinkMessage::GetLink(m), 0);
    if sock.flush().is_err() {
        return true;
    }
    !matches!(sock.take_replies(), Err(e) if e.is(libc::ENODEV))
}
