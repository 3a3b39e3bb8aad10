//! Watching the kernel for `vnet serve`: one thread holds, for the host and
//! each named namespace, a socket subscribed to rtnetlink's link and address
//! events (opened from inside that namespace), and watches /run/netns with
//! inotify for namespaces coming and going. It sleeps in `poll` with no
//! timeout while nobody looks, so an idle server uses no CPU; while someone
//! does (`set_counting(true)`), it also reads every interface's counters
//! once per interval over a request socket of each namespace.
//!
//! It reports what changed, not the new state: the reader reads the kernel
//! again (one read for a burst of events), with the same observer `status`
//! uses, so the picture never drifts from what `status` says.

use std::collections::BTreeMap;
use std::os::fd::{AsFd, BorrowedFd};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use netlink_packet_route::RouteNetlinkMessage;
use netlink_sys::protocols::NETLINK_ROUTE;
use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::eventfd::{EfdFlags, EventFd};
use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};
use nix::sys::resource::{Resource, getrlimit, setrlimit};

use super::error::KernelError;
use super::netlink::NlSocket;
use super::netlink::transport::Transport;
use super::netns::{self, Found, RUN_DIR};
use super::observe;
use crate::model::lab::HOST;
use crate::model::live::LinkStats;

/// RTNLGRP_LINK, RTNLGRP_IPV4_IFADDR, RTNLGRP_IPV6_IFADDR (linux/rtnetlink.h).
const GROUPS: [u32; 3] = [1, 5, 9];
/// Events queued between two reads; a lost burst only means one more read.
const EVENTS_RCVBUF: usize = 1 << 20;

/// What the watcher saw.
#[derive(Clone, Debug)]
pub enum Event {
    /// Links or addresses changed in these namespaces ("host" for the host),
    /// or namespaces came or went: read the kernel again.
    Changed(Vec<String>),
    /// Every interface's counters, read now (while counting is on).
    Counters { at: Instant, ifaces: Vec<Counter> },
}

#[derive(Clone, Debug)]
pub struct Counter {
    pub ns: String,
    pub iface: String,
    pub stats: LinkStats,
}

/// One namespace watched: its event socket and a request socket for counters.
struct Watched {
    events: Transport,
    req: NlSocket,
}

struct Shared {
    wake: EventFd,
    counting: AtomicBool,
    stop: AtomicBool,
}

/// The watcher thread; stopped and joined on drop.
pub struct Monitor {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl Monitor {
    /// Start watching the host and every named namespace; `send` gets each
    /// event, on the watcher's thread.
    pub fn start(
        interval: Duration,
        send: impl Fn(Event) + Send + 'static,
    ) -> Result<Monitor, KernelError> {
        // Two sockets per namespace: a thousand namespaces need the hard limit.
        if let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE)
            && soft < hard
        {
            let _ = setrlimit(Resource::RLIMIT_NOFILE, hard, hard);
        }
        let shared = Arc::new(Shared {
            wake: EventFd::from_flags(EfdFlags::EFD_CLOEXEC | EfdFlags::EFD_NONBLOCK)?,
            counting: AtomicBool::new(false),
            stop: AtomicBool::new(false),
        });
        // Opened here, so failing to watch fails `start`.
        let host = watch_here()?;
        let inotify = Inotify::init(InitFlags::IN_CLOEXEC | InitFlags::IN_NONBLOCK)?;
        let _ = std::fs::create_dir_all(RUN_DIR);
        // A missing /run/netns (no namespaces yet, rootless) is not fatal.
        let _ = inotify.add_watch(
            RUN_DIR,
            AddWatchFlags::IN_CREATE
                | AddWatchFlags::IN_DELETE
                | AddWatchFlags::IN_MOVED_FROM
                | AddWatchFlags::IN_MOVED_TO,
        );
        let s = shared.clone();
        let thread = std::thread::Builder::new()
            .name("vnet-monitor".into())
            .spawn(move || run(&s, host, inotify, interval, &send))?;
        Ok(Monitor {
            shared,
            thread: Some(thread),
        })
    }

    /// Read counters every interval (someone is looking), or stop (nobody is).
    pub fn set_counting(&self, on: bool) {
        if self.shared.counting.swap(on, Ordering::SeqCst) != on {
            let _ = self.shared.wake.write(1);
        }
    }
}

impl Drop for Monitor {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        let _ = self.shared.wake.write(1);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Sockets of the calling thread's namespace.
fn watch_here() -> Result<Watched, KernelError> {
    Ok(Watched {
        events: Transport::listen(NETLINK_ROUTE, &GROUPS, EVENTS_RCVBUF)?,
        req: NlSocket::open()?,
    })
}

fn watch_named(name: &str) -> Option<Watched> {
    match netns::open_named(name) {
        Ok(Found::Namespace(fd)) => netns::within(fd.as_fd(), watch_here).ok()?.ok(),
        _ => None,
    }
}

/// Bring the watched set in line with /run/netns: open the new, close the
/// gone (a socket keeps its namespace alive, so `down` must not wait on us).
fn rescan(named: &mut BTreeMap<String, Watched>) {
    let now = netns::list_named();
    named.retain(|n, _| now.contains(n));
    for n in now {
        if !named.contains_key(&n)
            && let Some(w) = watch_named(&n)
        {
            named.insert(n, w);
        }
    }
}

fn run(
    shared: &Shared,
    mut host: Watched,
    inotify: Inotify,
    interval: Duration,
    send: &dyn Fn(Event),
) {
    let mut named: BTreeMap<String, Watched> = BTreeMap::new();
    rescan(&mut named);
    let mut next_count: Option<Instant> = None;
    while !shared.stop.load(Ordering::SeqCst) {
        let counting = shared.counting.load(Ordering::SeqCst);
        if !counting {
            next_count = None;
        } else if next_count.is_none() {
            next_count = Some(Instant::now());
        }
        // No timeout at all while nobody looks: the thread sleeps in poll.
        let timeout = match next_count {
            None => PollTimeout::NONE,
            Some(t) => {
                let ms = t.saturating_duration_since(Instant::now()).as_millis();
                PollTimeout::try_from(ms.min(60_000) as i32).unwrap_or(PollTimeout::MAX)
            }
        };
        let names: Vec<&String> = named.keys().collect();
        let mut fds: Vec<PollFd> = Vec::with_capacity(names.len() + 3);
        let fixed: [BorrowedFd; 3] = [shared.wake.as_fd(), inotify.as_fd(), host.events.as_fd()];
        for fd in fixed {
            fds.push(PollFd::new(fd, PollFlags::POLLIN));
        }
        for n in &names {
            fds.push(PollFd::new(named[*n].events.as_fd(), PollFlags::POLLIN));
        }
        match poll(&mut fds, timeout) {
            Ok(_) | Err(Errno::EINTR) => {}
            Err(_) => return,
        }
        let ready: Vec<bool> = fds
            .iter()
            .map(|p| p.revents().is_some_and(|r| !r.is_empty()))
            .collect();
        drop(fds);
        if ready[0] {
            let _ = shared.wake.read();
        }
        let mut changed: Vec<String> = Vec::new();
        if ready[2] && drained(&host.events) {
            changed.push(HOST.to_string());
        }
        for (n, r) in names.iter().zip(&ready[3..]) {
            if *r && drained(&named[*n].events) {
                changed.push((*n).clone());
            }
        }
        if ready[1] {
            let _ = inotify.read_events();
            // The file appears before its bind mount does: give `ip netns
            // add` a moment, then look again.
            std::thread::sleep(Duration::from_millis(50));
            rescan(&mut named);
            changed.push(String::new());
        }
        if !changed.is_empty() {
            send(Event::Changed(changed));
        }
        if let Some(t) = next_count
            && Instant::now() >= t
        {
            let at = Instant::now();
            let mut ifaces = Vec::new();
            read_counters(HOST, &mut host, &mut ifaces);
            for (n, w) in named.iter_mut() {
                read_counters(n, w, &mut ifaces);
            }
            send(Event::Counters { at, ifaces });
            next_count = Some(t.max(at - interval) + interval);
        }
    }
}

/// Read every queued event; whether any was a change (or events were lost).
fn drained(t: &Transport) -> bool {
    let mut any = false;
    match t.drain(|_| any = true) {
        Ok(()) => any,
        Err(_) => true,
    }
}

fn read_counters(ns: &str, w: &mut Watched, out: &mut Vec<Counter>) {
    // Streamed: one message at a time, not a namespace's dump at once.
    let Ok(seq) = w.req.start_dump(observe::link_dump_with_stats()) else {
        return;
    };
    let _ = w.req.read_dump_each(seq, |m| {
        if let RouteNetlinkMessage::NewLink(l) = m {
            let l = observe::link(&l);
            out.push(Counter {
                ns: ns.to_string(),
                iface: l.name,
                stats: l.stats,
            });
        }
    });
}

/// Keep the process small while it runs for days (see `sys`).
pub fn stay_small() {
    super::sys::limit_malloc_arenas(2);
}

/// Give freed memory back after a large read.
pub fn trim() {
    super::sys::trim_heap();
}
