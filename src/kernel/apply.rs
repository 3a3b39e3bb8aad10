//! Carry out a plan over netlink, stage by stage. Within a stage every
//! request goes out on its namespace's socket before any acknowledgement is
//! read; namespaces and sysctls are handled on worker threads. What this run
//! created is tracked, so a failure or Ctrl-C rolls it back.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::os::fd::AsFd;
use std::sync::atomic::{AtomicBool, Ordering};

use netlink_packet_route::RouteNetlinkMessage;

use super::error::KernelError;
use super::msg::{self, Dev, NLM_F_CREATE, NLM_F_EXCL, NewIface, SetIface};
use super::netlink::window;
use super::netns::{self, NewNs};
use super::session::Session;
use super::{cond, fault, qdisc, sysctl};
use crate::model::Netns;
use crate::model::owner;
use crate::plan::{Action, Plan, Stage};

/// What a run created, newest last: exactly what a rollback removes.
#[derive(Clone, Debug, Default)]
pub(crate) struct Created {
    pub namespaces: Vec<String>,
    /// Interfaces created in namespaces that existed before the run (a veth
    /// is listed by the end that lives in such a namespace).
    pub links: Vec<(Netns, String)>,
}

/// A step that failed: which one, on what, and the kernel's words.
#[derive(Debug, thiserror::Error)]
pub struct StepError {
    pub action: Action,
    #[source]
    pub error: KernelError,
}

impl fmt::Display for StepError {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        let cmd = crate::plan::script::commands(&self.action).join("; ");
        write!(
            f,
            "{} failed: {}\n  step: {}",
            self.action.object(),
            self.error,
            cmd
        )?;
        if let Some(h) = hint(&self.action, &self.error) {
            write!(f, "\n  hint: {h}")?;
        }
        Ok(())
    }
}

/// What a person can do about the kernel errors that have a known cause.
fn hint(action: &Action, e: &KernelError) -> Option<&'static str> {
    let vlan = matches!(
        action,
        Action::AddBridge {
            vlan_filtering: true,
            ..
        } | Action::SetBridge {
            vlan_filtering: true,
            ..
        }
    );
    match (action, e.errno) {
        (_, libc::EOPNOTSUPP) if vlan => Some(
            "this kernel was built without bridge VLAN filtering (CONFIG_BRIDGE_VLAN_FILTERING); remove `vlan_filtering: true`",
        ),
        (Action::AddVeth { .. }, libc::EOPNOTSUPP) => {
            Some("this kernel has no veth support (CONFIG_VETH, module veth)")
        }
        (Action::AddBridge { .. }, libc::EOPNOTSUPP) => {
            Some("this kernel has no bridge support (CONFIG_BRIDGE, module bridge)")
        }
        (Action::SetLink { .. }, libc::EXFULL) => {
            Some("a Linux bridge holds at most 1023 ports; spread them over several bridges")
        }
        (Action::AddBridge { .. } | Action::AddVeth { .. }, libc::EEXIST) => Some(
            "an interface with this name appeared after vnet read the kernel (another tool at work?); run `vnet up` again",
        ),
        (Action::AddVxlan { .. }, libc::EEXIST) => Some(
            "a VXLAN device with this VNI and port exists already on this host (another lab, or by hand); set another `vni_base` on the hosts",
        ),
        (Action::AddVxlan { .. }, libc::EADDRINUSE) => {
            Some("the tunnel's UDP port is taken on this host; set another `port` on the hosts")
        }
        (Action::AddVxlan { .. }, libc::EOPNOTSUPP) => {
            Some("this kernel has no VXLAN support (CONFIG_VXLAN, module vxlan)")
        }
        (Action::AddVxlan { .. }, libc::ENODEV) => {
            Some("the host's `interface:` is not an interface of this machine")
        }
        (Action::AddAddr { .. }, libc::EEXIST) => {
            Some("the address is already on another interface of this namespace")
        }
        (Action::AddRoute { .. }, libc::ENETUNREACH) => Some(
            "the gateway is not on any connected subnet of this node: give the node an address in the gateway's subnet",
        ),
        (Action::AddRoute { .. }, libc::EEXIST) => {
            Some("a route to this destination exists already (added by hand?)")
        }
        (_, libc::EPERM) | (_, libc::EACCES) => {
            Some("vnet needs root (CAP_NET_ADMIN and CAP_SYS_ADMIN)")
        }
        (_, libc::ENOSPC) | (_, libc::ENOMEM) => Some(
            "the kernel ran out of room (namespaces, mounts or memory); see user.max_net_namespaces and fs.mount-max",
        ),
        _ => None,
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error(transparent)]
    Step(Box<StepError>),
    #[error("interrupted")]
    Cancelled,
}

/// Progress: called with the number of kernel operations just completed.
pub(crate) type Progress<'a> = &'a (dyn Fn(u64) + Sync);

pub(crate) struct Executor<'a> {
    pub session: &'a mut Session,
    pub lab: String,
    pub group: u32,
    pub created: Created,
    /// Namespaces that exist because this run made them.
    fresh: BTreeSet<String>,
    progress: Progress<'a>,
    cancel: &'a AtomicBool,
}

fn step(action: &Action, error: KernelError) -> ApplyError {
    ApplyError::Step(Box::new(StepError {
        action: action.clone(),
        error,
    }))
}

/// Errors that mean "already as wanted" for removals.
fn harmless(action: &Action, e: &KernelError) -> bool {
    match action {
        Action::DelLink { .. } => e.is(libc::ENODEV),
        Action::DelAddr { .. } => e.is(libc::EADDRNOTAVAIL),
        Action::DelRoute { .. } => e.is(libc::ESRCH),
        // The root qdisc went already (its interface's default is back).
        Action::SetConditions { .. } => e.is(libc::ENOENT),
        _ => false,
    }
}

impl<'a> Executor<'a> {
    pub(crate) fn new(
        session: &'a mut Session,
        lab: &str,
        progress: Progress<'a>,
        cancel: &'a AtomicBool,
    ) -> Executor<'a> {
        Executor {
            session,
            lab: lab.to_string(),
            group: owner::group(lab),
            created: Created::default(),
            fresh: BTreeSet::new(),
            progress,
            cancel,
        }
    }

    /// Run the plan; `before` is called ahead of each stage (to subscribe to
    /// events before interfaces come up, for instance).
    pub(crate) fn apply(
        &mut self,
        plan: &Plan,
        before: &mut dyn FnMut(Stage, &mut Session) -> Result<(), KernelError>,
    ) -> Result<(), ApplyError> {
        let mut stages: BTreeMap<Stage, Vec<&Action>> = BTreeMap::new();
        for a in &plan.actions {
            stages.entry(a.stage()).or_default().push(a);
        }
        for (stage, actions) in stages {
            if self.cancel.load(Ordering::Relaxed) {
                return Err(ApplyError::Cancelled);
            }
            before(stage, self.session).map_err(|e| step(actions[0], e))?;
            match stage {
                Stage::Namespaces => self.namespaces(&actions)?,
                Stage::Sysctls => self.sysctls(&actions)?,
                Stage::NamespaceRemovals => self.remove_namespaces(&actions)?,
                Stage::Conditions => self.conditions(&actions)?,
                _ => {
                    self.resolve(&actions).map_err(|e| step(actions[0], e))?;
                    self.requests(&actions)?;
                }
            }
        }
        Ok(())
    }

    fn namespaces(&mut self, actions: &[&Action]) -> Result<(), ApplyError> {
        let news: Vec<NewNs> = actions
            .iter()
            .filter_map(|a| match a {
                Action::AddNetns { ns, early_sysctls } => Some(NewNs {
                    name: ns.clone(),
                    early_sysctls: early_sysctls.clone(),
                    lo_alias: owner::mark(&self.lab),
                }),
                _ => None,
            })
            .collect();
        let cancel = self.cancel;
        let progress = self.progress;
        let results = netns::parallel(&news, |n| {
            if cancel.load(Ordering::Relaxed) {
                return Err(None);
            }
            let r = netns::create(n).map_err(Some);
            progress(1);
            r
        });

        let mut first_err = None;
        for ((a, n), r) in actions.iter().zip(&news).zip(results) {
            match r {
                Ok((handle, links)) => {
                    self.created.namespaces.push(n.name.clone());
                    self.fresh.insert(n.name.clone());
                    self.session.named.insert(n.name.clone(), handle);
                    self.session.learn(&Netns::Named(n.name.clone()), &links);
                }
                Err(Some(e)) => {
                    first_err.get_or_insert_with(|| step(a, e));
                }
                Err(None) => {
                    first_err.get_or_insert(ApplyError::Cancelled);
                }
            }
        }
        match first_err {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    fn sysctls(&mut self, actions: &[&Action]) -> Result<(), ApplyError> {
        let mut by_ns: BTreeMap<Netns, Vec<&Action>> = BTreeMap::new();
        for a in actions {
            by_ns.entry(a.netns()).or_default().push(a);
        }
        let jobs: Vec<(Netns, Vec<&Action>)> = by_ns.into_iter().collect();
        let session = &*self.session;
        let progress = self.progress;
        let results = netns::parallel(&jobs, |(ns, acts)| -> Result<(), ApplyError> {
            let fd = match ns {
                Netns::Host => session.host.fd.as_fd(),
                Netns::Named(n) => match session.named.get(n) {
                    Some(h) => h.fd.as_fd(),
                    None => return Err(step(acts[0], KernelError::from_errno(libc::ENOENT))),
                },
            };
            netns::within(fd, || {
                for a in acts {
                    if let Action::SetSysctl { key, value, .. } = a {
                        sysctl::write(key, value).map_err(|e| step(a, e))?;
                        progress(1);
                    }
                }
                Ok(())
            })
            .map_err(|e| step(acts[0], e))?
        });
        results.into_iter().collect()
    }

    /// Conditions: the qdisc requests pipelined on each namespace's socket
    /// like any other stage, then each namespace's loss rules in one
    /// nftables batch (namespaces in parallel).
    fn conditions(&mut self, actions: &[&Action]) -> Result<(), ApplyError> {
        self.learn_host_indexes(actions)?;
        self.resolve(actions).map_err(|e| step(actions[0], e))?;
        super::profile::mark("conditions: indexes resolved");
        self.requests(actions)?;
        super::profile::mark("conditions: qdiscs");
        self.loss_rules(actions)?;
        super::profile::mark("conditions: loss rules");
        Ok(())
    }

    /// The host ends of new veths got the kernel's indexes: many are
    /// learned from one light dump rather than asked for one by one.
    fn learn_host_indexes(&mut self, actions: &[&Action]) -> Result<(), ApplyError> {
        let unknown = actions
            .iter()
            .filter(|a| {
                matches!(a, Action::SetConditions { ns: Netns::Host, dev, .. }
                    if self.index(&Netns::Host, dev).is_none())
            })
            .count();
        if unknown > 16 {
            let found = cond::indexes_here().map_err(|e| step(actions[0], e))?;
            for (name, index) in found {
                self.session.index.insert((Netns::Host, name), index);
            }
        }
        Ok(())
    }

    /// Each namespace's loss changes in one batch, the namespaces on
    /// worker threads.
    fn loss_rules(&mut self, actions: &[&Action]) -> Result<(), ApplyError> {
        // Per namespace: its table, its changes, the first action (for
        // errors) and how many actions change nothing but the loss (their
        // progress is counted here; the others' with their qdiscs).
        let mut by_ns: BTreeMap<Netns, (String, Vec<cond::NsChange>, &Action, u64)> =
            BTreeMap::new();
        for a in actions {
            let Action::SetConditions {
                ns,
                dev,
                from,
                to,
                via,
                mtu,
                table,
            } = a
            else {
                continue;
            };
            let Some(c) = cond::loss_change(dev, from, to, *via) else {
                continue;
            };
            let e = by_ns
                .entry(ns.clone())
                .or_insert_with(|| (table.clone(), Vec::new(), a, 0));
            e.1.push(c);
            if qdisc::changes(0, from, to, *via, *mtu).is_empty() {
                e.3 += 1;
            }
        }
        let session = &*self.session;
        let mut jobs = Vec::new();
        let mut owners = Vec::new();
        for (ns, (table, changes, a, only_loss)) in by_ns {
            let fd = match &ns {
                Netns::Host => session.host.fd.as_fd(),
                Netns::Named(n) => match session.named.get(n) {
                    Some(h) => h.fd.as_fd(),
                    None => return Err(step(a, KernelError::from_errno(libc::ENOENT))),
                },
            };
            jobs.push(cond::NsLoss { fd, table, changes });
            owners.push((a, only_loss));
        }
        if let Some((a, _)) = owners.first() {
            fault::check().map_err(|e| step(a, e))?;
        }
        let results = cond::apply_losses(&jobs);
        for (r, (a, only_loss)) in results.into_iter().zip(owners) {
            (self.progress)(only_loss);
            r.map_err(|e| step(a, e))?;
        }
        Ok(())
    }

    fn remove_namespaces(&mut self, actions: &[&Action]) -> Result<(), ApplyError> {
        for a in actions {
            if let Action::DelNetns { ns } = a {
                fault::check().map_err(|e| step(a, e))?;
                self.session.named.remove(ns);
                netns::remove(ns).map_err(|e| step(a, e))?;
                (self.progress)(1);
            }
        }
        Ok(())
    }

    /// Learn the indexes the kernel picked, where a stage needs them.
    fn resolve(&mut self, actions: &[&Action]) -> Result<(), KernelError> {
        let mut need: BTreeMap<Netns, BTreeSet<String>> = BTreeMap::new();
        for a in actions {
            let mut want = |ns: &Netns, name: &str| {
                if !self
                    .session
                    .index
                    .contains_key(&(ns.clone(), name.to_string()))
                {
                    need.entry(ns.clone()).or_default().insert(name.to_string());
                }
            };
            match a {
                Action::SetLink { ns, set, .. } => {
                    if let Some(Some(m)) = &set.master {
                        want(ns, m);
                    }
                }
                Action::AddVxlan {
                    underlay: Some(d), ..
                } => want(&Netns::Host, d),
                Action::AddAddr { ns, dev, .. }
                | Action::DelAddr { ns, dev, .. }
                | Action::SetConditions { ns, dev, .. } => want(ns, dev),
                Action::AddRoute { ns, route } | Action::DelRoute { ns, route } => {
                    if let Some(d) = &route.dev {
                        want(ns, d);
                    }
                }
                _ => {}
            }
        }
        for (ns, names) in need {
            let names: Vec<String> = names.into_iter().collect();
            self.session.resolve(&ns, &names)?;
        }
        Ok(())
    }

    fn index(&self, ns: &Netns, name: &str) -> Option<u32> {
        self.session
            .index
            .get(&(ns.clone(), name.to_string()))
            .copied()
    }

    fn dev(&self, ns: &Netns, name: &str) -> Dev {
        match self.index(ns, name) {
            Some(i) => Dev::Index(i),
            None => Dev::Name(name.to_string()),
        }
    }

    fn needs_index(&self, ns: &Netns, name: &str) -> Result<u32, KernelError> {
        self.index(ns, name).ok_or_else(|| {
            KernelError::from_errno(libc::ENODEV)
                .with_detail(Some(format!("no interface {name} in {ns}")))
        })
    }

    /// The requests for one action (in order), the namespace they go to,
    /// and their flags.
    fn build(&mut self, a: &Action) -> Result<(Netns, Vec<RouteNetlinkMessage>, u16), KernelError> {
        if let Action::SetConditions {
            ns,
            dev,
            from,
            to,
            via,
            mtu,
            ..
        } = a
        {
            // A qdisc is named by its interface's index only. Deleting
            // ignores the create/replace flags, so one set serves all.
            let index = self.needs_index(ns, dev)?;
            let msgs = qdisc::changes(index, from, to, *via, *mtu)
                .into_iter()
                .map(|(m, _)| m)
                .collect();
            return Ok((ns.clone(), msgs, NLM_F_CREATE | qdisc::NLM_F_REPLACE));
        }
        if let Action::SetLink { ns, name, set } = a
            && set.no_link_local
            && set.up == Some(true)
        {
            // The generation mode must be in place before the interface
            // comes up: in one request the kernel applies it after the flags.
            let first = SetIface {
                no_link_local: true,
                ..SetIface::default()
            };
            let dev = self.dev(ns, name);
            let (_, mut rest, flags) = self.build_one(a)?;
            rest.insert(0, msg::set_link(&dev, &first));
            return Ok((ns.clone(), rest, flags));
        }
        self.build_one(a)
    }

    fn build_one(
        &mut self,
        a: &Action,
    ) -> Result<(Netns, Vec<RouteNetlinkMessage>, u16), KernelError> {
        let ns = a.netns();
        let (ns, m, flags) = match a {
            Action::DelLink { ns, name } => {
                let dev = self.dev(ns, name);
                // The name may be made again in this run, with a new index:
                // the old one must not be used for it.
                self.session.index.remove(&(ns.clone(), name.clone()));
                (ns.clone(), msg::del_link(&dev), 0)
            }
            Action::AddBridge {
                ns,
                name,
                stp,
                vlan_filtering,
                mtu,
                mac,
            } => {
                let index = match ns {
                    Netns::Named(n) => self.session.assign_index(n),
                    Netns::Host => 0,
                };
                self.forget_or_learn(ns, name, index);
                let new = NewIface {
                    name,
                    index,
                    group: self.group,
                    mtu: *mtu,
                    mac: mac.map(|m| m.0),
                    up: false,
                };
                (
                    ns.clone(),
                    msg::new_bridge(&new, *stp, *vlan_filtering),
                    NLM_F_CREATE | NLM_F_EXCL,
                )
            }
            Action::AddVeth { a: ea, b: eb } => {
                // Sent from a lab namespace when one end is there: vnet picks
                // both indexes there, and the host end gets the kernel's.
                let (main, peer) = if ea.ns.is_host() && !eb.ns.is_host() {
                    (eb, ea)
                } else {
                    (ea, eb)
                };
                let main_index = match &main.ns {
                    Netns::Named(n) => self.session.assign_index(n),
                    Netns::Host => 0,
                };
                // Never the same index on both ends: the kernel treats a veth
                // whose peer index equals its own as a plain device and
                // defers its carrier change (linkwatch) by up to a second.
                let peer_index = match (&peer.ns, main_index) {
                    (Netns::Named(n), i) if i != 0 => {
                        let mut p = self.session.assign_index(n);
                        if p == i {
                            p = self.session.assign_index(n);
                        }
                        p
                    }
                    _ => 0,
                };
                for (end, i) in [(main, main_index), (peer, peer_index)] {
                    self.forget_or_learn(&end.ns, &end.name, i);
                }
                let peer_fd = if peer.ns == main.ns {
                    None
                } else {
                    Some(self.session.ns_fd(&peer.ns).ok_or_else(|| {
                        KernelError::from_errno(libc::ENOENT)
                            .with_detail(Some(format!("namespace {} is not open", peer.ns)))
                    })?)
                };
                let m = NewIface {
                    name: &main.name,
                    index: main_index,
                    group: self.group,
                    mtu: main.mtu,
                    mac: main.mac.map(|m| m.0),
                    up: false,
                };
                let p = NewIface {
                    name: &peer.name,
                    index: peer_index,
                    group: self.group,
                    mtu: peer.mtu,
                    mac: peer.mac.map(|m| m.0),
                    up: false,
                };
                (
                    main.ns.clone(),
                    msg::new_veth(&m, &p, peer_fd),
                    NLM_F_CREATE | NLM_F_EXCL,
                )
            }
            Action::AddVxlan {
                ns,
                name,
                vni,
                remote,
                local,
                port,
                underlay,
                mtu,
                mac,
            } => {
                // In a lab namespace vnet picks the index, as for its veth
                // ends there (the kernel's pick could be one vnet gives next).
                let index = match ns {
                    Netns::Named(n) => self.session.assign_index(n),
                    Netns::Host => 0,
                };
                self.forget_or_learn(ns, name, index);
                let into = match ns {
                    Netns::Host => None,
                    Netns::Named(_) => Some(self.session.ns_fd(ns).ok_or_else(|| {
                        KernelError::from_errno(libc::ENOENT)
                            .with_detail(Some(format!("namespace {ns} is not open")))
                    })?),
                };
                let underlay = underlay
                    .as_ref()
                    .map(|d| self.needs_index(&Netns::Host, d))
                    .transpose()?;
                let v = msg::NewVxlan {
                    vni: *vni,
                    remote: *remote,
                    local: *local,
                    port: *port,
                    underlay,
                    into,
                    iface: NewIface {
                        name,
                        index,
                        group: self.group,
                        mtu: *mtu,
                        mac: mac.map(|m| m.0),
                        up: false,
                    },
                };
                // Sent in the host namespace: the tunnel's socket lives on
                // the underlay whatever namespace the device ends up in.
                (Netns::Host, msg::new_vxlan(&v), NLM_F_CREATE | NLM_F_EXCL)
            }
            Action::SetLink { ns, name, set } => {
                let master = match &set.master {
                    Some(Some(m)) => Some(self.needs_index(ns, m)?),
                    Some(None) => Some(0),
                    None => None,
                };
                let s = SetIface {
                    master,
                    mtu: set.mtu,
                    mac: set.mac.map(|m| m.0),
                    up: set.up,
                    alias: set.alias.clone(),
                    group: set.group,
                    no_link_local: set.no_link_local,
                };
                (ns.clone(), msg::set_link(&self.dev(ns, name), &s), 0)
            }
            Action::SetBridge {
                ns,
                name,
                stp,
                vlan_filtering,
            } => (
                ns.clone(),
                msg::set_bridge(&self.dev(ns, name), *stp, *vlan_filtering),
                0,
            ),
            Action::AddAddr { ns, dev, addr } => {
                let i = self.needs_index(ns, dev)?;
                (
                    ns.clone(),
                    msg::add_addr(i, addr),
                    NLM_F_CREATE | NLM_F_EXCL,
                )
            }
            Action::DelAddr { ns, dev, addr } => {
                let i = self.needs_index(ns, dev)?;
                (ns.clone(), msg::del_addr(i, addr), 0)
            }
            Action::AddRoute { ns, route } => {
                let dev = route
                    .dev
                    .as_ref()
                    .map(|d| self.needs_index(ns, d))
                    .transpose()?;
                let m = msg::route(&route.dst, route.via, dev, route.metric);
                (
                    ns.clone(),
                    RouteNetlinkMessage::NewRoute(m),
                    NLM_F_CREATE | NLM_F_EXCL,
                )
            }
            Action::DelRoute { ns, route } => {
                let dev = route.dev.as_ref().and_then(|d| self.index(ns, d));
                let mut m = msg::route(&route.dst, route.via, dev, route.metric);
                m.header.scope = netlink_packet_route::route::RouteScope::NoWhere;
                (ns.clone(), RouteNetlinkMessage::DelRoute(m), 0)
            }
            Action::AddNetns { .. }
            | Action::DelNetns { .. }
            | Action::SetSysctl { .. }
            | Action::SetConditions { .. } => {
                return Err(KernelError::from_errno(libc::EINVAL)
                    .with_detail(Some(format!("{ns}: not a netlink step"))));
            }
        };
        Ok((ns, vec![m], flags))
    }

    /// Note the index vnet gives a new interface; when the kernel picks it
    /// (index 0), forget any index the name had: an interface of that name
    /// seen before this run (deleted since, or about to be) is not this one,
    /// and later steps must ask the kernel instead of naming a dead index.
    fn forget_or_learn(&mut self, ns: &Netns, name: &str, index: u32) {
        let key = (ns.clone(), name.to_string());
        if index == 0 {
            self.session.index.remove(&key);
        } else {
            self.session.index.insert(key, index);
        }
    }

    /// Send every request of a stage, then read every acknowledgement.
    fn requests(&mut self, actions: &[&Action]) -> Result<(), ApplyError> {
        // Per namespace: (sequence number, action) in flight.
        let mut flight: HashMap<Netns, Vec<(u32, usize)>> = HashMap::new();
        let mut failure: Option<ApplyError> = None;
        let mut done: Vec<usize> = Vec::new();
        for (i, a) in actions.iter().enumerate() {
            if self.cancel.load(Ordering::Relaxed) {
                failure = Some(ApplyError::Cancelled);
                break;
            }
            let (ns, msgs, flags) = match self.build(a) {
                Ok(x) => x,
                Err(e) => {
                    failure = Some(step(a, e));
                    break;
                }
            };
            if let Err(e) = fault::check() {
                failure = Some(step(a, e));
                break;
            }
            let Some(h) = self.session.handle(&ns) else {
                failure = Some(step(a, KernelError::from_errno(libc::ENOENT)));
                break;
            };
            let list = flight.entry(ns.clone()).or_default();
            for m in msgs {
                let seq = h.sock.queue(m, flags);
                list.push((seq, i));
            }
            if h.sock.queued() >= window() {
                let list = std::mem::take(list);
                if let Err(e) = self.drain(&ns, list, actions, &mut done) {
                    failure.get_or_insert(e);
                    break;
                }
            }
        }
        // Read whatever is still in flight, even after a failure: the kernel
        // has acted on it and the rollback must know. The host goes first:
        // its veth ends come up before their peers in lab namespaces, which
        // lets `up` watch a star's readiness from the host alone.
        let mut flight: Vec<(Netns, Vec<(u32, usize)>)> = flight.into_iter().collect();
        flight.sort_by(|a, b| a.0.cmp(&b.0));
        for (ns, list) in flight {
            if let Err(e) = self.drain(&ns, list, actions, &mut done) {
                failure.get_or_insert(e);
            }
        }
        for i in done {
            self.record(actions[i]);
        }
        match failure {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    fn drain(
        &mut self,
        ns: &Netns,
        list: Vec<(u32, usize)>,
        actions: &[&Action],
        done: &mut Vec<usize>,
    ) -> Result<(), ApplyError> {
        if list.is_empty() {
            return Ok(());
        }
        let by_seq: HashMap<u32, usize> = list.iter().copied().collect();
        let mut first: Option<ApplyError> = None;
        let progress = self.progress;
        let h = self
            .session
            .handle(ns)
            .expect("socket of a namespace in flight");
        let mut ok = Vec::new();
        // An action may take two requests; progress counts actions.
        let mut counted = std::collections::HashSet::new();
        let read = h.sock.collect(|seq, r| {
            let Some(&i) = by_seq.get(&seq) else { return };
            if counted.insert(i) {
                progress(1);
            }
            match r {
                Ok(()) => ok.push(i),
                Err(e) if harmless(actions[i], &e) => ok.push(i),
                Err(e) => {
                    first.get_or_insert_with(|| step(actions[i], e));
                }
            }
        });
        ok.dedup();
        done.extend(ok);
        if let Err(e) = read {
            first.get_or_insert_with(|| step(actions[list[0].1], e.into()));
        }
        match first {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Note what a successful action created outside this run's namespaces.
    fn record(&mut self, a: &Action) {
        let outside = |ns: &Netns| match ns {
            Netns::Host => true,
            Netns::Named(n) => !self.fresh.contains(n),
        };
        match a {
            Action::AddBridge { ns, name, .. } | Action::AddVxlan { ns, name, .. }
                if outside(ns) =>
            {
                self.created.links.push((ns.clone(), name.clone()));
            }
            Action::AddVeth { a, b } => {
                if outside(&a.ns) {
                    self.created.links.push((a.ns.clone(), a.name.clone()));
                } else if outside(&b.ns) {
                    self.created.links.push((b.ns.clone(), b.name.clone()));
                }
            }
            _ => {}
        }
    }

    /// Remove what this run created: interfaces in pre-existing namespaces
    /// first, then the namespaces. Returns what could not be removed.
    pub(crate) fn rollback(&mut self) -> Vec<String> {
        let mut left = Vec::new();
        let mut by_ns: BTreeMap<Netns, Vec<String>> = BTreeMap::new();
        for (ns, name) in self.created.links.drain(..).rev() {
            by_ns.entry(ns).or_default().push(name);
        }
        for (ns, names) in by_ns {
            let Some(h) = self.session.handle(&ns) else {
                continue;
            };
            let mut seqs = HashMap::new();
            for n in &names {
                seqs.insert(
                    h.sock.queue(msg::del_link(&Dev::Name(n.clone())), 0),
                    n.clone(),
                );
            }
            let r = h.sock.collect(|seq, r| {
                if let (Some(n), Err(e)) = (seqs.get(&seq), r)
                    && !e.is(libc::ENODEV)
                {
                    left.push(format!("interface {n} in {ns}: {e}"));
                }
            });
            if let Err(e) = r {
                left.push(format!("interfaces in {ns}: {e}"));
            }
        }
        for n in self.created.namespaces.drain(..).rev() {
            self.session.named.remove(&n);
            if let Err(e) = netns::remove(&n) {
                left.push(format!("namespace {n}: {e}"));
            }
        }
        left
    }
}
