//! rtnetlink (NETLINK_ROUTE) over the transport: a request socket typed
//! with netlink-packet-route's messages, and link-event subscriptions.
//! Requests are queued and sent together; acknowledgements are read in
//! bulk, so many requests are in flight at once.

use std::io;
use std::os::fd::{AsFd, BorrowedFd};

use netlink_packet_route::RouteNetlinkMessage;
use netlink_sys::protocols::NETLINK_ROUTE;

use super::transport::{Reply, Transport};
use crate::kernel::error::KernelError;

/// RTNLGRP_LINK (linux/rtnetlink.h): link events.
const RTNLGRP_LINK: u32 = 1;
/// RTM_NEWLINK, RTM_DELLINK (linux/rtnetlink.h).
const RTM_NEWLINK: u16 = 16;
const RTM_DELLINK: u16 = 17;
/// Room for the link events of a large build queued before the first read.
const EVENTS_RCVBUF: usize = 64 << 20;

/// A request's acknowledgement and the reply messages that came before it.
pub(crate) type Answer = (Result<(), KernelError>, Vec<RouteNetlinkMessage>);

/// An rtnetlink socket, bound to the namespace of the thread that opened it.
pub struct NlSocket {
    t: Transport,
}

impl NlSocket {
    /// A socket in the calling thread's network namespace.
    pub fn open() -> io::Result<NlSocket> {
        Ok(NlSocket {
            t: Transport::open(NETLINK_ROUTE)?,
        })
    }

    /// Queue a request that the kernel acknowledges; returns its sequence number.
    pub fn queue(&mut self, msg: RouteNetlinkMessage, flags: u16) -> u32 {
        self.t.queue(msg, flags)
    }

    pub fn queued(&self) -> usize {
        self.t.queued()
    }

    /// Send everything queued, in as few system calls as the buffer allows.
    pub fn flush(&mut self) -> io::Result<()> {
        self.t.flush()
    }

    /// Read the acknowledgement of every request in flight, calling `done`
    /// with each sequence number and its result.
    pub fn collect(
        &mut self,
        mut done: impl FnMut(u32, Result<(), KernelError>),
    ) -> io::Result<()> {
        self.t.settle(|r| {
            if let Reply::End(seq, result) = r {
                done(seq, result);
            }
        })
    }

    /// Requests whose answers matter (GET with a reply): all sent at once,
    /// then each one's reply messages and acknowledgement, in order.
    pub fn exchange(&mut self, msgs: Vec<RouteNetlinkMessage>) -> io::Result<Vec<Answer>> {
        let seqs: Vec<u32> = msgs.into_iter().map(|m| self.t.queue(m, 0)).collect();
        let first = seqs.first().copied().unwrap_or(0);
        let n = seqs.len();
        let mut out: Vec<Answer> = (0..n).map(|_| (Ok(()), Vec::new())).collect();
        // Sequence numbers are consecutive from `first`.
        let slot = |seq: u32| -> Option<usize> {
            let i = seq.wrapping_sub(first) as usize;
            (i < n).then_some(i)
        };
        self.t.settle(|r| match r {
            Reply::End(seq, result) => {
                if let Some(i) = slot(seq) {
                    out[i].0 = result;
                }
            }
            Reply::Message(m) => {
                if let (Some(i), Some(msg)) = (slot(m.seq), m.decode()) {
                    out[i].1.push(msg);
                }
            }
        })?;
        Ok(out)
    }

    /// Like `take_replies`, but hands each reply to `each` as it is read,
    /// so thousands of answers never sit in memory at once. Errors of single
    /// requests are skipped; only the socket failing is an error.
    pub fn replies_each(&mut self, mut each: impl FnMut(RouteNetlinkMessage)) -> io::Result<()> {
        self.t.settle(|r| {
            if let Reply::Message(m) = r
                && let Some(msg) = m.decode()
            {
                each(msg);
            }
        })
    }

    /// Read the replies and acknowledgements of everything in flight (GET
    /// requests queued with `queue`), returning the replies.
    pub fn take_replies(&mut self) -> Result<Vec<RouteNetlinkMessage>, KernelError> {
        let mut out = Vec::new();
        let mut err = None;
        self.t.settle(|r| match r {
            Reply::End(_, Err(e)) => {
                err.get_or_insert(e);
            }
            Reply::End(_, Ok(())) => {}
            Reply::Message(m) => out.extend(m.decode()),
        })?;
        match err {
            Some(e) if out.is_empty() => Err(e),
            _ => Ok(out),
        }
    }

    /// One request, waited for.
    pub fn request(&mut self, msg: RouteNetlinkMessage, flags: u16) -> Result<(), KernelError> {
        let seq = self.queue(msg, flags);
        let mut result = Ok(());
        self.collect(|s, r| {
            if s == seq {
                result = r;
            }
        })?;
        result
    }

    /// Send a dump request now; read it with `read_dump`. One dump at a
    /// time per socket (the kernel's rule), but many sockets at once.
    pub fn start_dump(&mut self, msg: RouteNetlinkMessage) -> io::Result<u32> {
        self.t.start_dump(msg)
    }

    pub fn read_dump(&mut self, seq: u32) -> Result<Vec<RouteNetlinkMessage>, KernelError> {
        let mut out = Vec::new();
        self.read_dump_each(seq, |m| out.push(m))?;
        Ok(out)
    }

    /// Read a dump, handing each object to `each` as it arrives (nothing
    /// is kept: a dump of thousands of links stays small in memory).
    pub fn read_dump_each(
        &mut self,
        seq: u32,
        mut each: impl FnMut(RouteNetlinkMessage),
    ) -> Result<(), KernelError> {
        // An object this crate cannot parse is skipped, not the dump.
        self.t.read_dump(seq, |m| {
            if let Some(msg) = m.decode() {
                each(msg);
            }
        })
    }

    pub fn dump(
        &mut self,
        msg: RouteNetlinkMessage,
    ) -> Result<Vec<RouteNetlinkMessage>, KernelError> {
        let seq = self.start_dump(msg)?;
        self.read_dump(seq)
    }
}

/// A socket subscribed to the link events (new, changed, deleted links) of
/// the namespace of the thread that opened it.
pub(crate) struct LinkEvents {
    t: Transport,
}

impl LinkEvents {
    pub(crate) fn subscribe() -> Result<LinkEvents, KernelError> {
        Ok(LinkEvents {
            t: Transport::listen(NETLINK_ROUTE, &[RTNLGRP_LINK], EVENTS_RCVBUF)?,
        })
    }

    /// Read every queued event without waiting, handing each link message
    /// (new or deleted) to `each`. ENOBUFS: the queue overflowed and events
    /// were lost.
    pub(crate) fn drain(&self, mut each: impl FnMut(&RouteNetlinkMessage)) -> io::Result<()> {
        self.t.drain(|m| {
            if (m.kind == RTM_NEWLINK || m.kind == RTM_DELLINK)
                && let Some(msg) = m.decode()
            {
                each(&msg);
            }
        })
    }
}

impl AsFd for LinkEvents {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.t.as_fd()
    }
}
