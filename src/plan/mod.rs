//! Plans: the difference between a lab and the kernel, as ordered actions.
//! Pure: plans are made and printed without root.

pub mod action;
pub mod batch;
pub mod diff;
pub mod script;

use serde::Serialize;

pub use action::{Action, Stage};
pub use batch::BatchError;
pub use diff::{Observed, plan};

/// Any error of the plan layer. Planning itself cannot fail (names held by
/// others are part of the plan, as conflicts); writing one out can.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Batch(#[from] BatchError),
}

#[derive(Clone, Debug, Serialize)]
pub struct Plan {
    pub lab: String,
    /// The lab's device group (ownership mark).
    pub group: u32,
    pub actions: Vec<Action>,
    /// Names held by objects the lab does not own: nothing may be applied.
    pub conflicts: Vec<Conflict>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Conflict {
    pub object: String,
    pub owner: String,
    pub hint: String,
}

/// How many objects a plan creates, changes and removes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub created: usize,
    pub changed: usize,
    pub removed: usize,
}

impl Plan {
    pub fn is_empty(&self) -> bool {
        self.actions.is_empty()
    }

    /// Objects (namespaces and interfaces) the plan creates, changes and
    /// removes. Setting up what it creates (addresses, state, routes of a new
    /// namespace) is part of creating it, not a change.
    pub fn counts(&self) -> Counts {
        use std::collections::BTreeSet;
        let mut new: BTreeSet<(crate::model::Netns, String)> = BTreeSet::new();
        let mut new_ns: BTreeSet<String> = BTreeSet::new();
        let mut changed: BTreeSet<(crate::model::Netns, String)> = BTreeSet::new();
        let mut c = Counts::default();
        for a in &self.actions {
            match a {
                Action::AddNetns { ns, .. } => {
                    new_ns.insert(ns.clone());
                    c.created += 1;
                }
                Action::AddBridge { ns, name, .. } | Action::AddVxlan { ns, name, .. } => {
                    new.insert((ns.clone(), name.clone()));
                    c.created += 1;
                }
                Action::AddVeth { a, b } => {
                    new.insert((a.ns.clone(), a.name.clone()));
                    new.insert((b.ns.clone(), b.name.clone()));
                    c.created += 2;
                }
                Action::DelNetns { .. } | Action::DelLink { .. } => c.removed += 1,
                Action::SetLink { ns, name, .. }
                | Action::SetBridge { ns, name, .. }
                | Action::AddAddr { ns, dev: name, .. }
                | Action::DelAddr { ns, dev: name, .. }
                | Action::SetConditions { ns, dev: name, .. } => {
                    let key = (ns.clone(), name.clone());
                    let fresh_ns =
                        matches!(ns, crate::model::Netns::Named(n) if new_ns.contains(n));
                    if !new.contains(&key) && !fresh_ns {
                        changed.insert(key);
                    }
                }
                Action::SetSysctl { ns, .. }
                | Action::AddRoute { ns, .. }
                | Action::DelRoute { ns, .. } => {
                    if !matches!(ns, crate::model::Netns::Named(n) if new_ns.contains(n)) {
                        changed.insert((ns.clone(), String::new()));
                    }
                }
            }
        }
        c.changed = changed.len();
        c
    }
}

impl std::fmt::Display for Counts {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        write!(
            f,
            "{} created, {} changed, {} removed (namespaces and interfaces)",
            self.created, self.changed, self.removed
        )
    }
}
