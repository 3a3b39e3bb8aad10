//! `vnet __supervise`: the supervisor of one workload command, started by
//! `vnet up` inside a node (see engine::workload). Hidden.

use std::path::PathBuf;

use clap::Args as ClapArgs;

use crate::engine::workload::{self, Supervise};

#[derive(ClapArgs)]
pub struct Args {
    #[arg(long)]
    log: PathBuf,
    #[arg(long)]
    exit: PathBuf,
    #[arg(long)]
    tag: String,
    #[arg(long, default_value_t = 0)]
    uid: u32,
    #[arg(long, default_value_t = 0)]
    gid: u32,
    #[arg(last = true, required = true)]
    command: Vec<String>,
}

pub(crate) fn run(a: Args) -> i32 {
    workload::supervise(Supervise {
        log: a.log,
        exit: a.exit,
        tag: a.tag,
        uid: a.uid,
        gid: a.gid,
        argv: a.command,
    })
}
