//! `hosts:` and `host:`: names, underlay addresses, placement, and the MTU
//! of links that cross hosts (see `model::hosts`).

use std::collections::BTreeMap;
use std::net::IpAddr;

use super::super::hosts::{self, Host, Hosts, VNI_LIMIT, VXLAN_PORT};
use super::super::lab::{HOST, Lab};
use super::super::names;
use super::super::raw::{RawLab, Span};
use super::{Problem, Validator};

impl Validator {
    /// Reads `hosts:` and every node's `host:` into `lab.hosts`, then gives
    /// the links that cross hosts (and the links of bridges with a port on
    /// another host) the MTU the underlay carries.
    pub(super) fn hosts(&mut self, raw: &RawLab, lab: &mut Lab, link_spans: &[Span]) {
        let mut list: Vec<Host> = Vec::new();
        let mut seen_names: BTreeMap<String, Span> = BTreeMap::new();
        let mut seen_addrs: BTreeMap<IpAddr, Span> = BTreeMap::new();
        if let Some(raw_hosts) = &raw.hosts {
            if raw_hosts.value.is_empty() {
                self.problem(
                    Problem::new("`hosts:` is empty", raw_hosts.span)
                        .hint("list each machine as `- { name: h1, address: 192.0.2.1 }`, or leave `hosts:` out"),
                );
            }
            for h in &raw_hosts.value {
                let h = &h.value;
                let name = &h.name;
                if let Err(m) = names::check_lab_name(&name.value) {
                    self.problem(
                        Problem::new(format!("bad host name: {m}"), name.span)
                            .hint("a host name is short: a-z, 0-9 and '-', e.g. `h1`"),
                    );
                }
                if seen_names.insert(name.value.clone(), name.span).is_some() {
                    self.problem(
                        Problem::new(format!("host `{}` is listed twice", name.value), name.span)
                            .hint("each host appears once in `hosts:`"),
                    );
                }
                let address = match h.address.value.trim().parse::<IpAddr>() {
                    Ok(a) if !a.is_unspecified() && !a.is_multicast() => a,
                    _ => {
                        self.problem(
                            Problem::new(
                                format!(
                                    "`{}` is not a host's underlay address",
                                    names::printable(&h.address.value)
                                ),
                                h.address.span,
                            )
                            .hint("the address the other hosts reach this one at, without prefix, e.g. 192.0.2.1"),
                        );
                        continue;
                    }
                };
                if seen_addrs.insert(address, h.address.span).is_some() {
                    self.problem(
                        Problem::new(
                            format!("address {address} is given to two hosts"),
                            h.address.span,
                        )
                        .hint("each host has its own underlay address"),
                    );
                }
                if let Some(i) = &h.interface
                    && let Err(m) = names::check_ifname(&i.value)
                {
                    self.problem(
                        Problem::new(m.to_string(), i.span)
                            .hint("the underlay interface's name, e.g. eth0"),
                    );
                }
                let vni_base = match &h.vni_base {
                    Some(v) if v.value == 0 || v.value >= VNI_LIMIT => {
                        self.problem(
                            Problem::new(format!("VNI base {} is out of range", v.value), v.span)
                                .hint("a VNI is between 1 and 16777215"),
                        );
                        1
                    }
                    Some(v) => v.value,
                    None => 1,
                };
                let port = match &h.port {
                    Some(p) if p.value == 0 => {
                        self.problem(
                            Problem::new("port 0 cannot carry tunnels", p.span)
                                .hint(format!("VXLAN's port is {VXLAN_PORT}")),
                        );
                        VXLAN_PORT
                    }
                    Some(p) => p.value,
                    None => VXLAN_PORT,
                };
                let mtu = h.mtu.as_ref().and_then(|m| self.mtu(m)).unwrap_or(1500);
                let host = Host {
                    name: name.value.clone(),
                    address,
                    interface: h.interface.as_ref().map(|i| i.value.clone()),
                    vni_base,
                    port,
                    mtu,
                };
                if host.inner_mtu() < 68
                    && let Some(m) = &h.mtu
                {
                    self.problem(
                        Problem::new(
                            format!("an underlay MTU of {mtu} leaves no room for VXLAN"),
                            m.span,
                        )
                        .hint(format!(
                            "tunnels need {} bytes of headroom; use at least {}",
                            host.overhead(),
                            68 + host.overhead()
                        )),
                    );
                }
                list.push(host);
            }
        }
        let mut placement = BTreeMap::new();
        if let Some(map) = &raw.nodes {
            for (key, node) in &map.value.0 {
                let Some(h) = &node.value.host else { continue };
                if list.is_empty() {
                    self.problem(
                        Problem::new(
                            format!("`{}` names a host, but the lab has no `hosts:`", key.value),
                            h.span,
                        )
                        .hint("list the machines first: `hosts: [{ name: h1, address: 192.0.2.1 }, …]`"),
                    );
                    continue;
                }
                if !list.iter().any(|x| x.name == h.value) {
                    let known: Vec<&str> = list.iter().map(|x| x.name.as_str()).collect();
                    self.problem(
                        Problem::new(
                            format!("`{}` is not a host of this lab", names::printable(&h.value)),
                            h.span,
                        )
                        .hint(format!("the hosts are: {}", known.join(", "))),
                    );
                    continue;
                }
                placement.insert(key.value.clone(), h.value.clone());
            }
        }
        *lab.hosts = Hosts {
            list,
            placement,
            here: None,
        };
        if lab.hosts.list.len() < 2 {
            return;
        }
        // A bridge placed `in:` a node lives on that node's host.
        for (name, b) in lab.bridges() {
            if let (Some(inside), Some(mine)) = (&b.inside, lab.hosts.placement.get(name))
                && inside != HOST
                && hosts::host_of(lab, inside) != Some(mine.as_str())
            {
                self.problem(Problem::new(
                    format!("bridge `{name}` is on host `{mine}` but lives in `{inside}`, which is on another host"),
                    Span::default(),
                ).hint("leave `host:` out on a bridge placed `in:` a node: it follows that node"));
            }
        }
        let tunnels = hosts::tunnels(lab);
        let mtus = hosts::segment_mtus(lab, &tunnels);
        for (i, max) in mtus {
            let span = link_spans.get(i).copied().unwrap_or_default();
            let link = &mut lab.links[i];
            let crossing = hosts::tunnel_of(&tunnels, i).is_some();
            for e in link.ends.iter_mut() {
                match e.mtu {
                    None => e.mtu = Some(max),
                    Some(m) if m > max => self.problem(
                        Problem::new(
                            format!(
                                "MTU {m} on {}:{} is more than the tunnel between the hosts carries ({max})",
                                e.node, e.interface
                            ),
                            span,
                        )
                        .hint(format!(
                            "{} the underlay MTU less VXLAN's 50 bytes (70 over IPv6); leave `mtu:` out and vnet sets {max}, or raise the hosts' `mtu:`",
                            if crossing {
                                "this link crosses hosts: its MTU is at most"
                            } else {
                                "this link's bridge has a port on another host: its MTU is at most"
                            }
                        )),
                    ),
                    Some(_) => {}
                }
            }
        }
    }
}
