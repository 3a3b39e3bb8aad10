//! Commands: parse arguments, call the library, render. One file each.

pub(crate) mod completions;
pub(crate) mod doctor;
pub(crate) mod down;
pub(crate) mod exec;
pub(crate) mod export;
pub(crate) mod graph;
pub(crate) mod holder;
pub(crate) mod impair;
pub(crate) mod import;
pub(crate) mod load;
pub(crate) mod logs;
pub(crate) mod man;
pub mod out;
pub(crate) mod perf;
pub(crate) mod ping;
pub(crate) mod progress;
pub(crate) mod report;
pub(crate) mod rootless;
pub(crate) mod serve;
pub(crate) mod shell;
pub(crate) mod signals;
pub(crate) mod status;
pub(crate) mod supervise;
pub(crate) mod trace;
pub(crate) mod up;
pub(crate) mod validate;

use clap::{Parser, Subcommand};

/// Exit codes shared by every command.
pub const OK: i32 = 0;
pub const FAILED: i32 = 1;
pub const USAGE: i32 = 2;

#[derive(Parser)]
#[command(
    name = "vnet",
    version,
    about = "Build, show, test and explain Linux virtual networks",
    long_about = "Build, show, test and explain Linux virtual networks: network namespaces joined by veth pairs and bridges, declared in one lab file.\n\nExit codes: 0 success, 1 runtime failure, 2 bad usage or invalid lab file."
)]
pub struct Cli {
    /// Work rootless even with privilege: labs live in namespaces of this user's own (also VNET_ROOTLESS=1; chosen by itself without CAP_NET_ADMIN)
    #[arg(long, global = true)]
    pub rootless: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Build a lab, or bring it back in line with its file
    Up(up::Args),
    /// Remove everything a lab owns, and nothing else
    Down(down::Args),
    /// Labs as the kernel holds them, and their drift from the file
    Status(status::Args),
    /// Run a command inside a node's namespace
    Exec(exec::Args),
    /// An interactive shell inside a node ($SHELL, else /bin/sh)
    Shell(shell::Args),
    /// Check a lab file without touching the kernel (no root needed)
    Validate(validate::Args),
    /// Turn a script of ip commands, an ip -batch file or a containerlab file into a lab file
    Import(import::Args),
    /// Draw a lab file, or the live kernel, as SVG, Graphviz dot or mermaid
    Graph(graph::Args),
    /// Write the live network (a lab, or namespaces made by hand) as a lab file
    Export(export::Args),
    /// Ping from a node (built in, no ping binary), or every node from every node with --all
    Ping(ping::Args),
    /// Follow one ping hop by hop: where each frame was seen, and where it was lost
    Trace(trace::Args),
    /// Say why a ping fails and how to fix it: the cause, the fix commands, the kernel's evidence
    Doctor(doctor::Args),
    /// Change an interface's link conditions live (delay, loss, rate …), keeping those not given
    Impair(impair::Args),
    /// Print the shell completion script for bash, zsh or fish
    Completions(completions::Args),
    /// Write the manual pages (vnet.1, vnet-up.1, …) into a directory
    Man(man::Args),
    /// Throughput between two nodes, TCP or UDP (built in, no iperf3): goodput, retransmits, loss, jitter
    Perf(perf::Args),
    /// What a node's `exec:` and `run:` commands printed (-f to follow)
    Logs(logs::Args),
    /// The supervisor of a node's command, started by `vnet up` itself
    #[command(name = "__supervise", hide = true)]
    Supervise(supervise::Args),
    /// The live network in a browser: state, counters, reachability and a ping's walk
    Serve(serve::Args),
    /// The rootless holder, started by vnet itself
    #[command(name = "__holder", hide = true)]
    Holder(holder::Args),
}

/// Run the command, inside the user's rootless namespaces when it works
/// rootless (entered first, while the process is one thread).
pub fn run(cli: Cli) -> i32 {
    // External nodes of labs that are up are found through their records.
    crate::engine::external::publish();
    if let Err(code) = rootless::enter(&cli) {
        return code;
    }
    let code = dispatch(cli);
    rootless::settle();
    code
}

fn dispatch(cli: Cli) -> i32 {
    match cli.command {
        Command::Up(a) => up::run(a),
        Command::Down(a) => down::run(a),
        Command::Status(a) => status::run(a),
        Command::Exec(a) => exec::run(a),
        Command::Shell(a) => shell::run(a),
        Command::Validate(a) => validate::run(a),
        Command::Import(a) => import::run(a),
        Command::Graph(a) => graph::run(a),
        Command::Export(a) => export::run(a),
        Command::Ping(a) => ping::run(a),
        Command::Trace(a) => trace::run(a),
        Command::Doctor(a) => doctor::run(a),
        Command::Impair(a) => impair::run(a),
        Command::Completions(a) => completions::run(a),
        Command::Man(a) => man::run(a),
        Command::Perf(a) => perf::run(a),
        Command::Serve(a) => serve::run(a),
        Command::Holder(a) => holder::run(a),
        Command::Logs(a) => logs::run(a),
        Command::Supervise(a) => supervise::run(a),
    }
}

/// Colour on stderr when it is a terminal and NO_COLOR is unset.
pub fn color() -> bool {
    use std::io::IsTerminal;
    std::env::var_os("NO_COLOR").is_none() && std::io::stderr().is_terminal()
}

pub fn error(msg: impl std::fmt::Display) {
    eprintln!("vnet: {msg}");
}
