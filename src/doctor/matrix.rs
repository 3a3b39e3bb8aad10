//! `vnet ping --all --tcp PORT` (`--udp PORT`): the reachability matrix of
//! a service. Every node probes the service on every other node (one real
//! connection or datagram from inside its namespace); each pair that fails
//! is handed to the doctor, whose verdict gives its disposition code.

use std::net::IpAddr;
use std::time::Duration;

use serde::Serialize;

use super::code::Code;
use super::run::{self, Options};
use crate::probe::ProbeError;
use crate::probe::service::{self, Service, ServiceSeen};
use crate::probe::target::{self, Family};
use crate::probe::world::World;

#[derive(Clone, Debug, Serialize)]
pub struct Pair {
    pub from: String,
    pub to: String,
    /// The address probed (None: `to` has no address `from` can use).
    pub addr: Option<IpAddr>,
    pub code: Code,
    /// What the probe saw, in words.
    pub seen: String,
    /// The doctor's first cause for a failed pair, with its rule id.
    pub cause: Option<String>,
    pub rule: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct ServiceMatrix {
    pub schema_version: u32,
    pub service: Service,
    pub nodes: Vec<String>,
    pub pairs: Vec<Pair>,
}

impl ServiceMatrix {
    pub fn delivered(&self) -> usize {
        self.pairs
            .iter()
            .filter(|p| p.code == Code::Delivered)
            .count()
    }
}

/// Probe `service` from every node to every other node of `nodes`.
pub fn run(
    nodes: &[String],
    service: Service,
    family: Option<Family>,
    timeout: Duration,
    cancelled: fn() -> bool,
) -> Result<ServiceMatrix, ProbeError> {
    let world = World::read(Some(nodes))?;
    let mut pairs = Vec::new();
    for from in nodes {
        for to in nodes {
            if from == to {
                continue;
            }
            if cancelled() {
                return Err(ProbeError::Failed("interrupted".into()));
            }
            let (Some(s), Some(d)) = (world.get(from), world.get(to)) else {
                continue;
            };
            let addr = target::pick_addr(s, d, family);
            let seen: Option<ServiceSeen> = match (addr, world.fd(from)) {
                (Some(ip), Some(fd)) => Some(service::probe(fd, ip, service, timeout)?),
                _ => None,
            };
            if let Some(s) = seen.as_ref().filter(|s| s.ok()) {
                pairs.push(Pair {
                    from: from.clone(),
                    to: to.clone(),
                    addr,
                    code: Code::Delivered,
                    seen: s.text(),
                    cause: None,
                    rule: None,
                });
                continue;
            }
            // A failed pair: the doctor says why.
            let target = format!("{to}:{service}");
            let opts = Options {
                family,
                size: None,
                timeout,
                cancelled,
                intended: Vec::new(),
            };
            let v = run::run(from, &target, &opts)?;
            let first = v.causes.first();
            pairs.push(Pair {
                from: from.clone(),
                to: to.clone(),
                addr,
                code: v.code,
                seen: v
                    .probe
                    .service
                    .as_ref()
                    .or(seen.as_ref())
                    .map_or_else(|| format!("{to} has no address to probe"), |s| s.text()),
                cause: first.map(|c| c.cause.clone()),
                rule: first.map(|c| c.id.to_string()),
            });
        }
    }
    Ok(ServiceMatrix {
        schema_version: super::verdict::SCHEMA_VERSION,
        service,
        nodes: nodes.to_vec(),
        pairs,
    })
}

/// The matrix as text: one line per pair, then the count.
pub fn render(m: &ServiceMatrix) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let w = m
        .pairs
        .iter()
        .map(|p| p.from.chars().count() + p.to.chars().count() + 3)
        .max()
        .unwrap_or(0);
    let cw = m
        .pairs
        .iter()
        .map(|p| p.code.as_str().len())
        .max()
        .unwrap_or(0);
    for p in &m.pairs {
        let pair = format!("{} → {}", p.from, p.to);
        let pad = w.saturating_sub(pair.chars().count());
        let why = match (&p.cause, &p.rule) {
            (Some(c), Some(r)) => format!("{c} [{r}]"),
            _ => p.seen.clone(),
        };
        let _ = writeln!(
            out,
            "{pair}{}  {:cw$}  {why}",
            " ".repeat(pad),
            p.code.as_str()
        );
    }
    let _ = writeln!(
        out,
        "{}: {}/{} pairs delivered",
        m.service,
        m.delivered(),
        m.pairs.len()
    );
    out
}
