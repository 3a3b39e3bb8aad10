//! Listening on interfaces (kernel side): one AF_PACKET socket per
//! interface, opened from inside its namespace and bound to it, so it sees
//! the frames that interface sends (PACKET_OUTGOING) and receives, with the
//! kernel's timestamps. Listening changes nothing: no promiscuous mode.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd, RawFd};

use nix::sys::socket::{AddressFamily, SockType};

use super::path::Dir;
use super::sock;
use crate::kernel::{KernelError, netns, sys};

const ETH_P_ALL: u16 = 0x0003;
const PACKET_OUTGOING: u8 = 4;

/// A packet socket bound to one interface of the calling thread's
/// namespace. It is made with protocol 0 (deaf) and starts listening at
/// bind, so it never sees another interface's frames.
pub fn open(ifindex: u32) -> Result<OwnedFd, KernelError> {
    let fd = sock::socket(AddressFamily::Packet, SockType::Raw, None)?;
    sock::tune(fd.as_fd(), 8 << 20, 1 << 16)?;
    sys::bind_packet(fd.as_fd(), ETH_P_ALL, ifindex)?;
    Ok(fd)
}

/// The same, from inside the namespace behind `ns`.
pub fn open_in(ns: BorrowedFd, ifindex: u32) -> Result<OwnedFd, KernelError> {
    netns::within(ns, || open(ifindex))?
}

/// Close packet sockets on many threads at once. Each close waits for an
/// RCU grace period (packet_release calls synchronize_net), some 10 ms:
/// one after the other, the 200 ports of a big bridge take seconds; side
/// by side their grace periods are shared.
pub fn close_all(fds: Vec<OwnedFd>) {
    if fds.len() < 4 {
        return;
    }
    let threads = 64.min(fds.len());
    let mut chunks: Vec<Vec<OwnedFd>> = (0..threads).map(|_| Vec::new()).collect();
    for (i, fd) in fds.into_iter().enumerate() {
        chunks[i % threads].push(fd);
    }
    std::thread::scope(|s| {
        for chunk in chunks {
            s.spawn(move || drop(chunk));
        }
    });
}

/// One captured frame.
pub struct Frame {
    pub ts_ns: u64,
    pub dir: Dir,
    pub data: Vec<u8>,
    pub orig_len: usize,
}

/// Every frame queued on `fd`, without blocking.
pub fn drain(fd: RawFd, buf: &mut [u8], out: &mut Vec<Frame>) -> Result<(), KernelError> {
    loop {
        let d = match sock::recv(fd, buf) {
            Ok(Some(d)) => d,
            Ok(None) => return Ok(()),
            // The interface is (or went) down: reported once, then quiet.
            Err(e) if e.is(libc::ENETDOWN) || e.is(libc::ENXIO) => continue,
            Err(e) => return Err(e),
        };
        // A packet socket reports sockaddr_ll senders.
        let pkttype = d
            .from
            .as_ref()
            .and_then(|a| a.as_link_addr())
            .map(|l| l.pkttype());
        out.push(Frame {
            ts_ns: d.ts_ns.unwrap_or_else(sock::now_ns),
            dir: if pkttype == Some(PACKET_OUTGOING) {
                Dir::Out
            } else {
                Dir::In
            },
            data: buf[..d.len.min(buf.len())].to_vec(),
            orig_len: d.len,
        });
    }
}

/// Kernel receive timestamps switched on machine-wide for as long as this
/// lives, and known to be on.
///
/// The kernel stamps packets only while some socket asks for stamps, and
/// turns stamping on from a deferred work item (net_enable_timestamp), so
/// frames crossing an interface right after the first capture socket
/// opened may carry no stamp; a packet socket then gets its read time
/// instead (false_tstamp in __sock_recv_timestamp), and frames read
/// together look simultaneous, grouped by interface. A socket that asks
/// for stamps is opened first and a datagram to itself over loopback tells
/// when stamping is on: stamped on the way in, it is older than the moment
/// its read begins; stamped at read, it is not.
pub struct Timestamps {
    _sock: Option<std::net::UdpSocket>,
}

impl Timestamps {
    pub fn on() -> Timestamps {
        let sock = std::net::UdpSocket::bind("127.0.0.1:0").ok();
        if let Some(s) = &sock {
            let _ = nix::sys::socket::setsockopt(
                s,
                nix::sys::socket::sockopt::ReceiveTimestampns,
                &true,
            );
            wait_until_stamped(s);
        }
        Timestamps { _sock: sock }
    }
}

/// Bounded: where loopback does not work (lo down) or the work item is
/// slow, the trace goes on and frames keep the order they were read in.
fn wait_until_stamped(s: &std::net::UdpSocket) {
    use std::os::fd::AsRawFd;
    let Ok(me) = s.local_addr() else { return };
    let start = std::time::Instant::now();
    let mut buf = [0u8; 16];
    while start.elapsed() < std::time::Duration::from_secs(1) {
        if s.send_to(b"t", me).is_err() {
            return;
        }
        let before = sock::now_ns();
        match sock::recv(s.as_raw_fd(), &mut buf) {
            Ok(Some(d)) if d.ts_ns.is_some_and(|ts| ts < before) => return,
            Ok(_) => std::thread::yield_now(),
            Err(_) => return,
        }
    }
}
