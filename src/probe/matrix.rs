//! The all-pairs reachability matrix (kernel side). Every node pings every
//! address of every other node from one raw socket per node and family;
//! all probes of a wave go out at once and one epoll loop matches the
//! replies, so the matrix costs about a round trip per wave plus one
//! timeout for the pairs that fail. Waves are sized to the room left in the
//! kernel's neighbour table, and the entries a wave made in the nodes'
//! namespaces are deleted before the next (and at the end), so the table
//! never nears its machine-wide limit and is left as it was found.

use std::collections::{HashMap, HashSet, VecDeque};
use std::net::IpAddr;
use std::time::{Duration, Instant};

use netlink_packet_route::RouteNetlinkMessage;
use netlink_packet_route::neighbour_table::{NeighbourTableAttribute, NeighbourTableMessage};

use super::ProbeError;
use super::icmp::{self, IcmpSocket, why_not_sent};
use super::neigh::{self, Entry};
use super::outcome::secs;
use super::outcome::{MatrixReport, PairResult};
use super::sock::Poller;
use super::stats::{self, RttSummary};
use super::target::node_addrs;
use super::waves::{self, Item, NeighKey, Room};
use super::wire::Received;
use super::world::World;
use crate::kernel::{KernelError, netns};
use crate::model::lab::HOST;

#[derive(Clone, Debug)]
pub struct MatrixOptions {
    pub timeout: Duration,
    /// Use at most this many neighbour entries at once (below the kernel's room).
    pub max_neigh: Option<usize>,
    /// Echo requests per pair and address (`--count`): more than one gives
    /// each pair's loss. The rounds of a wave go out one after the other,
    /// each once the previous has been answered.
    pub count: u32,
}

struct Probe {
    src: usize,
    dst: usize,
    addr: IpAddr,
    /// Which of the `count` requests to this address it is.
    round: u32,
    /// Index of the socket it goes out on.
    sock: usize,
    /// The send batch it went out in.
    batch: usize,
    state: State,
}

enum State {
    Waiting,
    Sent {
        at_ns: u64,
    },
    Done(Result<f64, String>),
    /// The kernel refused to send it (no route, …): why.
    Refused(String),
}

struct Run<'w> {
    world: &'w mut World,
    nodes: Vec<String>,
    probes: Vec<Probe>,
    sockets: Vec<IcmpSocket>,
    next_seq: Vec<u16>,
    /// (socket, seq) → probe.
    by_seq: HashMap<(usize, u16), usize>,
    /// ICMP identifier per socket (distinct, should two nodes share a namespace).
    ids: Vec<u16>,
    poller: Poller,
    in_flight: usize,
    /// Probes in flight per send batch.
    batches: Vec<usize>,
    /// Probes sent, in order (deadlines grow with the order).
    deadlines: VecDeque<(Instant, usize)>,
    max_rtt_ns: u64,
    timeout: Duration,
    buf: Vec<u8>,
    /// Neighbour entries present in each node's namespace before the run.
    baseline: Vec<HashSet<(u32, IpAddr)>>,
}

/// Ping every address of every other node from every node in `nodes`.
pub fn run(
    world: &mut World,
    nodes: &[String],
    opts: &MatrixOptions,
) -> Result<MatrixReport, ProbeError> {
    let start = Instant::now();
    let mut report = MatrixReport {
        nodes: nodes.to_vec(),
        count: opts.count.max(1),
        ..Default::default()
    };
    let addrs: Vec<Vec<IpAddr>> = nodes
        .iter()
        .map(|n| world.get(n).map(node_addrs).unwrap_or_default())
        .collect();
    report.no_address = nodes
        .iter()
        .zip(&addrs)
        .filter(|(_, a)| a.is_empty())
        .map(|(n, _)| n.clone())
        .collect();

    // One socket per node and family in use, opened inside the node.
    let (probes, jobs) = plan_probes(&addrs, opts.count.max(1));
    let (sockets, poller) = open_sockets(world, nodes, &jobs)?;

    // What each wave unit costs in neighbour entries, from the routes.
    let items = items(world, nodes, &probes, &addrs);

    let base = icmp::run_id();
    let ids: Vec<u16> = (0..sockets.len())
        .map(|i| base.wrapping_add(i as u16))
        .collect();
    let mut run = Run {
        world,
        nodes: nodes.to_vec(),
        next_seq: vec![0; sockets.len()],
        sockets,
        probes,
        by_seq: HashMap::new(),
        ids,
        poller,
        in_flight: 0,
        batches: Vec::new(),
        deadlines: VecDeque::new(),
        max_rtt_ns: 0,
        timeout: opts.timeout,
        buf: vec![0u8; 65_536],
        baseline: Vec::new(),
    };
    let present = run.note_baseline()?;
    let fulls_before = run.table_fulls();
    run.waves(&items, &present, opts, &mut report)?;
    run.settle(&[], true)?;
    run.release(false, &mut report)?;
    report.table_fulls = run.table_fulls().saturating_sub(fulls_before);
    report.pairs = run.results();
    report.elapsed_ms = start.elapsed().as_secs_f64() * 1e3;
    Ok(report)
}

/// One result per pair and address: the rounds sent to it summed up.
/// Reachable when any reply came; the error is said only when none did.
fn pair_results(probes: &[Probe], nodes: &[String], timeout: Duration) -> Vec<PairResult> {
    let mut out: Vec<PairResult> = Vec::new();
    let mut rtts: Vec<Vec<f64>> = Vec::new();
    let mut at: HashMap<(usize, usize, IpAddr), usize> = HashMap::new();
    for p in probes {
        let i = *at.entry((p.src, p.dst, p.addr)).or_insert_with(|| {
            out.push(PairResult {
                from: nodes[p.src].clone(),
                to: nodes[p.dst].clone(),
                address: p.addr,
                reachable: false,
                rtt_ms: None,
                error: None,
                sent: 0,
                received: 0,
                loss: 100.0,
            });
            rtts.push(Vec::new());
            out.len() - 1
        });
        let r = &mut out[i];
        match &p.state {
            State::Done(Ok(rtt)) => {
                r.sent += 1;
                r.received += 1;
                rtts[i].push(*rtt);
            }
            State::Done(Err(e)) => {
                r.sent += 1;
                r.error.get_or_insert_with(|| e.clone());
            }
            // Never sent: it counts as neither sent nor lost.
            State::Refused(e) => {
                r.error.get_or_insert_with(|| e.clone());
            }
            State::Sent { .. } | State::Waiting => {
                r.sent += u32::from(matches!(p.state, State::Sent { .. }));
                r.error
                    .get_or_insert_with(|| format!("no reply within {}", secs(timeout)));
            }
        }
    }
    for (r, rtts) in out.iter_mut().zip(&rtts) {
        r.reachable = r.received > 0;
        r.loss = stats::loss_percent(u64::from(r.sent), u64::from(r.received));
        r.rtt_ms = RttSummary::of(rtts).map(|s| s.avg);
        if r.reachable {
            r.error = None;
        }
    }
    out
}

/// `count` probes per (node, address of another node), and the sockets they go
/// out on: one per node and family, as (node, IPv6).
fn plan_probes(addrs: &[Vec<IpAddr>], count: u32) -> (Vec<Probe>, Vec<(usize, bool)>) {
    let mut sock_of: HashMap<(usize, bool), usize> = HashMap::new();
    let mut jobs: Vec<(usize, bool)> = Vec::new();
    let mut probes = Vec::new();
    for s in 0..addrs.len() {
        for (d, list) in addrs.iter().enumerate() {
            if s == d {
                continue;
            }
            for &a in list {
                let key = (s, a.is_ipv6());
                let sock = *sock_of.entry(key).or_insert_with(|| {
                    jobs.push(key);
                    jobs.len() - 1
                });
                for round in 0..count {
                    probes.push(Probe {
                        src: s,
                        dst: d,
                        addr: a,
                        round,
                        sock,
                        batch: 0,
                        state: State::Waiting,
                    });
                }
            }
        }
    }
    (probes, jobs)
}

/// The raw ICMP sockets, each opened inside its node, and one poller over
/// them (key: the socket's index).
fn open_sockets(
    world: &World,
    nodes: &[String],
    jobs: &[(usize, bool)],
) -> Result<(Vec<IcmpSocket>, Poller), ProbeError> {
    let opened = netns::parallel(jobs, |(s, v6)| match world.fd(&nodes[*s]) {
        Some(fd) => IcmpSocket::open_in(fd, *v6),
        None => Err(KernelError::from_errno(libc::ENOENT)),
    });
    let mut sockets = Vec::with_capacity(opened.len());
    for (r, (s, _)) in opened.into_iter().zip(jobs) {
        sockets.push(r.map_err(|e| {
            ProbeError::kernel(format!("open a raw ICMP socket in {}", nodes[*s]), e)
        })?);
    }
    let poller = Poller::new().map_err(|e| ProbeError::kernel("epoll", e))?;
    for (i, s) in sockets.iter().enumerate() {
        poller
            .add(s.as_fd(), i as u64)
            .map_err(|e| ProbeError::kernel("epoll", e))?;
    }
    Ok((sockets, poller))
}

/// Group probes by unordered node pair; each group's neighbour entries come
/// from the paths both ways (or, when a path cannot be worked out, the two
/// ends' entries for each other).
fn items(world: &World, nodes: &[String], probes: &[Probe], addrs: &[Vec<IpAddr>]) -> Vec<Item> {
    let topo = world.topology();
    let mut index: HashMap<(usize, usize), usize> = HashMap::new();
    let mut items: Vec<Item> = Vec::new();
    for (i, p) in probes.iter().enumerate() {
        let key = (p.src.min(p.dst), p.src.max(p.dst));
        let at = *index.entry(key).or_insert_with(|| {
            items.push(Item::default());
            items.len() - 1
        });
        if p.round > 0 {
            // Later rounds cross the same path: their entries are counted.
            items[at].probes.push(i);
            continue;
        }
        let path = topo.path(&nodes[p.src], p.addr);
        let mut keys = path.neigh_keys();
        if keys.is_empty() && !matches!(path.end, super::path::End::NoRoute { .. }) {
            let own = addrs[p.src]
                .iter()
                .copied()
                .find(|a| a.is_ipv4() == p.addr.is_ipv4());
            keys = waves::default_keys(&nodes[p.src], own, &nodes[p.dst], p.addr);
        }
        let item = &mut items[at];
        item.probes.push(i);
        for k in keys {
            if !item.keys.contains(&k) {
                item.keys.push(k);
            }
        }
    }
    items
}

impl Run<'_> {
    /// Remember the neighbour entries the nodes' namespaces hold before the
    /// run (they are left alone); returns them as (node, address).
    fn note_baseline(&mut self) -> Result<HashSet<NeighKey>, ProbeError> {
        let before = self.dump_neighbours()?;
        self.baseline = before
            .iter()
            .map(|es| es.iter().map(|e| (e.ifindex, e.ip)).collect())
            .collect();
        Ok(before
            .iter()
            .enumerate()
            .flat_map(|(i, es)| es.iter().map(move |e| (i, e.ip)))
            .map(|(i, ip)| (self.nodes[i].clone(), ip))
            .collect())
    }

    /// Probe wave after wave, each sized to the room in the neighbour
    /// table, releasing the entries a wave made before the next.
    fn waves(
        &mut self,
        items: &[Item],
        present: &HashSet<NeighKey>,
        opts: &MatrixOptions,
        report: &mut MatrixReport,
    ) -> Result<(), ProbeError> {
        let mut queue: VecDeque<usize> = (0..items.len()).collect();
        let mut ours = 0usize;
        while !queue.is_empty() {
            let (t4, t6) = self.tables()?;
            report.neigh_limit = t4.limit;
            let room = Room {
                v4: waves::room(t4, opts.max_neigh, ours),
                v6: waves::room(t6, opts.max_neigh, ours),
            };
            let wave = waves::next_wave(&mut queue, items, room, present);
            if wave.is_empty() {
                if self.in_flight > 0 {
                    // Stragglers hold entries: wait for them, release, retry.
                    self.settle(&[], true)?;
                    ours = self.release(false, report)?;
                    continue;
                }
                return Err(no_room(t4, opts.max_neigh));
            }
            report.waves += 1;
            self.wave(&wave, items, opts.count)?;
            if !queue.is_empty() {
                ours = self.release(true, report)?;
            }
        }
        Ok(())
    }

    /// Send one wave's first round in two phases (see `waves::phases`), each
    /// settled; then each later round (`--count`) once the previous is answered.
    fn wave(&mut self, wave: &[usize], items: &[Item], count: u32) -> Result<(), ProbeError> {
        let pairs: Vec<(usize, usize)> = self.probes.iter().map(|p| (p.src, p.dst)).collect();
        let wave_probes: Vec<usize> = wave
            .iter()
            .flat_map(|&i| items[i].probes.iter().copied())
            .collect();
        let (once, again): (Vec<usize>, Vec<usize>) = wave_probes
            .iter()
            .partition(|&&p| self.probes[p].round == 0);
        let (first, second) = waves::phases(&pairs, &once);
        let b1 = self.send(&first);
        self.settle(&[b1], false)?;
        let b2 = self.send(&second);
        self.settle(&[b1, b2], false)?;
        for round in 1..count {
            let these: Vec<usize> = again
                .iter()
                .copied()
                .filter(|&p| self.probes[p].round == round)
                .collect();
            let b = self.send(&these);
            self.settle(&[b], false)?;
        }
        Ok(())
    }

    /// One result per pair and address: the rounds sent to it summed up.
    fn results(&self) -> Vec<PairResult> {
        pair_results(&self.probes, &self.nodes, self.timeout)
    }

    /// Send the probes `which` as a new batch; returns the batch.
    fn send(&mut self, which: &[usize]) -> usize {
        let batch = self.batches.len();
        self.batches.push(0);
        for &i in which {
            let p = &self.probes[i];
            let s = p.sock;
            let seq = self.next_seq[s];
            self.next_seq[s] = seq.wrapping_add(1);
            let r = self.sockets[s].send_echo(p.addr, self.ids[s], seq, 56);
            let p = &mut self.probes[i];
            p.batch = batch;
            match r {
                Ok(at_ns) => {
                    let deadline = Instant::now() + self.timeout;
                    p.state = State::Sent { at_ns };
                    self.by_seq.insert((s, seq), i);
                    self.deadlines.push_back((deadline, i));
                    self.in_flight += 1;
                    self.batches[batch] += 1;
                }
                Err(e) => {
                    p.state = State::Refused(format!(
                        "{} cannot send: {}",
                        self.nodes[p.src],
                        why_not_sent(&e)
                    ))
                }
            }
        }
        batch
    }

    /// A probe in flight is done.
    fn finish(&mut self, i: usize, result: Result<f64, String>) {
        let p = &mut self.probes[i];
        if matches!(p.state, State::Sent { .. }) {
            self.in_flight -= 1;
            self.batches[p.batch] -= 1;
        }
        p.state = State::Done(result);
    }

    /// Wait until the probes of `batches` are answered or lost; with
    /// `all`, until nothing is in flight. Without `all`, stop early when
    /// nothing has come back for a while (a few round trips): the
    /// stragglers stay in flight, with their own deadlines, while the next
    /// wave goes out.
    fn settle(&mut self, batches: &[usize], all: bool) -> Result<(), ProbeError> {
        let mut last = Instant::now();
        let mut ready = Vec::new();
        loop {
            self.expire();
            let left = if all {
                self.in_flight
            } else {
                batches.iter().map(|&b| self.batches[b]).sum()
            };
            if left == 0 {
                return Ok(());
            }
            let now = Instant::now();
            let idle =
                Duration::from_nanos((self.max_rtt_ns * 4).max(20_000_000)).min(self.timeout);
            if !all && now.duration_since(last) >= idle {
                return Ok(());
            }
            let mut wake = self.deadlines.front().map_or(now, |d| d.0);
            if !all {
                wake = wake.min(last + idle);
            }
            self.poller
                .wait(wake.saturating_duration_since(now), &mut ready)
                .map_err(|e| ProbeError::kernel("wait for replies", e))?;
            let tokens = std::mem::take(&mut ready);
            for &t in &tokens {
                if self.drain(t as usize)? > 0 {
                    last = Instant::now();
                }
            }
            ready = tokens;
        }
    }

    /// Read everything queued on one socket; returns probes completed.
    fn drain(&mut self, s: usize) -> Result<usize, ProbeError> {
        let mut done = 0;
        loop {
            let got = self.sockets[s]
                .recv(&mut self.buf)
                .map_err(|e| ProbeError::kernel("receive replies", e))?;
            let Some((r, ts)) = got else { break };
            let (id, seq, result) = match r {
                Received::Reply { id, seq, from, .. } => (id, seq, Ok(from)),
                Received::Error { id, seq, error, .. } => (id, seq, Err(error)),
            };
            if id != self.ids[s] {
                continue;
            }
            let Some(&i) = self.by_seq.get(&(s, seq)) else {
                continue;
            };
            let State::Sent { at_ns, .. } = self.probes[i].state else {
                continue;
            };
            let result = match result {
                Ok(_) => {
                    let rtt = ts.saturating_sub(at_ns);
                    self.max_rtt_ns = self.max_rtt_ns.max(rtt);
                    Ok(rtt as f64 / 1e6)
                }
                Err(e) => Err(format!("{} from {}", e.what, e.from)),
            };
            self.finish(i, result);
            self.by_seq.remove(&(s, seq));
            done += 1;
        }
        Ok(done)
    }

    /// Probes past their deadline are lost.
    fn expire(&mut self) {
        let now = Instant::now();
        while let Some(&(deadline, i)) = self.deadlines.front() {
            if !matches!(self.probes[i].state, State::Sent { .. }) {
                self.deadlines.pop_front();
                continue;
            }
            if now < deadline {
                break;
            }
            self.deadlines.pop_front();
            let why = format!("no reply within {}", secs(self.timeout));
            self.finish(i, Err(why));
        }
    }

    /// Every node's neighbour entries; the dumps go out on every socket
    /// before any is read. The host's are not read: the run releases
    /// entries only in the lab's own namespaces.
    fn dump_neighbours(&mut self) -> Result<Vec<Vec<Entry>>, ProbeError> {
        let nodes = self.nodes.clone();
        let mut seqs = Vec::with_capacity(nodes.len());
        for n in &nodes {
            if n == HOST {
                seqs.push(None);
                continue;
            }
            let sock = self.world.sock(n).ok_or_else(|| missing(n))?;
            seqs.push(Some(sock.start_dump(neigh::dump_request()).map_err(
                |e| ProbeError::kernel(format!("read {n}'s neighbours"), e.into()),
            )?));
        }
        let mut out = Vec::with_capacity(nodes.len());
        for (n, seq) in nodes.iter().zip(seqs) {
            let Some(seq) = seq else {
                out.push(Vec::new());
                continue;
            };
            let sock = self.world.sock(n).ok_or_else(|| missing(n))?;
            let msgs = sock
                .read_dump(seq)
                .map_err(|e| ProbeError::kernel(format!("read {n}'s neighbours"), e))?;
            out.push(neigh::entries(msgs));
        }
        Ok(out)
    }

    /// Delete the entries made since the run began in the nodes'
    /// namespaces (keeping those still resolving when `keep_incomplete`);
    /// returns how many of ours remain.
    fn release(
        &mut self,
        keep_incomplete: bool,
        report: &mut MatrixReport,
    ) -> Result<usize, ProbeError> {
        let now = self.dump_neighbours()?;
        let made: Vec<Vec<Entry>> = now
            .iter()
            .zip(&self.baseline)
            .map(|(es, base)| neigh::made_since(es, base, false))
            .collect();
        report.neigh_peak = report
            .neigh_peak
            .max(made.iter().map(Vec::len).sum::<usize>());
        let nodes = self.nodes.clone();
        let mut kept = 0;
        for (n, es) in nodes.iter().zip(&made) {
            let gone: Vec<Entry> = es
                .iter()
                .filter(|e| !(keep_incomplete && e.state & neigh::NUD_INCOMPLETE != 0))
                .cloned()
                .collect();
            kept += es.len() - gone.len();
            let sock = self.world.sock(n).ok_or_else(|| missing(n))?;
            neigh::queue_delete(sock, &gone);
            sock.flush()
                .map_err(|e| ProbeError::kernel(format!("release {n}'s neighbours"), e.into()))?;
        }
        for n in &nodes {
            let sock = self.world.sock(n).ok_or_else(|| missing(n))?;
            neigh::collect(sock)
                .map_err(|e| ProbeError::kernel(format!("release {n}'s neighbours"), e))?;
        }
        Ok(kept)
    }

    fn tables(&mut self) -> Result<(waves::Table, waves::Table), ProbeError> {
        neigh::tables(&mut self.world.session.host.sock)
            .map_err(|e| ProbeError::kernel("read the neighbour tables", e))
    }

    /// The kernel's count of neighbour-table overflows (IPv4 and IPv6).
    fn table_fulls(&mut self) -> u64 {
        let msgs = self
            .world
            .session
            .host
            .sock
            .dump(RouteNetlinkMessage::GetNeighbourTable(
                NeighbourTableMessage::default(),
            ))
            .unwrap_or_default();
        msgs.iter()
            .filter_map(|m| match m {
                RouteNetlinkMessage::NewNeighbourTable(t) => {
                    t.attributes.iter().find_map(|a| match a {
                        NeighbourTableAttribute::Stats(s) => Some(s.table_fulls),
                        _ => None,
                    })
                }
                _ => None,
            })
            .sum()
    }
}

/// Not even one pair fits in the neighbour table.
fn no_room(t4: waves::Table, max_neigh: Option<usize>) -> ProbeError {
    ProbeError::Failed(format!(
        "the kernel's neighbour table has no room left for even one pair ({} of {} entries in use, {} kept free for the rest of the machine{}); probing now would make address resolution fail machine-wide",
        t4.entries,
        t4.limit,
        waves::margin(t4.limit),
        max_neigh
            .map(|c| format!(", --max-neigh {c}"))
            .unwrap_or_default()
    ))
}

fn missing(n: &str) -> ProbeError {
    ProbeError::Failed(format!("namespace {n} went away during the run"))
}
