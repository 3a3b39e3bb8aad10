//! Read and validate a lab file for a command; print its problems.

use std::path::Path;

use crate::model::{Lab, parse_lab, validate::MAX_FILE_BYTES};

/// A lab file read from disk.
pub(crate) struct Loaded {
    pub lab: Lab,
    pub path: String,
    pub text: String,
}

/// The lab, or its problems printed (and the exit code to use).
pub(crate) fn lab_file(path: &str) -> Result<Loaded, i32> {
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) => {
            super::error(format!("cannot read {path}: {e}"));
            return Err(super::USAGE);
        }
    };
    if meta.len() > MAX_FILE_BYTES as u64 {
        super::error(format!(
            "{path} is {} bytes; lab files are limited to {MAX_FILE_BYTES}",
            meta.len()
        ));
        return Err(super::USAGE);
    }
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) => {
            super::error(format!("cannot read {path}: {e}"));
            return Err(super::USAGE);
        }
    };
    let text = match String::from_utf8(bytes) {
        Ok(t) => t,
        Err(e) => {
            super::error(format!(
                "{path} is not UTF-8 text (invalid byte at offset {})",
                e.utf8_error().valid_up_to()
            ));
            return Err(super::USAGE);
        }
    };
    match parse_lab(path, &text).and_then(|lab| missing_sources(path, &text, lab)) {
        Ok(lab) => Ok(Loaded {
            lab,
            path: absolute(path),
            text,
        }),
        Err(e) => {
            eprint!("{}", super::report::lab_file(&e, super::color()));
            Err(super::USAGE)
        }
    }
}

/// `files:` entries whose `from:` names nothing next to the lab file,
/// refused at their place in the file.
fn missing_sources(path: &str, text: &str, lab: Lab) -> Result<Lab, crate::model::LabFileError> {
    use crate::model::diag::Problem;
    use crate::model::workload::FileSource;
    let base = Path::new(path).parent().unwrap_or(Path::new("."));
    let mut problems = Vec::new();
    for (_, n) in lab.netns_nodes() {
        for f in &n.workload.files {
            let FileSource::From(from) = &f.source else {
                continue;
            };
            let p = base.join(from);
            if !p.exists() {
                problems.push(
                    Problem::new(format!("{} does not exist", p.display()), f.at.0).hint(
                        "`from:` names a file or directory, relative to the lab file's directory",
                    ),
                );
            }
        }
    }
    if problems.is_empty() {
        Ok(lab)
    } else {
        Err(crate::model::LabFileError {
            path: path.to_string(),
            text: std::sync::Arc::from(text),
            problems,
        })
    }
}

fn absolute(path: &str) -> String {
    std::fs::canonicalize(Path::new(path))
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| path.to_string())
}

/// A command argument that is a lab file or a lab name.
fn looks_like_file(arg: &str) -> bool {
    arg.ends_with(".yaml")
        || arg.ends_with(".yml")
        || arg.ends_with(".toml")
        || arg.contains('/')
        || Path::new(arg).is_file()
}

/// What a command argument naming a lab turned out to be.
pub(crate) enum LabArg {
    File(Box<Loaded>),
    Name(String),
}

impl LabArg {
    pub(crate) fn name(&self) -> &str {
        match self {
            LabArg::File(l) => &l.lab.name,
            LabArg::Name(n) => n,
        }
    }

    /// The lab file's contents, when the argument was a file.
    pub(crate) fn into_lab(self) -> Option<Lab> {
        match self {
            LabArg::File(l) => Some(l.lab),
            LabArg::Name(_) => None,
        }
    }
}

/// A lab file (read and validated, problems printed) or a lab name (checked).
pub(crate) fn lab_arg(arg: &str) -> Result<LabArg, i32> {
    if looks_like_file(arg) && Path::new(arg).is_file() {
        return lab_file(arg).map(|l| LabArg::File(Box::new(l)));
    }
    if let Err(e) = crate::model::names::check_lab_name(arg) {
        super::error(format!(
            "`{}` is neither a lab file nor a lab name: {e}",
            crate::model::names::printable(arg)
        ));
        return Err(super::USAGE);
    }
    Ok(LabArg::Name(arg.to_string()))
}
