//! What a rule reports (pure): a cause in plain words, the commands that fix
//! it, and the evidence it was read from.

use serde::Serialize;

use super::code::{self, Code};

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Finding {
    /// The rule's id, e.g. `link.down`, `filter.br-netfilter`.
    pub id: &'static str,
    /// Its disposition code (from the id, unless the rule knows better:
    /// a filter rule that rejects is REJECTED).
    pub code: Code,
    /// The cause in one plain sentence.
    pub cause: String,
    /// A guess: the evidence fits, but does not prove it.
    pub guess: bool,
    /// Ways to fix it; more than one are alternatives.
    pub fixes: Vec<Fix>,
    /// What was read that shows it.
    pub evidence: Vec<String>,
    /// The namespaces it concerns (to tie kernel drops and consequences to it).
    pub ns: Vec<String>,
    /// Secondary: a symptom that another cause may explain (a missing route
    /// because an interface is down, an ARP request nobody answered, …);
    /// left out when a primary cause in the same namespaces is found.
    #[serde(skip)]
    pub secondary: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Fix {
    /// What the commands do, in a few words.
    pub what: String,
    /// Commands a user types: iproute2, sysctl, nft, iptables, tc.
    pub commands: Vec<String>,
}

impl Fix {
    pub fn new(what: impl Into<String>, commands: Vec<String>) -> Fix {
        Fix {
            what: what.into(),
            commands,
        }
    }
}

impl Finding {
    pub fn new(id: &'static str, cause: impl Into<String>) -> Finding {
        Finding {
            id,
            code: code::of_rule(id),
            cause: cause.into(),
            guess: false,
            fixes: Vec::new(),
            evidence: Vec::new(),
            ns: Vec::new(),
            secondary: false,
        }
    }

    pub fn fix(mut self, what: impl Into<String>, commands: Vec<String>) -> Finding {
        self.fixes.push(Fix::new(what, commands));
        self
    }

    pub fn evidence(mut self, line: impl Into<String>) -> Finding {
        self.evidence.push(line.into());
        self
    }

    pub fn at(mut self, ns: &str) -> Finding {
        if !self.ns.iter().any(|n| n == ns) {
            self.ns.push(ns.to_string());
        }
        self
    }

    pub fn code(mut self, c: Code) -> Finding {
        self.code = c;
        self
    }

    pub fn guess(mut self) -> Finding {
        self.guess = true;
        self
    }

    pub fn secondary(mut self) -> Finding {
        self.secondary = true;
        self
    }
}
