//! nfnetlink (NETLINK_NETFILTER) over the transport: requests to any
//! netfilter subsystem (nf_tables, conntrack…), addressed with a struct
//! nfgenmsg, and dumps read as a stream. Writers build their messages with
//! [`NfRequest`] and queue them on [`Nfnl::transport`] (a batch is
//! NFNL_MSG_BATCH_BEGIN, the changes, NFNL_MSG_BATCH_END, sent together).

use std::io;

use netlink_packet_core::NetlinkSerializable;
use netlink_sys::protocols::NETLINK_NETFILTER;

use super::transport::Transport;
use crate::kernel::error::KernelError;

/// NFNL_SUBSYS_* (linux/netfilter/nfnetlink.h).
pub(crate) const NFNL_SUBSYS_NFTABLES: u8 = 10;
/// nfgenmsg.version.
const NFNETLINK_V0: u8 = 0;
/// NFPROTO_UNSPEC: every family (in a dump request).
pub(crate) const NFPROTO_UNSPEC: u8 = 0;
/// struct nfgenmsg: family, version, res_id (big-endian).
const NFGENMSG_LEN: usize = 4;

/// One nfnetlink message: the subsystem and its message type, the
/// nfgenmsg fields and the attributes, already encoded.
pub(crate) struct NfRequest<'a> {
    pub subsys: u8,
    pub msg: u8,
    pub family: u8,
    pub res_id: u16,
    pub attrs: &'a [u8],
}

impl NetlinkSerializable for NfRequest<'_> {
    fn message_type(&self) -> u16 {
        (u16::from(self.subsys) << 8) | u16::from(self.msg)
    }

    fn buffer_len(&self) -> usize {
        NFGENMSG_LEN + self.attrs.len()
    }

    fn serialize(&self, buffer: &mut [u8]) {
        buffer[0] = self.family;
        buffer[1] = NFNETLINK_V0;
        buffer[2..4].copy_from_slice(&self.res_id.to_be_bytes());
        buffer[NFGENMSG_LEN..NFGENMSG_LEN + self.attrs.len()].copy_from_slice(self.attrs);
    }
}

/// An nfnetlink socket, bound to the namespace of the thread that opened it.
pub(crate) struct Nfnl {
    t: Transport,
}

impl Nfnl {
    pub(crate) fn open() -> io::Result<Nfnl> {
        Ok(Nfnl {
            t: Transport::open(NETLINK_NETFILTER)?,
        })
    }

    /// Dump every object of message type `msg` of `subsys` in every
    /// family, handing each one's family and attribute bytes to `each` as
    /// it arrives.
    pub(crate) fn dump(
        &mut self,
        subsys: u8,
        msg: u8,
        mut each: impl FnMut(u8, &[u8]),
    ) -> Result<(), KernelError> {
        let seq = self.t.start_dump(NfRequest {
            subsys,
            msg,
            family: NFPROTO_UNSPEC,
            res_id: 0,
            attrs: &[],
        })?;
        self.t.read_dump(seq, |m| {
            let body = m.payload();
            if body.len() >= NFGENMSG_LEN {
                each(body[0], &body[NFGENMSG_LEN..]);
            }
        })
    }

    /// The socket itself, for requests other than dumps (transactions).
    pub(crate) fn transport(&mut self) -> &mut Transport {
        &mut self.t
    }
}
