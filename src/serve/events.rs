//! From the kernel's events to the pages: one watcher (`kernel::monitor`)
//! for all clients, one read of the kernel per burst of events, and what
//! changed sent to every page over one broadcast channel (server-sent
//! events). Counters are read only while a page is connected.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use serde_json::json;
use tokio::sync::{broadcast, mpsc};

use super::state::{self, Snapshot, Target};
use crate::kernel::monitor::{Counter, Event, Monitor};

/// Events sent to the pages, as JSON text.
pub type Message = Arc<str>;

/// A burst of kernel events is read once, this long after its first event.
const SETTLE: Duration = Duration::from_millis(80);

pub struct Hub {
    pub tx: broadcast::Sender<Message>,
    clients: AtomicUsize,
    monitor: Mutex<Option<Monitor>>,
    snapshot: RwLock<Arc<Snapshot>>,
    version: AtomicUsize,
    /// A page joined: the next counters go out whole.
    resend: std::sync::atomic::AtomicBool,
}

impl Hub {
    pub fn new(first: Snapshot) -> Arc<Hub> {
        let (tx, _) = broadcast::channel(256);
        Arc::new(Hub {
            tx,
            clients: AtomicUsize::new(0),
            monitor: Mutex::new(None),
            snapshot: RwLock::new(Arc::new(first)),
            version: AtomicUsize::new(1),
            resend: std::sync::atomic::AtomicBool::new(false),
        })
    }

    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.snapshot
            .read()
            .map(|s| s.clone())
            .unwrap_or_else(|p| p.into_inner().clone())
    }

    pub fn version(&self) -> usize {
        self.version.load(Ordering::SeqCst)
    }

    fn set_snapshot(&self, s: Snapshot) {
        match self.snapshot.write() {
            Ok(mut w) => *w = Arc::new(s),
            Err(p) => *p.into_inner() = Arc::new(s),
        }
    }

    fn send(&self, v: serde_json::Value) {
        let _ = self.tx.send(Arc::from(v.to_string()));
    }

    /// A page connected: its guard counts it until dropped.
    pub fn join(self: &Arc<Hub>) -> Client {
        self.resend.store(true, Ordering::SeqCst);
        if self.clients.fetch_add(1, Ordering::SeqCst) == 0 {
            self.counting(true);
        }
        Client { hub: self.clone() }
    }

    fn counting(&self, on: bool) {
        if let Ok(m) = self.monitor.lock()
            && let Some(m) = m.as_ref()
        {
            m.set_counting(on);
        }
    }

    /// Start watching the kernel; events are handled on the runtime of
    /// the caller.
    pub fn watch(
        self: &Arc<Hub>,
        target: Target,
        interval: Duration,
    ) -> Result<(), crate::kernel::KernelError> {
        let (etx, erx) = mpsc::unbounded_channel::<Event>();
        let m = Monitor::start(interval, move |e| {
            let _ = etx.send(e);
        })?;
        if self.clients.load(Ordering::SeqCst) > 0 {
            m.set_counting(true);
        }
        if let Ok(mut slot) = self.monitor.lock() {
            *slot = Some(m);
        }
        tokio::spawn(handle(self.clone(), target, erx));
        Ok(())
    }
}

/// Counts one connected page; the last one leaving stops the counters.
pub struct Client {
    hub: Arc<Hub>,
}

impl Drop for Client {
    fn drop(&mut self) {
        if self.hub.clients.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.hub.counting(false);
        }
    }
}

async fn handle(hub: Arc<Hub>, target: Target, mut rx: mpsc::UnboundedReceiver<Event>) {
    let mut rates = Rates::default();
    while let Some(e) = rx.recv().await {
        match e {
            Event::Changed(_) => {
                // Let the burst finish, then read the kernel once.
                tokio::time::sleep(SETTLE).await;
                let mut counters = None;
                while let Ok(more) = rx.try_recv() {
                    if let Event::Counters { at, ifaces } = more {
                        counters = Some((at, ifaces));
                    }
                }
                reread(&hub, &target).await;
                if let Some((at, ifaces)) = counters {
                    rates_event(&hub, &mut rates, at, &ifaces);
                }
            }
            Event::Counters { at, ifaces } => rates_event(&hub, &mut rates, at, &ifaces),
        }
    }
}

async fn reread(hub: &Arc<Hub>, target: &Target) {
    let t = target.clone();
    let read = tokio::task::spawn_blocking(move || state::read(&t)).await;
    let new = match read {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => {
            hub.send(json!({"type": "error", "error": e}));
            return;
        }
        Err(_) => return,
    };
    let old = hub.snapshot();
    let links = new.changed_links(&old);
    let redraw = !new.same_drawing(&old);
    let version = if redraw {
        hub.version.fetch_add(1, Ordering::SeqCst) + 1
    } else {
        hub.version()
    };
    let notes = new.graph.notes.clone();
    hub.set_snapshot(new);
    crate::kernel::monitor::trim();
    for (link, s) in links {
        hub.send(json!({"type": "link", "link": link, "state": s}));
    }
    if redraw {
        hub.send(json!({"type": "topology", "version": version, "notes": notes}));
    }
}

/// Packets per second and drops, per drawn interface, from two readings;
/// what was last sent, so only what changed is sent again.
#[derive(Default)]
struct Rates {
    last: Option<(Instant, BTreeMap<String, crate::model::live::LinkStats>)>,
    sent: BTreeMap<String, serde_json::Value>,
}

fn rates_event(hub: &Hub, rates: &mut Rates, at: Instant, ifaces: &[Counter]) {
    let snap = hub.snapshot();
    if hub.resend.swap(false, Ordering::SeqCst) {
        rates.sent.clear();
    }
    let now: BTreeMap<String, crate::model::live::LinkStats> = ifaces
        .iter()
        .map(|c| (format!("{}:{}", c.ns, c.iface), c.stats))
        .collect();
    let mut out = serde_json::Map::new();
    if let Some((then, before)) = &rates.last {
        let secs = at.saturating_duration_since(*then).as_secs_f64().max(1e-3);
        for (k, s) in &now {
            let Some(place) = snap.places.get(k) else {
                continue;
            };
            let b = before.get(k).copied().unwrap_or(*s);
            let rate = |x: u64, y: u64| (x.saturating_sub(y) as f64 / secs * 10.0).round() / 10.0;
            let key = format!("{}:{}", place.node, place.iface);
            let v = json!({
                "rx_pps": rate(s.rx_packets, b.rx_packets),
                "tx_pps": rate(s.tx_packets, b.tx_packets),
                "rx_dropped": s.rx_dropped,
                "tx_dropped": s.tx_dropped,
                "rx_errors": s.rx_errors,
                "tx_errors": s.tx_errors,
            });
            if rates.sent.get(&key) != Some(&v) {
                rates.sent.insert(key.clone(), v.clone());
                out.insert(key, v);
            }
        }
    }
    rates.last = Some((at, now));
    crate::kernel::monitor::trim();
    if !out.is_empty() {
        hub.send(json!({"type": "counters", "ifaces": out}));
    }
}
