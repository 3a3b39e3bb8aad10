//! A child process held by a pidfd, so that a lab can kill what it started
//! at teardown without ever signalling a stranger that reused the pid, and
//! wait for its death without reaping it (its `Child` stays its owner's).

use std::os::fd::{AsFd, OwnedFd};

use nix::sys::wait::{Id, WaitPidFlag, waitid};

use super::KernelError;
use super::sys;

pub(crate) struct Pidfd {
    fd: OwnedFd,
}

impl Pidfd {
    pub(crate) fn open(pid: u32) -> Result<Pidfd, KernelError> {
        let fd = sys::pidfd_open(pid as i32)?;
        Ok(Pidfd { fd })
    }

    /// Sends `signal` through the pidfd, so a reused pid is never hit.
    pub(crate) fn signal(&self, signal: libc::c_int) -> Result<(), KernelError> {
        Ok(sys::pidfd_send_signal(self.fd.as_fd(), signal)?)
    }

    /// Waits until the process has exited, whoever its parent is (a pidfd
    /// becomes readable at exit), at most `limit_ms`.
    pub(crate) fn wait_exit(&self, limit_ms: u16) {
        use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
        let mut fds = [PollFd::new(self.fd.as_fd(), PollFlags::POLLIN)];
        let _ = poll(&mut fds, PollTimeout::from(limit_ms));
    }

    /// SIGKILL, then wait until it has exited (a zombie holds no
    /// namespace). Left unreaped: whoever holds its `Child` may still wait.
    /// A process that is already gone is no error.
    pub(crate) fn kill_and_wait(&self) {
        let _ = sys::pidfd_send_signal(self.fd.as_fd(), libc::SIGKILL);
        // Fails with ECHILD once reaped by its owner: nothing to wait for.
        let _ = waitid(
            Id::PIDFd(self.fd.as_fd()),
            WaitPidFlag::WEXITED | WaitPidFlag::WNOWAIT,
        );
    }
}

impl AsFd for Pidfd {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.fd.as_fd()
    }
}
