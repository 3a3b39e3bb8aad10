//! Queueing disciplines of a namespace and their counters, over rtnetlink
//! (RTM_GETQDISC): what `tc -s qdisc` shows, without `tc`.

use netlink_packet_core::Nla;
use netlink_packet_route::RouteNetlinkMessage;
use netlink_packet_route::tc::{TcAttribute, TcMessage, TcOption, TcStats2};

use super::error::KernelError;
use super::netlink::NlSocket;
use crate::model::live::LiveQdisc;

pub(crate) fn dump_request() -> RouteNetlinkMessage {
    RouteNetlinkMessage::GetQueueDiscipline(TcMessage::default())
}

/// Every qdisc of the namespace behind `sock`.
pub(crate) fn dump(sock: &mut NlSocket) -> Result<Vec<LiveQdisc>, KernelError> {
    Ok(qdiscs(sock.dump(dump_request())?))
}

pub(crate) fn qdiscs(msgs: Vec<RouteNetlinkMessage>) -> Vec<LiveQdisc> {
    msgs.into_iter()
        .filter_map(|m| match m {
            RouteNetlinkMessage::NewQueueDiscipline(q) => Some(qdisc(&q)),
            _ => None,
        })
        .collect()
}

pub(crate) fn qdisc(m: &TcMessage) -> LiveQdisc {
    let mut q = LiveQdisc {
        ifindex: m.header.index.max(0) as u32,
        handle: m.header.handle.into(),
        parent: m.header.parent.into(),
        ..LiveQdisc::default()
    };
    let mut raw_options = None;
    for a in &m.attributes {
        match a {
            TcAttribute::Kind(k) => q.kind = k.clone(),
            // The kernel sends the same counters twice (old and new
            // layout); either may be missing.
            TcAttribute::Stats(s) => {
                q.packets = q.packets.max(u64::from(s.packets));
                q.drops = q.drops.max(u64::from(s.drops));
                q.overlimits = q.overlimits.max(u64::from(s.overlimits));
            }
            TcAttribute::Stats2(list) => {
                for s in list {
                    match s {
                        TcStats2::Basic(b) => q.packets = q.packets.max(u64::from(b.packets)),
                        TcStats2::Queue(qs) => {
                            q.drops = q.drops.max(u64::from(qs.drops));
                            q.overlimits = q.overlimits.max(u64::from(qs.overlimits));
                        }
                        _ => {}
                    }
                }
            }
            TcAttribute::Options(opts) => {
                // A fifo's options are a bare struct tc_fifo_qopt { u32 limit }.
                if let Some(TcOption::Other(nla)) = opts.first() {
                    let mut v = vec![0u8; nla.value_len()];
                    nla.emit_value(&mut v);
                    raw_options = Some(v);
                }
            }
            _ => {}
        }
    }
    if let Some(v) = &raw_options {
        q.conditions = super::qdisc::read(&q.kind, v);
    }
    if matches!(q.kind.as_str(), "pfifo" | "bfifo" | "pfifo_head_drop")
        && let Some(v) = raw_options
        && v.len() >= 4
    {
        q.limit = Some(u32::from_ne_bytes([v[0], v[1], v[2], v[3]]));
    }
    q
}
