//! What this kernel offers for link conditions, found by trying: a thread
//! enters a throwaway network namespace of its own and asks for a netem
//! qdisc and a tbf qdisc on its `lo`, and for the loss rule (an nftables
//! netdev chain on `lo`'s egress hook with numgen and fwd). The kernel
//! loads modules on demand, so a yes means it works here; the answer is
//! kept for the rest of the run. Nothing outside the throwaway namespace
//! changes (bar a module the kernel chose to load); it goes when the
//! thread ends.
//!
//! Entering a namespace needs CAP_SYS_ADMIN (root, or vnet inside a user
//! namespace of its own): without it nothing is probed, and `Support` says
//! so (`probed: false`).

use std::sync::OnceLock;

use nix::sched::{CloneFlags, unshare};

use super::netlink::NlSocket;
use super::netlink::nfnl::Nfnl;
use super::nft_write::{self, LossChange};
use super::qdisc;
use crate::model::conditions::{Conditions, Percent, Rate, Support, Time};

/// `lo`'s index in every namespace.
const LO: u32 = 1;

/// The kernel's support, probed on first use.
pub(crate) fn support() -> Support {
    static S: OnceLock<Support> = OnceLock::new();
    *S.get_or_init(|| std::thread::spawn(probe).join().unwrap_or_default())
}

/// On a thread of its own (its namespace is thrown away with it).
fn probe() -> Support {
    if unshare(CloneFlags::CLONE_NEWNET).is_err() {
        return Support::default();
    }
    let Ok(mut rt) = NlSocket::open() else {
        return Support::default();
    };
    let mut qdisc_works = |req: qdisc::Request| rt.request(req.0, req.1).is_ok();
    let netem = qdisc_works(qdisc::netem(
        LO,
        &Conditions {
            delay: Some(Time(1000)),
            ..Conditions::default()
        },
    ));
    let tbf = qdisc_works(qdisc::tbf(LO, Rate(1_000_000), 65536));
    let nft_egress = nft_write::batch(
        "vnet-probe",
        &[LossChange {
            dev: "lo".into(),
            from: None,
            to: Some(Percent(1)),
        }],
    )
    .is_some_and(|b| Nfnl::open().is_ok_and(|mut nf| nft_write::exchange(&mut nf, &b).is_ok()));
    Support {
        netem,
        tbf,
        nft_egress,
        probed: true,
    }
}
