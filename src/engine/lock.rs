//! One vnet at a time per lab: an flock on /run/vnet/LAB.lock. The kernel
//! drops the lock when its holder dies, so a crash never leaves it held.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::PathBuf;

use super::files;

pub struct LabLock {
    fd: OwnedFd,
    path: PathBuf,
}

pub enum Wait<'a> {
    /// Wait for the holder; call this once when it turns out we must.
    Yes(&'a dyn Fn(Option<u32>)),
    No,
}

#[derive(Debug)]
pub enum LockError {
    Busy { pid: Option<u32> },
    Io(io::Error),
}

impl From<io::Error> for LockError {
    fn from(e: io::Error) -> LockError {
        LockError::Io(e)
    }
}

impl std::fmt::Display for LockError {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        match self {
            LockError::Busy { pid: Some(p) } => {
                write!(f, "another vnet (pid {p}) is working on this lab")
            }
            LockError::Busy { pid: None } => write!(f, "another vnet is working on this lab"),
            LockError::Io(e) => write!(f, "lock: {e}"),
        }
    }
}

fn flock(fd: &OwnedFd, op: libc::c_int) -> io::Result<()> {
    loop {
        // SAFETY: flock on an fd we own.
        if unsafe { libc::flock(fd.as_raw_fd(), op) } == 0 {
            return Ok(());
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

/// The pid its holder wrote in the lock file.
fn read_pid(fd: &OwnedFd) -> Option<u32> {
    let f = std::fs::File::from(fd.try_clone().ok()?);
    let mut buf = [0u8; 16];
    // pread: the offset the fd shares with its clones stays where it is.
    let n = f.read_at(&mut buf, 0).ok()?;
    std::str::from_utf8(&buf[..n]).ok()?.trim().parse().ok()
}

impl LabLock {
    pub fn acquire(lab: &str, wait: Wait) -> Result<LabLock, LockError> {
        let path = files::state_dir()?.join(format!("{lab}.lock"));
        loop {
            let fd = files::open_private(&path, true)?;
            match flock(&fd, libc::LOCK_EX | libc::LOCK_NB) {
                Ok(()) => {}
                Err(e) if e.raw_os_error() == Some(libc::EWOULDBLOCK) => {
                    // Read through the fd already open: the path is not
                    // looked up again (nor followed).
                    let pid = read_pid(&fd);
                    match wait {
                        Wait::No => return Err(LockError::Busy { pid }),
                        Wait::Yes(tell) => {
                            tell(pid);
                            flock(&fd, libc::LOCK_EX)?;
                        }
                    }
                }
                Err(e) => return Err(e.into()),
            }
            // A `down` that held the lock may have removed the file: then
            // this lock guards nothing, and a new file must be locked.
            let ours = std::fs::File::from(fd.try_clone()?).metadata()?.ino();
            match std::fs::symlink_metadata(&path) {
                Ok(m) if m.ino() == ours => {
                    let f = std::fs::File::from(fd.try_clone()?);
                    f.set_len(0)?;
                    let _ = f.write_all_at(std::process::id().to_string().as_bytes(), 0);
                    return Ok(LabLock { fd, path });
                }
                _ => continue,
            }
        }
    }

    /// Remove the lock file while still holding the lock (after `down`).
    pub fn remove(self) {
        let _ = std::fs::remove_file(&self.path);
        drop(self.fd);
    }
}
