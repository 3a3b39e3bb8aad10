//! How a change of conditions is made, step by step (pure): which qdiscs
//! are replaced or removed, and whether the loss rule changes. The kernel
//! edge turns the steps into netlink requests, the dry run into `tc` and
//! `nft` commands, so both do the same.

use super::conditions::{Conditions, Percent, Rate, Via};

/// TC_H_ROOT and the tbf's handle 1: with its class 1:1.
pub const ROOT: u32 = 0xffff_ffff;
pub const SHAPER: u32 = 0x0001_0000;
pub const SHAPER_CLASS: u32 = 0x0001_0001;

/// One qdisc step on an interface.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum QdiscStep {
    /// `tc qdisc replace dev X root netem …` (every parameter).
    Netem(Conditions),
    /// `tc qdisc replace dev X root handle 1: tbf rate R burst B limit L`.
    Tbf { rate: Rate, burst: u32, limit: u32 },
    /// `tc qdisc replace dev X parent P pfifo limit N`.
    Pfifo { parent: u32, limit: u32 },
    /// `tc qdisc replace dev X parent P bfifo limit BYTES`: the tbf's own
    /// byte queue back when a packet limit is lifted.
    Bfifo { parent: u32, limit: u32 },
    /// `tc qdisc del dev X root`: the kernel's default qdisc back.
    DeleteRoot,
}

/// The tbf's bucket and queue for a rate, chosen so TCP goodput stays
/// within a few percent of the rate from 500 kbit to 1 gbit (measured with
/// iperf3 across a veth pair; README "Link conditions"):
/// - burst: 10 ms of the rate, at least 16 KiB and a whole packet. A
///   small bucket needs the timer to fire often and on time: at 1 gbit
///   64 KiB gave 62% of the rate, and on a busy machine 4 ms of the rate
///   gave 90% at 100 mbit; at low rates the bucket is what passes at once,
///   and 16 KiB is 2.6% of 10 s at 500 kbit.
/// - limit: the bucket plus 20 ms of the rate queued (tc's `latency 20ms`).
pub fn shaper_sizes(rate: Rate, mtu: u32) -> (u32, u32) {
    let bps = rate.bytes();
    let burst = (bps * 10 / 1000).max(16 * 1024).max(u64::from(mtu) + 14);
    let limit = burst + bps * 20 / 1000;
    (
        burst.min(u64::from(u32::MAX)) as u32,
        limit.min(u64::from(u32::MAX)) as u32,
    )
}

fn same_rate(a: Option<Rate>, b: Option<Rate>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(x), Some(y)) => x.bytes() == y.bytes(),
        _ => false,
    }
}

/// The qdisc steps that bring an interface's egress from `from` (what the
/// kernel holds) to `to`, touching only what differs. Loss without netem
/// is a rule, not a qdisc (see `loss_step`).
pub fn qdisc_steps(from: &Conditions, to: &Conditions, via: Via, mtu: u32) -> Vec<QdiscStep> {
    match via {
        Via::Netem => {
            if to.is_empty() {
                if from.is_empty() {
                    Vec::new()
                } else {
                    vec![QdiscStep::DeleteRoot]
                }
            } else if to.matches(from, via) {
                Vec::new()
            } else {
                vec![QdiscStep::Netem(*to)]
            }
        }
        Via::Shaper => {
            let mut out = Vec::new();
            match (to.rate, to.limit) {
                (Some(rate), limit) => {
                    let fresh = from.rate.is_none();
                    let (burst, bytes) = shaper_sizes(rate, mtu);
                    if !same_rate(from.rate, to.rate) {
                        out.push(QdiscStep::Tbf {
                            rate,
                            burst,
                            limit: bytes,
                        });
                    }
                    match limit {
                        Some(n) if fresh || from.limit != Some(n) => out.push(QdiscStep::Pfifo {
                            parent: SHAPER_CLASS,
                            limit: n,
                        }),
                        None if !fresh && from.limit.is_some() => out.push(QdiscStep::Bfifo {
                            parent: SHAPER_CLASS,
                            limit: bytes,
                        }),
                        _ => {}
                    }
                }
                (None, Some(n)) => {
                    if from.rate.is_some() || from.limit != Some(n) {
                        out.push(QdiscStep::Pfifo {
                            parent: ROOT,
                            limit: n,
                        });
                    }
                }
                (None, None) => {
                    if from.rate.is_some() || from.limit.is_some() {
                        out.push(QdiscStep::DeleteRoot);
                    }
                }
            }
            out
        }
    }
}

/// The loss rule's change, without netem: Some((from, to)) when it
/// differs beyond a part per million.
pub fn loss_step(
    from: &Conditions,
    to: &Conditions,
    via: Via,
) -> Option<(Option<Percent>, Option<Percent>)> {
    if via != Via::Shaper {
        return None;
    }
    let same = match (from.loss, to.loss) {
        (None, None) => true,
        (Some(a), Some(b)) => a.0.abs_diff(b.0) <= 1,
        _ => false,
    };
    (!same).then_some((from.loss, to.loss))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::conditions::Param;

    fn cond(pairs: &[(Param, &str)]) -> Conditions {
        let mut c = Conditions::default();
        for (p, v) in pairs {
            c.set(*p, v).unwrap();
        }
        c
    }

    #[test]
    fn only_what_differs_is_changed() {
        let from = cond(&[(Param::Rate, "10mbit"), (Param::Loss, "10%")]);
        let to = cond(&[(Param::Rate, "10mbit"), (Param::Loss, "20%")]);
        // Loss alone is a rule without netem: no qdisc step.
        assert!(qdisc_steps(&from, &to, Via::Shaper, 1500).is_empty());
        assert_eq!(
            loss_step(&from, &to, Via::Shaper),
            Some((Some(Percent(100_000)), Some(Percent(200_000))))
        );
        assert_eq!(
            qdisc_steps(&from, &to, Via::Netem, 1500),
            vec![QdiscStep::Netem(to)]
        );
        assert_eq!(loss_step(&from, &to, Via::Netem), None);
        let limited = cond(&[(Param::Rate, "10mbit"), (Param::Limit, "20")]);
        assert_eq!(
            qdisc_steps(&from, &limited, Via::Shaper, 1500),
            vec![QdiscStep::Pfifo {
                parent: SHAPER_CLASS,
                limit: 20
            }]
        );
        assert_eq!(
            qdisc_steps(&limited, &from, Via::Shaper, 1500),
            vec![QdiscStep::Bfifo {
                parent: SHAPER_CLASS,
                limit: 41384
            }]
        );
        assert_eq!(
            qdisc_steps(&from, &Conditions::default(), Via::Shaper, 1500),
            vec![QdiscStep::DeleteRoot]
        );
        let fresh = qdisc_steps(&Conditions::default(), &limited, Via::Shaper, 1500);
        assert!(matches!(
            fresh.as_slice(),
            [QdiscStep::Tbf { .. }, QdiscStep::Pfifo { .. }]
        ));
        let only_limit = cond(&[(Param::Limit, "5")]);
        assert_eq!(
            qdisc_steps(&from, &only_limit, Via::Shaper, 1500),
            vec![QdiscStep::Pfifo {
                parent: ROOT,
                limit: 5
            }]
        );
    }

    #[test]
    fn buckets_hold_a_whole_packet_and_scale_with_the_rate() {
        assert_eq!(shaper_sizes(Rate(10_000_000), 1500), (16384, 41384));
        assert_eq!(
            shaper_sizes(Rate(1_000_000_000), 1500),
            (1_250_000, 3_750_000)
        );
        assert_eq!(shaper_sizes(Rate(500_000), 65535).0, 65549);
    }
}
