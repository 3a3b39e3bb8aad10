//! A node's own mount namespace: its `files:` bound read-only over the
//! host's paths and its `dirs:` as fresh tmpfs, seen inside the node only.
//! The namespace outlives the thread that made it by a bind mount of its
//! nsfs file (a "pin"), as iproute2 pins network namespaces under
//! /run/netns; the pins live in a directory that is a private mount, so a
//! pin never propagates into the namespace it pins (a loop the kernel
//! would refuse, or that would keep it alive for ever).
//!
//! A mount point missing on the host is made inside the node only: the
//! nearest existing parent gets a tmpfs in the node's view, holding a bind
//! mount of each of the parent's entries (reached through a descriptor
//! opened before the tmpfs hid them), plus the missing path. The host's
//! directory is never written.

use std::fs::File;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use nix::mount::{MntFlags, MsFlags, mount, umount2};
use nix::sched::{CloneFlags, setns, unshare};

use super::error::KernelError;

/// A path shown from elsewhere: a `files:` entry.
pub(crate) struct Bind {
    pub target: PathBuf,
    pub source: PathBuf,
}

/// A fresh tmpfs: a `dirs:` entry.
pub(crate) struct Tmpfs {
    pub target: PathBuf,
    pub uid: u32,
    pub gid: u32,
    pub mode: u32,
}

fn fail(step: &str, path: &Path, e: impl Into<KernelError>) -> KernelError {
    let e: KernelError = e.into();
    let detail = format!("{step} {}", path.display());
    KernelError::from_errno(e.errno).with_detail(Some(detail))
}

/// Make `dir` (vnet's pin directory) a private mount of its own, once.
pub(crate) fn prepare_pin_dir(dir: &Path) -> Result<(), KernelError> {
    match std::fs::DirBuilder::new().mode(0o700).create(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(fail("create", dir, e)),
    }
    let private = || {
        mount(
            None::<&str>,
            dir,
            None::<&str>,
            MsFlags::MS_PRIVATE,
            None::<&str>,
        )
    };
    if is_mount_point(dir) {
        return private().map_err(|e| fail("make private", dir, e));
    }
    mount(Some(dir), dir, None::<&str>, MsFlags::MS_BIND, None::<&str>)
        .map_err(|e| fail("bind-mount", dir, e))?;
    private().map_err(|e| fail("make private", dir, e))
}

/// Whether `p` is the root of a mount (its device differs from its
/// parent's, or /proc/self/mountinfo lists it).
fn is_mount_point(p: &Path) -> bool {
    let Ok(info) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return false;
    };
    let want = p.to_string_lossy();
    info.lines()
        .any(|l| l.split(' ').nth(4).is_some_and(|m| m == want))
}

/// Make the node's mount namespace (inside network namespace `netns`, so
/// its /sys shows the node's interfaces) and pin it at `pin`. `hide` is
/// unmounted inside it (the pin directory: other nodes' pins stay out).
pub(crate) fn create(
    netns: &str,
    pin: &Path,
    hide: &Path,
    dirs: &[Tmpfs],
    binds: &[Bind],
) -> Result<(), KernelError> {
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(pin)
    {
        Ok(_) => {}
        Err(e) => return Err(fail("create the pin", pin, e)),
    }
    // The kernel refuses to pin a mount namespace that is not newer than
    // the caller's (a loop check by namespace id). Ids come from per-CPU
    // batches, so a namespace made on another CPU than the caller's own
    // can look older: on EINVAL, make it again on each CPU in turn.
    let cpus: Vec<Option<usize>> = std::iter::once(None)
        .chain(allowed_cpus().into_iter().map(Some))
        .collect();
    let mut last = KernelError::from_errno(libc::EINVAL);
    for cpu in cpus {
        let fd = std::thread::scope(|s| {
            s.spawn(|| {
                if let Some(c) = cpu {
                    let mut set = nix::sched::CpuSet::new();
                    let _ = set.set(c);
                    let _ = nix::sched::sched_setaffinity(nix::unistd::Pid::from_raw(0), &set);
                }
                build(netns, hide, dirs, binds)
            })
            .join()
            .unwrap_or_else(|_| Err(KernelError::from_errno(libc::EIO)))
        });
        let fd = match fd {
            Ok(fd) => fd,
            Err(e) => {
                let _ = std::fs::remove_file(pin);
                return Err(e);
            }
        };
        let source = format!("/proc/self/fd/{}", fd.as_raw_fd());
        match mount(
            Some(source.as_str()),
            pin,
            None::<&str>,
            MsFlags::MS_BIND,
            None::<&str>,
        ) {
            Ok(()) => return Ok(()),
            Err(nix::Error::EINVAL) => {
                last = fail("pin the mount namespace at", pin, nix::Error::EINVAL)
            }
            Err(e) => {
                last = fail("pin the mount namespace at", pin, e);
                break;
            }
        }
    }
    let _ = std::fs::remove_file(pin);
    Err(last)
}

/// The CPUs this thread may run on.
fn allowed_cpus() -> Vec<usize> {
    let Ok(set) = nix::sched::sched_getaffinity(nix::unistd::Pid::from_raw(0)) else {
        return Vec::new();
    };
    (0..nix::sched::CpuSet::count())
        .filter(|&c| set.is_set(c).unwrap_or(false))
        .collect()
}

use std::os::unix::fs::OpenOptionsExt;

/// On a thread of its own: enter the node, unshare the mount namespace,
/// mount everything; returns the namespace's descriptor.
fn build(netns: &str, hide: &Path, dirs: &[Tmpfs], binds: &[Bind]) -> Result<OwnedFd, KernelError> {
    super::exec::enter_net(netns)?;
    unshare(CloneFlags::CLONE_NEWNS | CloneFlags::CLONE_FS)?;
    // What the host mounts later shows here; nothing made here goes back.
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_SLAVE | MsFlags::MS_REC,
        None::<&str>,
    )
    .map_err(|e| fail("make slave", Path::new("/"), e))?;
    let _ = umount2(hide, MntFlags::MNT_DETACH);
    if umount2("/sys", MntFlags::MNT_DETACH).is_ok() {
        let _ = mount(
            Some(netns),
            "/sys",
            Some("sysfs"),
            MsFlags::empty(),
            None::<&str>,
        );
    }
    // Shorter paths first: a file may live in a tmpfs dir of the node.
    let mut dirs: Vec<&Tmpfs> = dirs.iter().collect();
    dirs.sort_by_key(|d| d.target.components().count());
    for d in dirs {
        ensure_mount_point(&d.target, true)?;
        let data = format!("mode={:o},uid={},gid={}", d.mode, d.uid, d.gid);
        mount(
            Some("tmpfs"),
            &d.target,
            Some("tmpfs"),
            MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
            Some(data.as_str()),
        )
        .map_err(|e| fail("mount a tmpfs on", &d.target, e))?;
    }
    for b in binds {
        let dir = std::fs::metadata(&b.source)
            .map_err(|e| fail("read", &b.source, e))?
            .is_dir();
        ensure_mount_point(&b.target, dir)?;
        mount(
            Some(&b.source),
            &b.target,
            None::<&str>,
            MsFlags::MS_BIND | MsFlags::MS_REC,
            None::<&str>,
        )
        .map_err(|e| fail("bind-mount over", &b.target, e))?;
        mount(
            None::<&str>,
            &b.target,
            None::<&str>,
            MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY,
            None::<&str>,
        )
        .map_err(|e| fail("make read-only", &b.target, e))?;
    }
    Ok(OwnedFd::from(File::open("/proc/thread-self/ns/mnt")?))
}

/// Make `path` exist in this (the node's) mount namespace, never on the
/// host: see the module's comment.
fn ensure_mount_point(path: &Path, dir: bool) -> Result<(), KernelError> {
    match std::fs::metadata(path) {
        Ok(m) if m.is_dir() == dir => return Ok(()),
        Ok(_) => {
            return Err(
                KernelError::from_errno(libc::EINVAL).with_detail(Some(format!(
                    "{} is a {} on this machine, the lab gives a {}",
                    path.display(),
                    if dir { "file" } else { "directory" },
                    if dir { "directory" } else { "file" }
                ))),
            );
        }
        Err(_) => {}
    }
    let mut parent = path.parent();
    while let Some(p) = parent {
        if std::fs::metadata(p).is_ok() {
            break;
        }
        parent = p.parent();
    }
    let parent = parent.unwrap_or(Path::new("/"));
    if parent == Path::new("/") {
        return Err(
            KernelError::from_errno(libc::ENOENT).with_detail(Some(format!(
                "{} is missing and vnet does not make directories at the root of a node's view",
                path.display()
            ))),
        );
    }
    let parent = std::fs::canonicalize(parent).map_err(|e| fail("resolve", parent, e))?;
    shadow(&parent)?;
    // Now `parent` is this node's own tmpfs: make the rest there.
    if dir {
        std::fs::create_dir_all(path).map_err(|e| fail("create", path, e))?;
    } else {
        if let Some(p) = path.parent() {
            std::fs::create_dir_all(p).map_err(|e| fail("create", p, e))?;
        }
        File::create(path).map_err(|e| fail("create", path, e))?;
    }
    Ok(())
}

/// Cover directory `dir` with a tmpfs that shows its entries through bind
/// mounts (the directory itself, on the host, stays as it was).
fn shadow(dir: &Path) -> Result<(), KernelError> {
    let old = File::open(dir).map_err(|e| fail("open", dir, e))?;
    let meta = old.metadata().map_err(|e| fail("read", dir, e))?;
    let entries: Vec<std::fs::DirEntry> = std::fs::read_dir(dir)
        .map_err(|e| fail("list", dir, e))?
        .filter_map(Result::ok)
        .collect();
    let data = format!(
        "mode={:o},uid={},gid={}",
        meta.permissions().mode() & 0o7777,
        meta.uid(),
        meta.gid()
    );
    mount(
        Some("tmpfs"),
        dir,
        Some("tmpfs"),
        MsFlags::empty(),
        Some(data.as_str()),
    )
    .map_err(|e| fail("mount a tmpfs on", dir, e))?;
    let via = PathBuf::from(format!("/proc/self/fd/{}", old.as_fd().as_raw_fd()));
    for e in entries {
        let name = e.file_name();
        let here = dir.join(&name);
        let there = via.join(&name);
        let Ok(ft) = e.file_type() else { continue };
        if ft.is_symlink() {
            if let Ok(target) = std::fs::read_link(&there) {
                let _ = std::os::unix::fs::symlink(target, &here);
            }
            continue;
        }
        let made = if ft.is_dir() {
            std::fs::create_dir(&here).is_ok()
        } else {
            File::create(&here).is_ok()
        };
        if made {
            mount(
                Some(&there),
                &here,
                None::<&str>,
                MsFlags::MS_BIND | MsFlags::MS_REC,
                None::<&str>,
            )
            .map_err(|e| fail("bind-mount", &here, e))?;
        }
    }
    Ok(())
}

/// Move the calling thread into the mount namespace pinned at `pin`.
pub(crate) fn enter(pin: &Path) -> Result<(), KernelError> {
    let fd = File::open(pin).map_err(|e| fail("open", pin, e))?;
    unshare(CloneFlags::CLONE_FS)?;
    setns(fd.as_fd(), CloneFlags::CLONE_NEWNS).map_err(|e| fail("enter", pin, e))?;
    Ok(())
}

/// Whether `pin` holds a mount namespace.
pub(crate) fn is_pinned(pin: &Path) -> bool {
    File::open(pin)
        .ok()
        .and_then(|f| nix::sys::statfs::fstatfs(&f).ok())
        .is_some_and(|s| s.filesystem_type() == nix::sys::statfs::NSFS_MAGIC)
}

/// Unpin (the namespace ends with its last process) and remove the file.
pub(crate) fn remove(pin: &Path) -> Result<(), KernelError> {
    match umount2(pin, MntFlags::MNT_DETACH) {
        Ok(()) | Err(nix::Error::EINVAL) | Err(nix::Error::ENOENT) => {}
        Err(e) => return Err(fail("unmount", pin, e)),
    }
    match std::fs::remove_file(pin) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(fail("remove", pin, e)),
    }
}
