//! Link conditions in the kernel: an interface's read back from its
//! qdiscs and its loss rule, and the loss part of a plan's condition steps
//! (one nftables batch per namespace, the namespaces in parallel). The
//! qdisc part goes through the executor's pipelined requests.

use std::collections::BTreeMap;
use std::os::fd::{AsFd, BorrowedFd};

use super::error::KernelError;
use super::netlink::nfnl::NFNL_SUBSYS_NFTABLES;
use super::{netns, nft, nft_write, qdisc};
use crate::model::conditions::{Conditions, Percent, Via, is_loss_table};
use crate::model::live::LiveNs;
use crate::model::loss;

/// Fill in each link's conditions from the namespace's qdiscs (already
/// dumped into `live.qdiscs`) and the losses read from its loss table.
pub(crate) fn attach(live: &mut LiveNs, losses: &BTreeMap<String, Percent>) {
    let qdiscs = std::mem::take(&mut live.qdiscs);
    for l in &mut live.links {
        let (mut c, other) = qdisc::egress(&qdiscs, l.index);
        if c.loss.is_none() {
            c.loss = losses.get(&l.name).copied();
        }
        l.conditions = c;
        l.other_qdisc = other;
    }
    live.qdiscs = qdiscs;
}

/// The losses of the loss table `table` of the namespace behind `ns`, or
/// of every table vnet keeps losses in when `table` is None.
pub(crate) fn read_losses(
    ns: BorrowedFd,
    table: Option<&str>,
) -> Result<BTreeMap<String, Percent>, KernelError> {
    // Most namespaces hold no table of ours: one small dump says so.
    let mut nf = nft_write::socket_in(ns)?;
    let tables = nft_write::netdev_tables(&mut nf)?;
    let wanted = |t: &str| match table {
        Some(want) => t == want,
        None => is_loss_table(t),
    };
    let ours: Vec<&String> = tables.iter().filter(|t| wanted(t)).collect();
    if ours.is_empty() {
        return Ok(BTreeMap::new());
    }
    // Then their chains and rules, on the same socket.
    const NFT_MSG_GETCHAIN: u8 = 4;
    const NFT_MSG_GETRULE: u8 = 7;
    let mut rs = crate::model::nft::Ruleset::default();
    nf.dump(NFNL_SUBSYS_NFTABLES, NFT_MSG_GETCHAIN, |family, attrs| {
        rs.chains.extend(nft::parse_chain(family, attrs));
    })?;
    nf.dump(NFNL_SUBSYS_NFTABLES, NFT_MSG_GETRULE, |family, attrs| {
        rs.rules.extend(nft::parse_rule(family, attrs));
    })?;
    let mut out = BTreeMap::new();
    for t in ours {
        out.extend(loss::losses(&rs, t));
    }
    Ok(out)
}

/// Read the losses of many namespaces at once (each read from inside its
/// namespace, on worker threads) and attach every link's conditions.
pub(crate) fn attach_all(
    spaces: &mut [(BorrowedFd, &mut LiveNs)],
    table: Option<&str>,
) -> Result<(), KernelError> {
    let fds: Vec<BorrowedFd> = spaces.iter().map(|(fd, _)| *fd).collect();
    let losses = netns::parallel(&fds, |fd| read_losses(*fd, table));
    for ((_, live), l) in spaces.iter_mut().zip(losses) {
        attach(live, &l?);
    }
    Ok(())
}

/// The loss rule's change on one interface, if any (without netem loss
/// is a rule; with it, part of the netem qdisc).
pub(crate) fn loss_change(
    dev: &str,
    from: &Conditions,
    to: &Conditions,
    via: Via,
) -> Option<NsChange> {
    let (from, to) = crate::model::mechanism::loss_step(from, to, via)?;
    Some(NsChange {
        dev: dev.to_string(),
        from,
        to,
    })
}

/// One namespace's loss batch: where, which table, what changes.
pub(crate) struct NsLoss<'a> {
    pub fd: BorrowedFd<'a>,
    pub table: String,
    pub changes: Vec<nft_write::LossChange>,
}

pub(crate) use nft_write::LossChange as NsChange;

/// Apply each namespace's loss changes in one batch, the namespaces in
/// parallel; each namespace's result in order.
pub(crate) fn apply_losses(jobs: &[NsLoss]) -> Vec<Result<(), KernelError>> {
    netns::parallel(jobs, |j| nft_write::apply_in(j.fd, &j.table, &j.changes))
}

/// Delete a lab's loss table from the namespace behind `ns`.
pub(crate) fn remove_table(ns: &impl AsFd, table: &str) -> Result<bool, KernelError> {
    nft_write::delete_table_in(ns.as_fd(), table)
}

/// Every interface's index in the calling thread's namespace, by name,
/// from one link dump read without decoding the rest of each link (a
/// thousand host ends of a star are named this way in a few ms; decoding
/// whole link messages takes a hundred times longer).
pub(crate) fn indexes_here() -> Result<std::collections::HashMap<String, u32>, KernelError> {
    use super::netlink::transport::Transport;
    const RTM_NEWLINK: u16 = 16;
    const IFLA_IFNAME: u16 = 3;
    /// struct nlmsghdr, then struct ifinfomsg (ifi_index at its offset 4).
    const IFINFO: usize = 16;
    let mut t = Transport::open(netlink_sys::protocols::NETLINK_ROUTE)?;
    let seq = t.start_dump(super::observe::link_dump_request())?;
    let mut out = std::collections::HashMap::new();
    t.read_dump(seq, |m| {
        let p = m.payload();
        if m.kind != RTM_NEWLINK || p.len() < IFINFO {
            return;
        }
        let index = u32::from_ne_bytes([p[4], p[5], p[6], p[7]]);
        if let Some((_, v)) = nft::attrs(&p[IFINFO..])
            .into_iter()
            .find(|(ty, _)| *ty == IFLA_IFNAME)
        {
            let v = v.split(|b| *b == 0).next().unwrap_or(v);
            out.insert(String::from_utf8_lossy(v).into_owned(), index);
        }
    })?;
    Ok(out)
}
