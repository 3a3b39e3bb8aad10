//! `vnet status [NAME|LAB.yaml] [--json]`.

use clap::Args as ClapArgs;

use super::{OK, load};
use crate::engine::status::{self, LabStatus};
use crate::render::table::table;

#[derive(ClapArgs)]
pub struct Args {
    /// A lab's name or file; without it, every lab
    pub lab: Option<String>,
    /// Machine-readable output
    #[arg(long)]
    pub json: bool,
}

pub(crate) fn run(a: Args) -> i32 {
    // Which namespaces these labs live in, when it is not the machine's.
    if !a.json
        && let Some(mode) = super::rootless::mode()
    {
        crate::outln!("mode: {mode}");
    }
    let Some(arg) = &a.lab else {
        return match status::list() {
            Ok(labs) => {
                if a.json {
                    crate::outln!(
                        "{}",
                        serde_json::to_string_pretty(&labs).unwrap_or_default()
                    );
                } else if labs.is_empty() {
                    crate::outln!("no labs");
                } else {
                    let rows: Vec<Vec<String>> = labs
                        .iter()
                        .map(|l| {
                            vec![
                                l.name.clone(),
                                l.state.clone(),
                                l.namespaces.to_string(),
                                l.host_interfaces.to_string(),
                                l.file.clone().unwrap_or_default(),
                            ]
                        })
                        .collect();
                    crate::out!(
                        "{}",
                        table(
                            &["LAB", "STATE", "NAMESPACES", "HOST IFACES", "FILE"],
                            &rows
                        )
                    );
                }
                OK
            }
            Err(e) => super::up::report(&e),
        };
    };
    let (name, lab) = match load::lab_arg(arg) {
        Ok(l) => (l.name().to_string(), l.into_lab()),
        Err(code) => return code,
    };
    match status::show(&name, lab) {
        Ok(s) => {
            if a.json {
                crate::outln!("{}", serde_json::to_string_pretty(&s).unwrap_or_default());
            } else {
                crate::out!("{}", render(&s));
            }
            OK
        }
        Err(e) => super::up::report(&e),
    }
}

fn render(s: &LabStatus) -> String {
    let mut out = format!("lab {} ({})", s.name, s.state);
    if let Some(f) = &s.file {
        out.push_str(&format!(" from {f}"));
    }
    out.push('\n');
    // The conditions column only when some interface has conditions.
    let with_cond = s
        .nodes
        .iter()
        .any(|n| n.interfaces.iter().any(|i| !i.conditions.is_empty()));
    let mut rows = Vec::new();
    for n in &s.nodes {
        // External nodes show their reference: `app (pid 1234)`.
        let label = match &n.reference {
            Some(r) => format!("{} ({r})", n.name),
            None => n.name.clone(),
        };
        for i in &n.interfaces {
            let mut row = vec![
                label.clone(),
                i.name.clone(),
                i.kind.clone(),
                i.state.clone(),
                i.addresses.join(","),
                i.master.clone().unwrap_or_default(),
                i.peer.clone().unwrap_or_default(),
            ];
            if with_cond {
                row.push(if i.conditions.is_empty() {
                    String::new()
                } else {
                    i.conditions.to_string()
                });
            }
            rows.push(row);
        }
        if n.interfaces.is_empty() {
            let mut row = vec![label.clone(), "-".into()];
            row.resize(if with_cond { 8 } else { 7 }, String::new());
            rows.push(row);
        }
    }
    let mut head = vec![
        "NODE",
        "INTERFACE",
        "KIND",
        "STATE",
        "ADDRESSES",
        "MASTER",
        "PEER",
    ];
    if with_cond {
        head.push("CONDITIONS");
    }
    out.push_str(&table(&head, &rows));
    if !s.processes.is_empty() {
        let rows: Vec<Vec<String>> = s
            .processes
            .iter()
            .map(|p| {
                let state = match &p.exit {
                    Some(c) => format!("{} (code {c})", p.state),
                    None => p.state.clone(),
                };
                vec![p.node.clone(), p.pid.to_string(), state, p.command.clone()]
            })
            .collect();
        out.push_str(&table(&["NODE", "PID", "PROCESS", "COMMAND"], &rows));
        if s.processes.iter().any(|p| p.state != "running") {
            out.push_str("exited processes start again at the next `vnet up`\n");
        }
    }
    for n in &s.nodes {
        if let (Some(r), Some(p)) = (&n.reference, &n.problem) {
            out.push_str(&format!("node {} ({r}): {p}\n", n.name));
        }
    }
    if !s.drift_known {
        out.push_str(
            "drift: unknown (no lab file recorded; pass the file: vnet status LAB.yaml)\n",
        );
    } else if s.drift.is_empty() {
        out.push_str("drift: none — the kernel matches the lab file\n");
    } else {
        out.push_str(&format!(
            "drift: {} change(s) would bring it back (vnet up):\n",
            s.drift.len()
        ));
        for d in &s.drift {
            out.push_str(&format!("  {d}\n"));
        }
    }
    out
}
