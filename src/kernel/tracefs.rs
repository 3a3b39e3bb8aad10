//! A tracefs instance of vnet's own: its own ring buffer and event switches
//! under `instances/vnet-…`, so nothing global is changed (the top-level
//! buffer, other tools' instances and other vnet runs are left alone) and
//! runs can overlap. The instance is removed when dropped — also after
//! Ctrl-C, which only raises a flag while it lives — and instances left by
//! a vnet that was killed are removed by the next one.
//!
//! When tracefs is not mounted, it is mounted for the run on a directory of
//! its own under /run and unmounted afterwards; /sys/kernel/tracing is not
//! touched.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use nix::mount::{MntFlags, MsFlags, mount, umount2};
use nix::sys::statfs::{DEBUGFS_MAGIC, FsType, TRACEFS_MAGIC, statfs};

const PREFIX: &str = "vnet-";

/// An event to record, with an optional filter in tracefs syntax.
pub struct Event<'a> {
    /// "subsystem/name", e.g. "skb/kfree_skb".
    pub name: &'a str,
    pub filter: Option<String>,
}

pub struct Instance {
    dir: PathBuf,
    root: PathBuf,
    /// A mount vnet made, removed with the instance.
    mounted: Option<PathBuf>,
}

fn fs_magic(p: &Path) -> Option<FsType> {
    statfs(p).ok().map(|st| st.filesystem_type())
}

/// Where tracefs is mounted already, if anywhere vnet looks.
fn find_mounted() -> Option<PathBuf> {
    let sys = PathBuf::from("/sys/kernel/tracing");
    if fs_magic(&sys) == Some(TRACEFS_MAGIC) {
        return Some(sys);
    }
    // Older systems: debugfs with tracefs automounted below it.
    let dbg = PathBuf::from("/sys/kernel/debug/tracing");
    if fs_magic(Path::new("/sys/kernel/debug")) == Some(DEBUGFS_MAGIC)
        && fs_magic(&dbg) == Some(TRACEFS_MAGIC)
    {
        return Some(dbg);
    }
    None
}

/// The inode of our PID namespace: instance names carry it, so a vnet only
/// ever judges the liveness of processes it can see.
fn pid_ns() -> u64 {
    use std::os::unix::fs::MetadataExt;
    fs::metadata("/proc/self/ns/pid").map_or(0, |m| m.ino())
}

fn write(p: &Path, v: &str) -> Result<(), String> {
    fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(p)
        .and_then(|mut f| f.write_all(v.as_bytes()))
        .map_err(|e| format!("cannot write {}: {e}", p.display()))
}

impl Instance {
    /// Create the instance and switch on `events` in it. The error says in
    /// words why the kernel's drop records are unavailable.
    pub fn start(events: &[Event]) -> Result<Instance, String> {
        if let Some(why) = super::userns::tracefs_refusal() {
            return Err(why);
        }
        let (root, mounted) = match find_mounted() {
            Some(r) => (r, None),
            None => {
                let nonce = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.subsec_nanos());
                let dir =
                    PathBuf::from(format!("/run/vnet-tracefs-{}-{nonce}", std::process::id()));
                fs::create_dir_all(&dir)
                    .map_err(|e| format!("cannot make a mount point for tracefs: {e}"))?;
                if let Err(e) = mount(
                    Some("tracefs"),
                    &dir,
                    Some("tracefs"),
                    MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
                    None::<&str>,
                ) {
                    let _ = fs::remove_dir(&dir);
                    return Err(format!(
                        "tracefs is not mounted and cannot be mounted here ({e})"
                    ));
                }
                (dir.clone(), Some(dir))
            }
        };
        let mut inst = Instance {
            dir: PathBuf::new(),
            root,
            mounted,
        };
        let instances = inst.root.join("instances");
        if !instances.is_dir() {
            return Err("this kernel's tracefs has no instances".into());
        }
        clean_stale(&instances);
        let nonce = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let dir = instances.join(format!(
            "{PREFIX}{}-{}-{nonce}",
            pid_ns(),
            std::process::id()
        ));
        fs::create_dir(&dir).map_err(|e| format!("cannot create a tracefs instance: {e}"))?;
        inst.dir = dir;
        // Small buffers: the events are filtered down to a few per probe.
        let _ = write(&inst.dir.join("buffer_size_kb"), "512");
        // One clock for every CPU, so events on different CPUs sort right.
        let _ = write(&inst.dir.join("trace_clock"), "global");
        for e in events {
            let ev = inst.dir.join("events").join(e.name);
            if !ev.is_dir() {
                return Err(format!("this kernel has no {} event", e.name));
            }
            if let Some(f) = &e.filter {
                write(&ev.join("filter"), f)?;
            }
            write(&ev.join("enable"), "1")?;
        }
        Ok(inst)
    }

    /// The event's format description (field layout, and for kfree_skb the
    /// drop reason names).
    pub fn format(&self, event: &str) -> Option<String> {
        fs::read_to_string(self.root.join("events").join(event).join("format")).ok()
    }

    /// Everything recorded so far, as text, oldest first.
    pub fn read(&self) -> Result<String, String> {
        // Stop recording first: the reads below see a still buffer.
        let _ = write(&self.dir.join("tracing_on"), "0");
        fs::read(self.dir.join("trace"))
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .map_err(|e| format!("cannot read the trace: {e}"))
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        if !self.dir.as_os_str().is_empty() {
            // Removing the directory switches its events off and frees its buffer.
            let _ = fs::remove_dir(&self.dir);
        }
        if let Some(m) = &self.mounted {
            let _ = umount2(m, MntFlags::MNT_DETACH);
            let _ = fs::remove_dir(m);
        }
    }
}

/// Remove instances of vnet runs that were killed: same PID namespace,
/// process gone.
fn clean_stale(instances: &Path) {
    let ours = pid_ns();
    let Ok(dir) = fs::read_dir(instances) else {
        return;
    };
    for e in dir.filter_map(Result::ok) {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(rest) = name.strip_prefix(PREFIX) else {
            continue;
        };
        let mut parts = rest.split('-');
        let (Some(ns), Some(pid)) = (
            parts.next().and_then(|p| p.parse::<u64>().ok()),
            parts.next().and_then(|p| p.parse::<u32>().ok()),
        ) else {
            continue;
        };
        if ns == ours && pid != std::process::id() && !Path::new(&format!("/proc/{pid}")).exists() {
            let _ = fs::remove_dir(e.path());
        }
    }
}
