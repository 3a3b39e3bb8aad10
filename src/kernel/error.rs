//! Kernel errors in words: the errno's name and meaning, the kernel's own
//! extended-ack text, and (added by the caller) the step and the object.

use std::io;

/// What the kernel said no with: the errno and its own extended-ack words.
/// The operation and the object are kept by the error that wraps this one
/// (`apply::StepError` keeps the plan's action; the engine and probe errors
/// a step in words), so the chain reads "what, on what, why".
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{}", describe(*errno, detail.as_deref()))]
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

/// "File exists (EEXIST): the kernel's words".
fn describe(errno: i32, detail: Option<&str>) -> String {
    let name = errno_name(errno);
    let text = io::Error::from_raw_os_error(errno).to_string();
    let text = text.split(" (os error").next().unwrap_or(&text);
    match detail {
        Some(d) => format!("{text} ({name}): {d}"),
        None => format!("{text} ({name})"),
    }
}

/// Any error of the kernel layer.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Kernel(#[from] KernelError),
    #[error(transparent)]
    Apply(#[from] super::apply::ApplyError),
    #[error(transparent)]
    Trace(#[from] super::tracefs::TraceError),
}

/// The errno's symbolic name ("EEXIST"), or "errno" for a number the C
/// library does not know.
pub fn errno_name(e: i32) -> String {
    match nix::errno::Errno::from_raw(e) {
        nix::errno::Errno::UnknownErrno => "errno".to_string(),
        known => format!("{known:?}"),
    }
}
