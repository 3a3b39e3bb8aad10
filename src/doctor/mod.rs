//! `vnet doctor SRC DST`: why a ping fails, and how to fix it.
//!
//! One probe (the packet walk of `vnet trace`) says whether the path works.
//! When it does not, the doctor reads the namespaces on the way there and
//! back — links, addresses, routes, neighbours, sysctls, qdiscs, the
//! nftables ruleset — and runs small named rules over them, each reporting a
//! cause with its evidence and the commands that fix it. While the probe is
//! in flight, a tracefs instance of the doctor's own records where the
//! kernel dropped it and why (`skb:kfree_skb` drop reasons), and those
//! records are tied to the hop they happened at. It changes nothing.
//!
//! Pure rooms (no kernel; unit-tested without root): `case`, `finding`,
//! `cmd`, `snapshot`, `way`, `netfilter` (the ruleset evaluator), `drops`
//! (the trace records), `ask` (the kernel's decisions), `reasons`, `rules`, `verdict`. Kernel rooms:
//! `gather` (reading the namespaces) and `run` (the whole run).

pub mod ask;
pub mod case;
pub mod cmd;
pub mod code;
pub mod drops;
pub mod finding;
pub mod gather;
pub mod matrix;
pub mod netfilter;
pub mod reasons;
pub mod rules;
pub mod run;
pub mod snapshot;
pub mod verdict;
pub mod way;

#[cfg(test)]
mod tests;
