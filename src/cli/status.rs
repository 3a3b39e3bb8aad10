//! `vnet status [NAME|LAB.yaml] [--json]`.

use std::time::Duration;

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
    let split = split_part(&name, lab.clone());
    match status::show(&name, lab) {
        Ok(s) => {
            let tunnels = match &split {
                Some(l) => match crate::probe::tunnels::check(l, Duration::from_secs(1)) {
                    Ok(t) => t,
                    Err(e) => return super::ping::report(&e),
                },
                None => Vec::new(),
            };
            if a.json {
                let mut v = serde_json::to_value(&s).unwrap_or_default();
                if let (Some(l), Some(obj)) = (&split, v.as_object_mut()) {
                    obj.insert("host".into(), serde_json::json!(l.hosts.here));
                    obj.insert("tunnels".into(), serde_json::json!(tunnels));
                }
                crate::outln!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
            } else {
                crate::out!("{}", render(&s));
                if let Some(l) = &split {
                    crate::out!("{}", render_tunnels(l, &tunnels));
                }
            }
            OK
        }
        Err(e) => super::up::report(&e),
    }
}

/// A split lab's part on this machine (the host `up` recorded), or None.
fn split_part(name: &str, lab: Option<crate::model::Lab>) -> Option<crate::model::Lab> {
    let rec = crate::engine::record::load(name);
    let mut lab = lab.or_else(|| {
        let r = rec.as_ref()?;
        crate::model::parse_lab(r.file.as_deref().unwrap_or("recorded"), r.text.as_deref()?).ok()
    })?;
    if lab.hosts.is_empty() {
        return None;
    }
    if lab.hosts.here.is_none() {
        lab.hosts.here = rec.and_then(|r| r.host);
    }
    lab.hosts.here.as_ref()?;
    Some(lab)
}

fn render_tunnels(lab: &crate::model::Lab, t: &[crate::probe::tunnels::TunnelCheck]) -> String {
    let here = lab.hosts.here.as_deref().unwrap_or("?");
    let mut out = format!(
        "host {here}: this machine holds {} of the lab's nodes; tunnels to other hosts: {}\n",
        crate::model::hosts::nodes_on(lab, here).len(),
        t.len()
    );
    let rows: Vec<Vec<String>> = t
        .iter()
        .map(|c| {
            vec![
                format!("{}:{}", c.node, c.interface),
                c.vni.to_string(),
                format!("{} ({})", c.far_host, c.far_underlay),
                if c.present { "present" } else { "missing" }.to_string(),
                if c.answers {
                    "answers".to_string()
                } else {
                    "does not answer".to_string()
                },
                c.checked.clone(),
            ]
        })
        .collect();
    if !rows.is_empty() {
        out.push_str(&table(
            &[
                "TUNNEL END",
                "VNI",
                "FAR HOST",
                "DEVICE",
                "FAR END",
                "CHECKED BY PINGING",
            ],
            &rows,
        ));
    }
    out
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
