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
    /// The program that owns the lab, when the library brought it up: the
    /// lab lives as long as that process, and is an orphan (see
    /// `engine::orphans`) once it is gone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<Owner>,
    /// The host whose part of a split lab this machine holds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// External nodes (namespaces the lab joined but did not make), by
    /// node name: their reference, resolved again on every run.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub external: std::collections::BTreeMap<String, super::external::Entry>,
}

/// A process, told apart from a later one with the same pid by its start
/// time (field 22 of /proc/PID/stat, in clock ticks since boot).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Owner {
    pub pid: u32,
    pub start: u64,
}

impl Owner {
    /// This process.
    pub fn me() -> Owner {
        let pid = std::process::id();
        Owner {
            pid,
            start: start_time(pid).unwrap_or(0),
        }
    }

    /// Process `pid` as it is now (None: it is gone).
    pub(crate) fn of(pid: u32) -> Option<Owner> {
        start_time(pid).map(|start| Owner { pid, start })
    }

    /// Whether the process still runs (a zombie counts as gone).
    pub fn alive(&self) -> bool {
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{}/stat", self.pid)) else {
            return false;
        };
        match stat_fields(&stat) {
            Some((state, start)) => state != "Z" && state != "X" && start == self.start,
            None => false,
        }
    }
}

fn start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat_fields(&stat).map(|(_, start)| start)
}

/// State and start time from /proc/PID/stat. The command (field 2) may
/// hold spaces and parentheses: the fields after it follow its last ')'.
fn stat_fields(stat: &str) -> Option<(&str, u64)> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    let state = fields.next()?;
    // After the state (field 3), the start time is field 22.
    let start = fields.nth(18)?.parse().ok()?;
    Some((state, start))
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

/// What the lab files of the labs vnet brought up say each node's
/// interfaces are: the doctor gives back what a move took away.
pub fn intended() -> Vec<crate::doctor::snapshot::Intended> {
    let mut out = Vec::new();
    for lab in labs() {
        let Some(l) = load(&lab).and_then(|r| {
            crate::model::parse_lab(r.file.as_deref().unwrap_or("recorded"), r.text.as_deref()?)
                .ok()
        }) else {
            continue;
        };
        for link in &l.links {
            for e in &link.ends {
                out.push(crate::doctor::snapshot::Intended {
                    node: e.node.clone(),
                    iface: e.interface.clone(),
                    addrs: e.ips.clone(),
                });
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_start_time_follows_the_last_parenthesis() {
        let stat = "42 (a) b)) S 1 42 42 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 1 0 98765 1000 10";
        assert_eq!(stat_fields(stat), Some(("S", 98765)));
    }

    #[test]
    fn this_process_is_alive_and_a_changed_start_is_not() {
        let me = Owner::me();
        assert!(me.alive());
        assert!(
            !Owner {
                start: me.start + 1,
                ..me
            }
            .alive()
        );
    }
}
