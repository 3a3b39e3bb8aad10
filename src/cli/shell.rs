//! `vnet shell NODE`: an interactive shell inside a node, the user's
//! $SHELL (else /bin/sh), entered as `vnet exec` enters it.

use clap::Args as ClapArgs;

#[derive(ClapArgs)]
pub struct Args {
    /// The node (namespace name), or `host`
    pub node: String,
}

pub fn run(a: Args) -> i32 {
    let shell = std::env::var("SHELL")
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "/bin/sh".to_string());
    super::exec::run(super::exec::Args {
        node: a.node,
        command: vec![shell],
    })
}
