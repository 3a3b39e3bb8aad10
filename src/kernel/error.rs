//! Kernel errors in words: the errno's name and meaning, the kernel's own
//! extended-ack text, and (added by the caller) the step and the object.

use std::fmt;
use std::io;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KernelError {
    pub errno: i32,
    /// The kernel's extended acknowledgement message, when it gave one.
    pub detail: Option<String>,
}

impl KernelError {
    pub fn from_errno(errno: i32) -> KernelError {
        KernelError {
            errno,
            detail: None,
        }
    }

    pub fn with_detail(mut self, detail: Option<String>) -> KernelError {
        self.detail = detail;
        self
    }

    pub fn last() -> KernelError {
        io::Error::last_os_error().into()
    }

    pub fn is(&self, errno: i32) -> bool {
        self.errno == errno
    }
}

impl From<io::Error> for KernelError {
    fn from(e: io::Error) -> KernelError {
        KernelError::from_errno(e.raw_os_error().unwrap_or(libc::EIO))
    }
}

impl From<nix::Error> for KernelError {
    fn from(e: nix::Error) -> KernelError {
        KernelError::from_errno(e as i32)
    }
}

impl fmt::Display for KernelError {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        let name = errno_name(self.errno);
        let text = io::Error::from_raw_os_error(self.errno).to_string();
        let text = text.split(" (os error").next().unwrap_or(&text);
        write!(f, "{text} ({name})")?;
        if let Some(d) = &self.detail {
            write!(f, ": {d}")?;
        }
        Ok(())
    }
}

impl std::error::Error for KernelError {}

/// The errno's symbolic name ("EEXIST"), or "errno" for a number the C
/// library does not know.
pub fn errno_name(e: i32) -> String {
    match nix::errno::Errno::from_raw(e) {
        nix::errno::Errno::UnknownErrno => "errno".to_string(),
        known => format!("{known:?}"),
    }
}
