//! Enter a node's namespace to run a command there, the way `ip netns exec`
//! does: the network namespace, a private mount namespace with the node's
//! own /sys, and /etc/netns/NAME/* bound over /etc.

use std::os::fd::AsFd;
use std::path::Path;

use nix::mount::{MntFlags, MsFlags, mount, umount2};
use nix::sched::{CloneFlags, setns, unshare};

use super::error::KernelError;
use super::netns::{self, Found};

/// Move the calling thread into namespace `name`, with a mount namespace
/// of its own: the whole process when it is single-threaded (`vnet exec`),
/// else only this thread, which then must be one made for the purpose (the
/// library's `run` and `spawn`: what it starts inherits both namespaces).
pub(crate) fn enter(name: &str) -> Result<(), KernelError> {
    enter_net(name)?;
    unshare(CloneFlags::CLONE_NEWNS)?;
    // Our mounts must not propagate back to the host.
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_SLAVE | MsFlags::MS_REC,
        None::<&str>,
    )?;
    // /sys shows the namespace that mounted it: remount it for this one.
    if umount2("/sys", MntFlags::MNT_DETACH).is_ok() {
        let _ = mount(
            Some(name),
            "/sys",
            Some("sysfs"),
            MsFlags::empty(),
            None::<&str>,
        );
    }
    bind_etc(name);
    Ok(())
}

/// Move the calling thread into network namespace `name`, and nothing
/// else (sockets it opens then belong to that namespace for good).
pub(crate) fn enter_net(name: &str) -> Result<(), KernelError> {
    let fd = match netns::open_named(name)? {
        Found::Namespace(fd) => fd,
        Found::Absent => {
            // An external node of a lab that is up, by its reference.
            match super::external::open_known(name) {
                Some(Ok(j)) => return enter_fd(j.fd),
                Some(Err(e)) => {
                    return Err(KernelError::from_errno(libc::ENOENT)
                        .with_detail(Some(format!("external node {name}: {e}"))));
                }
                None => {}
            }
            return Err(
                KernelError::from_errno(libc::ENOENT).with_detail(Some(format!(
                    "no namespace {name} under {}",
                    netns::RUN_DIR
                ))),
            );
        }
        Found::Stale => {
            return Err(
                KernelError::from_errno(libc::EINVAL).with_detail(Some(format!(
                    "{}/{name} is not a mounted namespace",
                    netns::RUN_DIR
                ))),
            );
        }
    };
    enter_fd(fd)
}

fn enter_fd(fd: std::os::fd::OwnedFd) -> Result<(), KernelError> {
    setns(fd.as_fd(), CloneFlags::CLONE_NEWNET)?;
    Ok(())
}

/// Per-namespace configuration files, as iproute2 offers them.
fn bind_etc(name: &str) {
    let dir = Path::new("/etc/netns").join(name);
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return;
    };
    for e in entries.flatten() {
        let target = Path::new("/etc").join(e.file_name());
        if target.exists() {
            let _ = mount(
                Some(&e.path()),
                &target,
                None::<&str>,
                MsFlags::MS_BIND,
                None::<&str>,
            );
        }
    }
}
