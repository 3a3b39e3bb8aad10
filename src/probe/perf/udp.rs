//! The two ends of a UDP run (kernel side). The sender paces datagrams at
//! the rate asked for, each stamped with its sequence number and send time;
//! after the run it sends end markers carrying its count until the
//! receiver has one. The receiver tallies loss, jitter and order.

use std::io::ErrorKind;
use std::net::UdpSocket;
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::time::{Duration, Instant};

use super::report::{
    Clock, Counts, Figures, HEADER_LEN, Header, Side, Tick, UdpTally, udp_interval,
};
use crate::kernel::KernelError;

const MIN_WAIT: Duration = Duration::from_millis(1);
/// End markers are sent this far apart, at most `END_MARKERS` of them:
/// a full queue at the end of the run may drop the first few.
const END_GAP: Duration = Duration::from_millis(20);
const END_MARKERS: u32 = 25;
/// How long the receiver waits past the run's end for an end marker
/// (all lost, on a link that drops everything): datagrams still queued
/// on the way arrive within it.
pub const GRACE: Duration = Duration::from_secs(2);

/// What the sender is asked for.
#[derive(Clone, Copy, Debug)]
pub struct Pace {
    pub bits_per_second: u64,
    /// Payload bytes per datagram.
    pub length: usize,
}

impl Pace {
    /// Time between datagrams.
    fn gap(&self) -> Duration {
        Duration::from_secs_f64(self.length as f64 * 8.0 / self.bits_per_second.max(1) as f64)
    }
}

fn ignorable(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
    ) || matches!(
        e.raw_os_error(),
        // An ICMP error about an earlier datagram (a firewall's reject),
        // or a full device queue: this datagram is not sent, the run goes on.
        Some(libc::ECONNREFUSED) | Some(libc::ENOBUFS)
    )
}

/// Send at the pace asked until the run's end, then the end markers until
/// `heard` says the receiver is done. The sender's figures.
pub fn send(
    s: &UdpSocket,
    clock: Clock,
    start: Instant,
    pace: Pace,
    ticks: &Sender<Tick>,
    heard: &Receiver<()>,
) -> Result<Figures, KernelError> {
    let mut buf = vec![0x5au8; pace.length.max(HEADER_LEN)];
    let gap = pace.gap();
    let mut next = Duration::ZERO;
    let (mut slot, mut in_slot, mut seq) = (0usize, 0u64, 0u64);
    loop {
        let now = start.elapsed();
        while slot < clock.slots() && now >= clock.end_of(slot) {
            let (a, b) = clock.bounds(slot);
            let figures = Figures {
                datagrams: Some(in_slot),
                ..Figures::of(in_slot * buf.len() as u64, (b - a).as_secs_f64())
            };
            let _ = ticks.send(Tick {
                side: Side::Sender,
                slot,
                figures,
            });
            slot += 1;
            in_slot = 0;
        }
        if slot >= clock.slots() {
            break;
        }
        if now < next {
            // Pacing is the sender's own clock: without the fq qdisc the
            // kernel does not pace UDP. Behind schedule, it catches up.
            std::thread::sleep((next - now).min(clock.end_of(slot) - now));
            continue;
        }
        Header::Data {
            seq,
            sent_ns: start.elapsed().as_nanos() as u64,
        }
        .write(&mut buf);
        match s.send(&buf) {
            Ok(_) => {
                seq += 1;
                in_slot += 1;
            }
            Err(e) if ignorable(&e) => {}
            Err(e) if e.raw_os_error() == Some(libc::EMSGSIZE) => {
                return Err(KernelError::from(e).with_detail(Some(format!(
                    "datagrams of {} bytes do not fit the path's MTU: give a smaller --length",
                    buf.len()
                ))));
            }
            Err(e) => return Err(e.into()),
        }
        next += gap;
    }
    Header::End { sent: seq }.write(&mut buf);
    for _ in 0..END_MARKERS {
        match s.send(&buf[..HEADER_LEN]) {
            Ok(_) => {}
            Err(e) if ignorable(&e) => {}
            Err(e) => return Err(e.into()),
        }
        match heard.recv_timeout(END_GAP) {
            Err(RecvTimeoutError::Timeout) => {}
            Ok(()) | Err(RecvTimeoutError::Disconnected) => break,
        }
    }
    Ok(Figures {
        datagrams: Some(seq),
        ..Figures::of(seq * buf.len() as u64, clock.total.as_secs_f64())
    })
}

/// What the receiver saw, and the sender's count when an end marker came.
pub struct Received {
    pub tally: UdpTally,
    pub sent: Option<u64>,
}

/// Receive until an end marker comes, or `GRACE` past the run's end;
/// `done` is told (dropped) when it returns.
pub fn receive(
    s: &UdpSocket,
    clock: Clock,
    start: Instant,
    ticks: &Sender<Tick>,
    done: Sender<()>,
) -> Result<Received, KernelError> {
    let mut buf = vec![0u8; 65_536];
    let mut tally = UdpTally::default();
    let mut before = Counts::default();
    let mut slot = 0usize;
    let last = clock.slots() - 1;
    let stop = clock.total + GRACE;
    let mut sent = None;
    let tick = |slot: usize, tally: &UdpTally, before: &mut Counts| {
        let (a, b) = clock.bounds(slot);
        let _ = ticks.send(Tick {
            side: Side::Receiver,
            slot,
            figures: udp_interval(tally, *before, (b - a).as_secs_f64()),
        });
        *before = tally.counts;
    };
    loop {
        let now = start.elapsed();
        // The last interval stays open for datagrams still on their way.
        while slot < last && now >= clock.end_of(slot) {
            tick(slot, &tally, &mut before);
            slot += 1;
        }
        if now >= stop {
            break;
        }
        let until = if slot < last {
            clock.end_of(slot)
        } else {
            stop
        };
        s.set_read_timeout(Some((until - now).max(MIN_WAIT)))?;
        match s.recv(&mut buf) {
            Ok(n) => match Header::read(&buf[..n]) {
                Some(Header::Data { seq, sent_ns }) => {
                    let at = start.elapsed().as_nanos() as u64;
                    tally.on_datagram(seq, sent_ns, at, n);
                }
                Some(Header::End { sent: count }) => {
                    sent = Some(count);
                    break;
                }
                None => {}
            },
            Err(e) if ignorable(&e) => {}
            Err(e) => return Err(e.into()),
        }
    }
    drop(done);
    while slot <= last {
        tick(slot, &tally, &mut before);
        slot += 1;
    }
    Ok(Received { tally, sent })
}
