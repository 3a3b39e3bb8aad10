//! One netlink socket of any protocol (rtnetlink, nfnetlink, sock_diag…),
//! bound to the network namespace of the thread that opened it. Everything
//! about talking netlink is here, once: framing, sequence numbers, requests
//! queued and sent together (many in flight), acknowledgements with the
//! kernel's errno and extended-ack text, dumps read as a stream, multicast
//! subscriptions, buffer sizes. The typed front-ends (`rtnl`, `nfnl`) only
//! build requests and decode answers.

use std::cell::RefCell;
use std::collections::HashSet;
use std::io;
use std::os::fd::{AsFd, BorrowedFd};

use netlink_packet_core::{
    NLM_F_ACK, NLM_F_CAPPED, NLM_F_DUMP, NLM_F_REQUEST, NLMSG_DONE, NLMSG_ERROR, NetlinkBuffer,
    NetlinkDeserializable, NetlinkHeader, NetlinkMessage, NetlinkPayload, NetlinkSerializable,
    NlasIterator,
};
use netlink_sys::{Socket, SocketAddr};
use nix::sys::socket::{setsockopt, sockopt};

use crate::kernel::error::KernelError;

/// Requests sent before acknowledgements are read; bounded so acks never
/// overflow the receive buffer.
pub(crate) const WINDOW: usize = 2048;

/// The window in use: `VNET_WINDOW=1` turns pipelining off (one request,
/// one acknowledgement), for benchmarks that measure what pipelining buys.
pub(crate) fn window() -> usize {
    static W: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *W.get_or_init(|| {
        std::env::var("VNET_WINDOW")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(WINDOW)
            .clamp(1, WINDOW)
    })
}

/// Buffers of a request socket: room for WINDOW acknowledgements and for
/// the datagrams a flush sends.
const RCVBUF: usize = 16 << 20;
const SNDBUF: usize = 4 << 20;
/// A flush sends datagrams of at most this many bytes (whole messages).
const SEND_CHUNK: usize = 1 << 20;
/// struct nlmsghdr.
const NETLINK_HEADER_LEN: usize = 16;
/// NLMSGERR_ATTR_MSG (linux/netlink.h): the extended ack's text.
const NLMSGERR_ATTR_MSG: u16 = 1;

thread_local! {
    // One receive buffer per thread, not per socket: a lab of thousands of
    // namespaces holds thousands of sockets.
    static RX: RefCell<Vec<u8>> = RefCell::new(vec![0u8; RX_SIZE]);
}
const RX_SIZE: usize = 256 << 10;

/// One netlink message as received: its header fields and its bytes
/// (header included).
#[derive(Clone, Copy)]
pub(crate) struct Msg<'a> {
    pub kind: u16,
    pub flags: u16,
    pub seq: u32,
    pub bytes: &'a [u8],
}

impl<'a> Msg<'a> {
    /// What follows the netlink header.
    pub(crate) fn payload(&self) -> &'a [u8] {
        &self.bytes[NETLINK_HEADER_LEN..]
    }

    /// Decode as a message of protocol `T`; None for what `T` cannot parse
    /// (an object this crate does not know is skipped, not fatal).
    pub(crate) fn decode<T: NetlinkDeserializable>(&self) -> Option<T> {
        match NetlinkMessage::<T>::deserialize(self.bytes) {
            Ok(NetlinkMessage {
                payload: NetlinkPayload::InnerMessage(m),
                ..
            }) => Some(m),
            _ => None,
        }
    }

    /// NLMSG_ERROR (an acknowledgement or error) or NLMSG_DONE (a dump's
    /// end, which may carry an error too).
    fn is_end(&self) -> bool {
        self.kind == NLMSG_ERROR || self.kind == NLMSG_DONE
    }
}

/// What came back for a request in flight.
pub(crate) enum Reply<'a> {
    /// One of its reply messages (an object of a GET, a dump entry).
    Message(Msg<'a>),
    /// Its end: the acknowledgement (or a dump's NLMSG_DONE) or its error.
    End(u32, Result<(), KernelError>),
}

pub(crate) struct Transport {
    sock: Socket,
    seq: u32,
    /// Serialized requests not yet sent.
    out: Vec<u8>,
    /// Sequence numbers sent (or queued) whose end is awaited, in order.
    in_flight: Vec<u32>,
}

impl Transport {
    /// A request socket of `protocol` in the calling thread's namespace:
    /// extended acks with the request left out of them, large buffers.
    pub(crate) fn open(protocol: isize) -> io::Result<Transport> {
        let sock = Socket::new(protocol)?;
        sock.set_ext_ack(true)?;
        sock.set_cap_ack(true)?;
        set_buffers(&sock, RCVBUF, Some(SNDBUF));
        Ok(Transport::from_socket(sock))
    }

    /// A socket of `protocol` subscribed to the multicast `groups`, read
    /// with `drain`. `rcvbuf` holds the events that queue up between reads.
    pub(crate) fn listen(protocol: isize, groups: &[u32], rcvbuf: usize) -> io::Result<Transport> {
        let mut sock = Socket::new(protocol)?;
        // Bound first, so the socket has a port id of its own: events the
        // kernel sends by itself carry port id 0 and skip port-0 sockets.
        // (Binding with no groups after subscribing would also clear the
        // subscription.)
        sock.bind(&SocketAddr::new(0, 0))?;
        set_buffers(&sock, rcvbuf, None);
        for g in groups {
            sock.add_membership(*g)?;
        }
        Ok(Transport::from_socket(sock))
    }

    fn from_socket(sock: Socket) -> Transport {
        Transport {
            sock,
            seq: 0,
            out: Vec::new(),
            in_flight: Vec::new(),
        }
    }

    fn next_seq(&mut self) -> u32 {
        self.seq = self.seq.wrapping_add(1).max(1);
        self.seq
    }

    /// Queue a request that the kernel acknowledges (`NLM_F_REQUEST |
    /// NLM_F_ACK | flags`); returns its sequence number.
    pub(crate) fn queue<T: NetlinkSerializable>(&mut self, msg: T, flags: u16) -> u32 {
        let seq = self.next_seq();
        serialize(&mut self.out, msg, NLM_F_REQUEST | NLM_F_ACK | flags, seq);
        self.in_flight.push(seq);
        seq
    }

    /// Queue a message serialized elsewhere (header first, any protocol,
    /// e.g. one part of an nfnetlink batch). Its sequence number is set
    /// here, and NLM_F_REQUEST; with `ack` also NLM_F_ACK, and its end is
    /// awaited by `settle`. EINVAL for bytes that are not one message.
    pub(crate) fn queue_serialized(&mut self, msg: &[u8], ack: bool) -> Result<u32, KernelError> {
        let len = NetlinkBuffer::new_checked(msg)
            .map(|b| b.length() as usize)
            .map_err(|_| KernelError::from_errno(libc::EINVAL))?;
        if len != msg.len() {
            return Err(KernelError::from_errno(libc::EINVAL));
        }
        let seq = self.next_seq();
        let start = self.out.len();
        self.out.extend_from_slice(msg);
        self.out.resize(start + align(len), 0);
        let mut b = NetlinkBuffer::new(&mut self.out[start..]);
        b.set_sequence_number(seq);
        let flags = b.flags() | NLM_F_REQUEST | if ack { NLM_F_ACK } else { 0 };
        b.set_flags(flags);
        if ack {
            self.in_flight.push(seq);
        }
        Ok(seq)
    }

    /// Requests queued or sent whose end has not been read.
    pub(crate) fn queued(&self) -> usize {
        self.in_flight.len()
    }

    /// Send everything queued, in as few system calls as the buffer allows.
    pub(crate) fn flush(&mut self) -> io::Result<()> {
        let mut off = 0;
        while off < self.out.len() {
            // Split on message boundaries, below the send buffer.
            let mut end = off;
            while end < self.out.len() && end - off < SEND_CHUNK {
                end += align(NetlinkBuffer::new(&self.out[end..]).length() as usize);
            }
            let sent = self.sock.send(&self.out[off..end], 0)?;
            if sent != end - off {
                return Err(io::Error::other("short netlink send"));
            }
            off = end;
        }
        self.out.clear();
        Ok(())
    }

    /// Send what is queued, then read until every request in flight has
    /// ended, handing each message that belongs to one of them to `each`
    /// (in the order the kernel sent them). Only the socket failing is an
    /// error; a request's error is its `Reply::End`.
    pub(crate) fn settle(&mut self, mut each: impl FnMut(Reply<'_>)) -> io::Result<()> {
        self.flush()?;
        let mut waiting: HashSet<u32> = self.in_flight.drain(..).collect();
        while !waiting.is_empty() {
            self.recv_each(true, |m| {
                if !waiting.contains(&m.seq) {
                    return;
                }
                if m.is_end() {
                    waiting.remove(&m.seq);
                    each(Reply::End(m.seq, end_result(&m)));
                } else {
                    each(Reply::Message(m));
                }
            })?;
        }
        Ok(())
    }

    /// Send a dump request now (`NLM_F_REQUEST | NLM_F_DUMP`); read it with
    /// `read_dump`. One dump at a time per socket (the kernel's rule), but
    /// many sockets at once.
    pub(crate) fn start_dump<T: NetlinkSerializable>(&mut self, msg: T) -> io::Result<u32> {
        let seq = self.next_seq();
        let mut buf = Vec::new();
        serialize(&mut buf, msg, NLM_F_REQUEST | NLM_F_DUMP, seq);
        self.sock.send(&buf, 0)?;
        Ok(seq)
    }

    /// Read the dump `seq` to its end, handing each object to `each` as it
    /// arrives (nothing is kept: a dump of thousands of links stays small
    /// in memory). Messages of other sequence numbers are dropped.
    pub(crate) fn read_dump(
        &mut self,
        seq: u32,
        mut each: impl FnMut(Msg<'_>),
    ) -> Result<(), KernelError> {
        let mut end: Option<Result<(), KernelError>> = None;
        while end.is_none() {
            self.recv_each(true, |m| {
                if m.seq != seq || end.is_some() {
                    return;
                }
                if m.is_end() {
                    end = Some(end_result(&m));
                } else {
                    each(m);
                }
            })?;
        }
        end.unwrap_or(Ok(()))
    }

    /// Read every queued message without waiting (events of a `listen`
    /// socket). ENOBUFS: the queue overflowed and events were lost.
    pub(crate) fn drain(&self, mut each: impl FnMut(Msg<'_>)) -> io::Result<()> {
        while self.recv_each(false, &mut each)? {}
        Ok(())
    }

    /// Receive one datagram into the thread's buffer and hand each message
    /// in it to `each`. Without `wait`, Ok(false) when none is queued.
    fn recv_each(&self, wait: bool, mut each: impl FnMut(Msg<'_>)) -> io::Result<bool> {
        let flags = if wait { 0 } else { libc::MSG_DONTWAIT };
        RX.with(|rx| {
            let mut rx = rx.borrow_mut();
            let n = loop {
                let mut buf: &mut [u8] = &mut rx[..];
                match self.sock.recv(&mut buf, flags) {
                    Ok(n) => break n.min(RX_SIZE),
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) if !wait && e.kind() == io::ErrorKind::WouldBlock => {
                        return Ok(false);
                    }
                    Err(e) => return Err(e),
                }
            };
            let mut off = 0;
            while off < n {
                let Ok(b) = NetlinkBuffer::new_checked(&rx[off..n]) else {
                    break;
                };
                let len = b.length() as usize;
                each(Msg {
                    kind: b.message_type(),
                    flags: b.flags(),
                    seq: b.sequence_number(),
                    bytes: &rx[off..off + len],
                });
                off += align(len);
            }
            Ok(true)
        })
    }
}

impl AsFd for Transport {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.sock.as_fd()
    }
}

/// Large buffers: the FORCE variants ignore rmem_max/wmem_max (vnet runs
/// with CAP_NET_ADMIN); without it, the plain ones, capped by the sysctls.
/// Best effort: a smaller buffer is slower, not wrong.
fn set_buffers(sock: &Socket, rcv: usize, snd: Option<usize>) {
    if setsockopt(sock, sockopt::RcvBufForce, &rcv).is_err() {
        let _ = setsockopt(sock, sockopt::RcvBuf, &rcv);
    }
    if let Some(snd) = snd
        && setsockopt(sock, sockopt::SndBufForce, &snd).is_err()
    {
        let _ = setsockopt(sock, sockopt::SndBuf, &snd);
    }
}

/// Append one message, header first, to `out`.
fn serialize<T: NetlinkSerializable>(out: &mut Vec<u8>, msg: T, flags: u16, seq: u32) {
    let mut header = NetlinkHeader::default();
    header.flags = flags;
    header.sequence_number = seq;
    let mut m = NetlinkMessage::new(header, NetlinkPayload::InnerMessage(msg));
    m.finalize();
    let start = out.len();
    out.resize(start + m.buffer_len(), 0);
    m.serialize(&mut out[start..]);
}

fn align(len: usize) -> usize {
    (len + 3) & !3
}

/// The outcome an NLMSG_ERROR or NLMSG_DONE message reports: errno 0 is
/// success; otherwise the error with the kernel's extended-ack text when
/// it gave one. (A dump's NLMSG_DONE carries the dump's errno too.)
fn end_result(m: &Msg) -> Result<(), KernelError> {
    let body = m.payload();
    let code = match body.get(..4) {
        Some(c) => i32::from_ne_bytes([c[0], c[1], c[2], c[3]]),
        // An NLMSG_DONE without a code (old kernels) is a clean end.
        None if m.kind == NLMSG_DONE => return Ok(()),
        None => return Err(KernelError::from_errno(libc::EIO)),
    };
    if code == 0 {
        return Ok(());
    }
    Err(KernelError::from_errno(code.saturating_neg()).with_detail(ext_ack_text(m, &body[4..])))
}

/// The NLMSGERR_ATTR_MSG text of an error: its attributes follow the
/// request's header (the whole request unless the ack is capped) in an
/// NLMSG_ERROR, or the code directly in an NLMSG_DONE.
fn ext_ack_text(m: &Msg, after_code: &[u8]) -> Option<String> {
    const NLM_F_ACK_TLVS: u16 = netlink_packet_core::NLM_F_ACK_TLVS;
    if m.flags & NLM_F_ACK_TLVS == 0 {
        return None;
    }
    let attrs = if m.kind == NLMSG_ERROR {
        let request = NetlinkBuffer::new_checked(after_code).ok()?;
        let skip = if m.flags & NLM_F_CAPPED != 0 {
            NETLINK_HEADER_LEN
        } else {
            align(request.length() as usize)
        };
        after_code.get(skip..)?
    } else {
        after_code
    };
    NlasIterator::new(attrs)
        .map_while(Result::ok)
        .find(|a| a.kind() == NLMSGERR_ATTR_MSG)
        .map(|a| {
            let v = a.value();
            let v = v.split(|b| *b == 0).next().unwrap_or(v);
            String::from_utf8_lossy(v).into_owned()
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An NLMSG_ERROR as the kernel writes it for a capped ack with an
    /// extended-ack message.
    fn nack(errno: i32, text: Option<&str>, capped: bool) -> Vec<u8> {
        let request_len: u32 = if capped { 16 } else { 24 };
        let mut body = Vec::new();
        body.extend_from_slice(&(-errno).to_ne_bytes());
        body.extend_from_slice(&request_len.to_ne_bytes());
        body.extend_from_slice(&[0u8; 12]);
        if !capped {
            body.extend_from_slice(&[0xAA; 8]);
        }
        let mut flags = if capped { NLM_F_CAPPED } else { 0 };
        if let Some(t) = text {
            flags |= netlink_packet_core::NLM_F_ACK_TLVS;
            let mut v = t.as_bytes().to_vec();
            v.push(0);
            body.extend_from_slice(&((4 + v.len()) as u16).to_ne_bytes());
            body.extend_from_slice(&NLMSGERR_ATTR_MSG.to_ne_bytes());
            body.extend_from_slice(&v);
            body.resize(align(body.len()), 0);
        }
        let mut out = Vec::new();
        out.extend_from_slice(&((16 + body.len()) as u32).to_ne_bytes());
        out.extend_from_slice(&NLMSG_ERROR.to_ne_bytes());
        out.extend_from_slice(&flags.to_ne_bytes());
        out.extend_from_slice(&7u32.to_ne_bytes());
        out.extend_from_slice(&0u32.to_ne_bytes());
        out.extend_from_slice(&body);
        out
    }

    fn end_of(bytes: &[u8]) -> Result<(), KernelError> {
        let b = NetlinkBuffer::new_checked(bytes).unwrap();
        end_result(&Msg {
            kind: b.message_type(),
            flags: b.flags(),
            seq: b.sequence_number(),
            bytes,
        })
    }

    #[test]
    fn acks_errors_and_their_text() {
        assert_eq!(end_of(&nack(0, None, true)), Ok(()));
        let e = end_of(&nack(libc::EEXIST, None, true)).unwrap_err();
        assert!(e.is(libc::EEXIST) && e.detail.is_none());
        for capped in [true, false] {
            let e = end_of(&nack(libc::EINVAL, Some("bad attribute"), capped)).unwrap_err();
            assert!(e.is(libc::EINVAL));
            assert_eq!(e.detail.as_deref(), Some("bad attribute"));
        }
        // Truncated messages never panic.
        let mut short = nack(libc::EINVAL, Some("x"), true);
        short.truncate(18);
        short[..4].copy_from_slice(&18u32.to_ne_bytes());
        assert!(end_of(&short).is_err());
    }
}
