//! The library's one error type: what went wrong, in the words the command
//! line would print.

use crate::engine::EngineError;
use crate::kernel::KernelError;
use crate::model::LabFileError;
use crate::probe::ProbeError;

/// Everything the library can fail with. Its `Display` is the text the
/// command line prints for the same failure.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The lab file (or the builder's lab) is not valid: every problem, each
    /// with `file:line:column`.
    #[error("{}", .0.plain_lines().join("\n"))]
    LabFile(LabFileError),
    /// The lab file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    /// Bringing the lab up or down, or changing it (`impair`).
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// A probe: `ping_all`, `trace`, `doctor`.
    #[error(transparent)]
    Probe(#[from] ProbeError),
    /// A kernel call, with the step it was for.
    #[error("{step}: {error}")]
    Kernel {
        step: String,
        #[source]
        error: KernelError,
    },
    /// Starting a program in a node.
    #[error("{what}: {source}")]
    Io {
        what: String,
        source: std::io::Error,
    },
    /// A name or value the lab does not know (an unknown node, say).
    #[error("{0}")]
    Usage(String),
    /// A value or a lab that the model refuses (names, addresses, routes,
    /// link conditions).
    #[error(transparent)]
    Model(#[from] crate::model::Error),
    /// A plan that cannot be written in the form asked for.
    #[error(transparent)]
    Plan(#[from] crate::plan::Error),
    /// A kernel-layer failure of its own (a plan step, tracefs).
    #[error(transparent)]
    KernelLayer(#[from] crate::kernel::Error),
    /// A file `vnet import` cannot read as what it claims to be.
    #[error(transparent)]
    Import(#[from] crate::import::Error),
}

impl From<LabFileError> for Error {
    fn from(e: LabFileError) -> Error {
        Error::LabFile(e)
    }
}

/// `Result` with the library's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
