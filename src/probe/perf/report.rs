//! What `vnet perf` measures, pure: the per-second slots of a run, the
//! figures each side keeps, the UDP receiver's tally (loss, RFC 3550
//! jitter, order) and the datagram header that carries what it needs.

use std::time::Duration;

use serde::Serialize;

use crate::probe::stats;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    Tcp,
    Udp,
}

/// The run cut in intervals of `step` from its start; the last one may be
/// shorter (`-t 2.5`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Clock {
    pub total: Duration,
    pub step: Duration,
}

impl Clock {
    pub fn slots(&self) -> usize {
        let n = self.total.as_nanos().div_ceil(self.step.as_nanos().max(1));
        (n as usize).max(1)
    }

    /// The slot a moment `at` since the start falls in; moments past the end
    /// count in the last.
    pub fn slot(&self, at: Duration) -> usize {
        let i = at.as_nanos() / self.step.as_nanos().max(1);
        (i as usize).min(self.slots() - 1)
    }

    /// Where slot `i` starts and ends.
    pub fn bounds(&self, i: usize) -> (Duration, Duration) {
        let start = self.step * i as u32;
        (start.min(self.total), (start + self.step).min(self.total))
    }

    pub fn end_of(&self, i: usize) -> Duration {
        self.bounds(i).1
    }
}

/// One side's figures over an interval or the whole run. What does not
/// apply (retransmits for UDP, loss for TCP, …) is left out.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Figures {
    pub bytes: u64,
    pub seconds: f64,
    pub bits_per_second: f64,
    /// TCP segments retransmitted (the kernel's tcpi_total_retrans), sender.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retransmits: Option<u64>,
    /// UDP datagrams sent, or received (each once).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub datagrams: Option<u64>,
    /// UDP datagrams lost, receiver.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lost: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub loss_percent: Option<f64>,
    /// RFC 3550 interarrival jitter, receiver.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jitter_ms: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub out_of_order: Option<u64>,
}

impl Figures {
    /// Bytes over `seconds`, with the rate worked out.
    pub fn of(bytes: u64, seconds: f64) -> Figures {
        Figures {
            bytes,
            seconds,
            bits_per_second: rate(bytes, seconds),
            ..Default::default()
        }
    }
}

pub fn rate(bytes: u64, seconds: f64) -> f64 {
    if seconds > 0.0 {
        bytes as f64 * 8.0 / seconds
    } else {
        0.0
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    Sender,
    Receiver,
}

/// One side's figures for one slot, sent to the main thread as the slot
/// ends.
#[derive(Clone, Debug, PartialEq)]
pub struct Tick {
    pub side: Side,
    pub slot: usize,
    pub figures: Figures,
}

/// One interval line: the receiver's bytes are the goodput.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Interval {
    pub start: f64,
    pub end: f64,
    /// The receiver's rate over the interval.
    pub bits_per_second: f64,
    pub sender: Figures,
    pub receiver: Figures,
}

/// Pairs the two sides' ticks into intervals, in order, as they come.
#[derive(Debug)]
pub struct Merger {
    clock: Clock,
    sender: Vec<Option<Figures>>,
    receiver: Vec<Option<Figures>>,
    next: usize,
}

impl Merger {
    pub fn new(clock: Clock) -> Merger {
        let n = clock.slots();
        Merger {
            clock,
            sender: vec![None; n],
            receiver: vec![None; n],
            next: 0,
        }
    }

    /// Take a tick; returns the intervals now complete, in order.
    pub fn add(&mut self, t: Tick) -> Vec<Interval> {
        let list = match t.side {
            Side::Sender => &mut self.sender,
            Side::Receiver => &mut self.receiver,
        };
        if let Some(s) = list.get_mut(t.slot) {
            *s = Some(t.figures);
        }
        let mut out = Vec::new();
        while self.next < self.sender.len()
            && self.sender[self.next].is_some()
            && self.receiver[self.next].is_some()
        {
            out.push(self.interval(self.next));
            self.next += 1;
        }
        out
    }

    /// The intervals not yet given out, with what is known of them (a side
    /// that stopped early leaves its figures empty).
    pub fn rest(&mut self) -> Vec<Interval> {
        let mut out = Vec::new();
        while self.next < self.sender.len() {
            if self.sender[self.next].is_some() || self.receiver[self.next].is_some() {
                out.push(self.interval(self.next));
            }
            self.next += 1;
        }
        out
    }

    fn interval(&self, i: usize) -> Interval {
        let (start, end) = self.clock.bounds(i);
        let receiver = self.receiver[i].clone().unwrap_or_default();
        Interval {
            start: start.as_secs_f64(),
            end: end.as_secs_f64(),
            bits_per_second: receiver.bits_per_second,
            sender: self.sender[i].clone().unwrap_or_default(),
            receiver,
        }
    }
}

/// What a UDP datagram carries at its start: its sequence number and when
/// it was sent (ns since the run's start, one clock for both sides: they
/// are threads of one process), or the end of the run with the count sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Header {
    Data { seq: u64, sent_ns: u64 },
    End { sent: u64 },
}

pub const HEADER_LEN: usize = 17;
const MAGIC_DATA: u8 = 0xd1;
const MAGIC_END: u8 = 0xe1;

impl Header {
    pub fn write(&self, buf: &mut [u8]) {
        let (kind, a, b) = match *self {
            Header::Data { seq, sent_ns } => (MAGIC_DATA, seq, sent_ns),
            Header::End { sent } => (MAGIC_END, sent, 0),
        };
        buf[0] = kind;
        buf[1..9].copy_from_slice(&a.to_be_bytes());
        buf[9..17].copy_from_slice(&b.to_be_bytes());
    }

    pub fn read(buf: &[u8]) -> Option<Header> {
        if buf.len() < HEADER_LEN {
            return None;
        }
        let word = |at: usize| {
            let mut w = [0u8; 8];
            w.copy_from_slice(&buf[at..at + 8]);
            u64::from_be_bytes(w)
        };
        match buf[0] {
            MAGIC_DATA => Some(Header::Data {
                seq: word(1),
                sent_ns: word(9),
            }),
            MAGIC_END => Some(Header::End { sent: word(1) }),
            _ => None,
        }
    }
}

/// The UDP receiver's counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Datagrams received, each once.
    pub received: u64,
    pub bytes: u64,
    pub out_of_order: u64,
    pub duplicates: u64,
    /// Gaps seen so far, less the datagrams that filled them late.
    pub gap_lost: u64,
}

/// The UDP receiver's running count. Loss is counted as iperf3 does while
/// the run goes (a gap in sequence numbers is loss until the missing
/// datagrams turn up late, out of order); the end summary counts it
/// exactly, from what the sender says it sent. Jitter is RFC 3550's: the
/// mean deviation of the difference in transit time between consecutive
/// datagrams, smoothed with gain 1/16.
#[derive(Clone, Debug, Default)]
pub struct UdpTally {
    pub counts: Counts,
    /// The next sequence number expected in order.
    expected: u64,
    jitter_ns: f64,
    prev_transit: Option<i128>,
    seen: Vec<u64>,
}

impl UdpTally {
    pub fn on_datagram(&mut self, seq: u64, sent_ns: u64, arrived_ns: u64, len: usize) {
        let transit = i128::from(arrived_ns) - i128::from(sent_ns);
        if let Some(prev) = self.prev_transit {
            let d = (transit - prev).abs() as f64;
            self.jitter_ns += (d - self.jitter_ns) / 16.0;
        }
        self.prev_transit = Some(transit);
        let c = &mut self.counts;
        if !first_time(&mut self.seen, seq) {
            c.duplicates += 1;
            return;
        }
        c.received += 1;
        c.bytes += len as u64;
        if seq >= self.expected {
            c.gap_lost += seq - self.expected;
            self.expected = seq + 1;
        } else {
            c.out_of_order += 1;
            c.gap_lost = c.gap_lost.saturating_sub(1);
        }
    }

    pub fn jitter_ms(&self) -> f64 {
        self.jitter_ns / 1e6
    }
}

/// Marks `seq` seen in the bit set; false when it was already. Sequence
/// numbers count the sender's datagrams, so the set grows by a bit per
/// datagram sent (12 KB per 100,000).
fn first_time(seen: &mut Vec<u64>, seq: u64) -> bool {
    let Ok(word) = usize::try_from(seq / 64) else {
        return false;
    };
    if word >= seen.len() {
        seen.resize(word + 1, 0);
    }
    let bit = 1u64 << (seq % 64);
    let was = seen[word] & bit != 0;
    seen[word] |= bit;
    !was
}

/// Receiver figures over an interval: what changed in the tally since
/// `before`.
pub fn udp_interval(t: &UdpTally, before: Counts, seconds: f64) -> Figures {
    let now = t.counts;
    let received = now.received - before.received;
    let lost = now.gap_lost.saturating_sub(before.gap_lost);
    Figures {
        datagrams: Some(received),
        lost: Some(lost),
        loss_percent: Some(if received + lost == 0 {
            0.0
        } else {
            stats::loss_percent(received + lost, received)
        }),
        jitter_ms: Some(t.jitter_ms()),
        out_of_order: Some(now.out_of_order - before.out_of_order),
        ..Figures::of(now.bytes - before.bytes, seconds)
    }
}

/// The receiver's summary of a UDP run, given what the sender sent.
pub fn udp_summary(t: &UdpTally, sent: u64, seconds: f64) -> Figures {
    let c = t.counts;
    Figures {
        datagrams: Some(c.received),
        lost: Some(sent.saturating_sub(c.received)),
        loss_percent: Some(if sent == 0 {
            0.0
        } else {
            stats::loss_percent(sent, c.received)
        }),
        jitter_ms: Some(t.jitter_ms()),
        out_of_order: Some(c.out_of_order),
        ..Figures::of(c.bytes, seconds)
    }
}

/// A rate as `tc` or iperf3 write it, in bits per second: `10mbit`,
/// `500kbit`, `1gbit`, `64000bit`, or iperf3's `10M`, `500k`, `1G`, `64000`
/// (decimal multiples, as both tools use for rates).
/// A rate `--bitrate` cannot take; says what was written and what works.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RateError {
    #[error(
        "`{0}`: say the rate in bits per second, as tc does (10mbit, 500kbit) or as iperf3 does (10M, 500k)"
    )]
    Bytes(String),
    #[error("`{0}` is not a rate (10mbit, 500kbit, 1gbit, or 10M)")]
    NotRate(String),
    #[error("`{0}`: at least 1kbit")]
    TooLow(String),
    #[error("`{0}`: at most 1tbit")]
    TooHigh(String),
}

pub fn parse_rate(s: &str) -> Result<u64, RateError> {
    let t = s.trim();
    let lower = t.to_ascii_lowercase();
    if lower.ends_with("bps") || lower.ends_with('b') && !lower.ends_with("bit") {
        return Err(RateError::Bytes(s.to_string()));
    }
    let body = lower.strip_suffix("bit").unwrap_or(&lower);
    let (num, scale) = match body.chars().last() {
        Some('k') => (&body[..body.len() - 1], 1e3),
        Some('m') => (&body[..body.len() - 1], 1e6),
        Some('g') => (&body[..body.len() - 1], 1e9),
        Some('t') => (&body[..body.len() - 1], 1e12),
        _ => (body, 1.0),
    };
    let v: f64 = num
        .trim()
        .parse()
        .map_err(|_| RateError::NotRate(s.to_string()))?;
    let bits = v * scale;
    if !bits.is_finite() || bits < 1000.0 {
        return Err(RateError::TooLow(s.to_string()));
    }
    if bits > 1e12 {
        return Err(RateError::TooHigh(s.to_string()));
    }
    Ok(bits as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: f64) -> Duration {
        Duration::from_secs_f64(s)
    }

    #[test]
    fn a_run_is_cut_in_seconds_and_a_last_short_slot() {
        let c = Clock {
            total: secs(2.5),
            step: secs(1.0),
        };
        assert_eq!(c.slots(), 3);
        assert_eq!(c.slot(secs(0.0)), 0);
        assert_eq!(c.slot(secs(0.999)), 0);
        assert_eq!(c.slot(secs(1.0)), 1);
        assert_eq!(c.slot(secs(2.4)), 2);
        assert_eq!(c.slot(secs(7.0)), 2, "late arrivals count in the last");
        assert_eq!(c.bounds(2), (secs(2.0), secs(2.5)));
        assert_eq!(c.end_of(0), secs(1.0));
        let whole = Clock {
            total: secs(3.0),
            step: secs(1.0),
        };
        assert_eq!(whole.slots(), 3);
        assert_eq!(whole.bounds(2), (secs(2.0), secs(3.0)));
        let tiny = Clock {
            total: secs(0.2),
            step: secs(1.0),
        };
        assert_eq!((tiny.slots(), tiny.bounds(0)), (1, (secs(0.0), secs(0.2))));
    }

    #[test]
    fn intervals_come_out_in_order_once_both_sides_spoke() {
        let c = Clock {
            total: secs(3.0),
            step: secs(1.0),
        };
        let mut m = Merger::new(c);
        let tick = |side, slot, bytes| Tick {
            side,
            slot,
            figures: Figures::of(bytes, 1.0),
        };
        assert!(m.add(tick(Side::Sender, 0, 1000)).is_empty());
        assert!(m.add(tick(Side::Sender, 1, 2000)).is_empty());
        // The receiver's slot 1 before its slot 0: nothing yet.
        assert!(m.add(tick(Side::Receiver, 1, 1500)).is_empty());
        let got = m.add(tick(Side::Receiver, 0, 900));
        assert_eq!(got.len(), 2);
        assert_eq!((got[0].start, got[0].end), (0.0, 1.0));
        assert_eq!(got[0].bits_per_second, 7200.0, "the receiver's bytes");
        assert_eq!(got[0].sender.bytes, 1000);
        assert_eq!(got[1].receiver.bytes, 1500);
        // The sender stopped early: the rest has the receiver alone.
        assert!(m.add(tick(Side::Receiver, 2, 10)).is_empty());
        let rest = m.rest();
        assert_eq!(rest.len(), 1);
        assert_eq!(rest[0].receiver.bytes, 10);
        assert_eq!(rest[0].sender, Figures::default());
        assert!(m.rest().is_empty());
    }

    #[test]
    fn headers_read_back_and_strangers_are_refused() {
        let mut b = [0u8; 64];
        for h in [
            Header::Data {
                seq: 7,
                sent_ns: 123_456_789_012,
            },
            Header::End { sent: 99 },
        ] {
            h.write(&mut b);
            assert_eq!(Header::read(&b), Some(h));
        }
        assert_eq!(Header::read(&b[..16]), None);
        assert_eq!(Header::read(&[0u8; 64]), None);
    }

    #[test]
    fn jitter_is_rfc3550_smoothed_transit_difference() {
        let mut t = UdpTally::default();
        // Transit 1 ms, then 3 ms, then 2 ms: D = 2 ms, then 1 ms.
        t.on_datagram(0, 0, 1_000_000, 100);
        assert_eq!(t.jitter_ms(), 0.0);
        t.on_datagram(1, 10_000_000, 13_000_000, 100);
        assert!((t.jitter_ms() - 2.0 / 16.0).abs() < 1e-12);
        t.on_datagram(2, 20_000_000, 22_000_000, 100);
        let j = 2.0 / 16.0 + (1.0 - 2.0 / 16.0) / 16.0;
        assert!((t.jitter_ms() - j).abs() < 1e-12, "{}", t.jitter_ms());
        // A steady stream converges to no jitter.
        let mut s = UdpTally::default();
        for i in 0..200u64 {
            s.on_datagram(i, i * 1000, i * 1000 + 500, 10);
        }
        assert_eq!(s.jitter_ms(), 0.0);
        // Transit alternating 0 and 1 ms converges to 1 ms.
        let mut a = UdpTally::default();
        for i in 0..400u64 {
            a.on_datagram(i, i * 10_000_000, i * 10_000_000 + (i % 2) * 1_000_000, 10);
        }
        assert!((a.jitter_ms() - 1.0).abs() < 1e-6, "{}", a.jitter_ms());
    }

    #[test]
    fn loss_order_and_duplicates_are_told_apart() {
        let mut t = UdpTally::default();
        for seq in [0, 1, 2, 5, 3, 6, 6, 9] {
            t.on_datagram(seq, 0, 0, 10);
        }
        let c = t.counts;
        assert_eq!(c.received, 7, "6 counted once");
        assert_eq!(c.duplicates, 1);
        assert_eq!(c.out_of_order, 1, "3 came after 5");
        // Gaps: 3,4 then 7,8; 3 turned up late.
        assert_eq!(c.gap_lost, 3);
        assert_eq!(c.bytes, 70);
        // The sender sent 0..=9: 10 sent, 7 received.
        let s = udp_summary(&t, 10, 1.0);
        assert_eq!(s.lost, Some(3));
        assert_eq!(s.loss_percent, Some(30.0));
        assert_eq!(s.datagrams, Some(7));
        assert_eq!(s.bits_per_second, 560.0);
        // Nothing sent is no loss, not 100%.
        assert_eq!(
            udp_summary(&UdpTally::default(), 0, 1.0).loss_percent,
            Some(0.0)
        );
    }

    #[test]
    fn interval_figures_are_differences() {
        let mut t = UdpTally::default();
        for seq in 0..10 {
            t.on_datagram(seq, 0, 0, 100);
        }
        let before = t.counts;
        for seq in [10, 11, 14, 15] {
            t.on_datagram(seq, 0, 0, 100);
        }
        let f = udp_interval(&t, before, 0.5);
        assert_eq!(f.datagrams, Some(4));
        assert_eq!(f.lost, Some(2));
        assert_eq!(f.loss_percent, Some(100.0 / 3.0));
        assert_eq!(f.bytes, 400);
        assert_eq!(f.bits_per_second, 6400.0);
        assert_eq!(f.out_of_order, Some(0));
    }

    #[test]
    fn rates_read_like_tc_and_iperf3() {
        assert_eq!(parse_rate("10mbit"), Ok(10_000_000));
        assert_eq!(parse_rate("500kbit"), Ok(500_000));
        assert_eq!(parse_rate("1gbit"), Ok(1_000_000_000));
        assert_eq!(parse_rate("64000bit"), Ok(64_000));
        assert_eq!(parse_rate("10M"), Ok(10_000_000));
        assert_eq!(parse_rate("1.5m"), Ok(1_500_000));
        assert_eq!(parse_rate("2000000"), Ok(2_000_000));
        assert!(
            parse_rate("10mbps")
                .unwrap_err()
                .to_string()
                .contains("bits per second")
        );
        assert!(parse_rate("10MB").is_err());
        assert!(parse_rate("fast").is_err());
        assert!(parse_rate("10").is_err(), "10 bit/s is below 1kbit");
        assert!(parse_rate("-5M").is_err());
    }
}
