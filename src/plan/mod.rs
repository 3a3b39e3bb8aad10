//! Plans: the difference between a lab and the kernel, as ordered actions.
//! Pure: plans are made and printed without root.

pub mod action;
pub mod batch;
pub mod diff;
pub mod script;

use serde::Serialize;

pub use action::{Action, Stage};
pub use diff::{Observed, plan};

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

    pub fn counts(&self) -> Counts {
        let mut c = Counts::default();
        for a in &self.actions {
            if a.creates() {
                c.created += 1;
            } else if a.removes() {
                c.removed += 1;
            } else {
                c.changed += 1;
            }
        }
        c
    }
}

impl std::fmt::Display for Counts {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        write!(
            f,
            "{} created, {} changed, {} removed",
            self.created, self.changed, self.removed
        )
    }
}
