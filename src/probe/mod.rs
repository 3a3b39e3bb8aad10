//! vnet's eyes: `ping`, the all-pairs reachability matrix, and `trace`.
//! They read the live kernel, not a lab file, so they work on any
//! namespaces — a vnet lab, or one made by hand with `ip netns add`.
//!
//! Pure rooms (no kernel; unit-tested without root): `wire` (packets built
//! and decoded), `path` (which interfaces a packet can cross, from live
//! state), `target` (nodes and their addresses), `waves` (sizing the matrix
//! to the neighbour table), `walk` (captured frames → the packet walk),
//! `pcapng` (the capture file), `outcome` (results and expectations),
//! `stats` (loss and round-trip figures as ping reports them).
//! Kernel rooms: `sock`, `icmp` (raw ICMP sockets), `capture` (packet
//! sockets), `neigh` (neighbour tables over netlink), `world` (reading live
//! state), `matrix` and `trace` (the runs), `perf` (throughput between two
//! nodes, both ends threads of vnet).

pub mod capture;
pub mod icmp;
pub mod matrix;
pub mod neigh;
pub mod outcome;
pub mod path;
pub mod pcapng;
pub mod perf;
pub mod service;

pub mod sock;
pub mod stats;
pub mod target;
pub mod trace;
pub mod walk;
pub mod waves;
pub mod wire;
pub mod world;

use std::fmt;

use crate::kernel::KernelError;

#[derive(Debug)]
pub enum ProbeError {
    /// The user named something that is not there (exit 2).
    Usage(String),
    /// Missing privilege: what to run instead.
    NotPrivileged(String),
    Kernel {
        step: String,
        error: KernelError,
    },
    /// A runtime failure in words.
    Failed(String),
}

impl ProbeError {
    pub fn kernel(step: impl Into<String>, error: KernelError) -> ProbeError {
        ProbeError::Kernel {
            step: step.into(),
            error,
        }
    }
}

impl fmt::Display for ProbeError {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self {
            ProbeError::Usage(s) | ProbeError::NotPrivileged(s) | ProbeError::Failed(s) => {
                f.write_str(s)
            }
            ProbeError::Kernel { step, error } => write!(f, "{step}: {error}"),
        }
    }
}

impl std::error::Error for ProbeError {}
