//! `vnet perf`: throughput between two nodes with no iperf3 (kernel side).
//! Both ends are threads of this process: the server's socket is opened
//! inside DST's namespace on a free port (or `--port`), the client's inside
//! SRC's; sockets stay in the namespace they were opened in, and each
//! side's thread runs inside its node's namespace too. One clock serves
//! both, so the receiver's count over the run is the goodput, UDP send
//! times need no synchronisation, and the port needs no control channel.
//!
//! Rooms: `report` (pure: intervals, figures, UDP tally, datagram header),
//! `tcp` and `udp` (the two ends of each protocol), `connect` (the pair of
//! sockets).

pub mod connect;
pub mod report;
pub mod tcp;
pub mod udp;

use std::net::{IpAddr, SocketAddr, TcpStream, UdpSocket};
use std::os::fd::BorrowedFd;
use std::sync::mpsc;
use std::thread::{Scope, ScopedJoinHandle};
use std::time::{Duration, Instant};

use serde::Serialize;

use super::ProbeError;
use crate::kernel::{KernelError, netns};
use report::{Clock, Figures, Interval, Merger, Protocol, Tick};

#[derive(Clone, Debug)]
pub struct PerfOptions {
    pub protocol: Protocol,
    pub duration: Duration,
    /// Interval lines every this long.
    pub interval: Duration,
    /// UDP: the sending rate, bits per second.
    pub rate: u64,
    /// UDP: payload bytes per datagram (None: what fits the path's MTU,
    /// at most 1448 as iperf3 sends).
    pub length: Option<usize>,
    /// DST sends to SRC.
    pub reverse: bool,
    /// The server's port; None: a free one.
    pub port: Option<u16>,
}

/// The two nodes: their names (for messages), namespaces and the address
/// the client connects to (one of DST's).
#[derive(Clone, Copy)]
pub struct Ends<'a> {
    pub src: &'a str,
    pub src_ns: BorrowedFd<'a>,
    pub dst: &'a str,
    pub dst_ns: BorrowedFd<'a>,
    pub dst_addr: IpAddr,
}

/// The connection a run goes over.
#[derive(Clone, Debug, Serialize)]
pub struct Connection {
    /// The client's end, in SRC.
    pub local: SocketAddr,
    /// The server's end, in DST.
    pub remote: SocketAddr,
    /// UDP: payload bytes per datagram.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub length: Option<usize>,
}

pub enum PerfEvent<'a> {
    Connected(&'a Connection),
    Interval(&'a Interval),
}

#[derive(Clone, Debug, Serialize)]
pub struct PerfReport {
    pub protocol: Protocol,
    pub reverse: bool,
    pub connection: Connection,
    pub seconds: f64,
    /// UDP: the rate asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_bits_per_second: Option<u64>,
    pub intervals: Vec<Interval>,
    pub sender: Figures,
    pub receiver: Figures,
    /// The receiver's rate over the run: the goodput.
    pub bits_per_second: f64,
}

/// The connected pair: the client's socket (in SRC) and the server's (in DST).
enum Pair {
    Tcp(TcpStream, TcpStream),
    Udp(UdpSocket, UdpSocket, udp::Pace),
}

/// What the receiving thread ends with.
enum Got {
    Tcp(tcp::Received),
    Udp(udp::Received),
}

/// Run the measurement; `on` hears of the connection and of each interval
/// as they happen.
pub fn run(
    ends: &Ends,
    opts: &PerfOptions,
    mut on: impl FnMut(PerfEvent),
) -> Result<PerfReport, ProbeError> {
    let clock = Clock {
        total: opts.duration,
        step: opts.interval,
    };
    let (pair, connection) = match opts.protocol {
        Protocol::Tcp => {
            let (c, s, conn) = connect::tcp(ends, opts.port)?;
            (Pair::Tcp(c, s), conn)
        }
        Protocol::Udp => {
            let (c, s, conn) = connect::udp(ends, opts)?;
            let pace = udp::Pace {
                bits_per_second: opts.rate,
                length: conn.length.unwrap_or(connect::UDP_LENGTH),
            };
            (Pair::Udp(c, s, pace), conn)
        }
    };
    on(PerfEvent::Connected(&connection));
    let mut merger = Merger::new(clock);
    let mut intervals = Vec::new();
    let (sent, received) = std::thread::scope(|scope| {
        let (ticks, heard) = mpsc::channel::<Tick>();
        let (sender, receiver) = spawn(scope, ends, opts, &pair, clock, ticks);
        // Ends when both sides are done (their channel ends dropped).
        for t in heard {
            for i in merger.add(t) {
                on(PerfEvent::Interval(&i));
                intervals.push(i);
            }
        }
        (join(sender), join(receiver))
    });
    for i in merger.rest() {
        on(PerfEvent::Interval(&i));
        intervals.push(i);
    }
    let (sender_node, receiver_node) = if opts.reverse {
        (ends.dst, ends.src)
    } else {
        (ends.src, ends.dst)
    };
    let sender = sent.map_err(|e| {
        ProbeError::kernel(format!("send from {sender_node} to {receiver_node}"), e)
    })?;
    let received =
        received.map_err(|e| ProbeError::kernel(format!("receive in {receiver_node}"), e))?;
    let receiver = match received {
        Got::Tcp(r) => {
            if let Some(at) = r.closed_at {
                return Err(ProbeError::Failed(format!(
                    "{sender_node} closed the connection after {:.2} s of {:.2}",
                    at.as_secs_f64(),
                    clock.total.as_secs_f64()
                )));
            }
            r.figures
        }
        Got::Udp(r) => {
            let sent = sender.datagrams.unwrap_or(0);
            if r.sent.is_some_and(|s| s != sent) {
                return Err(ProbeError::Failed(format!(
                    "{receiver_node} heard of {} datagrams sent, {sender_node} sent {sent}",
                    r.sent.unwrap_or(0)
                )));
            }
            report::udp_summary(&r.tally, sent, clock.total.as_secs_f64())
        }
    };
    Ok(PerfReport {
        protocol: opts.protocol,
        reverse: opts.reverse,
        connection,
        seconds: clock.total.as_secs_f64(),
        target_bits_per_second: (opts.protocol == Protocol::Udp).then_some(opts.rate),
        intervals,
        bits_per_second: receiver.bits_per_second,
        sender,
        receiver,
    })
}

type Side<'scope, T> = ScopedJoinHandle<'scope, Result<T, KernelError>>;

/// (sender, receiver): the client sends, unless reversed.
fn sending_first<T>(reverse: bool, client: T, server: T) -> (T, T) {
    if reverse {
        (server, client)
    } else {
        (client, server)
    }
}

/// A thread that runs `f` inside the namespace `ns`.
fn inside<'scope, 'env, T: Send + 'scope>(
    scope: &'scope Scope<'scope, 'env>,
    ns: BorrowedFd<'env>,
    f: impl FnOnce() -> Result<T, KernelError> + Send + 'scope,
) -> Side<'scope, T> {
    scope.spawn(move || netns::within(ns, f).and_then(|r| r))
}

/// Start the sending and the receiving thread, each inside its node's
/// namespace, on one clock started now.
fn spawn<'scope, 'env>(
    scope: &'scope Scope<'scope, 'env>,
    ends: &'env Ends<'env>,
    opts: &PerfOptions,
    pair: &'env Pair,
    clock: Clock,
    ticks: mpsc::Sender<Tick>,
) -> (Side<'scope, Figures>, Side<'scope, Got>) {
    let (sender_ns, receiver_ns) = if opts.reverse {
        (ends.dst_ns, ends.src_ns)
    } else {
        (ends.src_ns, ends.dst_ns)
    };
    let start = Instant::now();
    let ticks2 = ticks.clone();
    match pair {
        Pair::Tcp(client, server) => {
            let (tx, rx) = sending_first(opts.reverse, client, server);
            (
                inside(scope, sender_ns, move || {
                    tcp::send(tx, clock, start, &ticks)
                }),
                inside(scope, receiver_ns, move || {
                    tcp::receive(rx, clock, start, &ticks2).map(Got::Tcp)
                }),
            )
        }
        Pair::Udp(client, server, pace) => {
            let (tx, rx) = sending_first(opts.reverse, client, server);
            let pace = *pace;
            let (done, heard) = mpsc::channel::<()>();
            (
                inside(scope, sender_ns, move || {
                    udp::send(tx, clock, start, pace, &ticks, &heard)
                }),
                inside(scope, receiver_ns, move || {
                    udp::receive(rx, clock, start, &ticks2, done).map(Got::Udp)
                }),
            )
        }
    }
}

fn join<T>(h: Side<T>) -> Result<T, KernelError> {
    h.join().unwrap_or_else(|_| {
        Err(KernelError::from_errno(libc::EIO)
            .with_detail(Some("the thread measuring it stopped unexpectedly".into())))
    })
}
