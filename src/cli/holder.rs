//! `vnet __holder DIR` (hidden): the rootless holder, started by vnet
//! itself; see kernel/holder.rs.

use std::path::PathBuf;

use clap::Args as ClapArgs;

#[derive(ClapArgs)]
pub struct Args {
    /// The user's runtime directory for vnet
    pub dir: PathBuf,
}

pub fn run(a: Args) -> i32 {
    crate::kernel::holder::run(&a.dir)
}
