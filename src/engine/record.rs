//! The state record of a lab: which file it came from and, while a run is
//! under way, the names it may create (its journal). The kernel's marks are
//! the authority; the record only helps `status` show drift and lets crash
//! recovery claim objects made before their mark was set.

use std::collections::BTreeSet;
use std::io;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::files;

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Record {
    pub lab: String,
    /// Absolute path of the lab file, when known.
    pub file: Option<String>,
    /// The lab file's text as last brought up.
    pub text: Option<String>,
    /// "building" while `up` runs; "up" once it finished.
    pub state: String,
    pub pid: u32,
    /// Names a run may create: host interfaces and namespaces.
    pub journal: BTreeSet<String>,
}

fn path(lab: &str) -> io::Result<PathBuf> {
    Ok(files::state_dir()?.join(format!("{lab}.json")))
}

/// The record's path, without creating the state directory.
fn existing_path(lab: &str) -> io::Result<PathBuf> {
    Ok(files::existing_state_dir()?.join(format!("{lab}.json")))
}

pub fn load(lab: &str) -> Option<Record> {
    let p = existing_path(lab).ok()?;
    let data = files::read_private(&p).ok()?;
    serde_json::from_slice(&data).ok()
}

pub fn save(r: &Record) -> io::Result<()> {
    let data = serde_json::to_vec_pretty(r).map_err(io::Error::other)?;
    files::write_atomic(&path(&r.lab)?, &data)
}

/// Remove what a writer killed between writing and renaming left behind.
/// The caller holds the lab's lock.
pub fn remove_stale_temporaries(lab: &str) {
    if let Ok(p) = existing_path(lab) {
        files::remove_stale_temporaries(&p);
    }
}

pub fn remove(lab: &str) -> io::Result<()> {
    let p = match existing_path(lab) {
        Ok(p) => p,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    match std::fs::remove_file(p) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

/// Labs with a record.
pub fn labs() -> Vec<String> {
    let Ok(dir) = files::existing_state_dir() else {
        return Vec::new();
    };
    let mut out: Vec<String> = std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(Result::ok)
                .filter_map(|e| e.file_name().into_string().ok())
                .filter_map(|n| n.strip_suffix(".json").map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}
