//! The kernel edge: netlink sockets, namespaces, sysctls, and the executor
//! that applies plans. Everything that needs root lives here. `unsafe`
//! lives in `sys` alone: safe wrappers of the few calls no crate offers.

pub mod apply;
pub mod cond;
pub mod error;
pub mod exec;
pub mod fault;
pub mod features;
pub mod holder;
pub mod msg;
pub mod netlink;
pub mod netns;
pub mod nft;
pub mod nft_write;
pub mod observe;
pub mod pidfd;
pub mod profile;
pub mod qdisc;
pub mod ready;
pub mod released;
pub mod session;
pub mod sockdiag;
pub mod sockopt;
#[allow(unsafe_code)]
pub mod sys;
pub mod sysctl;
pub mod tc;
pub mod tracefs;
pub mod userns;

pub use error::KernelError;
