//! One vnet at a time per lab: an flock on /run/vnet/LAB.lock. The kernel
//! drops the lock when its holder dies, so a crash never leaves it held.

use std::fs::{File, TryLockError};
use std::io;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::PathBuf;

use super::files;

pub struct LabLock {
    file: File,
    path: PathBuf,
}

pub enum Wait<'a> {
    /// Wait for the holder; call this once when it turns out we must.
    Yes(&'a dyn Fn(Option<u32>)),
    No,
}

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("another vnet{} is working on this lab", holder(*pid))]
    Busy { pid: Option<u32> },
    #[error("lock: {0}")]
    Io(#[from] io::Error),
}

fn holder(pid: Option<u32>) -> String {
    pid.map(|p| format!(" (pid {p})")).unwrap_or_default()
}

/// Wait for the lock (flock LOCK_EX), through interrupting signals.
fn lock(file: &File) -> io::Result<()> {
    loop {
        match file.lock() {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            r => return r,
        }
    }
}

/// Take the lock if it is free: Ok(false) when another holds it.
fn try_lock(file: &File) -> io::Result<bool> {
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(true),
            Err(TryLockError::WouldBlock) => return Ok(false),
            Err(TryLockError::Error(e)) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(TryLockError::Error(e)) => return Err(e),
        }
    }
}

/// The pid its holder wrote in the lock file.
fn read_pid(file: &File) -> Option<u32> {
    let mut buf = [0u8; 16];
    // pread: the file offset stays where it is.
    let n = file.read_at(&mut buf, 0).ok()?;
    std::str::from_utf8(&buf[..n]).ok()?.trim().parse().ok()
}

impl LabLock {
    pub fn acquire(lab: &str, wait: Wait) -> Result<LabLock, LockError> {
        let path = files::state_dir()?.join(format!("{lab}.lock"));
        loop {
            let file = File::from(files::open_private(&path, true)?);
            if !try_lock(&file)? {
                // Read through the file already open: the path is not
                // looked up again (nor followed).
                let pid = read_pid(&file);
                match wait {
                    Wait::No => return Err(LockError::Busy { pid }),
                    Wait::Yes(tell) => {
                        tell(pid);
                        lock(&file)?;
                    }
                }
            }
            // A `down` that held the lock may have removed the file: then
            // this lock guards nothing, and a new file must be locked.
            let ours = file.metadata()?.ino();
            match std::fs::symlink_metadata(&path) {
                Ok(m) if m.ino() == ours => {
                    file.set_len(0)?;
                    let _ = file.write_all_at(std::process::id().to_string().as_bytes(), 0);
                    return Ok(LabLock { file, path });
                }
                _ => continue,
            }
        }
    }

    /// Remove the lock file while still holding the lock (after `down`).
    pub fn remove(self) {
        let _ = std::fs::remove_file(&self.path);
        drop(self.file);
    }
}
