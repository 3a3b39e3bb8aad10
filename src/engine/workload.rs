//! What runs inside a lab's nodes (`files:`, `dirs:`, `exec:`, `run:`,
//! `ready:`), started after the network is up and ended by `down`.
//!
//! Each command runs under a small supervisor: vnet itself, started as
//! `vnet __supervise` inside the node's namespaces and in a session of its
//! own. It starts the command, copies its output into the node's log
//! (stamped, capped and rotated) and, when it exits, writes its exit code
//! next to the lab's state: so `status` can say how a daemon ended though
//! vnet is no longer its parent. `down` ends every process inside the
//! lab's namespaces, supervisors included.
//!
//! State, under vnet's state directory: `work/LAB/state.json` (which
//! nodes ran their `exec:`, the pid and start time of each `run:` process),
//! `work/LAB/logs/NODE.log`, `work/LAB/exit/NODE.I` and the staged
//! contents of `files:`; `mnt/NODE` pins the node's mount namespace.

use std::collections::BTreeSet;
use std::io::{self, BufRead, BufReader};
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use serde::{Deserialize, Serialize};

use super::EngineError;
use super::files;
use super::logs::{self, LogWriter};
use super::record::Owner;
use crate::kernel::{exec as kexec, mounts, procs, sockdiag, sys};
use crate::model::Lab;
use crate::model::workload::{Check, Cmd, FileSource, Workload};

/// How long `down` waits after SIGTERM before SIGKILL, by default.
pub const GRACE: Duration = Duration::from_secs(5);

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct State {
    /// Nodes whose `exec:` commands ran (they run once per lab).
    exec_done: BTreeSet<String>,
    procs: Vec<Proc>,
}

/// One `run:` process.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Proc {
    node: String,
    index: usize,
    command: String,
    pid: u32,
    start: u64,
}

/// What `start` did.
#[derive(Debug, Default)]
pub struct WorkReport {
    /// `exec:` commands run.
    pub ran: usize,
    /// `run:` processes started now: node, command, pid.
    pub started: Vec<(String, String, u32)>,
    /// `run:` processes found running and kept.
    pub kept: usize,
    /// Nodes whose `ready:` check passed, with the time it took.
    pub ready: Vec<(String, Duration)>,
}

impl WorkReport {
    pub fn is_empty(&self) -> bool {
        self.ran == 0 && self.started.is_empty() && self.kept == 0 && self.ready.is_empty()
    }
}

/// One `run:` process as `status` shows it.
#[derive(Clone, Debug, Serialize)]
pub struct ProcStatus {
    pub node: String,
    pub command: String,
    pub pid: u32,
    /// "running", or "exited" (with `exit` when the supervisor saw it).
    pub state: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exit: Option<String>,
}

fn mkdir(p: &Path) -> io::Result<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(p)
}

fn work_dir(lab: &str) -> io::Result<PathBuf> {
    Ok(files::state_dir()?.join("work").join(lab))
}

fn existing_work_dir(lab: &str) -> Option<PathBuf> {
    let p = files::existing_state_dir().ok()?.join("work").join(lab);
    p.is_dir().then_some(p)
}

/// The node's log file (whether or not it exists yet).
pub fn log_path(lab: &str, node: &str) -> Option<PathBuf> {
    Some(
        files::existing_state_dir()
            .ok()?
            .join("work")
            .join(lab)
            .join("logs")
            .join(format!("{node}.log")),
    )
}

/// The lab whose state holds a log for `node`.
pub fn lab_of_node(node: &str) -> Option<String> {
    let work = files::existing_state_dir().ok()?.join("work");
    let mut labs: Vec<String> = std::fs::read_dir(work)
        .ok()?
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().into_string().ok())
        .collect();
    labs.sort();
    labs.into_iter()
        .find(|lab| log_path(lab, node).is_some_and(|p| p.exists() || logs::rotated(&p).exists()))
}

fn pin_dir() -> io::Result<PathBuf> {
    Ok(files::state_dir()?.join("mnt"))
}

/// The pin of `node`'s mount namespace, when it has one.
pub fn pin_of(node: &str) -> Option<PathBuf> {
    let p = files::existing_state_dir().ok()?.join("mnt").join(node);
    mounts::is_pinned(&p).then_some(p)
}

fn load(lab: &str) -> State {
    existing_work_dir(lab)
        .and_then(|d| files::read_private(&d.join("state.json")).ok())
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default()
}

fn save(lab: &str, s: &State) -> Result<(), EngineError> {
    let io = |e| EngineError::Io("write the workload state".into(), e);
    let dir = work_dir(lab).map_err(io)?;
    mkdir(&dir).map_err(io)?;
    let data = serde_json::to_vec_pretty(s).map_err(|e| io(io::Error::other(e)))?;
    files::write_atomic(&dir.join("state.json"), &data).map_err(io)
}

/// Whether this lab's workloads never ran (a fresh lab, for rollback).
pub fn fresh(lab: &str) -> bool {
    existing_work_dir(lab).is_none()
}

/// The program that supervises commands: this one, or VNET_BIN (for
/// programs that use vnet as a library).
fn vnet_binary() -> io::Result<PathBuf> {
    match std::env::var_os("VNET_BIN") {
        Some(p) => Ok(PathBuf::from(p)),
        None => std::env::current_exe(),
    }
}

/// A user as commands run: uid, gid, home, name.
struct Who {
    uid: u32,
    gid: u32,
    home: String,
    name: String,
}

fn user(node: &str, name: Option<&str>) -> Result<Who, EngineError> {
    let Some(name) = name else {
        return Ok(Who {
            uid: 0,
            gid: 0,
            home: "/root".into(),
            name: "root".into(),
        });
    };
    let found = match name.parse::<u32>() {
        Ok(uid) => nix::unistd::User::from_uid(uid.into()),
        Err(_) => nix::unistd::User::from_name(name),
    };
    match found {
        Ok(Some(u)) => Ok(Who {
            uid: u.uid.as_raw(),
            gid: u.gid.as_raw(),
            home: u.dir.display().to_string(),
            name: u.name,
        }),
        _ => Err(EngineError::Refused(format!(
            "node {node}: user `{name}` does not exist on this machine (see /etc/passwd)"
        ))),
    }
}

fn group(node: &str, name: &str) -> Result<u32, EngineError> {
    let found = match name.parse::<u32>() {
        Ok(gid) => nix::unistd::Group::from_gid(gid.into()),
        Err(_) => nix::unistd::Group::from_name(name),
    };
    match found {
        Ok(Some(g)) => Ok(g.gid.as_raw()),
        _ => Err(EngineError::Refused(format!(
            "node {node}: group `{name}` does not exist on this machine (see /etc/group)"
        ))),
    }
}

/// Start what the lab's nodes run: mounts, `exec:` (once per lab), the
/// `run:` processes that are not running, then wait for `ready:` checks
/// (unless `wait_ready` is false). `base` is the lab file's directory,
/// against which `from:` paths are read.
pub fn start(lab: &Lab, base: Option<&Path>, wait_ready: bool) -> Result<WorkReport, WorkFailure> {
    let mut report = WorkReport::default();
    let nodes = start_nodes(lab, base, &mut report).map_err(|error| WorkFailure {
        error,
        roll_back: true,
    })?;
    if wait_ready {
        for (node, w) in &nodes {
            if let Some(r) = &w.ready {
                let took = user(node, w.user.as_deref())
                    .and_then(|who| {
                        ready(
                            node,
                            pin_of(node).as_deref(),
                            &who,
                            &w.env,
                            &r.check,
                            r.timeout,
                        )
                    })
                    .map_err(|error| WorkFailure {
                        error,
                        roll_back: false,
                    })?;
                report.ready.push((node.to_string(), took));
            }
        }
    }
    Ok(report)
}

/// Why `start` failed, and whether what the run made should go (a failed
/// `exec:` or a command that cannot start; not a slow `ready:`).
#[derive(Debug)]
pub struct WorkFailure {
    pub error: EngineError,
    pub roll_back: bool,
}

fn start_nodes<'a>(
    lab: &'a Lab,
    base: Option<&Path>,
    report: &mut WorkReport,
) -> Result<Vec<(&'a str, &'a Workload)>, EngineError> {
    let nodes: Vec<(&str, &Workload)> = lab
        .netns_nodes()
        .filter(|(_, n)| !n.workload.is_empty())
        .map(|(name, n)| (name, &*n.workload))
        .collect();
    if nodes.is_empty() {
        return Ok(nodes);
    }
    let mut state = load(&lab.name);
    let dir =
        work_dir(&lab.name).map_err(|e| EngineError::Io("create the workload state".into(), e))?;
    for sub in ["logs", "exit", "files"] {
        mkdir(&dir.join(sub))
            .map_err(|e| EngineError::Io(format!("create {}", dir.join(sub).display()), e))?;
    }
    save(&lab.name, &state)?;
    for (node, w) in &nodes {
        let who = user(node, w.user.as_deref())?;
        if w.needs_mounts() && pin_of(node).is_none() {
            make_mounts(&lab.name, node, w, base, &dir)?;
        }
        let pin = pin_of(node);
        let log = dir.join("logs").join(format!("{node}.log"));
        if !state.exec_done.contains(*node) {
            for (i, cmd) in w.exec.iter().enumerate() {
                let exit = dir.join("exit").join(format!("{node}.exec{i}"));
                let mut sup = spawn(node, pin.as_deref(), &who, &w.env, cmd, &log, &exit)?;
                let code = sup.wait_exit();
                report.ran += 1;
                if code != Some(0) {
                    let tail = logs::read(&log, None).unwrap_or_default();
                    let tail: Vec<&String> = tail.iter().rev().take(10).rev().collect();
                    let mut m = format!(
                        "node {node}: `exec:` command `{cmd}` failed ({})",
                        match code {
                            Some(c) => format!("exit code {c}"),
                            None => "no exit code".into(),
                        }
                    );
                    if !tail.is_empty() {
                        m.push_str("; its log ends:");
                        for l in tail {
                            m.push_str(&format!("\n    {l}"));
                        }
                    }
                    return Err(EngineError::Refused(m));
                }
            }
            state.exec_done.insert(node.to_string());
            save(&lab.name, &state)?;
        }
        for (i, cmd) in w.run.iter().enumerate() {
            let running = state.procs.iter().any(|p| {
                p.node == *node
                    && p.index == i
                    && Owner {
                        pid: p.pid,
                        start: p.start,
                    }
                    .alive()
            });
            if running {
                report.kept += 1;
                continue;
            }
            let exit = dir.join("exit").join(format!("{node}.{i}"));
            let _ = std::fs::remove_file(&exit);
            let sup = spawn(node, pin.as_deref(), &who, &w.env, cmd, &log, &exit)?;
            state.procs.retain(|p| !(p.node == *node && p.index == i));
            state.procs.push(Proc {
                node: node.to_string(),
                index: i,
                command: cmd.to_string(),
                pid: sup.pid,
                start: sup.start,
            });
            save(&lab.name, &state)?;
            report
                .started
                .push((node.to_string(), cmd.to_string(), sup.pid));
        }
    }
    Ok(nodes)
}

/// The node's mount namespace, with its files staged and its dirs owned.
fn make_mounts(
    lab: &str,
    node: &str,
    w: &Workload,
    base: Option<&Path>,
    dir: &Path,
) -> Result<(), EngineError> {
    let refused = |m: String| EngineError::Refused(format!("node {node}: {m}"));
    let staged = dir.join("files").join(node);
    mkdir(&staged).map_err(|e| EngineError::Io(format!("create {}", staged.display()), e))?;
    let mut binds = Vec::new();
    for (i, f) in w.files.iter().enumerate() {
        let source = match &f.source {
            FileSource::Content(c) => {
                let p = staged.join(i.to_string());
                std::fs::write(&p, c)
                    .map_err(|e| EngineError::Io(format!("write {}", p.display()), e))?;
                std::fs::set_permissions(&p, std::os::unix::fs::PermissionsExt::from_mode(0o644))
                    .map_err(|e| EngineError::Io(format!("chmod {}", p.display()), e))?;
                p
            }
            FileSource::From(from) => {
                let p = Path::new(from);
                let p = if p.is_absolute() {
                    p.to_path_buf()
                } else {
                    base.unwrap_or(Path::new(".")).join(p)
                };
                if !p.exists() {
                    return Err(refused(format!(
                        "`from: {from}` for {} names {}, which does not exist",
                        f.path,
                        p.display()
                    )));
                }
                p
            }
        };
        binds.push(mounts::Bind {
            target: PathBuf::from(&f.path),
            source,
        });
    }
    let mut dirs = Vec::new();
    for d in &w.dirs {
        let (uid, mut gid) = match &d.owner {
            Some(o) => {
                let u = user(node, Some(o))?;
                (u.uid, u.gid)
            }
            None => (0, 0),
        };
        if let Some(g) = &d.group {
            gid = group(node, g)?;
        }
        dirs.push(mounts::Tmpfs {
            target: PathBuf::from(&d.path),
            uid,
            gid,
            mode: d.mode,
        });
    }
    let pins = pin_dir().map_err(|e| EngineError::Io("create the pin directory".into(), e))?;
    mounts::prepare_pin_dir(&pins)
        .map_err(|e| EngineError::kernel("prepare the pin directory", e))?;
    let _ = lab;
    mounts::create(node, &pins.join(node), &pins, &dirs, &binds).map_err(|e| {
        EngineError::kernel(&format!("make node {node}'s own files and directories"), e)
    })
}

/// A supervisor started for one command.
struct Supervised {
    pid: u32,
    start: u64,
    out: BufReader<std::process::ChildStdout>,
    _child: std::process::Child,
}

impl Supervised {
    /// The command's exit code, once the supervisor reports it.
    fn wait_exit(&mut self) -> Option<i32> {
        let mut line = String::new();
        loop {
            line.clear();
            match self.out.read_line(&mut line) {
                Ok(0) | Err(_) => return None,
                Ok(_) => {}
            }
            if let Some(c) = line.trim().strip_prefix("exit ") {
                return c.parse().ok();
            }
        }
    }
}

/// The environment commands get: a plain one, then the node's `env:`.
fn environment(who: &Who, env: &[(String, String)]) -> Vec<(String, String)> {
    let mut out = vec![
        (
            "PATH".to_string(),
            "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".to_string(),
        ),
        ("HOME".into(), who.home.clone()),
        ("USER".into(), who.name.clone()),
        ("LOGNAME".into(), who.name.clone()),
    ];
    out.extend(env.iter().cloned());
    out
}

fn spawn(
    node: &str,
    pin: Option<&Path>,
    who: &Who,
    env: &[(String, String)],
    cmd: &Cmd,
    log: &Path,
    exit: &Path,
) -> Result<Supervised, EngineError> {
    let exe = vnet_binary().map_err(|e| EngineError::Io("find the vnet program".into(), e))?;
    let mut c = Command::new(exe);
    c.arg("__supervise")
        .arg("--log")
        .arg(log)
        .arg("--exit")
        .arg(exit)
        .arg("--tag")
        .arg(cmd.tag())
        .args(["--uid", &who.uid.to_string(), "--gid", &who.gid.to_string()])
        .arg("--")
        .args(cmd.argv())
        .env_clear()
        .envs(environment(who, env))
        .current_dir("/")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    sys::new_session(&mut c);
    let child = in_node(node, pin, move || c.spawn())?
        .map_err(|e| EngineError::Io(format!("node {node}: start the supervisor of `{cmd}`"), e))?;
    let mut child = child;
    let mut out = BufReader::new(child.stdout.take().expect("piped"));
    let mut line = String::new();
    let _ = out.read_line(&mut line);
    let words: Vec<&str> = line.split_whitespace().collect();
    match words.as_slice() {
        ["started", pid, start] => Ok(Supervised {
            pid: pid.parse().unwrap_or(0),
            start: start.parse().unwrap_or(0),
            out,
            _child: child,
        }),
        _ => Err(EngineError::Refused(format!(
            "node {node}: cannot start `{cmd}`: {}",
            line.trim()
                .strip_prefix("failed ")
                .unwrap_or("the supervisor ended at once")
        ))),
    }
}

/// Run `f` on a thread inside the node's network namespace and, when it
/// has one, its mount namespace: what it starts is born there.
fn in_node<T: Send>(
    node: &str,
    pin: Option<&Path>,
    f: impl FnOnce() -> T + Send,
) -> Result<T, EngineError> {
    std::thread::scope(|s| {
        s.spawn(|| {
            kexec::enter_net(node)?;
            if let Some(p) = pin {
                mounts::enter(p)?;
            }
            Ok(f())
        })
        .join()
        .unwrap_or_else(|_| Err(crate::kernel::KernelError::from_errno(libc::EIO)))
    })
    .map_err(|e| EngineError::kernel(&format!("enter node {node}"), e))
}

/// Wait for a node's `ready:` check; how long it took.
fn ready(
    node: &str,
    pin: Option<&Path>,
    who: &Who,
    env: &[(String, String)],
    check: &Check,
    timeout: Duration,
) -> Result<Duration, EngineError> {
    let started = Instant::now();
    let mut last = String::new();
    loop {
        let ok = match check {
            Check::Tcp(port) => listening(node, *port)?,
            Check::Exec(cmd) => {
                let argv = cmd.argv();
                let mut c = Command::new(&argv[0]);
                c.args(&argv[1..])
                    .env_clear()
                    .envs(environment(who, env))
                    .current_dir("/")
                    .stdin(Stdio::null())
                    .stdout(Stdio::null())
                    .stderr(Stdio::null());
                {
                    use std::os::unix::process::CommandExt;
                    c.uid(who.uid).gid(who.gid);
                }
                match in_node(node, pin, move || c.status())? {
                    Ok(s) if s.success() => true,
                    Ok(s) => {
                        last = match s.code() {
                            Some(c) => format!("; last exit code {c}"),
                            None => String::new(),
                        };
                        false
                    }
                    Err(e) => {
                        last = format!("; {e}");
                        false
                    }
                }
            }
        };
        if ok {
            return Ok(started.elapsed());
        }
        if started.elapsed() >= timeout {
            let what = match check {
                Check::Tcp(p) => format!("nothing listens on TCP port {p}"),
                Check::Exec(c) => format!("`{c}` never succeeded{last}"),
            };
            return Err(EngineError::Refused(format!(
                "node {node} not ready after {:.0} s: {what} (see `vnet logs {node}`; the lab is up)",
                timeout.as_secs_f64()
            )));
        }
        // A check is a command or a socket dump: nothing to wait on but time.
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn listening(node: &str, port: u16) -> Result<bool, EngineError> {
    let fd = match crate::kernel::netns::open_named(node)
        .map_err(|e| EngineError::kernel(&format!("open node {node}"), e))?
    {
        crate::kernel::netns::Found::Namespace(fd) => fd,
        _ => return Err(EngineError::NoSuchNamespace(vec![node.to_string()])),
    };
    let list = sockdiag::read_in(std::os::fd::AsFd::as_fd(&fd))
        .map_err(|e| EngineError::kernel(&format!("read node {node}'s sockets"), e))?;
    Ok(list
        .iter()
        .any(|l| l.proto == sockdiag::Proto::Tcp && l.port == port))
}

/// The lab's `run:` processes and how they are.
pub fn status(lab: &str) -> Vec<ProcStatus> {
    let state = load(lab);
    let dir = existing_work_dir(lab);
    state
        .procs
        .iter()
        .map(|p| {
            let alive = Owner {
                pid: p.pid,
                start: p.start,
            }
            .alive();
            let exit = if alive {
                None
            } else {
                dir.as_ref()
                    .and_then(|d| {
                        std::fs::read_to_string(
                            d.join("exit").join(format!("{}.{}", p.node, p.index)),
                        )
                        .ok()
                    })
                    .and_then(|s| s.split_whitespace().nth(1).map(str::to_string))
            };
            ProcStatus {
                node: p.node.clone(),
                command: p.command.clone(),
                pid: p.pid,
                state: if alive { "running" } else { "exited" }.into(),
                exit,
            }
        })
        .collect()
}

/// A process `down` ended.
#[derive(Clone, Debug, Serialize)]
pub struct Ended {
    pub pid: u32,
    pub command: String,
    /// It ignored SIGTERM for the grace period and got SIGKILL.
    pub killed: bool,
}

/// End every process inside the namespaces `nodes` (their network
/// namespaces and the mount namespaces pinned for them): SIGTERM, then
/// SIGKILL after `grace`. Repeated while new ones appear (a shell loop
/// may fork while it is being ended), a few rounds at most.
pub fn end_processes(nodes: &[String], grace: Duration) -> Vec<Ended> {
    let mut ids = Vec::new();
    for n in nodes {
        ids.extend(procs::ns_id(
            &Path::new(crate::kernel::netns::RUN_DIR).join(n),
        ));
        if let Some(p) = pin_of(n) {
            ids.extend(procs::ns_id(&p));
        }
    }
    let mut out = Vec::new();
    for _ in 0..5 {
        let found = procs::inside(&ids);
        if found.is_empty() {
            break;
        }
        for (f, killed) in procs::end(&found, grace) {
            out.push(Ended {
                pid: f.pid,
                command: f.comm,
                killed,
            });
        }
    }
    out
}

/// Unpin the nodes' mount namespaces and remove the lab's workload state
/// (logs included). What could not be removed, in words.
pub fn remove(lab: &str, nodes: &[String]) -> Vec<String> {
    let mut left = Vec::new();
    if let Ok(st) = files::existing_state_dir() {
        for n in nodes {
            let p = st.join("mnt").join(n);
            if p.exists()
                && let Err(e) = mounts::remove(&p)
            {
                left.push(format!("mount namespace of {n}: {e}"));
            }
        }
    }
    if let Some(d) = existing_work_dir(lab)
        && let Err(e) = std::fs::remove_dir_all(&d)
    {
        left.push(format!("{}: {e}", d.display()));
    }
    left
}

/// `vnet __supervise`: what the supervisor is told.
pub struct Supervise {
    pub log: PathBuf,
    pub exit: PathBuf,
    pub tag: String,
    pub uid: u32,
    pub gid: u32,
    pub argv: Vec<String>,
}

/// Run one command: its output into the log, its exit code into the exit
/// file. Prints `started PID START` (or `failed WHY`) and, at its end,
/// `exit CODE` on stdout, for the `up` that may be waiting.
pub fn supervise(a: Supervise) -> i32 {
    use std::io::Write;
    use std::os::unix::process::{CommandExt, ExitStatusExt};
    let mut stdout = io::stdout();
    let mut log = match LogWriter::open(&a.log) {
        Ok(l) => l,
        Err(e) => {
            let _ = writeln!(stdout, "failed cannot open {}: {e}", a.log.display());
            return 1;
        }
    };
    let Some(program) = a.argv.first() else {
        let _ = writeln!(stdout, "failed no command");
        return 1;
    };
    let (reader, writer) = match io::pipe() {
        Ok(p) => p,
        Err(e) => {
            let _ = writeln!(stdout, "failed pipe: {e}");
            return 1;
        }
    };
    let spawned = {
        let mut c = Command::new(program);
        c.args(&a.argv[1..]).stdin(Stdio::null());
        match writer.try_clone() {
            Ok(w2) => {
                c.stdout(w2).stderr(writer);
            }
            Err(_) => {
                c.stdout(writer);
            }
        }
        if a.uid != 0 || a.gid != 0 {
            c.gid(a.gid).uid(a.uid);
        }
        c.spawn()
        // `c` goes here, and with it our copies of the pipe's write end.
    };
    let mut child = match spawned {
        Ok(c) => c,
        Err(e) => {
            log.line(
                &a.tag,
                format!("[vnet] cannot start {program}: {e}").as_bytes(),
            );
            let _ = std::fs::write(&a.exit, "0 127\n");
            let _ = writeln!(stdout, "failed {program}: {e}");
            return 1;
        }
    };
    let pid = child.id();
    let start = Owner::of(pid).map_or(0, |o| o.start);
    let _ = writeln!(stdout, "started {pid} {start}");
    let _ = stdout.flush();
    let log_path = a.log.clone();
    let tag = a.tag.clone();
    let copier = std::thread::spawn(move || {
        let Ok(mut w) = LogWriter::open(&log_path) else {
            return;
        };
        let mut r = BufReader::new(reader);
        let mut line = Vec::new();
        while r.read_until(b'\n', &mut line).is_ok_and(|n| n > 0) {
            w.line(&tag, &line);
            line.clear();
        }
    });
    let code = match child.wait() {
        Ok(s) => s.code().unwrap_or_else(|| 128 + s.signal().unwrap_or(0)),
        Err(_) => 255,
    };
    let _ = std::fs::write(&a.exit, format!("{pid} {code}\n"));
    log.line(
        &a.tag,
        format!("[vnet] {program} exited with code {code}").as_bytes(),
    );
    let _ = writeln!(stdout, "exit {code}");
    let _ = stdout.flush();
    // What the command left in the background may still write: keep
    // copying until the last writer is gone (or `down` ends us).
    let _ = copier.join();
    0
}

/// How a log's lines are read, for `vnet logs`.
pub fn read_log(lab: &str, node: &str, since: Option<Duration>) -> io::Result<Vec<String>> {
    let p = log_path(lab, node).ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))?;
    let since = since.and_then(|d| SystemTime::now().checked_sub(d));
    logs::read(&p, since)
}
