//! Results of the all-pairs matrix and the expectations they are held to
//! (pure).

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::model::lab::Expectation;

/// One probe of the matrix: a node pinging one address of another.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PairResult {
    pub from: String,
    pub to: String,
    pub address: IpAddr,
    /// At least one reply came.
    pub reachable: bool,
    /// The average round trip of the replies.
    pub rtt_ms: Option<f64>,
    /// Why not, when no reply came: "no reply within 1 s", "network unreachable from 10.0.0.1", …
    pub error: Option<String>,
    /// Echo requests sent (`--count`; those the kernel refused are not
    /// counted) and replies received.
    pub sent: u32,
    pub received: u32,
    /// Packet loss in percent.
    pub loss: f64,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct MatrixReport {
    pub nodes: Vec<String>,
    pub pairs: Vec<PairResult>,
    /// Echo requests per pair and address (`--count`).
    pub count: u32,
    /// Waves the probes went out in (1: all at once).
    pub waves: usize,
    pub elapsed_ms: f64,
    /// Nodes without an address to ping (not destinations).
    pub no_address: Vec<String>,
    /// The kernel's IPv4 neighbour table limit (gc_thresh3) and the most
    /// entries the run had made at once in the nodes' namespaces.
    pub neigh_limit: usize,
    pub neigh_peak: usize,
    /// Times the kernel reported the neighbour table full during the run
    /// (machine-wide; 0 unless something overflowed it).
    pub table_fulls: u64,
}

/// One cell of the matrix: how a node reached another.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Cell {
    /// The node itself.
    Same,
    /// Every address answered.
    All,
    /// Some addresses answered, not all.
    Some,
    None,
    /// The destination has no address.
    NoAddress,
}

impl Cell {
    pub fn mark(self) -> &'static str {
        match self {
            Cell::Same => "-",
            Cell::All => "✓",
            Cell::Some => "~",
            Cell::None => "✗",
            Cell::NoAddress => "·",
        }
    }
}

impl MatrixReport {
    /// (from, to) → (requests sent, replies received), over every address.
    pub fn sent_received(&self) -> HashMap<(&str, &str), (u64, u64)> {
        let mut m: HashMap<(&str, &str), (u64, u64)> = HashMap::new();
        for p in &self.pairs {
            let e = m.entry((p.from.as_str(), p.to.as_str())).or_default();
            e.0 += u64::from(p.sent);
            e.1 += u64::from(p.received);
        }
        m
    }

    /// (from, to) → (answered, probed).
    pub fn counts(&self) -> HashMap<(&str, &str), (usize, usize)> {
        let mut m: HashMap<(&str, &str), (usize, usize)> = HashMap::new();
        for p in &self.pairs {
            let e = m.entry((p.from.as_str(), p.to.as_str())).or_default();
            e.1 += 1;
            if p.reachable {
                e.0 += 1;
            }
        }
        m
    }

    pub fn cell(counts: &HashMap<(&str, &str), (usize, usize)>, from: &str, to: &str) -> Cell {
        if from == to {
            return Cell::Same;
        }
        match counts.get(&(from, to)) {
            None => Cell::NoAddress,
            Some((ok, n)) if ok == n => Cell::All,
            Some((0, _)) => Cell::None,
            Some(_) => Cell::Some,
        }
    }

    /// (node pairs with every address answering, node pairs probed).
    pub fn reachable_pairs(&self) -> (usize, usize) {
        let c = self.counts();
        let ok = c.values().filter(|(a, n)| a == n).count();
        (ok, c.len())
    }

    /// Every probe answered.
    pub fn all_answered(&self) -> bool {
        self.pairs.iter().all(|p| p.reachable)
    }
}

/// An expectation and whether it held.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Checked {
    pub from: String,
    pub to: String,
    pub reach: bool,
    pub held: bool,
    pub observed: Cell,
}

/// `reach: true` holds when every address of `to` answered `from`;
/// `reach: false` when none did.
pub fn check(expect: &[Expectation], m: &MatrixReport) -> Vec<Checked> {
    let counts = m.counts();
    expect
        .iter()
        .map(|e| {
            let observed = MatrixReport::cell(&counts, &e.from, &e.to);
            let held = matches!(
                (e.reach, observed),
                (true, Cell::All | Cell::Same) | (false, Cell::None | Cell::NoAddress)
            );
            Checked {
                from: e.from.clone(),
                to: e.to.clone(),
                reach: e.reach,
                held,
                observed,
            }
        })
        .collect()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawExpect {
    from: String,
    to: String,
    #[serde(default = "yes")]
    reach: bool,
}

fn yes() -> bool {
    true
}

#[derive(Deserialize)]
struct ExpectFile {
    expect: Vec<RawExpect>,
}

/// An expectations file: a YAML list of `{ from, to, reach }`, or a mapping
/// with such a list under `expect:` (a lab file's section works as is).
pub fn parse_expect(text: &str) -> Result<Vec<Expectation>, super::ProbeError> {
    let list: Vec<RawExpect> = match serde_saphyr::from_str::<ExpectFile>(text) {
        Ok(f) => f.expect,
        Err(e1) => match serde_saphyr::from_str::<Vec<RawExpect>>(text) {
            Ok(l) => l,
            Err(_) => return Err(super::ProbeError::ExpectFile(e1)),
        },
    };
    Ok(list
        .into_iter()
        .map(|r| Expectation {
            from: r.from,
            to: r.to,
            reach: r.reach,
        })
        .collect())
}

/// A duration as people write it: `1 s`, `0.2 s`.
pub fn secs(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s.fract() == 0.0 {
        format!("{s:.0} s")
    } else {
        format!("{s} s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair(from: &str, to: &str, addr: &str, ok: bool) -> PairResult {
        PairResult {
            from: from.into(),
            to: to.into(),
            address: addr.parse().unwrap(),
            reachable: ok,
            rtt_ms: ok.then_some(0.1),
            error: (!ok).then(|| "no reply".into()),
            sent: 1,
            received: u32::from(ok),
            loss: if ok { 0.0 } else { 100.0 },
        }
    }

    #[test]
    fn cells_and_expectations() {
        let m = MatrixReport {
            nodes: vec!["a".into(), "b".into(), "c".into()],
            pairs: vec![
                pair("a", "b", "10.0.0.2", true),
                pair("a", "b", "2001:db8::2", false),
                pair("b", "a", "10.0.0.1", true),
                pair("a", "c", "10.0.0.3", false),
                pair("c", "a", "10.0.0.1", true),
            ],
            ..Default::default()
        };
        let c = m.counts();
        assert_eq!(MatrixReport::cell(&c, "a", "b"), Cell::Some);
        assert_eq!(MatrixReport::cell(&c, "b", "a"), Cell::All);
        assert_eq!(MatrixReport::cell(&c, "a", "c"), Cell::None);
        assert_eq!(MatrixReport::cell(&c, "b", "c"), Cell::NoAddress);
        assert_eq!(MatrixReport::cell(&c, "a", "a"), Cell::Same);
        assert_eq!(m.reachable_pairs(), (2, 4));
        assert!(!m.all_answered());
        let e = |f: &str, t: &str, r: bool| Expectation {
            from: f.into(),
            to: t.into(),
            reach: r,
        };
        let got = check(
            &[
                e("b", "a", true),
                e("a", "c", false),
                e("a", "b", true),
                e("a", "b", false),
            ],
            &m,
        );
        assert_eq!(
            got.iter().map(|c| c.held).collect::<Vec<_>>(),
            [true, true, false, false],
            "partly reachable is neither reachable nor unreachable"
        );
    }

    #[test]
    fn expectation_files_are_lists_or_an_expect_section() {
        let a = parse_expect("- { from: ns1, to: ns2 }\n- { from: ns2, to: ns1, reach: false }\n")
            .unwrap();
        assert_eq!(a.len(), 2);
        assert!(a[0].reach && !a[1].reach);
        let b = parse_expect("expect:\n  - { from: ns1, to: ns2, reach: true }\n").unwrap();
        assert_eq!(b[0].to, "ns2");
        assert!(parse_expect("expect: 3").is_err());
        assert!(parse_expect("- { from: a, to: b, rech: true }").is_err());
    }
}

/// `ping --all --json` (and `vnet serve`'s POST /api/matrix): the report,
/// its counts and the expectations checked.
#[derive(Serialize)]
pub struct MatrixJson<'a> {
    #[serde(flatten)]
    pub report: &'a MatrixReport,
    pub reachable_pairs: usize,
    pub node_pairs: usize,
    pub expectations: &'a [Checked],
    /// Whether the run passed: expectations held (when there are any),
    /// else every pair answered.
    pub ok: bool,
}

impl<'a> MatrixJson<'a> {
    pub fn new(m: &'a MatrixReport, checked: &'a [Checked], ok: bool) -> MatrixJson<'a> {
        let (reachable_pairs, node_pairs) = m.reachable_pairs();
        MatrixJson {
            report: m,
            reachable_pairs,
            node_pairs,
            expectations: checked,
            ok,
        }
    }
}
