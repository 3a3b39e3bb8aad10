//! `vnet up LAB.yaml`: build or reconcile a lab; `--dry-run` prints the plan.

use std::time::Duration;

use clap::{Args as ClapArgs, ValueEnum};

use super::progress::Bar;
use super::{FAILED, OK, USAGE, load, signals};
use crate::engine::{self, EngineError, Hooks, up::UpOptions};
use crate::kernel::ready::Need;
use crate::plan::script;
use crate::render::elapsed::elapsed;

#[derive(ClapArgs)]
pub struct Args {
    /// The lab file
    pub file: String,
    /// Print the plan as iproute2 commands and change nothing (no root needed)
    #[arg(long, short = 'n')]
    pub dry_run: bool,
    /// Plan output format for --dry-run
    #[arg(long, value_enum, default_value_t = Format::Sh)]
    pub format: Format,
    /// Refuse instead of waiting when another vnet is working on this lab
    #[arg(long)]
    pub no_wait: bool,
    /// Only the one-line summary
    #[arg(long, short)]
    pub quiet: bool,
    /// Seconds to wait for carrier and forwarding once the changes are made
    #[arg(long, default_value_t = 15.0)]
    pub ready_timeout: f64,
    /// Build this host's part of a lab split over `hosts:` (default: the host whose underlay address is on this machine)
    #[arg(long, value_name = "NAME")]
    pub host: Option<String>,
    /// Return once the network is up and the nodes' commands started, without waiting for their `ready:` checks
    #[arg(long)]
    pub no_ready: bool,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum Format {
    /// A shell script of `ip` commands
    Sh,
    /// An `ip -batch` file
    Batch,
    /// The plan's actions as JSON
    Json,
}

pub(crate) fn run(a: Args) -> i32 {
    let mut loaded = match load::lab_file(&a.file) {
        Ok(l) => l,
        Err(code) => return code,
    };
    if let Err(e) = engine::hosts::choose(&mut loaded.lab, a.host.as_deref(), !a.dry_run) {
        super::error(e);
        return USAGE;
    }
    let lab = &loaded.lab;
    if a.dry_run {
        return dry_run(&a, &loaded);
    }
    if !(0.0..=3600.0).contains(&a.ready_timeout) {
        super::error("--ready-timeout is between 0 and 3600 seconds");
        return USAGE;
    }
    signals::catch();
    let bar = Bar::new(a.quiet);
    let inc = |n| bar.inc(n);
    let start = |total| bar.start(total, &format!("up {}", lab.name));
    let waiting = |pid: Option<u32>| match pid {
        Some(p) => eprintln!(
            "vnet: waiting for another vnet (pid {p}) working on lab {}",
            lab.name
        ),
        None => eprintln!("vnet: waiting for another vnet working on lab {}", lab.name),
    };
    let hooks = Hooks {
        plan_size: &start,
        progress: &inc,
        waiting_for_lock: &waiting,
    };
    let opts = UpOptions {
        wait_for_lock: !a.no_wait,
        ready_timeout: Duration::from_secs_f64(a.ready_timeout),
        file: Some(loaded.path.clone()),
        text: Some(loaded.text.clone()),
        owner: None,
    };
    let work = engine::up::WorkOptions {
        wait_ready: !a.no_ready,
    };
    let result = engine::up::up_with(lab, &opts, &work, &hooks, &signals::CANCEL);
    crate::kernel::profile::mark("returned");
    bar.finish();
    match result {
        Ok(r) => {
            let took = elapsed(r.elapsed);
            if let Some(h) = &lab.hosts.here {
                crate::outln!(
                    "{}: part of host {h} ({} tunnel end(s) to other hosts)",
                    lab.name,
                    crate::model::hosts::tunnels(lab)
                        .iter()
                        .filter(|t| t.hosts.contains(h))
                        .count()
                );
            }
            if r.plan.is_empty() {
                crate::outln!(
                    "{}: nothing to do, the kernel matches the file ({} namespaces, {} interfaces; checked in {took})",
                    lab.name,
                    r.namespaces,
                    r.interfaces
                );
            } else {
                crate::outln!(
                    "{}: up in {took} — {} namespaces, {} interfaces; {}",
                    lab.name,
                    r.namespaces,
                    r.interfaces,
                    r.counts
                );
            }
            work_summary(&lab.name, &r.work);
            if !r.not_ready.is_empty() {
                eprintln!(
                    "vnet: warning: {} interface(s) not ready after {:.0} s:",
                    r.not_ready.len(),
                    a.ready_timeout
                );
                for (ns, name, need) in r.not_ready.iter().take(10) {
                    let what = match need {
                        Need::Up | Need::Carrier => "no carrier",
                        Need::Forwarding => "bridge port not forwarding",
                    };
                    eprintln!("  {name} in {ns}: {what}");
                }
            }
            OK
        }
        Err(e) => report_with_file(&e, &loaded),
    }
}

/// Like `report`, but conditions this kernel cannot make are shown at
/// their place in the lab file (and exit 2: the file asks for them).
pub(crate) fn report_with_file(e: &EngineError, loaded: &load::Loaded) -> i32 {
    let EngineError::Unsupported(list) = e else {
        return report(e);
    };
    let problems: Vec<crate::model::diag::Problem> = list
        .iter()
        .filter_map(|u| {
            Some(
                crate::model::diag::Problem::new(u.message(), u.span?)
                    .label(format!("needs {}", u.missing.describe().0))
                    .hint(u.hint()),
            )
        })
        .collect();
    if problems.len() == list.len() {
        let err = crate::model::LabFileError {
            path: loaded.path.clone(),
            text: std::sync::Arc::from(loaded.text.as_str()),
            problems,
        };
        eprintln!(
            "vnet: refusing to change anything: this kernel cannot make these link conditions"
        );
        eprint!("{}", super::report::lab_file(&err, super::color()));
    } else {
        super::error(e);
    }
    USAGE
}

/// Print an engine error; exit 1 (runtime) — conflicts included, since the
/// file is valid but the machine is not free.
pub(crate) fn report(e: &EngineError) -> i32 {
    match e {
        EngineError::Conflicts(_) => eprint!("vnet: {e}"),
        _ => super::error(e),
    }
    FAILED
}

fn dry_run(a: &Args, loaded: &load::Loaded) -> i32 {
    let lab = &loaded.lab;
    let live = engine::privilege::missing().is_none();
    let plan = if live {
        match engine::up::plan_live(lab) {
            Ok(p) => p,
            Err(e) => return report_with_file(&e, loaded),
        }
    } else {
        if let Err(e) = engine::up::check_fresh(lab) {
            return report_with_file(&e, loaded);
        }
        engine::up::plan_fresh(lab)
    };
    match a.format {
        Format::Sh => {
            crate::out!("{}", script::render(&plan));
            external_notes(lab);
            if !live {
                crate::outln!(
                    "# (not root: planned as for a machine where the lab does not exist yet)"
                );
                let conditions = plan
                    .actions
                    .iter()
                    .any(|a| matches!(a, crate::plan::Action::SetConditions { .. }));
                if conditions && !crate::kernel::features::support().probed {
                    crate::outln!(
                        "# (not root: the kernel's support for link conditions could not be probed; they are written for netem)"
                    );
                }
            }
        }
        Format::Batch => match script::render_batch(&plan) {
            Ok(s) => crate::out!("{s}"),
            Err(e) => {
                super::error(e);
                return FAILED;
            }
        },
        Format::Json => crate::outln!(
            "{}",
            serde_json::to_string_pretty(&plan).unwrap_or_default()
        ),
    }
    for c in &plan.conflicts {
        eprintln!(
            "vnet: conflict: {} — owned by {}; {}",
            c.object, c.owner, c.hint
        );
    }
    if plan.conflicts.is_empty() {
        OK
    } else {
        FAILED
    }
}

/// The script names an external node's namespace as `ip -n NODE`: say how
/// to make that name reach it (vnet itself joins it by its reference).
fn external_notes(lab: &crate::model::Lab) {
    use crate::model::external::Reference;
    for (name, node) in lab.netns_nodes() {
        let how = match &node.external {
            None => continue,
            Some(Reference::Netns(n)) if n == name => continue,
            Some(Reference::Netns(n)) => {
                format!("ip netns attach {name} <pid of a process in {n}>")
            }
            Some(Reference::Path(p)) => {
                format!("touch /run/netns/{name} && mount --bind {p} /run/netns/{name}")
            }
            Some(Reference::Pid(p)) => format!("ip netns attach {name} {p}"),
            Some(Reference::Container(c)) => {
                format!("ip netns attach {name} <State.Pid of container {c}>")
            }
        };
        crate::outln!(
            "# external node {name}: vnet joins it by reference; for `ip -n {name}` above to reach it: {how}"
        );
    }
}

/// One line for what the nodes' workloads did, when they did anything.
fn work_summary(lab: &str, w: &engine::workload::WorkReport) {
    if w.is_empty() {
        return;
    }
    let mut parts = Vec::new();
    if w.ran > 0 {
        parts.push(format!("{} exec command(s) ran", w.ran));
    }
    if !w.started.is_empty() {
        parts.push(format!("{} process(es) started", w.started.len()));
    }
    if w.kept > 0 {
        parts.push(format!("{} kept running", w.kept));
    }
    if !w.ready.is_empty() {
        let slowest = w.ready.iter().map(|(_, d)| *d).max().unwrap_or_default();
        parts.push(format!(
            "{} node(s) ready in {}",
            w.ready.len(),
            crate::render::elapsed::elapsed(slowest)
        ));
    }
    crate::outln!("{lab}: workloads — {}", parts.join(", "));
}
