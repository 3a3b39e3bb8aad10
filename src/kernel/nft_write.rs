//! Loss rules written over nfnetlink (no `nft`): every change of one
//! namespace in one batch (NFNL_MSG_BATCH_BEGIN … BATCH_END), which the
//! kernel applies all or nothing. The messages are nft's own, byte for
//! byte (tested against a captured `nft -f`); `model::loss` has the shape.
//!
//! The messages are built here, pre-serialized, and go out through the
//! netlink transport (`netlink::nfnl`); `exchange` reads their answers.

use std::collections::HashSet;
use std::os::fd::{AsFd, BorrowedFd};

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};

use super::error::KernelError;
use super::netlink::nfnl::Nfnl;
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
pub(crate) struct LossChange {
    pub dev: String,
    pub from: Option<Percent>,
    pub to: Option<Percent>,
}

/// A batch ready to send: begin, the changes, end, each a whole netlink
/// message (sequence numbers are the transport's). Every change asks for
/// an acknowledgement; the kernel delivers them all when the batch is
/// done, a few hundred at most (`CHUNK`), well within the socket's buffer.
#[derive(Clone, Debug, Default)]
pub(crate) struct Batch {
    pub messages: Vec<Vec<u8>>,
}

/// Interfaces per batch: a batch goes to the kernel as one datagram,
/// which must fit the socket's send buffer.
pub(crate) const CHUNK: usize = 250;

/// How long the kernel may take to answer a batch.
const ANSWER_WITHIN_MS: u16 = 60_000;

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
pub(crate) fn rule_exprs(loss: Percent) -> Vec<u8> {
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
    fn message(&mut self, ty: u16, flags: u16, family: u8, res_id: u16, body: &[u8]) {
        let len = 16 + 4 + body.len();
        let mut m = Vec::with_capacity(len);
        m.extend_from_slice(&(len as u32).to_ne_bytes());
        m.extend_from_slice(&ty.to_ne_bytes());
        m.extend_from_slice(&flags.to_ne_bytes());
        m.extend_from_slice(&0u32.to_ne_bytes()); // sequence: the transport's
        m.extend_from_slice(&0u32.to_ne_bytes());
        // struct nfgenmsg: family, NFNETLINK_V0, res_id (big-endian).
        m.push(family);
        m.push(0);
        m.extend_from_slice(&res_id.to_be_bytes());
        m.extend_from_slice(body);
        self.messages.push(m);
    }

    fn nft(&mut self, msg: u16, flags: u16, body: &[u8]) {
        self.message(
            (NFNL_SUBSYS_NFTABLES << 8) | msg,
            NLM_F_REQUEST | NLM_F_ACK | flags,
            NETDEV,
            0,
            body,
        );
    }

    fn begin() -> Batch {
        let mut b = Batch::default();
        b.message(
            NFNL_MSG_BATCH_BEGIN,
            NLM_F_REQUEST,
            0,
            NFNL_SUBSYS_NFTABLES,
            &[],
        );
        b
    }

    fn end(mut self) -> Batch {
        self.message(
            NFNL_MSG_BATCH_END,
            NLM_F_REQUEST,
            0,
            NFNL_SUBSYS_NFTABLES,
            &[],
        );
        self
    }

    /// The whole batch as one buffer (what goes on the wire, sequence
    /// numbers aside).
    #[cfg(test)]
    pub(crate) fn bytes(&self) -> Vec<u8> {
        self.messages.concat()
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
pub(crate) fn batches(table: &str, changes: &[LossChange]) -> Vec<Batch> {
    let real: Vec<LossChange> = changes.iter().filter(|c| c.from != c.to).cloned().collect();
    real.chunks(CHUNK).filter_map(|c| batch(table, c)).collect()
}

/// The batch that brings each interface's loss from `from` to `to`:
/// the table (made if missing), a chain per interface gaining a loss, its
/// rule replaced when the loss changes, the chain gone when it is lifted.
/// None when nothing changes.
pub(crate) fn batch(table: &str, changes: &[LossChange]) -> Option<Batch> {
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
                // A chain of that name may be left from an interface that
                // went (and came back): emptied, it holds only this rule.
                b.chain(table, &c.dev);
                b.flush(table, &c.dev);
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
pub(crate) fn delete_table_batch(table: &str) -> Batch {
    let mut b = Batch::begin();
    b.delete_table(table);
    b.end()
}

/// Send a batch and read every answer to it: an acknowledgement for
/// each change, or the error that refused the batch as a whole (reported
/// against its first message). The first error, if any; the kernel then
/// applied none of it.
pub(crate) fn exchange(nf: &mut Nfnl, batch: &Batch) -> Result<(), KernelError> {
    let t = nf.transport();
    let mut begin = 0;
    let mut changes: HashSet<u32> = HashSet::new();
    let last = batch.messages.len().saturating_sub(1);
    for (i, m) in batch.messages.iter().enumerate() {
        // The changes carry NLM_F_ACK already; they are awaited here, not
        // by the transport (which awaits only what it acknowledges itself).
        let seq = t.queue_serialized(m, false)?;
        match i {
            0 => begin = seq,
            i if i == last => {}
            _ => {
                changes.insert(seq);
            }
        }
    }
    t.flush()?;
    let mut first: Option<KernelError> = None;
    let mut refused = false;
    while !changes.is_empty() && !refused {
        let mut fds = [PollFd::new(t.as_fd(), PollFlags::POLLIN)];
        match poll(&mut fds, PollTimeout::from(ANSWER_WITHIN_MS)) {
            Ok(0) => {
                return Err(KernelError::from_errno(libc::ETIMEDOUT).with_detail(Some(
                    "nftables did not answer the batch within a minute".into(),
                )));
            }
            Ok(_) => {}
            Err(Errno::EINTR) => continue,
            Err(e) => return Err(e.into()),
        }
        t.drain(|m| {
            if m.kind != NLMSG_ERROR {
                return;
            }
            let r = ack(m.bytes, m.flags);
            if m.seq == begin {
                if let Err(e) = r {
                    refused = true;
                    first.get_or_insert(e);
                }
            } else if changes.remove(&m.seq)
                && let Err(e) = r
            {
                first.get_or_insert(e);
            }
        })?;
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

/// An nfnetlink socket inside the namespace behind `ns`.
pub(crate) fn socket_in(ns: BorrowedFd) -> Result<Nfnl, KernelError> {
    Ok(netns::within(ns, Nfnl::open)??)
}

/// The names of the netdev-family tables of the namespace behind `sock`
/// (one dump, decoded only as far as each table's name): most namespaces
/// have none, and then nothing more needs reading.
pub(crate) fn netdev_tables(nf: &mut Nfnl) -> Result<Vec<String>, KernelError> {
    const NFT_MSG_GETTABLE: u8 = 1;
    let mut out = Vec::new();
    let dumped = nf.dump(
        NFNL_SUBSYS_NFTABLES as u8,
        NFT_MSG_GETTABLE,
        |family, attrs| {
            if family != NETDEV {
                return;
            }
            if let Some((_, v)) = nft::attrs(attrs).into_iter().find(|(t, _)| *t == 1) {
                let v = v.split(|b| *b == 0).next().unwrap_or(v);
                out.push(String::from_utf8_lossy(v).into_owned());
            }
        },
    );
    match dumped {
        Ok(()) => Ok(out),
        // nf_tables is not in this kernel: no tables at all.
        Err(e) if e.is(libc::EOPNOTSUPP) || e.is(libc::EPROTONOSUPPORT) => Ok(Vec::new()),
        Err(e) => Err(e),
    }
}

/// Apply one namespace's loss changes; when a chain went, drop the table
/// if it holds no chain any more (a cleared link leaves nothing behind).
pub(crate) fn apply_in(
    ns: BorrowedFd,
    table: &str,
    changes: &[LossChange],
) -> Result<(), KernelError> {
    let all = batches(table, changes);
    if all.is_empty() {
        return Ok(());
    }
    let mut sock = socket_in(ns)?;
    for b in &all {
        exchange(&mut sock, b)?;
    }
    if changes.iter().any(|c| c.to.is_none() && c.from.is_some()) {
        let rs = nft::read_in(ns)?;
        if !loss::table_in_use(&rs, table) && rs.tables.iter().any(|t| t.name == table) {
            exchange(&mut sock, &delete_table_batch(table))?;
        }
    }
    Ok(())
}

/// Delete a loss table in the namespace behind `ns`; false when there was none.
pub(crate) fn delete_table_in(ns: BorrowedFd, table: &str) -> Result<bool, KernelError> {
    let mut sock = socket_in(ns)?;
    match exchange(&mut sock, &delete_table_batch(table)) {
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

    /// Our batch's messages with the chain's flush left out (nft's `add
    /// chain` has none; vnet empties a chain that may be left over).
    fn without_flush(b: &Batch) -> Vec<(u16, Vec<u8>)> {
        messages(&b.bytes())
            .into_iter()
            .filter(|(t, _)| *t & 0xff != NFT_MSG_DELRULE)
            .collect()
    }

    #[test]
    fn the_batch_is_nfts() {
        let ours = first_loss(200_000);
        assert_eq!(
            without_flush(&ours),
            messages(&captured(
                "numgen random mod 1000000 < 200000 counter fwd to \"lo\""
            ))
        );
        assert_eq!(
            without_flush(&first_loss(1_000_000)),
            messages(&captured("a counter fwd to \"lo\""))
        );
        // The changes ask for an acknowledgement, the batch markers do not.
        let acked: Vec<bool> = ours
            .messages
            .iter()
            .map(|m| u16::from_ne_bytes([m[6], m[7]]) & NLM_F_ACK != 0)
            .collect();
        assert_eq!(acked, [false, true, true, true, true, false]);
    }

    #[test]
    fn a_change_replaces_the_rule_and_a_clear_removes_the_chain() {
        let types = |b: &Batch| -> Vec<u16> {
            messages(&b.bytes())
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
