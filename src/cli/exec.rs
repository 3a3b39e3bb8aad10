//! `vnet exec NODE -- CMD ARGS…`: like `ip netns exec`, exit code passed through.

use std::os::unix::process::CommandExt;

use clap::Args as ClapArgs;

use super::{FAILED, USAGE};
use crate::kernel::exec;
use crate::model::names;

#[derive(ClapArgs)]
pub struct Args {
    /// The node (namespace name), or `host`
    pub node: String,
    /// The command and its arguments
    #[arg(last = true, required = true)]
    pub command: Vec<String>,
}

pub(crate) fn run(a: Args) -> i32 {
    if a.node != "host" {
        if let Err(e) = names::check_netns_name(&a.node) {
            super::error(format!(
                "`{}` is not a node name: {e}",
                names::printable(&a.node)
            ));
            return USAGE;
        }
        if let Some(m) = crate::engine::privilege::missing() {
            super::error(crate::engine::privilege::refusal(
                &format!("exec {} --", a.node),
                m,
            ));
            return FAILED;
        }
        // A node with `files:` or `dirs:` has a mount namespace of its
        // own: the command sees the node's files.
        if let Some(pin) = crate::engine::workload::pin_of(&a.node)
            && let Err(e) = crate::kernel::mounts::enter(&pin)
        {
            super::error(format!("cannot enter {}'s mount namespace: {e}", a.node));
            return FAILED;
        }
        if let Err(e) = exec::enter(&a.node) {
            super::error(format!("cannot enter {}: {e}", a.node));
            return if e.is(libc::ENOENT) { USAGE } else { FAILED };
        }
    }
    let err = std::process::Command::new(&a.command[0])
        .args(&a.command[1..])
        .exec();
    super::error(format!("cannot run {}: {err}", a.command[0]));
    if err.kind() == std::io::ErrorKind::NotFound {
        127
    } else {
        126
    }
}
