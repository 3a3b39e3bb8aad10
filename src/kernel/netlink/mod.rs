//! Netlink, written once. `transport` is a socket of any netlink protocol
//! (pipelined requests, acknowledgements with errno and extended-ack text,
//! streamed dumps, multicast subscriptions); `rtnl` (routing: links,
//! addresses, routes, neighbours, qdiscs) and `nfnl` (netfilter) are thin
//! typed front-ends over it. A socket is opened from a thread inside the
//! namespace it serves and stays bound to that namespace.

pub(crate) mod nfnl;
pub(crate) mod rtnl;
pub(crate) mod transport;

pub(crate) use rtnl::{LinkEvents, NlSocket};
pub(crate) use transport::window;
