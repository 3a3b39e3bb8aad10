//! Lab operations: `up`, `down`, `status`, built from the pure model and
//! planner and the kernel edge, with the lock and the state record.

pub mod cond;
pub mod down;
pub mod external;
pub mod files;
pub mod hosts;
pub mod impair;
pub mod live;
pub mod lock;
pub mod logs;
pub mod orphans;
pub mod privilege;
pub mod record;
pub mod scan;
pub mod status;
pub mod up;
pub mod workload;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use crate::kernel::KernelError;
use crate::kernel::apply::ApplyError;
use crate::kernel::session::Session;
use crate::model::Netns;
use crate::model::net::Net;
use crate::plan::{Conflict, Observed};

/// How an operation reports progress to whoever runs it.
pub struct Hooks<'a> {
    /// Total kernel operations expected (sets up a progress bar).
    pub plan_size: &'a dyn Fn(u64),
    /// Operations just completed.
    pub progress: &'a (dyn Fn(u64) + Sync),
    /// Another vnet holds the lab; we wait for it.
    pub waiting_for_lock: &'a dyn Fn(Option<u32>),
}

impl Hooks<'_> {
    pub fn silent() -> Hooks<'static> {
        Hooks {
            plan_size: &|_| {},
            progress: &|_| {},
            waiting_for_lock: &|_| {},
        }
    }
}

/// Any error of the engine layer. The words are written for a person (see
/// `Display`); the kernel's error, the lock's and the I/O error stay
/// reachable through `source()`.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// Not allowed to change the kernel (with the missing capability).
    NotPrivileged {
        command: String,
        missing: &'static str,
    },
    Lock(#[from] lock::LockError),
    /// Names held by objects the lab does not own; nothing was changed.
    Conflicts(Vec<Conflict>),
    Kernel {
        step: String,
        #[source]
        error: KernelError,
    },
    Apply {
        #[source]
        error: Box<ApplyError>,
        /// What the rollback could not remove.
        left: Vec<String>,
        /// The lab did not exist before this run.
        fresh: bool,
    },
    Io(String, #[source] std::io::Error),
    /// `down` could not remove everything.
    Leftovers(Vec<String>),
    NoSuchLab(String),
    /// Reading other namespaces needs a capability this process lacks.
    CannotRead {
        missing: &'static str,
    },
    /// Namespaces asked for that are not under /run/netns.
    NoSuchNamespace(Vec<String>),
    /// Conditions this kernel cannot make; nothing was changed.
    Unsupported(Vec<cond::Unsupported>),
    /// A live change that cannot be made (bad value, unknown interface…).
    Refused(String),
}

impl EngineError {
    pub fn kernel(step: &str, error: KernelError) -> EngineError {
        EngineError::Kernel {
            step: step.to_string(),
            error,
        }
    }
}

impl fmt::Display for EngineError {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self {
            EngineError::NotPrivileged { command, missing } => {
                f.write_str(&privilege::refusal(command, missing))
            }
            EngineError::Lock(e) => e.fmt(f),
            EngineError::Conflicts(c) => {
                writeln!(
                    f,
                    "refusing to change anything: {} name{} held by objects this lab does not own:",
                    c.len(),
                    if c.len() == 1 { " is" } else { "s are" }
                )?;
                for x in c {
                    writeln!(f, "  - {} — owned by {}", x.object, x.owner)?;
                    writeln!(f, "    hint: {}", x.hint)?;
                }
                Ok(())
            }
            EngineError::Kernel { step, error } => write!(f, "{step}: {error}"),
            EngineError::Apply { error, left, fresh } => {
                write!(f, "{error}")?;
                if left.is_empty() {
                    if *fresh {
                        write!(f, "\nrolled back: nothing of this run is left")
                    } else {
                        write!(f, "\nrolled back what this run created")
                    }
                } else {
                    write!(f, "\nrollback could not remove:")?;
                    for l in left {
                        write!(f, "\n  - {l}")?;
                    }
                    Ok(())
                }
            }
            EngineError::Io(what, e) => write!(f, "{what}: {e}"),
            EngineError::Leftovers(l) => {
                write!(f, "could not remove:")?;
                for x in l {
                    write!(f, "\n  - {x}")?;
                }
                Ok(())
            }
            EngineError::NoSuchLab(n) => {
                write!(f, "no lab named {n} is up (`vnet status` lists the labs)")
            }
            EngineError::CannotRead { missing } => write!(
                f,
                "vnet needs root here: it {} ({missing} is missing); run it with sudo",
                privilege::READING
            ),
            EngineError::NoSuchNamespace(names) => write!(
                f,
                "no namespace named {} under /run/netns (`ip netns list` shows what there is)",
                names.join(", ")
            ),
            EngineError::Unsupported(list) => {
                write!(
                    f,
                    "refusing to change anything: this kernel cannot make {} of the link conditions:",
                    if list.len() == 1 { "one" } else { "some" }
                )?;
                for u in list {
                    write!(f, "\n  - {}", u.message())?;
                }
                if let Some(u) = list.first() {
                    write!(f, "\n  hint: {}", u.hint())?;
                }
                Ok(())
            }
            EngineError::Refused(m) => f.write_str(m),
        }
    }
}

pub fn require_privilege(command: &str) -> Result<(), EngineError> {
    match privilege::missing() {
        None => Ok(()),
        Some(missing) => Err(EngineError::NotPrivileged {
            command: command.to_string(),
            missing,
        }),
    }
}

/// Read what the planner needs for one lab: the host, the lab's namespaces
/// (wanted or marked as its own), and the sysctls it sets. Returns also the
/// wanted names that are stale files rather than namespaces.
pub fn observe_lab(
    session: &mut Session,
    lab: &str,
    net: &Net,
    journal: BTreeSet<String>,
) -> Result<(Observed, Vec<String>), EngineError> {
    let marks = scan::namespaces(session).map_err(|e| EngineError::kernel("scan /run/netns", e))?;
    crate::kernel::profile::mark("scanned /run/netns");
    // External nodes are joined by their reference below, not by name.
    let wanted: BTreeSet<&str> = net
        .named()
        .filter(|n| !net.external.contains_key(*n))
        .collect();
    let mut stale = Vec::new();
    let mut keep = BTreeSet::new();
    for m in &marks {
        if m.stale {
            if wanted.contains(m.name.as_str()) {
                stale.push(m.name.clone());
            }
            continue;
        }
        if wanted.contains(m.name.as_str()) || m.lab.as_deref() == Some(lab) {
            keep.insert(m.name.clone());
        }
    }
    session.named.retain(|n, _| keep.contains(n));
    external::join(session, net);
    let sysctls: BTreeMap<String, Vec<String>> = net
        .namespaces
        .iter()
        .filter_map(|(ns, spec)| match ns {
            Netns::Named(n) => Some((n.clone(), spec.sysctls.keys().cloned().collect())),
            Netns::Host => None,
        })
        .collect();
    let (mut host, mut named) = session
        .observe(&sysctls)
        .map_err(|e| EngineError::kernel("read the kernel's state", e))?;
    let table = crate::model::conditions::loss_table(Some(lab));
    read_conditions(session, &mut host, &mut named, Some(&table))?;
    crate::kernel::profile::mark("read conditions");
    // The kernel is probed only where conditions are wanted or found.
    let any = net
        .namespaces
        .values()
        .any(|s| s.links.values().any(|i| !i.conditions.is_empty()))
        || std::iter::once(&host)
            .chain(named.values())
            .any(|l| l.links.iter().any(|x| !x.conditions.is_empty()));
    let support = if any {
        crate::kernel::features::support()
    } else {
        Default::default()
    };
    Ok((
        Observed {
            host,
            named,
            journal,
            support,
        },
        stale,
    ))
}

/// Each interface's conditions, from the qdiscs the observation dumped
/// and the loss rules of `table` (every vnet table when None).
pub fn read_conditions(
    session: &Session,
    host: &mut crate::model::live::LiveNs,
    named: &mut BTreeMap<String, crate::model::live::LiveNs>,
    table: Option<&str>,
) -> Result<(), EngineError> {
    use std::os::fd::AsFd;
    let mut spaces: Vec<(std::os::fd::BorrowedFd, &mut crate::model::live::LiveNs)> =
        vec![(session.host.fd.as_fd(), host)];
    for (n, live) in named.iter_mut() {
        if let Some(h) = session.named.get(n) {
            spaces.push((h.fd.as_fd(), live));
        }
    }
    crate::kernel::cond::attach_all(&mut spaces, table)
        .map_err(|e| EngineError::kernel("read the loss rules (nftables)", e))
}
