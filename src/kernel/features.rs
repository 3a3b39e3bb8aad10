//! What this kernel offers for link conditions, found by trying: a child
//! process enters a throwaway network namespace (its own user namespace
//! too when vnet runs without root) and asks for a netem qdisc and a tbf
//! qdisc on its `lo`, and for an nftables netdev chain on `lo`'s egress
//! hook. The kernel loads modules on demand, so a yes means it works here;
//! the answer is kept for the rest of the run. Nothing outside the
//! throwaway namespace changes (bar a module the kernel chose to load).
//!
//! A process, not a thread: a thread cannot enter a new user namespace in
//! a process with other threads. The child makes only system calls, on
//! buffers prepared before the fork.

use std::sync::OnceLock;

use netlink_packet_core::{
    NLM_F_ACK, NLM_F_REQUEST, NetlinkHeader, NetlinkMessage, NetlinkPayload,
};

use super::nft_write::{self, LossChange};
use super::qdisc;
use crate::model::conditions::{Conditions, Percent, Rate, Support, Time};

const NETEM: i32 = 1;
const TBF: i32 = 2;
const NFT: i32 = 4;
/// The child could not enter a namespace: nothing was learned.
const UNPROBED: i32 = 64;
const NLMSG_ERROR: u16 = 2;
const LO: u32 = 1;

/// The kernel's support, probed on first use.
pub fn support() -> Support {
    static S: OnceLock<Support> = OnceLock::new();
    *S.get_or_init(probe)
}

fn wire(req: qdisc::Request, seq: u32) -> Vec<u8> {
    let mut header = NetlinkHeader::default();
    header.flags = NLM_F_REQUEST | NLM_F_ACK | req.1;
    header.sequence_number = seq;
    let mut m = NetlinkMessage::new(header, NetlinkPayload::from(req.0));
    m.finalize();
    let mut buf = vec![0u8; m.buffer_len()];
    m.serialize(&mut buf);
    buf
}

/// One request to try: its bytes, how many acknowledgements it earns,
/// the netlink protocol, and the bit it sets when every ack is a success.
struct Try {
    bytes: Vec<u8>,
    acks: usize,
    protocol: i32,
    bit: i32,
}

fn probe() -> Support {
    let netem = Conditions {
        delay: Some(Time(1000)),
        ..Conditions::default()
    };
    let loss = nft_write::batch(
        "vnet-probe",
        &[LossChange {
            dev: "lo".into(),
            from: None,
            to: Some(Percent(1)),
        }],
    )
    .unwrap_or_default();
    let tries = [
        Try {
            bytes: wire(qdisc::netem(LO, &netem), 1),
            acks: 1,
            protocol: libc::NETLINK_ROUTE,
            bit: NETEM,
        },
        Try {
            bytes: wire(qdisc::tbf(LO, Rate(1_000_000), 65536), 2),
            acks: 1,
            protocol: libc::NETLINK_ROUTE,
            bit: TBF,
        },
        Try {
            acks: 1,
            bytes: loss.bytes,
            protocol: libc::NETLINK_NETFILTER,
            bit: NFT,
        },
    ];
    let mut rx = vec![0u8; 16 << 10];
    // SAFETY: the child only makes system calls on memory prepared here,
    // then _exit()s; the parent waits for it.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        let code = child(&tries, &mut rx);
        // SAFETY: leave the child without running the parent's destructors.
        unsafe { libc::_exit(code) };
    }
    if pid < 0 {
        return Support::default();
    }
    let mut status = 0;
    loop {
        // SAFETY: waiting for our own child.
        let r = unsafe { libc::waitpid(pid, &mut status, 0) };
        if r == pid {
            break;
        }
        if r < 0 && std::io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
            return Support::default();
        }
    }
    if !libc::WIFEXITED(status) {
        return Support::default();
    }
    let code = libc::WEXITSTATUS(status);
    if code & UNPROBED != 0 {
        return Support::default();
    }
    Support {
        netem: code & NETEM != 0,
        tbf: code & TBF != 0,
        nft_egress: code & NFT != 0,
        probed: true,
    }
}

/// In the child: a new network namespace (and user namespace when not
/// root), then each try on its own socket. Returns the exit code.
fn child(tries: &[Try], rx: &mut [u8]) -> i32 {
    // SAFETY: plain system calls.
    unsafe {
        if libc::unshare(libc::CLONE_NEWNET) != 0
            && libc::unshare(libc::CLONE_NEWUSER | libc::CLONE_NEWNET) != 0
        {
            return UNPROBED;
        }
    }
    let mut code = 0;
    for t in tries {
        if !t.bytes.is_empty() && attempt(t, rx) {
            code |= t.bit;
        }
    }
    code
}

/// Send one try and read its acknowledgements: true when all succeed.
fn attempt(t: &Try, rx: &mut [u8]) -> bool {
    // SAFETY: plain system calls on buffers owned by the caller.
    unsafe {
        let fd = libc::socket(
            libc::AF_NETLINK,
            libc::SOCK_RAW | libc::SOCK_CLOEXEC,
            t.protocol,
        );
        if fd < 0 {
            return false;
        }
        // A kernel that never answers must not hang the run.
        let tv = libc::timeval {
            tv_sec: 5,
            tv_usec: 0,
        };
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_RCVTIMEO,
            &tv as *const libc::timeval as *const libc::c_void,
            std::mem::size_of::<libc::timeval>() as libc::socklen_t,
        );
        let sent = libc::send(
            fd,
            t.bytes.as_ptr() as *const libc::c_void,
            t.bytes.len(),
            0,
        );
        let mut ok = sent == t.bytes.len() as isize;
        let mut acks = 0;
        while ok && acks < t.acks {
            let n = libc::recv(fd, rx.as_mut_ptr() as *mut libc::c_void, rx.len(), 0);
            if n <= 0 {
                ok = false;
                break;
            }
            let n = n as usize;
            let mut off = 0;
            while off + 20 <= n {
                let len =
                    u32::from_ne_bytes([rx[off], rx[off + 1], rx[off + 2], rx[off + 3]]) as usize;
                if len < 16 || off + len > n {
                    break;
                }
                let ty = u16::from_ne_bytes([rx[off + 4], rx[off + 5]]);
                if ty == NLMSG_ERROR {
                    let code = i32::from_ne_bytes([
                        rx[off + 16],
                        rx[off + 17],
                        rx[off + 18],
                        rx[off + 19],
                    ]);
                    acks += 1;
                    if code != 0 {
                        ok = false;
                    }
                }
                off += (len + 3) & !3;
            }
        }
        libc::close(fd);
        ok
    }
}
