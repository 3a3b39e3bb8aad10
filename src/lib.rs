//! vnet: build, show, test and explain Linux virtual networks.
//!
//! The lab file becomes a validated [`model::Lab`]; the kernel is read into
//! the same terms ([`model::live`]); a [`plan::Plan`] is their difference;
//! the kernel layer applies it over netlink. Everything but the kernel layer
//! (and the commands that use it) is pure and runs without root.
//!
//! The library's surface is [`Lab`] and [`Builder`], a [`RunningLab`] and its
//! [`Node`]s, and one [`Error`] that every layer's error converts into (see
//! docs/library-rust.md). The modules `cli` and `kernel` are the command
//! line's and the kernel layer's: public only for the `vnet` binary, hidden
//! from the documentation, and no part of the library's promise.

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
pub mod lab;
pub mod model;
pub mod plan;
pub mod probe;
pub mod render;
pub mod serve;

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
