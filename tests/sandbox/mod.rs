//! The one sandbox every kernel test runs in: a holder process in a new
//! network and mount namespace, with a private tmpfs on /run (so /run/netns
//! and /run/vnet are its own) and a fresh sysfs. Commands join it with
//! nsenter. The holder lives as long as its stdin: when the test ends, or
//! dies, the pipe closes, the holder exits, and every namespace, interface
//! and mount made inside goes with it. Tests never touch the host's network.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::process::{Child, ChildStdin, Command, Output, Stdio};

pub struct Sandbox {
    holder: Child,
    _stdin: ChildStdin,
    pid: u32,
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
mkdir -p /run/netns /run/lock
umount -l /sys 2>/dev/null || true
mount -t sysfs sysfs /sys
ip link set lo up
echo ready
exec cat >/dev/null
"#;

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

impl Sandbox {
    /// A fresh sandbox, or None (after saying why) when the test cannot run
    /// here: not root, or no unshare.
    pub fn new() -> Option<Sandbox> {
        if !is_root() {
            eprintln!("skipped: this test builds networks and needs root (run: sudo cargo test)");
            return None;
        }
        let mut holder = Command::new("unshare")
            .args([
                "--net",
                "--mount",
                "--propagation",
                "private",
                "--",
                "sh",
                "-c",
                SETUP,
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .ok()?;
        let pid = holder.id();
        let stdin = holder.stdin.take()?;
        let mut line = String::new();
        BufReader::new(holder.stdout.take()?)
            .read_line(&mut line)
            .ok()?;
        if line.trim() != "ready" {
            let _ = holder.kill();
            let _ = holder.wait();
            panic!("the sandbox did not start (unshare failed)");
        }
        Some(Sandbox {
            holder,
            _stdin: stdin,
            pid,
        })
    }

    /// Run a shell script inside the sandbox, from the repository root.
    pub fn sh(&self, script: &str) -> Out {
        self.sh_env(script, &[])
    }

    pub fn sh_env(&self, script: &str, env: &[(&str, &str)]) -> Out {
        let mut c = Command::new("nsenter");
        // Entering a mount namespace resets the working directory: go back.
        let script = format!("cd \"$REPO\" && {{\n{script}\n}}");
        c.args([
            "-t",
            &self.pid.to_string(),
            "-n",
            "-m",
            "--",
            "sh",
            "-c",
            &script,
        ])
        .env("REPO", env!("CARGO_MANIFEST_DIR"))
        .env("VNET", env!("CARGO_BIN_EXE_vnet"))
        .env("NO_COLOR", "1");
        for (k, v) in env {
            c.env(k, v);
        }
        Out::from(c.output().expect("nsenter runs"))
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
        // Closing stdin ends the holder; kill only our own child, by its PID.
        let _ = self.holder.kill();
        let _ = self.holder.wait();
    }
}

/// A sandbox, or return from the test (skipped, with the reason printed).
#[macro_export]
macro_rules! sandbox {
    () => {
        match $crate::sandbox::Sandbox::new() {
            Some(s) => s,
            None => return,
        }
    };
}
