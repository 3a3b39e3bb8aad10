//! What runs inside a netns node: per-node files and directories, one-shot
//! commands, long-running processes and a readiness check. Pure data; the
//! engine (src/engine/workload.rs) makes it happen.

use std::time::Duration;

use super::raw::Span;

/// The default time `ready:` may take.
pub const READY_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Workload {
    /// Paths shown inside the node only, in file order.
    pub files: Vec<FileSpec>,
    /// Fresh tmpfs directories inside the node only.
    pub dirs: Vec<DirSpec>,
    /// One-shot commands, in order, after the network is up.
    pub exec: Vec<Cmd>,
    /// Long-running processes, started after `exec:`.
    pub run: Vec<Cmd>,
    pub ready: Option<Ready>,
    /// The user (name or uid) commands run as; root when None.
    pub user: Option<String>,
    pub env: Vec<(String, String)>,
}

impl Workload {
    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
            && self.dirs.is_empty()
            && self.exec.is_empty()
            && self.run.is_empty()
            && self.ready.is_none()
    }

    /// The node needs a mount namespace of its own.
    pub fn needs_mounts(&self) -> bool {
        !self.files.is_empty() || !self.dirs.is_empty()
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct FileSpec {
    /// Absolute path inside the node.
    pub path: String,
    pub source: FileSource,
    /// Where the entry was written (for refusals at `up` time).
    pub at: Spot,
}

#[derive(Clone, Debug, PartialEq)]
pub enum FileSource {
    Content(String),
    /// A file or directory, relative to the lab file's directory (or absolute).
    From(String),
}

#[derive(Clone, Debug, PartialEq)]
pub struct DirSpec {
    pub path: String,
    /// User and group names or numbers; root when None.
    pub owner: Option<String>,
    pub group: Option<String>,
    pub mode: u32,
    pub at: Spot,
}

/// A command: a string run by `/bin/sh -c`, or an argv list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Cmd {
    Shell(String),
    Argv(Vec<String>),
}

impl Cmd {
    /// The program and its arguments.
    pub fn argv(&self) -> Vec<String> {
        match self {
            // A simple command replaces the shell (`exec`), so the pid
            // vnet records is the program's own.
            Cmd::Shell(s) if simple(s) => vec!["/bin/sh".into(), "-c".into(), format!("exec {s}")],
            Cmd::Shell(s) => vec!["/bin/sh".into(), "-c".into(), s.clone()],
            Cmd::Argv(v) => v.clone(),
        }
    }

    /// A short name for logs and status: the program's file name.
    pub fn tag(&self) -> String {
        let first = match self {
            // The program the shell ends up as (`…; exec PROG`), else its
            // first word.
            Cmd::Shell(s) => s
                .rsplit("exec ")
                .next()
                .filter(|_| s.contains("exec "))
                .unwrap_or(s)
                .split_whitespace()
                .next()
                .unwrap_or("sh")
                .to_string(),
            Cmd::Argv(v) => v.first().cloned().unwrap_or_default(),
        };
        let base = first.rsplit('/').next().unwrap_or(&first);
        base.chars()
            .filter(|c| c.is_ascii_alphanumeric() || "-_.".contains(*c))
            .take(32)
            .collect()
    }
}

/// A command line without shell syntax beyond words and quotes.
fn simple(s: &str) -> bool {
    !s.trim_start().starts_with("exec ")
        && !s.contains([
            ';', '&', '|', '<', '>', '(', ')', '$', '`', '\n', '{', '}', '*', '?', '~', '=',
        ])
}

impl std::fmt::Display for Cmd {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        match self {
            Cmd::Shell(s) => f.write_str(s),
            Cmd::Argv(v) => f.write_str(&v.join(" ")),
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Ready {
    pub check: Check,
    pub timeout: Duration,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Check {
    /// A command that succeeds once the node is ready.
    Exec(Cmd),
    /// A TCP listener on this port.
    Tcp(u16),
}

/// A place in the lab file that does not make two labs differ.
#[derive(Clone, Copy, Debug, Default)]
pub struct Spot(pub Span);

impl PartialEq for Spot {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

/// A path a workload may name: absolute, no `..`, no NUL, not `/` itself.
pub fn check_path(p: &str) -> Result<(), &'static str> {
    if !p.starts_with('/') {
        return Err("paths inside a node are absolute (start with /)");
    }
    if p == "/" || p.trim_end_matches('/').is_empty() {
        return Err("`/` itself cannot be replaced");
    }
    if p.split('/').any(|c| c == "..") {
        return Err("`..` is not allowed in a path");
    }
    if p.contains('\0') {
        return Err("a path cannot hold a NUL byte");
    }
    if ["/proc", "/sys", "/dev"]
        .iter()
        .any(|k| p == *k || p.starts_with(&format!("{k}/")))
    {
        return Err("/proc, /sys and /dev belong to the kernel");
    }
    Ok(())
}

/// A mode written in octal (`0755`, `755`, `0o755`).
pub fn parse_mode(s: &str) -> Option<u32> {
    let t = s.strip_prefix("0o").unwrap_or(s);
    let m = u32::from_str_radix(t, 8).ok()?;
    (m <= 0o7777).then_some(m)
}

/// A duration like `30s`, `500ms`, `2m` or a plain number of seconds.
pub fn parse_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    let (num, unit) = match s.find(|c: char| c.is_ascii_alphabetic()) {
        Some(i) => (&s[..i], &s[i..]),
        None => (s, "s"),
    };
    let n: f64 = num.trim().parse().ok()?;
    if !n.is_finite() || n < 0.0 {
        return None;
    }
    let secs = match unit {
        "ms" => n / 1000.0,
        "s" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        _ => return None,
    };
    (secs <= 86400.0).then(|| Duration::from_secs_f64(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_and_durations() {
        assert_eq!(parse_mode("0755"), Some(0o755));
        assert_eq!(parse_mode("755"), Some(0o755));
        assert_eq!(parse_mode("0o1777"), Some(0o1777));
        assert_eq!(parse_mode("8"), None);
        assert_eq!(parse_duration("30s"), Some(Duration::from_secs(30)));
        assert_eq!(parse_duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_duration("2m"), Some(Duration::from_secs(120)));
        assert_eq!(parse_duration("5"), Some(Duration::from_secs(5)));
        assert_eq!(parse_duration("x"), None);
    }

    #[test]
    fn paths() {
        assert!(check_path("/etc/frr").is_ok());
        assert!(check_path("etc/frr").is_err());
        assert!(check_path("/").is_err());
        assert!(check_path("/a/../b").is_err());
        assert!(check_path("/proc/x").is_err());
    }

    #[test]
    fn simple_commands_replace_the_shell() {
        assert_eq!(Cmd::Shell("sleep 9".into()).argv()[2], "exec sleep 9");
        assert_eq!(Cmd::Shell("a; b".into()).argv()[2], "a; b");
        assert_eq!(Cmd::Shell("a=1 b".into()).argv()[2], "a=1 b");
    }

    #[test]
    fn tags() {
        assert_eq!(
            Cmd::Shell("/usr/lib/frr/zebra -u frr".into()).tag(),
            "zebra"
        );
        assert_eq!(Cmd::Argv(vec!["sleep".into(), "9".into()]).tag(), "sleep");
        assert_eq!(
            Cmd::Shell(
                "until test -S /x; do sleep 0.1; done; exec /usr/lib/frr/ospfd -u frr".into()
            )
            .tag(),
            "ospfd"
        );
    }
}
