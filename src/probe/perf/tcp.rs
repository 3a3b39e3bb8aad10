//! The two ends of a TCP run (kernel side): the sender writes as fast as
//! the connection takes, the receiver reads, each for the run's length by
//! one clock, and each reports its bytes as every interval ends. Blocking
//! calls wait at most until the next interval boundary (socket timeouts),
//! so neither side polls.

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::os::fd::AsFd;
use std::sync::mpsc::Sender;
use std::time::{Duration, Instant};

use super::report::{Clock, Figures, Side, Tick};
use crate::kernel::{KernelError, sockopt};

const BUF: usize = 128 * 1024;
/// A socket timeout of zero means "never": the shortest wait is this.
const MIN_WAIT: Duration = Duration::from_millis(1);

/// Segments retransmitted so far, when the kernel says.
fn retransmits(s: &TcpStream) -> Option<u32> {
    sockopt::tcp_info(s.as_fd()).ok()?.total_retrans
}

fn waiting(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
    )
}

/// Write until the run's end; the sender's figures for the whole run.
pub fn send(
    s: &TcpStream,
    clock: Clock,
    start: Instant,
    ticks: &Sender<Tick>,
) -> Result<Figures, KernelError> {
    let buf = vec![0x5au8; BUF];
    let first = retransmits(s);
    let mut last = first;
    let (mut slot, mut in_slot, mut total) = (0usize, 0u64, 0u64);
    loop {
        let now = start.elapsed();
        while slot < clock.slots() && now >= clock.end_of(slot) {
            let r = retransmits(s);
            let (a, b) = clock.bounds(slot);
            let figures = Figures {
                retransmits: r.zip(last).map(|(r, l)| u64::from(r.wrapping_sub(l))),
                ..Figures::of(in_slot, (b - a).as_secs_f64())
            };
            let _ = ticks.send(Tick {
                side: Side::Sender,
                slot,
                figures,
            });
            last = r;
            slot += 1;
            in_slot = 0;
        }
        if slot >= clock.slots() {
            break;
        }
        s.set_write_timeout(Some((clock.end_of(slot) - now).max(MIN_WAIT)))?;
        match (&*s).write(&buf) {
            Ok(n) => {
                in_slot += n as u64;
                total += n as u64;
            }
            Err(e) if waiting(&e) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(Figures {
        retransmits: retransmits(s)
            .zip(first)
            .map(|(r, f)| u64::from(r.wrapping_sub(f))),
        ..Figures::of(total, clock.total.as_secs_f64())
    })
}

/// What the receiver saw: its figures and, when the sender closed before
/// the run's end, when.
pub struct Received {
    pub figures: Figures,
    pub closed_at: Option<Duration>,
}

/// Read until the run's end (or the sender's close); the bytes read are
/// the goodput.
pub fn receive(
    s: &TcpStream,
    clock: Clock,
    start: Instant,
    ticks: &Sender<Tick>,
) -> Result<Received, KernelError> {
    let mut buf = vec![0u8; BUF];
    let (mut slot, mut in_slot, mut total) = (0usize, 0u64, 0u64);
    let mut closed_at = None;
    loop {
        let now = start.elapsed();
        while slot < clock.slots() && now >= clock.end_of(slot) {
            let (a, b) = clock.bounds(slot);
            let _ = ticks.send(Tick {
                side: Side::Receiver,
                slot,
                figures: Figures::of(in_slot, (b - a).as_secs_f64()),
            });
            slot += 1;
            in_slot = 0;
        }
        if slot >= clock.slots() {
            break;
        }
        s.set_read_timeout(Some((clock.end_of(slot) - now).max(MIN_WAIT)))?;
        match (&*s).read(&mut buf) {
            Ok(0) => {
                closed_at = Some(now);
                let (a, _) = clock.bounds(slot);
                let _ = ticks.send(Tick {
                    side: Side::Receiver,
                    slot,
                    figures: Figures::of(in_slot, now.saturating_sub(a).as_secs_f64()),
                });
                break;
            }
            Ok(n) => {
                in_slot += n as u64;
                total += n as u64;
            }
            Err(e) if waiting(&e) => {}
            Err(e) => return Err(e.into()),
        }
    }
    let seconds = closed_at.unwrap_or(clock.total).as_secs_f64();
    Ok(Received {
        figures: Figures::of(total, seconds),
        closed_at,
    })
}
