//! Link conditions the kernel cannot make, found before anything changes:
//! each with the interface, the parameter, where the file says it, and
//! the kernel feature it needs.

use serde::Serialize;

use crate::model::Lab;
use crate::model::conditions::{Missing, Param, Support};
use crate::model::raw::Span;

#[derive(Clone, Debug, Serialize)]
pub struct Unsupported {
    /// "node:interface".
    pub place: String,
    pub param: Param,
    /// The value as the file writes it.
    pub value: String,
    pub missing: Missing,
    /// Where the lab file sets it, when it came from a file.
    #[serde(skip)]
    pub span: Option<Span>,
}

impl Unsupported {
    /// "delay 20ms on ns1:veth0 needs the netem qdisc (sch_netem), which this
    /// kernel lacks (CONFIG_NET_SCH_NETEM)".
    pub fn message(&self) -> String {
        let (what, option, _) = self.missing.describe();
        format!(
            "{} {} on {} needs {what}, which this kernel lacks ({option})",
            self.param.name(),
            self.value,
            self.place
        )
    }

    pub fn hint(&self) -> String {
        let (_, _, how) = self.missing.describe();
        match self.missing {
            Missing::Netem => format!(
                "{how}; without netem vnet makes rate, limit and loss only (delay, jitter, corrupt and duplicate need netem)"
            ),
            _ => how.to_string(),
        }
    }
}

/// Every condition of the lab this kernel cannot make.
pub fn unsupported(lab: &Lab, support: &Support) -> Vec<Unsupported> {
    let mut out = Vec::new();
    for link in &lab.links {
        for (i, end) in link.ends.iter().enumerate() {
            let c = link.egress(i);
            for (param, missing) in support.missing(&c) {
                out.push(Unsupported {
                    place: format!("{}:{}", end.node, end.interface),
                    param,
                    value: c.get(param).unwrap_or_default(),
                    missing,
                    span: link.place(i, param),
                });
            }
        }
    }
    out
}
