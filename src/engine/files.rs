//! vnet's own files under /run/vnet: created root-only (0700 directory, 0600
//! files), never through a symlink, and replaced atomically.

use std::fs::OpenOptions;
use std::io::{self, Write};
use std::os::fd::OwnedFd;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

pub const STATE_DIR: &str = "/run/vnet";

/// The state directory, created if needed; refused if it is a symlink,
/// not a directory, not owned by us, or open to others.
pub fn state_dir() -> io::Result<PathBuf> {
    let dir = dir_path();
    match std::fs::DirBuilder::new().mode(0o700).create(&dir) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(e),
    }
    checked(dir)
}

/// The state directory if it exists (with the same checks), for readers:
/// reading the state (`status`, `down` of a lab never brought up) must not
/// create it.
pub fn existing_state_dir() -> io::Result<PathBuf> {
    checked(dir_path())
}

fn dir_path() -> PathBuf {
    PathBuf::from(std::env::var_os("VNET_STATE_DIR").unwrap_or_else(|| STATE_DIR.into()))
}

fn checked(dir: PathBuf) -> io::Result<PathBuf> {
    let meta = std::fs::symlink_metadata(&dir)?;
    let me = nix::unistd::geteuid().as_raw();
    if !meta.file_type().is_dir() {
        return Err(io::Error::other(format!(
            "{} is not a directory",
            dir.display()
        )));
    }
    if meta.uid() != me {
        return Err(io::Error::other(format!(
            "{} is owned by uid {}, not by this user (uid {me}); refusing to use it",
            dir.display(),
            meta.uid()
        )));
    }
    if meta.mode() & 0o077 != 0 {
        std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o700))?;
    }
    Ok(dir)
}

/// Open (creating if needed) a file for reading and writing, 0600, without
/// following a symlink planted at `path`.
pub fn open_private(path: &Path, create: bool) -> io::Result<OwnedFd> {
    // O_RDWR | O_CLOEXEC | O_NOFOLLOW (| O_CREAT), mode 0600.
    let f = OpenOptions::new()
        .read(true)
        .write(true)
        .create(create)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
        .map_err(|e| {
            if e.raw_os_error() == Some(libc::ELOOP) {
                io::Error::other(format!(
                    "{} is a symbolic link; vnet never follows links in its state directory (remove it)",
                    path.display()
                ))
            } else {
                e
            }
        })?;
    if !f.metadata()?.file_type().is_file() {
        return Err(io::Error::other(format!(
            "{} is not a regular file",
            path.display()
        )));
    }
    Ok(OwnedFd::from(f))
}

/// The temporary file `write_atomic` writes before renaming it to `path`.
fn temporary(path: &Path) -> PathBuf {
    path.with_extension(format!("tmp.{}", std::process::id()))
}

/// Remove the temporary files a killed writer of `path` left (any process
/// id). Only for a caller that holds the lock guarding `path`: then no
/// other writer of it is running.
pub fn remove_stale_temporaries(path: &Path) {
    let (Some(dir), Some(stem)) = (path.parent(), path.file_stem()) else {
        return;
    };
    let prefix = format!("{}.tmp.", stem.to_string_lossy());
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.filter_map(Result::ok) {
        let name = e.file_name();
        let name = name.to_string_lossy();
        let pid = name.strip_prefix(&prefix);
        if pid.is_some_and(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit())) {
            // remove_file unlinks a symlink itself, never its target.
            let _ = std::fs::remove_file(e.path());
        }
    }
}

/// Replace `path` with `data`: written to a private temporary file, then
/// renamed over it, so readers see the old or the new file, never half.
pub fn write_atomic(path: &Path, data: &[u8]) -> io::Result<()> {
    let tmp = temporary(path);
    let _ = std::fs::remove_file(&tmp);
    // O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode 0600.
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(&tmp)?;
    f.write_all(data)?;
    drop(f);
    std::fs::rename(&tmp, path)
}

/// Read a file vnet wrote, refusing symlinks.
pub fn read_private(path: &Path) -> io::Result<Vec<u8>> {
    let fd = open_private(path, false)?;
    let mut f = std::fs::File::from(fd);
    let mut out = Vec::new();
    io::Read::read_to_end(&mut f, &mut out)?;
    Ok(out)
}
