//! Whether each tunnel of this host's part of a split lab is there, and
//! whether its far end answers. The check: one echo request from the
//! namespace holding the tunnel end to the far end's address on the link
//! (through the tunnel), when the link has addresses; otherwise (a bridge
//! port without one) to the far host's underlay address, which says the
//! host is reachable but not whether its part is up.

use std::net::IpAddr;
use std::time::Duration;

use serde::Serialize;

use super::ProbeError;
use super::icmp::{self, IcmpSocket, PingOptions};
use super::world::World;
use crate::kernel::netns;
use crate::model::Lab;
use crate::model::hosts;

#[derive(Clone, Debug, Serialize)]
pub struct TunnelCheck {
    /// Where the tunnel end is: its node (a bridge's ends are in `host`
    /// or the bridge's namespace) and interface.
    pub node: String,
    pub interface: String,
    pub vni: u32,
    pub far_host: String,
    pub far_underlay: IpAddr,
    /// The tunnel device exists here.
    pub present: bool,
    /// What was pinged: the far end's address, or the far host's underlay.
    pub checked: String,
    pub target: Option<IpAddr>,
    pub answers: bool,
}

/// Check every tunnel end of `lab`'s part on this host (`lab.hosts.here`).
pub fn check(lab: &Lab, timeout: Duration) -> Result<Vec<TunnelCheck>, ProbeError> {
    let Some(here) = lab.hosts.here.clone() else {
        return Ok(Vec::new());
    };
    let present: Vec<String> = netns::list_named();
    let mut names: Vec<String> = Vec::new();
    let tunnels = hosts::tunnels(lab);
    let mut ends = Vec::new();
    for t in &tunnels {
        for i in 0..2 {
            if t.hosts[i] != here {
                continue;
            }
            let link = &lab.links[t.link];
            let ns = lab.namespace_of(&link.ends[i].node);
            if !ns.is_host() && present.iter().any(|p| p == ns.name()) {
                names.push(ns.name().to_string());
            }
            ends.push((t.clone(), i, ns));
        }
    }
    let world = World::read(Some(&names))?;
    let mut out = Vec::new();
    for (t, i, ns) in ends {
        let link = &lab.links[t.link];
        let me = &link.ends[i];
        let far = &link.ends[1 - i];
        let far_host = t.hosts[1 - i].clone();
        let Some(far_h) = lab.hosts.get(&far_host) else {
            continue;
        };
        let live = world.get(ns.name());
        let is_present = live
            .and_then(|l| l.link(&me.interface))
            .is_some_and(|l| l.kind.as_deref() == Some("vxlan"));
        // The far end's address in a subnet this end's namespace has.
        let local_nets: Vec<ipnet::IpNet> = live
            .map(|l| {
                l.links
                    .iter()
                    .flat_map(|x| x.addrs.iter().map(|a| a.net))
                    .collect()
            })
            .unwrap_or_default();
        let through = far
            .ips
            .iter()
            .map(|a| a.addr())
            .find(|a| local_nets.iter().any(|n| n.contains(a)));
        let (checked, target, from) = match through {
            Some(a) if is_present => (
                format!("{}:{} at {a}, through the tunnel", far.node, far.interface),
                Some(a),
                ns.name().to_string(),
            ),
            _ => (
                format!(
                    "host {far_host}'s underlay address {} (the link has no address to ping through the tunnel)",
                    far_h.address
                ),
                Some(far_h.address),
                crate::model::lab::HOST.to_string(),
            ),
        };
        let answers = match (target, world.fd(&from)) {
            (Some(addr), Some(fd)) if is_present || from == crate::model::lab::HOST => {
                let sock = IcmpSocket::open_in(fd, addr.is_ipv6()).map_err(|e| {
                    ProbeError::kernel(format!("open a raw ICMP socket in {from}"), e)
                })?;
                let opts = PingOptions {
                    count: 1,
                    interval: Duration::from_millis(100),
                    timeout,
                    size: 56,
                };
                icmp::ping(&sock, addr, &opts, |_| {})
                    .map(|s| s.received > 0)
                    .unwrap_or(false)
            }
            _ => false,
        };
        out.push(TunnelCheck {
            node: me.node.clone(),
            interface: me.interface.clone(),
            vni: t.vni,
            far_host,
            far_underlay: far_h.address,
            present: is_present,
            checked,
            target,
            answers,
        });
    }
    Ok(out)
}
