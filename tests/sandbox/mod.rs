//! The one sandbox every kernel test runs in: a holder process in a new
//! network and mount namespace, with a private tmpfs on /run (so /run/netns
//! and /run/vnet are its own) and a fresh sysfs. Commands join it with
//! nsenter. The holder lives as long as its stdin: when the test ends, or
//! dies, the pipe closes, the holder exits, and every namespace, interface
//! and mount made inside goes with it. Tests never touch the host's network.
//!
//! As root the namespaces are plain ones. A normal user gets them inside a
//! new user namespace of its own (`unshare --user --map-root-user`), where
//! it is uid 0 with every capability over the network it made: enough to
//! build, probe and read it, not for what only the host's root may do
//! (tracefs, for one; see `harness::host_root`). Where neither works (no
//! root and no unprivileged user namespaces, or no util-linux), the kernel
//! tests are reported as ignored, with the reason.
#![allow(dead_code)]

#[macro_use]
pub mod harness;

use std::io::{BufRead, BufReader};
use std::process::{Child, ChildStdin, Command, Output, Stdio};
use std::sync::OnceLock;

/// How sandboxes are made on this machine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Run by the host's root: plain network and mount namespaces.
    Root,
    /// Run by anyone else (a normal user, uid 0 of a container): inside a
    /// user namespace of its own.
    User,
}

pub struct Sandbox {
    holder: Child,
    _stdin: ChildStdin,
    pid: u32,
    mode: Mode,
}

/// Result of one command in the sandbox.
#[derive(Debug)]
pub struct Out {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Out {
    fn from(o: Output) -> Out {
        Out {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }

    /// Panic with both streams unless the exit code is `code`.
    #[track_caller]
    pub fn expect(self, code: i32) -> Out {
        assert_eq!(
            self.code, code,
            "expected exit {code}, got {}\n--- stdout\n{}\n--- stderr\n{}",
            self.code, self.stdout, self.stderr
        );
        self
    }

    #[track_caller]
    pub fn ok(self) -> Out {
        self.expect(0)
    }
}

const SETUP: &str = r#"
set -e
mount -t tmpfs -o mode=755 tmpfs /run
mkdir -p /run/netns /run/lock /run/user/0 /run/user/65534/home
chmod 700 /run/user/0 /run/user/65534
chown -R 65534:65534 /run/user/65534 2>/dev/null || true
umount -l /sys 2>/dev/null || true
mount -t sysfs sysfs /sys
ip link set lo up
echo ready
exec cat >/dev/null
"#;

/// unshare's options for the holder.
fn unshare_args(mode: Mode) -> &'static [&'static str] {
    match mode {
        Mode::Root => &["--net", "--mount", "--propagation", "private"],
        Mode::User => &[
            "--user",
            "--map-root-user",
            "--net",
            "--mount",
            "--propagation",
            "private",
        ],
    }
}

/// Root of the host: uid 0 in the initial user namespace (whose map is the
/// identity over every uid), not uid 0 of a container's user namespace.
fn is_host_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    let uid0 = unsafe { libc::geteuid() == 0 };
    let initial = std::fs::read_to_string("/proc/self/uid_map")
        .is_ok_and(|m| m.split_whitespace().collect::<Vec<_>>() == ["0", "0", "4294967295"]);
    uid0 && initial
}

/// Whether `prog` is found on PATH.
fn installed(prog: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|p| {
        std::env::split_paths(&p).any(|d| {
            std::fs::metadata(d.join(prog)).is_ok_and(|m| {
                use std::os::unix::fs::PermissionsExt;
                m.is_file() && m.permissions().mode() & 0o111 != 0
            })
        })
    })
}

/// How sandboxes are made here, or why they cannot be (asked once).
pub fn mode() -> Result<Mode, String> {
    static MODE: OnceLock<Result<Mode, String>> = OnceLock::new();
    MODE.get_or_init(|| {
        let missing: Vec<&str> = ["unshare", "nsenter", "ip", "setpriv"]
            .into_iter()
            .filter(|p| !installed(p))
            .collect();
        if !missing.is_empty() {
            return Err(format!(
                "the sandbox needs {} (util-linux, iproute2: see .ci/packages.txt)",
                missing.join(", ")
            ));
        }
        if is_host_root() {
            return Ok(Mode::Root);
        }
        let tried = Command::new("unshare")
            .args(unshare_args(Mode::User))
            .args(["--", "true"])
            .stdin(Stdio::null())
            .output();
        match tried {
            Ok(o) if o.status.success() => Ok(Mode::User),
            Ok(o) => Err(format!(
                "not the host's root, and no user namespace may be made here ({}); run as root",
                String::from_utf8_lossy(&o.stderr).trim()
            )),
            Err(e) => Err(format!(
                "not the host's root, and unshare did not run ({e}); run as root"
            )),
        }
    })
    .clone()
}

impl Sandbox {
    /// A fresh sandbox. Panics when none can be made: the harness asked
    /// [`mode`] before running a kernel test, so this is a failure.
    pub fn new() -> Sandbox {
        let mode = mode().unwrap_or_else(|why| panic!("no sandbox here: {why}"));
        let mut holder = Command::new("unshare")
            .args(unshare_args(mode))
            .args(["--", "sh", "-c", SETUP])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("the sandbox did not start: unshare: {e}"));
        let pid = holder.id();
        let stdin = holder.stdin.take().expect("piped stdin");
        let mut line = String::new();
        let read = BufReader::new(holder.stdout.take().expect("piped stdout")).read_line(&mut line);
        if read.is_err() || line.trim() != "ready" {
            let _ = holder.kill();
            let _ = holder.wait();
            panic!("the sandbox did not start (unshare {mode:?} failed; its stderr is above)");
        }
        Sandbox {
            holder,
            _stdin: stdin,
            pid,
            mode,
        }
    }

    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// Run a shell script inside the sandbox, from the repository root.
    pub fn sh(&self, script: &str) -> Out {
        self.sh_env(script, &[])
    }

    pub fn sh_env(&self, script: &str, env: &[(&str, &str)]) -> Out {
        let mut c = self.command(script);
        for (k, v) in env {
            c.env(k, v);
        }
        Out::from(c.output().expect("nsenter runs"))
    }

    /// The command that runs `script` inside the sandbox, from the
    /// repository root, for callers that wire its streams themselves.
    pub fn command(&self, script: &str) -> Command {
        let mut c = Command::new("nsenter");
        // Entering a mount namespace resets the working directory: go back.
        let script = format!("cd \"$REPO\" && {{\n{script}\n}}");
        c.args(["-t", &self.pid.to_string()]);
        if self.mode == Mode::User {
            // uid 0 of the sandbox's user namespace is the caller: keep the
            // credentials (nsenter could not drop the supplementary groups).
            c.args(["-U", "--preserve-credentials"]);
        }
        c.args(["-n", "-m", "--", "sh", "-c", &script])
            .env("REPO", env!("CARGO_MANIFEST_DIR"))
            .env("NOBODY", self.nobody())
            .env("AS_USER", self.as_user())
            .env("VNET", env!("CARGO_BIN_EXE_vnet"))
            .env("NO_COLOR", "1");
        c
    }

    /// A command prefix (also `$NOBODY` in scripts) that runs what follows
    /// without privilege and without rootless mode (VNET_ROOTLESS=0), so
    /// that vnet refuses: as nobody when run by root; as uid 0 without any
    /// capability in a user namespace, where nobody has no uid.
    pub fn nobody(&self) -> &'static str {
        match self.mode {
            Mode::Root => "setpriv --reuid=65534 --regid=65534 --clear-groups env VNET_ROOTLESS=0",
            Mode::User => "setpriv --bounding-set=-all --inh-caps=-all env VNET_ROOTLESS=0",
        }
    }

    /// A command prefix (also `$AS_USER` in scripts) that runs what follows
    /// as the sandbox's unprivileged user, for rootless mode: uid 65534
    /// when run by root; in a user namespace, where 65534 has no uid, uid 0
    /// without any capability. Either has a HOME and an XDG_RUNTIME_DIR of
    /// its own (/run/user/65534, made by the sandbox). Neither has
    /// CAP_NET_ADMIN, so vnet chooses rootless mode by itself.
    pub fn as_user(&self) -> &'static str {
        match self.mode {
            Mode::Root => {
                "setpriv --reuid=65534 --regid=65534 --clear-groups env HOME=/run/user/65534/home XDG_RUNTIME_DIR=/run/user/65534"
            }
            // CAP_SETFCAP alone: since Linux 5.12 mapping uid 0 (this
            // user's uid outside) into a new user namespace needs it.
            Mode::User => {
                "setpriv --bounding-set=-all,+setfcap --inh-caps=-all env HOME=/run/user/65534/home XDG_RUNTIME_DIR=/run/user/65534"
            }
        }
    }

    /// The uid `as_user` has outside the namespaces vnet makes for it.
    pub fn user_uid(&self) -> u32 {
        match self.mode {
            Mode::Root => 65534,
            Mode::User => 0,
        }
    }

    /// `vnet ARGS…` as the sandbox's unprivileged user (rootless mode).
    pub fn vnet_as_user(&self, args: &str) -> Out {
        self.sh(&format!("$AS_USER \"$VNET\" {args}"))
    }

    /// `vnet ARGS…` inside the sandbox.
    pub fn vnet(&self, args: &str) -> Out {
        self.sh(&format!("\"$VNET\" {args}"))
    }

    /// `ip -j ARGS…` parsed.
    #[track_caller]
    pub fn ip_json(&self, args: &str) -> serde_json::Value {
        let out = self.sh(&format!("ip -j {args}")).ok();
        if out.stdout.trim().is_empty() {
            return serde_json::Value::Array(vec![]);
        }
        serde_json::from_str(&out.stdout)
            .unwrap_or_else(|e| panic!("ip -j {args}: {e}: {}", out.stdout))
    }

    /// Named namespaces, sorted.
    pub fn netns(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .ip_json("netns list")
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|n| n["name"].as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        v.sort();
        v
    }

    /// Interface names in a namespace ("" = the sandbox's own), sorted.
    pub fn links(&self, ns: &str) -> Vec<String> {
        let mut v: Vec<String> = self
            .ip_json(&format!("{} link", ns_opt(ns)))
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|l| l["ifname"].as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        v.sort();
        v
    }

    /// One interface as `ip -j -d link show` reports it.
    pub fn link(&self, ns: &str, name: &str) -> serde_json::Value {
        self.ip_json(&format!("{} -d link show dev {name}", ns_opt(ns)))[0].clone()
    }

    /// Addresses (CIDR) of an interface, IPv6 link-local excluded.
    pub fn addrs(&self, ns: &str, name: &str) -> Vec<String> {
        let v = self.ip_json(&format!("{} addr show dev {name}", ns_opt(ns)));
        let mut out = Vec::new();
        for a in v[0]["addr_info"].as_array().into_iter().flatten() {
            if a["scope"] == "link" {
                continue;
            }
            out.push(format!(
                "{}/{}",
                a["local"].as_str().unwrap_or(""),
                a["prefixlen"]
            ));
        }
        out
    }

    /// Whether one ICMP echo from `ns` to `addr` is answered (iproute2's and
    /// iputils' view, independent of vnet).
    pub fn pings(&self, ns: &str, addr: &str) -> bool {
        self.sh(&format!("ip netns exec {ns} ping -c1 -W2 {addr}"))
            .code
            == 0
    }
}

fn ns_opt(ns: &str) -> String {
    if ns.is_empty() {
        String::new()
    } else {
        format!("-n {ns}")
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        // A rootless holder that vnet started in here (a test that failed
        // before `down`) is not in the sandbox's namespaces' lifetime: end
        // it by the PID it recorded.
        let _ = self.sh("for f in /run/user/*/vnet/holder.pid; do [ -f \"$f\" ] && kill \"$(cat \"$f\")\" 2>/dev/null; done; true");
        // Closing stdin ends the holder; kill only our own child, by its PID.
        let _ = self.holder.kill();
        let _ = self.holder.wait();
    }
}
