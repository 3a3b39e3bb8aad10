//! The kernel's neighbour (ARP/NDP) tables over netlink (kernel side): the
//! global limit and fill read with RTM_GETNEIGHTBL (which, unlike
//! /proc/sys/net/ipv4/neigh/default, answers in every namespace), a
//! namespace's entries dumped, and entries deleted with RTM_DELNEIGH.

use std::collections::HashSet;
use std::net::IpAddr;

use netlink_packet_route::neighbour::{
    NeighbourAddress, NeighbourAttribute, NeighbourMessage, NeighbourState,
};
use netlink_packet_route::neighbour_table::{NeighbourTableAttribute, NeighbourTableMessage};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};

use super::waves::Table;
use crate::kernel::KernelError;
use crate::kernel::netlink::NlSocket;
use crate::model::lab::Mac;
use crate::model::live::LiveNeigh;

/// The default limit, when the kernel does not say.
pub const DEFAULT_LIMIT: usize = 1024;

/// ARP and NDP tables: (limit, entries) each.
pub fn tables(sock: &mut NlSocket) -> Result<(Table, Table), KernelError> {
    let mut v4 = None;
    let mut v6 = None;
    let msgs = sock.dump(RouteNetlinkMessage::GetNeighbourTable(
        NeighbourTableMessage::default(),
    ))?;
    for m in msgs {
        let RouteNetlinkMessage::NewNeighbourTable(t) = m else {
            continue;
        };
        let mut name = None;
        let mut limit = None;
        let mut entries = None;
        for a in &t.attributes {
            match a {
                NeighbourTableAttribute::Name(n) => name = Some(n.clone()),
                NeighbourTableAttribute::Threshold3(v) => limit = Some(*v as usize),
                NeighbourTableAttribute::Config(c) => entries = Some(c.entries as usize),
                _ => {}
            }
        }
        // Only the table-wide message carries the thresholds.
        let (Some(limit), Some(entries)) = (limit, entries) else {
            continue;
        };
        let table = Table { limit, entries };
        match name.as_deref() {
            Some("arp_cache") => v4 = Some(table),
            Some("ndisc_cache") => v6 = Some(table),
            _ => {}
        }
    }
    let fallback = Table {
        limit: DEFAULT_LIMIT,
        entries: 0,
    };
    Ok((v4.unwrap_or(fallback), v6.unwrap_or(fallback)))
}

/// A neighbour entry of one namespace.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Entry {
    pub ifindex: u32,
    pub ip: IpAddr,
    pub state: u16,
}

pub const NUD_INCOMPLETE: u16 = 0x01;
pub const NUD_REACHABLE: u16 = 0x02;
pub const NUD_STALE: u16 = 0x04;
pub const NUD_FAILED: u16 = 0x20;
pub const NUD_PERMANENT: u16 = 0x80;

pub fn state_name(s: u16) -> &'static str {
    match s {
        0x01 => "INCOMPLETE",
        0x02 => "REACHABLE",
        0x04 => "STALE",
        0x08 => "DELAY",
        0x10 => "PROBE",
        0x20 => "FAILED",
        0x40 => "NOARP",
        0x80 => "PERMANENT",
        _ => "NONE",
    }
}

pub fn dump_request() -> RouteNetlinkMessage {
    RouteNetlinkMessage::GetNeighbour(NeighbourMessage::default())
}

/// Entries from a dump's messages.
pub fn entries(msgs: Vec<RouteNetlinkMessage>) -> Vec<Entry> {
    msgs.into_iter()
        .filter_map(|m| match m {
            RouteNetlinkMessage::NewNeighbour(n) => entry(&n),
            _ => None,
        })
        .collect()
}

fn entry(n: &NeighbourMessage) -> Option<Entry> {
    let l = neighbour(n)?;
    Some(Entry {
        ifindex: l.ifindex,
        ip: l.ip,
        state: l.state,
    })
}

/// One entry with its link-layer address, as the doctor reads it.
fn neighbour(n: &NeighbourMessage) -> Option<LiveNeigh> {
    let ip = n.attributes.iter().find_map(|a| match a {
        NeighbourAttribute::Destination(NeighbourAddress::Inet(v4)) => Some(IpAddr::V4(*v4)),
        NeighbourAttribute::Destination(NeighbourAddress::Inet6(v6)) => Some(IpAddr::V6(*v6)),
        _ => None,
    })?;
    let lladdr = n.attributes.iter().find_map(|a| match a {
        NeighbourAttribute::LinkLayerAddress(b) if b.len() == 6 => {
            let mut m = [0u8; 6];
            m.copy_from_slice(b);
            Some(Mac(m))
        }
        _ => None,
    });
    Some(LiveNeigh {
        ifindex: n.header.ifindex,
        ip,
        lladdr,
        state: u16::from(n.header.state),
    })
}

/// Every entry of the namespace behind `sock`, with link-layer addresses.
pub fn dump_live(sock: &mut NlSocket) -> Result<Vec<LiveNeigh>, KernelError> {
    Ok(sock
        .dump(dump_request())?
        .into_iter()
        .filter_map(|m| match m {
            RouteNetlinkMessage::NewNeighbour(n) => neighbour(&n),
            _ => None,
        })
        .collect())
}

/// Every entry of the namespace behind `sock`.
pub fn dump(sock: &mut NlSocket) -> Result<Vec<Entry>, KernelError> {
    Ok(entries(sock.dump(dump_request())?))
}

fn delete_request(e: &Entry) -> RouteNetlinkMessage {
    let mut m = NeighbourMessage::default();
    m.header.family = if e.ip.is_ipv4() {
        AddressFamily::Inet
    } else {
        AddressFamily::Inet6
    };
    m.header.ifindex = e.ifindex;
    m.header.state = NeighbourState::None;
    m.attributes
        .push(NeighbourAttribute::Destination(match e.ip {
            IpAddr::V4(a) => NeighbourAddress::Inet(a),
            IpAddr::V6(a) => NeighbourAddress::Inet6(a),
        }));
    RouteNetlinkMessage::DelNeighbour(m)
}

/// Queue the deletion of `gone` on `sock` (sent and acknowledged by `collect`).
pub fn queue_delete(sock: &mut NlSocket, gone: &[Entry]) {
    for e in gone {
        sock.queue(delete_request(e), 0);
    }
}

/// Wait for the deletions queued; entries already gone are no error.
pub fn collect(sock: &mut NlSocket) -> Result<usize, KernelError> {
    let mut deleted = 0;
    let mut err = None;
    sock.collect(|_, r| match r {
        Ok(()) => deleted += 1,
        Err(e) if e.is(libc::ENOENT) => {}
        Err(e) => {
            err.get_or_insert(e);
        }
    })?;
    match err {
        Some(e) => Err(e),
        None => Ok(deleted),
    }
}

/// Entries present now that were not at `before`, except those still
/// resolving when `keep_incomplete` (a probe may be waiting on them).
pub fn made_since(
    now: &[Entry],
    before: &HashSet<(u32, IpAddr)>,
    keep_incomplete: bool,
) -> Vec<Entry> {
    now.iter()
        .filter(|e| !before.contains(&(e.ifindex, e.ip)))
        .filter(|e| e.state & NUD_PERMANENT == 0)
        .filter(|e| !(keep_incomplete && e.state & NUD_INCOMPLETE != 0))
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_entries_made_since_are_released() {
        let e = |i: u32, ip: &str, state: u16| Entry {
            ifindex: i,
            ip: ip.parse().unwrap(),
            state,
        };
        let before: HashSet<(u32, IpAddr)> = [(2, "10.0.0.9".parse().unwrap())].into();
        let now = [
            e(2, "10.0.0.9", NUD_REACHABLE),
            e(2, "10.0.0.2", NUD_REACHABLE),
            e(2, "10.0.0.3", NUD_INCOMPLETE),
            e(2, "10.0.0.4", NUD_PERMANENT),
        ];
        let gone = made_since(&now, &before, true);
        assert_eq!(gone, [e(2, "10.0.0.2", NUD_REACHABLE)]);
        assert_eq!(made_since(&now, &before, false).len(), 2);
    }
}
