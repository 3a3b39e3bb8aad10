//! SIGINT and SIGTERM during a change only raise a flag: the operation stops
//! at the next step and rolls back, instead of dying half-done.

use std::sync::atomic::Ordering;

use crate::kernel::sys;

pub(crate) use crate::kernel::sys::TERMINATION as CANCEL;

pub(crate) fn catch() {
    sys::raise_on_termination();
}

pub(crate) fn cancelled() -> bool {
    CANCEL.load(Ordering::SeqCst)
}
