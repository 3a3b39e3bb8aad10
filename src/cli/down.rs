//! `vnet down LAB.yaml|NAME`: remove everything the lab owns;
//! `vnet down --orphans`: every lab whose owning program is gone.

use clap::Args as ClapArgs;

use super::progress::Bar;
use super::{OK, load};
use crate::engine::{self, Hooks};

#[derive(ClapArgs)]
pub struct Args {
    /// The lab file, or the lab's name
    #[arg(required_unless_present = "orphans", conflicts_with = "orphans")]
    pub lab: Option<String>,
    /// Remove every lab whose owner is gone: labs brought up through the library by a process that died without tearing them down
    #[arg(long)]
    pub orphans: bool,
    /// Refuse instead of waiting when another vnet is working on this lab
    #[arg(long)]
    pub no_wait: bool,
    #[arg(long, short)]
    pub quiet: bool,
    /// The host of a split lab whose part this is (parts are removed by their marks, so this only checks the name against the file)
    #[arg(long, value_name = "NAME")]
    pub host: Option<String>,
    /// Seconds processes inside the lab get between SIGTERM and SIGKILL
    #[arg(long, default_value_t = 5.0)]
    pub grace: f64,
}

pub(crate) fn run(a: Args) -> i32 {
    let Some(lab) = &a.lab else {
        return orphans();
    };
    let name = match load::lab_arg(lab) {
        Ok(l) => {
            if let (Some(h), load::LabArg::File(f)) = (&a.host, &l)
                && f.lab.hosts.get(h).is_none()
            {
                super::error(format!("--host {h}: not a host of lab {}", f.lab.name));
                return super::USAGE;
            }
            l.name().to_string()
        }
        Err(code) => return code,
    };
    let bar = Bar::new(a.quiet);
    let inc = |n| bar.inc(n);
    let start = |total| bar.start(total, &format!("down {name}"));
    let waiting =
        |_: Option<u32>| eprintln!("vnet: waiting for another vnet working on lab {name}");
    let hooks = Hooks {
        plan_size: &start,
        progress: &inc,
        waiting_for_lock: &waiting,
    };
    if !(0.0..=3600.0).contains(&a.grace) {
        super::error("--grace is between 0 and 3600 seconds");
        return super::USAGE;
    }
    let grace = std::time::Duration::from_secs_f64(a.grace);
    let r = engine::down::down_with(&name, &hooks, !a.no_wait, grace);
    bar.finish();
    if let Ok(r) = &r {
        ended(&name, &r.ended);
    }
    // External nodes whose namespace had gone: said, not an error.
    if let Ok(r) = &r {
        for g in &r.gone {
            crate::outln!("{name}: external {g}");
        }
        if r.external_interfaces > 0 {
            crate::outln!(
                "{name}: {} interfaces removed from external nodes (their namespaces are left as they were)",
                r.external_interfaces
            );
        }
    }
    match r {
        Ok(r) if r.namespaces == 0 && r.interfaces == 0 && r.external_interfaces == 0 => {
            crate::outln!("{name}: nothing to remove (no namespace or interface carries its mark)");
            OK
        }
        Ok(r) => {
            crate::outln!(
                "{name}: down in {} — {} namespaces and {} host interfaces removed",
                crate::render::elapsed::elapsed(r.elapsed),
                r.namespaces,
                r.interfaces
            );
            OK
        }
        Err(e) => super::up::report(&e),
    }
}

fn orphans() -> i32 {
    if let Err(e) = engine::require_privilege("down") {
        return super::up::report(&e);
    }
    let waiting = |_: Option<u32>| eprintln!("vnet: waiting for another vnet working on an orphan");
    let hooks = Hooks {
        waiting_for_lock: &waiting,
        ..Hooks::silent()
    };
    let reaped = engine::orphans::reap(&hooks);
    if reaped.is_empty() {
        crate::outln!(
            "no orphans: every lab's owner is running, or it was brought up by `vnet up`"
        );
        return OK;
    }
    let mut code = OK;
    for (name, r) in reaped {
        match r {
            Ok(r) => crate::outln!(
                "{name}: down in {} — {} namespaces and {} host interfaces removed (its owner is gone)",
                crate::render::elapsed::elapsed(r.elapsed),
                r.namespaces,
                r.interfaces
            ),
            Err(e) => code = super::up::report(&e),
        }
    }
    code
}

/// The processes `down` ended, one line each.
fn ended(name: &str, list: &[engine::workload::Ended]) {
    for e in list {
        crate::outln!(
            "{name}: ended {} (pid {}){}",
            e.command,
            e.pid,
            if e.killed {
                " with SIGKILL after the grace period"
            } else {
                ""
            }
        );
    }
}
