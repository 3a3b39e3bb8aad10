//! `vnet import`: what people already have — a shell script of `ip`
//! commands, an `ip -batch` file, a containerlab topology — run against a
//! simulated kernel, and the resulting network written as a lab file.
//! Pure: nothing here touches the kernel. Nothing is dropped silently: what
//! a lab cannot say becomes a note with its line, kept as a comment.

pub mod clab;
pub mod ipcmd;
pub mod live;
pub mod shell;
pub mod tolab;
pub mod words;
pub mod world;

use std::fmt;

use crate::model::Lab;
use crate::model::write::lab_yaml;

/// Input files larger than this are refused.
pub const MAX_INPUT_BYTES: usize = 16 << 20;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    Shell,
    Batch,
    Clab,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum NoteKind {
    /// Shows state or prints; there is nothing to build.
    NothingToBuild,
    /// Means something a lab file cannot say; left out.
    NotRepresented,
    /// Would fail when run, and so changes nothing.
    WouldFail,
    /// Imported, but vnet builds it slightly differently.
    Differs,
}

impl NoteKind {
    pub fn label(self) -> &'static str {
        match self {
            NoteKind::NothingToBuild => "nothing to build",
            NoteKind::NotRepresented => "not represented",
            NoteKind::WouldFail => "would fail",
            NoteKind::Differs => "differs",
        }
    }
}

/// One thing of the input that is not (exactly) in the lab.
#[derive(Clone, Debug, PartialEq)]
pub struct Note {
    /// 1-based line in the input (0: not tied to a line).
    pub line: usize,
    /// The command, or the object, concerned.
    pub command: String,
    pub reason: String,
    pub kind: NoteKind,
}

impl fmt::Display for Note {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(
            f,
            "{}: `{}`: {}",
            self.kind.label(),
            self.command,
            self.reason
        )
    }
}

/// The result of an import: the lab, its file text, and the notes.
#[derive(Debug)]
pub struct Imported {
    pub lab: Lab,
    pub yaml: String,
    pub notes: Vec<Note>,
}

/// Which kind of file this is, from its name and its first words.
pub fn detect(path: &str, text: &str) -> Source {
    let lower = path.to_ascii_lowercase();
    if lower.ends_with(".clab.yml") || lower.ends_with(".clab.yaml") {
        return Source::Clab;
    }
    if (lower.ends_with(".yml") || lower.ends_with(".yaml"))
        && text
            .lines()
            .any(|l| l.trim_start().starts_with("topology:"))
    {
        return Source::Clab;
    }
    if lower.ends_with(".batch") {
        return Source::Batch;
    }
    // A batch file's lines start with an ip object, never with `ip` or `sudo`.
    let first = text
        .lines()
        .map(|l| l.split('#').next().unwrap_or("").trim())
        .find(|l| !l.is_empty())
        .and_then(|l| l.split_whitespace().next())
        .unwrap_or("");
    if ["link", "address", "addr", "netns", "route", "neigh", "rule"].contains(&first) {
        Source::Batch
    } else {
        Source::Shell
    }
}

/// Why a file could not be imported at all (commands that merely cannot be
/// represented become notes, not errors).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error("{path}: the file is {bytes} bytes; at most {max} are read")]
    TooBig {
        path: String,
        bytes: usize,
        max: usize,
    },
    /// A containerlab file that is not YAML, or not a topology: the words
    /// name file:line:column.
    #[error("{0}")]
    Clab(String),
}

/// Import `text` (read from `path`) as `source`. `name` overrides the lab
/// name, which otherwise comes from the file. Errors name file:line.
pub fn import(
    path: &str,
    text: &str,
    source: Source,
    name: Option<&str>,
) -> Result<Imported, Error> {
    if text.len() > MAX_INPUT_BYTES {
        return Err(Error::TooBig {
            path: path.to_string(),
            bytes: text.len(),
            max: MAX_INPUT_BYTES,
        });
    }
    let mut world = world::World::new();
    let mut notes = Vec::new();
    let mut file_name = None;
    match source {
        Source::Shell => shell::Shell::new(&mut world, &mut notes).script(text, 1, world::HOST_NS),
        Source::Batch => shell::Shell::new(&mut world, &mut notes).batch(text),
        Source::Clab => file_name = clab::load(path, text, &mut world, &mut notes)?,
    }
    let lab_name = match (name, file_name) {
        (Some(n), _) => tolab::sanitize_lab_name(n),
        (None, Some(n)) => tolab::sanitize_lab_name(&n),
        (None, None) => tolab::lab_name_from_path(path),
    };
    let conv = tolab::to_lab(
        &world,
        &lab_name,
        tolab::Options {
            ipv6_link_local: false,
            report_down: true,
        },
    );
    notes.extend(conv.notes);
    notes.sort_by_key(|n| n.line);
    let yaml = lab_yaml(&conv.lab, &header(path, source, &notes));
    Ok(Imported {
        lab: conv.lab,
        yaml,
        notes,
    })
}

fn header(path: &str, source: Source, notes: &[Note]) -> Vec<String> {
    let file = std::path::Path::new(path)
        .file_name()
        .map_or(path.to_string(), |f| f.to_string_lossy().into_owned());
    let what = match source {
        Source::Shell => "shell script",
        Source::Batch => "ip -batch file",
        Source::Clab => "containerlab topology",
    };
    let mut out = vec![format!("Imported by `vnet import` from {file} ({what}).")];
    if !notes.is_empty() {
        out.push("Not carried over, line by line (kept here so nothing is lost):".to_string());
        for n in notes {
            let at = if n.line > 0 {
                format!("line {}", n.line)
            } else {
                "-".to_string()
            };
            out.push(format!("  {at}: {}", one_line(&n.command)));
            out.push(format!("    {}: {}", n.kind.label(), one_line(&n.reason)));
        }
    }
    out
}

fn one_line(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}
