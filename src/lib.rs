//! vnet: build, show, test and explain Linux virtual networks.
//!
//! The lab file becomes a validated [`model::Lab`]; the kernel is read into
//! the same terms ([`model::live`]); a [`plan::Plan`] is their difference;
//! [`kernel`] applies it over netlink. Everything but `kernel` (and the
//! commands that use it) is pure and runs without root.

// Every `unsafe` block is in `kernel::sys`, behind safe wrappers.
#![deny(unsafe_code)]

pub mod cli;
pub mod doctor;
pub mod engine;
pub mod import;
pub mod kernel;
pub mod lab;
pub mod model;
pub mod plan;
pub mod probe;
pub mod render;

// The library's deliberate surface (docs/library-rust.md).
pub use lab::{
    Builder, Diagnosis, End, Error, ImpairReport, Lab, Matrix, Node, Pair, Result, RunningLab,
    Status, Trace, enter_rootless,
};

// The README's and the library page's examples compile (as doctests).
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeExamples;
#[cfg(doctest)]
#[doc = include_str!("../docs/library-rust.md")]
struct LibraryPageExamples;
