//! The lab as data: the file, its validation, and the kernel-level network it
//! describes. Pure: nothing here touches the kernel.

pub mod conditions;
pub mod diag;
pub mod error;
pub mod external;
pub mod fib;
pub mod hosts;
pub mod lab;
pub mod live;
pub mod loss;
pub mod mechanism;
pub mod names;
pub mod net;
pub mod nft;
pub mod owner;
pub mod raw;
pub mod route;
pub mod validate;
mod validate_workload;
pub mod workload;
pub mod write;

pub use diag::LabFileError;
pub use error::{Error, ValueError};
pub use lab::{Lab, Netns};
pub use validate::parse_lab;
