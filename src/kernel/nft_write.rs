//! Loss rules written over nfnetlink (no `nft`): every change of one
//! namespace in one batch (NFNL_MSG_BATCH_BEGIN … BATCH_END), which the
//! kernel applies all or nothing. The messages are nft's own, byte for
//! byte (tested against a captured `nft -f`); `model::loss` has the shape.
//!
//! `exchange` is the one function that touches the socket: pre-serialized
//! batch in, each message's acknowledgement out. It is meant to become a
//! call into the shared netlink transport once that exists.

use std::os::fd::{AsRawFd, BorrowedFd};

use netlink_sys::{Socket, protocols::NETLINK_NETFILTER};

use super::error::KernelError;
use super::{netns, nft};
use crate::model::conditions::Percent;
use crate::model::loss::{self, CMP_LT, MODULUS, SINK_IFINDEX};
use crate::model::nft::{NETDEV, NETDEV_EGRESS, NF_ACCEPT};

const NFNL_SUBSYS_NFTABLES: u16 = 10;
const NFNL_MSG_BATCH_BEGIN: u16 = 0x10;
const NFNL_MSG_BATCH_END: u16 = 0x11;
const NFT_MSG_NEWTABLE: u16 = 0;
const NFT_MSG_DELTABLE: u16 = 2;
const NFT_MSG_NEWCHAIN: u16 = 3;
const NFT_MSG_DELCHAIN: u16 = 5;
const NFT_MSG_NEWRULE: u16 = 6;
const NFT_MSG_DELRULE: u16 = 8;

const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_ACK: u16 = 0x4;
const NLM_F_CREATE: u16 = 0x400;
const NLM_F_APPEND: u16 = 0x800;
const NLM_F_ACK_TLVS: u16 = 0x200;
const NLMSG_ERROR: u16 = 2;
const NLA_F_NESTED: u16 = 0x8000;

/// One interface's loss, from what the kernel holds to what is wanted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LossChange {
    pub dev: String,
    pub from: Option<Percent>,
    pub to: Option<Percent>,
}

/// A batch ready to send. Only its last message asks for an
/// acknowledgement (errors come unasked): the kernel delivers every answer
/// at the end of the batch, and thousands would overflow the socket.
#[derive(Clone, Debug, Default)]
pub struct Batch {
    pub bytes: Vec<u8>,
    /// The sequence number of the message whose acknowledgement ends it.
    pub last: u32,
    /// The batch-begin message's: an error there means nothing was read.
    pub begin: u32,
    /// Where the last message awaiting an ack starts in `bytes`.
    last_at: usize,
    seq: u32,
}

/// Interfaces per batch: the batch is one message to the kernel, which
/// must fit the socket's send buffer.
pub const CHUNK: usize = 250;

fn attr(out: &mut Vec<u8>, ty: u16, value: &[u8]) {
    out.extend_from_slice(&((4 + value.len()) as u16).to_ne_bytes());
    out.extend_from_slice(&ty.to_ne_bytes());
    out.extend_from_slice(value);
    while !out.len().is_multiple_of(4) {
        out.push(0);
    }
}

fn nest(out: &mut Vec<u8>, ty: u16, inner: &[u8]) {
    attr(out, ty | NLA_F_NESTED, inner);
}

fn string(s: &str) -> Vec<u8> {
    let mut v = s.as_bytes().to_vec();
    v.push(0);
    v
}

fn be32(v: u32) -> [u8; 4] {
    v.to_be_bytes()
}

/// One expression: its name and its data attributes.
fn expr(name: &str, data: &[u8]) -> Vec<u8> {
    let mut e = Vec::new();
    attr(&mut e, 1, &string(name)); // NFTA_EXPR_NAME
    nest(&mut e, 2, data); // NFTA_EXPR_DATA
    let mut elem = Vec::new();
    nest(&mut elem, 1, &e); // NFTA_LIST_ELEM
    elem
}

/// `numgen random mod 1000000 < PPM counter fwd to "lo"`, as nft encodes
/// it (numgen leaves a number in host order; nft turns it big-endian for
/// the comparison, which compares bytes); at 100% only `counter fwd to
/// "lo"` (nft refuses a bound past the modulus). See `model::loss` for why
/// the packet is sent to `lo` rather than dropped.
pub fn rule_exprs(loss: Percent) -> Vec<u8> {
    let mut out = Vec::new();
    if loss.0 < MODULUS {
        let mut numgen = Vec::new();
        attr(&mut numgen, 1, &be32(1)); // NFTA_NG_DREG: register 1
        attr(&mut numgen, 2, &be32(MODULUS)); // NFTA_NG_MODULUS
        attr(&mut numgen, 3, &be32(1)); // NFTA_NG_TYPE: NFT_NG_RANDOM
        attr(&mut numgen, 4, &be32(0)); // NFTA_NG_OFFSET
        let mut order = Vec::new();
        attr(&mut order, 1, &be32(1)); // SREG
        attr(&mut order, 2, &be32(1)); // DREG
        attr(&mut order, 3, &be32(1)); // OP: NFT_BYTEORDER_HTON
        attr(&mut order, 4, &be32(4)); // LEN
        attr(&mut order, 5, &be32(4)); // SIZE
        let mut value = Vec::new();
        attr(&mut value, 1, &be32(loss.0)); // NFTA_DATA_VALUE
        let mut cmp = Vec::new();
        attr(&mut cmp, 1, &be32(1)); // SREG
        attr(&mut cmp, 2, &be32(CMP_LT)); // OP
        nest(&mut cmp, 3, &value); // DATA
        out.extend(expr("numgen", &numgen));
        out.extend(expr("byteorder", &order));
        out.extend(expr("cmp", &cmp));
    }
    // lo's index, in host order, into register 1; then out through it.
    let mut lo = Vec::new();
    attr(&mut lo, 1, &SINK_IFINDEX.to_ne_bytes()); // NFTA_DATA_VALUE
    let mut imm = Vec::new();
    attr(&mut imm, 1, &be32(1)); // NFTA_IMMEDIATE_DREG: register 1
    nest(&mut imm, 2, &lo); // NFTA_IMMEDIATE_DATA
    let mut fwd = Vec::new();
    attr(&mut fwd, 1, &be32(1)); // NFTA_FWD_SREG_DEV
    out.extend(expr("counter", &[]));
    out.extend(expr("immediate", &imm));
    out.extend(expr("fwd", &fwd));
    out
}

impl Batch {
    fn message(&mut self, ty: u16, flags: u16, family: u8, res_id: u16, body: &[u8]) -> u32 {
        self.seq += 1;
        let len = 16 + 4 + body.len();
        self.bytes.extend_from_slice(&(len as u32).to_ne_bytes());
        self.bytes.extend_from_slice(&ty.to_ne_bytes());
        self.bytes.extend_from_slice(&flags.to_ne_bytes());
        self.bytes.extend_from_slice(&self.seq.to_ne_bytes());
        self.bytes.extend_from_slice(&0u32.to_ne_bytes());
        // struct nfgenmsg: family, NFNETLINK_V0, res_id (big-endian).
        self.bytes.push(family);
        self.bytes.push(0);
        self.bytes.extend_from_slice(&res_id.to_be_bytes());
        self.bytes.extend_from_slice(body);
        self.seq
    }

    fn nft(&mut self, msg: u16, flags: u16, body: &[u8]) {
        self.last_at = self.bytes.len();
        self.last = self.message(
            (NFNL_SUBSYS_NFTABLES << 8) | msg,
            NLM_F_REQUEST | flags,
            NETDEV,
            0,
            body,
        );
    }

    fn begin() -> Batch {
        let mut b = Batch::default();
        b.begin = b.message(
            NFNL_MSG_BATCH_BEGIN,
            NLM_F_REQUEST,
            0,
            NFNL_SUBSYS_NFTABLES,
            &[],
        );
        b
    }

    fn end(mut self) -> Batch {
        // The last message asks for the acknowledgement.
        let at = self.last_at + 6;
        let flags = u16::from_ne_bytes([self.bytes[at], self.bytes[at + 1]]) | NLM_F_ACK;
        self.bytes[at..at + 2].copy_from_slice(&flags.to_ne_bytes());
        self.message(
            NFNL_MSG_BATCH_END,
            NLM_F_REQUEST,
            0,
            NFNL_SUBSYS_NFTABLES,
            &[],
        );
        self
    }

    fn table(&mut self, table: &str) {
        let mut b = Vec::new();
        attr(&mut b, 1, &string(table)); // NFTA_TABLE_NAME
        attr(&mut b, 2, &be32(0)); // NFTA_TABLE_FLAGS
        self.nft(NFT_MSG_NEWTABLE, 0, &b);
    }

    fn chain(&mut self, table: &str, dev: &str) {
        let mut hook = Vec::new();
        attr(&mut hook, 1, &be32(NETDEV_EGRESS)); // NFTA_HOOK_HOOKNUM
        attr(&mut hook, 2, &be32(0)); // NFTA_HOOK_PRIORITY
        attr(&mut hook, 3, &string(dev)); // NFTA_HOOK_DEV
        let mut b = Vec::new();
        attr(&mut b, 1, &string(table)); // NFTA_CHAIN_TABLE
        attr(&mut b, 3, &string(&loss::chain_name(dev))); // NFTA_CHAIN_NAME
        attr(&mut b, 7, &string("filter")); // NFTA_CHAIN_TYPE
        attr(&mut b, 5, &be32(NF_ACCEPT as u32)); // NFTA_CHAIN_POLICY
        nest(&mut b, 4, &hook); // NFTA_CHAIN_HOOK
        self.nft(NFT_MSG_NEWCHAIN, NLM_F_CREATE, &b);
    }

    fn table_chain(table: &str, dev: &str) -> Vec<u8> {
        let mut b = Vec::new();
        attr(&mut b, 1, &string(table)); // NFTA_RULE_TABLE / NFTA_CHAIN_TABLE
        attr(&mut b, 2, &string(&loss::chain_name(dev))); // NFTA_RULE_CHAIN
        b
    }

    fn rule(&mut self, table: &str, dev: &str, loss: Percent) {
        let mut b = Batch::table_chain(table, dev);
        nest(&mut b, 4, &rule_exprs(loss)); // NFTA_RULE_EXPRESSIONS
        self.nft(NFT_MSG_NEWRULE, NLM_F_CREATE | NLM_F_APPEND, &b);
    }

    /// Every rule of the chain (`nft flush chain`).
    fn flush(&mut self, table: &str, dev: &str) {
        self.nft(NFT_MSG_DELRULE, 0, &Batch::table_chain(table, dev));
    }

    fn delete_chain(&mut self, table: &str, dev: &str) {
        let mut b = Vec::new();
        attr(&mut b, 1, &string(table)); // NFTA_CHAIN_TABLE
        attr(&mut b, 3, &string(&loss::chain_name(dev))); // NFTA_CHAIN_NAME
        self.nft(NFT_MSG_DELCHAIN, 0, &b);
    }

    fn delete_table(&mut self, table: &str) {
        let mut b = Vec::new();
        attr(&mut b, 1, &string(table));
        self.nft(NFT_MSG_DELTABLE, 0, &b);
    }
}

/// The batches that bring each interface's loss from `from` to `to`, a
/// few hundred interfaces each.
pub fn batches(table: &str, changes: &[LossChange]) -> Vec<Batch> {
    let real: Vec<LossChange> = changes.iter().filter(|c| c.from != c.to).cloned().collect();
    real.chunks(CHUNK).filter_map(|c| batch(table, c)).collect()
}

/// The batch that brings each interface's loss from `from` to `to`:
/// the table (made if missing), a chain per interface gaining a loss, its
/// rule replaced when the loss changes, the chain gone when it is lifted.
/// None when nothing changes.
pub fn batch(table: &str, changes: &[LossChange]) -> Option<Batch> {
    let changes: Vec<&LossChange> = changes.iter().filter(|c| c.from != c.to).collect();
    if changes.is_empty() {
        return None;
    }
    let mut b = Batch::begin();
    if changes.iter().any(|c| c.to.is_some()) {
        b.table(table);
    }
    for c in changes {
        match (c.from, c.to) {
            (None, Some(p)) => {
                b.chain(table, &c.dev);
                b.rule(table, &c.dev, p);
            }
            (Some(_), Some(p)) => {
                b.flush(table, &c.dev);
                b.rule(table, &c.dev, p);
            }
            (Some(_), None) => {
                b.flush(table, &c.dev);
                b.delete_chain(table, &c.dev);
            }
            (None, None) => {}
        }
    }
    Some(b.end())
}

/// `nft delete table netdev TABLE` as a batch.
pub fn delete_table_batch(table: &str) -> Batch {
    let mut b = Batch::begin();
    b.delete_table(table);
    b.end()
}

/// Send a batch and read its answers until its last message's
/// acknowledgement; the first error, if any (the kernel then applied
/// none of it).
pub fn exchange(sock: &Socket, batch: &Batch) -> Result<(), KernelError> {
    let sent = sock.send(&batch.bytes, 0)?;
    if sent != batch.bytes.len() {
        return Err(KernelError::from_errno(libc::EMSGSIZE));
    }
    let mut first: Option<KernelError> = None;
    let mut buf = vec![0u8; 64 << 10];
    let mut done = false;
    while !done {
        // SAFETY: recv into a buffer of the stated length.
        let n = unsafe {
            libc::recv(
                sock.as_raw_fd(),
                buf.as_mut_ptr() as *mut libc::c_void,
                buf.len(),
                0,
            )
        };
        if n < 0 {
            let e = KernelError::last();
            if e.is(libc::EINTR) {
                continue;
            }
            return Err(e);
        }
        let n = n as usize;
        let mut off = 0;
        while off + 16 <= n {
            let len = u32::from_ne_bytes(buf[off..off + 4].try_into().unwrap()) as usize;
            if len < 16 || off + len > n {
                break;
            }
            let ty = u16::from_ne_bytes([buf[off + 4], buf[off + 5]]);
            let flags = u16::from_ne_bytes([buf[off + 6], buf[off + 7]]);
            let seq = u32::from_ne_bytes(buf[off + 8..off + 12].try_into().unwrap());
            if ty == NLMSG_ERROR && (batch.begin..=batch.last).contains(&seq) {
                let r = ack(&buf[off..off + len], flags);
                // The kernel refused the batch as a whole, or answered its end.
                if seq == batch.last || (seq == batch.begin && r.is_err()) {
                    done = true;
                }
                if let Err(e) = r {
                    first.get_or_insert(e);
                }
            }
            off += (len + 3) & !3;
        }
    }
    match first {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// An NLMSG_ERROR: 0 is success; else the errno and the kernel's text.
fn ack(msg: &[u8], flags: u16) -> Result<(), KernelError> {
    let Some(code) = msg.get(16..20) else {
        return Err(KernelError::from_errno(libc::EIO));
    };
    let code = i32::from_ne_bytes(code.try_into().unwrap());
    if code == 0 {
        return Ok(());
    }
    let mut text = None;
    // With capped acks the original header (16 bytes) follows the code.
    if flags & NLM_F_ACK_TLVS != 0 {
        let mut off = 36;
        while off + 4 <= msg.len() {
            let alen = u16::from_ne_bytes([msg[off], msg[off + 1]]) as usize;
            let aty = u16::from_ne_bytes([msg[off + 2], msg[off + 3]]) & 0x3fff;
            if alen < 4 || off + alen > msg.len() {
                break;
            }
            if aty == 1 {
                let s = &msg[off + 4..off + alen];
                let s = s.split(|b| *b == 0).next().unwrap_or(s);
                text = Some(String::from_utf8_lossy(s).into_owned());
            }
            off += (alen + 3) & !3;
        }
    }
    Err(KernelError::from_errno(-code).with_detail(text))
}

/// A netfilter socket inside the namespace behind `ns`, with extended
/// acks, room for a batch of a few hundred interfaces, and a bound on
/// how long an answer may take.
pub fn socket_in(ns: BorrowedFd) -> Result<Socket, KernelError> {
    let sock = netns::within(ns, || Socket::new(NETLINK_NETFILTER))??;
    let _ = sock.set_ext_ack(true);
    let _ = sock.set_cap_ack(true);
    let fd = sock.as_raw_fd();
    let size: libc::c_int = 4 << 20;
    let tv = libc::timeval {
        tv_sec: 60,
        tv_usec: 0,
    };
    // SAFETY: setsockopt with a valid fd and values of the stated sizes.
    unsafe {
        for opt in [libc::SO_SNDBUFFORCE, libc::SO_RCVBUFFORCE] {
            libc::setsockopt(
                fd,
                libc::SOL_SOCKET,
                opt,
                &size as *const libc::c_int as *const libc::c_void,
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            );
        }
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_RCVTIMEO,
            &tv as *const libc::timeval as *const libc::c_void,
            std::mem::size_of::<libc::timeval>() as libc::socklen_t,
        );
    }
    Ok(sock)
}

/// The names of the netdev-family tables of the namespace behind `sock`
/// (one dump, decoded only as far as each table's name): most namespaces
/// have none, and then nothing more needs reading.
pub fn netdev_tables(sock: &Socket) -> Result<Vec<String>, KernelError> {
    const NFT_MSG_GETTABLE: u16 = 1;
    const NLM_F_DUMP: u16 = 0x300;
    let mut req = Vec::with_capacity(20);
    req.extend_from_slice(&20u32.to_ne_bytes());
    req.extend_from_slice(&((NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_GETTABLE).to_ne_bytes());
    req.extend_from_slice(&(NLM_F_REQUEST | NLM_F_DUMP).to_ne_bytes());
    req.extend_from_slice(&1u32.to_ne_bytes());
    req.extend_from_slice(&0u32.to_ne_bytes());
    req.extend_from_slice(&[NETDEV, 0, 0, 0]);
    sock.send(&req, 0)?;
    let mut out = Vec::new();
    let mut buf = vec![0u8; 64 << 10];
    loop {
        // SAFETY: recv into a buffer of the stated length.
        let n = unsafe {
            libc::recv(
                sock.as_raw_fd(),
                buf.as_mut_ptr() as *mut libc::c_void,
                buf.len(),
                0,
            )
        };
        if n < 0 {
            let e = KernelError::last();
            if e.is(libc::EINTR) {
                continue;
            }
            return Err(e);
        }
        let n = n as usize;
        let mut off = 0;
        while off + 16 <= n {
            let len = u32::from_ne_bytes(buf[off..off + 4].try_into().unwrap()) as usize;
            if len < 16 || off + len > n {
                break;
            }
            let ty = u16::from_ne_bytes([buf[off + 4], buf[off + 5]]);
            match ty {
                3 => return Ok(out), // NLMSG_DONE
                NLMSG_ERROR => {
                    let code = i32::from_ne_bytes(buf[off + 16..off + 20].try_into().unwrap());
                    return match -code {
                        0 => Ok(out),
                        // nf_tables is not in this kernel: no tables at all.
                        libc::EOPNOTSUPP | libc::EPROTONOSUPPORT => Ok(Vec::new()),
                        e => Err(KernelError::from_errno(e)),
                    };
                }
                _ => {
                    if let Some(name) = nft::attrs(&buf[off + 20..off + len])
                        .into_iter()
                        .find(|(t, _)| *t == 1)
                        .map(|(_, v)| v.split(|b| *b == 0).next().unwrap_or(v))
                    {
                        out.push(String::from_utf8_lossy(name).into_owned());
                    }
                }
            }
            off += (len + 3) & !3;
        }
    }
}

/// Apply one namespace's loss changes; when a chain went, drop the table
/// if it holds no chain any more (a cleared link leaves nothing behind).
pub fn apply_in(ns: BorrowedFd, table: &str, changes: &[LossChange]) -> Result<(), KernelError> {
    let all = batches(table, changes);
    if all.is_empty() {
        return Ok(());
    }
    let sock = socket_in(ns)?;
    for b in &all {
        exchange(&sock, b)?;
    }
    if changes.iter().any(|c| c.to.is_none() && c.from.is_some()) {
        let rs = nft::read_in(ns)?;
        if !loss::table_in_use(&rs, table) && rs.tables.iter().any(|t| t.name == table) {
            exchange(&sock, &delete_table_batch(table))?;
        }
    }
    Ok(())
}

/// Delete a loss table in the namespace behind `ns`; false when there was none.
pub fn delete_table_in(ns: BorrowedFd, table: &str) -> Result<bool, KernelError> {
    let sock = socket_in(ns)?;
    match exchange(&sock, &delete_table_batch(table)) {
        Ok(()) => Ok(true),
        Err(e) if e.is(libc::ENOENT) => Ok(false),
        // nf_tables is not in this kernel: there is no table either.
        Err(e) if e.is(libc::EOPNOTSUPP) || e.is(libc::EPROTONOSUPPORT) => Ok(false),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The captured batch whose rule is `rule`.
    fn captured(rule: &str) -> Vec<u8> {
        let text = include_str!("../../tests/fixtures/nft-loss.hex");
        let mut hex = String::new();
        let mut on = false;
        for l in text.lines() {
            if let Some(r) = l.strip_prefix("> ") {
                on = r.ends_with(rule);
            } else if on && !l.starts_with('#') {
                hex.push_str(l.trim());
            }
        }
        assert!(!hex.is_empty(), "no capture for {rule}");
        (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
            .collect()
    }

    /// (type, body after the netlink header) of each message.
    fn messages(b: &[u8]) -> Vec<(u16, Vec<u8>)> {
        let mut out = Vec::new();
        let mut off = 0;
        while off + 16 <= b.len() {
            let len = u32::from_ne_bytes(b[off..off + 4].try_into().unwrap()) as usize;
            let ty = u16::from_ne_bytes([b[off + 4], b[off + 5]]);
            out.push((ty, b[off + 16..off + len].to_vec()));
            off += (len + 3) & !3;
        }
        out
    }

    fn first_loss(p: u32) -> Batch {
        batch(
            "vnet-x",
            &[LossChange {
                dev: "a".into(),
                from: None,
                to: Some(Percent(p)),
            }],
        )
        .unwrap()
    }

    #[test]
    fn the_batch_is_nfts() {
        let ours = first_loss(200_000);
        assert_eq!(
            messages(&ours.bytes),
            messages(&captured(
                "numgen random mod 1000000 < 200000 counter fwd to \"lo\""
            ))
        );
        assert_eq!(
            messages(&first_loss(1_000_000).bytes),
            messages(&captured("a counter fwd to \"lo\""))
        );
        // Only the last message (the rule) asks for an acknowledgement.
        assert_eq!((ours.begin, ours.last), (1, 4));
        let flags = |b: &[u8], i: usize| {
            let mut off = 0;
            for _ in 0..i {
                off += (u32::from_ne_bytes(b[off..off + 4].try_into().unwrap()) as usize + 3) & !3;
            }
            u16::from_ne_bytes([b[off + 6], b[off + 7]])
        };
        assert_eq!(flags(&ours.bytes, 3) & NLM_F_ACK, NLM_F_ACK);
        assert_eq!(flags(&ours.bytes, 2) & NLM_F_ACK, 0);
    }

    #[test]
    fn a_change_replaces_the_rule_and_a_clear_removes_the_chain() {
        let types = |b: &Batch| -> Vec<u16> {
            messages(&b.bytes)
                .into_iter()
                .map(|(t, _)| t & 0xff)
                .collect()
        };
        let change = batch(
            "vnet-x",
            &[LossChange {
                dev: "a".into(),
                from: Some(Percent(100_000)),
                to: Some(Percent(200_000)),
            }],
        )
        .unwrap();
        assert_eq!(
            types(&change),
            [
                NFNL_MSG_BATCH_BEGIN,
                NFT_MSG_NEWTABLE,
                NFT_MSG_DELRULE,
                NFT_MSG_NEWRULE,
                NFNL_MSG_BATCH_END
            ]
        );
        let clear = batch(
            "vnet-x",
            &[LossChange {
                dev: "a".into(),
                from: Some(Percent(100_000)),
                to: None,
            }],
        )
        .unwrap();
        assert_eq!(
            types(&clear),
            [
                NFNL_MSG_BATCH_BEGIN,
                NFT_MSG_DELRULE,
                NFT_MSG_DELCHAIN,
                NFNL_MSG_BATCH_END
            ]
        );
        let same = LossChange {
            dev: "a".into(),
            from: Some(Percent(5)),
            to: Some(Percent(5)),
        };
        assert!(batch("vnet-x", std::slice::from_ref(&same)).is_none());
        // Many interfaces go in several batches.
        let many: Vec<LossChange> = (0..600)
            .map(|i| LossChange {
                dev: format!("v{i}"),
                from: None,
                to: Some(Percent(1)),
            })
            .collect();
        assert_eq!(batches("vnet-x", &many).len(), 3);
    }

    #[test]
    fn the_rule_reads_back_as_its_loss() {
        for p in [1, 123_456, 999_999, 1_000_000] {
            let mut b = Batch::table_chain("vnet-x", "a");
            nest(&mut b, 4, &rule_exprs(Percent(p)));
            assert_eq!(loss_of(nft::parse_rule(NETDEV, &b).unwrap()), Percent(p));
        }
    }

    fn loss_of(rule: crate::model::nft::Rule) -> Percent {
        let rs = crate::model::nft::Ruleset {
            tables: vec![],
            chains: vec![crate::model::nft::Chain {
                family: NETDEV,
                table: "vnet-x".into(),
                name: "a".into(),
                hook: Some(crate::model::nft::Hook {
                    num: NETDEV_EGRESS,
                    priority: 0,
                    dev: Some("a".into()),
                }),
                policy: Some(NF_ACCEPT),
                kind: Some("filter".into()),
                packets: None,
            }],
            rules: vec![rule],
        };
        loss::losses(&rs, "vnet-x")["a"]
    }
}
