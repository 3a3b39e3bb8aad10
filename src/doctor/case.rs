//! What was asked and what the probe saw (pure data), and the context every
//! rule reads: the snapshot, the way there and back, and the kernel's drop
//! records tied to places on the way.

use std::net::IpAddr;

use serde::Serialize;

use super::drops::Drop;
use super::snapshot::Snapshot;
use super::way::Way;
use crate::probe::path::Topology;
use crate::probe::service::{Proto, Service, ServiceSeen};

#[derive(Clone, Debug, Serialize)]
pub struct Case {
    pub src: String,
    /// DST as given.
    pub dst_arg: String,
    pub dst_node: Option<String>,
    /// The address probed (None: the node has no usable address).
    pub dst: Option<IpAddr>,
    /// IPv6 asked for (-6), or DST is an IPv6 address.
    pub v6: bool,
    /// Payload bytes of the echo request.
    pub size: usize,
    /// `DST:tcp/PORT`: the service asked about (None: a ping).
    pub service: Option<Service>,
}

impl Case {
    /// The size of the probe's IP packet.
    pub fn packet_len(&self) -> usize {
        if self.v6 {
            40 + 8 + self.size
        } else {
            20 + 8 + self.size
        }
    }

    /// What travels this way, in words: the echo request, or the
    /// service's first packet and its answer.
    pub fn what(&self, dir: Direction) -> String {
        match (self.service, dir) {
            (None, d) => d.packet().to_string(),
            (Some(s), Direction::There) => match s.proto {
                Proto::Tcp => format!("the TCP SYN to port {}", s.port),
                Proto::Udp => format!("the UDP datagram to port {}", s.port),
            },
            (Some(s), Direction::Back) => match s.proto {
                Proto::Tcp => format!("the SYN-ACK from port {}", s.port),
                Proto::Udp => format!("the answer from port {}", s.port),
            },
        }
    }
}

/// What the probe saw.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Probe {
    pub sent: bool,
    pub answered: bool,
    pub rtt_ms: Option<f64>,
    /// The errno of the kernel's refusal to send.
    pub refused: Option<i32>,
    /// The refusal or ICMP error in words.
    pub error: Option<String>,
    /// Where the packet walk last saw the probe, in words.
    pub walk: Option<String>,
    pub timeout_ms: f64,
    /// With a service: what the connection (or datagram) met.
    pub service: Option<ServiceSeen>,
}

pub struct Ctx<'a> {
    pub snap: &'a Snapshot,
    pub topo: Topology<'a>,
    pub case: &'a Case,
    pub probe: &'a Probe,
    pub fwd: &'a Way,
    pub back: &'a Way,
    pub drops: &'a [Drop],
}

impl Ctx<'_> {
    /// Both ways, there first.
    pub fn ways(&self) -> [(&Way, Direction); 2] {
        [(self.fwd, Direction::There), (self.back, Direction::Back)]
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    There,
    Back,
}

impl Direction {
    /// What travels this way.
    pub fn packet(self) -> &'static str {
        match self {
            Direction::There => "the echo request",
            Direction::Back => "the echo reply",
        }
    }
}
