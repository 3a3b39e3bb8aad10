//! The rootless holder, `vnet __holder DIR`: one process per user that
//! makes and keeps the namespaces rootless labs live in (see
//! [`super::userns`]), as podman's pause process does for its containers.
//!
//! It makes a user namespace (the user mapped to root), then a mount and a
//! network namespace owned by it. In the mount namespace, /run becomes a
//! tmpfs of its own, with what was in /run bound back (so /run/user and
//! sockets there still work inside), and DIR/netns and DIR/state bound at
//! /run/netns and /run/vnet; a fresh sysfs on /sys shows the new network
//! namespace. It says "ready" on stdout (or "error: …" and why), lets go of
//! the terminal, and waits for SIGTERM. Its death ends every namespace it
//! held, and every lab with them.

use std::fs::File;
use std::io::Write;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use netlink_packet_route::RouteNetlinkMessage;
use netlink_packet_route::link::{LinkFlags, LinkMessage};
use nix::mount::{MsFlags, mount};
use nix::sched::{CloneFlags, unshare};
use nix::sys::signal::{SigSet, Signal};

use super::netlink::NlSocket;
use super::userns;

/// Run the holder for runtime directory `dir`; returns the exit code.
pub fn run(dir: &Path) -> i32 {
    let mut out = std::io::stdout();
    if let Err(why) = make(dir) {
        let _ = writeln!(out, "error: {why}");
        return 1;
    }
    // Blocked before "ready": a SIGTERM sent right after is not lost.
    let mut signals = SigSet::empty();
    for s in [Signal::SIGTERM, Signal::SIGINT, Signal::SIGHUP] {
        signals.add(s);
    }
    let _ = signals.thread_block();
    let _ = writeln!(out, "ready");
    let _ = out.flush();
    // The starter reads until "ready"; from here stdout leads nowhere.
    if let Ok(null) = File::options().write(true).open("/dev/null") {
        let _ = nix::unistd::dup2_stdout(&null);
    }
    let _ = nix::unistd::setsid();
    loop {
        if signals.wait().is_ok() {
            return 0;
        }
    }
}

fn make(dir: &Path) -> Result<(), String> {
    let (uid, gid) = userns::ids();
    unshare(CloneFlags::CLONE_NEWUSER).map_err(|e| format!("cannot make a user namespace: {e}"))?;
    for (file, text) in [
        ("setgroups", "deny".to_string()),
        ("uid_map", format!("0 {uid} 1\n")),
        ("gid_map", format!("0 {gid} 1\n")),
    ] {
        std::fs::write(format!("/proc/self/{file}"), text).map_err(|e| {
            let why = if uid == 0 && e.raw_os_error() == Some(libc::EPERM) {
                " (mapping uid 0 needs CAP_SETFCAP, which this process lacks)"
            } else {
                ""
            };
            format!("cannot write /proc/self/{file}: {e}{why}")
        })?;
    }
    unshare(CloneFlags::CLONE_NEWNS | CloneFlags::CLONE_NEWNET)
        .map_err(|e| format!("cannot make the mount and network namespaces: {e}"))?;
    // Nothing mounted here may reach the user's own mount namespace.
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_SLAVE | MsFlags::MS_REC,
        None::<&str>,
    )
    .map_err(|e| format!("cannot make / a slave mount: {e}"))?;
    // Opened in the new mount namespace (a bind needs a source mounted in
    // it) and before /run is covered (DIR may live under it).
    let open_dir = |sub: &str| {
        File::open(dir.join(sub)).map_err(|e| format!("cannot open {}/{sub}: {e}", dir.display()))
    };
    let (netns_dir, state_dir) = (open_dir("netns")?, open_dir("state")?);
    private_run(&netns_dir, &state_dir)?;
    // /sys shows the network namespace of whoever mounted it.
    let _ = mount(
        Some("sysfs"),
        "/sys",
        Some("sysfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
        None::<&str>,
    );
    lo_up()?;
    let _ = std::env::set_current_dir("/");
    Ok(())
}

fn fd_path(f: &File) -> PathBuf {
    PathBuf::from(format!("/proc/self/fd/{}", f.as_raw_fd()))
}

fn bind(src: &Path, dst: &Path) -> Result<(), String> {
    mount(
        Some(src),
        dst,
        None::<&str>,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None::<&str>,
    )
    .map_err(|e| format!("cannot bind {} at {}: {e}", src.display(), dst.display()))
}

/// A tmpfs over /run holding what was there (bound back, entry by entry)
/// and the holder's own /run/netns and /run/vnet.
fn private_run(netns_dir: &File, state_dir: &File) -> Result<(), String> {
    let old = File::open("/run").map_err(|e| format!("cannot open /run: {e}"))?;
    mount(
        Some("tmpfs"),
        "/run",
        Some("tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
        Some("mode=755"),
    )
    .map_err(|e| format!("cannot mount a tmpfs on /run: {e}"))?;
    let old_path = fd_path(&old);
    if let Ok(entries) = std::fs::read_dir(&old_path) {
        for e in entries.flatten() {
            let name = e.file_name();
            if name == "netns" || name == "vnet" {
                continue;
            }
            let (src, dst) = (old_path.join(&name), Path::new("/run").join(&name));
            let Ok(kind) = e.file_type() else { continue };
            // Best effort: what cannot be bound back is only missing inside.
            if kind.is_symlink() {
                if let Ok(to) = std::fs::read_link(&src) {
                    let _ = std::os::unix::fs::symlink(to, &dst);
                }
            } else if kind.is_dir() {
                if std::fs::create_dir(&dst).is_ok() && bind(&src, &dst).is_err() {
                    let _ = std::fs::remove_dir(&dst);
                }
            } else if File::create(&dst).is_ok() && bind(&src, &dst).is_err() {
                let _ = std::fs::remove_file(&dst);
            }
        }
    }
    for (from, at) in [(netns_dir, "/run/netns"), (state_dir, "/run/vnet")] {
        std::fs::create_dir(at).map_err(|e| format!("cannot make {at}: {e}"))?;
        bind(&fd_path(from), Path::new(at))?;
    }
    Ok(())
}

fn lo_up() -> Result<(), String> {
    let mut sock = NlSocket::open().map_err(|e| format!("cannot open rtnetlink: {e}"))?;
    let mut lo = LinkMessage::default();
    lo.header.index = 1;
    lo.header.flags = LinkFlags::Up;
    lo.header.change_mask = LinkFlags::Up;
    sock.request(RouteNetlinkMessage::SetLink(lo), 0)
        .map_err(|e| format!("cannot bring lo up: {e}"))
}
