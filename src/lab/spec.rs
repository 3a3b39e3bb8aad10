//! [`Lab`]: a validated lab (a lab file, or a builder's), ready to be
//! brought up as many times as asked, each copy under names of its own.

use std::path::Path;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use super::builder::Builder;
use super::error::{Error, Result};
use super::names::{self, Names, Tag};
use super::running::RunningLab;
use crate::engine::record::Owner;
use crate::engine::up::{self, UpOptions};
use crate::engine::{EngineError, Hooks, orphans};
use crate::model::validate::{MAX_FILE_BYTES, parse_lab};
use crate::model::write::lab_yaml;

/// A lab, as a lab file or a [`Builder`] describes it. Bring it up with
/// [`up`](Lab::up); each call makes a copy of its own.
///
/// ```
/// let lab = vnet::Lab::from_yaml(
///     "name: pair
/// nodes: { h1: {}, h2: {} }
/// links:
///   - endpoints:
///       - { node: h1, interface: eth0, ip: 10.0.0.1/24 }
///       - { node: h2, interface: eth0, ip: 10.0.0.2/24 }
/// ",
/// )?;
/// assert_eq!(lab.name(), "pair");
/// assert_eq!(lab.nodes(), ["h1", "h2"]);
/// # Ok::<(), vnet::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct Lab {
    model: crate::model::Lab,
    exact: bool,
    ready_timeout: Duration,
}

/// Copies brought up by this process so far (part of their names).
static COPIES: AtomicU64 = AtomicU64::new(0);
/// Never raised: the library has no Ctrl-C of its own to honour.
static NO_CANCEL: AtomicBool = AtomicBool::new(false);

impl Lab {
    pub(super) fn parse(path: &str, text: &str) -> Result<Lab> {
        Ok(Lab {
            model: parse_lab(path, text)?,
            exact: false,
            ready_timeout: Duration::from_secs(15),
        })
    }

    /// A lab from the text of a lab file (YAML).
    pub fn from_yaml(text: &str) -> Result<Lab> {
        Lab::parse("lab.yaml", text)
    }

    /// A lab from a lab file: YAML, or TOML when the name ends in `.toml`.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Lab> {
        let path = path.as_ref();
        let shown = path.display().to_string();
        let read = |source| Error::Read {
            path: shown.clone(),
            source,
        };
        let len = std::fs::metadata(path).map_err(read)?.len();
        if len > MAX_FILE_BYTES as u64 {
            return Err(Error::Usage(format!(
                "{shown} is {len} bytes; lab files are limited to {MAX_FILE_BYTES}"
            )));
        }
        let text = std::fs::read_to_string(path).map_err(read)?;
        Lab::parse(&shown, &text)
    }

    /// A lab in code: nodes, bridges, links with addresses, routes.
    pub fn builder(name: &str) -> Builder {
        Builder::new(name)
    }

    /// The lab's name, as written.
    pub fn name(&self) -> &str {
        &self.model.name
    }

    /// The names of its nodes (namespaces and bridges), in file order.
    pub fn nodes(&self) -> Vec<&str> {
        self.model.nodes.iter().map(|n| n.name.as_str()).collect()
    }

    /// The validated model, as the command line sees the file.
    pub fn model(&self) -> &crate::model::Lab {
        &self.model
    }

    /// Keep the kernel names exactly as written (`ip netns exec h1 …`), as
    /// `vnet up` does, instead of names unique to each copy: then only one
    /// copy can be up at a time on the machine.
    pub fn exact_names(mut self) -> Lab {
        self.exact = true;
        self
    }

    /// How long [`up`](Lab::up) waits for every link to forward (15 s).
    pub fn ready_timeout(mut self, t: Duration) -> Lab {
        self.ready_timeout = t;
        self
    }

    /// Build a copy of the lab in the kernel and wait until it forwards.
    /// The copy lives as long as the [`RunningLab`]: dropping it (also while
    /// a panic unwinds) tears it down; so does the next start of the library
    /// (or `vnet down --orphans`) when this process died first.
    ///
    /// Needs root (CAP_NET_ADMIN and CAP_SYS_ADMIN).
    ///
    /// ```no_run
    /// let net = vnet::Lab::from_file("examples/seed-bridge.yaml")?.up()?;
    /// assert!(net.ping_all()?.all_reachable());
    /// # Ok::<(), vnet::Error>(())
    /// ```
    pub fn up(&self) -> Result<RunningLab> {
        reap_orphans_once();
        let owner = Owner::me();
        // A clash can only come from a process with our pid in another pid
        // namespace: the next copy number is then free.
        let mut attempt = 0;
        loop {
            let (model, names) = if self.exact {
                (self.model.clone(), Names::exact(&self.model))
            } else {
                let tag = Tag {
                    pid: owner.pid,
                    n: COPIES.fetch_add(1, Ordering::Relaxed),
                };
                names::tagged(&self.model, tag)
            };
            let opts = UpOptions {
                wait_for_lock: true,
                ready_timeout: self.ready_timeout,
                file: None,
                text: Some(lab_yaml(
                    &model,
                    &[format!(
                        "{} as brought up by process {} through the vnet library",
                        self.model.name, owner.pid
                    )],
                )),
                owner: Some(owner.clone()),
            };
            match up::up(&model, &opts, &Hooks::silent(), &NO_CANCEL) {
                Ok(_) => return Ok(RunningLab::new(model, names)),
                Err(EngineError::Conflicts(_)) if !self.exact && attempt < 3 => attempt += 1,
                Err(e) => return Err(e.into()),
            }
        }
    }
}

/// Orphans of earlier runs (a test process that was killed) go at the
/// first `up` of each process.
fn reap_orphans_once() {
    static DONE: OnceLock<()> = OnceLock::new();
    DONE.get_or_init(|| {
        for (lab, r) in orphans::reap(&Hooks::silent()) {
            if let Err(e) = r {
                eprintln!("vnet: could not remove lab {lab}, left by a process that is gone: {e}");
            }
        }
    });
}
