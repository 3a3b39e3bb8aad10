//! Named network namespaces, the iproute2 way: a bind mount of the
//! namespace file at /run/netns/NAME, so `ip netns` and vnet see the same
//! namespaces. Creation runs on several threads at once; each thread enters
//! a new namespace and opens that namespace's netlink socket from inside.

use std::fs::File;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::fs::{DirBuilderExt, MetadataExt};
use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use netlink_packet_route::RouteNetlinkMessage;
use netlink_packet_route::link::{LinkAttribute, LinkFlags, LinkMessage};
use nix::errno::Errno;
use nix::fcntl::{OFlag, open};
use nix::mount::{MntFlags, MsFlags, mount, umount2};
use nix::sched::{CloneFlags, setns, unshare};
use nix::sys::stat::Mode;
use nix::sys::statfs::{NSFS_MAGIC, fstatfs};
use nix::unistd::geteuid;

use super::error::KernelError;
use super::fault;
use super::netlink::NlSocket;
use super::{observe, sysctl};
use crate::model::live::LiveLink;
use crate::model::names;

pub(crate) const RUN_DIR: &str = "/run/netns";

/// The network namespace of the calling thread.
pub(crate) fn current() -> Result<OwnedFd, KernelError> {
    open_path("/proc/thread-self/ns/net")
}

fn open_path(path: &str) -> Result<OwnedFd, KernelError> {
    Ok(OwnedFd::from(File::open(path)?))
}

/// Make /run/netns a shared mount point, as `ip netns add` does, so that
/// namespaces mounted there are seen from other mount namespaces too.
/// Two vnets starting at once on a machine where it is not yet a mount
/// point would each bind-mount it, stacking mounts: an flock on the
/// directory makes the check and the mount one step. A symlink or a
/// directory owned by someone else is refused, never followed.
pub(crate) fn prepare_run_dir() -> Result<(), KernelError> {
    match std::fs::DirBuilder::new().mode(0o755).create(RUN_DIR) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(e.into()),
    }
    let dir = open_run_dir()?;
    flock_exclusive(&dir)?;
    let shared = || {
        mount(
            None::<&str>,
            RUN_DIR,
            None::<&str>,
            MsFlags::MS_SHARED | MsFlags::MS_REC,
            None::<&str>,
        )
    };
    match shared() {
        Ok(()) => Ok(()),
        Err(nix::Error::EINVAL) => {
            mount(
                Some(RUN_DIR),
                RUN_DIR,
                None::<&str>,
                MsFlags::MS_BIND | MsFlags::MS_REC,
                None::<&str>,
            )?;
            shared()?;
            Ok(())
        }
        Err(e) => Err(e.into()),
    }
    // The lock goes with `dir`.
}

/// /run/netns opened as a directory that is not a symlink and belongs to
/// this user (root).
fn open_run_dir() -> Result<File, KernelError> {
    let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    let dir = match open(RUN_DIR, flags, Mode::empty()) {
        Ok(fd) => File::from(fd),
        Err(e @ (Errno::ELOOP | Errno::ENOTDIR)) => {
            return Err(KernelError::from(e).with_detail(Some(format!(
                "{RUN_DIR} is not a directory (a symlink?); vnet does not follow it"
            ))));
        }
        Err(e) => return Err(e.into()),
    };
    let owner = dir.metadata()?.uid();
    if owner != geteuid().as_raw() {
        return Err(
            KernelError::from_errno(libc::EPERM).with_detail(Some(format!(
                "{RUN_DIR} belongs to uid {owner}, not to this user; refusing to mount namespaces there"
            ))),
        );
    }
    Ok(dir)
}

fn flock_exclusive(dir: &File) -> Result<(), KernelError> {
    loop {
        match dir.lock() {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e.into()),
        }
    }
}

/// What is found at /run/netns/NAME.
pub(crate) enum Found {
    Absent,
    Namespace(OwnedFd),
    /// A file that is not a mounted namespace (an interrupted `ip netns add`).
    Stale,
}

fn path_of(name: &str) -> Result<PathBuf, KernelError> {
    // Defence in depth: the lab validator already refused such names.
    if names::check_netns_name(name).is_err() {
        return Err(
            KernelError::from_errno(libc::EINVAL).with_detail(Some(format!(
                "`{}` is not a safe namespace name",
                names::printable(name)
            ))),
        );
    }
    Ok(PathBuf::from(RUN_DIR).join(name))
}

/// Open a named namespace without following symlinks.
pub(crate) fn open_named(name: &str) -> Result<Found, KernelError> {
    let path = path_of(name)?;
    let flags = OFlag::O_RDONLY | OFlag::O_CLOEXEC | OFlag::O_NOFOLLOW | OFlag::O_NONBLOCK;
    let fd = match open(&path, flags, Mode::empty()) {
        Ok(fd) => fd,
        // Anything else planted under /run/netns (a symlink, a socket, a
        // device) is not a namespace either: reported as such, never
        // followed, and it must not stop vnet from seeing the others.
        Err(Errno::ENOENT) => return Ok(Found::Absent),
        Err(Errno::ELOOP | Errno::ENXIO | Errno::ENODEV | Errno::EISDIR | Errno::ENOTDIR) => {
            return Ok(Found::Stale);
        }
        Err(e) => return Err(e.into()),
    };
    if fstatfs(&fd)?.filesystem_type() == NSFS_MAGIC {
        Ok(Found::Namespace(fd))
    } else {
        Ok(Found::Stale)
    }
}

/// Names under /run/netns, sorted.
pub(crate) fn list_named() -> Vec<String> {
    let mut out: Vec<String> = std::fs::read_dir(RUN_DIR)
        .map(|d| {
            d.filter_map(Result::ok)
                .filter_map(|e| e.file_name().into_string().ok())
                .filter(|n| names::check_netns_name(n).is_ok())
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

/// Run `f` with the calling thread inside `ns`, then return to where it was.
/// Only for threads vnet owns (pool workers): other threads' namespace must
/// not change under them.
pub(crate) fn within<T>(ns: BorrowedFd, f: impl FnOnce() -> T) -> Result<T, KernelError> {
    let home = current()?;
    setns(ns, CloneFlags::CLONE_NEWNET)?;
    let out = f();
    setns(home.as_fd(), CloneFlags::CLONE_NEWNET)?;
    Ok(out)
}

/// A namespace vnet works in: its fd and the netlink socket opened inside it.
pub struct NsHandle {
    pub fd: OwnedFd,
    pub sock: NlSocket,
}

/// Open a socket inside an existing namespace (on the calling thread).
pub(crate) fn attach(fd: OwnedFd) -> Result<NsHandle, KernelError> {
    let sock = within(fd.as_fd(), NlSocket::open)??;
    Ok(NsHandle { fd, sock })
}

/// The host: the namespace vnet was started in.
pub(crate) fn host() -> Result<NsHandle, KernelError> {
    Ok(NsHandle {
        fd: current()?,
        sock: NlSocket::open()?,
    })
}

/// What a new namespace needs before anyone can see it.
pub(crate) struct NewNs {
    pub name: String,
    /// Written inside the namespace before any interface appears.
    pub early_sysctls: Vec<(String, String)>,
    /// Alias for `lo`: the ownership mark.
    pub lo_alias: String,
}

/// Create one namespace on the calling thread: enter a new namespace, bring
/// `lo` up with the mark, then mount it under /run/netns (so it is never
/// visible unmarked). The thread returns to its namespace.
pub(crate) fn create(new: &NewNs) -> Result<(NsHandle, Vec<LiveLink>), KernelError> {
    let path = path_of(&new.name)?;
    fault::check()?;
    let home = current()?;
    unshare(CloneFlags::CLONE_NEWNET)?;
    let made = (|| {
        for (k, v) in &new.early_sysctls {
            sysctl::write(k, v)?;
        }
        let mut sock = NlSocket::open()?;
        let mut lo = LinkMessage::default();
        lo.header.index = 1;
        lo.header.flags = LinkFlags::Up;
        lo.header.change_mask = LinkFlags::Up;
        lo.attributes
            .push(LinkAttribute::IfAlias(new.lo_alias.clone()));
        sock.request(RouteNetlinkMessage::SetLink(lo), 0)?;
        // The interfaces a new namespace starts with (lo, fallback tunnels),
        // so that vnet can pick free indexes for what it adds.
        let links = sock
            .dump(observe::link_dump_request())?
            .iter()
            .filter_map(|m| match m {
                RouteNetlinkMessage::NewLink(l) => Some(observe::link(l)),
                _ => None,
            })
            .collect();
        let fd = current()?;
        // The mount is an operation of its own: a failure here must also
        // leave nothing behind (the namespace dies with its last fd).
        fault::check()?;
        mount_at(&path)?;
        Ok((NsHandle { fd, sock }, links))
    })();
    setns(home.as_fd(), CloneFlags::CLONE_NEWNET)?;
    made
}

/// Bind-mount the calling thread's namespace at `path` (created here, never
/// reused: O_EXCL refuses a name that appeared since the plan was made).
fn mount_at(path: &PathBuf) -> Result<(), KernelError> {
    let flags =
        OFlag::O_RDONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_CLOEXEC | OFlag::O_NOFOLLOW;
    // Made here, closed right away: only the bind mount needs it.
    drop(open(path, flags, Mode::empty())?);
    if let Err(e) = mount(
        Some("/proc/thread-self/ns/net"),
        path,
        None::<&str>,
        MsFlags::MS_BIND,
        None::<&str>,
    ) {
        let _ = std::fs::remove_file(path);
        return Err(e.into());
    }
    Ok(())
}

/// Unmount and remove /run/netns/NAME. The namespace itself goes when the
/// last process or fd holding it lets go.
pub(crate) fn remove(name: &str) -> Result<(), KernelError> {
    let path = path_of(name)?;
    // UMOUNT_NOFOLLOW: a symlink planted at the name is not a way to
    // unmount something elsewhere.
    match umount2(&path, MntFlags::MNT_DETACH | MntFlags::UMOUNT_NOFOLLOW) {
        Ok(()) | Err(nix::Error::EINVAL) | Err(nix::Error::ENOENT) => {}
        Err(e) => return Err(e.into()),
    }
    match std::fs::remove_file(&path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Threads to use for namespace work: namespace creation is the largest
/// single cost and scales with cores. `VNET_THREADS` overrides (benchmarks).
pub(crate) fn workers(jobs: usize) -> usize {
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let chosen = std::env::var("VNET_THREADS")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or((cores * 2).clamp(1, 16));
    chosen.clamp(1, jobs.max(1))
}

/// Run `f` over `items` on a few threads, keeping the input order.
pub(crate) fn parallel<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    if items.len() <= 1 {
        return items.iter().map(&f).collect();
    }
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<R>>> = Mutex::new((0..items.len()).map(|_| None).collect());
    std::thread::scope(|s| {
        for _ in 0..workers(items.len()) {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= items.len() {
                        break;
                    }
                    let r = f(&items[i]);
                    results.lock().unwrap_or_else(|p| p.into_inner())[i] = Some(r);
                }
            });
        }
    });
    results
        .into_inner()
        .unwrap_or_else(|p| p.into_inner())
        .into_iter()
        .map(|r| r.expect("every item is processed"))
        .collect()
}
