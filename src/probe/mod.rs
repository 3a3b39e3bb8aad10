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
pub mod remote;
pub mod service;

pub mod sock;
pub mod stats;
pub mod target;
pub mod trace;
pub mod tunnels;
pub mod walk;
pub mod waves;
pub mod wire;
pub mod world;

use crate::kernel::KernelError;

/// Any error of the probes (ping, matrix, trace, perf) and of the doctor,
/// which runs on them.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    /// The user named something that is not there (exit 2).
    #[error("{0}")]
    Usage(String),
    /// Missing privilege: what to run instead.
    #[error("{0}")]
    NotPrivileged(String),
    #[error("{step}: {error}")]
    Kernel {
        step: String,
        #[source]
        error: KernelError,
    },
    /// An expectations file that does not read as one.
    #[error("{0}")]
    ExpectFile(#[source] serde_saphyr::Error),
    /// A runtime failure in words.
    #[error("{0}")]
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
