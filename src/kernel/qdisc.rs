//! Conditions as queueing disciplines, written and read over rtnetlink
//! (RTM_NEWQDISC / RTM_DELQDISC / RTM_GETQDISC), byte for byte what
//! iproute2's `tc` sends (tested against captured requests):
//! - netem at the root carries every parameter where the kernel has it;
//! - otherwise tbf at the root (handle 1:) makes the rate, a pfifo under
//!   it (or alone at the root) the queue limit in packets.
//!
//! The crate has no netem or tbf options, so their TCA_OPTIONS are built
//! here as raw bytes (a struct followed by attributes, as the kernel
//! expects) and read back the same way.

use netlink_packet_core::DefaultNla;
use netlink_packet_route::RouteNetlinkMessage;
use netlink_packet_route::tc::{TcAttribute, TcHandle, TcMessage};

use super::msg::NLM_F_CREATE;
use crate::model::conditions::{Conditions, NETEM_LIMIT, Percent, Rate, Time, Via};
use crate::model::live::LiveQdisc;
pub(crate) use crate::model::mechanism::{QdiscStep, ROOT, SHAPER, qdisc_steps, shaper_sizes};

pub(crate) const NLM_F_REPLACE: u16 = 0x100;

const TCA_OPTIONS: u16 = 2;

const TCA_NETEM_CORRUPT: u16 = 4;
const TCA_NETEM_RATE: u16 = 6;
const TCA_NETEM_RATE64: u16 = 8;
const TCA_NETEM_LATENCY64: u16 = 10;
const TCA_NETEM_JITTER64: u16 = 11;

const TCA_TBF_PARMS: u16 = 1;
const TCA_TBF_RTAB: u16 = 2;
const TCA_TBF_RATE64: u16 = 4;
const TCA_TBF_BURST: u16 = 6;

/// The kernel's scheduler clock: one tick is 64 ns (PSCHED_SHIFT 6), so
/// a microsecond is 15.625 ticks; /proc/net/psched has said so since
/// 2.6.31 (its third field is fixed at 1 000 000).
const TICKS_PER_US: f64 = 1000.0 / 64.0;
const TC_LINKLAYER_ETHERNET: u8 = 1;

/// A request and its netlink flags.
pub(crate) type Request = (RouteNetlinkMessage, u16);

fn qdisc(ifindex: u32, handle: u32, parent: u32, kind: &str, options: Vec<u8>) -> TcMessage {
    let mut m = TcMessage::default();
    m.header.index = ifindex as i32;
    m.header.handle = TcHandle::from(handle);
    m.header.parent = TcHandle::from(parent);
    m.attributes.push(TcAttribute::Kind(kind.to_string()));
    m.attributes
        .push(TcAttribute::Other(DefaultNla::new(TCA_OPTIONS, options)));
    m
}

/// Create, or change in place, a qdisc (`tc qdisc replace`).
fn replace(m: TcMessage) -> Request {
    (
        RouteNetlinkMessage::NewQueueDiscipline(m),
        NLM_F_CREATE | NLM_F_REPLACE,
    )
}

/// Back to the kernel's default qdisc (`tc qdisc del dev X root`).
pub(crate) fn delete_root(ifindex: u32) -> Request {
    let mut m = TcMessage::default();
    m.header.index = ifindex as i32;
    m.header.parent = TcHandle::from(ROOT);
    (RouteNetlinkMessage::DelQueueDiscipline(m), 0)
}

fn attr(out: &mut Vec<u8>, ty: u16, value: &[u8]) {
    out.extend_from_slice(&((4 + value.len()) as u16).to_ne_bytes());
    out.extend_from_slice(&ty.to_ne_bytes());
    out.extend_from_slice(value);
    while !out.len().is_multiple_of(4) {
        out.push(0);
    }
}

fn ticks(us: u64) -> u32 {
    // As tc: whole microseconds (u32) times 15.625, truncated.
    ((us.min(u64::from(u32::MAX)) as u32) as f64 * TICKS_PER_US) as u32
}

/// struct tc_netem_qopt and the attributes tc adds after it (corruption,
/// rate, and the rate's 64-bit form above 2³² bytes/s), in tc's order.
pub(crate) fn netem_options(c: &Conditions) -> Vec<u8> {
    let scale = |p: Option<Percent>| p.map_or(0, Percent::to_u32_scale);
    let mut out = Vec::with_capacity(64);
    for v in [
        ticks(c.delay.map_or(0, |t| t.0)),
        c.limit.unwrap_or(NETEM_LIMIT),
        scale(c.loss),
        0, // gap
        scale(c.duplicate),
        ticks(c.jitter.map_or(0, |t| t.0)),
    ] {
        out.extend_from_slice(&v.to_ne_bytes());
    }
    if let Some(p) = c.corrupt {
        let mut v = p.to_u32_scale().to_ne_bytes().to_vec();
        v.extend_from_slice(&0u32.to_ne_bytes()); // correlation
        attr(&mut out, TCA_NETEM_CORRUPT, &v);
    }
    if let Some(r) = c.rate {
        let bytes = r.bytes();
        let rate32 = if bytes >= 1 << 32 {
            attr(&mut out, TCA_NETEM_RATE64, &bytes.to_ne_bytes());
            u32::MAX
        } else {
            bytes as u32
        };
        // struct tc_netem_rate: rate, packet_overhead, cell_size, cell_overhead.
        let mut v = rate32.to_ne_bytes().to_vec();
        v.extend_from_slice(&[0; 12]);
        attr(&mut out, TCA_NETEM_RATE, &v);
    }
    out
}

/// `tc qdisc replace dev X root netem …`: every parameter in one qdisc.
pub(crate) fn netem(ifindex: u32, c: &Conditions) -> Request {
    replace(qdisc(ifindex, 0, ROOT, "netem", netem_options(c)))
}

/// tc_calc_xmittime: the time (in ticks) to send `size` bytes at `rate`
/// bytes/s, with tc's own truncations (to whole microseconds, then ticks).
fn xmittime(rate: u64, size: u64) -> u32 {
    let us = (1_000_000.0 * (size as f64 / rate as f64)) as u32;
    (f64::from(us) * TICKS_PER_US) as u32
}

/// struct tc_tbf_qopt, the bucket size, the rate's 64-bit form and the
/// rate table, as tc sends them (the kernel ignores the table since 3.8
/// but tc still sends it; sent here too, so the request is tc's).
pub(crate) fn tbf_options(rate: Rate, burst: u32, limit: u32) -> Vec<u8> {
    let bytes = rate.bytes().max(1);
    let rate32 = if bytes >= 1 << 32 {
        u32::MAX
    } else {
        bytes as u32
    };
    // Rate table cells of 8 bytes (cell_log 3, for tc's default mtu 2047).
    let cell_log = 3u8;
    let mut parms = Vec::with_capacity(40);
    parms.push(cell_log);
    parms.push(TC_LINKLAYER_ETHERNET);
    parms.extend_from_slice(&0u16.to_ne_bytes()); // overhead
    parms.extend_from_slice(&(-1i16).to_ne_bytes()); // cell_align
    parms.extend_from_slice(&0u16.to_ne_bytes()); // mpu
    parms.extend_from_slice(&rate32.to_ne_bytes());
    parms.extend_from_slice(&[0; 12]); // no peak rate
    parms.extend_from_slice(&limit.to_ne_bytes());
    parms.extend_from_slice(&xmittime(u64::from(rate32), u64::from(burst)).to_ne_bytes());
    parms.extend_from_slice(&0u32.to_ne_bytes()); // mtu (peak bucket)
    let mut out = Vec::with_capacity(1100);
    attr(&mut out, TCA_TBF_PARMS, &parms);
    attr(&mut out, TCA_TBF_BURST, &burst.to_ne_bytes());
    if bytes >= 1 << 32 {
        attr(&mut out, TCA_TBF_RATE64, &bytes.to_ne_bytes());
    }
    let mut rtab = Vec::with_capacity(1024);
    for i in 0..256u64 {
        rtab.extend_from_slice(&xmittime(u64::from(rate32), (i + 1) << cell_log).to_ne_bytes());
    }
    attr(&mut out, TCA_TBF_RTAB, &rtab);
    out
}

/// `tc qdisc replace dev X root handle 1: tbf rate R burst B limit L`,
/// with the bucket and queue vnet picks for the rate.
pub(crate) fn tbf(ifindex: u32, rate: Rate, mtu: u32) -> Request {
    let (burst, limit) = shaper_sizes(rate, mtu);
    request(ifindex, &QdiscStep::Tbf { rate, burst, limit })
}

/// `tc qdisc replace dev X parent P pfifo limit N`.
pub(crate) fn pfifo(ifindex: u32, parent: u32, limit: u32) -> Request {
    replace(qdisc(
        ifindex,
        0,
        parent,
        "pfifo",
        limit.to_ne_bytes().to_vec(),
    ))
}

/// The request of one step on interface `ifindex`.
pub(crate) fn request(ifindex: u32, step: &QdiscStep) -> Request {
    match step {
        QdiscStep::Netem(c) => netem(ifindex, c),
        QdiscStep::Tbf { rate, burst, limit } => replace(qdisc(
            ifindex,
            SHAPER,
            ROOT,
            "tbf",
            tbf_options(*rate, *burst, *limit),
        )),
        QdiscStep::Pfifo { parent, limit } => pfifo(ifindex, *parent, *limit),
        QdiscStep::Bfifo { parent, limit } => replace(qdisc(
            ifindex,
            0,
            *parent,
            "bfifo",
            limit.to_ne_bytes().to_vec(),
        )),
        QdiscStep::DeleteRoot => delete_root(ifindex),
    }
}

/// The requests that bring an interface's egress from `from` to `to`
/// (its qdiscs; loss without netem is `nft_write`'s).
pub(crate) fn changes(
    ifindex: u32,
    from: &Conditions,
    to: &Conditions,
    via: Via,
    mtu: u32,
) -> Vec<Request> {
    qdisc_steps(from, to, via, mtu)
        .iter()
        .map(|s| request(ifindex, s))
        .collect()
}

/// Netlink attributes of a buffer: (type, value).
fn attrs(mut b: &[u8]) -> Vec<(u16, &[u8])> {
    let mut out = Vec::new();
    while b.len() >= 4 {
        let len = u16::from_ne_bytes([b[0], b[1]]) as usize;
        let ty = u16::from_ne_bytes([b[2], b[3]]) & 0x3fff;
        if len < 4 || len > b.len() {
            break;
        }
        out.push((ty, &b[4..len]));
        b = &b[((len + 3) & !3).min(b.len())..];
    }
    out
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_ne_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

fn time_ns(ns: u64) -> Option<Time> {
    let us = (ns + 500) / 1000;
    (us > 0).then_some(Time(us))
}

fn pct(v: u32) -> Option<Percent> {
    (v > 0).then(|| Percent::from_u32_scale(v))
}

/// What a netem, tbf or fifo qdisc's options (TCA_OPTIONS' payload, as the
/// kernel dumps it) stand for as conditions. Anything unreadable is left
/// unset, never guessed.
pub(crate) fn read(kind: &str, opts: &[u8]) -> Conditions {
    let mut c = Conditions::default();
    match kind {
        "netem" => {
            let Some(latency) = u32_at(opts, 0) else {
                return c;
            };
            let limit = u32_at(opts, 4).unwrap_or(NETEM_LIMIT);
            c.loss = pct(u32_at(opts, 8).unwrap_or(0));
            c.duplicate = pct(u32_at(opts, 16).unwrap_or(0));
            let jitter = u32_at(opts, 20).unwrap_or(0);
            c.limit = (limit != NETEM_LIMIT).then_some(limit);
            let ticks_ns = |t: u32| u64::from(t) * 64;
            let mut delay_ns = ticks_ns(latency);
            let mut jitter_ns = ticks_ns(jitter);
            let mut rate32 = 0u64;
            let mut rate64 = None;
            for (ty, v) in attrs(opts.get(24..).unwrap_or(&[])) {
                match ty {
                    TCA_NETEM_LATENCY64 => delay_ns = u64_at(v, 0).unwrap_or(delay_ns),
                    TCA_NETEM_JITTER64 => jitter_ns = u64_at(v, 0).unwrap_or(jitter_ns),
                    TCA_NETEM_CORRUPT => c.corrupt = u32_at(v, 0).and_then(pct),
                    TCA_NETEM_RATE => rate32 = u64::from(u32_at(v, 0).unwrap_or(0)),
                    TCA_NETEM_RATE64 => rate64 = u64_at(v, 0),
                    _ => {}
                }
            }
            c.delay = time_ns(delay_ns);
            c.jitter = time_ns(jitter_ns);
            let bytes = rate64.unwrap_or(rate32);
            c.rate = (bytes > 0).then(|| Rate::from_bytes(bytes));
        }
        "tbf" => {
            let a = attrs(opts);
            let rate32 = a
                .iter()
                .find(|(t, _)| *t == TCA_TBF_PARMS)
                .and_then(|(_, v)| u32_at(v, 8))
                .map(u64::from);
            let rate64 = a
                .iter()
                .find(|(t, _)| *t == TCA_TBF_RATE64)
                .and_then(|(_, v)| u64_at(v, 0));
            let bytes = rate64.or(rate32).unwrap_or(0);
            c.rate = (bytes > 0).then(|| Rate::from_bytes(bytes));
        }
        "pfifo" => c.limit = u32_at(opts, 0),
        _ => {}
    }
    c
}

/// An interface's egress conditions from its qdiscs: a netem root, or a
/// tbf root with a pfifo under it, or a pfifo root. A root qdisc of
/// another kind that someone made (non-zero handle) is named; the kernel's
/// defaults (handle 0: noqueue, fq_codel, mq) are nothing.
pub(crate) fn egress(qdiscs: &[LiveQdisc], ifindex: u32) -> (Conditions, Option<String>) {
    let Some(root) = qdiscs.iter().find(|q| q.ifindex == ifindex && q.is_root()) else {
        return (Conditions::default(), None);
    };
    match root.kind.as_str() {
        "netem" | "pfifo" => (root.conditions, None),
        "tbf" => {
            let mut c = root.conditions;
            let child = qdiscs.iter().find(|q| {
                q.ifindex == ifindex
                    && q.parent >> 16 == root.handle >> 16
                    && !q.is_root()
                    && q.kind == "pfifo"
            });
            c.limit = child.and_then(|q| q.conditions.limit);
            (c, None)
        }
        _ if root.handle == 0 => (Conditions::default(), None),
        other => (Conditions::default(), Some(other.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use netlink_packet_core::{NetlinkHeader, NetlinkMessage, NetlinkPayload};

    use super::*;
    use crate::model::conditions::Param;
    use crate::model::mechanism::SHAPER_CLASS;

    /// The captured requests: (tc's arguments, whole message).
    fn captured() -> Vec<(String, Vec<u8>)> {
        let text = include_str!("../../tests/fixtures/tc-qdisc.hex");
        let mut out: Vec<(String, Vec<u8>)> = Vec::new();
        for line in text.lines() {
            if let Some(cmd) = line.strip_prefix("> ") {
                out.push((cmd.to_string(), Vec::new()));
            } else if !line.starts_with('#') && !line.trim().is_empty() {
                let bytes = &mut out.last_mut().expect("a command first").1;
                for i in (0..line.len()).step_by(2) {
                    bytes.push(u8::from_str_radix(&line[i..i + 2], 16).unwrap());
                }
            }
        }
        out
    }

    fn capture(args: &str) -> Vec<u8> {
        captured()
            .into_iter()
            .find(|(c, _)| c == args)
            .unwrap_or_else(|| panic!("no capture for {args}"))
            .1
    }

    /// Our request as it goes on the wire.
    fn wire(req: Request) -> Vec<u8> {
        let mut m = NetlinkMessage::new(NetlinkHeader::default(), NetlinkPayload::from(req.0));
        m.finalize();
        let mut buf = vec![0u8; m.buffer_len()];
        m.serialize(&mut buf);
        buf
    }

    /// Same message as tc's apart from the sequence number and flags.
    fn assert_same(ours: Vec<u8>, tcs: Vec<u8>, what: &str) {
        assert_eq!(ours.len(), tcs.len(), "{what}: length");
        assert_eq!(ours[..6], tcs[..6], "{what}: length and type");
        assert_eq!(ours[16..], tcs[16..], "{what}: body");
    }

    fn cond(pairs: &[(Param, &str)]) -> Conditions {
        let mut c = Conditions::default();
        for (p, v) in pairs {
            c.set(*p, v).unwrap();
        }
        c
    }

    #[test]
    fn netem_requests_are_tcs() {
        let all = cond(&[
            (Param::Delay, "20ms"),
            (Param::Jitter, "5ms"),
            (Param::Loss, "1%"),
            (Param::Corrupt, "0.1%"),
            (Param::Duplicate, "1%"),
            (Param::Rate, "10mbit"),
            (Param::Limit, "500"),
        ]);
        assert_same(
            wire(netem(1, &all)),
            capture("netem delay 20ms 5ms loss 1% corrupt 0.1% duplicate 1% rate 10mbit limit 500"),
            "all parameters",
        );
        let fast = cond(&[(Param::Loss, "20%"), (Param::Rate, "40gbit")]);
        assert_same(
            wire(netem(1, &fast)),
            capture("netem loss 20% rate 40gbit"),
            "rate64",
        );
        let small = cond(&[
            (Param::Delay, "100us"),
            (Param::Duplicate, "0.5%"),
            (Param::Limit, "10"),
        ]);
        assert_same(
            wire(netem(1, &small)),
            capture("netem delay 100us duplicate 0.5% limit 10"),
            "no attributes",
        );
    }

    #[test]
    fn tbf_and_pfifo_requests_are_tcs() {
        let rate = Rate(10_000_000);
        // The sizes vnet picks for 10mbit are the ones given to tc.
        assert_eq!(shaper_sizes(rate, 1500), (16384, 41384));
        let mut ours = wire(tbf(1, rate, 1500));
        // tc's request has no handle (ours is 1:, to put a pfifo under it).
        assert_eq!(ours[24..28], SHAPER.to_ne_bytes());
        ours[24..28].copy_from_slice(&[0; 4]);
        assert_same(
            ours,
            capture("tbf rate 10mbit burst 16384 limit 41384"),
            "tbf",
        );
        let fast = qdisc(
            1,
            0,
            ROOT,
            "tbf",
            tbf_options(Rate(40_000_000_000), 20_000_000, 120_000_000),
        );
        assert_same(
            wire(replace(fast)),
            capture("tbf rate 40gbit burst 20000000 limit 120000000"),
            "tbf rate64",
        );
        assert_same(wire(pfifo(1, ROOT, 50)), capture("pfifo limit 50"), "pfifo");
    }

    #[test]
    fn options_read_back_as_the_same_conditions() {
        let all = cond(&[
            (Param::Delay, "20ms"),
            (Param::Jitter, "5ms"),
            (Param::Loss, "1%"),
            (Param::Corrupt, "0.1%"),
            (Param::Duplicate, "1%"),
            (Param::Rate, "10mbit"),
            (Param::Limit, "500"),
        ]);
        assert_eq!(read("netem", &netem_options(&all)), all);
        let fast = cond(&[(Param::Rate, "40gbit"), (Param::Delay, "1us")]);
        assert!(fast.matches(&read("netem", &netem_options(&fast)), Via::Netem));
        // netem's default queue reads as "not set".
        let loss = cond(&[(Param::Loss, "20%")]);
        assert_eq!(read("netem", &netem_options(&loss)), loss);
        let tbf_opts = tbf_options(Rate(1_500_000), 16384, 20000);
        assert_eq!(read("tbf", &tbf_opts).rate, Some(Rate(1_500_000)));
        assert_eq!(
            read("tbf", &tbf_options(Rate(40_000_000_000), 1 << 20, 1 << 24)).rate,
            Some(Rate(40_000_000_000))
        );
        assert_eq!(read("pfifo", &7u32.to_ne_bytes()).limit, Some(7));
        // Nonsense is nothing, never a panic.
        assert!(read("netem", &[1, 2]).is_empty());
        assert!(read("tbf", &[255; 7]).is_empty());
    }

    #[test]
    fn an_interfaces_conditions_come_from_its_root_and_the_class_under_it() {
        let q = |kind: &str, handle: u32, parent: u32, c: Conditions| LiveQdisc {
            ifindex: 5,
            kind: kind.into(),
            handle,
            parent,
            conditions: c,
            ..LiveQdisc::default()
        };
        let rate = cond(&[(Param::Rate, "1mbit")]);
        let limit = cond(&[(Param::Limit, "30")]);
        let both = [
            q("tbf", SHAPER, ROOT, rate),
            q("pfifo", 0x8001_0000, SHAPER_CLASS, limit),
        ];
        assert_eq!(egress(&both, 5).0, rate.overlaid(&limit));
        assert_eq!(egress(&both, 6).0, Conditions::default());
        let default = [q("noqueue", 0, ROOT, Conditions::default())];
        assert_eq!(egress(&default, 5), (Conditions::default(), None));
        let by_hand = [q("htb", 0x1_0000, ROOT, Conditions::default())];
        assert_eq!(egress(&by_hand, 5).1.as_deref(), Some("htb"));
    }

    #[test]
    fn steps_become_requests_in_order() {
        let limited = cond(&[(Param::Rate, "10mbit"), (Param::Limit, "20")]);
        let fresh = changes(3, &Conditions::default(), &limited, Via::Shaper, 1500);
        assert!(matches!(
            fresh.as_slice(),
            [
                (RouteNetlinkMessage::NewQueueDiscipline(_), _),
                (RouteNetlinkMessage::NewQueueDiscipline(_), _)
            ]
        ));
        let cleared = changes(3, &limited, &Conditions::default(), Via::Shaper, 1500);
        assert!(matches!(
            cleared.as_slice(),
            [(RouteNetlinkMessage::DelQueueDiscipline(_), 0)]
        ));
    }
}
