//! Wait until the kernel has finished destroying the namespaces released so
//! far. Unmounting a namespace only queues it: the kernel tears namespaces
//! down later, in batches, on one ordered work queue, and that work competes
//! with the next `vnet up` (about 150 ms at a thousand namespaces) unless
//! `down` waits for it.
//!
//! The kernel sends no event when a namespace is gone, so vnet releases a
//! marker of its own after the lab's: a throwaway namespace holding one end
//! of a veth pair whose other end is in a second throwaway namespace, the
//! listener, kept alive by the event socket opened in it. The queue is
//! ordered, so when the listener's end disappears (an RTM_DELLINK event),
//! every namespace released before the marker has been torn down. Neither
//! namespace is ever visible from the host: a `down` killed while it waits
//! leaves nothing behind (both go with the process).

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::time::{Duration, Instant};

use netlink_packet_route::RouteNetlinkMessage;
use netlink_packet_route::link::LinkAttribute;
use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sched::{CloneFlags, unshare};

use super::error::KernelError;
use super::msg::{self, NewIface};
use super::netlink::{LinkEvents, NlSocket};
use super::netns;

/// The listener's end of the marker pair (its namespace is ours alone).
const FAR_END: &str = "vnsync0";

/// Wait (at most `timeout`) until every namespace released before this call
/// is destroyed. Ok(false): the marker could not be made or did not go in
/// time; nothing is wrong with the lab, the kernel is only still busy.
pub(crate) fn wait(timeout: Duration) -> Result<bool, KernelError> {
    // On threads of their own: unshare moves only the calling thread, and
    // the thread ends there (vnet's own threads keep their namespace).
    let listener = std::thread::scope(|s| {
        s.spawn(open_listener)
            .join()
            .unwrap_or_else(|_| Err(KernelError::from_errno(libc::EIO)))
    });
    let Ok((events, listener)) = listener else {
        return Ok(false);
    };
    let made = std::thread::scope(|s| {
        s.spawn(|| release_marker(listener.as_raw_fd()))
            .join()
            .unwrap_or_else(|_| Err(KernelError::from_errno(libc::EIO)))
    });
    if made.is_err() {
        return Ok(false);
    }
    let deadline = Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(false);
        }
        let ms = left.as_millis().min(i32::MAX as u128) as i32;
        let mut pfd = [PollFd::new(events.as_fd(), PollFlags::POLLIN)];
        match poll(
            &mut pfd,
            PollTimeout::try_from(ms).unwrap_or(PollTimeout::MAX),
        ) {
            Ok(_) => {}
            Err(Errno::EINTR) => continue,
            Err(e) => return Err(e.into()),
        }
        match deleted(&events, FAR_END) {
            Ok(true) => return Ok(true),
            Ok(false) => {}
            // The queue overflowed: events were lost, ours among them maybe.
            Err(e) if e.raw_os_error() == Some(libc::ENOBUFS) => {
                return Ok(!still_there(listener.as_fd()));
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// A new namespace with a link-event socket in it: the socket and the
/// namespace (whose only other reference is that socket).
fn open_listener() -> Result<(LinkEvents, OwnedFd), KernelError> {
    unshare(CloneFlags::CLONE_NEWNET)?;
    let events = LinkEvents::subscribe()?;
    Ok((events, netns::current()?))
}

/// Enter a new namespace and make the veth pair, its far end in the
/// listener. The thread then ends, releasing the namespace.
fn release_marker(listener: i32) -> Result<(), KernelError> {
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
    let far = NewIface {
        name: FAR_END,
        ..here
    };
    sock.request(
        msg::new_veth(&here, &far, Some(listener)),
        msg::NLM_F_CREATE | msg::NLM_F_EXCL,
    )
}

/// Whether the queued events include the deletion of `name`.
fn deleted(events: &LinkEvents, name: &str) -> io::Result<bool> {
    let mut seen = false;
    events.drain(|m| {
        if let RouteNetlinkMessage::DelLink(l) = m
            && l.attributes
                .iter()
                .any(|a| matches!(a, LinkAttribute::IfName(n) if n == name))
        {
            seen = true;
        }
    })?;
    Ok(seen)
}

/// Whether the listener still has the marker's far end, asked of the
/// kernel from a thread that enters the listener.
fn still_there(listener: BorrowedFd) -> bool {
    std::thread::scope(|s| {
        s.spawn(|| {
            netns::within(listener, || {
                let Ok(mut sock) = NlSocket::open() else {
                    return true;
                };
                let mut m = netlink_packet_route::link::LinkMessage::default();
                m.attributes
                    .push(LinkAttribute::IfName(FAR_END.to_string()));
                sock.queue(RouteNetlinkMessage::GetLink(m), 0);
                if sock.flush().is_err() {
                    return true;
                }
                !matches!(sock.take_replies(), Err(e) if e.is(libc::ENODEV))
            })
            .unwrap_or(true)
        })
        .join()
        .unwrap_or(true)
    })
}
