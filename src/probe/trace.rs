//! `vnet trace SRC DST` (kernel side): find the interfaces that can lie on
//! the way from live state, listen on each of them from inside its
//! namespace, send one echo request from SRC, and turn what was seen into
//! the walk. It changes nothing in the network: the probe resolves its next
//! hop the ordinary way, so a fresh neighbour cache shows ARP/NDP in the
//! walk and a warm one does not (the report says which).

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::os::fd::{AsRawFd, OwnedFd};
use std::time::{Duration, Instant};

use serde::Serialize;

use super::ProbeError;
use super::capture;
use super::icmp::{self, IcmpSocket, why_not_sent};
use super::neigh;
use super::path::{Dir, End, Path, Topology};
use super::pcapng;
use super::sock::Poller;
use super::target::{self, Dest, Family};
use super::walk::{self, Loss, Seen, Step, Tap};
use super::wire::Received;
use super::world::World;
use crate::kernel::{KernelError, netns};

#[derive(Clone)]
pub struct TraceOptions {
    pub timeout: Duration,
    pub family: Option<Family>,
    /// Payload bytes of the echo request.
    pub size: usize,
    /// Asked while waiting: true stops the wait (Ctrl-C).
    pub cancelled: fn() -> bool,
}

#[derive(Debug, Serialize)]
pub struct TraceReport {
    pub src: String,
    pub dst: IpAddr,
    pub dst_node: Option<String>,
    pub answered: bool,
    pub rtt_ms: Option<f64>,
    /// How long the reply was waited for.
    pub timeout_ms: f64,
    /// An ICMP error that came back, or the kernel's refusal to send.
    pub error: Option<String>,
    /// The errno of the kernel's refusal to send, when it refused.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refused: Option<i32>,
    /// The way there and back, as live state tells.
    pub path: Path,
    pub back: Path,
    /// What SRC's neighbour table held for the next hop before the probe.
    pub neighbour: Option<String>,
    pub frames: Vec<Step>,
    pub loss: Option<Loss>,
    pub taps: Vec<Tap>,
    #[serde(skip)]
    pub seen: Vec<Seen>,
}

impl TraceReport {
    /// The walk as pcapng: one interface per tap, one packet per frame.
    pub fn pcapng(&self) -> Vec<u8> {
        let ifs: Vec<pcapng::Interface> = self
            .taps
            .iter()
            .map(|t| pcapng::Interface {
                name: t.iface.clone(),
                description: format!("{} in namespace {}", t.iface, t.ns),
            })
            .collect();
        let packets: Vec<pcapng::Packet> = self
            .frames
            .iter()
            .map(|s| {
                let seen = &self.seen[s.seen];
                pcapng::Packet {
                    interface: seen.tap as u32,
                    ts_ns: seen.ts_ns,
                    data: &seen.data,
                    orig_len: seen.orig_len as u32,
                    direction: Some(match seen.dir {
                        Dir::In => pcapng::Direction::Inbound,
                        Dir::Out => pcapng::Direction::Outbound,
                    }),
                }
            })
            .collect();
        pcapng::write(&ifs, &packets)
    }

    pub fn mermaid(&self) -> String {
        walk::mermaid(&self.taps, &self.seen, &self.frames)
    }
}

pub fn trace(src: &str, dst: &str, opts: &TraceOptions) -> Result<TraceReport, ProbeError> {
    let mut world = World::read(None)?;
    let (dst_ip, dst_node) = match resolve(&world, src, dst, opts.family)? {
        (Some(ip), node) => (ip, node),
        (None, node) => {
            return Err(ProbeError::Failed(format!(
                "node {} has no address to trace to{}",
                node.unwrap_or_default(),
                family_note(opts.family)
            )));
        }
    };
    trace_world(&mut world, src, dst_ip, dst_node, opts)
}

/// SRC checked, and DST as an address: given, or the node's (None when the
/// node has no usable address), with the node's name.
pub fn resolve(
    world: &World,
    src: &str,
    dst: &str,
    family: Option<Family>,
) -> Result<(Option<IpAddr>, Option<String>), ProbeError> {
    let nodes = world.nodes();
    let Some(src_ns) = world.get(src) else {
        return Err(ProbeError::Usage(target::unknown_node(src, &nodes)));
    };
    let (dst_ip, dst_node) = match target::parse_dest(dst) {
        Dest::Addr(ip) => (Some(ip), None),
        Dest::Node(n) => {
            let Some(d) = world.get(&n) else {
                return Err(ProbeError::Usage(target::unknown_node(&n, &nodes)));
            };
            (target::pick_addr(src_ns, d, family), Some(n))
        }
    };
    if let Some(ip) = dst_ip
        && family.is_some_and(|f| !f.matches(&ip))
    {
        return Err(ProbeError::Usage(format!(
            "{ip} is not an address of the family asked for"
        )));
    }
    Ok((dst_ip, dst_node))
}

/// The way from `src` to `dst_ip` and the way back, from live state.
pub fn ways(world: &World, src: &str, dst_ip: IpAddr) -> (Path, Path) {
    let topo = world.topology();
    let fwd = topo.path(src, dst_ip);
    let source = fwd.segments.first().and_then(|s| s.source).or_else(|| {
        world.get(src).and_then(|n| {
            target::node_addrs(n)
                .into_iter()
                .find(|a| a.is_ipv4() == dst_ip.is_ipv4())
        })
    });
    let back = match (&fwd.end, source) {
        (End::Delivered { ns }, Some(s)) => topo.path(ns, s),
        (_, Some(s)) => match topo.owners(dst_ip).first() {
            Some(owner) => topo.path(owner, s),
            None => empty(),
        },
        _ => empty(),
    };
    (fwd, back)
}

/// The trace over namespaces already read.
pub fn trace_world(
    world: &mut World,
    src: &str,
    dst_ip: IpAddr,
    dst_node: Option<String>,
    opts: &TraceOptions,
) -> Result<TraceReport, ProbeError> {
    let nodes = world.nodes();
    if world.get(src).is_none() {
        return Err(ProbeError::Usage(target::unknown_node(src, &nodes)));
    }
    // The way there and back, and where to listen.
    let (fwd, back) = ways(world, src, dst_ip);
    let watch = Watch::new(world, src, dst_ip, &fwd, &back);
    let neighbour = known_neighbour(world, src, watch.first_hop);

    // Listen, then probe; every frame stamped by the kernel as it passes.
    let _stamps = capture::Timestamps::on();
    let fds = open_taps(world, &watch.taps)?;
    let (sock, mut poller) = open_probe(world, src, dst_ip, &fds)?;
    let id = icmp::run_id();
    let seq = 1;
    let mut report = TraceReport {
        src: src.to_string(),
        dst: dst_ip,
        dst_node,
        answered: false,
        rtt_ms: None,
        timeout_ms: opts.timeout.as_secs_f64() * 1e3,
        error: None,
        refused: None,
        path: fwd,
        back,
        neighbour,
        frames: Vec::new(),
        loss: None,
        taps: watch.taps,
        seen: Vec::new(),
    };
    let sent = match sock.send_echo(dst_ip, id, seq, opts.size) {
        Ok(t) => Some(t),
        Err(e) => {
            report.error = Some(format!("{src} cannot send: {}", why_not_sent(&e)));
            report.refused = Some(e.errno);
            None
        }
    };
    let mut listening = Listening {
        sock: &sock,
        poller: &mut poller,
        fds: &fds,
        buf: vec![0u8; 65_536],
        frames: (0..fds.len()).map(|_| Vec::new()).collect(),
        id,
        seq,
        sent,
    };
    listening.wait(&mut report, opts)?;
    listening.drain_all()?;
    let frames = listening.frames;
    drop(poller);
    capture::close_all(fds);
    report.seen = seen_of(frames);
    let probe = walk::Probe {
        id,
        seq,
        addrs: watch.addrs,
        sent_ns: sent.unwrap_or_else(super::sock::now_ns),
    };
    report.frames = walk::steps(&report.taps, &report.seen, &probe);
    // A probe the kernel refused to send is explained by the refusal.
    if !report.answered && sent.is_some() {
        let topo = world.topology();
        report.loss = Some(walk::explain(
            &report.frames,
            &report.path,
            &report.back,
            &topo,
            dst_ip,
        ));
    }
    Ok(report)
}

/// Where to listen for the probe, and which addresses belong to it.
struct Watch {
    taps: Vec<Tap>,
    /// The destination, every next hop and source on the ways, SRC's own.
    addrs: Vec<IpAddr>,
    first_hop: Option<IpAddr>,
}

impl Watch {
    fn new(world: &World, src: &str, dst_ip: IpAddr, fwd: &Path, back: &Path) -> Watch {
        let topo = world.topology();
        let src_ns = world.get(src);
        let source = fwd.segments.first().and_then(|s| s.source).or_else(|| {
            src_ns.and_then(|n| {
                target::node_addrs(n)
                    .into_iter()
                    .find(|a| a.is_ipv4() == dst_ip.is_ipv4())
            })
        });
        let mut points = topo.capture_set(&[fwd, back]);
        if points.is_empty()
            && let Some(lo) = src_ns.and_then(|n| n.lo())
        {
            points.push((src.to_string(), lo.index));
        }
        let mut addrs: Vec<IpAddr> = vec![dst_ip];
        for s in fwd.segments.iter().chain(&back.segments) {
            addrs.push(s.next_hop);
            addrs.extend(s.source);
        }
        addrs.extend(source);
        addrs.sort();
        addrs.dedup();
        Watch {
            taps: taps_at(&topo, &points),
            addrs,
            first_hop: fwd.segments.first().map(|s| s.next_hop),
        }
    }
}

/// A tap on each capture point, with the tap on its veth peer when that is
/// one too.
fn taps_at(topo: &Topology, points: &[(String, u32)]) -> Vec<Tap> {
    let mut taps: Vec<Tap> = points
        .iter()
        .filter_map(|(ns, i)| {
            let l = topo.link(ns, *i)?;
            Some(Tap {
                ns: ns.clone(),
                iface: l.name.clone(),
                ifindex: *i,
                port_of: topo.bridge_of(ns, *i).map(|b| b.name.clone()),
                is_bridge: l.kind.as_deref() == Some("bridge"),
                peer: None,
            })
        })
        .collect();
    let index: BTreeMap<(String, u32), usize> = taps
        .iter()
        .enumerate()
        .map(|(k, t)| ((t.ns.clone(), t.ifindex), k))
        .collect();
    for t in &mut taps {
        t.peer = topo
            .peer(&t.ns, t.ifindex)
            .and_then(|(pns, pl)| index.get(&(pns.ns.clone(), pl.index)).copied());
    }
    taps
}

/// What SRC already knew of its next hop (read only).
fn known_neighbour(world: &mut World, src: &str, first_hop: Option<IpAddr>) -> Option<String> {
    match (first_hop, world.sock(src)) {
        (Some(nh), Some(sock)) => neigh::dump(sock)
            .ok()
            .and_then(|es| es.into_iter().find(|e| e.ip == nh))
            .filter(|e| e.state & (neigh::NUD_INCOMPLETE | neigh::NUD_FAILED) == 0)
            .map(|e| {
                format!(
                    "{src} already had {nh} in its neighbour table ({}), so no {} was needed; with a fresh entry the walk starts with it",
                    neigh::state_name(e.state),
                    if nh.is_ipv4() { "ARP" } else { "NDP" }
                )
            }),
        _ => None,
    }
}

/// A capture socket on each tap, opened from inside its namespace.
fn open_taps(world: &World, taps: &[Tap]) -> Result<Vec<OwnedFd>, ProbeError> {
    let opened: Vec<Result<OwnedFd, KernelError>> =
        netns::parallel(taps, |t| match world.fd(&t.ns) {
            Some(fd) => capture::open_in(fd, t.ifindex),
            None => Err(KernelError::from_errno(libc::ENOENT)),
        });
    let mut fds = Vec::with_capacity(opened.len());
    for (r, t) in opened.into_iter().zip(taps) {
        fds.push(
            r.map_err(|e| ProbeError::kernel(format!("listen on {} in {}", t.iface, t.ns), e))?,
        );
    }
    Ok(fds)
}

/// The raw ICMP socket in SRC, and one poller over it (key u64::MAX) and
/// the taps (key: their index).
fn open_probe(
    world: &World,
    src: &str,
    dst_ip: IpAddr,
    fds: &[OwnedFd],
) -> Result<(IcmpSocket, Poller), ProbeError> {
    let src_fd = world
        .fd(src)
        .ok_or_else(|| ProbeError::Failed(format!("namespace {src} went away")))?;
    let sock = IcmpSocket::open_in(src_fd, dst_ip.is_ipv6())
        .map_err(|e| ProbeError::kernel(format!("open a raw ICMP socket in {src}"), e))?;
    let poller = Poller::new().map_err(|e| ProbeError::kernel("epoll", e))?;
    for (k, fd) in fds.iter().enumerate() {
        poller
            .add(fd, k as u64)
            .map_err(|e| ProbeError::kernel("epoll", e))?;
    }
    poller
        .add(sock.as_fd(), u64::MAX)
        .map_err(|e| ProbeError::kernel("epoll", e))?;
    Ok((sock, poller))
}

/// The wait for the answer, collecting what each tap saw.
struct Listening<'a> {
    sock: &'a IcmpSocket,
    poller: &'a mut Poller,
    fds: &'a [OwnedFd],
    buf: Vec<u8>,
    /// Per tap, in the order of `fds`.
    frames: Vec<Vec<capture::Frame>>,
    id: u16,
    seq: u16,
    /// When the probe left (None: the kernel refused it).
    sent: Option<u64>,
}

impl Listening<'_> {
    /// Until the answer (and a little after, for the last copies), the
    /// timeout, or Ctrl-C.
    fn wait(&mut self, report: &mut TraceReport, opts: &TraceOptions) -> Result<(), ProbeError> {
        let start = Instant::now();
        let mut until = start
            + if self.sent.is_some() {
                opts.timeout
            } else {
                Duration::from_millis(50)
            };
        let mut ready = Vec::new();
        while Instant::now() < until && !(opts.cancelled)() {
            self.poller
                .wait(until.saturating_duration_since(Instant::now()), &mut ready)
                .map_err(|e| ProbeError::kernel("wait for frames", e))?;
            for &t in &ready {
                if t == u64::MAX {
                    self.answers(report, &mut until)?;
                } else if let Some(fd) = self.fds.get(t as usize) {
                    capture::drain(fd.as_raw_fd(), &mut self.buf, &mut self.frames[t as usize])
                        .map_err(|e| ProbeError::kernel("read captured frames", e))?;
                }
            }
        }
        Ok(())
    }

    /// Read the ICMP socket; on the reply, or an error about the probe,
    /// the wait ends soon.
    fn answers(&mut self, report: &mut TraceReport, until: &mut Instant) -> Result<(), ProbeError> {
        while let Some((r, ts)) = self
            .sock
            .recv(&mut self.buf)
            .map_err(|e| ProbeError::kernel("receive the reply", e))?
        {
            match r {
                Received::Reply { id: i, seq: s, .. } if i == self.id && s == self.seq => {
                    report.answered = true;
                    report.rtt_ms = self.sent.map(|at| ts.saturating_sub(at) as f64 / 1e6);
                }
                Received::Error {
                    id: i,
                    seq: s,
                    error,
                    ..
                } if i == self.id && s == self.seq => {
                    report.error = Some(format!("{} from {}", error.what, error.from));
                }
                _ => continue,
            }
            // Done: let the last copies reach the taps' queues.
            *until = (*until).min(Instant::now() + Duration::from_millis(20));
        }
        Ok(())
    }

    /// What is still queued on every tap.
    fn drain_all(&mut self) -> Result<(), ProbeError> {
        for (k, fd) in self.fds.iter().enumerate() {
            capture::drain(fd.as_raw_fd(), &mut self.buf, &mut self.frames[k])
                .map_err(|e| ProbeError::kernel("read captured frames", e))?;
        }
        Ok(())
    }
}

/// The frames of every tap, as one list of sightings.
fn seen_of(frames: Vec<Vec<capture::Frame>>) -> Vec<Seen> {
    frames
        .into_iter()
        .enumerate()
        .flat_map(|(tap, fs)| {
            fs.into_iter().map(move |f| Seen {
                tap,
                ts_ns: f.ts_ns,
                dir: f.dir,
                data: f.data,
                orig_len: f.orig_len,
            })
        })
        .collect()
}

fn empty() -> Path {
    Path {
        points: Vec::new(),
        segments: Vec::new(),
        end: End::Loop,
    }
}

pub fn family_note(f: Option<Family>) -> &'static str {
    match f {
        Some(Family::V4) => " (IPv4)",
        Some(Family::V6) => " (IPv6)",
        None => "",
    }
}
