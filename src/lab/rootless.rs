//! Rootless labs for library users: join the user's rootless namespaces
//! (docs/rootless.md) as every `vnet` command does at its start.

use super::error::{Error, Result};
use crate::kernel::userns;

/// Call at the very start of `main`, before any other thread exists (the
/// kernel lets only a single-threaded process enter a user namespace): when
/// this process lacks CAP_NET_ADMIN (a normal user), or `VNET_ROOTLESS=1`,
/// it joins the user's rootless namespaces, starting their holder if none
/// runs, and labs are then built there, needing no root. Returns whether it
/// did; as root it does nothing. A test binary calls it from its own `main`
/// (`harness = false`), since libtest starts threads before any test runs.
pub fn enter_rootless() -> Result<bool> {
    if !userns::wanted(false) {
        return Ok(false);
    }
    let entered = userns::enter().map_err(|e| Error::Usage(e.to_string()))?;
    if let Some(n) = entered.notice {
        eprintln!("vnet: {n}");
    }
    Ok(true)
}
