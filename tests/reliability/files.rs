//! vnet's own files and privileges: /run/vnet is 0700 and its files 0600,
//! root's, whatever the umask; a symlink planted in /run/vnet or at
//! /run/netns is never followed (refused, or replaced without touching its
//! target); junk under /run/netns (symlink, FIFO, socket, directory, plain
//! file) does not stop or hang vnet and is left alone; without root, or
//! with root but without CAP_NET_ADMIN or CAP_SYS_ADMIN, nothing changes.

use crate::mixed_lab;
use crate::sandbox::Sandbox;

fn modes(sb: &Sandbox) -> String {
    sb.sh("cd /run/vnet && stat -c '%n %a %u %F' . *")
        .ok()
        .stdout
}

pub fn state_files_are_private_and_root_owned_whatever_the_umask() {
    let sb = Sandbox::new();
    let (path, name) = mixed_lab(&sb, 5, "", 0);
    sb.sh(&format!("umask 000 && \"$VNET\" up -q {path}")).ok();
    let m = modes(&sb);
    assert_eq!(
        m,
        format!(
            ". 700 0 directory\n{name}.json 600 0 regular file\n{name}.lock 600 0 regular file\n"
        )
    );
    // A state directory opened to others is closed again.
    sb.sh("chmod 777 /run/vnet").ok();
    sb.vnet(&format!("up -q {path}")).ok();
    assert!(modes(&sb).starts_with(". 700 0 directory\n"));
}

/// Needs a second uid, which a user namespace of one mapped uid lacks.
pub fn a_state_directory_owned_by_someone_else_is_refused() {
    let sb = Sandbox::new();
    let (path, name) = mixed_lab(&sb, 5, "", 0);
    sb.vnet(&format!("up -q {path}")).ok();
    sb.sh("chown 65534 /run/vnet").ok();
    let out = sb.vnet(&format!("down -q {name}")).expect(1);
    assert!(
        out.stderr.contains("/run/vnet is owned by uid 65534"),
        "{}",
        out.stderr
    );
}

pub fn symlinks_planted_in_run_vnet_are_never_followed() {
    let sb = Sandbox::new();
    let (path, name) = mixed_lab(&sb, 5, "", 0);
    let victims =
        "mkdir -p /run/v && echo keep > /run/v/a && echo keep > /run/v/b && echo keep > /run/v/c";
    let intact = "cat /run/v/a /run/v/b /run/v/c | tr -d '\\n'; stat -c ' %a' /run/v/a /run/v/b /run/v/c | tr -d '\\n'";
    sb.sh(victims).ok();
    let untouched = sb.sh(intact).ok().stdout;

    // The lock: refused, with the way out.
    sb.sh(&format!(
        "mkdir -p -m 700 /run/vnet && ln -s /run/v/a /run/vnet/{name}.lock"
    ))
    .ok();
    let out = sb.vnet(&format!("up -q {path}")).expect(1);
    assert!(
        out.stderr
            .contains("is a symbolic link; vnet never follows links"),
        "{}",
        out.stderr
    );
    assert!(sb.netns().is_empty(), "nothing was built");
    sb.sh(&format!("rm /run/vnet/{name}.lock")).ok();

    // The record and a leftover temporary file: replaced, not written through.
    sb.sh(&format!(
        "ln -s /run/v/b /run/vnet/{name}.json && ln -s /run/v/c /run/vnet/{name}.tmp.4242"
    ))
    .ok();
    sb.vnet(&format!("up -q {path}")).ok();
    assert_eq!(
        sb.sh("ls -A /run/vnet")
            .ok()
            .stdout
            .split_whitespace()
            .collect::<Vec<_>>(),
        [format!("{name}.json"), format!("{name}.lock")]
    );
    assert!(
        sb.sh(&format!(
            "test -f /run/vnet/{name}.json && ! test -L /run/vnet/{name}.json"
        ))
        .code
            == 0
    );
    sb.vnet(&format!("down -q {name}")).ok();

    // The directory itself.
    sb.sh("rm -rf /run/vnet && mkdir -p /run/v/dir && ln -s /run/v/dir /run/vnet")
        .ok();
    let out = sb.vnet(&format!("up -q {path}")).expect(1);
    assert!(
        out.stderr.contains("/run/vnet is not a directory"),
        "{}",
        out.stderr
    );
    assert_eq!(sb.sh("ls -A /run/v/dir").ok().stdout, "");
    assert_eq!(sb.sh(intact).ok().stdout, untouched, "a target was written");
}

pub fn a_symlink_at_run_netns_is_refused_and_junk_inside_is_left_alone() {
    let sb = Sandbox::new();
    let (path, name) = mixed_lab(&sb, 5, "", 0);
    sb.sh("rmdir /run/netns && mkdir /run/elsewhere && ln -s /run/elsewhere /run/netns")
        .ok();
    let out = sb.vnet(&format!("up -q {path}")).expect(1);
    assert!(
        out.stderr
            .contains("/run/netns is not a directory (a symlink?)"),
        "{}",
        out.stderr
    );
    assert_eq!(sb.sh("ls -A /run/elsewhere").ok().stdout, "");
    assert_eq!(
        sb.sh("grep -c /run/elsewhere /proc/self/mountinfo || true")
            .ok()
            .stdout
            .trim(),
        "0"
    );
    assert_eq!(
        sb.sh("ls -A /run/vnet 2>/dev/null").stdout,
        "",
        "no lock left by a refused first up"
    );

    // Junk of every kind under a real /run/netns: vnet neither hangs on it
    // (a FIFO blocks a plain open) nor follows, nor removes it.
    sb.sh(
        "rm /run/netns && mkdir /run/netns && cd /run/netns && ln -s /etc etc-link && mkfifo fifo \
         && mkdir dir && echo x > plain && python3 -c 'import socket; socket.socket(socket.AF_UNIX).bind(\"sock\")'",
    )
    .ok();
    let junk = "cd /run/netns && stat -c '%n %F' etc-link fifo dir plain sock && readlink etc-link";
    let before = sb.sh(junk).ok().stdout;
    sb.sh(&format!("timeout 20 \"$VNET\" up -q {path}")).ok();
    sb.sh(&format!("timeout 20 \"$VNET\" status {name}")).ok();
    sb.sh("timeout 20 \"$VNET\" status").ok();
    sb.sh(&format!("timeout 20 \"$VNET\" down -q {name}")).ok();
    assert_eq!(sb.sh(junk).ok().stdout, before);
    assert_eq!(sb.sh("ls /run/netns | wc -l").ok().stdout.trim(), "5");
    // A junk entry with a node's name is a conflict, not a namespace.
    sb.sh("ln -s /etc /run/netns/h1").ok();
    let out = sb
        .sh(&format!("timeout 20 \"$VNET\" up -q {path}"))
        .expect(1);
    assert!(
        out.stderr
            .contains("/run/netns/h1 — owned by a file that is not a namespace"),
        "{}",
        out.stderr
    );
    assert!(sb.sh("test -L /run/netns/h1 && test -d /etc").code == 0);
}

pub fn without_privilege_nothing_changes_and_nothing_is_created() {
    let sb = Sandbox::new();
    let (path, name) = mixed_lab(&sb, 5, "", 0);
    // VNET_ROOTLESS=0 (in $NOBODY too): refuse rather than go rootless.
    let cases = [
        ("$NOBODY", "CAP_NET_ADMIN is missing"),
        (
            "VNET_ROOTLESS=0 setpriv --inh-caps=-net_admin --bounding-set=-net_admin",
            "CAP_NET_ADMIN is missing",
        ),
        (
            "VNET_ROOTLESS=0 setpriv --inh-caps=-sys_admin --bounding-set=-sys_admin",
            "CAP_SYS_ADMIN is missing",
        ),
    ];
    for (how, says) in cases {
        for cmd in [format!("up {path}"), format!("down {name}")] {
            let out = sb.sh(&format!("{how} \"$VNET\" {cmd}"));
            assert_eq!(out.code, 1, "{how} {cmd}: {}", out.stderr);
            assert!(
                out.stderr.contains("needs root") && out.stderr.contains(says),
                "{how} {cmd}: {}",
                out.stderr
            );
            assert_eq!(
                out.stderr.trim().lines().count(),
                1,
                "one line: {}",
                out.stderr
            );
        }
    }
    assert!(sb.netns().is_empty());
    assert_eq!(sb.links(""), ["lo"]);
    assert!(
        sb.sh("test -e /run/vnet").code != 0,
        "no state directory was made"
    );
}

pub fn a_node_name_that_is_a_path_never_reaches_the_file_system() {
    let sb = Sandbox::new();
    sb.sh("mkdir -p /run/t && touch /run/t/marker").ok();
    for cmd in [
        "exec ../../run/t -- true",
        "exec ../t -- true",
        "ping ../../etc 127.0.0.1 -c1",
        "down ../../etc",
        "status ../x",
    ] {
        let out = sb.vnet(cmd);
        assert_eq!(out.code, 2, "{cmd}: {}{}", out.stdout, out.stderr);
    }
    assert!(sb.sh("test -f /run/t/marker && test -d /etc").code == 0);
    assert_eq!(sb.sh("ls -A /run/netns").ok().stdout, "");
}
