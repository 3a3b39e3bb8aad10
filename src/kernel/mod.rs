//! The kernel edge: netlink sockets, namespaces, sysctls, and the executor
//! that applies plans. Everything that needs root lives here.

pub mod apply;
pub mod cond;
pub mod error;
pub mod exec;
pub mod fault;
pub mod features;
pub mod msg;
pub mod netlink;
pub mod netns;
pub mod nft;
pub mod nft_write;
pub mod observe;
pub mod profile;
pub mod qdisc;
pub mod ready;
pub mod released;
pub mod session;
pub mod sysctl;
pub mod tc;
pub mod tracefs;

pub use error::KernelError;
