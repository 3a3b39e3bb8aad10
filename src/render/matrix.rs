//! The reachability matrix as text: ✓/✗ per pair, the failures, the
//! summary line, waves and expectations.

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use crate::probe::outcome::{self, Cell, Checked, MatrixReport, secs};
use crate::probe::stats;
use crate::render::table::table;

/// Nodes up to this many get a full table with their names as columns.
const WIDE: usize = 24;

/// (from, to) → (addresses answered, addresses probed).
type Counts<'a> = HashMap<(&'a str, &'a str), (usize, usize)>;

/// (from, to) → (requests sent, replies received), over every address.
type SentReceived<'a> = HashMap<(&'a str, &'a str), (u64, u64)>;

/// The loss between two nodes whose every address answered, when some
/// requests went unanswered (a node with an address that never answered
/// is `~`, its addresses listed below).
fn partial_loss(counts: &Counts, sr: &SentReceived, from: &str, to: &str) -> Option<f64> {
    if MatrixReport::cell(counts, from, to) != Cell::All {
        return None;
    }
    let (sent, received) = *sr.get(&(from, to))?;
    let loss = stats::loss_percent(sent, received);
    (loss > 0.0).then_some(loss)
}

/// A percentage in a sentence: `20`, `12.5`, `10.83`.
fn percent(p: f64) -> String {
    stats::g((p * 100.0).round() / 100.0)
}

/// A loss short enough for a cell: `20%`, `0.5%`, `99.5%`.
fn loss_cell(loss: f64) -> String {
    if !(1.0..=99.0).contains(&loss) {
        format!("{loss:.1}%")
    } else {
        format!("{loss:.0}%")
    }
}

pub fn render(m: &MatrixReport, checked: &[Checked], timeout: Duration) -> String {
    let counts = m.counts();
    let sr = m.sent_received();
    let (mut out, lossy) = grid(m, &counts, &sr);
    let marks: BTreeSet<Cell> = m
        .nodes
        .iter()
        .flat_map(|f| m.nodes.iter().map(|t| MatrixReport::cell(&counts, f, t)))
        .collect();
    let mut legend = vec!["✓ answered", "✗ no reply"];
    if marks.contains(&Cell::Some) {
        legend.push("~ some addresses answered");
    }
    if marks.contains(&Cell::NoAddress) {
        legend.push("· no address");
    }
    if lossy {
        legend.push(if m.nodes.len() <= WIDE {
            "N% answered, with that share of requests lost"
        } else {
            "% answered, some requests lost"
        });
    }
    out.push_str(&format!("{}\n", legend.join("  ")));
    failures(&mut out, m);
    if !m.no_address.is_empty() {
        out.push_str(&format!(
            "without an address (not pinged): {}\n",
            m.no_address.join(", ")
        ));
    }
    out.push_str(&summary(m, timeout));
    out.push('\n');
    if m.waves > 1 {
        out.push_str(&format!(
            "run in {} waves: the kernel's neighbour (ARP/NDP) table is shared by every namespace on this machine and holds at most {} entries; each wave used half of what was free and released its entries before the next (at most {} at once)\n",
            m.waves, m.neigh_limit, m.neigh_peak
        ));
    }
    if m.table_fulls > 0 {
        out.push_str(&format!(
            "warning: the kernel reported its neighbour table full {} time(s) during the run (something else on the machine is filling it)\n",
            m.table_fulls
        ));
    }
    if !checked.is_empty() {
        expectations(&mut out, checked);
    }
    out
}

/// The marks: a table with the nodes as columns, or for many nodes one
/// string of marks per row; and whether any cell shows a partial loss.
fn grid(m: &MatrixReport, counts: &Counts, sr: &SentReceived) -> (String, bool) {
    let mut lossy = false;
    let grid = if m.nodes.len() <= WIDE {
        let mut header: Vec<&str> = vec![""];
        header.extend(m.nodes.iter().map(String::as_str));
        let rows: Vec<Vec<String>> = m
            .nodes
            .iter()
            .map(|from| {
                let mut r = vec![from.clone()];
                r.extend(m.nodes.iter().map(|to| {
                    if let Some(loss) = partial_loss(counts, sr, from, to) {
                        lossy = true;
                        return loss_cell(loss);
                    }
                    MatrixReport::cell(counts, from, to).mark().to_string()
                }));
                r
            })
            .collect();
        table(&header, &rows)
    } else {
        // One character per destination, in the order of the rows.
        let rows: Vec<Vec<String>> = m
            .nodes
            .iter()
            .map(|from| {
                let line: String = m
                    .nodes
                    .iter()
                    .map(|to| {
                        if partial_loss(counts, sr, from, to).is_some() {
                            lossy = true;
                            return "%";
                        }
                        MatrixReport::cell(counts, from, to).mark()
                    })
                    .collect();
                vec![from.clone(), line]
            })
            .collect();
        table(&["FROM", "TO (one mark per node, in row order)"], &rows)
    };
    (grid, lossy)
}

/// The first 20 failed probes with why, and how many more.
fn failures(out: &mut String, m: &MatrixReport) {
    let failed: Vec<&outcome::PairResult> = m.pairs.iter().filter(|p| !p.reachable).collect();
    for p in failed.iter().take(20) {
        out.push_str(&format!(
            "✗ {} → {} {}: {}\n",
            p.from,
            p.to,
            p.address,
            p.error.as_deref().unwrap_or("no reply")
        ));
    }
    if failed.len() > 20 {
        out.push_str(&format!(
            "… and {} more failed probes (--json lists them all)\n",
            failed.len() - 20
        ));
    }
    let partly: Vec<&outcome::PairResult> = m
        .pairs
        .iter()
        .filter(|p| p.reachable && p.received < p.sent)
        .collect();
    for p in partly.iter().take(20) {
        out.push_str(&format!(
            "~ {} → {} {}: {} of {} requests lost ({}% packet loss)\n",
            p.from,
            p.to,
            p.address,
            p.sent - p.received,
            p.sent,
            percent(p.loss)
        ));
    }
    if partly.len() > 20 {
        out.push_str(&format!(
            "… and {} more addresses with loss (--json lists them all)\n",
            partly.len() - 20
        ));
    }
}

/// "N/M pairs reachable (A/P addresses answered) in T s (timeout W)".
fn summary(m: &MatrixReport, timeout: Duration) -> String {
    let (ok, n) = m.reachable_pairs();
    let probes = m.pairs.len();
    let answered = m.pairs.iter().filter(|p| p.reachable).count();
    let mut summary = format!("{ok}/{n} pairs reachable");
    if probes != n {
        summary.push_str(&format!(" ({answered}/{probes} addresses answered)"));
    }
    if m.count > 1 {
        let sent: u64 = m.pairs.iter().map(|p| u64::from(p.sent)).sum();
        let received: u64 = m.pairs.iter().map(|p| u64::from(p.received)).sum();
        summary.push_str(&format!(
            ", {} requests per address, {received}/{sent} answered ({}% packet loss)",
            m.count,
            percent(stats::loss_percent(sent, received))
        ));
    }
    summary.push_str(&format!(
        " in {:.2} s (timeout {})",
        m.elapsed_ms / 1e3,
        secs(timeout)
    ));
    summary
}

/// How many expectations held, and each that did not.
fn expectations(out: &mut String, checked: &[Checked]) {
    let held = checked.iter().filter(|c| c.held).count();
    out.push_str(&format!("expectations: {held}/{} held\n", checked.len()));
    for c in checked.iter().filter(|c| !c.held) {
        let want = if c.reach { "reachable" } else { "unreachable" };
        let got = match c.observed {
            Cell::All | Cell::Same => "every address answered",
            Cell::Some => "some addresses answered",
            Cell::None => "no reply",
            Cell::NoAddress => "it has no address",
        };
        out.push_str(&format!(
            "✗ {} → {}: expected {want}, but {got}\n",
            c.from, c.to
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_matrix_renders_marks_and_the_summary() {
        let pair = |f: &str, t: &str, ok: bool| outcome::PairResult {
            from: f.into(),
            to: t.into(),
            address: "10.0.0.1".parse().unwrap(),
            reachable: ok,
            rtt_ms: None,
            error: (!ok).then(|| "no reply within 1 s".into()),
            sent: 1,
            received: u32::from(ok),
            loss: if ok { 0.0 } else { 100.0 },
        };
        let m = MatrixReport {
            nodes: vec!["ns1".into(), "ns2".into()],
            pairs: vec![pair("ns1", "ns2", true), pair("ns2", "ns1", false)],
            waves: 3,
            neigh_limit: 1024,
            neigh_peak: 10,
            ..Default::default()
        };
        let s = render(&m, &[], Duration::from_secs(1));
        assert!(
            s.starts_with("     ns1  ns2\nns1  -    ✓\nns2  ✗    -\n"),
            "{s}"
        );
        assert!(
            s.contains("✗ ns2 → ns1 10.0.0.1: no reply within 1 s"),
            "{s}"
        );
        assert!(s.contains("1/2 pairs reachable"), "{s}");
        assert!(s.contains("run in 3 waves"), "{s}");
    }

    #[test]
    fn partial_loss_shows_in_the_cell_and_below() {
        let pair = |f: &str, t: &str, sent: u32, received: u32| outcome::PairResult {
            from: f.into(),
            to: t.into(),
            address: "10.0.0.1".parse().unwrap(),
            reachable: received > 0,
            rtt_ms: None,
            error: (received == 0).then(|| "no reply within 1 s".into()),
            sent,
            received,
            loss: stats::loss_percent(u64::from(sent), u64::from(received)),
        };
        let m = MatrixReport {
            nodes: vec!["ns1".into(), "ns2".into(), "ns3".into()],
            pairs: vec![
                pair("ns1", "ns2", 20, 16),
                pair("ns2", "ns1", 20, 20),
                pair("ns1", "ns3", 20, 0),
                pair("ns3", "ns1", 20, 19),
            ],
            count: 20,
            waves: 1,
            ..Default::default()
        };
        let s = render(&m, &[], Duration::from_secs(1));
        let rows: Vec<&str> = s.lines().take(4).collect();
        assert_eq!(
            rows[1].split_whitespace().collect::<Vec<_>>(),
            ["ns1", "-", "20%", "✗"],
            "{s}"
        );
        assert_eq!(
            rows[2].split_whitespace().collect::<Vec<_>>(),
            ["ns2", "✓", "-", "·"],
            "{s}"
        );
        assert_eq!(
            rows[3].split_whitespace().collect::<Vec<_>>(),
            ["ns3", "5%", "·", "-"],
            "{s}"
        );
        assert!(
            s.contains("N% answered, with that share of requests lost"),
            "{s}"
        );
        assert!(
            s.contains("~ ns1 → ns2 10.0.0.1: 4 of 20 requests lost (20% packet loss)"),
            "{s}"
        );
        assert!(
            s.contains("20 requests per address, 55/80 answered (31.25% packet loss)"),
            "{s}"
        );
    }
}
