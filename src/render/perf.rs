//! `vnet perf` as text, in iperf3's layout: a line per interval as it
//! ends (the receiver's bytes: the goodput), then the sender's and the
//! receiver's totals.

use crate::probe::perf::report::{Figures, Interval, Protocol};
use crate::probe::perf::{Connection, PerfReport};
use crate::probe::stats;

/// Which node is which, for the lines that name them.
pub struct Names<'a> {
    pub src: &'a str,
    pub dst: &'a str,
    pub reverse: bool,
}

impl Names<'_> {
    fn sender(&self) -> &str {
        if self.reverse { self.dst } else { self.src }
    }

    fn receiver(&self) -> &str {
        if self.reverse { self.src } else { self.dst }
    }
}

/// A number in at most four characters, as iperf3 prints them.
fn short(v: f64) -> String {
    if v < 9.995 {
        format!("{v:4.2}")
    } else if v < 99.95 {
        format!("{v:4.1}")
    } else {
        format!("{v:4.0}")
    }
}

/// Bytes with a binary unit: `1.19 MBytes`.
pub fn bytes(n: u64) -> String {
    let mut v = n as f64;
    for unit in ["Bytes", "KBytes", "MBytes", "GBytes"] {
        if v < 1024.0 || unit == "GBytes" {
            return format!("{} {unit}", short(v));
        }
        v /= 1024.0;
    }
    unreachable!("the loop returns at GBytes")
}

/// Bits per second with a decimal unit: `9.57 Mbits/sec`.
pub fn bits(bps: f64) -> String {
    let mut v = bps;
    for unit in ["bits/sec", "Kbits/sec", "Mbits/sec", "Gbits/sec"] {
        if v < 1000.0 || unit == "Gbits/sec" {
            return format!("{} {unit}", short(v));
        }
        v /= 1000.0;
    }
    unreachable!("the loop returns at Gbits/sec")
}

/// The lines before the intervals: who sends to whom, over what.
pub fn header(c: &Connection, protocol: Protocol, seconds: f64, names: &Names) -> String {
    let proto = match protocol {
        Protocol::Tcp => "TCP".to_string(),
        Protocol::Udp => format!("UDP, {} bytes per datagram", c.length.unwrap_or(0)),
    };
    let mut out = format!(
        "{} ({} port {}) connected to {} ({} port {}), {proto}, {} s\n",
        names.src,
        c.local.ip(),
        c.local.port(),
        names.dst,
        c.remote.ip(),
        c.remote.port(),
        stats::g(seconds)
    );
    if names.reverse {
        out.push_str(&format!(
            "reverse: {} sends, {} receives\n",
            names.dst, names.src
        ));
    }
    out.push_str(&format!(
        "{:<18}{:<13}{:<16}",
        "Interval", "Transfer", "Bitrate"
    ));
    out.push_str(match protocol {
        Protocol::Tcp => "Retr\n",
        Protocol::Udp => "Jitter    Lost/Total Datagrams\n",
    });
    out
}

fn span(start: f64, end: f64) -> String {
    format!("{start:.2}-{end:.2}  sec")
}

/// `0.00-1.00  sec    1.19 MBytes  9.99 Mbits/sec`: columns of fixed width,
/// since the lines are printed one by one as the run goes.
fn row(start: f64, end: f64, f: &Figures) -> String {
    format!(
        "{:<16}  {:>11}  {:>14}",
        span(start, end),
        bytes(f.bytes),
        bits(f.bits_per_second)
    )
}

fn udp_columns(f: &Figures, total: u64) -> String {
    let lost = f.lost.unwrap_or(0);
    let loss = f.loss_percent.unwrap_or(0.0);
    format!(
        "  {:.3} ms  {lost}/{total} ({}%)",
        f.jitter_ms.unwrap_or(0.0),
        stats::g((loss * 100.0).round() / 100.0)
    )
}

/// One interval: the receiver's bytes, and the sender's retransmits (TCP)
/// or the receiver's jitter and loss (UDP).
pub fn interval(i: &Interval, protocol: Protocol) -> String {
    let r = &i.receiver;
    let mut line = row(i.start, i.end, r);
    match protocol {
        Protocol::Tcp => {
            if let Some(n) = i.sender.retransmits {
                line.push_str(&format!("  {n:>4}"));
            }
        }
        Protocol::Udp => {
            let total = r.datagrams.unwrap_or(0) + r.lost.unwrap_or(0);
            line.push_str(&udp_columns(r, total));
        }
    }
    format!("{}\n", line.trim_end())
}

/// The totals: the sender's line, the receiver's line, and what else the
/// receiver saw.
pub fn summary(r: &PerfReport, names: &Names) -> String {
    let mut out = String::from("- - - - - - - - - - - - - - - - - - - - - - - - -\n");
    let end = r.seconds;
    let s = &r.sender;
    let v = &r.receiver;
    match r.protocol {
        Protocol::Tcp => {
            let retr = s
                .retransmits
                .map(|n| format!("{n:>4}"))
                .unwrap_or_else(|| "   -".into());
            out.push_str(&format!(
                "{}  {retr}  sender ({})\n",
                row(0.0, end, s),
                names.sender()
            ));
            out.push_str(&format!(
                "{}        receiver ({})\n",
                row(0.0, end, v),
                names.receiver()
            ));
        }
        Protocol::Udp => {
            let sent = s.datagrams.unwrap_or(0);
            let none = Figures {
                lost: Some(0),
                loss_percent: Some(0.0),
                jitter_ms: Some(0.0),
                ..Figures::default()
            };
            out.push_str(&format!(
                "{}{}  sender ({})\n",
                row(0.0, end, s),
                udp_columns(&none, sent),
                names.sender()
            ));
            out.push_str(&format!(
                "{}{}  receiver ({})\n",
                row(0.0, end, v),
                udp_columns(v, sent),
                names.receiver()
            ));
            if let Some(n) = v.out_of_order.filter(|n| *n > 0) {
                out.push_str(&format!("{n} datagrams arrived out of order\n"));
            }
        }
    }
    out.push_str(&format!(
        "goodput {} ({} → {})\n",
        bits(r.bits_per_second),
        names.sender(),
        names.receiver()
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_read_like_iperf3() {
        assert_eq!(bytes(0), "0.00 Bytes");
        assert_eq!(bytes(1_247_744), "1.19 MBytes");
        assert_eq!(bytes(12_000_000), "11.4 MBytes");
        assert_eq!(bytes(500 << 30), " 500 GBytes");
        assert_eq!(bits(9_570_000.0), "9.57 Mbits/sec");
        assert_eq!(bits(10_100_000.0), "10.1 Mbits/sec");
        assert_eq!(bits(999.0), " 999 bits/sec");
        assert_eq!(bits(2.5e9), "2.50 Gbits/sec");
    }

    fn report(protocol: Protocol) -> PerfReport {
        let fig = |bytes: u64| Figures::of(bytes, 1.0);
        let (sender, receiver) = match protocol {
            Protocol::Tcp => (
                Figures {
                    retransmits: Some(3),
                    ..fig(1_500_000)
                },
                fig(1_250_000),
            ),
            Protocol::Udp => (
                Figures {
                    datagrams: Some(100),
                    ..fig(144_800)
                },
                Figures {
                    datagrams: Some(80),
                    lost: Some(20),
                    loss_percent: Some(20.0),
                    jitter_ms: Some(0.0123),
                    out_of_order: Some(2),
                    ..fig(115_840)
                },
            ),
        };
        PerfReport {
            protocol,
            reverse: false,
            connection: Connection {
                local: "10.0.0.1:40000".parse().unwrap(),
                remote: "10.0.0.2:5201".parse().unwrap(),
                length: (protocol == Protocol::Udp).then_some(1448),
            },
            seconds: 1.0,
            target_bits_per_second: None,
            intervals: Vec::new(),
            bits_per_second: receiver.bits_per_second,
            sender,
            receiver,
        }
    }

    #[test]
    fn tcp_lines_have_the_goodput_and_the_retransmits() {
        let names = Names {
            src: "ns1",
            dst: "ns2",
            reverse: false,
        };
        let r = report(Protocol::Tcp);
        let h = header(&r.connection, r.protocol, 10.0, &names);
        assert!(
            h.starts_with(
                "ns1 (10.0.0.1 port 40000) connected to ns2 (10.0.0.2 port 5201), TCP, 10 s\n"
            ),
            "{h}"
        );
        let i = Interval {
            start: 0.0,
            end: 1.0,
            bits_per_second: 10_000_000.0,
            sender: Figures {
                retransmits: Some(2),
                ..Figures::of(1_300_000, 1.0)
            },
            receiver: Figures::of(1_250_000, 1.0),
        };
        assert_eq!(
            interval(&i, Protocol::Tcp),
            "0.00-1.00  sec    1.19 MBytes  10.0 Mbits/sec     2\n"
        );
        let s = summary(&r, &names);
        assert!(
            s.contains("1.43 MBytes  12.0 Mbits/sec     3  sender (ns1)"),
            "{s}"
        );
        assert!(
            s.contains("1.19 MBytes  10.0 Mbits/sec        receiver (ns2)"),
            "{s}"
        );
        assert!(s.ends_with("goodput 10.0 Mbits/sec (ns1 → ns2)\n"), "{s}");
        let rev = Names {
            reverse: true,
            ..names
        };
        assert!(summary(&r, &rev).contains("sender (ns2)"));
        assert!(
            header(&r.connection, r.protocol, 1.0, &rev)
                .contains("reverse: ns2 sends, ns1 receives")
        );
    }

    #[test]
    fn udp_lines_have_jitter_and_loss() {
        let names = Names {
            src: "a",
            dst: "b",
            reverse: false,
        };
        let r = report(Protocol::Udp);
        let s = summary(&r, &names);
        assert!(s.contains("0.000 ms  0/100 (0%)  sender (a)"), "{s}");
        assert!(s.contains("0.012 ms  20/100 (20%)  receiver (b)"), "{s}");
        assert!(s.contains("2 datagrams arrived out of order"), "{s}");
        assert!(
            header(&r.connection, r.protocol, 5.0, &names)
                .contains("UDP, 1448 bytes per datagram, 5 s")
        );
    }
}
