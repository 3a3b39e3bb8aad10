//! vnet as a library: labs for test suites.
//!
//! A [`Lab`] comes from a lab file ([`Lab::from_file`], [`Lab::from_yaml`])
//! or from code ([`Lab::builder`]); [`Lab::up`] builds a copy of it in the
//! kernel and returns a [`RunningLab`], which tears the copy down when it
//! is dropped, also while a panic unwinds. Programs and code run inside its
//! nodes ([`Node::run`], [`Node::spawn`], [`Node::enter`]); the probes of
//! the command line answer as values ([`RunningLab::ping_all`],
//! [`RunningLab::trace`], [`RunningLab::doctor`]).
//!
//! ```no_run
//! let lab = vnet::Lab::from_yaml(r#"
//! name: pair
//! nodes: { h1: {}, h2: {} }
//! links:
//!   - endpoints:
//!       - { node: h1, interface: eth0, ip: 10.0.0.1/24 }
//!       - { node: h2, interface: eth0, ip: 10.0.0.2/24 }
//! "#)?;
//! let net = lab.up()?;
//! let out = net.node("h1").run(["ping", "-c1", "10.0.0.2"])?;
//! assert!(out.status.success());
//! let server = net.node("h2").spawn(std::process::Command::new("sleep").arg("60"))?;
//! let listener = net.node("h2").enter(|| std::net::TcpListener::bind("10.0.0.2:8080"))??;
//! assert!(net.ping_all()?.all_reachable());
//! net.down()?; // or let it drop
//! # drop((server, listener));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! **Names.** Every [`Lab::up`] makes a copy under names of its own — the
//! lab `pair-PID-N`, namespaces `pair-PID-N.h1`, host interfaces
//! `PID-N-…` — so tests in many threads and many processes can each bring
//! up the same file at once. The API takes and gives the file's names;
//! [`Node::netns`] and [`RunningLab::name`] give the kernel's.
//! [`Lab::exact_names`] keeps the file's names instead, as `vnet up` does.
//!
//! **Crashes.** Each copy's state record names the process that owns it.
//! When that process dies without tearing its labs down (SIGKILL, abort),
//! the first [`Lab::up`] of any later process removes them, and so does
//! `vnet down --orphans`.
//!
//! **Privilege.** Building labs needs CAP_NET_ADMIN and CAP_SYS_ADMIN:
//! run as root, or inside a user namespace of your own
//! (`unshare -rn --mount`, as the tests do), or call [`enter_rootless`] at
//! the start of `main` to work in the user's rootless namespaces as the
//! `vnet` commands do (docs/rootless.md).

mod builder;
mod error;
mod names;
mod node;
mod results;
mod rootless;
mod running;
mod spec;

pub use builder::{Builder, End};
pub use error::{Error, Result};
pub use node::Node;
pub use results::{Diagnosis, Matrix};
pub use rootless::enter_rootless;
pub use running::RunningLab;
pub use spec::Lab;

pub use crate::doctor::verdict::Status;
pub use crate::engine::impair::ImpairReport;
pub use crate::probe::outcome::PairResult as Pair;
pub use crate::probe::trace::TraceReport as Trace;
