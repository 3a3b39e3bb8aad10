//! Rootless mode: where an unprivileged user's labs live, and how every
//! command gets there.
//!
//! A user without CAP_NET_ADMIN (or anyone, with `--rootless` or
//! VNET_ROOTLESS=1) gets a user namespace of their own, in which they are
//! root, with a mount namespace and a network namespace that play the
//! machine's part: the "host" of their labs. One small process per user,
//! the holder (`vnet __holder DIR`, see [`super::holder`]), keeps them
//! alive. Every command that talks to the kernel first joins the holder's
//! namespaces, user then mount then network, while it is still one thread
//! (the kernel refuses setns into a user or mount namespace otherwise);
//! from there `/run/netns`, `/run/vnet`, netlink and raw sockets work as
//! for root, so no command knows the difference. The real host's network
//! namespace is never touched.
//!
//! The runtime directory R ($XDG_RUNTIME_DIR/vnet, else
//! /run/user/UID/vnet when it is ours, else $TMPDIR/vnet-UID; 0700):
//! - `holder.lock`: flock; exclusive while the holder is started or
//!   stopped, shared while a command works inside it;
//! - `holder.pid`: the holder's pid, written by whoever started it;
//! - `netns/` and `state/`: bound by the holder over its /run/netns and
//!   /run/vnet, so that what a killed holder left is found and removed.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::os::fd::AsFd;
use std::os::unix::fs::{DirBuilderExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, OnceLock};

use nix::sched::{CloneFlags, setns};
use nix::unistd::{getgid, getuid};

/// Why rootless mode could not be entered, in words a person can act on.
#[derive(Debug, thiserror::Error)]
pub(crate) enum RootlessError {
    /// A setting of the machine forbids unprivileged user namespaces.
    #[error(
        "rootless mode needs a user namespace, and this machine forbids them for normal users: {setting} is {value}; allow them with: sudo sysctl -w {setting}={allow} (or run vnet as root)"
    )]
    Forbidden {
        setting: &'static str,
        value: String,
        allow: &'static str,
    },
    #[error("rootless mode: {step}: {source}")]
    Io {
        step: String,
        #[source]
        source: std::io::Error,
    },
    #[error("rootless mode: the holder did not start: {0}")]
    Holder(String),
}

fn io_err(step: impl Into<String>) -> impl FnOnce(std::io::Error) -> RootlessError {
    let step = step.into();
    move |source| RootlessError::Io { step, source }
}

const CAP_NET_ADMIN: u32 = 12;

/// This process, once it joined a holder.
struct Inside {
    uid: u32,
    dir: PathBuf,
    pid: i32,
    /// The holder, when this process started it (to reap it if it stops it).
    child: Mutex<Option<Child>>,
    /// holder.lock, held shared while this process works inside.
    lock: File,
    /// Interface names of the real host's network namespace, read on the way in.
    real_host: Vec<String>,
}

static INSIDE: OnceLock<Inside> = OnceLock::new();

/// The uid the user has outside, when this process works rootless.
pub(crate) fn uid() -> Option<u32> {
    INSIDE.get().map(|i| i.uid)
}

/// Whether this command should work rootless: forced, or chosen because
/// the process lacks CAP_NET_ADMIN. VNET_ROOTLESS=0 never chooses it (the
/// command then refuses, naming the privilege it lacks).
pub(crate) fn wanted(forced: bool) -> bool {
    match std::env::var("VNET_ROOTLESS").ok().as_deref() {
        Some("1") => return true,
        Some("0") => return forced,
        _ => {}
    }
    forced || !has_net_admin()
}

fn has_net_admin() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("CapEff:"))
                .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        })
        .is_some_and(|caps| caps & (1 << CAP_NET_ADMIN) != 0)
}

/// The settings that forbid unprivileged user namespaces, as read by
/// `read` (a /proc/sys path → its value): the first one that does.
pub(crate) fn forbidden(read: impl Fn(&str) -> Option<String>) -> Option<RootlessError> {
    let checks: [(&str, &'static str, &str, &'static str); 3] = [
        (
            "/proc/sys/user/max_user_namespaces",
            "user.max_user_namespaces",
            "0",
            "15000",
        ),
        (
            "/proc/sys/kernel/unprivileged_userns_clone",
            "kernel.unprivileged_userns_clone",
            "0",
            "1",
        ),
        (
            "/proc/sys/kernel/apparmor_restrict_unprivileged_userns",
            "kernel.apparmor_restrict_unprivileged_userns",
            "1",
            "0",
        ),
    ];
    checks.into_iter().find_map(|(path, setting, bad, allow)| {
        let value = read(path)?.trim().to_string();
        (value == bad).then_some(RootlessError::Forbidden {
            setting,
            value,
            allow,
        })
    })
}

/// The user's runtime directory for vnet, made 0700 if missing; refused
/// when it is a symlink or belongs to someone else.
fn runtime_dir(uid: u32) -> Result<PathBuf, RootlessError> {
    let base = match std::env::var_os("XDG_RUNTIME_DIR").filter(|v| !v.is_empty()) {
        Some(x) => PathBuf::from(x).join("vnet"),
        None => {
            let run = PathBuf::from(format!("/run/user/{uid}"));
            if std::fs::metadata(&run).is_ok_and(|m| m.is_dir() && m.uid() == uid) {
                run.join("vnet")
            } else {
                std::env::temp_dir().join(format!("vnet-{uid}"))
            }
        }
    };
    for d in [base.clone(), base.join("netns"), base.join("state")] {
        match std::fs::DirBuilder::new().mode(0o700).create(&d) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(io_err(format!("cannot make {}", d.display()))(e)),
        }
        let meta = std::fs::symlink_metadata(&d).map_err(io_err(d.display().to_string()))?;
        if !meta.is_dir() || meta.uid() != uid {
            return Err(RootlessError::Io {
                step: format!(
                    "{} is not a directory of uid {uid} (a symlink, or someone else's?)",
                    d.display()
                ),
                source: std::io::Error::from_raw_os_error(libc::EPERM),
            });
        }
    }
    Ok(base)
}

/// What entering found on the way, for the command to say.
pub(crate) struct Entered {
    /// Set when a holder had died: what was removed.
    pub notice: Option<String>,
}

/// Join the user's holder (starting it when none runs), user namespace,
/// then mount, then network. Call while the process has one thread.
pub(crate) fn enter() -> Result<Entered, RootlessError> {
    let uid = getuid().as_raw();
    let cwd = std::env::current_dir().ok();
    let real_host = real_host_interfaces();
    let dir = runtime_dir(uid)?;
    let lock = File::options()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(dir.join("holder.lock"))
        .map_err(io_err("cannot open holder.lock"))?;
    let locked = |r: std::io::Result<()>| r.map_err(io_err("cannot lock holder.lock"));
    // Shared when a holder runs: commands work inside it side by side.
    locked(lock.lock_shared())?;
    let mut notice = None;
    let running = || read_pid(&dir).filter(|&p| is_holder(p, &dir));
    let (pid, child) = match running() {
        Some(pid) => (pid, None),
        None => {
            // Exclusive to start one; another command may have done it
            // while this one waited.
            locked(lock.unlock())?;
            locked(lock.lock())?;
            match running() {
                Some(pid) => (pid, None),
                None => {
                    let child = start(&dir, uid, &mut notice)?;
                    (child.id() as i32, Some(child))
                }
            }
        }
    };
    join(pid)?;
    // Entering a mount namespace moves the process to its root: go back
    // where the user was (the holder's mounts are a copy of theirs).
    if let Some(cwd) = cwd {
        let _ = std::env::set_current_dir(cwd);
    }
    locked(lock.lock_shared())?;
    let _ = INSIDE.set(Inside {
        uid,
        dir,
        pid,
        child: Mutex::new(child),
        lock,
        real_host,
    });
    Ok(Entered { notice })
}

/// Start a holder where none runs: clear what a dead one left (saying
/// so in `notice`), check that user namespaces are allowed, start it, and
/// record its pid.
fn start(dir: &Path, uid: u32, notice: &mut Option<String>) -> Result<Child, RootlessError> {
    if let Some(dead) = read_pid(dir) {
        *notice = Some(clear_remains(dir, dead));
    }
    if uid != 0
        && let Some(e) = forbidden(|p| std::fs::read_to_string(p).ok())
    {
        return Err(e);
    }
    let child = start_holder(dir)?;
    write_pid(dir, child.id() as i32)?;
    Ok(child)
}

fn join(pid: i32) -> Result<(), RootlessError> {
    let open = |ns: &str| {
        File::open(format!("/proc/{pid}/ns/{ns}"))
            .map_err(io_err(format!("cannot open the holder's {ns} namespace")))
    };
    let (user, mnt, net) = (open("user")?, open("mnt")?, open("net")?);
    for (fd, flag, what) in [
        (&user, CloneFlags::CLONE_NEWUSER, "user"),
        (&mnt, CloneFlags::CLONE_NEWNS, "mount"),
        (&net, CloneFlags::CLONE_NEWNET, "network"),
    ] {
        setns(fd.as_fd(), flag).map_err(|e| RootlessError::Io {
            step: format!("cannot join the holder's {what} namespace (pid {pid})"),
            source: std::io::Error::from(e),
        })?;
    }
    Ok(())
}

fn read_pid(dir: &Path) -> Option<i32> {
    std::fs::read_to_string(dir.join("holder.pid"))
        .ok()?
        .trim()
        .parse()
        .ok()
}

fn write_pid(dir: &Path, pid: i32) -> Result<(), RootlessError> {
    let tmp = dir.join("holder.pid.tmp");
    std::fs::write(&tmp, format!("{pid}\n")).map_err(io_err("cannot write holder.pid"))?;
    std::fs::rename(&tmp, dir.join("holder.pid")).map_err(io_err("cannot write holder.pid"))
}

/// Whether `pid` is a live holder of this runtime directory (not a
/// process that reused its number).
fn is_holder(pid: i32, dir: &Path) -> bool {
    let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
        return false;
    };
    let args: Vec<&[u8]> = cmdline.split(|&b| b == 0).collect();
    args.len() >= 3 && args[1] == b"__holder" && args[2] == dir.as_os_str().as_encoded_bytes()
}

/// A holder died (killed, or the machine's OOM killer): its namespaces,
/// and with them every lab, went with it. Remove the records and mount
/// points it left, and say so.
fn clear_remains(dir: &Path, pid: i32) -> String {
    let mut labs = Vec::new();
    for sub in ["state", "netns"] {
        if let Ok(entries) = std::fs::read_dir(dir.join(sub)) {
            for e in entries.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                if sub == "state"
                    && let Some(lab) = name.strip_suffix(".json")
                {
                    labs.push(lab.to_string());
                }
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
    let _ = std::fs::remove_file(dir.join("holder.pid"));
    labs.sort();
    let gone = if labs.is_empty() {
        "no lab was up in it".to_string()
    } else {
        format!("its labs went with it ({})", labs.join(", "))
    };
    format!(
        "the rootless holder (pid {pid}) had ended: {gone}; removed what was left in {}",
        dir.display()
    )
}

/// Start `vnet __holder DIR` and wait for it to say it is ready (or why not).
fn start_holder(dir: &Path) -> Result<Child, RootlessError> {
    let exe = std::env::current_exe().map_err(io_err("cannot find the vnet binary"))?;
    let mut child = Command::new(exe)
        .arg("__holder")
        .arg(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .current_dir("/")
        .spawn()
        .map_err(io_err("cannot start the holder"))?;
    let mut line = String::new();
    let out = child.stdout.take().expect("piped stdout");
    let _ = BufReader::new(out).read_line(&mut line);
    if line.trim() == "ready" {
        return Ok(child);
    }
    let _ = child.kill();
    let _ = child.wait();
    let why = line
        .trim()
        .strip_prefix("error: ")
        .unwrap_or("it ended without a word")
        .to_string();
    if why.contains("user namespace")
        && let Some(e) = forbidden(|p| std::fs::read_to_string(p).ok())
    {
        return Err(e);
    }
    Err(RootlessError::Holder(why))
}

/// Names under /sys/class/net as this process sees them before it joins
/// the holder: the real host's interfaces.
fn real_host_interfaces() -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir("/sys/class/net")
        .map(|d| {
            d.flatten()
                .filter_map(|e| e.file_name().into_string().ok())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// In rootless mode, why a lab that puts `names` in its host namespace
/// cannot be built: the names that belong to the real host's interfaces.
pub(crate) fn needs_real_host<'a>(names: impl IntoIterator<Item = &'a str>) -> Option<String> {
    let inside = INSIDE.get()?;
    let clash: Vec<&str> = names
        .into_iter()
        .filter(|n| *n != "lo" && inside.real_host.iter().any(|r| r == n))
        .collect();
    (!clash.is_empty()).then(|| {
        format!(
            "the lab uses {} in the host namespace, an interface of the real host; rootless mode (uid {}) gives labs a host namespace of their own and cannot reach the real host's interfaces: run it as root",
            clash.join(", "),
            inside.uid
        )
    })
}

/// What the doctor cannot read in rootless mode, if this is rootless mode.
pub(crate) fn tracefs_refusal() -> Option<String> {
    INSIDE.get().map(|i| {
        format!(
            "the kernel's drop records (tracefs) belong to the real host's root; rootless mode (uid {}) cannot read them",
            i.uid
        )
    })
}

/// At the end of a command: when no other command works inside the holder
/// and `idle` says no lab is left in it, end the holder (its namespaces go
/// with it) and wait until it has.
pub(crate) fn settle(idle: impl FnOnce() -> bool) {
    let Some(inside) = INSIDE.get() else {
        return;
    };
    // Another command still inside keeps its shared lock: leave the holder
    // to whichever finishes last.
    if inside.lock.try_lock().is_err() {
        return;
    }
    if !idle() {
        return;
    }
    stop(inside.pid, &inside.child);
    let _ = std::fs::remove_file(inside.dir.join("holder.pid"));
}

fn stop(pid: i32, child: &Mutex<Option<Child>>) {
    let Ok(pidfd) = super::pidfd::Pidfd::open(pid as u32) else {
        return;
    };
    if pidfd.signal(libc::SIGTERM).is_err() {
        return;
    }
    if let Ok(mut c) = child.lock()
        && let Some(c) = c.as_mut()
    {
        let _ = c.wait();
        return;
    }
    // It ends at once on SIGTERM; the bound only guards against a holder
    // stuck in the kernel.
    pidfd.wait_exit(10_000);
}

/// The user's ids outside (for the holder's maps).
pub(crate) fn ids() -> (u32, u32) {
    (getuid().as_raw(), getgid().as_raw())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_forbidding_setting_is_named_with_its_command() {
        let only = |path: &'static str, v: &'static str| {
            move |p: &str| (p == path).then(|| format!("{v}\n"))
        };
        let e = forbidden(only("/proc/sys/user/max_user_namespaces", "0")).unwrap();
        assert!(
            e.to_string()
                .contains("user.max_user_namespaces is 0; allow them with: sudo sysctl -w user.max_user_namespaces=15000"),
            "{e}"
        );
        let e = forbidden(only("/proc/sys/kernel/unprivileged_userns_clone", "0")).unwrap();
        assert!(
            e.to_string()
                .contains("sudo sysctl -w kernel.unprivileged_userns_clone=1"),
            "{e}"
        );
        let e = forbidden(only(
            "/proc/sys/kernel/apparmor_restrict_unprivileged_userns",
            "1",
        ))
        .unwrap();
        assert!(
            e.to_string()
                .contains("sudo sysctl -w kernel.apparmor_restrict_unprivileged_userns=0"),
            "{e}"
        );
        assert!(forbidden(only("/proc/sys/user/max_user_namespaces", "15000")).is_none());
        assert!(forbidden(|_| None).is_none());
    }
}
