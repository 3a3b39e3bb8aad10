//! vnet: build, show, test and explain Linux virtual networks.
//!
//! The lab file becomes a validated [`model::Lab`]; the kernel is read into
//! the same terms ([`model::live`]); a [`plan::Plan`] is their difference;
//! the kernel layer applies it over netlink. Everything but the kernel layer
//! (and the commands that use it) is pure and runs without root.
//!
//! # The library surface
//!
//! - the model: [`Lab`], [`parse_lab`] (and [`model`] for the lab's parts);
//! - plans: [`plan()`], [`Plan`] and their scripts ([`plan::script`]);
//! - the engine: [`up`], [`down`], [`status`] with their options and reports;
//! - probes: [`ping`], [`matrix`];
//! - the doctor: [`doctor()`] and its [`Verdict`];
//! - one error type, [`Error`], that every layer's error converts into.
//!
//! The modules `cli` and `kernel` are the command line's and the kernel
//! layer's; they are public only for the `vnet` binary and are not part of
//! the library's promise.

// Every `unsafe` block is in `kernel::sys`, behind safe wrappers.
#![deny(unsafe_code)]
#![warn(unreachable_pub)]

#[doc(hidden)]
pub mod cli;
pub mod doctor;
pub mod engine;
pub mod import;
#[doc(hidden)]
pub mod kernel;
pub mod model;
pub mod plan;
pub mod probe;
pub mod render;

pub use doctor::run::{Options as DoctorOptions, run as doctor};
pub use doctor::verdict::{Status as VerdictStatus, Verdict};
pub use engine::down::{DownReport, down};
pub use engine::status::{LabStatus, LabSummary, list as list_labs, show as status};
pub use engine::up::{UpOptions, UpReport, up};
pub use engine::{EngineError, Hooks};
pub use model::{Lab, LabFileError, parse_lab};
pub use plan::{Plan, plan};
pub use probe::ProbeError;
pub use probe::icmp::{PingOptions, PingStats, ping};
pub use probe::matrix::{MatrixOptions, run as matrix};

/// Any error of vnet, by layer; each keeps its cause reachable through
/// [`std::error::Error::source`]. The words are those the command line
/// prints.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Model(#[from] model::Error),
    #[error(transparent)]
    Plan(#[from] plan::Error),
    #[error(transparent)]
    Kernel(#[from] kernel::Error),
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error(transparent)]
    Probe(#[from] ProbeError),
    #[error(transparent)]
    Import(#[from] import::Error),
}

impl From<LabFileError> for Error {
    fn from(e: LabFileError) -> Error {
        Error::Model(e.into())
    }
}

impl From<kernel::KernelError> for Error {
    fn from(e: kernel::KernelError) -> Error {
        Error::Kernel(e.into())
    }
}
