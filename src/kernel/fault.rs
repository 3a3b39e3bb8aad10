//! Test hook: `VNET_FAULT_AT=k` makes the k-th kernel operation of this
//! process fail with EIO, so every step of a bring-up can be shown to roll
//! back. Without the variable this costs one relaxed atomic add.

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

/// Kernel operations counted so far (reported with `VNET_FAULT_COUNT=1`).
pub fn count() -> u64 {
    COUNT.load(Ordering::Relaxed)
}
