//! `vnet import FILE [-o LAB.yaml]`: a script of `ip` commands, an
//! `ip -batch` file or a containerlab topology → a lab file.

use clap::{Args as ClapArgs, ValueEnum};

use super::{FAILED, OK, USAGE};
use crate::import::{self, MAX_INPUT_BYTES, NoteKind, Source};
use crate::model::parse_lab;

#[derive(ClapArgs)]
pub struct Args {
    /// A shell script of ip commands, an `ip -batch` file, or a containerlab topology (*.clab.yml)
    pub file: String,
    /// Write the lab file here (default: standard output)
    #[arg(short, long)]
    pub output: Option<String>,
    /// What FILE is (default: from its name and first words)
    #[arg(long, value_enum)]
    pub from: Option<From>,
    /// The lab's name (default: from the file)
    #[arg(long)]
    pub name: Option<String>,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum From {
    /// A shell script of iproute2 commands (`sudo ip …`, `ip netns exec NS ip …`)
    Sh,
    /// An `ip -batch` file (ip commands without the `ip`)
    Batch,
    /// A containerlab topology
    Clab,
}

pub(crate) fn run(a: Args) -> i32 {
    if let Some(o) = &a.output
        && same_file(o, &a.file)
    {
        super::error(format!(
            "{o} is the file being imported; write the lab elsewhere (-o LAB.yaml)"
        ));
        return USAGE;
    }
    let text = match read(&a.file) {
        Ok(t) => t,
        Err(m) => {
            super::error(m);
            return USAGE;
        }
    };
    let source = match a.from {
        Some(From::Sh) => Source::Shell,
        Some(From::Batch) => Source::Batch,
        Some(From::Clab) => Source::Clab,
        None => import::detect(&a.file, &text),
    };
    let imported = match import::import(&a.file, &text, source, a.name.as_deref()) {
        Ok(i) => i,
        Err(m) => {
            super::error(m);
            return USAGE;
        }
    };
    for n in &imported.notes {
        let level = match n.kind {
            NoteKind::NothingToBuild => "note",
            _ => "warning",
        };
        if n.line > 0 {
            eprintln!("{}:{}: {level}: {n}", a.file, n.line);
        } else {
            eprintln!("{}: {level}: {n}", a.file);
        }
    }
    let lab = &imported.lab;
    if lab.nodes.is_empty() && lab.links.is_empty() {
        eprintln!(
            "vnet: warning: {} builds no namespace, bridge or veth pair that a lab can hold",
            a.file
        );
    }
    let target = a.output.as_deref().unwrap_or("(output)");
    let valid = match parse_lab(target, &imported.yaml) {
        Ok(_) => true,
        Err(e) => {
            eprintln!("vnet: the imported lab does not validate yet; fix these in the file:");
            for l in e.plain_lines() {
                eprintln!("  {l}");
            }
            false
        }
    };
    match &a.output {
        Some(path) => {
            if let Err(e) = std::fs::write(path, &imported.yaml) {
                super::error(format!("cannot write {path}: {e}"));
                return FAILED;
            }
            eprintln!(
                "vnet: wrote {path}: lab {} — {} nodes, {} links{}",
                lab.name,
                lab.nodes.len(),
                lab.links.len(),
                match imported.notes.len() {
                    0 => String::new(),
                    n => format!("; {n} line(s) not carried over, kept as comments at the top"),
                }
            );
        }
        None => crate::out!("{}", imported.yaml),
    }
    if valid { OK } else { FAILED }
}

fn same_file(a: &str, b: &str) -> bool {
    match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
        (Ok(x), Ok(y)) => x == y,
        _ => false,
    }
}

fn read(path: &str) -> miette::Result<String> {
    let meta = std::fs::metadata(path).map_err(|e| miette::miette!("cannot read {path}: {e}"))?;
    if meta.len() > MAX_INPUT_BYTES as u64 {
        return Err(miette::miette!(
            "{path} is {} bytes; at most {MAX_INPUT_BYTES} are read",
            meta.len()
        ));
    }
    let bytes = std::fs::read(path).map_err(|e| miette::miette!("cannot read {path}: {e}"))?;
    String::from_utf8(bytes).map_err(|e| {
        miette::miette!(
            "{path} is not UTF-8 text (invalid byte at offset {})",
            e.utf8_error().valid_up_to()
        )
    })
}
