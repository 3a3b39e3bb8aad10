//! `vnet export [NAME | --live [NS…]] [-o LAB.yaml]`: the live network as a lab file.

use clap::Args as ClapArgs;

use super::{FAILED, OK, USAGE};
use crate::engine::live;
use crate::import::live::{HostPart, world};
use crate::import::tolab::{self, Options};
use crate::import::{Note, NoteKind};
use crate::model::parse_lab;
use crate::model::write::lab_yaml;

#[derive(ClapArgs)]
pub struct Args {
    /// A lab's name (its namespaces and interfaces, found by their marks); default: the one lab that is up
    pub lab: Option<String>,
    /// Export namespaces under /run/netns instead (all of them, or those named) with the host interfaces joined to them
    #[arg(long, num_args = 0.., value_name = "NS")]
    pub live: Option<Vec<String>>,
    /// The exported lab's name (default: NAME, or "exported")
    #[arg(long)]
    pub name: Option<String>,
    /// Write here instead of standard output
    #[arg(short, long)]
    pub output: Option<String>,
    /// `lab`: a vnet lab file; `clab`: a containerlab topology that clabernetes accepts (NAME may then be a lab file)
    #[arg(long, value_enum, default_value_t = Format::Lab)]
    pub format: Format,
    /// With --format clab: the nodes' image (it needs iproute2)
    #[arg(long, value_name = "IMAGE", default_value = crate::render::clab::DEFAULT_IMAGE)]
    pub image: String,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Lab,
    Clab,
}

/// `--format clab`: the lab file given, or the one a lab was brought up
/// from, as a containerlab topology.
fn clab(a: &Args) -> i32 {
    if a.live.is_some() {
        super::error("--format clab exports a lab (its file or its name), not --live namespaces");
        return USAGE;
    }
    let arg = match &a.lab {
        Some(l) => l.clone(),
        None => match the_only_lab() {
            Ok(n) => n,
            Err(code) => return code,
        },
    };
    let lab = match super::load::lab_arg(&arg) {
        Ok(super::load::LabArg::File(l)) => l.lab,
        Ok(super::load::LabArg::Name(n)) => {
            let rec = crate::engine::record::load(&n);
            match rec.as_ref().and_then(|r| {
                parse_lab(r.file.as_deref().unwrap_or("recorded"), r.text.as_deref()?).ok()
            }) {
                Some(l) => l,
                None => {
                    super::error(format!(
                        "no lab file is recorded for {n}; pass the lab file instead"
                    ));
                    return FAILED;
                }
            }
        }
        Err(code) => return code,
    };
    let e = crate::render::clab::export(&lab, &a.image);
    for n in &e.notes {
        eprintln!("vnet: warning: {n}");
    }
    let bad = crate::render::clab::check(&e.text);
    for b in &bad {
        eprintln!("vnet: the topology breaks a clabernetes constraint: {b}");
    }
    match &a.output {
        Some(path) => {
            if let Err(err) = std::fs::write(path, &e.text) {
                super::error(format!("cannot write {path}: {err}"));
                return FAILED;
            }
            eprintln!(
                "vnet: wrote {path}: containerlab topology {} — {} nodes, {} renamed for Kubernetes",
                lab.name,
                lab.nodes.len(),
                e.renamed.len()
            );
        }
        None => crate::out!("{}", e.text),
    }
    if bad.is_empty() { OK } else { FAILED }
}

/// Without a name: the one lab that is up, if there is exactly one.
fn the_only_lab() -> Result<String, i32> {
    let labs = crate::engine::status::list().map_err(|e| super::up::report(&e))?;
    match labs.as_slice() {
        [one] => Ok(one.name.clone()),
        [] => {
            super::error("no lab is up; name one, or export namespaces built by hand with --live");
            Err(USAGE)
        }
        many => {
            let names: Vec<&str> = many.iter().map(|l| l.name.as_str()).collect();
            super::error(format!(
                "{} labs are up ({}); name the one to export",
                names.len(),
                names.join(", ")
            ));
            Err(USAGE)
        }
    }
}

pub(crate) fn run(a: Args) -> i32 {
    if a.format == Format::Clab {
        return clab(&a);
    }
    let (view, part_lab, default_name, source) = match (&a.lab, &a.live) {
        (Some(_), Some(_)) => {
            super::error("give a lab's name, or --live NS…, not both");
            return USAGE;
        }
        (lab, None) => {
            let name = match lab {
                Some(arg) => match super::load::lab_arg(arg).map(|l| l.name().to_string()) {
                    Ok(n) => n,
                    Err(code) => return code,
                },
                None => match the_only_lab() {
                    Ok(n) => n,
                    Err(code) => return code,
                },
            };
            match live::lab(&name, None) {
                Ok(v) => (v, true, name.clone(), format!("lab {name}")),
                Err(m) => {
                    super::error(m);
                    return FAILED;
                }
            }
        }
        (None, Some(ns)) => match live::machine(ns) {
            Ok(v) => {
                let what = if ns.is_empty() {
                    "every namespace".to_string()
                } else {
                    ns.join(", ")
                };
                (v, false, "exported".to_string(), what)
            }
            Err(m) => {
                super::error(m);
                return FAILED;
            }
        },
    };
    let host_names = view.host_names();
    let part = if part_lab {
        HostPart::Named(&host_names)
    } else {
        HostPart::Related
    };
    let named: Vec<_> = view.named.iter().collect();
    let from = world(&view.host, &named, part, &|l, ns| view.peer(l, ns));
    let name = tolab::sanitize_lab_name(a.name.as_deref().unwrap_or(&default_name));
    let mut conv = tolab::to_lab(
        &from.world,
        &name,
        Options {
            ipv6_link_local: from.link_local,
            report_down: true,
        },
    );
    if let Some(file) = &view.lab {
        keep_external(&mut conv.lab, file);
    }
    let mut notes: Vec<Note> = from.notes;
    notes.extend(conv.notes);
    for n in &notes {
        let level = if n.kind == NoteKind::NothingToBuild {
            "note"
        } else {
            "warning"
        };
        eprintln!("vnet: {level}: {n}");
    }
    let mut header = vec![format!(
        "Exported by `vnet export` from {source} (live kernel)."
    )];
    if !notes.is_empty() {
        header.push("Not carried over (kept here so nothing is lost):".into());
        for n in &notes {
            header.push(format!("  {}", n.command));
            header.push(format!("    {}: {}", n.kind.label(), n.reason));
        }
    }
    let yaml = lab_yaml(&conv.lab, &header);
    let valid = match parse_lab(a.output.as_deref().unwrap_or("(output)"), &yaml) {
        Ok(_) => true,
        Err(e) => {
            eprintln!("vnet: the exported lab does not validate yet; fix these in the file:");
            for l in e.plain_lines() {
                eprintln!("  {l}");
            }
            false
        }
    };
    match &a.output {
        Some(path) => {
            if let Err(e) = std::fs::write(path, &yaml) {
                super::error(format!("cannot write {path}: {e}"));
                return FAILED;
            }
            eprintln!(
                "vnet: wrote {path}: lab {} — {} nodes, {} links",
                conv.lab.name,
                conv.lab.nodes.len(),
                conv.lab.links.len()
            );
        }
        None => crate::out!("{yaml}"),
    }
    if valid { OK } else { FAILED }
}

/// External nodes stay external in the export: their reference, and only
/// what the lab put there (their own interfaces, routes and sysctls are
/// their owner's, not the lab's).
fn keep_external(out: &mut crate::model::Lab, file: &crate::model::Lab) {
    use crate::model::lab::NodeKind;
    let declared = |node: &str, iface: &str| {
        file.links
            .iter()
            .flat_map(|l| &l.ends)
            .any(|e| e.node == node && e.interface == iface)
    };
    for n in out.nodes.iter_mut() {
        if let (NodeKind::Netns(ns), Some(r)) = (&mut n.kind, file.external(&n.name)) {
            ns.external = Some(r.clone());
            ns.forward = false;
            ns.sysctls.clear();
            ns.routes = match file.node(&n.name).map(|f| &f.kind) {
                Some(NodeKind::Netns(f)) => f.routes.clone(),
                _ => Vec::new(),
            };
        }
    }
    let foreign: Vec<String> =
        out.nodes
            .iter()
            .filter(|n| match &n.kind {
                NodeKind::Bridge(b) => b.inside.as_deref().is_some_and(|home| {
                    file.external(home).is_some() && file.node(&n.name).is_none()
                }),
                NodeKind::Netns(_) => false,
            })
            .map(|n| n.name.clone())
            .collect();
    out.nodes.retain(|n| !foreign.contains(&n.name));
    out.links.retain(|l| {
        l.ends.iter().all(|e| {
            !foreign.contains(&e.node)
                && (file.external(&e.node).is_none() || declared(&e.node, &e.interface))
        })
    });
}
