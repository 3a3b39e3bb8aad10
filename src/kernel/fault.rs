//! Test hook: `VNET_FAULT_AT=k` makes the k-th kernel operation of this
//! process fail with EIO, so every step of a bring-up can be shown to roll
//! back. `VNET_FAULT_COUNT=1` prints, when the command ends, how many
//! operations it counted: a script runs once without a fault to learn the
//! total, then covers every k from 1 to it. Without the variables this costs
//! one relaxed atomic add per operation.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use super::error::KernelError;

static COUNT: AtomicU64 = AtomicU64::new(0);
static FAIL_AT: OnceLock<Option<u64>> = OnceLock::new();

fn fail_at() -> Option<u64> {
    *FAIL_AT.get_or_init(|| {
        std::env::var("VNET_FAULT_AT")
            .ok()
            .and_then(|v| v.parse().ok())
    })
}

/// Count one kernel operation; fail it if it is the chosen one.
pub fn check() -> Result<(), KernelError> {
    let n = COUNT.fetch_add(1, Ordering::Relaxed) + 1;
    if fail_at() == Some(n) {
        return Err(KernelError::from_errno(libc::EIO).with_detail(Some(format!(
            "fault injected at kernel operation {n} (VNET_FAULT_AT)"
        ))));
    }
    Ok(())
}

/// Kernel operations counted so far.
pub fn count() -> u64 {
    COUNT.load(Ordering::Relaxed)
}

/// With `VNET_FAULT_COUNT` set (and not "0"), say how many operations this
/// process counted, on stderr, in a form scripts can read.
pub fn report() {
    if std::env::var_os("VNET_FAULT_COUNT").is_some_and(|v| v != "0") {
        eprintln!("vnet: kernel operations: {}", count());
    }
}
