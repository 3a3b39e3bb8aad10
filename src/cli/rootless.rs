//! Rootless mode at the command edge: which commands join the holder's
//! namespaces (those that talk to the kernel), and, after each, whether the
//! holder is still needed. The work is kernel/userns.rs's.

use super::{Cli, Command, FAILED};
use crate::kernel::{netns, userns};

/// Commands that read or change the kernel's network; the others (lab
/// files, completions, manual pages) run where they are.
fn talks_to_kernel(c: &Command) -> bool {
    match c {
        Command::Validate(_)
        | Command::Import(_)
        | Command::Completions(_)
        | Command::Man(_)
        | Command::Holder(_) => false,
        Command::Graph(a) => a.live,
        _ => true,
    }
}

/// Join the user's rootless namespaces when this command works rootless.
pub fn enter(cli: &Cli) -> Result<(), i32> {
    if !talks_to_kernel(&cli.command) || !userns::wanted(cli.rootless) {
        return Ok(());
    }
    match userns::enter() {
        Ok(e) => {
            if let Some(n) = e.notice {
                super::error(n);
            }
            Ok(())
        }
        Err(e) => {
            super::error(e);
            Err(FAILED)
        }
    }
}

/// After the command: the holder ends once no lab and no named namespace
/// is left in it (`down` of the last lab, or a command that found none).
pub fn settle() {
    userns::settle(|| crate::engine::record::labs().is_empty() && netns::list_named().is_empty());
}

/// "rootless (uid N)" when this command works rootless.
pub fn mode() -> Option<String> {
    userns::uid().map(|u| format!("rootless (uid {u})"))
}
