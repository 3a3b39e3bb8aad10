//! `vnet serve [LAB|NAME] [--listen ADDR:PORT] [--allow-changes]`.

use std::net::SocketAddr;
use std::time::Duration;

use clap::Args as ClapArgs;

use super::{FAILED, USAGE, load};
use crate::serve::{self, Options, Target};

/// The default address: loopback only.
const DEFAULT_LISTEN: &str = "127.0.0.1:8047";

#[derive(ClapArgs)]
#[command(
    after_help = "The page draws the network as `vnet graph --live` does and keeps it current from the kernel's events; it runs the matrix, trace and doctor on request. Read-only unless --allow-changes is given; then changes need the token printed at start. API: docs/serve.md."
)]
pub struct Args {
    /// A lab's name or file; without it, every namespace on the machine
    pub lab: Option<String>,
    /// Address and port to listen on; anything but loopback must be given here, and is warned about
    #[arg(long, value_name = "ADDR:PORT")]
    pub listen: Option<String>,
    /// Let the page set links up or down and change link conditions (each request carries the token printed at start)
    #[arg(long)]
    pub allow_changes: bool,
    /// Seconds between counter readings while a page is open
    #[arg(long, value_parser = super::ping::parse_secs, default_value = "1")]
    pub interval: Duration,
}

pub(crate) fn run(a: Args) -> i32 {
    let listen: SocketAddr = match a.listen.as_deref().unwrap_or(DEFAULT_LISTEN).parse() {
        Ok(l) => l,
        Err(_) => {
            super::error(format!(
                "--listen: `{}` is not ADDR:PORT (e.g. 127.0.0.1:8047, [::1]:8047)",
                a.listen.as_deref().unwrap_or_default()
            ));
            return USAGE;
        }
    };
    if a.interval < Duration::from_millis(100) {
        super::error("--interval: at least 0.1 s");
        return USAGE;
    }
    if !listen.ip().is_loopback() {
        super::error(format!(
            "warning: listening on {listen}, not loopback: anyone who can reach it sees the network{}",
            if a.allow_changes {
                ", and whoever has the token can change it"
            } else {
                ""
            }
        ));
    }
    let target = match &a.lab {
        None => Target::Machine,
        Some(arg) => match load::lab_arg(arg) {
            Ok(l) => Target::Lab {
                name: l.name().to_string(),
                file: l.into_lab(),
            },
            Err(code) => return code,
        },
    };
    let opts = Options {
        target,
        listen,
        allow_changes: a.allow_changes,
        interval: a.interval,
    };
    let r = serve::run(opts, |s| {
        crate::outln!("vnet serve: {} nodes at {}", s.nodes, s.url);
        match &s.token {
            Some(t) => crate::outln!("changes allowed with the header X-Vnet-Token: {t}"),
            None => crate::outln!("read-only (--allow-changes lets the page change links)"),
        }
        crate::outln!("open it in a browser; Ctrl-C stops it");
    });
    match r {
        Ok(()) => 0,
        Err(e) => {
            super::error(e);
            FAILED
        }
    }
}
