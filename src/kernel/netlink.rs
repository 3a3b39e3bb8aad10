//! One rtnetlink socket, bound to the namespace of the thread that opened it.
//! Requests are queued and sent together; acknowledgements are read in bulk,
//! so many requests are in flight at once.

use std::io;
use std::os::fd::AsRawFd;

use netlink_packet_core::{
    NLM_F_ACK, NLM_F_DUMP, NLM_F_REQUEST, NetlinkHeader, NetlinkMessage, NetlinkPayload,
};
use netlink_packet_route::RouteNetlinkMessage;
use netlink_sys::{Socket, protocols::NETLINK_ROUTE};

use super::error::KernelError;

const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const NLM_F_ACK_TLVS: u16 = 0x200;
const NLMSGERR_ATTR_MSG: u16 = 1;
/// Requests sent before acknowledgements are read; bounded so acks never
/// overflow the receive buffer.
pub const WINDOW: usize = 2048;

/// The window in use: `VNET_WINDOW=1` turns pipelining off (one request,
/// one acknowledgement), for benchmarks that measure what pipelining buys.
pub fn window() -> usize {
    static W: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *W.get_or_init(|| {
        std::env::var("VNET_WINDOW")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(WINDOW)
            .clamp(1, WINDOW)
    })
}
const RCVBUF: libc::c_int = 16 << 20;
const SNDBUF: libc::c_int = 4 << 20;

/// A request's acknowledgement and the reply messages that came before it.
pub type Answer = (Result<(), KernelError>, Vec<RouteNetlinkMessage>);

pub struct NlSocket {
    sock: Socket,
    seq: u32,
    out: Vec<u8>,
    /// Sequence numbers sent and not yet acknowledged, in order.
    in_flight: Vec<u32>,
}

thread_local! {
    // One receive buffer per thread, not per socket: a lab of thousands of
    // namespaces holds thousands of sockets.
    static RX: std::cell::RefCell<Vec<u8>> = std::cell::RefCell::new(vec![0u8; RX_SIZE]);
}
const RX_SIZE: usize = 256 << 10;

impl NlSocket {
    /// A socket in the calling thread's network namespace.
    pub fn open() -> io::Result<NlSocket> {
        let sock = Socket::new(NETLINK_ROUTE)?;
        sock.set_ext_ack(true)?;
        sock.set_cap_ack(true)?;
        let fd = sock.as_raw_fd();
        // FORCE variants ignore rmem_max (we run with CAP_NET_ADMIN); fall back quietly.
        for (opt, size) in [
            (libc::SO_RCVBUFFORCE, RCVBUF),
            (libc::SO_SNDBUFFORCE, SNDBUF),
        ] {
            // SAFETY: setsockopt with a valid fd and an int-sized option value.
            unsafe {
                libc::setsockopt(
                    fd,
                    libc::SOL_SOCKET,
                    opt,
                    &size as *const libc::c_int as *const libc::c_void,
                    std::mem::size_of::<libc::c_int>() as libc::socklen_t,
                );
            }
        }
        Ok(NlSocket {
            sock,
            seq: 0,
            out: Vec::new(),
            in_flight: Vec::new(),
        })
    }

    pub fn raw_fd(&self) -> i32 {
        self.sock.as_raw_fd()
    }

    /// Queue a request that the kernel acknowledges; returns its sequence number.
    pub fn queue(&mut self, msg: RouteNetlinkMessage, flags: u16) -> u32 {
        self.seq = self.seq.wrapping_add(1).max(1);
        let mut header = NetlinkHeader::default();
        header.flags = NLM_F_REQUEST | NLM_F_ACK | flags;
        header.sequence_number = self.seq;
        let mut m = NetlinkMessage::new(header, NetlinkPayload::from(msg));
        m.finalize();
        let start = self.out.len();
        self.out.resize(start + m.buffer_len(), 0);
        m.serialize(&mut self.out[start..]);
        self.in_flight.push(self.seq);
        self.seq
    }

    pub fn queued(&self) -> usize {
        self.in_flight.len()
    }

    /// Send everything queued, in as few system calls as the buffer allows.
    pub fn flush(&mut self) -> io::Result<()> {
        let mut off = 0;
        while off < self.out.len() {
            // Split on message boundaries, below the send buffer.
            let mut end = off;
            while end < self.out.len() && end - off < (1 << 20) {
                let len = u32::from_ne_bytes(self.out[end..end + 4].try_into().unwrap()) as usize;
                end += align(len);
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

    /// Read the acknowledgement of every request in flight, calling `done`
    /// with each sequence number and its result.
    pub fn collect(
        &mut self,
        mut done: impl FnMut(u32, Result<(), KernelError>),
    ) -> io::Result<()> {
        self.flush()?;
        let mut pending = self.in_flight.len();
        let mut waiting: std::collections::HashSet<u32> = self.in_flight.iter().copied().collect();
        while pending > 0 {
            self.recv_each(|ty, flags, seq, msg| {
                if ty == NLMSG_ERROR && waiting.remove(&seq) {
                    done(seq, parse_ack(msg, flags));
                    pending -= 1;
                }
            })?;
        }
        self.in_flight.clear();
        Ok(())
    }

    /// Requests whose answers matter (GET with a reply): all sent at once,
    /// then each one's reply messages and acknowledgement, in order.
    pub fn exchange(&mut self, msgs: Vec<RouteNetlinkMessage>) -> io::Result<Vec<Answer>> {
        let first = self.seq.wrapping_add(1).max(1);
        let n = msgs.len();
        for m in msgs {
            self.queue(m, 0);
        }
        self.flush()?;
        let mut out: Vec<Answer> = (0..n).map(|_| (Ok(()), Vec::new())).collect();
        let slot = |seq: u32| -> Option<usize> {
            let i = seq.wrapping_sub(first) as usize;
            (i < n).then_some(i)
        };
        let mut pending = n;
        while pending > 0 {
            self.recv_each(|ty, flags, seq, msg| {
                let Some(i) = slot(seq) else { return };
                if ty == NLMSG_ERROR {
                    out[i].0 = parse_ack(msg, flags);
                    pending -= 1;
                } else if let Ok(NetlinkMessage {
                    payload: NetlinkPayload::InnerMessage(m),
                    ..
                }) = NetlinkMessage::<RouteNetlinkMessage>::deserialize(msg)
                {
                    out[i].1.push(m);
                }
            })?;
        }
        self.in_flight.clear();
        Ok(out)
    }

    /// Like `take_replies`, but hands each reply to `each` as it is read,
    /// so thousands of answers never sit in memory at once. Errors of single
    /// requests are skipped; only the socket failing is an error.
    pub fn replies_each(&mut self, mut each: impl FnMut(RouteNetlinkMessage)) -> io::Result<()> {
        self.flush()?;
        let mut waiting: std::collections::HashSet<u32> = self.in_flight.drain(..).collect();
        while !waiting.is_empty() {
            self.recv_each(|ty, _flags, seq, msg| {
                if !waiting.contains(&seq) {
                    return;
                }
                if ty == NLMSG_ERROR {
                    waiting.remove(&seq);
                } else if let Ok(NetlinkMessage {
                    payload: NetlinkPayload::InnerMessage(m),
                    ..
                }) = NetlinkMessage::<RouteNetlinkMessage>::deserialize(msg)
                {
                    each(m);
                }
            })?;
        }
        Ok(())
    }

    /// Read the replies and acknowledgements of everything in flight (GET
    /// requests queued with `queue`), returning the replies.
    pub fn take_replies(&mut self) -> Result<Vec<RouteNetlinkMessage>, KernelError> {
        self.flush()?;
        let mut waiting: std::collections::HashSet<u32> = self.in_flight.drain(..).collect();
        let mut out = Vec::new();
        let mut err = None;
        while !waiting.is_empty() {
            self.recv_each(|ty, flags, seq, msg| {
                if !waiting.contains(&seq) {
                    return;
                }
                if ty == NLMSG_ERROR {
                    waiting.remove(&seq);
                    if let Err(e) = parse_ack(msg, flags) {
                        err.get_or_insert(e);
                    }
                } else if let Ok(NetlinkMessage {
                    payload: NetlinkPayload::InnerMessage(m),
                    ..
                }) = NetlinkMessage::<RouteNetlinkMessage>::deserialize(msg)
                {
                    out.push(m);
                }
            })?;
        }
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
        })
        .map_err(KernelError::from)?;
        result
    }

    /// Send a dump request now; read it with `read_dump`. One dump at a
    /// time per socket (the kernel's rule), but many sockets at once.
    pub fn start_dump(&mut self, msg: RouteNetlinkMessage) -> io::Result<u32> {
        self.seq = self.seq.wrapping_add(1).max(1);
        let mut header = NetlinkHeader::default();
        header.flags = NLM_F_REQUEST | NLM_F_DUMP;
        header.sequence_number = self.seq;
        let mut m = NetlinkMessage::new(header, NetlinkPayload::from(msg));
        m.finalize();
        let mut buf = vec![0u8; m.buffer_len()];
        m.serialize(&mut buf);
        self.sock.send(&buf, 0)?;
        Ok(self.seq)
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
        let mut end: Option<Result<(), KernelError>> = None;
        while end.is_none() {
            self.recv_each(|ty, flags, mseq, msg| {
                if mseq != seq || end.is_some() {
                    return;
                }
                match ty {
                    NLMSG_DONE => end = Some(Ok(())),
                    NLMSG_ERROR => end = Some(parse_ack(msg, flags)),
                    _ => {
                        // An object this crate cannot parse is skipped, not the dump.
                        if let Ok(NetlinkMessage {
                            payload: NetlinkPayload::InnerMessage(m),
                            ..
                        }) = NetlinkMessage::<RouteNetlinkMessage>::deserialize(msg)
                        {
                            each(m);
                        }
                    }
                }
            })?;
        }
        end.unwrap_or(Ok(()))
    }

    pub fn dump(
        &mut self,
        msg: RouteNetlinkMessage,
    ) -> Result<Vec<RouteNetlinkMessage>, KernelError> {
        let seq = self.start_dump(msg)?;
        self.read_dump(seq)
    }

    /// Receive one datagram and hand each netlink message in it to `each`
    /// as (type, flags, sequence, whole message).
    fn recv_each(&mut self, mut each: impl FnMut(u16, u16, u32, &[u8])) -> io::Result<()> {
        let fd = self.sock.as_raw_fd();
        RX.with(|rx| {
            let mut rx = rx.borrow_mut();
            let n = loop {
                // SAFETY: recv into the thread's buffer of the given length.
                let n =
                    unsafe { libc::recv(fd, rx.as_mut_ptr() as *mut libc::c_void, rx.len(), 0) };
                if n >= 0 {
                    break n as usize;
                }
                let e = io::Error::last_os_error();
                if e.kind() != io::ErrorKind::Interrupted {
                    return Err(e);
                }
            };
            let mut off = 0;
            while off + 16 <= n {
                let len = u32::from_ne_bytes(rx[off..off + 4].try_into().unwrap()) as usize;
                if len < 16 || off + len > n {
                    break;
                }
                let ty = u16::from_ne_bytes(rx[off + 4..off + 6].try_into().unwrap());
                let flags = u16::from_ne_bytes(rx[off + 6..off + 8].try_into().unwrap());
                let seq = u32::from_ne_bytes(rx[off + 8..off + 12].try_into().unwrap());
                each(ty, flags, seq, &rx[off..off + len]);
                off += align(len);
            }
            Ok(())
        })
    }
}

fn align(len: usize) -> usize {
    (len + 3) & !3
}

/// An NLMSG_ERROR message: errno 0 is success; otherwise the error and the
/// kernel's extended-ack text when it gave one.
fn parse_ack(msg: &[u8], flags: u16) -> Result<(), KernelError> {
    if msg.len() < 20 {
        return Err(KernelError::from_errno(libc::EIO));
    }
    let code = i32::from_ne_bytes(msg[16..20].try_into().unwrap());
    if code == 0 {
        return Ok(());
    }
    let mut text = None;
    if flags & NLM_F_ACK_TLVS != 0 && msg.len() > 36 {
        // With capped acks the original header (16 bytes) follows the code.
        let mut off = 36;
        while off + 4 <= msg.len() {
            let alen = u16::from_ne_bytes(msg[off..off + 2].try_into().unwrap()) as usize;
            let aty = u16::from_ne_bytes(msg[off + 2..off + 4].try_into().unwrap()) & 0x3fff;
            if alen < 4 || off + alen > msg.len() {
                break;
            }
            if aty == NLMSGERR_ATTR_MSG {
                let s = &msg[off + 4..off + alen];
                let s = s.split(|b| *b == 0).next().unwrap_or(s);
                text = Some(String::from_utf8_lossy(s).into_owned());
            }
            off += align(alen);
        }
    }
    Err(KernelError::from_errno(-code).with_detail(text))
}
