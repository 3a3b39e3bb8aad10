//! `vnet down LAB.yaml|NAME`: remove everything the lab owns.

use clap::Args as ClapArgs;

use super::progress::Bar;
use super::{OK, USAGE, load};
use crate::engine::{self, Hooks};
use crate::model::names;

#[derive(ClapArgs)]
pub struct Args {
    /// The lab file, or the lab's name
    pub lab: String,
    /// Refuse instead of waiting when another vnet is working on this lab
    #[arg(long)]
    pub no_wait: bool,
    #[arg(long, short)]
    pub quiet: bool,
}

/// The lab name from a file (even an invalid one: its `name:` is enough) or
/// the argument itself.
pub fn lab_name(arg: &str) -> Result<String, i32> {
    if load::looks_like_file(arg) && std::path::Path::new(arg).is_file() {
        return match load::lab_file(arg) {
            Ok(l) => Ok(l.lab.name),
            Err(code) => Err(code),
        };
    }
    if let Err(e) = names::check_lab_name(arg) {
        super::error(format!(
            "`{}` is neither a lab file nor a lab name: {e}",
            names::printable(arg)
        ));
        return Err(USAGE);
    }
    Ok(arg.to_string())
}

pub fn run(a: Args) -> i32 {
    let name = match lab_name(&a.lab) {
        Ok(n) => n,
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
    let r = engine::down::down(&name, &hooks, !a.no_wait);
    bar.finish();
    match r {
        Ok(r) if r.namespaces == 0 && r.interfaces == 0 => {
            println!("{name}: nothing to remove (no namespace or interface carries its mark)");
            OK
        }
        Ok(r) => {
            println!(
                "{name}: down in {:.2} s — {} namespaces and {} host interfaces removed",
                r.elapsed.as_secs_f64(),
                r.namespaces,
                r.interfaces
            );
            OK
        }
        Err(e) => super::up::report(&e),
    }
}
