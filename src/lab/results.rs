//! What the probes give back, in the lab file's names.

use std::fmt;

use serde::Serialize;

use super::names::Names;
use crate::doctor::finding::Finding;
use crate::doctor::verdict::{Status, Verdict};
use crate::probe::outcome::{Checked, MatrixReport, PairResult};

/// The all-pairs reachability matrix: one record per node pair and
/// address, with the lab's expectations checked.
///
/// Its `Display` is the table `vnet ping --all` prints.
#[derive(Clone, Debug, Serialize)]
pub struct Matrix {
    #[serde(flatten)]
    report: MatrixReport,
    expectations: Vec<Checked>,
    ok: bool,
}

impl Matrix {
    pub(super) fn new(
        mut report: MatrixReport,
        mut checked: Vec<Checked>,
        names: &Names,
    ) -> Matrix {
        let back = |n: &mut String| *n = names.file_name(n).to_string();
        report.nodes.iter_mut().for_each(back);
        report.no_address.iter_mut().for_each(back);
        for p in &mut report.pairs {
            back(&mut p.from);
            back(&mut p.to);
        }
        for c in &mut checked {
            back(&mut c.from);
            back(&mut c.to);
        }
        let ok = if checked.is_empty() {
            report.all_answered()
        } else {
            checked.iter().all(|c| c.held)
        };
        Matrix {
            report,
            expectations: checked,
            ok,
        }
    }

    /// Every probe: from, to, address, reachable, rtt_ms, error, loss.
    pub fn pairs(&self) -> &[PairResult] {
        &self.report.pairs
    }

    /// The probes that got no reply.
    pub fn unreachable(&self) -> impl Iterator<Item = &PairResult> {
        self.report.pairs.iter().filter(|p| !p.reachable)
    }

    /// Every node answered every other on every address.
    pub fn all_reachable(&self) -> bool {
        self.report.all_answered()
    }

    /// The lab's `expect:` list held, or, without one, every pair answered.
    pub fn ok(&self) -> bool {
        self.ok
    }

    /// The lab's expectations, each with whether it held.
    pub fn expectations(&self) -> &[Checked] {
        &self.expectations
    }

    /// The report as `vnet ping --all --json` gives it (less its summary).
    pub fn report(&self) -> &MatrixReport {
        &self.report
    }
}

impl fmt::Display for Matrix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&crate::render::matrix::render(
            &self.report,
            &self.expectations,
            std::time::Duration::from_secs(1),
        ))
    }
}

/// The doctor's verdict on one path. `Display` is the text `vnet doctor`
/// prints; [`json`](Diagnosis::json) is `vnet doctor --json`.
#[derive(Clone, Debug)]
pub struct Diagnosis {
    verdict: Verdict,
}

impl Diagnosis {
    pub(super) fn new(verdict: Verdict) -> Diagnosis {
        Diagnosis { verdict }
    }

    /// The reply came back from the destination.
    pub fn works(&self) -> bool {
        self.verdict.status == Status::Works
    }

    /// Works, found (a cause explains the failure), or unknown.
    pub fn status(&self) -> Status {
        self.verdict.status
    }

    /// The causes found, each with its rule, fix and evidence.
    pub fn causes(&self) -> &[Finding] {
        &self.verdict.causes
    }

    /// The rule ids of the causes (`filter.br-netfilter`, …).
    pub fn rules(&self) -> Vec<&str> {
        self.verdict.causes.iter().map(|c| c.id).collect()
    }

    /// Everything the doctor found.
    pub fn verdict(&self) -> &Verdict {
        &self.verdict
    }

    /// The verdict as `vnet doctor --json` prints it.
    pub fn json(&self) -> serde_json::Value {
        serde_json::to_value(&self.verdict).unwrap_or_default()
    }
}

impl fmt::Display for Diagnosis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&crate::render::doctor::render(&self.verdict))
    }
}
