//! The kernel edge: netlink sockets, namespaces, sysctls, and the executor
//! that applies plans. Everything that needs root lives here. `unsafe`
//! lives in `sys` alone: safe wrappers of the few calls no crate offers.

pub(crate) mod apply;
pub(crate) mod ask;
pub(crate) mod cond;
pub(crate) mod container;
pub mod error;
pub(crate) mod exec;
pub mod external;
pub mod fault;
pub(crate) mod features;
pub(crate) mod holder;
pub mod monitor;
pub(crate) mod mounts;
pub(crate) mod msg;
pub(crate) mod netlink;
pub(crate) mod netns;
pub(crate) mod nft;
pub(crate) mod nft_write;
pub(crate) mod observe;
pub(crate) mod pidfd;
pub(crate) mod procs;
pub(crate) mod profile;
pub(crate) mod qdisc;
pub(crate) mod ready;
pub(crate) mod released;
pub(crate) mod session;
pub(crate) mod sockdiag;
pub(crate) mod sockopt;
#[allow(unsafe_code)]
pub(crate) mod sys;
pub(crate) mod sysctl;
pub(crate) mod tc;
pub(crate) mod tracefs;
pub(crate) mod userns;

pub use error::{Error, KernelError};
