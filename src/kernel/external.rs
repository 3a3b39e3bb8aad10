//! Joining namespaces vnet did not make (external nodes): a reference from
//! the lab file (`netns:`, `pid:`, `container:`) is resolved to an open
//! namespace descriptor, checked to be a network namespace that is not the
//! host's, and, in rootless mode, one the user owns. Resolved on every use,
//! never cached: a restarted container is found again by its name.

use std::collections::BTreeMap;
use std::fs::File;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::sync::OnceLock;

use nix::sys::statfs::{NSFS_MAGIC, fstatfs};
use serde::{Deserialize, Serialize};

use super::netns::{self, Found};
use super::{container, sys, userns};
use crate::model::external::Reference;

/// A namespace's identity: the device and inode of its nsfs file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct NsId {
    pub dev: u64,
    pub ino: u64,
}

/// Why a reference did not give a namespace to join.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum JoinError {
    /// Nothing is there (any more): the process ended, the container
    /// stopped or was removed, the name was deleted.
    #[error("{0}")]
    Gone(String),
    /// Something is there, but vnet may not or cannot join it.
    #[error("{0}")]
    Refused(String),
}

impl JoinError {
    pub fn is_gone(&self) -> bool {
        matches!(self, JoinError::Gone(_))
    }
}

/// An external namespace, open.
pub(crate) struct Joined {
    pub fd: OwnedFd,
    pub id: NsId,
}

/// Resolve `r` and open its namespace.
pub(crate) fn open(r: &Reference) -> Result<Joined, JoinError> {
    let fd = match r {
        Reference::Netns(name) => match netns::open_named(name) {
            Ok(Found::Namespace(fd)) => fd,
            Ok(Found::Absent) => {
                return Err(JoinError::Gone(format!(
                    "no namespace {name} under {} (`ip netns list` shows what there is)",
                    netns::RUN_DIR
                )));
            }
            Ok(Found::Stale) => {
                return Err(JoinError::Gone(format!(
                    "{}/{name} is not a mounted namespace any more",
                    netns::RUN_DIR
                )));
            }
            Err(e) => return Err(JoinError::Refused(format!("open {name}: {e}"))),
        },
        Reference::Path(p) => open_file(p, || format!("no namespace file {p}"))?,
        Reference::Pid(pid) => open_file(&format!("/proc/{pid}/ns/net"), || {
            format!("no process {pid} (it has ended?)")
        })?,
        Reference::Container(name) => {
            let pid = container::pid_of(name)?;
            open_file(&format!("/proc/{pid}/ns/net"), || {
                format!("container {name}: its process {pid} has ended")
            })?
        }
    };
    check(r, fd)
}

fn open_file(path: &str, gone: impl FnOnce() -> String) -> Result<OwnedFd, JoinError> {
    match File::open(path) {
        Ok(f) => Ok(OwnedFd::from(f)),
        Err(e) if matches!(e.raw_os_error(), Some(libc::ENOENT) | Some(libc::ESRCH)) => {
            Err(JoinError::Gone(gone()))
        }
        Err(e) if matches!(e.raw_os_error(), Some(libc::EACCES) | Some(libc::EPERM)) => {
            Err(JoinError::Refused(match userns::uid() {
                Some(uid) => format!(
                    "open {path}: {e}: rootless mode (uid {uid}) can join only namespaces this user owns; run vnet as root (sudo) to join one of another user's"
                ),
                None => format!("open {path}: {e}"),
            }))
        }
        Err(e) => Err(JoinError::Refused(format!("open {path}: {e}"))),
    }
}

fn check(r: &Reference, fd: OwnedFd) -> Result<Joined, JoinError> {
    let is_nsfs = fstatfs(&fd).is_ok_and(|s| s.filesystem_type() == NSFS_MAGIC);
    if !is_nsfs {
        return Err(JoinError::Refused(format!(
            "{r} is not a namespace file (expected a bind mount of one, or /proc/PID/ns/net)"
        )));
    }
    match sys::ns_type(fd.as_fd()) {
        Ok(t) if t == libc::CLONE_NEWNET => {}
        Ok(_) => {
            return Err(JoinError::Refused(format!(
                "{r} is a namespace, but not a network namespace"
            )));
        }
        Err(e) => return Err(JoinError::Refused(format!("{r}: NS_GET_NSTYPE: {e}"))),
    }
    let id = id_of(&fd).map_err(|e| JoinError::Refused(format!("{r}: {e}")))?;
    let home = File::open("/proc/thread-self/ns/net")
        .map(OwnedFd::from)
        .and_then(|f| id_of(&f));
    if home.is_ok_and(|h| h == id) {
        return Err(JoinError::Refused(format!(
            "{r} is the host namespace itself (the one vnet runs in); put those interfaces on the node `host` instead"
        )));
    }
    if let Some(uid) = userns::uid()
        && !owned_here(&fd)
    {
        return Err(JoinError::Refused(format!(
            "{r} belongs to a user namespace that is not this user's: rootless mode (uid {uid}) can join only namespaces made inside its own user namespace, since the kernel lets only their owner's root change them; run vnet as root (sudo) to join it"
        )));
    }
    Ok(Joined { fd, id })
}

fn id_of(fd: &OwnedFd) -> std::io::Result<NsId> {
    let m = File::from(fd.try_clone()?).metadata()?;
    Ok(NsId {
        dev: m.dev(),
        ino: m.ino(),
    })
}

/// Whether the network namespace `fd` is owned by this process's user
/// namespace or one below it (walking up its owners' parents; the kernel
/// answers EPERM once the walk would leave our own user namespace).
fn owned_here(fd: &OwnedFd) -> bool {
    let Ok(mine) = File::open("/proc/self/ns/user")
        .map(OwnedFd::from)
        .and_then(|f| id_of(&f))
    else {
        return false;
    };
    let Ok(mut owner) = sys::ns_related(fd.as_fd(), sys::NS_GET_USERNS) else {
        return false;
    };
    for _ in 0..64 {
        match id_of(&owner) {
            Ok(id) if id == mine => return true,
            Ok(_) => {}
            Err(_) => return false,
        }
        match sys::ns_related(owner.as_fd(), sys::NS_GET_PARENT) {
            Ok(parent) => owner = parent,
            Err(_) => return false,
        }
    }
    false
}

/// Where the probes and `exec` find external nodes that are not under
/// /run/netns: a loader of node name → reference, set by whoever knows the
/// labs (the engine reads its state records), called on first use.
static LOADER: OnceLock<fn() -> BTreeMap<String, Reference>> = OnceLock::new();
static KNOWN: OnceLock<BTreeMap<String, Reference>> = OnceLock::new();

/// Set how external nodes are found (once; later calls are ignored).
pub fn set_loader(f: fn() -> BTreeMap<String, Reference>) {
    let _ = LOADER.set(f);
}

/// The external nodes of the labs that are up, by node name.
pub(crate) fn known() -> &'static BTreeMap<String, Reference> {
    KNOWN.get_or_init(|| LOADER.get().map(|f| f()).unwrap_or_default())
}

/// The names of known external nodes that are not under /run/netns.
pub(crate) fn known_names() -> Vec<String> {
    known().keys().cloned().collect()
}

/// Open a known external node by its name.
pub(crate) fn open_known(name: &str) -> Option<Result<Joined, JoinError>> {
    known().get(name).map(open)
}
