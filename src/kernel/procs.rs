//! Processes inside namespaces: found by the namespace files under
//! /proc/PID/ns, ended through pidfds (never a pid that was reused), and
//! waited for by polling those pidfds, not by sleeping.

use std::os::fd::AsFd;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::{Duration, Instant};

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};

use super::pidfd::Pidfd;

/// A namespace's identity: the device and inode of its nsfs file.
pub(crate) type NsId = (u64, u64);

/// The identity of the namespace behind a file (a /run/netns mount, a
/// pin, /proc/PID/ns/net).
pub(crate) fn ns_id(path: &Path) -> Option<NsId> {
    let m = std::fs::metadata(path).ok()?;
    Some((m.dev(), m.ino()))
}

/// A process found inside one of the namespaces asked for.
#[derive(Clone, Debug)]
pub(crate) struct Found {
    pub pid: u32,
    pub comm: String,
}

/// Every process whose network or mount namespace is one of `ids`
/// (this process excluded).
pub(crate) fn inside(ids: &[NsId]) -> Vec<Found> {
    let me = std::process::id();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for e in dir.filter_map(Result::ok) {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        if pid == me {
            continue;
        }
        let hit = ["net", "mnt"].iter().any(|kind| {
            ns_id(
                &Path::new("/proc")
                    .join(pid.to_string())
                    .join("ns")
                    .join(kind),
            )
            .is_some_and(|id| ids.contains(&id))
        });
        if hit {
            let comm = std::fs::read_to_string(format!("/proc/{pid}/comm"))
                .map(|s| s.trim().to_string())
                .unwrap_or_default();
            out.push(Found { pid, comm });
        }
    }
    out.sort_by_key(|f| f.pid);
    out
}

/// SIGTERM to each, then SIGKILL to what is left after `grace`; returns
/// once every one has exited (a zombie counts as exited: it holds no
/// namespace). Which ones needed SIGKILL are marked true.
pub(crate) fn end(found: &[Found], grace: Duration) -> Vec<(Found, bool)> {
    let mut open: Vec<(Found, Pidfd)> = found
        .iter()
        .filter_map(|f| Pidfd::open(f.pid).ok().map(|p| (f.clone(), p)))
        .collect();
    for (_, p) in &open {
        let _ = p.signal(libc::SIGTERM);
    }
    let mut done = Vec::new();
    let deadline = Instant::now() + grace;
    loop {
        open.retain(|(f, p)| {
            if exited(p) {
                done.push((f.clone(), false));
                false
            } else {
                true
            }
        });
        let left = deadline.saturating_duration_since(Instant::now());
        if open.is_empty() || left.is_zero() {
            break;
        }
        let mut fds: Vec<PollFd> = open
            .iter()
            .map(|(_, p)| PollFd::new(p.as_fd(), PollFlags::POLLIN))
            .collect();
        let ms = left.as_millis().min(u16::MAX as u128) as u16;
        let _ = poll(&mut fds, PollTimeout::from(ms));
    }
    // SIGKILL cannot be refused; the wait is for the kernel to finish the
    // exit (pidfds of processes that are not our children poll readable
    // then).
    for (_, p) in &open {
        let _ = p.signal(libc::SIGKILL);
    }
    for (f, p) in open {
        p.wait_exit(10_000);
        done.push((f, true));
    }
    done.sort_by_key(|(f, _)| f.pid);
    done
}

/// Whether the process behind `p` has exited (its pidfd is readable).
fn exited(p: &Pidfd) -> bool {
    let mut fds = [PollFd::new(p.as_fd(), PollFlags::POLLIN)];
    matches!(poll(&mut fds, PollTimeout::ZERO), Ok(n) if n > 0)
}
