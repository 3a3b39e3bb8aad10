//! A small simulated kernel: the namespaces and interfaces a script (or a
//! containerlab file, or the live kernel) leaves behind. Commands change it
//! with the kernel's own rules — moving an interface to another namespace
//! takes it down and drops its addresses and master, deleting one end of a
//! veth pair deletes both, deleting a namespace deletes what is in it — so
//! the final state is what running the script would give.

use std::collections::BTreeMap;

use ipnet::IpNet;

use crate::model::lab::{HOST, Mac};
use crate::model::route::Route;

/// Why the simulated kernel refused a command, in the words the kernel (or
/// `ip`) would use; the import turns it into a note on the command's line.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Refused(pub String);

impl From<&str> for Refused {
    fn from(s: &str) -> Refused {
        Refused(s.to_string())
    }
}

/// `Refused` with `format!` arguments.
macro_rules! refused {
    ($($t:tt)*) => {
        Refused(format!($($t)*))
    };
}

/// 1-based line of the command that made or changed something (0: not from a file).
pub type Line = usize;

pub const HOST_NS: usize = 0;

#[derive(Clone, Debug)]
pub struct World {
    /// `[HOST_NS]` is the host; named ones in creation order.
    pub namespaces: Vec<Ns>,
    /// Every interface ever made, in creation order; deleted ones stay, dead.
    pub ifaces: Vec<Iface>,
}

#[derive(Clone, Debug)]
pub struct Ns {
    pub name: String,
    pub alive: bool,
    pub line: Line,
    pub routes: Vec<(Route, Line)>,
    /// Dotted key → (value, line).
    pub sysctls: BTreeMap<String, (String, Line)>,
}

#[derive(Clone, Debug)]
pub struct Iface {
    pub ns: usize,
    pub name: String,
    pub kind: Kind,
    pub master: Option<usize>,
    pub up: bool,
    pub mtu: Option<u32>,
    pub mac: Option<Mac>,
    pub addrs: Vec<(IpNet, Line)>,
    pub alive: bool,
    pub line: Line,
    /// Conditions on its egress (read live; commands never set them).
    pub conditions: crate::model::conditions::Conditions,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Kind {
    Veth {
        peer: usize,
    },
    Bridge {
        stp: bool,
        vlan_filtering: bool,
    },
    /// Anything vnet does not make (dummy, vlan, a physical device …).
    Other(String),
}

/// Options of a new interface.
#[derive(Clone, Debug, Default)]
pub struct NewIface {
    pub name: String,
    pub mtu: Option<u32>,
    pub mac: Option<Mac>,
    /// Namespace to create it in (None: where the command runs).
    pub ns: Option<usize>,
}

impl Default for World {
    fn default() -> Self {
        World::new()
    }
}

impl World {
    pub fn new() -> World {
        World {
            namespaces: vec![Ns {
                name: HOST.to_string(),
                alive: true,
                line: 0,
                routes: Vec::new(),
                sysctls: BTreeMap::new(),
            }],
            ifaces: Vec::new(),
        }
    }

    pub fn ns_index(&self, name: &str) -> Option<usize> {
        self.namespaces
            .iter()
            .position(|n| n.alive && n.name == name && n.name != HOST)
    }

    pub fn ns_name(&self, ns: usize) -> &str {
        self.namespaces.get(ns).map_or("?", |n| n.name.as_str())
    }

    pub fn ns_add(&mut self, name: &str, line: Line) -> Result<usize, Refused> {
        if self.ns_index(name).is_some() {
            return Err(refused!("namespace {name} already exists"));
        }
        self.namespaces.push(Ns {
            name: name.to_string(),
            alive: true,
            line,
            routes: Vec::new(),
            sysctls: BTreeMap::new(),
        });
        Ok(self.namespaces.len() - 1)
    }

    pub fn ns_del(&mut self, name: &str) -> Result<(), Refused> {
        let ns = self
            .ns_index(name)
            .ok_or_else(|| refused!("there is no namespace {name}"))?;
        let inside: Vec<usize> = self.alive_in(ns).collect();
        for id in inside {
            if self.ifaces[id].alive {
                self.del(id);
            }
        }
        self.namespaces[ns].alive = false;
        Ok(())
    }

    /// Live interfaces of a namespace.
    pub fn alive_in(&self, ns: usize) -> impl Iterator<Item = usize> + '_ {
        self.ifaces
            .iter()
            .enumerate()
            .filter(move |(_, i)| i.alive && i.ns == ns)
            .map(|(id, _)| id)
    }

    pub fn find(&self, ns: usize, name: &str) -> Option<usize> {
        self.alive_in(ns).find(|id| self.ifaces[*id].name == name)
    }

    /// The interface, or the error `ip` would give.
    pub fn dev(&self, ns: usize, name: &str) -> Result<usize, Refused> {
        self.find(ns, name)
            .ok_or_else(|| refused!("there is no interface {name} in {}", self.where_(ns)))
    }

    fn where_(&self, ns: usize) -> String {
        if ns == HOST_NS {
            "the host namespace".to_string()
        } else {
            format!("namespace {}", self.ns_name(ns))
        }
    }

    fn free(&self, ns: usize, name: &str) -> Result<(), Refused> {
        if name == "lo" || self.find(ns, name).is_some() {
            return Err(refused!(
                "an interface named {name} already exists in {}",
                self.where_(ns)
            ));
        }
        if name.is_empty()
            || name.len() > 15
            || name.contains(['/', ':'])
            || name.contains(char::is_whitespace)
        {
            return Err(refused!("`{name}` is not a valid interface name"));
        }
        Ok(())
    }

    fn push(&mut self, ns: usize, new: &NewIface, kind: Kind, line: Line) -> usize {
        self.ifaces.push(Iface {
            ns,
            name: new.name.clone(),
            kind,
            master: None,
            up: false,
            mtu: new.mtu,
            mac: new.mac,
            addrs: Vec::new(),
            alive: true,
            line,
            conditions: Default::default(),
        });
        self.ifaces.len() - 1
    }

    pub fn add_veth(
        &mut self,
        here: usize,
        a: &NewIface,
        b: &NewIface,
        line: Line,
    ) -> Result<usize, Refused> {
        let ans = a.ns.unwrap_or(here);
        let bns = b.ns.unwrap_or(here);
        self.free(ans, &a.name)?;
        self.free(bns, &b.name)?;
        if ans == bns && a.name == b.name {
            return Err(refused!("both ends are named {}", a.name));
        }
        let ia = self.push(ans, a, Kind::Veth { peer: 0 }, line);
        let ib = self.push(bns, b, Kind::Veth { peer: ia }, line);
        self.ifaces[ia].kind = Kind::Veth { peer: ib };
        Ok(ia)
    }

    pub fn add_bridge(
        &mut self,
        here: usize,
        new: &NewIface,
        stp: bool,
        vlan_filtering: bool,
        line: Line,
    ) -> Result<usize, Refused> {
        let ns = new.ns.unwrap_or(here);
        self.free(ns, &new.name)?;
        Ok(self.push(
            ns,
            new,
            Kind::Bridge {
                stp,
                vlan_filtering,
            },
            line,
        ))
    }

    pub fn add_other(
        &mut self,
        here: usize,
        new: &NewIface,
        kind: &str,
        line: Line,
    ) -> Result<usize, Refused> {
        let ns = new.ns.unwrap_or(here);
        self.free(ns, &new.name)?;
        Ok(self.push(ns, new, Kind::Other(kind.to_string()), line))
    }

    /// Delete an interface as the kernel does: a veth takes its peer along,
    /// a bridge releases its ports, routes through it go.
    pub fn del(&mut self, id: usize) {
        let mut gone = vec![id];
        if let Kind::Veth { peer } = self.ifaces[id].kind {
            gone.push(peer);
        }
        for g in gone {
            if !self.ifaces[g].alive {
                continue;
            }
            self.ifaces[g].alive = false;
            self.release_ports(g);
            self.drop_routes_via(g);
        }
    }

    fn release_ports(&mut self, bridge: usize) {
        for i in self.ifaces.iter_mut() {
            if i.master == Some(bridge) {
                i.master = None;
            }
        }
    }

    fn drop_routes_via(&mut self, id: usize) {
        let (ns, name) = (self.ifaces[id].ns, self.ifaces[id].name.clone());
        self.namespaces[ns]
            .routes
            .retain(|(r, _)| r.dev.as_deref() != Some(name.as_str()));
    }

    pub fn set_master(&mut self, id: usize, master: Option<usize>) -> Result<(), Refused> {
        if let Some(m) = master {
            let (port, br) = (&self.ifaces[id], &self.ifaces[m]);
            if !matches!(br.kind, Kind::Bridge { .. }) {
                return Err(refused!("{} is not a bridge", br.name));
            }
            if m == id || port.ns != br.ns {
                return Err(refused!("{} cannot be a port of {}", port.name, br.name));
            }
            if matches!(port.kind, Kind::Bridge { .. }) {
                return Err(refused!(
                    "bridge {} cannot be a port of another bridge",
                    port.name
                ));
            }
        }
        self.ifaces[id].master = master;
        Ok(())
    }

    pub fn set_up(&mut self, id: usize, up: bool) {
        self.ifaces[id].up = up;
        if !up {
            // IPv4 routes through a device that goes down are flushed.
            self.drop_routes_via(id);
        }
    }

    /// Move to another namespace: down, no addresses, no master (the kernel's rule).
    pub fn move_to(&mut self, id: usize, ns: usize) -> Result<(), Refused> {
        if self.ifaces[id].ns == ns {
            return Ok(());
        }
        let name = self.ifaces[id].name.clone();
        self.free(ns, &name)?;
        self.drop_routes_via(id);
        self.release_ports(id);
        let i = &mut self.ifaces[id];
        i.ns = ns;
        i.up = false;
        i.addrs.clear();
        i.master = None;
        Ok(())
    }

    pub fn rename(&mut self, id: usize, name: &str) -> Result<(), Refused> {
        let ns = self.ifaces[id].ns;
        if self.ifaces[id].name == name {
            return Ok(());
        }
        if self.ifaces[id].up {
            return Err("an interface must be down to be renamed".into());
        }
        self.free(ns, name)?;
        self.ifaces[id].name = name.to_string();
        Ok(())
    }

    pub fn addr_add(&mut self, id: usize, net: IpNet, line: Line) -> Result<(), Refused> {
        let i = &mut self.ifaces[id];
        if i.addrs.iter().any(|(a, _)| a.addr() == net.addr()) {
            return Err(refused!("{} already has address {}", i.name, net.addr()));
        }
        i.addrs.push((net, line));
        Ok(())
    }

    pub fn addr_del(&mut self, id: usize, net: IpNet) -> Result<(), Refused> {
        let i = &mut self.ifaces[id];
        let before = i.addrs.len();
        i.addrs.retain(|(a, _)| a.addr() != net.addr());
        if i.addrs.len() == before {
            return Err(refused!("{} has no address {}", i.name, net.addr()));
        }
        Ok(())
    }

    /// The kernel refuses a gateway that no connected subnet reaches.
    fn check_gateway(&self, ns: usize, route: &Route) -> Result<(), Refused> {
        let Some(via) = route.via else { return Ok(()) };
        let link_local = match via {
            std::net::IpAddr::V4(a) => a.is_link_local(),
            std::net::IpAddr::V6(a) => a.segments()[0] & 0xffc0 == 0xfe80,
        };
        let reached = self
            .ifaces
            .iter()
            .filter(|i| i.alive && i.ns == ns)
            .flat_map(|i| i.addrs.iter())
            .any(|(a, _)| a.trunc().contains(&via));
        if route.dev.is_some() || link_local || reached {
            Ok(())
        } else {
            Err(refused!(
                "gateway {via} is not on a connected subnet (the kernel answers: Network is unreachable)"
            ))
        }
    }

    pub fn route_add(&mut self, ns: usize, route: Route, line: Line) -> Result<(), Refused> {
        if let Some(dev) = &route.dev {
            self.dev(ns, dev)?;
        }
        self.check_gateway(ns, &route)?;
        let routes = &mut self.namespaces[ns].routes;
        if routes
            .iter()
            .any(|(r, _)| r.dst == route.dst && r.metric == route.metric)
        {
            return Err(refused!("a route to {} already exists", route.dst));
        }
        routes.push((route, line));
        Ok(())
    }

    pub fn route_replace(&mut self, ns: usize, route: Route, line: Line) -> Result<(), Refused> {
        if let Some(dev) = &route.dev {
            self.dev(ns, dev)?;
        }
        self.check_gateway(ns, &route)?;
        let routes = &mut self.namespaces[ns].routes;
        routes.retain(|(r, _)| !(r.dst == route.dst && r.metric == route.metric));
        routes.push((route, line));
        Ok(())
    }

    pub fn route_del(&mut self, ns: usize, route: &Route) -> Result<(), Refused> {
        let routes = &mut self.namespaces[ns].routes;
        let at = routes.iter().position(|(r, _)| {
            r.dst == route.dst
                && (route.via.is_none() || r.via == route.via)
                && (route.dev.is_none() || r.dev == route.dev)
                && (route.metric.is_none() || r.metric == route.metric)
        });
        match at {
            Some(i) => {
                routes.remove(i);
                Ok(())
            }
            None => Err(refused!("there is no route to {}", route.dst)),
        }
    }

    pub fn sysctl(&mut self, ns: usize, key: &str, value: &str, line: Line) {
        self.namespaces[ns]
            .sysctls
            .insert(key.to_string(), (value.to_string(), line));
    }

    /// The live end of a veth pair.
    pub fn peer(&self, id: usize) -> Option<usize> {
        match self.ifaces[id].kind {
            Kind::Veth { peer } => Some(peer),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn new(name: &str) -> NewIface {
        NewIface {
            name: name.into(),
            ..NewIface::default()
        }
    }

    #[test]
    fn moving_takes_an_interface_down_and_clears_it() {
        let mut w = World::new();
        let ns1 = w.ns_add("ns1", 1).unwrap();
        let a = w.add_veth(HOST_NS, &new("a"), &new("b"), 2).unwrap();
        w.set_up(a, true);
        w.addr_add(a, "10.0.0.1/24".parse().unwrap(), 3).unwrap();
        w.move_to(a, ns1).unwrap();
        assert_eq!(w.ifaces[a].ns, ns1);
        assert!(!w.ifaces[a].up);
        assert!(w.ifaces[a].addrs.is_empty());
        assert_eq!(w.find(ns1, "a"), Some(a));
        assert!(w.find(HOST_NS, "a").is_none());
    }

    #[test]
    fn deleting_one_end_or_the_namespace_removes_the_pair() {
        let mut w = World::new();
        let ns1 = w.ns_add("ns1", 1).unwrap();
        let a = w.add_veth(HOST_NS, &new("a"), &new("b"), 2).unwrap();
        w.move_to(a, ns1).unwrap();
        w.ns_del("ns1").unwrap();
        assert!(w.find(HOST_NS, "b").is_none());
        assert!(w.ns_add("ns1", 5).is_ok());
    }

    #[test]
    fn masters_follow_the_rules() {
        let mut w = World::new();
        let br = w.add_bridge(HOST_NS, &new("br0"), false, false, 1).unwrap();
        let a = w.add_veth(HOST_NS, &new("a"), &new("b"), 2).unwrap();
        w.set_master(a, Some(br)).unwrap();
        assert!(w.set_master(br, Some(a)).is_err());
        w.del(br);
        assert_eq!(w.ifaces[a].master, None);
        assert!(w.add_bridge(HOST_NS, &new("a"), false, false, 3).is_err());
    }
}
