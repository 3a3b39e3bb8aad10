//! `vnet graph [LAB.yaml | --live [NAME]] [--format dot|mermaid|svg] [-o FILE]`.

use clap::{Args as ClapArgs, ValueEnum};

use super::{FAILED, OK, USAGE, load};
use crate::engine::live;
use crate::render::graph::Graph;
use crate::render::{dot, mermaid, svg};

#[derive(ClapArgs)]
pub struct Args {
    /// A lab file; with --live, a lab's name (or file) to read from the kernel
    pub lab: Option<String>,
    /// Draw what the kernel holds: every namespace on the machine, or the named lab's (with its drift)
    #[arg(long)]
    pub live: bool,
    /// Output format (default: from the -o file's extension, else svg)
    #[arg(long, short = 'f', value_enum)]
    pub format: Option<Format>,
    /// Write here instead of standard output
    #[arg(short, long)]
    pub output: Option<String>,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum Format {
    /// Graphviz text (render with `dot -Tpng`)
    Dot,
    /// Mermaid flowchart (renders in GitHub markdown)
    Mermaid,
    /// A picture, drawn by vnet itself
    Svg,
}

pub(crate) fn run(a: Args) -> i32 {
    let graph = match (a.live, &a.lab) {
        (false, None) => {
            super::error(
                "give a lab file, or --live to draw what the kernel holds (vnet graph --help)",
            );
            return USAGE;
        }
        (false, Some(file)) => match load::lab_file(file) {
            Ok(l) => Graph::from_lab(&l.lab),
            Err(code) => return code,
        },
        (true, None) => match live::machine(&[]) {
            Ok(v) => Graph::from_live(
                "vnet: every namespace on this machine (live)",
                &v.namespaces(),
                &|l, ns| v.peer(l, ns),
            ),
            Err(m) => {
                super::error(m);
                return FAILED;
            }
        },
        (true, Some(arg)) => {
            let (name, file) = match load::lab_arg(arg) {
                Ok(l) => (l.name().to_string(), l.into_lab()),
                Err(code) => return code,
            };
            match live::lab(&name, file) {
                Ok(v) => lab_graph(&name, &v),
                Err(m) => {
                    super::error(m);
                    return FAILED;
                }
            }
        }
    };
    let format = a.format.unwrap_or_else(|| match a.output.as_deref() {
        Some(o) if o.ends_with(".dot") || o.ends_with(".gv") => Format::Dot,
        Some(o) if o.ends_with(".mmd") || o.ends_with(".mermaid") || o.ends_with(".md") => {
            Format::Mermaid
        }
        _ => Format::Svg,
    });
    let text = match format {
        Format::Dot => dot::render(&graph),
        Format::Mermaid => mermaid::render(&graph),
        Format::Svg => svg::render(&graph),
    };
    match &a.output {
        Some(path) => match std::fs::write(path, text) {
            Ok(()) => OK,
            Err(e) => {
                super::error(format!("cannot write {path}: {e}"));
                FAILED
            }
        },
        None => {
            crate::out!("{text}");
            OK
        }
    }
}

/// A lab read live, with what differs from its file marked and listed.
pub(crate) fn lab_graph(name: &str, v: &live::View) -> Graph {
    let mut g = Graph::from_live(
        &format!("vnet lab {name} (live)"),
        &v.namespaces(),
        &|l, ns| v.peer(l, ns),
    );
    g.mark_drift(v.lab.as_ref(), v.drift.as_deref());
    g
}
