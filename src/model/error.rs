//! The model's errors: a lab file that does not validate, and single values
//! (names, addresses, sysctl keys, MACs) the kernel would not take. Pure
//! data; rendering them for a terminal is the commands' job (src/cli).

use thiserror::Error;

pub use super::conditions::Refusal;
pub use super::diag::LabFileError;
pub use super::route::RouteError;

/// A single value that cannot be what it is meant to be. The words say what
/// is wrong with the value as written; the caller adds where it was.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum ValueError {
    #[error("the lab name is empty")]
    LabNameEmpty,
    #[error("the lab name is {len} characters; at most {max} are allowed")]
    LabNameTooLong { len: usize, max: usize },
    #[error("{0} is not allowed in a lab name (use a-z, 0-9 and '-')")]
    LabNameChar(String),
    #[error("a lab name cannot start with '-'")]
    LabNameDash,

    #[error("the interface name is empty")]
    IfnameEmpty,
    #[error("`{name}` is {len} bytes long; Linux interface names hold at most {max}")]
    IfnameTooLong {
        name: String,
        len: usize,
        max: usize,
    },
    #[error("`{0}` cannot be an interface name")]
    IfnameDots(String),
    #[error("{0} is not allowed in an interface name")]
    IfnameChar(String),
    #[error("`lo` is the loopback interface every namespace already has")]
    IfnameLoopback,

    #[error("the node name is empty")]
    NodeNameEmpty,
    #[error("the node name is {len} bytes; at most {max} are allowed")]
    NodeNameTooLong { len: usize, max: usize },
    #[error("{0} is not allowed in a node name (use letters, digits, '-', '_' and '.')")]
    NodeNameChar(String),
    #[error("a node name cannot start with '.' or '-'")]
    NodeNameLead,

    #[error("`{0}` is not a valid CIDR address")]
    NotCidr(String),
    #[error("`{0}` has no prefix length")]
    NoPrefix(String),
    #[error("{0} cannot be an interface address")]
    NotInterfaceAddr(std::net::IpAddr),
    /// The network or broadcast address of a subnet (`which` says which).
    #[error("{addr} is the {which} address of {net}")]
    SubnetEdge {
        addr: std::net::IpAddr,
        which: &'static str,
        net: ipnet::IpNet,
    },

    #[error("`{0}` is not a per-namespace sysctl")]
    NotNamespaceSysctl(String),
    #[error("`{0}` is not a sysctl key")]
    NotSysctlKey(String),

    #[error("a MAC address has six hex bytes separated by ':'")]
    MacShape,
    #[error("`{0}` is not a hex byte")]
    MacByte(String),
    #[error("a multicast MAC (lowest bit of the first byte set) cannot be an interface address")]
    MacMulticast,
    #[error("the all-zero MAC cannot be an interface address")]
    MacZero,
}

/// Any error of the model layer.
#[derive(Debug, Error)]
pub enum Error {
    #[error(transparent)]
    LabFile(#[from] LabFileError),
    #[error(transparent)]
    Value(#[from] ValueError),
    #[error(transparent)]
    Route(#[from] RouteError),
    #[error(transparent)]
    Condition(#[from] Refusal),
}
